//! Ports: the small traits the handlers are generic over. One adapter per AWS service implements
//! them in [`crate::aws`]; tests implement them with in-memory fakes.

use crate::domain::{
    AmiId, AppStreamImageName, BucketName, ClientToken, DiskImageFormat,
    DistributionConfigurationArn, IamRoleArn, ImageBuildVersionArn, ImageDescription,
    ImagePipelineArn, ImageTags, ImportDescription, LogGroupName, RegionName, RoleName,
    RoleNameOrArn,
};
use crate::error::ServiceError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::future::Future;

pub type Result<T> = std::result::Result<T, ServiceError>;

// ---------------------------------------------------------------- Image Builder

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartExecution {
    pub pipeline: ImagePipelineArn,
    pub client_token: ClientToken<36>,
    pub tags: ImageTags,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedExecution {
    pub request_id: Option<String>,
    pub image_build_version_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distribute {
    pub source_image: ImageBuildVersionArn,
    pub distribution_configuration: DistributionConfigurationArn,
    pub execution_role: RoleNameOrArn,
    pub log_group: Option<LogGroupName>,
    pub tags: ImageTags,
    pub client_token: ClientToken<64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distributed {
    pub image_build_version_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputAmi {
    pub region: String,
    pub image: String,
    pub account_id: Option<String>,
}

/// An image's `state.status` (Image Builder `ImageStatus`), converted once in the adapter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ImageStatus {
    /// PENDING, CREATING, BUILDING, TESTING, DISTRIBUTING or INTEGRATING: still under way.
    InProgress(String),
    Available,
    Failed,
    Cancelled,
    /// DEPRECATED, DISABLED or DELETED: later resource management, not a result of this release.
    Retired(String),
    /// A status this code does not know (a newer model), or none.
    #[default]
    Unknown,
}

impl ImageStatus {
    pub fn parse(status: &str) -> Self {
        match status {
            "AVAILABLE" => Self::Available,
            "FAILED" => Self::Failed,
            "CANCELLED" => Self::Cancelled,
            "PENDING" | "CREATING" | "BUILDING" | "TESTING" | "DISTRIBUTING" | "INTEGRATING" => {
                Self::InProgress(status.to_owned())
            }
            "DEPRECATED" | "DISABLED" | "DELETED" => Self::Retired(status.to_owned()),
            _ => Self::Unknown,
        }
    }
}

/// One region where distribution failed (`failureContext.distributionFailure.regionFailures`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegionFailure {
    pub region: String,
    /// `FAILED` | `CANCELLED` | `TIMED_OUT`.
    pub status: String,
    /// `imageConfigurationStep`, when the failure came after the AMI was copied.
    pub step: Option<String>,
    pub message: Option<String>,
    pub account_id: Option<String>,
}

/// `GetImage`'s `state.failureContext`: set only when the image is FAILED.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageFailure {
    /// The status the image had when it failed (`BUILDING`, `DISTRIBUTING`…).
    pub stage: Option<String>,
    pub failed_step: Option<String>,
    /// The distribution's or the component's error message.
    pub message: Option<String>,
    pub regions: Vec<RegionFailure>,
}

impl ImageFailure {
    /// Every failure as one line: the message, then `region status (step): message` per region.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(stage) = &self.stage {
            parts.push(format!("failed while {stage}"));
        }
        if let Some(step) = &self.failed_step {
            parts.push(format!("in step {step}"));
        }
        if let Some(message) = &self.message {
            parts.push(message.clone());
        }
        for r in &self.regions {
            let step = r
                .step
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            let account = r
                .account_id
                .as_deref()
                .map(|a| format!(" account {a}"))
                .unwrap_or_default();
            parts.push(format!(
                "{}{account} {}{step}: {}",
                r.region,
                r.status,
                r.message.as_deref().unwrap_or("no message")
            ));
        }
        parts.join("; ")
    }

    /// Whether RetryImage may help: every failed region failed by a timeout or a cancellation,
    /// or in a post-distribution configuration step, which AWS retries from the failed step.
    /// A region that FAILED while copying the AMI (no configuration step) is a configuration
    /// or permission problem that a retry repeats.
    pub fn is_retryable(&self) -> bool {
        !self.regions.is_empty()
            && self
                .regions
                .iter()
                .all(|r| r.status == "TIMED_OUT" || r.status == "CANCELLED" || r.step.is_some())
    }
}

/// What `GetImage` tells about an image build version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageInfo {
    pub arn: String,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub source_pipeline_arn: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub amis: Vec<OutputAmi>,
    /// `state.failureContext`, when the image is FAILED.
    pub failure: Option<ImageFailure>,
}

impl ImageInfo {
    pub fn image_status(&self) -> ImageStatus {
        self.status
            .as_deref()
            .map(ImageStatus::parse)
            .unwrap_or_default()
    }
}

/// One image of `ListImagePipelineImages`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PipelineImage {
    pub arn: String,
    pub status: Option<String>,
    /// `dateCreated`, as Image Builder gives it (ISO 8601).
    pub date_created: Option<String>,
    pub tags: BTreeMap<String, String>,
}

pub trait ImagePipelines: Send + Sync {
    fn start_pipeline_execution(
        &self,
        request: &StartExecution,
    ) -> impl Future<Output = Result<StartedExecution>> + Send;
    fn get_image(
        &self,
        image: &ImageBuildVersionArn,
    ) -> impl Future<Output = Result<ImageInfo>> + Send;
    fn distribute_image(
        &self,
        request: &Distribute,
    ) -> impl Future<Output = Result<Distributed>> + Send;
    /// Every image `pipeline` built (all pages of ListImagePipelineImages, 100 per page).
    fn list_pipeline_images(
        &self,
        pipeline: &ImagePipelineArn,
    ) -> impl Future<Output = Result<Vec<PipelineImage>>> + Send;
    /// RetryImage of a FAILED or CANCELLED image, with its own client token.
    fn retry_image(
        &self,
        image: &ImageBuildVersionArn,
        client_token: &ClientToken<64>,
    ) -> impl Future<Output = Result<()>> + Send;
}

// ---------------------------------------------------------------- EC2 export

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportImage {
    pub image_id: AmiId,
    pub format: DiskImageFormat,
    pub bucket: BucketName,
    pub prefix: String,
    pub role_name: RoleName,
    pub client_token: ClientToken<64>,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportTask {
    pub export_task_id: String,
    /// `active` | `completed` | `deleting` | `deleted`.
    pub status: String,
    pub progress: Option<String>,
    pub status_message: Option<String>,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
}

/// An export task's `Status`, converted once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportTaskState {
    Active,
    Completed,
    /// `deleting` or `deleted`: the task was cancelled or failed.
    Deleted,
    Unknown,
}

impl ExportTask {
    pub fn state(&self) -> ExportTaskState {
        match self.status.as_str() {
            "active" => ExportTaskState::Active,
            "completed" => ExportTaskState::Completed,
            "deleting" | "deleted" => ExportTaskState::Deleted,
            _ => ExportTaskState::Unknown,
        }
    }
}

/// The result of an ExportImage call: a started task, or a dry run that AWS says would have succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportStarted {
    Task(ExportTask),
    DryRunOk,
}

/// What EC2 DescribeImages tells about an AMI that decides whether VM Export can export it
/// (VM Import/Export user guide, "Considerations for image export").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AmiFacts {
    /// Device names whose EBS snapshot is encrypted.
    pub encrypted_devices: Vec<String>,
    /// `platform` is `windows`.
    pub windows: bool,
    /// `platformDetails`, e.g. `Linux/UNIX`, `Windows with SQL Server Standard`.
    pub platform_details: Option<String>,
    /// Product codes of type `marketplace` (an image derived from an AWS Marketplace AMI).
    pub marketplace_codes: Vec<String>,
    /// `architecture`, e.g. `x86_64`, `arm64`.
    pub architecture: Option<String>,
    /// `bootMode`, e.g. `uefi`, `legacy-bios`, `uefi-preferred`.
    pub boot_mode: Option<String>,
    /// `tpmSupport`, e.g. `v2.0`.
    pub tpm_support: Option<String>,
    /// `enaSupport`.
    pub ena_support: Option<bool>,
    /// Every EBS volume of the block device mappings: device name and size in GiB.
    pub ebs_volumes: Vec<(String, Option<i32>)>,
}

impl AmiFacts {
    /// Why VM Export cannot export this AMI, each with its fix; empty when it can.
    pub fn export_blockers(&self, ami: &AmiId, region: &str) -> Vec<String> {
        let mut blockers = Vec::new();
        if !self.encrypted_devices.is_empty() {
            blockers.push(format!(
                "AMI {ami} has encrypted EBS snapshots ({}), which VM Export cannot export; fix: give the \
                 distribution configuration no kmsKeyId (and no encrypted launch template) for {region}, \
                 or set RequiredSteps/REQUIRED_STEPS without export",
                self.encrypted_devices.join(", ")
            ));
        }
        let details = self.platform_details.as_deref().unwrap_or("");
        if self.windows || details.contains("Windows") || details.contains("SQL Server") {
            blockers.push(format!(
                "AMI {ami} contains AWS-provided third-party software ({}), which VM Export cannot \
                 export; fix: set RequiredSteps/REQUIRED_STEPS without export for this pipeline",
                if details.is_empty() {
                    "Windows"
                } else {
                    details
                }
            ));
        }
        if !self.marketplace_codes.is_empty() {
            blockers.push(format!(
                "AMI {ami} is derived from an AWS Marketplace AMI (product code {}), which VM Export \
                 cannot export; fix: build from a base image that is not from the Marketplace, or set \
                 RequiredSteps/REQUIRED_STEPS without export",
                self.marketplace_codes.join(", ")
            ));
        }
        blockers
    }

    /// Why AppStream's CreateImportedImage would refuse this AMI (AppStream 2.0 developer guide,
    /// importing an image: Windows Server 2022, x86_64, UEFI with TPM 2.0, ENA, one root volume of
    /// at most 500 GB), naming every requirement it misses; `None` when it would not. The Windows
    /// version is not in DescribeImages: AppStream's own validation judges it, and a failed
    /// import is recorded with its reason.
    pub fn import_blocker(&self, ami: &AmiId) -> Option<String> {
        let mut wrong = Vec::new();
        let details = self.platform_details.as_deref().unwrap_or("");
        if !self.windows && !details.contains("Windows") {
            wrong.push(format!(
                "it is not a Windows image (platform details {details:?})"
            ));
        }
        if self.architecture.as_deref() != Some("x86_64") {
            wrong.push(format!(
                "its architecture is {:?}, not x86_64",
                self.architecture
            ));
        }
        if self.boot_mode.as_deref() != Some("uefi") {
            wrong.push(format!("its boot mode is {:?}, not uefi", self.boot_mode));
        }
        if self.tpm_support.as_deref() != Some("v2.0") {
            wrong.push(format!(
                "its TPM support is {:?}, not v2.0",
                self.tpm_support
            ));
        }
        if self.ena_support != Some(true) {
            wrong.push("ENA is not enabled".to_owned());
        }
        match self.ebs_volumes.as_slice() {
            [(_, Some(size))] if *size > 500 => {
                wrong.push(format!("its root volume is {size} GB, more than 500 GB"));
            }
            [_] => {}
            volumes => wrong.push(format!(
                "it has {} EBS volumes, not exactly one root volume",
                volumes.len()
            )),
        }
        if wrong.is_empty() {
            return None;
        }
        Some(format!(
            "AMI {ami} cannot be imported into AppStream 2.0 (it needs Windows Server 2022, x86_64, \
             UEFI with TPM 2.0, ENA and one root volume of at most 500 GB): {}; fix: build the \
             pipeline's image to those requirements, or use APPSTREAM_SOURCE_MODE=existing",
            wrong.join(", ")
        ))
    }
}

/// EC2's description of AMIs, for the checks made before a long-running call.
pub trait AmiCatalog: Send + Sync {
    /// What DescribeImages tells about `ami` (in the home region), or `None` when it does not exist.
    fn describe_ami(&self, ami: &AmiId) -> impl Future<Output = Result<Option<AmiFacts>>> + Send;
}

pub trait ImageExports: Send + Sync {
    fn export_image(
        &self,
        request: &ExportImage,
    ) -> impl Future<Output = Result<ExportStarted>> + Send;
    /// `None` when EC2 no longer knows the task.
    fn describe_export_task(
        &self,
        export_task_id: &str,
    ) -> impl Future<Output = Result<Option<ExportTask>>> + Send;
}

// ---------------------------------------------------------------- AppStream (regional)

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStreamImage {
    pub name: String,
    pub arn: Option<String>,
    /// `PENDING` | `AVAILABLE` | `FAILED` | `COPYING` | `DELETING` | `CREATING` | `IMPORTING` | `VALIDATING`.
    pub state: String,
    pub state_reason: Option<String>,
}

/// An AppStream image's `State`, converted once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppStreamImageState {
    Available,
    Failed,
    /// PENDING, COPYING, CREATING, IMPORTING, VALIDATING: still under way.
    InProgress,
    Deleting,
}

impl AppStreamImage {
    pub fn image_state(&self) -> AppStreamImageState {
        match self.state.as_str() {
            "AVAILABLE" => AppStreamImageState::Available,
            "FAILED" => AppStreamImageState::Failed,
            "DELETING" => AppStreamImageState::Deleting,
            _ => AppStreamImageState::InProgress,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportImage {
    pub name: AppStreamImageName,
    pub source_ami: AmiId,
    pub role: IamRoleArn,
    pub description: Option<ImportDescription>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyImage {
    pub source_image_name: AppStreamImageName,
    pub destination_image_name: AppStreamImageName,
    pub destination_region: RegionName,
    pub description: Option<ImageDescription>,
}

pub trait AppStreamImages: Send + Sync {
    /// The image of that name in `region`, or `None`.
    fn describe_image(
        &self,
        region: &RegionName,
        name: &AppStreamImageName,
    ) -> impl Future<Output = Result<Option<AppStreamImage>>> + Send;
    /// In the home region.
    fn create_imported_image(
        &self,
        request: &ImportImage,
    ) -> impl Future<Output = Result<AppStreamImage>> + Send;
    /// Called in the home region (where the source image lives).
    fn copy_image(&self, request: &CopyImage) -> impl Future<Output = Result<()>> + Send;
    fn list_tags(
        &self,
        region: &RegionName,
        arn: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, String>>> + Send;
    fn tag_resource(
        &self,
        region: &RegionName,
        arn: &str,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<()>> + Send;
}

// ---------------------------------------------------------------- S3 state and artifacts

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Written,
    /// A conditional write found the key there already: someone else wrote first.
    AlreadyExists,
}

pub trait ArtifactStore: Send + Sync {
    /// The JSON document at `key`, or `None`.
    fn get_json<T: DeserializeOwned + Send>(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<T>>> + Send;
    fn put_json<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Writes only if nothing is at `key` yet (S3 `If-None-Match: *`).
    fn put_json_if_absent<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
    ) -> impl Future<Output = Result<PutOutcome>> + Send;
    fn delete(&self, key: &str) -> impl Future<Output = Result<()>> + Send;
    /// Every key under `prefix`.
    fn list_keys(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// The size of the object at `key`, or `None`.
    fn object_size(&self, key: &str) -> impl Future<Output = Result<Option<u64>>> + Send;
}

// ---------------------------------------------------------------- CloudFront

pub trait Cdn: Send + Sync {
    /// Creates an invalidation; the same `caller_reference` returns the first invalidation's id.
    fn create_invalidation(
        &self,
        paths: &[String],
        caller_reference: &str,
    ) -> impl Future<Output = Result<String>> + Send;
}
