//! copy-appstream-image: when an image that our DistributeImage created becomes AVAILABLE, copy the
//! release's AppStream image to every destination region (in parallel) with CopyImage.
//!
//! The source image is either an existing AppStream image named after the release
//! (`APPSTREAM_SOURCE_MODE=existing`), or imported first from the distributed AMI with
//! CreateImportedImage (`import`). When the source is not AVAILABLE yet, the destinations are
//! recorded as waiting and publish-release issues the copies once it is. AWS does not copy tags:
//! publish-release applies the source's tags to each copy once it exists.

use futures::future::join_all;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use shared::config::{Env, RequiredSteps};
use shared::copy::ensure_copy;
use shared::domain::{
    AmiId, AppStreamImageName, BucketName, IamRoleArn, ImageDescription, ImportDescription,
    NameTemplate, RegionName, ReleaseId,
};
use shared::events::ImageStateChange;
use shared::lineage;
use shared::ports::{
    AmiCatalog, AppStreamImage, AppStreamImages, ArtifactStore, ImageInfo, ImagePipelines,
    ImportImage,
};
use shared::release::{
    self, AppStreamDestination, AppStreamRecord, AppStreamSourceMode, CopyState, FailureRecord,
    SCHEMA_VERSION, Step, TAG_RELEASE_ID, keys,
};
use shared::retry::{RetryPolicy, with_backoff};
use shared::{ConfigError, ErrorClass, HandlerError, ValidationError};
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
            description: env.optional("APPSTREAM_IMAGE_DESCRIPTION", ImageDescription::parse)?,
        })
    }
}

pub struct Deps<P, A, S, M> {
    pub config: Config,
    pub pipelines: P,
    pub appstream: A,
    pub store: S,
    /// EC2 DescribeImages: the AMI is checked against AppStream's import requirements first.
    pub amis: M,
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
    Skipped {
        reason: String,
    },
}

pub async fn handle<P: ImagePipelines, A: AppStreamImages, S: ArtifactStore, M: AmiCatalog>(
    deps: &Deps<P, A, S, M>,
    event: LambdaEvent<Value>,
) -> Result<Outcome, HandlerError> {
    let change = ImageStateChange::parse(&event.payload)?;
    let image = change.image.as_str();
    if !deps.config.required {
        info!(image, "skipped: REQUIRED_STEPS does not include appstream");
        return Ok(Outcome::Skipped {
            reason: "REQUIRED_STEPS does not include appstream".into(),
        });
    }
    if !change.is_available() {
        info!(image, status = %change.status, "skipped: not AVAILABLE");
        return Ok(Outcome::Skipped {
            reason: format!("status {} is not AVAILABLE", change.status),
        });
    }
    let info = with_backoff(deps.retry, || deps.pipelines.get_image(&change.image))
        .await
        .map_err(|e| HandlerError::from_service(format!("reading image {image}"), e))?;
    // Only images our DistributeImage created belong to a release: its output record, or its tag.
    let Some((release, signal)) =
        lineage::distributed_release(&deps.store, &change.image, &info).await?
    else {
        info!(
            image,
            "skipped: no distribution output record and no release tag, not an image our DistributeImage created"
        );
        return Ok(Outcome::Skipped {
            reason: format!("image has no {TAG_RELEASE_ID} tag and no distribution output record"),
        });
    };
    info!(image, release = %release, signal = signal.as_str(), "image of a release");
    let config = &deps.config;
    let name = config.name.render("APPSTREAM_IMAGE_NAME", &release)?;

    // 1. The source image, in the home region (imported from the AMI first when so configured).
    let source = match source_image(deps, &release, &name, &info).await {
        Ok(source) => source,
        Err(err) => {
            if err.error_type() != shared::error::ErrorType::Retryable {
                record_failure(deps, &release, &err.to_string()).await;
            }
            return Err(err);
        }
    };
    if source.state == "FAILED" {
        let reason = format!(
            "source AppStream image {name} is FAILED: {}",
            source.state_reason.as_deref().unwrap_or("no reason given")
        );
        record_failure(deps, &release, &reason).await;
        return Err(HandlerError::Failed(reason));
    }

    // 2. Every destination region in parallel; each copy is checked first (CopyImage has no token).
    let (name_ref, source_ref) = (&name, &source);
    let copies = config.destinations.iter().map(|region| async move {
        let state = if source_ref.state == "AVAILABLE" {
            ensure_copy(&deps.appstream, deps.retry, name_ref, region, name_ref, config.description.as_ref()).await?
        } else {
            info!(region = %region, source = %name_ref, state = %source_ref.state, "source not AVAILABLE yet; copy deferred to publish-release");
            CopyState::WaitingForSource
        };
        Ok::<_, shared::ServiceError>(AppStreamDestination { region: region.to_string(), image_name: name_ref.clone(), state })
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
        description: config.description.as_ref().map(|d| d.to_string()),
        destinations: destinations.clone(),
        requested_at: release::now(),
    };
    deps.store
        .put_json_if_absent(&keys::appstream(&release), &record)
        .await
        .map_err(|e| HandlerError::from_service("recording the AppStream copies", e))?;
    info!(release = %release, source = %name, regions = destinations.len(), "AppStream copies handled");
    Ok(Outcome::CopiesRequested {
        release_id: release.to_string(),
        source_image_name: name.to_string(),
        source_state: source.state,
        destinations,
    })
}

/// Finds the source image in the home region, importing it from the AMI in `import` mode.
async fn source_image<P, A: AppStreamImages, S, M: AmiCatalog>(
    deps: &Deps<P, A, S, M>,
    release: &ReleaseId,
    name: &AppStreamImageName,
    info: &ImageInfo,
) -> Result<AppStreamImage, HandlerError> {
    let config = &deps.config;
    let existing = with_backoff(deps.retry, || {
        deps.appstream.describe_image(&config.region, name)
    })
    .await
    .map_err(|e| HandlerError::from_service(format!("looking up AppStream image {name}"), e))?;
    if let Some(image) = existing {
        return Ok(image);
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
        description: config.import_description.clone(),
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
        .ok_or(HandlerError::Retryable(err)),
        Err(err) => Err(HandlerError::from_service(
            format!("importing {} as AppStream image {name}", ami.image),
            err,
        )),
    }
}

async fn record_failure<P, A, S: ArtifactStore, M>(
    deps: &Deps<P, A, S, M>,
    release: &ReleaseId,
    reason: &str,
) {
    error!(release = %release, step = "appstream", reason, "release step failed");
    let record = FailureRecord {
        schema_version: SCHEMA_VERSION,
        release_id: release.clone(),
        step: Step::Appstream,
        reason: reason.to_owned(),
        at: release::now(),
    };
    if let Err(err) = deps
        .store
        .put_json_if_absent(&keys::failure(release, Step::Appstream), &record)
        .await
    {
        error!(release = %release, error = %err, "could not record the AppStream failure");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use shared::error::ErrorType;
    use shared::fakes::{FakeAppStream, FakeEc2, FakeImageBuilder, FakeStore};
    use shared::ports::OutputAmi;

    const DISTRIBUTED: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/2";
    const EVENT: &str = include_str!("../../../events/image-available-distributed.json");
    const NAME: &str = "golden-1.0.0-1";

    fn deps(vars: &[(&str, &str)]) -> Deps<FakeImageBuilder, FakeAppStream, FakeStore, FakeEc2> {
        let mut all = BTreeMap::from([
            ("AWS_REGION", "us-east-1"),
            ("ARTIFACT_BUCKET", "image-release-artifacts"),
            ("APPSTREAM_DESTINATION_REGIONS", "eu-west-1,ap-southeast-2"),
        ]);
        all.extend(vars.iter().copied());
        let image = ImageInfo {
            arn: DISTRIBUTED.into(),
            tags: BTreeMap::from([(TAG_RELEASE_ID.into(), NAME.into())]),
            amis: vec![OutputAmi {
                region: "us-east-1".into(),
                image: "ami-0abcdef1234567890".into(),
                account_id: None,
            }],
            ..ImageInfo::default()
        };
        Deps {
            config: Config::from_lookup(|k| all.get(k).map(|v| (*v).to_owned())).unwrap(),
            pipelines: FakeImageBuilder::default().with_image(image),
            appstream: FakeAppStream::default(),
            store: FakeStore::default(),
            amis: FakeEc2::default(),
            retry: RetryPolicy::IMMEDIATE,
        }
    }

    fn event() -> LambdaEvent<Value> {
        LambdaEvent::new(serde_json::from_str(EVENT).unwrap(), Context::default())
    }

    #[tokio::test]
    async fn when_source_is_available_should_copy_to_every_region_and_record_it() {
        let deps = deps(&[("APPSTREAM_IMAGE_DESCRIPTION", "Golden image")]);
        deps.appstream
            .put_image("us-east-1", NAME, "AVAILABLE", &[("team", "platform")]);
        handle(&deps, event()).await.unwrap();
        let copies = deps.appstream.copies();
        assert_eq!(copies.len(), 2);
        let mut regions: Vec<_> = copies
            .iter()
            .map(|c| c.destination_region.to_string())
            .collect();
        regions.sort();
        assert_eq!(regions, ["ap-southeast-2", "eu-west-1"]);
        assert!(
            copies.iter().all(|c| c.source_image_name.as_str() == NAME
                && c.destination_image_name.as_str() == NAME)
        );
        assert_eq!(
            copies[0].description.as_ref().unwrap().as_str(),
            "Golden image"
        );
        let record = deps
            .store
            .json("releases/golden-1.0.0-1/appstream.json")
            .unwrap();
        assert_eq!(record["destinations"][0]["state"], "requested");
    }

    #[tokio::test]
    async fn when_event_is_delivered_twice_should_copy_once_per_region() {
        let deps = deps(&[]);
        deps.appstream
            .put_image("us-east-1", NAME, "AVAILABLE", &[]);
        handle(&deps, event()).await.unwrap();
        handle(&deps, event()).await.unwrap();
        assert_eq!(deps.appstream.copies().len(), 2);
    }

    #[tokio::test]
    async fn when_copy_already_exists_and_describe_confirms_should_count_as_done() {
        let deps = deps(&[("APPSTREAM_DESTINATION_REGIONS", "eu-west-1")]);
        deps.appstream
            .put_image("us-east-1", NAME, "AVAILABLE", &[]);
        // The check-first DescribeImages misses the copy, CopyImage says it exists, the second DescribeImages confirms.
        *deps.appstream.appear_on_copy_error.lock().unwrap() = true;
        deps.appstream.script.fail(
            "CopyImage",
            ErrorClass::AlreadyExists,
            "ResourceAlreadyExistsException",
            1,
        );
        let Outcome::CopiesRequested { destinations, .. } = handle(&deps, event()).await.unwrap()
        else {
            panic!("expected copies")
        };
        assert_eq!(destinations[0].state, CopyState::Requested);
        assert_eq!(
            deps.appstream.script.count("DescribeImages"),
            3,
            "home lookup, check-first, confirmation"
        );
    }

    #[tokio::test]
    async fn when_copy_already_exists_but_describe_cannot_confirm_should_fail_retryable() {
        let deps = deps(&[("APPSTREAM_DESTINATION_REGIONS", "eu-west-1")]);
        deps.appstream
            .put_image("us-east-1", NAME, "AVAILABLE", &[]);
        deps.appstream.script.fail(
            "CopyImage",
            ErrorClass::AlreadyExists,
            "ResourceAlreadyExistsException",
            1,
        );
        let err = handle(&deps, event()).await.unwrap_err();
        assert_eq!(err.error_type(), ErrorType::Retryable);
    }

    #[tokio::test]
    async fn when_quota_or_incompatibility_fails_a_region_should_record_that_region_failed() {
        let deps = deps(&[]);
        deps.appstream
            .put_image("us-east-1", NAME, "AVAILABLE", &[]);
        deps.appstream.script.fail(
            "CopyImage",
            ErrorClass::LimitExceeded,
            "LimitExceededException",
            1,
        );
        deps.appstream.script.fail(
            "CopyImage",
            ErrorClass::Invalid,
            "IncompatibleImageException",
            1,
        );
        let Outcome::CopiesRequested { destinations, .. } = handle(&deps, event()).await.unwrap()
        else {
            panic!()
        };
        assert!(
            destinations
                .iter()
                .all(|d| matches!(&d.state, CopyState::Failed { reason } if !reason.is_empty()))
        );
        let record = deps
            .store
            .json("releases/golden-1.0.0-1/appstream.json")
            .unwrap();
        assert_eq!(record["destinations"][0]["state"], "failed");
    }

    #[tokio::test]
    async fn when_source_is_not_available_yet_should_wait_instead_of_copying() {
        let deps = deps(&[]);
        deps.appstream.put_image("us-east-1", NAME, "PENDING", &[]);
        let Outcome::CopiesRequested { destinations, .. } = handle(&deps, event()).await.unwrap()
        else {
            panic!()
        };
        assert!(
            destinations
                .iter()
                .all(|d| d.state == CopyState::WaitingForSource)
        );
        assert!(deps.appstream.copies().is_empty());
    }

    #[tokio::test]
    async fn when_copy_says_resource_not_available_should_wait_for_the_source() {
        let deps = deps(&[("APPSTREAM_DESTINATION_REGIONS", "eu-west-1")]);
        deps.appstream
            .put_image("us-east-1", NAME, "AVAILABLE", &[]);
        deps.appstream.script.fail(
            "CopyImage",
            ErrorClass::NotAvailable,
            "ResourceNotAvailableException",
            1,
        );
        let Outcome::CopiesRequested { destinations, .. } = handle(&deps, event()).await.unwrap()
        else {
            panic!()
        };
        assert_eq!(destinations[0].state, CopyState::WaitingForSource);
    }

    #[tokio::test]
    async fn when_source_is_missing_in_existing_mode_should_fail_and_record_why() {
        let deps = deps(&[]);
        let err = handle(&deps, event()).await.unwrap_err();
        assert_eq!(err.error_type(), ErrorType::NonRetryable);
        let record = deps
            .store
            .json("releases/golden-1.0.0-1/failure-appstream.json")
            .unwrap();
        assert!(
            record["reason"]
                .as_str()
                .unwrap()
                .contains("does not exist")
        );
    }

    #[tokio::test]
    async fn when_import_mode_should_import_the_home_ami_once_and_defer_copies() {
        let deps = deps(&[
            ("APPSTREAM_SOURCE_MODE", "import"),
            (
                "APPSTREAM_IMPORT_ROLE_ARN",
                "arn:aws:iam::123456789012:role/AppStreamImport",
            ),
        ]);
        deps.amis
            .set_ami("ami-0abcdef1234567890", Some(importable()));
        handle(&deps, event()).await.unwrap();
        handle(&deps, event()).await.unwrap();
        let imports = deps.appstream.imports();
        assert_eq!(imports.len(), 1);
        assert_eq!(imports[0].source_ami.as_str(), "ami-0abcdef1234567890");
        assert_eq!(imports[0].name.as_str(), NAME);
        assert!(deps.appstream.copies().is_empty());
    }

    /// An AMI that meets AppStream's import requirements.
    fn importable() -> shared::ports::AmiFacts {
        shared::ports::AmiFacts {
            windows: true,
            platform_details: Some("Windows".into()),
            architecture: Some("x86_64".into()),
            boot_mode: Some("uefi".into()),
            tpm_support: Some("v2.0".into()),
            ena_support: Some(true),
            ebs_volumes: vec![("/dev/sda1".into(), Some(100))],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn when_the_ami_misses_appstreams_import_requirements_should_fail_before_importing() {
        let deps = deps(&[
            ("APPSTREAM_SOURCE_MODE", "import"),
            (
                "APPSTREAM_IMPORT_ROLE_ARN",
                "arn:aws:iam::123456789012:role/AppStreamImport",
            ),
        ]);
        let mut facts = importable();
        facts.boot_mode = Some("legacy-bios".into());
        facts.ebs_volumes = vec![("/dev/sda1".into(), Some(501))];
        deps.amis.set_ami("ami-0abcdef1234567890", Some(facts));
        let err = handle(&deps, event()).await.unwrap_err();
        assert_eq!(err.error_type(), ErrorType::NonRetryable);
        let text = err.to_string();
        assert!(
            text.contains("not uefi")
                && text.contains("501 GB")
                && text.contains("APPSTREAM_SOURCE_MODE=existing"),
            "{text}"
        );
        assert!(deps.appstream.imports().is_empty());
        assert!(
            deps.store
                .json("releases/golden-1.0.0-1/failure-appstream.json")
                .is_some()
        );
    }

    #[tokio::test]
    async fn when_copies_are_throttled_persistently_should_fail_retryable_without_record() {
        let deps = deps(&[("APPSTREAM_DESTINATION_REGIONS", "eu-west-1")]);
        deps.appstream
            .put_image("us-east-1", NAME, "AVAILABLE", &[]);
        deps.appstream
            .script
            .fail("CopyImage", ErrorClass::Throttled, "ThrottlingException", 3);
        assert_eq!(
            handle(&deps, event()).await.unwrap_err().error_type(),
            ErrorType::Retryable
        );
        assert!(
            deps.store
                .json("releases/golden-1.0.0-1/appstream.json")
                .is_none()
        );
    }

    #[test]
    fn when_name_template_renders_over_101_chars_should_be_caught() {
        let long = format!("{}-{{release}}", "a".repeat(90));
        let deps = deps(&[("APPSTREAM_IMAGE_NAME", long.as_str())]);
        let release = ReleaseId::parse("r", NAME).unwrap();
        let err = deps
            .config
            .name
            .render("APPSTREAM_IMAGE_NAME", &release)
            .unwrap_err();
        assert_eq!(err.field, "APPSTREAM_IMAGE_NAME");
    }

    #[test]
    fn when_config_is_inconsistent_should_name_the_variable() {
        let base = |extra: &[(&'static str, &'static str)]| {
            let mut all = BTreeMap::from([
                ("AWS_REGION", "us-east-1"),
                ("ARTIFACT_BUCKET", "b-1"),
                ("APPSTREAM_DESTINATION_REGIONS", "eu-west-1"),
            ]);
            all.extend(extra.iter().copied());
            Config::from_lookup(|k| all.get(k).map(|v| (*v).to_owned()))
        };
        assert!(
            base(&[("APPSTREAM_DESTINATION_REGIONS", "us-east-1")])
                .unwrap_err()
                .to_string()
                .contains("home region")
        );
        assert!(
            base(&[("APPSTREAM_SOURCE_MODE", "import")])
                .unwrap_err()
                .to_string()
                .contains("APPSTREAM_IMPORT_ROLE_ARN")
        );
        assert!(
            base(&[("APPSTREAM_SOURCE_MODE", "copy")])
                .unwrap_err()
                .to_string()
                .contains("existing or import")
        );
        assert!(base(&[("APPSTREAM_IMAGE_DESCRIPTION", &*"x".repeat(257).leak())]).is_err());
    }
}
