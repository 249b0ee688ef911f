//! Following the AppStream copies: issuing those that waited for their source, watching each
//! copy until it is AVAILABLE, and applying the source's tags to it (CopyImage copies none).

use super::*;
use futures::future::join_all;
use shared::ports::AppStreamImageState;
use shared::steps::appstream_copy::{CopyMark, copy_mark};

impl<T: Ports> Deps<T> {
    pub(crate) async fn check_appstream(
        &self,
        release: &ReleaseId,
    ) -> Result<
        (
            Option<AppStreamRecord>,
            Progress<Vec<ManifestAppStreamImage>>,
        ),
        HandlerError,
    > {
        let Some(record) = self
            .store
            .get_json::<AppStreamRecord>(&keys::appstream(release))
            .await
            .map_err(store_err("reading the AppStream record"))?
        else {
            return Ok((
                None,
                Progress::Pending("waiting for copy-appstream-image".into()),
            ));
        };
        let source_region = RegionName::parse("source_region", &record.source_region)?;
        let source = with_backoff(self.retry, || {
            self.appstream
                .describe_image(&source_region, &record.source_image_name)
        })
        .await
        .map_err(|e| HandlerError::from_service("describing the source AppStream image", e))?;
        let mark = copy_mark(&self.store, self.retry, release)
            .await
            .map_err(|e| HandlerError::from_service("reading the AppStream mark", e))?;
        let checks = record
            .destinations
            .iter()
            .map(|d| self.check_destination(&record, &mark, &source_region, source.as_ref(), d));
        let mut done = Vec::new();
        let mut pending = Vec::new();
        let mut failed = Vec::new();
        for result in join_all(checks).await {
            match result.map_err(|e| {
                HandlerError::from_service(
                    format!("following the AppStream copies of {release}"),
                    e,
                )
            })? {
                Progress::Done(image) => done.push(image),
                Progress::Pending(why) => pending.push(why),
                Progress::Failed(why) => failed.push(why),
            }
        }
        let progress = if !failed.is_empty() {
            Progress::Failed(failed.join("; "))
        } else if !pending.is_empty() {
            Progress::Pending(pending.join("; "))
        } else {
            done.sort_by(|a, b| a.region.cmp(&b.region));
            Progress::Done(done)
        };
        Ok((Some(record), progress))
    }

    pub(crate) async fn check_destination(
        &self,
        record: &AppStreamRecord,
        mark: &CopyMark,
        source_region: &RegionName,
        source: Option<&AppStreamImage>,
        destination: &AppStreamDestination,
    ) -> Result<Progress<ManifestAppStreamImage>, ServiceError> {
        let region = match RegionName::parse("region", &destination.region) {
            Ok(region) => region,
            Err(e) => return Ok(Progress::Failed(e.to_string())),
        };
        let name = &destination.image_name;
        let mut state = destination.state.clone();
        if matches!(
            state,
            CopyState::WaitingForSource | CopyState::WaitingForQuota { .. }
        ) {
            state = match source {
                None => CopyState::Failed {
                    reason: format!("source image {} is gone", record.source_image_name),
                },
                Some(s) if s.image_state() == AppStreamImageState::Failed => CopyState::Failed {
                    reason: format!(
                        "source image {} FAILED: {}",
                        s.name,
                        s.state_reason.as_deref().unwrap_or("no reason given")
                    ),
                },
                Some(s) if s.image_state() == AppStreamImageState::Available => {
                    ensure_copy(
                        &self.appstream,
                        self.retry,
                        &record.source_image_name,
                        &region,
                        name,
                        record.description.as_ref(),
                        mark,
                    )
                    .await?
                }
                Some(s) => {
                    return Ok(Progress::Pending(format!(
                        "{region}: source image {}",
                        s.state
                    )));
                }
            };
        }
        match state {
            CopyState::Failed { reason } => Ok(Progress::Failed(format!("{region}: {reason}"))),
            CopyState::WaitingForSource => Ok(Progress::Pending(format!(
                "{region}: waiting for the source image"
            ))),
            CopyState::WaitingForQuota { reason } => Ok(Progress::Pending(format!(
                "{region}: waiting for AppStream's quota ({reason})"
            ))),
            CopyState::Requested => {
                let Some(image) =
                    with_backoff(self.retry, || self.appstream.describe_image(&region, name))
                        .await?
                else {
                    return Ok(Progress::Pending(format!("{region}: copy not visible yet")));
                };
                if !mark.is_on(&image) {
                    return Ok(Progress::Failed(format!(
                        "{region}: {}",
                        CopyMark::not_ours(&image, &region)
                    )));
                }
                match image.image_state() {
                    AppStreamImageState::Available => {
                        let Some(arn) = image.arn.clone() else {
                            return Ok(Progress::Pending(format!("{region}: copy has no ARN yet")));
                        };
                        self.copy_tags(source_region, source, &region, &arn).await?;
                        Ok(Progress::Done(ManifestAppStreamImage {
                            region: region.to_string(),
                            image_name: name.to_string(),
                            arn,
                        }))
                    }
                    AppStreamImageState::Failed => Ok(Progress::Failed(format!(
                        "{region}: copy FAILED: {}",
                        image.state_reason.as_deref().unwrap_or("no reason given")
                    ))),
                    // Someone deleted the copy under way: it will not become AVAILABLE, and once
                    // gone it would read as "not visible yet" until the step's deadline.
                    AppStreamImageState::Deleting => Ok(Progress::Failed(format!(
                        "{region}: the copy {name} is being deleted (DeleteImage by someone \
                         else); retry the release to copy it again"
                    ))),
                    _ => Ok(Progress::Pending(format!("{region}: {}", image.state))),
                }
            }
        }
    }

    /// AWS does not copy tags with CopyImage: apply the source's tags that the copy lacks.
    pub(crate) async fn copy_tags(
        &self,
        source_region: &RegionName,
        source: Option<&AppStreamImage>,
        region: &RegionName,
        arn: &str,
    ) -> Result<(), ServiceError> {
        let Some(source_arn) = source.and_then(|s| s.arn.as_deref()) else {
            return Ok(());
        };
        let wanted = with_backoff(self.retry, || {
            self.appstream.list_tags(source_region, source_arn)
        })
        .await?;
        if wanted.is_empty() {
            return Ok(());
        }
        let present = with_backoff(self.retry, || self.appstream.list_tags(region, arn)).await?;
        let missing: std::collections::BTreeMap<String, String> = wanted
            .into_iter()
            .filter(|(k, v)| present.get(k) != Some(v))
            .collect();
        if !missing.is_empty() {
            with_backoff(self.retry, || {
                self.appstream.tag_resource(region, arn, &missing)
            })
            .await?;
            info!(region = %region, arn, tags = missing.len(), "source tags applied to the copy");
        }
        Ok(())
    }
}
