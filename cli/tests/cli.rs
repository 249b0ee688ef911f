//! The CLI end to end: its real binary against a local release (moto's S3, the emulator's
//! EventBridge), through the SDK's standard endpoint variables. The signed URL is checked
//! against the AWS CLI's `aws cloudfront sign` (botocore's signer: an implementation nobody here
//! wrote) with the same key and expiry; RSA PKCS#1 v1.5 signatures are deterministic.
//! `tests/data/test-signing-key.pem` is a throw-away key made for this test only.

mod support;

use runner::{OnFailure, Report, run};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

/// `aws s3api put-object` of `body` at `key` in the local bucket: a write nobody here wrote.
fn put_object(report: &Report, key: &str, body: &std::path::Path) {
    aws(
        &report.moto.endpoint,
        &[
            "s3api",
            "put-object",
            "--bucket",
            runner::BUCKET,
            "--key",
            key,
            "--body",
            body.to_str().unwrap(),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_release_is_published_should_status_and_url_show_it() {
    let report = published().await;
    let s3 = report.s3_authorized.clone();

    let out = cli(&s3, &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("RELEASE") && stdout.contains(ID) && stdout.contains("published"),
        "{stdout}"
    );

    let out = local(&report, &["status", ID, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["state"], "published");

    // What AWS says now about each resource the records name.
    let out = local(&report, &["status", ID, "--live", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let live = status["live"].as_array().unwrap();
    let state_of = |step: &str| {
        live.iter()
            .filter(|l| l["step"] == step)
            .map(|l| l["state"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(state_of("build"), ["AVAILABLE"], "{live:?}");
    assert_eq!(state_of("distribution"), ["AVAILABLE"], "{live:?}");
    assert!(state_of("export")[0].starts_with("completed"), "{live:?}");
    assert!(
        !state_of("appstream").is_empty() && state_of("appstream").iter().all(|s| s == "AVAILABLE"),
        "{live:?}"
    );
    let out = local(&report, &["status", ID, "--live"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("AWS STATE NOW"),
        "{}",
        text(&out)
    );

    let manifest = report.manifest.as_ref().unwrap();
    let artifact_url = manifest["artifacts"][0]["url"].as_str().unwrap();
    let out = cli(&s3, &["url", ID]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), artifact_url);

    let out = cli(&s3, &["url", ID, "--format", "RAW"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "no RAW artifact: {}",
        text(&out)
    );
    inventory(
        "when_a_release_is_published_should_status_and_url_show_it",
        &report,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_signed_url_is_asked_should_match_the_aws_clis_cloudfront_sign() {
    let report = published().await;
    let s3 = report.s3_authorized.clone();
    let key = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/test-signing-key.pem");
    let key = key.to_str().unwrap();
    let out = cli(
        &s3,
        &[
            "url",
            ID,
            "--key-pair-id",
            "K2JCJMDEHXQW5F",
            "--private-key",
            key,
            "--expires-at",
            "2026-12-31T00:00:00Z",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ours = String::from_utf8_lossy(&out.stdout).trim().to_owned();

    let aws = aws_cli();
    let url = report.manifest.as_ref().unwrap()["artifacts"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let theirs = Command::new(aws)
        .args([
            "cloudfront",
            "sign",
            "--url",
            &url,
            "--key-pair-id",
            "K2JCJMDEHXQW5F",
            "--private-key",
            &format!("file://{key}"),
            "--date-less-than",
            "2026-12-31",
        ])
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "y")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("aws cloudfront sign (scripts/install-aws-clients.sh)");
    assert!(theirs.status.success(), "{}", text(&theirs));
    assert_eq!(ours, String::from_utf8_lossy(&theirs.stdout).trim());
    assert!(
        ours.starts_with(&format!("{url}?Expires=1798675200&Signature=")),
        "{ours}"
    );
    inventory(
        "when_a_signed_url_is_asked_should_match_the_aws_clis_cloudfront_sign",
        &report,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_release_failed_or_is_unknown_should_exit_1_naming_it() {
    let mut s = scenario();
    s.export_failure = Some("the role vmimport cannot write to the bucket".into());
    let report = run(s).await.expect("local release");
    assert_eq!(report.state, "failed");
    let s3 = report.s3_authorized.clone();

    let out = cli(&s3, &["status", ID]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("failed at export") && stdout.contains("cannot write"),
        "{stdout}"
    );

    let out = cli(&s3, &["status"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    let out = cli(&s3, &["status", "nothing-9.9.9-9"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("release nothing-9.9.9-9 does not exist in bucket"),
        "{}",
        text(&out)
    );

    let out = cli(&s3, &["url", ID]);
    assert_eq!(out.status.code(), Some(1), "not published: {}", text(&out));

    let out = cli(&s3, &["watch", ID, "--interval", "1s"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("failed: export failed"),
        "{}",
        text(&out)
    );
    inventory(
        "when_a_release_failed_or_is_unknown_should_exit_1_naming_it",
        &report,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_usage_or_configuration_is_wrong_should_exit_2_naming_it() {
    let out = cli("http://127.0.0.1:9", &["status", "Not A Release"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RELEASE"));
    let out = cli(
        "http://127.0.0.1:9",
        &[
            "request",
            "--event-bus",
            "image-release-releases",
            "--pipeline",
            "arn:nope",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pipeline"));
    let out = cli("http://127.0.0.1:9", &["url", ID, "--key-pair-id", "K1"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--private-key is required with it: {}",
        text(&out)
    );
    let mut no_bucket = Command::new(env!("CARGO_BIN_EXE_image-release"));
    let out = no_bucket
        .args(["status"])
        .env_remove("IMAGE_RELEASE_BUCKET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bucket"));
    // The channels' prefix is the stack's (its default names the stack): never guessed.
    for args in [
        &["promote", ID, "--to", "stable"][..],
        &["rollback", "--channel", "stable"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_image-release"))
            .args(args)
            .env("IMAGE_RELEASE_BUCKET", runner::BUCKET)
            .env_remove("IMAGE_RELEASE_PARAMETER_PREFIX")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--parameter-prefix") && stderr.contains("ChannelParameterPrefix"),
            "{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_release_is_requested_should_put_the_event_start_pipeline_takes() {
    let (emulator, mut events) = emulator::Emulator::start(emulator::Config::demo(), 0)
        .await
        .unwrap();
    let pipeline = "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden";
    let out = cli(
        &emulator.endpoint(),
        &[
            "request",
            "--event-bus",
            "image-release-releases",
            "--pipeline",
            pipeline,
            "--version",
            "2.0.0",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event["source"], "image-release");
    assert_eq!(event["detail-type"], "Release Requested");
    assert_eq!(event["detail"]["releaseVersion"], "2.0.0");
    assert_eq!(event["detail"]["pipelineArn"], pipeline);
    // start-pipeline's own parser accepts it.
    shared::events::ReleaseRequest::parse(&event).expect("a valid release request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_published_release_is_tampered_with_should_verify_name_every_mismatch() {
    let report = published().await;
    let out = local(&report, &["verify", ID, "--skip-urls"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    for check in ["AMI", "artifact", "AppStream", "signature"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(check) && l.ends_with("ok")),
            "{check}: {stdout}"
        );
    }
    // The signatures checked against the key pinned through KMS (GetPublicKey of the stack's
    // SigningKeyArn), not the bucket's copy of it.
    let signing_key = report.signing_keys[0].clone();
    let pinned = local(
        &report,
        &["verify", ID, "--skip-urls", "--signing-key", &signing_key],
    );
    assert_eq!(pinned.status.code(), Some(0), "{}", text(&pinned));
    let pinned = String::from_utf8_lossy(&pinned.stdout).to_string();
    assert_eq!(
        pinned
            .lines()
            .filter(|l| l.starts_with("signature") && l.contains("(KMS)") && l.ends_with("ok"))
            .count(),
        2,
        "SHA256SUMS and manifest.json: {pinned}"
    );
    // The catalog's documents and the channel's record too: signed with the same key,
    // sealed, not expired.
    for document in [
        "catalog/latest.json",
        "catalog/index.json",
        "channels/golden/testing.json",
    ] {
        assert!(
            pinned.lines().any(|l| l.starts_with("catalog")
                && l.contains(document)
                && l.contains("(KMS)")
                && l.ends_with("ok")),
            "{document}: {pinned}"
        );
    }
    // This machine has seen a newer latest.json than the bucket serves now: a replay of an
    // older (validly signed) catalog is refused.
    let state = std::env::temp_dir().join(format!(
        "image-release-state-{}",
        report
            .s3_authorized
            .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    ));
    std::fs::write(
        state.join(format!("seen-{}.json", runner::BUCKET)),
        r#"{"catalog/latest.json": 999}"#,
    )
    .unwrap();
    let replayed = local(
        &report,
        &["verify", ID, "--skip-urls", "--signing-key", &signing_key],
    );
    assert_eq!(replayed.status.code(), Some(1), "{}", text(&replayed));
    assert!(
        text(&replayed).contains("older than sequence 999 seen before"),
        "{}",
        text(&replayed)
    );
    std::fs::remove_dir_all(&state).ok();

    // Tamper with what was published, with the AWS CLI: an artifact rewritten (same size), an
    // AMI deregistered, an AppStream copy deleted.
    let manifest = report.manifest.clone().unwrap();
    let artifact = &manifest["artifacts"][0];
    let key = artifact["object_key"].as_str().unwrap();
    let size = artifact["size_bytes"].as_u64().unwrap();
    let forged = report.log_dir.join("forged.vmdk");
    std::fs::write(&forged, vec![b'x'; size as usize]).unwrap();
    put_object(&report, key, &forged);
    // SHA256SUMS rewritten to match a forged disk: its signature no longer verifies.
    let sums_key = format!("releases/{ID}/SHA256SUMS");
    let forged_sums = report.log_dir.join("forged-SHA256SUMS");
    std::fs::write(
        &forged_sums,
        format!("{}  {}\n", "0".repeat(64), key.rsplit('/').next().unwrap()),
    )
    .unwrap();
    put_object(&report, &sums_key, &forged_sums);
    let ami = manifest["amis"].as_array().unwrap().last().unwrap();
    let (ami_id, ami_region) = (
        ami["ami_id"].as_str().unwrap(),
        ami["region"].as_str().unwrap(),
    );
    let emulator = report.emulator.endpoint();
    aws(
        &emulator,
        &[
            "ec2",
            "deregister-image",
            "--image-id",
            ami_id,
            "--region",
            ami_region,
        ],
    );
    let copy = &manifest["appstream"][0];
    let (copy_name, copy_region) = (
        copy["image_name"].as_str().unwrap(),
        copy["region"].as_str().unwrap(),
    );
    aws(
        &emulator,
        &[
            "appstream",
            "delete-image",
            "--name",
            copy_name,
            "--region",
            copy_region,
        ],
    );

    let out = local(&report, &["verify", ID, "--skip-urls"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let line = |needle: &str| {
        stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle}: {stdout}"))
            .to_owned()
    };
    assert!(line(ami_id).contains("does not exist"), "{stdout}");
    assert!(line(key).contains("SHA-256 is"), "{stdout}");
    assert!(
        line(&format!("{copy_region} {copy_name}")).contains("does not exist"),
        "{stdout}"
    );
    assert!(
        line(&format!("{sums_key} (key")).contains("does not verify"),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("4 of"),
        "{}",
        text(&out)
    );

    let out = local(&report, &["verify", ID, "--skip-urls", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| !f["problem"].is_null())
            .count(),
        4
    );
    inventory(
        "when_a_published_release_is_tampered_with_should_verify_name_every_mismatch",
        &report,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_failed_release_is_retried_after_its_cause_is_removed_should_publish_doing_nothing_twice()
 {
    let mut s = scenario();
    s.export_stalls = true;
    s.parameters = vec![("DeadlineExport".into(), "3s".into())];
    let outputs = Arc::new(Mutex::new(Vec::new()));
    let seen = outputs.clone();
    s.on_failure = Some(OnFailure(Arc::new(move |live| {
        let (s3, emulator) = (live.s3_authorized, live.emulator);
        let endpoint = emulator.endpoint();
        // Not confirmed (no answer on stdin): nothing changes.
        let declined = cli_with(&s3, &endpoint, &["retry", ID]);
        let status = cli_with(&s3, &endpoint, &["status", ID]);
        // The cause goes away; the operator retries.
        emulator.set_export_stalls(false);
        let retried = cli_with(&s3, &endpoint, &["retry", ID, "--yes"]);
        // Followed until it ends (stderr is not a terminal here: one line per change).
        let watched = cli_with(
            &s3,
            &endpoint,
            &["watch", ID, "--interval", "1s", "--timeout", "60s"],
        );
        seen.lock()
            .unwrap()
            .extend([declined, status, retried, watched]);
    })));
    let report = run(s).await.expect("local release");
    let outputs = outputs.lock().unwrap();
    let [declined, status, retried, watched] = outputs.as_slice() else {
        panic!("the failure hook did not run: state {}", report.state);
    };
    assert_eq!(declined.status.code(), Some(1), "{}", text(declined));
    let shown = String::from_utf8_lossy(&declined.stdout);
    assert!(
        shown.contains("export failed at") && shown.contains("timed out"),
        "{shown}"
    );
    assert!(String::from_utf8_lossy(&declined.stderr).contains("not retried"));
    assert_eq!(
        status.status.code(),
        Some(1),
        "still failed: {}",
        text(status)
    );
    assert_eq!(retried.status.code(), Some(0), "{}", text(retried));
    assert!(String::from_utf8_lossy(&retried.stdout).contains("retried golden-1.0.0-1"));
    assert_eq!(watched.status.code(), Some(0), "{}", text(watched));
    let lines = String::from_utf8_lossy(&watched.stdout);
    assert!(
        lines
            .lines()
            .any(|l| l.contains("export") && l.contains("done"))
            && lines.trim_end().ends_with("golden-1.0.0-1: published"),
        "{lines}"
    );

    assert_eq!(
        report.state,
        "published",
        "logs {}",
        report.log_dir.display()
    );
    // The same export task was followed to its end: nothing was done twice.
    assert_eq!(report.counts.effect_count("export-task"), 1);
    assert_eq!(report.counts.effect_count("pipeline-execution"), 1);
    let out = local(&report, &["verify", ID, "--skip-urls"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = local(&report, &["retry", ID, "--yes"]);
    assert_eq!(out.status.code(), Some(1), "published: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to retry"));
    inventory(
        "when_a_failed_release_is_retried_after_its_cause_is_removed_should_publish_doing_nothing_twice",
        &report,
    );
}

/// A stand-in for the deployed stack in moto's CloudFormation: the parameters and outputs
/// `doctor --stack` reads (the real template's resources are not needed for that).
const STACK_TEMPLATE: &str = r#"{
  "Parameters": {
    "PipelineArn": { "Type": "String" },
    "DistributionConfigurationArn": { "Type": "String", "Default": "" },
    "RequiredSteps": { "Type": "String", "Default": "export,appstream" },
    "AppStreamDestinationRegions": { "Type": "String" },
    "AppStreamSourceMode": { "Type": "String", "Default": "existing" },
    "VmImportRoleName": { "Type": "String", "Default": "vmimport" }
  },
  "Resources": { "AlarmTopic": { "Type": "AWS::SNS::Topic" } },
  "Outputs": {
    "AlarmTopicArn": { "Value": { "Ref": "AlarmTopic" } },
    "ArtifactBucketName": { "Value": "image-release-artifacts" },
    "VmExportRoleName": { "Value": { "Ref": "VmImportRoleName" } }
  }
}"#;

/// The trust policy of the VM Import/Export user guide's "Required service role".
const VMIMPORT_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"vmie.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:Externalid":"vmimport"}}}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_deployment_is_checked_should_doctor_name_each_problem_with_its_fix() {
    let dir = std::env::temp_dir().join(format!("image-release-doctor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let moto =
        runner::process::Moto::start(&runner::process::Moto::executable(), &dir.join("moto.log"))
            .await
            .expect("moto");
    let (emulator, _events) = emulator::Emulator::start(emulator::Config::demo(), 0)
        .await
        .unwrap();
    let pipeline = emulator::Config::demo().pipeline_arn("golden");
    aws(
        &moto.endpoint,
        &[
            "cloudformation",
            "create-stack",
            "--stack-name",
            "image-release",
            "--template-body",
            STACK_TEMPLATE,
            "--parameters",
            &format!("ParameterKey=PipelineArn,ParameterValue={pipeline}"),
            "ParameterKey=AppStreamDestinationRegions,ParameterValue=eu-west-1\\,mars-north-1",
        ],
    );
    let doctor = |extra: &[&str]| {
        let mut args = vec!["doctor", "--stack", "image-release"];
        args.extend_from_slice(extra);
        let out = cli_with(&moto.endpoint, &emulator.endpoint(), &args);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        (out, stdout)
    };

    // The stack as deployed into an empty account: each problem named with its fix.
    let (out, stdout) = doctor(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    for line in [
        "ok    stack",
        "ok    pipeline",
        "ok    distribution",
        "ok    export region",
        "FAIL  VM Import role    vmimport cannot be read",
        "FAIL  bucket            image-release-artifacts is not a bucket of account",
        "FAIL  AppStream region  AppStream 2.0 is not offered in mars-north-1",
        "FAIL  alarm topic",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(line)),
            "{line}: {stdout}"
        );
    }
    assert!(
        stdout.contains("fix: deploy with CreateVmImportRole=true"),
        "{stdout}"
    );
    assert!(stdout.contains("has no subscription"), "{stdout}");

    // The operator fixes each with the AWS CLI; a flag overrides the stack's regions.
    aws(
        &moto.endpoint,
        &[
            "iam",
            "create-role",
            "--role-name",
            "vmimport",
            "--assume-role-policy-document",
            VMIMPORT_TRUST,
        ],
    );
    aws(
        &moto.endpoint,
        &["s3api", "create-bucket", "--bucket", runner::BUCKET],
    );
    let topic = "arn:aws:sns:us-east-1:123456789012:".to_owned();
    let (_, stdout) = doctor(&["--json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let topic = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|f| {
            let p = f["problem"].as_str()?;
            p.split_whitespace()
                .find(|w| w.starts_with(&topic))
                .map(str::to_owned)
        })
        .expect("the alarm topic is named");
    aws(
        &moto.endpoint,
        &[
            "sns",
            "subscribe",
            "--topic-arn",
            &topic,
            "--protocol",
            "email",
            "--notification-endpoint",
            "ops@example.com",
        ],
    );
    // 100 more (boto3, as an operator's script would): SNS answers 100 a page, and every
    // page is counted.
    let python = aws_cli().with_file_name("python");
    let subscribe = format!(
        "import boto3\n\
         sns = boto3.client('sns', endpoint_url='{}', region_name='us-east-1', \
         aws_access_key_id='AKIDLOCAL', aws_secret_access_key='local-secret')\n\
         for n in range(100): \
         sns.subscribe(TopicArn='{topic}', Protocol='email', Endpoint=f'ops{{n}}@example.com')\n",
        moto.endpoint
    );
    let out = Command::new(&python)
        .args(["-c", &subscribe])
        .output()
        .expect("the AWS clients' Python (scripts/install-aws-clients.sh)");
    assert!(out.status.success(), "boto3 subscribe: {}", text(&out));
    let (out, stdout) = doctor(&["--appstream-regions", "eu-west-1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout.lines().all(|l| l.starts_with("ok")), "{stdout}");
    assert!(
        stdout.contains("has 101 confirmed subscription(s)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("vmimport exists and trusts vmie.amazonaws.com"),
        "{stdout}"
    );

    // What cannot be reached is said so, never with a wrong fix: IAM and STS closed.
    let mut blind = command(
        runner::stack::OPERATORS[0].access_key,
        &moto.endpoint,
        &emulator.endpoint(),
        &[
            "doctor",
            "--stack",
            "image-release",
            "--appstream-regions",
            "eu-west-1",
        ],
    );
    let out = blind
        .env("AWS_ENDPOINT_URL_IAM", "http://127.0.0.1:9")
        .env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "?     VM Import role    could not check vmimport: IAM cannot be reached",
        "?     account           could not check these credentials' account: STS cannot be reached",
        "ok    bucket",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(line)),
            "{line}: {stdout}"
        );
    }
    assert!(
        !stdout.contains("CreateVmImportRole"),
        "a wrong fix: {stdout}"
    );
    // CloudFormation cannot be reached: said so, naming what could not be read.
    let out = command(
        runner::stack::OPERATORS[0].access_key,
        &moto.endpoint,
        &emulator.endpoint(),
        &["doctor", "--stack", "image-release"],
    )
    .env("AWS_ENDPOINT_URL_CLOUDFORMATION", "http://127.0.0.1:9")
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("CloudFormation cannot be reached")
            && text(&out).contains("VmExportRoleName"),
        "{}",
        text(&out)
    );

    // Without a pipeline there is nothing to check: a usage error.
    let out = cli_with(&moto.endpoint, &emulator.endpoint(), &["doctor"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    drop(moto);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An object of the local bucket, as text.
async fn object(report: &Report, key: &str) -> String {
    let url = report.object_url(key).await.unwrap();
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// Two releases of golden, published (the newer one into `testing`).
async fn two_published() -> (Report, String, String) {
    let mut s = scenario();
    s.releases = vec!["golden".into(), "golden".into()];
    s.timeout = Duration::from_secs(120);
    let report = run(s).await.expect("local releases");
    let mut ids: Vec<String> = report
        .releases
        .iter()
        .map(|(id, state)| {
            assert_eq!(
                state,
                "published",
                "{id}: logs {}",
                report.log_dir.display()
            );
            id.clone()
        })
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let (older, newer) = (ids[0].clone(), ids[1].clone());
    (report, older, newer)
}

/// The home-account AMI of `release` in each region, from its manifest.
/// A retention policy under which every release is due: only a channel or a reference keeps one.
const EVERYTHING_DUE: [&str; 6] = [
    "--keep-newest",
    "0",
    "--keep-channel-days",
    "0",
    "--delete-after-days",
    "0",
];

async fn amis_of(report: &Report, release: &str) -> Vec<(String, String)> {
    let manifest: serde_json::Value =
        serde_json::from_str(&object(report, &format!("releases/{release}/manifest.json")).await)
            .unwrap();
    manifest["amis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["region"].as_str().unwrap().to_owned(),
                a["ami_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every region's SSM parameter of golden's `channel` names `release`'s AMI there; latest.json
/// and the downloads page show the channel at it.
async fn assert_channel_at(report: &Report, channel: &str, release: &str) {
    let amis = amis_of(report, release).await;
    assert_eq!(amis.len(), 2, "{amis:?}");
    tokio::task::block_in_place(|| validated(&report.emulator));
    for (region, ami) in &amis {
        assert_eq!(
            report
                .emulator
                .parameter(
                    region,
                    &format!("{}/golden/{channel}", runner::PARAMETER_PREFIX)
                )
                .as_deref(),
            Some(ami.as_str()),
            "{channel} in {region}"
        );
    }
    let latest: serde_json::Value =
        serde_json::from_str(&object(report, "catalog/latest.json").await).unwrap();
    assert_eq!(
        latest["channels"]["golden"][channel]["release_id"], release,
        "{latest}"
    );
    let page = object(report, "index.html").await;
    assert!(
        page.contains(&format!(
            "<strong>{channel}</strong> → <a href=\"#{release}\">{release}</a>"
        )),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_release_is_promoted_then_rolled_back_should_move_every_ssm_parameter_and_the_page()
{
    let (report, older, newer) = two_published().await;
    // Publication put the newer release into testing, in both regions.
    assert_channel_at(&report, "testing", &newer).await;

    for release in [&older, &newer] {
        let out = local(
            &report,
            &["promote", release, "--to", "stable", "--reason", "soaked"],
        );
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("launch permissions"), "{}", text(&out));
        assert_channel_at(&report, "stable", release).await;
    }
    // Promoting again is done already: exit 0, saying so, having moved nothing.
    let out = local(&report, &["promote", &newer, "--to", "stable"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("already points at") && text(&out).contains("nothing to do"),
        "{}",
        text(&out)
    );

    let out = local(
        &report,
        &["rollback", "--channel", "stable", "--reason", "bad kernel"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{newer} → {older}")),
        "{}",
        text(&out)
    );
    assert_channel_at(&report, "stable", &older).await;
    // Nothing earlier to go back to (the newer one was rolled back from).
    let out = local(&report, &["rollback", "--channel", "stable"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no earlier release"), "{}", text(&out));

    // The history says who, when and why.
    let out = local(&report, &["--json", "channels", "golden"]);
    assert!(out.status.success(), "{}", text(&out));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stable = listed["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "stable")
        .unwrap();
    let actions: Vec<&str> = stable["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["promote", "promote", "rollback"], "{stable}");
    assert_eq!(stable["history"][2]["reason"], "bad kernel");
    assert_eq!(stable["generation"], 3);
    let out = local(&report, &["channels"]);
    assert!(text(&out).contains("MIRRORED"), "{}", text(&out));
    inventory(
        "when_a_release_is_promoted_then_rolled_back_should_move_every_ssm_parameter_and_the_page",
        &report,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_an_ami_is_unavailable_in_one_region_should_refuse_the_promotion_moving_nothing() {
    let report = published().await;
    let amis = amis_of(&report, ID).await;
    let (region, ami) = amis.iter().find(|(r, _)| r == "eu-west-1").unwrap().clone();
    report.emulator.set_ami_state(&ami, "pending");
    let out = local(&report, &["promote", ID, "--to", "stable"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains(&format!("{region} {ami}")), "{said}");
    assert!(said.contains("state is pending, not available"), "{said}");
    assert!(said.contains("golden/stable not moved"), "{said}");
    for (region, _) in &amis {
        assert_eq!(
            report.emulator.parameter(
                region,
                &format!("{}/golden/stable", runner::PARAMETER_PREFIX)
            ),
            None
        );
    }
    assert!(
        !local(&report, &["channels", "golden"])
            .stdout
            .windows(6)
            .any(|w| w == b"stable"),
        "no stable channel"
    );
    // A deprecated AMI is refused too, once available again.
    report.emulator.set_ami_state(&ami, "available");
    report
        .emulator
        .deprecate_ami(&ami, "2026-01-01T00:00:00.000Z");
    let out = local(&report, &["promote", ID, "--to", "stable"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("deprecated since 2026-01-01"),
        "{}",
        text(&out)
    );
    inventory(
        "when_an_ami_is_unavailable_in_one_region_should_refuse_the_promotion_moving_nothing",
        &report,
    );
}

/// The first AWS call of each surface a revocation reaches.
const REVOCATION_SURFACES: [&str; 5] = [
    "ssm:DeleteParameter",
    "ec2:EnableImageDeprecation",
    "ec2:DisableImage",
    "appstream:DeleteImage",
    "events:PutEvents",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_release_is_revoked_with_a_failure_at_each_surface_should_the_ticks_finish_it_and_verify_confirm()
 {
    let mut s = scenario();
    s.timeout = Duration::from_secs(120);
    let outputs = Arc::new(Mutex::new(Vec::new()));
    let seen = outputs.clone();
    s.on_published = Some(OnFailure(Arc::new(move |live| {
        let (s3, emulator) = (live.s3_authorized, live.emulator);
        let endpoint = emulator.endpoint();
        // Each surface's first AWS call fails for longer than one tick's retries: the tick
        // stops there, and a later one carries on from the surface it reached.
        for operation in REVOCATION_SURFACES {
            emulator.inject(
                operation,
                emulator::Fault {
                    kind: emulator::FaultKind::ServerError,
                    count: 4,
                    latency: Duration::ZERO,
                },
            );
        }
        let declined = cli_with(&s3, &endpoint, &["revoke", ID, "--reason", "CVE-2026-0001"]);
        let revoked = cli_with(
            &s3,
            &endpoint,
            &[
                "revoke",
                ID,
                "--reason",
                "CVE-2026-0001",
                "--disable",
                "--delete-appstream",
                "--yes",
            ],
        );
        let again = cli_with(
            &s3,
            &endpoint,
            &["revoke", ID, "--reason", "twice", "--yes"],
        );
        let first = cli_with(&s3, &endpoint, &["verify", ID, "--skip-urls"]);
        let last = verified_within(&s3, &endpoint, Duration::from_secs(90));
        seen.lock()
            .unwrap()
            .extend([declined, revoked, again, first, last]);
    })));
    let report = run(s).await.expect("local release");
    let outputs = std::mem::take(&mut *outputs.lock().unwrap());
    let [declined, revoked, again, first, last] = outputs.as_slice() else {
        panic!("the hook did not run: state {}", report.state);
    };
    assert_eq!(declined.status.code(), Some(1), "{}", text(declined));
    assert!(text(declined).contains("not revoked"), "{}", text(declined));
    assert!(revoked.status.success(), "{}", text(revoked));
    // Revoking again is done already (exit 0, saying so).
    assert_eq!(again.status.code(), Some(0), "{}", text(again));
    assert!(
        text(again).contains("was revoked at") && text(again).contains("nothing to do"),
        "{}",
        text(again)
    );
    // Recorded, not yet done: verify says what is left.
    assert_eq!(first.status.code(), Some(1), "{}", text(first));
    assert!(text(first).contains("not done yet"), "{}", text(first));
    assert!(last.status.success(), "revoked everywhere: {}", text(last));
    for check in [
        "revocation",
        "AMI revoked",
        "disk withdrawn",
        "catalog marks it",
        "channel moved",
        "AppStream deleted",
    ] {
        assert!(text(last).contains(check), "{check}: {}", text(last));
    }

    // What AWS shows, read independently of the CLI.
    for (region, ami) in amis_of(&report, ID).await {
        let (state, deprecation) = report.emulator.ami(&ami).expect("the AMI");
        assert_eq!(state, "disabled", "{region} {ami}");
        assert!(deprecation.is_some(), "{region} {ami} deprecated");
        assert_eq!(
            report.emulator.parameter(
                &region,
                &format!("{}/golden/testing", runner::PARAMETER_PREFIX)
            ),
            None,
            "the emptied channel's parameter in {region}"
        );
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&object(&report, &format!("releases/{ID}/manifest.json")).await)
            .unwrap();
    let copies = manifest["appstream"].as_array().unwrap();
    assert!(!copies.is_empty(), "{manifest}");
    for copy in copies {
        let region = copy["region"].as_str().unwrap();
        assert!(
            report
                .emulator
                .appstream_image(region, copy["image_name"].as_str().unwrap())
                .is_none(),
            "deleted in {region}"
        );
    }
    let page = object(&report, "index.html").await;
    assert!(
        page.contains("revoked") && page.contains("CVE-2026-0001"),
        "{page}"
    );
    let channel: serde_json::Value =
        serde_json::from_str(&object(&report, "channels/golden/testing.json").await).unwrap();
    assert!(channel["release_id"].is_null(), "{channel}");
    assert_eq!(report.counts.effect_count("deprecation"), 2);
    // Each surface's failure happened, in full: the ticks finished what it interrupted.
    for operation in REVOCATION_SURFACES {
        assert_eq!(
            report.counts.call_count(&format!("{operation}#fault")),
            4,
            "{operation}"
        );
    }
    inventory(
        "when_a_release_is_revoked_with_a_failure_at_each_surface_should_the_ticks_finish_it_and_verify_confirm",
        &report,
    );
}

/// A release that needs only some steps (`RequiredSteps=export`, `RequiredSteps=appstream`; the
/// default, both, is every other test here) still lists the AMIs the distribution made, so every
/// surface covers them: the channel's parameters name them, `verify` checks them, a revocation
/// deprecates them and empties the channel, and retention plans them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_release_needs_only_some_steps_should_channels_verify_revocation_and_retention_cover_its_amis()
 {
    for steps in ["export", "appstream"] {
        let mut s = scenario();
        s.timeout = Duration::from_secs(120);
        s.parameters
            .push(("RequiredSteps".to_owned(), steps.to_owned()));
        let outputs = Arc::new(Mutex::new(Vec::new()));
        let seen = outputs.clone();
        s.on_published = Some(OnFailure(Arc::new(move |live| {
            let (s3, emulator) = (live.s3_authorized, live.emulator);
            let endpoint = emulator.endpoint();
            let name = format!("{}/golden/testing", runner::PARAMETER_PREFIX);
            validated(&emulator);
            let parameters: Vec<Option<String>> = ["us-east-1", "eu-west-1"]
                .iter()
                .map(|region| emulator.parameter(region, &name))
                .collect();
            let verified = cli_with(&s3, &endpoint, &["verify", ID, "--skip-urls"]);
            let revoked = cli_with(
                &s3,
                &endpoint,
                &["revoke", ID, "--reason", "CVE-2026-0002", "--yes"],
            );
            let confirmed = verified_within(&s3, &endpoint, Duration::from_secs(60));
            seen.lock()
                .unwrap()
                .push((parameters, [verified, revoked, confirmed]));
        })));
        let report = run(s).await.expect("local release");
        let Some((parameters, [verified, revoked, confirmed])) = outputs.lock().unwrap().pop()
        else {
            panic!("{steps}: the hook did not run: state {}", report.state);
        };
        let amis = amis_of(&report, ID).await;
        let mut regions: Vec<&str> = amis.iter().map(|(r, _)| r.as_str()).collect();
        regions.sort();
        assert_eq!(regions, ["eu-west-1", "us-east-1"], "{steps}: {amis:?}");
        let named = |region: &str| {
            amis.iter()
                .find(|(r, _)| r == region)
                .map(|(_, a)| a.clone())
        };
        assert_eq!(
            parameters,
            vec![named("us-east-1"), named("eu-west-1")],
            "{steps}: the channel's parameters name the release's AMIs"
        );
        assert!(verified.status.success(), "{steps}: {}", text(&verified));
        for (region, ami) in &amis {
            assert!(
                text(&verified).contains(&format!("{region} {ami}")),
                "{steps}: verify checks {ami}: {}",
                text(&verified)
            );
        }
        assert!(revoked.status.success(), "{steps}: {}", text(&revoked));
        assert!(
            confirmed.status.success(),
            "{steps}: revoked everywhere: {}",
            text(&confirmed)
        );
        for (region, ami) in &amis {
            let (_, deprecation) = report.emulator.ami(ami).expect("the AMI");
            assert!(deprecation.is_some(), "{steps}: {region} {ami} deprecated");
            assert_eq!(
                report.emulator.parameter(
                    region,
                    &format!("{}/golden/testing", runner::PARAMETER_PREFIX)
                ),
                None,
                "{steps}: the emptied channel's parameter in {region}"
            );
        }
        let plan = local(
            &report,
            &[&["--json", "retention", "plan"][..], &EVERYTHING_DUE[..]].concat(),
        );
        assert!(plan.status.success(), "{steps}: {}", text(&plan));
        let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
        let entry = plan["releases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["release_id"] == ID)
            .unwrap_or_else(|| panic!("{steps}: {plan}"))
            .clone();
        for (_, ami) in &amis {
            assert!(
                entry["amis"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["ami_id"] == ami.as_str()),
                "{steps}: retention plans {ami}: {entry}"
            );
        }
        inventory(&format!("required_steps_{steps}"), &report);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_retention_is_applied_should_keep_an_ami_a_launch_template_uses_and_delete_an_unused_one_with_its_snapshots()
 {
    let (report, older, newer) = two_published().await;
    let amis = amis_of(&report, &older).await;
    let used = amis
        .iter()
        .find(|(r, _)| r == "us-east-1")
        .unwrap()
        .1
        .clone();
    let unused = amis
        .iter()
        .find(|(r, _)| r == "eu-west-1")
        .unwrap()
        .1
        .clone();
    let snapshot = |ami: &str| format!("snap-{}", &ami[4..]);
    report.emulator.add_image_reference(
        &used,
        "ec2:LaunchTemplate",
        "arn:aws:ec2:us-east-1:123456789012:launch-template/lt-0abcd1234efgh5678",
    );
    // Everything is due; only the channel (testing → the newer one) and the reference protect.
    let policy = EVERYTHING_DUE;
    let plan = local(
        &report,
        &[&["--json", "retention", "plan"][..], &policy[..]].concat(),
    );
    assert!(plan.status.success(), "{}", text(&plan));
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let releases = plan["releases"].as_array().unwrap();
    let of = |id: &str| {
        releases
            .iter()
            .find(|r| r["release_id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(of(&newer)["action"], "keep", "{plan}");
    assert!(
        of(&newer)["why"]
            .as_str()
            .unwrap()
            .contains("channel testing"),
        "{plan}"
    );
    let doomed = of(&older);
    assert_eq!(doomed["action"], "delete", "{plan}");
    let outcome = |ami: &str| {
        doomed["amis"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["ami_id"] == ami)
            .unwrap()
            .clone()
    };
    assert_eq!(outcome(&used)["outcome"], "in_use", "{doomed}");
    assert_eq!(
        outcome(&used)["references"][0]["resource_type"],
        "ec2:LaunchTemplate"
    );
    assert_eq!(outcome(&unused)["outcome"], "deregister", "{doomed}");
    assert_eq!(outcome(&unused)["snapshots_gib"], 8, "{doomed}");
    assert!(
        !doomed["objects"].as_array().unwrap().is_empty(),
        "{doomed}"
    );
    assert!(
        doomed["saves_usd_per_month"].as_f64().unwrap() > 0.0,
        "{doomed}"
    );
    // The table for people says why and what it saves.
    let shown = local(&report, &[&["retention", "plan"][..], &policy[..]].concat());
    assert!(
        text(&shown).contains("keep: used by ec2:LaunchTemplate"),
        "{}",
        text(&shown)
    );
    assert!(
        text(&shown).contains("a month saved at list prices"),
        "{}",
        text(&shown)
    );
    // A plan changes nothing.
    assert!(report.emulator.ami(&unused).is_some());

    let applied = local(
        &report,
        &[&["retention", "apply", "--yes"][..], &policy[..]].concat(),
    );
    assert!(applied.status.success(), "{}", text(&applied));
    assert!(report.emulator.ami(&unused).is_none(), "deregistered");
    assert!(
        !report.emulator.snapshot_exists(&snapshot(&unused)),
        "its snapshot deleted"
    );
    assert!(
        report.emulator.ami(&used).is_some(),
        "kept: a launch template uses it"
    );
    assert!(report.emulator.snapshot_exists(&snapshot(&used)));
    for (_, ami) in amis_of(&report, &newer).await {
        assert!(
            report.emulator.ami(&ami).is_some(),
            "the newer release is kept"
        );
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&object(&report, &format!("releases/{older}/manifest.json")).await)
            .unwrap();
    let disk = manifest["artifacts"][0]["object_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = reqwest::get(report.object_url(&disk).await.unwrap())
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 404, "{disk} deleted");
    let page = object(&report, "index.html").await;
    assert!(page.contains("deleted by the retention policy"), "{page}");

    // Again: idempotent; the AMI in use is looked at again and still kept.
    let again = local(
        &report,
        &[&["retention", "apply", "--yes"][..], &policy[..]].concat(),
    );
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("0 deregistered"), "{}", text(&again));
    assert!(report.emulator.ami(&used).is_some());
    inventory(
        "when_retention_is_applied_should_keep_an_ami_a_launch_template_uses_and_delete_an_unused_one_with_its_snapshots",
        &report,
    );
}

/// The operator policies are what the commands run under: a reader (OperatorReadOnlyPolicy
/// alone) may look but not move a channel or revoke; a revoker may revoke but not
/// promote. Each refusal is the local IAM's, naming the action, and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_an_operator_runs_a_command_beyond_its_policy_should_aws_refuse_it() {
    use runner::stack::OPERATORS;
    let report = published().await;
    let (s3, emulator) = (&report.s3_authorized, report.emulator.endpoint());
    let [reader, _, revoker, _] = OPERATORS.map(|o| o.access_key);
    let looked = cli_as(reader, s3, &emulator, &["verify", ID, "--skip-urls"]);
    assert_eq!(looked.status.code(), Some(0), "{}", text(&looked));
    for (key, args, action) in [
        (
            reader,
            &["promote", ID, "--to", "stable"][..],
            "s3:PutObject",
        ),
        (
            reader,
            &["revoke", ID, "--reason", "x", "--yes"][..],
            "s3:PutObject",
        ),
        (
            revoker,
            &["promote", ID, "--to", "stable"][..],
            "s3:PutObject",
        ),
    ] {
        let out = cli_as(key, s3, &emulator, args);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains(action) && text(&out).contains("AccessDenied"),
            "{args:?}: {}",
            text(&out)
        );
    }
    let channels = local(&report, &["--json", "channels", "golden"]);
    assert!(
        !String::from_utf8_lossy(&channels.stdout).contains("\"stable\""),
        "a refused promotion moved nothing: {}",
        text(&channels)
    );
    let status = local(&report, &["status", ID, "--json"]);
    assert!(
        !String::from_utf8_lossy(&status.stdout).contains("revoked"),
        "a refused revocation recorded nothing: {}",
        text(&status)
    );
    inventory(
        "when_an_operator_runs_a_command_beyond_its_policy_should_aws_refuse_it",
        &report,
    );
}
