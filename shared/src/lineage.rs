//! Which release an image belongs to, when it is an image our DistributeImage created.
//!
//! Image Builder emits the same state-change event for the pipeline's image and for the image
//! DistributeImage creates. Two signals point at a release, in this order:
//! 1. the output record `distributed/<…>.json` that distribute-image writes for every ARN
//!    DistributeImage returns, keyed by that ARN, so the event alone finds it;
//! 2. the `image-release:release-id` tag distribute-image asks DistributeImage to apply.
//!
//! The record comes first because AWS documents neither whether those tags land on the Image
//! Builder resource or only on the AMIs, nor whether the new resource keeps `sourcePipelineArn`:
//! with tags missing and the pipeline ARN kept, a tag-only guard would distribute the distributed
//! image again, and a new image would follow every round.
//!
//! A signal is only a hint of which release to look at: anyone who may tag an Image Builder
//! image could put our tag on another image. An image *is* a release's distributed image only
//! when that release's own distribution record (`distribution.json`, written by
//! distribute-image from DistributeImage's answer) names exactly its ARN
//! ([`Lineage::Confirmed`]); export and AppStream act only on such an image of a pending
//! release. The loop guard also trusts the output record, which only our roles write.

use crate::domain::{ImageBuildVersionArn, ReleaseId};
use crate::error::HandlerError;
use crate::ports::{ArtifactStore, ImageInfo};
use crate::release::{DistributionOutput, DistributionRecord, TAG_RELEASE_ID, keys};

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

/// What the signals say about an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lineage {
    /// No signal: a pipeline's own image, or another team's.
    None,
    /// The release's distribution record names this image: it is that release's distributed image.
    Confirmed { release: ReleaseId, signal: Signal },
    /// A signal points at a release whose distribution record does not name this image (a tag
    /// someone else put on, or a record not written yet).
    Claimed {
        release: ReleaseId,
        signal: Signal,
        why: String,
    },
}

/// What the signals say about `image`, confirmed against the release they point at.
pub async fn lineage<S: ArtifactStore>(
    store: &S,
    image: &ImageBuildVersionArn,
    info: &ImageInfo,
) -> Result<Lineage, HandlerError> {
    let read = |e| HandlerError::from_service("reading the distribution output record", e);
    let output: Option<DistributionOutput> = store
        .get_json(&keys::distributed(image))
        .await
        .map_err(read)?;
    let (release, signal) = match (output, info.tags.get(TAG_RELEASE_ID)) {
        (Some(output), _) => (output.release_id, Signal::OutputRecord),
        (None, Some(tag)) => (ReleaseId::parse(TAG_RELEASE_ID, tag)?, Signal::Tag),
        (None, None) => return Ok(Lineage::None),
    };
    let record: Option<DistributionRecord> = store
        .get_json(&keys::distribution(&release))
        .await
        .map_err(|e| HandlerError::from_service("reading the distribution record", e))?;
    let named = record
        .as_ref()
        .and_then(|r| r.distributed_image_arn.as_deref());
    Ok(match named {
        Some(arn) if arn == image.as_str() => Lineage::Confirmed { release, signal },
        Some(arn) => Lineage::Claimed {
            why: format!("release {release} distributed {arn}, not this image"),
            release,
            signal,
        },
        None => Lineage::Claimed {
            why: format!("release {release} has no distribution record naming an image"),
            release,
            signal,
        },
    })
}

/// The release `image` was distributed for, for the loop guard: confirmed by the release's
/// distribution record, or by the output record our own role wrote for exactly this ARN (which
/// may come before the distribution record). `None` when it is not an image our DistributeImage
/// created (a pipeline's own image, even one carrying our tag, or another team's).
pub async fn distributed_release<S: ArtifactStore>(
    store: &S,
    image: &ImageBuildVersionArn,
    info: &ImageInfo,
) -> Result<Option<(ReleaseId, Signal)>, HandlerError> {
    Ok(match lineage(store, image, info).await? {
        Lineage::Confirmed { release, signal }
        | Lineage::Claimed {
            release,
            signal: signal @ Signal::OutputRecord,
            ..
        } => Some((release, signal)),
        Lineage::Claimed { release, why, .. } => {
            tracing::warn!(image = %image, release = %release, why, "an image carries our release tag but is not the release's distributed image");
            None
        }
        Lineage::None => None,
    })
}
