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

/// The Lambda memory sizes the cost table compares.
pub const MEMORY_SIZES: [u32; 5] = [128, 256, 512, 1024, 1769];

/// Hashing at each memory size's share: the S3 adapter (whole, as one invocation) and
/// `sha256sum` (the yardstick: the same bytes, the same share) on a `mib` MiB object, the billed
/// GB-s of each, and at `template_mb` the object hashed in four slices through the saved state
/// (four invocations). Extrapolates to `extrapolate_gib` GiB at the template's share.
pub async fn at_shares(
    release: &Path,
    mib: usize,
    template_mb: u32,
    extrapolate_gib: u64,
    log_dir: &Path,
) -> anyhow::Result<Value> {
    use crate::confined::{self, Share};
    let size = mib << 20;
    eprintln!("checksum at Lambda's shares: writing a {mib} MiB object…");
    let content = axum::body::Bytes::from(emulator::export_content("export-ami-bench", size));
    let file = log_dir.join("checksum-share.vmdk");
    std::fs::write(&file, &content)?;
    let stub = S3Stub::start().await?;
    stub.insert(BUCKET, KEY, content);
    let mut env = lambda_environment("bench-hash", "", "http://127.0.0.1:9", &stub.endpoint);
    env.remove("AWS_LAMBDA_RUNTIME_API");
    let probe = release.join("bench-hash");
    let file_arg = file.to_string_lossy().into_owned();
    let slice_mib = (mib / 4).max(1).to_string();
    let mut rows = Vec::new();
    let mut share_seen = Share::Unconfined;
    let mut sliced = Value::Null;
    for memory_mb in MEMORY_SIZES {
        let started = Instant::now();
        let (mut command, _cgroup, share) =
            confined::command(Path::new("sha256sum"), &[&file_arg], memory_mb);
        let out = command.output().await?;
        anyhow::ensure!(out.status.success(), "sha256sum at {memory_mb} MB failed");
        let yardstick = started.elapsed().as_secs_f64();
        let expected = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        share_seen = share;
        let hash = |extra: Option<&str>| {
            let mut args = vec![BUCKET, KEY];
            args.extend(extra);
            let (mut command, cgroup, _) = confined::command(&probe, &args, memory_mb);
            command.env_clear().envs(&env);
            (command, cgroup)
        };
        let (mut command, _cgroup) = hash(None);
        let out = command.output().await?;
        anyhow::ensure!(
            out.status.success(),
            "bench-hash at {memory_mb} MB: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run: Value = serde_json::from_slice(&out.stdout)?;
        anyhow::ensure!(
            run["sha256"] == expected.as_str(),
            "bench-hash disagrees with sha256sum"
        );
        let seconds = run["seconds"].as_f64().unwrap_or(f64::INFINITY);
        if memory_mb == template_mb {
            let (mut command, _cgroup) = hash(Some(&slice_mib));
            let out = command.output().await?;
            anyhow::ensure!(out.status.success(), "bench-hash sliced failed");
            let run: Value = serde_json::from_slice(&out.stdout)?;
            anyhow::ensure!(
                run["sha256"] == expected.as_str(),
                "the sliced hash disagrees with sha256sum"
            );
            let slices: Vec<f64> = run["slice_seconds"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            let total: f64 = slices.iter().sum();
            sliced = json!({
                "memory_mb": memory_mb,
                "slice_mib": (mib / 4).max(1),
                "invocations": slices.len(),
                "seconds": total,
                "gb_seconds": confined::gb_seconds(total, memory_mb),
                "peak_rss_kb": run["peak_rss_kb"],
            });
        }
        rows.push(json!({
            "memory_mb": memory_mb,
            "share": share.label(),
            "sha256sum_seconds": yardstick,
            "adapter_seconds": seconds,
            "adapter_mb_per_s": size as f64 / 1e6 / seconds,
            "of_yardstick": yardstick / seconds,
            "gb_seconds": confined::gb_seconds(seconds, memory_mb),
            "peak_rss_kb": run["peak_rss_kb"],
        }));
    }
    let _ = std::fs::remove_file(&file);
    println!(
        "\nHashing a {mib} MiB object at each memory size's CPU share (one run each; sha256sum confined to the same share is the yardstick):"
    );
    println!(
        "  {:>6} | {:>20} | {:>9} | {:>10} | {:>8} | {:>7} | {:>8}",
        "memory", "share", "sha256sum", "S3 adapter", "MB/s", "of yard", "GB-s"
    );
    for row in &rows {
        println!(
            "  {:>3} MB | {:>20} | {:>7.2} s | {:>8.2} s | {:>8.0} | {:>6.0}% | {:>8.4}",
            row["memory_mb"],
            format!(
                "{:.1}% of a vCPU",
                row["memory_mb"].as_f64().unwrap_or_default() / 17.69
            ),
            row["sha256sum_seconds"].as_f64().unwrap_or_default(),
            row["adapter_seconds"].as_f64().unwrap_or_default(),
            row["adapter_mb_per_s"].as_f64().unwrap_or_default(),
            100.0 * row["of_yardstick"].as_f64().unwrap_or_default(),
            row["gb_seconds"].as_f64().unwrap_or_default(),
        );
    }
    let template = rows
        .iter()
        .find(|r| r["memory_mb"].as_u64() == Some(u64::from(template_mb)));
    let mut extrapolated = Value::Null;
    if let Some(row) = template {
        let of = row["of_yardstick"].as_f64().unwrap_or_default();
        let rate = row["adapter_mb_per_s"].as_f64().unwrap_or_default();
        println!(
            "  at the template's {template_mb} MB: {:.0}% of what the share allows (target ≥ 80%: {}) — measured at {}",
            100.0 * of,
            if of >= 0.8 { "met" } else { "missed" },
            share_seen.label()
        );
        if !sliced.is_null() {
            println!(
                "  through resumption at {template_mb} MB: {} invocations of {} MiB, {:.2} s, {:.4} GB-s in all, the same SHA-256 as sha256sum",
                sliced["invocations"],
                sliced["slice_mib"],
                sliced["seconds"].as_f64().unwrap_or_default(),
                sliced["gb_seconds"].as_f64().unwrap_or_default()
            );
        }
        if rate > 0.0 {
            let bytes = (extrapolate_gib << 30) as f64;
            let seconds = bytes / 1e6 / rate;
            // A slice must end well inside Lambda's 900 s: 80% of it hashing.
            let per_invocation = 0.8 * 900.0;
            let invocations = (seconds / per_invocation).ceil();
            let gbs = confined::gb_seconds(seconds, template_mb);
            println!(
                "  extrapolated to {extrapolate_gib} GiB at {template_mb} MB: {:.0} s of hashing, {invocations:.0} invocations of ≤ 720 s (CHECKSUM_SLICE_MIB ≈ {:.0}), {gbs:.1} GB-s = ${:.4}",
                seconds,
                per_invocation * rate * 1e6 / f64::from(1u32 << 20),
                gbs * 0.0000133334
            );
            extrapolated = json!({"gib": extrapolate_gib, "seconds": seconds, "invocations": invocations, "gb_seconds": gbs});
        }
    }
    Ok(json!({"object_bytes": size, "rows": rows, "sliced": sliced, "extrapolated": extrapolated}))
}

/// `gib` GiB (a synthetic object the S3 stub generates per ranged GET, never held whole)
/// hashed as publish-release hashes it at the template's memory and CPU share: slices of
/// `slice_mib` (its `CHECKSUM_SLICE_MIB`), one invocation each, the state saved between them.
/// The expected SHA-256 is computed in the bench's own process over the same bytes, unconfined.
pub async fn huge(
    release: &Path,
    gib: u64,
    template_mb: u32,
    slice_mib: u64,
) -> anyhow::Result<Value> {
    use sha2::Digest;
    let size = gib << 30;
    // An odd-sized block: slices and ranges never line up with its repeats.
    let block =
        axum::body::Bytes::from(emulator::export_content("export-ami-huge", (1 << 20) + 13));
    eprintln!("checksum: the SHA-256 of {gib} GiB, in this process (the expected answer)…");
    let started = Instant::now();
    let mut hasher = sha2::Sha256::new();
    let chunk = 8u64 << 20;
    let mut at = 0;
    while at < size {
        let last = (at + chunk).min(size) - 1;
        hasher.update(crate::s3_stub::synthetic_range(&block, at, last));
        at = last + 1;
    }
    let expected = shared::ports::hex(&hasher.finalize());
    let reference_seconds = started.elapsed().as_secs_f64();
    let stub = S3Stub::start().await?;
    stub.insert_synthetic(BUCKET, KEY, size, block);
    let mut env = lambda_environment("bench-hash", "", "http://127.0.0.1:9", &stub.endpoint);
    env.remove("AWS_LAMBDA_RUNTIME_API");
    let probe = release.join("bench-hash");
    let slice = slice_mib.to_string();
    eprintln!(
        "checksum: hashing {gib} GiB at {template_mb} MB's share in slices of {slice_mib} MiB (tens of minutes)…"
    );
    let (mut command, _cgroup, share) =
        crate::confined::command(&probe, &[BUCKET, KEY, &slice], template_mb);
    command.env_clear().envs(&env);
    let out = command.output().await?;
    anyhow::ensure!(
        out.status.success(),
        "bench-hash of {gib} GiB: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: Value = serde_json::from_slice(&out.stdout)?;
    let slices: Vec<f64> = run["slice_seconds"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    let total: f64 = slices.iter().sum();
    let longest = slices.iter().copied().fold(0.0, f64::max);
    let matches = run["sha256"] == expected.as_str();
    let gbs = crate::confined::gb_seconds(total, template_mb);
    println!(
        "\nHashing {gib} GiB through resumption at {}: {} invocations of ≤ {slice_mib} MiB, the longest {longest:.0} s (Lambda's limit 900 s), {total:.0} s and {gbs:.1} GB-s (${:.4}) in all; SHA-256 {} the expected one; peak RSS {:.1} MB",
        share.label(),
        slices.len(),
        gbs * 0.0000133334,
        if matches { "equals" } else { "DIFFERS FROM" },
        run["peak_rss_kb"].as_f64().unwrap_or_default() * 1024.0 / 1e6,
    );
    anyhow::ensure!(matches, "the resumed hash of {gib} GiB is wrong");
    Ok(json!({
        "gib": gib,
        "share": share.label(),
        "slice_mib": slice_mib,
        "invocations": slices.len(),
        "slice_seconds": slices,
        "seconds": total,
        "gb_seconds": gbs,
        "reference_seconds": reference_seconds,
        "peak_rss_kb": run["peak_rss_kb"],
        "sha256": expected,
    }))
}
