//! The emulator driven by clients nobody in this project wrote: boto3 and the AWS CLI, from the
//! venv of `scripts/install-aws-clients.sh` (`AWS_CLIENTS_BIN` names its `bin`; `scripts/test.sh`
//! sets it). `clients/drive.py` calls every emulated operation of the three services, in both of
//! AppStream's protocols, and checks the answers and the documented errors.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_boto3_and_the_aws_cli_drive_every_operation_should_answer_as_aws_documents() {
    let bin = clients_bin();
    assert!(
        bin.join("python").exists() && bin.join("aws").exists(),
        "{} has no python/aws: run scripts/install-aws-clients.sh (scripts/test.sh does)",
        bin.display()
    );
    let mut config = Config::demo();
    config.step = Duration::from_millis(40);
    config.launch_permissions = vec!["111122223333".into()];
    config.appstream_images.push((
        "us-east-1".into(),
        "golden-1.0.0-1".into(),
        vec![("team".into(), "platform".into())],
    ));
    let (emulator, _events) = Emulator::start(config, 0).await.unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/drive.py");
    let endpoint = emulator.endpoint();
    let out = tokio::process::Command::new(bin.join("python"))
        .arg(&script)
        .arg(&endpoint)
        .arg(bin.join("aws"))
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
