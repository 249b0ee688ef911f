//! Proof that a release and its AMIs are this stack's, from AWS's own answers.
//!
//! The bucket's records are hints: they say where to look, never what to do. Before the stack
//! signs a manifest, writes or deletes an SSM parameter, deprecates, disables or deregisters an
//! AMI, it asks a [`Provenance`] which AMIs the release really has. publish-release asks Image
//! Builder ([`ImageBuilderProvenance`]):
//!
//! 1. the release's *source image* is the image build version its id names (`<name>/<x.y.z>/<n>`
//!    of the distribution record's `source_image_arn`, which must derive the same release id),
//!    and `GetImage` reports it built by one of the configured pipelines (`sourcePipelineArn`);
//! 2. the release's *distributed image* (the one the distribution record names) is, by
//!    `GetImage`, `AVAILABLE`, distributed with the configured distribution configuration
//!    (`distributionConfiguration.arn`), in the source's account and region, and carries the
//!    tags DistributeImage gave it for this release (`image-release:release-id` and
//!    `image-release:source-image`; DistributeImage's API reference: "tags: The tags to apply to
//!    the distributed image");
//! 3. the release's AMIs are exactly that image's `outputResources.amis`, each in the account
//!    Image Builder names.
//!
//! The operator CLI proves a release from its manifest's signature instead: publish-release signs
//! only a manifest it built from this proof.
//!
//! A refusal says whether it is a *forgery* (AWS's answers contradict the records: a security
//! event, logged as [`SECURITY_EVENT`] for the template's alarm) or only *not yet provable*
//! (the distribution is still running, an image is gone).

use crate::domain::{
    AmiId, DistributionConfigurationArn, ImageBuildVersionArn, ImagePipelineArn, RegionName,
    ReleaseId,
};
use crate::error::{ErrorClass, ServiceError};
use crate::ports::{ArtifactStore, ImagePipelines, ImageStatus};
use crate::release::{DistributionRecord, TAG_RELEASE_ID, TAG_SOURCE_IMAGE, keys};
use std::future::Future;

/// The log message of a security event: something a record or an event claimed that AWS's
/// answers contradict. template.yaml's `SecurityEventMetric` counts it and its alarm notifies.
pub const SECURITY_EVENT: &str = "security event";

/// Logs a security event: `what` was refused because of `why`.
pub fn security_event(what: &str, why: &str) {
    tracing::error!(refused = what, reason = why, "{SECURITY_EVENT}");
}

/// An AMI a release really has, where Image Builder says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenAmi {
    pub region: RegionName,
    pub ami_id: AmiId,
    /// The account that owns it (Image Builder's `accountId`, or the source's account when it
    /// names none).
    pub account_id: String,
    pub name: Option<String>,
}

/// What AWS's answers prove about a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proven {
    pub release: ReleaseId,
    /// The account that built it: the account of its images, where its channels' parameters live.
    pub account: String,
    pub source_image: String,
    pub distributed_image: String,
    pub pipeline_arn: Option<String>,
    pub amis: Vec<ProvenAmi>,
}

impl Proven {
    /// Whether `ami` in `region` is one of the release's AMIs in the building account.
    pub fn owns(&self, region: &str, ami: &str) -> bool {
        self.home_amis()
            .any(|a| a.region.as_str() == region && a.ami_id.as_str() == ami)
    }

    /// The release's AMIs in the account that built it.
    pub fn home_amis(&self) -> impl Iterator<Item = &ProvenAmi> {
        self.amis.iter().filter(|a| a.account_id == self.account)
    }
}

/// Why a release could not be proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
    pub kind: Refused,
}

/// What kind of refusal it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// AWS's answers contradict what the records claim: a security event, never a wait.
    Forged,
    /// An image the records name does not exist (never built, or deleted since, which AWS's
    /// answers cannot tell apart): nothing of AWS's may be touched in its name. Publishing such
    /// a release is refused as forged (a pending release's images exist).
    Gone,
    /// Not provable yet (the distribution is still running): ask again later.
    NotYet,
}

impl Refusal {
    /// Whether the stack must treat it as an attack: always for [`Refused::Forged`], and for
    /// [`Refused::Gone`] when `gone_is_forged` (publishing: a pending release's images exist).
    pub fn is_forged(&self, gone_is_forged: bool) -> bool {
        match self.kind {
            Refused::Forged => true,
            Refused::Gone => gone_is_forged,
            Refused::NotYet => false,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// The answer of a [`Provenance`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    Proven(Proven),
    Refused(Refusal),
}

impl Proof {
    fn forged(reason: String) -> Self {
        Self::Refused(Refusal {
            reason,
            kind: Refused::Forged,
        })
    }

    fn gone(reason: String) -> Self {
        Self::Refused(Refusal {
            reason,
            kind: Refused::Gone,
        })
    }

    fn not_yet(reason: String) -> Self {
        Self::Refused(Refusal {
            reason,
            kind: Refused::NotYet,
        })
    }
}

/// Proves releases. An error is AWS's or the store's trouble (retry); a [`Proof::Refused`] is
/// the answer.
pub trait Provenance: Send + Sync {
    fn prove(
        &self,
        release: &ReleaseId,
    ) -> impl Future<Output = Result<Proof, ServiceError>> + Send;
}

/// What a release must have been built and distributed with to be this stack's:
/// `PIPELINE_ARNS` and `DISTRIBUTION_CONFIGURATION_ARN`, as every function that proves a
/// release reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configured {
    pub pipelines: Vec<ImagePipelineArn>,
    pub distribution: DistributionConfigurationArn,
}

impl Configured {
    pub fn from_env<F: Fn(&str) -> Option<String>>(
        env: &crate::config::Env<F>,
    ) -> Result<Self, crate::ConfigError> {
        let pipelines = env.list("PIPELINE_ARNS", ImagePipelineArn::parse)?;
        if pipelines.is_empty() {
            return Err(crate::ConfigError::Missing("PIPELINE_ARNS"));
        }
        Ok(Self {
            pipelines,
            distribution: env.required(
                "DISTRIBUTION_CONFIGURATION_ARN",
                DistributionConfigurationArn::parse,
            )?,
        })
    }

    /// The proof of a release from Image Builder's answers, reading the records of `store`.
    pub fn provenance<'a, P, S>(
        &'a self,
        pipelines: &'a P,
        store: &'a S,
    ) -> ImageBuilderProvenance<'a, P, S> {
        ImageBuilderProvenance {
            pipelines,
            store,
            configured: &self.pipelines,
            distribution: &self.distribution,
        }
    }
}

/// Proof from Image Builder's answers, as publish-release makes it (see the module's docs).
pub struct ImageBuilderProvenance<'a, P, S> {
    pub pipelines: &'a P,
    pub store: &'a S,
    /// `PIPELINE_ARNS`: a release is a build of one of these.
    pub configured: &'a [ImagePipelineArn],
    /// `DISTRIBUTION_CONFIGURATION_ARN`: its distributed image was distributed with this.
    pub distribution: &'a DistributionConfigurationArn,
}

impl<P: ImagePipelines, S: ArtifactStore> Provenance for ImageBuilderProvenance<'_, P, S> {
    async fn prove(&self, release: &ReleaseId) -> Result<Proof, ServiceError> {
        let Some(record) = self
            .store
            .get_json::<DistributionRecord>(&keys::distribution(release))
            .await?
        else {
            // Every release that reached a manifest was distributed, and its records stay.
            return Ok(Proof::forged(format!(
                "{release} has no distribution record: it was never distributed by this stack"
            )));
        };
        let source = match ImageBuildVersionArn::parse("source_image_arn", &record.source_image_arn)
        {
            Ok(arn) if arn.release_id() == release => arn,
            Ok(arn) => {
                return Ok(Proof::forged(format!(
                    "{release}'s distribution record names the source image {arn}, which is release {}",
                    arn.release_id()
                )));
            }
            Err(e) => return Ok(Proof::forged(format!("{release}: {e}"))),
        };
        let Some(named) = record.distributed_image_arn.as_deref() else {
            return Ok(Proof::not_yet(format!(
                "{release}'s distribution names no distributed image yet"
            )));
        };
        let distributed = match ImageBuildVersionArn::parse("distributed_image_arn", named) {
            Ok(arn) => arn,
            Err(e) => return Ok(Proof::forged(format!("{release}: {e}"))),
        };
        let account = source
            .as_str()
            .split(':')
            .nth(4)
            .unwrap_or_default()
            .to_owned();
        if distributed.as_str() == source.as_str()
            || distributed.region() != source.region()
            || distributed.as_str().split(':').nth(4) != Some(account.as_str())
        {
            return Ok(Proof::forged(format!(
                "{release}: the distributed image {distributed} is not a new image of {source}'s account and region"
            )));
        }

        // 1. The source: a build of a configured pipeline.
        let Some(built) = self.image(&source).await? else {
            return Ok(Proof::gone(format!(
                "Image Builder has no image {source}: {release} was never built, or its image was deleted"
            )));
        };
        let pipeline = built.source_pipeline_arn.clone();
        if !pipeline
            .as_deref()
            .is_some_and(|p| self.configured.iter().any(|c| c.as_str() == p))
        {
            return Ok(Proof::forged(format!(
                "Image Builder says {source} was built by {}, not by a configured pipeline",
                pipeline.as_deref().unwrap_or("no pipeline")
            )));
        }

        // 2. The distributed image: ours, distributed for this release from that source.
        let Some(image) = self.image(&distributed).await? else {
            return Ok(Proof::gone(format!(
                "Image Builder has no image {distributed}, which {release}'s distribution record names"
            )));
        };
        if image.distribution_configuration_arn.as_deref() != Some(self.distribution.as_str()) {
            return Ok(Proof::forged(format!(
                "Image Builder says {distributed} was distributed with {}, not {}",
                image
                    .distribution_configuration_arn
                    .as_deref()
                    .unwrap_or("no distribution configuration"),
                self.distribution.as_str()
            )));
        }
        let tagged = |key: &str, want: &str| image.tags.get(key).map(String::as_str) == Some(want);
        if !tagged(TAG_RELEASE_ID, release.as_str()) || !tagged(TAG_SOURCE_IMAGE, source.as_str()) {
            return Ok(Proof::forged(format!(
                "{distributed} does not carry the tags DistributeImage gave {release}'s distribution \
                 ({TAG_RELEASE_ID}={release}, {TAG_SOURCE_IMAGE}={source})"
            )));
        }
        match image.image_status() {
            // Image Builder's later resource management (DEPRECATED, DISABLED, DELETED) keeps
            // what the distribution produced on record.
            ImageStatus::Available | ImageStatus::Retired(_) => {}
            other => {
                return Ok(Proof::not_yet(format!(
                    "{distributed} is {other:?}, not AVAILABLE: its AMIs are not final"
                )));
            }
        }

        // 3. Its AMIs, where Image Builder says they are.
        let mut amis = Vec::new();
        for ami in &image.amis {
            let (Ok(region), Ok(ami_id)) = (
                RegionName::parse("outputResources.amis[].region", &ami.region),
                AmiId::parse("outputResources.amis[].image", &ami.image),
            ) else {
                return Ok(Proof::forged(format!(
                    "Image Builder reports an output of {distributed} that is not an AMI: {} {}",
                    ami.region, ami.image
                )));
            };
            amis.push(ProvenAmi {
                region,
                ami_id,
                account_id: ami.account_id.clone().unwrap_or_else(|| account.clone()),
                name: ami.name.clone(),
            });
        }
        Ok(Proof::Proven(Proven {
            release: release.clone(),
            account,
            source_image: source.to_string(),
            distributed_image: distributed.to_string(),
            pipeline_arn: pipeline,
            amis,
        }))
    }
}

impl<P: ImagePipelines, S: ArtifactStore> ImageBuilderProvenance<'_, P, S> {
    /// GetImage of `arn`; `None` when Image Builder has no such image.
    async fn image(
        &self,
        arn: &ImageBuildVersionArn,
    ) -> Result<Option<crate::ports::ImageInfo>, ServiceError> {
        match self.pipelines.get_image(arn).await {
            Ok(info) => Ok(Some(info)),
            Err(e) if e.is(ErrorClass::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
