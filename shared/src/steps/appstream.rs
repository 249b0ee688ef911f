//! The AppStream step: when an image that our DistributeImage created becomes AVAILABLE, copy the
//! release's AppStream image to every destination region (in parallel) with CopyImage
//! (copy-appstream-image's event path, and the reconciler when that event never came).
//!
//! The source image is either an existing AppStream image named after the release
//! (`APPSTREAM_SOURCE_MODE=existing`), or imported first from the distributed AMI with
//! CreateImportedImage (`import`). When the source is not AVAILABLE yet, the destinations are
//! recorded as waiting and publish-release issues the copies once it is. AWS does not copy tags:
//! publish-release applies the source's tags to each copy once it exists.
//!
//! Anyone in the account may create an image of the release's name first (release ids are
//! predictable). An imported source counts only with the release's mark. An `existing` source
//! must be `PRIVATE` and made in an image builder (`ImageBuilderName`, which AppStream leaves
//! empty for an image that was copied, imported or shared, the ways to make one by API alone),
//! and in one of `APPSTREAM_SOURCE_BUILDERS` when that is set; anything else is refused as a
//! security event and fails the step.

use super::appstream_copy::{CopyMark, copy_mark, ensure_copy};
use crate::clock::Clock;
use crate::config::{Env, RequiredSteps};
use crate::domain::{
    AmiId, AppStreamBuilderName, AppStreamImageName, BucketName, IamRoleArn, ImageDescription,
    ImportDescription, NameTemplate, RegionName, ReleaseId,
};
use crate::events::ImageStateChange;
use crate::ports::{
    AmiCatalog, AppStreamImage, AppStreamImageState, AppStreamImages, ArtifactStore, ImageInfo,
    ImagePipelines, ImportImage,
};
use crate::release::{
    self, AppStreamDestination, AppStreamRecord, AppStreamSourceMode, CopyState, SCHEMA_VERSION,
    Step, TAG_RELEASE_ID, keys,
};
use crate::retry::{RetryPolicy, with_backoff};
use crate::{ConfigError, ErrorClass, HandlerError, ValidationError};
use futures::future::join_all;
use serde::Serialize;
use std::collections::BTreeMap;
use tracing::{error, info};

#[derive(Debug, Clone)]
pub struct Config {
    /// `REQUIRED_STEPS`: when it does not list `appstream`, this function skips every event.
    pub required: bool,
    /// `AWS_REGION` (set by Lambda): where the source AppStream image lives.
    pub region: RegionName,
    /// `ARTIFACT_BUCKET`: where release state is recorded.
    pub bucket: BucketName,
    /// `APPSTREAM_DESTINATION_REGIONS`: comma-separated, at least one, not the home region.
    pub destinations: Vec<RegionName>,
    /// `APPSTREAM_SOURCE_MODE`: `existing` (default) or `import`.
    pub mode: AppStreamSourceMode,
    /// `APPSTREAM_IMAGE_NAME`: name of the source and of each copy; `{release}` is replaced (default `{release}`).
    pub name: NameTemplate,
    /// `APPSTREAM_IMPORT_ROLE_ARN`: the role CreateImportedImage uses (required in `import` mode).
    pub import_role: Option<IamRoleArn>,
    /// `APPSTREAM_IMAGE_DESCRIPTION`: description of the copies (at most 256 characters).
    pub description: Option<ImageDescription>,
    /// The same description for CreateImportedImage, whose pattern is stricter (`import` mode only).
    pub import_description: Option<ImportDescription>,
    /// `APPSTREAM_SOURCE_BUILDERS` (`existing` mode): the image builders an existing source
    /// may have been made in, comma-separated; empty: any image builder.
    pub source_builders: Vec<AppStreamBuilderName>,
    /// `PIPELINE_ARNS`, `DISTRIBUTION_CONFIGURATION_ARN`: what an image must be built and
    /// distributed with before anything is imported or copied in a release's name.
    pub configured: crate::provenance::Configured,
}

impl Config {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(get);
        // CopyImage runs in the home region and copies to each destination: all must offer
        // AppStream 2.0 (botocore's endpoint data; AWS documents no answer for other regions).
        let region = env.required("AWS_REGION", RegionName::parse_appstream)?;
        let destinations =
            env.list("APPSTREAM_DESTINATION_REGIONS", RegionName::parse_appstream)?;
        if destinations.is_empty() {
            return Err(ConfigError::Missing("APPSTREAM_DESTINATION_REGIONS"));
        }
        // A stack copies only within its own partition (an account of `aws` cannot reach
        // aws-us-gov, aws-cn or the ISO regions), from botocore's partition data.
        if let Some(other) = destinations
            .iter()
            .find(|d| d.partition() != region.partition())
        {
            let source = ValidationError::new(
                "APPSTREAM_DESTINATION_REGIONS",
                format!(
                    "must be regions of the stack's partition {} ({} is in {})",
                    region.partition(),
                    other,
                    other.partition()
                ),
                other.as_str(),
            );
            return Err(ConfigError::Invalid {
                var: "APPSTREAM_DESTINATION_REGIONS",
                source,
            });
        }
        if destinations.contains(&region) {
            let source = ValidationError::new(
                "APPSTREAM_DESTINATION_REGIONS",
                "must not contain the home region (CopyImage copies to other regions)",
                region.as_str(),
            );
            return Err(ConfigError::Invalid {
                var: "APPSTREAM_DESTINATION_REGIONS",
                source,
            });
        }
        let mode = env.or_default("APPSTREAM_SOURCE_MODE", "existing", |field, v| match v {
            "existing" => Ok(AppStreamSourceMode::Existing),
            "import" => Ok(AppStreamSourceMode::Import),
            _ => Err(ValidationError::new(field, "must be existing or import", v)),
        })?;
        let import_role = env.optional("APPSTREAM_IMPORT_ROLE_ARN", IamRoleArn::parse)?;
        if mode == AppStreamSourceMode::Import && import_role.is_none() {
            return Err(ConfigError::Missing("APPSTREAM_IMPORT_ROLE_ARN"));
        }
        // In import mode the description also goes to CreateImportedImage, whose pattern is
        // stricter than CopyImage's: check it now rather than when the first release imports.
        let import_description = match mode {
            AppStreamSourceMode::Import => {
                env.optional("APPSTREAM_IMAGE_DESCRIPTION", ImportDescription::parse)?
            }
            AppStreamSourceMode::Existing => None,
        };
        Ok(Self {
            required: RequiredSteps::from_env(&env)?.appstream,
            region,
            import_description,
            bucket: env.required("ARTIFACT_BUCKET", BucketName::parse)?,
            destinations,
            mode,
            name: env.or_default(
                "APPSTREAM_IMAGE_NAME",
                NameTemplate::PLACEHOLDER,
                NameTemplate::parse,
            )?,
            import_role,
            source_builders: env.list("APPSTREAM_SOURCE_BUILDERS", AppStreamBuilderName::parse)?,
            description: env.optional("APPSTREAM_IMAGE_DESCRIPTION", ImageDescription::parse)?,
            configured: crate::provenance::Configured::from_env(&env)?,
        })
    }
}

/// What the step needs, borrowed: from copy-appstream-image's `Deps`, or from the reconciler's.
pub struct Deps<'a, P, A, S, M> {
    pub config: &'a Config,
    /// The time every record of the step is stamped with.
    pub clock: &'a dyn Clock,
    pub pipelines: &'a P,
    pub appstream: &'a A,
    pub store: &'a S,
    /// EC2 DescribeImages: the AMI is checked against AppStream's import requirements first.
    pub amis: &'a M,
    pub retry: RetryPolicy,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "action"
)]
pub enum Outcome {
    CopiesRequested {
        release_id: String,
        source_image_name: String,
        source_state: String,
        destinations: Vec<AppStreamDestination>,
    },
    /// The copies cannot happen (no source image, a failed import, a missing permission…): the
    /// failure is recorded and the release ends failed. Not a function error.
    RecordedFailure {
        release_id: String,
        step: Step,
        reason: String,
    },
    /// A quota is exhausted (AppStream `LimitExceededException`): publish-release re-drives the step.
    Deferred {
        release_id: String,
        reason: String,
    },
    Skipped {
        reason: String,
    },
}

super::outcome_from_ended!(Outcome);

/// Acts on one image state change (a real event, or one the reconciler read with GetImage).
pub async fn on_image<P: ImagePipelines, A: AppStreamImages, S: ArtifactStore, M: AmiCatalog>(
    deps: &Deps<'_, P, A, S, M>,
    change: &ImageStateChange,
) -> Result<Outcome, HandlerError> {
    let (release, info) = match super::distributed_release_of(
        "appstream",
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
    match copy_release(deps, &release, &info).await {
        Ok(outcome) => Ok(outcome),
        Err(err) => super::end_step(deps.store, deps.clock, &release, Step::Appstream, err)
            .await
            .map(Outcome::from),
    }
}

/// The AppStream copies of a release; any error stops the step.
async fn copy_release<P, A: AppStreamImages, S: ArtifactStore, M: AmiCatalog>(
    deps: &Deps<'_, P, A, S, M>,
    release: &ReleaseId,
    info: &ImageInfo,
) -> Result<Outcome, HandlerError> {
    let release = release.clone();
    let config = &deps.config;
    let name = config.name.render("APPSTREAM_IMAGE_NAME", &release)?;

    // 1. The release's mark, then the source image in the home region (imported from the AMI
    //    first when so configured).
    let mark = copy_mark(deps.store, deps.retry, &release)
        .await
        .map_err(|e| {
            HandlerError::from_service(format!("reading the AppStream mark of {release}"), e)
        })?;
    let source = source_image(deps, &release, &name, info, &mark).await?;
    if source.image_state() == AppStreamImageState::Failed {
        return Err(HandlerError::Failed(format!(
            "source AppStream image {name} is FAILED: {}",
            source.state_reason.as_deref().unwrap_or("no reason given")
        )));
    }

    // 2. Every destination region in parallel; each copy is checked first (CopyImage has no token).
    let (name_ref, source_ref, mark) = (&name, &source, &mark);
    let copies = config.destinations.iter().map(|region| async move {
        let state = if source_ref.image_state() == AppStreamImageState::Available {
            ensure_copy(deps.appstream, deps.retry, name_ref, region, name_ref, config.description.as_ref(), mark).await?
        } else {
            info!(region = %region, source = %name_ref, state = %source_ref.state, "source not AVAILABLE yet; copy deferred to publish-release");
            CopyState::WaitingForSource
        };
        Ok::<_, crate::ServiceError>(AppStreamDestination { region: region.to_string(), image_name: name_ref.clone(), state })
    });
    let destinations = join_all(copies)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            HandlerError::from_service(format!("copying {name} of release {release}"), e)
        })?;
    for failed in destinations
        .iter()
        .filter(|d| matches!(d.state, CopyState::Failed { .. }))
    {
        error!(release = %release, region = %failed.region, state = ?failed.state, "AppStream copy failed");
    }

    // 3. The record publish-release follows.
    let record = AppStreamRecord {
        schema_version: SCHEMA_VERSION,
        release_id: release.clone(),
        mode: config.mode,
        source_region: config.region.to_string(),
        source_image_name: name.clone(),
        description: config.description.clone(),
        destinations: destinations.clone(),
        requested_at: release::timestamp(deps.clock.now()),
    };
    super::put_record(
        deps.store,
        &keys::appstream(&release),
        &record,
        "the AppStream copies",
    )
    .await?;
    info!(release = %release, source = %name, regions = destinations.len(), "AppStream copies handled");
    Ok(Outcome::CopiesRequested {
        release_id: release.to_string(),
        source_image_name: name.to_string(),
        source_state: source.state,
        destinations,
    })
}

/// Why an `existing` source image is not one an operator made for the release: not `PRIVATE`,
/// not made in an image builder, or not in one of `builders` (when any are configured).
fn not_an_operators_image(
    image: &AppStreamImage,
    builders: &[AppStreamBuilderName],
) -> Option<String> {
    if let Some(visibility) = image.visibility.as_deref().filter(|v| *v != "PRIVATE") {
        return Some(format!("its visibility is {visibility}, not PRIVATE"));
    }
    let Some(builder) = image.image_builder_name.as_deref() else {
        return Some(
            "it was not made in an image builder (no ImageBuilderName: copied, imported or \
             shared), so anyone in the account could have made it"
                .into(),
        );
    };
    if !builders.is_empty() && !builders.iter().any(|b| b.as_str() == builder) {
        let allowed: Vec<&str> = builders.iter().map(AppStreamBuilderName::as_str).collect();
        return Some(format!(
            "it was made in image builder {builder}, not one of APPSTREAM_SOURCE_BUILDERS ({})",
            allowed.join(", ")
        ));
    }
    None
}

/// Finds the source image in the home region, importing it from the AMI in `import` mode. An
/// imported source counts only when it carries the release's mark (anyone may create an image of
/// that name first); an `existing` source only when [`not_an_operators_image`] finds nothing.
async fn source_image<P, A: AppStreamImages, S, M: AmiCatalog>(
    deps: &Deps<'_, P, A, S, M>,
    release: &ReleaseId,
    name: &AppStreamImageName,
    info: &ImageInfo,
    mark: &CopyMark,
) -> Result<AppStreamImage, HandlerError> {
    let config = &deps.config;
    let ours = |image: AppStreamImage| {
        let refusal = match config.mode {
            AppStreamSourceMode::Import if !mark.is_on(&image) => {
                return Err(HandlerError::Failed(CopyMark::not_ours(
                    &image,
                    &config.region,
                )));
            }
            AppStreamSourceMode::Import => None,
            AppStreamSourceMode::Existing => {
                not_an_operators_image(&image, &config.source_builders)
            }
        };
        match refusal {
            Some(reason) => {
                let reason = format!(
                    "source AppStream image {name} in {}: {reason}",
                    config.region
                );
                crate::provenance::security_event(&format!("copying {name}"), &reason);
                Err(HandlerError::Failed(reason))
            }
            None => Ok(image),
        }
    };
    let existing = with_backoff(deps.retry, || {
        deps.appstream.describe_image(&config.region, name)
    })
    .await
    .map_err(|e| HandlerError::from_service(format!("looking up AppStream image {name}"), e))?;
    if let Some(image) = existing {
        return ours(image);
    }
    let (AppStreamSourceMode::Import, Some(role)) = (config.mode, &config.import_role) else {
        return Err(HandlerError::Failed(format!(
            "source AppStream image {name} does not exist in {} (APPSTREAM_SOURCE_MODE=existing)",
            config.region
        )));
    };
    let ami = info
        .amis
        .iter()
        .find(|a| a.region == config.region.as_str())
        .ok_or_else(|| {
            HandlerError::Failed(format!(
                "the distributed image has no AMI in {} to import",
                config.region
            ))
        })?;
    let source_ami = AmiId::parse("outputResources.amis[].image", &ami.image)?;
    // AppStream's documented import requirements, checked before an import that would fail
    // only after it ran: a clear reason now instead of an IMAGE_IMPORT_FAILURE later.
    let facts = with_backoff(deps.retry, || deps.amis.describe_ami(&source_ami))
        .await
        .map_err(|e| HandlerError::from_service(format!("describing AMI {source_ami}"), e))?
        .ok_or_else(|| {
            HandlerError::Failed(format!(
                "AMI {source_ami} does not exist in {} to import",
                config.region
            ))
        })?;
    if let Some(reason) = facts.import_blocker(&source_ami) {
        return Err(HandlerError::Failed(reason));
    }
    let request = ImportImage {
        name: name.clone(),
        source_ami,
        role: role.clone(),
        description: Some(mark.describe_import(config.import_description.as_ref())),
        tags: BTreeMap::from([(TAG_RELEASE_ID.to_owned(), release.to_string())]),
    };
    match with_backoff(deps.retry, || {
        deps.appstream.create_imported_image(&request)
    })
    .await
    {
        Ok(image) => {
            info!(release = %release, image = %name, ami = %ami.image, "AppStream import started");
            Ok(image)
        }
        // A concurrent delivery imported it first: that one is ours too.
        Err(err) if err.is(ErrorClass::AlreadyExists) => with_backoff(deps.retry, || {
            deps.appstream.describe_image(&config.region, name)
        })
        .await
        .map_err(|e| HandlerError::from_service(format!("looking up AppStream image {name}"), e))?
        .ok_or(HandlerError::Retryable(err))
        .and_then(ours),
        Err(err) => Err(HandlerError::from_service(
            format!("importing {} as AppStream image {name}", ami.image),
            err,
        )),
    }
}
