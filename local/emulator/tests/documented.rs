//! What AWS documents and the emulator once did otherwise (issue 30, items 2, 7 and 10), driven
//! with boto3 and the AWS CLI (`clients/documented.py`): SSM's asynchronous `aws:ec2:image`
//! validation (and that the emulator counts it as work in progress), GetParameter's selectors
//! and ARNs, parameter tiers counted in characters, AppStream's tag rules and regional tags,
//! DeleteImage's `DELETING` and `ResourceInUseException`, GetImage's version ARNs.

mod support;

use emulator::{Config, Emulator};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// One phase of `clients/documented.py` against `emulator`: its answers.
async fn phase(emulator: &Emulator, phase: &str, args: &[&str]) -> Value {
    let mut all = vec![phase];
    all.extend_from_slice(args);
    let out = support::run_script(emulator, "documented.py", &all).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{phase}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Waits until the emulator has nothing of its own left to do.
async fn quiet(emulator: &Emulator) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !emulator.in_progress().is_empty() {
        assert!(
            Instant::now() < deadline,
            "still busy: {:?}",
            emulator.in_progress()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn config(step_ms: u64) -> Config {
    let mut config = Config::demo();
    config.step = Duration::from_millis(step_ms);
    config
}

const AMI: &str = "ami-0123456789abcdef0";
const IMAGE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_an_ami_parameter_is_put_should_answer_before_its_validation_and_count_it_as_busy() {
    // GIVEN validation that takes 30 steps of 100 ms: long enough for a Python client.
    let mut config = config(100);
    config.ssm_validation_steps = 30;
    let (emulator, _events) = Emulator::start(config, 0).await.unwrap();
    emulator.seed_image(
        &format!("{IMAGE}/1.0.0/1"),
        "AVAILABLE",
        None,
        vec![("us-east-1".into(), AMI.into())],
    );
    // WHEN boto3 puts an aws:ec2:image parameter and reads it back at once
    let answers = phase(&emulator, "ssm-put", &[AMI]).await;
    // THEN PutParameter answered 200 before the validation ended, and SSM has no value yet
    // ("Systems Manager does not create the parameter immediately"), which the emulator
    // counts as its own work in progress.
    assert_eq!(answers["put an AMI"], 1, "{answers}");
    assert_eq!(answers["read while validating"], "error ParameterNotFound");
    assert!(
        emulator
            .in_progress()
            .iter()
            .any(|busy| busy.contains("SSM validating /async/golden")),
        "{:?}",
        emulator.in_progress()
    );
    assert_eq!(emulator.parameter("us-east-1", "/async/golden"), None);
    quiet(&emulator).await;
    assert_eq!(
        phase(&emulator, "ssm-after", &[]).await,
        json!({ "read once validated": [AMI, 1] })
    );
    // GetParameter's Name: "To query by parameter label, use "Name": "name:label". To query by
    // parameter version, use "Name": "name:version"", or the ARN; PutParameter and
    // DeleteParameter: "You can't enter the Amazon Resource Name (ARN) for a parameter".
    assert_eq!(answers["version 1"], json!(["/sel/a", "v1", 1, ":1"]));
    assert_eq!(answers["version 2"], "v2");
    assert_eq!(answers["version 3"], "error ParameterVersionNotFound");
    assert_eq!(answers["a label"], "error ParameterNotFound");
    assert_eq!(answers["by ARN"], "v2");
    assert_eq!(answers["by ARN and version"], "v1");
    assert_eq!(
        answers["by ARN of another region"],
        "error ParameterNotFound"
    );
    assert_eq!(answers["put by ARN"], "error ValidationException");
    assert_eq!(answers["delete by ARN"], "error ValidationException");
    assert_eq!(answers["cli by version"], "v1");
    // "Standard tier parameters support a maximum parameter value of 4096 characters";
    // Advanced: "a content size limit of 8 KB"; no way back from Advanced to Standard.
    assert_eq!(answers["4096 two-byte characters"], "Standard");
    assert_eq!(answers["4097 characters"], "error ValidationException");
    assert_eq!(answers["advanced"], "Advanced");
    assert_eq!(answers["advanced read"], 8192);
    assert_eq!(answers["advanced over 8 KB"], "error ValidationException");
    assert_eq!(answers["intelligent small"], "Standard");
    assert_eq!(answers["intelligent large"], "Advanced");
    assert_eq!(
        answers["advanced back to standard"],
        "error ValidationException"
    );
    assert_eq!(answers["advanced overwritten without a tier"], "Advanced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_appstream_images_are_tagged_and_deleted_should_follow_the_model_and_the_api_reference()
 {
    // Steps of 2.5 s: the deletions are still under way when the clients are done.
    let (emulator, _events) = Emulator::start(config(2500), 0).await.unwrap();
    for name in ["keep-1", "gone-1", "used-1", "cli-1"] {
        emulator.seed_appstream_image("us-east-1", name, "AVAILABLE");
    }
    emulator.seed_appstream_image("eu-west-1", "far-1", "AVAILABLE");
    emulator.use_appstream_image("us-east-1", "used-1", "fleet/kiosk");
    let answers = phase(&emulator, "appstream", &[]).await;
    // Tags: the model's TagKey and TagValue patterns and lengths, Tags 1 to 50, at most 50 on a
    // resource (LimitExceededException, TagResource's error), regional as the images are.
    assert_eq!(answers["tag"], "ok", "{answers}");
    for refused in [
        "tag aws:",
        "tag key of 129",
        "tag value with #",
        "tag value of 257",
        "tag none",
        "tag 51 at once",
        "tag a malformed ARN",
        "import with an aws: tag",
    ] {
        assert_eq!(answers[refused], "error ValidationException", "{refused}");
    }
    assert_eq!(
        answers["tag past 50 on the image"],
        "error LimitExceededException"
    );
    assert_eq!(
        answers["tags listed"],
        json!([
            ["a:b/c=d+e-f@g.h_i", "x y"],
            ["team", "platform"],
            ["é ü", ""]
        ])
    );
    assert_eq!(
        answers["tag another region's image"],
        "error ResourceNotFoundException"
    );
    assert_eq!(
        answers["list another region's image"],
        "error ResourceNotFoundException"
    );
    assert_eq!(answers["tag in its region"], "ok");
    // DeleteImage: "You cannot delete an image when it is in use" (ResourceInUseException);
    // otherwise DELETING, then gone.
    assert_eq!(answers["delete in use"], "error ResourceInUseException");
    assert_eq!(answers["delete"], "DELETING");
    assert_eq!(answers["described while deleting"], "DELETING");
    assert_eq!(
        answers["delete while deleting"],
        "error ConcurrentModificationException"
    );
    assert_eq!(answers["tags while deleting"], json!({}));
    assert_eq!(
        answers["copy onto a deleting name"],
        "error ResourceAlreadyExistsException"
    );
    assert_eq!(answers["cli delete"], "DELETING");
    assert!(
        emulator
            .in_progress()
            .iter()
            .any(|busy| busy.contains("cli-1") && busy.contains("DELETING")),
        "{:?}",
        emulator.in_progress()
    );
    quiet(&emulator).await;
    emulator.stop_using_appstream_image("us-east-1", "used-1");
    let after = phase(&emulator, "appstream-after", &[]).await;
    assert_eq!(
        after,
        json!({
            "described once deleted": "error ResourceNotFoundException",
            "cli described once deleted": "error ResourceNotFoundException",
            "delete once deleted": "error ResourceNotFoundException",
            "delete once no longer in use": "DELETING",
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_get_image_is_given_a_version_arn_should_resolve_the_latest_available_build() {
    let (emulator, _events) = Emulator::start(config(300), 0).await.unwrap();
    for (build, status) in [
        ("1.0.0/1", "AVAILABLE"),
        ("1.0.0/2", "AVAILABLE"),
        ("1.0.1/1", "AVAILABLE"),
        ("1.1.0/1", "FAILED"),
    ] {
        emulator.seed_image(&format!("{IMAGE}/{build}"), status, None, Vec::new());
    }
    let answers = phase(&emulator, "imagebuilder", &[]).await;
    // "A version or wildcard ARN resolves to the latest matching build version that has
    // reached AVAILABLE status. [...] To get an image in any other state, such as a failed or
    // in-progress build, specify the full build version ARN."
    assert_eq!(
        answers,
        json!({
            "a build": [format!("{IMAGE}/1.1.0/1"), "FAILED"],
            "a version": format!("{IMAGE}/1.0.0/2"),
            "x.x.x": format!("{IMAGE}/1.0.1/1"),
            "1.0.x": format!("{IMAGE}/1.0.1/1"),
            "1.1.x (no build AVAILABLE)": "error ResourceNotFoundException",
            "2.x.x": "error ResourceNotFoundException",
            "a build of a wildcard": "error InvalidParameterValueException",
            "cli a version": format!("{IMAGE}/1.0.0/2"),
            // RetryImage takes an ImageBuildVersionArn only (the model).
            "retry a version": "error InvalidParameterValueException",
        })
    );
}
