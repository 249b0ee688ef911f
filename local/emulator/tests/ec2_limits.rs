//! What EC2 refuses on ExportImage, DescribeImages, DescribeExportImageTasks and
//! EnableImageDeprecation, and the filters and pages it answers, checked by clients nobody in
//! this project wrote (boto3 and the AWS CLI of `AWS_CLIENTS_BIN`, `clients/ec2_limits.py`).
//! Each rule's AWS source is cited where the emulator enforces it (`src/ec2/`).

mod support;

use emulator::{Config, Emulator};
use std::time::Duration;

/// Runs `clients/ec2_limits.py` in `mode` against `emulator` and requires every check to pass.
async fn drive(emulator: &Emulator, mode: &str) {
    support::all_checks_pass(emulator, "ec2_limits.py", &[mode]).await;
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
