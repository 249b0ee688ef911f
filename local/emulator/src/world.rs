//! The emulated account: its resources, idempotency tokens, faults, counters and lifecycles.

use crate::Config;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

pub(crate) fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    world
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The service's own throttling error.
    Throttle,
    /// HTTP 500 with the service's internal error code.
    ServerError,
    /// The service's quota error (AppStream `LimitExceededException`, Image Builder
    /// `ServiceQuotaExceededException`, EC2's limit on concurrent exports).
    Quota,
}

/// A fault for one operation: `count` errors of `kind` (then success), and `latency` on every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub count: u32,
    pub latency: Duration,
}

impl Fault {
    pub fn errors(kind: FaultKind, count: u32) -> Self {
        Self {
            kind,
            count,
            latency: Duration::ZERO,
        }
    }
    pub fn latency(latency: Duration) -> Self {
        Self {
            kind: FaultKind::Throttle,
            count: 0,
            latency,
        }
    }
}

/// Calls per operation (`service:Operation`) and side effects per kind (`pipeline-execution`,
/// `distribution`, `export-task`, `appstream-copy:<region>`, `appstream-import`, `tag:<arn>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub calls: BTreeMap<String, u32>,
    pub effects: BTreeMap<String, u32>,
}

impl CallCounts {
    pub(crate) fn call(&mut self, op: &str) {
        *self.calls.entry(op.to_owned()).or_default() += 1;
    }
    pub(crate) fn effect(&mut self, what: &str) {
        *self.effects.entry(what.to_owned()).or_default() += 1;
    }
    pub fn effect_count(&self, what: &str) -> u32 {
        self.effects.get(what).copied().unwrap_or_default()
    }
    pub fn call_count(&self, op: &str) -> u32 {
        self.calls.get(op).copied().unwrap_or_default()
    }
}

/// One lifecycle: the statuses an entity goes through and the step at which each begins.
pub(crate) type Plan = Vec<(u32, &'static str)>;

#[derive(Debug, Clone)]
pub(crate) struct Image {
    pub arn: String,
    pub name: String,
    pub version: String,
    pub status: &'static str,
    pub reason: Option<String>,
    pub pipeline_arn: Option<String>,
    pub distribution_arn: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Tags given to each AMI this image creates.
    pub ami_tags: BTreeMap<String, String>,
    pub amis: Vec<(String, String)>,
    /// Regions that get an AMI when the image becomes AVAILABLE.
    pub regions: Vec<String>,
    pub plan: Plan,
    pub started: Instant,
    pub created: String,
    /// `state.failureContext` while the image is FAILED.
    pub failure_context: Option<Value>,
    /// DistributeImage and RetryImage attempts of this image so far.
    pub attempts: u32,
}

impl Image {
    /// The name of the AMIs this image creates (one per image, as the distribution names them).
    pub fn ami_name(&self) -> String {
        format!(
            "{} {} {}",
            self.name,
            self.version,
            self.arn.rsplit('/').next().unwrap_or("1")
        )
    }
}

impl Image {
    /// Ends the plan in `status` instead of `AVAILABLE` (a distribution that failed or was
    /// cancelled): the next tick must not find the plan's `AVAILABLE` due again and flip the
    /// image back, emitting a state change every tick (one event per change, as AWS does).
    fn end_plan_as(&mut self, status: &'static str) {
        for (_, planned) in &mut self.plan {
            if *planned == "AVAILABLE" {
                *planned = status;
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ExportTask {
    pub id: String,
    /// Export tasks are regional: DescribeExportImageTasks in another region does not see them.
    pub region: String,
    pub image_id: String,
    pub format: String,
    pub bucket: String,
    pub prefix: String,
    pub description: String,
    pub status: &'static str,
    pub progress: u32,
    pub message: Option<String>,
    pub tags: Vec<(String, String)>,
    pub started: Instant,
    pub uploaded: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct AppStreamImage {
    pub name: String,
    pub arn: String,
    pub region: String,
    pub state: String,
    pub reason: Option<String>,
    /// `StateChangeReason.Code` when the image fails (`IMAGE_IMPORT_FAILURE`, `IMAGE_COPY_FAILURE`…).
    pub reason_code: &'static str,
    pub description: Option<String>,
    /// `ImageBuilderName`: the operator's images were made in [`crate::SOURCE_IMAGE_BUILDER`];
    /// a copy, an import or an image seeded as someone else's has none (the API reference).
    pub builder: Option<String>,
    pub plan: Plan,
    pub started: Instant,
}

/// Whole lifecycle steps of `step_ms` from `started` until `until`.
fn steps_of(step_ms: u128, started: Instant, until: Instant) -> u32 {
    u32::try_from(until.saturating_duration_since(started).as_millis() / step_ms)
        .unwrap_or(u32::MAX)
}

/// An export that finished and must now be written to S3.
pub(crate) struct Upload {
    pub task_id: String,
    pub image_id: String,
    pub format: String,
    pub bucket: String,
    pub key: String,
}

pub(crate) struct World {
    pub config: Config,
    events: mpsc::UnboundedSender<Value>,
    pub images: BTreeMap<String, Image>,
    pub builds: HashMap<(String, String), u32>,
    /// (operation, client token) → (fingerprint of the parameters, the first answer)
    pub tokens: HashMap<(String, String), (String, Value)>,
    /// AMI id → region
    pub amis: BTreeMap<String, String>,
    /// AMI id → `imageState` other than `available` (a test's doing).
    pub ami_states: HashMap<String, String>,
    /// AMI id → its `deprecationTime`.
    pub ami_deprecations: HashMap<String, String>,
    /// AMI id → the accounts with launch permission (`all` for public).
    pub launch_permissions: HashMap<String, Vec<String>>,
    /// Snapshots DeregisterImage deleted (each AMI has one, `snap-<the AMI's hex>`).
    pub deleted_snapshots: std::collections::BTreeSet<String>,
    /// Snapshots of AMIs deregistered without `DeleteAssociatedSnapshots`: they stay (and cost).
    pub orphaned_snapshots: std::collections::BTreeSet<String>,
    /// AMI id → (resource type, ARN) of each resource that uses it (DescribeImageReferences).
    pub image_references: HashMap<String, Vec<(String, String)>>,
    /// AMIs deregistered, with their region: DescribeImages lists them no more, without an error.
    pub deregistered: std::collections::BTreeSet<(String, String)>,
    /// (region, name) → SSM parameter.
    pub parameters: BTreeMap<(String, String), crate::ssm::Parameter>,
    pub exports: BTreeMap<String, ExportTask>,
    /// (region, name) → image
    pub appstream: BTreeMap<(String, String), AppStreamImage>,
    /// resource ARN → tags
    pub tags: HashMap<String, BTreeMap<String, String>>,
    pub faults: HashMap<String, Fault>,
    /// KMS signing keys (created by `CreateKey`, or named in [`Config::signing_keys`]).
    pub kms_keys: Vec<crate::kms::KmsKey>,
    /// Every call's signing access key and arrival time.
    pub arrivals: Vec<(String, Instant)>,
    pub counts: CallCounts,
    serial: u64,
    /// Events emitted so far (what the seeded drop decision hashes).
    events_emitted: u64,
    /// Events sent to the bus's receiver (emitted and not dropped, or put by a client).
    pub(crate) events_sent: u64,
    /// Finished exports whose disk is not written to S3 yet.
    pub(crate) uploads_pending: usize,
    /// When [`World::tick`] last ran: a planned change due after it is not applied yet.
    ticked_at: Instant,
    /// Calls answered so far (what the seeded fault decision hashes).
    calls_seen: u64,
    /// `aws:ec2:image` writes SSM is still validating (`crate::ssm_validation`).
    pub(crate) ssm_validations: Vec<crate::ssm_validation::Validation>,
    /// (region, AppStream image name) → the fleet or image builder using it: DeleteImage
    /// answers `ResourceInUseException`.
    pub(crate) appstream_users: BTreeMap<(String, String), String>,
}

/// A seeded, deterministic draw in [0, 1) for the `n`-th occurrence.
fn draw(n: u64, seed: u64) -> f64 {
    let mixed = (n ^ seed)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(29)
        .wrapping_mul(0xbf58_476d_1ce4_e5b9);
    ((mixed >> 11) as f64) / ((1u64 << 53) as f64)
}

pub(crate) fn now() -> String {
    aws_sdk_s3::primitives::DateTime::from(SystemTime::now())
        .fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime)
        .unwrap_or_default()
}

impl World {
    pub fn new(config: Config, events: mpsc::UnboundedSender<Value>) -> Self {
        let mut world = Self {
            config,
            events,
            images: BTreeMap::new(),
            builds: HashMap::new(),
            tokens: HashMap::new(),
            amis: BTreeMap::new(),
            deregistered: Default::default(),
            ami_states: HashMap::new(),
            ami_deprecations: HashMap::new(),
            launch_permissions: HashMap::new(),
            parameters: BTreeMap::new(),
            deleted_snapshots: std::collections::BTreeSet::new(),
            orphaned_snapshots: std::collections::BTreeSet::new(),
            image_references: HashMap::new(),
            exports: BTreeMap::new(),
            appstream: BTreeMap::new(),
            tags: HashMap::new(),
            faults: HashMap::new(),
            kms_keys: Vec::new(),
            arrivals: Vec::new(),
            counts: CallCounts::default(),
            serial: 0,
            events_emitted: 0,
            events_sent: 0,
            uploads_pending: 0,
            ticked_at: Instant::now(),
            calls_seen: 0,
            ssm_validations: Vec::new(),
            appstream_users: BTreeMap::new(),
        };
        for arn in world.config.signing_keys.clone() {
            world.kms_keys.push(crate::kms::KmsKey::generate(arn));
        }
        for (region, name, tags) in world.config.appstream_images.clone() {
            world.add_available_appstream_image(region, name, tags.into_iter().collect());
        }
        world
    }

    /// A fresh hexadecimal id of `len` digits (deterministic: a counter mixed with a constant).
    pub fn next_hex(&mut self, len: usize) -> String {
        self.serial += 1;
        Self::hex(self.serial, len)
    }

    fn hex(serial: u64, len: usize) -> String {
        let mixed = serial.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x0123_4567_89ab_cdef;
        let hex = format!("{mixed:016x}{:016x}", mixed.rotate_left(17));
        hex[..len].to_owned()
    }

    /// Whether `ami` exists in `region` and is `available` (SSM's check of an `aws:ec2:image`
    /// value).
    pub fn ami_available(&self, region: &str, ami: &str) -> bool {
        self.amis.get(ami).is_some_and(|r| r == region)
            && self.ami_states.get(ami).is_none_or(|s| s == "available")
    }

    /// The id the next export task will get (IAM authorizes ExportImage on it before it exists).
    pub fn peek_export_task_id(&self) -> String {
        format!("export-ami-{}", Self::hex(self.serial + 1, 17))
    }

    /// The ARN of the next build of an image version (`…:image/<name>/<version>/<n>`).
    pub fn next_build_arn(&mut self, name: &str, version: &str) -> String {
        let arn = self.peek_build_arn(name, version);
        *self
            .builds
            .entry((name.to_owned(), version.to_owned()))
            .or_default() += 1;
        arn
    }

    /// What [`World::next_build_arn`] will answer, without taking it.
    pub fn peek_build_arn(&self, name: &str, version: &str) -> String {
        let next = self
            .builds
            .get(&(name.to_owned(), version.to_owned()))
            .copied()
            .unwrap_or_default()
            + 1;
        format!(
            "arn:aws:imagebuilder:{}:{}:image/{name}/{version}/{next}",
            self.config.home_region, self.config.account
        )
    }

    /// The image the next build of `pipeline_arn` will be.
    pub fn next_image_arn_of_pipeline(&self, pipeline_arn: &str) -> Option<String> {
        let pipeline = self
            .config
            .pipelines
            .iter()
            .find(|p| self.config.pipeline_arn(&p.name) == pipeline_arn)?;
        Some(self.peek_build_arn(pipeline.recipe(), &pipeline.version))
    }

    /// The image DistributeImage of `source` will create.
    pub fn next_distributed_arn(&self, source: &str) -> Option<String> {
        let image = self.images.get(source)?;
        Some(self.peek_build_arn(&image.name, &image.version))
    }

    pub fn appstream_arn(&self, region: &str, name: &str) -> String {
        format!(
            "arn:aws:appstream:{region}:{}:image/{name}",
            self.config.account
        )
    }

    /// The latency to add, and the error to answer with if one is due.
    pub fn fault_for(&mut self, op: &str) -> (Duration, Option<FaultKind>) {
        self.calls_seen += 1;
        let n = self.calls_seen;
        if draw(n, self.config.event_seed.rotate_left(7)) < self.config.fault_rate {
            self.counts.call(&format!("{op}#fault"));
            self.counts.effect("fault");
            let kind = if n.is_multiple_of(2) {
                FaultKind::Throttle
            } else {
                FaultKind::ServerError
            };
            return (Duration::ZERO, Some(kind));
        }
        let base = self.config.latency;
        let Some(fault) = self.faults.get_mut(op) else {
            return (base, None);
        };
        let error = (fault.count > 0).then(|| {
            fault.count -= 1;
            fault.kind
        });
        if error.is_some() {
            self.counts.call(&format!("{op}#fault"));
        }
        (base + fault.latency, error)
    }

    /// Checks a client token: `Ok(Some(first answer))` for a repeat with the same parameters,
    /// `Err(())` for the same token with other parameters, `Ok(None)` for a new token.
    pub fn idempotent(
        &self,
        op: &str,
        token: &str,
        fingerprint: &str,
    ) -> Result<Option<Value>, ()> {
        match self.tokens.get(&(op.to_owned(), token.to_owned())) {
            Some((seen, answer)) if seen == fingerprint => Ok(Some(answer.clone())),
            Some(_) => Err(()),
            None => Ok(None),
        }
    }

    pub fn remember(&mut self, op: &str, token: &str, fingerprint: String, answer: &Value) {
        self.tokens.insert(
            (op.to_owned(), token.to_owned()),
            (fingerprint, answer.clone()),
        );
    }

    /// An event put on the bus by a client (EventBridge PutEvents): delivered, never dropped.
    pub(crate) fn publish(&mut self, event: Value) {
        self.events_sent += 1;
        let _ = self.events.send(event);
    }

    fn emit(&mut self, event: Value) {
        self.events_emitted += 1;
        // A seeded, deterministic choice: the same seed drops the same events.
        if draw(self.events_emitted, self.config.event_seed) < self.config.event_drop {
            self.counts.effect("event-dropped");
            return;
        }
        self.counts.effect("event-emitted");
        self.events_sent += 1;
        let _ = self.events.send(event);
    }

    /// Whether this image's state changes reach the bus at all (the withholding switches).
    fn emits_events(&self, image: &Image) -> bool {
        if image.distribution_arn.is_some() {
            self.config.distribution_events
        } else {
            self.config.pipeline_events
        }
    }

    /// The failure the distribution of `image` ends with on this attempt, if one is due.
    fn distribution_failure_for(&self, image: &Image) -> Option<Value> {
        let failure = self.config.distribution_failure.as_ref()?;
        (image.distribution_arn.is_some() && image.attempts <= failure.times).then(|| {
            let failures: Vec<Value> = failure
                .region
                .split(',')
                .map(|region| {
                    json!({
                        "region": region,
                        "status": failure.status,
                        "errorMessage": failure.message.replace("{region}", region),
                        "targetAccountId": self.config.account,
                    })
                })
                .collect();
            json!({
                "imageStatus": "DISTRIBUTING",
                "distributionFailure": {
                    "errorMessage": format!(
                        "Distribution failed in {} of {} regions",
                        failures.len(),
                        image.regions.len()
                    ),
                    "regionFailures": failures,
                }
            })
        })
    }

    fn image_event(&self, image: &Image, previous: &str) -> Value {
        let mut state = json!({ "status": image.status });
        if let Some(reason) = &image.reason {
            state["reason"] = json!(reason);
        }
        json!({
            "version": "0",
            "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": "EC2 Image Builder Image State Change",
            "source": "aws.imagebuilder",
            "account": self.config.account,
            "time": now(),
            "region": self.config.home_region,
            "resources": [image.arn],
            "detail": { "previous-state": { "status": previous }, "state": state }
        })
    }

    pub fn add_image(&mut self, image: Image) {
        let event = self.image_event(&image, "PENDING");
        let emits = self.emits_events(&image);
        self.images.insert(image.arn.clone(), image);
        if emits {
            self.emit(event);
        }
    }

    /// An AVAILABLE AppStream image named `name` in the home region, if there is none yet.
    pub fn seed_appstream_source(&mut self, name: &str) {
        let region = self.config.home_region.clone();
        if !self
            .appstream
            .contains_key(&(region.clone(), name.to_owned()))
        {
            let tags = BTreeMap::from([("team".to_owned(), "platform".to_owned())]);
            self.add_available_appstream_image(region, name.to_owned(), tags);
        }
    }

    /// See [`crate::Emulator::seed_image`].
    pub fn seed_image(
        &mut self,
        arn: &str,
        status: &'static str,
        pipeline_arn: Option<&str>,
        amis: Vec<(String, String)>,
    ) {
        let mut parts = arn.rsplit('/');
        let (_build, version, name) = (parts.next(), parts.next(), parts.next());
        for (region, ami) in &amis {
            self.amis.insert(ami.clone(), region.clone());
        }
        self.images.insert(
            arn.to_owned(),
            Image {
                arn: arn.to_owned(),
                name: name.unwrap_or("golden").to_owned(),
                version: version.unwrap_or("1.0.0").to_owned(),
                status,
                reason: None,
                pipeline_arn: pipeline_arn.map(str::to_owned),
                distribution_arn: None,
                tags: BTreeMap::new(),
                ami_tags: BTreeMap::new(),
                regions: amis.iter().map(|(r, _)| r.clone()).collect(),
                amis,
                plan: Vec::new(),
                started: Instant::now(),
                created: "2026-11-24T00:00:00.000Z".into(),
                failure_context: None,
                attempts: 1,
            },
        );
    }

    /// See [`crate::Emulator::seed_export_task`].
    pub fn seed_export_task(
        &mut self,
        id: &str,
        image_id: &str,
        bucket: &str,
        prefix: &str,
        status: &'static str,
    ) {
        let done = status == "completed";
        self.exports.insert(
            id.to_owned(),
            ExportTask {
                id: id.to_owned(),
                region: self.config.home_region.clone(),
                image_id: image_id.to_owned(),
                format: "VMDK".into(),
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
                description: String::new(),
                status,
                progress: if done { 100 } else { 40 },
                message: (!done).then(|| "converting (40%)".into()),
                tags: Vec::new(),
                started: Instant::now(),
                uploaded: true,
            },
        );
    }

    /// See [`crate::Emulator::seed_appstream_image`].
    pub fn seed_appstream_image(&mut self, region: &str, name: &str, state: &str) {
        self.seed_appstream_image_described(region, name, state, None);
    }

    /// [`World::seed_appstream_image`] with a description (a release's copy carries its mark).
    pub fn seed_appstream_image_described(
        &mut self,
        region: &str,
        name: &str,
        state: &str,
        description: Option<&str>,
    ) {
        let arn = self.appstream_arn(region, name);
        self.appstream.insert(
            (region.to_owned(), name.to_owned()),
            AppStreamImage {
                name: name.to_owned(),
                arn,
                region: region.to_owned(),
                state: state.to_owned(),
                reason: None,
                reason_code: "INTERNAL_ERROR",
                description: description.map(str::to_owned),
                builder: None,
                plan: Vec::new(),
                started: Instant::now(),
            },
        );
    }

    /// An AppStream image that is AVAILABLE from the start, with its tags.
    fn add_available_appstream_image(
        &mut self,
        region: String,
        name: String,
        tags: BTreeMap<String, String>,
    ) {
        let arn = self.appstream_arn(&region, &name);
        self.tags.insert(arn.clone(), tags);
        self.appstream.insert(
            (region.clone(), name.clone()),
            AppStreamImage {
                name,
                arn,
                region,
                state: "AVAILABLE".into(),
                reason: None,
                reason_code: "INTERNAL_ERROR",
                description: None,
                builder: Some(crate::SOURCE_IMAGE_BUILDER.to_owned()),
                plan: Vec::new(),
                started: Instant::now(),
            },
        );
    }

    /// RetryImage: a FAILED distribution starts again from DISTRIBUTING.
    pub fn retry_image(&mut self, arn: &str) {
        if let Some(image) = self.images.get_mut(arn) {
            image.attempts += 1;
            image.status = "DISTRIBUTING";
            image.failure_context = None;
            image.reason = None;
            image.plan = vec![(0, "DISTRIBUTING"), (2, "AVAILABLE")];
            image.started = Instant::now();
        }
    }

    pub fn object_created(&mut self, bucket: &str, key: &str, size: usize) {
        self.emit(json!({
            "version": "0",
            "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": self.config.account,
            "time": now(),
            "region": self.config.home_region,
            "resources": [format!("arn:aws:s3:::{bucket}")],
            "detail": {
                "version": "0",
                "bucket": { "name": bucket },
                "object": { "key": key, "size": size, "etag": format!("{:032x}", size) },
                "request-id": "EMULATOR",
                "requester": self.config.account,
                "reason": "PutObject"
            }
        }));
    }

    pub fn fail_export(&mut self, task_id: &str, message: &str) {
        if let Some(task) = self.exports.get_mut(task_id) {
            task.status = "deleted";
            task.message = Some(message.to_owned());
        }
    }

    /// What AWS would still be doing on its own: an image or AppStream image with a state
    /// change still planned (or due, and not applied by a tick yet), an export task still
    /// running (a stalled one never ends, and is not counted), a finished export's disk not
    /// written yet. Empty when nothing will change without a call.
    pub fn in_progress(&self) -> Vec<String> {
        let step = self.step_ms();
        // Steps applied so far: up to the last tick, not up to now.
        let steps_since = |started| steps_of(step, started, self.ticked_at);
        let mut busy = Vec::new();
        for image in self.images.values() {
            let elapsed = steps_since(image.started);
            if image.plan.iter().any(|(at, _)| *at > elapsed) {
                busy.push(format!("image {} {}", image.arn, image.status));
            }
        }
        for image in self.appstream.values() {
            let elapsed = steps_since(image.started);
            if image.plan.iter().any(|(at, _)| *at > elapsed) {
                busy.push(format!(
                    "AppStream image {} in {} {}",
                    image.name, image.region, image.state
                ));
            }
        }
        if !self.config.export_stalls {
            busy.extend(
                self.exports
                    .values()
                    .filter(|t| t.status == "active")
                    .map(|t| format!("export task {}", t.id)),
            );
        }
        busy.extend(crate::ssm_validation::busy(self));
        if self.uploads_pending > 0 {
            busy.push(format!(
                "{} exported disks being written",
                self.uploads_pending
            ));
        }
        busy
    }

    /// One lifecycle step, in milliseconds (at least one).
    fn step_ms(&self) -> u128 {
        self.config.step.as_millis().max(1)
    }

    /// Advances every lifecycle to where the clock says it is; returns the exports to upload.
    pub fn tick(&mut self) -> Vec<Upload> {
        let now = Instant::now();
        self.ticked_at = now;
        let step = self.step_ms();
        let steps_since = |started| steps_of(step, started, now);

        // Image Builder images.
        let mut changed = Vec::new();
        for image in self.images.values_mut() {
            let elapsed = steps_since(image.started);
            let target = image
                .plan
                .iter()
                .rev()
                .find(|(at, _)| *at <= elapsed)
                .map(|(_, s)| *s);
            if let Some(target) = target.filter(|t| *t != image.status) {
                let previous = image.status;
                image.status = target;
                changed.push((image.arn.clone(), previous));
            }
        }
        // A distribution due to be cancelled ends CANCELLED (no failureContext: Image Builder
        // sets it only for FAILED), for its first `distributions_cancelled` attempts.
        for (arn, _) in &changed {
            let cancelled = self.config.distributions_cancelled;
            if let Some(image) = self.images.get_mut(arn)
                && image.status == "AVAILABLE"
                && image.distribution_arn.is_some()
                && image.attempts <= cancelled
            {
                image.status = "CANCELLED";
                image.end_plan_as("CANCELLED");
            }
        }
        // A distribution due to fail ends FAILED with its failureContext instead of AVAILABLE.
        for (arn, _) in &changed {
            let failure = self
                .images
                .get(arn)
                .filter(|i| i.status == "AVAILABLE")
                .and_then(|i| self.distribution_failure_for(i));
            if let (Some(failure), Some(image)) = (failure, self.images.get_mut(arn)) {
                image.status = "FAILED";
                image.end_plan_as("FAILED");
                image.reason = Some("Image distribution failed".into());
                image.failure_context = Some(failure);
            }
        }
        for (arn, previous) in changed {
            let mut new_amis = Vec::new();
            if let Some(image) = self.images.get(&arn)
                && image.status == "AVAILABLE"
                && image.amis.is_empty()
            {
                new_amis = image.regions.clone();
            }
            let amis: Vec<(String, String)> = new_amis
                .into_iter()
                .map(|region| (region, format!("ami-{}", self.next_hex(17))))
                .collect();
            // Image Builder tags every output AMI with `CreatedBy` and `Ec2ImageBuilderArn` (user
            // guide, "Tag Image Builder output resources"), besides the distribution's own tags.
            let mut ami_tags = self
                .images
                .get(&arn)
                .map(|i| i.ami_tags.clone())
                .unwrap_or_default();
            ami_tags.insert("CreatedBy".into(), "EC2 Image Builder".into());
            ami_tags.insert("Ec2ImageBuilderArn".into(), arn.clone());
            for (region, ami) in &amis {
                self.amis.insert(ami.clone(), region.clone());
                self.tags.insert(ami.clone(), ami_tags.clone());
                // The distribution configuration's launchPermission, applied to each AMI.
                if !self.config.launch_permissions.is_empty() {
                    self.launch_permissions
                        .insert(ami.clone(), self.config.launch_permissions.clone());
                }
            }
            if let Some(image) = self.images.get_mut(&arn) {
                image.amis.extend(amis);
            }
            if let Some(image) = self.images.get(&arn)
                && self.emits_events(image)
            {
                let event = self.image_event(image, previous);
                self.emit(event);
            }
        }

        // Export tasks.
        let failure = self.config.export_failure.clone();
        let mut uploads = Vec::new();
        let stalls = self.config.export_stalls;
        for task in self.exports.values_mut().filter(|t| t.status == "active") {
            let elapsed = steps_since(task.started);
            if stalls {
                task.progress = 40;
                task.message = Some("converting (40%)".into());
                continue;
            }
            match &failure {
                Some(message) if elapsed >= 2 => {
                    task.status = "deleted";
                    task.message = Some(message.clone());
                }
                _ if elapsed >= 4 => {
                    task.status = "completed";
                    task.progress = 100;
                    task.message = None;
                    if !task.uploaded {
                        task.uploaded = true;
                        self.uploads_pending += 1;
                        uploads.push(Upload {
                            task_id: task.id.clone(),
                            image_id: task.image_id.clone(),
                            format: task.format.clone(),
                            bucket: task.bucket.clone(),
                            key: format!(
                                "{}{}.{}",
                                task.prefix,
                                task.id,
                                task.format.to_ascii_lowercase()
                            ),
                        });
                    }
                }
                _ => {
                    task.progress = (elapsed * 25).min(99);
                    task.message = Some(format!("converting ({}%)", task.progress));
                }
            }
        }

        // AppStream imports and copies.
        for image in self.appstream.values_mut() {
            let elapsed = steps_since(image.started);
            if let Some((_, state)) = image.plan.iter().rev().find(|(at, _)| *at <= elapsed)
                && image.state != *state
            {
                image.state = (*state).to_owned();
            }
        }
        crate::appstream::forget_deleted(self);
        crate::ssm_validation::finish_due(self, now);
        uploads
    }
}
