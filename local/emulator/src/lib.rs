//! A local emulator of the three AWS services no registry package emulates: EC2 Image Builder
//! (restJson1), EC2 image export (EC2 query protocol, XML answers) and AppStream 2.0 (Smithy RPC v2
//! CBOR, as the pinned `aws-sdk-appstream` sends it). It is tested only through the real SDK
//! clients pointed at it with `AWS_ENDPOINT_URL_<SERVICE>`.
//!
//! * One HTTP server on 127.0.0.1 serves all three; the protocol is told apart by the request
//!   (`/service/PhotonAdminProxyService/operation/<Op>` for AppStream in RPC v2 CBOR, an
//!   `X-Amz-Target: PhotonAdminProxyService.<Op>` header for AppStream in awsJson1_1, a form body
//!   with `Action=` for EC2, the REST path for Image Builder), the region by the SigV4
//!   credential scope. boto3 and the AWS CLI drive it as well as the Rust SDKs do.
//! * Lifecycles move on a scaled clock (`step`): a pipeline image goes BUILDING → TESTING →
//!   DISTRIBUTING → AVAILABLE, a distributed image DISTRIBUTING → AVAILABLE, an export task
//!   active (progress rising) → completed and then writes `<S3Prefix><task-id>.<format>` into S3
//!   (moto), AppStream imports and copies PENDING/IMPORTING → AVAILABLE.
//! * Image state changes and S3 `Object Created` are sent as EventBridge events on a channel.
//! * Faults per operation: the service's own throttling error or a 5xx, a count of them, and
//!   added latency.

// The operation handlers short-circuit with ready HTTP error responses (`Result<Response, Response>`);
// boxing them would only add allocations to a local test server.
#![allow(clippy::result_large_err)]

mod appstream;
mod appstream_tags;
mod authz;
mod ec2;
mod eventbridge;
mod imagebuilder;
mod imagebuilder_versions;
mod kms;
mod ssm;
mod ssm_tags;
mod ssm_validation;
mod world;

pub use eventbridge::LOCAL_BUS_KEY;
pub use world::{CallCounts, Fault, FaultKind};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use world::World;

/// The access key the emulator signs its S3 writes with: VM Export writes an exported disk as
/// the account's VM Import service role (`vmimport`), so the local IAM authorizes the write
/// against that role's policy.
pub const VM_IMPORT_ACCESS_KEY: &str = "AKIDVMIMPORT";

/// The access key of the account's neighbour: another team's principal in the shared account,
/// with broad rights of its own (S3, EC2, SSM, AppStream and Image Builder on everything,
/// `events:PutEvents` on the default bus, `lambda:InvokeFunction` on every function) but no
/// part in the stack. The local IAM evaluates its calls like any other principal's, so what the
/// stack's resource policies deny it is denied, and everything else is allowed: the attacker
/// of the shared-account tests.
pub const NEIGHBOUR_ACCESS_KEY: &str = "AKIDNEIGHBOUR";
/// Its role's name (`arn:aws:iam::<account>:role/<name>`).
pub const NEIGHBOUR_ROLE: &str = "neighbour";

/// The AppStream image builder the operator's source images (`Config::appstream_images`, and
/// those made on demand) were made in, as DescribeImages' `ImageBuilderName` shows.
pub const SOURCE_IMAGE_BUILDER: &str = "release-builder";

/// What the emulated account holds when it starts.
#[derive(Debug, Clone)]
pub struct Config {
    pub account: String,
    pub home_region: String,
    /// How long one lifecycle step takes.
    pub step: Duration,
    pub pipelines: Vec<Pipeline>,
    /// Distribution configurations: name → regions DistributeImage creates AMIs in.
    pub distribution_configurations: Vec<(String, Vec<String>)>,
    /// Regions where AppStream 2.0 is offered. AWS documents no answer for a CopyImage to any
    /// other region; the emulator's `IncompatibleImageException` there is a stand-in.
    pub appstream_regions: Vec<String>,
    /// AppStream images that exist at start.
    pub appstream_images: Vec<SeedImage>,
    /// The size of each exported disk, in bytes (deterministic content, see [`export_content`]);
    /// `None` writes a one-line stand-in.
    pub export_size: Option<usize>,
    /// Where exported disks are written (moto's S3 endpoint), if anywhere.
    pub s3_endpoint: Option<String>,
    /// Export tasks end `deleted` with this status message instead of completing.
    pub export_failure: Option<String>,
    /// Export tasks stay `active` at 40% forever (a step that never finishes).
    pub export_stalls: bool,
    /// Every call is answered after this long (see [`Emulator::set_latency`]).
    pub latency: Duration,
    /// The home region has an AVAILABLE AppStream image (tagged `team=platform`) for every
    /// name asked for, as if an AppStream image builder had made one per release: for runs of
    /// many releases whose names are not known in advance.
    pub appstream_sources_on_demand: bool,
    /// This fraction (0.0–1.0) of all calls fails, chosen by a seeded hash, alternately
    /// throttled and 5xx (on top of the per-operation faults).
    pub fault_rate: f64,
    /// AWS does not document where DistributeImage's `tags` land. `false`: on the new Image
    /// Builder image (what GetImage shows); `true`: only on the AMIs it creates.
    pub distribution_tags_on_amis_only: bool,
    /// AWS does not document whether the image DistributeImage creates keeps the source's
    /// `sourcePipelineArn`. `false`: it has none; `true`: it names the source's pipeline.
    pub distribution_keeps_pipeline_arn: bool,
    /// Every AMI has an encrypted root snapshot (a distribution configuration with a kmsKeyId).
    pub amis_encrypted: bool,
    /// Every AMI is a Windows image (AWS-provided third-party software).
    pub amis_windows: bool,
    /// Images DistributeImage creates emit state-change events. AWS documents no such events
    /// (DistributeImage's output says to monitor the new image with GetImage): `false` withholds them.
    pub distribution_events: bool,
    /// Pipeline images emit state-change events (`false`: a bus that lost them all).
    pub pipeline_events: bool,
    /// Drop this fraction (0.0–1.0) of all events, chosen by a seeded hash: EventBridge
    /// delivers Image Builder's events on a best-effort basis.
    pub event_drop: f64,
    pub event_seed: u64,
    /// Distributions fail in one region (with a `failureContext`) this many times; each
    /// RetryImage uses up one. See [`DistributionFailure`].
    pub distribution_failure: Option<DistributionFailure>,
    /// The account's IAM: every call signed by a key it knows is evaluated against that
    /// principal's policies; `None` allows everything (the emulator on its own).
    pub iam: Option<std::sync::Arc<iam::Account>>,
    /// Image Builder's service-linked role exists already (`false`: the first call that needs
    /// it creates it, and needs `iam:CreateServiceLinkedRole`).
    pub service_linked_role: bool,
    /// Pipeline builds are cancelled (CancelImageCreation): BUILDING → CANCELLED, with no
    /// `failureContext` (Image Builder sets it only for FAILED).
    pub build_cancelled: bool,
    /// The first N distributions end CANCELLED (top level, no `failureContext`); RetryImage
    /// accepts a CANCELLED image.
    pub distributions_cancelled: u32,
    /// Export tasks that may be active at once in a region: VM Import/Export's documented
    /// default of 5 conversion tasks per Region; ExportImage past it answers the quota error.
    pub export_limit: usize,
    /// KMS keys (`ECC_NIST_P256`, `SIGN_VERIFY`) that exist at start, by ARN: the stack's
    /// signing key, created by CloudFormation before any function runs.
    pub signing_keys: Vec<String>,
    /// (alias name `alias/…`, key ARN) of those keys: KMS accepts an alias as `KeyId`.
    pub key_aliases: Vec<(String, String)>,
    /// The distribution configurations' `launchPermission.userIds` (`all`: `userGroups: [all]`),
    /// in every region: GetDistributionConfiguration shows them, DistributeImage grants them on
    /// each AMI it creates, DescribeImageAttribute `launchPermission` answers them.
    pub launch_permissions: Vec<String>,
    /// Lifecycle steps SSM takes to validate an `aws:ec2:image` value (PutParameter answers
    /// before: "the PutParameter call returns before the validation is complete"); 0 validates
    /// at once.
    pub ssm_validation_steps: u32,
}

/// A distribution that fails in `region` (a comma-separated list: each of them) with
/// `message` (`{region}` in it names the region) and region status `status`
/// (`FAILED` | `CANCELLED` | `TIMED_OUT`), for the first `times` attempts.
#[derive(Debug, Clone)]
pub struct DistributionFailure {
    pub region: String,
    pub status: String,
    pub message: String,
    pub times: u32,
}

/// The state and tags of an AppStream image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStreamView {
    pub state: String,
    pub tags: Vec<(String, String)>,
}

/// An AppStream image that exists at start: (region, name, tags).
pub type SeedImage = (String, String, Vec<(String, String)>);

#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    /// The image recipe the pipeline builds (`None`: a recipe of the pipeline's own name). Image
    /// Builder names an image after its recipe: `…:image/<recipe>/<version>/<build>`, so two
    /// pipelines of one recipe number their builds in one sequence.
    pub recipe: Option<String>,
    pub version: String,
    /// The build fails in TESTING with this reason.
    pub failure: Option<String>,
}

impl Pipeline {
    pub fn recipe(&self) -> &str {
        self.recipe.as_deref().unwrap_or(&self.name)
    }
}

impl Config {
    /// A small account: pipeline `golden` 1.0.0, distribution configuration `golden` to two
    /// regions, AppStream where botocore says it is offered.
    pub fn demo() -> Self {
        Self {
            account: "123456789012".into(),
            home_region: "us-east-1".into(),
            step: Duration::from_millis(300),
            pipelines: vec![Pipeline {
                name: "golden".into(),
                recipe: None,
                version: "1.0.0".into(),
                failure: None,
            }],
            distribution_configurations: vec![(
                "golden".into(),
                vec!["us-east-1".into(), "eu-west-1".into()],
            )],
            // The regions botocore's endpoint data lists for AppStream 2.0 (shared/data).
            appstream_regions: shared::domain::appstream_regions()
                .map(str::to_owned)
                .collect(),
            appstream_images: Vec::new(),
            export_size: None,
            s3_endpoint: None,
            export_failure: None,
            export_stalls: false,
            latency: Duration::ZERO,
            appstream_sources_on_demand: false,
            fault_rate: 0.0,
            distribution_tags_on_amis_only: false,
            distribution_keeps_pipeline_arn: false,
            amis_encrypted: false,
            amis_windows: false,
            distribution_events: true,
            pipeline_events: true,
            event_drop: 0.0,
            event_seed: 7,
            distribution_failure: None,
            iam: None,
            service_linked_role: false,
            build_cancelled: false,
            distributions_cancelled: 0,
            export_limit: 5,
            signing_keys: Vec::new(),
            key_aliases: Vec::new(),
            launch_permissions: Vec::new(),
            ssm_validation_steps: 1,
        }
    }

    pub fn pipeline_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:imagebuilder:{}:{}:image-pipeline/{name}",
            self.home_region, self.account
        )
    }

    pub fn distribution_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:imagebuilder:{}:{}:distribution-configuration/{name}",
            self.home_region, self.account
        )
    }
}

/// A running emulator. Dropping it stops the server and the lifecycle ticker.
pub struct Emulator {
    addr: SocketAddr,
    world: Arc<Mutex<World>>,
    stop: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Emulator {
    /// Starts on 127.0.0.1:`port` (0: a free port). Events come out of the returned receiver.
    pub async fn start(
        config: Config,
        port: u16,
    ) -> anyhow::Result<(Self, mpsc::UnboundedReceiver<Value>)> {
        let (events, receiver) = mpsc::unbounded_channel();
        let s3 = match &config.s3_endpoint {
            Some(endpoint) => Some(s3_client(endpoint, &config.home_region).await),
            None => None,
        };
        let step = config.step;
        let export_size = config.export_size;
        let world = Arc::new(Mutex::new(World::new(config, events)));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = axum::Router::new().fallback({
            let world = world.clone();
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let world = world.clone();
                async move { route(&world, method, uri, headers, body).await }
            }
        });
        let ticker_world = world.clone();
        tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            let ticker = async move {
                let mut interval = tokio::time::interval((step / 4).max(Duration::from_millis(5)));
                loop {
                    interval.tick().await;
                    let uploads = world::lock(&ticker_world).tick();
                    for upload in uploads {
                        if let Some(s3) = &s3 {
                            upload_export(s3, &ticker_world, upload, export_size).await;
                        }
                        world::lock(&ticker_world).uploads_pending -= 1;
                    }
                }
            };
            tokio::select! {
                result = server => if let Err(err) = result { tracing::error!(error = %err, "emulator server stopped") },
                () = ticker => {}
            }
        });
        tracing::info!(%addr, "emulator listening");
        Ok((
            Self {
                addr,
                world,
                stop: Some(stop),
            },
            receiver,
        ))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Injects a fault into `operation` (e.g. `imagebuilder:DistributeImage`, `ec2:ExportImage`, `appstream:CopyImage`).
    pub fn inject(&self, operation: &str, fault: Fault) {
        world::lock(&self.world)
            .faults
            .insert(operation.to_owned(), fault);
    }

    /// Every call waits this long before it is answered (on top of any injected fault's own
    /// latency): the round trip to AWS, for the tick-scale benchmark.
    pub fn set_latency(&self, latency: Duration) {
        world::lock(&self.world).config.latency = latency;
    }

    /// An Image Builder image that stays in `status` (no lifecycle), with its AMIs
    /// `(region, ami)`, as the benchmark's seeded releases need it.
    pub fn seed_image(
        &self,
        arn: &str,
        status: &'static str,
        pipeline_arn: Option<&str>,
        amis: Vec<(String, String)>,
    ) {
        world::lock(&self.world).seed_image(arn, status, pipeline_arn, amis);
    }

    /// An export task that stays in `status` (`active` at 40%, or `completed`).
    pub fn seed_export_task(
        &self,
        id: &str,
        image_id: &str,
        bucket: &str,
        prefix: &str,
        status: &'static str,
    ) {
        world::lock(&self.world).seed_export_task(id, image_id, bucket, prefix, status);
    }

    /// An AppStream image in `region` that stays in `state`.
    pub fn seed_appstream_image(&self, region: &str, name: &str, state: &str) {
        world::lock(&self.world).seed_appstream_image(region, name, state);
    }

    /// [`Emulator::seed_appstream_image`] with a description (a release's copy carries its mark).
    pub fn seed_appstream_image_described(
        &self,
        region: &str,
        name: &str,
        state: &str,
        description: &str,
    ) {
        world::lock(&self.world).seed_appstream_image_described(
            region,
            name,
            state,
            Some(description),
        );
    }

    /// Export tasks stall at 40% (or, switched off, carry on from where they are).
    pub fn set_export_stalls(&self, stalls: bool) {
        world::lock(&self.world).config.export_stalls = stalls;
    }

    /// When each call arrived, with the access key that signed it (the latency benchmark ties
    /// each function's first call to the invocation that made it).
    pub fn arrivals(&self) -> Vec<(String, Instant)> {
        world::lock(&self.world).arrivals.clone()
    }

    /// How many times each operation was called, and how many side effects each caused.
    pub fn counts(&self) -> CallCounts {
        world::lock(&self.world).counts.clone()
    }

    /// What the emulated services are still doing on their own (see `World::in_progress`).
    pub fn in_progress(&self) -> Vec<String> {
        world::lock(&self.world).in_progress()
    }

    /// How many events the emulator has sent to its bus so far (state changes it emitted and
    /// events clients put): a reader that received fewer has some still queued.
    pub fn events_sent(&self) -> u64 {
        world::lock(&self.world).events_sent
    }

    /// Every AMI: (id, region).
    pub fn amis(&self) -> Vec<(String, String)> {
        world::lock(&self.world)
            .amis
            .iter()
            .map(|(a, r)| (a.clone(), r.clone()))
            .collect()
    }

    /// Sets an AMI's `imageState` (`pending`, `failed`, `available`…), as EC2 would show it.
    pub fn set_ami_state(&self, ami: &str, state: &str) {
        world::lock(&self.world)
            .ami_states
            .insert(ami.to_owned(), state.to_owned());
    }

    /// Gives an AMI a `deprecationTime` (RFC 3339), as EnableImageDeprecation would.
    pub fn deprecate_ami(&self, ami: &str, at: &str) {
        world::lock(&self.world)
            .ami_deprecations
            .insert(ami.to_owned(), at.to_owned());
    }

    /// A resource that uses `ami` (`ec2:LaunchTemplate`, `ec2:Instance`, …), as
    /// DescribeImageReferences will answer it.
    pub fn add_image_reference(&self, ami: &str, resource_type: &str, arn: &str) {
        world::lock(&self.world)
            .image_references
            .entry(ami.to_owned())
            .or_default()
            .push((resource_type.to_owned(), arn.to_owned()));
    }

    /// Whether `snapshot` still exists (DeregisterImage with DeleteAssociatedSnapshots deletes it).
    pub fn snapshot_exists(&self, snapshot: &str) -> bool {
        let world = world::lock(&self.world);
        world.orphaned_snapshots.contains(snapshot)
            || (!world.deleted_snapshots.contains(snapshot)
                && world
                    .amis
                    .keys()
                    .any(|a| format!("snap-{}", &a[4..]) == snapshot))
    }

    /// An AMI's `deprecationTime`, state and whether it still exists: (exists, state, deprecation).
    pub fn ami(&self, ami: &str) -> Option<(String, Option<String>)> {
        let world = world::lock(&self.world);
        world.amis.get(ami)?;
        Some((
            world
                .ami_states
                .get(ami)
                .cloned()
                .unwrap_or_else(|| "available".into()),
            world.ami_deprecations.get(ami).cloned(),
        ))
    }

    /// The value of SSM parameter `name` in `region`.
    pub fn parameter(&self, region: &str, name: &str) -> Option<String> {
        world::lock(&self.world)
            .parameters
            .get(&(region.to_owned(), name.to_owned()))
            .map(|p| p.value.clone())
    }

    /// The value of tag `key` of a parameter, as ListTagsForResource would show it.
    pub fn parameter_tag(&self, region: &str, name: &str, key: &str) -> Option<String> {
        world::lock(&self.world)
            .parameters
            .get(&(region.to_owned(), name.to_owned()))
            .and_then(|p| p.tags.get(key).cloned())
    }

    /// A fleet or image builder (`by`) starts using AppStream image `name` of `region`:
    /// DeleteImage answers `ResourceInUseException` ("You cannot delete an image when it is in
    /// use") until [`Emulator::stop_using_appstream_image`].
    pub fn use_appstream_image(&self, region: &str, name: &str, by: &str) {
        world::lock(&self.world)
            .appstream_users
            .insert((region.to_owned(), name.to_owned()), by.to_owned());
    }

    /// The fleet or image builder using AppStream image `name` of `region` stops.
    pub fn stop_using_appstream_image(&self, region: &str, name: &str) {
        world::lock(&self.world)
            .appstream_users
            .remove(&(region.to_owned(), name.to_owned()));
    }

    /// An AppStream image as DescribeImages and ListTagsForResource would show it.
    pub fn appstream_image(&self, region: &str, name: &str) -> Option<AppStreamView> {
        let world = world::lock(&self.world);
        let image = world.appstream.get(&(region.to_owned(), name.to_owned()))?;
        let tags = world
            .tags
            .get(&image.arn)
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        Some(AppStreamView {
            state: image.state.clone(),
            tags,
        })
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn route(
    world: &Arc<Mutex<World>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = Instant::now();
    let region = credential_field(&headers, 2)
        .unwrap_or_else(|| world::lock(world).config.home_region.clone());
    if let Some(key) = credential_field(&headers, 0) {
        let mut world = world::lock(world);
        // Bounded: a long-running emulator keeps the first million.
        if world.arrivals.len() < 1_000_000 {
            world.arrivals.push((key, arrived));
        }
    }
    let path = uri.path().to_owned();
    let amz_target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let target = amz_target
        .strip_prefix("PhotonAdminProxyService.")
        .map(str::to_owned);
    // The protocol only matters for AppStream, which speaks two; the others ignore it.
    let (service, operation, protocol) = if let Some(op) = amz_target.strip_prefix("AWSEvents.") {
        ("events", op.to_owned(), appstream::Protocol::AwsJson11)
    } else if let Some(op) = amz_target.strip_prefix("TrentService.") {
        ("kms", op.to_owned(), appstream::Protocol::AwsJson11)
    } else if let Some(op) = amz_target.strip_prefix("AmazonSSM.") {
        ("ssm", op.to_owned(), appstream::Protocol::AwsJson11)
    } else if let Some(op) = target {
        // awsJson1_1, as the AWS CLI sends it (POST / with X-Amz-Target).
        ("appstream", op, appstream::Protocol::AwsJson11)
    } else if let Some(op) = path.strip_prefix("/service/PhotonAdminProxyService/operation/") {
        ("appstream", op.to_owned(), appstream::Protocol::RpcV2Cbor)
    } else if method == Method::POST && path == "/" {
        let action = form_urlencoded::parse(&body)
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        ("ec2", action, appstream::Protocol::RpcV2Cbor)
    } else {
        let operation = path.trim_start_matches('/').to_owned();
        ("imagebuilder", operation, appstream::Protocol::RpcV2Cbor)
    };
    let key = format!("{service}:{operation}");

    // Faults: latency outside the lock, then the scripted error if one is due.
    let (latency, error) = world::lock(world).fault_for(&key);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(kind) = error {
        return fault_response(service, protocol, kind);
    }
    let mut world = world::lock(world);
    world.counts.call(&key);
    if let Some(denied) = authz::authorize(
        &world, &headers, service, &operation, &region, &uri, &body, protocol,
    ) {
        world.counts.call(&format!("{key}#denied"));
        return denied;
    }
    match service {
        "appstream" => appstream::handle(&mut world, protocol, &region, &operation, &body),
        "ec2" => ec2::handle(&mut world, &region, &operation, &body),
        "events" => eventbridge::handle(&mut world, &region, &operation, &body),
        "kms" => kms::handle(&mut world, &region, &operation, &body),
        "ssm" => ssm::handle(&mut world, &region, &operation, &body),
        _ => imagebuilder::handle(
            &mut world,
            &region,
            &method,
            &operation,
            uri.query().unwrap_or(""),
            &body,
        ),
    }
}

/// The region of a SigV4-signed request: `Credential=<key>/<date>/<region>/<service>/aws4_request`.
/// Field `index` of the SigV4 credential scope `<access key>/<date>/<region>/<service>/aws4_request`:
/// 0 is the signing access key (the local stack gives each function its own), 2 the region.
pub(crate) fn credential_field(headers: &HeaderMap, index: usize) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?;
    credential.split('/').nth(index).map(str::to_owned)
}

fn fault_response(service: &str, protocol: appstream::Protocol, kind: FaultKind) -> Response {
    match (service, kind) {
        ("imagebuilder", FaultKind::Throttle) => imagebuilder::error(
            StatusCode::TOO_MANY_REQUESTS,
            "CallRateLimitExceededException",
            "Rate exceeded",
        ),
        ("imagebuilder", FaultKind::ServerError) => imagebuilder::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            "Internal failure",
        ),
        ("events", FaultKind::Throttle) => eventbridge::error(
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate exceeded",
        ),
        ("events", FaultKind::ServerError) => eventbridge::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalException",
            "Internal failure",
        ),
        ("kms", FaultKind::Throttle) => kms::error(
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate exceeded",
        ),
        ("kms", FaultKind::ServerError) => kms::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "KMSInternalException",
            "Internal failure",
        ),
        ("ssm", FaultKind::Throttle) => ssm::error(
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate exceeded",
        ),
        ("ssm", FaultKind::ServerError) => ssm::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "Internal failure",
        ),
        ("ssm", FaultKind::Quota) => ssm::error(
            StatusCode::BAD_REQUEST,
            "ParameterLimitExceeded",
            "You have exceeded the number of parameters for this AWS account.",
        ),
        ("kms", FaultKind::Quota) => kms::error(
            StatusCode::BAD_REQUEST,
            "LimitExceededException",
            "The request exceeded a limit.",
        ),
        ("ec2", FaultKind::Throttle) => ec2::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "RequestLimitExceeded",
            "Request limit exceeded.",
        ),
        ("ec2", FaultKind::ServerError) => ec2::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "An internal error has occurred",
        ),
        (_, FaultKind::Throttle) => appstream::error(
            protocol,
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate exceeded",
        ),
        (_, FaultKind::ServerError) => appstream::error(
            protocol,
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServiceError",
            "Internal failure",
        ),
        // Each service's quota error, as its model names it (Image Builder: HTTP 402). EC2
        // documents no code for the concurrent-export limit: `ResourceLimitExceeded`, EC2's
        // generic limit code, is a stand-in.
        ("imagebuilder", FaultKind::Quota) => imagebuilder::error(
            StatusCode::PAYMENT_REQUIRED,
            "ServiceQuotaExceededException",
            "You have exceeded the service quota for this resource.",
        ),
        ("ec2", FaultKind::Quota) => ec2::error(
            StatusCode::BAD_REQUEST,
            "ResourceLimitExceeded",
            "You have reached the maximum number of concurrent export image tasks.",
        ),
        ("events", FaultKind::Quota) => eventbridge::error(
            StatusCode::BAD_REQUEST,
            "LimitExceededException",
            "The request exceeded a limit.",
        ),
        (_, FaultKind::Quota) => appstream::error(
            protocol,
            StatusCode::BAD_REQUEST,
            "LimitExceededException",
            "The requested limit exceeds the permitted limit for an account.",
        ),
    }
}

async fn s3_client(endpoint: &str, region: &str) -> aws_sdk_s3::Client {
    // Static local credentials: the emulator must never look for real ones (IMDS, profiles).
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(shared::aws::https_client())
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_credential_types::Credentials::new(
            // VM Export writes the disk as the account's VM Import service role.
            VM_IMPORT_ACCESS_KEY,
            "local-secret",
            None,
            None,
            "emulator",
        ))
        .endpoint_url(endpoint)
        .load()
        .await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

/// The content of an exported disk of `size` bytes: lines naming the export task and their
/// offset, so every export has its own, reproducible bytes (tests hash them independently).
pub fn export_content(task_id: &str, size: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(size + 64);
    let mut line = 0u64;
    while body.len() < size {
        body.extend_from_slice(
            format!("{task_id} line {line:010} of an emulated disk\n").as_bytes(),
        );
        line += 1;
    }
    body.truncate(size);
    body
}

/// The export bucket's location, ACL and listing of the export prefix, as the VM Import role.
async fn check_export_bucket(
    s3: &aws_sdk_s3::Client,
    upload: &world::Upload,
) -> Result<(), String> {
    let shown = |e: &dyn std::error::Error| aws_sdk_s3::error::DisplayErrorContext(e).to_string();
    s3.get_bucket_location()
        .bucket(&upload.bucket)
        .send()
        .await
        .map_err(|e| shown(&e))?;
    s3.get_bucket_acl()
        .bucket(&upload.bucket)
        .send()
        .await
        .map_err(|e| shown(&e))?;
    let prefix = upload
        .key
        .rsplit_once('/')
        .map_or_else(String::new, |(p, _)| format!("{p}/"));
    s3.list_objects_v2()
        .bucket(&upload.bucket)
        .prefix(prefix)
        .max_keys(1)
        .send()
        .await
        .map_err(|e| shown(&e))?;
    Ok(())
}

/// Writes a finished export into S3 and emits the `Object Created` event S3 would send.
async fn upload_export(
    s3: &aws_sdk_s3::Client,
    world: &Arc<Mutex<World>>,
    upload: world::Upload,
    size: Option<usize>,
) {
    let body = match size {
        Some(size) => export_content(&upload.task_id, size),
        None => format!(
            "emulated {} disk of {} (export task {})\n",
            upload.format, upload.image_id, upload.task_id
        )
        .into_bytes(),
    };
    let size = body.len();
    // What the VM Import/Export guide's service-role policy lets the role do with the export
    // bucket besides writing the disk (s3:GetBucketLocation, s3:GetBucketAcl, s3:ListBucket):
    // VM Export checks the bucket as the role before it writes, and fails the task if it cannot.
    if let Err(message) = check_export_bucket(s3, &upload).await {
        tracing::error!(bucket = %upload.bucket, error = %message, "export bucket check failed");
        world::lock(world).fail_export(
            &upload.task_id,
            &format!("cannot check s3://{}: {message}", upload.bucket),
        );
        return;
    }
    match s3
        .put_object()
        .bucket(&upload.bucket)
        .key(&upload.key)
        .body(body.into())
        .send()
        .await
    {
        Ok(_) => world::lock(world).object_created(&upload.bucket, &upload.key, size),
        Err(err) => {
            let message = aws_sdk_s3::error::DisplayErrorContext(&err).to_string();
            tracing::error!(bucket = %upload.bucket, key = %upload.key, error = %message, "export upload failed");
            world::lock(world).fail_export(
                &upload.task_id,
                &format!(
                    "cannot write s3://{}/{}: {message}",
                    upload.bucket, upload.key
                ),
            );
        }
    }
}
