//! An operator's retry of a failed release (`image-release retry`), in the one order that no
//! reconciler tick can break: the retry is appended to `retry.json` with a conditional write
//! (the retry generation moves on, which supersedes the failures it clears: they are kept,
//! never deleted), and only then is the release put back on the pending list. Before the
//! marker is back no tick looks at the release; after it, every tick sees the new generation.

use super::mark_pending;
use crate::clock::Clock;
use crate::domain::ReleaseId;
use crate::error::HandlerError;
use crate::ports::{ArtifactStore, PutOutcome};
use crate::release::{self, FailureRecord, RetryAttempt, RetryRecord, SCHEMA_VERSION, keys};

/// What a retry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retried {
    /// Recorded as retry `generation`, and the release is pending again.
    Recorded { generation: u32 },
    /// Someone retried the release since its failures were read (`on_record` retries now):
    /// nothing was changed.
    Concurrent { on_record: u32 },
}

/// Appends a retry of `release` clearing `cleared`, read in generation `read_generation`, to
/// `retry.json` (`If-Match` on the version read, `If-None-Match: *` for the first). Does not put
/// the release back on the pending list: [`retry_release`] does, after this.
pub async fn record_retry<S: ArtifactStore>(
    store: &S,
    clock: &dyn Clock,
    release: &ReleaseId,
    read_generation: u32,
    cleared: Vec<FailureRecord>,
) -> Result<Retried, HandlerError> {
    let key = keys::retry(release);
    let store_err = |what: &'static str| {
        move |e| HandlerError::from_service(format!("{what} {key}", key = keys::retry(release)), e)
    };
    let current = store
        .get_json_versioned::<RetryRecord>(&key)
        .await
        .map_err(store_err("reading"))?;
    let (mut record, etag) = match current {
        Some(v) => (v.value, Some(v.etag)),
        None => (
            RetryRecord {
                schema_version: SCHEMA_VERSION,
                release_id: release.clone(),
                attempts: Vec::new(),
            },
            None,
        ),
    };
    if record.generation() != read_generation {
        return Ok(Retried::Concurrent {
            on_record: record.generation(),
        });
    }
    record.attempts.push(RetryAttempt {
        at: release::timestamp(clock.now()),
        cleared,
    });
    match store
        .put_json_if_match(&key, &record, etag.as_deref())
        .await
        .map_err(store_err("writing"))?
    {
        PutOutcome::Written => Ok(Retried::Recorded {
            generation: record.generation(),
        }),
        PutOutcome::AlreadyExists => Ok(Retried::Concurrent {
            on_record: read_generation.saturating_add(1),
        }),
    }
}

/// [`record_retry`], then (last) the pending marker.
pub async fn retry_release<S: ArtifactStore>(
    store: &S,
    clock: &dyn Clock,
    release: &ReleaseId,
    read_generation: u32,
    cleared: Vec<FailureRecord>,
) -> Result<Retried, HandlerError> {
    let retried = record_retry(store, clock, release, read_generation, cleared).await?;
    if let Retried::Recorded { .. } = retried {
        mark_pending(store, clock, release, None).await?;
    }
    Ok(retried)
}
