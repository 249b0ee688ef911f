//! distribute-image: when an image of a configured pipeline becomes AVAILABLE, spread it with
//! Image Builder's DistributeImage and a distribution configuration. The step itself lives in
//! [`shared::steps::distribute`], where publish-release's reconciler calls it too.

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::HandlerError;
use shared::events::ImageStateChange;
use shared::ports::{ArtifactStore, ImagePipelines};
use shared::retry::RetryPolicy;
use shared::steps::distribute;
pub use shared::steps::distribute::{Config, Outcome};

pub struct Deps<P, S> {
    pub config: Config,
    pub pipelines: P,
    pub store: S,
    pub retry: RetryPolicy,
    /// What every record is stamped with.
    pub clock: Box<dyn shared::clock::Clock>,
}

pub async fn handle<P: ImagePipelines, S: ArtifactStore>(
    deps: &Deps<P, S>,
    event: LambdaEvent<Value>,
) -> Result<Outcome, HandlerError> {
    let change = ImageStateChange::parse(&event.payload)?;
    let step = distribute::Deps {
        config: &deps.config,
        pipelines: &deps.pipelines,
        store: &deps.store,
        retry: deps.retry,
        clock: deps.clock.as_ref(),
    };
    distribute::on_image(&step, &change).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use shared::error::ErrorType;
    use shared::fakes::{FakeImageBuilder, FakeStore};
    use shared::ports::ImageInfo;
    use shared::release::{Step, TAG_RELEASE_ID, TAG_SOURCE_IMAGE};
    use shared::{ConfigError, ErrorClass};
    use std::collections::BTreeMap;

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
            clock: Box::new(shared::clock::SystemClock),
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
            .json("state/golden-1.0.0-1/distribution.json")
            .unwrap();
        assert_eq!(record["client_token"], call.client_token.as_str());
        assert!(deps.store.json("pending/golden-1.0.0-1.json").is_some());
    }

    #[tokio::test]
    async fn when_a_step_records_should_stamp_the_time_of_its_clock() {
        let mut deps = deps(vec![image(IMAGE, Some(PIPELINE), &[])]);
        // 2026-11-23T10:00:00Z
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_428_000);
        deps.clock = Box::new(shared::clock::ManualClock::new(at));
        handle(&deps, event(PIPELINE_EVENT)).await.unwrap();
        for (key, field) in [
            ("state/golden-1.0.0-1/distribution.json", "requested_at"),
            ("state/golden-1.0.0-1/build.json", "recorded_at"),
            ("pending/golden-1.0.0-1.json", "since"),
        ] {
            let record = deps.store.json(key).unwrap();
            assert_eq!(record[field], "2026-11-23T10:00:00Z", "{key}");
        }
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
        let mut deps = deps(vec![image(
            DISTRIBUTED,
            None,
            &[
                (TAG_RELEASE_ID, "golden-1.0.0-1"),
                (TAG_SOURCE_IMAGE, IMAGE),
            ],
        )]);
        deps.store =
            FakeStore::default().with_distributed_release("golden-1.0.0-1", IMAGE, DISTRIBUTED);
        let outcome = handle(&deps, event(DISTRIBUTED_EVENT)).await.unwrap();
        assert!(
            matches!(outcome, Outcome::Skipped { ref reason } if reason.contains("loop guard")),
            "{outcome:?}"
        );
        assert!(deps.pipelines.distributed().is_empty());
    }

    #[tokio::test]
    async fn when_a_pipeline_image_carries_a_forged_release_tag_should_still_distribute_it() {
        // Anyone who may tag an Image Builder image could put our tag on a pipeline's image: no
        // release's distribution record names it, so it is distributed like any other.
        let deps = deps(vec![image(
            IMAGE,
            Some(PIPELINE),
            &[(TAG_RELEASE_ID, "golden-0.9.0-3")],
        )]);
        let outcome = handle(&deps, event(PIPELINE_EVENT)).await.unwrap();
        assert!(
            matches!(outcome, Outcome::Distributed { .. }),
            "{outcome:?}"
        );
        assert_eq!(deps.pipelines.distributed().len(), 1);
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
            .json("state/golden-1.0.0-1/failure-build.json")
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
    async fn when_a_forged_failed_event_names_an_available_image_should_record_no_failure() {
        // Anyone who may invoke the function can send FAILED for any build: GetImage says
        // where the image stands, and an AVAILABLE image of our pipeline is distributed.
        let deps = deps(vec![image(IMAGE, Some(PIPELINE), &[])]);
        let outcome = handle(&deps, event(FAILED_EVENT)).await.unwrap();
        assert!(
            matches!(outcome, Outcome::Distributed { .. }),
            "{outcome:?}"
        );
        assert!(
            deps.store
                .json("state/golden-1.0.0-1/failure-build.json")
                .is_none()
        );
        // And one that is still building is left alone whatever the event says.
        let mut building = image(IMAGE, Some(PIPELINE), &[]);
        building.status = Some("BUILDING".into());
        let building = super::tests::deps(vec![building]);
        let outcome = handle(&building, event(FAILED_EVENT)).await.unwrap();
        assert!(
            matches!(&outcome, Outcome::Skipped { reason } if reason.contains("GetImage says BUILDING")),
            "{outcome:?}"
        );
        assert!(
            building.store.keys().is_empty(),
            "{:?}",
            building.store.keys()
        );
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
    async fn when_token_mismatch_should_record_the_failure_and_fail_as_the_bug_it_is() {
        let deps = deps(vec![image(IMAGE, Some(PIPELINE), &[])]);
        deps.pipelines.script.fail(
            "DistributeImage",
            ErrorClass::IdempotencyMismatch,
            "IdempotentParameterMismatchException",
            1,
        );
        let err = handle(&deps, event(PIPELINE_EVENT)).await.unwrap_err();
        assert_eq!(err.error_type(), ErrorType::NonRetryable);
        assert!(err.to_string().contains("token derivation bug"), "{err}");
        assert!(
            deps.store
                .json("state/golden-1.0.0-1/failure-distribution.json")
                .is_some()
        );
    }

    #[tokio::test]
    async fn when_a_service_quota_is_exhausted_should_defer_to_the_reconciler_without_failing() {
        let deps = deps(vec![image(IMAGE, Some(PIPELINE), &[])]);
        deps.pipelines.script.fail(
            "DistributeImage",
            ErrorClass::LimitExceeded,
            "ServiceQuotaExceededException",
            1,
        );
        let outcome = handle(&deps, event(PIPELINE_EVENT)).await.unwrap();
        assert!(matches!(outcome, Outcome::Deferred { .. }), "{outcome:?}");
        assert!(
            deps.store
                .json("state/golden-1.0.0-1/failure-distribution.json")
                .is_none(),
            "a quota is not a failure"
        );
        // The release is registered, so publish-release re-drives the distribution.
        assert!(deps.store.json("pending/golden-1.0.0-1.json").is_some());
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
                .json("state/golden-1.0.0-1/failure-distribution.json")
                .is_none()
        );
        assert!(
            deps.store
                .json("state/golden-1.0.0-1/distribution.json")
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
