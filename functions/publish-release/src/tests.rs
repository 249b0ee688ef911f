use super::*;
use lambda_runtime::Context;
use shared::domain::{AmiId, AppStreamImageName, DiskImageFormat};
use shared::error::{ErrorClass, ErrorType};
use shared::fakes::{FakeAppStream, FakeCdn, FakeEc2, FakeStore};
use shared::ports::ExportTask;
use shared::release::{AmiRecord, AppStreamSourceMode};
use std::collections::BTreeMap;

const ID: &str = "golden-1.0.0-1";
const TASK: &str = "export-ami-0abcdef1234567890";
const SCHEDULE: &str = include_str!("../../../events/scheduled-event.json");
const OBJECT_CREATED: &str = include_str!("../../../events/s3-object-created.json");
const MALFORMED: &str = include_str!("../../../events/malformed-s3-object-created.json");

type TestDeps = Deps<FakeEc2, FakeAppStream, FakeStore, FakeCdn>;

fn release() -> ReleaseId {
    ReleaseId::parse("r", ID).unwrap()
}

fn deps(vars: &[(&str, &str)]) -> TestDeps {
    let mut all = BTreeMap::from([
        ("AWS_REGION", "us-east-1"),
        ("ARTIFACT_BUCKET", "image-release-artifacts"),
        ("CDN_DISTRIBUTION_ID", "E2QWRUHEXAMPLE"),
        ("CDN_DOMAIN", "d111111abcdef8.cloudfront.net"),
        ("APPSTREAM_DESTINATION_REGIONS", "eu-west-1,ap-southeast-2"),
    ]);
    all.extend(vars.iter().copied());
    Deps {
        config: Config::from_lookup(|k| all.get(k).map(|v| (*v).to_owned())).unwrap(),
        exports: FakeEc2::default(),
        appstream: FakeAppStream::default(),
        store: FakeStore::default(),
        cdn: FakeCdn::default(),
        retry: RetryPolicy::IMMEDIATE,
    }
}

fn name() -> AppStreamImageName {
    AppStreamImageName::parse("n", ID).unwrap()
}

/// A release whose distribution, export and AppStream copies were all requested.
fn seed(deps: &TestDeps, copy_state: CopyState) {
    let store = &deps.store;
    let id = release();
    store.put_value(
        &keys::pending(&id),
        &PendingMarker {
            schema_version: 1,
            release_id: id.clone(),
            since: "t0".into(),
            source_image_arn: None,
        },
    );
    store.put_value(
        &keys::distribution(&id),
        &DistributionRecord {
            schema_version: 1,
            release_id: id.clone(),
            source_image_arn: "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1"
                .into(),
            distribution_configuration_arn:
                "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden"
                    .into(),
            distributed_image_arn: Some(
                "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/2".into(),
            ),
            client_token: "t".into(),
            requested_at: "t1".into(),
        },
    );
    store.put_value(
        &keys::export(&id),
        &ExportRecord {
            schema_version: 1,
            release_id: id.clone(),
            distributed_image_arn:
                "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/2".into(),
            region: "us-east-1".into(),
            ami_id: AmiId::parse("a", "ami-0abcdef1234567890").unwrap(),
            amis: vec![
                AmiRecord {
                    region: "us-east-1".into(),
                    ami_id: "ami-0abcdef1234567890".into(),
                    account_id: None,
                },
                AmiRecord {
                    region: "eu-west-1".into(),
                    ami_id: "ami-0fedcba9876543210".into(),
                    account_id: None,
                },
            ],
            export_task_id: TASK.into(),
            format: DiskImageFormat::Vmdk,
            bucket: "image-release-artifacts".into(),
            prefix: id.prefix(),
            client_token: "t".into(),
            requested_at: "t2".into(),
        },
    );
    store.put_value(
        &keys::appstream(&id),
        &AppStreamRecord {
            schema_version: 1,
            release_id: id.clone(),
            mode: AppStreamSourceMode::Existing,
            source_region: "us-east-1".into(),
            source_image_name: name(),
            description: None,
            destinations: ["eu-west-1", "ap-southeast-2"]
                .iter()
                .map(|r| AppStreamDestination {
                    region: (*r).into(),
                    image_name: name(),
                    state: copy_state.clone(),
                })
                .collect(),
            requested_at: "t3".into(),
        },
    );
    deps.appstream.put_image(
        "us-east-1",
        ID,
        "AVAILABLE",
        &[("team", "platform"), ("release", ID)],
    );
}

fn task(status: &str, message: Option<&str>) -> ExportTask {
    ExportTask {
        export_task_id: TASK.into(),
        status: status.into(),
        progress: Some("40".into()),
        status_message: message.map(Into::into),
        bucket: None,
        prefix: None,
    }
}

fn complete_everything(deps: &TestDeps) {
    deps.exports.set_task(task("completed", None));
    deps.store
        .put_raw(&format!("releases/{ID}/{TASK}.vmdk"), &[0u8; 1024]);
    for region in ["eu-west-1", "ap-southeast-2"] {
        deps.appstream.put_image(region, ID, "AVAILABLE", &[]);
    }
}

fn event(raw: &str) -> LambdaEvent<Value> {
    LambdaEvent::new(serde_json::from_str(raw).unwrap(), Context::default())
}

#[tokio::test]
async fn when_export_is_still_active_should_stay_pending_and_write_status() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    deps.exports.set_task(task("active", None));
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases[0].state, ReleaseState::Pending);
    let status = deps
        .store
        .json(&format!("releases/{ID}/status.json"))
        .unwrap();
    assert_eq!(status["state"], "pending");
    assert!(status["steps"].to_string().contains("40%"));
    assert!(
        deps.store
            .json(&format!("releases/{ID}/manifest.json"))
            .is_none()
    );
    assert!(deps.store.json(&format!("pending/{ID}.json")).is_some());
}

#[tokio::test]
async fn when_every_step_is_done_should_publish_the_manifest_invalidate_and_tag_copies() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    let report = &outcome.releases[0];
    assert_eq!(report.state, ReleaseState::Published);
    assert_eq!(
        report.manifest_url.as_deref(),
        Some("https://d111111abcdef8.cloudfront.net/releases/golden-1.0.0-1/manifest.json")
    );

    let manifest = deps
        .store
        .json(&format!("releases/{ID}/manifest.json"))
        .unwrap();
    assert_eq!(manifest["schema_version"], 1);
    assert_eq!(
        manifest["export"]["object_key"],
        format!("releases/{ID}/{TASK}.vmdk")
    );
    assert_eq!(manifest["export"]["size_bytes"], 1024);
    assert_eq!(manifest["export"]["format"], "VMDK");
    assert_eq!(
        manifest["export"]["url"],
        format!("https://d111111abcdef8.cloudfront.net/releases/{ID}/{TASK}.vmdk")
    );
    assert_eq!(manifest["amis"].as_array().unwrap().len(), 2);
    assert_eq!(manifest["appstream"][0]["region"], "ap-southeast-2");
    assert_eq!(manifest["appstream"][1]["region"], "eu-west-1");

    let invalidations = deps.cdn.invalidations();
    assert_eq!(invalidations.len(), 1);
    assert_eq!(
        invalidations[0].1,
        vec![format!("/releases/{ID}/manifest.json")]
    );
    for region in ["eu-west-1", "ap-southeast-2"] {
        let tags = deps.appstream.tags_of(&FakeAppStream::arn(region, ID));
        assert_eq!(
            tags.get("team").map(String::as_str),
            Some("platform"),
            "{region}"
        );
    }
    assert!(
        deps.store.json(&format!("pending/{ID}.json")).is_none(),
        "published releases leave the pending list"
    );
}

#[tokio::test]
async fn when_run_twice_concurrently_should_write_one_manifest_and_one_invalidation() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    let (a, b) = tokio::join!(
        handle(&deps, event(SCHEDULE)),
        handle(&deps, event(SCHEDULE))
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(deps.cdn.invalidations().len(), 1);
    // Tags are applied once per copy: the second look finds them present.
    let again = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert!(again.releases.is_empty());
    assert!(deps.appstream.tag_calls().len() <= 4);
}

#[tokio::test]
async fn when_export_task_was_deleted_should_fail_the_release_with_the_reason() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    deps.exports.set_task(task(
        "deleted",
        Some("The role vmimport cannot write to the bucket"),
    ));
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases[0].state, ReleaseState::Failed);
    let status = deps
        .store
        .json(&format!("releases/{ID}/status.json"))
        .unwrap();
    assert_eq!(status["state"], "failed");
    assert_eq!(status["failure"]["step"], "export");
    assert!(
        status["failure"]["reason"]
            .as_str()
            .unwrap()
            .contains("cannot write")
    );
    assert!(deps.store.json(&format!("pending/{ID}.json")).is_none());
    assert!(deps.cdn.invalidations().is_empty());
}

#[tokio::test]
async fn when_a_step_recorded_a_failure_should_fail_the_release() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    deps.store.put_value(
        &keys::failure(&release(), Step::Build),
        &FailureRecord {
            schema_version: 1,
            release_id: release(),
            step: Step::Build,
            reason: "image build failed: tests".into(),
            at: "t".into(),
        },
    );
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases[0].state, ReleaseState::Failed);
    assert_eq!(
        deps.store
            .json(&format!("releases/{ID}/status.json"))
            .unwrap()["failure"]["step"],
        "build"
    );
}

#[tokio::test]
async fn when_a_copy_failed_should_fail_the_release_naming_the_region() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    deps.appstream.set_state("ap-southeast-2", ID, "FAILED");
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases[0].state, ReleaseState::Failed);
    let status = deps
        .store
        .json(&format!("releases/{ID}/status.json"))
        .unwrap();
    assert!(
        status["failure"]["reason"]
            .as_str()
            .unwrap()
            .contains("ap-southeast-2")
    );
}

#[tokio::test]
async fn when_copies_waited_for_the_source_should_issue_them_once_it_is_available() {
    let deps = deps(&[]);
    seed(&deps, CopyState::WaitingForSource);
    deps.exports.set_task(task("completed", None));
    deps.store
        .put_raw(&format!("releases/{ID}/{TASK}.vmdk"), b"disk");
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(deps.appstream.copies().len(), 2);
    // The next look finds the copies and does not copy again.
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(deps.appstream.copies().len(), 2);
    for region in ["eu-west-1", "ap-southeast-2"] {
        deps.appstream.set_state(region, ID, "AVAILABLE");
    }
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases[0].state, ReleaseState::Published);
}

#[tokio::test]
async fn when_object_created_is_for_a_record_should_skip_without_reading() {
    let deps = deps(&[]);
    let mut raw: Value = serde_json::from_str(OBJECT_CREATED).unwrap();
    raw["detail"]["object"]["key"] = format!("releases/{ID}/status.json").into();
    let outcome = handle(&deps, LambdaEvent::new(raw, Context::default()))
        .await
        .unwrap();
    assert!(outcome.skipped.is_some());
    assert_eq!(deps.store.script.count("GetObject"), 0);
}

#[tokio::test]
async fn when_object_created_for_the_export_should_advance_that_release() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    let outcome = handle(&deps, event(OBJECT_CREATED)).await.unwrap();
    assert_eq!(outcome.releases.len(), 1);
    assert_eq!(outcome.releases[0].state, ReleaseState::Published);
}

#[tokio::test]
async fn when_invalidation_is_throttled_persistently_should_fail_retryable_and_retry_later() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    deps.cdn.script.fail(
        "CreateInvalidation",
        ErrorClass::Throttled,
        "TooManyInvalidationsInProgress",
        3,
    );
    let err = handle(&deps, event(OBJECT_CREATED)).await.unwrap_err();
    assert_eq!(err.error_type(), ErrorType::Retryable);
    assert!(
        deps.store.json(&format!("pending/{ID}.json")).is_some(),
        "still pending"
    );
    // The manifest is there already; the next run only invalidates and finishes.
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases[0].state, ReleaseState::Published);
    assert_eq!(deps.cdn.invalidations().len(), 1);
}

#[tokio::test]
async fn when_event_is_malformed_should_fail_invalid_event_naming_the_field() {
    let deps = deps(&[]);
    let err = handle(&deps, event(MALFORMED)).await.unwrap_err();
    assert_eq!(err.error_type(), ErrorType::InvalidEvent);
    assert!(err.to_string().contains("detail.object"), "{err}");
    assert_eq!(deps.store.script.count("ListObjectsV2"), 0);
}

#[tokio::test]
async fn when_export_is_not_required_should_publish_without_it() {
    let deps = deps(&[("REQUIRED_STEPS", "appstream")]);
    seed(&deps, CopyState::Requested);
    for region in ["eu-west-1", "ap-southeast-2"] {
        deps.appstream.put_image(region, ID, "AVAILABLE", &[]);
    }
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases[0].state, ReleaseState::Published);
    assert!(
        deps.store
            .json(&format!("releases/{ID}/manifest.json"))
            .unwrap()
            .get("export")
            .is_none()
    );
}

#[test]
fn when_config_is_invalid_should_name_the_variable() {
    let base = |extra: &[(&'static str, &'static str)]| {
        let mut all = BTreeMap::from([
            ("AWS_REGION", "us-east-1"),
            ("ARTIFACT_BUCKET", "b-1"),
            ("CDN_DISTRIBUTION_ID", "E1"),
            ("CDN_DOMAIN", "d1.cloudfront.net"),
            ("APPSTREAM_DESTINATION_REGIONS", "eu-west-1"),
        ]);
        all.extend(extra.iter().copied());
        Config::from_lookup(|k| all.get(k).map(|v| (*v).to_owned()))
    };
    assert!(base(&[]).is_ok());
    assert!(
        base(&[("REQUIRED_STEPS", "export,manifest")])
            .unwrap_err()
            .to_string()
            .contains("REQUIRED_STEPS")
    );
    assert!(
        base(&[("CDN_DISTRIBUTION_ID", "e-lower")])
            .unwrap_err()
            .to_string()
            .contains("CDN_DISTRIBUTION_ID")
    );
    assert!(
        base(&[("CDN_DOMAIN", "https://x")])
            .unwrap_err()
            .to_string()
            .contains("CDN_DOMAIN")
    );
}
