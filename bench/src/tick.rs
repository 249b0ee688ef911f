//! Scale of one tick: publish-release's scheduled invocation with 1, 10, 100 and 1,000 pending
//! releases, each at a different step, with the same latency on every AWS call (the emulator's
//! and the S3 stub's). Seeded straight into the emulator and the stub (no lifecycle runs while
//! measuring), then one invocation of the release binary through the local Runtime API:
//! its wall time, AWS calls by operation, S3 requests by operation, and the process's peak RSS.
//!
//! The four waiting steps, in turn (`i % 4`):
//! 0. building: the pipeline's image is BUILDING (build record and pending marker);
//! 1. distributing: the source is AVAILABLE, the distributed image DISTRIBUTING;
//! 2. exporting and copying: the export task is active at 40%, each AppStream copy COPYING;
//! 3. copying only: the export is done (object and checksum record in S3), the copies COPYING.

use crate::{Local, vm_hwm_kb};
use runner::process::FunctionProcess;
use runner::runtime_api::{Outcome, RuntimeApi};
use serde_json::{Value, json};
use shared::release::{
    self, AppStreamDestination, AppStreamRecord, AppStreamSourceMode, BuildOrigin, BuildRecord,
    ChecksumRecord, CopyState, DistributionRecord, ExportRecord, PendingMarker, SCHEMA_VERSION,
    keys,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

const HOME: &str = "us-east-1";
const PHASES: [&str; 4] = ["building", "distributing", "exporting+copying", "copying"];

fn put<T: serde::Serialize>(local: &Local, key: &str, value: &T) {
    let body = serde_json::to_vec(value).expect("a record serializes");
    local.s3.insert(runner::BUCKET, key, body.into());
}

/// Seeds release `i` at its step: records in the S3 stub, resources in the emulator.
fn seed(local: &Local, i: usize, regions: &[String]) {
    let version = format!("1.{}.{}", i / 1000, i % 1000);
    let source = format!("arn:aws:imagebuilder:{HOME}:123456789012:image/golden/{version}/1");
    let distributed = format!("arn:aws:imagebuilder:{HOME}:123456789012:image/golden/{version}/2");
    let id = shared::domain::ReleaseId::parse("bench", &format!("golden-{version}-1"))
        .expect("a release id");
    let now = release::timestamp(std::time::SystemTime::now());
    let phase = i % 4;
    put(
        local,
        &keys::pending(&id),
        &PendingMarker {
            schema_version: SCHEMA_VERSION,
            release_id: id.clone(),
            since: now.clone(),
            source_image_arn: Some(source.clone()),
        },
    );
    put(
        local,
        &keys::build(&id),
        &BuildRecord {
            schema_version: SCHEMA_VERSION,
            release_id: id.clone(),
            image_build_version_arn: source.clone(),
            pipeline_arn: Some(local.pipeline_arn.clone()),
            origin: BuildOrigin::StartPipeline,
            recorded_at: now.clone(),
        },
    );
    let pipeline = Some(local.pipeline_arn.as_str());
    if phase == 0 {
        local
            .emulator
            .seed_image(&source, "BUILDING", pipeline, Vec::new());
        return;
    }
    let ami = format!("ami-{i:017x}");
    local.emulator.seed_image(
        &source,
        "AVAILABLE",
        pipeline,
        vec![(HOME.into(), ami.clone())],
    );
    put(
        local,
        &keys::distribution(&id),
        &DistributionRecord {
            schema_version: SCHEMA_VERSION,
            release_id: id.clone(),
            source_image_arn: source.clone(),
            distribution_configuration_arn: local.distribution_arn.clone(),
            distributed_image_arn: Some(distributed.clone()),
            client_token: format!("bench-{i}"),
            requested_at: now.clone(),
        },
    );
    if phase == 1 {
        local
            .emulator
            .seed_image(&distributed, "DISTRIBUTING", None, Vec::new());
        return;
    }
    let copy = format!("ami-{:017x}", i + 1_000_000);
    local.emulator.seed_image(
        &distributed,
        "AVAILABLE",
        None,
        vec![(HOME.into(), copy.clone())],
    );
    let task = format!("export-ami-{i:017x}");
    let prefix = id.prefix();
    let record = ExportRecord {
        schema_version: SCHEMA_VERSION,
        release_id: id.clone(),
        distributed_image_arn: distributed.clone(),
        region: HOME.into(),
        ami_id: shared::domain::AmiId::parse("bench", &copy).expect("an AMI id"),
        amis: Vec::new(),
        export_task_id: task.clone(),
        format: shared::domain::DiskImageFormat::Vmdk,
        bucket: runner::BUCKET.into(),
        prefix: prefix.clone(),
        client_token: format!("bench-export-{i}"),
        requested_at: now.clone(),
        attempt: 0,
        generation: 0,
    };
    put(local, &keys::export(&id, record.format, 0), &record);
    if phase == 2 {
        local
            .emulator
            .seed_export_task(&task, &copy, runner::BUCKET, &prefix, "active");
    } else {
        local
            .emulator
            .seed_export_task(&task, &copy, runner::BUCKET, &prefix, "completed");
        let object = record.object_key();
        local.s3.insert(runner::BUCKET, &object, "disk".into());
        put(
            local,
            &keys::checksum(&id, &object),
            &ChecksumRecord {
                schema_version: SCHEMA_VERSION,
                release_id: id.clone(),
                object_key: object.clone(),
                size_bytes: 4,
                sha256: shared::ports::sha256_hex(b"disk"),
                recorded_at: now.clone(),
            },
        );
    }
    let name = shared::domain::AppStreamImageName::parse("bench", id.as_str()).expect("a name");
    local
        .emulator
        .seed_appstream_image(HOME, id.as_str(), "AVAILABLE");
    // The release's mark, as copy-appstream-image records it and puts on each copy.
    let mark = format!("{i:032x}");
    put(
        local,
        &keys::appstream_mark(&id),
        &json!({"schemaVersion": SCHEMA_VERSION, "releaseId": id.as_str(), "mark": mark}),
    );
    for region in regions {
        local.emulator.seed_appstream_image_described(
            region,
            id.as_str(),
            "COPYING",
            &format!("(image-release {mark})"),
        );
    }
    put(
        local,
        &keys::appstream(&id),
        &AppStreamRecord {
            schema_version: SCHEMA_VERSION,
            release_id: id.clone(),
            mode: AppStreamSourceMode::Existing,
            source_region: HOME.into(),
            source_image_name: name.clone(),
            description: None,
            destinations: regions
                .iter()
                .map(|region| AppStreamDestination {
                    region: region.clone(),
                    image_name: name.clone(),
                    state: CopyState::Requested,
                })
                .collect(),
            requested_at: now,
        },
    );
}

/// One tick over `pending` seeded releases, at `memory_mb`'s share of CPU and memory (or
/// unconfined); the figures as JSON.
async fn one_tick(
    local: &Local,
    binary: &Path,
    pending: usize,
    latency: Duration,
    regions: &[String],
    memory_mb: Option<u32>,
    log_dir: &Path,
) -> anyhow::Result<Value> {
    local.emulator.set_export_stalls(true);
    for i in 0..pending {
        seed(local, i, regions);
    }
    let api = RuntimeApi::start("bench-tick").await?;
    let mut env = local.environment("publish-release");
    env.insert("AWS_LAMBDA_RUNTIME_API".into(), api.address());
    env.insert("AWS_LAMBDA_FUNCTION_TIMEOUT".into(), "900".into());
    let log = log_dir.join(format!("tick-{pending}.log"));
    let cgroup = memory_mb.and_then(|memory_mb| {
        let limits = runner::confine::Limits {
            memory_mb,
            cpu_share: true,
        };
        runner::confine::Cgroup::create("bench-tick", limits)
            .map_err(|e| eprintln!("bench: cannot make a cgroup ({e}): the tick runs unconfined"))
            .ok()
    });
    let share = match (&cgroup, memory_mb) {
        (Some(_), Some(mb)) => crate::confined::Share::Lambda(mb),
        _ => crate::confined::Share::Unconfined,
    };
    let mut process = FunctionProcess::spawn_in(binary, &env, &log, cgroup.as_ref())?;
    let pid = process.id().unwrap_or_default();
    crate::first_poll(&api, binary).await?;
    // Latency and counters from here: the tick only.
    let calls_before = local.emulator.counts();
    local.s3.meter.take_counts();
    local.emulator.set_latency(latency);
    local.s3.meter.set_latency(latency);
    let event: Value = json!({
        "version": "0", "id": "bench-tick", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-24T10:00:00Z", "region": HOME,
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/publish-release"], "detail": {}
    });
    let started = Instant::now();
    let outcome = api.invoke(event, Duration::from_secs(900)).await;
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    let rss_kb = vm_hwm_kb(pid).unwrap_or_default();
    local.emulator.set_latency(Duration::ZERO);
    local.s3.meter.set_latency(Duration::ZERO);
    if let Some(status) = process.exited() {
        anyhow::bail!("publish-release exited ({status}); see {}", log.display());
    }
    let response = match outcome {
        Outcome::Response(body) => body,
        Outcome::Error { error_type, .. } => {
            anyhow::bail!("the tick failed ({error_type}); see {}", log.display())
        }
    };
    let calls_after = local.emulator.counts();
    let aws: BTreeMap<String, u64> = calls_after
        .calls
        .iter()
        .map(|(op, n)| (op.clone(), u64::from(n - calls_before.call_count(op))))
        .filter(|(_, n)| *n > 0)
        .collect();
    let s3 = local.s3.meter.take_counts();
    let aws_total: u64 = aws.values().sum();
    let s3_total: u64 = s3.values().sum();
    let billed_mb = memory_mb.unwrap_or(128);
    Ok(json!({
        "pending": pending,
        "share": share.label(),
        "memory_mb": memory_mb,
        "wall_ms": wall_ms,
        "gb_seconds": crate::confined::gb_seconds(wall_ms / 1000.0, billed_mb),
        "peak_rss_kb": rss_kb,
        "aws_calls": aws,
        "aws_calls_total": aws_total,
        "s3_requests": s3,
        "s3_requests_total": s3_total,
        "calls_per_release": (aws_total + s3_total) as f64 / pending as f64,
        "response": response,
    }))
}

/// The tick at each size of `sizes`, each on a fresh local stack, at each memory size of
/// `memory` (its share of CPU; none: unconfined).
pub async fn measure(
    root: &Path,
    binary: &Path,
    sizes: &[usize],
    memory: &[u32],
    latency: Duration,
    log_dir: &Path,
) -> anyhow::Result<Value> {
    let regions: Vec<String> = vec!["eu-west-1".into(), "ap-southeast-2".into()];
    let mut rows = Vec::new();
    println!(
        "\nScale of one publish-release tick, {} ms on every AWS and S3 call; pending releases cycle through {}",
        latency.as_millis(),
        PHASES.join(", ")
    );
    println!(
        "{:>8} {:>8} {:>10} {:>9} {:>10} {:>10} {:>12} {:>10}  AWS calls by operation",
        "pending", "memory", "wall s", "GB-s", "AWS calls", "S3 req.", "per release", "peak RSS"
    );
    let memories: Vec<Option<u32>> = if memory.is_empty() {
        vec![None]
    } else {
        // 0: unconfined.
        memory.iter().map(|&m| (m > 0).then_some(m)).collect()
    };
    for &pending in sizes {
        for &memory_mb in &memories {
            let local = crate::local(root, log_dir, &regions).await?;
            let row = one_tick(
                &local, binary, pending, latency, &regions, memory_mb, log_dir,
            )
            .await?;
            println!(
                "{:>8} {:>8} {:>10.2} {:>9.4} {:>10} {:>10} {:>12.2} {:>8.2}MB  {}",
                pending,
                memory_mb.map_or_else(|| "unconf.".to_owned(), |m| format!("{m} MB")),
                row["wall_ms"].as_f64().unwrap_or_default() / 1000.0,
                row["gb_seconds"].as_f64().unwrap_or_default(),
                row["aws_calls_total"].as_u64().unwrap_or_default(),
                row["s3_requests_total"].as_u64().unwrap_or_default(),
                row["calls_per_release"].as_f64().unwrap_or_default(),
                row["peak_rss_kb"].as_f64().unwrap_or_default() * 1024.0 / 1e6,
                row["aws_calls"],
            );
            println!("{:>8} {:>76}  S3: {}", "", "", row["s3_requests"]);
            rows.push(row);
        }
    }
    Ok(json!({ "latency_ms": latency.as_millis() as u64, "phases": PHASES, "ticks": rows }))
}
