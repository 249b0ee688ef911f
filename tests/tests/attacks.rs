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
        "image-release-start-pipeline",
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
        "image-release-start-pipeline",
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
