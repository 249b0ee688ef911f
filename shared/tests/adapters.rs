//! Adapter tests: each adapter drives a real SDK client whose transport is replaced by
//! `aws-smithy-mocks` rules, so the exact request fields and the handling of each documented
//! error code are checked without a network.

use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use shared::aws::{
    appstream::AppStreamAdapter, cloudfront::CloudFrontAdapter, ec2::Ec2Adapter,
    imagebuilder::ImageBuilderAdapter, s3::S3Adapter,
};
use shared::domain::*;
use shared::error::ErrorClass;
use shared::ports::*;
use std::collections::{BTreeMap, HashMap};

fn meta(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message(format!("{code} from the mock"))
        .build()
}

const PIPELINE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden";
const IMAGE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1";

mod imagebuilder {
    use super::*;
    use aws_sdk_imagebuilder::operation::distribute_image::{
        DistributeImageError, DistributeImageOutput,
    };
    use aws_sdk_imagebuilder::operation::get_image::GetImageOutput;
    use aws_sdk_imagebuilder::operation::start_image_pipeline_execution::{
        StartImagePipelineExecutionError, StartImagePipelineExecutionOutput,
    };
    use aws_sdk_imagebuilder::types::error::{
        CallRateLimitExceededException, IdempotentParameterMismatchException,
        ResourceInUseException,
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
            let rule = mock!(aws_sdk_imagebuilder::Client::start_image_pipeline_execution)
                .then_error(error);
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
            execution_role: RoleNameOrArn::parse("r", "arn:aws:iam::123456789012:role/Dist")
                .unwrap(),
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
}

mod ec2 {
    use super::*;
    use aws_sdk_ec2::operation::describe_export_image_tasks::DescribeExportImageTasksOutput;
    use aws_sdk_ec2::operation::export_image::{ExportImageError, ExportImageOutput};
    use aws_sdk_ec2::types::{ExportImageTask, ExportTaskS3Location, ResourceType};

    fn request(dry_run: bool) -> ExportImage {
        ExportImage {
            image_id: AmiId::parse("i", "ami-0abcdef1234567890").unwrap(),
            format: DiskImageFormat::Raw,
            bucket: BucketName::parse("b", "image-release-artifacts").unwrap(),
            prefix: "releases/golden-1.0.0-1/".into(),
            role_name: RoleName::parse("r", "vmimport").unwrap(),
            client_token: ClientToken::parse("c", "export-token").unwrap(),
            description: "image-release golden-1.0.0-1".into(),
            tags: BTreeMap::from([("image-release:release-id".into(), "golden-1.0.0-1".into())]),
            dry_run,
        }
    }

    #[tokio::test]
    async fn when_exporting_should_send_format_location_role_token_tags_and_dry_run() {
        let rule = mock!(aws_sdk_ec2::Client::export_image)
            .match_requests(|r| {
                let location = r.s3_export_location().unwrap();
                let spec = &r.tag_specifications()[0];
                r.image_id() == Some("ami-0abcdef1234567890")
                    && r.disk_image_format().map(|f| f.as_str()) == Some("RAW")
                    && location.s3_bucket() == Some("image-release-artifacts")
                    && location.s3_prefix() == Some("releases/golden-1.0.0-1/")
                    && r.role_name() == Some("vmimport")
                    && r.client_token() == Some("export-token")
                    && r.dry_run() == Some(false)
                    && spec.resource_type() == Some(&ResourceType::ExportImageTask)
                    && spec.tags()[0].key() == Some("image-release:release-id")
            })
            .then_output(|| {
                ExportImageOutput::builder()
                    .export_image_task_id("export-ami-0123456789abcdef0")
                    .status("active")
                    .progress("0")
                    .s3_export_location(
                        ExportTaskS3Location::builder()
                            .s3_bucket("image-release-artifacts")
                            .s3_prefix("releases/golden-1.0.0-1/")
                            .build(),
                    )
                    .build()
            });
        let client = mock_client!(aws_sdk_ec2, [&rule]);
        let started = Ec2Adapter::from_client(client)
            .export_image(&request(false))
            .await
            .unwrap();
        let ExportStarted::Task(task) = started else {
            panic!("expected a task")
        };
        assert_eq!(task.export_task_id, "export-ami-0123456789abcdef0");
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn when_dry_run_answers_dry_run_operation_should_report_success() {
        let rule = mock!(aws_sdk_ec2::Client::export_image)
            .match_requests(|r| r.dry_run() == Some(true))
            .then_error(|| ExportImageError::generic(meta("DryRunOperation")));
        let client = mock_client!(aws_sdk_ec2, [&rule]);
        assert_eq!(
            Ec2Adapter::from_client(client)
                .export_image(&request(true))
                .await
                .unwrap(),
            ExportStarted::DryRunOk
        );
    }

    #[tokio::test]
    async fn when_ec2_answers_documented_codes_should_classify_them() {
        for (code, class) in [
            ("InvalidAMIID.NotFound", ErrorClass::NotFound),
            (
                "IdempotentParameterMismatch",
                ErrorClass::IdempotencyMismatch,
            ),
            ("InvalidParameterValue", ErrorClass::Invalid),
            ("UnauthorizedOperation", ErrorClass::AccessDenied),
            ("ResourceLimitExceeded", ErrorClass::LimitExceeded),
        ] {
            let rule = mock!(aws_sdk_ec2::Client::export_image)
                .then_error(move || ExportImageError::generic(meta(code)));
            let client = mock_client!(aws_sdk_ec2, [&rule]);
            let err = Ec2Adapter::from_client(client)
                .export_image(&request(false))
                .await
                .unwrap_err();
            assert_eq!(err.class, class, "{code}");
            assert_eq!(err.code, code);
        }
    }

    #[tokio::test]
    async fn when_describing_a_task_should_ask_for_that_id_and_read_status_and_progress() {
        let rule = mock!(aws_sdk_ec2::Client::describe_export_image_tasks)
            .match_requests(|r| r.export_image_task_ids() == ["export-ami-0123456789abcdef0"])
            .then_output(|| {
                DescribeExportImageTasksOutput::builder()
                    .export_image_tasks(
                        ExportImageTask::builder()
                            .export_image_task_id("export-ami-0123456789abcdef0")
                            .status("active")
                            .progress("42")
                            .status_message("converting")
                            .build(),
                    )
                    .build()
            });
        let client = mock_client!(aws_sdk_ec2, [&rule]);
        let task = Ec2Adapter::from_client(client)
            .describe_export_task("export-ami-0123456789abcdef0")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                task.status.as_str(),
                task.progress.as_deref(),
                task.status_message.as_deref()
            ),
            ("active", Some("42"), Some("converting"))
        );
    }
}

mod appstream {
    use super::*;
    use aws_sdk_appstream::operation::copy_image::{CopyImageError, CopyImageOutput};
    use aws_sdk_appstream::operation::describe_images::DescribeImagesOutput;
    use aws_sdk_appstream::operation::tag_resource::TagResourceOutput;
    use aws_sdk_appstream::types::error::{
        IncompatibleImageException, LimitExceededException, ResourceAlreadyExistsException,
        ResourceNotAvailableException, ResourceNotFoundException,
    };
    use aws_sdk_appstream::types::{Image, ImageState};

    fn region(r: &str) -> RegionName {
        RegionName::parse("r", r).unwrap()
    }

    fn adapter(client: aws_sdk_appstream::Client) -> AppStreamAdapter {
        AppStreamAdapter::from_clients(
            region("us-east-1"),
            HashMap::from([
                (region("us-east-1"), client.clone()),
                (region("eu-west-1"), client),
            ]),
        )
    }

    fn copy() -> CopyImage {
        CopyImage {
            source_image_name: AppStreamImageName::parse("s", "golden-1.0.0-1").unwrap(),
            destination_image_name: AppStreamImageName::parse("d", "golden-1.0.0-1").unwrap(),
            destination_region: region("eu-west-1"),
            description: Some(ImageDescription::parse("x", "Golden").unwrap()),
        }
    }

    #[tokio::test]
    async fn when_copying_should_send_source_destination_region_and_description() {
        let rule = mock!(aws_sdk_appstream::Client::copy_image)
            .match_requests(|r| {
                r.source_image_name() == Some("golden-1.0.0-1")
                    && r.destination_image_name() == Some("golden-1.0.0-1")
                    && r.destination_region() == Some("eu-west-1")
                    && r.destination_image_description() == Some("Golden")
            })
            .then_output(|| {
                CopyImageOutput::builder()
                    .destination_image_name("golden-1.0.0-1")
                    .build()
            });
        let client = mock_client!(aws_sdk_appstream, [&rule]);
        adapter(client).copy_image(&copy()).await.unwrap();
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn when_copy_fails_with_documented_errors_should_classify_each() {
        let cases: Vec<(fn() -> CopyImageError, ErrorClass)> = vec![
            (
                || {
                    CopyImageError::ResourceAlreadyExistsException(
                        ResourceAlreadyExistsException::builder()
                            .meta(meta("ResourceAlreadyExistsException"))
                            .build(),
                    )
                },
                ErrorClass::AlreadyExists,
            ),
            (
                || {
                    CopyImageError::IncompatibleImageException(
                        IncompatibleImageException::builder()
                            .meta(meta("IncompatibleImageException"))
                            .build(),
                    )
                },
                ErrorClass::Invalid,
            ),
            (
                || {
                    CopyImageError::LimitExceededException(
                        LimitExceededException::builder()
                            .meta(meta("LimitExceededException"))
                            .build(),
                    )
                },
                ErrorClass::LimitExceeded,
            ),
            (
                || {
                    CopyImageError::ResourceNotAvailableException(
                        ResourceNotAvailableException::builder()
                            .meta(meta("ResourceNotAvailableException"))
                            .build(),
                    )
                },
                ErrorClass::NotAvailable,
            ),
            (
                || {
                    CopyImageError::ResourceNotFoundException(
                        ResourceNotFoundException::builder()
                            .meta(meta("ResourceNotFoundException"))
                            .build(),
                    )
                },
                ErrorClass::NotFound,
            ),
        ];
        for (error, class) in cases {
            let rule = mock!(aws_sdk_appstream::Client::copy_image).then_error(error);
            let client = mock_client!(aws_sdk_appstream, [&rule]);
            assert_eq!(
                adapter(client).copy_image(&copy()).await.unwrap_err().class,
                class
            );
        }
    }

    #[tokio::test]
    async fn when_describing_by_name_should_return_state_and_arn_or_none() {
        let found = mock!(aws_sdk_appstream::Client::describe_images)
            .match_requests(|r| r.names() == ["golden-1.0.0-1"])
            .then_output(|| {
                DescribeImagesOutput::builder()
                    .images(
                        Image::builder()
                            .name("golden-1.0.0-1")
                            .arn("arn:aws:appstream:eu-west-1:123456789012:image/golden-1.0.0-1")
                            .state(ImageState::Available)
                            .build(),
                    )
                    .build()
            });
        let missing = mock!(aws_sdk_appstream::Client::describe_images).then_error(|| {
            aws_sdk_appstream::operation::describe_images::DescribeImagesError::ResourceNotFoundException(
                ResourceNotFoundException::builder().meta(meta("ResourceNotFoundException")).build(),
            )
        });
        let client = mock_client!(aws_sdk_appstream, RuleMode::Sequential, [&found, &missing]);
        let adapter = adapter(client);
        let name = AppStreamImageName::parse("n", "golden-1.0.0-1").unwrap();
        let image = adapter
            .describe_image(&region("eu-west-1"), &name)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(image.state, "AVAILABLE");
        assert!(
            adapter
                .describe_image(&region("eu-west-1"), &name)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn when_tagging_should_send_the_arn_and_tags_and_reject_unconfigured_regions() {
        let rule = mock!(aws_sdk_appstream::Client::tag_resource)
            .match_requests(|r| {
                r.resource_arn() == Some("arn:x")
                    && r.tags().and_then(|t| t.get("team")).map(String::as_str) == Some("platform")
            })
            .then_output(|| TagResourceOutput::builder().build());
        let client = mock_client!(aws_sdk_appstream, [&rule]);
        let adapter = adapter(client);
        let tags = BTreeMap::from([("team".to_owned(), "platform".to_owned())]);
        adapter
            .tag_resource(&region("eu-west-1"), "arn:x", &tags)
            .await
            .unwrap();
        assert_eq!(rule.num_calls(), 1);
        assert_eq!(
            adapter
                .tag_resource(&region("sa-east-1"), "arn:x", &tags)
                .await
                .unwrap_err()
                .code,
            "UnconfiguredRegion"
        );
    }
}

mod s3_and_cloudfront {
    use super::*;
    use aws_sdk_cloudfront::operation::create_invalidation::CreateInvalidationOutput;
    use aws_sdk_cloudfront::types::Invalidation;
    use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};

    #[tokio::test]
    async fn when_writing_if_absent_should_send_if_none_match_and_map_412_to_already_exists() {
        let written = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| {
                r.bucket() == Some("image-release-artifacts")
                    && r.key() == Some("releases/x/manifest.json")
                    && r.if_none_match() == Some("*")
            })
            .then_output(|| PutObjectOutput::builder().build());
        let lost = mock!(aws_sdk_s3::Client::put_object)
            .then_error(|| PutObjectError::generic(meta("PreconditionFailed")));
        let client = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&written, &lost]);
        let store = S3Adapter::from_client(
            client,
            BucketName::parse("b", "image-release-artifacts").unwrap(),
        );
        assert_eq!(
            store
                .put_json_if_absent("releases/x/manifest.json", &1)
                .await
                .unwrap(),
            PutOutcome::Written
        );
        assert_eq!(
            store
                .put_json_if_absent("releases/x/manifest.json", &1)
                .await
                .unwrap(),
            PutOutcome::AlreadyExists
        );
    }

    #[tokio::test]
    async fn when_invalidating_should_send_paths_quantity_and_caller_reference() {
        let rule = mock!(aws_sdk_cloudfront::Client::create_invalidation)
            .match_requests(|r| {
                let batch = r.invalidation_batch().unwrap();
                r.distribution_id() == Some("E2QWRUHEXAMPLE")
                    && batch.caller_reference() == "ref-1"
                    && batch.paths().map(|p| (p.quantity(), p.items().to_vec()))
                        == Some((1, vec!["/releases/x/manifest.json".to_owned()]))
            })
            .then_output(|| {
                CreateInvalidationOutput::builder()
                    .invalidation(
                        Invalidation::builder()
                            .id("I2J0I21PCUYOIK")
                            .status("InProgress")
                            .create_time(aws_smithy_types::DateTime::from_secs(0))
                            .invalidation_batch(
                                aws_sdk_cloudfront::types::InvalidationBatch::builder()
                                    .caller_reference("ref-1")
                                    .paths(
                                        aws_sdk_cloudfront::types::Paths::builder()
                                            .quantity(0)
                                            .build()
                                            .unwrap(),
                                    )
                                    .build()
                                    .unwrap(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .build()
            });
        let client = mock_client!(aws_sdk_cloudfront, [&rule]);
        let cdn = CloudFrontAdapter::from_client(client, "E2QWRUHEXAMPLE".into());
        assert_eq!(
            cdn.create_invalidation(&["/releases/x/manifest.json".to_owned()], "ref-1")
                .await
                .unwrap(),
            "I2J0I21PCUYOIK"
        );
        assert_eq!(rule.num_calls(), 1);
    }
}

mod remaining_operations {
    use super::*;
    use aws_sdk_appstream::operation::create_imported_image::CreateImportedImageOutput;
    use aws_sdk_appstream::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_appstream::types::{Image, ImageState};
    use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
    use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
    use aws_sdk_s3::operation::head_object::{HeadObjectError, HeadObjectOutput};
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::Object;
    use aws_sdk_s3::types::error::{NoSuchKey, NotFound};

    fn region(r: &str) -> RegionName {
        RegionName::parse("r", r).unwrap()
    }

    #[tokio::test]
    async fn when_importing_should_send_name_ami_role_description_and_tags() {
        let rule = mock!(aws_sdk_appstream::Client::create_imported_image)
            .match_requests(|r| {
                r.name() == Some("golden-1.0.0-1")
                    && r.source_ami_id() == Some("ami-0abcdef1234567890")
                    && r.iam_role_arn() == Some("arn:aws:iam::123456789012:role/Import")
                    && r.description() == Some("Golden")
                    && r.tags()
                        .and_then(|t| t.get("image-release:release-id"))
                        .map(String::as_str)
                        == Some("golden-1.0.0-1")
            })
            .then_output(|| {
                CreateImportedImageOutput::builder()
                    .image(
                        Image::builder()
                            .name("golden-1.0.0-1")
                            .arn("arn:aws:appstream:us-east-1:123456789012:image/golden-1.0.0-1")
                            .state(ImageState::Importing)
                            .build(),
                    )
                    .build()
            });
        let client = mock_client!(aws_sdk_appstream, [&rule]);
        let adapter = AppStreamAdapter::from_clients(
            region("us-east-1"),
            HashMap::from([(region("us-east-1"), client)]),
        );
        let image = adapter
            .create_imported_image(&ImportImage {
                name: AppStreamImageName::parse("n", "golden-1.0.0-1").unwrap(),
                source_ami: AmiId::parse("a", "ami-0abcdef1234567890").unwrap(),
                role: IamRoleArn::parse("r", "arn:aws:iam::123456789012:role/Import").unwrap(),
                description: Some(ImportDescription::parse("d", "Golden").unwrap()),
                tags: BTreeMap::from([(
                    "image-release:release-id".into(),
                    "golden-1.0.0-1".into(),
                )]),
            })
            .await
            .unwrap();
        assert_eq!(image.state, "IMPORTING");
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn when_listing_tags_should_ask_for_the_arn_in_that_region() {
        let rule = mock!(aws_sdk_appstream::Client::list_tags_for_resource)
            .match_requests(|r| {
                r.resource_arn()
                    == Some("arn:aws:appstream:us-east-1:123456789012:image/golden-1.0.0-1")
            })
            .then_output(|| {
                ListTagsForResourceOutput::builder()
                    .tags("team", "platform")
                    .build()
            });
        let client = mock_client!(aws_sdk_appstream, [&rule]);
        let adapter = AppStreamAdapter::from_clients(
            region("us-east-1"),
            HashMap::from([(region("us-east-1"), client)]),
        );
        let tags = adapter
            .list_tags(
                &region("us-east-1"),
                "arn:aws:appstream:us-east-1:123456789012:image/golden-1.0.0-1",
            )
            .await
            .unwrap();
        assert_eq!(tags.get("team").map(String::as_str), Some("platform"));
    }

    fn store(client: aws_sdk_s3::Client) -> S3Adapter {
        S3Adapter::from_client(
            client,
            BucketName::parse("b", "image-release-artifacts").unwrap(),
        )
    }

    #[tokio::test]
    async fn when_reading_records_should_parse_json_and_treat_no_such_key_as_absent() {
        let found = mock!(aws_sdk_s3::Client::get_object)
            .match_requests(|r| {
                r.bucket() == Some("image-release-artifacts")
                    && r.key() == Some("releases/x/export.json")
            })
            .then_output(|| {
                GetObjectOutput::builder()
                    .body(ByteStream::from_static(br#"{"a": 1}"#))
                    .build()
            });
        let missing = mock!(aws_sdk_s3::Client::get_object).then_error(|| {
            GetObjectError::NoSuchKey(NoSuchKey::builder().meta(meta("NoSuchKey")).build())
        });
        let client = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&found, &missing]);
        let store = store(client);
        let value: Option<serde_json::Value> =
            store.get_json("releases/x/export.json").await.unwrap();
        assert_eq!(value.unwrap()["a"], 1);
        assert!(
            store
                .get_json::<serde_json::Value>("releases/x/export.json")
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn when_listing_heading_and_deleting_should_use_the_bucket_prefix_and_key() {
        let list = mock!(aws_sdk_s3::Client::list_objects_v2)
            .match_requests(|r| {
                r.bucket() == Some("image-release-artifacts") && r.prefix() == Some("pending/")
            })
            .then_output(|| {
                ListObjectsV2Output::builder()
                    .contents(Object::builder().key("pending/golden-1.0.0-1.json").build())
                    .build()
            });
        let head = mock!(aws_sdk_s3::Client::head_object)
            .match_requests(|r| r.key() == Some("releases/x/export-ami-0a.vmdk"))
            .then_output(|| HeadObjectOutput::builder().content_length(2048).build());
        let head_missing = mock!(aws_sdk_s3::Client::head_object).then_error(|| {
            HeadObjectError::NotFound(NotFound::builder().meta(meta("NotFound")).build())
        });
        let delete = mock!(aws_sdk_s3::Client::delete_object)
            .match_requests(|r| r.key() == Some("pending/golden-1.0.0-1.json"))
            .then_output(|| DeleteObjectOutput::builder().build());
        let client = mock_client!(
            aws_sdk_s3,
            RuleMode::Sequential,
            [&list, &head, &head_missing, &delete]
        );
        let store = store(client);
        assert_eq!(
            store.list_keys("pending/").await.unwrap(),
            ["pending/golden-1.0.0-1.json"]
        );
        assert_eq!(
            store
                .object_size("releases/x/export-ami-0a.vmdk")
                .await
                .unwrap(),
            Some(2048)
        );
        assert_eq!(
            store
                .object_size("releases/x/export-ami-0a.vmdk")
                .await
                .unwrap(),
            None
        );
        store.delete("pending/golden-1.0.0-1.json").await.unwrap();
        assert_eq!(delete.num_calls(), 1);
    }
}
