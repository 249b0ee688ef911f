//! Instructions a cold start executes, counted by valgrind's callgrind: unlike milliseconds they
//! do not depend on what else the machine is doing, so one run is enough to see what a change
//! moved. Two counts per binary: spawn → its first `GET /runtime/invocation/next` (init), and
//! spawn → its answer to the first invocation. Measured only where `valgrind` is installed
//! (Debian package `valgrind`); the cold-start table shows `-` otherwise.

use runner::runtime_api::RuntimeApi;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// Instructions of init, and of init plus the first invocation.
#[derive(Debug, Clone, Copy)]
pub struct Instructions {
    pub init: u64,
    pub first: u64,
}

/// Whether callgrind can be run here.
pub fn available() -> bool {
    std::process::Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Both counts for `binary` with `env`, the second with `event` as its first invocation.
pub async fn measure(
    binary: &Path,
    env: &BTreeMap<String, String>,
    event: &Value,
    log_dir: &Path,
) -> anyhow::Result<Instructions> {
    let name = binary
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("binary");
    let init = count(binary, env, None, &log_dir.join(format!("{name}.init"))).await?;
    let first = count(
        binary,
        env,
        Some(event),
        &log_dir.join(format!("{name}.first")),
    )
    .await?;
    Ok(Instructions { init, first })
}

/// Runs `binary` under callgrind until its first poll (or its answer to `event`), then stops
/// it with SIGTERM, on which callgrind writes its totals.
async fn count(
    binary: &Path,
    env: &BTreeMap<String, String>,
    event: Option<&Value>,
    out: &Path,
) -> anyhow::Result<u64> {
    let api = RuntimeApi::start("bench").await?;
    let log = std::fs::File::create(out.with_extension("log"))?;
    let mut child = tokio::process::Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(binary)
        .env_clear()
        .envs(env)
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()?;
    match event {
        None => {
            crate::first_poll(&api, binary).await?;
        }
        Some(event) => {
            // Counted whatever the outcome: the cold-start table shows it.
            api.invoke(event.clone(), Duration::from_secs(120)).await;
        }
    }
    let pid = child.id().unwrap_or_default();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    child.wait().await?;
    let written = std::fs::read_to_string(out)?;
    written
        .lines()
        .find_map(|line| line.strip_prefix("summary: "))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no summary in {}", out.display()))
}
