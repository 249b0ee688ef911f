use super::*;
use lambda_runtime::Context;
use sha2::Digest;
use shared::domain::{AmiId, AppStreamImageName, DiskImageFormat};
use shared::error::{ErrorClass, ErrorType};
use shared::fakes::{
    FakeAppStream, FakeCdn, FakeEc2, FakeEvents, FakeImageBuilder, FakeParameters, FakeSigner,
    FakeStore,
};
use shared::ports::ExportTask;
use shared::release::{AmiRecord, AppStreamSourceMode};
use std::collections::BTreeMap;

const ID: &str = "golden-1.0.0-1";
const PIPELINE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden";
const TASK: &str = "export-ami-0abcdef1234567890";
/// The release's AppStream mark, as copy-appstream-image recorded it.
const MARK: &str = "0123456789abcdef0123456789abcdef";

/// A copy the release made: its description carries the mark.
fn put_copy(deps: &TestDeps, region: &str, state: &str) {
    deps.appstream.put_described(
        region,
        ID,
        state,
        &[],
        Some(&format!("(image-release {MARK})")),
    );
}
const SCHEDULE: &str = include_str!("../../../events/scheduled-event.json");
const OBJECT_CREATED: &str = include_str!("../../../events/s3-object-created.json");
const MALFORMED: &str = include_str!("../../../events/malformed-s3-object-created.json");

/// publish-release against the in-memory fakes.
struct Fakes;

impl Ports for Fakes {
    type Pipelines = FakeImageBuilder;
    type Exports = FakeEc2;
    type AppStream = FakeAppStream;
    type Store = FakeStore;
    type Events = FakeEvents;
    type Signer = FakeSigner;
    type Parameters = FakeParameters;
    type Lifecycle = FakeEc2;
    type Cdn = FakeCdn;
}

type TestDeps = Deps<Fakes>;

fn release() -> ReleaseId {
    ReleaseId::parse("r", ID).unwrap()
}

fn deps(vars: &[(&str, &str)]) -> TestDeps {
    let mut all = BTreeMap::from([
        ("AWS_REGION", "us-east-1"),
        ("ARTIFACT_BUCKET", "image-release-artifacts"),
        ("CDN_DOMAIN", "d111111abcdef8.cloudfront.net"),
        ("APPSTREAM_DESTINATION_REGIONS", "eu-west-1,ap-southeast-2"),
        ("PIPELINE_ARNS", PIPELINE),
        (
            "DISTRIBUTION_CONFIGURATION_ARN",
            "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden",
        ),
        (
            "DISTRIBUTION_EXECUTION_ROLE",
            "arn:aws:iam::123456789012:role/ImageBuilderDistribution",
        ),
    ]);
    all.extend(vars.iter().copied());
    let config = Config::from_lookup(|k| all.get(k).map(|v| (*v).to_owned())).unwrap();
    Deps {
        signer: config.signing_key.as_ref().map(|_| FakeSigner::default()),
        cdn: config
            .cdn_distribution_id
            .as_ref()
            .map(|_| FakeCdn::default()),
        config,
        pipelines: FakeImageBuilder::default(),
        exports: FakeEc2::default(),
        appstream: FakeAppStream::default(),
        store: FakeStore::default(),
        events: FakeEvents::default(),
        parameters: FakeParameters::default(),
        lifecycle: FakeEc2::default(),
        retry: RetryPolicy::IMMEDIATE,
        clock: Box::new(shared::clock::SystemClock),
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
        &keys::export(&id, DiskImageFormat::Vmdk, 0),
        &ExportRecord {
            schema_version: 1,
            release_id: id.clone(),
            distributed_image_arn:
                "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/2".into(),
            region: "us-east-1".into(),
            ami_id: AmiId::parse("a", "ami-0abcdef1234567890").unwrap(),
            amis: vec![
                AmiRecord {
                    name: None,
                    region: "us-east-1".into(),
                    ami_id: "ami-0abcdef1234567890".into(),
                    account_id: None,
                },
                AmiRecord {
                    name: None,
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
            attempt: 0,
            generation: 0,
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
    store.put_value(
        &keys::appstream_mark(&id),
        &serde_json::json!({"schemaVersion": 1, "releaseId": ID, "mark": MARK}),
    );
    deps.appstream.put_image(
        "us-east-1",
        ID,
        "AVAILABLE",
        &[("team", "platform"), ("release", ID)],
    );
    put_release_images(deps);
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
        put_copy(deps, region, "AVAILABLE");
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
    assert_eq!(outcome.releases()[0].state, ReleaseState::Pending);
    let status = deps.store.json(&format!("state/{ID}/status.json")).unwrap();
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
async fn when_every_step_is_done_should_publish_the_manifest_list_it_and_tag_copies() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    let report = &outcome.releases()[0];
    assert_eq!(report.state, ReleaseState::Published);
    assert_eq!(
        report.manifest_url.as_deref(),
        Some("https://d111111abcdef8.cloudfront.net/releases/golden-1.0.0-1/manifest.json")
    );

    let manifest = deps
        .store
        .json(&format!("releases/{ID}/manifest.json"))
        .unwrap();
    assert_eq!(manifest["schema_version"], 2);
    assert_eq!(manifest["version"], "1.0.0");
    assert_eq!(manifest["build"], 1);
    // sha256sum of 1,024 zero bytes.
    let zeros = "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";
    assert_eq!(manifest["export"]["sha256"], zeros);
    assert_eq!(manifest["artifacts"][0], manifest["export"]);
    assert_eq!(
        String::from_utf8(
            deps.store.objects.lock().unwrap()[&format!("releases/{ID}/SHA256SUMS")].clone()
        )
        .unwrap(),
        format!("# release {ID}\n{zeros}  {TASK}.vmdk\n")
    );
    let index = deps.store.json("catalog/index.json").unwrap();
    assert_eq!(index["schema_version"], 2);
    assert_eq!(index["images"]["golden"]["recent"][0]["release_id"], ID);
    let month = shared::catalog::month_of(manifest["timestamps"]["published_at"].as_str().unwrap());
    let history = &index["images"]["golden"]["history"][0];
    assert_eq!(history["month"], month.as_str());
    assert_eq!(history["releases"], 1);
    let page = deps.store.json(&keys::history("golden", &month)).unwrap();
    assert_eq!(page["releases"][0]["release_id"], ID);
    assert!(
        deps.store
            .keys()
            .contains(&keys::history_page("golden", &month))
    );
    let latest = deps.store.json("catalog/latest.json").unwrap();
    assert_eq!(latest["images"]["golden"]["release_id"], ID);
    assert!(deps.store.keys().contains(&"index.html".to_owned()));
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

    let events = deps.events.events();
    assert_eq!(events.len(), 1, "one Release Published");
    let (detail_type, _, detail) = &events[0];
    assert_eq!(detail_type, "Release Published");
    assert_eq!(detail["releaseId"], ID);
    assert_eq!(detail["version"], "1.0.0");
    assert_eq!(
        detail["manifestUrl"],
        format!("https://d111111abcdef8.cloudfront.net/releases/{ID}/manifest.json")
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

/// Two ticks at once, for real: two threads, each tick on a runtime of its own (as two Lambda
/// instances would be), over a store whose every call yields first (as a network call would),
/// so the ticks' calls interleave. Repeated (60 rounds; 11 of 25 overlapped on a fully loaded
/// 2-core machine), since an interleaving is a matter of chance: each
/// round must end with one manifest write and one listing.
#[test]
fn when_run_twice_concurrently_should_write_one_manifest_and_list_it_once() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let mut raced = 0;
    for round in 0..60 {
        let deps = TestDeps {
            store: FakeStore::default().yielding(),
            ..deps(&[])
        };
        seed(&deps, CopyState::Requested);
        complete_everything(&deps);
        let start = std::sync::Barrier::new(2);
        std::thread::scope(|threads| {
            for _ in 0..2 {
                threads.spawn(|| {
                    start.wait();
                    runtime().block_on(handle(&deps, event(SCHEDULE))).unwrap();
                });
            }
        });
        // A tick that lost a race leaves the rest to the next one.
        runtime().block_on(handle(&deps, event(SCHEDULE))).unwrap();
        assert_eq!(
            deps.store
                .writes_of(&format!("releases/{ID}/manifest.json")),
            1,
            "round {round}: {:?}",
            shared::fakes::lock_len(&deps.store.written)
        );
        let index = deps.store.json(keys::INDEX).unwrap();
        assert_eq!(
            index["images"]["golden"]["recent"]
                .as_array()
                .unwrap()
                .len(),
            1,
            "round {round}"
        );
        assert_eq!(index["images"]["golden"]["history"][0]["releases"], 1);
        let published = published_events(&deps);
        // The announcement is at least once, as documented ("key on releaseId"): each racing
        // tick that finds the release unannounced may put it, never more.
        assert!((1..=2).contains(&published), "round {round}: {published}");
        raced += usize::from(published == 2);
        assert!(deps.store.json(&format!("pending/{ID}.json")).is_none());
    }
    // The ticks did overlap (both announced) in some round: the test saw a race.
    assert!(raced > 0, "no round interleaved the two ticks");
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
    assert_eq!(outcome.releases()[0].state, ReleaseState::Failed);
    let status = deps.store.json(&format!("state/{ID}/status.json")).unwrap();
    assert_eq!(status["state"], "failed");
    assert_eq!(status["failure"]["step"], "export");
    assert!(
        status["failure"]["reason"]
            .as_str()
            .unwrap()
            .contains("cannot write")
    );
    assert!(deps.store.json(&format!("pending/{ID}.json")).is_none());
    assert!(
        deps.store.json(keys::INDEX).is_none(),
        "a failed release is not listed"
    );
    let events = deps.events.events();
    assert_eq!(events.len(), 1);
    let (detail_type, _, detail) = &events[0];
    assert_eq!(detail_type, "Release Failed");
    assert_eq!(detail["releaseId"], ID);
    assert_eq!(detail["failedStep"], "export");
    assert!(detail["reason"].as_str().unwrap().contains("cannot write"));
}

#[tokio::test]
async fn when_the_release_event_cannot_be_put_should_stay_pending_and_put_it_next_tick() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    deps.events.script.fail(
        "PutEvents",
        ErrorClass::AccessDenied,
        "AccessDeniedException",
        1,
    );
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Pending);
    assert!(deps.store.json(&format!("pending/{ID}.json")).is_some());
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Published);
    assert_eq!(deps.events.events().len(), 1);
    assert_eq!(deps.events.events()[0].0, "Release Published");
}

#[tokio::test]
async fn when_a_step_recorded_a_failure_should_fail_the_release() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    deps.store.put_value(
        &keys::failure(&release(), Step::Build, 0),
        &FailureRecord {
            schema_version: 1,
            release_id: release(),
            step: Step::Build,
            reason: "image build failed: tests".into(),
            at: "t".into(),
        },
    );
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Failed);
    assert_eq!(
        deps.store.json(&format!("state/{ID}/status.json")).unwrap()["failure"]["step"],
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
    assert_eq!(outcome.releases()[0].state, ReleaseState::Failed);
    let status = deps.store.json(&format!("state/{ID}/status.json")).unwrap();
    assert!(
        status["failure"]["reason"]
            .as_str()
            .unwrap()
            .contains("ap-southeast-2")
    );
}

#[tokio::test]
async fn when_a_copy_under_way_is_deleted_by_someone_should_fail_the_release_naming_it() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    deps.appstream.set_state("eu-west-1", ID, "DELETING");
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Failed);
    let status = deps.store.json(&format!("state/{ID}/status.json")).unwrap();
    let reason = status["failure"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("eu-west-1") && reason.contains("being deleted"),
        "{reason}"
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
    assert_eq!(outcome.releases()[0].state, ReleaseState::Published);
}

#[tokio::test]
async fn when_a_copy_is_someone_elses_image_of_that_name_should_fail_the_release_naming_it() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    // Replaced between our CopyImage and this look, or created first under the same name: no mark.
    deps.appstream
        .put_image("ap-southeast-2", ID, "AVAILABLE", &[]);
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Failed);
    let status = deps.store.json(&format!("state/{ID}/status.json")).unwrap();
    assert!(
        status.to_string().contains("ap-southeast-2")
            && status.to_string().contains("did not create it"),
        "{status}"
    );
    assert!(
        deps.store
            .json(&format!("releases/{ID}/manifest.json"))
            .is_none()
    );
}

#[tokio::test]
async fn when_object_created_is_not_for_a_disk_should_skip_without_reading() {
    let deps = deps(&[]);
    let mut raw: Value = serde_json::from_str(OBJECT_CREATED).unwrap();
    // Not a disk: the rule matches disk suffixes only, but a hand-made event may say anything.
    raw["detail"]["object"]["key"] = format!("releases/{ID}/SHA256SUMS").into();
    let outcome = handle(&deps, LambdaEvent::new(raw, Context::default()))
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Skipped { .. }));
    assert_eq!(deps.store.script.count("GetObject"), 0);
}

#[tokio::test]
async fn when_object_created_for_the_export_should_advance_that_release() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    let outcome = handle(&deps, event(OBJECT_CREATED)).await.unwrap();
    assert_eq!(outcome.releases().len(), 1);
    assert_eq!(outcome.releases()[0].state, ReleaseState::Published);
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
        put_copy(&deps, region, "AVAILABLE");
    }
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Published);
    let manifest = deps
        .store
        .json(&format!("releases/{ID}/manifest.json"))
        .unwrap();
    assert!(manifest.get("export").is_none());
    // Without the export step, the AMIs still come from the distribution (Image Builder's
    // outputs), so channels, revocation, verify and retention have them.
    let amis: Vec<(&str, &str)> = manifest["amis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["region"].as_str().unwrap(), a["ami_id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        amis,
        [
            ("us-east-1", "ami-0abcdef1234567890"),
            ("eu-west-1", "ami-0fedcba9876543210")
        ]
    );
    let testing = deps
        .parameters
        .value("us-east-1", "/image-release/golden/testing");
    assert_eq!(testing.as_deref(), Some("ami-0abcdef1234567890"));
}

#[tokio::test]
async fn when_a_stored_manifest_is_not_the_one_built_from_aws_should_sign_nothing() {
    // Someone wrote the manifest before publish-release did (the bucket policy aside): its
    // content is theirs. The publication rebuilds it from AWS's answers, finds the stored one
    // differs, and signs, tags, lists and announces nothing.
    let deps = deps(&[("SIGNING_KEY_ID", SIGNING_KEY)]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    let mut forged = serde_json::json!({
        "schema_version": 2, "release_id": ID, "source_image_arn": SOURCE,
        "distributed_image_arn": DISTRIBUTED, "amis": [{"region": "us-east-1",
        "ami_id": "ami-0feedfacecafe0001"}], "appstream": [],
        "timestamps": {"distribution_requested_at": "t1", "published_at": "t9"}
    });
    deps.store
        .put_value(&format!("releases/{ID}/manifest.json"), &forged);
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Pending);
    let keys = deps.store.keys();
    assert!(
        !keys.iter().any(|k| k.ends_with(".sig")),
        "something was signed: {keys:?}"
    );
    assert!(deps.store.json("catalog/latest.json").is_none());
    assert!(
        deps.events.events().is_empty(),
        "{:?}",
        deps.events.events()
    );
    // The manifest stays as it was found: publish-release never overwrites it.
    forged["timestamps"]["published_at"] = "t9".into();
    assert_eq!(
        deps.store.json(&format!("releases/{ID}/manifest.json")),
        Some(forged)
    );
}

#[tokio::test]
async fn when_a_release_is_revoked_before_its_publication_finished_should_never_publish_it() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    deps.store.put_value(
        &format!("state/{ID}/revocation.json"),
        &serde_json::json!({"schema_version": 1, "release_id": ID, "reason": "CVE-2026-0001",
            "at": "2026-12-01T00:00:00Z", "by": "arn:aws:iam::123456789012:user/alice"}),
    );
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Failed);
    let status = deps.store.json(&format!("state/{ID}/status.json")).unwrap();
    assert!(
        status["failure"]["reason"]
            .as_str()
            .unwrap()
            .contains("revoked by arn:aws:iam::123456789012:user/alice"),
        "{status}"
    );
    assert!(deps.store.json(&format!("pending/{ID}.json")).is_none());
    assert!(
        deps.store
            .json(&format!("releases/{ID}/manifest.json"))
            .is_none()
    );
    assert!(deps.store.json("catalog/latest.json").is_none());
    assert!(deps.store.json("channels/golden/testing.json").is_none());
    assert!(deps.events.events().is_empty(), "nothing announced");
}

#[test]
fn when_config_is_invalid_should_name_the_variable() {
    let base = |extra: &[(&'static str, &'static str)]| {
        let mut all = BTreeMap::from([
            ("AWS_REGION", "us-east-1"),
            ("ARTIFACT_BUCKET", "b-1"),
            ("CDN_DOMAIN", "d1.cloudfront.net"),
            ("APPSTREAM_DESTINATION_REGIONS", "eu-west-1"),
            ("PIPELINE_ARNS", PIPELINE),
            (
                "DISTRIBUTION_CONFIGURATION_ARN",
                "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden",
            ),
            ("DISTRIBUTION_EXECUTION_ROLE", "ImageBuilderDistribution"),
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
        base(&[("CDN_DOMAIN", "https://x")])
            .unwrap_err()
            .to_string()
            .contains("CDN_DOMAIN")
    );
    for (var, bad) in [
        ("DEADLINE_EXPORT", "12 hours"),
        ("DISCOVERY_LOOKBACK", "2w"),
        ("DISTRIBUTION_RETRIES", "11"),
        ("RECONCILE_CONCURRENCY", "0"),
    ] {
        let err = base(&[(var, bad)]).unwrap_err().to_string();
        assert!(err.contains(var), "{var}: {err}");
    }
    let err = base(&[("DISTRIBUTION_CONFIGURATION_ARN", "golden")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("DISTRIBUTION_CONFIGURATION_ARN"), "{err}");
}

// ---------------------------------------------------------------- the reconciler

/// The failure reason `status.json` shows.
fn failure_reason(deps: &TestDeps) -> String {
    let status = deps.store.json(&format!("state/{ID}/status.json")).unwrap();
    status["failure"]["reason"].as_str().unwrap().to_owned()
}

const SOURCE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1";
const DISTRIBUTED: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/2";

const DISTRIBUTION_CONFIGURATION: &str =
    "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden";

/// What GetImage answers for `arn` in `status`: the pipeline's image (built by PIPELINE), or
/// the distributed image (distributed with the configuration, carrying the tags DistributeImage
/// gave it, with its AMIs in both regions).
fn image(arn: &str, status: &str) -> shared::ports::ImageInfo {
    let ami = |region: &str, image: &str| shared::ports::OutputAmi {
        name: None,
        region: region.into(),
        image: image.into(),
        account_id: Some("123456789012".into()),
    };
    if arn == DISTRIBUTED {
        return shared::ports::ImageInfo {
            arn: arn.into(),
            status: Some(status.into()),
            distribution_configuration_arn: Some(DISTRIBUTION_CONFIGURATION.into()),
            tags: BTreeMap::from([
                (shared::release::TAG_RELEASE_ID.into(), ID.into()),
                (shared::release::TAG_SOURCE_IMAGE.into(), SOURCE.into()),
            ]),
            amis: vec![
                ami("us-east-1", "ami-0abcdef1234567890"),
                ami("eu-west-1", "ami-0fedcba9876543210"),
            ],
            ..Default::default()
        };
    }
    shared::ports::ImageInfo {
        arn: arn.into(),
        status: Some(status.into()),
        source_pipeline_arn: Some(PIPELINE.into()),
        amis: vec![ami("us-east-1", "ami-0abcdef1234567890")],
        ..Default::default()
    }
}

/// Image Builder's answers for the release: what publication, channels, revocation and
/// retention prove it from.
fn put_release_images(deps: &TestDeps) {
    deps.pipelines.put_image(image(SOURCE, "AVAILABLE"));
    deps.pipelines.put_image(image(DISTRIBUTED, "AVAILABLE"));
}

/// A build registered by start-pipeline, nothing after it.
fn registered(deps: &TestDeps) {
    let id = release();
    deps.store.put_value(
        &keys::pending(&id),
        &PendingMarker {
            schema_version: 1,
            release_id: id.clone(),
            since: release::timestamp(std::time::SystemTime::now()),
            source_image_arn: Some(SOURCE.into()),
        },
    );
    deps.store.put_value(
        &keys::build(&id),
        &shared::release::BuildRecord {
            schema_version: 1,
            release_id: id,
            image_build_version_arn: SOURCE.into(),
            pipeline_arn: Some(PIPELINE.into()),
            origin: shared::release::BuildOrigin::StartPipeline,
            recorded_at: release::timestamp(std::time::SystemTime::now()),
        },
    );
}

#[tokio::test]
async fn when_the_pipeline_images_event_never_came_should_distribute_it_from_getimage() {
    let deps = deps(&[]);
    registered(&deps);
    deps.pipelines.put_image(image(SOURCE, "AVAILABLE"));
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    let distributed = deps.pipelines.distributed();
    assert_eq!(distributed.len(), 1);
    // The same token the event path derives, so a late event changes nothing.
    assert_eq!(
        distributed[0].client_token.as_str(),
        shared::token::derive(
            "distribute-image",
            &[
                SOURCE,
                "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden"
            ]
        )
    );
    assert!(
        deps.store
            .json(&format!("state/{ID}/distribution.json"))
            .is_some()
    );
    assert_eq!(outcome.releases()[0].state, ReleaseState::Pending);
}

#[tokio::test]
async fn when_the_distributed_images_event_never_came_should_start_export_and_copies() {
    let deps = deps(&[]);
    registered(&deps);
    deps.pipelines.put_image(image(SOURCE, "AVAILABLE"));
    deps.pipelines.put_image(image(DISTRIBUTED, "DISTRIBUTING"));
    deps.appstream
        .put_image("us-east-1", ID, "AVAILABLE", &[("team", "platform")]);
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert!(deps.exports.exports().is_empty(), "not before AVAILABLE");
    deps.pipelines.put_image(image(DISTRIBUTED, "AVAILABLE"));
    handle(&deps, event(SCHEDULE)).await.unwrap();
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(deps.exports.exports().len(), 1, "one export over two ticks");
    assert_eq!(deps.appstream.copies().len(), 2, "one copy per region");
    assert_eq!(deps.pipelines.distributed().len(), 1);
}

#[tokio::test]
async fn when_a_pipeline_built_an_image_nobody_registered_should_discover_it_once() {
    let deps = deps(&[]);
    let summary = |arn: &str, tags: &[(&str, &str)]| shared::ports::PipelineImage {
        arn: arn.into(),
        status: Some("AVAILABLE".into()),
        date_created: Some(release::timestamp(std::time::SystemTime::now())),
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
    };
    deps.pipelines
        .add_pipeline_image(PIPELINE, summary(SOURCE, &[]));
    // Our own distributed image, listed under the pipeline: never a release of its own (the
    // output record our DistributeImage left says so; its tag alone would not).
    deps.pipelines.add_pipeline_image(
        PIPELINE,
        summary(DISTRIBUTED, &[(shared::release::TAG_RELEASE_ID, ID)]),
    );
    deps.store.put_value(
        "distributed/golden-1.0.0-2.json",
        &shared::release::DistributionOutput {
            schema_version: 1,
            release_id: release(),
            source_image_arn: SOURCE.into(),
            distributed_image_arn: DISTRIBUTED.into(),
            recorded_at: "t".into(),
        },
    );
    // Outside the look-back window: left alone.
    let mut old = summary(
        "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/0.9.0/1",
        &[],
    );
    old.date_created = Some("2020-01-01T00:00:00Z".into());
    deps.pipelines.add_pipeline_image(PIPELINE, old);
    deps.pipelines.put_image(image(SOURCE, "AVAILABLE"));

    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.discovered(), Some(1));
    assert_eq!(
        deps.store.json(&format!("state/{ID}/build.json")).unwrap()["origin"],
        "discovered"
    );
    assert_eq!(deps.pipelines.distributed().len(), 1);
    let again = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(again.discovered(), Some(0));
    assert_eq!(deps.pipelines.distributed().len(), 1);

    // A release that ended under an older version (a status, no build record) stays ended.
    let ended = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/7";
    deps.pipelines
        .add_pipeline_image(PIPELINE, summary(ended, &[]));
    deps.store
        .put_raw("state/golden-1.0.0-7/status.json", br#"{"state":"failed"}"#);
    let third = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(third.discovered(), Some(0));
    assert!(deps.store.json("pending/golden-1.0.0-7.json").is_none());
}

fn failed_distribution(status: &str, step: Option<&str>) -> shared::ports::ImageInfo {
    let mut info = image(DISTRIBUTED, "FAILED");
    info.failure = Some(shared::ports::ImageFailure {
        stage: Some("DISTRIBUTING".into()),
        message: Some("Distribution failed in 1 of 2 regions".into()),
        regions: vec![shared::ports::RegionFailure {
            region: "eu-west-1".into(),
            status: status.into(),
            step: step.map(Into::into),
            message: Some("copy timed out".into()),
            account_id: Some("123456789012".into()),
        }],
        ..Default::default()
    });
    info
}

#[tokio::test]
async fn when_a_distribution_timed_out_in_a_region_should_retry_it_n_times_then_fail_with_the_context()
 {
    let deps = deps(&[("DISTRIBUTION_RETRIES", "2")]);
    registered(&deps);
    deps.pipelines.put_image(image(SOURCE, "AVAILABLE"));
    handle(&deps, event(SCHEDULE)).await.unwrap();
    for attempt in 1..=3 {
        deps.pipelines
            .put_image(failed_distribution("TIMED_OUT", None));
        let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
        let retried = deps.pipelines.retried();
        if attempt <= 2 {
            assert_eq!(retried.len(), attempt);
            assert_eq!(outcome.releases()[0].state, ReleaseState::Pending);
        } else {
            assert_eq!(retried.len(), 2, "at most DISTRIBUTION_RETRIES");
            assert_ne!(retried[0].1, retried[1].1, "each retry has its own token");
            assert_eq!(outcome.releases()[0].state, ReleaseState::Failed);
            let reason = failure_reason(&deps);
            assert!(
                reason.contains("eu-west-1 account 123456789012 TIMED_OUT: copy timed out"),
                "{reason}"
            );
            assert!(reason.contains("after 2 RetryImage"), "{reason}");
        }
    }
}

#[tokio::test]
async fn when_a_distribution_failed_for_good_should_record_it_without_retrying() {
    let deps = deps(&[]);
    registered(&deps);
    deps.pipelines.put_image(image(SOURCE, "AVAILABLE"));
    handle(&deps, event(SCHEDULE)).await.unwrap();
    deps.pipelines
        .put_image(failed_distribution("FAILED", None));
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert!(deps.pipelines.retried().is_empty());
    assert_eq!(outcome.releases()[0].state, ReleaseState::Failed);
}

#[tokio::test]
async fn when_the_build_outlives_its_deadline_should_fail_as_timed_out() {
    let mut deps = deps(&[("DEADLINE_BUILD", "6h")]);
    let clock = std::sync::Arc::new(shared::clock::ManualClock::new(std::time::SystemTime::now()));
    deps.clock = Box::new(clock.clone());
    registered(&deps);
    deps.pipelines.put_image(image(SOURCE, "BUILDING"));
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Pending);
    clock.advance(std::time::Duration::from_secs(6 * 3_600 + 60));
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Failed);
    let reason = failure_reason(&deps);
    assert!(
        reason.starts_with("build timed out in BUILDING after 6h"),
        "{reason}"
    );
    assert!(reason.ends_with("(deadline 6h 0m)"), "{reason}");
    assert!(
        deps.store.json(&format!("pending/{ID}.json")).is_none(),
        "off the pending list"
    );
}

#[tokio::test]
async fn when_the_export_outlives_its_deadline_should_fail_as_timed_out() {
    let mut deps = deps(&[("DEADLINE_EXPORT", "0s")]);
    deps.clock = Box::new(shared::clock::ManualClock::new(
        std::time::SystemTime::now() + std::time::Duration::from_secs(5),
    ));
    seed(&deps, CopyState::Requested);
    let id = release();
    let mut export: ExportRecord = serde_json::from_value(
        deps.store
            .json(&keys::export(&id, DiskImageFormat::Vmdk, 0))
            .unwrap(),
    )
    .unwrap();
    export.requested_at = release::timestamp(std::time::SystemTime::now());
    deps.store
        .put_value(&keys::export(&id, DiskImageFormat::Vmdk, 0), &export);
    deps.exports.set_task(task("active", Some("converting")));
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Failed);
    let reason = failure_reason(&deps);
    assert!(
        reason.starts_with("export timed out in export task"),
        "{reason}"
    );
}

#[tokio::test]
async fn when_more_than_1000_releases_are_pending_should_look_at_every_one() {
    let pending = |count: usize| {
        let deps = deps(&[]);
        for n in 1..=count {
            let id = ReleaseId::parse("r", &format!("golden-1.0.0-{n}")).unwrap();
            deps.store.put_value(
                &keys::pending(&id),
                &PendingMarker {
                    schema_version: 1,
                    release_id: id,
                    since: release::timestamp(std::time::SystemTime::now()),
                    source_image_arn: None,
                },
            );
        }
        deps
    };
    let deps = pending(shared::fakes::S3_PAGE_KEYS + 1);
    // One release's trouble never blocks the others.
    deps.store
        .script
        .fail("GetObject", ErrorClass::Throttled, "SlowDown", 3);
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases().len(), 1_001);
    // The listing met S3's page boundary: two pages of 1,000 and 1.
    assert_eq!(deps.store.pages_listed("pending/"), 2);
    assert!(
        outcome
            .releases()
            .iter()
            .all(|r| r.state == ReleaseState::Pending)
    );
}

#[tokio::test]
async fn when_a_record_is_corrupt_should_show_it_in_the_status_and_count_the_ticks() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    let key = keys::appstream(&release());
    let mut record = deps.store.json(&key).unwrap();
    record["description"] = serde_json::json!("x".repeat(257));
    deps.store.put_value(&key, &record);
    for tick in 1..=STUCK_AFTER_TICKS {
        let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
        assert_eq!(outcome.releases()[0].state, ReleaseState::Pending);
        let status = deps.store.json(&format!("state/{ID}/status.json")).unwrap();
        let observation = &status["observation"];
        assert!(
            observation["error"].as_str().unwrap().contains(&key),
            "{status}"
        );
        assert!(
            observation["error"].as_str().unwrap().contains("corrupt"),
            "{status}"
        );
        assert_eq!(observation["ticks"], tick, "{status}");
    }
    // Repaired: the next tick observes it again and the error is gone from the status.
    deps.store.put_value(&key, &{
        let mut r = record.clone();
        r["description"] = serde_json::json!("ok");
        r
    });
    handle(&deps, event(SCHEDULE)).await.unwrap();
    let status = deps.store.json(&format!("state/{ID}/status.json")).unwrap();
    assert!(status.get("observation").is_none(), "{status}");
}

#[tokio::test]
async fn when_observation_keeps_failing_should_still_fail_the_release_at_its_deadline() {
    let mut deps = deps(&[("DEADLINE_RELEASE", "24h")]);
    let clock = std::sync::Arc::new(shared::clock::ManualClock::new(std::time::SystemTime::now()));
    deps.clock = Box::new(clock.clone());
    seed(&deps, CopyState::Requested);
    let id = release();
    let mut marker = deps.store.json(&keys::pending(&id)).unwrap();
    marker["since"] = serde_json::json!(release::timestamp(std::time::SystemTime::now()));
    deps.store.put_value(&keys::pending(&id), &marker);
    // Every read of the AppStream record is denied, for ever (a grant missing on AWS).
    deps.appstream.script.fail(
        "DescribeImages",
        ErrorClass::AccessDenied,
        "AccessDeniedException",
        100,
    );
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Pending);
    clock.advance(std::time::Duration::from_secs(24 * 3_600 + 60));
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Failed);
    let reason = failure_reason(&deps);
    assert!(reason.starts_with("release timed out"), "{reason}");
    assert!(
        deps.store.json(&keys::pending(&id)).is_none(),
        "off the pending list"
    );
    assert_eq!(deps.events.events().len(), 1, "one Release Failed event");
}

/// How many times `operation` ran in a complete publication of the seeded release.
async fn writes_of_a_publication(operation: &'static str) -> usize {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    let before = deps.store.script.count(operation);
    handle(&deps, event(SCHEDULE)).await.unwrap();
    deps.store.script.count(operation) - before
}

#[tokio::test]
async fn when_publication_crashes_after_any_write_should_the_next_tick_publish_it_exactly_once() {
    // Every write of a publication in turn (S3 puts and the marker's delete, the event): the invocation ends there, as a crash or a timeout would end it.
    let mut crash_points: Vec<(&str, usize)> = Vec::new();
    for n in 0..writes_of_a_publication("PutObject").await {
        crash_points.push(("PutObject", n));
    }
    crash_points.push(("DeleteObject", 0));
    crash_points.push(("PutEvents", 0));
    assert!(crash_points.len() > 6, "{crash_points:?}");
    for (operation, n) in crash_points {
        let deps = deps(&[]);
        seed(&deps, CopyState::Requested);
        complete_everything(&deps);
        match operation {
            "PutEvents" => deps.events.script.fail_after("PutEvents", n),
            op => deps.store.script.fail_after(
                if op == "DeleteObject" {
                    "DeleteObject"
                } else {
                    "PutObject"
                },
                n,
            ),
        }
        let _ = handle(&deps, event(SCHEDULE)).await;
        let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
        let state = deps.store.json(&format!("state/{ID}/status.json")).unwrap()["state"].clone();
        assert_eq!(state, "published", "crash at {operation} #{n}: {outcome:?}");
        assert!(
            deps.store.json(&format!("pending/{ID}.json")).is_none(),
            "crash at {operation} #{n}"
        );
        let index = deps.store.json("catalog/index.json").unwrap();
        let text = index["images"]["golden"]["recent"].to_string();
        assert_eq!(
            text.matches(&format!("\"release_id\":\"{ID}\"")).count(),
            1,
            "crash at {operation} #{n}: {text}"
        );
        // The channel moved once, and every surface shows it once the tick has mirrored it.
        assert_channel_mirrored(&deps, "testing", ID, 1);
        assert_eq!(
            index["images"]["golden"]["history"][0]["releases"], 1,
            "crash at {operation} #{n}: {text}"
        );
        let page_key = index["images"]["golden"]["history"][0]["json"]
            .as_str()
            .unwrap();
        let page = deps.store.json(page_key).unwrap().to_string();
        assert_eq!(
            page.matches(&format!("\"release_id\":\"{ID}\"")).count(),
            1,
            "crash at {operation} #{n}: {page}"
        );
        let published = deps
            .events
            .events()
            .iter()
            .filter(|e| e.0 == "Release Published")
            .count();
        assert!(published >= 1, "at least once: crash at {operation} #{n}");
        // A third tick finds nothing to do.
        assert!(
            handle(&deps, event(SCHEDULE))
                .await
                .unwrap()
                .releases()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn when_a_pipeline_image_carries_another_releases_tag_should_still_be_discovered() {
    // Anyone who may tag an Image Builder image could put our tag on a pipeline's image: it
    // must not hide the build from discovery.
    let deps = deps(&[]);
    deps.pipelines.add_pipeline_image(
        PIPELINE,
        shared::ports::PipelineImage {
            arn: SOURCE.into(),
            status: Some("AVAILABLE".into()),
            date_created: Some(release::timestamp(std::time::SystemTime::now())),
            tags: [(
                shared::release::TAG_RELEASE_ID.to_owned(),
                "golden-0.1.0-9".to_owned(),
            )]
            .into(),
        },
    );
    deps.pipelines.put_image(image(SOURCE, "AVAILABLE"));
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.discovered(), Some(1));
    assert_eq!(deps.pipelines.distributed().len(), 1);
}

#[tokio::test]
async fn when_retention_passes_should_keep_the_release_listed_without_dead_links() {
    let mut deps = deps(&[("RELEASE_RETENTION_DAYS", "30")]);
    let clock = std::sync::Arc::new(shared::clock::ManualClock::new(std::time::SystemTime::now()));
    deps.clock = Box::new(clock.clone());
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Published);
    let disk = format!("releases/{ID}/{TASK}.vmdk");
    let entry = &deps.store.json(keys::INDEX).unwrap()["images"]["golden"]["recent"][0];
    assert!(entry["artifacts_expire_at"].is_string(), "{entry}");
    assert!(deps.store.keys().contains(&"index.html".to_owned()));
    let page = String::from_utf8(deps.store.objects.lock().unwrap()["index.html"].clone()).unwrap();
    assert!(page.contains(&format!("{TASK}.vmdk")) && page.contains("offered until"));

    // 29 days on (a day before S3's rule may act on the first object): the links go.
    clock.advance(std::time::Duration::from_secs(28 * 86_400));
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_ne!(
        deps.store.json(keys::INDEX).unwrap()["images"]["golden"]["recent"][0]["artifacts_expired"],
        true
    );
    clock.advance(std::time::Duration::from_secs(86_400 + 60));
    handle(&deps, event(SCHEDULE)).await.unwrap();
    let index = deps.store.json(keys::INDEX).unwrap();
    let recent = &index["images"]["golden"]["recent"][0];
    assert_eq!(recent["release_id"], ID, "the history stays");
    assert_eq!(recent["artifacts_expired"], true, "{index}");
    let page_key = index["images"]["golden"]["history"][0]["json"]
        .as_str()
        .unwrap();
    let page = deps.store.json(page_key).unwrap();
    assert_eq!(page["releases"][0]["artifacts_expired"], true, "{page}");
    assert!(
        index["images"]["golden"]["history"][0]
            .get("next_expiry")
            .is_none(),
        "nothing left to expire on the page: {index}"
    );
    let latest = deps.store.json(keys::LATEST).unwrap();
    assert_eq!(
        latest["images"]["golden"]["artifacts_expired"], true,
        "{latest}"
    );
    let page = String::from_utf8(deps.store.objects.lock().unwrap()["index.html"].clone()).unwrap();
    assert!(page.contains("golden 1.0.0 (build 1)"), "{page}");
    assert!(
        !page.contains(&disk) && !page.contains("manifest.json\""),
        "{page}"
    );
    assert!(page.contains("removed by the retention policy"), "{page}");
    // The disk itself is still there: S3's rule, not publish-release, removes it.
    assert!(deps.store.keys().contains(&disk));
}

#[tokio::test]
async fn when_a_schema_1_catalog_exists_should_migrate_it_in_place_and_lose_nothing() {
    let deps = deps(&[]);
    let old = |id: &str, at: &str| {
        let (image, version, build) = shared::catalog::split_release_id(id);
        serde_json::json!({"release_id": id, "image": image, "version": version, "build": build,
            "published_at": at, "manifest_url": format!("https://d.example/releases/{id}/manifest.json"),
            "amis": [], "artifacts": [], "appstream": []})
    };
    deps.store.put_value(
        keys::INDEX,
        &serde_json::json!({"schema_version": 1, "releases": [
            old("golden-0.9.0-2", "2025-02-01T00:00:00Z"),
            old("golden-0.9.0-1", "2025-01-01T00:00:00Z"),
            old("other-1.0.0-1", "2025-01-02T00:00:00Z"),
        ]}),
    );
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Published);
    let index = deps.store.json(keys::INDEX).unwrap();
    assert_eq!(index["schema_version"], 2, "{index}");
    assert!(index.get("releases").is_none(), "{index}");
    let recent: Vec<_> = index["images"]["golden"]["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["release_id"].as_str().unwrap())
        .collect();
    assert_eq!(recent, [ID, "golden-0.9.0-2", "golden-0.9.0-1"]);
    let mut listed = Vec::new();
    for image in ["golden", "other"] {
        for page in index["images"][image]["history"].as_array().unwrap() {
            let json = deps.store.json(page["json"].as_str().unwrap()).unwrap();
            assert_eq!(
                json["releases"].as_array().unwrap().len() as u64,
                page["releases"].as_u64().unwrap()
            );
            assert!(
                deps.store
                    .keys()
                    .contains(&page["html"].as_str().unwrap().to_owned())
            );
            for e in json["releases"].as_array().unwrap() {
                listed.push(e["release_id"].as_str().unwrap().to_owned());
            }
        }
    }
    listed.sort();
    assert_eq!(
        listed,
        ["golden-0.9.0-1", "golden-0.9.0-2", ID, "other-1.0.0-1"]
    );
    let page = String::from_utf8(deps.store.objects.lock().unwrap()["index.html"].clone()).unwrap();
    assert!(
        page.contains("catalog/history/golden/2025-01.html"),
        "{page}"
    );
}

/// The release of `seed`, its export task failed for good (deleted), ended failed by a tick.
async fn failed_export(deps: &TestDeps) {
    seed(deps, CopyState::Requested);
    complete_everything(deps);
    deps.exports
        .set_task(task("deleted", Some("the snapshot was deleted")));
    // The seeded record's task, as if EC2 had started it for that record's token.
    deps.exports
        .tokens
        .lock()
        .unwrap()
        .insert("t".into(), TASK.into());
    let outcome = handle(deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Failed);
    assert!(deps.store.json(&format!("pending/{ID}.json")).is_none());
}

/// What `image-release retry` does, through the same shared code: the current failures read,
/// the retry recorded, the marker put back.
async fn operator_retries(deps: &TestDeps) -> shared::steps::retry::Retried {
    let keys_now = deps.store.keys();
    let (generation, mut failures) =
        shared::steps::current_failures(&deps.store, &release(), &keys_now)
            .await
            .unwrap();
    // As the CLI does: a failure publish-release judged (a failed task) is in status.json.
    let status = deps.store.json(&format!("state/{ID}/status.json")).unwrap();
    if let Ok(failure) = serde_json::from_value::<FailureRecord>(status["failure"].clone())
        && !failures.contains(&failure)
    {
        failures.push(failure);
    }
    shared::steps::retry::retry_release(
        &deps.store,
        deps.clock.as_ref(),
        &release(),
        generation,
        failures,
    )
    .await
    .unwrap()
}

/// The retry's new export task completes and its disk arrives.
fn complete_new_export(deps: &TestDeps) -> String {
    let exports = deps.exports.exports();
    let new = exports.last().expect("a new ExportImage call");
    let id = deps.exports.tokens.lock().unwrap()[new.client_token.as_str()].clone();
    let mut done = task("completed", None);
    done.export_task_id = id.clone();
    deps.exports.set_task(done);
    deps.store
        .put_raw(&format!("releases/{ID}/{id}.vmdk"), &[1u8; 2048]);
    id
}

#[tokio::test]
async fn when_a_failed_export_is_retried_should_start_a_new_task_with_a_new_token_and_publish_it() {
    let deps = deps(&[]);
    failed_export(&deps).await;
    assert_eq!(
        operator_retries(&deps).await,
        shared::steps::retry::Retried::Recorded { generation: 1 }
    );
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Pending);
    let exports = deps.exports.exports();
    assert_eq!(exports.len(), 1, "one new task: {exports:?}");
    assert_ne!(exports[0].client_token.as_str(), "t");
    let record = deps
        .store
        .json(&format!("state/{ID}/export-vmdk.1.json"))
        .expect("the new attempt's record");
    assert_eq!(
        (record["attempt"].clone(), record["generation"].clone()),
        (1.into(), 1.into())
    );
    // The next tick follows the new task, and does not start a third one.
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(deps.exports.exports().len(), 1);
    let task_id = complete_new_export(&deps);
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Published);
    let manifest = deps
        .store
        .json(&format!("releases/{ID}/manifest.json"))
        .unwrap();
    assert!(
        manifest["artifacts"][0]["object_key"]
            .as_str()
            .unwrap()
            .contains(&task_id)
    );
    // Superseded, not deleted: the first failure stays on record in retry.json.
    let retry = deps.store.json(&format!("state/{ID}/retry.json")).unwrap();
    assert_eq!(
        retry["attempts"][0]["cleared"][0]["step"], "export",
        "{retry}"
    );
}

#[tokio::test]
async fn when_a_retried_export_fails_again_should_fail_the_release_with_the_new_failure() {
    let deps = deps(&[]);
    failed_export(&deps).await;
    operator_retries(&deps).await;
    handle(&deps, event(SCHEDULE)).await.unwrap();
    let new = deps.exports.exports()[0].client_token.to_string();
    let id = deps.exports.tokens.lock().unwrap()[&new].clone();
    let mut failed = task("deleted", Some("again"));
    failed.export_task_id = id;
    deps.exports.set_task(failed);
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Failed);
    assert!(
        failure_reason(&deps).contains("again"),
        "{}",
        failure_reason(&deps)
    );
    let status = deps.store.json(&format!("state/{ID}/status.json")).unwrap();
    assert_eq!(
        status["generation"], 1,
        "judged in the retry's generation: {status}"
    );
    assert_eq!(
        deps.exports.exports().len(),
        1,
        "no third task without a retry"
    );
}

#[tokio::test]
async fn when_a_tick_runs_between_each_write_of_a_retry_should_never_lose_the_release() {
    // A tick after recording the retry but before the marker (the one window there is) sees
    // nothing: the release is not pending. Once the marker is back, the next tick re-drives it.
    let deps = deps(&[]);
    failed_export(&deps).await;
    let keys_now = deps.store.keys();
    let (generation, failures) =
        shared::steps::current_failures(&deps.store, &release(), &keys_now)
            .await
            .unwrap();
    shared::steps::retry::record_retry(
        &deps.store,
        deps.clock.as_ref(),
        &release(),
        generation,
        failures,
    )
    .await
    .unwrap();
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert!(outcome.releases().is_empty(), "not pending yet");
    assert_eq!(
        deps.store.json(&format!("state/{ID}/status.json")).unwrap()["state"],
        "failed",
        "the status stays until a tick looks again"
    );
    shared::steps::mark_pending(&deps.store, deps.clock.as_ref(), &release(), None)
        .await
        .unwrap();
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Pending);
    complete_new_export(&deps);
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Published);
    // A second operator's retry read before the first one: refused, nothing changed.
    assert_eq!(
        shared::steps::retry::retry_release(
            &deps.store,
            deps.clock.as_ref(),
            &release(),
            0,
            Vec::new()
        )
        .await
        .unwrap(),
        shared::steps::retry::Retried::Concurrent { on_record: 1 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_retry_runs_while_ticks_run_in_a_loop_should_publish_the_release_once() {
    let deps = std::sync::Arc::new(deps(&[]));
    failed_export(&deps).await;
    let ticking = deps.clone();
    // The ticks run on their own thread (and runtime), truly beside the operator's retry.
    let ticks = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            for _ in 0..200 {
                handle(&ticking, event(SCHEDULE)).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
    });
    // The operator retries while the ticks run; a new export task appears at some tick.
    tokio::task::yield_now().await;
    assert_eq!(
        operator_retries(&deps).await,
        shared::steps::retry::Retried::Recorded { generation: 1 }
    );
    // The new task appears at the first tick after the retry: one of the thread's, or, when
    // the thread's ticks all ran before the retry was recorded, one of these.
    let mut own_ticks = 0;
    while deps.exports.exports().is_empty() {
        if ticks.is_finished() {
            assert!(own_ticks < 10, "no new export task after the retry");
            handle(&deps, event(SCHEDULE)).await.unwrap();
            own_ticks += 1;
        }
        tokio::task::yield_now().await;
    }
    complete_new_export(&deps);
    ticks.join().unwrap();
    handle(&deps, event(SCHEDULE)).await.unwrap();
    let status = deps.store.json(&format!("state/{ID}/status.json")).unwrap();
    assert_eq!(status["state"], "published", "{status}");
    assert!(deps.store.json(&format!("pending/{ID}.json")).is_none());
    assert_eq!(
        deps.exports.exports().len(),
        1,
        "one new task, however many ticks"
    );
    let published = published_events(&deps);
    assert_eq!(published, 1);
}

const SIGNING_KEY: &str =
    "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

#[tokio::test]
async fn when_a_signing_key_is_configured_should_sign_sha256sums_and_the_manifest_as_stored() {
    let deps = deps(&[("SIGNING_KEY_ID", SIGNING_KEY)]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Published);
    let objects = deps.store.objects.lock().unwrap().clone();
    for key in [
        format!("releases/{ID}/SHA256SUMS"),
        format!("releases/{ID}/manifest.json"),
    ] {
        // The signature is over the SHA-256 of the bytes as stored, nothing re-serialized.
        let digest: [u8; 32] = sha2::Sha256::digest(&objects[&key]).into();
        let sig = format!("{key}.sig");
        assert_eq!(objects[&sig], FakeSigner::signature_of(&digest), "{sig}");
        assert_eq!(
            deps.store
                .tags_of(&sig)
                .get(shared::release::TAG_PUBLISHED)
                .map(String::as_str),
            Some("true"),
            "{sig} is served"
        );
    }
    let pem = String::from_utf8(objects["catalog/signing-key.pem"].clone()).unwrap();
    assert_eq!(pem, shared::ports::public_key_pem(FakeSigner::PUBLIC_KEY));
}

#[tokio::test]
async fn when_the_key_refuses_to_sign_should_stay_pending_and_announce_nothing() {
    let deps = deps(&[("SIGNING_KEY_ID", SIGNING_KEY)]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    let signer = deps.signer.as_ref().unwrap();
    signer
        .script
        .fail("Sign", ErrorClass::AccessDenied, "AccessDeniedException", 1);
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Pending);
    assert!(
        deps.events.events().is_empty(),
        "nothing announced unsigned"
    );
    assert!(
        !deps.store.keys().contains(&"catalog/index.json".to_owned()),
        "nothing catalogued unsigned"
    );
    // The key is fixed: the next tick signs and publishes.
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Published);
    assert_eq!(deps.events.events().len(), 1);
}

#[tokio::test]
async fn when_no_signing_key_is_configured_should_publish_without_signatures() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert!(deps.store.keys().iter().all(|k| !k.ends_with(".sig")));
}

/// An export larger than one invocation's slice is hashed over several ticks, each saving the
/// hash's state, and the digest is the one-shot SHA-256 of the bytes; the release is pending
/// (with its progress) until then, and each byte is hashed once.
#[tokio::test]
async fn when_an_export_is_larger_than_a_slice_should_hash_it_over_ticks_to_the_one_shot_digest() {
    let deps = deps(&[("CHECKSUM_SLICE_MIB", "1")]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    let bytes: Vec<u8> = (0..(3 * 1024 * 1024 + 12_345u32))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let key = format!("releases/{ID}/{TASK}.vmdk");
    deps.store.put_raw(&key, &bytes);
    let mut ticks = 0;
    loop {
        ticks += 1;
        let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
        let report = &outcome.releases()[0];
        if report.state == ReleaseState::Published {
            break;
        }
        assert_eq!(report.state, ReleaseState::Pending);
        let status = deps.store.json(&format!("state/{ID}/status.json")).unwrap();
        assert!(
            status["steps"].to_string().contains("hashing s3://"),
            "{status}"
        );
        assert!(ticks < 10, "never finished hashing");
    }
    assert_eq!(ticks, 4, "1 MiB a tick: 3 partial slices and the last");
    let manifest = deps
        .store
        .json(&format!("releases/{ID}/manifest.json"))
        .unwrap();
    assert_eq!(
        manifest["export"]["sha256"],
        shared::ports::sha256_hex(&bytes)
    );
    assert_eq!(
        deps.store
            .hashed_bytes
            .load(std::sync::atomic::Ordering::Relaxed),
        bytes.len() as u64,
        "every byte hashed once"
    );
}

/// A disk replaced between two slices (another ETag) is hashed again from its first byte: a
/// saved state never mixes two objects.
#[tokio::test]
async fn when_the_export_changes_between_slices_should_hash_the_new_object_from_the_start() {
    let deps = deps(&[("CHECKSUM_SLICE_MIB", "1")]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    let key = format!("releases/{ID}/{TASK}.vmdk");
    deps.store.put_raw(&key, &vec![1u8; 2 * 1024 * 1024 + 1]);
    handle(&deps, event(SCHEDULE)).await.unwrap();
    let replaced = vec![2u8; 2 * 1024 * 1024 + 7];
    deps.store.put_raw(&key, &replaced);
    for _ in 0..5 {
        handle(&deps, event(SCHEDULE)).await.unwrap();
    }
    let manifest = deps
        .store
        .json(&format!("releases/{ID}/manifest.json"))
        .unwrap();
    assert_eq!(
        manifest["export"]["sha256"],
        shared::ports::sha256_hex(&replaced)
    );
}

/// `channel` of golden points at `release` (move `generation`) on every surface: its record,
/// the SSM parameter of each region of the release's AMIs, latest.json, the index and the
/// page; and no move is left to mirror.
fn assert_channel_mirrored(deps: &TestDeps, channel: &str, release: &str, generation: u64) {
    let record = deps
        .store
        .json(&format!("channels/golden/{channel}.json"))
        .unwrap_or_else(|| panic!("no record of {channel}"));
    assert_eq!(record["release_id"], release, "{record}");
    assert_eq!(record["generation"], generation, "{record}");
    let amis = record["amis"].as_array().unwrap();
    assert!(!amis.is_empty(), "{record}");
    for ami in amis {
        let region = ami["region"].as_str().unwrap();
        assert_eq!(
            deps.parameters
                .value(region, &format!("/image-release/golden/{channel}"))
                .as_deref(),
            ami["ami_id"].as_str(),
            "the parameter in {region}"
        );
        let name = format!("/image-release/golden/{channel}");
        assert_eq!(
            deps.parameters
                .tag_of(region, &name, shared::channels::OWNER_TAG)
                .as_deref(),
            Some("image-release-artifacts"),
            "the parameter in {region} is the stack's"
        );
    }
    let latest = deps.store.json("catalog/latest.json").unwrap();
    assert_eq!(latest["channels"]["golden"][channel]["release_id"], release);
    let index = deps.store.json("catalog/index.json").unwrap();
    assert_eq!(
        index["images"]["golden"]["channels"][channel]["release_id"],
        release
    );
    let page = deps.store.text("index.html").unwrap();
    assert!(
        page.contains(&format!("<strong>{channel}</strong> → ")),
        "{page}"
    );
    assert!(
        deps.store.keys_under("pending-channels/").is_empty(),
        "a move left to mirror"
    );
}

#[tokio::test]
async fn when_a_release_is_published_should_move_its_channel_and_every_ssm_parameter() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_channel_mirrored(&deps, "testing", ID, 1);
    let record = deps.store.json("channels/golden/testing.json").unwrap();
    assert_eq!(record["history"][0]["action"], "publish");
    assert_eq!(record["history"][0]["by"], "publish-release");
}

#[tokio::test]
async fn when_a_pipeline_has_its_own_channel_should_publish_into_it() {
    let deps = deps(&[
        ("RELEASE_CHANNEL", "nightly"),
        ("PIPELINE_CHANNELS", "other=beta, golden=candidate"),
    ]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    // The build record names the pipeline (start-pipeline or discovery wrote it).
    deps.store.put_value(
        &keys::build(&release()),
        &shared::release::BuildRecord {
            schema_version: 1,
            release_id: release(),
            image_build_version_arn:
                "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1".into(),
            pipeline_arn: Some(PIPELINE.into()),
            origin: shared::release::BuildOrigin::StartPipeline,
            recorded_at: release::timestamp(std::time::SystemTime::now()),
        },
    );
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_channel_mirrored(&deps, "candidate", ID, 1);
    assert!(deps.store.json("channels/golden/nightly.json").is_none());
}

#[tokio::test]
async fn when_ssm_fails_or_lags_should_publish_and_let_the_tick_finish_the_channel() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    deps.parameters.script.fail(
        "PutParameter",
        ErrorClass::Throttled,
        "ThrottlingException",
        1,
    );
    deps.parameters.lag("eu-west-1");
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Published);
    assert_eq!(
        deps.store.keys_under("pending-channels/").len(),
        1,
        "the move waits to be mirrored"
    );
    // The next tick writes the parameter again; the lagging region shows it after that.
    handle(&deps, event(SCHEDULE)).await.unwrap();
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_channel_mirrored(&deps, "testing", ID, 1);
}

#[tokio::test]
async fn when_another_stack_owns_a_channel_parameter_should_write_none_and_keep_the_move_pending() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    let name = "/image-release/golden/testing";
    let theirs = (shared::channels::OWNER_TAG, "their-stack-artifacts");
    deps.parameters
        .plant("eu-west-1", name, "ami-0theirs000000001", Some(theirs));
    let outcome = handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(outcome.releases()[0].state, ReleaseState::Published);
    assert_eq!(
        deps.parameters.value("eu-west-1", name).as_deref(),
        Some("ami-0theirs000000001"),
        "another stack's parameter is never overwritten"
    );
    assert_eq!(
        deps.parameters.value("us-east-1", name),
        None,
        "nothing is written while one parameter is not the stack's"
    );
    assert_eq!(deps.store.keys_under("pending-channels/").len(), 1);
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(
        deps.parameters.value("eu-west-1", name).as_deref(),
        Some("ami-0theirs000000001"),
        "each tick refuses again"
    );
    // The collision resolved (the leftover deleted): the next tick mirrors the move.
    deps.parameters.remove("eu-west-1", name);
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_channel_mirrored(&deps, "testing", ID, 1);
}

#[tokio::test]
async fn when_a_channel_parameter_has_no_owner_tag_should_neither_overwrite_nor_delete_it() {
    let deps = deps(&[]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    let name = "/image-release/golden/testing";
    deps.parameters
        .plant("us-east-1", name, "ami-0someone0000001", None);
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(
        deps.parameters.value("us-east-1", name).as_deref(),
        Some("ami-0someone0000001")
    );
    assert_eq!(deps.parameters.value("eu-west-1", name), None);
    // Revoking the release withdraws the channel: the untagged parameter is not deleted.
    revoke(&deps, false, false, false);
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(
        deps.parameters.value("us-east-1", name).as_deref(),
        Some("ami-0someone0000001"),
        "a parameter the stack did not create is never deleted"
    );
}

/// The seeded release, published (and so in `testing`), then revoked by an operator: the
/// decision and its marker, as `image-release revoke` writes them.
async fn published_then_revoked(deps: &TestDeps, disable: bool, appstream: bool, purge: bool) {
    seed(deps, CopyState::Requested);
    complete_everything(deps);
    handle(deps, event(SCHEDULE)).await.unwrap();
    assert_channel_mirrored(deps, "testing", ID, 1);
    revoke(deps, disable, appstream, purge);
}

/// An operator's revocation of the seeded release: the decision and its marker, as
/// `image-release revoke` writes them.
fn revoke(deps: &TestDeps, disable: bool, appstream: bool, purge: bool) {
    let id = release();
    deps.store.put_value(
        &shared::revocation::keys::pending(&id),
        &serde_json::json!({}),
    );
    deps.store.put_value(
        &shared::revocation::keys::record(&id),
        &shared::revocation::RevocationRecord {
            schema_version: 1,
            release_id: id,
            reason: "CVE-2026-0001".into(),
            at: "2026-11-30T00:00:00Z".into(),
            by: "arn:aws:iam::123456789012:user/operator".into(),
            disable,
            delete_appstream: appstream,
            purge,
            raises: Vec::new(),
        },
    );
}

/// The release is revoked on every surface, and nothing is left to drive.
fn assert_revoked_everywhere(deps: &TestDeps, disabled: bool, appstream: bool, purged: bool) {
    let progress = deps
        .store
        .json(&format!("state/{ID}/revocation-progress.json"))
        .unwrap();
    assert!(progress["finished_at"].is_string(), "{progress}");
    assert!(deps.store.keys_under("pending-revocations/").is_empty());
    // The channel that held it is emptied (it held no other release): no parameter left.
    let channel = deps.store.json("channels/golden/testing.json").unwrap();
    assert!(channel["release_id"].is_null(), "{channel}");
    assert_eq!(channel["history"][1]["action"], "revoke", "{channel}");
    assert!(deps.store.keys_under("pending-channels/").is_empty());
    for region in ["us-east-1", "eu-west-1"] {
        assert_eq!(
            deps.parameters
                .value(region, "/image-release/golden/testing"),
            None
        );
    }
    // The catalog says revoked, with the reason, and the page links no download.
    let latest = deps.store.json("catalog/latest.json").unwrap();
    assert_eq!(
        latest["images"]["golden"]["revoked"]["reason"],
        "CVE-2026-0001"
    );
    let index = deps.store.json("catalog/index.json").unwrap();
    assert_eq!(
        index["images"]["golden"]["recent"][0]["revoked"]["reason"],
        "CVE-2026-0001"
    );
    let page = deps.store.text("index.html").unwrap();
    assert!(
        page.contains("revoked") && page.contains("CVE-2026-0001"),
        "{page}"
    );
    assert!(!page.contains(".vmdk\" download"), "{page}");
    // The disks leave the grant (or are deleted), and their paths are invalidated once.
    let disk = format!("releases/{ID}/{TASK}.vmdk");
    if purged {
        assert!(deps.store.json(&disk).is_none() && deps.store.text(&disk).is_none());
    } else {
        assert_eq!(
            deps.store
                .tags_of(&disk)
                .get(release::TAG_PUBLISHED)
                .map(String::as_str),
            Some("revoked")
        );
    }
    let invalidations = deps.cdn.as_ref().unwrap().invalidations();
    assert_eq!(invalidations.len(), 1, "{invalidations:?}");
    assert!(
        invalidations[0].1.contains(&format!("/{disk}")),
        "{invalidations:?}"
    );
    // Every AMI of the building account deprecated (and disabled when asked).
    assert_eq!(shared::fakes::lock_len(&deps.lifecycle.deprecated), 2);
    assert_eq!(
        shared::fakes::lock_len(&deps.lifecycle.disabled),
        if disabled { 2 } else { 0 }
    );
    assert_eq!(
        deps.appstream.script.count("DeleteImage") > 0,
        appstream,
        "AppStream copies deleted only when asked"
    );
    let revoked = deps
        .events
        .events()
        .iter()
        .filter(|e| e.0 == RELEASE_REVOKED)
        .count();
    assert!(revoked >= 1);
}

#[tokio::test]
async fn when_a_published_release_is_revoked_should_take_it_back_on_every_surface() {
    for (disable, appstream, purge) in [(false, false, false), (true, true, true)] {
        let deps = deps(&[("CDN_DISTRIBUTION_ID", "E2QWRUHAPOMQZL")]);
        published_then_revoked(&deps, disable, appstream, purge).await;
        handle(&deps, event(SCHEDULE)).await.unwrap();
        assert_revoked_everywhere(&deps, disable, appstream, purge);
        // A later tick finds nothing more to do.
        let before = deps.lifecycle.script.count("EnableImageDeprecation");
        handle(&deps, event(SCHEDULE)).await.unwrap();
        assert_eq!(
            deps.lifecycle.script.count("EnableImageDeprecation"),
            before
        );
    }
}

#[tokio::test]
async fn when_a_revocation_crashes_after_any_write_should_the_next_ticks_finish_it() {
    let ops: [&'static str; 9] = [
        "PutObject",
        "DeleteObject",
        "PutObjectTagging",
        "DeleteParameter",
        "CreateInvalidation",
        "EnableImageDeprecation",
        "DisableImage",
        "DeleteImage",
        "PutEvents",
    ];
    for op in ops {
        for n in 0..12 {
            let deps = deps(&[("CDN_DISTRIBUTION_ID", "E2QWRUHAPOMQZL")]);
            published_then_revoked(&deps, true, true, false).await;
            let script = match op {
                "DeleteParameter" => &deps.parameters.script,
                "CreateInvalidation" => &deps.cdn.as_ref().unwrap().script,
                "EnableImageDeprecation" | "DisableImage" => &deps.lifecycle.script,
                "DeleteImage" => &deps.appstream.script,
                "PutEvents" => &deps.events.script,
                _ => &deps.store.script,
            };
            // The n-th call of `op` fails (beyond the calls a revocation makes, none does).
            script.fail_after(op, n);
            let _ = handle(&deps, event(SCHEDULE)).await;
            handle(&deps, event(SCHEDULE)).await.unwrap();
            handle(&deps, event(SCHEDULE)).await.unwrap();
            assert_revoked_everywhere(&deps, true, true, false);
        }
    }
}

#[tokio::test]
async fn when_a_revoked_releases_appstream_copies_are_deleting_already_should_not_delete_them_again()
 {
    // GIVEN copies an earlier DeleteImage left DELETING (AppStream shows a deleted image in
    // that state until it is gone, and refuses to delete it again)
    let deps = deps(&[("CDN_DISTRIBUTION_ID", "E2QWRUHAPOMQZL")]);
    published_then_revoked(&deps, true, true, false).await;
    for region in ["ap-southeast-2", "eu-west-1"] {
        deps.appstream.set_state(region, ID, "DELETING");
    }
    // WHEN the revocation runs
    handle(&deps, event(SCHEDULE)).await.unwrap();
    // THEN it finishes without deleting them again
    assert_eq!(deps.appstream.script.count("DeleteImage"), 0);
    let progress = deps
        .store
        .json(&format!("state/{ID}/revocation-progress.json"))
        .unwrap();
    assert!(progress["finished_at"].is_string(), "{progress}");
    assert!(progress.to_string().contains("being deleted"), "{progress}");
}

#[tokio::test]
async fn when_a_release_is_past_retention_and_in_no_channel_should_the_daily_run_delete_it_once() {
    let deps = deps(&[
        ("RETENTION_KEEP_NEWEST", "0"),
        ("RETENTION_KEEP_CHANNEL_DAYS", "0"),
        ("RETENTION_DELETE_AFTER_DAYS", "0"),
    ]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    handle(&deps, event(SCHEDULE)).await.unwrap();
    // The channel protects it: the first run (at publication's tick) deleted nothing.
    let run = deps.store.json("state/retention.json").unwrap();
    assert_eq!(run["applied"]["deregistered"], 0, "{run}");
    // An operator empties the channel; a day later the next run deletes it.
    let mut channel = deps.store.json("channels/golden/testing.json").unwrap();
    channel["release_id"] = serde_json::Value::Null;
    channel["amis"] = serde_json::json!([]);
    deps.store
        .put_value("channels/golden/testing.json", &channel);
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(
        deps.lifecycle.script.count("DeregisterImage"),
        0,
        "not before its interval"
    );
    let mut run = deps.store.json("state/retention.json").unwrap();
    run["started_at"] = serde_json::json!("2026-01-01T00:00:00Z");
    deps.store.put_value("state/retention.json", &run);
    handle(&deps, event(SCHEDULE)).await.unwrap();
    let run = deps.store.json("state/retention.json").unwrap();
    assert_eq!(run["applied"]["deregistered"], 2, "{run}");
    assert!(run["saves_usd_per_month"].as_f64().unwrap() > 0.0, "{run}");
    let disk = format!("releases/{ID}/{TASK}.vmdk");
    assert!(deps.store.text(&disk).is_none(), "the disk deleted");
    let index = deps.store.json("catalog/index.json").unwrap();
    assert!(
        index["images"]["golden"]["recent"][0]["retired"].is_object(),
        "{index}"
    );
    assert!(
        deps.store
            .text("index.html")
            .unwrap()
            .contains("deleted by the retention policy")
    );
}

#[tokio::test]
async fn when_a_revocation_marker_has_no_record_yet_should_leave_it_until_it_is_an_hour_old() {
    let deps = deps(&[]);
    let id = release();
    let marker = shared::revocation::keys::pending(&id);
    // The CLI between its two writes: the marker stays for the record that follows.
    deps.store.put_value(
        &marker,
        &shared::revocation::Marker {
            at: Some(release::timestamp(std::time::SystemTime::now())),
            revision: 0,
        },
    );
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert!(deps.store.json(&marker).is_some(), "left for the record");
    // A CLI that stopped between them long ago decided nothing: cleared.
    deps.store.put_value(
        &marker,
        &shared::revocation::Marker {
            at: Some("2026-01-01T00:00:00Z".into()),
            revision: 0,
        },
    );
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert!(deps.store.json(&marker).is_none(), "cleared");
}

/// A revocation decided without `--purge`, `--disable` or `--delete-appstream`, finished, then
/// raised with all three (`image-release revoke --purge …` again): its own marker first, left
/// alone while the record is behind it, then the raised record; the next tick does the disks,
/// AMIs and AppStream copies again with the new options, and only them.
#[tokio::test]
async fn when_a_finished_revocation_is_raised_should_the_next_tick_do_what_the_raise_adds() {
    let deps = deps(&[("CDN_DISTRIBUTION_ID", "E2QWRUHAPOMQZL")]);
    published_then_revoked(&deps, false, false, false).await;
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_revoked_everywhere(&deps, false, false, false);
    let id = release();
    let disk = format!("releases/{ID}/{TASK}.vmdk");
    let revoked_events = |deps: &TestDeps| {
        deps.events
            .events()
            .iter()
            .filter(|e| e.0 == RELEASE_REVOKED)
            .count()
    };
    let events_before = revoked_events(&deps);

    let marker = shared::revocation::keys::pending_raise(&id, 1);
    deps.store.put_value(
        &marker,
        &shared::revocation::Marker {
            at: Some(release::timestamp(std::time::SystemTime::now())),
            revision: 1,
        },
    );
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert!(
        deps.store.json(&marker).is_some(),
        "left for the raised record"
    );
    assert!(
        deps.store.text(&disk).is_some(),
        "nothing done before the record"
    );

    let mut record: shared::revocation::RevocationRecord = serde_json::from_value(
        deps.store
            .json(&shared::revocation::keys::record(&id))
            .unwrap(),
    )
    .unwrap();
    record.purge = true;
    record.disable = true;
    record.delete_appstream = true;
    record.raises.push(shared::revocation::Raise {
        at: "2026-12-01T00:00:00Z".into(),
        by: "arn:aws:iam::123456789012:user/operator".into(),
        added: vec!["disable".into(), "delete_appstream".into(), "purge".into()],
        reason: "the disks too".into(),
    });
    deps.store
        .put_value(&shared::revocation::keys::record(&id), &record);
    handle(&deps, event(SCHEDULE)).await.unwrap();

    assert!(deps.store.keys_under("pending-revocations/").is_empty());
    let progress = deps
        .store
        .json(&format!("state/{ID}/revocation-progress.r1.json"))
        .unwrap();
    assert_eq!(progress["revision"], 1, "{progress}");
    assert!(progress["finished_at"].is_string(), "{progress}");
    assert!(deps.store.text(&disk).is_none(), "purged");
    assert_eq!(shared::fakes::lock_len(&deps.lifecycle.disabled), 2);
    assert_eq!(
        shared::fakes::lock_len(&deps.lifecycle.deprecated),
        2,
        "deprecated once: not again"
    );
    assert!(deps.appstream.script.count("DeleteImage") > 0);
    assert_eq!(
        revoked_events(&deps),
        events_before,
        "the event surface is not done again"
    );
    // A slow tick still on revision 0 writes its progress last: revision 1's is its own key,
    // so the raise stays done (verify reads the record's revision).
    deps.store.put_value(
        &format!("state/{ID}/revocation-progress.json"),
        &serde_json::json!({ "done": ["channels"], "notes": {}, "revision": 0 }),
    );
    let (key, progress) = shared::revocation::progress_for(&deps.store, &record)
        .await
        .unwrap();
    assert!(
        key.ends_with(".r1.json") && progress.finished(),
        "{key} {progress:?}"
    );
}

fn signed_count(deps: &TestDeps) -> usize {
    deps.signer.as_ref().unwrap().signed.lock().unwrap().len()
}

/// How many `Release Published` events were put.
fn published_events(deps: &TestDeps) -> usize {
    deps.events
        .events()
        .iter()
        .filter(|(detail_type, _, _)| detail_type == "Release Published")
        .count()
}

fn bytes(deps: &TestDeps, key: &str) -> Vec<u8> {
    deps.store.objects.lock().unwrap()[key].clone()
}

/// The seal's sequence of the document at `key`, after checking that `<key>.sig` is the
/// signature of the document as stored.
fn sealed(deps: &TestDeps, key: &str) -> u64 {
    let document = bytes(deps, key);
    assert_eq!(
        bytes(deps, &format!("{key}.sig")),
        FakeSigner::signature_of(&shared::ports::sha256_digest(&document)),
        "{key}'s signature is over the document as stored"
    );
    let value: Value = serde_json::from_slice(&document).unwrap();
    value["seal"]["sequence"].as_u64().expect("a sequence")
}

#[tokio::test]
async fn when_the_catalog_changes_should_sign_it_once_renew_its_seal_and_never_sign_an_older_one() {
    let mut deps = deps(&[("SIGNING_KEY_ID", SIGNING_KEY)]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    handle(&deps, event(SCHEDULE)).await.unwrap();
    let first = sealed(&deps, keys::LATEST);
    sealed(&deps, keys::INDEX);
    let old_latest = bytes(&deps, keys::LATEST);

    // A tick that changes nothing signs nothing.
    let signed = signed_count(&deps);
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(signed_count(&deps), signed);

    // Four days on (past half the seal's week): renewed, with a new sequence, and signed.
    deps.clock = Box::new(shared::clock::ManualClock::new(
        std::time::SystemTime::now() + std::time::Duration::from_secs(4 * 86_400),
    ));
    handle(&deps, event(SCHEDULE)).await.unwrap();
    let renewed = sealed(&deps, keys::LATEST);
    assert!(renewed > first, "{renewed} after {first}");
    let signed = signed_count(&deps);

    // The older latest.json put back (a replay past the bucket policy): never signed again.
    deps.store.put_raw(keys::LATEST, &old_latest);
    deps.clock = Box::new(shared::clock::SystemClock);
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(signed_count(&deps), signed, "the older document was signed");
    let seals = deps.store.json("state/seals.json").unwrap();
    assert_eq!(seals["signed"][keys::LATEST]["sequence"], renewed);
}

/// Channel records are sealed and signed like the catalog: the publication's move is signed
/// at the end of the tick; a record renewed past half its week is signed anew; a record that
/// names a foreign AMI (a plant past the bucket policy, with a higher sequence) never is.
#[tokio::test]
async fn when_a_channel_moves_should_its_record_be_sealed_signed_renewed_and_a_foreign_one_never_signed()
 {
    const CHANNEL: &str = "channels/golden/testing.json";
    let mut deps = deps(&[("SIGNING_KEY_ID", SIGNING_KEY)]);
    seed(&deps, CopyState::Requested);
    complete_everything(&deps);
    handle(&deps, event(SCHEDULE)).await.unwrap();
    let first = sealed(&deps, CHANNEL);
    let seals = deps.store.json("state/seals.json").unwrap();
    assert_eq!(seals["signed"][CHANNEL]["sequence"], first);

    // Four days on: renewed (a new sequence, the same move) and signed.
    deps.clock = Box::new(shared::clock::ManualClock::new(
        std::time::SystemTime::now() + std::time::Duration::from_secs(4 * 86_400),
    ));
    handle(&deps, event(SCHEDULE)).await.unwrap();
    let renewed = sealed(&deps, CHANNEL);
    assert!(renewed > first, "{renewed} after {first}");
    let record = deps.store.json(CHANNEL).unwrap();
    assert_eq!(record["generation"], 1, "a renewal is not a move");

    // A plant with a higher sequence naming someone else's AMI: left unsigned.
    let mut planted = record.clone();
    planted["seal"]["sequence"] = serde_json::json!(renewed + 10);
    planted["amis"][0]["ami_id"] = serde_json::json!("ami-0badbadbadbadbad0");
    deps.store.put_value(CHANNEL, &planted);
    let signature = bytes(&deps, &format!("{CHANNEL}.sig"));
    handle(&deps, event(SCHEDULE)).await.unwrap();
    assert_eq!(
        bytes(&deps, &format!("{CHANNEL}.sig")),
        signature,
        "the planted record was signed"
    );
    let seals = deps.store.json("state/seals.json").unwrap();
    assert_eq!(seals["signed"][CHANNEL]["sequence"], renewed);
}

/// Past retention, in no channel, one AMI shared with another account: that one is kept (its
/// launches there are invisible to DescribeImageReferences), the other deregistered; with
/// `RETENTION_DELETE_SHARED` both go.
#[tokio::test]
async fn when_an_ami_is_shared_with_another_account_should_retention_keep_it_unless_told() {
    for (delete_shared, deregistered) in [("false", 1), ("true", 2)] {
        let deps = deps(&[
            ("RETENTION_KEEP_NEWEST", "0"),
            ("RETENTION_KEEP_CHANNEL_DAYS", "0"),
            ("RETENTION_DELETE_AFTER_DAYS", "0"),
            ("RETENTION_DELETE_SHARED", delete_shared),
        ]);
        deps.lifecycle
            .shared
            .lock()
            .unwrap()
            .insert("ami-0fedcba9876543210".into(), vec!["111122223333".into()]);
        seed(&deps, CopyState::Requested);
        complete_everything(&deps);
        handle(&deps, event(SCHEDULE)).await.unwrap();
        let mut channel = deps.store.json("channels/golden/testing.json").unwrap();
        channel["release_id"] = serde_json::Value::Null;
        channel["amis"] = serde_json::json!([]);
        deps.store
            .put_value("channels/golden/testing.json", &channel);
        let mut run = deps.store.json("state/retention.json").unwrap();
        run["started_at"] = serde_json::json!("2026-01-01T00:00:00Z");
        deps.store.put_value("state/retention.json", &run);
        handle(&deps, event(SCHEDULE)).await.unwrap();
        let run = deps.store.json("state/retention.json").unwrap();
        assert_eq!(
            run["applied"]["deregistered"], deregistered,
            "RETENTION_DELETE_SHARED={delete_shared}: {run}"
        );
        let gone: Vec<String> = deps
            .lifecycle
            .deregistered
            .lock()
            .unwrap()
            .iter()
            .map(|(_, ami)| ami.clone())
            .collect();
        assert_eq!(
            gone.contains(&"ami-0fedcba9876543210".to_owned()),
            delete_shared == "true",
            "{gone:?}"
        );
    }
}
