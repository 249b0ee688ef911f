//! Where both the project's emulator and moto serve an operation, the same boto3 calls get the
//! same answers from each (moto's models were written by people who are not us). Each script
//! prints its answers as one JSON object; the test holds them side by side, then checks them
//! against what AWS documents.

use release_tests::aws_cli;
use runner::process::Moto;
use serde_json::{Value, json};
use std::path::PathBuf;

/// Runs `tests/clients/<script>` with boto3 against `endpoint`: its JSON answers.
async fn answers(script: &str, endpoint: &str) -> Value {
    let python = aws_cli().with_file_name("python");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("clients")
        .join(script);
    let out = tokio::process::Command::new(&python)
        .arg(&path)
        .arg(endpoint)
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} against {endpoint}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_boto3_tags_ssm_parameters_should_get_the_same_answers_from_the_emulator_and_moto() {
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start(&Moto::executable(), &dir.path().join("moto.log"))
        .await
        .unwrap();
    let (emulator, _events) = emulator::Emulator::start(emulator::Config::demo(), 0)
        .await
        .unwrap();
    let ours = answers("ssm_tags.py", &emulator.endpoint()).await;
    let theirs = answers("ssm_tags.py", &moto.endpoint).await;
    assert_eq!(ours, theirs, "the emulator and moto disagree");
    let owner = json!([["image-release:bucket", "stack-a-artifacts"]]);
    let expected = json!({
        "create with tags": 1,
        "tags after create": owner,
        // AWS: "tags and overwrite can't be used together".
        "tags with overwrite": "error ValidationException",
        "value after refused overwrite": "v1",
        "create again with tags": "error ParameterAlreadyExists",
        "overwrite without tags": 2,
        "tags kept by an overwrite": owner,
        "add a tag": "ok",
        "tags after adding": [["image-release:bucket", "stack-a-artifacts"], ["team", "platform"]],
        "tags of a missing parameter": "error InvalidResourceId",
        "create untagged": 1,
        "tags of an untagged parameter": [],
        "delete": "ok",
        "tags after delete": "error InvalidResourceId",
    });
    assert_eq!(ours, expected);
}
