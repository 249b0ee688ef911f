//! The local release: moto (S3, CloudFront) and the emulator (Image Builder, EC2 export,
//! AppStream) on 127.0.0.1, every function of `template.yaml` running as its real compiled binary
//! under its own local Lambda Runtime API, and events routed to them by the template's own
//! EventBridge patterns (matched with quamina) and schedules (on an accelerated clock).

pub mod alarms;
pub mod cfn;
pub mod confine;
pub mod inventory;
mod invoke;
pub mod kept;
pub mod lambda;
pub mod process;
pub mod proxy;
pub mod runtime_api;
pub mod stack;
pub mod template;

use emulator::{CallCounts, Emulator, Fault};
use lambda::{DeadLetter, Lambda, Running};
use process::Moto;
use rand::{Rng, SeedableRng};
use runtime_api::Outcome;
use serde_json::{Value, json};
use stack::Stack;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use template::Values;
use tokio::sync::mpsc;

pub use aws_sdk_cloudfront::Client as CloudFrontClient;
pub use aws_sdk_imagebuilder::Client as ImageBuilderClient;

pub const BUCKET: &str = "image-release-artifacts";
/// The channels' SSM hierarchy the template gives the local stack: its default,
/// `/image-release/<stack name>/<stack region>` (stack output ChannelParameterPrefix).
pub const PARAMETER_PREFIX: &str = "/image-release/image-release/us-east-1";
pub const SOURCE_APPSTREAM_IMAGE: &str = "golden-1.0.0-1";

/// The running stack, as a hook sees it: every function up, its rules and schedules live.
#[derive(Clone)]
pub struct Live {
    /// moto's own endpoint: S3 and CloudFront without the local IAM (the account's
    /// administrator, as the operator tests act).
    pub s3: String,
    /// S3 and CloudFront through the authorizing proxy: what a caller with one of the local
    /// account's keys (a function's, the neighbour's) may do, the bucket policy included. moto's
    /// own endpoint when the scenario switches IAM off.
    pub s3_authorized: String,
    /// The emulated account (Image Builder, EC2, AppStream, EventBridge, KMS, SSM).
    pub emulator: Arc<Emulator>,
    /// The local Lambda's Invoke API (`POST /2015-03-31/functions/<name>/invocations`), under
    /// the local IAM.
    pub lambda: String,
    /// The stack's release bus (stack output `ReleaseBusName`): where `image-release request`
    /// puts, through the emulator's PutEvents.
    pub release_bus: String,
    /// The ARN of the stack's signing key(s) in the local KMS (`SigningKeyArn`).
    pub signing_keys: Vec<String>,
    /// The releases seen so far, sorted (empty before the request; every release of the run
    /// when `on_published` is called).
    pub releases: Vec<String>,
    /// The stack's outputs and parameters, as CloudFormation's DescribeStacks would show them.
    pub stack: std::collections::BTreeMap<String, String>,
    /// The stack's id (`AWS::StackId`).
    pub stack_id: String,
}

/// A blocking action on the running stack.
#[derive(Clone)]
pub struct OnFailure(pub Arc<dyn Fn(Live) + Send + Sync>);

impl std::fmt::Debug for OnFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnFailure(..)")
    }
}

/// What to run, and how hostile the world is.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub template: PathBuf,
    /// One lifecycle step of the emulator.
    pub step: Duration,
    /// The accelerated period of publish-release's rate schedule.
    pub publish_interval: Duration,
    pub timeout: Duration,
    /// Deliver every event twice.
    pub duplicate_events: bool,
    /// Deliver this fraction of events twice (seeded), when `duplicate_events` is off.
    pub duplicate_fraction: f64,
    /// One release request per entry, for the pipeline of that name (default: one, `golden`).
    /// Several pipelines become the template's AdditionalPipelineArns.
    pub releases: Vec<String>,
    /// This fraction of all emulated calls fails (seeded), alternately throttled and 5xx.
    pub fault_rate: f64,
    /// Delay each delivery by a random 0..jitter, so deliveries arrive shuffled.
    pub jitter: Option<Duration>,
    pub seed: u64,
    pub faults: Vec<(String, Fault)>,
    /// The emulator's switches for what AWS does not document about DistributeImage's new image.
    pub distribution_tags_on_amis_only: bool,
    pub distribution_keeps_pipeline_arn: bool,
    /// The emulator's AMIs are encrypted / Windows images (VM Export refuses both).
    pub amis_encrypted: bool,
    pub amis_windows: bool,
    pub build_failure: Option<String>,
    pub export_failure: Option<String>,
    /// The size of each exported disk in bytes (deterministic content); `None`: a one-line stand-in.
    pub export_size: Option<usize>,
    /// Called once, the first time the release fails, with the running stack (moto's endpoint
    /// and the emulator); the runner then waits for the release's end again. The operator CLI's
    /// `retry` test removes the cause and retries here.
    pub on_failure: Option<OnFailure>,
    /// Called once when the release is published (with several releases: when every one is),
    /// with the running stack (functions, ticks and all) before it stops: the operator CLI's
    /// revocation test revokes it here and follows publish-release's ticks taking it back, and
    /// `local-release --keep` keeps the stack up here until Ctrl-C.
    pub on_published: Option<OnFailure>,
    /// Runs once the stack is up, before the release is requested (what was there first).
    pub before_request: Option<OnFailure>,
    /// Where the function binaries are (default: next to the running executable).
    pub binaries: Option<PathBuf>,
    /// Record every request moto serves into `<log_dir>/moto-recording.jsonl` (the cost bench
    /// counts the functions' S3 and CloudFront requests from it).
    pub record_moto: bool,
    /// Export tasks never finish.
    pub export_stalls: bool,
    /// Image Builder's events: of distributed images, of pipeline images (withheld when false).
    pub distribution_events: bool,
    pub pipeline_events: bool,
    /// A seeded fraction of all emulated events that the bus loses.
    pub event_drop: f64,
    /// The distribution fails in one region for its first attempts (RetryImage).
    pub distribution_failure: Option<emulator::DistributionFailure>,
    /// Start the pipeline directly (as its own schedule or a person would), not through
    /// start-pipeline: only discovery can find the build.
    pub start_outside: bool,
    pub destination_regions: Vec<String>,
    /// Template parameter overrides.
    pub parameters: Vec<(String, String)>,
    pub log_dir: PathBuf,
    /// Keep `log_dir` once the report is dropped (the demo; `IMAGE_RELEASE_KEEP_LOGS=1`; a test
    /// that panics keeps it too). Otherwise it is removed: every run copies its disks there.
    pub keep_logs: bool,
    /// Print progress lines as the release advances.
    pub progress: bool,
    /// Authorize every call of a function (to the emulator and, through the authorizing proxy,
    /// to S3 and CloudFront) against its role as the template resolves it (default on).
    pub iam: bool,
    /// Image Builder's service-linked role exists at start (`false`: the first
    /// StartImagePipelineExecution creates it, and needs `iam:CreateServiceLinkedRole`).
    pub service_linked_role: bool,
    /// How the local Lambda runs the functions: retries on its scaled clock, timeouts, memory.
    pub lambda: Lambda,
    /// Events put on the bus right after the release requests, as anyone in the account
    /// could put them (a malformed request, a forged one).
    pub extra_events: Vec<Value>,
    /// Pipeline builds end CANCELLED; the first N distributions end CANCELLED.
    pub build_cancelled: bool,
    pub distributions_cancelled: u32,
    /// (pipeline, recipe) for pipelines that build another pipeline's recipe (Image Builder
    /// names images after the recipe).
    pub recipes: Vec<(String, String)>,
}

/// The pipelines [`Scenario::many`] spreads its releases over, in turn.
pub const MANY_PIPELINES: [&str; 4] = ["golden", "silver", "bronze", "copper"];

impl Scenario {
    /// `releases` releases spread over [`MANY_PIPELINES`] in turn, on a bus that duplicates a
    /// fifth of its deliveries and shuffles them by up to 300 ms, at the soak test's pace (a step
    /// every 150 ms, a publish tick every 400 ms, 240 s to finish), without progress lines. The
    /// soak test adds lost events and faulty services to it; the latency benchmark runs it as is.
    pub fn many(root: &Path, releases: usize) -> Self {
        let mut s = Self::new(root);
        s.step = Duration::from_millis(150);
        s.publish_interval = Duration::from_millis(400);
        s.timeout = Duration::from_secs(240);
        s.progress = false;
        s.releases = (0..releases)
            .map(|i| MANY_PIPELINES[i % MANY_PIPELINES.len()].to_owned())
            .collect();
        s.duplicate_fraction = 0.2;
        s.jitter = Some(Duration::from_millis(300));
        // All of them are requested at once: the cap on releases in flight must let every
        // pipeline's share through (the template's maximum is 100).
        let per_pipeline = releases.div_ceil(MANY_PIPELINES.len()).clamp(1, 100);
        s.parameters
            .push(("MaxReleasesInFlight".into(), per_pipeline.to_string()));
        s
    }

    pub fn new(root: &Path) -> Self {
        Self {
            template: root.join("template.yaml"),
            step: Duration::from_millis(300),
            publish_interval: Duration::from_millis(500),
            timeout: Duration::from_secs(120),
            duplicate_events: false,
            duplicate_fraction: 0.0,
            releases: vec!["golden".into()],
            fault_rate: 0.0,
            jitter: None,
            seed: 7,
            faults: Vec::new(),
            distribution_tags_on_amis_only: false,
            distribution_keeps_pipeline_arn: false,
            amis_encrypted: false,
            amis_windows: false,
            build_failure: None,
            export_failure: None,
            export_size: None,
            export_stalls: false,
            on_failure: None,
            on_published: None,
            before_request: None,
            binaries: None,
            record_moto: false,
            distribution_events: true,
            pipeline_events: true,
            event_drop: 0.0,
            distribution_failure: None,
            start_outside: false,
            destination_regions: vec!["eu-west-1".into(), "ap-southeast-2".into()],
            parameters: Vec::new(),
            log_dir: std::env::temp_dir().join(format!("image-release-{}", uuid::Uuid::new_v4())),
            keep_logs: std::env::var_os("IMAGE_RELEASE_KEEP_LOGS").is_some(),
            progress: true,
            iam: true,
            service_linked_role: false,
            lambda: Lambda::default(),
            extra_events: Vec::new(),
            build_cancelled: false,
            distributions_cancelled: 0,
            recipes: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Invocation {
    pub function: String,
    pub trigger: String,
    pub attempt: u32,
    pub outcome: Outcome,
    /// When the function was handed the invocation (after any queueing behind its others).
    pub handed: Instant,
    /// From handing the invocation to the function to its response (what Lambda bills; time
    /// spent queued behind the function's other invocations is not in it).
    pub duration: Duration,
}

/// What the release ended as, and what every service saw.
#[derive(Debug, Clone)]
pub struct Report {
    pub release_id: Option<String>,
    /// Every release the run saw and how it ended (`published`, `failed`, `pending`).
    pub releases: Vec<(String, String)>,
    /// Events handed to functions (each delivery of each matched event), and how many of
    /// those were duplicates.
    pub deliveries: usize,
    pub duplicates: usize,
    /// `published`, `failed`, `init-failed` (a function rejected its configuration) or `timed-out`.
    pub state: String,
    /// (function, `errorType: message`) of each function that reported an init error.
    pub init_errors: Vec<(String, String)>,
    pub status: Option<Value>,
    pub manifest: Option<Value>,
    pub manifest_url: Option<String>,
    pub counts: CallCounts,
    /// CloudFront invalidations: paths of each.
    pub invalidations: Vec<Vec<String>>,
    /// The copy in each destination region, if there is one.
    pub appstream: Vec<(String, Option<emulator::AppStreamView>)>,
    /// (key, size) of the exported disk in S3.
    pub export_object: Option<(String, i64)>,
    /// Every artifact of the manifest and the release's `SHA256SUMS`, downloaded into `log_dir`.
    pub downloaded: Vec<PathBuf>,
    /// The release events put on the bus (`Release Published`, `Release Failed`), as delivered.
    pub release_events: Vec<Value>,
    /// `catalog/index.json`, `catalog/latest.json` and the downloads page `index.html`.
    pub index: Option<Value>,
    pub latest: Option<Value>,
    pub downloads_page: Option<String>,
    /// Every history page the index lists (`catalog/history/<image>/<month>.json`), as read.
    pub history: Vec<Value>,
    /// moto's S3, kept running as long as the report lives: the bucket is served at
    /// `<endpoint>/image-release-artifacts/<key>` (the downloads page, for a browser).
    pub moto: Arc<Moto>,
    /// The emulated account (Image Builder, EC2, AppStream, EventBridge), kept running as long as
    /// the report lives, for the operator CLI's tests.
    pub emulator: Arc<Emulator>,
    /// S3 through the authorizing proxy (see [`Live::s3_authorized`]), kept running as long as
    /// the report lives: what the neighbour's key may do to the bucket after the run.
    pub s3_authorized: String,
    _proxy: Option<Arc<proxy::AuthorizingProxy>>,
    /// The local Lambda's Invoke API (see [`Live::lambda`]), kept running with every function
    /// (no schedule ticks, no events routed) as long as the report lives.
    pub lambda_endpoint: String,
    _invoke_api: Arc<invoke::InvokeApi>,
    pub invocations: Vec<Invocation>,
    /// Events Lambda gave up on after its retries: what reached the on-failure destination.
    pub dead_letters: Vec<DeadLetter>,
    /// Every alarm of the stack, and whether (and why) it would have fired.
    pub alarms: Vec<alarms::AlarmState>,
    /// Every IAM decision the local account made (principal, action, resource, allowed), when
    /// the run ended ([`Report::iam_now`] for the calls made since, on the stack the report
    /// keeps up).
    pub iam: Vec<iam::account::Record>,
    iam_account: Option<Arc<iam::Account>>,
    /// Every object left in the bucket, and whether the downloads distribution may read it
    /// (empty when IAM is off). [`Report::downloaded`] holds only what it may read.
    pub served: Vec<Served>,
    /// Execution environments each function needed after its first (crash, timeout, OOM).
    pub resets: Vec<(String, usize)>,
    /// Each function's peak memory (its cgroup's), when confined.
    pub peak_bytes: Vec<(String, u64)>,
    /// The ARN of the stack's signing key(s) in the local KMS (`SigningKeyArn`).
    pub signing_keys: Vec<String>,
    pub elapsed: Duration,
    pub log_dir: PathBuf,
    /// Removes `log_dir` when the last clone of the report goes, unless kept.
    _scratch: Option<Arc<Scratch>>,
}

/// A run's log directory, removed when dropped: not while a test panics (its logs explain the
/// failure, and the panic message names the directory).
#[derive(Debug)]
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Report {
    /// A presigned GET URL (1 hour) of an object in the local bucket, for a client without AWS
    /// credentials such as a browser: as CloudFront's origin access signs its requests, since the
    /// bucket is private.
    pub async fn object_url(&self, key: &str) -> anyhow::Result<String> {
        let aws = sdk_config(&self.moto.endpoint).await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&aws)
                .force_path_style(true)
                .build(),
        );
        let presigning =
            aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(3_600))?;
        let request = s3
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .presigned(presigning)
            .await
            .map_err(|e| anyhow::anyhow!("presigning {key}: {e}"))?;
        Ok(request.uri().to_owned())
    }

    /// Every IAM decision the local account made so far, the calls made on the stack after the
    /// run included (the operator CLI's against the report's endpoints).
    pub fn iam_now(&self) -> Vec<iam::account::Record> {
        self.iam_account
            .as_ref()
            .map(|a| a.records())
            .unwrap_or_default()
    }

    /// Every call the local IAM denied.
    pub fn denied(&self) -> Vec<&iam::account::Record> {
        self.iam.iter().filter(|r| !r.allowed).collect()
    }

    /// The alarms that would have fired; an error naming each alarm the runner could not judge
    /// (so "no other alarm fired" is never said of one nobody counted).
    pub fn fired(&self) -> Result<Vec<&str>, String> {
        let unjudged: Vec<String> = self
            .alarms
            .iter()
            .filter(|a| !a.judged)
            .map(|a| format!("{} ({})", a.name, a.reason))
            .collect();
        if !unjudged.is_empty() {
            return Err(format!(
                "alarms the runner could not judge: {}",
                unjudged.join(", ")
            ));
        }
        Ok(self
            .alarms
            .iter()
            .filter(|a| a.fired)
            .map(|a| a.name.as_str())
            .collect())
    }

    /// The failed step and its reason, from `status.json`.
    pub fn failure(&self) -> Option<(String, String)> {
        let failure = self.status.as_ref()?.get("failure")?;
        Some((
            failure["step"].as_str()?.to_owned(),
            failure["reason"].as_str()?.to_owned(),
        ))
    }
}

/// The local bucket's S3 client at `endpoint` (moto's), path-style.
async fn s3_at(endpoint: &str) -> aws_sdk_s3::Client {
    let aws = sdk_config(endpoint).await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&aws)
            .force_path_style(true)
            .build(),
    )
}

/// Writes `value` at `key` in the local bucket, as an operator with their own credentials
/// would (a test standing in for the operator CLI).
pub async fn put_json(endpoint: &str, key: &str, value: &Value) -> anyhow::Result<()> {
    s3_at(endpoint)
        .await
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(serde_json::to_vec(value)?.into())
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("putting {key}: {e}"))?;
    Ok(())
}

/// Every key of the local bucket under `prefix`.
pub async fn list_keys(endpoint: &str, prefix: &str) -> Vec<String> {
    keys_under(&s3_at(endpoint).await, prefix).await
}

async fn keys_under(s3: &aws_sdk_s3::Client, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(Ok(page)) = pages.next().await {
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    keys
}

/// The JSON document at `key` in the local bucket, if there is one (and it is JSON).
pub async fn read_json(endpoint: &str, key: &str) -> Option<Value> {
    get_json(&s3_at(endpoint).await, key).await
}

/// The object at `key` in the local bucket, as stored, if there is one.
pub async fn read_bytes(endpoint: &str, key: &str) -> Option<Vec<u8>> {
    get_bytes(&s3_at(endpoint).await, key).await
}

pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(shared::aws::https_client())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            // Not the functions' key: moto's recording tells the runner's requests from theirs.
            "AKIDRUNNER",
            "local-secret",
            None,
            None,
            "local",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// Creates the download distribution in moto; returns (id, domain).
pub async fn create_distribution(
    cloudfront: &aws_sdk_cloudfront::Client,
) -> anyhow::Result<(String, String)> {
    use aws_sdk_cloudfront::types::*;
    let origin = Origin::builder()
        .id("artifacts")
        .domain_name(format!("{BUCKET}.s3.us-east-1.amazonaws.com"))
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()?;
    let behavior = DefaultCacheBehavior::builder()
        .target_origin_id("artifacts")
        .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
        .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6")
        .build()?;
    let config = DistributionConfig::builder()
        .caller_reference("image-release-local")
        .comment("image-release local downloads")
        .enabled(true)
        .origins(Origins::builder().quantity(1).items(origin).build()?)
        .default_cache_behavior(behavior)
        .build()?;
    let out = cloudfront
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_cloudfront::error::DisplayErrorContext(&e)))?;
    let distribution = out
        .distribution
        .ok_or_else(|| anyhow::anyhow!("CreateDistribution answered no distribution"))?;
    Ok((distribution.id, distribution.domain_name))
}

fn event(source: &str, detail_type: &str, resources: Vec<String>, detail: Value) -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": aws_sdk_s3::primitives::DateTime::from(std::time::SystemTime::now()).fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime).unwrap_or_default(),
        "region": "us-east-1",
        "resources": resources,
        "detail": detail
    })
}

fn describe_event(event: &Value) -> String {
    match event["detail-type"].as_str().unwrap_or("?") {
        "EC2 Image Builder Image State Change" => {
            let arn = event["resources"][0].as_str().unwrap_or("");
            let short = arn.split(":image/").nth(1).unwrap_or(arn);
            format!(
                "image {short} {}",
                event["detail"]["state"]["status"].as_str().unwrap_or("?")
            )
        }
        "Object Created" => format!(
            "s3 object {}",
            event["detail"]["object"]["key"].as_str().unwrap_or("?")
        ),
        other => other.to_owned(),
    }
}

fn describe_outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Error {
            error_type,
            message,
        } => format!("ERROR {error_type}: {message}"),
        Outcome::Response(value) => {
            if let Some(releases) = value["releases"].as_array() {
                if releases.is_empty() {
                    return value["skipped"]
                        .as_str()
                        .map_or_else(|| "nothing pending".to_owned(), |s| format!("skipped: {s}"));
                }
                return releases
                    .iter()
                    .map(|r| {
                        let pending: Vec<String> = r["steps"]
                            .as_array()
                            .map(|s| {
                                s.iter()
                                    .filter(|s| s["state"] != "done")
                                    .map(|s| {
                                        format!(
                                            "{}: {}",
                                            s["step"].as_str().unwrap_or("?"),
                                            s["detail"].as_str().unwrap_or("")
                                        )
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        format!(
                            "{} {} {}",
                            r["releaseId"].as_str().unwrap_or("?"),
                            r["state"].as_str().unwrap_or("?"),
                            pending.join("; ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" | ");
            }
            let action = value["action"].as_str().unwrap_or("done");
            let detail = ["releaseId", "clientToken", "exportTaskId", "reason", "step"]
                .iter()
                .filter_map(|k| value[*k].as_str().map(|v| format!("{k}={v}")))
                .collect::<Vec<_>>()
                .join(" ");
            format!("{action} {detail}")
        }
    }
}

struct Progress {
    start: Instant,
    enabled: bool,
    last_publish: Mutex<String>,
}

impl Progress {
    fn line(&self, function: &str, trigger: &str, outcome: &str) {
        if !self.enabled {
            return;
        }
        if function == "publish-release" {
            let mut last = lock(&self.last_publish);
            if *last == outcome {
                return;
            }
            outcome.clone_into(&mut last);
        }
        println!(
            "[{:>6.1}s] {function:<21} ← {trigger:<40} → {outcome}",
            self.start.elapsed().as_secs_f64()
        );
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// moto: the bucket and the CloudFront distribution.
struct Storage {
    moto: Arc<Moto>,
    s3: aws_sdk_s3::Client,
    cloudfront: aws_sdk_cloudfront::Client,
    distribution_id: String,
    domain: String,
}

/// The emulated account: the pipelines the scenario's releases use.
struct Account {
    emulator: Arc<Emulator>,
    /// The local IAM (None when the scenario switches it off).
    iam: Option<Arc<iam::Account>>,
    /// The authorizing proxy in front of moto, which the functions use as S3 and CloudFront.
    proxy: Option<Arc<proxy::AuthorizingProxy>>,
    events: mpsc::UnboundedReceiver<Value>,
    pipeline_arn: String,
    /// The pipeline of each release request.
    request_arns: Vec<String>,
}

/// What the deliveries saw, shared by every delivery task.
#[derive(Default)]
struct Seen {
    invocations: Mutex<Vec<Invocation>>,
    /// The first release a function named.
    release_id: Mutex<Option<String>>,
    release_ids: Mutex<std::collections::BTreeSet<String>>,
    /// The release events (`Release Published`, `Release Failed`) put on the bus.
    release_events: Mutex<Vec<Value>>,
    dead_letters: Mutex<Vec<DeadLetter>>,
    deliveries: AtomicUsize,
    duplicates: AtomicUsize,
}

impl Seen {
    fn note_releases(&self, value: &Value) {
        let found = value["releaseId"]
            .as_str()
            .or_else(|| value["releases"][0]["releaseId"].as_str());
        if let Some(id) = found {
            lock(&self.release_id).get_or_insert_with(|| id.to_owned());
        }
        let mut ids = lock(&self.release_ids);
        ids.extend(value["releaseId"].as_str().map(str::to_owned));
        for r in value["releases"].as_array().into_iter().flatten() {
            ids.extend(r["releaseId"].as_str().map(str::to_owned));
        }
    }

    /// The release ids seen so far.
    fn release_ids(&self) -> Vec<String> {
        lock(&self.release_ids).iter().cloned().collect()
    }
}

/// Delivers events to functions as EventBridge and Lambda's asynchronous invocation do:
/// possibly twice, possibly late, each failed attempt retried as the function's
/// EventInvokeConfig says ([`lambda::invoke_async`]).
struct Bus {
    running: Arc<Vec<Running>>,
    /// The stack's release bus: where the operator's requests (and publish-release's events)
    /// are put. Everything else (Image Builder, S3, schedules) is on the default bus.
    release_bus: String,
    lambda: Lambda,
    iam: Option<Arc<iam::Account>>,
    seen: Arc<Seen>,
    progress: Arc<Progress>,
    rng: Mutex<rand::rngs::StdRng>,
    duplicate_events: bool,
    duplicate_fraction: f64,
    jitter: Option<Duration>,
    traffic: Traffic,
    /// The functions whose scheduled tick is queued or running.
    ticking: Mutex<std::collections::BTreeSet<usize>>,
}

/// What the bus is carrying, to tell when the stack is quiet: no invocation in flight, no
/// event queued anywhere between the emulator and a function, and nothing the emulated
/// services are still doing on their own (a state change planned, an export running).
#[derive(Default)]
struct Traffic {
    /// Deliveries (with Lambda's retries) and Invoke API invocations not finished yet.
    in_flight: AtomicUsize,
    /// Events taken from the emulator's bus, and put by the runner itself.
    forwarded: AtomicU64,
    direct: AtomicU64,
    /// Events routed to their functions (each delivery is in flight before this grows).
    routed: AtomicU64,
    /// Scheduled ticks delivered.
    ticks: AtomicUsize,
    /// Invocations handed to a function so far.
    handed: AtomicUsize,
}

impl Traffic {
    fn quiet(&self, emulator: &Emulator) -> bool {
        let forwarded = self.forwarded.load(Ordering::SeqCst);
        self.in_flight.load(Ordering::SeqCst) == 0
            && emulator.in_progress().is_empty()
            && emulator.events_sent() == forwarded
            && self.routed.load(Ordering::SeqCst) == forwarded + self.direct.load(Ordering::SeqCst)
    }

    /// What has moved so far: quiet means nothing moved between two checks either.
    fn moved(&self, emulator: &Emulator) -> (u64, u64, u64, usize, usize) {
        (
            emulator.events_sent(),
            self.routed.load(Ordering::SeqCst),
            self.direct.load(Ordering::SeqCst),
            self.handed.load(Ordering::SeqCst),
            self.in_flight.load(Ordering::SeqCst),
        )
    }

    fn describe(&self, emulator: &Emulator) -> String {
        format!(
            "{} invocations in flight; in progress: {:?}; {} events sent by the emulator, {} taken, {} put by the runner, {} routed",
            self.in_flight.load(Ordering::SeqCst),
            emulator.in_progress(),
            emulator.events_sent(),
            self.forwarded.load(Ordering::SeqCst),
            self.direct.load(Ordering::SeqCst),
            self.routed.load(Ordering::SeqCst),
        )
    }
}

/// One invocation in flight, until dropped (also when its task is aborted).
pub(crate) struct InFlight(Arc<Bus>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.traffic.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Bus {
    /// Counts an invocation in flight until the returned guard is dropped.
    pub(crate) fn in_flight(self: &Arc<Self>) -> InFlight {
        self.traffic.in_flight.fetch_add(1, Ordering::SeqCst);
        self.traffic.handed.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    fn deliver(self: &Arc<Self>, index: usize, event: Value) {
        let twice = self.duplicate_events
            || (self.duplicate_fraction > 0.0
                && lock(&self.rng).random_bool(self.duplicate_fraction.min(1.0)));
        let copies = if twice { 2 } else { 1 };
        self.seen.deliveries.fetch_add(copies, Ordering::Relaxed);
        self.seen
            .duplicates
            .fetch_add(copies - 1, Ordering::Relaxed);
        for _ in 0..copies {
            let delay = self.jitter.map(|j| {
                Duration::from_millis(lock(&self.rng).random_range(0..=j.as_millis() as u64))
            });
            let bus = self.clone();
            let event = event.clone();
            let flight = self.in_flight();
            tokio::spawn(async move {
                let _flight = flight;
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                bus.invoke(index, event).await;
            });
        }
    }

    /// A scheduled tick, unless the function's previous tick is still queued or running: the
    /// local Lambda runs one environment per function, where AWS would start more, so ticks
    /// that pile up behind a slow one would only repeat it (a soak once had hundreds queued).
    fn deliver_tick(self: &Arc<Self>, index: usize, event: Value) {
        if !lock(&self.ticking).insert(index) {
            return;
        }
        self.seen.deliveries.fetch_add(1, Ordering::Relaxed);
        let bus = self.clone();
        let flight = self.in_flight();
        tokio::spawn(async move {
            let _flight = flight;
            bus.invoke(index, event).await;
            lock(&bus.ticking).remove(&index);
        });
    }

    async fn invoke(&self, index: usize, event: Value) {
        let trigger = describe_event(&event);
        self.invoke_as(index, event, trigger).await;
    }

    /// One synchronous invocation (the Invoke API's `RequestResponse`): no retry, recorded like
    /// a delivery.
    async fn invoke_once(&self, index: usize, payload: Value, trigger: &str) -> Outcome {
        let function = &self.running[index];
        let name = function.spec.binary.clone();
        let queued = Instant::now();
        let (outcome, took) = function.api.invoke_timed(payload, invoke::SYNC_WAIT).await;
        let (handed, duration) = took.unwrap_or((queued, queued.elapsed()));
        if let Outcome::Response(value) = &outcome {
            self.seen.note_releases(value);
        }
        self.progress
            .line(&name, trigger, &describe_outcome(&outcome));
        lock(&self.seen.invocations).push(Invocation {
            function: name,
            trigger: trigger.to_owned(),
            attempt: 1,
            outcome: outcome.clone(),
            handed,
            duration,
        });
        outcome
    }

    /// An asynchronous invocation with Lambda's retries, recorded as `trigger`.
    async fn invoke_as(&self, index: usize, event: Value, trigger: String) {
        let function = &self.running[index];
        let name = function.spec.binary.clone();
        let dead = lambda::invoke_async(
            function,
            &self.lambda,
            &event,
            &trigger,
            self.iam.as_deref(),
            &process::access_key(&name),
            |attempt, record| {
                if let Outcome::Response(value) = &record.outcome {
                    self.seen.note_releases(value);
                }
                self.progress
                    .line(&name, &trigger, &describe_outcome(&record.outcome));
                lock(&self.seen.invocations).push(Invocation {
                    function: name.clone(),
                    trigger: trigger.clone(),
                    attempt,
                    outcome: record.outcome.clone(),
                    handed: record.handed,
                    duration: record.duration,
                });
            },
        )
        .await;
        if let Some(dead) = dead {
            self.progress.line(
                &name,
                &trigger,
                &format!(
                    "gave up after {} attempts: on-failure destination ({})",
                    dead.attempts, dead.error
                ),
            );
            lock(&self.seen.dead_letters).push(dead);
        }
    }

    /// Every function with a rule on the event's bus that matches the event gets it. An event
    /// put with PutEvents says its bus ([`emulator::LOCAL_BUS_KEY`], stripped here); the
    /// operator's own events (source `image-release`) go to the release bus; the rest (Image
    /// Builder, S3) to the default bus.
    fn route(self: &Arc<Self>, event: &Value) {
        let mut event = event.clone();
        let bus = match event
            .as_object_mut()
            .and_then(|o| o.remove(emulator::LOCAL_BUS_KEY))
        {
            Some(Value::String(bus)) => bus,
            _ if event["source"] == "image-release" => self.release_bus.clone(),
            _ => "default".to_owned(),
        };
        let event = &event;
        if event["source"] == "image-release" && event["detail-type"] != "Release Requested" {
            self.progress.line(
                "(bus)",
                &format!(
                    "{} {}",
                    event["detail-type"].as_str().unwrap_or("?"),
                    event["detail"]["releaseId"].as_str().unwrap_or("?")
                ),
                event["detail"]["manifestUrl"]
                    .as_str()
                    .or(event["detail"]["reason"].as_str())
                    .unwrap_or(""),
            );
            lock(&self.seen.release_events).push(event.clone());
        }
        let bytes = event.to_string();
        for (index, function) in self.running.iter().enumerate() {
            let on_bus = format!("{bus}/");
            let matched = function.matcher.as_ref().is_some_and(|q| {
                q.matches_for_event(bytes.as_bytes())
                    .is_ok_and(|m| m.iter().any(|rule| rule.starts_with(&on_bus)))
            });
            if matched {
                self.deliver(index, event.clone());
            }
        }
    }
}

/// Runs one complete release and reports how it ended.
pub async fn run(scenario: Scenario) -> anyhow::Result<Report> {
    let start = Instant::now();
    std::fs::create_dir_all(&scenario.log_dir)?;
    let progress = Arc::new(Progress {
        start,
        enabled: scenario.progress,
        last_publish: Mutex::new(String::new()),
    });
    let storage = start_storage(&scenario).await?;
    let config = account_config(&scenario);
    let stack = load_stack(&scenario, &config, &storage)?;
    configure_bucket(&storage.s3, &stack).await?;
    let functions = stack.functions();
    let mut account = start_account(&scenario, config, &storage, &stack, &functions).await?;
    let (running, schedules) = start_functions(&scenario, &storage, &account, functions).await?;
    let seen = Arc::new(Seen::default());
    let bus = Arc::new(Bus {
        running: Arc::new(running),
        release_bus: stack.release_bus(),
        lambda: scenario.lambda.clone(),
        iam: account.iam.clone(),
        seen: seen.clone(),
        progress: progress.clone(),
        rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(scenario.seed)),
        duplicate_events: scenario.duplicate_events,
        duplicate_fraction: scenario.duplicate_fraction,
        jitter: scenario.jitter,
        traffic: Traffic::default(),
        ticking: Mutex::default(),
    });
    let scheduled = !schedules.is_empty();
    let (sender, mut tasks) = start_bus(&bus, &mut account, schedules, scenario.publish_interval);
    if progress.enabled {
        println!(
            "[{:>6.1}s] local AWS ready: emulator {} · moto {} · {} functions · IAM {} (logs in {})",
            start.elapsed().as_secs_f64(),
            account.emulator.endpoint(),
            storage.moto.endpoint,
            bus.running.len(),
            if account.iam.is_some() {
                "enforced"
            } else {
                "off"
            },
            scenario.log_dir.display()
        );
    }
    let invoke_api = invoke::InvokeApi::start(bus.clone()).await?;
    let live = Live {
        s3: storage.moto.endpoint.clone(),
        s3_authorized: account
            .proxy
            .as_ref()
            .map_or_else(|| storage.moto.endpoint.clone(), |p| p.endpoint()),
        emulator: account.emulator.clone(),
        lambda: invoke_api.endpoint(),
        release_bus: stack.release_bus(),
        signing_keys: stack.signing_keys(),
        releases: Vec::new(),
        stack: stack.described.clone(),
        stack_id: stack.values.get("AWS::StackId"),
    };
    if let Some(hook) = &scenario.before_request {
        let (hook, live) = (hook.0.clone(), live.clone());
        tokio::task::spawn_blocking(move || hook(live)).await?;
    }
    request_releases(&scenario, &account, &sender, &bus.traffic.direct).await?;
    let mut ended = wait_for_end(&scenario, &storage.s3, &bus, start).await;
    if let (Some(hook), "failed") = (&scenario.on_failure, ended.0.as_str()) {
        let (hook, live) = (hook.0.clone(), live.clone());
        tokio::task::spawn_blocking(move || hook(live)).await?;
        ended = wait_for_end(&scenario, &storage.s3, &bus, start).await;
    }
    if let Some(hook) = &scenario.on_published
        && all_published(&ended.0, &storage.s3, &seen).await
    {
        let (hook, mut live) = (hook.0.clone(), live.clone());
        live.releases = seen.release_ids();
        tokio::task::spawn_blocking(move || hook(live)).await?;
    }
    let (state, status) = ended;
    // Side effects are counted once the stack is quiet: the schedule ticked twice more (a
    // late duplicate would come from a tick), then stopped, and then nothing is in flight
    // (Lambda's retries, delayed and duplicated deliveries included) and no event is queued.
    let ticker = tasks.pop().expect("the ticker");
    let bound = scenario.jitter.unwrap_or_default()
        + scenario.publish_interval * 4
        + scenario.lambda.minute * 4
        + Duration::from_secs(60);
    settle(&bus, &account.emulator, ticker, scheduled, bound).await?;
    // Nothing is routed after the run (the report's Lambda endpoint still invokes on request).
    for task in tasks {
        task.abort();
    }
    let mut report = Report {
        releases: Vec::new(),
        deliveries: seen.deliveries.load(Ordering::Relaxed),
        duplicates: seen.duplicates.load(Ordering::Relaxed),
        release_id: lock(&seen.release_id).clone(),
        state,
        init_errors: init_errors(&bus.running),
        status,
        manifest: None,
        manifest_url: None,
        counts: account.emulator.counts(),
        invalidations: Vec::new(),
        appstream: Vec::new(),
        export_object: None,
        downloaded: Vec::new(),
        release_events: lock(&seen.release_events).clone(),
        index: None,
        latest: None,
        downloads_page: None,
        history: Vec::new(),
        moto: storage.moto.clone(),
        emulator: account.emulator.clone(),
        s3_authorized: live.s3_authorized.clone(),
        _proxy: account.proxy.clone(),
        lambda_endpoint: live.lambda.clone(),
        _invoke_api: Arc::new(invoke_api),
        invocations: lock(&seen.invocations).clone(),
        dead_letters: lock(&seen.dead_letters).clone(),
        alarms: Vec::new(),
        iam: account
            .iam
            .as_ref()
            .map(|a| a.records())
            .unwrap_or_default(),
        iam_account: account.iam.clone(),
        served: Vec::new(),
        signing_keys: stack.signing_keys(),
        resets: bus
            .running
            .iter()
            .map(|r| (r.spec.binary.clone(), r.resets.load(Ordering::Relaxed)))
            .collect(),
        peak_bytes: bus
            .running
            .iter()
            .filter_map(|r| Some((r.spec.binary.clone(), r.peak_bytes()?)))
            .collect(),
        elapsed: start.elapsed(),
        log_dir: scenario.log_dir.clone(),
        _scratch: (!scenario.keep_logs).then(|| Arc::new(Scratch(scenario.log_dir.clone()))),
    };
    observe(&scenario, &storage, &account, &seen, &mut report).await;
    report.alarms = alarms::evaluate(&stack, &bus.running, &report);
    Ok(report)
}

/// Phase 1: moto, with the bucket and the download distribution.
async fn start_storage(scenario: &Scenario) -> anyhow::Result<Storage> {
    let recording = scenario
        .record_moto
        .then(|| scenario.log_dir.join("moto-recording.jsonl"));
    let moto = Moto::start_recording(
        &Moto::executable(),
        &scenario.log_dir.join("moto.log"),
        recording.as_deref(),
    )
    .await?;
    let aws = sdk_config(&moto.endpoint).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&aws)
            .force_path_style(true)
            .build(),
    );
    let cloudfront = aws_sdk_cloudfront::Client::new(&aws);
    s3.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "CreateBucket: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        })?;
    let (distribution_id, domain) = create_distribution(&cloudfront).await?;
    Ok(Storage {
        moto: Arc::new(moto),
        s3,
        cloudfront,
        distribution_id,
        domain,
    })
}

/// The artifact bucket as the template configures it: versioned when it says so (a delete then
/// adds a marker and keeps the bytes, as on AWS, and only a delete of every version removes them).
async fn configure_bucket(s3: &aws_sdk_s3::Client, stack: &Stack) -> anyhow::Result<()> {
    if !stack.versioned("ArtifactBucket") {
        return Ok(());
    }
    let enabled = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        .build();
    s3.put_bucket_versioning()
        .bucket(BUCKET)
        .versioning_configuration(enabled)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "PutBucketVersioning: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        })?;
    Ok(())
}

/// The emulated account the releases need (not started yet: the stack's values come from it).
fn account_config(scenario: &Scenario) -> emulator::Config {
    let mut config = emulator::Config::demo();
    config.step = scenario.step;
    config.service_linked_role = scenario.service_linked_role;
    config.build_cancelled = scenario.build_cancelled;
    config.distributions_cancelled = scenario.distributions_cancelled;
    config.export_failure = scenario.export_failure.clone();
    config.distribution_tags_on_amis_only = scenario.distribution_tags_on_amis_only;
    config.distribution_keeps_pipeline_arn = scenario.distribution_keeps_pipeline_arn;
    config.amis_encrypted = scenario.amis_encrypted;
    config.amis_windows = scenario.amis_windows;
    config.export_stalls = scenario.export_stalls;
    config.export_size = scenario.export_size;
    config.distribution_events = scenario.distribution_events;
    config.pipeline_events = scenario.pipeline_events;
    config.event_drop = scenario.event_drop;
    config.event_seed = scenario.seed;
    config.distribution_failure = scenario.distribution_failure.clone();
    if let Some(pipeline) = config.pipelines.first_mut() {
        pipeline.failure = scenario.build_failure.clone();
    }
    config.fault_rate = scenario.fault_rate;
    for name in pipeline_names(scenario).iter().filter(|n| *n != "golden") {
        config.pipelines.push(emulator::Pipeline {
            name: name.clone(),
            recipe: scenario
                .recipes
                .iter()
                .find(|(pipeline, _)| pipeline == name)
                .map(|(_, recipe)| recipe.clone()),
            version: "1.0.0".into(),
            failure: None,
        });
    }
    config.appstream_sources_on_demand = scenario.releases.len() > 1;
    config.appstream_images.push((
        "us-east-1".into(),
        SOURCE_APPSTREAM_IMAGE.into(),
        vec![
            ("team".into(), "platform".into()),
            ("release".into(), SOURCE_APPSTREAM_IMAGE.into()),
        ],
    ));
    config
}

/// The stack as SAM and CloudFormation would make it, with the local account's values.
fn load_stack(
    scenario: &Scenario,
    config: &emulator::Config,
    storage: &Storage,
) -> anyhow::Result<Stack> {
    let names = pipeline_names(scenario);
    let mut values = local_values(
        &config.pipeline_arn("golden"),
        &config.distribution_arn("golden"),
        &scenario.destination_regions,
        &storage.distribution_id,
        &storage.domain,
    );
    values.set(
        "AdditionalPipelineArns",
        names
            .iter()
            .filter(|n| *n != "golden")
            .map(|n| config.pipeline_arn(n))
            .collect::<Vec<_>>()
            .join(","),
    );
    for (k, v) in &scenario.parameters {
        values.set(k, v);
    }
    Stack::load(&scenario.template, values)
}

/// The pipelines of the scenario's releases, each once, in order.
fn pipeline_names(scenario: &Scenario) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in &scenario.releases {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// Phase 2: the local IAM (the stack's roles and bucket policy), the authorizing proxy in front
/// of moto, and the emulator, which authorizes with the same IAM and writes exports through the
/// proxy as the VM Import role.
async fn start_account(
    scenario: &Scenario,
    mut config: emulator::Config,
    storage: &Storage,
    stack: &Stack,
    functions: &[stack::Function],
) -> anyhow::Result<Account> {
    let (iam, proxy) = if scenario.iam {
        let iam = Arc::new(stack.account(functions, process::access_key)?);
        let proxy = proxy::AuthorizingProxy::start(
            &storage.moto.endpoint,
            iam.clone(),
            &stack.values.get("AWS::StackId"),
        )
        .await?;
        (Some(iam), Some(Arc::new(proxy)))
    } else {
        (None, None)
    };
    config.iam = iam.clone();
    config.signing_keys = stack.signing_keys();
    config.key_aliases = stack.key_aliases();
    config.s3_endpoint = Some(
        proxy
            .as_ref()
            .map_or_else(|| storage.moto.endpoint.clone(), |p| p.endpoint()),
    );
    let pipeline_arn = config.pipeline_arn("golden");
    let request_arns = scenario
        .releases
        .iter()
        .map(|n| config.pipeline_arn(n))
        .collect();
    let (emulator, events) = Emulator::start(config, 0).await?;
    for (operation, fault) in &scenario.faults {
        emulator.inject(operation, *fault);
    }
    Ok(Account {
        emulator: Arc::new(emulator),
        iam,
        proxy,
        events,
        pipeline_arn,
        request_arns,
    })
}

/// Phase 3: every function of the stack, with its rules and schedules, under the local
/// Lambda; returns the running functions and (function index, schedule name) of each schedule.
async fn start_functions(
    scenario: &Scenario,
    storage: &Storage,
    account: &Account,
    functions: Vec<stack::Function>,
) -> anyhow::Result<(Vec<Running>, Vec<(usize, String)>)> {
    let binaries = scenario
        .binaries
        .clone()
        .unwrap_or_else(process::binaries_dir);
    // The functions reach S3 and CloudFront through the authorizing proxy when IAM is on.
    let storage_endpoint = account
        .proxy
        .as_ref()
        .map_or_else(|| storage.moto.endpoint.clone(), |p| p.endpoint());
    let mut running = Vec::new();
    let mut schedules = Vec::new();
    for function in functions {
        let mut env = process::lambda_environment(
            &function.binary,
            "",
            &account.emulator.endpoint(),
            &storage_endpoint,
        );
        env.extend(function.environment.clone());
        for (name, _) in &function.schedules {
            schedules.push((running.len(), name.clone()));
        }
        let log = scenario.log_dir.join(format!("{}.log", function.binary));
        running.push(Running::start(function, &binaries, env, log, &scenario.lambda).await?);
    }
    Ok((running, schedules))
}

/// Phase 4: the bus routes the emulator's events and our own to every function whose rule
/// matches, and the schedules tick on the accelerated clock. Returns the bus's sender and
/// the tasks to stop.
fn start_bus(
    bus: &Arc<Bus>,
    account: &mut Account,
    schedules: Vec<(usize, String)>,
    interval: Duration,
) -> (
    mpsc::UnboundedSender<Value>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let (sender, mut receiver) = mpsc::unbounded_channel::<Value>();
    let router = {
        let bus = bus.clone();
        tokio::spawn(async move {
            while let Some(event) = receiver.recv().await {
                bus.route(&event);
                bus.traffic.routed.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let forward = {
        let sender = sender.clone();
        let bus = bus.clone();
        let (_, closed) = mpsc::unbounded_channel();
        let mut emulated = std::mem::replace(&mut account.events, closed);
        tokio::spawn(async move {
            while let Some(event) = emulated.recv().await {
                bus.traffic.forwarded.fetch_add(1, Ordering::SeqCst);
                if sender.send(event).is_err() {
                    break;
                }
            }
        })
    };
    let ticker = {
        let bus = bus.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                for (index, name) in &schedules {
                    let rule =
                        format!("arn:aws:events:us-east-1:123456789012:rule/image-release-{name}");
                    bus.deliver_tick(
                        *index,
                        event("aws.events", "Scheduled Event", vec![rule], json!({})),
                    );
                }
                bus.traffic.ticks.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    (sender, vec![router, forward, ticker])
}

/// Waits until the stack is quiet (see [`Traffic`]): two more scheduled ticks (when there is a
/// schedule), the ticker stopped, then quiet on three checks in a row with nothing moved
/// between them. An error when nothing moved for `bound` and it is still not quiet.
async fn settle(
    bus: &Arc<Bus>,
    emulator: &Emulator,
    ticker: tokio::task::JoinHandle<()>,
    scheduled: bool,
    bound: Duration,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let poll = Duration::from_millis(20);
    let ticks = bus.traffic.ticks.load(Ordering::SeqCst);
    while scheduled && bus.traffic.ticks.load(Ordering::SeqCst) < ticks + 2 {
        anyhow::ensure!(
            start.elapsed() < bound,
            "the schedule did not tick twice within {bound:?}"
        );
        tokio::time::sleep(poll).await;
    }
    ticker.abort();
    // Queued invocations are worked off one environment at a time (hundreds of them after a
    // soak): waiting is bounded by progress, not by a total. Stuck is `bound` without any.
    let mut calm = 0;
    let mut moved = bus.traffic.moved(emulator);
    let mut progress = Instant::now();
    while calm < 3 {
        anyhow::ensure!(
            progress.elapsed() < bound && start.elapsed() < bound * 10,
            "the local stack was not quiet after {:?} ({:?} since anything moved): {}",
            start.elapsed(),
            progress.elapsed(),
            bus.traffic.describe(emulator)
        );
        let now = bus.traffic.moved(emulator);
        if now != moved {
            progress = Instant::now();
        }
        calm = if bus.traffic.quiet(emulator) && now == moved {
            calm + 1
        } else {
            0
        };
        moved = now;
        tokio::time::sleep(poll).await;
    }
    Ok(())
}

/// Phase 5: the release requests (or the pipeline started outside the system).
async fn request_releases(
    scenario: &Scenario,
    account: &Account,
    sender: &mpsc::UnboundedSender<Value>,
    sent: &AtomicU64,
) -> anyhow::Result<()> {
    let bus = |event: Value| {
        sent.fetch_add(1, Ordering::SeqCst);
        sender.send(event)
    };
    if scenario.start_outside {
        // As the pipeline's own schedule or a person would: nothing of ours sees it start.
        let imagebuilder = ImageBuilderClient::new(&sdk_config(&account.emulator.endpoint()).await);
        imagebuilder
            .start_image_pipeline_execution()
            .image_pipeline_arn(&account.pipeline_arn)
            .client_token(uuid::Uuid::new_v4().to_string())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("StartImagePipelineExecution: {e:?}"))?;
    } else if scenario.releases.len() > 1 {
        for (i, arn) in account.request_arns.iter().enumerate() {
            let _ = bus(event(
                "image-release",
                "Release Requested",
                Vec::new(),
                json!({ "releaseVersion": format!("1.0.{i}"), "pipelineArn": arn }),
            ));
        }
    } else {
        let _ = bus(event(
            "image-release",
            "Release Requested",
            Vec::new(),
            json!({ "releaseVersion": "1.0.0" }),
        ));
    }
    for extra in &scenario.extra_events {
        let _ = bus(extra.clone());
    }
    Ok(())
}

fn init_errors(running: &[Running]) -> Vec<(String, String)> {
    running
        .iter()
        .filter_map(|f| f.api.init_error().map(|e| (f.spec.binary.clone(), e)))
        .collect()
}

/// Phase 6: waits until every release has ended, as its status.json tells, a function
/// rejected its configuration, or the scenario's timeout. Returns the run's state and the
/// (single) release's status.
async fn wait_for_end(
    scenario: &Scenario,
    s3: &aws_sdk_s3::Client,
    bus: &Bus,
    start: Instant,
) -> (String, Option<Value>) {
    let deadline = start + scenario.timeout;
    let many = scenario.releases.len() > 1;
    let mut status = None;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // A function that rejected its configuration can never take part: stop at once.
        if !init_errors(&bus.running).is_empty() {
            return ("init-failed".to_owned(), status);
        }
        if many {
            let ids = bus.seen.release_ids();
            if ids.len() < scenario.releases.len() {
                continue;
            }
            let mut open = 0;
            for id in &ids {
                if release_state(s3, id).await == "pending" {
                    open += 1;
                }
            }
            if open == 0 {
                return ("done".to_owned(), status);
            }
            continue;
        }
        let id = lock(&bus.seen.release_id).clone();
        let Some(id) = id else { continue };
        if let Some(value) = get_json(s3, &format!("state/{id}/status.json")).await {
            let current = value["state"].as_str().unwrap_or("pending").to_owned();
            status = Some(value);
            if current != "pending" {
                return (current, status);
            }
        }
    }
    ("timed-out".to_owned(), status)
}

/// Whether the run ended with its release published, or, with several, every one of them.
async fn all_published(state: &str, s3: &aws_sdk_s3::Client, seen: &Seen) -> bool {
    match state {
        "published" => true,
        "done" => {
            for id in seen.release_ids() {
                if release_state(s3, &id).await != "published" {
                    return false;
                }
            }
            true
        }
        _ => false,
    }
}

async fn release_state(s3: &aws_sdk_s3::Client, id: &str) -> String {
    get_json(s3, &format!("state/{id}/status.json"))
        .await
        .as_ref()
        .and_then(|v| v["state"].as_str())
        .unwrap_or("pending")
        .to_owned()
}

/// One object of the bucket as the downloads distribution sees it: the bucket policy evaluated
/// for `cloudfront.amazonaws.com` with the distribution's ARN as `aws:SourceArn` and the
/// object's tags as `s3:ExistingObjectTag/<key>`, as S3 evaluates a request signed by the
/// distribution's origin access control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub key: String,
    pub tags: Vec<(String, String)>,
    pub readable: bool,
}

/// [`Served`] for every object in the bucket.
async fn served(s3: &aws_sdk_s3::Client, iam: &iam::Account, distribution_id: &str) -> Vec<Served> {
    let source = format!(
        "arn:aws:cloudfront::{}:distribution/{distribution_id}",
        iam.id
    );
    let keys = keys_under(s3, "").await;
    let mut out = Vec::new();
    for key in keys {
        let tags: Vec<(String, String)> = s3
            .get_object_tagging()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .map(|t| {
                t.tag_set()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let mut context = vec![("aws:SourceArn".to_owned(), source.clone())];
        context.extend(
            tags.iter()
                .map(|(k, v)| (format!("s3:ExistingObjectTag/{k}"), v.clone())),
        );
        let readable = iam
            .service_may(
                "cloudfront.amazonaws.com",
                "s3:GetObject",
                &format!("arn:aws:s3:::{BUCKET}/{key}"),
                &context,
            )
            .is_allowed();
        out.push(Served {
            key,
            tags,
            readable,
        });
    }
    out
}

/// Phase 7: what every service saw.
async fn observe(
    scenario: &Scenario,
    storage: &Storage,
    account: &Account,
    seen: &Seen,
    report: &mut Report,
) {
    let s3 = &storage.s3;
    if let Some(iam) = &account.iam {
        report.served = served(s3, iam, &storage.distribution_id).await;
    }
    let servable = |key: &str| {
        account.iam.is_none() || report.served.iter().any(|s| s.key == key && s.readable)
    };
    for id in seen.release_ids() {
        let state = release_state(s3, &id).await;
        report.releases.push((id, state));
    }
    if let Some(id) = report.release_id.clone() {
        report.manifest = get_json(s3, &format!("releases/{id}/manifest.json")).await;
        report.manifest_url = report
            .manifest
            .as_ref()
            .map(|_| format!("https://{}/releases/{id}/manifest.json", storage.domain));
        if let Some(key) = report
            .manifest
            .as_ref()
            .and_then(|m| m["export"]["object_key"].as_str())
            && let Ok(head) = s3.head_object().bucket(BUCKET).key(key).send().await
        {
            report.export_object = Some((key.to_owned(), head.content_length.unwrap_or_default()));
            let mut keys: Vec<String> = report.manifest.as_ref().map_or_else(Vec::new, |m| {
                m["artifacts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a["object_key"].as_str().map(str::to_owned))
                    .collect()
            });
            keys.push(format!("releases/{id}/SHA256SUMS"));
            // Downloaded only when the distribution may read it: what a user could fetch.
            for key in keys.iter().filter(|k| servable(k)) {
                if let Some(bytes) = get_bytes(s3, key).await {
                    let file = shared::release::keys::file_name(key);
                    let path = scenario.log_dir.join(file);
                    if std::fs::write(&path, bytes).is_ok() {
                        report.downloaded.push(path);
                    }
                }
            }
            // The detached signatures and the public key, beside them in `log_dir` (not in
            // `downloaded`), when the distribution may serve them: what a user verifies with.
            let mut signing = vec![
                format!("releases/{id}/SHA256SUMS.sig"),
                format!("releases/{id}/manifest.json.sig"),
                format!("releases/{id}/manifest.json"),
            ];
            signing.push(shared::release::keys::SIGNING_KEY_PEM.to_owned());
            for key in signing.iter().filter(|k| servable(k)) {
                if let Some(bytes) = get_bytes(s3, key).await {
                    let path = scenario.log_dir.join(shared::release::keys::file_name(key));
                    let _ = std::fs::write(path, bytes);
                }
            }
        }
        for region in &scenario.destination_regions {
            report.appstream.push((
                region.clone(),
                account.emulator.appstream_image(region, &id),
            ));
        }
    }
    report.index = get_json(s3, shared::release::keys::INDEX).await;
    let pages: Vec<String> = report
        .index
        .iter()
        .filter_map(|index| index["images"].as_object())
        .flat_map(|images| images.values())
        .filter_map(|image| image["history"].as_array())
        .flatten()
        .filter_map(|page| page["json"].as_str().map(str::to_owned))
        .collect();
    for key in pages {
        if let Some(page) = get_json(s3, &key).await {
            report.history.push(page);
        }
    }
    report.latest = get_json(s3, shared::release::keys::LATEST).await;
    report.downloads_page = get_bytes(s3, "index.html")
        .await
        .and_then(|b| String::from_utf8(b).ok());
    report.invalidations = invalidations(&storage.cloudfront, &storage.distribution_id).await;
}

/// The paths of every invalidation, over every page of ListInvalidations (MaxItems 100).
async fn invalidations(
    cloudfront: &aws_sdk_cloudfront::Client,
    distribution_id: &str,
) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let Ok(list) = cloudfront
            .list_invalidations()
            .distribution_id(distribution_id)
            .set_marker(marker.take())
            .send()
            .await
        else {
            break;
        };
        let Some(page) = list.invalidation_list else {
            break;
        };
        for summary in page.items.unwrap_or_default() {
            if let Ok(detail) = cloudfront
                .get_invalidation()
                .distribution_id(distribution_id)
                .id(&summary.id)
                .send()
                .await
            {
                let paths = detail
                    .invalidation
                    .and_then(|i| i.invalidation_batch)
                    .and_then(|b| b.paths)
                    .and_then(|p| p.items)
                    .unwrap_or_default();
                all.push(paths);
            }
        }
        match page.next_marker.filter(|_| page.is_truncated) {
            Some(next) => marker = Some(next),
            None => break,
        }
    }
    all
}

async fn get_bytes(s3: &aws_sdk_s3::Client, key: &str) -> Option<Vec<u8>> {
    let object = s3.get_object().bucket(BUCKET).key(key).send().await.ok()?;
    Some(object.body.collect().await.ok()?.into_bytes().to_vec())
}

async fn get_json(s3: &aws_sdk_s3::Client, key: &str) -> Option<Value> {
    serde_json::from_slice(&get_bytes(s3, key).await?).ok()
}

/// The workspace root, for the binaries and tests that live in it.
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or(manifest)
}

/// The template values of the local account: the emulator's pipeline and distribution
/// configuration, the destination regions, and moto's distribution.
pub fn local_values(
    pipeline_arn: &str,
    distribution_arn: &str,
    regions: &[String],
    distribution_id: &str,
    domain: &str,
) -> Values {
    let mut values = Values::local();
    values
        .set("PipelineArn", pipeline_arn)
        .set("DistributionConfigurationArn", distribution_arn)
        .set(
            "DistributionExecutionRoleArn",
            "arn:aws:iam::123456789012:role/ImageBuilderDistribution",
        )
        .set("AppStreamDestinationRegions", regions.join(","))
        // The local operators that write (stack::OPERATORS), as a deployment names its own.
        .set(
            "ReleaseOperatorArns",
            "arn:aws:iam::123456789012:role/image-release-operator-*",
        )
        .set("DownloadDistribution", distribution_id)
        .set("DownloadDistribution.DomainName", domain)
        .set(
            "DistributionLogs",
            "/aws/imagebuilder/image-release-distribution",
        );
    values
}
