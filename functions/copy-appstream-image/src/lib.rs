//! copy-appstream-image: when an image that our DistributeImage created becomes AVAILABLE, copy the
//! release's AppStream image to every destination region with CopyImage. The step itself lives
//! in [`shared::steps::appstream`], where publish-release's reconciler calls it too.

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::HandlerError;
use shared::events::ImageStateChange;
use shared::ports::{AmiCatalog, AppStreamImages, ArtifactStore, ImagePipelines};
use shared::retry::RetryPolicy;
use shared::steps::appstream;
pub use shared::steps::appstream::{Config, Outcome};

pub struct Deps<P, A, S, M> {
    pub config: Config,
    pub pipelines: P,
    pub appstream: A,
    pub store: S,
    /// EC2 DescribeImages: the AMI is checked against AppStream's import requirements first.
    pub amis: M,
    pub retry: RetryPolicy,
    /// What every record is stamped with.
    pub clock: Box<dyn shared::clock::Clock>,
}

pub async fn handle<P: ImagePipelines, A: AppStreamImages, S: ArtifactStore, M: AmiCatalog>(
    deps: &Deps<P, A, S, M>,
    event: LambdaEvent<Value>,
) -> Result<Outcome, HandlerError> {
    let change = ImageStateChange::parse(&event.payload)?;
    let step = appstream::Deps {
        config: &deps.config,
        pipelines: &deps.pipelines,
        appstream: &deps.appstream,
        store: &deps.store,
        amis: &deps.amis,
        retry: deps.retry,
        clock: deps.clock.as_ref(),
    };
    appstream::on_image(&step, &change).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use shared::ErrorClass;
    use shared::domain::ReleaseId;
    use shared::error::ErrorType;
    use shared::fakes::{FakeAppStream, FakeEc2, FakeImageBuilder, FakeStore};
    use shared::release::CopyState;
    use std::collections::BTreeMap;

    const DISTRIBUTED: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/2";
    const EVENT: &str = include_str!("../../../events/image-available-distributed.json");
    const NAME: &str = "golden-1.0.0-1";
    const SOURCE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1";
    const PIPELINE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden";
    const DISTRIBUTION: &str =
        "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden";

    fn deps(vars: &[(&str, &str)]) -> Deps<FakeImageBuilder, FakeAppStream, FakeStore, FakeEc2> {
        let mut all = BTreeMap::from([
            ("AWS_REGION", "us-east-1"),
            ("ARTIFACT_BUCKET", "image-release-artifacts"),
            ("APPSTREAM_DESTINATION_REGIONS", "eu-west-1,ap-southeast-2"),
            ("PIPELINE_ARNS", PIPELINE),
            ("DISTRIBUTION_CONFIGURATION_ARN", DISTRIBUTION),
        ]);
        all.extend(vars.iter().copied());
        Deps {
            config: Config::from_lookup(|k| all.get(k).map(|v| (*v).to_owned())).unwrap(),
            pipelines: FakeImageBuilder::default().with_proven_release(
                NAME,
                SOURCE,
                DISTRIBUTED,
                PIPELINE,
                DISTRIBUTION,
                &[("us-east-1", "ami-0abcdef1234567890")],
            ),
            appstream: FakeAppStream::default(),
            // The release whose distribution record names the distributed image.
            store: FakeStore::default().with_distributed_release(
                "golden-1.0.0-1",
                "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1",
                DISTRIBUTED,
            ),
            amis: FakeEc2::default(),
            retry: RetryPolicy::IMMEDIATE,
            clock: Box::new(shared::clock::SystemClock),
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
        let mark = deps
            .store
            .json("state/golden-1.0.0-1/appstream-mark.json")
            .unwrap()["mark"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            copies[0].description.as_ref().unwrap().as_str(),
            format!("Golden image (image-release {mark})")
        );
        let record = deps
            .store
            .json("state/golden-1.0.0-1/appstream.json")
            .unwrap();
        assert_eq!(record["destinations"][0]["state"], "requested");
    }

    /// What an `existing` source must be: `PRIVATE`, made in an image builder (one of
    /// `APPSTREAM_SOURCE_BUILDERS` when set). Each squat fails the step and copies nothing.
    #[tokio::test]
    async fn when_an_existing_source_was_not_made_by_an_operator_should_fail_and_copy_nothing() {
        /// (case, configuration, how the image came to be, what the failure names)
        type Case<'a> = (
            &'a str,
            &'a [(&'a str, &'a str)],
            fn(&FakeAppStream),
            &'a str,
        );
        let cases: [Case; 4] = [
            (
                "copied, imported or shared: no image builder",
                &[],
                |a| a.put_described("us-east-1", NAME, "AVAILABLE", &[], None),
                "not made in an image builder",
            ),
            (
                "shared with the account",
                &[],
                |a| {
                    a.put_image("us-east-1", NAME, "AVAILABLE", &[]);
                    a.images
                        .lock()
                        .unwrap()
                        .get_mut(&("us-east-1".into(), NAME.into()))
                        .unwrap()
                        .visibility = Some("SHARED".into());
                },
                "SHARED",
            ),
            (
                "made in another image builder than the configured ones",
                &[(
                    "APPSTREAM_SOURCE_BUILDERS",
                    "golden-builder,windows-builder",
                )],
                |a| a.put_image("us-east-1", NAME, "AVAILABLE", &[]),
                "not one of APPSTREAM_SOURCE_BUILDERS (golden-builder, windows-builder)",
            ),
            (
                "made by hand in a builder while only configured ones count",
                &[("APPSTREAM_SOURCE_BUILDERS", "golden-builder")],
                |a| a.put_image("us-east-1", NAME, "AVAILABLE", &[]),
                "release-builder",
            ),
        ];
        for (case, vars, squat, named) in cases {
            let deps = deps(vars);
            squat(&deps.appstream);
            let outcome = handle(&deps, event()).await.unwrap();
            let Outcome::RecordedFailure { reason, .. } = outcome else {
                panic!("{case}: {outcome:?}");
            };
            assert!(reason.contains(named), "{case}: {reason}");
            assert!(deps.appstream.copies().is_empty(), "{case}");
        }
    }

    #[tokio::test]
    async fn when_builders_are_configured_should_copy_a_source_made_in_one_of_them() {
        let deps = deps(&[(
            "APPSTREAM_SOURCE_BUILDERS",
            "golden-builder,release-builder",
        )]);
        deps.appstream
            .put_image("us-east-1", NAME, "AVAILABLE", &[]);
        handle(&deps, event()).await.unwrap();
        assert_eq!(deps.appstream.copies().len(), 2);
    }

    #[test]
    fn when_a_source_builder_is_not_an_appstream_name_should_refuse_the_configuration() {
        let all = BTreeMap::from([
            ("AWS_REGION", "us-east-1"),
            ("ARTIFACT_BUCKET", "image-release-artifacts"),
            ("APPSTREAM_DESTINATION_REGIONS", "eu-west-1"),
            ("PIPELINE_ARNS", PIPELINE),
            ("DISTRIBUTION_CONFIGURATION_ARN", DISTRIBUTION),
            ("APPSTREAM_SOURCE_BUILDERS", "good,-bad"),
        ]);
        let err = Config::from_lookup(|k| all.get(k).map(|v| (*v).to_owned())).unwrap_err();
        assert!(
            err.to_string().contains("APPSTREAM_SOURCE_BUILDERS"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn when_an_image_of_the_copys_name_exists_without_our_mark_should_fail_naming_it() {
        let deps = deps(&[("APPSTREAM_DESTINATION_REGIONS", "eu-west-1")]);
        deps.appstream
            .put_image("us-east-1", NAME, "AVAILABLE", &[]);
        // Someone created the destination image first, with a plausible description.
        deps.appstream.put_described(
            "eu-west-1",
            NAME,
            "AVAILABLE",
            &[],
            Some("Golden image (image-release 0123456789abcdef0123456789abcdef)"),
        );
        let Outcome::CopiesRequested { destinations, .. } = handle(&deps, event()).await.unwrap()
        else {
            panic!("expected the copies recorded")
        };
        let CopyState::Failed { reason } = &destinations[0].state else {
            panic!("{destinations:?}")
        };
        assert!(reason.contains("did not create it"), "{reason}");
        assert!(deps.appstream.copies().is_empty());
    }

    #[tokio::test]
    async fn when_an_imported_source_lacks_our_mark_should_fail_instead_of_copying_it() {
        let deps = deps(&[
            ("APPSTREAM_SOURCE_MODE", "import"),
            (
                "APPSTREAM_IMPORT_ROLE_ARN",
                "arn:aws:iam::123456789012:role/AppStreamImport",
            ),
        ]);
        // Someone imported their own image under the release's name before the release did.
        deps.appstream
            .put_image("us-east-1", NAME, "AVAILABLE", &[]);
        let outcome = handle(&deps, event()).await.unwrap();
        let Outcome::RecordedFailure { reason, .. } = outcome else {
            panic!("{outcome:?}");
        };
        assert!(reason.contains("did not create it"), "{reason}");
        assert!(deps.appstream.copies().is_empty() && deps.appstream.imports().is_empty());
    }

    #[tokio::test]
    async fn when_the_release_imported_its_source_should_carry_the_mark_and_copy_it_later() {
        let deps = deps(&[
            ("APPSTREAM_SOURCE_MODE", "import"),
            (
                "APPSTREAM_IMPORT_ROLE_ARN",
                "arn:aws:iam::123456789012:role/AppStreamImport",
            ),
            ("APPSTREAM_IMAGE_DESCRIPTION", "Golden"),
        ]);
        deps.amis
            .set_ami("ami-0abcdef1234567890", Some(importable()));
        handle(&deps, event()).await.unwrap();
        let description = deps.appstream.imports()[0]
            .description
            .as_ref()
            .unwrap()
            .to_string();
        assert!(
            description.starts_with("Golden (image-release "),
            "{description}"
        );
        // Imported and AVAILABLE: the next delivery takes it as the release's own and copies it.
        deps.appstream.set_state("us-east-1", NAME, "AVAILABLE");
        handle(&deps, event()).await.unwrap();
        assert_eq!(deps.appstream.copies().len(), 2);
        assert_eq!(deps.appstream.imports().len(), 1);
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
    async fn when_a_region_is_incompatible_should_record_it_failed_and_a_quota_should_wait() {
        let deps = deps(&[]);
        deps.appstream
            .put_image("us-east-1", NAME, "AVAILABLE", &[]);
        // Regions are copied in parallel: which one meets which error is not fixed.
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
        let mut states: Vec<&str> = destinations
            .iter()
            .map(|d| match &d.state {
                CopyState::Failed { reason } if reason.contains("IncompatibleImage") => "failed",
                CopyState::WaitingForQuota { reason } if reason.contains("LimitExceeded") => {
                    "waiting"
                }
                _ => "other",
            })
            .collect();
        states.sort_unstable();
        assert_eq!(states, ["failed", "waiting"], "{destinations:?}");
        let record = deps
            .store
            .json("state/golden-1.0.0-1/appstream.json")
            .unwrap();
        let recorded: Vec<&str> = record["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["state"].as_str().unwrap())
            .collect();
        assert!(
            recorded.contains(&"waiting-for-quota") && recorded.contains(&"failed"),
            "{record}"
        );
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
        // A routine release failure: recorded and answered, not a function error (Lambda
        // would retry it twice and send it to the on-failure destination).
        let outcome = handle(&deps, event()).await.unwrap();
        let Outcome::RecordedFailure { reason, .. } = outcome else {
            panic!("{outcome:?}");
        };
        assert!(reason.contains("does not exist"), "{reason}");
        let record = deps
            .store
            .json("state/golden-1.0.0-1/failure-appstream.json")
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
        let outcome = handle(&deps, event()).await.unwrap();
        let Outcome::RecordedFailure { reason: text, .. } = outcome else {
            panic!("{outcome:?}");
        };
        assert!(
            text.contains("not uefi")
                && text.contains("501 GB")
                && text.contains("APPSTREAM_SOURCE_MODE=existing"),
            "{text}"
        );
        assert!(deps.appstream.imports().is_empty());
        assert!(
            deps.store
                .json("state/golden-1.0.0-1/failure-appstream.json")
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
                .json("state/golden-1.0.0-1/appstream.json")
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

    #[test]
    fn when_a_destination_is_in_another_partition_should_fail_init_naming_both() {
        // us-gov-west-1 offers AppStream 2.0, but in aws-us-gov: an aws account cannot copy there.
        let err = Config::from_lookup(|k| match k {
            "AWS_REGION" => Some("us-east-1".into()),
            "ARTIFACT_BUCKET" => Some("b-1".into()),
            "APPSTREAM_DESTINATION_REGIONS" => Some("eu-west-1,us-gov-west-1".into()),
            _ => None,
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("APPSTREAM_DESTINATION_REGIONS")
                && err.contains("partition aws")
                && err.contains("us-gov-west-1 is in aws-us-gov"),
            "{err}"
        );
    }
}
