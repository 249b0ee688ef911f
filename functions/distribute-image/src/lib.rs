//! distribute-image: when an image of a configured pipeline becomes AVAILABLE, spread it with
//! Image Builder's DistributeImage and a distribution configuration.
//!
//! Loop guard: the image DistributeImage creates becomes AVAILABLE too and emits the same event.
//! It carries the release tags this function sets, read back with GetImage, so it is never
//! distributed again. A FAILED build or distribution is recorded as the release's failure.

use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use shared::config::{Env, parse_pairs};
use shared::domain::{
    BucketName, ClientToken, DistributionConfigurationArn, ImageBuildVersionArn, ImagePipelineArn,
    ImageTags, LogGroupName, ReleaseId, RoleNameOrArn,
};
use shared::events::ImageStateChange;
use shared::lineage;
use shared::ports::{ArtifactStore, Distribute, ImageInfo, ImagePipelines};
use shared::release::{
    self, DistributionOutput, DistributionRecord, FailureRecord, PendingMarker, SCHEMA_VERSION,
    Step, TAG_RELEASE_ID, TAG_SOURCE_IMAGE, keys,
};
use shared::retry::{RetryPolicy, with_backoff};
use shared::{ConfigError, ErrorClass, HandlerError, ServiceError, ValidationError, token};
use std::collections::BTreeMap;
use tracing::{error, info, warn};

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
        let tags = env
            .optional("RELEASE_TAGS", parse_pairs)?
            .unwrap_or_default();
        let tags =
            ImageTags::parse("RELEASE_TAGS", tags).map_err(|source| ConfigError::Invalid {
                var: "RELEASE_TAGS",
                source,
            })?;
        if tags.len() > ImageTags::MAX_TAGS - 2 {
            return Err(ConfigError::Invalid {
                var: "RELEASE_TAGS",
                source: ValidationError::new(
                    "RELEASE_TAGS",
                    "at most 48 tags (two more are added per release)",
                    "",
                ),
            });
        }
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

pub struct Deps<P, S> {
    pub config: Config,
    pub pipelines: P,
    pub store: S,
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
    Skipped {
        reason: String,
    },
}

fn skipped(image: &str, reason: String) -> Outcome {
    info!(image, reason = %reason, "skipped");
    Outcome::Skipped { reason }
}

pub async fn handle<P: ImagePipelines, S: ArtifactStore>(
    deps: &Deps<P, S>,
    event: LambdaEvent<Value>,
) -> Result<Outcome, HandlerError> {
    let change = ImageStateChange::parse(&event.payload)?;
    let image = change.image.as_str();
    if !matches!(change.status.as_str(), "AVAILABLE" | "FAILED") {
        return Ok(skipped(
            image,
            format!("status {} is neither AVAILABLE nor FAILED", change.status),
        ));
    }

    // Read the image back: its tags tell our distributed images apart, its pipeline tells whose it is.
    let info = with_backoff(deps.retry, || deps.pipelines.get_image(&change.image))
        .await
        .map_err(|e| HandlerError::from_service(format!("reading image {image}"), e))?;

    if let Some((release, signal)) =
        lineage::distributed_release(&deps.store, &change.image, &info).await?
    {
        // Loop guard: this image was created by our DistributeImage (output record, then tags).
        if change.status == "FAILED" {
            let reason = failure_reason(&change, &info, "distribution failed");
            record_failure(deps, &release, Step::Distribution, &reason).await?;
            return Ok(Outcome::RecordedFailure {
                release_id: release.to_string(),
                step: Step::Distribution,
                reason,
            });
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
    if change.status == "FAILED" {
        // record_failure marks the release pending itself, so publish-release reports it.
        let reason = failure_reason(&change, &info, "image build failed");
        record_failure(deps, &release, Step::Build, &reason).await?;
        return Ok(Outcome::RecordedFailure {
            release_id: release.to_string(),
            step: Step::Build,
            reason,
        });
    }
    mark_pending(deps, &release).await?;

    // The marker tags are the contract with export-image and copy-appstream-image.
    let marker = BTreeMap::from([
        (TAG_RELEASE_ID.to_owned(), release.to_string()),
        (TAG_SOURCE_IMAGE.to_owned(), image.to_owned()),
    ]);
    let tags = deps.config.tags.merged("tags", &marker)?;
    let client_token = ClientToken::<64>::parse(
        "clientToken",
        &token::derive(
            "distribute-image",
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
            Err(err) => return Err(fail_call(deps, &release, &client_token, err).await),
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
                recorded_at: release::now(),
            };
            deps.store
                .put_json_if_absent(&keys::distributed(&output_arn), &output)
                .await
                .map_err(|e| HandlerError::from_service("recording the distribution output", e))?;
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
        requested_at: release::now(),
    };
    deps.store
        .put_json_if_absent(&keys::distribution(&release), &record)
        .await
        .map_err(|e| HandlerError::from_service("recording the distribution", e))?;

    info!(release = %release, image, token = %client_token, distributed = ?distributed.image_build_version_arn, "distribution started");
    Ok(Outcome::Distributed {
        release_id: release.to_string(),
        client_token: client_token.to_string(),
        distributed_image_arn: distributed.image_build_version_arn,
    })
}

fn failure_reason(change: &ImageStateChange, info: &ImageInfo, what: &str) -> String {
    let detail = change
        .reason
        .as_deref()
        .or(info.reason.as_deref())
        .unwrap_or("no reason given");
    format!("{what}: {detail}")
}

/// Decides what a failed DistributeImage call means; a permanent failure is recorded first.
async fn fail_call<P, S: ArtifactStore>(
    deps: &Deps<P, S>,
    release: &ReleaseId,
    token: &ClientToken<64>,
    err: ServiceError,
) -> HandlerError {
    let handler_error = match err.class {
        ErrorClass::IdempotencyMismatch => HandlerError::NonRetryable {
            context: format!(
                "client token {token} was used before with other parameters (token derivation bug)"
            ),
            source: err,
        },
        _ => HandlerError::from_service(format!("distributing release {release}"), err),
    };
    if handler_error.error_type() != shared::error::ErrorType::Retryable
        && let Err(record_err) = record_failure(
            deps,
            release,
            Step::Distribution,
            &handler_error.to_string(),
        )
        .await
    {
        error!(release = %release, error = %record_err, "could not record the failure");
    }
    handler_error
}

async fn mark_pending<P, S: ArtifactStore>(
    deps: &Deps<P, S>,
    release: &ReleaseId,
) -> Result<(), HandlerError> {
    let marker = PendingMarker {
        schema_version: SCHEMA_VERSION,
        release_id: release.clone(),
        since: release::now(),
    };
    deps.store
        .put_json_if_absent(&keys::pending(release), &marker)
        .await
        .map_err(|e| HandlerError::from_service("marking the release pending", e))?;
    Ok(())
}

async fn record_failure<P, S: ArtifactStore>(
    deps: &Deps<P, S>,
    release: &ReleaseId,
    step: Step,
    reason: &str,
) -> Result<(), HandlerError> {
    error!(release = %release, step = step.as_str(), reason, "release step failed");
    mark_pending(deps, release).await?;
    let record = FailureRecord {
        schema_version: SCHEMA_VERSION,
        release_id: release.clone(),
        step,
        reason: reason.to_owned(),
        at: release::now(),
    };
    deps.store
        .put_json_if_absent(&keys::failure(release, step), &record)
        .await
        .map_err(|e| HandlerError::from_service("recording the failure", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use shared::error::ErrorType;
    use shared::fakes::{FakeImageBuilder, FakeStore};

    const PIPELINE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden";
    const IMAGE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1";
    const DISTRIBUTED: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/2";
    const PIPELINE_EVENT: &str = include_str!("../../../events/image-available-pipeline.json");
    const DISTRIBUTED_EVENT: &str =
        include_str!("../../../events/image-available-distributed.json");
    const FAILED_EVENT: &str = include_str!("../../../events/image-failed.json");
    const MALFORMED: &str = include_str!("../../../events/malformed-image-state-change.json");

    fn config_with(extra: &[(&str, String)]) -> Result<Config, ConfigError> {
        let mut vars: BTreeMap<&str, String> = BTreeMap::from([
            ("PIPELINE_ARNS", PIPELINE.to_owned()),
            (
                "DISTRIBUTION_CONFIGURATION_ARN",
                "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden"
                    .to_owned(),
            ),
            (
                "DISTRIBUTION_EXECUTION_ROLE",
                "arn:aws:iam::123456789012:role/ImageBuilderDistribution".to_owned(),
            ),
            (
                "DISTRIBUTION_LOG_GROUP",
                "/aws/imagebuilder/golden".to_owned(),
            ),
            ("RELEASE_TAGS", "team=platform".to_owned()),
            ("ARTIFACT_BUCKET", "image-release-artifacts".to_owned()),
        ]);
        vars.extend(extra.iter().cloned());
        Config::from_lookup(|k| vars.get(k).cloned())
    }

    fn image(arn: &str, pipeline: Option<&str>, tags: &[(&str, &str)]) -> ImageInfo {
        ImageInfo {
            arn: arn.into(),
            status: Some("AVAILABLE".into()),
            source_pipeline_arn: pipeline.map(Into::into),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            ..ImageInfo::default()
        }
    }

    fn deps(images: Vec<ImageInfo>) -> Deps<FakeImageBuilder, FakeStore> {
        let pipelines = images
            .into_iter()
            .fold(FakeImageBuilder::default(), FakeImageBuilder::with_image);
        Deps {
            config: config_with(&[]).unwrap(),
            pipelines,
            store: FakeStore::default(),
            retry: RetryPolicy::IMMEDIATE,
        }
    }

    fn event(raw: &str) -> LambdaEvent<Value> {
        LambdaEvent::new(serde_json::from_str(raw).unwrap(), Context::default())
    }

    #[tokio::test]
    async fn when_pipeline_image_is_available_should_distribute_with_marker_tags_and_record_it() {
        let deps = deps(vec![image(IMAGE, Some(PIPELINE), &[])]);
        let outcome = handle(&deps, event(PIPELINE_EVENT)).await.unwrap();
        assert!(matches!(outcome, Outcome::Distributed { .. }));
        let calls = deps.pipelines.distributed();
        assert_eq!(calls.len(), 1);
        let call = &calls[0];
        assert_eq!(call.source_image.as_str(), IMAGE);
        assert_eq!(call.tags.get(TAG_RELEASE_ID), Some("golden-1.0.0-1"));
        assert_eq!(call.tags.get(TAG_SOURCE_IMAGE), Some(IMAGE));
        assert_eq!(call.tags.get("team"), Some("platform"));
        assert_eq!(
            call.log_group.as_ref().map(|g| g.as_str()),
            Some("/aws/imagebuilder/golden")
        );
        assert!(call.client_token.as_str().len() <= 64);
        let record = deps
            .store
            .json("releases/golden-1.0.0-1/distribution.json")
            .unwrap();
        assert_eq!(record["client_token"], call.client_token.as_str());
        assert!(deps.store.json("pending/golden-1.0.0-1.json").is_some());
    }

    #[tokio::test]
    async fn when_event_is_delivered_twice_should_send_the_same_token() {
        let deps = deps(vec![image(IMAGE, Some(PIPELINE), &[])]);
        handle(&deps, event(PIPELINE_EVENT)).await.unwrap();
        handle(&deps, event(PIPELINE_EVENT)).await.unwrap();
        let calls = deps.pipelines.distributed();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].client_token, calls[1].client_token);
    }

    #[tokio::test]
    async fn when_distributed_image_becomes_available_should_skip_it_loop_guard() {
        let deps = deps(vec![image(
            DISTRIBUTED,
            None,
            &[
                (TAG_RELEASE_ID, "golden-1.0.0-1"),
                (TAG_SOURCE_IMAGE, IMAGE),
            ],
        )]);
        let outcome = handle(&deps, event(DISTRIBUTED_EVENT)).await.unwrap();
        assert!(
            matches!(outcome, Outcome::Skipped { ref reason } if reason.contains("loop guard")),
            "{outcome:?}"
        );
        assert!(deps.pipelines.distributed().is_empty());
    }

    #[tokio::test]
    async fn when_distributing_should_record_the_output_keyed_by_the_new_images_arn() {
        let deps = deps(vec![image(IMAGE, Some(PIPELINE), &[])]);
        handle(&deps, event(PIPELINE_EVENT)).await.unwrap();
        let output = deps
            .store
            .json("distributed/golden-1.0.0-2.json")
            .expect("output record of …/golden/1.0.0/2");
        assert_eq!(output["release_id"], "golden-1.0.0-1");
        assert_eq!(output["source_image_arn"], IMAGE);
        assert_eq!(output["distributed_image_arn"], DISTRIBUTED);
    }

    #[tokio::test]
    async fn when_distributed_image_has_no_tags_and_keeps_the_pipeline_arn_should_skip_it_by_its_output_record()
     {
        // GIVEN the undocumented worst case: DistributeImage's tags only on the AMIs, and the
        // new image still naming the pipeline as its source.
        let deps = deps(vec![
            image(IMAGE, Some(PIPELINE), &[]),
            image(DISTRIBUTED, Some(PIPELINE), &[]),
        ]);
        handle(&deps, event(PIPELINE_EVENT)).await.unwrap();
        // WHEN the new image's AVAILABLE event arrives
        let outcome = handle(&deps, event(DISTRIBUTED_EVENT)).await.unwrap();
        // THEN it is not distributed again
        assert!(
            matches!(outcome, Outcome::Skipped { ref reason } if reason.contains("loop guard: distribution output record")),
            "{outcome:?}"
        );
        assert_eq!(deps.pipelines.distributed().len(), 1);
    }

    #[tokio::test]
    async fn when_image_comes_from_another_pipeline_should_skip_it() {
        let deps = deps(vec![image(
            IMAGE,
            Some("arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/other"),
            &[],
        )]);
        let outcome = handle(&deps, event(PIPELINE_EVENT)).await.unwrap();
        assert!(
            matches!(outcome, Outcome::Skipped { ref reason } if reason.contains("PIPELINE_ARNS"))
        );
        assert!(deps.pipelines.distributed().is_empty());
        assert!(deps.store.keys().is_empty());
    }

    #[tokio::test]
    async fn when_build_failed_should_record_the_failure_with_its_reason() {
        let mut failed = image(IMAGE, Some(PIPELINE), &[]);
        failed.status = Some("FAILED".into());
        let deps = deps(vec![failed]);
        let outcome = handle(&deps, event(FAILED_EVENT)).await.unwrap();
        assert!(matches!(
            outcome,
            Outcome::RecordedFailure {
                step: Step::Build,
                ..
            }
        ));
        let record = deps
            .store
            .json("releases/golden-1.0.0-1/failure-build.json")
            .unwrap();
        assert!(
            record["reason"]
                .as_str()
                .unwrap()
                .contains("reboot test timed out")
        );
        assert!(deps.pipelines.distributed().is_empty());
    }

    #[tokio::test]
    async fn when_event_is_malformed_should_fail_invalid_event_without_calls() {
        let deps = deps(vec![]);
        let err = handle(&deps, event(MALFORMED)).await.unwrap_err();
        assert_eq!(err.error_type(), ErrorType::InvalidEvent);
        assert!(err.to_string().contains("resources"));
        assert_eq!(deps.pipelines.script.count("GetImage"), 0);
    }

    #[tokio::test]
    async fn when_token_mismatch_should_fail_non_retryable_and_record_it() {
        let deps = deps(vec![image(IMAGE, Some(PIPELINE), &[])]);
        deps.pipelines.script.fail(
            "DistributeImage",
            ErrorClass::IdempotencyMismatch,
            "IdempotentParameterMismatchException",
            1,
        );
        let err = handle(&deps, event(PIPELINE_EVENT)).await.unwrap_err();
        assert_eq!(err.error_type(), ErrorType::NonRetryable);
        assert!(
            deps.store
                .json("releases/golden-1.0.0-1/failure-distribution.json")
                .is_some()
        );
    }

    #[tokio::test]
    async fn when_distribute_is_rate_limited_persistently_should_fail_retryable_without_recording()
    {
        let deps = deps(vec![image(IMAGE, Some(PIPELINE), &[])]);
        deps.pipelines.script.fail(
            "DistributeImage",
            ErrorClass::Throttled,
            "CallRateLimitExceededException",
            3,
        );
        let err = handle(&deps, event(PIPELINE_EVENT)).await.unwrap_err();
        assert_eq!(err.error_type(), ErrorType::Retryable);
        assert!(
            deps.store
                .json("releases/golden-1.0.0-1/failure-distribution.json")
                .is_none()
        );
        assert!(
            deps.store
                .json("releases/golden-1.0.0-1/distribution.json")
                .is_none()
        );
    }

    #[tokio::test]
    async fn when_resource_in_use_once_should_retry_and_distribute() {
        let deps = deps(vec![image(IMAGE, Some(PIPELINE), &[])]);
        deps.pipelines.script.fail(
            "DistributeImage",
            ErrorClass::InUse,
            "ResourceInUseException",
            1,
        );
        assert!(matches!(
            handle(&deps, event(PIPELINE_EVENT)).await.unwrap(),
            Outcome::Distributed { .. }
        ));
    }

    #[test]
    fn when_release_tags_are_48_should_pass_and_49_should_fail() {
        let tags = |n: usize| {
            (0..n)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert!(config_with(&[("RELEASE_TAGS", tags(48))]).is_ok());
        assert!(
            config_with(&[("RELEASE_TAGS", tags(49))])
                .unwrap_err()
                .to_string()
                .contains("at most 48")
        );
        assert!(
            config_with(&[("RELEASE_TAGS", "aws:x=1".into())])
                .unwrap_err()
                .to_string()
                .contains("aws:")
        );
    }

    #[test]
    fn when_distribution_arn_is_invalid_should_name_the_variable() {
        let err = config_with(&[(
            "DISTRIBUTION_CONFIGURATION_ARN",
            "arn:aws:imagebuilder:us-east-1:123:distribution-configuration/x".into(),
        )])
        .unwrap_err();
        assert!(err.to_string().contains("DISTRIBUTION_CONFIGURATION_ARN"));
    }
}
