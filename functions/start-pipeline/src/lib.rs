//! start-pipeline: a release request (custom event, rule schedule or Scheduler input) starts an
//! Image Builder pipeline execution with StartImagePipelineExecution, and registers the build it
//! started, so the release exists from its first moment even if no later event ever arrives.

use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use shared::config::Env;
use shared::domain::{BucketName, ClientToken, ImageBuildVersionArn, ImagePipelineArn, ImageTags};
use shared::events::ReleaseRequest;
use shared::ports::{ArtifactStore, ImagePipelines, StartExecution};
use shared::release::BuildOrigin;
use shared::retry::{RetryPolicy, with_backoff};
use shared::{ConfigError, ErrorClass, HandlerError, token};
use std::collections::BTreeMap;
use tracing::{info, warn};

pub mod lease;

/// Tag the requested release version is recorded under on the pipeline execution's image.
pub const TAG_REQUESTED_VERSION: &str = "image-release:requested-version";

#[derive(Debug, Clone)]
pub struct Config {
    /// `PIPELINE_ARN`: the pipeline to start when the event names none.
    pub pipeline: ImagePipelineArn,
    /// `PIPELINE_ARNS`: every pipeline a request may name (`detail.pipelineArn`); always
    /// includes `PIPELINE_ARN`. Any other is refused before any AWS call.
    pub pipelines: Vec<ImagePipelineArn>,
    /// `MAX_RELEASES_IN_FLIGHT` (default 2, 1–100): requested releases of one pipeline pending
    /// at once; a request beyond it is refused (see [`lease`]).
    pub max_in_flight: u32,
    /// `RELEASE_TAGS`: `KEY=VALUE,…` added to the execution's image (at most 49: one is ours).
    pub tags: ImageTags,
    /// `ARTIFACT_BUCKET`: where the started build is registered.
    pub bucket: BucketName,
}

impl Config {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(get);
        let pipeline = env.required("PIPELINE_ARN", ImagePipelineArn::parse)?;
        let mut pipelines = env.list("PIPELINE_ARNS", ImagePipelineArn::parse)?;
        if !pipelines.contains(&pipeline) {
            pipelines.insert(0, pipeline.clone());
        }
        let tags = env.tags("RELEASE_TAGS", 1)?;
        let max_in_flight = env.or_default("MAX_RELEASES_IN_FLIGHT", "2", |field, v| {
            v.parse::<u32>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| {
                    shared::ValidationError::new(field, "must be a whole number 1 to 100", v)
                })
        })?;
        Ok(Self {
            pipeline,
            pipelines,
            max_in_flight,
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
    /// What every record is stamped with.
    pub clock: Box<dyn shared::clock::Clock>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// `started`, or `refused` (the pipeline has `MAX_RELEASES_IN_FLIGHT` releases in flight).
    pub action: &'static str,
    pub pipeline_arn: String,
    pub client_token: String,
    pub image_build_version_arn: Option<String>,
    /// The release the build is (its image ARN names it), when Image Builder answered the ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_id: Option<String>,
}

pub async fn handle<P: ImagePipelines, S: ArtifactStore>(
    deps: &Deps<P, S>,
    event: LambdaEvent<Value>,
) -> Result<Outcome, HandlerError> {
    // 1. The event: a malformed one, or one naming a pipeline this stack does not release, is
    //    rejected before any AWS call.
    let request = ReleaseRequest::parse(&event.payload)?;
    let pipeline = request
        .pipeline_override
        .clone()
        .unwrap_or_else(|| deps.config.pipeline.clone());
    if !deps.config.pipelines.contains(&pipeline) {
        return Err(HandlerError::InvalidEvent(shared::ValidationError::new(
            "detail.pipelineArn",
            format!(
                "must be one of the pipelines this stack releases (PIPELINE_ARNS: {})",
                deps.config
                    .pipelines
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            pipeline.as_str(),
        )));
    }

    // 2. The token: the same request delivered twice yields the same token, and Image Builder
    //    answers the second call with the first execution.
    let client_token = ClientToken::<36>::parse(
        "clientToken",
        &token::derive(
            token::START_PIPELINE,
            &[pipeline.as_str(), &request.dedup_key],
        ),
    )?;
    let mut extra = BTreeMap::new();
    if let Some(version) = &request.version {
        extra.insert(TAG_REQUESTED_VERSION.to_owned(), version.to_string());
    }
    let tags = deps.config.tags.merged("tags", &extra)?;

    // 3. A slot among the pipeline's releases in flight, before anything starts.
    let Some(slot) = lease::claim(
        &deps.store,
        deps.clock.as_ref(),
        &pipeline,
        &request.dedup_key,
        deps.config.max_in_flight,
    )
    .await?
    else {
        warn!(pipeline = %pipeline, max = deps.config.max_in_flight, request = %request.dedup_key, "release request refused: too many releases of the pipeline in flight");
        return Ok(Outcome {
            action: "refused",
            pipeline_arn: pipeline.to_string(),
            client_token: client_token.to_string(),
            image_build_version_arn: None,
            release_id: None,
        });
    };

    // 4. The call, with bounded backoff for the throttling and busy errors the SDK does not retry.
    let call = StartExecution {
        pipeline: pipeline.clone(),
        client_token: client_token.clone(),
        tags,
    };
    let started = with_backoff(deps.retry, || deps.pipelines.start_pipeline_execution(&call)).await.map_err(|err| match err.class {
        ErrorClass::IdempotencyMismatch => HandlerError::NonRetryable {
            context: format!("client token {client_token} was used before with other parameters (token derivation bug)"),
            source: err,
        },
        ErrorClass::NotFound => HandlerError::NonRetryable { context: format!("pipeline {pipeline} does not exist"), source: err },
        _ => HandlerError::from_service(format!("starting pipeline {pipeline}"), err),
    })?;

    info!(pipeline = %pipeline, token = %client_token, image = ?started.image_build_version_arn, dedup = %request.dedup_key, "pipeline execution started");

    // 5. The release exists from now on: registered under the image ARN the call answered. A
    //    repeated request finds it registered. Without an ARN, publish-release's discovery
    //    (ListImagePipelineImages) finds the build instead.
    let image = match started.image_build_version_arn.as_deref() {
        Some(arn) => Some(ImageBuildVersionArn::parse("imageBuildVersionArn", arn)?),
        None => {
            warn!(pipeline = %pipeline, "StartImagePipelineExecution answered no imageBuildVersionArn; discovery will find the build");
            None
        }
    };
    if let Some(image) = &image {
        shared::steps::build::register(
            &deps.store,
            deps.clock.as_ref(),
            image,
            Some(&pipeline),
            BuildOrigin::StartPipeline,
        )
        .await?;
        lease::bind(
            &deps.store,
            &pipeline,
            slot,
            &request.dedup_key,
            image.release_id(),
        )
        .await?;
    }
    Ok(Outcome {
        action: "started",
        pipeline_arn: pipeline.to_string(),
        client_token: client_token.to_string(),
        image_build_version_arn: started.image_build_version_arn,
        release_id: image.map(|i| i.release_id().to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use shared::error::ErrorType;
    use shared::fakes::{FakeImageBuilder, FakeStore};

    const PIPELINE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden";
    const NIGHTLY: &str =
        "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden-nightly";

    fn lookup(k: &str) -> Option<String> {
        match k {
            "PIPELINE_ARN" => Some(PIPELINE.to_owned()),
            "PIPELINE_ARNS" => Some(format!("{PIPELINE},{NIGHTLY}")),
            "ARTIFACT_BUCKET" => Some("image-release-artifacts".to_owned()),
            _ => None,
        }
    }

    fn deps() -> Deps<FakeImageBuilder, FakeStore> {
        Deps {
            config: Config::from_lookup(lookup).unwrap(),
            pipelines: FakeImageBuilder::default(),
            store: FakeStore::default(),
            retry: RetryPolicy::IMMEDIATE,
            clock: Box::new(shared::clock::SystemClock),
        }
    }

    fn event(raw: &str) -> LambdaEvent<Value> {
        LambdaEvent::new(serde_json::from_str(raw).unwrap(), Context::default())
    }

    const REQUESTED: &str = include_str!("../../../events/release-requested.json");
    const SCHEDULED: &str = include_str!("../../../events/scheduled-event.json");
    const SCHEDULER: &str = include_str!("../../../events/scheduler-input.json");
    const MALFORMED: &str = include_str!("../../../events/malformed-release-requested.json");

    #[tokio::test]
    async fn when_release_is_requested_should_start_the_pipeline_with_a_36_char_token() {
        let deps = deps();
        let outcome = handle(&deps, event(REQUESTED)).await.unwrap();
        let started = deps.pipelines.started();
        assert_eq!(started.len(), 1);
        assert_eq!(started[0].client_token.as_str().len(), 36);
        assert_eq!(outcome.client_token, started[0].client_token.as_str());
        assert_eq!(started[0].tags.get(TAG_REQUESTED_VERSION), Some("2.4.0"));
    }

    #[tokio::test]
    async fn when_event_is_delivered_twice_should_send_the_same_token() {
        let deps = deps();
        handle(&deps, event(REQUESTED)).await.unwrap();
        handle(&deps, event(REQUESTED)).await.unwrap();
        let started = deps.pipelines.started();
        assert_eq!(started[0].client_token, started[1].client_token);
    }

    #[tokio::test]
    async fn when_schedules_fire_twice_should_send_different_tokens() {
        let deps = deps();
        handle(&deps, event(SCHEDULED)).await.unwrap();
        let mut second: Value = serde_json::from_str(SCHEDULED).unwrap();
        second["id"] = "another-firing".into();
        handle(&deps, LambdaEvent::new(second, Context::default()))
            .await
            .unwrap();
        let started = deps.pipelines.started();
        assert_ne!(started[0].client_token, started[1].client_token);
        assert_eq!(started[0].pipeline.as_str(), PIPELINE);
    }

    #[tokio::test]
    async fn when_scheduler_input_overrides_the_pipeline_should_start_that_pipeline() {
        let deps = deps();
        handle(&deps, event(SCHEDULER)).await.unwrap();
        assert_eq!(
            deps.pipelines.started()[0].pipeline.as_str(),
            "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden-nightly"
        );
    }

    #[tokio::test]
    async fn when_event_is_malformed_should_fail_as_invalid_event_without_calling_aws() {
        let deps = deps();
        let err = handle(&deps, event(MALFORMED)).await.unwrap_err();
        assert_eq!(err.error_type(), ErrorType::InvalidEvent);
        assert!(err.to_string().contains("detail.pipelineArn"), "{err}");
        assert_eq!(
            deps.pipelines.script.count("StartImagePipelineExecution"),
            0
        );
    }

    #[tokio::test]
    async fn when_rate_limited_once_should_retry_and_start() {
        let deps = deps();
        deps.pipelines.script.fail(
            "StartImagePipelineExecution",
            ErrorClass::Throttled,
            "CallRateLimitExceededException",
            1,
        );
        handle(&deps, event(REQUESTED)).await.unwrap();
        assert_eq!(
            deps.pipelines.script.count("StartImagePipelineExecution"),
            2
        );
    }

    #[tokio::test]
    async fn when_pipeline_stays_in_use_should_fail_retryable() {
        let deps = deps();
        deps.pipelines.script.fail(
            "StartImagePipelineExecution",
            ErrorClass::InUse,
            "ResourceInUseException",
            5,
        );
        let err = handle(&deps, event(REQUESTED)).await.unwrap_err();
        assert_eq!(err.error_type(), ErrorType::Retryable);
        assert_eq!(
            deps.pipelines.script.count("StartImagePipelineExecution"),
            3
        );
    }

    #[tokio::test]
    async fn when_token_mismatch_should_fail_non_retryable_naming_the_token() {
        let deps = deps();
        deps.pipelines.script.fail(
            "StartImagePipelineExecution",
            ErrorClass::IdempotencyMismatch,
            "IdempotentParameterMismatchException",
            1,
        );
        let err = handle(&deps, event(REQUESTED)).await.unwrap_err();
        assert_eq!(err.error_type(), ErrorType::NonRetryable);
        assert!(err.to_string().contains("token derivation"));
        assert_eq!(
            deps.pipelines.script.count("StartImagePipelineExecution"),
            1
        );
    }

    #[test]
    fn when_pipeline_arn_is_missing_or_invalid_should_name_the_variable() {
        let err = Config::from_lookup(|_| None).unwrap_err();
        assert!(err.to_string().contains("PIPELINE_ARN"));
        let err = Config::from_lookup(|k| (k == "PIPELINE_ARN").then(|| "golden".to_owned()))
            .unwrap_err();
        assert!(err.to_string().contains("PIPELINE_ARN"));
    }

    #[test]
    fn when_release_tags_leave_no_room_should_fail_at_init() {
        let tags = (0..50)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        let err = Config::from_lookup(|k| match k {
            "RELEASE_TAGS" => Some(tags.clone()),
            _ => lookup(k),
        })
        .unwrap_err();
        assert!(err.to_string().contains("at most 49"), "{err}");
    }

    #[tokio::test]
    async fn when_the_pipeline_answers_its_image_should_register_the_release_as_pending() {
        let deps = deps();
        *deps.pipelines.next_image.lock().unwrap() =
            Some("arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/3".to_owned());
        let outcome = handle(&deps, event(REQUESTED)).await.unwrap();
        assert_eq!(outcome.release_id.as_deref(), Some("golden-1.0.0-3"));
        let build = deps.store.json("state/golden-1.0.0-3/build.json").unwrap();
        assert_eq!(build["origin"], "start-pipeline");
        assert_eq!(build["pipeline_arn"], PIPELINE);
        let pending = deps.store.json("pending/golden-1.0.0-3.json").unwrap();
        assert_eq!(
            pending["source_image_arn"],
            "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/3"
        );
        // The same request again: the build is known, nothing is registered twice, and the
        // request keeps the one slot it holds.
        handle(&deps, event(REQUESTED)).await.unwrap();
        assert_eq!(
            deps.store.keys(),
            [
                "leases/golden/0.json",
                "pending/golden-1.0.0-3.json",
                "state/golden-1.0.0-3/build.json"
            ]
        );
        let lease = deps.store.json("leases/golden/0.json").unwrap();
        assert_eq!(lease["release_id"], "golden-1.0.0-3");
    }

    #[test]
    fn when_artifact_bucket_is_missing_should_name_the_variable() {
        let err = Config::from_lookup(|k| (k == "PIPELINE_ARN").then(|| PIPELINE.to_owned()))
            .unwrap_err();
        assert!(err.to_string().contains("ARTIFACT_BUCKET"), "{err}");
    }
    #[tokio::test]
    async fn when_a_request_names_a_pipeline_not_configured_should_refuse_it_naming_the_rule() {
        let deps = deps();
        let mut raw: Value = serde_json::from_str(REQUESTED).unwrap();
        raw["detail"]["pipelineArn"] =
            "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/someone-elses".into();
        let err = handle(&deps, LambdaEvent::new(raw, Context::default()))
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), ErrorType::InvalidEvent);
        let text = err.to_string();
        assert!(
            text.contains("detail.pipelineArn") && text.contains("PIPELINE_ARNS"),
            "{text}"
        );
        assert_eq!(
            deps.pipelines.script.count("StartImagePipelineExecution"),
            0
        );
        assert!(deps.store.keys().is_empty());
    }

    /// A request for version `v` whose build Image Builder answers as `golden/v/1`.
    async fn request(deps: &Deps<FakeImageBuilder, FakeStore>, v: &str) -> Outcome {
        *deps.pipelines.next_image.lock().unwrap() = Some(format!(
            "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/{v}/1"
        ));
        let mut raw: Value = serde_json::from_str(REQUESTED).unwrap();
        raw["detail"]["releaseVersion"] = v.into();
        handle(deps, LambdaEvent::new(raw, Context::default()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn when_the_pipeline_has_its_cap_in_flight_should_refuse_until_one_ends() {
        let deps = Deps {
            config: Config::from_lookup(|k| match k {
                "MAX_RELEASES_IN_FLIGHT" => Some("2".to_owned()),
                _ => lookup(k),
            })
            .unwrap(),
            ..deps()
        };
        assert_eq!(request(&deps, "1.0.0").await.action, "started");
        assert_eq!(request(&deps, "1.0.1").await.action, "started");
        let refused = request(&deps, "1.0.2").await;
        assert_eq!(refused.action, "refused");
        assert_eq!(
            deps.pipelines.script.count("StartImagePipelineExecution"),
            2
        );
        // A redelivery of a request that holds a slot is not refused.
        assert_eq!(request(&deps, "1.0.1").await.action, "started");
        // The first release ends (publish-release takes it off the pending list): its slot frees.
        deps.store
            .objects
            .lock()
            .unwrap()
            .remove("pending/golden-1.0.0-1.json");
        assert_eq!(request(&deps, "1.0.2").await.action, "started");
        assert_eq!(
            deps.store.json("leases/golden/0.json").unwrap()["release_id"],
            "golden-1.0.2-1"
        );
    }

    #[test]
    fn when_max_in_flight_is_out_of_range_should_name_the_variable() {
        for bad in ["0", "101", "two"] {
            let err = Config::from_lookup(|k| match k {
                "MAX_RELEASES_IN_FLIGHT" => Some(bad.to_owned()),
                _ => lookup(k),
            })
            .unwrap_err();
            assert!(err.to_string().contains("MAX_RELEASES_IN_FLIGHT"), "{err}");
        }
    }
}
