//! The reconciler: AWS's state is the truth, events are the fast path. On every tick it
//! registers builds nothing registered (discovery), then asks AWS where each pending release
//! stands and performs whatever step is due, through the same code ([`shared::steps`]), with the
//! same client tokens and check-first calls as the functions on the event path: an event that
//! arrives late, twice or never changes nothing.

use super::*;
use shared::clock::{age, parse_time};
use shared::domain::{ClientToken, ImageBuildVersionArn};
use shared::events::ImageStateChange;
use shared::ports::{ImageInfo, ImageStatus};
use shared::release::{BuildOrigin, BuildRecord, DistributionOutput};
use shared::steps::{self, appstream, build, distribute, export};
use std::collections::HashSet;

/// What driving the early steps left to do.
pub(crate) enum Driven {
    /// Every step that starts from an image has started: follow them.
    Started,
    /// Still waiting on AWS: report this step as pending.
    Waiting(StepStatus),
    /// The release's records contradict themselves (a distribution record of another release,
    /// or of another source image): someone planted them. Refused, never driven.
    Forged(String),
}

/// Why a distribution record cannot be `release`'s own: it names another release, or a source
/// image whose build version is another release. `None` when it is consistent.
fn not_its_own(release: &ReleaseId, record: &DistributionRecord) -> Option<String> {
    if record.release_id != *release {
        return Some(format!(
            "{release}'s distribution record is release {}'s",
            record.release_id
        ));
    }
    match ImageBuildVersionArn::parse("source_image_arn", &record.source_image_arn) {
        Ok(source) if source.release_id() == release => None,
        Ok(source) => Some(format!(
            "{release}'s distribution record names the source image {source}, which is release {}",
            source.release_id()
        )),
        Err(e) => Some(format!("{release}'s distribution record: {e}")),
    }
}

fn synthetic(image: &ImageBuildVersionArn, info: &ImageInfo, status: &str) -> ImageStateChange {
    ImageStateChange {
        event_id: None,
        image: image.clone(),
        status: status.to_owned(),
        reason: info.reason.clone(),
    }
}

impl<T: Ports> Deps<T> {
    /// Registers every image a configured pipeline built within the look-back window that no
    /// one registered yet, except the images our own DistributeImage created and the releases
    /// already `pending` (no request for those). The checks run `RECONCILE_CONCURRENCY` at a
    /// time. Returns the releases it registered.
    pub(crate) async fn discover(
        &self,
        pending: &HashSet<ReleaseId>,
    ) -> Result<Vec<ReleaseId>, HandlerError> {
        let now = self.clock.now();
        let mut candidates = Vec::new();
        for pipeline in &self.config.distribute.pipelines {
            let images = with_backoff(self.retry, || self.pipelines.list_pipeline_images(pipeline))
                .await
                .map_err(|e| {
                    HandlerError::from_service(format!("listing the images of {pipeline}"), e)
                })?;
            for summary in images {
                let Some(created) = summary.date_created.as_deref().and_then(parse_time) else {
                    warn!(image = %summary.arn, "skipped in discovery: no readable dateCreated");
                    continue;
                };
                if age(now, created) > self.config.lookback {
                    continue;
                }
                let Ok(image) = ImageBuildVersionArn::parse("imageSummaryList[].arn", &summary.arn)
                else {
                    warn!(image = %summary.arn, "skipped in discovery: not an image build version ARN");
                    continue;
                };
                // Our tag is no reason to skip a pipeline's image (anyone may tag one); the
                // loop guard below reads the output record our own DistributeImage left.
                if pending.contains(image.release_id()) {
                    continue;
                }
                candidates.push((image, pipeline));
            }
        }
        let checked: Vec<Result<Option<ReleaseId>, HandlerError>> =
            futures::stream::iter(candidates)
                .map(|(image, pipeline)| async move {
                    // The loop guard, as on the event path: an image our DistributeImage created
                    // may be listed under the pipeline too (AWS does not document that it is not).
                    let output: Option<DistributionOutput> = self
                        .store
                        .get_json(&keys::distributed(&image))
                        .await
                        .map_err(store_err("reading the distribution output record"))?;
                    if output.is_some() {
                        return Ok(None);
                    }
                    let registered = build::register(
                        &self.store,
                        self.clock.as_ref(),
                        &image,
                        Some(pipeline),
                        BuildOrigin::Discovered,
                    )
                    .await?;
                    if registered {
                        info!(image = %image, pipeline = %pipeline, "discovered a build nothing had registered");
                    }
                    Ok(registered.then(|| image.release_id().clone()))
                })
                .buffer_unordered(self.config.concurrency)
                .collect()
                .await;
        let mut registered = Vec::new();
        let mut first_error = None;
        for result in checked {
            match result {
                Ok(Some(release)) => registered.push(release),
                Ok(None) => {}
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        match first_error {
            Some(err) if registered.is_empty() => Err(err),
            Some(err) => {
                warn!(error = %err, registered = registered.len(), "discovery partly failed");
                Ok(registered)
            }
            None => Ok(registered),
        }
    }

    /// Performs the steps that start from an image (distribution; export and AppStream copies)
    /// when AWS says they are due and their record is missing from `records` (the release's keys).
    pub(crate) async fn drive(
        &self,
        release: &ReleaseId,
        records: &[String],
    ) -> Result<Driven, HandlerError> {
        let recorded = |key: String| records.contains(&key);
        let distribution: Option<DistributionRecord> = if recorded(keys::distribution(release)) {
            self.store
                .get_json(&keys::distribution(release))
                .await
                .map_err(store_err("reading the distribution record"))?
        } else {
            None
        };
        let distribution = match distribution {
            Some(d) => d,
            None => match self.drive_build(release).await? {
                Some(waiting) => return Ok(Driven::Waiting(waiting)),
                None => match self
                    .store
                    .get_json(&keys::distribution(release))
                    .await
                    .map_err(store_err("reading the distribution record"))?
                {
                    Some(d) => d,
                    // A failure was recorded (or DistributeImage is being retried): the
                    // follow-up reports the release from its records.
                    None => return Ok(Driven::Started),
                },
            },
        };
        if let Some(why) = not_its_own(release, &distribution) {
            return Ok(Driven::Forged(why));
        }
        let export_missing = self.config.export.as_ref().is_some_and(|export| {
            export
                .formats
                .iter()
                .any(|f| !recorded(keys::export(release, *f, 0)))
        });
        let appstream_missing =
            self.config.appstream.is_some() && !recorded(keys::appstream(release));
        if !export_missing && !appstream_missing {
            return Ok(Driven::Started);
        }
        let Some(arn) = distribution.distributed_image_arn.as_deref() else {
            return Ok(Driven::Waiting(step(
                Step::Distribution,
                StepState::Pending,
                "DistributeImage answered no image ARN; waiting for its event".into(),
            )));
        };
        let image = ImageBuildVersionArn::parse("distributed_image_arn", arn)?;
        let info = with_backoff(self.retry, || self.pipelines.get_image(&image))
            .await
            .map_err(|e| HandlerError::from_service(format!("reading image {image}"), e))?;
        match info.image_status() {
            ImageStatus::Available => {
                let change = synthetic(&image, &info, "AVAILABLE");
                // Each step records its own failure; an error here is retried on the next tick.
                if let (true, Some(config)) = (export_missing, &self.config.export)
                    && let Err(err) = export::on_image(&self.export_step(config), &change).await
                {
                    warn!(error = %err, "export step not started this tick");
                }
                if let (true, Some(config)) = (appstream_missing, &self.config.appstream) {
                    let step = appstream::Deps {
                        config,
                        pipelines: &self.pipelines,
                        appstream: &self.appstream,
                        store: &self.store,
                        amis: &self.exports,
                        retry: self.retry,
                        clock: self.clock.as_ref(),
                    };
                    if let Err(err) = appstream::on_image(&step, &change).await {
                        warn!(error = %err, "AppStream step not started this tick");
                    }
                }
                Ok(Driven::Started)
            }
            ImageStatus::Failed | ImageStatus::Cancelled => {
                self.failed_distribution(release, &image, &info, records)
                    .await
            }
            status => {
                let state = match status {
                    ImageStatus::InProgress(s) | ImageStatus::Retired(s) => s,
                    _ => "in an unknown state".to_owned(),
                };
                self.waiting_or_timed_out(
                    release,
                    Step::Distribution,
                    &distribution.requested_at,
                    &state,
                )
                .await
            }
        }
    }

    /// The pipeline's image: distributes it once it is AVAILABLE. `None` when the distribution
    /// was requested (or a failure recorded), else the step it waits on.
    async fn drive_build(&self, release: &ReleaseId) -> Result<Option<StepStatus>, HandlerError> {
        let marker: Option<PendingMarker> = self
            .store
            .get_json(&keys::pending(release))
            .await
            .map_err(store_err("reading the pending marker"))?;
        let record: Option<BuildRecord> = self
            .store
            .get_json(&keys::build(release))
            .await
            .map_err(store_err("reading the build record"))?;
        let source = record
            .as_ref()
            .map(|r| r.image_build_version_arn.clone())
            .or_else(|| marker.as_ref().and_then(|m| m.source_image_arn.clone()));
        let Some(source) = source else {
            return Ok(Some(step(
                Step::Distribution,
                StepState::Pending,
                "waiting for distribute-image (no source image recorded)".into(),
            )));
        };
        let since = record
            .map(|r| r.recorded_at)
            .or(marker.map(|m| m.since))
            .unwrap_or_default();
        let image = ImageBuildVersionArn::parse("image_build_version_arn", &source)?;
        let info = with_backoff(self.retry, || self.pipelines.get_image(&image))
            .await
            .map_err(|e| HandlerError::from_service(format!("reading image {image}"), e))?;
        let status = match info.image_status() {
            ImageStatus::Available => "AVAILABLE",
            ImageStatus::Failed => "FAILED",
            ImageStatus::Cancelled => "CANCELLED",
            ImageStatus::InProgress(state) | ImageStatus::Retired(state) => {
                return match self
                    .waiting_or_timed_out(release, Step::Build, &since, &state)
                    .await?
                {
                    Driven::Waiting(s) => Ok(Some(s)),
                    Driven::Started | Driven::Forged(_) => Ok(None),
                };
            }
            ImageStatus::Unknown => {
                return Ok(Some(step(
                    Step::Build,
                    StepState::Pending,
                    format!("image {image} is in a state this version does not know"),
                )));
            }
        };
        let step_deps = distribute::Deps {
            config: &self.config.distribute,
            pipelines: &self.pipelines,
            store: &self.store,
            retry: self.retry,
            clock: self.clock.as_ref(),
        };
        let outcome = distribute::on_image(&step_deps, &synthetic(&image, &info, status)).await?;
        info!(outcome = ?outcome, "reconciler drove the distribution step");
        Ok(None)
    }

    /// A FAILED distribution: RetryImage while the failure is one a retry can fix and retries
    /// are left (each with its own token, counted in `retry-<n>.json`), else the failure.
    async fn failed_distribution(
        &self,
        release: &ReleaseId,
        image: &ImageBuildVersionArn,
        info: &ImageInfo,
        records: &[String],
    ) -> Result<Driven, HandlerError> {
        let failure = info.failure.clone().unwrap_or_default();
        // A CANCELLED image has no failureContext (Image Builder sets it only for FAILED); it
        // was cancelled on purpose (CancelImageCreation), so it is not retried, as a cancelled
        // build is not. (A region CANCELLED inside a FAILED distribution is retried.)
        let cancelled = info.image_status() == ImageStatus::Cancelled;
        let described = match failure.describe() {
            _ if cancelled => format!(
                "the distributed image was CANCELLED{}",
                info.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
            d if d.is_empty() => info.reason.clone().unwrap_or("no reason given".into()),
            d => d,
        };
        let retryable = !cancelled && failure.is_retryable();
        let attempt = records
            .iter()
            .filter(|k| keys::is_distribution_retry(release, k))
            .count() as u32
            + 1;
        if retryable && attempt <= self.config.distribution_retries {
            let marker = keys::distribution_retry(release, attempt);
            let token = ClientToken::<64>::parse(
                "clientToken",
                &shared::token::derive(
                    shared::token::RETRY_IMAGE,
                    &[image.as_str(), &attempt.to_string()],
                ),
            )?;
            // The record first: a crash after it costs one retry, never an unbounded number.
            if steps::put_record(&self.store, &marker, &described, "a distribution retry").await?
                == shared::ports::PutOutcome::Written
            {
                with_backoff(self.retry, || self.pipelines.retry_image(image, &token))
                    .await
                    .map_err(|e| {
                        steps::call_failed(
                            e,
                            Some(token.as_str()),
                            None,
                            format!("retrying the distribution of {release}"),
                        )
                    })?;
                warn!(attempt, reason = %described, "distribution failed; RetryImage");
            }
            return Ok(Driven::Waiting(step(
                Step::Distribution,
                StepState::Pending,
                format!(
                    "distribution failed ({described}); RetryImage {attempt} of {}",
                    self.config.distribution_retries
                ),
            )));
        }
        let retries = attempt - 1;
        let reason = format!(
            "distribution failed: {described}{}",
            match (retryable, retries) {
                (false, 0) => " (not retried: a retry cannot fix it)".to_owned(),
                (_, n) => format!(" (after {n} RetryImage)"),
            }
        );
        steps::record_failure(
            &self.store,
            self.clock.as_ref(),
            release,
            Step::Distribution,
            &reason,
        )
        .await?;
        Ok(Driven::Started)
    }

    /// Pending while the step is younger than its deadline; past it, the step is recorded as
    /// failed: "timed out in <AWS state> after <duration>".
    pub(crate) async fn waiting_or_timed_out(
        &self,
        release: &ReleaseId,
        which: Step,
        since: &str,
        state: &str,
    ) -> Result<Driven, HandlerError> {
        if let Some(reason) = self.timed_out(which, since, state) {
            steps::record_failure(&self.store, self.clock.as_ref(), release, which, &reason)
                .await?;
            return Ok(Driven::Started);
        }
        Ok(Driven::Waiting(crate::decide::waiting(
            &self.config.deadlines,
            which,
            Some(since),
            state.to_owned(),
        )))
    }

    /// The timeout reason when `which`, started at `since`, has outlived its deadline.
    pub(crate) fn timed_out(&self, which: Step, since: &str, state: &str) -> Option<String> {
        crate::decide::timed_out(
            &self.config.deadlines,
            self.clock.now(),
            which,
            since,
            state,
        )
    }
}
