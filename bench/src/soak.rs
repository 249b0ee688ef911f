//! The soak's full local release at Lambda's CPU share: the soak test's 150 releases (four
//! pipelines, 5% of events dropped, 10% of AWS calls throttled or failing, every event
//! delivered at least once and some twice), run through the release binaries twice: every
//! function held to its `MemorySize` alone, then also to the CPU share that memory buys
//! (`MemorySize / 1,769` of a CPU). Prints, beside each other, the wall time, how many were
//! published, billed GB-s per release and each function's peak memory.

use crate::confined;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

async fn run(
    root: &Path,
    release: &Path,
    log_dir: &Path,
    releases: usize,
    memory_mb: u32,
    cpu_share: bool,
) -> anyhow::Result<Value> {
    let mut s = runner::Scenario::many(root, releases);
    s.event_drop = 0.05;
    s.fault_rate = 0.10;
    s.seed = 2026;
    s.binaries = Some(release.to_path_buf());
    s.lambda.cpu_share = cpu_share;
    s.log_dir = log_dir.join(format!(
        "soak-{}",
        if cpu_share { "share" } else { "memory" }
    ));
    let report = runner::run(s).await?;
    let published = report
        .releases
        .iter()
        .filter(|(_, state)| state == "published")
        .count();
    let billed: f64 = report
        .invocations
        .iter()
        .map(|i| confined::gb_seconds(i.duration.as_secs_f64(), memory_mb))
        .sum();
    let mut invocations: BTreeMap<String, u64> = BTreeMap::new();
    for i in &report.invocations {
        *invocations.entry(i.function.clone()).or_default() += 1;
    }
    let peaks: BTreeMap<String, u64> =
        report
            .peak_bytes
            .iter()
            .fold(BTreeMap::new(), |mut m, (f, b)| {
                let e = m.entry(f.clone()).or_insert(0);
                *e = (*e).max(*b);
                m
            });
    Ok(json!({
        "cpu_share": cpu_share,
        "releases": releases,
        "published": published,
        "wall_seconds": report.elapsed.as_secs_f64(),
        "gb_seconds_per_release": billed / releases as f64,
        "invocations": invocations,
        "peak_bytes": peaks,
    }))
}

pub async fn measure(
    root: &Path,
    release: &Path,
    log_dir: &Path,
    releases: usize,
    memory_mb: u32,
) -> anyhow::Result<Value> {
    eprintln!("soak: {releases} releases, memory confined…");
    let memory = run(root, release, log_dir, releases, memory_mb, false).await?;
    eprintln!("soak: {releases} releases, memory and CPU share confined…");
    let share = run(root, release, log_dir, releases, memory_mb, true).await?;
    println!(
        "\nThe soak ({releases} releases, 4 pipelines, 5% of events dropped, 10% of AWS calls faulty), release binaries, every function at {memory_mb} MB:"
    );
    println!(
        "  {:<38} | {:>22} | {:>22}",
        "", "memory only", "memory and CPU share"
    );
    /// One line of the table: a label and how to show it from a run.
    type Cell = fn(&Value) -> String;
    let rows: [(&str, Cell); 3] = [
        ("published", |v| {
            format!("{} of {}", v["published"], v["releases"])
        }),
        ("wall time", |v| {
            format!("{:.1} s", v["wall_seconds"].as_f64().unwrap_or_default())
        }),
        ("billed GB-s per release", |v| {
            format!(
                "{:.4}",
                v["gb_seconds_per_release"].as_f64().unwrap_or_default()
            )
        }),
    ];
    for (label, cell) in rows {
        println!(
            "  {label:<38} | {:>22} | {:>22}",
            cell(&memory),
            cell(&share)
        );
    }
    let functions: Vec<String> = memory["peak_bytes"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    for function in functions {
        let peak = |v: &Value| {
            v["peak_bytes"][&function]
                .as_f64()
                .map_or_else(|| "-".to_owned(), |b| format!("{:.1} MB", b / 1e6))
        };
        println!(
            "  {:<38} | {:>22} | {:>22}",
            format!("cgroup peak memory of {function}"),
            peak(&memory),
            peak(&share)
        );
    }
    for (name, v) in [("memory only", &memory), ("memory and CPU share", &share)] {
        anyhow::ensure!(
            v["published"] == v["releases"],
            "the soak ({name}) did not publish every release: {v}"
        );
    }
    Ok(json!({ "memory_only": memory, "cpu_share": share }))
}
