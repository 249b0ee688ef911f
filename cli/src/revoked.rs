//! `verify` of a revoked release: that it is revoked everywhere the revocation reached.

use crate::verify::Finding;
use crate::{Failure, aws};
use shared::aws::appstream::AppStreamAdapter;
use shared::aws::ec2::Ec2Regions;
use shared::aws::s3::S3Adapter;
use shared::aws::ssm::SsmParameters;
use shared::catalog::{History, Index, Latest};
use shared::channels::{self, ChannelRecord, Target};
use shared::domain::{AppStreamImageName, ParameterPrefix, RegionName};
use shared::ports::{
    AmiLifecycle, AppStreamImageState, AppStreamImages, ArtifactStore, Parameters,
};
use shared::release::{self, Manifest, keys};
use shared::revocation::{self, RevocationRecord, Surface};

/// Every check that a revoked release is revoked everywhere: its revocation finished; each
/// AMI of the building account deprecated (and disabled when asked); each disk out of the
/// grant (or deleted); the catalog marking it; no channel pointing at it and no channel's
/// parameter naming its AMIs; its AppStream copies gone when asked.
pub async fn check_revoked(
    config: &aws_config::SdkConfig,
    store: &S3Adapter,
    manifest: &Manifest,
    record: &RevocationRecord,
    prefix: &ParameterPrefix,
) -> Result<Vec<Finding>, Failure> {
    let id = &manifest.release_id;
    let mut findings = Vec::new();
    // A raise the ticks have not carried out yet reopens what it changes.
    let (_, progress) = revocation::progress_for(store, record)
        .await
        .map_err(aws("reading the revocation's progress"))?;
    let undone: Vec<String> = Surface::ALL
        .iter()
        .filter(|s| !progress.done.contains(s))
        .map(|s| {
            format!(
                "{}{}",
                s.as_str(),
                progress
                    .notes
                    .get(s)
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    findings.push(Finding::new(
        "revocation",
        format!("{} by {}: {}", record.at, record.by, record.reason),
        (!undone.is_empty()).then(|| format!("not done yet: {}", undone.join("; "))),
    ));

    let target =
        Target::of(manifest).map_err(|e| Failure::Problem(format!("the manifest: {e}")))?;
    let ec2 = Ec2Regions::new(config);
    for ami in &target.amis {
        let problem = match ec2.describe(&ami.region, &ami.ami_id).await {
            Ok(None) => None,
            Ok(Some(facts)) => {
                let mut wrong = Vec::new();
                // The deprecation a revocation asks for is the next minute or two after it.
                let by = shared::clock::parse_time(&record.at)
                    .map_or(std::time::SystemTime::now(), |at| {
                        at + std::time::Duration::from_secs(600)
                    });
                if !revocation::deprecated_by(facts.deprecation_time.as_deref(), by) {
                    wrong.push(match &facts.deprecation_time {
                        Some(at) => format!("deprecation only at {at}, not now"),
                        None => "not deprecated".to_owned(),
                    });
                }
                if record.disable && facts.state.as_deref() != Some("disabled") {
                    wrong.push(format!(
                        "state is {}, not disabled",
                        facts.state.as_deref().unwrap_or("unknown")
                    ));
                }
                (!wrong.is_empty()).then(|| wrong.join("; "))
            }
            Err(e) => Some(format!("DescribeImages failed: {e}")),
        };
        findings.push(Finding::new(
            "AMI revoked",
            format!("{} {}", ami.region, ami.ami_id),
            problem,
        ));
    }

    for artifact in crate::artifacts(manifest) {
        let key = &artifact.object_key;
        let problem = match store.object_tags(key).await {
            Ok(None) => None,
            Ok(Some(_)) if record.purge => Some("still exists (--purge deletes it)".into()),
            Ok(Some(tags)) => (tags.get(release::TAG_PUBLISHED).map(String::as_str)
                == Some("true"))
            .then(|| "still tagged published: the distribution serves it".into()),
            Err(e) => Some(format!("GetObjectTagging failed: {e}")),
        };
        findings.push(Finding::new("disk withdrawn", key.clone(), problem));
    }

    let image = channels::image_of(id);
    let month = shared::catalog::month_of(&manifest.timestamps.published_at);
    let page: Option<History> = store
        .get_json(&keys::history(&image, &month))
        .await
        .map_err(aws("reading the history page"))?;
    let on_page = page
        .iter()
        .flat_map(|p| &p.releases)
        .find(|e| e.release_id == id.as_str());
    findings.push(Finding::new(
        "catalog marks it",
        keys::history(&image, &month),
        match on_page {
            Some(e) if e.revoked.is_some() => None,
            Some(_) => Some("listed without its revocation".into()),
            None => None,
        },
    ));
    let index: Option<Index> = store
        .get_json(keys::INDEX)
        .await
        .map_err(aws("reading the index"))?;
    let unmarked = index
        .iter()
        .filter_map(|i| i.images.get(&image))
        .flat_map(|s| &s.recent)
        .any(|e| e.release_id == id.as_str() && e.revoked.is_none());
    findings.push(Finding::new(
        "catalog marks it",
        keys::INDEX.to_owned(),
        unmarked.then(|| "listed without its revocation".into()),
    ));
    let latest: Option<Latest> = store
        .get_json(keys::LATEST)
        .await
        .map_err(aws("reading latest.json"))?;
    let unmarked = latest
        .iter()
        .filter_map(|l| l.images.get(&image))
        .any(|e| e.release_id == id.as_str() && e.revoked.is_none());
    findings.push(Finding::new(
        "catalog marks it",
        keys::LATEST.to_owned(),
        unmarked.then(|| "names it without its revocation".into()),
    ));

    let parameters = SsmParameters::new(config);
    for channel in channels::of_image(store, &image)
        .await
        .map_err(aws("listing the channels"))?
    {
        let record: Option<ChannelRecord> = store
            .get_json(&channels::keys::record(&image, &channel))
            .await
            .map_err(aws("reading a channel"))?;
        let points = record.as_ref().and_then(|r| r.release_id.as_ref()) == Some(id);
        let name = prefix.parameter(&image, &channel);
        let mut wrong = Vec::new();
        if points {
            wrong.push("still points at it".to_owned());
        }
        for ami in &target.amis {
            match parameters.get(&ami.region, &name).await {
                Ok(Some(value)) if value == ami.ami_id.as_str() => {
                    wrong.push(format!("{name} in {} names {}", ami.region, ami.ami_id));
                }
                Ok(_) => {}
                Err(e) => wrong.push(format!("GetParameter {name} in {} failed: {e}", ami.region)),
            }
        }
        findings.push(Finding::new(
            "channel moved",
            format!("{image}/{channel}"),
            (!wrong.is_empty()).then(|| wrong.join("; ")),
        ));
    }

    if record.delete_appstream {
        let regions: Vec<RegionName> = manifest
            .appstream
            .iter()
            .filter_map(|a| RegionName::parse("region", &a.region).ok())
            .collect();
        let home = RegionName::parse(
            "region",
            config.region().map_or("us-east-1", |r| r.as_ref()),
        )
        .map_err(|e| Failure::Usage(e.to_string()))?;
        let appstream = AppStreamAdapter::new(config, &home, &regions);
        for image in &manifest.appstream {
            let (Ok(region), Ok(name)) = (
                RegionName::parse("region", &image.region),
                AppStreamImageName::parse("name", &image.image_name),
            ) else {
                continue;
            };
            let problem = match appstream.describe_image(&region, &name).await {
                Ok(None) => None,
                // DeleteImage was done: AppStream shows the image DELETING until it is gone.
                Ok(Some(found)) if found.image_state() == AppStreamImageState::Deleting => None,
                Ok(Some(found)) => Some(format!("still exists ({})", found.state)),
                Err(e) => Some(format!("DescribeImages failed: {e}")),
            };
            findings.push(Finding::new(
                "AppStream deleted",
                format!("{region} {name}"),
                problem,
            ));
        }
    }
    Ok(findings)
}
