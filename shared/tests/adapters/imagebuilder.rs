use super::*;
use aws_sdk_imagebuilder::operation::distribute_image::{
    DistributeImageError, DistributeImageOutput,
};
use aws_sdk_imagebuilder::operation::get_image::GetImageOutput;
use aws_sdk_imagebuilder::operation::start_image_pipeline_execution::{
    StartImagePipelineExecutionError, StartImagePipelineExecutionOutput,
};
use aws_sdk_imagebuilder::types::error::{
    CallRateLimitExceededException, IdempotentParameterMismatchException, ResourceInUseException,
};
use aws_sdk_imagebuilder::types::{Ami, Image, ImageState, ImageStatus, OutputResources};

fn start() -> StartExecution {
    StartExecution {
        pipeline: ImagePipelineArn::parse("p", PIPELINE).unwrap(),
        client_token: ClientToken::parse("t", "6f1d2c4e-8b7a-4d3f-9e21-5a6b7c8d9e0f").unwrap(),
        tags: ImageTags::parse("tags", BTreeMap::from([("team".into(), "platform".into())]))
            .unwrap(),
    }
}

#[tokio::test]
async fn when_starting_should_send_pipeline_arn_token_and_tags() {
    let rule = mock!(aws_sdk_imagebuilder::Client::start_image_pipeline_execution)
        .match_requests(|r| {
            r.image_pipeline_arn() == Some(PIPELINE)
                && r.client_token() == Some("6f1d2c4e-8b7a-4d3f-9e21-5a6b7c8d9e0f")
                && r.tags().and_then(|t| t.get("team")).map(String::as_str) == Some("platform")
        })
        .then_output(|| {
            StartImagePipelineExecutionOutput::builder()
                .image_build_version_arn(IMAGE)
                .build()
        });
    let client = mock_client!(aws_sdk_imagebuilder, [&rule]);
    let started = ImageBuilderAdapter::from_client(client)
        .start_pipeline_execution(&start())
        .await
        .unwrap();
    assert_eq!(started.image_build_version_arn.as_deref(), Some(IMAGE));
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn when_rate_limited_or_busy_should_classify_as_retryable_and_mismatch_as_not() {
    let cases: Vec<(fn() -> StartImagePipelineExecutionError, ErrorClass)> = vec![
        (
            || {
                StartImagePipelineExecutionError::CallRateLimitExceededException(
                    CallRateLimitExceededException::builder()
                        .meta(meta("CallRateLimitExceededException"))
                        .build(),
                )
            },
            ErrorClass::Throttled,
        ),
        (
            || {
                StartImagePipelineExecutionError::ResourceInUseException(
                    ResourceInUseException::builder()
                        .meta(meta("ResourceInUseException"))
                        .build(),
                )
            },
            ErrorClass::InUse,
        ),
        (
            || {
                StartImagePipelineExecutionError::IdempotentParameterMismatchException(
                    IdempotentParameterMismatchException::builder()
                        .meta(meta("IdempotentParameterMismatchException"))
                        .build(),
                )
            },
            ErrorClass::IdempotencyMismatch,
        ),
    ];
    for (error, class) in cases {
        let rule =
            mock!(aws_sdk_imagebuilder::Client::start_image_pipeline_execution).then_error(error);
        let client = mock_client!(aws_sdk_imagebuilder, [&rule]);
        let err = ImageBuilderAdapter::from_client(client)
            .start_pipeline_execution(&start())
            .await
            .unwrap_err();
        assert_eq!(err.class, class, "{err}");
        assert_eq!(err.operation, "StartImagePipelineExecution");
        assert_eq!(
            rule.num_calls(),
            1,
            "the SDK must not retry {class:?} itself: the handler decides"
        );
    }
}

#[tokio::test]
async fn when_getting_an_image_should_read_tags_pipeline_and_amis() {
    let rule = mock!(aws_sdk_imagebuilder::Client::get_image)
        .match_requests(|r| r.image_build_version_arn() == Some(IMAGE))
        .then_output(|| {
            GetImageOutput::builder()
                .image(
                    Image::builder()
                        .arn(IMAGE)
                        .source_pipeline_arn(PIPELINE)
                        .state(ImageState::builder().status(ImageStatus::Available).build())
                        .tags("image-release:release-id", "golden-1.0.0-1")
                        .output_resources(
                            OutputResources::builder()
                                .amis(
                                    Ami::builder()
                                        .region("us-east-1")
                                        .image("ami-0abcdef1234567890")
                                        .account_id("123456789012")
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let client = mock_client!(aws_sdk_imagebuilder, [&rule]);
    let info = ImageBuilderAdapter::from_client(client)
        .get_image(&ImageBuildVersionArn::parse("a", IMAGE).unwrap())
        .await
        .unwrap();
    assert_eq!(info.status.as_deref(), Some("AVAILABLE"));
    assert_eq!(info.source_pipeline_arn.as_deref(), Some(PIPELINE));
    assert_eq!(
        info.tags
            .get("image-release:release-id")
            .map(String::as_str),
        Some("golden-1.0.0-1")
    );
    assert_eq!(info.amis[0].image, "ami-0abcdef1234567890");
}

#[tokio::test]
async fn when_distributing_should_send_every_documented_field() {
    let rule = mock!(aws_sdk_imagebuilder::Client::distribute_image)
        .match_requests(|r| {
            r.source_image() == Some(IMAGE)
                && r.distribution_configuration_arn() == Some("arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden")
                && r.execution_role() == Some("arn:aws:iam::123456789012:role/Dist")
                && r.logging_configuration().and_then(|l| l.log_group_name()) == Some("/aws/imagebuilder/golden")
                && r.client_token() == Some("token-1")
                && r.tags().map(HashMap::len) == Some(2)
        })
        .then_output(|| DistributeImageOutput::builder().image_build_version_arn("arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/2").build());
    let rule_err = mock!(aws_sdk_imagebuilder::Client::distribute_image).then_error(|| {
        DistributeImageError::IdempotentParameterMismatchException(
            IdempotentParameterMismatchException::builder()
                .meta(meta("IdempotentParameterMismatchException"))
                .build(),
        )
    });
    let client = mock_client!(
        aws_sdk_imagebuilder,
        RuleMode::Sequential,
        [&rule, &rule_err]
    );
    let adapter = ImageBuilderAdapter::from_client(client);
    let request = Distribute {
        source_image: ImageBuildVersionArn::parse("s", IMAGE).unwrap(),
        distribution_configuration: DistributionConfigurationArn::parse(
            "d",
            "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden",
        )
        .unwrap(),
        execution_role: RoleNameOrArn::parse("r", "arn:aws:iam::123456789012:role/Dist").unwrap(),
        log_group: Some(LogGroupName::parse("l", "/aws/imagebuilder/golden").unwrap()),
        tags: ImageTags::parse(
            "t",
            BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())]),
        )
        .unwrap(),
        client_token: ClientToken::parse("c", "token-1").unwrap(),
    };
    assert!(
        adapter
            .distribute_image(&request)
            .await
            .unwrap()
            .image_build_version_arn
            .unwrap()
            .ends_with("/2")
    );
    assert_eq!(
        adapter.distribute_image(&request).await.unwrap_err().class,
        ErrorClass::IdempotencyMismatch
    );
    assert_eq!(rule.num_calls(), 1);
    assert_eq!(rule_err.num_calls(), 1);
}

#[tokio::test]
async fn when_listing_a_pipelines_images_should_page_with_100_per_request_until_no_token() {
    use aws_sdk_imagebuilder::operation::list_image_pipeline_images::ListImagePipelineImagesOutput;
    use aws_sdk_imagebuilder::types::ImageSummary;
    let summary = |n: u32| {
        ImageSummary::builder()
            .arn(format!(
                "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/{n}"
            ))
            .state(ImageState::builder().status(ImageStatus::Available).build())
            .date_created("2026-11-23T10:00:00.000Z")
            .tags("team", "platform")
            .build()
    };
    let first = mock!(aws_sdk_imagebuilder::Client::list_image_pipeline_images)
        .match_requests(|r| {
            r.image_pipeline_arn() == Some(PIPELINE)
                && r.max_results() == Some(100)
                && r.next_token().is_none()
        })
        .then_output(move || {
            ListImagePipelineImagesOutput::builder()
                .image_summary_list(summary(1))
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_imagebuilder::Client::list_image_pipeline_images)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(move || {
            ListImagePipelineImagesOutput::builder()
                .image_summary_list(summary(2))
                .build()
        });
    let client = mock_client!(
        aws_sdk_imagebuilder,
        RuleMode::Sequential,
        [&first, &second]
    );
    let images = ImageBuilderAdapter::from_client(client)
        .list_pipeline_images(&ImagePipelineArn::parse("p", PIPELINE).unwrap())
        .await
        .unwrap();
    assert_eq!(images.len(), 2);
    assert!(images[1].arn.ends_with("/2"));
    assert_eq!(images[0].status.as_deref(), Some("AVAILABLE"));
    assert_eq!(
        images[0].date_created.as_deref(),
        Some("2026-11-23T10:00:00.000Z")
    );
    assert_eq!(
        images[0].tags.get("team").map(String::as_str),
        Some("platform")
    );
}

#[tokio::test]
async fn when_an_image_failed_should_read_its_failure_context_per_region() {
    use aws_sdk_imagebuilder::types::{
        DistributionFailureContext, ImageConfigurationStep, ImageFailureContext, RegionFailure,
        RegionFailureStatus,
    };
    let rule = mock!(aws_sdk_imagebuilder::Client::get_image).then_output(|| {
        GetImageOutput::builder()
            .image(
                Image::builder()
                    .arn(IMAGE)
                    .state(
                        ImageState::builder()
                            .status(ImageStatus::Failed)
                            .reason("Image distribution failed")
                            .failure_context(
                                ImageFailureContext::builder()
                                    .image_status(ImageStatus::Distributing)
                                    .distribution_failure(
                                        DistributionFailureContext::builder()
                                            .error_message("1 of 2 regions failed")
                                            .region_failures(
                                                RegionFailure::builder()
                                                    .region("eu-west-1")
                                                    .status(RegionFailureStatus::TimedOut)
                                                    .image_configuration_step(
                                                        ImageConfigurationStep::UpdateLaunchTemplates,
                                                    )
                                                    .error_message("timed out")
                                                    .target_account_id("123456789012")
                                                    .build(),
                                            )
                                            .build(),
                                    )
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let client = mock_client!(aws_sdk_imagebuilder, [&rule]);
    let info = ImageBuilderAdapter::from_client(client)
        .get_image(&ImageBuildVersionArn::parse("a", IMAGE).unwrap())
        .await
        .unwrap();
    assert_eq!(info.image_status(), shared::ports::ImageStatus::Failed);
    let failure = info.failure.unwrap();
    assert_eq!(failure.stage.as_deref(), Some("DISTRIBUTING"));
    assert_eq!(failure.regions[0].status, "TIMED_OUT");
    assert_eq!(
        failure.regions[0].step.as_deref(),
        Some("UPDATE_LAUNCH_TEMPLATES")
    );
    assert!(failure.is_retryable());
    assert_eq!(
        failure.describe(),
        "failed while DISTRIBUTING; 1 of 2 regions failed; eu-west-1 account 123456789012 \
         TIMED_OUT (UPDATE_LAUNCH_TEMPLATES): timed out"
    );
}

#[tokio::test]
async fn when_retrying_should_send_the_image_and_its_own_token() {
    use aws_sdk_imagebuilder::operation::retry_image::RetryImageOutput;
    let rule = mock!(aws_sdk_imagebuilder::Client::retry_image)
        .match_requests(|r| {
            r.image_build_version_arn() == Some(IMAGE) && r.client_token() == Some("retry-1")
        })
        .then_output(|| RetryImageOutput::builder().build());
    let client = mock_client!(aws_sdk_imagebuilder, [&rule]);
    ImageBuilderAdapter::from_client(client)
        .retry_image(
            &ImageBuildVersionArn::parse("a", IMAGE).unwrap(),
            &ClientToken::parse("c", "retry-1").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
}
