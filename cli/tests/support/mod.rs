//! What every test of the CLI's binary needs: a local release, and the CLI run against it as
//! the operator its command needs (or with any environment), and the AWS CLI beside it.
#![allow(dead_code)] // each test binary uses its own part

use runner::{Report, Scenario, run};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

pub const ID: &str = "golden-1.0.0-1";

pub fn scenario() -> Scenario {
    let mut s = Scenario::new(&runner::workspace_root());
    s.step = Duration::from_millis(150);
    s.publish_interval = Duration::from_millis(200);
    s.timeout = Duration::from_secs(60);
    s.progress = false;
    s.export_size = Some(1024 * 1024);
    s
}

/// The CLI with one local endpoint for S3 and EventBridge, and local credentials.
pub fn cli(endpoint: &str, args: &[&str]) -> Output {
    cli_with(endpoint, endpoint, args)
}

/// The CLI against a local release: S3 through the local IAM (the bucket policy included), the
/// emulator for everything else.
pub fn local(report: &Report, args: &[&str]) -> Output {
    cli_with(&report.s3_authorized, &report.emulator.endpoint(), args)
}

/// The operator a command runs as: the local account's principal made of the template's
/// managed policies for that kind of operator (runner::stack::OPERATORS), so that a command
/// needing more than its policy grants fails its test, as a function does under its role.
pub fn operator_for(args: &[&str]) -> &'static str {
    use runner::stack::OPERATORS;
    let command = args.iter().find(|a| !a.starts_with('-')).copied();
    let kind = match command {
        Some("request" | "retry" | "promote" | "rollback") => 1,
        Some("revoke") => 2,
        Some("retention") if args.contains(&"apply") => 3,
        _ => 0,
    };
    OPERATORS[kind].access_key
}

pub fn cli_with(s3: &str, emulator: &str, args: &[&str]) -> Output {
    cli_as(operator_for(args), s3, emulator, args)
}

pub fn cli_as(access_key: &str, s3: &str, emulator: &str, args: &[&str]) -> Output {
    command(access_key, s3, emulator, args)
        .output()
        .expect("image-release")
}

/// The CLI's command line as [`cli_as`] runs it, for a test to change its environment first.
pub fn command(access_key: &str, s3: &str, emulator: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_image-release"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", access_key)
        .env("AWS_SECRET_ACCESS_KEY", "local-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_S3", s3)
        // What verify has seen of the catalog, per local stack (each has its own endpoint).
        .env(
            "IMAGE_RELEASE_STATE_DIR",
            std::env::temp_dir().join(format!(
                "image-release-state-{}",
                s3.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
            )),
        )
        .env("AWS_ENDPOINT_URL_IAM", s3)
        .env("AWS_ENDPOINT_URL_STS", s3)
        .env("AWS_ENDPOINT_URL_SNS", s3)
        .env("AWS_ENDPOINT_URL_CLOUDFORMATION", s3)
        .env("AWS_ENDPOINT_URL_EVENTBRIDGE", emulator)
        .env("AWS_ENDPOINT_URL_EC2", emulator)
        .env("AWS_ENDPOINT_URL_APPSTREAM", emulator)
        .env("AWS_ENDPOINT_URL_IMAGEBUILDER", emulator)
        .env("AWS_ENDPOINT_URL_KMS", emulator)
        .env("AWS_ENDPOINT_URL_SSM", emulator)
        .env("IMAGE_RELEASE_BUCKET", runner::BUCKET)
        .env("IMAGE_RELEASE_PARAMETER_PREFIX", runner::PARAMETER_PREFIX);
    command
}

pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The AWS CLI (scripts/install-aws-clients.sh): a client nobody here wrote.
pub fn aws_cli() -> PathBuf {
    PathBuf::from(std::env::var_os("AWS_CLIENTS_BIN").unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default())
            .join(".cache/image-release/venv-awscli/bin")
            .into_os_string()
    }))
    .join("aws")
}

/// `aws <args> --endpoint-url <endpoint>` with local credentials; panics unless it succeeds.
pub fn aws(endpoint: &str, args: &[&str]) {
    let out = Command::new(aws_cli())
        .args(args)
        .args(["--endpoint-url", endpoint])
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("the AWS CLI (scripts/install-aws-clients.sh)");
    assert!(out.status.success(), "aws {args:?}: {}", text(&out));
}

pub async fn published() -> Report {
    published_with(scenario()).await
}

/// Runs `s` and requires its release published (its hooks have run by then).
pub async fn published_with(s: Scenario) -> Report {
    let report = run(s).await.expect("local release");
    assert_eq!(
        report.state,
        "published",
        "logs {}",
        report.log_dir.display()
    );
    report
}

/// The output a hook recorded under `name`.
pub fn output<'a, S: AsRef<str>>(outputs: &'a [(S, Output)], name: &str) -> &'a Output {
    &outputs
        .iter()
        .find(|(n, _)| n.as_ref() == name)
        .unwrap_or_else(|| panic!("no output {name}"))
        .1
}

/// `verify ID --skip-urls` every half second until it passes (publish-release's ticks carry a
/// revocation out) or `within` has passed: its last answer.
pub fn verified_within(s3: &str, endpoint: &str, within: Duration) -> Output {
    let deadline = std::time::Instant::now() + within;
    loop {
        let out = cli_with(s3, endpoint, &["verify", ID, "--skip-urls"]);
        if out.status.success() || std::time::Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits (at most 10 s) until the emulator has nothing of its own under way: SSM validates an
/// `aws:ec2:image` value after PutParameter returns, so a parameter a mirror just wrote shows
/// only once its validation ended, within a few lifecycle steps.
pub fn validated(emulator: &emulator::Emulator) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !emulator.in_progress().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes this test's part of the operators' IAM inventory (`UPDATE_IAM_INVENTORY=1`): every
/// call its commands made that the local IAM allowed an operator.
pub fn inventory(test: &str, report: &Report) {
    runner::inventory::record_operator_calls(test, &report.iam_now());
}
