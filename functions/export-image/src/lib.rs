//! export-image: when an image that our DistributeImage created becomes AVAILABLE, export the AMI
//! of the home region to S3 with EC2 ExportImage. The step itself lives in
//! [`shared::steps::export`], where publish-release's reconciler calls it too.

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::HandlerError;
use shared::events::ImageStateChange;
use shared::ports::{AmiCatalog, ArtifactStore, ImageExports, ImagePipelines};
use shared::retry::RetryPolicy;
use shared::steps::export;
pub use shared::steps::export::{Config, Outcome};

pub struct Deps<P, E, S> {
    pub config: Config,
    pub pipelines: P,
    pub exports: E,
    pub store: S,
    pub retry: RetryPolicy,
    /// What every record is stamped with.
    pub clock: Box<dyn shared::clock::Clock>,
}

pub async fn handle<P: ImagePipelines, E: ImageExports + AmiCatalog, S: ArtifactStore>(
    deps: &Deps<P, E, S>,
    event: LambdaEvent<Value>,
) -> Result<Outcome, HandlerError> {
    let change = ImageStateChange::parse(&event.payload)?;
    let step = export::Deps {
        config: &deps.config,
        pipelines: &deps.pipelines,
        exports: &deps.exports,
        store: &deps.store,
        retry: deps.retry,
        clock: deps.clock.as_ref(),
    };
    export::on_image(&step, &change).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use shared::ErrorClass;
    use shared::domain::{DiskImageFormat, ReleaseId};
    use shared::error::ErrorType;
    use shared::fakes::{FakeEc2, FakeImageBuilder, FakeStore};
    use shared::ports::{ImageInfo, OutputAmi};
    use shared::release::{SCHEMA_VERSION, TAG_RELEASE_ID};
    use std::collections::BTreeMap;

    const DISTRIBUTED: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/2";
    const EVENT: &str = include_str!("../../../events/image-available-distributed.json");
    const PIPELINE_EVENT: &str = include_str!("../../../events/image-available-pipeline.json");
    const FAILED_EVENT: &str = include_str!("../../../events/image-failed.json");

    const SOURCE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1";
    const PIPELINE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden";
    const DISTRIBUTION: &str =
        "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden";

    /// The distributed image as GetImage answers it: distributed with the configuration, the
    /// tags DistributeImage gave it, its AMIs.
    fn distributed(amis: &[(&str, &str)]) -> ImageInfo {
        ImageInfo {
            arn: DISTRIBUTED.into(),
            status: Some("AVAILABLE".into()),
            distribution_configuration_arn: Some(DISTRIBUTION.into()),
            tags: BTreeMap::from([
                (TAG_RELEASE_ID.into(), "golden-1.0.0-1".into()),
                (shared::release::TAG_SOURCE_IMAGE.into(), SOURCE.into()),
            ]),
            amis: amis
                .iter()
                .map(|(r, i)| OutputAmi {
                    name: None,
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
            ("PIPELINE_ARNS", PIPELINE),
            ("DISTRIBUTION_CONFIGURATION_ARN", DISTRIBUTION),
        ]);
        all.extend(vars.iter().copied());
        // The pipeline's image the release was built as.
        let source = ImageInfo {
            arn: SOURCE.into(),
            status: Some("AVAILABLE".into()),
            source_pipeline_arn: Some(PIPELINE.into()),
            ..ImageInfo::default()
        };
        Deps {
            config: Config::from_lookup(|k| all.get(k).map(|v| (*v).to_owned())).unwrap(),
            pipelines: FakeImageBuilder::default()
                .with_image(source)
                .with_image(image),
            exports: FakeEc2::default(),
            // The release whose distribution record names the distributed image.
            store: FakeStore::default().with_distributed_release(
                "golden-1.0.0-1",
                "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1",
                DISTRIBUTED,
            ),
            retry: RetryPolicy::IMMEDIATE,
            clock: Box::new(shared::clock::SystemClock),
        }
    }

    /// A routine release failure: recorded and answered, not a function error (Lambda would
    /// retry it twice and send it to the on-failure destination). Its reason.
    fn recorded_failure(result: Result<Outcome, HandlerError>) -> String {
        match result {
            Ok(Outcome::RecordedFailure { reason, .. }) => reason,
            other => panic!("expected a recorded failure, got {other:?}"),
        }
    }

    /// What the handler wrote, beyond the release the fixture seeds.
    fn written(deps: &Deps<FakeImageBuilder, FakeEc2, FakeStore>) -> Vec<String> {
        let seeded = [
            "pending/golden-1.0.0-1.json",
            "state/golden-1.0.0-1/distribution.json",
        ];
        deps.store
            .keys()
            .into_iter()
            .filter(|k| !seeded.contains(&k.as_str()))
            .collect()
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
        let deps = deps(distributed(TWO_REGIONS), &[("EXPORT_FORMATS", "VHD")]);
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
            .json("state/golden-1.0.0-1/export-vhd.json")
            .unwrap();
        assert_eq!(record["export_task_id"], "export-ami-0abcdef1234567890");
        assert_eq!(record["amis"].as_array().unwrap().len(), 2);
        assert!(
            matches!(outcome, Outcome::ExportStarted { ref object_key, .. } if object_key == "releases/golden-1.0.0-1/export-ami-0abcdef1234567890.vhd")
        );
    }

    #[tokio::test]
    async fn when_several_formats_are_configured_should_start_one_task_each_with_its_own_token() {
        let deps = deps(distributed(TWO_REGIONS), &[("EXPORT_FORMATS", "VMDK,VHD")]);
        let outcome = handle(&deps, event(EVENT)).await.unwrap();
        let exports = deps.exports.exports();
        let formats: Vec<_> = exports.iter().map(|e| e.format).collect();
        assert_eq!(formats, [DiskImageFormat::Vmdk, DiskImageFormat::Vhd]);
        assert_ne!(exports[0].client_token, exports[1].client_token);
        for format in ["vmdk", "vhd"] {
            let record = deps
                .store
                .json(&format!("state/golden-1.0.0-1/export-{format}.json"))
                .unwrap();
            assert_eq!(record["format"], format.to_uppercase());
        }
        let Outcome::ExportStarted { other_formats, .. } = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(other_formats.len(), 1);
        assert_eq!(other_formats[0].format, DiskImageFormat::Vhd);
        // A repeated event repeats the same two calls (the same tokens).
        handle(&deps, event(EVENT)).await.unwrap();
        let again = deps.exports.exports();
        assert_eq!(again[2].client_token, exports[0].client_token);
        assert_eq!(again[3].client_token, exports[1].client_token);
    }

    #[test]
    fn when_a_format_is_listed_twice_should_fail_config_naming_the_rule() {
        let err = Config::from_lookup(|k| match k {
            "AWS_REGION" => Some("us-east-1".into()),
            "ARTIFACT_BUCKET" => Some("image-release-artifacts".into()),
            "PIPELINE_ARNS" => Some(PIPELINE.into()),
            "DISTRIBUTION_CONFIGURATION_ARN" => Some(DISTRIBUTION.into()),
            "EXPORT_FORMATS" => Some("VMDK,VHD,VMDK".into()),
            _ => None,
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("EXPORT_FORMATS") && err.to_string().contains("at most once"),
            "{err}"
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
    async fn when_an_output_record_names_the_image_should_find_its_release_by_it() {
        // The output record is the first signal of the release; the proof needs the
        // distribution's tags all the same (see the next test).
        let deps = deps(distributed(TWO_REGIONS), &[]);
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
    async fn when_the_distributed_image_lacks_the_distributions_tags_should_refuse_to_export() {
        // DistributeImage tags the image it creates (its API reference: "tags: The tags to apply
        // to the distributed image"); an image without them was not distributed for the release.
        let mut image = distributed(TWO_REGIONS);
        image.tags.clear();
        let deps = deps(image, &[]);
        deps.store.put_value(
            "distributed/golden-1.0.0-2.json",
            &shared::release::DistributionOutput {
                schema_version: SCHEMA_VERSION,
                release_id: ReleaseId::parse("r", "golden-1.0.0-1").unwrap(),
                source_image_arn: SOURCE.into(),
                distributed_image_arn: DISTRIBUTED.into(),
                recorded_at: "t".into(),
            },
        );
        let outcome = handle(&deps, event(EVENT)).await.unwrap();
        assert!(
            matches!(&outcome, Outcome::Skipped { reason } if reason.contains("does not carry the tags")),
            "{outcome:?}"
        );
        assert_eq!(deps.exports.script.count("ExportImage"), 0);
    }

    #[tokio::test]
    async fn when_an_event_says_available_but_getimage_does_not_should_skip_without_exporting() {
        // Anyone who may invoke the function can send AVAILABLE mid-distribution.
        let mut image = distributed(TWO_REGIONS);
        image.status = Some("DISTRIBUTING".into());
        let deps = deps(image, &[]);
        let outcome = handle(&deps, event(EVENT)).await.unwrap();
        assert!(
            matches!(&outcome, Outcome::Skipped { reason } if reason.contains("DISTRIBUTING")),
            "{outcome:?}"
        );
        assert_eq!(deps.exports.script.count("ExportImage"), 0);
    }

    #[tokio::test]
    async fn when_the_source_was_not_built_by_a_configured_pipeline_should_refuse_to_export() {
        let deps = deps(distributed(TWO_REGIONS), &[]);
        deps.pipelines.put_image(ImageInfo {
            arn: SOURCE.into(),
            status: Some("AVAILABLE".into()),
            source_pipeline_arn: Some(
                "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/theirs".into(),
            ),
            ..ImageInfo::default()
        });
        let outcome = handle(&deps, event(EVENT)).await.unwrap();
        assert!(
            matches!(&outcome, Outcome::Skipped { reason } if reason.contains("not by a configured pipeline")),
            "{outcome:?}"
        );
        assert_eq!(deps.exports.script.count("ExportImage"), 0);
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
        recorded_failure(handle(&deps, event(EVENT)).await);
        let record = deps
            .store
            .json("state/golden-1.0.0-1/failure-export.json")
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
        recorded_failure(handle(&deps, event(EVENT)).await);
        assert_eq!(
            deps.exports.script.count("ExportImage"),
            0,
            "no export task"
        );
        let record = deps
            .store
            .json("state/golden-1.0.0-1/failure-export.json")
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
        let text = recorded_failure(handle(&deps, event(EVENT)).await);
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
        assert!(written(&deps).is_empty(), "{:?}", written(&deps));
    }

    #[tokio::test]
    async fn when_dry_run_is_configured_should_record_nothing() {
        let deps = deps(distributed(TWO_REGIONS), &[("EXPORT_DRY_RUN", "true")]);
        assert!(matches!(
            handle(&deps, event(EVENT)).await.unwrap(),
            Outcome::DryRunSucceeded { .. }
        ));
        assert!(written(&deps).is_empty(), "{:?}", written(&deps));
    }

    #[tokio::test]
    async fn when_ami_is_not_found_should_record_the_failure() {
        let deps = deps(distributed(TWO_REGIONS), &[]);
        deps.exports.script.fail(
            "ExportImage",
            ErrorClass::NotFound,
            "InvalidAMIID.NotFound",
            1,
        );
        recorded_failure(handle(&deps, event(EVENT)).await);
        assert!(
            deps.store
                .json("state/golden-1.0.0-1/failure-export.json")
                .is_some()
        );
    }

    #[tokio::test]
    async fn when_concurrent_exports_are_at_their_limit_should_defer_without_failing() {
        let deps = deps(distributed(TWO_REGIONS), &[]);
        deps.exports.script.fail(
            "ExportImage",
            ErrorClass::LimitExceeded,
            "ResourceLimitExceeded",
            1,
        );
        let outcome = handle(&deps, event(EVENT)).await.unwrap();
        assert!(matches!(outcome, Outcome::Deferred { .. }), "{outcome:?}");
        assert!(
            deps.store
                .json("state/golden-1.0.0-1/failure-export.json")
                .is_none(),
            "a quota is not a failure: publish-release re-drives the export"
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
        assert!(written(&deps).is_empty(), "{:?}", written(&deps));
    }

    #[test]
    fn when_format_is_not_documented_should_name_the_variable() {
        let err = Config::from_lookup(|k| match k {
            "AWS_REGION" => Some("us-east-1".into()),
            "ARTIFACT_BUCKET" => Some("b-1".into()),
            "EXPORT_FORMATS" => Some("QCOW2".into()),
            _ => None,
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("EXPORT_FORMATS")
                && err.to_string().contains("VMDK | RAW | VHD"),
            "{err}"
        );
    }
}

#[cfg(test)]
mod lineage_tests {
    use super::*;
    use lambda_runtime::Context;
    use shared::fakes::{FakeEc2, FakeImageBuilder, FakeStore};
    use shared::ports::{ImageInfo, OutputAmi};
    use shared::release::TAG_RELEASE_ID;
    use std::collections::BTreeMap;

    const FORGED: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image/other/1.0.0/7";
    const OURS: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/2";

    #[tokio::test]
    async fn when_an_image_carries_a_releases_tag_but_is_not_its_distributed_image_should_not_export()
     {
        // Someone tagged another image with our release id: the release's distribution record
        // names its own image, so this one is not the release's.
        let image = ImageInfo {
            arn: FORGED.into(),
            status: Some("AVAILABLE".into()),
            tags: BTreeMap::from([(TAG_RELEASE_ID.into(), "golden-1.0.0-1".into())]),
            amis: vec![OutputAmi {
                name: None,
                region: "us-east-1".into(),
                image: "ami-0abcdef1234567890".into(),
                account_id: None,
            }],
            ..ImageInfo::default()
        };
        let all = BTreeMap::from([
            ("AWS_REGION", "us-east-1"),
            ("ARTIFACT_BUCKET", "image-release-artifacts"),
            (
                "PIPELINE_ARNS",
                "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden",
            ),
            (
                "DISTRIBUTION_CONFIGURATION_ARN",
                "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden",
            ),
        ]);
        let deps = Deps {
            config: Config::from_lookup(|k| all.get(k).map(|v| (*v).to_owned())).unwrap(),
            pipelines: FakeImageBuilder::default().with_image(image),
            exports: FakeEc2::default(),
            store: FakeStore::default().with_distributed_release(
                "golden-1.0.0-1",
                "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1",
                OURS,
            ),
            retry: shared::retry::RetryPolicy::IMMEDIATE,
            clock: Box::new(shared::clock::SystemClock),
        };
        let mut event: serde_json::Value = serde_json::from_str(include_str!(
            "../../../events/image-available-distributed.json"
        ))
        .unwrap();
        event["resources"][0] = FORGED.into();
        let outcome = handle(&deps, LambdaEvent::new(event, Context::default()))
            .await
            .unwrap();
        assert!(
            matches!(&outcome, Outcome::Skipped { reason } if reason.contains("not a release's distributed image")),
            "{outcome:?}"
        );
        assert_eq!(deps.exports.script.count("ExportImage"), 0);
    }
}
