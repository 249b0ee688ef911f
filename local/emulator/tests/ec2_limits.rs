//! What EC2 refuses on ExportImage, DescribeImages, DescribeExportImageTasks and
//! EnableImageDeprecation, and the filters and pages it answers, checked by clients nobody in
//! this project wrote (boto3 and the AWS CLI of `AWS_CLIENTS_BIN`, `clients/ec2_limits.py`).
//! Each rule's AWS source is cited where the emulator enforces it (`src/ec2/`).

use emulator::{Config, Emulator};
use std::path::PathBuf;
use std::time::Duration;

fn clients_bin() -> PathBuf {
    std::env::var_os("AWS_CLIENTS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/image-release/venv-awscli/bin")
        })
}

/// Runs `clients/ec2_limits.py` in `mode` against `emulator` and requires every check to pass.
async fn drive(emulator: &Emulator, mode: &str) {
    let bin = clients_bin();
    assert!(
        bin.join("python").exists() && bin.join("aws").exists(),
        "{} has no python/aws: run scripts/install-aws-clients.sh (scripts/test.sh does)",
        bin.display()
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/ec2_limits.py");
    let out = tokio::process::Command::new(bin.join("python"))
        .arg(&script)
        .arg(emulator.endpoint())
        .arg(bin.join("aws"))
        .arg(mode)
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "{stdout}\n{stderr}"
    );
}

fn fast() -> Config {
    let mut config = Config::demo();
    config.step = Duration::from_millis(40);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_boto3_and_the_cli_send_what_ec2_refuses_should_answer_ec2s_errors_filters_and_pages()
{
    // GIVEN eight private AMIs golden 1.0.1 .. 1.0.8 in us-east-1
    let (emulator, _events) = Emulator::start(fast(), 0).await.unwrap();
    for n in 1..=8 {
        emulator.seed_image(
            &format!("arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.{n}/1"),
            "AVAILABLE",
            None,
            vec![("us-east-1".into(), format!("ami-0{n:016x}"))],
        );
    }
    // WHEN boto3 and the CLI export, describe and deprecate them THEN every check passes
    drive(&emulator, "private").await;
    let counts = emulator.counts();
    assert!(counts.call_count("ec2:DescribeExportImageTasks") >= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_public_amis_deprecation_is_set_past_two_years_from_its_creation_should_refuse() {
    // GIVEN the distribution shares its AMIs with everyone
    let mut config = fast();
    config.launch_permissions = vec!["all".into()];
    let (emulator, _events) = Emulator::start(config, 0).await.unwrap();
    drive(&emulator, "public").await;
}
