//! Revocation: a published release taken back on every surface it reached. The operator's
//! decision is recorded first (`state/<id>/revocation.json`, with `If-None-Match`, so it is made
//! once), with a marker (`pending-revocations/<id>.json`) that makes publish-release's tick drive
//! it to completion surface by surface, like any step: a crash midway is finished by the next
//! tick. What is done is kept in `state/<id>/revocation-progress.json`.

use crate::domain::ReleaseId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const REVOCATION_SCHEMA_VERSION: u32 = 1;

pub mod keys {
    use crate::domain::ReleaseId;

    pub const PENDING_PREFIX: &str = "pending-revocations/";

    /// `state/<id>/revocation.json`: the decision.
    pub fn record(id: &ReleaseId) -> String {
        format!("state/{id}/revocation.json")
    }

    /// `state/<id>/revocation-progress.json`: the surfaces done so far.
    pub fn progress(id: &ReleaseId) -> String {
        format!("state/{id}/revocation-progress.json")
    }

    /// The progress of the record's `revision`: [`progress`] for the decision as first made,
    /// `state/<id>/revocation-progress.r<revision>.json` for a raise. A key per revision, so a
    /// slow tick still driving an earlier revision can never overwrite a later one's.
    pub fn progress_of(id: &ReleaseId, revision: u32) -> String {
        match revision {
            0 => progress(id),
            n => format!("state/{id}/revocation-progress.r{n}.json"),
        }
    }

    /// `pending-revocations/<id>.json`: a revocation still to drive.
    pub fn pending(id: &ReleaseId) -> String {
        format!("{PENDING_PREFIX}{id}.json")
    }

    /// `pending-revocations/<id>.r<revision>.json`: a raised revocation still to drive. A key
    /// of its own, so that a tick ending the revision before cannot clear it.
    pub fn pending_raise(id: &ReleaseId, revision: u32) -> String {
        format!("{PENDING_PREFIX}{id}.r{revision}.json")
    }

    /// The release of a marker's key (either kind).
    pub fn parse_pending(key: &str) -> Option<ReleaseId> {
        let name = key.strip_prefix(PENDING_PREFIX)?.strip_suffix(".json")?;
        // A release id ends in `-<build>`, never in `.r<digits>`: the suffix is a raise's.
        let id = match name.rsplit_once(".r") {
            Some((id, revision))
                if !revision.is_empty() && revision.bytes().all(|b| b.is_ascii_digit()) =>
            {
                id
            }
            _ => name,
        };
        ReleaseId::parse("key", id).ok()
    }
}

/// The operator's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationRecord {
    pub schema_version: u32,
    pub release_id: ReleaseId,
    pub reason: String,
    pub at: String,
    pub by: String,
    /// DisableImage every AMI of the building account too (no launches at all).
    #[serde(default)]
    pub disable: bool,
    /// DeleteImage every AppStream copy.
    #[serde(default)]
    pub delete_appstream: bool,
    /// Delete the disks instead of only withdrawing them from the distribution's grant.
    #[serde(default)]
    pub purge: bool,
    /// Each time the revocation was raised since (`--purge`, `--disable` or
    /// `--delete-appstream` added later): the record's revision is their number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub raises: Vec<Raise>,
}

/// A revocation raised: what was added, by whom, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Raise {
    pub at: String,
    pub by: String,
    /// The options added (`purge`, `disable`, `delete_appstream`).
    pub added: Vec<String>,
    #[serde(default)]
    pub reason: String,
}

impl RevocationRecord {
    /// 0 for the decision as first made; one more for each raise.
    pub fn revision(&self) -> u32 {
        u32::try_from(self.raises.len()).unwrap_or(u32::MAX)
    }

    /// The options `other` asks for that this record does not have (`purge`, …).
    pub fn missing_options(
        &self,
        disable: bool,
        delete_appstream: bool,
        purge: bool,
    ) -> Vec<&'static str> {
        [
            (disable && !self.disable, "disable"),
            (
                delete_appstream && !self.delete_appstream,
                "delete_appstream",
            ),
            (purge && !self.purge, "purge"),
        ]
        .into_iter()
        .filter_map(|(asked, option)| asked.then_some(option))
        .collect()
    }
}

/// Every surface a release reached, in the order a revocation takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Surface {
    /// Every channel that points at it moves to the newest release it pointed at before that
    /// is not revoked, or is emptied; their SSM parameters follow.
    Channels,
    /// The catalog entry (history page, index, latest.json) and the pages say revoked, with the
    /// reason, and link no download.
    Catalog,
    /// The disks, `SHA256SUMS` and their signatures leave the distribution's grant (or are
    /// deleted), and their paths are invalidated.
    Disks,
    /// Every AMI of the building account is deprecated now (and disabled when asked).
    Amis,
    /// Every AppStream copy is deleted, when asked.
    Appstream,
    /// `Release Revoked` goes on the release bus.
    Event,
}

impl Surface {
    /// The surfaces whose work an option changes: a raised revocation does them again.
    pub const RAISABLE: [Surface; 3] = [Surface::Disks, Surface::Amis, Surface::Appstream];

    pub const ALL: [Surface; 6] = [
        Surface::Channels,
        Surface::Catalog,
        Surface::Disks,
        Surface::Amis,
        Surface::Appstream,
        Surface::Event,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Channels => "channels",
            Surface::Catalog => "catalog",
            Surface::Disks => "disks",
            Surface::Amis => "amis",
            Surface::Appstream => "appstream",
            Surface::Event => "event",
        }
    }
}

/// `state/<id>/revocation-progress.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub done: BTreeSet<Surface>,
    /// What was done on each surface, or why it is not done yet.
    pub notes: BTreeMap<Surface, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The record's revision the surfaces were done for.
    #[serde(default)]
    pub revision: u32,
}

impl Progress {
    pub fn finished(&self) -> bool {
        self.finished_at.is_some()
    }

    /// Brings the progress to `record`'s revision: a raise undoes what its options change (the
    /// raisable surfaces are done again, with the raised options) and the revocation is not
    /// finished until they are. `true` when anything was reopened.
    pub fn follow(&mut self, record: &RevocationRecord) -> bool {
        if self.revision >= record.revision() {
            return false;
        }
        for surface in Surface::RAISABLE {
            self.done.remove(&surface);
            self.notes.insert(
                surface,
                format!("to do again: raised to revision {}", record.revision()),
            );
        }
        self.finished_at = None;
        self.revision = record.revision();
        true
    }
}

/// The progress of `record`'s revision, with its key: its own, or, before a raise was first
/// driven, the latest earlier revision's reopened by [`Progress::follow`] (nothing done when
/// there is none).
pub async fn progress_for<S: crate::ports::ArtifactStore>(
    store: &S,
    record: &RevocationRecord,
) -> Result<(String, Progress), crate::ServiceError> {
    let id = &record.release_id;
    let revision = record.revision();
    let key = keys::progress_of(id, revision);
    if let Some(progress) = store.get_json::<Progress>(&key).await? {
        return Ok((key, progress));
    }
    for earlier in (0..revision).rev() {
        if let Some(mut progress) = store
            .get_json::<Progress>(&keys::progress_of(id, earlier))
            .await?
        {
            progress.follow(record);
            return Ok((key, progress));
        }
    }
    Ok((
        key,
        Progress {
            revision,
            ..Progress::default()
        },
    ))
}

/// How long a marker without its record is left alone: the operator's CLI writes the marker,
/// then the record, so a tick between the two must not take the marker away. After this long
/// the CLI has stopped for good, and the marker is cleared.
pub const ORPHAN_MARKER_AFTER: Duration = Duration::from_secs(3_600);

/// `pending-revocations/<id>.json`: when the operator's CLI wrote it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    #[serde(default)]
    pub at: Option<String>,
    /// The record's revision the marker was written for: a tick that reads an older record
    /// leaves the marker (the CLI is between its two writes).
    #[serde(default)]
    pub revision: u32,
}

/// Whether an AMI whose `deprecationTime` is `deprecation` counts as deprecated by `by`: EC2
/// calls an AMI deprecated once that time has passed, and gives every public AMI one two years
/// after its creation by default, so a time far ahead is not a deprecation. `by` is the latest
/// time acceptable (a revocation asks for the next whole minute or two).
pub fn deprecated_by(deprecation: Option<&str>, by: SystemTime) -> bool {
    deprecation
        .and_then(crate::clock::parse_time)
        .is_some_and(|at| at <= by)
}

/// When to deprecate an AMI "now": EC2's EnableImageDeprecation refuses a time in the past and
/// rounds seconds to the minute, so the next whole minute at least a minute ahead.
pub fn deprecate_at(now: SystemTime) -> SystemTime {
    let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    UNIX_EPOCH + Duration::from_secs((secs / 60 + 2) * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_deprecating_now_should_ask_for_a_whole_minute_at_least_a_minute_ahead() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000_059);
        let at = deprecate_at(now);
        let secs = at.duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs % 60, 0);
        assert!((1_000_000_059 + 60..=1_000_000_059 + 120).contains(&secs));
    }

    #[test]
    fn when_a_deprecation_is_far_ahead_should_not_count_as_deprecated() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert!(deprecated_by(Some("2020-01-01T00:00:00.000Z"), now));
        assert!(!deprecated_by(Some("2030-01-01T00:00:00.000Z"), now));
        assert!(!deprecated_by(None, now));
    }

    #[test]
    fn when_marker_keys_are_parsed_should_round_trip() {
        let id = ReleaseId::parse("id", "golden-1.0.0-1").unwrap();
        assert_eq!(keys::parse_pending(&keys::pending(&id)), Some(id.clone()));
        assert_eq!(
            keys::parse_pending(&keys::pending_raise(&id, 12)),
            Some(id.clone())
        );
        assert_eq!(keys::parse_pending("pending-revocations/nope.json"), None);
        assert_eq!(
            keys::parse_pending("pending-revocations/golden-1.0.0-1.r.json"),
            None
        );
    }

    #[test]
    fn when_a_revocation_is_raised_should_its_progress_reopen_only_what_the_options_change() {
        let id = ReleaseId::parse("id", "golden-1.0.0-1").unwrap();
        let mut record = RevocationRecord {
            schema_version: REVOCATION_SCHEMA_VERSION,
            release_id: id,
            reason: "CVE".into(),
            at: "2026-12-07T00:00:00Z".into(),
            by: "ops".into(),
            disable: false,
            delete_appstream: false,
            purge: false,
            raises: Vec::new(),
        };
        let mut progress = Progress {
            done: Surface::ALL.into_iter().collect(),
            finished_at: Some("2026-12-07T00:01:00Z".into()),
            ..Progress::default()
        };
        assert!(!progress.follow(&record), "nothing raised");
        assert!(progress.finished());
        assert_eq!(
            record.missing_options(true, false, true),
            ["disable", "purge"]
        );
        record.purge = true;
        record.raises.push(Raise {
            at: "2026-12-08T00:00:00Z".into(),
            by: "ops".into(),
            added: vec!["purge".into()],
            reason: "the disks too".into(),
        });
        assert!(progress.follow(&record));
        assert!(!progress.finished());
        assert_eq!(progress.revision, 1);
        let open: Vec<Surface> = Surface::ALL
            .into_iter()
            .filter(|s| !progress.done.contains(s))
            .collect();
        assert_eq!(open, Surface::RAISABLE);
        assert!(!progress.follow(&record), "once per revision");
        // A stale tick still on revision 0 writes only revision 0's key.
        assert_eq!(
            keys::progress_of(&record.release_id, 0),
            keys::progress(&record.release_id)
        );
        assert_ne!(
            keys::progress_of(&record.release_id, 1),
            keys::progress(&record.release_id)
        );
        // An old progress (no revision field) reads as revision 0.
        let old: Progress = serde_json::from_str(r#"{"done":["channels"],"notes":{}}"#).unwrap();
        assert_eq!(old.revision, 0);
    }
}
