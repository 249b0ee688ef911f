//! End-to-end: complete releases through the real function binaries, the local Runtime API, HTTP
//! to the emulator and to moto. Needs the binaries (`cargo build --workspace --bins --tests`) and
//! moto (`scripts/install-moto.sh`); `scripts/test.sh` does both.

use emulator::{Fault, FaultKind};
use release_tests::root;
use runner::{Report, Scenario, run};
use std::time::Duration;

const REGIONS: [&str; 2] = ["eu-west-1", "ap-southeast-2"];

fn scenario() -> Scenario {
    let mut s = Scenario::new(&root());
    s.step = Duration::from_millis(150);
    s.publish_interval = Duration::from_millis(200);
    s.timeout = Duration::from_secs(60);
    s.progress = false;
    // Two ranged GETs of 8 MiB for the hash.
    s.export_size = Some(9 * 1024 * 1024 + 123);
    s
}

/// `sha256sum` (coreutils), not our code, on the downloaded files.
fn sha256sum(args: &[&str], dir: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("sha256sum");
    assert!(
        out.status.success(),
        "sha256sum {args:?}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `openssl dgst -sha256 -verify <key> -signature <file>.sig <file>` in `dir`: a client nobody
/// here wrote checks the signature with the public key as published.
fn openssl_verifies(dir: &std::path::Path, key: &str, file: &str) -> Result<(), String> {
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", key, "-signature"])
        .arg(format!("{file}.sig"))
        .arg(file)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("openssl: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && text.contains("Verified OK") {
        Ok(())
    } else {
        Err(text)
    }
}

async fn release(s: Scenario) -> Report {
    run(s)
        .await
        .unwrap_or_else(|e| panic!("the local release could not run: {e:#}"))
}

fn explain(report: &Report) -> String {
    let lines: Vec<String> = report
        .invocations
        .iter()
        .map(|i| {
            format!(
                "{} ← {} (attempt {}) → {:?}",
                i.function, i.trigger, i.attempt, i.outcome
            )
        })
        .collect();
    format!(
        "state {} status {:?}\ncounts {:?}\nlogs {}\n{}",
        report.state,
        report.status,
        report.counts,
        report.log_dir.display(),
        lines.join("\n")
    )
}

/// The published release is complete and every side effect happened exactly once.
fn assert_published_once(report: &Report) {
    let why = explain(report);
    assert_eq!(report.state, "published", "{why}");
    let id = report.release_id.as_deref().unwrap();
    assert_eq!(id, "golden-1.0.0-1");

    // Every alarm of the stack was judged by the run (none is "quiet" for want of counting).
    if let Err(unjudged) = report.fired() {
        panic!("{unjudged}\n{why}");
    }
    let manifest = report.manifest.as_ref().expect("manifest.json");
    assert_eq!(manifest["schema_version"], 2);
    assert_eq!(
        release_tests::manifest_violations(manifest),
        Vec::<String>::new()
    );
    assert_eq!(manifest["version"], "1.0.0");
    assert_eq!(manifest["build"], 1);
    // The SHA-256 is what sha256sum computes from the downloaded bytes, and SHA256SUMS checks.
    let file = report.downloaded[0].file_name().unwrap().to_str().unwrap();
    let independent = sha256sum(&[file], &report.log_dir);
    assert_eq!(
        independent.split_whitespace().next(),
        manifest["export"]["sha256"].as_str(),
        "{why}"
    );
    assert_eq!(
        sha256sum(&["-c", "--strict", "SHA256SUMS"], &report.log_dir).trim(),
        format!("{file}: OK")
    );
    // Signed with it: the release it belongs to (a replayed older SHA256SUMS says its own).
    let sums = std::fs::read_to_string(report.log_dir.join("SHA256SUMS")).unwrap();
    assert_eq!(
        sums.lines().next(),
        Some(format!("# release {id}").as_str())
    );
    // SHA256SUMS and the manifest carry KMS signatures that openssl verifies with the public
    // key the catalog serves; a changed byte fails.
    for signed in ["SHA256SUMS", "manifest.json"] {
        openssl_verifies(&report.log_dir, "signing-key.pem", signed)
            .unwrap_or_else(|e| panic!("{signed}: {e}\n{why}"));
    }
    let tampered = report.log_dir.join("SHA256SUMS.tampered");
    let mut sums = std::fs::read(report.log_dir.join("SHA256SUMS")).unwrap();
    sums[0] = if sums[0] == b'0' { b'1' } else { b'0' };
    std::fs::write(&tampered, sums).unwrap();
    std::fs::copy(
        report.log_dir.join("SHA256SUMS.sig"),
        report.log_dir.join("SHA256SUMS.tampered.sig"),
    )
    .unwrap();
    assert!(openssl_verifies(&report.log_dir, "signing-key.pem", "SHA256SUMS.tampered").is_err());
    // The catalog's latest.json is signed the same way, with its freshness (a sequence that only
    // grows, an expiry) inside what is signed.
    for file in ["latest.json", "latest.json.sig"] {
        let (endpoint, key) = (report.moto.endpoint.clone(), format!("catalog/{file}"));
        let bytes = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(runner::read_bytes(&endpoint, &key))
        })
        .join()
        .unwrap()
        .unwrap_or_else(|| panic!("catalog/{file}\n{why}"));
        std::fs::write(report.log_dir.join(file), bytes).unwrap();
    }
    openssl_verifies(&report.log_dir, "signing-key.pem", "latest.json")
        .unwrap_or_else(|e| panic!("latest.json: {e}\n{why}"));
    let seal = &report.latest.as_ref().expect("latest.json")["seal"];
    assert!(seal["sequence"].as_u64().is_some_and(|s| s >= 1), "{seal}");
    assert!(seal["expires_at"].as_str().is_some(), "{seal}");
    assert_eq!(manifest["artifacts"][0], manifest["export"]);
    let index = report.index.as_ref().expect("catalog/index.json");
    assert_eq!(index["images"]["golden"]["recent"][0]["release_id"], id);
    assert_eq!(report.history.len(), 1, "one history page");
    assert_eq!(report.history[0]["releases"][0]["release_id"], id);
    let latest = report.latest.as_ref().expect("catalog/latest.json");
    assert_eq!(latest["images"]["golden"]["release_id"], id);
    // Release Published on the bus (at least once), never Release Failed.
    let published: Vec<_> = report
        .release_events
        .iter()
        .filter(|e| e["detail-type"] == "Release Published")
        .collect();
    assert!(!published.is_empty(), "{why}");
    assert_eq!(published[0]["detail"]["releaseId"], id);
    assert_eq!(
        published[0]["detail"]["manifestUrl"].as_str(),
        report.manifest_url.as_deref()
    );
    assert!(
        report
            .release_events
            .iter()
            .all(|e| e["detail-type"] != "Release Failed")
    );
    let page = report.downloads_page.as_deref().expect("index.html");
    assert!(page.contains(manifest["export"]["sha256"].as_str().unwrap()));
    assert_eq!(manifest["release_id"], id);
    assert_eq!(
        manifest["source_image_arn"],
        "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1"
    );
    assert_eq!(
        manifest["distributed_image_arn"],
        "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/2"
    );
    let ami_regions: Vec<&str> = manifest["amis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["region"].as_str().unwrap())
        .collect();
    assert_eq!(ami_regions, ["us-east-1", "eu-west-1"]);
    let key = manifest["export"]["object_key"].as_str().unwrap();
    assert!(
        key.starts_with("releases/golden-1.0.0-1/export-ami-") && key.ends_with(".vmdk"),
        "{key}"
    );
    assert_eq!(manifest["export"]["format"], "VMDK");
    assert!(manifest["export"]["url"].as_str().unwrap().ends_with(key));
    let (object_key, size) = report
        .export_object
        .clone()
        .expect("the exported object in S3");
    assert_eq!(object_key, key);
    assert_eq!(manifest["export"]["size_bytes"].as_i64(), Some(size));
    let copies: Vec<&str> = manifest["appstream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["region"].as_str().unwrap())
        .collect();
    assert_eq!(copies, ["ap-southeast-2", "eu-west-1"]);

    assert!(
        report.invalidations.is_empty(),
        "nothing CloudFront caches changed: {:?}",
        report.invalidations
    );
    for (region, image) in &report.appstream {
        let emulator::AppStreamView { state, tags } = image
            .clone()
            .unwrap_or_else(|| panic!("no AppStream copy in {region}"));
        assert_eq!(state, "AVAILABLE", "{region}");
        assert!(
            tags.contains(&("team".to_owned(), "platform".to_owned())),
            "source tags applied to the copy in {region}: {tags:?}"
        );
    }

    let effects = &report.counts;
    assert_eq!(effects.effect_count("pipeline-execution"), 1, "{why}");
    assert_eq!(effects.effect_count("distribution"), 1, "{why}");
    assert_eq!(effects.effect_count("export-task"), 1, "{why}");
    for region in REGIONS {
        assert_eq!(
            effects.effect_count(&format!("appstream-copy:{region}")),
            1,
            "{region}: {why}"
        );
        let arn = format!("arn:aws:appstream:{region}:123456789012:image/{id}");
        assert_eq!(
            effects.effect_count(&format!("tag:{arn}")),
            1,
            "tags applied once in {region}: {why}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_release_is_requested_should_publish_a_complete_manifest_with_every_effect_once() {
    assert_published_once(&release(scenario()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_event_is_delivered_twice_and_shuffled_should_publish_the_same_release_once() {
    let mut s = scenario();
    s.duplicate_events = true;
    s.jitter = Some(Duration::from_millis(250));
    s.seed = 42;
    let report = release(s).await;
    assert_published_once(&report);
    // Every function really did receive duplicates.
    let distributions = report
        .invocations
        .iter()
        .filter(|i| i.function == "distribute-image" && i.trigger.ends_with("/1 AVAILABLE"))
        .count();
    assert!(distributions >= 2, "{}", explain(&report));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_distributeimage_tags_or_pipeline_arn_behave_either_way_should_distribute_once() {
    // Whether the image DistributeImage creates keeps sourcePipelineArn is not documented (the
    // newest model says the field is "only present for images that a pipeline execution
    // created"): the loop guard must hold either way (the default, not kept, is covered by the
    // test above). Where its tags land is documented now (DistributeImage's API reference:
    // "tags: The tags to apply to the distributed image"), and the proof of a release reads
    // them there: tags on the AMIs only is no longer a behaviour to support.
    for (tags_on_amis_only, keeps_pipeline_arn) in [(false, true)] {
        let mut s = scenario();
        s.distribution_tags_on_amis_only = tags_on_amis_only;
        s.distribution_keeps_pipeline_arn = keeps_pipeline_arn;
        let report = release(s).await;
        let skipped_by_record = report.invocations.iter().any(|i| {
            i.function == "distribute-image"
                && matches!(&i.outcome, runner::runtime_api::Outcome::Response(v)
                    if v["reason"].as_str().is_some_and(|r| r.contains("distribution output record")))
        });
        assert!(
            skipped_by_record,
            "tags on AMIs only {tags_on_amis_only}, pipeline ARN kept {keeps_pipeline_arn}\n{}",
            explain(&report)
        );
        assert_published_once(&report);
    }
}

/// Every operation the functions call, each failing in turn.
const OPERATIONS: [&str; 9] = [
    "imagebuilder:StartImagePipelineExecution",
    "imagebuilder:GetImage",
    "imagebuilder:DistributeImage",
    "ec2:ExportImage",
    "ec2:DescribeExportImageTasks",
    "appstream:DescribeImages",
    "appstream:CopyImage",
    "appstream:ListTagsForResource",
    "appstream:TagResource",
];

async fn each_operation_failing(kind: FaultKind, count: u32) {
    for operation in OPERATIONS {
        let mut s = scenario();
        s.faults = vec![(operation.to_owned(), Fault::errors(kind, count))];
        let report = release(s).await;
        assert_published_once(&report);
        assert!(
            report.counts.call_count(&format!("{operation}#fault")) >= 1,
            "{operation}: the fault never fired\n{}",
            explain(&report)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_each_operation_is_throttled_in_turn_should_still_publish_once() {
    each_operation_failing(FaultKind::Throttle, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_each_operation_answers_5xx_in_turn_should_still_publish_once() {
    each_operation_failing(FaultKind::ServerError, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_pipeline_fails_should_record_the_build_failure_with_its_reason() {
    let mut s = scenario();
    s.build_failure = Some("Image testing failed: reboot test timed out".into());
    let report = release(s).await;
    assert_eq!(report.state, "failed", "{}", explain(&report));
    let (step, reason) = report.failure().unwrap();
    assert_eq!(step, "build");
    assert!(reason.contains("reboot test timed out"), "{reason}");
    assert_eq!(report.counts.effect_count("distribution"), 0);
    assert!(report.manifest.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_export_task_is_deleted_should_fail_the_release_at_export() {
    let mut s = scenario();
    s.export_failure =
        Some("ExportImage failed: the role vmimport cannot write to the bucket".into());
    let report = release(s).await;
    assert_eq!(report.state, "failed", "{}", explain(&report));
    let (step, reason) = report.failure().unwrap();
    assert_eq!(step, "export");
    assert!(reason.contains("cannot write to the bucket"), "{reason}");
    assert!(report.invalidations.is_empty());
    // Other teams' automation hears of it on the bus.
    let failed: Vec<_> = report
        .release_events
        .iter()
        .filter(|e| e["detail-type"] == "Release Failed")
        .collect();
    assert!(
        !failed.is_empty(),
        "a Release Failed event: {:?}",
        report.release_events
    );
    assert_eq!(failed[0]["source"], "image-release");
    assert_eq!(failed[0]["detail"]["releaseId"], "golden-1.0.0-1");
    assert_eq!(failed[0]["detail"]["failedStep"], "export");
    assert_routine_failure(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_malformed_request_arrives_should_lambda_retry_it_twice_then_dead_letter_and_alarm()
{
    let mut s = scenario();
    s.extra_events.push(
        serde_json::from_str(include_str!(
            "../../events/malformed-release-requested.json"
        ))
        .unwrap(),
    );
    let report = release(s).await;
    // The valid request publishes; the malformed one is a function error Lambda retries.
    assert_eq!(report.state, "published", "{}", explain(&report));
    let attempts: Vec<_> = report
        .invocations
        .iter()
        .filter(|i| matches!(&i.outcome, runner::runtime_api::Outcome::Error { error_type, .. } if error_type == "InvalidEvent"))
        .collect();
    assert_eq!(attempts.len(), 3, "{}", explain(&report));
    assert_eq!(report.dead_letters.len(), 1, "{:?}", report.dead_letters);
    let dead = &report.dead_letters[0];
    assert_eq!(dead.function, "start-pipeline");
    assert!(dead.error.contains("detail.pipelineArn"), "{}", dead.error);
    assert!(
        dead.delivered_to.iter().all(|d| d.sent_to().is_some()),
        "the role may send there: {:?}",
        dead.delivered_to
    );
    let mut fired = report.fired().unwrap();
    fired.sort();
    assert_eq!(
        fired,
        ["DeadLetterAlarm", "FunctionErrorsAlarm"],
        "{:?}",
        report.alarms
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_destination_region_has_no_appstream_should_fail_init_naming_the_variable_and_region()
 {
    // us-west-1 is a real region that does not offer AppStream 2.0 (botocore's endpoint data).
    let mut s = scenario();
    s.destination_regions = vec!["eu-west-1".into(), "us-west-1".into()];
    let report = release(s).await;
    assert_eq!(report.state, "init-failed", "{}", explain(&report));
    let functions: Vec<&str> = report.init_errors.iter().map(|(f, _)| f.as_str()).collect();
    assert!(functions.contains(&"copy-appstream-image"), "{functions:?}");
    for (function, error) in &report.init_errors {
        assert!(
            error.starts_with(
                "InvalidConfiguration: environment variable APPSTREAM_DESTINATION_REGIONS"
            ) && error.contains("offers AppStream 2.0")
                && error.contains("us-west-1"),
            "{function}: {error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_ami_cannot_be_exported_should_fail_at_export_at_once_naming_the_fix() {
    for (encrypted, windows, cause, fix) in [
        (true, false, "encrypted EBS snapshots", "kmsKeyId"),
        (
            false,
            true,
            "third-party software (Windows)",
            "without export",
        ),
    ] {
        let mut s = scenario();
        s.amis_encrypted = encrypted;
        s.amis_windows = windows;
        let report = release(s).await;
        assert_eq!(report.state, "failed", "{}", explain(&report));
        let (step, reason) = report.failure().unwrap();
        assert_eq!(step, "export");
        assert!(reason.contains(cause) && reason.contains(fix), "{reason}");
        assert_eq!(
            report.counts.effect_count("export-task"),
            0,
            "checked before ExportImage"
        );
        let export_attempts = report
            .invocations
            .iter()
            .filter(|i| i.function == "export-image" && i.trigger.ends_with("/2 AVAILABLE"))
            .count();
        assert_eq!(
            export_attempts,
            1,
            "failed in one invocation\n{}",
            explain(&report)
        );
        assert_routine_failure(&report);
    }
}

/// What a routine release failure looks like to an operator under Lambda's real retry
/// semantics: one ReleaseFailedAlarm and one `Release Failed` event; no function error (Lambda
/// would retry it twice), nothing in the on-failure destination, no other alarm.
fn assert_routine_failure(report: &Report) {
    let why = explain(report);
    assert!(
        report.dead_letters.is_empty(),
        "{:?}\n{why}",
        report.dead_letters
    );
    assert!(
        report
            .invocations
            .iter()
            .all(|i| matches!(i.outcome, runner::runtime_api::Outcome::Response(_))),
        "no function error\n{why}"
    );
    assert_eq!(
        report.fired().unwrap(),
        ["ReleaseFailedAlarm"],
        "{:?}",
        report.alarms
    );
    let failed = report
        .release_events
        .iter()
        .filter(|e| e["detail-type"] == "Release Failed")
        .count();
    assert_eq!(failed, 1, "{:?}", report.release_events);
}

fn import_mode(s: &mut Scenario) {
    for (k, v) in [
        ("AppStreamSourceMode", "import"),
        (
            "AppStreamImportRoleArn",
            "arn:aws:iam::123456789012:role/AppStreamImport",
        ),
        ("RequiredSteps", "appstream"),
        // The imported image is named after the release; the seeded source must not exist.
        ("AppStreamImageName", "imported-{release}"),
    ] {
        s.parameters.push((k.to_owned(), v.to_owned()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_import_mode_gets_a_windows_ami_should_import_and_publish_appstream_only() {
    let mut s = scenario();
    import_mode(&mut s);
    s.amis_windows = true;
    let report = release(s).await;
    assert_eq!(report.state, "published", "{}", explain(&report));
    assert_eq!(
        report.counts.effect_count("appstream-import"),
        1,
        "{}",
        explain(&report)
    );
    assert_eq!(report.counts.effect_count("export-task"), 0);
    let manifest = report.manifest.as_ref().unwrap();
    assert!(manifest.get("export").is_none(), "{manifest}");
    assert_eq!(manifest["appstream"].as_array().unwrap().len(), 2);
    // A release without disks is a valid manifest too, by the types and by the docs.
    assert_eq!(
        release_tests::manifest_violations(manifest),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_import_mode_gets_an_ami_that_misses_the_requirements_should_fail_before_importing() {
    let mut s = scenario();
    import_mode(&mut s);
    let report = release(s).await;
    assert_eq!(report.state, "failed", "{}", explain(&report));
    let (step, reason) = report.failure().unwrap();
    assert_eq!(step, "appstream");
    assert!(
        reason.contains("cannot be imported into AppStream 2.0")
            && reason.contains("not a Windows image"),
        "{reason}"
    );
    assert_eq!(report.counts.effect_count("appstream-import"), 0);
}

#[test]
fn when_the_demo_command_fails_should_exit_non_zero_naming_the_step() {
    let binary = runner::process::binaries_dir().join("local-release");
    let out = std::process::Command::new(&binary)
        .args([
            "--step-ms",
            "150",
            "--timeout",
            "60",
            "--fail-build",
            "Image testing failed: disk full",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("FAILED at step build") && stderr.contains("disk full"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------- the reconciler, end to end

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_distributed_image_event_is_withheld_should_still_publish_once() {
    // AWS documents no state-change events for the image DistributeImage creates.
    let mut s = scenario();
    s.distribution_events = false;
    let report = release(s).await;
    assert_published_once(&report);
    assert!(
        !report
            .invocations
            .iter()
            .any(|i| i.trigger.contains("/1.0.0/2")),
        "no event of the distributed image reached a function: the reconciler did its steps\n{}",
        explain(&report)
    );
    assert!(
        report
            .invocations
            .iter()
            .any(|i| i.trigger.contains("/1.0.0/1")),
        "the pipeline's image's events still arrive\n{}",
        explain(&report)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_pipeline_image_event_is_withheld_should_still_publish_once() {
    let mut s = scenario();
    s.pipeline_events = false;
    let report = release(s).await;
    assert_published_once(&report);
    assert!(
        !report
            .invocations
            .iter()
            .any(|i| i.trigger.contains("/1.0.0/1")),
        "no event of the pipeline's image reached a function: the reconciler distributed it\n{}",
        explain(&report)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_build_starts_outside_and_no_event_reaches_us_should_discover_and_publish_it() {
    // As a pipeline's own schedule or a person would start it, with a bus that lost its events.
    let mut s = scenario();
    s.start_outside = true;
    s.pipeline_events = false;
    let report = release(s).await;
    assert_published_once(&report);
    assert_eq!(
        report
            .counts
            .call_count("imagebuilder:StartImagePipelineExecution"),
        1,
        "{}",
        explain(&report)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_distribution_times_out_in_a_region_once_should_retry_it_and_publish() {
    let mut s = scenario();
    s.distribution_failure = Some(emulator::DistributionFailure {
        region: "eu-west-1".into(),
        status: "TIMED_OUT".into(),
        message: "AMI copy to eu-west-1 timed out".into(),
        times: 1,
    });
    let report = release(s).await;
    assert_published_once(&report);
    assert_eq!(
        report.counts.effect_count("retry-image"),
        1,
        "{}",
        explain(&report)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_distribution_keeps_failing_should_fail_with_each_regions_reason_after_n_retries() {
    let mut s = scenario();
    s.distribution_failure = Some(emulator::DistributionFailure {
        region: "eu-west-1,us-east-1".into(),
        status: "TIMED_OUT".into(),
        message: "AMI copy to {region} timed out".into(),
        times: 10,
    });
    s.parameters = vec![("DistributionRetries".into(), "1".into())];
    let report = release(s).await;
    assert_eq!(report.state, "failed", "{}", explain(&report));
    let (step, reason) = report.failure().unwrap();
    assert_eq!(step, "distribution");
    for region in ["eu-west-1", "us-east-1"] {
        assert!(
            reason.contains(&format!(
                "{region} account 123456789012 TIMED_OUT: AMI copy to {region} timed out"
            )),
            "{region}: {reason}"
        );
    }
    assert!(reason.contains("after 1 RetryImage"), "{reason}");
    assert_eq!(report.counts.effect_count("retry-image"), 1);
    assert_eq!(report.counts.effect_count("export-task"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_export_never_finishes_should_fail_as_timed_out_in_its_aws_state() {
    let mut s = scenario();
    s.export_stalls = true;
    s.parameters = vec![("DeadlineExport".into(), "2s".into())];
    let report = release(s).await;
    assert_eq!(report.state, "failed", "{}", explain(&report));
    let (step, reason) = report.failure().unwrap();
    assert_eq!(step, "export");
    assert!(
        reason.starts_with("export timed out in export task export-ami-")
            && reason.contains("active, 40%")
            && reason.contains("(deadline 2s)"),
        "{reason}"
    );
    assert!(report.invalidations.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_several_export_formats_are_configured_should_publish_each_with_its_sha256() {
    let mut s = scenario();
    s.parameters
        .push(("ExportFormats".into(), "VMDK,VHD".into()));
    let report = release(s).await;
    let why = explain(&report);
    assert_eq!(report.state, "published", "{why}");
    assert_eq!(report.counts.effect_count("export-task"), 2, "{why}");
    let manifest = report.manifest.as_ref().unwrap();
    assert_eq!(
        release_tests::manifest_violations(manifest),
        Vec::<String>::new()
    );
    let artifacts = manifest["artifacts"].as_array().unwrap();
    let formats: Vec<&str> = artifacts
        .iter()
        .map(|a| a["format"].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["VMDK", "VHD"]);
    assert_eq!(
        manifest["export"], artifacts[0],
        "v1 readers see the first format"
    );
    for artifact in artifacts {
        let file = artifact["object_key"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        let independent = sha256sum(&[file], &report.log_dir);
        assert_eq!(
            independent.split_whitespace().next(),
            artifact["sha256"].as_str(),
            "{file}"
        );
    }
    let checked = sha256sum(&["-c", "SHA256SUMS"], &report.log_dir);
    assert_eq!(
        checked.lines().filter(|l| l.ends_with(": OK")).count(),
        2,
        "{checked}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_build_is_cancelled_should_fail_at_build_saying_so_without_retrying() {
    let mut s = scenario();
    s.build_cancelled = true;
    let report = release(s).await;
    assert_eq!(report.state, "failed", "{}", explain(&report));
    let (step, reason) = report.failure().unwrap();
    assert_eq!(step, "build");
    assert!(reason.contains("image build cancelled"), "{reason}");
    assert_eq!(report.counts.effect_count("retry-image"), 0);
    assert_routine_failure(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_distribution_is_cancelled_should_fail_at_distribution_without_retrying() {
    // CANCELLED comes from CancelImageCreation: someone stopped it on purpose.
    let mut s = scenario();
    s.distributions_cancelled = 1;
    let report = release(s).await;
    assert_eq!(report.state, "failed", "{}", explain(&report));
    let (step, reason) = report.failure().unwrap();
    assert_eq!(step, "distribution");
    assert!(reason.contains("CANCELLED"), "{reason}");
    assert_eq!(
        report.counts.effect_count("retry-image"),
        0,
        "{}",
        explain(&report)
    );
    assert_routine_failure(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_two_pipelines_share_a_recipe_should_publish_each_build_once_without_collisions() {
    let mut s = scenario();
    s.releases = vec!["golden".into(), "silver".into()];
    // silver builds golden's recipe: Image Builder names both images golden/1.0.0/<build>.
    s.recipes = vec![("silver".into(), "golden".into())];
    s.timeout = Duration::from_secs(90);
    let report = release(s).await;
    assert_eq!(report.state, "done", "{}", explain(&report));
    let published: Vec<&str> = report
        .releases
        .iter()
        .filter(|(_, state)| state == "published")
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(
        published.len(),
        2,
        "{:?}\n{}",
        report.releases,
        explain(&report)
    );
    assert!(
        published.iter().all(|id| id.starts_with("golden-1.0.0-")),
        "{published:?}"
    );
    assert_eq!(report.counts.effect_count("pipeline-execution"), 2);
    assert_eq!(report.counts.effect_count("distribution"), 2);
    assert_eq!(report.counts.effect_count("export-task"), 2);
    // Both in the index once; latest.json on the recipe's newest build.
    let index = report.index.as_ref().unwrap()["images"]["golden"]["recent"].to_string();
    for id in &published {
        assert_eq!(
            index.matches(&format!("\"release_id\":\"{id}\"")).count(),
            1,
            "{id} in {index}"
        );
    }
    let newest = published
        .iter()
        .max_by_key(|id| id.rsplit('-').next().and_then(|n| n.parse::<u32>().ok()))
        .unwrap();
    assert!(
        report.latest.as_ref().unwrap().to_string().contains(newest),
        "{:?}",
        report.latest
    );
    // Each manifest names the pipeline that built it.
    let pipelines: std::collections::BTreeSet<String> = report
        .history
        .iter()
        .flat_map(|page| page["releases"].as_array().unwrap())
        .map(|r| {
            r["pipeline_arn"]
                .as_str()
                .unwrap_or_default()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        pipelines,
        ["golden".to_owned(), "silver".to_owned()]
            .into_iter()
            .collect()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_quotas_are_exhausted_should_defer_each_step_and_still_publish_once() {
    let mut s = scenario();
    // Image Builder's ServiceQuotaExceededException and EC2's ResourceLimitExceeded defer at
    // once. AppStream's LimitExceededException is retried as throttling (by the SDK, then the
    // step's backoff) before a copy waits: six faults were seen absorbed whole, and the copy
    // function and the reconciler may share them, so fifteen outlast one region's attempts.
    // Each count is checked to have fired in full below.
    s.faults = vec![
        (
            "imagebuilder:DistributeImage".into(),
            Fault::errors(FaultKind::Quota, 1),
        ),
        ("ec2:ExportImage".into(), Fault::errors(FaultKind::Quota, 2)),
        (
            "appstream:CopyImage".into(),
            Fault::errors(FaultKind::Quota, 15),
        ),
    ];
    let faults: Vec<(String, u32)> = s
        .faults
        .iter()
        .map(|(operation, fault)| (operation.clone(), fault.count))
        .collect();
    let report = release(s).await;
    assert_published_once(&report);
    // Every fault fired, each as often as it was set.
    for (operation, count) in faults {
        assert_eq!(
            report.counts.call_count(&format!("{operation}#fault")),
            count,
            "{operation}\n{}",
            explain(&report)
        );
    }
    // Each step met its quota and was deferred, not failed: the step's own function, or
    // publish-release's reconciler when it got there first, answered or logged the quota's
    // code, and the release still published.
    let mut seen: String = report
        .invocations
        .iter()
        .filter_map(|i| match &i.outcome {
            runner::runtime_api::Outcome::Response(v) => Some(format!("{} {v}\n", i.function)),
            _ => None,
        })
        .collect();
    for function in [
        "distribute-image",
        "export-image",
        "copy-appstream-image",
        "publish-release",
    ] {
        seen.push_str(
            &std::fs::read_to_string(report.log_dir.join(format!("{function}.log")))
                .unwrap_or_default(),
        );
    }
    for (step, code) in [
        ("distribution", "ServiceQuotaExceededException"),
        ("export", "ResourceLimitExceeded"),
        ("appstream", "LimitExceededException"),
    ] {
        assert!(
            seen.contains(code),
            "the {step} step met its quota ({code})\n{}",
            explain(&report)
        );
    }
    assert!(report.dead_letters.is_empty(), "{:?}", report.dead_letters);
}
