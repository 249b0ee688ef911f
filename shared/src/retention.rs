//! Retention with a plan: what the policy would deprecate or delete, why, and what it saves,
//! computed from the catalog and asked of EC2; then done, idempotently. Never an S3 lifecycle
//! rule, which cannot see the catalog, the channels or what still uses an AMI.
//!
//! * Kept: each image's newest `keep_newest` releases; anything a channel points at, or
//!   pointed at within `keep_channel_days`; and any AMI that EC2 DescribeImageReferences says an
//!   instance, launch template, SSM parameter or Image Builder recipe still uses.
//! * Past `deprecate_after_days` (from publication): its AMIs are deprecated.
//! * Past `delete_after_days`: its AMIs are deregistered with their snapshots
//!   (`DeleteAssociatedSnapshots`: deregistration alone leaves them, and their cost, behind), its
//!   disks, `SHA256SUMS` and signature deleted, its AppStream copies deleted, and the catalog says
//!   so. DescribeImageReferences sees one account and region: AMIs Image Builder copied into other
//!   accounts are reported as not checked and left alone.

use crate::catalog::{History, Index, Retired};
use crate::channels::{self, ChannelRecord};
use crate::clock::parse_time;
use crate::config::Env;
use crate::documents;
use crate::domain::{AmiId, AppStreamImageName, RegionName, ReleaseId};
use crate::error::{ConfigError, ServiceError, ValidationError};
use crate::ports::{AmiLifecycle, AppStreamImages, ArtifactStore, ImageReference};
use crate::provenance::{Proof, Provenance, Refused};
use crate::release::{self, keys};
use serde::Serialize;
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

/// EBS snapshot storage, standard tier, US East (N. Virginia) list price, USD per GB-month.
pub const SNAPSHOT_USD_PER_GB_MONTH: f64 = 0.05;
/// S3 Standard, first 50 TB a month, US East (N. Virginia) list price, USD per GB-month.
pub const S3_USD_PER_GB_MONTH: f64 = 0.023;

const DAY: Duration = Duration::from_secs(86_400);

mod run;
pub use run::{CLAIM_HOLDS_FOR, Claimed, RUN, Run, claim, finish};

/// The policy (template parameters `RetentionKeepNewest`, `RetentionKeepChannelDays`,
/// `RetentionDeprecateAfterDays`, `RetentionDeleteAfterDays`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub keep_newest: usize,
    pub keep_channel_days: u32,
    /// `None`: never deprecate.
    pub deprecate_after_days: Option<u32>,
    /// `None`: never delete.
    pub delete_after_days: Option<u32>,
    /// Deregister an AMI this account shares with others too (their launches are invisible to
    /// DescribeImageReferences); by default such an AMI is kept.
    pub delete_shared: bool,
}

impl Policy {
    /// From `RETENTION_KEEP_NEWEST` (default 5, 0–1000), `RETENTION_KEEP_CHANNEL_DAYS` (default
    /// 30, 0–36500), `RETENTION_DEPRECATE_AFTER_DAYS` and `RETENTION_DELETE_AFTER_DAYS` (unset or
    /// empty: never; 0–36500). An empty variable is as if unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(|var: &str| get(var).filter(|v| !v.trim().is_empty()));
        let days = |max: u32| {
            move |field: &str, v: &str| -> Result<u32, ValidationError> {
                v.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n <= max)
                    .ok_or_else(|| {
                        ValidationError::new(field, format!("must be a whole number 0 to {max}"), v)
                    })
            }
        };
        Ok(Self {
            keep_newest: env.or_default("RETENTION_KEEP_NEWEST", "5", days(1000))? as usize,
            keep_channel_days: env.or_default("RETENTION_KEEP_CHANNEL_DAYS", "30", days(36_500))?,
            deprecate_after_days: env.optional("RETENTION_DEPRECATE_AFTER_DAYS", days(36_500))?,
            delete_after_days: env.optional("RETENTION_DELETE_AFTER_DAYS", days(36_500))?,
            delete_shared: env.flag("RETENTION_DELETE_SHARED", false)?,
        })
    }

    /// Whether the policy does anything at all.
    pub fn acts(&self) -> bool {
        self.deprecate_after_days.is_some() || self.delete_after_days.is_some()
    }
}

/// What happens to one release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Keep,
    Deprecate,
    Delete,
}

/// What happens to one AMI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum AmiOutcome {
    Deprecate,
    AlreadyDeprecated,
    /// Deregistered with its snapshots.
    Deregister {
        snapshots_gib: u64,
    },
    /// Something still uses it: kept.
    InUse {
        references: Vec<ImageReference>,
    },
    /// Shared with other accounts, organizations or the public (its launch permissions), whose
    /// use of it this account cannot see: kept, unless the policy deletes shared AMIs.
    Shared {
        with: Vec<String>,
    },
    /// In another account: DescribeImageReferences cannot see there; left alone.
    NotChecked {
        account: String,
    },
    /// Not proven the release's (Image Builder does not report it as the release's AMI, or the
    /// release's images are gone): never touched.
    NotProven {
        why: String,
    },
    /// Deregistered already.
    Gone,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedAmi {
    pub region: String,
    pub ami_id: String,
    #[serde(flatten)]
    pub outcome: AmiOutcome,
    /// Who else may launch it (DescribeImageAttribute `launchPermission`), when it was asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub launch_permissions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedRelease {
    pub release_id: String,
    pub image: String,
    pub published_at: String,
    pub action: Action,
    pub why: String,
    pub amis: Vec<PlannedAmi>,
    /// Objects deleted (key, bytes).
    pub objects: Vec<(String, u64)>,
    /// AppStream copies deleted (region, name).
    pub appstream: Vec<(String, String)>,
    /// Storage no longer paid for, at list prices: snapshots and S3.
    pub saves_usd_per_month: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub policy: Policy,
    pub at: String,
    pub releases: Vec<PlannedRelease>,
}

impl Plan {
    pub fn saves_usd_per_month(&self) -> f64 {
        self.releases.iter().map(|r| r.saves_usd_per_month).sum()
    }
}

/// Every release the catalog holds: each image's history pages, read once.
async fn entries<S: ArtifactStore>(store: &S) -> Result<Vec<crate::catalog::Entry>, ServiceError> {
    let Some(index) = store.get_json::<Index>(keys::INDEX).await? else {
        return Ok(Vec::new());
    };
    let mut all = Vec::new();
    for (image, summary) in &index.images {
        for page in &summary.history {
            if let Some(history) = store
                .get_json::<History>(&keys::history(image, &page.month))
                .await?
            {
                all.extend(history.releases);
            }
        }
    }
    Ok(all)
}

/// The releases `image`'s channels protect: what each points at, and what each pointed at
/// within `days` of `now`.
async fn protected<S: ArtifactStore>(
    store: &S,
    image: &str,
    days: u32,
    now: SystemTime,
) -> Result<Vec<(String, String)>, ServiceError> {
    let since = now
        .checked_sub(DAY * days)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut kept = Vec::new();
    for channel in channels::of_image(store, image).await? {
        let Some(record) = store
            .get_json::<ChannelRecord>(&channels::keys::record(image, &channel))
            .await?
        else {
            continue;
        };
        if let Some(id) = &record.release_id {
            kept.push((id.to_string(), format!("channel {channel} points at it")));
        }
        for step in &record.history {
            if parse_time(&step.at).is_some_and(|at| at >= since) {
                for id in step.release_id.iter().chain(step.from.iter()) {
                    kept.push((
                        id.to_string(),
                        format!("channel {channel} pointed at it within {days} days"),
                    ));
                }
            }
        }
    }
    Ok(kept)
}

/// The plan for every release of the catalog at `now`. An AMI is acted on only when
/// `provenance` proves it is the release's, in the account that built it; a release it refuses
/// as forged is kept whole (a security event).
pub async fn plan<S, E, V>(
    store: &S,
    ec2: &E,
    provenance: &V,
    policy: &Policy,
    now: SystemTime,
) -> Result<Plan, ServiceError>
where
    S: ArtifactStore,
    E: AmiLifecycle,
    V: Provenance,
{
    let mut all = entries(store).await?;
    // Newest first, by version then build, per image.
    all.sort_by(|a, b| a.image.cmp(&b.image).then_with(|| newest_first(a, b)));
    let mut releases = Vec::new();
    let mut image = String::new();
    let mut rank = 0;
    let mut kept_by_channels = Vec::new();
    for entry in &all {
        if entry.image != image {
            image = entry.image.clone();
            rank = 0;
            kept_by_channels = protected(store, &image, policy.keep_channel_days, now).await?;
        }
        rank += 1;
        // Done before, with nothing left that a later run could delete.
        if entry
            .retired
            .as_ref()
            .is_some_and(|r| r.kept_amis.is_empty())
        {
            continue;
        }
        let age = parse_time(&entry.published_at)
            .and_then(|at| now.duration_since(at).ok())
            .unwrap_or_default();
        let due = |days: Option<u32>| days.is_some_and(|d| age >= DAY * d);
        let (mut action, mut why) = if due(policy.delete_after_days) {
            (
                Action::Delete,
                format!(
                    "published more than {} days ago",
                    policy.delete_after_days.unwrap_or(0)
                ),
            )
        } else if due(policy.deprecate_after_days) {
            (
                Action::Deprecate,
                format!(
                    "published more than {} days ago",
                    policy.deprecate_after_days.unwrap_or(0)
                ),
            )
        } else {
            (
                Action::Keep,
                "younger than the policy's thresholds".to_owned(),
            )
        };
        if action != Action::Keep && rank <= policy.keep_newest {
            (action, why) = (
                Action::Keep,
                format!("among the {} newest of {image}", policy.keep_newest),
            );
        }
        if action != Action::Keep
            && let Some((_, reason)) = kept_by_channels
                .iter()
                .find(|(id, _)| *id == entry.release_id)
        {
            (action, why) = (Action::Keep, reason.clone());
        }
        let mut planned = PlannedRelease {
            release_id: entry.release_id.clone(),
            image: image.clone(),
            published_at: entry.published_at.clone(),
            action,
            why,
            amis: Vec::new(),
            objects: Vec::new(),
            appstream: Vec::new(),
            saves_usd_per_month: 0.0,
        };
        if action == Action::Keep {
            releases.push(planned);
            continue;
        }
        let id = ReleaseId::parse("release_id", &entry.release_id).map_err(|e| {
            ServiceError::new(
                "GetObject",
                crate::ErrorClass::CorruptRecord,
                "InvalidEntry",
                e.to_string(),
            )
        })?;
        let proven = match provenance.prove(&id).await? {
            Proof::Proven(proven) => Ok(proven),
            Proof::Refused(refusal) if refusal.kind == Refused::Forged => {
                crate::provenance::security_event(&format!("retiring {id}"), &refusal.reason);
                planned.action = Action::Keep;
                planned.why = format!("refused: {}", refusal.reason);
                releases.push(planned);
                continue;
            }
            Proof::Refused(refusal) => Err(refusal.reason),
        };
        for ami in &entry.amis {
            let (outcome, launch_permissions) = match &proven {
                Err(why) => (AmiOutcome::NotProven { why: why.clone() }, Vec::new()),
                Ok(proven) => match proven.amis.iter().find(|p| p.ami_id.as_str() == ami.ami_id) {
                    None => {
                        let why = format!(
                            "Image Builder does not report {} {} for {id}",
                            ami.region, ami.ami_id
                        );
                        crate::provenance::security_event(&format!("retiring {id}"), &why);
                        (AmiOutcome::NotProven { why }, Vec::new())
                    }
                    Some(p) if p.account_id != proven.account => (
                        AmiOutcome::NotChecked {
                            account: p.account_id.clone(),
                        },
                        Vec::new(),
                    ),
                    Some(p) => {
                        ami_outcome(
                            ec2,
                            p.region.as_str(),
                            p.ami_id.as_str(),
                            action,
                            &proven.account,
                            policy,
                        )
                        .await?
                    }
                },
            };
            if let AmiOutcome::Deregister { snapshots_gib } = &outcome {
                planned.saves_usd_per_month += *snapshots_gib as f64 * SNAPSHOT_USD_PER_GB_MONTH;
            }
            planned.amis.push(PlannedAmi {
                region: ami.region.clone(),
                ami_id: ami.ami_id.clone(),
                outcome,
                launch_permissions,
            });
        }
        if action == Action::Delete {
            // Only the release's own objects, whatever the entry names.
            let own = id.prefix();
            let mut keys_of: Vec<String> = entry
                .artifacts
                .iter()
                .map(|a| a.object_key.clone())
                .filter(|k| k.starts_with(&own) && !k.contains(".."))
                .collect();
            if !keys_of.is_empty() {
                keys_of.push(keys::sha256sums(&id));
                keys_of.push(keys::signature(&keys::sha256sums(&id)));
            }
            for key in keys_of {
                if let Some(bytes) = store.object_size(&key).await? {
                    planned.saves_usd_per_month +=
                        bytes as f64 / f64::from(1u32 << 30) * S3_USD_PER_GB_MONTH;
                    planned.objects.push((key, bytes));
                }
            }
            planned.appstream = entry
                .appstream
                .iter()
                .map(|a| (a.region.clone(), a.image_name.clone()))
                .collect();
        }
        releases.push(planned);
    }
    Ok(Plan {
        policy: *policy,
        at: release::timestamp(now),
        releases,
    })
}

/// Newest first, by version then build; a total order (as `sort_by` needs) even for ids that
/// do not parse, which go last, by their text.
fn newest_first(a: &crate::catalog::Entry, b: &crate::catalog::Entry) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let key = |e: &crate::catalog::Entry| {
        ReleaseId::parse("id", &e.release_id).ok().map(|id| {
            let (_, version, build) = crate::catalog::split_release_id(id.as_str());
            (version, build)
        })
    };
    match (key(a), key(b)) {
        (Some((va, ba)), Some((vb, bb))) => crate::catalog::compare_versions(&vb, &va)
            .then(bb.cmp(&ba))
            .then_with(|| a.release_id.cmp(&b.release_id)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.release_id.cmp(&b.release_id),
    }
}

async fn ami_outcome<E: AmiLifecycle>(
    ec2: &E,
    region: &str,
    ami: &str,
    action: Action,
    account: &str,
    policy: &Policy,
) -> Result<(AmiOutcome, Vec<String>), ServiceError> {
    let (Ok(region), Ok(ami)) = (
        RegionName::parse("region", region),
        AmiId::parse("ami_id", ami),
    ) else {
        return Ok((AmiOutcome::Gone, Vec::new()));
    };
    let Some(facts) = ec2.describe(&region, &ami).await? else {
        return Ok((AmiOutcome::Gone, Vec::new()));
    };
    // EC2's own answer on who owns it: never another account's AMI.
    if facts
        .owner_id
        .as_deref()
        .is_some_and(|owner| owner != account)
    {
        return Ok((
            AmiOutcome::NotProven {
                why: format!(
                    "EC2 says account {} owns it, not {account}",
                    facts.owner_id.as_deref().unwrap_or("?")
                ),
            },
            Vec::new(),
        ));
    }
    let shared = ec2
        .launch_permissions(&region, &ami)
        .await?
        .unwrap_or_default();
    if action == Action::Deprecate {
        let by = crate::revocation::deprecate_at(SystemTime::now());
        let outcome = if crate::revocation::deprecated_by(facts.deprecation_time.as_deref(), by) {
            AmiOutcome::AlreadyDeprecated
        } else {
            AmiOutcome::Deprecate
        };
        return Ok((outcome, shared));
    }
    let references = ec2.references(&region, &ami).await?;
    if !references.is_empty() {
        return Ok((AmiOutcome::InUse { references }, shared));
    }
    // Who launches it in the accounts it is shared with, DescribeImageReferences cannot see.
    if !shared.is_empty() && !policy.delete_shared {
        return Ok((
            AmiOutcome::Shared {
                with: shared.clone(),
            },
            shared,
        ));
    }
    Ok((
        AmiOutcome::Deregister {
            snapshots_gib: facts
                .ebs_volumes
                .iter()
                .map(|(_, size)| u64::try_from(size.unwrap_or(0)).unwrap_or(0))
                .sum(),
        },
        shared,
    ))
}

/// What [`apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Applied {
    pub deprecated: usize,
    pub deregistered: usize,
    pub snapshots_deleted: usize,
    /// AMIs a re-check right before deregistering found in use: kept.
    pub kept_in_use: usize,
    /// Snapshots DeregisterImage kept, with EC2's reason (`skipped`: another AMI uses it;
    /// `missing-permissions`: the caller may not ec2:DeleteSnapshot). They still cost.
    #[serde(default)]
    pub snapshots_kept: Vec<(String, String)>,
    /// AppStream copies a fleet or image builder still uses: kept.
    #[serde(default)]
    pub appstream_in_use: usize,
    /// AppStream images the catalog named that do not carry the release's mark: left alone.
    #[serde(default)]
    pub appstream_not_ours: usize,
    pub objects_deleted: usize,
    pub appstream_deleted: usize,
}

/// Does what `plan` says. Each AMI's references are asked again right before it is
/// deregistered (something may have started using it since the plan). Idempotent: what is
/// gone already is skipped, and a later plan no longer lists it.
pub async fn apply<S, E, A>(
    store: &S,
    ec2: &E,
    appstream: &A,
    plan: &Plan,
    now: SystemTime,
) -> Result<Applied, ServiceError>
// An AppStream image is deleted only when it carries the release's copy mark.
where
    S: ArtifactStore,
    E: AmiLifecycle,
    A: AppStreamImages,
{
    let mut applied = Applied::default();
    for planned in plan.releases.iter().filter(|r| r.action != Action::Keep) {
        let mut kept_amis = Vec::new();
        for ami in &planned.amis {
            let (Ok(region), Ok(id)) = (
                RegionName::parse("region", &ami.region),
                AmiId::parse("ami_id", &ami.ami_id),
            ) else {
                continue;
            };
            match &ami.outcome {
                AmiOutcome::Deprecate => {
                    // Asked as late as possible: EC2 refuses a time in the past.
                    let at = crate::revocation::deprecate_at(SystemTime::now());
                    ec2.deprecate(&region, &id, at).await?;
                    applied.deprecated += 1;
                }
                AmiOutcome::Deregister { .. } => {
                    if !ec2.references(&region, &id).await?.is_empty() {
                        applied.kept_in_use += 1;
                        kept_amis.push(ami.ami_id.clone());
                        continue;
                    }
                    if let Some(done) = ec2.deregister(&region, &id).await? {
                        applied.deregistered += 1;
                        applied.snapshots_deleted += done.snapshots_deleted.len();
                        if !done.snapshots_kept.is_empty() {
                            tracing::warn!(ami = %id, kept = ?done.snapshots_kept, "DeregisterImage kept snapshots");
                        }
                        applied.snapshots_kept.extend(done.snapshots_kept);
                    }
                }
                AmiOutcome::InUse { .. } | AmiOutcome::Shared { .. } => {
                    kept_amis.push(ami.ami_id.clone())
                }
                _ => {}
            }
        }
        if planned.action != Action::Delete {
            continue;
        }
        // Every version of each object: in the versioned bucket a plain delete leaves the bytes
        // stored (and billed) for the noncurrent-version rule's 30 days, and the plan's saving
        // would not be true until then.
        for (key, _) in &planned.objects {
            store.delete_every_version(key).await?;
            applied.objects_deleted += 1;
        }
        let mark = match ReleaseId::parse("release_id", &planned.release_id) {
            Ok(id) => store
                .get_json::<crate::steps::appstream_copy::CopyMarkRecord>(&keys::appstream_mark(
                    &id,
                ))
                .await?
                .map(|m| m.mark),
            Err(_) => None,
        };
        for (region, name) in &planned.appstream {
            let (Ok(region), Ok(name)) = (
                RegionName::parse("region", region),
                AppStreamImageName::parse("image_name", name),
            ) else {
                continue;
            };
            let Some(image) = appstream.describe_image(&region, &name).await? else {
                continue;
            };
            if !mark.as_ref().is_some_and(|m| m.is_on(&image)) {
                crate::provenance::security_event(
                    &format!("retiring {}", planned.release_id),
                    &format!("{region} {name} does not carry the release's mark: not its copy"),
                );
                applied.appstream_not_ours += 1;
                continue;
            }
            // Deleted by an earlier apply: AppStream shows it DELETING until it is gone.
            if image.image_state() == crate::ports::AppStreamImageState::Deleting {
                continue;
            }
            match appstream.delete_image(&region, &name).await {
                Ok(true) => applied.appstream_deleted += 1,
                Ok(false) => {}
                // A fleet or image builder uses it: kept, and the rest goes on.
                Err(e) if e.code == "ResourceInUseException" => applied.appstream_in_use += 1,
                Err(e) => return Err(e),
            }
        }
        retire(store, planned, &kept_amis, now).await?;
    }
    Ok(applied)
}

/// The catalog says what retention deleted: the entry on its history page, among the index's
/// newest and in `latest.json`, and both pages.
async fn retire<S: ArtifactStore>(
    store: &S,
    planned: &PlannedRelease,
    kept_amis: &[String],
    now: SystemTime,
) -> Result<(), ServiceError> {
    let mark = Retired {
        at: release::timestamp(now),
        kept_amis: kept_amis.to_vec(),
    };
    let month = crate::catalog::month_of(&planned.published_at);
    // A repeat keeps the first mark's time: only what was kept may change.
    documents::update_entry(store, &planned.image, &month, &planned.release_id, |e| {
        e.retired
            .as_ref()
            .is_none_or(|r| r.kept_amis != mark.kept_amis)
            && e.retire(&mark)
    })
    .await
}

/// The releases a plan acts on, for a summary: (deprecated AMIs, deregistered AMIs, AMIs kept
/// in use, objects, GiB of snapshots).
pub fn summary(plan: &Plan) -> (usize, usize, usize, usize, u64) {
    let mut out = (0, 0, 0, 0, 0);
    let mut seen = BTreeSet::new();
    for r in &plan.releases {
        for ami in &r.amis {
            if !seen.insert(ami.ami_id.clone()) {
                continue;
            }
            match &ami.outcome {
                AmiOutcome::Deprecate => out.0 += 1,
                AmiOutcome::Deregister { snapshots_gib } => {
                    out.1 += 1;
                    out.4 += snapshots_gib;
                }
                AmiOutcome::InUse { .. } | AmiOutcome::Shared { .. } => out.2 += 1,
                _ => {}
            }
        }
        out.3 += r.objects.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_ids_do_not_parse_should_the_order_still_be_total_and_newest_first() {
        let entry = |id: &str| crate::catalog::Entry {
            release_id: id.into(),
            image: "golden".into(),
            version: String::new(),
            build: 0,
            pipeline_arn: None,
            published_at: String::new(),
            manifest_url: String::new(),
            checksums_url: None,
            amis: Vec::new(),
            artifacts: Vec::new(),
            appstream: Vec::new(),
            artifacts_expire_at: None,
            artifacts_expired: false,
            revoked: None,
            retired: None,
        };
        let ids = [
            "golden-1.0.0-2",
            "not a release",
            "golden-1.10.0-1",
            "golden-1.0.0-10",
            "",
            "golden-1.2.0-1",
        ];
        let want = [
            "golden-1.10.0-1",
            "golden-1.2.0-1",
            "golden-1.0.0-10",
            "golden-1.0.0-2",
            "",
            "not a release",
        ];
        // Every rotation of the input sorts to the same order.
        for start in 0..ids.len() {
            let mut entries: Vec<_> = ids
                .iter()
                .cycle()
                .skip(start)
                .take(ids.len())
                .map(|id| entry(id))
                .collect();
            entries.sort_by(newest_first);
            let got: Vec<&str> = entries.iter().map(|e| e.release_id.as_str()).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn when_the_policy_is_read_should_default_and_name_a_bad_value() {
        let policy = Policy::from_lookup(|_| None).unwrap();
        assert_eq!(policy.keep_newest, 5);
        assert_eq!(policy.keep_channel_days, 30);
        assert!(!policy.acts());
        let policy =
            Policy::from_lookup(|k| (k == "RETENTION_DELETE_AFTER_DAYS").then(|| "365".to_owned()))
                .unwrap();
        assert_eq!(policy.delete_after_days, Some(365));
        let err = Policy::from_lookup(|k| (k == "RETENTION_KEEP_NEWEST").then(|| "-1".to_owned()))
            .unwrap_err();
        assert!(err.to_string().contains("RETENTION_KEEP_NEWEST"), "{err}");
    }
}
