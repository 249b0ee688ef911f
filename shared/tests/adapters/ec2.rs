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
