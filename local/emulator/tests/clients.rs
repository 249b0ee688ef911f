//! The emulator driven by clients nobody in this project wrote: boto3 and the AWS CLI, from the
//! venv of `scripts/install-aws-clients.sh` (`AWS_CLIENTS_BIN` names its `bin`; `scripts/test.sh`
//! sets it). `clients/drive.py` calls every emulated operation of the three services, in both of
//! AppStream's protocols, and checks the answers and the documented errors.

mod support;

use emulator::{Config, Emulator};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_boto3_and_the_aws_cli_drive_every_operation_should_answer_as_aws_documents() {
    let mut config = Config::demo();
    config.step = Duration::from_millis(40);
    config.launch_permissions = vec!["111122223333".into()];
    config.appstream_images.push((
        "us-east-1".into(),
        "golden-1.0.0-1".into(),
        vec![("team".into(), "platform".into())],
    ));
    let (emulator, _events) = Emulator::start(config, 0).await.unwrap();
    support::all_checks_pass(&emulator, "drive.py", &[]).await;
    // Every operation the emulator serves was called by a foreign client.
    let counts = emulator.counts();
    for operation in [
        "imagebuilder:StartImagePipelineExecution",
        "imagebuilder:GetImage",
        "imagebuilder:DistributeImage",
        "ec2:ExportImage",
        "ec2:DescribeExportImageTasks",
        "ec2:DescribeImages",
        "ec2:CreateTags",
        "appstream:DescribeImages",
        "appstream:CreateImportedImage",
        "appstream:CopyImage",
        "appstream:TagResource",
        "appstream:ListTagsForResource",
        "events:PutEvents",
        "kms:CreateKey",
        "kms:Sign",
        "kms:Verify",
        "kms:GetPublicKey",
        "ec2:DescribeImageAttribute",
        "imagebuilder:GetDistributionConfiguration",
        "ssm:PutParameter",
        "ssm:GetParameter",
        "ssm:DeleteParameter",
        "ec2:EnableImageDeprecation",
        "ec2:DisableImage",
        "ec2:DescribeImageReferences",
        "ec2:DeregisterImage",
    ] {
        assert!(
            counts.call_count(operation) >= 1,
            "{operation} never called: {counts:?}"
        );
    }
}
