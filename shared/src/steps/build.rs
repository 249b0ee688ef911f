//! The build step's record: a release exists from its first moment. start-pipeline registers the
//! build it started, distribute-image one whose AVAILABLE or FAILED event came first, and the
//! reconciler every image a configured pipeline built in its look-back window (a pipeline's own
//! schedule, a build started by hand, or an event the bus lost).

use super::{mark_pending, put_record};
use crate::clock::Clock;
use crate::domain::{ImageBuildVersionArn, ImagePipelineArn};
use crate::error::HandlerError;
use crate::ports::{ArtifactStore, PutOutcome};
use crate::release::{self, BuildOrigin, BuildRecord, SCHEMA_VERSION, keys};

/// Registers the build `image` of `pipeline`: puts it on the pending list, then writes its build
/// record. Returns `true` when this call registered it, `false` when it was known already.
///
/// The build record is written last and checked first: a release whose record exists is never
/// put back on the pending list once it has left it (published or failed), and a crash between
/// the two writes leaves a marker without a record, which the next call completes.
pub async fn register<S: ArtifactStore>(
    store: &S,
    clock: &dyn Clock,
    image: &ImageBuildVersionArn,
    pipeline: Option<&ImagePipelineArn>,
    origin: BuildOrigin,
) -> Result<bool, HandlerError> {
    let release = image.release_id();
    let key = keys::build(release);
    let known: Option<BuildRecord> = store
        .get_json(&key)
        .await
        .map_err(|e| HandlerError::from_service(format!("reading {key}"), e))?;
    if known.is_some() {
        return Ok(false);
    }
    // A release that ended before build records existed (an older version) has its status:
    // never put it back on the pending list (its failure would alarm again).
    let status = keys::status(release);
    if store
        .object_size(&status)
        .await
        .map_err(|e| HandlerError::from_service(format!("looking for {status}"), e))?
        .is_some()
    {
        return Ok(false);
    }
    mark_pending(store, clock, release, Some(image.as_str())).await?;
    let record = BuildRecord {
        schema_version: SCHEMA_VERSION,
        release_id: release.clone(),
        image_build_version_arn: image.to_string(),
        pipeline_arn: pipeline.map(ToString::to_string),
        origin,
        recorded_at: release::timestamp(clock.now()),
    };
    let written = put_record(store, &key, &record, "the build").await?;
    tracing::info!(release = %release, image = %image, origin = ?origin, "release registered");
    Ok(written == PutOutcome::Written)
}
