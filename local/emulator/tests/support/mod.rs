//! What the emulator's client tests share: boto3 and the AWS CLI from the venv of
//! `scripts/install-aws-clients.sh` (`AWS_CLIENTS_BIN` names its `bin`; `scripts/test.sh` sets
//! it), and running one of `clients/*.py` against an emulator with them.
#![allow(dead_code)] // each test binary uses its own part

use emulator::Emulator;
use std::path::PathBuf;
use std::process::Output;

pub fn clients_bin() -> PathBuf {
    std::env::var_os("AWS_CLIENTS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/image-release/venv-awscli/bin")
        })
}

/// `python clients/<script> <endpoint> <aws> <args…>`, with no profile, config or instance
/// metadata of this machine: its output.
pub async fn run_script(emulator: &Emulator, script: &str, args: &[&str]) -> Output {
    let bin = clients_bin();
    assert!(
        bin.join("python").exists() && bin.join("aws").exists(),
        "{} has no python/aws: run scripts/install-aws-clients.sh (scripts/test.sh does)",
        bin.display()
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    tokio::process::Command::new(bin.join("python"))
        .arg(&script)
        .arg(emulator.endpoint())
        .arg(bin.join("aws"))
        .args(args)
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap()
}

/// [`run_script`], requiring it to succeed and print `all checks passed`.
pub async fn all_checks_pass(emulator: &Emulator, script: &str, args: &[&str]) {
    let out = run_script(emulator, script, args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "{script} {args:?}: {stdout}\n{stderr}"
    );
}
