//! Image Builder: pipelines, images, distributions.

use super::*;

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
    /// The AMI's name (`outputResources.amis[].name`).
    pub name: Option<String>,
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
    /// `distributionConfiguration.arn`: the configuration the image was distributed with.
    pub distribution_configuration_arn: Option<String>,
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
