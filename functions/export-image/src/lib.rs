//! export-image: when an image that our DistributeImage created becomes AVAILABLE, export the AMI
//! of the home region to S3 with EC2 ExportImage (VMDK, RAW or VHD) under the release's prefix,
//! and record the export task. publish-release follows the task to completion.

use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use shared::config::{Env, RequiredSteps};
use shared::domain::{
    AmiId, BucketName, ClientToken, DiskImageFormat, RegionName, ReleaseId, RoleName,
};
use shared::events::ImageStateChange;
use shared::lineage;
use shared::ports::{
    AmiCatalog, ArtifactStore, ExportImage, ExportStarted, ImageExports, ImagePipelines,
};
use shared::release::{
    self, AmiRecord, ExportRecord, FailureRecord, SCHEMA_VERSION, Step, TAG_RELEASE_ID, keys,
};
use shared::retry::{RetryPolicy, with_backoff};
use shared::{ConfigError, ErrorClass, HandlerError, token};
use std::collections::BTreeMap;
use tracing::{error, info};

#[derive(Debug, Clone)]
pub struct Config {
    /// `REQUIRED_STEPS`: when it does not list `export`, this function skips every event.
    pub required: bool,
    /// `AWS_REGION` (set by Lambda): the home region whose AMI is exported.
    pub region: RegionName,
    /// `ARTIFACT_BUCKET`: receives the exported disk and the release records.
    pub bucket: BucketName,
    /// `EXPORT_DISK_FORMAT`: VMDK (default) | RAW | VHD.
    pub format: DiskImageFormat,
    /// `EXPORT_ROLE_NAME`: the service role EC2 uses to write to S3 (default `vmimport`).
    pub role_name: RoleName,
    /// `EXPORT_DRY_RUN`: only check permissions (EC2 DryRun), export nothing.
    pub dry_run: bool,
}

impl Config {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(get);
        Ok(Self {
            required: RequiredSteps::from_env(&env)?.export,
            region: env.required("AWS_REGION", RegionName::parse)?,
            bucket: env.required("ARTIFACT_BUCKET", BucketName::parse)?,
            format: env.or_default("EXPORT_DISK_FORMAT", "VMDK", DiskImageFormat::parse)?,
            role_name: env.or_default("EXPORT_ROLE_NAME", "vmimport", RoleName::parse)?,
            dry_run: env.flag("EXPORT_DRY_RUN", false)?,
        })
    }
}

pub struct Deps<P, E, S> {
    pub config: Config,
    pub pipelines: P,
    pub exports: E,
    pub store: S,
    pub retry: RetryPolicy,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "action"
)]
pub enum Outcome {
    ExportStarted {
        release_id: String,
        ami_id: String,
        export_task_id: String,
        object_key: String,
    },
    DryRunSucceeded {
        release_id: String,
        ami_id: String,
    },
    Skipped {
        reason: String,
    },
}

pub async fn handle<P: ImagePipelines, E: ImageExports + AmiCatalog, S: ArtifactStore>(
    deps: &Deps<P, E, S>,
    event: LambdaEvent<Value>,
) -> Result<Outcome, HandlerError> {
    let change = ImageStateChange::parse(&event.payload)?;
    let image = change.image.as_str();
    if !deps.config.required {
        info!(image, "skipped: REQUIRED_STEPS does not include export");
        return Ok(Outcome::Skipped {
            reason: "REQUIRED_STEPS does not include export".into(),
        });
    }
    if !change.is_available() {
        info!(image, status = %change.status, "skipped: not AVAILABLE");
        return Ok(Outcome::Skipped {
            reason: format!("status {} is not AVAILABLE", change.status),
        });
    }

    // Only images that distribute-image created carry the release tag (the contract between the two).
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

    // The AMI of the home region.
    let region = deps.config.region.as_str();
    let Some(home_ami) = info.amis.iter().find(|a| a.region == region) else {
        let reason =
            format!("the distributed image {image} has no AMI in the home region {region}");
        record_failure(deps, &release, &reason).await;
        return Err(HandlerError::Failed(reason));
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
        let reason = blockers.join("; ");
        record_failure(deps, &release, &reason).await;
        return Err(HandlerError::Failed(reason));
    }

    let config = &deps.config;
    let prefix = release.prefix();
    let client_token = ClientToken::<64>::parse(
        "ClientToken",
        &token::derive(
            "export-image",
            &[
                ami.as_str(),
                config.format.as_str(),
                config.bucket.as_str(),
                &prefix,
            ],
        ),
    )?;
    let request = ExportImage {
        image_id: ami.clone(),
        format: config.format,
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
        Ok(ExportStarted::DryRunOk) => {
            info!(release = %release, ami = %ami, "ExportImage dry run succeeded; nothing exported");
            return Ok(Outcome::DryRunSucceeded {
                release_id: release.to_string(),
                ami_id: ami.to_string(),
            });
        }
        Err(err) => {
            let handler_error = match err.class {
                ErrorClass::IdempotencyMismatch => HandlerError::NonRetryable {
                    context: format!(
                        "client token {client_token} was used before with other parameters (token derivation bug)"
                    ),
                    source: err,
                },
                ErrorClass::NotFound => HandlerError::NonRetryable {
                    context: format!("AMI {ami} of release {release} not found"),
                    source: err,
                },
                _ => {
                    HandlerError::from_service(format!("exporting {ami} of release {release}"), err)
                }
            };
            if handler_error.error_type() != shared::error::ErrorType::Retryable {
                record_failure(deps, &release, &handler_error.to_string()).await;
            }
            return Err(handler_error);
        }
    };

    let record = ExportRecord {
        schema_version: SCHEMA_VERSION,
        release_id: release.clone(),
        distributed_image_arn: image.to_owned(),
        region: region.to_owned(),
        ami_id: ami.clone(),
        amis: info
            .amis
            .iter()
            .map(|a| AmiRecord {
                region: a.region.clone(),
                ami_id: a.image.clone(),
                account_id: a.account_id.clone(),
            })
            .collect(),
        export_task_id: task.export_task_id.clone(),
        format: config.format,
        bucket: config.bucket.to_string(),
        prefix,
        client_token: client_token.to_string(),
        requested_at: release::now(),
    };
    deps.store
        .put_json_if_absent(&keys::export(&release), &record)
        .await
        .map_err(|e| HandlerError::from_service("recording the export task", e))?;

    info!(release = %release, ami = %ami, task = %task.export_task_id, format = %config.format, token = %client_token, "export started");
    Ok(Outcome::ExportStarted {
        release_id: release.to_string(),
        ami_id: ami.to_string(),
        export_task_id: task.export_task_id,
        object_key: record.object_key(),
    })
}

/// Records a permanent failure of the export step; a failure to record is logged, never hidden.
async fn record_failure<P, E, S: ArtifactStore>(
    deps: &Deps<P, E, S>,
    release: &ReleaseId,
    reason: &str,
) {
    error!(release = %release, step = "export", reason, "release step failed");
    let record = FailureRecord {
        schema_version: SCHEMA_VERSION,
        release_id: release.clone(),
        step: Step::Export,
        reason: reason.to_owned(),
        at: release::now(),
    };
    if let Err(err) = deps
        .store
        .put_json_if_absent(&keys::failure(release, Step::Export), &record)
        .await
    {
        error!(release = %release, error = %err, "could not record the export failure");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use shared::error::ErrorType;
    use shared::fakes::{FakeEc2, FakeImageBuilder, FakeStore};
    use shared::ports::{ImageInfo, OutputAmi};

    const DISTRIBUTED: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/2";
    const EVENT: &str = include_str!("../../../events/image-available-distributed.json");
    const PIPELINE_EVENT: &str = include_str!("../../../events/image-available-pipeline.json");
    const FAILED_EVENT: &str = include_str!("../../../events/image-failed.json");

    fn distributed(amis: &[(&str, &str)]) -> ImageInfo {
        ImageInfo {
            arn: DISTRIBUTED.into(),
            status: Some("AVAILABLE".into()),
            tags: BTreeMap::from([(TAG_RELEASE_ID.into(), "golden-1.0.0-1".into())]),
            amis: amis
                .iter()
                .map(|(r, i)| OutputAmi {
                    region: (*r).into(),
                    image: (*i).into(),
                    account_id: None,
                })
                .collect(),
            ..ImageInfo::default()
        }
    }

    fn deps(image: ImageInfo, vars: &[(&str, &str)]) -> Deps<FakeImageBuilder, FakeEc2, FakeStore> {
        let mut all = BTreeMap::from([
            ("AWS_REGION", "us-east-1"),
            ("ARTIFACT_BUCKET", "image-release-artifacts"),
        ]);
        all.extend(vars.iter().copied());
        Deps {
            config: Config::from_lookup(|k| all.get(k).map(|v| (*v).to_owned())).unwrap(),
            pipelines: FakeImageBuilder::default().with_image(image),
            exports: FakeEc2::default(),
            store: FakeStore::default(),
            retry: RetryPolicy::IMMEDIATE,
        }
    }

    fn event(raw: &str) -> LambdaEvent<Value> {
        LambdaEvent::new(serde_json::from_str(raw).unwrap(), Context::default())
    }

    const TWO_REGIONS: &[(&str, &str)] = &[
        ("us-east-1", "ami-0abcdef1234567890"),
        ("eu-west-1", "ami-0fedcba9876543210"),
    ];

    #[tokio::test]
    async fn when_distributed_image_is_available_should_export_the_home_ami_under_the_release_prefix()
     {
        let deps = deps(distributed(TWO_REGIONS), &[("EXPORT_DISK_FORMAT", "VHD")]);
        let outcome = handle(&deps, event(EVENT)).await.unwrap();
        let exports = deps.exports.exports();
        assert_eq!(exports.len(), 1);
        let call = &exports[0];
        assert_eq!(call.image_id.as_str(), "ami-0abcdef1234567890");
        assert_eq!(call.format, DiskImageFormat::Vhd);
        assert_eq!(call.bucket.as_str(), "image-release-artifacts");
        assert_eq!(call.prefix, "releases/golden-1.0.0-1/");
        assert_eq!(call.role_name.as_str(), "vmimport");
        assert_eq!(
            call.tags.get(TAG_RELEASE_ID).map(String::as_str),
            Some("golden-1.0.0-1")
        );
        assert!(!call.dry_run);
        let record = deps
            .store
            .json("releases/golden-1.0.0-1/export.json")
            .unwrap();
        assert_eq!(record["export_task_id"], "export-ami-0abcdef1234567890");
        assert_eq!(record["amis"].as_array().unwrap().len(), 2);
        assert!(
            matches!(outcome, Outcome::ExportStarted { ref object_key, .. } if object_key == "releases/golden-1.0.0-1/export-ami-0abcdef1234567890.vhd")
        );
    }

    #[tokio::test]
    async fn when_event_is_delivered_twice_should_send_the_same_token() {
        let deps = deps(distributed(TWO_REGIONS), &[]);
        handle(&deps, event(EVENT)).await.unwrap();
        handle(&deps, event(EVENT)).await.unwrap();
        let exports = deps.exports.exports();
        assert_eq!(exports[0].client_token, exports[1].client_token);
    }

    #[tokio::test]
    async fn when_image_has_no_release_tag_should_skip_without_exporting() {
        let mut image = distributed(TWO_REGIONS);
        image.arn = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1".into();
        image.tags.clear();
        let deps = deps(image, &[]);
        assert!(matches!(
            handle(&deps, event(PIPELINE_EVENT)).await.unwrap(),
            Outcome::Skipped { .. }
        ));
        assert_eq!(deps.exports.script.count("ExportImage"), 0);
    }

    #[tokio::test]
    async fn when_distributed_image_has_no_tags_should_find_its_release_by_the_output_record() {
        let mut image = distributed(TWO_REGIONS);
        image.tags.clear();
        let deps = deps(image, &[]);
        deps.store.put_value(
            "distributed/golden-1.0.0-2.json",
            &shared::release::DistributionOutput {
                schema_version: SCHEMA_VERSION,
                release_id: ReleaseId::parse("r", "golden-1.0.0-1").unwrap(),
                source_image_arn:
                    "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1".into(),
                distributed_image_arn: DISTRIBUTED.into(),
                recorded_at: "t".into(),
            },
        );
        assert!(matches!(
            handle(&deps, event(EVENT)).await.unwrap(),
            Outcome::ExportStarted { ref release_id, .. } if release_id == "golden-1.0.0-1"
        ));
        assert_eq!(deps.exports.exports()[0].prefix, "releases/golden-1.0.0-1/");
    }

    #[tokio::test]
    async fn when_status_is_failed_should_skip_without_reading_the_image() {
        let deps = deps(distributed(TWO_REGIONS), &[]);
        assert!(matches!(
            handle(&deps, event(FAILED_EVENT)).await.unwrap(),
            Outcome::Skipped { .. }
        ));
        assert_eq!(deps.pipelines.script.count("GetImage"), 0);
    }

    #[tokio::test]
    async fn when_home_region_has_no_ami_should_fail_and_record_why() {
        let deps = deps(distributed(&[("eu-west-1", "ami-0fedcba9876543210")]), &[]);
        let err = handle(&deps, event(EVENT)).await.unwrap_err();
        assert_eq!(err.error_type(), ErrorType::NonRetryable);
        let record = deps
            .store
            .json("releases/golden-1.0.0-1/failure-export.json")
            .unwrap();
        assert!(
            record["reason"]
                .as_str()
                .unwrap()
                .contains("home region us-east-1")
        );
    }

    #[tokio::test]
    async fn when_ami_has_encrypted_snapshots_should_fail_at_once_naming_the_fix() {
        let deps = deps(distributed(TWO_REGIONS), &[]);
        deps.exports.set_ami(
            "ami-0abcdef1234567890",
            Some(shared::ports::AmiFacts {
                encrypted_devices: vec!["/dev/xvda".into()],
                ..Default::default()
            }),
        );
        let err = handle(&deps, event(EVENT)).await.unwrap_err();
        assert_eq!(err.error_type(), ErrorType::NonRetryable);
        assert_eq!(
            deps.exports.script.count("ExportImage"),
            0,
            "no export task"
        );
        let record = deps
            .store
            .json("releases/golden-1.0.0-1/failure-export.json")
            .unwrap();
        let reason = record["reason"].as_str().unwrap();
        assert!(
            reason.contains("encrypted")
                && reason.contains("/dev/xvda")
                && reason.contains("kmsKeyId"),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn when_ami_is_windows_or_from_the_marketplace_should_fail_naming_each_cause() {
        let deps = deps(distributed(TWO_REGIONS), &[]);
        deps.exports.set_ami(
            "ami-0abcdef1234567890",
            Some(shared::ports::AmiFacts {
                windows: true,
                platform_details: Some("Windows with SQL Server Standard".into()),
                marketplace_codes: vec!["abc123".into()],
                ..Default::default()
            }),
        );
        let err = handle(&deps, event(EVENT)).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("SQL Server")
                && text.contains("Marketplace")
                && text.contains("REQUIRED_STEPS"),
            "{text}"
        );
        assert_eq!(deps.exports.script.count("ExportImage"), 0);
    }

    #[tokio::test]
    async fn when_export_is_not_a_required_step_should_skip_without_any_call() {
        let deps = deps(distributed(TWO_REGIONS), &[("REQUIRED_STEPS", "appstream")]);
        assert!(matches!(
            handle(&deps, event(EVENT)).await.unwrap(),
            Outcome::Skipped { ref reason } if reason.contains("REQUIRED_STEPS")
        ));
        assert_eq!(deps.pipelines.script.count("GetImage"), 0);
        assert!(deps.store.keys().is_empty());
    }

    #[tokio::test]
    async fn when_dry_run_is_configured_should_record_nothing() {
        let deps = deps(distributed(TWO_REGIONS), &[("EXPORT_DRY_RUN", "true")]);
        assert!(matches!(
            handle(&deps, event(EVENT)).await.unwrap(),
            Outcome::DryRunSucceeded { .. }
        ));
        assert!(deps.store.keys().is_empty());
    }

    #[tokio::test]
    async fn when_ami_is_not_found_should_fail_non_retryable() {
        let deps = deps(distributed(TWO_REGIONS), &[]);
        deps.exports.script.fail(
            "ExportImage",
            ErrorClass::NotFound,
            "InvalidAMIID.NotFound",
            1,
        );
        let err = handle(&deps, event(EVENT)).await.unwrap_err();
        assert_eq!(err.error_type(), ErrorType::NonRetryable);
        assert!(
            deps.store
                .json("releases/golden-1.0.0-1/failure-export.json")
                .is_some()
        );
    }

    #[tokio::test]
    async fn when_ec2_throttles_persistently_should_fail_retryable() {
        let deps = deps(distributed(TWO_REGIONS), &[]);
        deps.exports.script.fail(
            "ExportImage",
            ErrorClass::Throttled,
            "RequestLimitExceeded",
            3,
        );
        assert_eq!(
            handle(&deps, event(EVENT)).await.unwrap_err().error_type(),
            ErrorType::Retryable
        );
        assert!(deps.store.keys().is_empty());
    }

    #[test]
    fn when_format_is_not_documented_should_name_the_variable() {
        let err = Config::from_lookup(|k| match k {
            "AWS_REGION" => Some("us-east-1".into()),
            "ARTIFACT_BUCKET" => Some("b-1".into()),
            "EXPORT_DISK_FORMAT" => Some("QCOW2".into()),
            _ => None,
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("EXPORT_DISK_FORMAT")
                && err.to_string().contains("VMDK | RAW | VHD"),
            "{err}"
        );
    }
}
