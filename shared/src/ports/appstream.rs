//! AppStream 2.0 images, per region.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStreamImage {
    pub name: String,
    pub arn: Option<String>,
    /// `PENDING` | `AVAILABLE` | `FAILED` | `COPYING` | `DELETING` | `CREATING` | `IMPORTING` | `VALIDATING`.
    pub state: String,
    pub state_reason: Option<String>,
    /// Where a release's [`crate::steps::appstream_copy::CopyMark`] is found.
    pub description: Option<String>,
    /// `Visibility`: `PUBLIC` | `PRIVATE` | `SHARED`.
    pub visibility: Option<String>,
    /// `ImageBuilderName`: the image builder the image was made in; none for an image that
    /// was shared, copied, imported or updated by Managed Image Updates (the API reference).
    pub image_builder_name: Option<String>,
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
    /// DeleteImage of `name` in `region`: `false` when there was none (deleted already).
    fn delete_image(
        &self,
        region: &RegionName,
        name: &AppStreamImageName,
    ) -> impl Future<Output = Result<bool>> + Send;
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
