//! Following the export task (DescribeExportImageTasks) until the disk is in S3.

use super::*;
use shared::ports::ExportTaskState;

impl<P: ImagePipelines, E: ImageExports + AmiCatalog, A: AppStreamImages, S: ArtifactStore, C: Cdn>
    Deps<P, E, A, S, C>
{
    pub(crate) async fn check_export(
        &self,
        release: &ReleaseId,
    ) -> Result<(Option<ExportRecord>, Progress<ManifestExport>), HandlerError> {
        let Some(record) = self
            .store
            .get_json::<ExportRecord>(&keys::export(release))
            .await
            .map_err(store_err("reading the export record"))?
        else {
            return Ok((None, Progress::Pending("waiting for export-image".into())));
        };
        let id = record.export_task_id.clone();
        let task = with_backoff(self.retry, || self.exports.describe_export_task(&id))
            .await
            .map_err(|e| HandlerError::from_service(format!("describing export task {id}"), e))?;
        let progress = match task {
            None => Progress::Failed(format!("export task {id} no longer exists")),
            Some(task) => match task.state() {
                ExportTaskState::Completed => {
                    let key = record.object_key();
                    match self
                        .store
                        .object_size(&key)
                        .await
                        .map_err(store_err("reading the exported object"))?
                    {
                        Some(size) => Progress::Done(ManifestExport {
                            url: format!("https://{}/{key}", self.config.cdn_domain),
                            object_key: key,
                            size_bytes: size,
                            format: record.format,
                        }),
                        None => Progress::Pending(format!(
                            "export task {id} completed; waiting for s3://{}/{key}",
                            record.bucket
                        )),
                    }
                }
                ExportTaskState::Deleted => Progress::Failed(format!(
                    "export task {id} is {}: {}",
                    task.status,
                    task.status_message
                        .as_deref()
                        .unwrap_or("no status message")
                )),
                ExportTaskState::Active | ExportTaskState::Unknown => Progress::Pending(format!(
                    "export task {id} {}, {}% {}",
                    task.status,
                    task.progress.as_deref().unwrap_or("0"),
                    task.status_message.as_deref().unwrap_or("")
                )),
            },
        };
        Ok((Some(record), progress))
    }
}
