//! `channels`, `promote` and `rollback`: where each channel points, and moving it after checks.
//!
//! A move is checked first and moves nothing when a check fails: every check of `verify`
//! (AMIs available and tagged, artifacts hashed against the manifest, AppStream images,
//! signatures), and for each AMI of the account that built the release, that it is not
//! deprecated and is shared exactly as the distribution configuration's `launchPermission`
//! says. Then the channel's record is written with `If-Match` on the record the checks were
//! made against (a concurrent move makes this one stop, having changed nothing), and mirrored
//! at once into the SSM parameters and the catalog ([`shared::channels::mirror`]); if the
//! command stops midway, publish-release's next tick finishes the mirror.

use crate::verify::{self, Finding, Options, PublicKeySource};
use crate::{Cli, Failure, Outcome, aws, release_id, sdk, store, table};
use serde_json::json;
use shared::aws::ec2::Ec2Adapter;
use shared::aws::s3::S3Adapter;
use shared::aws::ssm::SsmParameters;
use shared::channels::{self, Action, ChannelRecord, Mirrored, Target};
use shared::domain::{AmiId, ChannelName, ParameterPrefix, ReleaseId};
use shared::ports::{AmiCatalog, ArtifactStore, Versioned};
use shared::release::{DistributionRecord, Manifest, keys};
use std::collections::{BTreeMap, BTreeSet};

/// What a move needs besides its target.
#[derive(Debug, Clone, clap::Args)]
pub struct MoveSettings {
    /// Why (kept in the channel's history).
    #[arg(long)]
    pub reason: Option<String>,
    /// The SSM hierarchy of the channels' parameters (stack output ChannelParameterPrefix).
    #[arg(long, env = "IMAGE_RELEASE_PARAMETER_PREFIX")]
    pub parameter_prefix: Option<String>,
    /// The key the release's signatures must verify with: what proves its AMIs before they
    /// go into SSM.
    #[command(flatten)]
    pub keys: crate::provenance::KeyArgs,
}

fn channel_name(field: &str, value: &str) -> Result<ChannelName, Failure> {
    ChannelName::parse(field, value).map_err(|e| Failure::Usage(e.to_string()))
}

fn prefix(settings: &MoveSettings) -> Result<ParameterPrefix, Failure> {
    crate::parameter_prefix(settings.parameter_prefix.as_deref())
}

fn reason(settings: &MoveSettings) -> Result<Option<&str>, Failure> {
    match settings.reason.as_deref() {
        Some(r) if r.chars().count() > 1024 || r.chars().any(char::is_control) => Err(
            Failure::Usage("--reason: at most 1024 characters, no control characters".into()),
        ),
        other => Ok(other),
    }
}

/// `channels [IMAGE]`: every channel (of one image) with where it points.
pub async fn list(cli: &Cli, image: Option<&str>) -> Outcome {
    let image = image
        .map(|i| shared::domain::ImageName::parse("IMAGE", i))
        .transpose()?;
    let store = store(cli).await?;
    let prefix = match image {
        Some(image) => format!("{}{image}/", channels::keys::PREFIX),
        None => channels::keys::PREFIX.to_owned(),
    };
    let keys = store
        .list_keys(&prefix)
        .await
        .map_err(aws("listing the channels"))?;
    let pending = channels::pending(&store)
        .await
        .map_err(aws("listing the channels' moves"))?;
    let mut records = Vec::new();
    for key in keys.iter().filter(|k| k.ends_with(".json")) {
        if let Some(record) = store
            .get_json::<ChannelRecord>(key)
            .await
            .map_err(aws("reading a channel"))?
        {
            records.push(record);
        }
    }
    let mut revoked = BTreeSet::new();
    for id in records.iter().filter_map(|r| r.release_id.as_ref()) {
        if crate::revoke::revocation(&store, id).await?.is_some() {
            revoked.insert(id.clone());
        }
    }
    if cli.json {
        let channels: Vec<serde_json::Value> = records
            .iter()
            .map(|r| {
                let mut value = json!(r);
                value["revoked"] =
                    json!(r.release_id.as_ref().is_some_and(|id| revoked.contains(id)));
                value
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "channels": channels })).unwrap_or_default()
        );
        return Ok(None);
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let last = r.history.last();
            let mirrored = !pending.contains(&(r.image.clone(), r.channel.clone()));
            vec![
                r.image.clone(),
                r.channel.to_string(),
                release_cell(r.release_id.as_ref(), &revoked),
                r.moved_at.clone(),
                last.map_or(String::new(), |m| m.action.as_str().to_owned()),
                last.map_or(String::new(), |m| m.by.clone()),
                if mirrored { "yes" } else { "not yet" }.to_owned(),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &[
                "IMAGE", "CHANNEL", "RELEASE", "SINCE", "MOVED BY", "WHO", "MIRRORED"
            ],
            &rows
        )
    );
    Ok(None)
}

/// Where a channel points, as `channels` shows it: a revoked release says so (publish-release's
/// next tick moves the channel away from it).
pub fn release_cell(release: Option<&ReleaseId>, revoked: &BTreeSet<ReleaseId>) -> String {
    match release {
        None => "(empty)".into(),
        Some(id) if revoked.contains(id) => format!("{id} (revoked)"),
        Some(id) => id.to_string(),
    }
}

/// `promote RELEASE --to CHANNEL`.
pub async fn promote(cli: &Cli, release: &str, to: &str, settings: &MoveSettings) -> Outcome {
    let id = release_id(release)?;
    let channel = channel_name("--to", to)?;
    prefix(settings)?;
    reason(settings)?;
    settings.keys.check()?;
    let image = channels::image_of(&id);
    let store = store(cli).await?;
    let current = channels::read(&store, &image, &channel)
        .await
        .map_err(aws("reading the channel"))?;
    if current
        .as_ref()
        .is_some_and(|c| c.value.release_id.as_ref() == Some(&id))
    {
        // Where it points already, unless that release was revoked since (publish-release's
        // next tick moves the channel away): a promotion of it is refused as any other.
        if let Some(record) = crate::revoke::revocation(&store, &id).await? {
            return Err(Failure::Problem(format!(
                "{}: {image}/{channel} not promoted (publish-release's next tick moves it away)",
                crate::contract::revoked(&record)
            )));
        }
        return Ok(unchanged(cli, &image, &channel, &id));
    }
    move_channel(
        cli,
        &store,
        &id,
        &channel,
        current,
        Action::Promote,
        settings,
    )
    .await
}

/// `rollback --channel CHANNEL [--image IMAGE] [--to RELEASE]`.
pub async fn rollback(
    cli: &Cli,
    channel: &str,
    image: Option<&str>,
    to: Option<&str>,
    settings: &MoveSettings,
) -> Outcome {
    let channel = channel_name("--channel", channel)?;
    let to = to.map(|t| ReleaseId::parse("--to", t)).transpose()?;
    let image = image
        .map(|i| shared::domain::ImageName::parse("--image", i))
        .transpose()?;
    if let (Some(image), Some(to)) = (&image, &to)
        && channels::image_of(to) != image.as_str()
    {
        return Err(Failure::Usage(format!(
            "--to: {to} is a release of {}, not of --image {image}",
            channels::image_of(to)
        )));
    }
    prefix(settings)?;
    reason(settings)?;
    settings.keys.check()?;
    let store = store(cli).await?;
    let image = match (image, &to) {
        (Some(image), _) => image.to_string(),
        (None, Some(to)) => channels::image_of(to),
        (None, None) => only_image_with(&store, &channel).await?,
    };
    let current = channels::read(&store, &image, &channel)
        .await
        .map_err(aws("reading the channel"))?
        .ok_or_else(|| Failure::Problem(format!("{image}/{channel} has never pointed anywhere")))?;
    let target = match to {
        Some(to) => to,
        None => current.value.rollback_target().cloned().ok_or_else(|| {
            Failure::Problem(format!(
                "{image}/{channel} has no earlier release to roll back to (pass --to RELEASE)"
            ))
        })?,
    };
    if current.value.release_id.as_ref() == Some(&target) {
        return Ok(unchanged(cli, &image, &channel, &target));
    }
    move_channel(
        cli,
        &store,
        &target,
        &channel,
        Some(current),
        Action::Rollback,
        settings,
    )
    .await
}

/// A move to where the channel points already: done, nothing changed (exit 0, said so).
fn unchanged(cli: &Cli, image: &str, channel: &ChannelName, id: &ReleaseId) -> Option<String> {
    if cli.json {
        println!(
            "{}",
            json!({ "image": image, "channel": channel.as_str(), "release": id.as_str(), "unchanged": true })
        );
    } else {
        println!("{image}/{channel} already points at {id}: nothing to do");
    }
    None
}

/// The one image that has `channel` (usage error when none or several do).
async fn only_image_with(store: &S3Adapter, channel: &ChannelName) -> Result<String, Failure> {
    let suffix = format!("/{channel}.json");
    let images: Vec<String> = store
        .list_keys(channels::keys::PREFIX)
        .await
        .map_err(aws("listing the channels"))?
        .iter()
        .filter_map(|k| {
            k.strip_prefix(channels::keys::PREFIX)?
                .strip_suffix(&suffix)
                .map(str::to_owned)
        })
        .collect();
    match images.as_slice() {
        [image] => Ok(image.clone()),
        [] => Err(Failure::Problem(format!(
            "no image has a channel {channel}"
        ))),
        several => Err(Failure::Usage(format!(
            "several images have a channel {channel} ({}): pass --image",
            several.join(", ")
        ))),
    }
}

/// Checks `id`, then moves `channel` of its image to it (if it still is as `current` was read)
/// and mirrors it.
async fn move_channel(
    cli: &Cli,
    store: &S3Adapter,
    id: &ReleaseId,
    channel: &ChannelName,
    current: Option<Versioned<ChannelRecord>>,
    action: Action,
    settings: &MoveSettings,
) -> Outcome {
    let prefix = prefix(settings)?;
    let reason = reason(settings)?;
    let image = channels::image_of(id);
    let manifest = crate::published(store, id).await?;
    let config = sdk(cli).await?;

    let findings = promotion_findings(&config, store, &manifest, settings.keys.source()?).await?;
    if let Some(summary) = verify::report(cli, id, &findings) {
        return Err(Failure::Problem(format!(
            "{summary}: {image}/{channel} not moved"
        )));
    }

    let target = Target::of(&manifest)
        .map_err(|e| Failure::Problem(format!("the manifest of {id}: {e}")))?;
    let mut record = current
        .as_ref()
        .map_or_else(|| ChannelRecord::new(&image, channel), |c| c.value.clone());
    let from = record.release_id.clone();
    let now = shared::release::timestamp(std::time::SystemTime::now());
    record.moved(target, action, &now, &caller(&config).await, reason);
    if !channels::write_move(store, current.as_ref(), &record)
        .await
        .map_err(aws("moving the channel"))?
    {
        return Err(Failure::Problem(format!(
            "{image}/{channel} was moved by someone else meanwhile: nothing moved; run \
             `image-release channels {image}` and decide again"
        )));
    }
    let parameters = SsmParameters::new(&config);
    // The AMIs the checks above proved (the manifest's signature): nothing else goes into SSM.
    let proof = crate::provenance::Verified(&manifest);
    let space = channels::ParameterSpace::new(&prefix, store.bucket());
    let mirrored = channels::mirror(store, &parameters, &proof, &space, &image, channel).await;
    let name = prefix.parameter(&image, channel);
    let (mirror_note, waiting) = match &mirrored {
        Ok(Mirrored::Done { .. }) => ("mirrored".to_owned(), Vec::new()),
        Ok(Mirrored::Waiting { regions, .. }) => (
            "SSM does not show it yet in some regions (it validates AMI ids asynchronously); \
             publish-release's next tick looks again"
                .to_owned(),
            regions.iter().map(ToString::to_string).collect(),
        ),
        Ok(Mirrored::Refused { reason, .. }) => (format!("not mirrored: {reason}"), Vec::new()),
        Err(e) => (
            format!("not mirrored yet ({e}); publish-release's next tick mirrors it"),
            Vec::new(),
        ),
    };
    if cli.json {
        println!(
            "{}",
            json!({
                "image": image, "channel": channel.as_str(), "release": id.as_str(),
                "from": from.as_ref().map(ToString::to_string), "action": action.as_str(),
                "generation": record.generation, "parameter": name,
                "amis": record.amis, "mirror": mirror_note, "waiting": waiting,
            })
        );
    } else {
        println!(
            "{} {image}/{channel}: {} → {id} (move {}); {name} = {}: {mirror_note}",
            match action {
                Action::Rollback => "rolled back",
                _ => "promoted",
            },
            from.as_ref().map_or("(empty)".into(), ToString::to_string),
            record.generation,
            record
                .amis
                .iter()
                .map(|a| format!("{} in {}", a.ami_id, a.region))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    Ok(None)
}

/// The principal acting (STS GetCallerIdentity), for the record it writes. When it cannot be
/// read, the record says so and the operator is warned on stderr: the history would otherwise
/// blame nobody without anyone noticing.
pub(crate) async fn caller(config: &aws_config::SdkConfig) -> String {
    let answer = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await;
    match answer {
        Ok(out) if out.arn.is_some() => out.arn.unwrap_or_default(),
        Ok(_) => unknown_caller("the answer names no ARN".into()),
        Err(e) => unknown_caller(shared::aws::causes(&e)),
    }
}

fn unknown_caller(why: String) -> String {
    eprintln!(
        "warning: who you are could not be read (sts:GetCallerIdentity: {why}): the record \
         says `unknown`; allow sts:GetCallerIdentity (no policy can deny it) or check the \
         endpoint"
    );
    "unknown (sts:GetCallerIdentity failed)".into()
}

/// `verify`'s checks without the URLs, then deprecation and launch permissions.
async fn promotion_findings(
    config: &aws_config::SdkConfig,
    store: &S3Adapter,
    manifest: &Manifest,
    public_key: PublicKeySource,
) -> Result<Vec<Finding>, Failure> {
    let options = Options {
        skip_urls: true,
        catalog: false,
        key: None,
        public_key,
        parameter_prefix: None,
    };
    let mut findings = verify::check(config, store, manifest, &options).await?;
    let revoked = crate::revoke::revocation(store, &manifest.release_id).await?;
    findings.push(Finding {
        check: "not revoked",
        subject: manifest.release_id.to_string(),
        problem: revoked.map(|r| format!("revoked at {} by {}: {}", r.at, r.by, r.reason)),
    });
    let expected = expected_permissions(config, store, &manifest.release_id).await;
    let target = Target::of(manifest)
        .map_err(|e| Failure::Problem(format!("the manifest of {}: {e}", manifest.release_id)))?;
    let now = shared::release::timestamp(std::time::SystemTime::now());
    for ami in &target.amis {
        let subject = format!("{} {}", ami.region, ami.ami_id);
        let ec2 = Ec2Adapter::new(&crate::regional(config, ami.region.as_str()));
        let deprecated = match ec2.describe_ami(&ami.ami_id).await {
            Ok(facts) => facts.and_then(|f| f.deprecation_time).and_then(|at| {
                (at.as_str() <= now.as_str()).then(|| format!("deprecated since {at}"))
            }),
            Err(e) => Some(format!("DescribeImages failed: {e}")),
        };
        findings.push(Finding {
            check: "not deprecated",
            subject: subject.clone(),
            problem: deprecated,
        });
        let problem = match &expected {
            Err(why) => Some(why.clone()),
            Ok(expected) => {
                let wanted = expected
                    .get(ami.region.as_str())
                    .cloned()
                    .unwrap_or_default();
                launch_problem(&ec2, &ami.ami_id, &wanted).await
            }
        };
        findings.push(Finding {
            check: "launch permissions",
            subject,
            problem,
        });
    }
    Ok(findings)
}

/// What is wrong with who may launch `ami`, given the distribution configuration's list.
async fn launch_problem(
    ec2: &Ec2Adapter,
    ami: &AmiId,
    wanted: &BTreeSet<String>,
) -> Option<String> {
    let actual: BTreeSet<String> = match ec2.launch_permissions(ami).await {
        Ok(Some(actual)) => actual.into_iter().collect(),
        Ok(None) => return Some("does not exist".into()),
        Err(e) => return Some(format!("DescribeImageAttribute failed: {e}")),
    };
    permission_problem(wanted, &actual)
}

/// The difference between the launch permissions a distribution configuration asks for and
/// the ones an AMI has, both ways (an AMI shared more widely than configured is as wrong as one
/// that is not shared).
pub fn permission_problem(wanted: &BTreeSet<String>, actual: &BTreeSet<String>) -> Option<String> {
    let missing: Vec<&String> = wanted.difference(actual).collect();
    let extra: Vec<&String> = actual.difference(wanted).collect();
    let mut wrong = Vec::new();
    if !missing.is_empty() {
        wrong.push(format!(
            "not shared with {missing:?} as the distribution configuration says"
        ));
    }
    if !extra.is_empty() {
        wrong.push(format!(
            "also shared with {extra:?}, which the distribution configuration does not name"
        ));
    }
    (!wrong.is_empty()).then(|| wrong.join("; "))
}

/// Region → the launch permissions the release's distribution configuration gives its AMIs
/// (GetDistributionConfiguration, `amiDistributionConfiguration.launchPermission`), in the
/// encoding of [`Ec2Adapter::launch_permissions`]. `Err` says why it cannot be known.
async fn expected_permissions(
    config: &aws_config::SdkConfig,
    store: &S3Adapter,
    id: &ReleaseId,
) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let record: DistributionRecord = store
        .get_json(&keys::distribution(id))
        .await
        .map_err(|e| format!("reading the distribution record: {e}"))?
        .ok_or_else(|| format!("{} is missing", keys::distribution(id)))?;
    let arn = &record.distribution_configuration_arn;
    let region = arn.split(':').nth(3).unwrap_or_default();
    let answer = aws_sdk_imagebuilder::Client::new(&crate::regional(config, region))
        .get_distribution_configuration()
        .distribution_configuration_arn(arn)
        .send()
        .await
        .map_err(|e| {
            format!(
                "GetDistributionConfiguration {arn} failed: {}",
                shared::aws::causes(&e)
            )
        })?;
    let mut expected = BTreeMap::new();
    for distribution in answer
        .distribution_configuration()
        .map(|d| d.distributions())
        .unwrap_or_default()
    {
        let mut wanted = BTreeSet::new();
        if let Some(p) = distribution
            .ami_distribution_configuration()
            .and_then(|a| a.launch_permission())
        {
            wanted.extend(p.user_ids().iter().cloned());
            wanted.extend(p.user_groups().iter().map(|g| format!("group:{g}")));
            wanted.extend(
                p.organization_arns()
                    .iter()
                    .map(|a| format!("organization:{a}")),
            );
            wanted.extend(
                p.organizational_unit_arns()
                    .iter()
                    .map(|a| format!("ou:{a}")),
            );
        }
        expected.insert(distribution.region().to_owned(), wanted);
    }
    Ok(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn when_a_channel_points_at_a_revoked_release_should_show_it_revoked() {
        let id = ReleaseId::parse("id", "golden-1.0.0-2").unwrap();
        let other = ReleaseId::parse("id", "golden-1.0.0-1").unwrap();
        let revoked = BTreeSet::from([id.clone()]);
        assert_eq!(
            release_cell(Some(&id), &revoked),
            "golden-1.0.0-2 (revoked)"
        );
        assert_eq!(release_cell(Some(&other), &revoked), "golden-1.0.0-1");
        assert_eq!(release_cell(None, &revoked), "(empty)");
    }

    #[test]
    fn when_an_ami_is_shared_otherwise_than_configured_should_name_both_differences() {
        assert_eq!(
            permission_problem(&set(&["111122223333"]), &set(&["111122223333"])),
            None
        );
        let problem = permission_problem(&set(&["111122223333"]), &set(&["group:all"])).unwrap();
        assert!(
            problem.contains("not shared with [\"111122223333\"]"),
            "{problem}"
        );
        assert!(
            problem.contains("also shared with [\"group:all\"]"),
            "{problem}"
        );
        assert_eq!(permission_problem(&set(&[]), &set(&[])), None);
    }
}
