//! Which release an image belongs to, when it is an image our DistributeImage created.
//!
//! Image Builder emits the same state-change event for the pipeline's image and for the image
//! DistributeImage creates. Two signals tell them apart, in this order:
//! 1. the output record `distributed/<…>.json` that distribute-image writes for every ARN
//!    DistributeImage returns, keyed by that ARN, so the event alone finds it;
//! 2. the `image-release:release-id` tag distribute-image asks DistributeImage to apply.
//!
//! The record comes first because AWS documents neither whether those tags land on the Image
//! Builder resource or only on the AMIs, nor whether the new resource keeps `sourcePipelineArn`:
//! with tags missing and the pipeline ARN kept, a tag-only guard would distribute the distributed
//! image again, and a new image would follow every round.

use crate::domain::{ImageBuildVersionArn, ReleaseId};
use crate::error::HandlerError;
use crate::ports::{ArtifactStore, ImageInfo};
use crate::release::{DistributionOutput, TAG_RELEASE_ID, keys};

/// How an image was recognised as one DistributeImage created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    OutputRecord,
    Tag,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::OutputRecord => "distribution output record",
            Signal::Tag => "image-release:release-id tag",
        }
    }
}

/// The release `image` was distributed for, or `None` when it is not an image our
/// DistributeImage created (a pipeline's own image, or another team's).
pub async fn distributed_release<S: ArtifactStore>(
    store: &S,
    image: &ImageBuildVersionArn,
    info: &ImageInfo,
) -> Result<Option<(ReleaseId, Signal)>, HandlerError> {
    let output: Option<DistributionOutput> = store
        .get_json(&keys::distributed(image))
        .await
        .map_err(|e| HandlerError::from_service("reading the distribution output record", e))?;
    if let Some(output) = output {
        return Ok(Some((output.release_id, Signal::OutputRecord)));
    }
    match info.tags.get(TAG_RELEASE_ID) {
        Some(release) => Ok(Some((
            ReleaseId::parse(TAG_RELEASE_ID, release)?,
            Signal::Tag,
        ))),
        None => Ok(None),
    }
}
