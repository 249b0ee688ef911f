//! The state of a release, kept in the artifact bucket: its records under the private
//! `state/<release-id>/`, what it publishes under `releases/<release-id>/`, the catalog under
//! `catalog/`. CloudFront may read only `index.html`, `catalog/*` and the objects under
//! `releases/` that publish-release tagged [`TAG_PUBLISHED`] (the bucket policy's condition), so
//! no record and no disk of an unpublished release is ever served.
//!
//! One key per step, each written by exactly one function, so concurrent or duplicated deliveries
//! never overwrite each other's records:
//!
//! | key | written by |
//! |---|---|
//! | `pending/<release-id>.json` | whoever registers the build or records a failure (created), publish-release (deleted when final) |
//! | `state/<id>/build.json` | start-pipeline, distribute-image or publish-release's discovery: whoever sees the build first |
//! | `distributed/<name>-<version>-<build>.json` | distribute-image: every image DistributeImage created, keyed by that image's ARN |
//! | `state/<id>/distribution.json` | distribute-image |
//! | `state/<id>/retry-<n>.json` | publish-release, before the n-th RetryImage of a failed distribution |
//! | `state/<id>/export-<format>.json` | export-image (one per format of `EXPORT_FORMATS`) |
//! | `state/<id>/appstream-mark.json` | copy-appstream-image or publish-release, before the first AppStream image is created (`If-None-Match`) |
//! | `state/<id>/appstream.json` | copy-appstream-image |
//! | `state/<id>/failure-<step>.json` | the function whose step failed |
//! | `state/<id>/retry.json` | `image-release retry` |
//! | `state/<id>/status.json` | publish-release |
//! | `state/<id>/sha256-<file>.json` | publish-release: an artifact's digest, once |
//! | `releases/<id>/<task>.<format>` | VM Export (the exported disk) |
//! | `releases/<id>/SHA256SUMS` | publish-release, before the manifest |
//! | `releases/<id>/manifest.json` | publish-release (conditional write: first one wins) |
//! | `catalog/index.json`, `catalog/latest.json`, `index.html` | publish-release, after a manifest (`If-Match` read-change-write; see [`crate::catalog`]) |

use crate::domain::{AmiId, AppStreamImageName, DiskImageFormat, ReleaseId};
use serde::{Deserialize, Serialize};

/// The version of the record schemas below. Bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;
/// The version of the public manifest (`manifest.json`): 2 added artifacts with SHA-256, the
/// version and build, the pipeline, AMI names and step times; every v1 field is still there.
pub const MANIFEST_SCHEMA_VERSION: u32 = 2;

/// Tag keys that distribute-image writes on the image DistributeImage creates. They are the
/// contract between distribute-image and the functions after it (export, AppStream copy).
pub const TAG_RELEASE_ID: &str = "image-release:release-id";
pub const TAG_SOURCE_IMAGE: &str = "image-release:source-image";
/// The S3 object tag publish-release puts on each object of a release it publishes (value
/// `true`): the bucket policy lets CloudFront read an object under `releases/` only with it.
pub const TAG_PUBLISHED: &str = "image-release-published";

pub mod keys {
    use crate::domain::ReleaseId;

    pub fn pending(id: &ReleaseId) -> String {
        format!("{}{}.json", PENDING_PREFIX, id)
    }
    pub const PENDING_PREFIX: &str = "pending/";
    pub const DISTRIBUTED_PREFIX: &str = "distributed/";
    /// The output record of an image DistributeImage created, found from that image's ARN alone.
    pub fn distributed(image: &crate::domain::ImageBuildVersionArn) -> String {
        format!("{DISTRIBUTED_PREFIX}{}.json", image.release_id())
    }
    pub fn build(id: &ReleaseId) -> String {
        format!("{}build.json", id.state_prefix())
    }
    pub fn distribution(id: &ReleaseId) -> String {
        format!("{}distribution.json", id.state_prefix())
    }
    /// `.json` for the first, `.<n>.json` for a later one.
    fn numbered(n: u32) -> String {
        match n {
            0 => ".json".to_owned(),
            n => format!(".{n}.json"),
        }
    }
    /// The `n` of a key [`numbered`] (0 for a plain `.json`), when it is one of `stem`'s.
    fn number_of(key: &str, stem: &str) -> Option<u32> {
        let rest = file_name(key).strip_prefix(stem)?.strip_suffix(".json")?;
        match rest {
            "" => Some(0),
            n => n.strip_prefix('.')?.parse().ok().filter(|n| *n > 0),
        }
    }
    /// Export attempt `attempt` of a format: `state/<id>/export-<vmdk|raw|vhd>.json` for the
    /// first, `export-<format>.<n>.json` for the n-th new task after the previous one failed
    /// and an operator retried the release.
    pub fn export(id: &ReleaseId, format: crate::domain::DiskImageFormat, attempt: u32) -> String {
        format!(
            "{}export-{}{}",
            id.state_prefix(),
            format.extension(),
            numbered(attempt)
        )
    }
    /// The attempt of an export record key of `format` ([`export`]), or `None`.
    pub fn export_attempt(key: &str, format: crate::domain::DiskImageFormat) -> Option<u32> {
        number_of(key, &format!("export-{}", format.extension()))
    }
    pub fn appstream(id: &ReleaseId) -> String {
        format!("{}appstream.json", id.state_prefix())
    }
    /// The mark on every AppStream image the release creates ([`crate::steps::appstream_copy::CopyMark`]).
    pub fn appstream_mark(id: &ReleaseId) -> String {
        format!("{}appstream-mark.json", id.state_prefix())
    }
    /// The SHA-256 of an artifact, once computed: `state/<id>/sha256-<file name>.json`.
    pub fn checksum(id: &ReleaseId, object_key: &str) -> String {
        format!("{}sha256-{}.json", id.state_prefix(), file_name(object_key))
    }
    /// A SHA-256 cut off by the end of an invocation, to resume:
    /// `state/<id>/sha256-<file name>.partial.json` ([`crate::hashing::HashState`]).
    pub fn checksum_partial(id: &ReleaseId, object_key: &str) -> String {
        format!(
            "{}sha256-{}.partial.json",
            id.state_prefix(),
            file_name(object_key)
        )
    }
    /// The last segment of a key: what a download is saved as, and what `SHA256SUMS` names.
    pub fn file_name(key: &str) -> &str {
        key.rsplit('/').next().unwrap_or(key)
    }
    /// `releases/<id>/SHA256SUMS`, in the format `sha256sum -c` reads.
    pub fn sha256sums(id: &ReleaseId) -> String {
        format!("{}SHA256SUMS", id.prefix())
    }
    /// Every record of a release (one listing tells what is recorded).
    pub fn records(id: &ReleaseId) -> String {
        id.state_prefix()
    }
    /// The record of distribution retry `attempt` (1-based): written before RetryImage.
    pub fn distribution_retry(id: &ReleaseId, attempt: u32) -> String {
        format!("{}retry-{attempt}.json", id.state_prefix())
    }
    /// Whether `key` is a distribution retry record ([`distribution_retry`]) of `id`.
    pub fn is_distribution_retry(id: &ReleaseId, key: &str) -> bool {
        key.strip_prefix(&id.state_prefix())
            .and_then(|f| f.strip_prefix("retry-"))
            .and_then(|f| f.strip_suffix(".json"))
            .is_some_and(|n| n.parse::<u32>().is_ok())
    }
    /// Status records of every release: `state/<id>/status.json`.
    pub const STATE_PREFIX: &str = "state/";
    /// The catalog, outside any release's prefix (retention never expires it).
    pub const CATALOG_PREFIX: &str = "catalog/";
    /// Each image's newest releases and the list of its history pages (bounded whatever the
    /// history's length: [`crate::catalog::Index`]).
    pub const INDEX: &str = "catalog/index.json";
    /// Where each image's history pages live: `catalog/history/<image>/<yyyy-mm>.json|html`.
    pub const HISTORY_PREFIX: &str = "catalog/history/";
    /// The releases of `image` published in `month` (`yyyy-mm`), as JSON.
    pub fn history(image: &str, month: &str) -> String {
        format!("{HISTORY_PREFIX}{image}/{month}.json")
    }
    /// The same month's page for people.
    pub fn history_page(image: &str, month: &str) -> String {
        format!("{HISTORY_PREFIX}{image}/{month}.html")
    }
    /// The newest published release of each pipeline.
    pub const LATEST: &str = "catalog/latest.json";
    /// The downloads page (the distribution's default root object).
    pub const DOWNLOADS_PAGE: &str = "index.html";
    /// The failure of `step` in retry generation `generation` (how many times an operator had
    /// retried the release when it failed): `failure-<step>.json`, then `failure-<step>.<g>.json`.
    /// A retry supersedes the failures of the generations before it; none is ever deleted.
    pub fn failure(id: &ReleaseId, step: super::Step, generation: u32) -> String {
        format!(
            "{}failure-{}{}",
            id.state_prefix(),
            step.as_str(),
            numbered(generation)
        )
    }
    /// The retry generation of a failure record key ([`failure`]), or `None` for any other key.
    pub fn failure_generation(key: &str) -> Option<u32> {
        let name = file_name(key).strip_prefix("failure-")?;
        let step = name.split('.').next()?;
        number_of(key, &format!("failure-{step}"))
    }
    /// Whether `key` is a failure record ([`failure`]) of some release.
    pub fn is_failure(key: &str) -> bool {
        failure_generation(key).is_some()
    }
    /// The operator's retries of a failed release (`image-release retry`).
    pub fn retry(id: &ReleaseId) -> String {
        format!("{}retry.json", id.state_prefix())
    }
    pub fn status(id: &ReleaseId) -> String {
        format!("{}status.json", id.state_prefix())
    }
    pub fn manifest(id: &ReleaseId) -> String {
        format!("{}manifest.json", id.prefix())
    }
    /// The detached signature of a published object: `<key>.sig` (DER ECDSA P-256 over the
    /// object's SHA-256), beside it.
    pub fn signature(key: &str) -> String {
        format!("{key}.sig")
    }
    /// The public key the release signatures verify with (PEM), served with the catalog. It
    /// proves origin only once pinned out of band (the stack's `SigningKeyArn` and KMS
    /// GetPublicKey): whoever may write the bucket may replace it.
    pub const SIGNING_KEY_PEM: &str = "catalog/signing-key.pem";
}

/// A record's timestamp: RFC 3339 (UTC, second precision). The time comes from the caller's
/// [`crate::clock::Clock`], never read here.
pub fn timestamp(at: std::time::SystemTime) -> String {
    aws_smithy_types::DateTime::from(at)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// The steps of a release, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Build,
    Distribution,
    Export,
    Appstream,
    Publish,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Build => "build",
            Step::Distribution => "distribution",
            Step::Export => "export",
            Step::Appstream => "appstream",
            Step::Publish => "publish",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMarker {
    pub schema_version: u32,
    pub release_id: ReleaseId,
    pub since: String,
    /// The pipeline's image the release is built as (absent in markers written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_image_arn: Option<String>,
}

/// Who saw a build first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuildOrigin {
    /// start-pipeline started it (StartImagePipelineExecution answered its ARN).
    StartPipeline,
    /// Its state-change event reached distribute-image first.
    Event,
    /// publish-release found it with ListImagePipelineImages (a pipeline's own schedule, a
    /// build started by hand, or a lost event).
    Discovered,
}

/// `state/<id>/build.json`: the release exists from its first moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRecord {
    pub schema_version: u32,
    pub release_id: ReleaseId,
    pub image_build_version_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_arn: Option<String>,
    pub origin: BuildOrigin,
    pub recorded_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionRecord {
    pub schema_version: u32,
    pub release_id: ReleaseId,
    pub source_image_arn: String,
    pub distribution_configuration_arn: String,
    /// What DistributeImage answered (`imageBuildVersionArn`).
    pub distributed_image_arn: Option<String>,
    pub client_token: String,
    pub requested_at: String,
}

/// `distributed/<…>.json`: an image that DistributeImage created for a release. The loop guard's
/// first signal: AWS documents neither whether DistributeImage's tags reach the Image Builder
/// resource (or only the AMIs) nor whether the new resource keeps `sourcePipelineArn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionOutput {
    pub schema_version: u32,
    pub release_id: ReleaseId,
    pub source_image_arn: String,
    pub distributed_image_arn: String,
    pub recorded_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmiRecord {
    pub region: String,
    pub ami_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRecord {
    pub schema_version: u32,
    pub release_id: ReleaseId,
    pub distributed_image_arn: String,
    pub region: String,
    pub ami_id: AmiId,
    /// Every AMI the distribution produced, per region (from GetImage `outputResources.amis`).
    pub amis: Vec<AmiRecord>,
    pub export_task_id: String,
    pub format: DiskImageFormat,
    pub bucket: String,
    pub prefix: String,
    pub client_token: String,
    pub requested_at: String,
    /// Which export of this format this is (0 first; a new task after a failed one and an
    /// operator's retry is the next): its key ([`keys::export`]) and client token carry it.
    #[serde(default)]
    pub attempt: u32,
    /// The retry generation it was started in ([`RetryRecord::generation`]): a task that fails
    /// in the current generation fails the step; one of an earlier generation is replaced.
    #[serde(default)]
    pub generation: u32,
}

impl ExportRecord {
    /// Where EC2 writes the exported disk: `<S3Prefix><export-task-id>.<format>`.
    pub fn object_key(&self) -> String {
        format!(
            "{}{}.{}",
            self.prefix,
            self.export_task_id,
            self.format.extension()
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppStreamSourceMode {
    /// The source image exists already (built by an AppStream image builder) under the configured name.
    Existing,
    /// The source image is imported from the distributed AMI with CreateImportedImage.
    Import,
}

/// What happened to one destination region when copy-appstream-image ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum CopyState {
    /// CopyImage was accepted (or the copy existed already): publish-release watches it.
    Requested,
    /// The source is not AVAILABLE yet (import running): publish-release issues the copy later.
    WaitingForSource,
    /// AppStream's image quota is exhausted (`LimitExceededException`): publish-release issues
    /// the copy again on its schedule, within the step's deadline.
    WaitingForQuota { reason: String },
    /// The copy failed for good.
    Failed { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStreamDestination {
    pub region: String,
    pub image_name: AppStreamImageName,
    #[serde(flatten)]
    pub state: CopyState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStreamRecord {
    pub schema_version: u32,
    pub release_id: ReleaseId,
    pub mode: AppStreamSourceMode,
    pub source_region: String,
    pub source_image_name: AppStreamImageName,
    /// Validated when read: a record that breaks CopyImage's limit fails to load, naming its key.
    pub description: Option<crate::domain::ImageDescription>,
    pub destinations: Vec<AppStreamDestination>,
    pub requested_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    pub schema_version: u32,
    pub release_id: ReleaseId,
    pub step: Step,
    pub reason: String,
    pub at: String,
}

/// `retry.json`: every time an operator retried the release (`image-release retry`), with the
/// failures that retry cleared. The deadlines of the export and AppStream steps count from the
/// latest retry; the failures stay on record here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryRecord {
    pub schema_version: u32,
    pub release_id: ReleaseId,
    pub attempts: Vec<RetryAttempt>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryAttempt {
    pub at: String,
    pub cleared: Vec<FailureRecord>,
}

impl RetryRecord {
    /// When the release was last retried.
    pub fn latest(&self) -> Option<&str> {
        self.attempts.last().map(|a| a.at.as_str())
    }

    /// The retry generation: how many times an operator retried the release. Failures of an
    /// earlier generation are superseded; a failed export of one is started again.
    pub fn generation(&self) -> u32 {
        u32::try_from(self.attempts.len()).unwrap_or(u32::MAX)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseState {
    Pending,
    Published,
    Failed,
}

/// Where one step of a release stands, as `status.json` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepState {
    Pending,
    Done,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepStatus {
    pub step: Step,
    pub state: StepState,
    pub detail: String,
    /// While the step is pending: when it times out (RFC 3339), from its start and its deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
}

/// Written by publish-release every time it looks at a release: what is done, what waits, what failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRecord {
    pub schema_version: u32,
    pub release_id: ReleaseId,
    pub state: ReleaseState,
    pub steps: Vec<StepStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureRecord>,
    /// While publish-release cannot read where the release stands (a denied call, a corrupt
    /// record, a throttle that never clears): the error, since when, for how many ticks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<ObservationError>,
    pub updated_at: String,
    /// For a final state, the retry generation it was judged in ([`RetryRecord::generation`]):
    /// a final status of an earlier generation than `retry.json`'s is stale (an operator retried
    /// the release since), and readers show the release as pending until the next tick.
    #[serde(default)]
    pub generation: u32,
}

impl StatusRecord {
    /// Whether an operator's retry (`generation`, from `retry.json`) came after this status
    /// was written as final.
    pub fn superseded_by(&self, generation: u32) -> bool {
        self.state != ReleaseState::Pending && self.generation < generation
    }
}

/// Consecutive ticks of observation errors after which a release counts as stuck
/// (publish-release logs it for the ReleaseStuckAlarm; `image-release status` exits 1).
pub const STUCK_AFTER_TICKS: u32 = 3;

/// An error that keeps publish-release from observing a pending release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservationError {
    pub error: String,
    /// The first tick of this run of errors (RFC 3339).
    pub since: String,
    /// Consecutive ticks that failed to observe the release.
    pub ticks: u32,
}

impl ObservationError {
    pub fn stuck(&self) -> bool {
        self.ticks >= STUCK_AFTER_TICKS
    }
}

/// `state/<id>/sha256-<file>.json`: an artifact's digest, computed once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecksumRecord {
    pub schema_version: u32,
    pub release_id: ReleaseId,
    pub object_key: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub recorded_at: String,
}

/// `releases/<id>/manifest.json`: the public description of a published release (schema v2,
/// `schemas/manifest-v2.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "schema",
    schemars(title = "image-release manifest", deny_unknown_fields)
)]
pub struct Manifest {
    /// 2 for this schema; v1 manifests have 1 and lack the fields marked "v2".
    pub schema_version: u32,
    /// `<image name>-<version>-<build>`.
    #[cfg_attr(
        feature = "schema",
        schemars(
            with = "String",
            regex(pattern = r"^[a-z0-9-_]+-[0-9]+\.[0-9]+\.[0-9]+-[0-9]+$")
        )
    )]
    pub release_id: ReleaseId,
    /// v2: the image's semantic version (`major.minor.patch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// v2: the build number of that version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<u32>,
    /// v2: the pipeline that built it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_arn: Option<String>,
    pub source_image_arn: String,
    pub distributed_image_arn: String,
    /// AMIs per region and account (v2: with their names).
    pub amis: Vec<ManifestAmi>,
    /// v1: the exported disk. In v2, the first of `artifacts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<ManifestExport>,
    /// v2: every downloadable artifact, with its size and SHA-256.
    #[serde(default)]
    pub artifacts: Vec<ManifestExport>,
    /// v2: the URL of `SHA256SUMS` (`sha256sum -c` format) when there are artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksums_url: Option<String>,
    pub appstream: Vec<ManifestAppStreamImage>,
    pub timestamps: ManifestTimestamps,
    /// v2: when each step started and ended (RFC 3339).
    #[serde(default)]
    pub steps: Vec<StepTimes>,
}

/// An AMI in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct ManifestAmi {
    pub region: String,
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^ami-[0-9a-f]{8,17}$")))]
    pub ami_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^\d{12}$")))]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl From<AmiRecord> for ManifestAmi {
    fn from(r: AmiRecord) -> Self {
        Self {
            region: r.region,
            ami_id: r.ami_id,
            account_id: r.account_id,
            name: r.name,
        }
    }
}

/// A downloadable artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct ManifestExport {
    pub object_key: String,
    pub size_bytes: u64,
    #[cfg_attr(
        feature = "schema",
        schemars(with = "String", regex(pattern = "^(VMDK|RAW|VHD)$"))
    )]
    pub format: DiskImageFormat,
    pub url: String,
    /// v2: lower-case hex SHA-256 of the object, as `sha256sum` prints it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[cfg_attr(feature = "schema", schemars(regex(pattern = "^[0-9a-f]{64}$")))]
    pub sha256: String,
}

/// When a step started and ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct StepTimes {
    #[cfg_attr(
        feature = "schema",
        schemars(
            with = "String",
            regex(pattern = "^(build|distribution|export|appstream|publish)$")
        )
    )]
    pub step: Step,
    pub started_at: String,
    pub ended_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct ManifestAppStreamImage {
    pub region: String,
    pub image_name: String,
    pub arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct ManifestTimestamps {
    pub distribution_requested_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_requested_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appstream_requested_at: Option<String>,
    pub published_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DiskImageFormat;

    fn id() -> ReleaseId {
        ReleaseId::parse("id", "golden-1.0.0-1").unwrap()
    }

    #[test]
    fn when_a_key_is_numbered_by_generation_or_attempt_should_read_back_its_number() {
        for g in [0, 1, 12] {
            let key = keys::failure(&id(), Step::Export, g);
            assert_eq!(keys::failure_generation(&key), Some(g), "{key}");
            assert!(keys::is_failure(&key));
            let key = keys::export(&id(), DiskImageFormat::Vmdk, g);
            assert_eq!(keys::export_attempt(&key, DiskImageFormat::Vmdk), Some(g));
            assert_eq!(keys::export_attempt(&key, DiskImageFormat::Vhd), None);
        }
        assert_eq!(
            keys::failure(&id(), Step::Build, 0),
            "state/golden-1.0.0-1/failure-build.json"
        );
        assert_eq!(
            keys::failure(&id(), Step::Build, 2),
            "state/golden-1.0.0-1/failure-build.2.json"
        );
        for other in [
            "state/golden-1.0.0-1/status.json",
            "state/golden-1.0.0-1/failure-build.0.json",
            "state/golden-1.0.0-1/failure-build.x.json",
            "state/golden-1.0.0-1/sha256-export-ami-1.vmdk.json",
        ] {
            assert_eq!(keys::failure_generation(other), None, "{other}");
            assert_eq!(
                keys::export_attempt(other, DiskImageFormat::Vmdk),
                None,
                "{other}"
            );
        }
    }
}
