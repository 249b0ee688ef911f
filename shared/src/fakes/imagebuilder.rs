//! The Image Builder fake.

use super::{Script, lock};
use crate::domain::ImageBuildVersionArn;
use crate::error::{ErrorClass, ServiceError};
use crate::ports::*;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct FakeImageBuilder {
    pub script: Script,
    pub images: Mutex<HashMap<String, ImageInfo>>,
    pub started: Mutex<Vec<StartExecution>>,
    pub distributed: Mutex<Vec<Distribute>>,
    /// (pipeline ARN, image) pairs ListImagePipelineImages answers.
    pub pipeline_images: Mutex<Vec<(String, PipelineImage)>>,
    /// (image ARN, client token) of every RetryImage call.
    pub retried: Mutex<Vec<(String, String)>>,
    /// What StartImagePipelineExecution answers as the new image (none when unset).
    pub next_image: Mutex<Option<String>>,
}

impl FakeImageBuilder {
    pub fn with_image(self, info: ImageInfo) -> Self {
        lock(&self.images).insert(info.arn.clone(), info);
        self
    }
    /// A release Image Builder can prove ([`crate::provenance`]): its source image built by
    /// `pipeline`, and its distributed image AVAILABLE, distributed with `distribution`,
    /// carrying the tags DistributeImage gave it and its `amis` (region, id) in the source's
    /// account.
    pub fn with_proven_release(
        self,
        release: &str,
        source: &str,
        distributed: &str,
        pipeline: &str,
        distribution: &str,
        amis: &[(&str, &str)],
    ) -> Self {
        let account = source.split(':').nth(4).unwrap_or_default().to_owned();
        self.with_image(ImageInfo {
            arn: source.into(),
            status: Some("AVAILABLE".into()),
            source_pipeline_arn: Some(pipeline.into()),
            ..ImageInfo::default()
        })
        .with_image(ImageInfo {
            arn: distributed.into(),
            status: Some("AVAILABLE".into()),
            distribution_configuration_arn: Some(distribution.into()),
            tags: [
                (
                    crate::release::TAG_RELEASE_ID.to_owned(),
                    release.to_owned(),
                ),
                (
                    crate::release::TAG_SOURCE_IMAGE.to_owned(),
                    source.to_owned(),
                ),
            ]
            .into_iter()
            .collect(),
            amis: amis
                .iter()
                .map(|(region, image)| crate::ports::OutputAmi {
                    region: (*region).into(),
                    image: (*image).into(),
                    account_id: Some(account.clone()),
                    name: None,
                })
                .collect(),
            ..ImageInfo::default()
        })
    }

    pub fn started(&self) -> Vec<StartExecution> {
        lock(&self.started).clone()
    }
    pub fn distributed(&self) -> Vec<Distribute> {
        lock(&self.distributed).clone()
    }
    pub fn retried(&self) -> Vec<(String, String)> {
        lock(&self.retried).clone()
    }
    pub fn put_image(&self, info: ImageInfo) {
        lock(&self.images).insert(info.arn.clone(), info);
    }
    pub fn add_pipeline_image(&self, pipeline: &str, image: PipelineImage) {
        lock(&self.pipeline_images).push((pipeline.into(), image));
    }
}

impl ImagePipelines for FakeImageBuilder {
    async fn start_pipeline_execution(&self, request: &StartExecution) -> Result<StartedExecution> {
        self.script.enter("StartImagePipelineExecution")?;
        lock(&self.started).push(request.clone());
        Ok(StartedExecution {
            request_id: Some("req-1".into()),
            image_build_version_arn: lock(&self.next_image).clone(),
        })
    }

    async fn get_image(&self, image: &ImageBuildVersionArn) -> Result<ImageInfo> {
        self.script.enter("GetImage")?;
        lock(&self.images)
            .get(image.as_str())
            .cloned()
            .ok_or_else(|| {
                ServiceError::new(
                    "GetImage",
                    ErrorClass::NotFound,
                    "ResourceNotFoundException",
                    format!("{image} not found"),
                )
            })
    }

    async fn distribute_image(&self, request: &Distribute) -> Result<Distributed> {
        self.script.enter("DistributeImage")?;
        lock(&self.distributed).push(request.clone());
        Ok(Distributed {
            // The next build of the same version, as Image Builder names the new image.
            image_build_version_arn: Some(next_build(request.source_image.as_str())),
        })
    }

    async fn list_pipeline_images(
        &self,
        pipeline: &crate::domain::ImagePipelineArn,
    ) -> Result<Vec<PipelineImage>> {
        self.script.enter("ListImagePipelineImages")?;
        Ok(lock(&self.pipeline_images)
            .iter()
            .filter(|(p, _)| p == pipeline.as_str())
            .map(|(_, image)| image.clone())
            .collect())
    }

    async fn retry_image(
        &self,
        image: &ImageBuildVersionArn,
        client_token: &crate::domain::ClientToken<64>,
    ) -> Result<()> {
        self.script.enter("RetryImage")?;
        lock(&self.retried).push((image.to_string(), client_token.to_string()));
        if let Some(info) = lock(&self.images).get_mut(image.as_str()) {
            info.status = Some("DISTRIBUTING".into());
            info.failure = None;
        }
        Ok(())
    }
}

/// `…/<version>/<n>` → `…/<version>/<n+1>`.
fn next_build(arn: &str) -> String {
    match arn.rsplit_once('/') {
        Some((head, n)) => format!("{head}/{}", n.parse::<u64>().unwrap_or(0) + 1),
        None => format!("{arn}/1"),
    }
}
