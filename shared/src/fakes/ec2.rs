//! The EC2 fake (AMI facts and export tasks).

use super::{Script, lock};
use crate::ports::*;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct FakeEc2 {
    pub script: Script,
    pub exports: Mutex<Vec<ExportImage>>,
    pub tasks: Mutex<HashMap<String, ExportTask>>,
    /// Client token → the task it started: the same token answers the same task, as EC2 does,
    /// and a new token starts a new one.
    pub tokens: Mutex<HashMap<String, String>>,
    /// AMIs DescribeImages knows; any other AMI is a plain, exportable one.
    pub amis: Mutex<HashMap<String, Option<AmiFacts>>>,
    /// (region, AMI) → deprecation time set by EnableImageDeprecation.
    pub deprecated: Mutex<HashMap<(String, String), std::time::SystemTime>>,
    /// (region, AMI) disabled by DisableImage.
    pub disabled: Mutex<Vec<(String, String)>>,
    /// AMI → what DescribeImageReferences answers.
    pub references: Mutex<HashMap<String, Vec<ImageReference>>>,
    /// (region, AMI) deregistered.
    pub deregistered: Mutex<Vec<(String, String)>>,
    /// AMI → who it is shared with (DescribeImageAttribute `launchPermission`).
    pub shared: Mutex<HashMap<String, Vec<String>>>,
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
        let id = {
            let mut tokens = lock(&self.tokens);
            let n = tokens.len();
            tokens
                .entry(request.client_token.to_string())
                .or_insert_with(|| match n {
                    0 => format!("export-{}", request.image_id),
                    n => format!("export-{}-{n}", request.image_id),
                })
                .clone()
        };
        let task = ExportTask {
            export_task_id: id,
            status: "active".into(),
            progress: Some("0".into()),
            status_message: None,
            bucket: Some(request.bucket.to_string()),
            prefix: Some(request.prefix.clone()),
        };
        let task = lock(&self.tasks)
            .entry(task.export_task_id.clone())
            .or_insert_with(|| task.clone())
            .clone();
        Ok(ExportStarted::Task(task))
    }

    async fn describe_export_task(&self, export_task_id: &str) -> Result<Option<ExportTask>> {
        self.script.enter("DescribeExportImageTasks")?;
        Ok(lock(&self.tasks).get(export_task_id).cloned())
    }
}

impl AmiLifecycle for FakeEc2 {
    async fn describe(
        &self,
        _region: &crate::domain::RegionName,
        ami: &crate::domain::AmiId,
    ) -> Result<Option<AmiFacts>> {
        self.describe_ami(ami).await
    }

    async fn deprecate(
        &self,
        region: &crate::domain::RegionName,
        ami: &crate::domain::AmiId,
        at: std::time::SystemTime,
    ) -> Result<()> {
        self.script.enter("EnableImageDeprecation")?;
        lock(&self.deprecated).insert((region.to_string(), ami.to_string()), at);
        Ok(())
    }

    async fn disable(
        &self,
        region: &crate::domain::RegionName,
        ami: &crate::domain::AmiId,
    ) -> Result<()> {
        self.script.enter("DisableImage")?;
        let key = (region.to_string(), ami.to_string());
        let mut disabled = lock(&self.disabled);
        if !disabled.contains(&key) {
            disabled.push(key);
        }
        Ok(())
    }

    async fn launch_permissions(
        &self,
        _region: &crate::domain::RegionName,
        ami: &crate::domain::AmiId,
    ) -> Result<Option<Vec<String>>> {
        self.script.enter("DescribeImageAttribute")?;
        Ok(Some(
            lock(&self.shared)
                .get(ami.as_str())
                .cloned()
                .unwrap_or_default(),
        ))
    }

    async fn references(
        &self,
        _region: &crate::domain::RegionName,
        ami: &crate::domain::AmiId,
    ) -> Result<Vec<ImageReference>> {
        self.script.enter("DescribeImageReferences")?;
        Ok(lock(&self.references)
            .get(ami.as_str())
            .cloned()
            .unwrap_or_default())
    }

    async fn deregister(
        &self,
        region: &crate::domain::RegionName,
        ami: &crate::domain::AmiId,
    ) -> Result<Option<Deregistered>> {
        self.script.enter("DeregisterImage")?;
        let key = (region.to_string(), ami.to_string());
        let mut gone = lock(&self.deregistered);
        if gone.contains(&key) {
            return Ok(None);
        }
        gone.push(key);
        Ok(Some(Deregistered {
            snapshots_deleted: vec![format!("snap-{}", &ami.as_str()[4..])],
            snapshots_kept: Vec::new(),
        }))
    }
}
