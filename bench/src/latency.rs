//! Latency the automation adds, from a soak-like local run (many releases over several pipelines,
//! duplicated and shuffled deliveries, no faults) with the release binaries, warm:
//! * event → the function's resulting API call: from handing the event to the function to the
//!   first call signed with its key at the emulator (each function signs with its own key);
//! * last step → manifest: each manifest's `published_at` against its latest step end, with
//!   every step required (AppStream ends last: the tick that sees the last copy AVAILABLE
//!   publishes) and with export only (the export's S3 event leads to the hash and the manifest).
//!
//! The polling path is bounded by construction: a release whose last step ends without an event
//! is published by the next tick, so within `PublishRate` plus one tick's wall time (see the tick
//! measurement).

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// How a set of durations spreads (written to the JSON as is).
#[derive(serde::Serialize)]
struct Spread {
    n: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.1} ms, p99 {:.1} ms over {}",
            self.p50_ms, self.p99_ms, self.n
        )
    }
}

fn summary(mut ms: Vec<f64>) -> Spread {
    ms.sort_by(f64::total_cmp);
    Spread {
        n: ms.len(),
        p50_ms: percentile(&ms, 50.0),
        p99_ms: percentile(&ms, 99.0),
        max_ms: ms.last().copied().unwrap_or_default(),
    }
}

/// Two runs: every step required (AppStream ends last: a tick sees it) and export only (the
/// export's S3 event ends it).
pub async fn measure(
    root: &Path,
    release: &Path,
    log_dir: &Path,
    releases: usize,
) -> anyhow::Result<Value> {
    let all = run(root, release, log_dir, releases, None).await?;
    let export_only = run(root, release, log_dir, releases, Some("export")).await?;
    Ok(json!({ "all_steps": all, "export_only": export_only }))
}

async fn run(
    root: &Path,
    release: &Path,
    log_dir: &Path,
    releases: usize,
    required: Option<&str>,
) -> anyhow::Result<Value> {
    let mut s = runner::Scenario::many(root, releases);
    s.binaries = Some(release.to_path_buf());
    s.log_dir = log_dir.join(format!("latency-{}", required.unwrap_or("all")));
    if let Some(steps) = required {
        s.parameters.push(("RequiredSteps".into(), steps.into()));
    }
    let report = runner::run(s).await?;
    anyhow::ensure!(
        report
            .releases
            .iter()
            .all(|(_, state)| state == "published"),
        "not every release was published (logs in {})",
        report.log_dir.display()
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let event_path: Vec<f64> = report
        .invocations
        .iter()
        .filter(|i| !i.trigger.contains("Scheduled"))
        .map(|i| ms(i.duration))
        .collect();
    // Event → the resulting AWS API call: from handing the event to the function to the first
    // call its key signed at the emulator (Image Builder, EC2, AppStream, EventBridge) within
    // that invocation; a function runs one invocation at a time, so the window is its own.
    let arrivals = report.emulator.arrivals();
    let first_call: Vec<f64> = report
        .invocations
        .iter()
        .filter(|i| !i.trigger.contains("Scheduled"))
        .filter_map(|i| {
            let key = runner::process::access_key(&i.function);
            let end = i.handed + i.duration;
            arrivals
                .iter()
                .filter(|(k, at)| *k == key && *at >= i.handed && *at <= end)
                .map(|(_, at)| ms(at.duration_since(i.handed)))
                .min_by(f64::total_cmp)
        })
        .collect();
    // Last step → manifest, from every manifest: `published_at` against the latest step end.
    // Export ends with its last artifact hashed after the S3 event; AppStream ends when a tick
    // sees the last copy AVAILABLE (AWS sends no event for copies).
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&runner::sdk_config(&report.moto.endpoint).await)
            .force_path_style(true)
            .build(),
    );
    let (mut after_export, mut after_appstream) = (Vec::new(), Vec::new());
    for (id, _) in &report.releases {
        let Ok(object) = s3
            .get_object()
            .bucket(runner::BUCKET)
            .key(format!("releases/{id}/manifest.json"))
            .send()
            .await
        else {
            continue;
        };
        let Ok(bytes) = object.body.collect().await else {
            continue;
        };
        let Ok(manifest) = serde_json::from_slice::<shared::release::Manifest>(&bytes.into_bytes())
        else {
            continue;
        };
        let time = |t: &str| shared::clock::parse_time(t);
        let Some(published) = time(&manifest.timestamps.published_at) else {
            continue;
        };
        let last = manifest
            .steps
            .iter()
            .filter(|s| s.step != shared::release::Step::Publish)
            .filter_map(|s| Some((time(&s.ended_at)?, s.step)))
            .max_by_key(|(at, _)| *at);
        if let Some((ended, step)) = last {
            let waited = ms(published.duration_since(ended).unwrap_or_default());
            match step {
                shared::release::Step::Appstream => after_appstream.push(waited),
                _ => after_export.push(waited),
            }
        }
    }
    let event = summary(event_path);
    let call = summary(first_call);
    let export_last = summary(after_export);
    let appstream_last = summary(after_appstream);
    println!(
        "\nLatency the automation adds ({releases} releases over {} pipelines, RequiredSteps {}, warm, release binaries)",
        runner::MANY_PIPELINES.len(),
        required.unwrap_or("export,appstream")
    );
    println!(
        "event → resulting AWS API call: {call} invocations that made one (target p99 ≤ 50 ms); whole event-path invocations {event}"
    );
    println!(
        "last step ended → manifest published: export last (event path) {export_last}; AppStream last (seen by a tick) {appstream_last}"
    );
    Ok(json!({
        "releases": releases,
        "event_to_call": call,
        "event_path_invocations": event,
        "last_step_to_manifest": { "export_last": export_last, "appstream_last": appstream_last },
    }))
}
