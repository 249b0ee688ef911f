//! SSM's asynchronous validation of `aws:ec2:image` values. The user guide ("Native parameter
//! support for Amazon Machine Image IDs"): "Systems Manager does not create the parameter
//! immediately. It instead performs an asynchronous validation operation"; PutParameter's
//! `DataType`: "the PutParameter call returns before the validation is complete. If you submit
//! an invalid AMI value, the PutParameter operation will return success, but the asynchronous
//! validation will fail and the parameter will not be created or updated."
//!
//! A write waits here [`crate::Config::ssm_validation_steps`] lifecycle steps; the tick that
//! finds it due checks the AMI then (it may have been deregistered meanwhile) and writes the
//! parameter, or drops the write. Until that tick a waiting write counts as work in progress
//! ([`busy`]), so a run is not quiet while SSM still has a value to validate.

use crate::ssm::Write;
use crate::world::World;
use std::time::Instant;

/// A write whose value SSM is still validating.
#[derive(Debug, Clone)]
pub(crate) struct Validation {
    pub region: String,
    pub name: String,
    pub write: Write,
    pub started: Instant,
}

/// Holds `write` until its validation ends.
pub(crate) fn queue(world: &mut World, region: &str, name: &str, write: Write) {
    world.ssm_validations.push(Validation {
        region: region.to_owned(),
        name: name.to_owned(),
        write,
        started: Instant::now(),
    });
}

/// The newest version of parameter `name` still being validated.
pub(crate) fn newest_version(world: &World, region: &str, name: &str) -> Option<u64> {
    world
        .ssm_validations
        .iter()
        .filter(|v| v.region == region && v.name == name)
        .map(|v| v.write.version)
        .max()
}

/// A validation that failed: the parameter is left as it was.
pub(crate) fn refused(region: &str, name: &str, value: &str) {
    tracing::info!(
        region,
        name,
        value,
        "aws:ec2:image validation failed: parameter unchanged"
    );
}

/// Ends every validation due at `now`, in the order PutParameter accepted them.
pub(crate) fn finish_due(world: &mut World, now: Instant) {
    let step = world.config.step.as_millis().max(1);
    let steps = u128::from(world.config.ssm_validation_steps);
    let due = |v: &Validation| now.saturating_duration_since(v.started).as_millis() / step >= steps;
    let (finished, waiting): (Vec<Validation>, Vec<Validation>) =
        std::mem::take(&mut world.ssm_validations)
            .into_iter()
            .partition(due);
    world.ssm_validations = waiting;
    for v in finished {
        if world.ami_available(&v.region, &v.write.value) {
            crate::ssm::apply(world, &v.region, &v.name, v.write);
        } else {
            refused(&v.region, &v.name, &v.write.value);
        }
    }
}

/// The validations still running, as [`World::in_progress`] names them.
pub(crate) fn busy(world: &World) -> impl Iterator<Item = String> + '_ {
    world.ssm_validations.iter().map(|v| {
        format!(
            "SSM validating {} = {} in {}",
            v.name, v.write.value, v.region
        )
    })
}
