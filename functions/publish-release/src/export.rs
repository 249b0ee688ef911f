//! Following the export tasks (DescribeExportImageTasks, one per format of `EXPORT_FORMATS`)
//! until each disk is in S3, then its SHA-256.

use super::*;
use shared::domain::DiskImageFormat;
use shared::ports::ExportTaskState;

/// What following the export tasks found.
pub(crate) struct Exports {
    /// One per format whose task was started, in `EXPORT_FORMATS` order.
    pub records: Vec<ExportRecord>,
    /// When the last artifact hashed so far was hashed (its checksum record).
    pub hashed_at: Option<String>,
    pub progress: Progress<Vec<ManifestExport>>,
}

impl<T: Ports> Deps<T> {
    /// The export step as export-image runs it, with this function's clients and clock.
    pub(crate) fn export_step<'a>(
        &'a self,
        config: &'a shared::steps::export::Config,
    ) -> shared::steps::export::Deps<'a, T::Pipelines, T::Exports, T::Store> {
        shared::steps::export::Deps {
            config,
            pipelines: &self.pipelines,
            exports: &self.exports,
            store: &self.store,
            retry: self.retry,
            clock: self.clock.as_ref(),
        }
    }

    /// The export records found, when the last artifact was hashed, and the step's progress
    /// over every configured format: done when every disk is in S3 and hashed (in
    /// `EXPORT_FORMATS` order), failed when any task failed, else pending on the first one not
    /// done.
    pub(crate) async fn check_export(
        &self,
        release: &ReleaseId,
        records_listed: &[String],
        generation: u32,
    ) -> Result<Exports, HandlerError> {
        let formats = self.config.export.as_ref().map_or(&[][..], |c| &c.formats);
        let mut records = Vec::new();
        let mut done = Vec::new();
        let mut hashed_at = None;
        let mut pending = None;
        for &format in formats {
            // The format's latest export: a failed one is replaced after an operator's retry.
            let attempt = records_listed
                .iter()
                .filter_map(|k| keys::export_attempt(k, format))
                .max()
                .unwrap_or(0);
            let (record, progress) = self
                .check_one_export(release, format, attempt, generation)
                .await?;
            records.extend(record);
            match progress {
                Progress::Done((artifact, at)) => {
                    done.push(artifact);
                    hashed_at = hashed_at.max(Some(at));
                }
                Progress::Failed(why) => {
                    return Ok(Exports {
                        records,
                        hashed_at,
                        progress: Progress::Failed(why),
                    });
                }
                Progress::Pending(why) => {
                    pending.get_or_insert(why);
                }
            }
        }
        let progress = match pending {
            Some(why) => Progress::Pending(why),
            None => Progress::Done(done),
        };
        Ok(Exports {
            records,
            hashed_at,
            progress,
        })
    }

    async fn check_one_export(
        &self,
        release: &ReleaseId,
        format: DiskImageFormat,
        attempt: u32,
        generation: u32,
    ) -> Result<(Option<ExportRecord>, Progress<(ManifestExport, String)>), HandlerError> {
        let Some(record) = self
            .store
            .get_json::<ExportRecord>(&keys::export(release, format, attempt))
            .await
            .map_err(store_err("reading the export record"))?
        else {
            return Ok((None, Progress::Pending("waiting for export-image".into())));
        };
        let id = record.export_task_id.clone();
        let task = with_backoff(self.retry, || self.exports.describe_export_task(&id))
            .await
            .map_err(|e| HandlerError::from_service(format!("describing export task {id}"), e))?;
        let failed = match &task {
            None => Some(format!("export task {id} no longer exists")),
            Some(task) if task.state() == ExportTaskState::Deleted => Some(format!(
                "export task {id} is {}: {}",
                task.status,
                task.status_message
                    .as_deref()
                    .unwrap_or("no status message")
            )),
            Some(_) => None,
        };
        // A task that failed before the operator's latest retry is replaced by a new one.
        if let Some(why) = &failed
            && record.generation < generation
        {
            return self.restart_export(record, generation, why).await;
        }
        let progress = match task {
            None => Progress::Failed(failed.unwrap_or_default()),
            Some(task) => match task.state() {
                ExportTaskState::Completed => self.exported(release, &record).await?,
                ExportTaskState::Deleted => Progress::Failed(failed.unwrap_or_default()),
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
    /// A new export task in place of `failed`'s, for retry generation `generation`.
    async fn restart_export(
        &self,
        failed: ExportRecord,
        generation: u32,
        why: &str,
    ) -> Result<(Option<ExportRecord>, Progress<(ManifestExport, String)>), HandlerError> {
        let Some(config) = &self.config.export else {
            return Ok((Some(failed), Progress::Failed(why.to_owned())));
        };
        let started =
            shared::steps::export::restart(&self.export_step(config), &failed, generation).await?;
        let detail = match started {
            Some(new) => format!(
                "{why}; retried as export task {} (attempt {})",
                new.export_task_id,
                failed.attempt + 1
            ),
            None => format!("{why}; the retry's ExportImage dry run succeeded"),
        };
        info!(format = %failed.format, detail, "failed export started again for the retry");
        Ok((Some(failed), Progress::Pending(detail)))
    }

    /// A completed export task: its disk in S3, hashed (once), or why not yet.
    async fn exported(
        &self,
        release: &ReleaseId,
        record: &ExportRecord,
    ) -> Result<Progress<(ManifestExport, String)>, HandlerError> {
        let key = record.object_key();
        let size = self
            .store
            .object_size(&key)
            .await
            .map_err(store_err("reading the exported object"))?;
        let digest = match size {
            Some(size) if size > self.config.checksum_max_bytes => {
                return Ok(Progress::Failed(format!(
                    "export s3://{}/{key} is {size} bytes, more than CHECKSUM_MAX_GIB ({} GiB), the largest export this stack hashes; raise it to publish larger disks",
                    record.bucket,
                    self.config.checksum_max_bytes >> 30
                )));
            }
            Some(_) => match self.checksum(release, &key).await? {
                Hashing::Done(record) => Some(record),
                Hashing::Absent => None,
                Hashing::Partial { offset, size } => {
                    return Ok(Progress::Pending(format!(
                        "hashing s3://{}/{key}: {offset} of {size} bytes ({}%), resumed by the next tick",
                        record.bucket,
                        offset.saturating_mul(100) / size.max(1)
                    )));
                }
            },
            None => None,
        };
        Ok(match digest {
            Some(digest) => Progress::Done((
                ManifestExport {
                    url: format!("https://{}/{key}", self.config.cdn_domain),
                    object_key: key,
                    size_bytes: digest.size_bytes,
                    format: record.format,
                    sha256: digest.sha256,
                },
                digest.recorded_at,
            )),
            None => Progress::Pending(format!(
                "export task {} completed; waiting for s3://{}/{key}",
                record.export_task_id, record.bucket
            )),
        })
    }

    /// The artifact's size and SHA-256: its checksum record, or the object streamed from S3
    /// (once; the record is written before the manifest, so a later tick never hashes again).
    /// One invocation hashes at most `CHECKSUM_SLICE_MIB`, then saves the hash's state
    /// (`keys::checksum_partial`, `If-Match` on the state it resumed) for the next: an export of
    /// any size is hashed by as many invocations as it takes, each within the timeout.
    async fn checksum(&self, release: &ReleaseId, key: &str) -> Result<Hashing, HandlerError> {
        let record_key = keys::checksum(release, key);
        if let Some(known) = self
            .store
            .get_json::<ChecksumRecord>(&record_key)
            .await
            .map_err(store_err("reading the checksum record"))?
        {
            return Ok(Hashing::Done(known));
        }
        let partial_key = keys::checksum_partial(release, key);
        let partial = self
            .store
            .get_json_versioned::<shared::hashing::HashState>(&partial_key)
            .await
            .map_err(store_err("reading the saved hash state"))?;
        let started = std::time::Instant::now();
        let slice = self
            .store
            .sha256_slice(
                key,
                partial.as_ref().map(|p| &p.value),
                self.config.checksum_slice_bytes,
            )
            .await
            .map_err(|e| HandlerError::from_service(format!("hashing s3 object {key}"), e))?;
        let digest = match slice {
            None => return Ok(Hashing::Absent),
            Some(shared::hashing::HashSlice::Partial(state)) => {
                let (offset, size) = (state.offset, state.size);
                info!(
                    key,
                    offset,
                    size,
                    seconds = started.elapsed().as_secs_f64(),
                    "artifact hashed in part; the state is saved for the next invocation"
                );
                // Lost to a concurrent invocation that saved first: its state stands.
                self.store
                    .put_json_if_match(
                        &partial_key,
                        &state,
                        partial.as_ref().map(|p| p.etag.as_str()),
                    )
                    .await
                    .map_err(store_err("saving the hash state"))?;
                return Ok(Hashing::Partial { offset, size });
            }
            Some(shared::hashing::HashSlice::Done(digest)) => digest,
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
        Ok(Hashing::Done(record))
    }
}

/// Where the hash of an exported disk stands.
enum Hashing {
    /// No object yet.
    Absent,
    /// `offset` of `size` bytes hashed; the state is saved for the next invocation.
    Partial {
        offset: u64,
        size: u64,
    },
    Done(ChecksumRecord),
}
