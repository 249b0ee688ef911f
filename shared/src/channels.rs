//! Channels: which release a fleet should launch. A release is published into a channel
//! (`testing` unless configured otherwise); an operator promotes it to another (`stable`) after
//! checks, or rolls a channel back.
//!
//! * The source of truth is the channel's record, `channels/<image>/<channel>.json`: where it
//!   points (the release and its AMI in each region of the account that built it), a generation
//!   that counts the moves, and the history of moves (who, when, why). It is written with
//!   `If-Match` on the record the writer read, so two operators cannot interleave.
//! * Every move is mirrored ([`mirror`]) into the SSM parameter `<prefix>/<image>/<channel>` of
//!   each of those regions (a launch template resolves `resolve:ssm:<name>`), and into the
//!   catalog (`latest.json`'s `channels`, the index and the downloads page).
//! * A move writes a marker first, `pending-channels/<image>/<channel>/<generation>.json`, then
//!   the record; the mirror deletes the marker only once every parameter reads back the new AMI.
//!   So a crash anywhere after the record is written is finished by publish-release's next tick,
//!   which mirrors every channel that has a marker. SSM validates an `aws:ec2:image` value
//!   asynchronously, so a parameter that does not read back yet keeps the marker too.
//! * A parameter is the stack's only if it carries the stack's ownership tag ([`OWNER_TAG`]):
//!   another stack's parameter, or one nobody tagged, is never overwritten or deleted.

use crate::catalog::{ChannelPointer, Index, Latest, Seal, compare_versions, split_release_id};
use crate::documents;
use crate::domain::{AmiId, ChannelName, RegionName, ReleaseId};
use crate::error::{ServiceError, ValidationError};
use crate::ports::{ArtifactStore, Parameters, PutOutcome, Versioned};
use crate::provenance::{Proof, Provenance, Refusal, Refused};
use crate::release::{self, Manifest};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

mod ownership;
pub use ownership::{NOT_OURS, OWNER_TAG, ParameterSpace};

pub const CHANNEL_SCHEMA_VERSION: u32 = 1;
/// The channel a release is published into unless configured otherwise.
pub const DEFAULT_CHANNEL: &str = "testing";
/// The SSM hierarchy of the channels' parameters unless configured otherwise.
pub const DEFAULT_PARAMETER_PREFIX: &str = "/image-release";
/// Moves a record keeps (the oldest are dropped past it), so a record stays small at any age.
pub const HISTORY_LIMIT: usize = 200;
/// Times [`mirror`] starts over when the channel moved while it was mirroring.
const MIRROR_ATTEMPTS: u32 = 3;

pub mod keys {
    use crate::domain::ChannelName;

    pub const PREFIX: &str = "channels/";
    pub const PENDING_PREFIX: &str = "pending-channels/";

    /// `channels/<image>/<channel>.json`: the channel's record.
    pub fn record(image: &str, channel: &ChannelName) -> String {
        format!("{PREFIX}{image}/{channel}.json")
    }

    /// Whether `key` is a channel's record (not its signature, nor anything else under
    /// [`PREFIX`]).
    pub fn is_record(key: &str) -> bool {
        key.strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_suffix(".json"))
            .is_some_and(|rest| rest.split('/').count() == 2)
    }

    /// `pending-channels/<image>/<channel>/`: the markers of moves not mirrored yet.
    pub fn pending_of(image: &str, channel: &ChannelName) -> String {
        format!("{PENDING_PREFIX}{image}/{channel}/")
    }

    /// The marker of move `generation` (zero-padded, so the keys list in order).
    pub fn pending(image: &str, channel: &ChannelName, generation: u64) -> String {
        format!("{}{generation:020}.json", pending_of(image, channel))
    }

    /// (image, channel, generation) of a marker's key.
    pub fn parse_pending(key: &str) -> Option<(String, ChannelName, u64)> {
        let rest = key.strip_prefix(PENDING_PREFIX)?;
        let mut parts = rest.split('/');
        let (image, channel, file) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || image.is_empty() {
            return None;
        }
        let channel = ChannelName::parse("channel", channel).ok()?;
        let generation = file.strip_suffix(".json")?.parse().ok()?;
        Some((image.to_owned(), channel, generation))
    }
}

/// Why a channel moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// publish-release published a newer release into the channel.
    Publish,
    /// An operator promoted a release after checking it.
    Promote,
    /// An operator moved the channel back.
    Rollback,
    /// Its release was revoked: the channel moved to the newest release it pointed at before
    /// that is not revoked, or was emptied.
    Revoke,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Promote => "promote",
            Action::Rollback => "rollback",
            Action::Revoke => "revoke",
        }
    }
}

/// An AMI a channel's parameter names in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelAmi {
    pub region: RegionName,
    pub ami_id: AmiId,
}

/// Where a move points a channel: a release and its AMIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub release_id: ReleaseId,
    pub amis: Vec<ChannelAmi>,
}

impl Target {
    /// `manifest`'s release, with one AMI per region: the one in the account that built it
    /// (the account of its Image Builder image), which is where the parameters live. AMIs
    /// that Image Builder copied into other accounts are those accounts' to name.
    pub fn of(manifest: &Manifest) -> Result<Self, ValidationError> {
        let home = manifest
            .distributed_image_arn
            .split(':')
            .nth(4)
            .unwrap_or_default();
        let mut amis: Vec<ChannelAmi> = Vec::new();
        for ami in &manifest.amis {
            if ami.account_id.as_deref().is_some_and(|a| a != home) {
                continue;
            }
            let region = RegionName::parse("amis[].region", &ami.region)?;
            if amis.iter().any(|a| a.region == region) {
                continue;
            }
            amis.push(ChannelAmi {
                region,
                ami_id: AmiId::parse("amis[].ami_id", &ami.ami_id)?,
            });
        }
        Ok(Self {
            release_id: manifest.release_id.clone(),
            amis,
        })
    }
}

impl Target {
    /// `proven`'s release, with one AMI per region of the account that built it.
    pub fn proven(proven: &crate::provenance::Proven) -> Self {
        let mut amis: Vec<ChannelAmi> = Vec::new();
        for ami in proven.home_amis() {
            if !amis.iter().any(|a| a.region == ami.region) {
                amis.push(ChannelAmi {
                    region: ami.region.clone(),
                    ami_id: ami.ami_id.clone(),
                });
            }
        }
        Self {
            release_id: proven.release.clone(),
            amis,
        }
    }
}

/// One move of a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    pub generation: u64,
    pub release_id: Option<ReleaseId>,
    /// Where it pointed before.
    pub from: Option<ReleaseId>,
    pub action: Action,
    pub at: String,
    /// The principal that moved it (an operator's ARN, or `publish-release`).
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `channels/<image>/<channel>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRecord {
    pub schema_version: u32,
    pub image: String,
    pub channel: ChannelName,
    /// Moves so far; 0 for a channel that never pointed anywhere.
    pub generation: u64,
    pub release_id: Option<ReleaseId>,
    /// The AMI each region's parameter must name.
    pub amis: Vec<ChannelAmi>,
    /// Regions whose parameter the last move withdrew (the channel no longer has an AMI
    /// there, or was emptied): their parameters are deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withdrawn: Vec<RegionName>,
    pub moved_at: String,
    /// Oldest first, at most [`HISTORY_LIMIT`].
    pub history: Vec<Move>,
    /// Its freshness, signed by publish-release like the catalog's (`<key>.sig`): a sequence
    /// that grows with every move and every renewal, and an expiry. Absent on a record written
    /// before records were sealed, until its next move or publish-release's next tick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<Seal>,
}

impl ChannelRecord {
    pub fn new(image: &str, channel: &ChannelName) -> Self {
        Self {
            schema_version: CHANNEL_SCHEMA_VERSION,
            image: image.to_owned(),
            channel: channel.clone(),
            generation: 0,
            release_id: None,
            amis: Vec::new(),
            withdrawn: Vec::new(),
            moved_at: String::new(),
            history: Vec::new(),
            seal: None,
        }
    }

    /// Points the channel at `target`, recording the move.
    pub fn moved(
        &mut self,
        target: Target,
        action: Action,
        at: &str,
        by: &str,
        reason: Option<&str>,
    ) {
        self.record(Some(target), action, at, by, reason);
    }

    /// Empties the channel (its release was revoked and it had pointed at no other that is
    /// not), recording the move: every region's parameter is withdrawn.
    pub fn emptied(&mut self, action: Action, at: &str, by: &str, reason: Option<&str>) {
        self.record(None, action, at, by, reason);
    }

    fn record(
        &mut self,
        target: Option<Target>,
        action: Action,
        at: &str,
        by: &str,
        reason: Option<&str>,
    ) {
        self.generation += 1;
        // Every version of the record has its own sequence; it expires a week after the move.
        let now = crate::clock::parse_time(at).unwrap_or_else(std::time::SystemTime::now);
        self.seal = Some(Seal::next(self.seal.as_ref(), now));
        let release_id = target.as_ref().map(|t| t.release_id.clone());
        self.history.push(Move {
            generation: self.generation,
            release_id: release_id.clone(),
            from: self.release_id.clone(),
            action,
            at: at.to_owned(),
            by: by.to_owned(),
            reason: reason.map(str::to_owned),
        });
        if self.history.len() > HISTORY_LIMIT {
            let excess = self.history.len() - HISTORY_LIMIT;
            self.history.drain(..excess);
        }
        let amis = target.map(|t| t.amis).unwrap_or_default();
        // Regions withdrawn by this move, and those an earlier move withdrew that it does not
        // fill again (their deletion may not have happened yet).
        let mut withdrawn: Vec<RegionName> = self
            .amis
            .iter()
            .map(|a| a.region.clone())
            .chain(self.withdrawn.drain(..))
            .filter(|r| !amis.iter().any(|a| &a.region == r))
            .collect();
        withdrawn.sort();
        withdrawn.dedup();
        self.withdrawn = withdrawn;
        self.release_id = release_id;
        self.amis = amis;
        self.moved_at = at.to_owned();
    }

    pub fn pointer(&self) -> ChannelPointer {
        ChannelPointer {
            release_id: self.release_id.as_ref().map(ToString::to_string),
            generation: self.generation,
            moved_at: self.moved_at.clone(),
        }
    }

    /// Where a rollback goes: the newest release the channel pointed to before the current
    /// one, skipping every release a rollback already moved it away from (so rolling back
    /// twice goes two releases back, never forth again).
    pub fn rollback_target(&self) -> Option<&ReleaseId> {
        let left: Vec<&ReleaseId> = self
            .history
            .iter()
            .filter(|m| matches!(m.action, Action::Rollback | Action::Revoke))
            .filter_map(|m| m.from.as_ref())
            .collect();
        self.history
            .iter()
            .rev()
            .filter_map(|m| m.release_id.as_ref())
            .find(|r| Some(*r) != self.release_id.as_ref() && !left.contains(r))
    }
}

/// Whether release `a` is newer than `b` (version, then build).
pub fn newer(a: &ReleaseId, b: &ReleaseId) -> bool {
    let (_, va, ba) = split_release_id(a.as_str());
    let (_, vb, bb) = split_release_id(b.as_str());
    match compare_versions(&va, &vb) {
        Ordering::Equal => ba > bb,
        order => order == Ordering::Greater,
    }
}

/// The image a release belongs to (`golden` of `golden-1.0.0-1`).
pub fn image_of(release: &ReleaseId) -> String {
    split_release_id(release.as_str()).0
}

/// A channel's record with its ETag; `None` when the channel was never moved.
pub async fn read<S: ArtifactStore>(
    store: &S,
    image: &str,
    channel: &ChannelName,
) -> Result<Option<Versioned<ChannelRecord>>, ServiceError> {
    store
        .get_json_versioned(&keys::record(image, channel))
        .await
}

/// Writes `record` (one move past `read`, which is what the caller read: `None` for a new
/// channel) if nobody moved the channel since: the marker of the move first, then the record
/// with `If-Match`. `false`: someone else moved it first, nothing was moved (the marker left
/// behind only makes the next tick mirror the channel as it is).
pub async fn write_move<S: ArtifactStore>(
    store: &S,
    read: Option<&Versioned<ChannelRecord>>,
    record: &ChannelRecord,
) -> Result<bool, ServiceError> {
    let marker = keys::pending(&record.image, &record.channel, record.generation);
    store.put_json(&marker, &record.pointer()).await?;
    let key = keys::record(&record.image, &record.channel);
    let etag = read.map(|r| r.etag.as_str());
    Ok(store.put_json_if_match(&key, record, etag).await? == PutOutcome::Written)
}

/// What [`publish`] did to the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// The channel now points at the release.
    Moved(ChannelRecord),
    /// The channel already points at it or at a newer release: left alone.
    Unchanged(ChannelRecord),
}

/// Publishes `target` into `channel`: moves it only when the release is newer than where it
/// points, so a late or repeated publication never moves a channel backwards. Re-reads and
/// tries again when another writer moved the channel first.
pub async fn publish<S: ArtifactStore>(
    store: &S,
    channel: &ChannelName,
    target: Target,
    at: &str,
) -> Result<Published, ServiceError> {
    let image = image_of(&target.release_id);
    for _ in 0..documents::ATTEMPTS {
        let current = read(store, &image, channel).await?;
        let mut record = current
            .as_ref()
            .map_or_else(|| ChannelRecord::new(&image, channel), |c| c.value.clone());
        if let Some(now) = &record.release_id
            && !newer(&target.release_id, now)
        {
            return Ok(Published::Unchanged(record));
        }
        record.moved(target.clone(), Action::Publish, at, "publish-release", None);
        if write_move(store, current.as_ref(), &record).await? {
            return Ok(Published::Moved(record));
        }
    }
    Err(documents::precondition_failed(format!(
        "{} moved under {} conditional writes in a row",
        keys::record(&image, channel),
        documents::ATTEMPTS
    )))
}

/// What [`mirror`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mirrored {
    /// Every parameter reads the channel's AMI, the catalog shows the move, the markers are gone.
    Done { generation: u64 },
    /// SSM has not shown the new value in these regions yet (it validates `aws:ec2:image`
    /// values asynchronously); the marker stays, and the next tick looks again.
    Waiting {
        generation: u64,
        regions: Vec<RegionName>,
    },
    /// The record names an AMI that AWS's answers do not prove is its release's (a planted or
    /// corrupted record): nothing was written, its markers are cleared, and the refusal was
    /// logged as a security event.
    Refused { generation: u64, reason: String },
}

/// Whether `provenance` proves every AMI of `record` is its release's, in the building
/// account: `Ok(None)` when it does, `Ok(Some(refusal))` when it cannot (AWS's answers
/// contradict the record, or its release's images are gone). A release not provable yet is an
/// error to retry.
pub async fn unproven<V: Provenance>(
    provenance: &V,
    record: &ChannelRecord,
) -> Result<Option<Refusal>, ServiceError> {
    let forged = |reason: String| Refusal {
        reason,
        kind: Refused::Forged,
    };
    let Some(release) = &record.release_id else {
        return Ok((!record.amis.is_empty())
            .then(|| forged(format!("{} names AMIs but no release", record.channel))));
    };
    match provenance.prove(release).await? {
        Proof::Proven(proven) => Ok(record
            .amis
            .iter()
            .find(|a| !proven.owns(a.region.as_str(), a.ami_id.as_str()))
            .map(|a| {
                forged(format!(
                    "{}/{} names {} in {}, which is not an AMI of {release} in account {}",
                    record.image, record.channel, a.ami_id, a.region, proven.account
                ))
            })),
        Proof::Refused(refusal) if refusal.kind != Refused::NotYet => Ok(Some(refusal)),
        Proof::Refused(refusal) => Err(ServiceError::new(
            "GetImage",
            crate::ErrorClass::Transient,
            "NotProvenYet",
            refusal.reason,
        )),
    }
}

/// Makes every surface show where the channel's record points: the SSM parameter in each
/// region of its AMIs (written only where it differs), `latest.json` and the index (never
/// over a newer move) and the downloads page. Idempotent; starts over if the channel moved
/// meanwhile, so whoever mirrors last leaves the newest move everywhere. Nothing is written
/// before `provenance` proves each AMI of the record is its release's, nor while a parameter it
/// would overwrite or delete is not this stack's (an error of code [`ownership::NOT_OURS`], its
/// markers kept: each tick refuses again until an operator resolves the collision).
pub async fn mirror<S: ArtifactStore, P: Parameters, V: Provenance>(
    store: &S,
    parameters: &P,
    provenance: &V,
    space: &ParameterSpace<'_>,
    image: &str,
    channel: &ChannelName,
) -> Result<Mirrored, ServiceError> {
    let key = keys::record(image, channel);
    for _ in 0..MIRROR_ATTEMPTS {
        let Some(record) = store.get_json::<ChannelRecord>(&key).await? else {
            // A marker without a record: a move whose record write lost. Nothing to show.
            clear_markers(store, image, channel, u64::MAX).await?;
            return Ok(Mirrored::Done { generation: 0 });
        };
        if record.image != image || &record.channel != channel {
            let refusal = Refusal {
                reason: format!("{key} is the record of {}/{}", record.image, record.channel),
                kind: Refused::Forged,
            };
            return refuse(store, image, channel, record.generation, refusal).await;
        }
        if let Some(refusal) = unproven(provenance, &record).await? {
            return refuse(store, image, channel, record.generation, refusal).await;
        }
        let name = space.prefix.parameter(image, channel);
        // What must change, and that each parameter it changes is this stack's: nothing is
        // written while one of them is not.
        let mut writes = Vec::new();
        for ami in &record.amis {
            match parameters.get(&ami.region, &name).await? {
                Some(value) if value == ami.ami_id.as_str() => {}
                Some(_) => writes.push((ami, true)),
                None => writes.push((ami, false)),
            }
        }
        let mut deletes = Vec::new();
        for region in &record.withdrawn {
            if parameters.get(region, &name).await?.is_some() {
                deletes.push(region);
            }
        }
        let existing = writes.iter().filter(|(_, exists)| *exists);
        for region in existing
            .map(|(ami, _)| &ami.region)
            .chain(deletes.iter().copied())
        {
            space.refuse_foreign(parameters, region, &name).await?;
        }
        let mut waiting = Vec::new();
        for (ami, exists) in writes {
            space
                .put(parameters, &ami.region, &name, &ami.ami_id, exists)
                .await?;
            if parameters.get(&ami.region, &name).await?.as_deref() != Some(ami.ami_id.as_str()) {
                waiting.push(ami.region.clone());
            }
        }
        for region in deletes {
            parameters.delete(region, &name).await?;
        }
        let pointer = record.pointer();
        documents::update(store, release::keys::INDEX, |i: &mut Index| {
            !i.needs_migration() && i.point(image, channel.as_str(), &pointer)
        })
        .await?;
        documents::update(store, release::keys::LATEST, |l: &mut Latest| {
            l.point(image, channel.as_str(), &pointer)
        })
        .await?;
        // Rendered even when the index had the move already: a mirror that stopped after the
        // index and before the page left the page behind.
        documents::render_downloads_page(store).await?;
        let now = store.get_json::<ChannelRecord>(&key).await?;
        if now.as_ref().map(|r| r.generation) != Some(record.generation) {
            continue;
        }
        if !waiting.is_empty() {
            return Ok(Mirrored::Waiting {
                generation: record.generation,
                regions: waiting,
            });
        }
        clear_markers(store, image, channel, record.generation).await?;
        return Ok(Mirrored::Done {
            generation: record.generation,
        });
    }
    Err(documents::precondition_failed(format!(
        "{key} moved while it was mirrored, {MIRROR_ATTEMPTS} times in a row"
    )))
}

/// A mirror refused: a forgery logged as a security event, the channel's markers cleared (so
/// no tick refuses it again and again), nothing else touched.
async fn refuse<S: ArtifactStore>(
    store: &S,
    image: &str,
    channel: &ChannelName,
    generation: u64,
    refusal: Refusal,
) -> Result<Mirrored, ServiceError> {
    let what = format!("mirroring {image}/{channel}");
    if refusal.kind == Refused::Forged {
        crate::provenance::security_event(&what, &refusal.reason);
    } else {
        tracing::warn!(
            reason = refusal.reason,
            "{what} refused: its release cannot be proven"
        );
    }
    clear_markers(store, image, channel, u64::MAX).await?;
    Ok(Mirrored::Refused {
        generation,
        reason: refusal.reason,
    })
}

/// Deletes the channel's markers of moves up to `generation` (a newer move's stays).
async fn clear_markers<S: ArtifactStore>(
    store: &S,
    image: &str,
    channel: &ChannelName,
    generation: u64,
) -> Result<(), ServiceError> {
    for key in store.list_keys(&keys::pending_of(image, channel)).await? {
        if keys::parse_pending(&key).is_some_and(|(_, _, g)| g <= generation) {
            store.delete(&key).await?;
        }
    }
    Ok(())
}

/// The channels with a move not mirrored yet (one listing of `pending-channels/`).
pub async fn pending<S: ArtifactStore>(
    store: &S,
) -> Result<Vec<(String, ChannelName)>, ServiceError> {
    let mut channels: Vec<(String, ChannelName)> = store
        .list_keys(keys::PENDING_PREFIX)
        .await?
        .iter()
        .filter_map(|key| keys::parse_pending(key).map(|(i, c, _)| (i, c)))
        .collect();
    channels.dedup();
    Ok(channels)
}

/// Every channel of `image` (one listing of `channels/<image>/`).
pub async fn of_image<S: ArtifactStore>(
    store: &S,
    image: &str,
) -> Result<Vec<ChannelName>, ServiceError> {
    Ok(store
        .list_keys(&format!("{}{image}/", keys::PREFIX))
        .await?
        .iter()
        .filter_map(|key| {
            let name = key.rsplit('/').next()?.strip_suffix(".json")?;
            ChannelName::parse("channel", name).ok()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str) -> Target {
        Target {
            release_id: ReleaseId::parse("id", id).unwrap(),
            amis: vec![ChannelAmi {
                region: RegionName::parse("r", "us-east-1").unwrap(),
                ami_id: AmiId::parse("a", "ami-0123456789abcdef0").unwrap(),
            }],
        }
    }

    fn channel() -> ChannelName {
        ChannelName::parse("c", "stable").unwrap()
    }

    fn moved(record: &mut ChannelRecord, id: &str, action: Action) {
        record.moved(target(id), action, "2026-11-30T00:00:00Z", "me", None);
    }

    #[test]
    fn when_a_channel_is_rolled_back_twice_should_go_two_releases_back_never_forth() {
        let mut record = ChannelRecord::new("golden", &channel());
        moved(&mut record, "golden-1.0.0-1", Action::Publish);
        moved(&mut record, "golden-1.0.0-2", Action::Promote);
        moved(&mut record, "golden-1.0.0-3", Action::Promote);
        assert_eq!(record.rollback_target().unwrap().as_str(), "golden-1.0.0-2");
        moved(&mut record, "golden-1.0.0-2", Action::Rollback);
        assert_eq!(record.rollback_target().unwrap().as_str(), "golden-1.0.0-1");
        moved(&mut record, "golden-1.0.0-1", Action::Rollback);
        assert_eq!(record.rollback_target(), None);
        assert_eq!(record.generation, 5);
        assert_eq!(
            record.history[4].from.as_ref().unwrap().as_str(),
            "golden-1.0.0-2"
        );
    }

    #[test]
    fn when_a_channel_is_emptied_should_withdraw_every_region_and_skip_the_revoked_release() {
        let mut record = ChannelRecord::new("golden", &channel());
        moved(&mut record, "golden-1.0.0-1", Action::Publish);
        moved(&mut record, "golden-1.0.0-2", Action::Promote);
        record.emptied(Action::Revoke, "2026-11-30T00:00:00Z", "me", Some("CVE"));
        assert_eq!(record.release_id, None);
        assert!(record.amis.is_empty());
        assert_eq!(record.withdrawn.len(), 1);
        assert_eq!(record.pointer().release_id, None);
        // golden-1.0.0-2 was revoked away from: a rollback offers only the one before.
        assert_eq!(record.rollback_target().unwrap().as_str(), "golden-1.0.0-1");
        moved(&mut record, "golden-1.0.0-1", Action::Rollback);
        assert!(record.withdrawn.is_empty(), "the region is filled again");
    }

    #[test]
    fn when_a_channel_never_moved_should_have_nothing_to_roll_back_to() {
        let mut record = ChannelRecord::new("golden", &channel());
        assert_eq!(record.rollback_target(), None);
        moved(&mut record, "golden-1.0.0-1", Action::Publish);
        assert_eq!(record.rollback_target(), None);
    }

    #[test]
    fn when_a_channel_moves_more_than_the_limit_should_keep_the_newest_moves() {
        let mut record = ChannelRecord::new("golden", &channel());
        for build in 1..=(HISTORY_LIMIT as u32 + 5) {
            moved(
                &mut record,
                &format!("golden-1.0.0-{build}"),
                Action::Publish,
            );
        }
        assert_eq!(record.history.len(), HISTORY_LIMIT);
        assert_eq!(record.history[0].generation, 6);
    }

    #[test]
    fn when_releases_are_compared_should_order_by_version_then_build() {
        let id = |s: &str| ReleaseId::parse("id", s).unwrap();
        assert!(newer(&id("golden-1.10.0-1"), &id("golden-1.9.0-7")));
        assert!(newer(&id("golden-1.0.0-2"), &id("golden-1.0.0-1")));
        assert!(!newer(&id("golden-1.0.0-1"), &id("golden-1.0.0-1")));
        assert_eq!(image_of(&id("my-image-2.0.0-3")), "my-image");
    }

    #[test]
    fn when_marker_keys_are_parsed_should_round_trip_and_refuse_others() {
        let key = keys::pending("golden", &channel(), 42);
        assert_eq!(
            key,
            "pending-channels/golden/stable/00000000000000000042.json"
        );
        assert_eq!(
            keys::parse_pending(&key),
            Some(("golden".into(), channel(), 42))
        );
        assert_eq!(
            keys::parse_pending("pending-channels/golden/Stable/1.json"),
            None
        );
        assert_eq!(
            keys::parse_pending("pending-channels/golden/stable/x/1.json"),
            None
        );
        assert_eq!(keys::parse_pending("pending/golden-1.0.0-1.json"), None);
    }
}
