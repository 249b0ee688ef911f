//! `doctor`: a preflight check of a deployment's configuration against AWS. The configuration
//! comes from the stack (`--stack`: its parameters and outputs) or from flags, flags winning.
//! Each finding is one line naming the problem and its fix; the judgements are pure functions
//! of what AWS answered, unit-tested without AWS.

use crate::{Cli, Failure, Outcome, sdk};
use serde_json::Value;
use shared::domain::{ImagePipelineArn, RegionName};
use std::collections::BTreeMap;

mod findings;
pub use findings::{
    Finding, VM_IMPORT_PRINCIPAL, appstream_region_findings, distribution_findings,
    subscription_finding, trust_problem, unchecked,
};
use findings::{bad, ok};

/// [`unchecked`] for an SDK error, or the check's own verdict `otherwise`.
fn judged<E, R>(
    check: &'static str,
    service: &str,
    what: &str,
    e: &aws_sdk_sts::error::SdkError<E, R>,
    otherwise: impl FnOnce(String) -> Finding,
) -> Finding
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let service_error = e.as_service_error();
    unchecked(
        check,
        service,
        what,
        service_error.is_some(),
        service_error.and_then(|s| s.code()),
        &sdk_error(e),
    )
    .unwrap_or_else(|| otherwise(sdk_error(e)))
}

/// What `doctor` checks, from the stack and the flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Settings {
    /// Read the configuration from this CloudFormation stack's parameters and outputs.
    #[arg(long)]
    pub stack: Option<String>,
    /// The pipeline (stack parameter PipelineArn).
    #[arg(long)]
    pub pipeline: Option<String>,
    /// The distribution configuration (stack parameter DistributionConfigurationArn; default:
    /// the pipeline's).
    #[arg(long)]
    pub distribution: Option<String>,
    /// The VM Import service role (stack output VmExportRoleName).
    #[arg(long)]
    pub vm_import_role: Option<String>,
    /// export,appstream | export | appstream (stack parameter RequiredSteps).
    #[arg(long)]
    pub required_steps: Option<String>,
    /// Comma-separated AppStream destination regions (stack parameter AppStreamDestinationRegions).
    #[arg(long)]
    pub appstream_regions: Option<String>,
    /// existing | import (stack parameter AppStreamSourceMode).
    #[arg(long)]
    pub appstream_source_mode: Option<String>,
    /// The AppStream image name template (stack parameter AppStreamImageName).
    #[arg(long)]
    pub appstream_image: Option<String>,
    /// A release id, to check the AppStream source image named after it.
    #[arg(long)]
    pub release: Option<String>,
    /// The alarm topic (stack output AlarmTopicArn).
    #[arg(long)]
    pub alarm_topic: Option<String>,
}

/// The stack's parameters and outputs doctor reads ([`Settings::merge`]).
pub const STACK_KEYS: [&str; 8] = [
    "PipelineArn",
    "DistributionConfigurationArn",
    "VmExportRoleName",
    "RequiredSteps",
    "AppStreamDestinationRegions",
    "AppStreamSourceMode",
    "AlarmTopicArn",
    "ArtifactBucketName",
];

impl Settings {
    /// Fills what the flags left out from the stack's parameters and outputs.
    fn merge(&mut self, stack: &BTreeMap<String, String>, bucket: &mut Option<String>) {
        let take = |field: &mut Option<String>, key: &str| {
            if field.is_none() {
                *field = stack.get(key).filter(|v| !v.is_empty()).cloned();
            }
        };
        take(&mut self.pipeline, "PipelineArn");
        take(&mut self.distribution, "DistributionConfigurationArn");
        // The role the stack passes (its own, named by IAM, or VmImportRoleName).
        take(&mut self.vm_import_role, "VmExportRoleName");
        take(&mut self.vm_import_role, "VmImportRoleName");
        take(&mut self.required_steps, "RequiredSteps");
        take(&mut self.appstream_regions, "AppStreamDestinationRegions");
        take(&mut self.appstream_source_mode, "AppStreamSourceMode");
        take(&mut self.appstream_image, "AppStreamImageName");
        take(&mut self.alarm_topic, "AlarmTopicArn");
        take(bucket, "ArtifactBucketName");
    }
}

pub async fn doctor(cli: &Cli, settings: &Settings) -> Outcome {
    let config = sdk(cli).await?;
    let mut settings = settings.clone();
    let mut bucket = cli.bucket.clone();
    let mut findings = Vec::new();
    if let Some(stack) = settings.stack.clone() {
        let cloudformation = aws_sdk_cloudformation::Client::new(&config);
        let described = cloudformation
            .describe_stacks()
            .stack_name(&stack)
            .send()
            .await
            .map_err(|e| {
                let cause = sdk_error(&e);
                match e.as_service_error() {
                    Some(s)
                        if aws_sdk_sts::error::ProvideErrorMetadata::code(s)
                            .is_some_and(|c| c.contains("AccessDenied")) =>
                    {
                        Failure::Problem(format!(
                            "--stack {stack}: CloudFormation refused these credentials ({cause}); \
                             fix: run doctor under the stack's OperatorReadOnlyPolicyArn policy, \
                             or pass the stack's parameters and outputs as flags"
                        ))
                    }
                    // No such stack, throttled…: AWS answered no (exit 1), as for an unknown release.
                    Some(_) => Failure::Problem(format!("--stack {stack}: {cause}")),
                    None => Failure::Problem(format!(
                        "--stack {stack}: CloudFormation cannot be reached ({cause}): none of \
                         the stack's parameters and outputs could be read; fix: the network, \
                         the endpoint or --region, or pass them as flags ({})",
                        STACK_KEYS.join(", ")
                    )),
                }
            })?;
        let mut values = BTreeMap::new();
        for found in described.stacks() {
            for p in found.parameters() {
                if let (Some(k), Some(v)) = (p.parameter_key(), p.parameter_value()) {
                    values.insert(k.to_owned(), v.to_owned());
                }
            }
            for o in found.outputs() {
                if let (Some(k), Some(v)) = (o.output_key(), o.output_value()) {
                    values.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        settings.merge(&values, &mut bucket);
        let missing: Vec<&str> = STACK_KEYS
            .iter()
            .copied()
            .filter(|k| !values.contains_key(*k))
            .collect();
        findings.push(if missing.is_empty() {
            ok(
                "stack",
                format!("{stack}: every parameter and output doctor reads"),
            )
        } else {
            bad(
                "stack",
                format!(
                    "{stack} has no {}: what they give is checked only from flags; fix: update \
                     the stack to this template, or pass the flags",
                    missing.join(", ")
                ),
            )
        });
    }
    let pipeline = settings
        .pipeline
        .as_deref()
        .ok_or_else(|| Failure::Usage("no pipeline: pass --pipeline or --stack".into()))?;
    let pipeline = ImagePipelineArn::parse("--pipeline", pipeline)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let home = pipeline.region().to_owned();
    let account = pipeline.account().to_owned();
    let steps = settings
        .required_steps
        .clone()
        .unwrap_or_else(|| "export,appstream".into());
    let export_required = steps.split(',').any(|s| s.trim() == "export");
    let appstream_required = steps.split(',').any(|s| s.trim() == "appstream");
    let regional = crate::regional(&config, &home);

    // 1. The pipeline and its distribution configuration.
    let imagebuilder = aws_sdk_imagebuilder::Client::new(&regional);
    let mut distribution = settings.distribution.clone();
    match imagebuilder
        .get_image_pipeline()
        .image_pipeline_arn(pipeline.as_str())
        .send()
        .await
    {
        Ok(out) => {
            findings.push(ok("pipeline", format!("{pipeline} exists")));
            if distribution.is_none() {
                distribution = out
                    .image_pipeline()
                    .and_then(|p| p.distribution_configuration_arn())
                    .map(str::to_owned);
            }
        }
        Err(e) => findings.push(judged("pipeline", "Image Builder", pipeline.as_str(), &e, |why| {
            bad(
                "pipeline",
                format!("{pipeline} cannot be read ({why}); fix: check PipelineArn and the stack's region"),
            )
        })),
    }
    match &distribution {
        None => findings.push(bad(
            "distribution",
            "no distribution configuration; fix: set DistributionConfigurationArn",
        )),
        Some(arn) => match imagebuilder
            .get_distribution_configuration()
            .distribution_configuration_arn(arn)
            .send()
            .await
        {
            Ok(out) => {
                findings.push(ok("distribution", format!("{arn} exists")));
                let regions: Vec<(String, Option<String>)> = out
                    .distribution_configuration()
                    .map(|d| d.distributions())
                    .unwrap_or_default()
                    .iter()
                    .map(|d| {
                        let kms = d
                            .ami_distribution_configuration()
                            .and_then(|a| a.kms_key_id())
                            .map(str::to_owned);
                        (d.region().to_owned(), kms)
                    })
                    .collect();
                findings.extend(distribution_findings(&home, &regions, export_required));
            }
            Err(e) => findings.push(judged("distribution", "Image Builder", arn, &e, |why| {
                bad(
                    "distribution",
                    format!(
                        "{arn} cannot be read ({why}); fix: check DistributionConfigurationArn"
                    ),
                )
            })),
        },
    }

    // 2. The VM Import role, when the release exports.
    if export_required {
        let role = settings
            .vm_import_role
            .clone()
            .unwrap_or_else(|| "vmimport".into());
        let iam = aws_sdk_iam::Client::new(&config);
        findings.push(match iam.get_role().role_name(&role).send().await {
            Ok(out) => {
                let document = out
                    .role()
                    .and_then(|r| r.assume_role_policy_document())
                    .unwrap_or_default();
                let decoded = percent_encoding::percent_decode_str(document).decode_utf8_lossy();
                match serde_json::from_str::<Value>(&decoded) {
                    Ok(policy) => match trust_problem(&policy) {
                        None => ok(
                            "VM Import role",
                            format!("{role} exists and trusts {VM_IMPORT_PRINCIPAL}"),
                        ),
                        Some(problem) => bad("VM Import role", format!("{role}: {problem}")),
                    },
                    Err(e) => bad(
                        "VM Import role",
                        format!("{role}: its trust policy is not JSON ({e})"),
                    ),
                }
            }
            Err(e) => judged("VM Import role", "IAM", &role, &e, |why| {
                bad(
                    "VM Import role",
                    format!(
                        "{role} cannot be read ({why}); fix: deploy with CreateVmImportRole=true, \
                         or create it as the VM Import/Export user guide says"
                    ),
                )
            }),
        });
    }

    // 3. The bucket belongs to the account of the stack.
    let caller = match aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
    {
        Ok(o) => o.account().map(str::to_owned),
        Err(e) => {
            findings.push(judged(
                "account",
                "STS",
                "these credentials' account",
                &e,
                |why| {
                    bad(
                        "account",
                        format!("these credentials' account cannot be read ({why})"),
                    )
                },
            ));
            None
        }
    };
    match &bucket {
        None => findings.push(bad(
            "bucket",
            "no bucket; fix: pass --bucket, set IMAGE_RELEASE_BUCKET or use --stack",
        )),
        Some(name) => {
            let owner = caller.clone().unwrap_or_else(|| account.clone());
            let s3 = aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&config)
                    .force_path_style(std::env::var_os("AWS_ENDPOINT_URL_S3").is_some())
                    .build(),
            );
            findings.push(
                match s3
                    .head_bucket()
                    .bucket(name)
                    .expected_bucket_owner(&owner)
                    .send()
                    .await
                {
                    Ok(_) => ok("bucket", format!("{name} belongs to {owner}")),
                    Err(e) => judged("bucket", "S3", name, &e, |why| {
                        bad(
                            "bucket",
                            format!(
                                "{name} is not a bucket of account {owner} ({why}); fix: use the \
                                 stack's ArtifactBucketName, in the pipeline's account"
                            ),
                        )
                    }),
                },
            );
        }
    }
    if let Some(caller) = caller.filter(|c| *c != account) {
        findings.push(bad(
            "account",
            format!(
                "these credentials are of account {caller}, the pipeline is in {account}; fix: \
                 use a profile of {account}"
            ),
        ));
    }

    // 4. AppStream: the destinations offer it; the source image exists.
    if appstream_required {
        let regions: Vec<String> = settings
            .appstream_regions
            .clone()
            .unwrap_or_default()
            .split(',')
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .collect();
        findings.extend(appstream_region_findings(&home, &regions));
        let mode = settings
            .appstream_source_mode
            .clone()
            .unwrap_or_else(|| "existing".into());
        let template = settings
            .appstream_image
            .clone()
            .unwrap_or_else(|| "{release}".into());
        if mode == "existing" {
            let name = match (&settings.release, template.contains("{release}")) {
                (_, false) => Some(template.clone()),
                (Some(release), true) => Some(template.replace("{release}", release)),
                (None, true) => None,
            };
            findings.push(match name {
                None => ok(
                    "AppStream source",
                    format!(
                        "named {template} per release: pass --release ID to check one release's"
                    ),
                ),
                Some(name) => appstream_source(&regional, &home, &name).await,
            });
        }
    }

    // 5. Someone hears a failure.
    match &settings.alarm_topic {
        None => findings.push(bad(
            "alarm topic",
            "no alarm topic; fix: pass --alarm-topic or --stack (output AlarmTopicArn)",
        )),
        Some(topic) => {
            let regional_sns = aws_sdk_sns::Client::new(&regional);
            // SNS answers 100 subscriptions a page: every page is read.
            findings.push(
                match regional_sns
                    .list_subscriptions_by_topic()
                    .topic_arn(topic)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                {
                    Ok(subscriptions) => {
                        let arns: Vec<String> = subscriptions
                            .into_iter()
                            .filter_map(|s| s.subscription_arn)
                            .collect();
                        subscription_finding(topic, &arns)
                    }
                    Err(e) => judged("alarm topic", "SNS", topic, &e, |why| {
                        bad(
                            "alarm topic",
                            format!("{topic} cannot be read ({why}); fix: check AlarmTopicArn"),
                        )
                    }),
                },
            );
        }
    }

    let problems = findings.iter().filter(|f| f.problem.is_some()).count();
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "ok": problems == 0, "findings": findings })
            )
            .unwrap_or_default()
        );
    } else {
        for f in &findings {
            match (&f.problem, f.unknown) {
                (None, _) => println!("ok    {:<17} {}", f.check, f.detail),
                (Some(p), true) => println!("?     {:<17} {p}", f.check),
                (Some(p), false) => println!("FAIL  {:<17} {p}", f.check),
            }
        }
    }
    let unknown = findings.iter().filter(|f| f.unknown).count();
    Ok((problems > 0).then(|| {
        format!(
            "doctor: {problems} of {} checks failed ({unknown} of them could not be made)",
            findings.len()
        )
    }))
}

async fn appstream_source(config: &aws_config::SdkConfig, home: &str, name: &str) -> Finding {
    use shared::ports::AppStreamImages;
    let (Ok(region), Ok(image)) = (
        RegionName::parse("region", home),
        shared::domain::AppStreamImageName::parse("AppStreamImageName", name),
    ) else {
        return bad(
            "AppStream source",
            format!("{name:?} is not a valid AppStream image name; fix: AppStreamImageName"),
        );
    };
    let appstream = shared::aws::appstream::AppStreamAdapter::new(config, &region, &[]);
    match appstream.describe_image(&region, &image).await {
        Ok(Some(found)) => ok(
            "AppStream source",
            format!("{name} exists in {home} ({})", found.state),
        ),
        Ok(None) => bad(
            "AppStream source",
            format!(
                "no AppStream image {name} in {home}; fix: create it, or use \
                 AppStreamSourceMode=import"
            ),
        ),
        Err(e) => unchecked(
            "AppStream source",
            "AppStream",
            name,
            e.code != "NetworkError",
            Some(&e.code),
            &e.message,
        )
        .unwrap_or_else(|| bad("AppStream source", format!("{name} cannot be read: {e}"))),
    }
}

/// An SDK error as people read it: the service's code and message when there is one.
fn sdk_error<E, R>(e: &aws_sdk_sts::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or_default()
        ),
        None => shared::aws::causes(e),
    }
}
