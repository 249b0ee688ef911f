//! Following the export tasks (DescribeExportImageTasks, one per format of `EXPORT_FORMATS`)
//! until each disk is in S3, then its SHA-256.

use super::*;
use shared::domain::DiskImageFormat;
use shared::ports::ExportTaskState;

impl<T: Ports> Deps<T> {
    /// The export records found, and the step's progress over every configured format: done
    /// when every disk is in S3 and hashed (in `EXPORT_FORMATS` order), failed when any task
    /// failed, else pending on the first one not done.
    pub(crate) async fn check_export(
        &self,
        release: &ReleaseId,
    ) -> Result<(Vec<ExportRecord>, Progress<Vec<ManifestExport>>), HandlerError> {
        let formats = self
            .config
            .export
            .as_ref()
            .map(|c| c.formats.clone())
            .unwrap_or_default();
        let mut records = Vec::new();
        let mut done = Vec::new();
        let mut pending = None;
        for format in formats {
            let (record, progress) = self.check_one_export(release, format).await?;
            records.extend(record);
            match progress {
                Progress::Done(artifact) => done.push(artifact),
                Progress::Failed(why) => return Ok((records, Progress::Failed(why))),
                Progress::Pending(why) => {
                    pending.get_or_insert(why);
                }
            }
        }
        let progress = match pending {
            Some(why) => Progress::Pending(why),
            None => Progress::Done(done),
        };
        Ok((records, progress))
    }

    async fn check_one_export(
        &self,
        release: &ReleaseId,
        format: DiskImageFormat,
    ) -> Result<(Option<ExportRecord>, Progress<ManifestExport>), HandlerError> {
        let Some(record) = self
            .store
            .get_json::<ExportRecord>(&keys::export(release, format))
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
                        Some(size) if size > self.config.checksum_max_bytes => {
                            Progress::Failed(format!(
                                "export s3://{}/{key} is {size} bytes, more than CHECKSUM_MAX_GIB ({} GiB) one invocation hashes within Lambda's 15 minutes; raise it only with a longer function timeout",
                                record.bucket,
                                self.config.checksum_max_bytes >> 30
                            ))
                        }
                        Some(_) => match self.checksum(release, &key).await? {
                            Some(digest) => Progress::Done(ManifestExport {
                                url: format!("https://{}/{key}", self.config.cdn_domain),
                                object_key: key,
                                size_bytes: digest.size_bytes,
                                format: record.format,
                                sha256: digest.sha256,
                            }),
                            None => Progress::Pending(format!(
                                "export task {id} completed; waiting for s3://{}/{key}",
                                record.bucket
                            )),
                        },
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
    /// The artifact's size and SHA-256: its checksum record, or the object streamed from S3
    /// (once; the record is written before the manifest, so a later tick never hashes again).
    async fn checksum(
        &self,
        release: &ReleaseId,
        key: &str,
    ) -> Result<Option<ChecksumRecord>, HandlerError> {
        let record_key = keys::checksum(release, key);
        if let Some(known) = self
            .store
            .get_json::<ChecksumRecord>(&record_key)
            .await
            .map_err(store_err("reading the checksum record"))?
        {
            return Ok(Some(known));
        }
        let started = std::time::Instant::now();
        let Some(digest) = self
            .store
            .sha256(key)
            .await
            .map_err(|e| HandlerError::from_service(format!("hashing s3 object {key}"), e))?
        else {
            return Ok(None);
        };
        let seconds = started.elapsed().as_secs_f64();
        info!(
            key,
            size = digest.size,
            sha256 = %digest.sha256,
            seconds,
            mb_per_s = digest.size as f64 / 1e6 / seconds.max(1e-9),
            "artifact hashed"
        );
        let record = ChecksumRecord {
            schema_version: SCHEMA_VERSION,
            release_id: release.clone(),
            object_key: key.to_owned(),
            size_bytes: digest.size,
            sha256: digest.sha256,
            recorded_at: release::timestamp(self.clock.now()),
        };
        shared::steps::put_record(&self.store, &record_key, &record, "the checksum").await?;
        Ok(Some(record))
    }
}
