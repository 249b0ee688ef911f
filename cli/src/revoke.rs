//! `revoke RELEASE --reason …`: takes a published release back on every surface.
//!
//! The CLI records the decision and nothing else: the marker
//! `pending-revocations/<id>.json`, then `state/<id>/revocation.json` with `If-None-Match` (a
//! release is revoked once; a second operator is told who came first). publish-release's next
//! tick drives it surface by surface with its own role, recording each, so a crash midway is
//! finished by the tick after ([`shared::revocation`]). `verify RELEASE` then checks that the
//! release is revoked everywhere ([`check_revoked`]).

use crate::verify::Finding;
use crate::{Cli, Failure, Outcome, aws, release_id, store};
use shared::aws::appstream::AppStreamAdapter;
use shared::aws::ec2::Ec2Regions;
use shared::aws::s3::S3Adapter;
use shared::aws::ssm::SsmParameters;
use shared::catalog::{History, Index, Latest};
use shared::channels::{self, ChannelRecord, Target};
use shared::domain::{AppStreamImageName, ParameterPrefix, RegionName};
use shared::ports::{
    AmiLifecycle, AppStreamImageState, AppStreamImages, ArtifactStore, Parameters, PutOutcome,
};
use shared::release::{self, Manifest, keys};
use shared::revocation::{self, RevocationRecord, Surface};

/// What `revoke` does besides the reason.
#[derive(Debug, Clone, clap::Args)]
pub struct RevokeOptions {
    /// Why (shown on the downloads page and in the catalog, and sent in Release Revoked).
    #[arg(long)]
    pub reason: String,
    /// Also DisableImage every AMI of the building account: no launches at all, every launch
    /// permission removed (EnableImage undoes it).
    #[arg(long)]
    pub disable: bool,
    /// Also delete every AppStream copy.
    #[arg(long)]
    pub delete_appstream: bool,
    /// Delete the disks, SHA256SUMS and their signatures instead of only withdrawing them from
    /// the distribution.
    #[arg(long)]
    pub purge: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub async fn revoke(cli: &Cli, release: &str, options: &RevokeOptions) -> Outcome {
    let id = release_id(release)?;
    let reason = options.reason.trim();
    if reason.is_empty() || reason.chars().count() > 1024 || reason.chars().any(char::is_control) {
        return Err(Failure::Usage(
            "--reason: 1 to 1024 characters, no control characters".into(),
        ));
    }
    let store = store(cli).await?;
    let manifest = crate::published(&store, &id).await?;
    if let Some(existing) = store
        .get_json_versioned::<RevocationRecord>(&revocation::keys::record(&id))
        .await
        .map_err(aws("reading the revocation"))?
    {
        return raise(cli, &store, existing, options, reason).await;
    }
    crate::say(
        cli,
        &format!(
            "Revoking {id} takes it back on every surface: the channels that point at it move to the \
         newest release they held before (or are emptied), the catalog and the downloads page \
         say revoked, its {} disk(s) stop being served{}, its {} AMI(s) of the building account \
         are deprecated{}{}, and Release Revoked goes on the bus.",
            crate::artifacts(&manifest).len(),
            if options.purge {
                " and are deleted"
            } else {
                ""
            },
            Target::of(&manifest).map(|t| t.amis.len()).unwrap_or(0),
            if options.disable { " and disabled" } else { "" },
            if options.delete_appstream {
                format!(
                    ", its {} AppStream copies deleted",
                    manifest.appstream.len()
                )
            } else {
                String::new()
            },
        ),
    );
    if !options.yes
        && !crate::confirm(&format!(
            "Revoke {id}? This cannot be undone by image-release."
        ))?
    {
        return Err(Failure::Problem(format!("{id} not revoked")));
    }
    let config = crate::sdk(cli).await?;
    let record = RevocationRecord {
        schema_version: revocation::REVOCATION_SCHEMA_VERSION,
        release_id: id.clone(),
        reason: reason.to_owned(),
        at: release::timestamp(std::time::SystemTime::now()),
        by: crate::channels::caller(&config).await,
        disable: options.disable,
        delete_appstream: options.delete_appstream,
        purge: options.purge,
        raises: Vec::new(),
    };
    // The marker first: a record without one would never be driven.
    let marker = revocation::Marker {
        at: Some(release::timestamp(std::time::SystemTime::now())),
        revision: 0,
    };
    store
        .put_json(&revocation::keys::pending(&id), &marker)
        .await
        .map_err(aws("writing the revocation marker"))?;
    match store
        .put_json_if_match(&revocation::keys::record(&id), &record, None)
        .await
        .map_err(aws("recording the revocation"))?
    {
        PutOutcome::Written => {}
        PutOutcome::AlreadyExists => {
            return Err(Failure::Problem(format!(
                "{id} was revoked by someone else meanwhile: run image-release verify {id}"
            )));
        }
    }
    if cli.json {
        println!("{}", serde_json::json!({ "revoked": record }));
    } else {
        println!(
            "revocation of {id} recorded ({}); publish-release takes it back at its next tick. \
             Check it is revoked everywhere: image-release verify {id}",
            revocation::keys::record(&id)
        );
    }
    Ok(None)
}

/// The release's revocation record, if it was revoked.
pub(crate) async fn revocation(
    store: &S3Adapter,
    id: &shared::domain::ReleaseId,
) -> Result<Option<RevocationRecord>, Failure> {
    store
        .get_json(&revocation::keys::record(id))
        .await
        .map_err(aws("reading the revocation"))
}

/// `revoke` of a release revoked already: done (exit 0) when it asks for nothing more than the
/// revocation has; raised when it adds `--purge`, `--disable` or `--delete-appstream`. A raise
/// is a marker of its own (`pending-revocations/<id>.r<revision>.json`), then the record with
/// the options added and the raise listed (`If-Match` on what was read), so publish-release's
/// next tick does the disks, AMIs and AppStream copies again with them.
async fn raise(
    cli: &Cli,
    store: &S3Adapter,
    existing: shared::ports::Versioned<RevocationRecord>,
    options: &RevokeOptions,
    reason: &str,
) -> Outcome {
    let record = existing.value;
    let id = record.release_id.clone();
    let added = record.missing_options(options.disable, options.delete_appstream, options.purge);
    if added.is_empty() {
        if cli.json {
            println!(
                "{}",
                serde_json::json!({ "revoked": record, "unchanged": true })
            );
        } else {
            println!(
                "{}: nothing to do (follow it with image-release verify {id})",
                crate::contract::revoked(&record)
            );
        }
        return Ok(None);
    }
    let flags: Vec<String> = added
        .iter()
        .map(|o| format!("--{}", o.replace('_', "-")))
        .collect();
    crate::say(
        cli,
        &format!(
            "{} Raising it with {} does its disks, AMIs and AppStream copies again with them.",
            crate::contract::revoked(&record),
            flags.join(", ")
        ),
    );
    if !options.yes
        && !crate::confirm(&format!(
            "Raise the revocation of {id}? This cannot be undone by image-release."
        ))?
    {
        return Err(Failure::Problem(format!("{id}: revocation not raised")));
    }
    let config = crate::sdk(cli).await?;
    let now = release::timestamp(std::time::SystemTime::now());
    let mut raised = record.clone();
    raised.disable |= options.disable;
    raised.delete_appstream |= options.delete_appstream;
    raised.purge |= options.purge;
    raised.raises.push(revocation::Raise {
        at: now.clone(),
        by: crate::channels::caller(&config).await,
        added: added.iter().map(|o| (*o).to_owned()).collect(),
        reason: reason.to_owned(),
    });
    let revision = raised.revision();
    let marker = revocation::Marker {
        at: Some(now),
        revision,
    };
    store
        .put_json(&revocation::keys::pending_raise(&id, revision), &marker)
        .await
        .map_err(aws("writing the revocation marker"))?;
    match store
        .put_json_if_match(
            &revocation::keys::record(&id),
            &raised,
            Some(&existing.etag),
        )
        .await
        .map_err(aws("raising the revocation"))?
    {
        PutOutcome::Written => {}
        PutOutcome::AlreadyExists => {
            return Err(Failure::Problem(format!(
                "the revocation of {id} was changed by someone else meanwhile: nothing raised; \
                 run image-release status {id} and decide again"
            )));
        }
    }
    if cli.json {
        println!(
            "{}",
            serde_json::json!({ "revoked": raised, "raised": revision })
        );
    } else {
        println!(
            "revocation of {id} raised to revision {revision} (adds {}); publish-release does \
             it at its next tick. Check it: image-release verify {id}",
            flags.join(", ")
        );
    }
    Ok(None)
}

fn finding(check: &'static str, subject: String, problem: Option<String>) -> Finding {
    Finding {
        check,
        subject,
        problem,
    }
}

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
    findings.push(finding(
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
        findings.push(finding(
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
        findings.push(finding("disk withdrawn", key.clone(), problem));
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
    findings.push(finding(
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
    findings.push(finding(
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
    findings.push(finding(
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
        findings.push(finding(
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
            findings.push(finding(
                "AppStream deleted",
                format!("{region} {name}"),
                problem,
            ));
        }
    }
    Ok(findings)
}
