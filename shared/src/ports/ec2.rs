//! EC2: image export, and what DescribeImages tells about an AMI before a long call.

use super::*;

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
    /// `imageState`, e.g. `available`, `pending`, `failed`, `deregistered`.
    pub state: Option<String>,
    /// `deprecationTime` (ISO 8601), when a deprecation is scheduled or has passed.
    pub deprecation_time: Option<String>,
    /// `imageOwnerId`: the account that owns the AMI.
    pub owner_id: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `tagSet`: Image Builder adds `CreatedBy` and `Ec2ImageBuilderArn` to every AMI it makes.
    pub tags: BTreeMap<String, String>,
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
    /// What DescribeImages tells about `ami` (in the client's region, the home region in the
    /// functions), or `None` when it does not exist.
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

/// A resource that still uses an AMI (EC2 DescribeImageReferences): its type as EC2 names it
/// (`ec2:Instance`, `ec2:LaunchTemplate`, `ssm:Parameter`, `imagebuilder:ImageRecipe`,
/// `imagebuilder:ContainerRecipe`) and its ARN.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageReference {
    pub resource_type: String,
    pub arn: String,
}

/// What DeregisterImage did with the AMI's snapshots (`DeleteAssociatedSnapshots`): deleted,
/// or kept with EC2's reason (a snapshot another AMI uses is never deleted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deregistered {
    pub snapshots_deleted: Vec<String>,
    pub snapshots_kept: Vec<(String, String)>,
}

/// An AMI's later life, in whichever region it is: revocation (deprecate, disable) and
/// retention (what uses it, deregistration with its snapshots).
pub trait AmiLifecycle: Send + Sync {
    /// DescribeImages of `ami` in `region`, disabled AMIs included (`IncludeDisabled`).
    fn describe(
        &self,
        region: &RegionName,
        ami: &AmiId,
    ) -> impl Future<Output = Result<Option<AmiFacts>>> + Send;
    /// EnableImageDeprecation at `at` (EC2 refuses a time in the past; it rounds to the minute).
    fn deprecate(
        &self,
        region: &RegionName,
        ami: &AmiId,
        at: std::time::SystemTime,
    ) -> impl Future<Output = Result<()>> + Send;
    /// DisableImage: no launches, every launch permission removed.
    fn disable(&self, region: &RegionName, ami: &AmiId) -> impl Future<Output = Result<()>> + Send;
    /// DescribeImageReferences with every resource type (all pages).
    fn references(
        &self,
        region: &RegionName,
        ami: &AmiId,
    ) -> impl Future<Output = Result<Vec<ImageReference>>> + Send;
    /// Who may launch `ami` (DescribeImageAttribute `launchPermission`): account ids,
    /// `group:all` for a public AMI, `organization:<arn>`, `ou:<arn>`; `None` when EC2 does not
    /// know the AMI.
    fn launch_permissions(
        &self,
        region: &RegionName,
        ami: &AmiId,
    ) -> impl Future<Output = Result<Option<Vec<String>>>> + Send;
    /// DeregisterImage with `DeleteAssociatedSnapshots`; `None` when the AMI is gone already.
    fn deregister(
        &self,
        region: &RegionName,
        ami: &AmiId,
    ) -> impl Future<Output = Result<Option<Deregistered>>> + Send;
}
