//! publish-release: nothing emits an event when an export task or an AppStream copy finishes, so
//! this function, woken by a rate schedule and by S3 `Object Created` events of exported disks,
//! advances every pending release: it follows the export task (DescribeExportImageTasks), issues
//! the AppStream copies still waiting for their source, applies the source image's tags to each
//! finished copy, and when every step is done writes `releases/<id>/manifest.json` (once: a
//! conditional write) and invalidates it in CloudFront. A failed step is recorded in
//! `status.json` with its reason and the release leaves the pending list.

use futures::future::join_all;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use shared::config::{Env, RequiredSteps};
use shared::domain::{BucketName, RegionName, ReleaseId};
use shared::events::PublishTrigger;
use shared::ports::{AppStreamImage, AppStreamImages, ArtifactStore, Cdn, ImageExports};
use shared::release::{
    self, AppStreamDestination, AppStreamRecord, CopyState, DistributionRecord, ExportRecord,
    FailureRecord, Manifest, ManifestAppStreamImage, ManifestExport, ManifestTimestamps,
    PendingMarker, ReleaseState, SCHEMA_VERSION, StatusRecord, Step, StepStatus, keys,
};
use shared::retry::{RetryPolicy, with_backoff};
use shared::steps::appstream_copy::ensure_copy;
use shared::{ConfigError, HandlerError, ServiceError, ValidationError, token};
use tracing::{error, info, warn};

#[derive(Debug, Clone)]
pub struct Config {
    /// `AWS_REGION` (set by Lambda): the home region.
    pub region: RegionName,
    /// `ARTIFACT_BUCKET`
    pub bucket: BucketName,
    /// `CDN_DISTRIBUTION_ID`: the CloudFront distribution in front of the bucket.
    pub distribution_id: String,
    /// `CDN_DOMAIN`: the host name users download from (the distribution's domain or an alias).
    pub cdn_domain: String,
    /// `APPSTREAM_DESTINATION_REGIONS`: the regions copies are followed in.
    pub destinations: Vec<RegionName>,
    /// `REQUIRED_STEPS`: which steps a release needs before it is published (default `export,appstream`).
    pub export_required: bool,
    pub appstream_required: bool,
}

impl Config {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(get);
        let steps = RequiredSteps::from_env(&env)?;
        let distribution_id = env.required("CDN_DISTRIBUTION_ID", |field, v| {
            if v.len() <= 128
                && v.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                Ok(v.to_owned())
            } else {
                Err(ValidationError::new(
                    field,
                    "must be a CloudFront distribution id (uppercase letters and digits)",
                    v,
                ))
            }
        })?;
        let cdn_domain = env.required("CDN_DOMAIN", |field, v| {
            let ok = !v.is_empty()
                && v.len() <= 253
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
            if ok {
                Ok(v.to_owned())
            } else {
                Err(ValidationError::new(
                    field,
                    "must be a host name such as d111111abcdef8.cloudfront.net",
                    v,
                ))
            }
        })?;
        let destinations =
            env.list("APPSTREAM_DESTINATION_REGIONS", RegionName::parse_appstream)?;
        if steps.appstream && destinations.is_empty() {
            return Err(ConfigError::Missing("APPSTREAM_DESTINATION_REGIONS"));
        }
        Ok(Self {
            region: env.required("AWS_REGION", RegionName::parse)?,
            bucket: env.required("ARTIFACT_BUCKET", BucketName::parse)?,
            distribution_id,
            cdn_domain,
            destinations,
            export_required: steps.export,
            appstream_required: steps.appstream,
        })
    }
}

pub struct Deps<E, A, S, C> {
    pub config: Config,
    pub exports: E,
    pub appstream: A,
    pub store: S,
    pub cdn: C,
    pub retry: RetryPolicy,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub releases: Vec<ReleaseReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
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

pub async fn handle<E: ImageExports, A: AppStreamImages, S: ArtifactStore, C: Cdn>(
    deps: &Deps<E, A, S, C>,
    event: LambdaEvent<Value>,
) -> Result<Outcome, HandlerError> {
    let trigger = PublishTrigger::parse(&event.payload)?;
    let (releases, single) = match trigger {
        PublishTrigger::Schedule => (pending_releases(deps).await?, false),
        PublishTrigger::ObjectCreated { key, release, .. } => {
            if key.ends_with(".json") {
                // Our own records: never a reason to run (and never a loop).
                info!(key, "skipped: a release record, not an exported artifact");
                return Ok(Outcome {
                    releases: Vec::new(),
                    skipped: Some(format!("{key} is a release record")),
                });
            }
            let marker: Option<PendingMarker> = deps
                .store
                .get_json(&keys::pending(&release))
                .await
                .map_err(|e| HandlerError::from_service("reading the pending marker", e))?;
            if marker.is_none() {
                info!(key, release = %release, "skipped: release is not pending");
                return Ok(Outcome {
                    releases: Vec::new(),
                    skipped: Some(format!("release {release} is not pending")),
                });
            }
            (vec![release], true)
        }
    };

    let mut reports = Vec::with_capacity(releases.len());
    for release in releases {
        match advance(deps, &release).await {
            Ok(report) => reports.push(report),
            Err(err) if single => return Err(err),
            Err(err) => {
                // One release's trouble must not hold up the others; the next tick retries it.
                error!(release = %release, error = %err, error_type = %err.error_type(), "could not advance release");
                reports.push(ReleaseReport {
                    release_id: release.to_string(),
                    state: ReleaseState::Pending,
                    steps: vec![StepStatus {
                        step: Step::Publish,
                        state: "pending".into(),
                        detail: err.to_string(),
                    }],
                    manifest_url: None,
                });
            }
        }
    }
    Ok(Outcome {
        releases: reports,
        skipped: None,
    })
}

async fn pending_releases<E, A, S: ArtifactStore, C>(
    deps: &Deps<E, A, S, C>,
) -> Result<Vec<ReleaseId>, HandlerError> {
    let keys = deps
        .store
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

/// Looks at one release and moves it as far as it can go.
async fn advance<E: ImageExports, A: AppStreamImages, S: ArtifactStore, C: Cdn>(
    deps: &Deps<E, A, S, C>,
    release: &ReleaseId,
) -> Result<ReleaseReport, HandlerError> {
    let config = &deps.config;
    let keys_now = deps
        .store
        .list_keys(&release.prefix())
        .await
        .map_err(store_err("listing release records"))?;
    let manifest_key = keys::manifest(release);
    let mut steps = Vec::new();

    // A failure recorded by any step ends the release.
    let mut failures = Vec::new();
    for key in keys_now.iter().filter(|k| {
        k.rsplit('/')
            .next()
            .is_some_and(|f| f.starts_with("failure-"))
    }) {
        if let Some(record) = deps
            .store
            .get_json::<FailureRecord>(key)
            .await
            .map_err(store_err("reading a failure record"))?
        {
            failures.push(record);
        }
    }

    let distribution: Option<DistributionRecord> = deps
        .store
        .get_json(&keys::distribution(release))
        .await
        .map_err(store_err("reading the distribution record"))?;
    steps.push(match &distribution {
        Some(d) => step(
            Step::Distribution,
            "done",
            format!("DistributeImage requested at {}", d.requested_at),
        ),
        None => step(
            Step::Distribution,
            "pending",
            "waiting for distribute-image".into(),
        ),
    });

    let export = if config.export_required {
        Some(check_export(deps, release).await?)
    } else {
        None
    };
    let (export_record, export_done) = match export {
        Some((record, Progress::Done(done))) => {
            steps.push(step(
                Step::Export,
                "done",
                format!("{} bytes at {}", done.size_bytes, done.object_key),
            ));
            (record, Some(done))
        }
        Some((record, Progress::Pending(why))) => {
            steps.push(step(Step::Export, "pending", why));
            (record, None)
        }
        Some((record, Progress::Failed(why))) => {
            steps.push(step(Step::Export, "failed", why.clone()));
            failures.push(failure(release, Step::Export, why));
            (record, None)
        }
        None => (None, None),
    };

    let appstream = if config.appstream_required {
        Some(check_appstream(deps, release).await?)
    } else {
        None
    };
    let (appstream_record, appstream_done) = match appstream {
        Some((record, Progress::Done(images))) => {
            steps.push(step(
                Step::Appstream,
                "done",
                format!("{} regions available and tagged", images.len()),
            ));
            (record, Some(images))
        }
        Some((record, Progress::Pending(why))) => {
            steps.push(step(Step::Appstream, "pending", why));
            (record, None)
        }
        Some((record, Progress::Failed(why))) => {
            steps.push(step(Step::Appstream, "failed", why.clone()));
            failures.push(failure(release, Step::Appstream, why));
            (record, None)
        }
        None => (None, Some(Vec::new())),
    };

    if let Some(first) = failures.first().cloned() {
        error!(release = %release, step = first.step.as_str(), reason = %first.reason, "release failed");
        steps.push(step(
            Step::Publish,
            "failed",
            format!("{} step failed", first.step.as_str()),
        ));
        return finish(
            deps,
            release,
            ReleaseState::Failed,
            steps,
            Some(first),
            None,
        )
        .await;
    }

    let export_ready = !config.export_required || export_done.is_some();
    let ready = distribution.is_some() && export_ready && appstream_done.is_some();
    let already_published = keys_now.contains(&manifest_key);
    if !ready && !already_published {
        steps.push(step(
            Step::Publish,
            "pending",
            "waiting for the steps above".into(),
        ));
        return finish(deps, release, ReleaseState::Pending, steps, None, None).await;
    }

    // Every step is done: the manifest, written once (the first publisher wins).
    if let (Some(distribution), false) = (distribution, already_published) {
        let manifest = Manifest {
            schema_version: SCHEMA_VERSION,
            release_id: release.clone(),
            source_image_arn: distribution.source_image_arn.clone(),
            distributed_image_arn: export_record
                .as_ref()
                .map(|r| r.distributed_image_arn.clone())
                .or(distribution.distributed_image_arn.clone())
                .unwrap_or_default(),
            amis: export_record
                .as_ref()
                .map(|r| r.amis.clone())
                .unwrap_or_default(),
            export: export_done,
            appstream: appstream_done.unwrap_or_default(),
            timestamps: ManifestTimestamps {
                distribution_requested_at: distribution.requested_at,
                export_requested_at: export_record.map(|r| r.requested_at),
                appstream_requested_at: appstream_record.map(|r| r.requested_at),
                published_at: release::now(),
            },
        };
        let outcome = deps
            .store
            .put_json_if_absent(&manifest_key, &manifest)
            .await
            .map_err(store_err("writing the manifest"))?;
        info!(release = %release, key = %manifest_key, outcome = ?outcome, "manifest written");
    }

    // The invalidation: the same caller reference for the same release, so a repeat is a no-op.
    let path = format!("/{manifest_key}");
    let reference = token::derive("publish-release", &[release.as_str()]);
    let invalidation = with_backoff(deps.retry, || {
        deps.cdn
            .create_invalidation(std::slice::from_ref(&path), &reference)
    })
    .await
    .map_err(|e| HandlerError::from_service(format!("invalidating {path}"), e))?;
    let url = format!("https://{}/{manifest_key}", config.cdn_domain);
    steps.push(step(
        Step::Publish,
        "done",
        format!("manifest at {url}, invalidation {invalidation}"),
    ));
    info!(release = %release, url = %url, invalidation = %invalidation, "release published");
    finish(
        deps,
        release,
        ReleaseState::Published,
        steps,
        None,
        Some(url),
    )
    .await
}

fn step(step: Step, state: &str, detail: String) -> StepStatus {
    StepStatus {
        step,
        state: state.to_owned(),
        detail,
    }
}

fn failure(release: &ReleaseId, step: Step, reason: String) -> FailureRecord {
    FailureRecord {
        schema_version: SCHEMA_VERSION,
        release_id: release.clone(),
        step,
        reason,
        at: release::now(),
    }
}

/// Writes `status.json`; a final state also takes the release off the pending list.
async fn finish<E, A, S: ArtifactStore, C>(
    deps: &Deps<E, A, S, C>,
    release: &ReleaseId,
    state: ReleaseState,
    steps: Vec<StepStatus>,
    failure: Option<FailureRecord>,
    manifest_url: Option<String>,
) -> Result<ReleaseReport, HandlerError> {
    let status = StatusRecord {
        schema_version: SCHEMA_VERSION,
        release_id: release.clone(),
        state,
        steps: steps.clone(),
        failure,
        updated_at: release::now(),
    };
    deps.store
        .put_json(&keys::status(release), &status)
        .await
        .map_err(store_err("writing the status record"))?;
    if state != ReleaseState::Pending {
        deps.store
            .delete(&keys::pending(release))
            .await
            .map_err(store_err("clearing the pending marker"))?;
    }
    Ok(ReleaseReport {
        release_id: release.to_string(),
        state,
        steps,
        manifest_url,
    })
}

async fn check_export<E: ImageExports, A, S: ArtifactStore, C>(
    deps: &Deps<E, A, S, C>,
    release: &ReleaseId,
) -> Result<(Option<ExportRecord>, Progress<ManifestExport>), HandlerError> {
    let Some(record) = deps
        .store
        .get_json::<ExportRecord>(&keys::export(release))
        .await
        .map_err(store_err("reading the export record"))?
    else {
        return Ok((None, Progress::Pending("waiting for export-image".into())));
    };
    let id = record.export_task_id.clone();
    let task = with_backoff(deps.retry, || deps.exports.describe_export_task(&id))
        .await
        .map_err(|e| HandlerError::from_service(format!("describing export task {id}"), e))?;
    let progress = match task {
        None => Progress::Failed(format!("export task {id} no longer exists")),
        Some(task) => match task.status.as_str() {
            "completed" => {
                let key = record.object_key();
                match deps
                    .store
                    .object_size(&key)
                    .await
                    .map_err(store_err("reading the exported object"))?
                {
                    Some(size) => Progress::Done(ManifestExport {
                        url: format!("https://{}/{key}", deps.config.cdn_domain),
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
            "deleting" | "deleted" => Progress::Failed(format!(
                "export task {id} is {}: {}",
                task.status,
                task.status_message
                    .as_deref()
                    .unwrap_or("no status message")
            )),
            status => Progress::Pending(format!(
                "export task {id} {status}, {}% {}",
                task.progress.as_deref().unwrap_or("0"),
                task.status_message.as_deref().unwrap_or("")
            )),
        },
    };
    Ok((Some(record), progress))
}

async fn check_appstream<E, A: AppStreamImages, S: ArtifactStore, C>(
    deps: &Deps<E, A, S, C>,
    release: &ReleaseId,
) -> Result<
    (
        Option<AppStreamRecord>,
        Progress<Vec<ManifestAppStreamImage>>,
    ),
    HandlerError,
> {
    let Some(record) = deps
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
    let source = with_backoff(deps.retry, || {
        deps.appstream
            .describe_image(&source_region, &record.source_image_name)
    })
    .await
    .map_err(|e| HandlerError::from_service("describing the source AppStream image", e))?;
    let checks = record
        .destinations
        .iter()
        .map(|d| check_destination(deps, &record, &source_region, source.as_ref(), d));
    let mut done = Vec::new();
    let mut pending = Vec::new();
    let mut failed = Vec::new();
    for result in join_all(checks).await {
        match result.map_err(|e| {
            HandlerError::from_service(format!("following the AppStream copies of {release}"), e)
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

async fn check_destination<E, A: AppStreamImages, S, C>(
    deps: &Deps<E, A, S, C>,
    record: &AppStreamRecord,
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
    if state == CopyState::WaitingForSource {
        state = match source {
            None => CopyState::Failed {
                reason: format!("source image {} is gone", record.source_image_name),
            },
            Some(s) if s.state == "FAILED" => CopyState::Failed {
                reason: format!(
                    "source image {} FAILED: {}",
                    s.name,
                    s.state_reason.as_deref().unwrap_or("no reason given")
                ),
            },
            Some(s) if s.state == "AVAILABLE" => {
                let description = record
                    .description
                    .as_deref()
                    .map(|d| shared::domain::ImageDescription::parse("description", d))
                    .transpose();
                let description = description.unwrap_or(None);
                ensure_copy(
                    &deps.appstream,
                    deps.retry,
                    &record.source_image_name,
                    &region,
                    name,
                    description.as_ref(),
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
        CopyState::Requested => {
            let Some(image) =
                with_backoff(deps.retry, || deps.appstream.describe_image(&region, name)).await?
            else {
                return Ok(Progress::Pending(format!("{region}: copy not visible yet")));
            };
            match image.state.as_str() {
                "AVAILABLE" => {
                    let Some(arn) = image.arn.clone() else {
                        return Ok(Progress::Pending(format!("{region}: copy has no ARN yet")));
                    };
                    copy_tags(deps, source_region, source, &region, &arn).await?;
                    Ok(Progress::Done(ManifestAppStreamImage {
                        region: region.to_string(),
                        image_name: name.to_string(),
                        arn,
                    }))
                }
                "FAILED" => Ok(Progress::Failed(format!(
                    "{region}: copy FAILED: {}",
                    image.state_reason.as_deref().unwrap_or("no reason given")
                ))),
                other => Ok(Progress::Pending(format!("{region}: {other}"))),
            }
        }
    }
}

/// AWS does not copy tags with CopyImage: apply the source's tags that the copy lacks.
async fn copy_tags<E, A: AppStreamImages, S, C>(
    deps: &Deps<E, A, S, C>,
    source_region: &RegionName,
    source: Option<&AppStreamImage>,
    region: &RegionName,
    arn: &str,
) -> Result<(), ServiceError> {
    let Some(source_arn) = source.and_then(|s| s.arn.as_deref()) else {
        return Ok(());
    };
    let wanted = with_backoff(deps.retry, || {
        deps.appstream.list_tags(source_region, source_arn)
    })
    .await?;
    if wanted.is_empty() {
        return Ok(());
    }
    let present = with_backoff(deps.retry, || deps.appstream.list_tags(region, arn)).await?;
    let missing: std::collections::BTreeMap<String, String> = wanted
        .into_iter()
        .filter(|(k, v)| present.get(k) != Some(v))
        .collect();
    if !missing.is_empty() {
        with_backoff(deps.retry, || {
            deps.appstream.tag_resource(region, arn, &missing)
        })
        .await?;
        info!(region = %region, arn, tags = missing.len(), "source tags applied to the copy");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
