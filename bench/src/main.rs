//! `bench`: builds every function and a bare `lambda_runtime` hello-world with the release
//! profile, then measures, against a local Lambda Runtime API and local AWS endpoints:
//! * cold start: process spawn → first `GET /runtime/invocation/next` (init), and spawn → the
//!   response to the first invocation with the function's sample event (real SDK calls to the
//!   emulator, to an in-memory S3 stub and, for CloudFront, to moto), N times each;
//! * peak RSS (VmHWM of the function's own pid, read after the first invocation);
//! * stripped binary size, and the arm64 zip size when `cargo lambda build --arm64` or
//!   `sam build` output exists;
//! * fan-out: copy-appstream-image to 10 regions against 1 region, with latency injected into
//!   every AppStream call.
//!
//! Prints a table with min/median/max and the ratio to the baseline of the same run, and writes
//! the same figures to `<target>/bench/results.json`.

mod catalog;
mod checksum;
mod confined;
mod cost;
mod instructions;
mod latency;
mod s3_stub;
mod soak;
mod tick;

use clap::Parser;
use emulator::{Emulator, Fault};
use runner::process::{FunctionProcess, Moto, lambda_environment};
use runner::runtime_api::{Outcome, RuntimeApi};
use runner::template::{self, Template};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Cold start, memory, size and fan-out benchmark of the release functions")]
struct Args {
    /// Cold starts per binary.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Skip `cargo build --release` (use the binaries already there).
    #[arg(long)]
    no_build: bool,
    /// Latency injected into each AppStream call for the fan-out measurement, in milliseconds.
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    /// Size of the object the checksum measurement hashes, in MiB.
    #[arg(long, default_value_t = 1024)]
    checksum_mib: usize,
    /// Measure only the checksum (SHA-256 of an S3 object against `sha256sum`).
    #[arg(long)]
    only_checksum: bool,
    /// Measure only the catalog's cost against the length of the history.
    #[arg(long)]
    only_catalog: bool,
    /// The numbers of releases already published of the catalog measurement.
    #[arg(long, value_delimiter = ',', default_value = "10,1000,10000,100000")]
    catalog_sizes: Vec<usize>,
    /// Measure only hashing at each Lambda memory size's CPU share.
    #[arg(long)]
    only_shares: bool,
    /// Size of the object hashed at each memory size's share, in MiB.
    #[arg(long, default_value_t = 256)]
    share_mib: usize,
    /// Also hash a synthetic object of this many GiB through resumption at the template's share
    /// (0: off; 100 takes tens of minutes here).
    #[arg(long, default_value_t = 0)]
    hash_gib: u64,
    /// The slice each invocation hashes in that measurement, in MiB (publish-release's
    /// `CHECKSUM_SLICE_MIB`).
    #[arg(long, default_value_t = 16384)]
    hash_slice_mib: u64,
    /// The artifact size the hashing at the template's share is extrapolated to, in GiB.
    #[arg(long, default_value_t = 100)]
    extrapolate_gib: u64,
    /// Measure only the scale of one publish-release tick.
    #[arg(long)]
    only_tick: bool,
    /// Measure only the cost of one release (the local release with the release binaries).
    #[arg(long)]
    only_cost: bool,
    /// Measure only the cold starts (with instruction counts where valgrind is installed).
    #[arg(long)]
    only_cold_start: bool,
    /// Measure only the soak's releases, memory-confined against memory- and CPU-confined.
    #[arg(long)]
    only_soak: bool,
    /// Releases of the soak measurement.
    #[arg(long, default_value_t = 150)]
    soak_releases: usize,
    /// Measure only the event path (each function's sample event) at each memory size's share.
    #[arg(long)]
    only_event_path: bool,
    /// Measure only the latency the automation adds (a soak-like local run).
    #[arg(long)]
    only_latency: bool,
    /// Releases of the latency measurement.
    #[arg(long, default_value_t = 40)]
    latency_releases: usize,
    /// The numbers of pending releases of the tick measurement.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000")]
    tick_sizes: Vec<usize>,
    /// Latency on every AWS and S3 call during the tick, in milliseconds.
    #[arg(long, default_value_t = 50)]
    tick_latency_ms: u64,
    /// The Lambda memory sizes the tick runs at, each confined to its CPU share and memory
    /// (0: unconfined).
    #[arg(long, value_delimiter = ',', default_value = "128,256,512,1024,1769")]
    tick_memory: Vec<u32>,
}

const FUNCTIONS: [(&str, &str); 5] = [
    ("start-pipeline", "release-requested.json"),
    ("distribute-image", "image-available-pipeline.json"),
    ("export-image", "image-available-distributed.json"),
    ("copy-appstream-image", "image-available-distributed.json"),
    ("publish-release", "scheduled-event.json"),
];

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

fn build(root: &Path, packages: &[&str]) -> anyhow::Result<()> {
    for &package in packages {
        eprintln!("building {package} (release)…");
        let status = std::process::Command::new("cargo")
            .args(["build", "--release", "--quiet", "-p", package])
            .current_dir(root)
            .status()?;
        anyhow::ensure!(
            status.success(),
            "cargo build --release -p {package} failed"
        );
        // Keep this build's binary: the next package's build may relink it with other features.
        let dir = target_dir(root).join("release");
        std::fs::copy(dir.join(package), dir.join(format!("{package}.bench")))?;
    }
    Ok(())
}

/// The binary `build` kept for the bench (`<name>.bench`), else the last one built.
fn bench_binary(release: &Path, name: &str) -> PathBuf {
    let kept = release.join(format!("{name}.bench"));
    if kept.exists() {
        kept
    } else {
        release.join(name)
    }
}

/// A sample event of `events/`.
fn sample_event(root: &Path, file: &str) -> anyhow::Result<Value> {
    Ok(serde_json::from_str(&std::fs::read_to_string(
        root.join("events").join(file),
    )?)?)
}

/// The functions' `MemorySize` in the template (`Globals.Function.MemorySize`).
fn template_memory(root: &Path) -> u32 {
    std::fs::read_to_string(root.join("template.yaml"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.trim().strip_prefix("MemorySize:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(128)
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[derive(Debug, Default, Clone)]
struct Sample {
    init: Vec<f64>,
    first: Vec<f64>,
    rss_kb: Vec<u64>,
    outcome: String,
    instructions: Option<instructions::Instructions>,
}

struct Local {
    _moto: Moto,
    emulator: Emulator,
    moto_endpoint: String,
    s3: s3_stub::S3Stub,
    env: BTreeMap<String, BTreeMap<String, String>>,
    /// The pipeline and distribution configuration the template is resolved with.
    pipeline_arn: String,
    distribution_arn: String,
}

impl Local {
    /// The environment of `name` as Lambda would give it, with its endpoints on the local services.
    fn environment(&self, name: &str) -> BTreeMap<String, String> {
        let mut env = lambda_environment(name, "", &self.emulator.endpoint(), &self.moto_endpoint);
        env.insert("AWS_ENDPOINT_URL_S3".into(), self.s3.endpoint.clone());
        env.extend(self.env.get(name).cloned().unwrap_or_default());
        // A reference to a resource the bench does not create (the release bus: `<ReleaseBus>`)
        // is left out, so the function takes its default (the default bus).
        env.retain(|_, v| !(v.starts_with('<') && v.ends_with('>')));
        env
    }
}

async fn local(root: &Path, log_dir: &Path, regions: &[String]) -> anyhow::Result<Local> {
    let moto = Moto::start(&Moto::executable(), &log_dir.join("moto.log")).await?;
    let aws = runner::sdk_config(&moto.endpoint).await;
    let stub = s3_stub::S3Stub::start().await?;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&aws)
            .endpoint_url(&stub.endpoint)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket(runner::BUCKET)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(&e)))?;
    let (distribution_id, domain) =
        runner::create_distribution(&runner::CloudFrontClient::new(&aws)).await?;
    let mut config = emulator::Config::demo();
    config.step = Duration::from_millis(20);
    config.s3_endpoint = Some(stub.endpoint.clone());
    config.appstream_regions.extend(regions.iter().cloned());
    config.appstream_images.push((
        "us-east-1".into(),
        runner::SOURCE_APPSTREAM_IMAGE.into(),
        vec![("team".into(), "platform".into())],
    ));
    let pipeline_arn = config.pipeline_arn("golden");
    let distribution_arn = config.distribution_arn("golden");
    let values = runner::local_values(
        &pipeline_arn,
        &distribution_arn,
        regions,
        &distribution_id,
        &domain,
    );
    let (emulator, mut events) = Emulator::start(config, 0).await?;
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let template = Template::load(&root.join("template.yaml"), values)?;
    let env = template::functions(&template.resolved())
        .into_iter()
        .map(|f| (f.binary, f.environment))
        .collect();
    Ok(Local {
        moto_endpoint: moto.endpoint.clone(),
        _moto: moto,
        emulator,
        s3: stub,
        env,
        pipeline_arn,
        distribution_arn,
    })
}

/// When `binary` first polled `api` for an invocation; an error naming its init error (an
/// invalid configuration, say) when it has not within 30 s, instead of waiting for ever.
pub(crate) async fn first_poll(api: &RuntimeApi, binary: &Path) -> anyhow::Result<Instant> {
    tokio::time::timeout(Duration::from_secs(30), api.first_poll())
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "{} never polled for an invocation: {}",
                binary.display(),
                api.init_error()
                    .unwrap_or_else(|| "no init error reported".to_owned())
            )
        })
}

/// One cold start: spawn, wait for the first poll, invoke once, read VmHWM, stop. With
/// `memory_mb`, the process runs confined to that memory size's CPU share and memory.
async fn cold_start(
    binary: &Path,
    env: &BTreeMap<String, String>,
    event: &Value,
    log: &Path,
    memory_mb: Option<u32>,
) -> anyhow::Result<(f64, f64, u64, String)> {
    let api = RuntimeApi::start("bench").await?;
    let mut environment = env.clone();
    environment.insert("AWS_LAMBDA_RUNTIME_API".into(), api.address());
    let cgroup = memory_mb.and_then(|memory_mb| {
        let limits = runner::confine::Limits {
            memory_mb,
            cpu_share: true,
        };
        runner::confine::Cgroup::create("bench-cold", limits).ok()
    });
    let spawned = Instant::now();
    let mut process = FunctionProcess::spawn_in(binary, &environment, log, cgroup.as_ref())?;
    let pid = process.id().unwrap_or_default();
    let invoked = api.invoke(event.clone(), Duration::from_secs(30));
    let (outcome, polled) = tokio::join!(invoked, first_poll(&api, binary));
    let polled = polled?;
    let first = spawned.elapsed().as_secs_f64() * 1000.0;
    let init = polled.duration_since(spawned).as_secs_f64() * 1000.0;
    let rss = vm_hwm_kb(pid).unwrap_or_default();
    if let Some(status) = process.exited() {
        anyhow::bail!(
            "{} exited early ({status}); see {}",
            binary.display(),
            log.display()
        );
    }
    let kind = match outcome {
        Outcome::Response(_) => "ok".to_owned(),
        Outcome::Error { error_type, .. } => error_type,
    };
    Ok((init, first, rss, kind))
}

fn stats(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn zip_size(file: &Path) -> Option<u64> {
    let zip = std::env::temp_dir().join(format!("bench-{}.zip", std::process::id()));
    let dir = file.parent()?;
    let ok = std::process::Command::new("python3")
        .args(["-m", "zipfile", "-c"])
        .arg(&zip)
        .arg(file.file_name()?)
        .current_dir(dir)
        .status()
        .ok()?
        .success();
    let size = ok
        .then(|| std::fs::metadata(&zip).ok().map(|m| m.len()))
        .flatten();
    let _ = std::fs::remove_file(&zip);
    size
}

/// Each function's sample event, cold (init + first invocation, which Lambda bills for a
/// custom runtime), at each memory size of [`checksum::MEMORY_SIZES`] confined to its CPU share:
/// milliseconds and billed GB-s, median of `runs`.
async fn event_path(
    root: &Path,
    release: &Path,
    local: &Local,
    runs: usize,
    log_dir: &Path,
) -> anyhow::Result<Value> {
    let mut rows = Vec::new();
    println!(
        "\nEvent path at each memory size's CPU share: init + first invocation of each sample event (median of {runs}; ms and billed GB-s)"
    );
    print!("{:<22}", "function");
    for mb in checksum::MEMORY_SIZES {
        print!(" {:>22}", format!("{mb} MB"));
    }
    println!();
    for (name, event_file) in FUNCTIONS {
        let binary = bench_binary(release, name);
        let event = sample_event(root, event_file)?;
        let env = local.environment(name);
        print!("{name:<22}");
        let mut cells = Vec::new();
        for memory_mb in checksum::MEMORY_SIZES {
            let mut firsts = Vec::new();
            let mut rss = 0;
            for run in 0..runs {
                let (_, first, peak, _) = cold_start(
                    &binary,
                    &env,
                    &event,
                    &log_dir.join(format!("{name}-{memory_mb}-{run}.log")),
                    Some(memory_mb),
                )
                .await?;
                firsts.push(first);
                rss = rss.max(peak);
            }
            let (_, median, _) = stats(&firsts);
            let gbs = confined::gb_seconds(median / 1000.0, memory_mb);
            print!(" {:>22}", format!("{median:.1} ms {gbs:.5}"));
            cells.push(json!({"memory_mb": memory_mb, "ms": median, "gb_seconds": gbs, "peak_rss_kb": rss}));
        }
        println!();
        rows.push(json!({"function": name, "event": event_file, "at": cells}));
    }
    Ok(Value::Array(rows))
}

/// Fan-out: copy-appstream-image's invocation time for `regions`, with latency on every AppStream call.
async fn fan_out(
    root: &Path,
    binary: &Path,
    regions: &[String],
    latency: Duration,
    log_dir: &Path,
) -> anyhow::Result<f64> {
    let local = local(root, log_dir, regions).await?;
    // A distributed image carrying the release tag, made through the emulator itself.
    let aws = runner::sdk_config(&local.emulator.endpoint()).await;
    let ib = runner::ImageBuilderClient::new(&aws);
    let source = ib
        .start_image_pipeline_execution()
        .image_pipeline_arn(&local.pipeline_arn)
        .client_token("bench")
        .send()
        .await?
        .image_build_version_arn
        .unwrap_or_default();
    wait_available(&ib, &source).await?;
    let distributed = ib
        .distribute_image()
        .source_image(&source)
        .distribution_configuration_arn(&local.distribution_arn)
        .execution_role("arn:aws:iam::123456789012:role/Dist")
        .tags("image-release:release-id", "golden-1.0.0-1")
        .client_token("bench-d")
        .send()
        .await?
        .image_build_version_arn
        .unwrap_or_default();
    wait_available(&ib, &distributed).await?;
    // The release's distribution record naming the distributed image: copy-appstream-image
    // acts only for a release's own distributed image (its lineage, since the shared-account
    // work), as distribute-image would have recorded it.
    let id = shared::domain::ReleaseId::parse("bench", "golden-1.0.0-1")?;
    let record = shared::release::DistributionRecord {
        schema_version: shared::release::SCHEMA_VERSION,
        release_id: id.clone(),
        source_image_arn: source.clone(),
        distribution_configuration_arn: local.distribution_arn.clone(),
        distributed_image_arn: Some(distributed.clone()),
        client_token: "bench-d".into(),
        requested_at: shared::release::timestamp(std::time::SystemTime::now()),
    };
    local.s3.insert(
        runner::BUCKET,
        &shared::release::keys::distribution(&id),
        serde_json::to_vec(&record)?.into(),
    );
    // And pending, as start-pipeline registered it: a function acts only for a pending release.
    let pending = shared::release::PendingMarker {
        schema_version: shared::release::SCHEMA_VERSION,
        release_id: id.clone(),
        since: record.requested_at.clone(),
        source_image_arn: Some(source.clone()),
    };
    local.s3.insert(
        runner::BUCKET,
        &shared::release::keys::pending(&id),
        serde_json::to_vec(&pending)?.into(),
    );
    for op in ["appstream:DescribeImages", "appstream:CopyImage"] {
        local.emulator.inject(op, Fault::latency(latency));
    }
    let mut env = local.environment("copy-appstream-image");
    env.insert("APPSTREAM_DESTINATION_REGIONS".into(), regions.join(","));
    let event = json!({
        "version": "0", "id": "bench", "detail-type": "EC2 Image Builder Image State Change", "source": "aws.imagebuilder",
        "account": "123456789012", "time": "2026-11-20T10:00:00Z", "region": "us-east-1", "resources": [distributed],
        "detail": { "state": { "status": "AVAILABLE" } }
    });
    let api = RuntimeApi::start("bench").await?;
    env.insert("AWS_LAMBDA_RUNTIME_API".into(), api.address());
    let _process = FunctionProcess::spawn(
        binary,
        &env,
        &log_dir.join(format!("fanout-{}.log", regions.len())),
    )?;
    first_poll(&api, binary).await?;
    let started = Instant::now();
    let outcome = api.invoke(event, Duration::from_secs(60)).await;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(
        matches!(outcome, Outcome::Response(_)),
        "fan-out invocation failed: {outcome:?}"
    );
    let copies = regions
        .iter()
        .filter(|r| {
            local
                .emulator
                .appstream_image(r, runner::SOURCE_APPSTREAM_IMAGE)
                .is_some()
        })
        .count();
    anyhow::ensure!(
        copies == regions.len(),
        "only {copies} of {} copies were made",
        regions.len()
    );
    Ok(elapsed)
}

async fn wait_available(ib: &runner::ImageBuilderClient, arn: &str) -> anyhow::Result<()> {
    for _ in 0..500 {
        let image = ib
            .get_image()
            .image_build_version_arn(arn)
            .send()
            .await?
            .image;
        if image
            .and_then(|i| i.state)
            .and_then(|s| s.status)
            .is_some_and(|s| s.as_str() == "AVAILABLE")
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    anyhow::bail!("{arn} never became AVAILABLE")
}

/// The instruction counts of the cold starts, with their ratios to the hello-world's.
fn print_instructions(rows: &[(String, Sample, u64, Option<u64>)]) {
    let Some(base) = rows.first().and_then(|(_, s, _, _)| s.instructions) else {
        return;
    };
    println!("\nInstructions (callgrind; millions, ratio to the hello-world)");
    println!(
        "{:<22} {:>14} {:>6} {:>24} {:>6}",
        "binary", "init", "×", "init + 1st invocation", "×"
    );
    for (name, sample, _, _) in rows {
        if let Some(i) = sample.instructions {
            println!(
                "{name:<22} {:>14.2} {:>6.2} {:>24.2} {:>6.2}",
                i.init as f64 / 1e6,
                i.init as f64 / base.init as f64,
                i.first as f64 / 1e6,
                i.first as f64 / base.first as f64,
            );
        }
    }
}

/// What the full run measures besides cold starts: fan-out, tick scale, cost and added latency.
struct Rest {
    one: f64,
    many: f64,
    ticks: Value,
    cost: Value,
    added: Value,
    soak: Value,
}

async fn everything_else<T, A>(
    args: &Args,
    root: &Path,
    release: &Path,
    log_dir: &Path,
    ticks: impl FnOnce() -> T,
    added: impl FnOnce() -> A,
) -> anyhow::Result<Rest>
where
    T: std::future::Future<Output = anyhow::Result<Value>>,
    A: std::future::Future<Output = anyhow::Result<Value>>,
{
    let copy = bench_binary(release, "copy-appstream-image");
    let latency = Duration::from_millis(args.latency_ms);
    let one = fan_out(root, &copy, &["eu-west-1".to_owned()], latency, log_dir).await?;
    let ten: Vec<String> = [
        "eu-west-1",
        "eu-west-2",
        "eu-central-1",
        "eu-west-3",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "ap-south-1",
        "ca-central-1",
        "sa-east-1",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let many = fan_out(root, &copy, &ten, latency, log_dir).await?;

    let ticks = ticks().await?;
    let cost = cost::measure(root, release, log_dir).await?;
    let added = added().await?;
    let soak = soak::measure(
        root,
        release,
        log_dir,
        args.soak_releases,
        template_memory(root),
    )
    .await?;

    Ok(Rest {
        one,
        many,
        ticks,
        cost,
        added,
        soak,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let root = runner::workspace_root();
    if !args.no_build {
        // One package per build, so each function is linked with only the SDK features it enables.
        let packages: Vec<&str> = if args.only_checksum || args.only_shares {
            vec!["bench-hash"]
        } else if args.only_catalog {
            vec!["bench-catalog"]
        } else if args.only_tick {
            vec!["publish-release"]
        } else if args.only_cost || args.only_latency || args.only_event_path || args.only_soak {
            FUNCTIONS.iter().map(|(f, _)| *f).collect()
        } else if args.only_cold_start {
            std::iter::once("bench-hello")
                .chain(FUNCTIONS.iter().map(|(f, _)| *f))
                .collect()
        } else {
            ["bench-hash", "bench-hello", "bench-catalog"]
                .into_iter()
                .chain(FUNCTIONS.iter().map(|(f, _)| *f))
                .collect()
        };
        build(&root, &packages)?;
    }
    let release = target_dir(&root).join("release");
    let out_dir = target_dir(&root).join("bench");
    std::fs::create_dir_all(&out_dir)?;
    let log_dir = out_dir.join("logs");
    std::fs::create_dir_all(&log_dir)?;
    let tick_binary = bench_binary(&release, "publish-release");
    let ticks = || {
        let latency = Duration::from_millis(args.tick_latency_ms);
        tick::measure(
            &root,
            &tick_binary,
            &args.tick_sizes,
            &args.tick_memory,
            latency,
            &log_dir,
        )
    };
    let added = || latency::measure(&root, &release, &log_dir, args.latency_releases);
    let write = |name: &str, value: &Value| -> anyhow::Result<()> {
        let path = out_dir.join(name);
        std::fs::write(&path, serde_json::to_string_pretty(value)?)?;
        println!("\nwritten to {}", path.display());
        Ok(())
    };
    let template_mb = template_memory(&root);
    let shares = || {
        checksum::at_shares(
            &release,
            args.share_mib,
            template_mb,
            args.extrapolate_gib,
            &log_dir,
        )
    };
    let history = || catalog::measure(&release, &args.catalog_sizes, template_mb, &log_dir);
    let huge = || async {
        if args.hash_gib == 0 {
            return Ok(Value::Null);
        }
        checksum::huge(&release, args.hash_gib, template_mb, args.hash_slice_mib).await
    };
    if args.only_shares {
        let mut all = shares().await?;
        all["huge"] = huge().await?;
        return write("shares.json", &all);
    }
    if args.only_catalog {
        return write("catalog.json", &history().await?);
    }
    if args.only_tick {
        return write("tick.json", &ticks().await?);
    }
    if args.only_latency {
        return write("latency.json", &added().await?);
    }
    if args.only_soak {
        return write(
            "soak.json",
            &soak::measure(&root, &release, &log_dir, args.soak_releases, template_mb).await?,
        );
    }
    if args.only_cost {
        return write(
            "cost.json",
            &cost::measure(&root, &release, &log_dir).await?,
        );
    }
    let checksum = if args.only_cold_start || args.only_event_path {
        Value::Null
    } else {
        checksum::measure(&release, args.checksum_mib, &log_dir).await?
    };
    if args.only_checksum {
        return write("checksum.json", &checksum);
    }
    let (shares, history) = if args.only_cold_start || args.only_event_path {
        (Value::Null, Value::Null)
    } else {
        let mut shares = shares().await?;
        shares["huge"] = huge().await?;
        (shares, history().await?)
    };
    let regions: Vec<String> = ["eu-west-1", "ap-southeast-2"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let local = local(&root, &log_dir, &regions).await?;
    if args.only_event_path {
        let runs = args.runs.min(5);
        return write(
            "event-path.json",
            &event_path(&root, &release, &local, runs, &log_dir).await?,
        );
    }

    let callgrind = instructions::available();
    if !callgrind {
        eprintln!("valgrind not found: no instruction counts (apt-get install valgrind)");
    }
    let mut rows: Vec<(String, Sample, u64, Option<u64>)> = Vec::new();
    let all = std::iter::once(("bench-hello", "scheduled-event.json")).chain(FUNCTIONS);
    for (name, event_file) in all {
        let binary = bench_binary(&release, name);
        let event = sample_event(&root, event_file)?;
        let env = local.environment(name);
        let mut sample = Sample::default();
        for run in 0..args.runs {
            let (init, first, rss, outcome) = cold_start(
                &binary,
                &env,
                &event,
                &log_dir.join(format!("{name}-{run}.log")),
                None,
            )
            .await?;
            sample.init.push(init);
            sample.first.push(first);
            sample.rss_kb.push(rss);
            sample.outcome = outcome;
        }
        if callgrind {
            sample.instructions =
                Some(instructions::measure(&binary, &env, &event, &log_dir).await?);
        }
        let size = std::fs::metadata(&binary)
            .map(|m| m.len())
            .unwrap_or_default();
        let arm64 = [
            root.join("target/lambda").join(name).join("bootstrap"),
            target_dir(&root)
                .join("lambda")
                .join(name)
                .join("bootstrap"),
        ]
        .into_iter()
        .chain(
            std::fs::read_dir(root.join(".aws-sam/build"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path().join("bootstrap"))
                .filter(|p| {
                    p.parent()
                        .and_then(|d| d.file_name())
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| {
                            n.eq_ignore_ascii_case(&format!("{}Function", name.replace('-', "")))
                        })
                }),
        )
        .find(|p| p.exists())
        .and_then(|p| zip_size(&p));
        eprintln!("measured {name}");
        rows.push((name.to_owned(), sample, size, arm64));
    }

    let event_path = event_path(&root, &release, &local, args.runs.min(5), &log_dir).await?;
    let rest = if args.only_cold_start {
        None
    } else {
        Some(everything_else(&args, &root, &release, &log_dir, ticks, added).await?)
    };

    // The table and the JSON.
    let base = &rows[0].1;
    let (_, base_init, _) = stats(&base.init);
    let (_, base_first, _) = stats(&base.first);
    println!(
        "\nCold start over {} runs each (ms: min / median / max), ratio of medians to the bare hello-world of this run; MB = 10^6 bytes",
        args.runs
    );
    println!(
        "{:<22} {:>22} {:>6} {:>22} {:>6} {:>9} {:>10} {:>10}  first outcome",
        "binary", "init", "×", "init + 1st invocation", "×", "peak RSS", "stripped", "arm64 zip"
    );
    let mut json_rows = Vec::new();
    for (name, s, size, zip) in &rows {
        let (i0, i1, i2) = stats(&s.init);
        let (f0, f1, f2) = stats(&s.first);
        let rss = s.rss_kb.iter().copied().max().unwrap_or_default();
        println!(
            "{name:<22} {:>22} {:>6.2} {:>22} {:>6.2} {:>7.2}MB {:>8.2}MB {:>10}  {}",
            format!("{i0:.1} / {i1:.1} / {i2:.1}"),
            i1 / base_init,
            format!("{f0:.1} / {f1:.1} / {f2:.1}"),
            f1 / base_first,
            rss as f64 * 1024.0 / 1e6,
            *size as f64 / 1e6,
            zip.map_or_else(|| "-".to_owned(), |z| format!("{:.2}MB", z as f64 / 1e6)),
            s.outcome
        );
        json_rows.push(json!({
            "binary": name, "runs": s.init.len(),
            "init_ms": { "min": i0, "median": i1, "max": i2, "ratio_to_baseline": i1 / base_init },
            "init_and_first_invocation_ms": { "min": f0, "median": f1, "max": f2, "ratio_to_baseline": f1 / base_first },
            "peak_rss_kb": rss, "stripped_bytes": size, "arm64_zip_bytes": zip, "first_outcome": s.outcome,
            "instructions": s.instructions.map(|i| json!({
                "init": i.init, "init_and_first_invocation": i.first,
            })),
        }));
    }
    print_instructions(&rows);
    let machine = json!({ "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), "os": std::env::consts::OS, "arch": std::env::consts::ARCH });
    let mut results = json!({ "machine": machine, "runs": args.runs, "binaries": json_rows, "checksum": checksum, "checksum_at_shares": shares, "catalog": history, "event_path": event_path });
    if let Some(Rest {
        one,
        many,
        ticks,
        cost,
        added,
        soak,
    }) = rest
    {
        println!(
            "\nFan-out of copy-appstream-image with {} ms on every AppStream call: 1 region {one:.0} ms, 10 regions {many:.0} ms, ratio {:.2}",
            args.latency_ms,
            many / one
        );
        results["fan_out"] = json!({ "latency_ms": args.latency_ms, "one_region_ms": one, "ten_regions_ms": many, "ratio": many / one });
        results["tick"] = ticks;
        results["cost"] = cost;
        results["latency"] = added;
        results["soak"] = soak;
    }
    write(
        if args.only_cold_start {
            "cold-start.json"
        } else {
            "results.json"
        },
        &results,
    )
}
