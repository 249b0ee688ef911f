//! Who runs retention, and when: publish-release's scheduled run and an operator's
//! `image-release retention apply` take turns through one claim on [`RUN`].

use super::Applied;
use crate::clock::parse_time;
use crate::error::ServiceError;
use crate::ports::ArtifactStore;
use crate::release;
use serde::Serialize;
use std::time::{Duration, SystemTime};

/// `state/retention.json`: the claim of the retention run under way, or what the last one did.
/// publish-release's scheduled run and `image-release retention apply` take turns through it.
pub const RUN: &str = "state/retention.json";

/// How long a run that started and did not finish holds the claim: a run that stopped midway
/// (a crash, a timeout) frees it after this.
pub const CLAIM_HOLDS_FOR: Duration = Duration::from_secs(15 * 60);

/// [`RUN`]: when the policy last ran, who ran it, and what it did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Run {
    pub started_at: Option<String>,
    /// `publish-release`, or the operator's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<Applied>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saves_usd_per_month: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Run {
    /// Whether the run is under way at `now`: started, not finished, and started less than
    /// [`CLAIM_HOLDS_FOR`] ago.
    pub fn in_progress(&self, now: SystemTime) -> bool {
        self.finished_at.is_none()
            && self
                .started_at
                .as_deref()
                .and_then(parse_time)
                .is_some_and(|at| now.duration_since(at).unwrap_or_default() < CLAIM_HOLDS_FOR)
    }
}

/// What [`claim`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claimed {
    /// This caller runs it: the record it wrote.
    Yes(Run),
    /// Another run holds the claim (`started_at`, `by`).
    Busy(Run),
    /// The last run is more recent than `interval` (the scheduled run's only).
    NotDue,
}

/// Claims the retention run for `by` at `now`, with a conditional write of [`RUN`] on what it
/// read: a run under way (another tick, an operator) is never joined, and of two claimants only
/// one writes. `interval`: the least time since the last run (the scheduled run), `None` for an
/// operator who asks now.
pub async fn claim<S: ArtifactStore>(
    store: &S,
    now: SystemTime,
    interval: Option<Duration>,
    by: &str,
) -> Result<Claimed, ServiceError> {
    let current: Option<crate::ports::Versioned<Run>> = store.get_json_versioned(RUN).await?;
    if let Some(current) = &current {
        if current.value.in_progress(now) {
            return Ok(Claimed::Busy(current.value.clone()));
        }
        let last = current.value.started_at.as_deref().and_then(parse_time);
        if let (Some(interval), Some(last)) = (interval, last)
            && now.duration_since(last).unwrap_or_default() < interval
        {
            return Ok(Claimed::NotDue);
        }
    }
    let run = Run {
        started_at: Some(release::timestamp(now)),
        by: Some(by.to_owned()),
        ..Run::default()
    };
    match store
        .put_json_if_match(RUN, &run, current.as_ref().map(|c| c.etag.as_str()))
        .await?
    {
        crate::ports::PutOutcome::Written => Ok(Claimed::Yes(run)),
        crate::ports::PutOutcome::AlreadyExists => Ok(store
            .get_json::<Run>(RUN)
            .await?
            .map_or(Claimed::NotDue, Claimed::Busy)),
    }
}

/// Records the end of `run` (what it did, or its error).
pub async fn finish<S: ArtifactStore>(
    store: &S,
    mut run: Run,
    now: SystemTime,
    result: &Result<(f64, Applied), ServiceError>,
) -> Result<(), ServiceError> {
    run.finished_at = Some(release::timestamp(now));
    match result {
        Ok((saves, applied)) => {
            run.applied = Some(applied.clone());
            run.saves_usd_per_month = Some(*saves);
        }
        Err(err) => run.error = Some(err.to_string()),
    }
    store.put_json(RUN, &run).await
}
