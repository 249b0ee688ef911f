//! The emulator, exercised only through the real SDK clients, as the functions use it.

use aws_credential_types::Credentials;
use emulator::{Config, Emulator, Fault, FaultKind};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

const PIPELINE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden";
const DISTRIBUTION: &str =
    "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden";

struct Clients {
    emulator: Emulator,
    events: UnboundedReceiver<Value>,
    ib: aws_sdk_imagebuilder::Client,
    ec2: aws_sdk_ec2::Client,
    appstream: aws_sdk_appstream::Client,
    appstream_eu: aws_sdk_appstream::Client,
}

async fn sdk(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(shared::aws::https_client())
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(Credentials::new("AKIDLOCAL", "secret", None, None, "test"))
        .endpoint_url(endpoint)
        .load()
        .await
}

async fn start(config: Config) -> Clients {
    let (emulator, events) = Emulator::start(config, 0).await.unwrap();
    let home = sdk(&emulator.endpoint(), "us-east-1").await;
    let eu = sdk(&emulator.endpoint(), "eu-west-1").await;
    Clients {
        ib: aws_sdk_imagebuilder::Client::new(&home),
        ec2: aws_sdk_ec2::Client::new(&home),
        appstream: aws_sdk_appstream::Client::new(&home),
        appstream_eu: aws_sdk_appstream::Client::new(&eu),
        emulator,
        events,
    }
}

fn fast() -> Config {
    let mut config = Config::demo();
    config.step = Duration::from_millis(40);
    config
}

fn code<E: aws_sdk_imagebuilder::error::ProvideErrorMetadata>(err: &E) -> String {
    err.code().unwrap_or_default().to_owned()
}

async fn until<F: Fn() -> Fut, Fut: std::future::Future<Output = bool>>(what: &str, check: F) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn available_image(c: &Clients) -> String {
    let out =
        c.ib.start_image_pipeline_execution()
            .image_pipeline_arn(PIPELINE)
            .client_token("t-1")
            .send()
            .await
            .unwrap();
    let arn = out.image_build_version_arn.unwrap();
    until("AVAILABLE", || async {
        let image =
            c.ib.get_image()
                .image_build_version_arn(&arn)
                .send()
                .await
                .unwrap()
                .image
                .unwrap();
        image.state.unwrap().status.unwrap().as_str() == "AVAILABLE"
    })
    .await;
    arn
}

/// Waits until DescribeImages in the client's region shows `name` AVAILABLE.
async fn appstream_available(client: &aws_sdk_appstream::Client, name: &str) {
    until(&format!("{name} AVAILABLE"), || async {
        let images = client.describe_images().names(name).send().await.unwrap();
        images.images()[0].state().map(|s| s.as_str()) == Some("AVAILABLE")
    })
    .await;
}

/// The AMI of the home region of an image.
async fn first_ami(c: &Clients, image: &str) -> String {
    let image =
        c.ib.get_image()
            .image_build_version_arn(image)
            .send()
            .await
            .unwrap()
            .image
            .unwrap();
    image.output_resources.unwrap().amis.unwrap()[0]
        .image
        .clone()
        .unwrap()
}

#[tokio::test]
async fn when_pipeline_starts_should_build_to_available_with_an_ami_and_emit_each_state() {
    let mut c = start(fast()).await;
    let arn = available_image(&c).await;
    assert_eq!(
        arn,
        "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1"
    );
    let image =
        c.ib.get_image()
            .image_build_version_arn(&arn)
            .send()
            .await
            .unwrap()
            .image
            .unwrap();
    assert_eq!(image.source_pipeline_arn.as_deref(), Some(PIPELINE));
    let amis = image.output_resources.unwrap().amis.unwrap();
    assert_eq!(amis[0].region.as_deref(), Some("us-east-1"));
    assert!(amis[0].image.as_deref().unwrap().starts_with("ami-"));
    let mut statuses = Vec::new();
    while let Ok(event) = c.events.try_recv() {
        assert_eq!(event["detail-type"], "EC2 Image Builder Image State Change");
        assert_eq!(event["resources"][0], arn.as_str());
        statuses.push(
            event["detail"]["state"]["status"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        statuses,
        [
            "BUILDING",
            "TESTING",
            "DISTRIBUTING",
            "INTEGRATING",
            "AVAILABLE"
        ]
    );
}

#[tokio::test]
async fn when_token_repeats_should_return_the_first_execution_and_mismatch_on_other_parameters() {
    let c = start(fast()).await;
    let first =
        c.ib.start_image_pipeline_execution()
            .image_pipeline_arn(PIPELINE)
            .client_token("same")
            .send()
            .await
            .unwrap();
    let again =
        c.ib.start_image_pipeline_execution()
            .image_pipeline_arn(PIPELINE)
            .client_token("same")
            .send()
            .await
            .unwrap();
    assert_eq!(first.image_build_version_arn, again.image_build_version_arn);
    assert_eq!(c.emulator.counts().effect_count("pipeline-execution"), 1);
    let err =
        c.ib.start_image_pipeline_execution()
            .image_pipeline_arn(PIPELINE)
            .client_token("same")
            .tags("k", "v")
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "IdempotentParameterMismatchException");
    let err =
        c.ib.start_image_pipeline_execution()
            .image_pipeline_arn("arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/Bad")
            .client_token("x")
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException");
    let err =
        c.ib.start_image_pipeline_execution()
            .image_pipeline_arn("arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/other")
            .client_token("y")
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err =
        c.ib.start_image_pipeline_execution()
            .image_pipeline_arn(PIPELINE)
            .client_token("t".repeat(65))
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException");
}

#[tokio::test]
async fn when_distributing_should_create_a_tagged_image_with_amis_in_every_region() {
    let c = start(fast()).await;
    let source = available_image(&c).await;
    let out =
        c.ib.distribute_image()
            .source_image(&source)
            .distribution_configuration_arn(DISTRIBUTION)
            .execution_role("arn:aws:iam::123456789012:role/Dist")
            .tags("image-release:release-id", "golden-1.0.0-1")
            .client_token("d-1")
            .send()
            .await
            .unwrap();
    let arn = out.image_build_version_arn.unwrap();
    assert!(arn.ends_with("/golden/1.0.0/2"));
    until("distributed AVAILABLE", || async {
        let image =
            c.ib.get_image()
                .image_build_version_arn(&arn)
                .send()
                .await
                .unwrap()
                .image
                .unwrap();
        image.state.unwrap().status.unwrap().as_str() == "AVAILABLE"
    })
    .await;
    let image =
        c.ib.get_image()
            .image_build_version_arn(&arn)
            .send()
            .await
            .unwrap()
            .image
            .unwrap();
    assert_eq!(
        image
            .tags
            .unwrap()
            .get("image-release:release-id")
            .map(String::as_str),
        Some("golden-1.0.0-1")
    );
    assert!(image.source_pipeline_arn.is_none());
    let regions: Vec<_> = image
        .output_resources
        .unwrap()
        .amis
        .unwrap()
        .into_iter()
        .map(|a| a.region.unwrap())
        .collect();
    assert_eq!(regions, ["us-east-1", "eu-west-1"]);
}

#[tokio::test]
async fn when_exporting_should_dry_run_then_run_to_completion_with_progress() {
    let c = start(fast()).await;
    let source = available_image(&c).await;
    let ami = first_ami(&c, &source).await;
    let location = aws_sdk_ec2::types::ExportTaskS3LocationRequest::builder()
        .s3_bucket("artifacts")
        .s3_prefix("releases/x/")
        .build();
    let export = || {
        c.ec2
            .export_image()
            .image_id(&ami)
            .disk_image_format(aws_sdk_ec2::types::DiskImageFormat::Vmdk)
            .s3_export_location(location.clone())
            .role_name("vmimport")
            .client_token("e-1")
    };
    let err = export().dry_run(true).send().await.unwrap_err();
    assert_eq!(
        aws_sdk_ec2::error::ProvideErrorMetadata::code(&err),
        Some("DryRunOperation")
    );
    let task = export().send().await.unwrap();
    let id = task.export_image_task_id.unwrap();
    assert_eq!(task.status.as_deref(), Some("active"));
    assert_eq!(
        export()
            .send()
            .await
            .unwrap()
            .export_image_task_id
            .as_deref(),
        Some(id.as_str()),
        "same token, same task"
    );
    assert_eq!(c.emulator.counts().effect_count("export-task"), 1);
    until("export completed", || async {
        let tasks = c
            .ec2
            .describe_export_image_tasks()
            .export_image_task_ids(&id)
            .send()
            .await
            .unwrap();
        tasks.export_image_tasks()[0].status() == Some("completed")
    })
    .await;
    let err = c
        .ec2
        .export_image()
        .image_id("ami-0000000000000000f")
        .disk_image_format(aws_sdk_ec2::types::DiskImageFormat::Raw)
        .s3_export_location(location.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_ec2::error::ProvideErrorMetadata::code(&err),
        Some("InvalidAMIID.NotFound")
    );
    let err = c
        .ec2
        .describe_export_image_tasks()
        .export_image_task_ids("export-ami-00000000000000000")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_ec2::error::ProvideErrorMetadata::code(&err),
        Some("InvalidExportImageTaskId.NotFound")
    );
}

#[tokio::test]
async fn when_copying_appstream_images_should_follow_the_documented_errors_and_lifecycle() {
    let mut config = fast();
    config.appstream_images.push((
        "us-east-1".into(),
        "golden-1.0.0-1".into(),
        vec![("team".into(), "platform".into())],
    ));
    let c = start(config).await;
    let err = c
        .appstream
        .describe_images()
        .names("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_appstream::error::ProvideErrorMetadata::code(&err),
        Some("ResourceNotFoundException")
    );

    let copy = |region: &str| {
        c.appstream
            .copy_image()
            .source_image_name("golden-1.0.0-1")
            .destination_image_name("golden-1.0.0-1")
            .destination_region(region)
    };
    copy("eu-west-1")
        .destination_image_description("Golden")
        .send()
        .await
        .unwrap();
    let err = copy("eu-west-1").send().await.unwrap_err();
    assert_eq!(
        aws_sdk_appstream::error::ProvideErrorMetadata::code(&err),
        Some("ResourceAlreadyExistsException")
    );
    let err = copy("xx-nowhere-1").send().await.unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        aws_sdk_appstream::operation::copy_image::CopyImageError::IncompatibleImageException(_)
    ));
    let err = c
        .appstream
        .copy_image()
        .source_image_name("missing")
        .destination_image_name("x")
        .destination_region("eu-west-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_appstream::error::ProvideErrorMetadata::code(&err),
        Some("ResourceNotFoundException")
    );

    appstream_available(&c.appstream_eu, "golden-1.0.0-1").await;
    let copy_arn = "arn:aws:appstream:eu-west-1:123456789012:image/golden-1.0.0-1";
    let tags = c
        .appstream_eu
        .list_tags_for_resource()
        .resource_arn(copy_arn)
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags.unwrap_or_default().is_empty(),
        "AWS does not copy tags"
    );
    c.appstream_eu
        .tag_resource()
        .resource_arn(copy_arn)
        .tags("team", "platform")
        .send()
        .await
        .unwrap();
    let tags = c
        .appstream_eu
        .list_tags_for_resource()
        .resource_arn(copy_arn)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    assert_eq!(tags.get("team").map(String::as_str), Some("platform"));
    assert_eq!(
        c.emulator.counts().effect_count("appstream-copy:eu-west-1"),
        1
    );
}

#[tokio::test]
async fn when_importing_should_need_an_ami_of_the_region_and_become_available() {
    // AppStream imports only Windows AMIs that meet its requirements: the account makes those.
    let mut config = fast();
    config.amis_windows = true;
    let c = start(config).await;
    let source = available_image(&c).await;
    let ami = first_ami(&c, &source).await;
    let import = || {
        c.appstream
            .create_imported_image()
            .name("golden-imported")
            .source_ami_id(&ami)
            .iam_role_arn("arn:aws:iam::123456789012:role/Import")
    };
    let out = import().send().await.unwrap();
    assert_eq!(
        out.image.unwrap().state().map(|s| s.as_str()),
        Some("IMPORTING")
    );
    let err = import().send().await.unwrap_err();
    assert_eq!(
        aws_sdk_appstream::error::ProvideErrorMetadata::code(&err),
        Some("ResourceAlreadyExistsException")
    );
    appstream_available(&c.appstream, "golden-imported").await;
}

#[tokio::test]
async fn when_faults_are_injected_should_answer_with_the_service_errors_then_recover() {
    let c = start(fast()).await;
    c.emulator.inject(
        "imagebuilder:StartImagePipelineExecution",
        Fault::errors(FaultKind::Throttle, 1),
    );
    let err =
        c.ib.start_image_pipeline_execution()
            .image_pipeline_arn(PIPELINE)
            .client_token("f")
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "CallRateLimitExceededException");
    c.ib.start_image_pipeline_execution()
        .image_pipeline_arn(PIPELINE)
        .client_token("f")
        .send()
        .await
        .unwrap();

    // A 5xx is retried by the SDK itself: two faults, and the call still succeeds.
    c.emulator.inject(
        "appstream:DescribeImages",
        Fault::errors(FaultKind::ServerError, 2),
    );
    let err_or_ok = c.appstream.describe_images().send().await;
    assert!(err_or_ok.is_ok(), "{err_or_ok:?}");
    assert_eq!(
        c.emulator
            .counts()
            .call_count("appstream:DescribeImages#fault"),
        2
    );

    c.emulator.inject(
        "ec2:DescribeExportImageTasks",
        Fault::latency(Duration::from_millis(150)),
    );
    let started = std::time::Instant::now();
    c.ec2.describe_export_image_tasks().send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn when_a_quota_is_injected_should_answer_each_services_own_quota_error() {
    let c = start(fast()).await;
    c.emulator.inject(
        "imagebuilder:DistributeImage",
        Fault::errors(FaultKind::Quota, 1),
    );
    // The SDKs count LimitExceededException among the throttling errors and retry it (three
    // attempts by default): a quota that lasts answers every attempt.
    c.emulator
        .inject("appstream:CopyImage", Fault::errors(FaultKind::Quota, 3));
    c.emulator
        .inject("ec2:ExportImage", Fault::errors(FaultKind::Quota, 1));
    let err =
        c.ib.distribute_image()
            .source_image("arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1")
            .distribution_configuration_arn(DISTRIBUTION)
            .execution_role("arn:aws:iam::123456789012:role/Distribution")
            .client_token("q")
            .send()
            .await
            .unwrap_err();
    assert_eq!(code(&err), "ServiceQuotaExceededException");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(402));
    let err = c
        .appstream
        .copy_image()
        .source_image_name("a")
        .destination_image_name("a")
        .destination_region("eu-west-1")
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert!(
        matches!(
            err,
            aws_sdk_appstream::operation::copy_image::CopyImageError::LimitExceededException(_)
        ),
        "{err:?}"
    );
    let err = c
        .ec2
        .export_image()
        .image_id("ami-0000000000000000f")
        .disk_image_format(aws_sdk_ec2::types::DiskImageFormat::Vmdk)
        .s3_export_location(
            aws_sdk_ec2::types::ExportTaskS3LocationRequest::builder()
                .s3_bucket("bkt")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_ec2::error::ProvideErrorMetadata::code(&err),
        Some("ResourceLimitExceeded")
    );
}

#[tokio::test]
async fn when_more_exports_than_the_regions_limit_are_active_should_refuse_the_next() {
    let mut config = fast();
    config.export_limit = 2;
    config.export_stalls = true;
    let c = start(config).await;
    let source = available_image(&c).await;
    let ami = first_ami(&c, &source).await;
    let export = |format: aws_sdk_ec2::types::DiskImageFormat| {
        c.ec2
            .export_image()
            .image_id(&ami)
            .disk_image_format(format)
            .s3_export_location(
                aws_sdk_ec2::types::ExportTaskS3LocationRequest::builder()
                    .s3_bucket("bkt")
                    .build(),
            )
    };
    export(aws_sdk_ec2::types::DiskImageFormat::Vmdk)
        .send()
        .await
        .unwrap();
    export(aws_sdk_ec2::types::DiskImageFormat::Vhd)
        .send()
        .await
        .unwrap();
    let err = export(aws_sdk_ec2::types::DiskImageFormat::Raw)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_ec2::error::ProvideErrorMetadata::code(&err),
        Some("ResourceLimitExceeded")
    );
}

#[tokio::test]
async fn when_asked_from_another_region_should_not_see_regional_resources() {
    let c = start(fast()).await;
    let source = available_image(&c).await;
    let eu = sdk(&c.emulator.endpoint(), "eu-west-1").await;
    let err = aws_sdk_imagebuilder::Client::new(&eu)
        .get_image()
        .image_build_version_arn(&source)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let tasks = aws_sdk_ec2::Client::new(&eu)
        .describe_export_image_tasks()
        .send()
        .await
        .unwrap();
    assert!(tasks.export_image_tasks().is_empty());
}

#[tokio::test]
async fn when_a_copy_crosses_partitions_should_be_refused_by_the_emulators_own_data() {
    let mut config = fast();
    config
        .appstream_images
        .push(("us-east-1".into(), "golden-1.0.0-1".into(), Vec::new()));
    let c = start(config).await;
    // us-gov-west-1 offers AppStream 2.0, in another partition.
    let err = c
        .appstream
        .copy_image()
        .source_image_name("golden-1.0.0-1")
        .destination_image_name("golden-1.0.0-1")
        .destination_region("us-gov-west-1")
        .send()
        .await
        .unwrap_err();
    let message = aws_sdk_appstream::error::ProvideErrorMetadata::message(&err)
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("aws-us-gov"), "{message}");
}

#[tokio::test]
async fn when_a_build_or_distribution_is_cancelled_should_end_cancelled_without_failure_context_and_retry()
 {
    let mut config = fast();
    config.build_cancelled = true;
    let c = start(config).await;
    let out =
        c.ib.start_image_pipeline_execution()
            .image_pipeline_arn(PIPELINE)
            .client_token("c")
            .send()
            .await
            .unwrap();
    let arn = out.image_build_version_arn.unwrap();
    // Named after the recipe (here the pipeline's own name), not the pipeline.
    assert!(arn.contains(":image/golden/1.0.0/"), "{arn}");
    until("CANCELLED", || async {
        let image =
            c.ib.get_image()
                .image_build_version_arn(&arn)
                .send()
                .await
                .unwrap()
                .image
                .unwrap();
        let state = image.state.unwrap();
        state.status.as_ref().map(|s| s.as_str()) == Some("CANCELLED")
            && state.failure_context.is_none()
    })
    .await;
    // RetryImage accepts a CANCELLED image.
    c.ib.retry_image()
        .image_build_version_arn(&arn)
        .client_token("r")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn when_a_pipeline_builds_should_pass_through_integrating_and_not_return_the_pipeline_name() {
    let mut c = start(fast()).await;
    let source = available_image(&c).await;
    let mut statuses = Vec::new();
    while let Ok(event) = c.events.try_recv() {
        if event["resources"][0] == source.as_str() {
            statuses.push(
                event["detail"]["state"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    assert!(statuses.iter().any(|s| s == "INTEGRATING"), "{statuses:?}");
    let image =
        c.ib.get_image()
            .image_build_version_arn(&source)
            .send()
            .await
            .unwrap()
            .image
            .unwrap();
    assert!(image.source_pipeline_arn.is_some());
    assert!(
        image.source_pipeline_name.is_none(),
        "not returned for new images"
    );
}
