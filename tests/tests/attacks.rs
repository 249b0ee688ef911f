//! The shared account's neighbour attacks a local release (docs/src/security.md lists each attack,
//! its defence and its test). The neighbour is a principal of the local account with its own key
//! and a broad identity policy (S3, EC2, SSM, AppStream and Image Builder on everything,
//! `events:PutEvents` on the default bus, `lambda:InvokeFunction` on every function); the local
//! IAM evaluates its calls with the stack's resource policies, as AWS would. Each attack is made
//! with a client nobody here wrote (the AWS CLI) against the running stack, and judged by what
//! AWS's state shows afterwards.
//!
//! Where the bucket policy already stops the neighbour, the attack is also made by a writer that
//! gets past it (moto's own endpoint: an administrator's mistake, a leaked operator key), to show
//! that no record alone makes the stack act: each privileged act is proven from AWS's answers.

use release_tests::{aws_as, described, root};
use runner::stack::NEIGHBOUR_ACCESS_KEY;
use runner::{Report, Scenario, run};
use std::time::Duration;

const ID: &str = "golden-1.0.0-1";

fn scenario() -> Scenario {
    let mut s = Scenario::new(&root());
    s.step = Duration::from_millis(150);
    s.publish_interval = Duration::from_millis(200);
    s.timeout = Duration::from_secs(60);
    s.progress = false;
    s
}

async fn published(s: Scenario) -> Report {
    let report = run(s).await.expect("local release");
    assert_eq!(report.state, "published", "{:?}", report.status);
    report
}

/// Publishes one release, then runs `attack` against the running stack (every function up,
/// publish-release ticking) and returns the report with what the attack saw.
async fn attacked<T: Send + 'static>(
    mut s: Scenario,
    attack: impl Fn(&runner::Live) -> T + Send + Sync + 'static,
) -> (Report, T) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let saw = seen.clone();
    s.on_published = Some(runner::OnFailure(std::sync::Arc::new(move |live| {
        *saw.lock().unwrap() = Some(attack(&live));
    })));
    let report = published(s).await;
    let seen = seen.lock().unwrap().take().expect("the attack ran");
    (report, seen)
}

/// Every security event the functions logged: `(function, what was refused, why)`.
fn security_events(report: &Report) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for function in [
        "start-pipeline",
        "distribute-image",
        "export-image",
        "copy-appstream-image",
        "publish-release",
    ] {
        let log = std::fs::read_to_string(report.log_dir.join(format!("{function}.log")))
            .unwrap_or_default();
        for line in log.lines() {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if event["fields"]["message"] == shared::provenance::SECURITY_EVENT {
                out.push((
                    function.to_owned(),
                    event["fields"]["refused"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    event["fields"]["reason"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                ));
            }
        }
    }
    out
}

/// The attack was seen and refused: `function` logged a security event refusing `what`, and
/// the stack's alarm for it would fire.
fn refused_as_security_event(report: &Report, function: &str, what: &str) {
    let events = security_events(report);
    assert!(
        events
            .iter()
            .any(|(f, refused, _)| f == function && refused.contains(what)),
        "{function} logged no security event refusing {what}: {events:#?}"
    );
    assert!(
        report.fired().unwrap().contains(&"SecurityEventAlarm"),
        "the security-event alarm would not fire: {:?}",
        report.alarms
    );
}

/// `aws <args>` as the neighbour against `endpoint`.
fn neighbour(endpoint: &str, args: &[&str]) -> std::process::Output {
    aws_as(NEIGHBOUR_ACCESS_KEY, endpoint, args)
}

fn refused(out: &std::process::Output, what: &str) {
    let text = described(out);
    assert!(
        !out.status.success() && text.contains("AccessDenied"),
        "{what} should be refused with AccessDenied: {text}"
    );
}

/// The neighbour, with `s3:*` of its own, cannot write, tag, copy over or delete any key of the
/// bucket (the bucket policy's explicit deny), while it may still read what its IAM allows: the
/// refusal is the bucket policy's, not an unknown key's. The bucket is unchanged afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_neighbour_writes_the_bucket_should_every_write_be_refused() {
    let report = published(scenario()).await;
    let s3 = &report.s3_authorized;
    let bucket = runner::BUCKET;
    let manifest = format!("releases/{ID}/manifest.json");
    let before = runner::read_json(&report.moto.endpoint, &manifest).await;
    assert!(before.is_some(), "the release has a manifest");

    let planted = std::env::temp_dir().join(format!("planted-{}.json", std::process::id()));
    std::fs::write(&planted, br#"{"forged":true}"#).unwrap();
    let body = planted.to_str().unwrap();
    for key in [
        "pending/golden-1.0.0-9.json",
        "state/golden-1.0.0-9/distribution.json",
        "releases/golden-1.0.0-9/manifest.json",
        manifest.as_str(),
        "channels/golden/stable.json",
        "pending-channels/golden/stable/00000000000000000009.json",
        "pending-revocations/golden-1.0.0-1.json",
        "catalog/latest.json",
        "index.html",
    ] {
        let out = neighbour(
            s3,
            &[
                "s3api",
                "put-object",
                "--bucket",
                bucket,
                "--key",
                key,
                "--body",
                body,
            ],
        );
        refused(&out, &format!("put-object {key}"));
    }
    let out = neighbour(
        s3,
        &[
            "s3api",
            "put-object-tagging",
            "--bucket",
            bucket,
            "--key",
            &format!("state/{ID}/status.json"),
            "--tagging",
            "TagSet=[{Key=image-release-published,Value=true}]",
        ],
    );
    refused(&out, "put-object-tagging of a record");
    let out = neighbour(
        s3,
        &[
            "s3api",
            "delete-object",
            "--bucket",
            bucket,
            "--key",
            &manifest,
        ],
    );
    refused(&out, "delete-object of the manifest");
    let out = neighbour(
        s3,
        &["s3", "rm", &format!("s3://{bucket}/catalog/latest.json")],
    );
    assert!(!out.status.success(), "s3 rm: {}", described(&out));

    // Reads are the neighbour's IAM's business: allowed, so the refusals above are the policy's.
    let out = neighbour(
        s3,
        &[
            "s3api",
            "head-object",
            "--bucket",
            bucket,
            "--key",
            &manifest,
        ],
    );
    assert!(out.status.success(), "head-object: {}", described(&out));
    assert_eq!(
        runner::read_json(&report.moto.endpoint, &manifest).await,
        before,
        "the manifest is unchanged"
    );
    for key in ["pending/golden-1.0.0-9.json", "channels/golden/stable.json"] {
        assert!(
            runner::read_json(&report.moto.endpoint, key)
                .await
                .is_none(),
            "{key} was planted"
        );
    }
    let _ = std::fs::remove_file(planted);
}

/// `aws lambda invoke` of `function` with `payload` (a file) as `key`: (CLI output, response).
fn invoke_as(
    key: &str,
    report: &Report,
    function: &str,
    payload: &std::path::Path,
) -> (std::process::Output, Option<serde_json::Value>) {
    let out_file = std::env::temp_dir().join(format!(
        "invoke-{}-{}.json",
        std::process::id(),
        uuid_like()
    ));
    let out = aws_as(
        key,
        &report.lambda_endpoint,
        &[
            "lambda",
            "invoke",
            "--function-name",
            function,
            "--payload",
            &format!("fileb://{}", payload.display()),
            out_file.to_str().unwrap(),
        ],
    );
    let response = std::fs::read(&out_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let _ = std::fs::remove_file(out_file);
    (out, response)
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

/// The local Lambda answers the Invoke API under the local IAM, as Lambda does: the neighbour
/// (`lambda:InvokeFunction` on every function) reaches a handler with a sample event from
/// `events/`; a function's own role (no such grant) is refused; an unknown function is not found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_function_is_invoked_directly_should_lambda_authorize_and_answer_as_aws_does() {
    let report = published(scenario()).await;
    let sample = root().join("events/malformed-release-requested.json");
    let (out, response) = invoke_as(
        NEIGHBOUR_ACCESS_KEY,
        &report,
        "image-release-StartPipelineFunction",
        &sample,
    );
    assert!(out.status.success(), "{}", described(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"StatusCode\": 200"), "{text}");
    assert!(
        text.contains("Unhandled"),
        "a malformed event is the function's error: {text}"
    );
    let response = response.expect("the function's error as the response");
    assert_eq!(response["errorType"], "InvalidEvent", "{response}");

    let (out, _) = invoke_as(
        &runner::process::access_key("distribute-image"),
        &report,
        "image-release-StartPipelineFunction",
        &sample,
    );
    let text = described(&out);
    assert!(
        !out.status.success() && text.contains("AccessDeniedException"),
        "{text}"
    );
    let (out, _) = invoke_as(
        NEIGHBOUR_ACCESS_KEY,
        &report,
        "image-release-nothing",
        &sample,
    );
    let text = described(&out);
    assert!(
        !out.status.success() && text.contains("ResourceNotFoundException"),
        "{text}"
    );
    assert!(
        report
            .invocations
            .iter()
            .all(|i| !i.trigger.starts_with("direct")),
        "the report was taken before these invocations"
    );
}

/// The neighbour's own image: an Image Builder image of another team's pipeline, with its AMIs
/// in this account (us-east-1, eu-west-1). The stack must never touch them.
const THEIR_IMAGE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image/their-app/2.0.0/1";
const THEIR_AMI: &str = "ami-0feedfacecafe0001";
const THEIR_AMI_EU: &str = "ami-0feedfacecafe0002";
const THEIR_APPSTREAM: &str = "their-app-2";

fn seed_their_resources(emulator: &emulator::Emulator) {
    emulator.seed_image(
        THEIR_IMAGE,
        "AVAILABLE",
        Some("arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/their-app"),
        vec![
            ("us-east-1".into(), THEIR_AMI.into()),
            ("eu-west-1".into(), THEIR_AMI_EU.into()),
        ],
    );
    emulator.seed_appstream_image("eu-west-1", THEIR_APPSTREAM, "AVAILABLE");
}

/// Writes `value` at `key` past the bucket policy (moto's own endpoint): what a writer the policy
/// does not stop (an administrator's mistake, a leaked operator key) could plant.
fn plant(s3: &str, key: &str, value: &serde_json::Value) {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(runner::put_json(s3, key, value))
        .unwrap_or_else(|e| panic!("planting {key}: {e}"));
}

fn read(s3: &str, key: &str) -> Option<serde_json::Value> {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(runner::read_json(s3, key))
}

/// Lets publish-release's schedule tick a dozen times (every 200 ms here).
fn ticks() {
    std::thread::sleep(Duration::from_secs(3));
}

fn now() -> String {
    shared::release::timestamp(std::time::SystemTime::now())
}

/// A forged release `golden-1.0.0-8` whose manifest names the neighbour's AMIs and AppStream
/// image as if they were the release's.
fn forged_manifest() -> serde_json::Value {
    serde_json::json!({
        "schema_version": 2,
        "release_id": "golden-1.0.0-8",
        "version": "1.0.0",
        "build": 8,
        "pipeline_arn": "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden",
        "source_image_arn": "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/8",
        "distributed_image_arn": THEIR_IMAGE,
        "amis": [
            {"region": "us-east-1", "ami_id": THEIR_AMI, "account_id": "123456789012"},
            {"region": "eu-west-1", "ami_id": THEIR_AMI_EU, "account_id": "123456789012"}
        ],
        "artifacts": [],
        "appstream": [{"region": "eu-west-1", "image_name": THEIR_APPSTREAM,
                       "arn": format!("arn:aws:appstream:eu-west-1:123456789012:image/{THEIR_APPSTREAM}")}],
        "timestamps": {"distribution_requested_at": "2025-01-01T00:00:00Z",
                       "published_at": "2025-01-01T01:00:00Z"},
        "steps": []
    })
}

/// A planted channel record (and its marker) pointing `stable` at the neighbour's AMI under our
/// release's name: the next tick would put that AMI into the SSM parameter fleets launch from.
/// The mirror proves each AMI from Image Builder's answers first, and refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_channel_record_is_planted_should_no_parameter_name_a_foreign_ami() {
    let s = scenario();
    let (report, parameters) = attacked(s, |live| {
        seed_their_resources(&live.emulator);
        let record = serde_json::json!({
            "schema_version": 1, "image": "golden", "channel": "stable", "generation": 1,
            "release_id": ID, "amis": [{"region": "us-east-1", "ami_id": THEIR_AMI}],
            "moved_at": now(), "history": [],
            "seal": {"sequence": 99, "expires_at": "2099-01-01T00:00:00Z"}
        });
        plant(&live.s3, "channels/golden/stable.json", &record);
        plant(
            &live.s3,
            "pending-channels/golden/stable/00000000000000000001.json",
            &serde_json::json!({"release_id": ID, "generation": 1, "moved_at": now()}),
        );
        ticks();
        let parameters: Vec<Option<String>> = [
            "/image-release/golden/stable",
            "/image-release/image-release/us-east-1/golden/stable",
        ]
        .iter()
        .map(|name| live.emulator.parameter("us-east-1", name))
        .collect();
        let channels = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(runner::list_keys(&live.s3, "channels/golden/"));
        (parameters, channels)
    })
    .await;
    let (parameters, channels) = parameters;
    assert!(
        parameters.iter().all(|p| p.as_deref() != Some(THEIR_AMI)),
        "a planted channel put the neighbour's AMI into SSM: {parameters:?}"
    );
    // Its sequence (99) is higher than any signed, and still it is never signed.
    assert!(
        channels.contains(&"channels/golden/testing.json.sig".to_owned())
            && !channels.contains(&"channels/golden/stable.json.sig".to_owned()),
        "{channels:?}"
    );
    refused_as_security_event(&report, "publish-release", "mirroring golden/stable");
}

/// A second stack in the account with the same channel prefix (set explicitly) made
/// `<prefix>/golden/testing` first, tagged as its own. Our release is published into `testing`:
/// the mirror sees the parameter is not this stack's (ListTagsForResource) and writes no
/// parameter at all, logs a security event, and keeps the move pending for when the collision
/// is resolved. The other stack's parameter keeps its value and its owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_second_stack_owns_a_channel_parameter_should_the_stack_never_overwrite_it() {
    let mut s = scenario();
    let name = format!("{}/golden/testing", runner::PARAMETER_PREFIX);
    let theirs = name.clone();
    s.before_request = Some(runner::OnFailure(std::sync::Arc::new(move |live| {
        seed_their_resources(&live.emulator);
        let out = neighbour(
            &live.emulator.endpoint(),
            &[
                "ssm",
                "put-parameter",
                "--name",
                &theirs,
                "--type",
                "String",
                "--data-type",
                "aws:ec2:image",
                "--value",
                THEIR_AMI,
                "--tags",
                "Key=image-release:bucket,Value=their-stack-artifacts",
            ],
        );
        assert!(out.status.success(), "{}", described(&out));
    })));
    let name_after = name.clone();
    let (report, (parameters, owner, markers)) = attacked(s, move |live| {
        ticks();
        let parameters: Vec<Option<String>> = ["us-east-1", "eu-west-1"]
            .iter()
            .map(|region| live.emulator.parameter(region, &name_after))
            .collect();
        let owner =
            live.emulator
                .parameter_tag("us-east-1", &name_after, shared::channels::OWNER_TAG);
        let markers = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(runner::list_keys(&live.s3, "pending-channels/"));
        (parameters, owner, markers)
    })
    .await;
    assert_eq!(
        parameters,
        vec![Some(THEIR_AMI.to_owned()), None],
        "the other stack's parameter was overwritten, or ours written beside it"
    );
    assert_eq!(owner.as_deref(), Some("their-stack-artifacts"));
    assert_eq!(markers.len(), 1, "the move stays pending: {markers:?}");
    refused_as_security_event(
        &report,
        "publish-release",
        &format!("writing SSM parameter {name}"),
    );
}

/// AppStream `existing` mode takes the source image by the release's name, and release ids are
/// predictable: the neighbour copies its own image into the home region under that name before
/// the operator makes theirs (AWS CLI `appstream copy-image`). The step refuses a source that
/// was not made in an image builder (a copy, an import or a share has no `ImageBuilderName`):
/// the release fails at its AppStream step naming why, a security event is logged, and nothing
/// is copied in the release's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_neighbour_squats_the_appstream_source_name_should_nothing_be_copied() {
    let mut s = scenario();
    s.before_request = Some(runner::OnFailure(std::sync::Arc::new(move |live| {
        seed_their_resources(&live.emulator);
        let endpoint = live.emulator.endpoint();
        // The operator has not made the release's source yet (the local stack seeds it).
        let out = neighbour(
            &endpoint,
            &[
                "appstream",
                "delete-image",
                "--name",
                runner::SOURCE_APPSTREAM_IMAGE,
            ],
        );
        assert!(out.status.success(), "{}", described(&out));
        let out = neighbour(
            &endpoint,
            &[
                "appstream",
                "copy-image",
                "--region",
                "eu-west-1",
                "--source-image-name",
                THEIR_APPSTREAM,
                "--destination-image-name",
                runner::SOURCE_APPSTREAM_IMAGE,
                "--destination-region",
                "us-east-1",
            ],
        );
        assert!(out.status.success(), "{}", described(&out));
    })));
    let report = run(s).await.expect("local release");
    assert_eq!(report.state, "failed", "{:?}", report.status);
    let status = report.status.clone().unwrap_or_default().to_string();
    assert!(
        status.contains("not made in an image builder"),
        "the failure names the squat: {status}"
    );
    for region in ["eu-west-1", "ap-southeast-2"] {
        assert!(
            report
                .emulator
                .appstream_image(region, runner::SOURCE_APPSTREAM_IMAGE)
                .is_none(),
            "the squatted source was copied to {region}"
        );
    }
    let events = security_events(&report);
    assert!(
        events
            .iter()
            .any(|(_, refused, _)| refused.contains("copying golden-1.0.0-1")),
        "no security event refused the squatted source: {events:#?}"
    );
}

/// A planted revocation of a forged release (record, marker, manifest naming the neighbour's AMIs
/// and AppStream image, with --disable and --delete-appstream): the stack's roles may deprecate,
/// disable and delete account-wide, so only the proof stops them. Nothing of the neighbour's is
/// touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_revocation_is_planted_should_no_foreign_ami_or_appstream_image_be_touched() {
    let s = scenario();
    let (report, (amis, appstream)) = attacked(s, |live| {
        seed_their_resources(&live.emulator);
        plant(
            &live.s3,
            "releases/golden-1.0.0-8/manifest.json",
            &forged_manifest(),
        );
        plant(
            &live.s3,
            "state/golden-1.0.0-8/revocation.json",
            &serde_json::json!({
                "schema_version": 1, "release_id": "golden-1.0.0-8", "reason": "forged",
                "at": now(), "by": "arn:aws:iam::123456789012:role/neighbour",
                "disable": true, "delete_appstream": true, "purge": true
            }),
        );
        plant(
            &live.s3,
            "pending-revocations/golden-1.0.0-8.json",
            &serde_json::json!({"at": now()}),
        );
        ticks();
        let amis = [THEIR_AMI, THEIR_AMI_EU].map(|a| live.emulator.ami(a));
        let appstream = live.emulator.appstream_image("eu-west-1", THEIR_APPSTREAM);
        (amis, appstream.is_some())
    })
    .await;
    for ami in amis {
        let (state, deprecation) = ami.expect("the neighbour's AMI still exists");
        assert_eq!(state, "available", "the neighbour's AMI was disabled");
        assert_eq!(deprecation, None, "the neighbour's AMI was deprecated");
    }
    assert!(appstream, "the neighbour's AppStream image was deleted");
    refused_as_security_event(&report, "publish-release", "revoking golden-1.0.0-8");
}

/// A planted history entry (a forged release published long ago with the neighbour's AMIs) and a
/// retention policy that deletes at once: retention would deregister any AMI nothing references.
/// It deregisters only what it proves is the stack's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_history_entry_is_planted_should_retention_leave_foreign_amis_alone() {
    let mut s = scenario();
    for (k, v) in [
        ("RetentionKeepNewest", "0"),
        ("RetentionKeepChannelDays", "0"),
        ("RetentionDeprecateAfterDays", "0"),
        ("RetentionDeleteAfterDays", "0"),
        ("RetentionInterval", "1s"),
    ] {
        s.parameters.push((k.into(), v.into()));
    }
    let (report, (amis, appstream)) =
        attacked(s, |live| {
            seed_their_resources(&live.emulator);
            let index = read(&live.s3, "catalog/index.json").expect("the index");
            let page = index["images"]["golden"]["history"][0]["json"]
                .as_str()
                .expect("a history page")
                .to_owned();
            let mut history = read(&live.s3, &page).expect("the history page");
            let manifest = forged_manifest();
            history["releases"].as_array_mut().unwrap().push(serde_json::json!({
            "release_id": "golden-1.0.0-8", "image": "golden", "version": "1.0.0", "build": 8,
            "pipeline_arn": manifest["pipeline_arn"], "published_at": "2025-01-01T01:00:00Z",
            "manifest_url": "https://x/releases/golden-1.0.0-8/manifest.json",
            "amis": manifest["amis"], "artifacts": [], "appstream": manifest["appstream"]
        }));
            plant(&live.s3, &page, &history);
            plant(&live.s3, "releases/golden-1.0.0-8/manifest.json", &manifest);
            ticks();
            let amis = [THEIR_AMI, THEIR_AMI_EU].map(|a| live.emulator.ami(a));
            let appstream = live.emulator.appstream_image("eu-west-1", THEIR_APPSTREAM);
            (amis, appstream.is_some())
        })
        .await;
    for ami in amis {
        let (state, deprecation) = ami.expect("the neighbour's AMI was deregistered");
        assert_eq!(state, "available");
        assert_eq!(deprecation, None, "the neighbour's AMI was deprecated");
    }
    assert!(appstream, "the neighbour's AppStream image was deleted");
    refused_as_security_event(&report, "publish-release", "retiring golden-1.0.0-8");
}

/// The signing oracle: a forged release planted whole (its pending marker, a distribution record
/// naming an old distributed image of ours, a manifest, SHA256SUMS and a disk of the neighbour's
/// choosing). publish-release must never sign, tag, list or announce it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_release_is_planted_whole_should_nothing_be_signed_or_listed() {
    let s = scenario();
    let (report, (signed, latest)) = attacked(s, |live| {
        let ours = read(&live.s3, &format!("state/{ID}/distribution.json")).expect("ours");
        let id = "golden-1.0.0-7";
        plant(
            &live.s3,
            &format!("pending/{id}.json"),
            &serde_json::json!({"schema_version": 1, "release_id": id, "since": now()}),
        );
        let mut distribution = ours.clone();
        distribution["release_id"] = id.into();
        plant(
            &live.s3,
            &format!("state/{id}/distribution.json"),
            &distribution,
        );
        let mut manifest = forged_manifest();
        manifest["release_id"] = id.into();
        manifest["distributed_image_arn"] = ours["distributed_image_arn"].clone();
        plant(&live.s3, &format!("releases/{id}/manifest.json"), &manifest);
        ticks();
        let signature = aws_as(
            "AKIDLOCAL",
            &live.s3,
            &[
                "s3api",
                "head-object",
                "--bucket",
                runner::BUCKET,
                "--key",
                &format!("releases/{id}/manifest.json.sig"),
            ],
        );
        let latest = read(&live.s3, "catalog/latest.json");
        (signature.status.success(), latest)
    })
    .await;
    assert!(!signed, "the planted manifest was signed");
    let latest = latest.map(|l| l.to_string()).unwrap_or_default();
    assert!(!latest.contains("golden-1.0.0-7"), "listed: {latest}");
    let announced: Vec<_> = report
        .release_events
        .iter()
        .filter(|e| {
            e["detail"]["releaseId"] == "golden-1.0.0-7" && e["detail-type"] == "Release Published"
        })
        .collect();
    assert!(announced.is_empty(), "announced: {announced:?}");
    refused_as_security_event(&report, "publish-release", "publishing golden-1.0.0-7");
}

/// `aws lambda invoke` of `function` with `payload` as the neighbour, at the running stack's
/// Invoke API: the function's response (or error) as JSON.
fn invoke_live(lambda: &str, function: &str, payload: &serde_json::Value) -> serde_json::Value {
    let nonce = uuid_like();
    let input = std::env::temp_dir().join(format!("forged-{nonce}.json"));
    let output = std::env::temp_dir().join(format!("answer-{nonce}.json"));
    std::fs::write(&input, payload.to_string()).unwrap();
    let out = aws_as(
        NEIGHBOUR_ACCESS_KEY,
        lambda,
        &[
            "lambda",
            "invoke",
            "--function-name",
            function,
            "--payload",
            &format!("fileb://{}", input.display()),
            output.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", described(&out));
    let answer = std::fs::read(&output)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let _ = std::fs::remove_file(input);
    let _ = std::fs::remove_file(output);
    answer
}

fn sample(name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(root().join("events").join(name)).unwrap()).unwrap()
}

/// The neighbour invokes each function directly (no bus, no rule) with forged events: a build
/// of another team's pipeline, FAILED for our published release's build, AVAILABLE for its
/// distributed image. Each function takes the facts from AWS, so nothing changes that AWS's
/// state does not justify: no build started, no failure recorded, no export started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_functions_are_invoked_with_forged_events_should_nothing_change_without_aws_saying_so()
{
    let s = scenario();
    let (report, (before, after, answers, failure, status_before, status_after)) =
        attacked(s, |live| {
            let before = live.emulator.counts();
            let status_before = read(&live.s3, &format!("state/{ID}/status.json"));

            let mut request = sample("release-requested.json");
            request["detail"]["pipelineArn"] =
                "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/their-app".into();
            let started = invoke_live(
                &live.lambda,
                "image-release-StartPipelineFunction",
                &request,
            );

            let failed = sample("image-failed.json");
            let distributed = invoke_live(
                &live.lambda,
                "image-release-DistributeImageFunction",
                &failed,
            );

            let ours = read(&live.s3, &format!("state/{ID}/distribution.json")).expect("ours");
            let mut available = sample("image-available-distributed.json");
            available["resources"][0] = ours["distributed_image_arn"].clone();
            let exported = invoke_live(
                &live.lambda,
                "image-release-ExportImageFunction",
                &available,
            );

            ticks();
            let after = live.emulator.counts();
            let failure = read(&live.s3, &format!("state/{ID}/failure-build.json"));
            let status_after = read(&live.s3, &format!("state/{ID}/status.json"));
            (
                before,
                after,
                [started, distributed, exported],
                failure,
                status_before,
                status_after,
            )
        })
        .await;
    let [started, distributed, exported] = answers;
    assert_eq!(started["errorType"], "InvalidEvent", "{started}");
    assert!(
        started["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("detail.pipelineArn")),
        "{started}"
    );
    for effect in ["pipeline-execution", "export-task"] {
        assert_eq!(
            before.effects.get(effect),
            after.effects.get(effect),
            "{effect}: {before:?} → {after:?}"
        );
    }
    assert_eq!(failure, None, "a forged FAILED recorded a failure");
    assert_eq!(
        status_after.as_ref().map(|s| s["state"].clone()),
        status_before.as_ref().map(|s| s["state"].clone())
    );
    assert_ne!(distributed["action"], "recordedFailure", "{distributed}");
    assert_eq!(exported["action"], "skipped", "{exported}");
    let direct: Vec<_> = report
        .invocations
        .iter()
        .filter(|i| i.trigger.starts_with("direct invoke by neighbour"))
        .collect();
    assert_eq!(direct.len(), 3, "{direct:?}");
}
