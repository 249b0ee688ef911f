//! SHA-256 of an exported disk: publish-release's S3 adapter (pipelined ranged GETs streamed into
//! `sha2`, in the `bench-hash` probe, release build) against coreutils' `sha256sum` of the same
//! bytes on the same machine, and the probe's peak RSS against its idle RSS.

use crate::s3_stub::S3Stub;
use runner::process::lambda_environment;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

const RUNS: usize = 3;
const BUCKET: &str = "image-release-artifacts";
const KEY: &str = "releases/bench-1.0.0-1/export-ami-bench.vmdk";

pub async fn measure(release: &Path, mib: usize, log_dir: &Path) -> anyhow::Result<Value> {
    let size = mib << 20;
    eprintln!("checksum: writing a {mib} MiB object…");
    let content = axum::body::Bytes::from(emulator::export_content("export-ami-bench", size));
    // The baseline reads the same bytes from a file in the page cache (a warm-up run first).
    let file = log_dir.join("checksum-object.vmdk");
    std::fs::write(&file, &content)?;
    let mut baseline = Vec::new();
    let mut expected = String::new();
    for _ in 0..=RUNS {
        let started = Instant::now();
        let out = std::process::Command::new("sha256sum")
            .arg(&file)
            .output()?;
        anyhow::ensure!(out.status.success(), "sha256sum failed");
        baseline.push(started.elapsed().as_secs_f64());
        expected = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
    }
    baseline.remove(0);
    let _ = std::fs::remove_file(&file);

    let stub = S3Stub::start().await?;
    stub.insert(BUCKET, KEY, content);
    let mut env = lambda_environment("bench-hash", "", "http://127.0.0.1:9", &stub.endpoint);
    env.remove("AWS_LAMBDA_RUNTIME_API");
    let probe = release.join("bench-hash.bench");
    let probe = if probe.exists() {
        probe
    } else {
        release.join("bench-hash")
    };
    let mut runs: Vec<Value> = Vec::new();
    for _ in 0..RUNS {
        let out = tokio::process::Command::new(&probe)
            .args([BUCKET, KEY])
            .env_clear()
            .envs(&env)
            .output()
            .await?;
        anyhow::ensure!(
            out.status.success(),
            "bench-hash: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run: Value = serde_json::from_slice(&out.stdout)?;
        anyhow::ensure!(
            run["sha256"] == expected.as_str(),
            "bench-hash answered {} where sha256sum answered {expected}",
            run["sha256"]
        );
        runs.push(run);
    }
    let best = |values: &[f64]| values.iter().copied().fold(f64::INFINITY, f64::min);
    let ours = best(
        &runs
            .iter()
            .map(|r| r["seconds"].as_f64().unwrap_or(f64::INFINITY))
            .collect::<Vec<_>>(),
    );
    let theirs = best(&baseline);
    let mb_s = |seconds: f64| size as f64 / 1e6 / seconds;
    let idle = runs
        .iter()
        .filter_map(|r| r["idle_rss_kb"].as_u64())
        .max()
        .unwrap_or(0);
    let peak = runs
        .iter()
        .filter_map(|r| r["peak_rss_kb"].as_u64())
        .max()
        .unwrap_or(0);
    let mb = |kb: u64| kb as f64 * 1024.0 / 1e6;
    let cpu = runs
        .iter()
        .filter_map(|r| r["memory_mb_per_s"].as_f64())
        .fold(0.0, f64::max);
    println!(
        "\nSHA-256 of a {mib} MiB object (best of {RUNS}; sha256sum reads it from the page cache, the probe with ranged GETs from a local S3 stub):"
    );
    println!(
        "  sha256sum {:.0} MB/s · S3 adapter {:.0} MB/s = {:.0}% of sha256sum (target ≥ 80%)",
        mb_s(theirs),
        mb_s(ours),
        100.0 * theirs / ours
    );
    println!(
        "  sha2 on this CPU, in memory: {cpu:.0} MB/s (the S3 adapter reaches {:.0}% of it)",
        100.0 * mb_s(ours) / cpu
    );
    println!(
        "  probe RSS: idle {:.2} MB, peak while hashing {:.2} MB (+{:.2} MB; target: within a few MB)",
        mb(idle),
        mb(peak),
        mb(peak.saturating_sub(idle))
    );
    Ok(json!({
        "object_bytes": size,
        "sha256": expected,
        "sha256sum_seconds": theirs,
        "adapter_seconds": ours,
        "sha256sum_mb_per_s": mb_s(theirs),
        "adapter_mb_per_s": mb_s(ours),
        "ratio_to_sha256sum": theirs / ours,
        "sha2_in_memory_mb_per_s": cpu,
        "idle_rss_kb": idle,
        "peak_rss_kb": peak,
        "runs": runs,
    }))
}
