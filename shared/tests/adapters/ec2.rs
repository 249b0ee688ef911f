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

#[tokio::test]
async fn when_references_span_two_pages_should_read_both_and_ask_with_the_token() {
    use aws_sdk_ec2::operation::describe_image_references::DescribeImageReferencesOutput;
    use aws_sdk_ec2::types::{ImageReference, ImageReferenceResourceType};
    let reference = |arn: &str| {
        ImageReference::builder()
            .image_id("ami-0abcdef1234567890")
            .resource_type(ImageReferenceResourceType::Ec2Instance)
            .arn(arn)
            .build()
    };
    let first = mock!(aws_sdk_ec2::Client::describe_image_references)
        .match_requests(|r| {
            r.image_ids() == ["ami-0abcdef1234567890"]
                && r.include_all_resource_types() == Some(true)
                && r.next_token().is_none()
        })
        .then_output(move || {
            DescribeImageReferencesOutput::builder()
                .image_references(reference("arn:aws:ec2:us-east-1:123456789012:instance/i-1"))
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_ec2::Client::describe_image_references)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(move || {
            DescribeImageReferencesOutput::builder()
                .image_references(reference("arn:aws:ec2:us-east-1:123456789012:instance/i-2"))
                .build()
        });
    let client = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&first, &second]);
    let references = references_in_us_east_1(client).await.unwrap();
    let arns: Vec<&str> = references.iter().map(|r| r.arn.as_str()).collect();
    assert_eq!(
        arns,
        [
            "arn:aws:ec2:us-east-1:123456789012:instance/i-1",
            "arn:aws:ec2:us-east-1:123456789012:instance/i-2"
        ]
    );
    assert_eq!(references[0].resource_type, "ec2:Instance");
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn when_a_later_page_of_references_fails_should_fail_not_answer_a_partial_list() {
    use aws_sdk_ec2::operation::describe_image_references::DescribeImageReferencesOutput;
    let first = mock!(aws_sdk_ec2::Client::describe_image_references)
        .match_requests(|r| r.next_token().is_none())
        .then_output(|| {
            DescribeImageReferencesOutput::builder()
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_ec2::Client::describe_image_references).then_error(|| {
        aws_sdk_ec2::operation::describe_image_references::DescribeImageReferencesError::generic(
            meta("RequestLimitExceeded"),
        )
    });
    let client = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&first, &second]);
    let err = references_in_us_east_1(client).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Throttled, "{err}");
}

/// DescribeImageReferences of ami-0abcdef1234567890 in us-east-1, through `client`.
async fn references_in_us_east_1(
    client: aws_sdk_ec2::Client,
) -> Result<Vec<shared::ports::ImageReference>> {
    let region = RegionName::parse("r", "us-east-1").unwrap();
    shared::aws::ec2::Ec2Regions::from_clients(HashMap::from([(region.clone(), client)]))
        .references(
            &region,
            &AmiId::parse("a", "ami-0abcdef1234567890").unwrap(),
        )
        .await
}
