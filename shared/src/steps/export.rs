//! The export step: when an image that our DistributeImage created becomes AVAILABLE, export the
//! AMI of the home region to S3 with EC2 ExportImage (VMDK, RAW or VHD) under the release's
//! prefix, and record the export task (export-image's event path, and the reconciler when that
//! event never came). publish-release follows the task to completion.

use crate::clock::Clock;
use crate::config::{Env, RequiredSteps};
use crate::domain::{AmiId, BucketName, ClientToken, DiskImageFormat, RegionName, RoleName};
use crate::events::ImageStateChange;
use crate::ports::{
    AmiCatalog, ArtifactStore, ExportImage, ExportStarted, ImageExports, ImagePipelines,
};
use crate::release::{self, AmiRecord, ExportRecord, SCHEMA_VERSION, Step, TAG_RELEASE_ID, keys};
use crate::retry::{RetryPolicy, with_backoff};
use crate::{ConfigError, HandlerError, token};
use serde::Serialize;
use std::collections::BTreeMap;
use tracing::info;

#[derive(Debug, Clone)]
pub struct Config {
    /// `REQUIRED_STEPS`: when it does not list `export`, this function skips every event.
    pub required: bool,
    /// `AWS_REGION` (set by Lambda): the home region whose AMI is exported.
    pub region: RegionName,
    /// `ARTIFACT_BUCKET`: receives the exported disk and the release records.
    pub bucket: BucketName,
    /// `EXPORT_FORMATS`: one export task per format, comma-separated, each VMDK | RAW | VHD
    /// at most once (default `VMDK`).
    pub formats: Vec<DiskImageFormat>,
    /// `EXPORT_ROLE_NAME`: the service role EC2 uses to write to S3 (default `vmimport`).
    pub role_name: RoleName,
    /// `EXPORT_DRY_RUN`: only check permissions (EC2 DryRun), export nothing.
    pub dry_run: bool,
    /// `PIPELINE_ARNS`, `DISTRIBUTION_CONFIGURATION_ARN`: what an image must be built and
    /// distributed with before anything is exported in a release's name.
    pub configured: crate::provenance::Configured,
}

impl Config {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(get);
        Ok(Self {
            required: RequiredSteps::from_env(&env)?.export,
            region: env.required("AWS_REGION", RegionName::parse)?,
            bucket: env.required("ARTIFACT_BUCKET", BucketName::parse)?,
            formats: formats(&env)?,
            role_name: env.or_default("EXPORT_ROLE_NAME", "vmimport", RoleName::parse)?,
            dry_run: env.flag("EXPORT_DRY_RUN", false)?,
            configured: crate::provenance::Configured::from_env(&env)?,
        })
    }
}

fn formats<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<Vec<DiskImageFormat>, ConfigError> {
    const VAR: &str = "EXPORT_FORMATS";
    // The name is spelt out in the call: the template test finds the variables a function reads
    // by scanning for `env.<reader>("NAME"`.
    let formats = env.list("EXPORT_FORMATS", DiskImageFormat::parse)?;
    if formats.is_empty() {
        return Ok(vec![DiskImageFormat::Vmdk]);
    }
    for (i, format) in formats.iter().enumerate() {
        if formats[..i].contains(format) {
            return Err(ConfigError::Invalid {
                var: VAR,
                source: crate::ValidationError::new(
                    VAR,
                    "must name each format (VMDK, RAW, VHD) at most once",
                    &env.raw(VAR).unwrap_or_default(),
                ),
            });
        }
    }
    Ok(formats)
}

/// What the step needs, borrowed: from export-image's `Deps`, or from the reconciler's.
pub struct Deps<'a, P, E, S> {
    pub config: &'a Config,
    /// The time every record of the step is stamped with.
    pub clock: &'a dyn Clock,
    pub pipelines: &'a P,
    pub exports: &'a E,
    pub store: &'a S,
    pub retry: RetryPolicy,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "action"
)]
pub enum Outcome {
    /// The export task of the first format of `EXPORT_FORMATS`, and those of the others.
    ExportStarted {
        release_id: String,
        ami_id: String,
        export_task_id: String,
        object_key: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        other_formats: Vec<StartedExport>,
    },
    DryRunSucceeded {
        release_id: String,
        ami_id: String,
    },
    /// The export cannot happen (the AMI cannot be exported, a permission is missing…): the
    /// failure is recorded and the release ends failed. Not a function error.
    RecordedFailure {
        release_id: String,
        step: Step,
        reason: String,
    },
    /// A quota is exhausted (concurrent export tasks): publish-release re-drives the export.
    Deferred {
        release_id: String,
        reason: String,
    },
    Skipped {
        reason: String,
    },
}

super::outcome_from_ended!(Outcome);

/// One export task started.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StartedExport {
    pub format: DiskImageFormat,
    pub export_task_id: String,
    pub object_key: String,
}

/// Acts on one image state change (a real event, or one the reconciler read with GetImage).
pub async fn on_image<P: ImagePipelines, E: ImageExports + AmiCatalog, S: ArtifactStore>(
    deps: &Deps<'_, P, E, S>,
    change: &ImageStateChange,
) -> Result<Outcome, HandlerError> {
    let image = change.image.as_str();
    let (release, info) = match super::distributed_release_of(
        "export",
        deps.config.required,
        deps.pipelines,
        deps.store,
        deps.retry,
        change,
        &deps.config.configured,
    )
    .await?
    {
        Ok(found) => found,
        Err(reason) => return Ok(Outcome::Skipped { reason }),
    };
    match export_release(deps, &release, image, &info).await {
        Ok(outcome) => Ok(outcome),
        Err(err) => super::end_step(deps.store, deps.clock, &release, Step::Export, err)
            .await
            .map(Outcome::from),
    }
}

/// The export of a release whose distributed image is `image`; any error stops the step.
async fn export_release<P: ImagePipelines, E: ImageExports + AmiCatalog, S: ArtifactStore>(
    deps: &Deps<'_, P, E, S>,
    release: &crate::domain::ReleaseId,
    image: &str,
    info: &crate::ports::ImageInfo,
) -> Result<Outcome, HandlerError> {
    let release = release.clone();
    // The AMI of the home region.
    let region = deps.config.region.as_str();
    let Some(home_ami) = info.amis.iter().find(|a| a.region == region) else {
        return Err(HandlerError::Failed(format!(
            "the distributed image {image} has no AMI in the home region {region}"
        )));
    };
    let ami = AmiId::parse("outputResources.amis[].image", &home_ami.image)?;

    // VM Export's documented limits, checked before a call that would fail after hours: no
    // encrypted snapshots, no AWS-provided third-party software, nothing from the Marketplace.
    let facts = with_backoff(deps.retry, || deps.exports.describe_ami(&ami))
        .await
        .map_err(|e| HandlerError::from_service(format!("describing AMI {ami}"), e))?;
    let blockers = match facts {
        None => vec![format!(
            "AMI {ami} of release {release} does not exist in {region}"
        )],
        Some(facts) => facts.export_blockers(&ami, region),
    };
    if !blockers.is_empty() {
        return Err(HandlerError::Failed(blockers.join("; ")));
    }

    // A release retried before its first export (rare: the export's event came late) stamps
    // the generation it was started in.
    let generation = super::generation(deps.store, &release)
        .await
        .map_err(|e| HandlerError::from_service("reading the retry record", e))?;
    let mut started = Vec::new();
    for &format in &deps.config.formats {
        let attempt = Attempt {
            number: 0,
            generation,
        };
        match export_one(deps, &release, image, &ami, &info.amis, format, attempt).await? {
            Some(one) => started.push(one),
            None => {
                info!(release = %release, ami = %ami, "ExportImage dry run succeeded; nothing exported");
                return Ok(Outcome::DryRunSucceeded {
                    release_id: release.to_string(),
                    ami_id: ami.to_string(),
                });
            }
        }
    }
    let mut started = started.into_iter();
    let Some(first) = started.next() else {
        return Ok(Outcome::Skipped {
            reason: "EXPORT_FORMATS lists no format".into(),
        });
    };
    Ok(Outcome::ExportStarted {
        release_id: release.to_string(),
        ami_id: ami.to_string(),
        export_task_id: first.export_task_id,
        object_key: first.object_key,
        other_formats: started.collect(),
    })
}

/// Which export of a format, in which retry generation (see [`ExportRecord::attempt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub number: u32,
    pub generation: u32,
}

/// Starts the next export of `previous`'s format after its task failed, for an operator's
/// retry in `generation`: a new task (its client token carries the attempt number, so EC2
/// does not answer with the failed one) and its own record (`export-<format>.<n>.json`).
/// `None` for a successful dry run.
pub async fn restart<P: ImagePipelines, E: ImageExports + AmiCatalog, S: ArtifactStore>(
    deps: &Deps<'_, P, E, S>,
    previous: &ExportRecord,
    generation: u32,
) -> Result<Option<StartedExport>, HandlerError> {
    let amis: Vec<crate::ports::OutputAmi> = previous
        .amis
        .iter()
        .map(|a| crate::ports::OutputAmi {
            region: a.region.clone(),
            image: a.ami_id.clone(),
            account_id: a.account_id.clone(),
            name: a.name.clone(),
        })
        .collect();
    let attempt = Attempt {
        number: previous.attempt.saturating_add(1),
        generation,
    };
    export_one(
        deps,
        &previous.release_id,
        &previous.distributed_image_arn,
        &previous.ami_id,
        &amis,
        previous.format,
        attempt,
    )
    .await
}

/// One export task of the release, in `format`, with its own token and record. `None` for a
/// successful dry run.
async fn export_one<P: ImagePipelines, E: ImageExports + AmiCatalog, S: ArtifactStore>(
    deps: &Deps<'_, P, E, S>,
    release: &crate::domain::ReleaseId,
    image: &str,
    ami: &AmiId,
    amis: &[crate::ports::OutputAmi],
    format: DiskImageFormat,
    attempt: Attempt,
) -> Result<Option<StartedExport>, HandlerError> {
    let config = &deps.config;
    let region = config.region.as_str();
    let prefix = release.prefix();
    // The first attempt's inputs are those every earlier version derived its token from.
    let number = format!("attempt-{}", attempt.number);
    let mut inputs = vec![
        ami.as_str(),
        format.as_str(),
        config.bucket.as_str(),
        prefix.as_str(),
    ];
    if attempt.number > 0 {
        inputs.push(&number);
    }
    let client_token =
        ClientToken::<64>::parse("ClientToken", &token::derive(token::EXPORT_IMAGE, &inputs))?;
    let request = ExportImage {
        image_id: ami.clone(),
        format,
        bucket: config.bucket.clone(),
        prefix: prefix.clone(),
        role_name: config.role_name.clone(),
        client_token: client_token.clone(),
        description: format!("image-release {release}"),
        tags: BTreeMap::from([(TAG_RELEASE_ID.to_owned(), release.to_string())]),
        dry_run: config.dry_run,
    };

    let task = match with_backoff(deps.retry, || deps.exports.export_image(&request)).await {
        Ok(ExportStarted::Task(task)) => task,
        Ok(ExportStarted::DryRunOk) => return Ok(None),
        Err(err) => {
            return Err(super::call_failed(
                err,
                Some(client_token.as_str()),
                Some(format!("AMI {ami} of release {release} not found")),
                format!("exporting {ami} of release {release} as {format}"),
            ));
        }
    };

    let record = ExportRecord {
        schema_version: SCHEMA_VERSION,
        release_id: release.clone(),
        distributed_image_arn: image.to_owned(),
        region: region.to_owned(),
        ami_id: ami.clone(),
        amis: amis
            .iter()
            .map(|a| AmiRecord {
                region: a.region.clone(),
                ami_id: a.image.clone(),
                account_id: a.account_id.clone(),
                name: a.name.clone(),
            })
            .collect(),
        export_task_id: task.export_task_id.clone(),
        format,
        bucket: config.bucket.to_string(),
        prefix,
        client_token: client_token.to_string(),
        requested_at: release::timestamp(deps.clock.now()),
        attempt: attempt.number,
        generation: attempt.generation,
    };
    super::put_record(
        deps.store,
        &keys::export(release, format, attempt.number),
        &record,
        "the export task",
    )
    .await?;
    info!(release = %release, ami = %ami, task = %task.export_task_id, format = %format, token = %client_token, "export started");
    Ok(Some(StartedExport {
        format,
        export_task_id: task.export_task_id,
        object_key: record.object_key(),
    }))
}
