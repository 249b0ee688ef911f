//! A cap on releases in flight per pipeline: `MAX_RELEASES_IN_FLIGHT` lease slots per pipeline,
//! `leases/<pipeline-name>/<slot>.json`. A request claims a free slot with a conditional write
//! before it starts the pipeline (`If-None-Match: *` for an empty slot, `If-Match` on the ETag
//! read for a free one), so two requests racing for the last slot cannot both win.
//!
//! Nothing deletes a lease: a slot is free again once the release it holds is no longer pending
//! (its `pending/<id>.json` marker is gone: published or failed), or, when the request never
//! learnt its release (a crash before StartImagePipelineExecution answered), an hour after it
//! was claimed. A repeated delivery of the same request finds its own slot and keeps it.

use serde::{Deserialize, Serialize};
use shared::HandlerError;
use shared::clock::Clock;
use shared::domain::{ImagePipelineArn, ReleaseId};
use shared::ports::{ArtifactStore, PutOutcome, Versioned};
use shared::release::{self, SCHEMA_VERSION, keys};
use std::time::Duration;

/// How long a slot whose request never learnt its release is held.
pub const UNKNOWN_RELEASE_HOLD: Duration = Duration::from_secs(3_600);

/// `leases/<pipeline-name>/<slot>.json`.
pub fn key(pipeline: &ImagePipelineArn, slot: u32) -> String {
    format!("leases/{}/{slot}.json", pipeline.name())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub schema_version: u32,
    pub pipeline_arn: String,
    /// The request that holds the slot (its deduplication key).
    pub request: String,
    pub claimed_at: String,
    /// The release the request started, once StartImagePipelineExecution answered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_id: Option<ReleaseId>,
}

/// Whether a slot's lease still holds a release in flight.
async fn holds<S: ArtifactStore>(
    store: &S,
    clock: &dyn Clock,
    lease: &Lease,
) -> Result<bool, HandlerError> {
    match &lease.release_id {
        Some(id) => Ok(store
            .get_json::<serde_json::Value>(&keys::pending(id))
            .await
            .map_err(|e| HandlerError::from_service("reading a pending marker", e))?
            .is_some()),
        None => Ok(shared::clock::parse_time(&lease.claimed_at)
            .is_none_or(|at| shared::clock::age(clock.now(), at) < UNKNOWN_RELEASE_HOLD)),
    }
}

/// The slot this request holds (claimed now, or by an earlier delivery of it), or `None` when
/// `max` releases of the pipeline are in flight.
pub async fn claim<S: ArtifactStore>(
    store: &S,
    clock: &dyn Clock,
    pipeline: &ImagePipelineArn,
    request: &str,
    max: u32,
) -> Result<Option<u32>, HandlerError> {
    let err = |e| HandlerError::from_service("reading a lease", e);
    let mut slots: Vec<(u32, Option<Versioned<Lease>>)> = Vec::new();
    for slot in 0..max {
        let current = store
            .get_json_versioned::<Lease>(&key(pipeline, slot))
            .await
            .map_err(err)?;
        if current.as_ref().is_some_and(|l| l.value.request == request) {
            return Ok(Some(slot));
        }
        slots.push((slot, current));
    }
    let lease = Lease {
        schema_version: SCHEMA_VERSION,
        pipeline_arn: pipeline.to_string(),
        request: request.to_owned(),
        claimed_at: release::timestamp(clock.now()),
        release_id: None,
    };
    for (slot, current) in slots {
        let etag = match &current {
            None => None,
            Some(held) if holds(store, clock, &held.value).await? => continue,
            Some(free) => Some(free.etag.as_str()),
        };
        match store
            .put_json_if_match(&key(pipeline, slot), &lease, etag)
            .await
            .map_err(|e| HandlerError::from_service("claiming a lease", e))?
        {
            PutOutcome::Written => return Ok(Some(slot)),
            // Another request took it first: try the next slot.
            PutOutcome::AlreadyExists => continue,
        }
    }
    Ok(None)
}

/// Records the release the slot's request started, so the slot frees when it ends. Only while
/// the slot is still this request's (a conditional write on the version read).
pub async fn bind<S: ArtifactStore>(
    store: &S,
    pipeline: &ImagePipelineArn,
    slot: u32,
    request: &str,
    release: &ReleaseId,
) -> Result<(), HandlerError> {
    let key = key(pipeline, slot);
    let Some(mut current) = store
        .get_json_versioned::<Lease>(&key)
        .await
        .map_err(|e| HandlerError::from_service("reading a lease", e))?
    else {
        return Ok(());
    };
    if current.value.request != request || current.value.release_id.as_ref() == Some(release) {
        return Ok(());
    }
    current.value.release_id = Some(release.clone());
    store
        .put_json_if_match(&key, &current.value, Some(&current.etag))
        .await
        .map_err(|e| HandlerError::from_service("binding a lease to its release", e))?;
    Ok(())
}
