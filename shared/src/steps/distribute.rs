//! The distribution step: when an image of a configured pipeline becomes AVAILABLE, spread it
//! with Image Builder's DistributeImage and a distribution configuration (distribute-image's
//! event path, and the reconciler when that event never came).
//!
//! Loop guard: the image DistributeImage creates becomes AVAILABLE too and emits the same event.
//! Its output record (and, second, the release tags this step sets) marks it, so it is never
//! distributed again ([`crate::lineage`]). A FAILED build or distribution is recorded as the
//! release's failure.

use crate::clock::Clock;
use crate::config::Env;
use crate::domain::{
    BucketName, ClientToken, DistributionConfigurationArn, ImageBuildVersionArn, ImagePipelineArn,
    ImageTags, LogGroupName, RoleNameOrArn,
};
use crate::events::ImageStateChange;
use crate::lineage;
use crate::ports::{ArtifactStore, Distribute, ImageInfo, ImagePipelines};
use crate::release::{
    self, DistributionOutput, DistributionRecord, SCHEMA_VERSION, Step, TAG_RELEASE_ID,
    TAG_SOURCE_IMAGE, keys,
};
use crate::retry::{RetryPolicy, with_backoff};
use crate::{ConfigError, HandlerError, token};
use serde::Serialize;
use std::collections::BTreeMap;
use tracing::{info, warn};

#[derive(Debug, Clone)]
pub struct Config {
    /// `PIPELINE_ARNS`: only images built by these pipelines are distributed.
    pub pipelines: Vec<ImagePipelineArn>,
    /// `DISTRIBUTION_CONFIGURATION_ARN`
    pub distribution: DistributionConfigurationArn,
    /// `DISTRIBUTION_EXECUTION_ROLE`: the role Image Builder assumes to distribute (name or ARN).
    pub execution_role: RoleNameOrArn,
    /// `DISTRIBUTION_LOG_GROUP` (optional)
    pub log_group: Option<LogGroupName>,
    /// `RELEASE_TAGS`: `KEY=VALUE,…` set on the distributed image (at most 48: two are ours).
    pub tags: ImageTags,
    /// `ARTIFACT_BUCKET`: where release state is recorded.
    pub bucket: BucketName,
}

impl Config {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(get);
        let pipelines = env.list("PIPELINE_ARNS", ImagePipelineArn::parse)?;
        if pipelines.is_empty() {
            return Err(ConfigError::Missing("PIPELINE_ARNS"));
        }
        let tags = env.tags("RELEASE_TAGS", 2)?;
        Ok(Self {
            pipelines,
            distribution: env.required(
                "DISTRIBUTION_CONFIGURATION_ARN",
                DistributionConfigurationArn::parse,
            )?,
            execution_role: env.required("DISTRIBUTION_EXECUTION_ROLE", RoleNameOrArn::parse)?,
            log_group: env.optional("DISTRIBUTION_LOG_GROUP", LogGroupName::parse)?,
            tags,
            bucket: env.required("ARTIFACT_BUCKET", BucketName::parse)?,
        })
    }
}

/// What the step needs, borrowed: from distribute-image's `Deps`, or from the reconciler's.
pub struct Deps<'a, P, S> {
    pub config: &'a Config,
    /// The time every record of the step is stamped with.
    pub clock: &'a dyn Clock,
    pub pipelines: &'a P,
    pub store: &'a S,
    pub retry: RetryPolicy,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "action"
)]
pub enum Outcome {
    Distributed {
        release_id: String,
        client_token: String,
        distributed_image_arn: Option<String>,
    },
    RecordedFailure {
        release_id: String,
        step: Step,
        reason: String,
    },
    /// A quota is exhausted (`ServiceQuotaExceededException`): publish-release re-drives it.
    Deferred {
        release_id: String,
        reason: String,
    },
    Skipped {
        reason: String,
    },
}

super::outcome_from_ended!(Outcome);

fn skipped(image: &str, reason: String) -> Outcome {
    info!(image, reason = %reason, "skipped");
    Outcome::Skipped { reason }
}

/// Acts on one image state change (a real event, or one the reconciler read with GetImage).
pub async fn on_image<P: ImagePipelines, S: ArtifactStore>(
    deps: &Deps<'_, P, S>,
    change: &ImageStateChange,
) -> Result<Outcome, HandlerError> {
    let image = change.image.as_str();
    if !matches!(change.status.as_str(), "AVAILABLE" | "FAILED" | "CANCELLED") {
        return Ok(skipped(
            image,
            format!(
                "status {} is neither AVAILABLE, FAILED nor CANCELLED",
                change.status
            ),
        ));
    }
    // Read the image back: its tags tell our distributed images apart, its pipeline tells whose
    // it is, and its state is where it stands. The event's status is only a hint: anyone who may
    // invoke the function can send FAILED for an image that is not.
    let info = with_backoff(deps.retry, || deps.pipelines.get_image(&change.image))
        .await
        .map_err(|e| HandlerError::from_service(format!("reading image {image}"), e))?;
    let status = match info.image_status() {
        crate::ports::ImageStatus::Available => "AVAILABLE",
        crate::ports::ImageStatus::Failed => "FAILED",
        crate::ports::ImageStatus::Cancelled => "CANCELLED",
        _ => {
            return Ok(skipped(
                image,
                format!(
                    "the event says {}, GetImage says {}",
                    change.status,
                    info.status.as_deref().unwrap_or("no status")
                ),
            ));
        }
    };
    if status != change.status {
        warn!(image, event = %change.status, get_image = status, "the event's status is not the image's: acting on GetImage's");
    }
    let change = &ImageStateChange {
        status: status.to_owned(),
        ..change.clone()
    };
    let ended = status != "AVAILABLE";

    if let Some((release, signal)) =
        lineage::distributed_release(deps.store, &change.image, &info).await?
    {
        // Loop guard: this image was created by our DistributeImage (output record, then tags).
        if ended {
            // publish-release's reconciler reads GetImage's failureContext, retries the
            // distribution with RetryImage when that can help, and records the failure when not.
            return Ok(skipped(
                image,
                format!(
                    "distribution for release {release} {}; publish-release retries or records it",
                    change.status
                ),
            ));
        }
        return Ok(skipped(
            image,
            format!(
                "image was created by DistributeImage for release {release} (loop guard: {})",
                signal.as_str()
            ),
        ));
    }

    let from_our_pipeline = info
        .source_pipeline_arn
        .as_deref()
        .is_some_and(|p| deps.config.pipelines.iter().any(|c| c.as_str() == p));
    if !from_our_pipeline {
        return Ok(skipped(
            image,
            format!(
                "built by pipeline {:?}, not one of PIPELINE_ARNS",
                info.source_pipeline_arn
            ),
        ));
    }

    let release = change.image.release_id().clone();
    if ended {
        // record_failure marks the release pending itself, so publish-release reports it. A
        // CANCELLED build (CancelImageCreation) was stopped on purpose: not retried.
        let what = if change.status == "CANCELLED" {
            "image build cancelled"
        } else {
            "image build failed"
        };
        let reason = failure_reason(change, &info, what);
        super::record_failure(deps.store, deps.clock, &release, Step::Build, &reason).await?;
        return Ok(Outcome::RecordedFailure {
            release_id: release.to_string(),
            step: Step::Build,
            reason,
        });
    }
    let pipeline = info
        .source_pipeline_arn
        .as_deref()
        .and_then(|p| ImagePipelineArn::parse("sourcePipelineArn", p).ok());
    super::build::register(
        deps.store,
        deps.clock,
        &change.image,
        pipeline.as_ref(),
        release::BuildOrigin::Event,
    )
    .await?;

    // The marker tags are the contract with export-image and copy-appstream-image.
    let marker = BTreeMap::from([
        (TAG_RELEASE_ID.to_owned(), release.to_string()),
        (TAG_SOURCE_IMAGE.to_owned(), image.to_owned()),
    ]);
    let tags = deps.config.tags.merged("tags", &marker)?;
    let client_token = ClientToken::<64>::parse(
        "clientToken",
        &token::derive(
            token::DISTRIBUTE_IMAGE,
            &[image, deps.config.distribution.as_str()],
        ),
    )?;
    let request = Distribute {
        source_image: change.image.clone(),
        distribution_configuration: deps.config.distribution.clone(),
        execution_role: deps.config.execution_role.clone(),
        log_group: deps.config.log_group.clone(),
        tags,
        client_token: client_token.clone(),
    };

    let distributed =
        match with_backoff(deps.retry, || deps.pipelines.distribute_image(&request)).await {
            Ok(distributed) => distributed,
            Err(err) => {
                let error = super::call_failed(
                    err,
                    Some(client_token.as_str()),
                    None,
                    format!("distributing release {release}"),
                );
                let ended =
                    super::end_step(deps.store, deps.clock, &release, Step::Distribution, error)
                        .await?;
                return Ok(ended.into());
            }
        };

    // The output record, keyed by the new image's ARN: the loop guard's first signal, and how
    // export-image and copy-appstream-image find the release when the tags are not on the image.
    match distributed
        .image_build_version_arn
        .as_deref()
        .map(|arn| ImageBuildVersionArn::parse("imageBuildVersionArn", arn))
    {
        Some(Ok(output_arn)) => {
            let output = DistributionOutput {
                schema_version: SCHEMA_VERSION,
                release_id: release.clone(),
                source_image_arn: image.to_owned(),
                distributed_image_arn: output_arn.to_string(),
                recorded_at: release::timestamp(deps.clock.now()),
            };
            super::put_record(
                deps.store,
                &keys::distributed(&output_arn),
                &output,
                "the distribution output",
            )
            .await?;
        }
        Some(Err(err)) => {
            warn!(release = %release, error = %err, "DistributeImage answered an ARN that cannot key an output record; the tags are the only loop guard");
        }
        None => {
            warn!(release = %release, "DistributeImage answered no imageBuildVersionArn; the tags are the only loop guard");
        }
    }

    let record = DistributionRecord {
        schema_version: SCHEMA_VERSION,
        release_id: release.clone(),
        source_image_arn: image.to_owned(),
        distribution_configuration_arn: deps.config.distribution.to_string(),
        distributed_image_arn: distributed.image_build_version_arn.clone(),
        client_token: client_token.to_string(),
        requested_at: release::timestamp(deps.clock.now()),
    };
    super::put_record(
        deps.store,
        &keys::distribution(&release),
        &record,
        "the distribution",
    )
    .await?;

    info!(release = %release, image, token = %client_token, distributed = ?distributed.image_build_version_arn, "distribution started");
    Ok(Outcome::Distributed {
        release_id: release.to_string(),
        client_token: client_token.to_string(),
        distributed_image_arn: distributed.image_build_version_arn,
    })
}

/// The failure as Image Builder tells it (`state.reason` of GetImage; the event's reason only
/// when GetImage gives none: an event is a hint).
fn failure_reason(change: &ImageStateChange, info: &ImageInfo, what: &str) -> String {
    let detail = info
        .reason
        .as_deref()
        .or(change.reason.as_deref())
        .unwrap_or("no reason given");
    format!("{what}: {detail}")
}
