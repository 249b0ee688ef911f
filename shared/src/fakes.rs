//! In-memory fakes of every port, for handler tests (feature `fakes`, dev-dependencies only).
//! Each records the requests it received and can be scripted to fail an operation N times.

use crate::domain::{AppStreamImageName, ImageBuildVersionArn, RegionName};
use crate::error::{ErrorClass, ServiceError};
use crate::ports::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Scripted failures: `fail(op, error, times)` makes the next `times` calls of `op` fail.
#[derive(Debug, Default)]
pub struct Script {
    errors: Mutex<HashMap<&'static str, VecDeque<ServiceError>>>,
    calls: Mutex<Vec<&'static str>>,
}

impl Script {
    pub fn fail(&self, operation: &'static str, class: ErrorClass, code: &str, times: usize) {
        let mut errors = lock(&self.errors);
        let queue = errors.entry(operation).or_default();
        for _ in 0..times {
            queue.push_back(ServiceError::new(
                operation,
                class,
                code,
                format!("scripted {code}"),
            ));
        }
    }

    fn enter(&self, operation: &'static str) -> Result<()> {
        lock(&self.calls).push(operation);
        match lock(&self.errors)
            .get_mut(operation)
            .and_then(VecDeque::pop_front)
        {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// How many times `operation` was called (failed calls included).
    pub fn count(&self, operation: &str) -> usize {
        lock(&self.calls)
            .iter()
            .filter(|op| **op == operation)
            .count()
    }
}

// ---------------------------------------------------------------- Image Builder

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

// ---------------------------------------------------------------- EC2

#[derive(Debug, Default)]
pub struct FakeEc2 {
    pub script: Script,
    pub exports: Mutex<Vec<ExportImage>>,
    pub tasks: Mutex<HashMap<String, ExportTask>>,
    /// AMIs DescribeImages knows; any other AMI is a plain, exportable one.
    pub amis: Mutex<HashMap<String, Option<AmiFacts>>>,
}

impl FakeEc2 {
    pub fn exports(&self) -> Vec<ExportImage> {
        lock(&self.exports).clone()
    }
    /// What DescribeImages answers for `ami` (`None`: it does not exist).
    pub fn set_ami(&self, ami: &str, facts: Option<AmiFacts>) {
        lock(&self.amis).insert(ami.to_owned(), facts);
    }
    pub fn set_task(&self, task: ExportTask) {
        lock(&self.tasks).insert(task.export_task_id.clone(), task);
    }
}

impl AmiCatalog for FakeEc2 {
    async fn describe_ami(&self, ami: &crate::domain::AmiId) -> Result<Option<AmiFacts>> {
        self.script.enter("DescribeImages")?;
        Ok(lock(&self.amis)
            .get(ami.as_str())
            .cloned()
            .unwrap_or_else(|| Some(AmiFacts::default())))
    }
}

impl ImageExports for FakeEc2 {
    async fn export_image(&self, request: &ExportImage) -> Result<ExportStarted> {
        self.script.enter("ExportImage")?;
        if request.dry_run {
            return Ok(ExportStarted::DryRunOk);
        }
        lock(&self.exports).push(request.clone());
        let task = ExportTask {
            export_task_id: format!("export-{}", request.image_id),
            status: "active".into(),
            progress: Some("0".into()),
            status_message: None,
            bucket: Some(request.bucket.to_string()),
            prefix: Some(request.prefix.clone()),
        };
        lock(&self.tasks)
            .entry(task.export_task_id.clone())
            .or_insert_with(|| task.clone());
        Ok(ExportStarted::Task(task))
    }

    async fn describe_export_task(&self, export_task_id: &str) -> Result<Option<ExportTask>> {
        self.script.enter("DescribeExportImageTasks")?;
        Ok(lock(&self.tasks).get(export_task_id).cloned())
    }
}

// ---------------------------------------------------------------- AppStream

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
    pub fn put_image(&self, region: &str, name: &str, state: &str, tags: &[(&str, &str)]) {
        let arn = Self::arn(region, name);
        lock(&self.images).insert(
            (region.into(), name.into()),
            AppStreamImage {
                name: name.into(),
                arn: Some(arn.clone()),
                state: state.into(),
                state_reason: None,
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

    async fn create_imported_image(&self, request: &ImportImage) -> Result<AppStreamImage> {
        self.script.enter("CreateImportedImage")?;
        lock(&self.imports).push(request.clone());
        let state = self.start_state();
        self.put_image("us-east-1", request.name.as_str(), &state, &[]);
        let arn = Self::arn("us-east-1", request.name.as_str());
        lock(&self.tags).insert(arn.clone(), request.tags.clone());
        Ok(AppStreamImage {
            name: request.name.to_string(),
            arn: Some(arn),
            state,
            state_reason: None,
        })
    }

    async fn copy_image(&self, request: &CopyImage) -> Result<()> {
        if let Err(err) = self.script.enter("CopyImage") {
            if *lock(&self.appear_on_copy_error) {
                self.put_image(
                    request.destination_region.as_str(),
                    request.destination_image_name.as_str(),
                    "COPYING",
                    &[],
                );
            }
            return Err(err);
        }
        lock(&self.copies).push(request.clone());
        let state = self.start_state();
        self.put_image(
            request.destination_region.as_str(),
            request.destination_image_name.as_str(),
            &state,
            &[],
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

// ---------------------------------------------------------------- S3

#[derive(Debug, Default)]
pub struct FakeStore {
    pub script: Script,
    pub objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl FakeStore {
    pub fn json(&self, key: &str) -> Option<serde_json::Value> {
        lock(&self.objects)
            .get(key)
            .and_then(|b| serde_json::from_slice(b).ok())
    }
    pub fn put_raw(&self, key: &str, bytes: &[u8]) {
        lock(&self.objects).insert(key.into(), bytes.to_vec());
    }
    pub fn put_value<T: Serialize>(&self, key: &str, value: &T) {
        self.put_raw(key, &serde_json::to_vec(value).unwrap_or_default());
    }
    pub fn keys(&self) -> Vec<String> {
        lock(&self.objects).keys().cloned().collect()
    }
}

impl ArtifactStore for FakeStore {
    async fn get_json<T: DeserializeOwned + Send>(&self, key: &str) -> Result<Option<T>> {
        self.script.enter("GetObject")?;
        match lock(&self.objects).get(key) {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(bytes).map(Some).map_err(|e| {
                ServiceError::new(
                    "GetObject",
                    ErrorClass::CorruptRecord,
                    "CorruptRecord",
                    format!("s3://fake/{key}: {e}"),
                )
            }),
        }
    }

    async fn put_json<T: Serialize + Sync>(&self, key: &str, value: &T) -> Result<()> {
        self.script.enter("PutObject")?;
        self.put_value(key, value);
        Ok(())
    }

    async fn put_json_if_absent<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<PutOutcome> {
        self.script.enter("PutObject")?;
        let mut objects = lock(&self.objects);
        if objects.contains_key(key) {
            return Ok(PutOutcome::AlreadyExists);
        }
        objects.insert(key.into(), serde_json::to_vec(value).unwrap_or_default());
        Ok(PutOutcome::Written)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.script.enter("DeleteObject")?;
        lock(&self.objects).remove(key);
        Ok(())
    }

    async fn list_keys(&self, prefix: &str) -> Result<Vec<String>> {
        self.script.enter("ListObjectsV2")?;
        Ok(lock(&self.objects)
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }

    async fn object_size(&self, key: &str) -> Result<Option<u64>> {
        self.script.enter("HeadObject")?;
        Ok(lock(&self.objects).get(key).map(|b| b.len() as u64))
    }
}

// ---------------------------------------------------------------- CloudFront

#[derive(Debug, Default)]
pub struct FakeCdn {
    pub script: Script,
    /// caller reference → (id, paths)
    pub invalidations: Mutex<BTreeMap<String, (String, Vec<String>)>>,
}

impl FakeCdn {
    pub fn invalidations(&self) -> Vec<(String, Vec<String>)> {
        lock(&self.invalidations)
            .iter()
            .map(|(r, (_, p))| (r.clone(), p.clone()))
            .collect()
    }
}

impl Cdn for FakeCdn {
    async fn create_invalidation(
        &self,
        paths: &[String],
        caller_reference: &str,
    ) -> Result<String> {
        self.script.enter("CreateInvalidation")?;
        let mut all = lock(&self.invalidations);
        let next = format!("I{}", all.len() + 1);
        Ok(all
            .entry(caller_reference.into())
            .or_insert((next, paths.to_vec()))
            .0
            .clone())
    }
}
