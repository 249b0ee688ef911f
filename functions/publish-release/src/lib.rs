//! publish-release: the reconciler and the publisher. Woken by a rate schedule (and by S3
//! `Object Created` events of exported disks), it
//! 1. registers builds that nothing registered (discovery with ListImagePipelineImages);
//! 2. asks AWS where each pending release stands and performs any step that is due, through the
//!    same code and tokens as the event path ([`reconcile`]), retrying a failed distribution
//!    with RetryImage, and failing any step past its deadline;
//! 3. follows the export task ([`export`]) and the AppStream copies ([`appstream`]);
//! 4. when every step is done, writes `releases/<id>/manifest.json` once, signs it and adds the
//!    release to the catalog ([`publish`]). A failed step ends the release with its reason in
//!    `status.json`. Nothing is invalidated: CloudFront does not cache what a publication
//!    changes (the default behaviour is `CachingDisabled`), and the disks are new keys.
//!
//! Nothing emits an event when an export task or an AppStream copy finishes, and Image Builder's
//! events are best-effort: the schedule is what guarantees that no release stalls or vanishes.

mod appstream;
mod catalog;
mod channels;
mod config;
mod decide;
mod export;
mod observe;
pub mod publish;
mod reconcile;
mod retention;
mod revoke;
mod seal;

pub use config::{Config, Deadlines};
pub use publish::{RELEASE_FAILED, RELEASE_STUCK, STUCK_AFTER_TICKS};
pub use revoke::RELEASE_REVOKED;

use decide::step;
use futures::StreamExt;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use shared::clock::Clock;
use shared::domain::{DiskImageFormat, RegionName, ReleaseId};
use shared::events::PublishTrigger;
use shared::ports::{
    AmiCatalog, AmiLifecycle, AppStreamImage, AppStreamImages, ArtifactStore, Cdn, ImageExports,
    ImagePipelines, Parameters, PutOutcome, ReleaseEvents, ReleaseSigner,
};
use shared::release::{
    self, AppStreamDestination, AppStreamRecord, BuildRecord, ChecksumRecord, CopyState,
    DistributionRecord, ExportRecord, FailureRecord, MANIFEST_SCHEMA_VERSION, Manifest,
    ManifestAmi, ManifestAppStreamImage, ManifestExport, ManifestTimestamps, PendingMarker,
    ReleaseState, RetryRecord, SCHEMA_VERSION, StatusRecord, Step, StepState, StepStatus,
    StepTimes, keys,
};
use shared::retry::{RetryPolicy, with_backoff};
use shared::steps::appstream_copy::ensure_copy;
use shared::{HandlerError, ServiceError};
use tracing::{error, info, warn};

/// The ports publish-release uses, named once: the AWS adapters in `main.rs`, the fakes in the
/// tests. Every `impl` on [`Deps`] is `impl<T: Ports> Deps<T>`.
pub trait Ports {
    /// Image Builder: discovery, GetImage of the source and distributed images, RetryImage.
    type Pipelines: ImagePipelines;
    /// EC2: the export tasks, and DescribeImages before a re-driven export or import.
    type Exports: ImageExports + AmiCatalog;
    type AppStream: AppStreamImages;
    type Store: ArtifactStore;
    /// EventBridge: `Release Published` and `Release Failed` on the release bus.
    type Events: ReleaseEvents;
    /// KMS: the signatures of `SHA256SUMS` and the manifest.
    type Signer: ReleaseSigner;
    /// SSM: the channels' parameters in every region of their AMIs.
    type Parameters: Parameters;
    /// EC2 in any region: a revoked release's AMIs deprecated and disabled.
    type Lifecycle: AmiLifecycle;
    /// CloudFront: a revoked release's disk paths invalidated.
    type Cdn: Cdn;
}

pub struct Deps<T: Ports> {
    pub config: Config,
    pub pipelines: T::Pipelines,
    pub exports: T::Exports,
    pub appstream: T::AppStream,
    pub store: T::Store,
    pub events: T::Events,
    /// `None` when `SIGNING_KEY_ID` is unset: nothing is signed.
    pub signer: Option<T::Signer>,
    pub parameters: T::Parameters,
    pub lifecycle: T::Lifecycle,
    /// `None` when `CDN_DISTRIBUTION_ID` is unset: nothing is invalidated.
    pub cdn: Option<T::Cdn>,
    pub retry: RetryPolicy,
    pub clock: Box<dyn Clock>,
}

/// What one invocation did, tagged by `action` like the other functions' outcomes.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "action"
)]
pub enum Outcome {
    /// The releases looked at (every pending one on the schedule, one for an S3 event).
    Reconciled {
        releases: Vec<ReleaseReport>,
        /// Builds registered by discovery on this tick (none for an S3 event).
        #[serde(skip_serializing_if = "Option::is_none")]
        discovered: Option<usize>,
    },
    Skipped {
        reason: String,
    },
}

impl Outcome {
    /// The releases looked at; none when skipped.
    pub fn releases(&self) -> &[ReleaseReport] {
        match self {
            Outcome::Reconciled { releases, .. } => releases,
            Outcome::Skipped { .. } => &[],
        }
    }

    pub fn discovered(&self) -> Option<usize> {
        match self {
            Outcome::Reconciled { discovered, .. } => *discovered,
            Outcome::Skipped { .. } => None,
        }
    }
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseReport {
    pub release_id: String,
    pub state: ReleaseState,
    pub steps: Vec<StepStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_url: Option<String>,
}

/// Where a step stands.
enum Progress<T> {
    Done(T),
    Pending(String),
    Failed(String),
}

pub async fn handle<T: Ports>(
    deps: &Deps<T>,
    event: LambdaEvent<Value>,
) -> Result<Outcome, HandlerError> {
    let trigger = PublishTrigger::parse(&event.payload)?;
    let (releases, single, discovered) = match trigger {
        PublishTrigger::Schedule => {
            let mut pending = pending_releases(&deps.store).await?;
            // Discovery's trouble (throttling, a pipeline gone) must not stop the tick. What it
            // registers is looked at in this same tick.
            let known: std::collections::HashSet<ReleaseId> = pending.iter().cloned().collect();
            let discovered = match deps.discover(&known).await {
                Ok(found) => {
                    let n = found.len();
                    pending.extend(found);
                    Some(n)
                }
                Err(err) => {
                    error!(error = %err, "discovery failed this tick");
                    None
                }
            };
            // Nor must the catalog's expiry: the next tick tries again, a day before S3 may act.
            if let Err(err) = deps.expire_catalog().await {
                error!(error = %err, "expiring catalog entries failed this tick");
            }
            // Nor must a revocation: it is recorded, and the next tick goes on from where it is.
            if let Err(err) = deps.drive_revocations().await {
                error!(error = %err, "driving the revocations failed this tick");
            }
            // Nor must retention: its next run goes on from where this one stopped.
            if let Err(err) = deps.run_retention().await {
                error!(error = %err, "the retention run failed this tick");
            }
            // Nor must a channel's mirror: its marker stays, and the next tick tries again.
            if let Err(err) = deps.mirror_channels().await {
                error!(error = %err, "mirroring the channels failed this tick");
            }
            (pending, false, discovered)
        }
        PublishTrigger::ObjectCreated { key, release, .. } => {
            let is_disk = [
                DiskImageFormat::Vmdk,
                DiskImageFormat::Raw,
                DiskImageFormat::Vhd,
            ]
            .iter()
            .any(|f| key.ends_with(&format!(".{}", f.extension())));
            if !is_disk {
                // What publish-release writes itself (SHA256SUMS, the manifest): never a reason
                // to run, and never a loop. The rule matches disks only; a hand-made event may not.
                info!(key, "skipped: not an exported disk");
                return Ok(Outcome::Skipped {
                    reason: format!("{key} is not an exported disk"),
                });
            }
            let marker: Option<PendingMarker> = deps
                .store
                .get_json(&keys::pending(&release))
                .await
                .map_err(|e| HandlerError::from_service("reading the pending marker", e))?;
            if marker.is_none() {
                info!(key, release = %release, "skipped: release is not pending");
                return Ok(Outcome::Skipped {
                    reason: format!("release {release} is not pending"),
                });
            }
            (vec![release], true, None)
        }
    };

    // Bounded concurrency; one release's error never holds up the others.
    let mut results: Vec<(usize, ReleaseId, Result<ReleaseReport, HandlerError>)> =
        futures::stream::iter(releases.into_iter().enumerate())
            .map(|(i, release)| async move {
                let result = deps.reconcile(&release, !single).await;
                (i, release, result)
            })
            .buffer_unordered(deps.config.concurrency)
            .collect()
            .await;
    results.sort_by_key(|(i, _, _)| *i);
    let mut reports = Vec::with_capacity(results.len());
    for (_, release, result) in results {
        match result {
            Ok(report) => reports.push(report),
            Err(err) if single => return Err(err),
            Err(err) => {
                // The next tick retries it.
                error!(release = %release, error = %err, error_type = %err.error_type(), "could not advance release");
                reports.push(ReleaseReport {
                    release_id: release.to_string(),
                    state: ReleaseState::Pending,
                    steps: vec![step(Step::Publish, StepState::Pending, err.to_string())],
                    manifest_url: None,
                });
            }
        }
    }
    // Last: whatever this invocation (or an operator) changed in the catalog is signed, and a
    // seal about to expire renewed. A failure is left to the next invocation.
    if let Err(err) = deps.seal_catalog().await {
        error!(error = %err, "signing the catalog failed; the next invocation signs it");
    }
    Ok(Outcome::Reconciled {
        releases: reports,
        discovered,
    })
}

/// Every release on the pending list (all pages of ListObjectsV2).
async fn pending_releases<S: ArtifactStore>(store: &S) -> Result<Vec<ReleaseId>, HandlerError> {
    let keys = store
        .list_keys(keys::PENDING_PREFIX)
        .await
        .map_err(|e| HandlerError::from_service("listing pending releases", e))?;
    Ok(keys
        .iter()
        .filter_map(|key| {
            let id = key
                .strip_prefix(keys::PENDING_PREFIX)?
                .strip_suffix(".json")?;
            ReleaseId::parse("key", id)
                .inspect_err(|e| warn!(key, error = %e, "ignoring a malformed pending marker"))
                .ok()
        })
        .collect())
}

fn store_err(what: &str) -> impl Fn(ServiceError) -> HandlerError + '_ {
    move |e| HandlerError::from_service(what.to_owned(), e)
}

impl<T: Ports> Deps<T> {
    /// Proves releases from Image Builder's answers: builds of `PIPELINE_ARNS`, distributed
    /// with `DISTRIBUTION_CONFIGURATION_ARN` ([`shared::provenance`]).
    pub(crate) fn provenance(
        &self,
    ) -> shared::provenance::ImageBuilderProvenance<'_, T::Pipelines, T::Store> {
        shared::provenance::ImageBuilderProvenance {
            pipelines: &self.pipelines,
            store: &self.store,
            configured: &self.config.distribute.pipelines,
            distribution: &self.config.distribute.distribution,
        }
    }

    /// The channels' parameters: under `CHANNEL_PARAMETER_PREFIX`, owned by `ARTIFACT_BUCKET`'s
    /// stack ([`shared::channels::OWNER_TAG`]).
    pub(crate) fn parameter_space(&self) -> shared::channels::ParameterSpace<'_> {
        shared::channels::ParameterSpace::new(
            &self.config.parameter_prefix,
            self.config.bucket.as_str(),
        )
    }
}

impl<T: Ports> Deps<T> {
    /// One release: drive the steps that are due, then follow and publish. Every log line
    /// inside carries the release id (its span). An error while observing it goes to
    /// [`Deps::observation_failed`] on the schedule (`scheduled`); an S3 event's invocation
    /// reports the release pending and leaves the books to the schedule.
    #[tracing::instrument(skip_all, fields(release = %release))]
    async fn reconcile(
        &self,
        release: &ReleaseId,
        scheduled: bool,
    ) -> Result<ReleaseReport, HandlerError> {
        match self.observe(release).await {
            Ok(report) => Ok(report),
            Err(err) if scheduled => self.observation_failed(release, err).await,
            Err(err) => {
                warn!(error = %err, "could not observe the release on its S3 event; the schedule follows it");
                Ok(ReleaseReport {
                    release_id: release.to_string(),
                    state: ReleaseState::Pending,
                    steps: vec![step(Step::Publish, StepState::Pending, err.to_string())],
                    manifest_url: None,
                })
            }
        }
    }

    /// Reads where the release stands and moves it on.
    async fn observe(&self, release: &ReleaseId) -> Result<ReleaseReport, HandlerError> {
        // One listing tells what is recorded: a failure, and which steps have started.
        let records = self
            .store
            .list_keys(&keys::records(release))
            .await
            .map_err(store_err("listing release records"))?;
        let (_, failures) = shared::steps::current_failures(&self.store, release, &records)
            .await
            .map_err(store_err("reading a failure record"))?;
        if failures.is_empty() {
            match self.drive(release, &records).await? {
                reconcile::Driven::Waiting(waiting) => {
                    return self.pending(release, vec![waiting]).await;
                }
                reconcile::Driven::Forged(why) => {
                    return self.refuse(release, Vec::new(), why, true).await;
                }
                reconcile::Driven::Started => {}
            }
        }
        self.advance(release).await
    }

    /// Reports the release as pending, unless it has outlived `DEADLINE_RELEASE`.
    async fn pending(
        &self,
        release: &ReleaseId,
        steps: Vec<StepStatus>,
    ) -> Result<ReleaseReport, HandlerError> {
        let marker: Option<PendingMarker> = self
            .store
            .get_json(&keys::pending(release))
            .await
            .map_err(store_err("reading the pending marker"))?;
        let waiting_on = steps
            .iter()
            .find(|s| s.state == StepState::Pending)
            .map(|s| format!("{} ({})", s.step.as_str(), s.detail))
            .unwrap_or_else(|| "the steps above".to_owned());
        if let Some(reason) = marker.as_ref().and_then(|m| {
            self.timed_out(Step::Publish, &m.since, &format!("waiting on {waiting_on}"))
        }) {
            return self.timed_out_release(release, steps, reason).await;
        }
        self.finish(release, ReleaseState::Pending, steps, None, None)
            .await
    }

    /// Ends `release` as failed: it outlived `DEADLINE_RELEASE` (`reason`), after `steps`.
    async fn timed_out_release(
        &self,
        release: &ReleaseId,
        mut steps: Vec<StepStatus>,
        reason: String,
    ) -> Result<ReleaseReport, HandlerError> {
        shared::steps::record_failure(
            &self.store,
            self.clock.as_ref(),
            release,
            Step::Publish,
            &reason,
        )
        .await?;
        let failure = decide::failure(release, Step::Publish, reason.clone(), self.clock.now());
        steps.push(step(Step::Publish, StepState::Failed, reason));
        self.finish(release, ReleaseState::Failed, steps, Some(failure), None)
            .await
    }

    /// Looks at one release and moves it as far as it can go: gathers what the records and
    /// AWS say ([`decide::Observed`]), judges it ([`decide::decide`]), and acts on the decision.
    pub(crate) async fn advance(&self, release: &ReleaseId) -> Result<ReleaseReport, HandlerError> {
        let config = &self.config;
        let keys_now = self
            .store
            .list_keys(&keys::records(release))
            .await
            .map_err(store_err("listing release records"))?;
        // Only the current retry generation's failures count: an operator's retry supersedes
        // the ones before it (they stay on record) and restarts the deadlines it re-drives.
        let (generation, failures) =
            shared::steps::current_failures(&self.store, release, &keys_now)
                .await
                .map_err(store_err("reading a failure record"))?;
        let retried_at = if generation > 0 {
            self.store
                .get_json::<RetryRecord>(&keys::retry(release))
                .await
                .map_err(store_err("reading the retry record"))?
                .and_then(|r| r.latest().map(str::to_owned))
        } else {
            None
        };
        let retried_at = retried_at.as_deref();
        let distribution: Option<DistributionRecord> = self
            .store
            .get_json(&keys::distribution(release))
            .await
            .map_err(store_err("reading the distribution record"))?;
        let (export_records, export_hashed_at, export) = if config.required.export {
            let exports = self.check_export(release, &keys_now, generation).await?;
            // The step's deadline counts from its first export task (or the latest retry).
            let since = exports.records.iter().map(|r| r.requested_at.clone()).min();
            let since = decide::restarted(since, retried_at);
            let progress = exports.progress;
            let observed = decide::StepObservation { since, progress };
            (exports.records, exports.hashed_at, Some(observed))
        } else {
            (Vec::new(), None, None)
        };
        let (appstream_record, appstream) = if config.required.appstream {
            let (record, progress) = self.check_appstream(release).await?;
            let since = record.as_ref().map(|r| r.requested_at.clone());
            let since = decide::restarted(since, retried_at);
            (record, Some(decide::StepObservation { since, progress }))
        } else {
            (None, None)
        };
        let observed = decide::Observed {
            failures,
            distribution_requested_at: distribution.as_ref().map(|d| d.requested_at.clone()),
            export,
            appstream,
        };
        match decide::decide(release, observed, &config.deadlines, self.clock.now()) {
            decide::Decision::Failed { steps, failure } => {
                self.finish(release, ReleaseState::Failed, steps, Some(failure), None)
                    .await
            }
            decide::Decision::Pending { steps } => self.pending(release, steps).await,
            decide::Decision::Publish {
                steps,
                export,
                appstream,
            } => {
                let parts = publish::Parts {
                    distribution,
                    export_records,
                    export_hashed_at,
                    export_done: export,
                    appstream_record,
                    appstream_done: appstream,
                };
                self.publish(release, parts, steps).await
            }
        }
    }
}

#[cfg(test)]
mod tests;
