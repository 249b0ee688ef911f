//! The steps of a release, each written once and called from two places: the function the step's
//! event wakes (the fast path) and publish-release's reconciler (when the event came late, twice,
//! or never). Both paths derive the same client tokens and make the same check-first calls, so
//! which one gets there first changes nothing.
//!
//! | module | step | AWS call |
//! |---|---|---|
//! | [`build`] | a build started or found → the release is registered | Image Builder `StartImagePipelineExecution`, `ListImagePipelineImages` |
//! | [`distribute`] | pipeline image AVAILABLE → distribution | Image Builder `DistributeImage` |
//! | [`export`] | distributed image AVAILABLE → disk image in S3 | EC2 `ExportImage` |
//! | [`appstream`] | distributed image AVAILABLE → AppStream copies | AppStream `CopyImage` (and `CreateImportedImage`) |
//! | [`appstream_copy`] | one AppStream copy to one region | AppStream `CopyImage` |
//! | [`retry`] | an operator's retry of a failed release | S3 only (`retry.json`, the pending marker) |
//!
//! The failure path is here too, once: [`record_failure`] and [`call_failed`].

pub mod appstream;
pub mod appstream_copy;
pub mod build;
pub mod distribute;
pub mod export;
pub mod retry;

use crate::clock::Clock;
use crate::domain::ReleaseId;
use crate::error::{ErrorClass, HandlerError, ServiceError};
use crate::events::ImageStateChange;
use crate::ports::{ArtifactStore, ImageInfo, ImagePipelines, PutOutcome};
use crate::release::{self, FailureRecord, PendingMarker, SCHEMA_VERSION, Step, keys};
use crate::retry::{RetryPolicy, with_backoff};
use serde::Serialize;

/// Writes a record that has exactly one writer, once (`If-None-Match: *`): a repeated delivery
/// finds it there and leaves it alone. `what` names the record in the error.
pub async fn put_record<S: ArtifactStore, T: Serialize + Sync>(
    store: &S,
    key: &str,
    value: &T,
    what: &str,
) -> Result<PutOutcome, HandlerError> {
    store
        .put_json_if_absent(key, value)
        .await
        .map_err(|e| HandlerError::from_service(format!("recording {what} at {key}"), e))
}

/// Puts the release on the pending list (once), so publish-release looks at it on every tick.
/// `source_image` is the pipeline's image the release was built as, when known.
pub async fn mark_pending<S: ArtifactStore>(
    store: &S,
    clock: &dyn Clock,
    release: &ReleaseId,
    source_image: Option<&str>,
) -> Result<PutOutcome, HandlerError> {
    let marker = PendingMarker {
        schema_version: SCHEMA_VERSION,
        release_id: release.clone(),
        since: release::timestamp(clock.now()),
        source_image_arn: source_image.map(str::to_owned),
    };
    put_record(
        store,
        &keys::pending(release),
        &marker,
        "the pending marker",
    )
    .await
}

/// Records that `step` of `release` failed for good, with its reason.
///
/// The one failure path of every step: the failure record (the first failure of a step wins)
/// and the pending marker (so publish-release reports the failure on its next look, takes the
/// release off the pending list, and the alarm fires). A failure to record is returned: the
/// caller logs it and still reports the step's own error, which is what Lambda retries.
pub async fn record_failure<S: ArtifactStore>(
    store: &S,
    clock: &dyn Clock,
    release: &ReleaseId,
    step: Step,
    reason: &str,
) -> Result<(), HandlerError> {
    tracing::error!(release = %release, step = step.as_str(), reason, "release step failed");
    mark_pending(store, clock, release, None).await?;
    let record = FailureRecord {
        schema_version: SCHEMA_VERSION,
        release_id: release.clone(),
        step,
        reason: reason.to_owned(),
        at: release::timestamp(clock.now()),
    };
    // In the current retry generation: a failure of the generation before is history, and the
    // step's new failure is recorded beside it, never in its place.
    let generation = generation(store, release)
        .await
        .map_err(|e| HandlerError::from_service("reading the retry record", e))?;
    put_record(
        store,
        &keys::failure(release, step, generation),
        &record,
        "the failure",
    )
    .await?;
    Ok(())
}

/// The release's retry generation: how many times an operator retried it (`retry.json`), 0
/// when never.
pub async fn generation<S: ArtifactStore>(
    store: &S,
    release: &ReleaseId,
) -> Result<u32, ServiceError> {
    Ok(store
        .get_json::<release::RetryRecord>(&keys::retry(release))
        .await?
        .map_or(0, |r| r.generation()))
}

/// The failures of the current retry generation among `keys` (a release's records, as
/// listed), in key order, and that generation. Failures of earlier generations are superseded
/// by the retry that followed them (kept, in `retry.json` too, never acted on).
pub async fn current_failures<S: ArtifactStore>(
    store: &S,
    release: &ReleaseId,
    keys: &[String],
) -> Result<(u32, Vec<FailureRecord>), ServiceError> {
    let generation = if keys.contains(&keys::retry(release)) {
        generation(store, release).await?
    } else {
        0
    };
    let mut failures = Vec::new();
    for key in keys
        .iter()
        .filter(|k| keys::failure_generation(k) == Some(generation))
    {
        if let Some(record) = store.get_json::<FailureRecord>(key).await? {
            failures.push(record);
        }
    }
    Ok((generation, failures))
}

/// [`record_failure`] for a step whose own error is what the handler returns: a failure to
/// record is logged, never hidden, and never replaces the step's error.
pub async fn record_failure_logged<S: ArtifactStore>(
    store: &S,
    clock: &dyn Clock,
    release: &ReleaseId,
    step: Step,
    reason: &str,
) {
    if let Err(err) = record_failure(store, clock, release, step, reason).await {
        tracing::error!(release = %release, step = step.as_str(), error = %err, "could not record the failure");
    }
}

/// What a failed AWS call means for the handler, the same for every step:
/// * `IdempotencyMismatch`: the same client token was used with other parameters, which only a
///   token-derivation bug can cause: never retried;
/// * `NotFound` of the call's subject (`not_found`, when given): not retried, with that reason;
/// * anything else by its class ([`HandlerError::from_service`]).
pub fn call_failed(
    err: ServiceError,
    token: Option<&str>,
    not_found: Option<String>,
    context: String,
) -> HandlerError {
    match (err.class, token, not_found) {
        (ErrorClass::IdempotencyMismatch, Some(token), _) => HandlerError::NonRetryable {
            context: format!(
                "client token {token} was used before with other parameters (token derivation bug)"
            ),
            source: err,
        },
        (ErrorClass::NotFound, _, Some(reason)) => HandlerError::NonRetryable {
            context: reason,
            source: err,
        },
        _ => HandlerError::from_service(context, err),
    }
}

/// Whether a step's error is final, so it must be recorded as the release's failure.
pub fn is_final(err: &HandlerError) -> bool {
    err.error_type() != crate::error::ErrorType::Retryable
}

/// How a step ends when it cannot go on, short of a function error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Recorded as the release's failure: publish-release ends the release (one
    /// `Release Failed` event, one ReleaseFailedAlarm), and the function answers normally, so
    /// Lambda neither retries it nor sends it to the on-failure destination.
    Failed {
        release: ReleaseId,
        step: Step,
        reason: String,
    },
    /// A quota is exhausted (`LimitExceeded`: concurrent exports, AppStream images, Image
    /// Builder's service quotas): nothing was started, and publish-release re-drives the step on
    /// its schedule until it starts or the release's deadline passes.
    Deferred {
        release: ReleaseId,
        step: Step,
        reason: String,
    },
}

/// `impl From<Ended> for Outcome` for a step's outcome enum, which has the variants
/// `RecordedFailure { release_id, step, reason }` and `Deferred { release_id, reason }`.
macro_rules! outcome_from_ended {
    ($outcome:ident) => {
        impl From<super::Ended> for $outcome {
            fn from(ended: super::Ended) -> Self {
                match ended {
                    super::Ended::Failed {
                        release,
                        step,
                        reason,
                    } => $outcome::RecordedFailure {
                        release_id: release.to_string(),
                        step,
                        reason,
                    },
                    super::Ended::Deferred {
                        release, reason, ..
                    } => $outcome::Deferred {
                        release_id: release.to_string(),
                        reason,
                    },
                }
            }
        }
    };
}
pub(crate) use outcome_from_ended;

/// What a step does with the error that stopped it:
/// * a malformed event, a corrupt record or a transient error goes back to Lambda (which
///   retries it, then sends it to the on-failure destination): `Err`;
/// * a client token used with other parameters (our bug) is recorded as the release's failure
///   and also returned as the error, so that it alarms as a function error;
/// * an exhausted quota defers the step to the reconciler: [`Ended::Deferred`];
/// * anything else is the release's failure: recorded once ([`record_failure`]), then
///   [`Ended::Failed`]. A failure to record it is returned as the error, so Lambda retries.
pub async fn end_step<S: ArtifactStore>(
    store: &S,
    clock: &dyn Clock,
    release: &ReleaseId,
    step: Step,
    err: HandlerError,
) -> Result<Ended, HandlerError> {
    match &err {
        HandlerError::InvalidEvent(_) | HandlerError::CorruptRecord(_) => Err(err),
        _ if !is_final(&err) => Err(err),
        // A client token used with other parameters is a bug in our token derivation: the
        // release ends, and the function error reaches FunctionErrorsAlarm too.
        _ if err.class() == Some(ErrorClass::IdempotencyMismatch) => {
            record_failure(store, clock, release, step, &err.to_string()).await?;
            Err(err)
        }
        _ if err.class() == Some(ErrorClass::LimitExceeded) => {
            tracing::warn!(release = %release, step = step.as_str(), error = %err, "quota exhausted; publish-release re-drives the step");
            Ok(Ended::Deferred {
                release: release.clone(),
                step,
                reason: err.to_string(),
            })
        }
        _ => {
            let reason = err.to_string();
            record_failure(store, clock, release, step, &reason).await?;
            Ok(Ended::Failed {
                release: release.clone(),
                step,
                reason,
            })
        }
    }
}

/// The release an AVAILABLE image that our DistributeImage created belongs to, with what GetImage
/// tells about the image; or why a step that starts from such an image (export, AppStream) skips
/// the event: the step is not required, the image is not AVAILABLE (as GetImage says: the event
/// is only a hint, and anyone who may invoke the function can forge one), or it is not one of
/// ours (its release cannot be proven from Image Builder's answers: a security event when they
/// contradict the records).
pub async fn distributed_release_of<P: ImagePipelines, S: ArtifactStore>(
    step: &str,
    required: bool,
    pipelines: &P,
    store: &S,
    retry: RetryPolicy,
    change: &ImageStateChange,
    configured: &crate::provenance::Configured,
) -> Result<Result<(ReleaseId, ImageInfo), String>, HandlerError> {
    let image = change.image.as_str();
    let skip = |reason: String| {
        tracing::info!(image, reason = %reason, "skipped");
        Ok(Err(reason))
    };
    if !required {
        return skip(format!("REQUIRED_STEPS does not include {step}"));
    }
    if !change.is_available() {
        return skip(format!("status {} is not AVAILABLE", change.status));
    }
    let info = with_backoff(retry, || pipelines.get_image(&change.image))
        .await
        .map_err(|e| HandlerError::from_service(format!("reading image {image}"), e))?;
    // Only the distributed image of a pending release, as its own distribution record names
    // it: a tag or an output record is only a hint of which release to look at.
    match crate::lineage::lineage(store, &change.image, &info).await? {
        crate::lineage::Lineage::Confirmed { release, signal } => {
            let pending: Option<release::PendingMarker> = store
                .get_json(&keys::pending(&release))
                .await
                .map_err(|e| HandlerError::from_service("reading the pending marker", e))?;
            if pending.is_none() {
                return skip(format!("release {release} is not pending"));
            }
            // Where the image stands is GetImage's answer, not the event's.
            if info.image_status() != crate::ports::ImageStatus::Available {
                return skip(format!(
                    "GetImage says {image} is {}, not AVAILABLE",
                    info.status.as_deref().unwrap_or("of no status")
                ));
            }
            use crate::provenance::{Proof, Provenance, Refused};
            let provenance = configured.provenance(pipelines, store);
            let proof = with_backoff(retry, || provenance.prove(&release))
                .await
                .map_err(|e| HandlerError::from_service("proving the release", e))?;
            match proof {
                Proof::Proven(proven) if proven.distributed_image == image => {}
                Proof::Proven(proven) => {
                    let why = format!(
                        "{image} is not release {release}'s distributed image ({})",
                        proven.distributed_image
                    );
                    crate::provenance::security_event(&format!("{step} of {release}"), &why);
                    return skip(why);
                }
                Proof::Refused(refusal) if refusal.kind == Refused::NotYet => {
                    return skip(refusal.reason);
                }
                Proof::Refused(refusal) => {
                    crate::provenance::security_event(
                        &format!("{step} of {release}"),
                        &refusal.reason,
                    );
                    return skip(refusal.reason);
                }
            }
            tracing::info!(image, release = %release, signal = signal.as_str(), "image of a release");
            Ok(Ok((release, info)))
        }
        crate::lineage::Lineage::Claimed { why, .. } => {
            tracing::warn!(image, why = %why, "an image claims a release it is not the distributed image of");
            skip(format!("not a release's distributed image: {why}"))
        }
        crate::lineage::Lineage::None => skip(format!(
            "image has no {} tag and no distribution output record",
            crate::release::TAG_RELEASE_ID
        )),
    }
}
