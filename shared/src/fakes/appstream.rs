//! The AppStream fake.

use super::{Script, lock};
use crate::domain::{AppStreamImageName, RegionName};
use crate::ports::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct FakeAppStream {
    pub script: Script,
    /// (region, name) → image
    pub images: Mutex<BTreeMap<(String, String), AppStreamImage>>,
    pub tags: Mutex<HashMap<String, BTreeMap<String, String>>>,
    pub copies: Mutex<Vec<CopyImage>>,
    pub imports: Mutex<Vec<ImportImage>>,
    pub tag_calls: Mutex<Vec<(String, BTreeMap<String, String>)>>,
    /// State a new copy or import starts in.
    pub initial_state: Mutex<Option<String>>,
    /// When set, a scripted CopyImage failure still makes the destination image appear (as a copy
    /// made by a concurrent caller would, after our check-first DescribeImages missed it).
    pub appear_on_copy_error: Mutex<bool>,
}

impl FakeAppStream {
    pub fn arn(region: &str, name: &str) -> String {
        format!("arn:aws:appstream:{region}:123456789012:image/{name}")
    }
    /// An image an operator made in the image builder [`FakeAppStream::BUILDER`].
    pub fn put_image(&self, region: &str, name: &str, state: &str, tags: &[(&str, &str)]) {
        self.put_described(region, name, state, tags, None);
        if let Some(image) = lock(&self.images).get_mut(&(region.into(), name.into())) {
            image.image_builder_name = Some(Self::BUILDER.into());
        }
    }

    /// The image builder [`FakeAppStream::put_image`]'s images were made in.
    pub const BUILDER: &str = "release-builder";
    /// An image with a description (where a release's mark is).
    pub fn put_described(
        &self,
        region: &str,
        name: &str,
        state: &str,
        tags: &[(&str, &str)],
        description: Option<&str>,
    ) {
        let arn = Self::arn(region, name);
        lock(&self.images).insert(
            (region.into(), name.into()),
            AppStreamImage {
                name: name.into(),
                arn: Some(arn.clone()),
                state: state.into(),
                state_reason: None,
                description: description.map(str::to_owned),
                visibility: Some("PRIVATE".into()),
                image_builder_name: None,
            },
        );
        lock(&self.tags).insert(
            arn,
            tags.iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        );
    }
    pub fn set_state(&self, region: &str, name: &str, state: &str) {
        if let Some(img) = lock(&self.images).get_mut(&(region.into(), name.into())) {
            img.state = state.into();
        }
    }
    pub fn copies(&self) -> Vec<CopyImage> {
        lock(&self.copies).clone()
    }
    pub fn imports(&self) -> Vec<ImportImage> {
        lock(&self.imports).clone()
    }
    pub fn tags_of(&self, arn: &str) -> BTreeMap<String, String> {
        lock(&self.tags).get(arn).cloned().unwrap_or_default()
    }
    pub fn tag_calls(&self) -> Vec<(String, BTreeMap<String, String>)> {
        lock(&self.tag_calls).clone()
    }
    fn start_state(&self) -> String {
        lock(&self.initial_state)
            .clone()
            .unwrap_or_else(|| "PENDING".into())
    }
}

impl AppStreamImages for FakeAppStream {
    async fn describe_image(
        &self,
        region: &RegionName,
        name: &AppStreamImageName,
    ) -> Result<Option<AppStreamImage>> {
        self.script.enter("DescribeImages")?;
        Ok(lock(&self.images)
            .get(&(region.to_string(), name.to_string()))
            .cloned())
    }

    async fn delete_image(&self, region: &RegionName, name: &AppStreamImageName) -> Result<bool> {
        self.script.enter("DeleteImage")?;
        // As AppStream: the image answers DELETING, and goes later (here: never).
        Ok(lock(&self.images)
            .get_mut(&(region.to_string(), name.to_string()))
            .map(|image| image.state = "DELETING".into())
            .is_some())
    }

    async fn create_imported_image(&self, request: &ImportImage) -> Result<AppStreamImage> {
        self.script.enter("CreateImportedImage")?;
        lock(&self.imports).push(request.clone());
        let state = self.start_state();
        let description = request.description.as_ref().map(|d| d.as_str());
        self.put_described("us-east-1", request.name.as_str(), &state, &[], description);
        let arn = Self::arn("us-east-1", request.name.as_str());
        lock(&self.tags).insert(arn.clone(), request.tags.clone());
        Ok(AppStreamImage {
            name: request.name.to_string(),
            arn: Some(arn),
            state,
            state_reason: None,
            description: description.map(str::to_owned),
            visibility: Some("PRIVATE".into()),
            image_builder_name: None,
        })
    }

    async fn copy_image(&self, request: &CopyImage) -> Result<()> {
        if let Err(err) = self.script.enter("CopyImage") {
            if *lock(&self.appear_on_copy_error) {
                self.put_described(
                    request.destination_region.as_str(),
                    request.destination_image_name.as_str(),
                    "COPYING",
                    &[],
                    request.description.as_ref().map(|d| d.as_str()),
                );
            }
            return Err(err);
        }
        lock(&self.copies).push(request.clone());
        let state = self.start_state();
        self.put_described(
            request.destination_region.as_str(),
            request.destination_image_name.as_str(),
            &state,
            &[],
            request.description.as_ref().map(|d| d.as_str()),
        );
        Ok(())
    }

    async fn list_tags(&self, _region: &RegionName, arn: &str) -> Result<BTreeMap<String, String>> {
        self.script.enter("ListTagsForResource")?;
        Ok(self.tags_of(arn))
    }

    async fn tag_resource(
        &self,
        _region: &RegionName,
        arn: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.script.enter("TagResource")?;
        lock(&self.tag_calls).push((arn.into(), tags.clone()));
        lock(&self.tags)
            .entry(arn.into())
            .or_default()
            .extend(tags.clone());
        Ok(())
    }
}
