//! What users find a release by: `catalog/index.json` (every published release, newest
//! first), `catalog/latest.json` (the newest release of each pipeline) and `index.html` (the
//! downloads page, rendered from the index). Pure: publish-release reads, changes and writes them
//! with conditional writes (`If-Match`), so racing publishers never drop an entry.

use crate::release::{Manifest, ManifestAmi, ManifestAppStreamImage, ManifestExport};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Duration;

/// The schema of `catalog/index.json` and the history pages (2: sharded per image and month).
pub const CATALOG_SCHEMA_VERSION: u32 = 2;
/// The schema of `catalog/latest.json` (unchanged since 1).
pub const LATEST_SCHEMA_VERSION: u32 = 1;

/// One published release, as the index and the latest pointer list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub release_id: String,
    /// The image (pipeline output) name: the part of the release id before the version.
    pub image: String,
    pub version: String,
    pub build: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_arn: Option<String>,
    pub published_at: String,
    pub manifest_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksums_url: Option<String>,
    pub amis: Vec<ManifestAmi>,
    pub artifacts: Vec<ManifestExport>,
    pub appstream: Vec<ManifestAppStreamImage>,
    /// When the downloads (manifest, `SHA256SUMS`, disks) stop being offered: a day before the
    /// bucket's retention rule may remove the first of them. `None`: kept for ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts_expire_at: Option<String>,
    /// Set once `artifacts_expire_at` has passed: the entry stays (the history), its links go.
    /// The AMIs and AppStream images are not the bucket's and are not affected.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub artifacts_expired: bool,
    /// Set when the release was revoked: the page links no download and says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Revoked>,
    /// Set when the retention policy deleted what it could of the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<Retired>,
}

/// A day: the margin between withdrawing a download's link and the earliest moment S3's
/// lifecycle may remove it (S3 rounds an expiry up to the next midnight UTC and deletes
/// asynchronously after it; the downloads page is not cached), so a link is never dead.
const EXPIRY_MARGIN: Duration = Duration::from_secs(86_400);

/// When the downloads of `manifest` stop being offered under a retention of `days` days:
/// the earliest object of the release (the export request precedes its disk, the publication
/// its manifest) plus `days`, less [`EXPIRY_MARGIN`].
pub fn artifacts_expire_at(manifest: &Manifest, days: u32) -> Option<String> {
    let first = [
        manifest.timestamps.export_requested_at.as_deref(),
        Some(manifest.timestamps.published_at.as_str()),
    ]
    .into_iter()
    .flatten()
    .filter_map(crate::clock::parse_time)
    .min()?;
    let at = first
        .checked_add(Duration::from_secs(u64::from(days) * 86_400))?
        .checked_sub(EXPIRY_MARGIN)?;
    Some(crate::release::timestamp(at))
}

impl Entry {
    /// The summary of a published manifest, its downloads offered until `artifacts_expire_at`.
    pub fn of(
        manifest: &Manifest,
        manifest_url: String,
        artifacts_expire_at: Option<String>,
    ) -> Self {
        let id = manifest.release_id.as_str();
        let (image, version, build) = split_release_id(id);
        Self {
            release_id: id.to_owned(),
            image,
            version: manifest.version.clone().unwrap_or(version),
            build: manifest.build.unwrap_or(build),
            pipeline_arn: manifest.pipeline_arn.clone(),
            published_at: manifest.timestamps.published_at.clone(),
            manifest_url,
            checksums_url: manifest.checksums_url.clone(),
            amis: manifest.amis.clone(),
            artifacts: manifest.artifacts.clone(),
            appstream: manifest.appstream.clone(),
            artifacts_expire_at,
            artifacts_expired: false,
            revoked: None,
            retired: None,
        }
    }

    /// Marks the entry retired (its downloads deleted). Returns whether it changed.
    pub fn retire(&mut self, mark: &Retired) -> bool {
        if self.retired.as_ref() == Some(mark) {
            return false;
        }
        self.retired = Some(mark.clone());
        self.artifacts_expired = true;
        true
    }

    /// Marks the entry revoked. Returns whether it changed.
    pub fn revoke(&mut self, mark: &Revoked) -> bool {
        if self.revoked.as_ref() == Some(mark) {
            return false;
        }
        self.revoked = Some(mark.clone());
        true
    }

    /// Marks the downloads expired once `now` (a [`crate::release::timestamp`]) has reached
    /// `artifacts_expire_at`. Returns whether it changed.
    pub fn expire(&mut self, now: &str) -> bool {
        let due = self
            .artifacts_expire_at
            .as_deref()
            .and_then(crate::clock::parse_time)
            .zip(crate::clock::parse_time(now))
            .is_some_and(|(at, now)| at <= now);
        if due && !self.artifacts_expired {
            self.artifacts_expired = true;
            return true;
        }
        false
    }

    /// Newer means a higher version, then a higher build (never the publication time: a late
    /// re-publication of an old build is not newer).
    pub fn newer_than(&self, other: &Entry) -> bool {
        compare_versions(&self.version, &other.version).then(self.build.cmp(&other.build))
            == Ordering::Greater
    }
}

/// `<image>-<major>.<minor>.<patch>-<build>` → (image, version, build).
pub fn split_release_id(id: &str) -> (String, String, u32) {
    let mut parts = id.rsplitn(3, '-');
    let build = parts.next().and_then(|b| b.parse().ok()).unwrap_or(0);
    let version = parts.next().unwrap_or("0.0.0").to_owned();
    let image = parts.next().unwrap_or(id).to_owned();
    (image, version, build)
}

/// Semantic versions compared by number (`1.10.0` > `1.9.0`).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let numbers = |v: &str| -> Vec<u64> { v.split('.').map(|n| n.parse().unwrap_or(0)).collect() };
    numbers(a).cmp(&numbers(b))
}

/// The newest releases of an image the index and the downloads page show; older ones are
/// on the image's history pages.
pub const RECENT: usize = 10;

/// `yyyy-mm` of a timestamp (`2026-11-23T10:00:00Z` → `2026-11`): the history page a release
/// published then belongs to. A timestamp that does not start with a date goes to `0000-00`.
pub fn month_of(published_at: &str) -> String {
    let month = published_at.get(..7).unwrap_or("");
    let b = month.as_bytes();
    let is_month = b.len() == 7
        && b[4] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || c.is_ascii_digit());
    if is_month {
        month.to_owned()
    } else {
        "0000-00".to_owned()
    }
}

/// Newest published first, then by release id (a total order: every list sorts the same way).
fn newest_first(a: &Entry, b: &Entry) -> Ordering {
    b.published_at
        .cmp(&a.published_at)
        .then_with(|| b.release_id.cmp(&a.release_id))
}

/// The earlier of two expiries, `None` being never.
fn earlier(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `catalog/history/<image>/<yyyy-mm>.json`: every release of one image published in one
/// month, newest first. Written once per publication of that image in that month (and when
/// retention withdraws its downloads), never read by a publication of another month: the cost
/// of publishing does not grow with history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub schema_version: u32,
    pub image: String,
    pub month: String,
    pub releases: Vec<Entry>,
}

impl History {
    /// Applies `change` to the entry of `release` on this page. Returns whether it changed.
    pub fn change(&mut self, release: &str, change: impl FnOnce(&mut Entry) -> bool) -> bool {
        self.releases
            .iter_mut()
            .find(|e| e.release_id == release)
            .is_some_and(change)
    }

    /// Adds the release once (a repeat changes nothing), newest first. Returns whether the
    /// page changed.
    pub fn add(&mut self, entry: &Entry) -> bool {
        if self
            .releases
            .iter()
            .any(|e| e.release_id == entry.release_id)
        {
            return false;
        }
        self.schema_version = CATALOG_SCHEMA_VERSION;
        self.image.clone_from(&entry.image);
        self.month = month_of(&entry.published_at);
        self.releases.push(entry.clone());
        self.releases.sort_by(newest_first);
        true
    }

    /// Marks every entry whose downloads have expired at `now`. Returns how many it marked.
    pub fn expire(&mut self, now: &str) -> usize {
        self.releases
            .iter_mut()
            .map(|e| usize::from(e.expire(now)))
            .sum()
    }

    /// The earliest moment an entry of this page still offering downloads expires.
    pub fn next_expiry(&self) -> Option<String> {
        self.releases
            .iter()
            .filter(|e| !e.artifacts_expired)
            .filter_map(|e| e.artifacts_expire_at.clone())
            .min()
    }
}

/// One history page as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageSummary {
    /// `yyyy-mm`.
    pub month: String,
    /// The page's JSON ([`History`]) and HTML, relative to the distribution's root.
    pub json: String,
    pub html: String,
    /// How many releases the page lists.
    pub releases: u64,
    /// When the next of its entries' downloads expires: the scheduled tick reads the page only
    /// then. Kept early rather than late when a publisher and a tick race (an extra read, never
    /// a link left to a removed download).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_expiry: Option<String>,
}

/// What the retention policy deleted of a release, and the AMIs it kept because something
/// still uses them (a later run looks at those again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retired {
    pub at: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept_amis: Vec<String>,
}

/// A revoked release's mark in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    pub at: String,
    pub reason: String,
}

/// The downloads page's title.
pub const PAGE_TITLE: &str = "Image releases";

/// Where a channel points, as the catalog shows it (`latest.json`, `index.json`, the page).
/// The channel's own record (`channels/<image>/<channel>.json`) is the source; `generation`
/// counts its moves, so a slow writer never puts an older pointer over a newer one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelPointer {
    /// `None`: the channel is empty (its release was revoked and no other qualifies).
    pub release_id: Option<String>,
    pub generation: u64,
    pub moved_at: String,
}

/// Sets `channel` of `channels` to `pointer` unless what is there is as new or newer.
fn point(
    channels: &mut BTreeMap<String, ChannelPointer>,
    channel: &str,
    pointer: &ChannelPointer,
) -> bool {
    match channels.get(channel) {
        Some(current) if current.generation >= pointer.generation => false,
        _ => {
            channels.insert(channel.to_owned(), pointer.clone());
            true
        }
    }
}

/// One image in the index: its newest releases, its history pages and its channels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSummary {
    /// At most [`RECENT`], newest published first.
    pub recent: Vec<Entry>,
    /// Newest month first.
    pub history: Vec<PageSummary>,
    /// Channel name → where it points.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<String, ChannelPointer>,
}

impl ImageSummary {
    fn page_mut(&mut self, image: &str, month: &str) -> &mut PageSummary {
        let at = match self.history.iter().position(|p| p.month == month) {
            Some(at) => at,
            None => {
                self.history.push(PageSummary {
                    month: month.to_owned(),
                    json: crate::release::keys::history(image, month),
                    html: crate::release::keys::history_page(image, month),
                    releases: 0,
                    next_expiry: None,
                });
                self.history.sort_by(|a, b| b.month.cmp(&a.month));
                self.history
                    .iter()
                    .position(|p| p.month == month)
                    .unwrap_or(0)
            }
        };
        &mut self.history[at]
    }
}

/// `catalog/index.json` (schema 2): per image, its [`RECENT`] newest releases and one line per
/// history page. Its size grows with the number of images and months, never with the number of
/// releases, so every publication reads and writes a bounded amount. A schema-1 index (every
/// release in one list, `releases`) is read as `legacy` and migrated in place by the first
/// publication or tick that sees it ([`Index::migrate`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub schema_version: u32,
    /// Its freshness, signed with it (`catalog/index.json.sig`): see [`Seal`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<Seal>,
    #[serde(default)]
    pub images: BTreeMap<String, ImageSummary>,
    /// Schema 1's list of every release: read for the migration only, never written.
    #[serde(default, rename = "releases", skip_serializing)]
    pub legacy: Vec<Entry>,
}

impl Default for Index {
    fn default() -> Self {
        Self {
            schema_version: CATALOG_SCHEMA_VERSION,
            seal: None,
            images: BTreeMap::new(),
            legacy: Vec::new(),
        }
    }
}

impl Index {
    /// Applies `change` to the entry of `release` among its image's newest. Returns whether it
    /// changed.
    pub fn change(
        &mut self,
        image: &str,
        release: &str,
        change: impl FnOnce(&mut Entry) -> bool,
    ) -> bool {
        self.images
            .get_mut(image)
            .and_then(|summary| summary.recent.iter_mut().find(|e| e.release_id == release))
            .is_some_and(change)
    }

    /// As [`Latest::point`], for the page.
    pub fn point(&mut self, image: &str, channel: &str, pointer: &ChannelPointer) -> bool {
        point(
            &mut self.images.entry(image.to_owned()).or_default().channels,
            channel,
            pointer,
        )
    }

    /// Whether this is a schema-1 index still to migrate.
    pub fn needs_migration(&self) -> bool {
        self.schema_version < CATALOG_SCHEMA_VERSION || !self.legacy.is_empty()
    }

    /// Schema 1's releases grouped into the history pages they belong on.
    pub fn legacy_pages(&self) -> Vec<History> {
        let mut pages: BTreeMap<(String, String), History> = BTreeMap::new();
        for entry in &self.legacy {
            let month = month_of(&entry.published_at);
            pages
                .entry((entry.image.clone(), month))
                .or_default()
                .add(entry);
        }
        pages.into_values().collect()
    }

    /// Lists the release written on `page` (its history page as written): among the image's
    /// recent releases when it is one of the newest, and the page's count and next expiry.
    /// Idempotent. Returns whether the index changed.
    pub fn record(&mut self, entry: &Entry, page: &History) -> bool {
        let before = self.clone();
        self.schema_version = CATALOG_SCHEMA_VERSION;
        let image = self.images.entry(entry.image.clone()).or_default();
        if !image
            .recent
            .iter()
            .any(|e| e.release_id == entry.release_id)
        {
            image.recent.push(entry.clone());
            image.recent.sort_by(newest_first);
            image.recent.truncate(RECENT);
        }
        let summary = image.page_mut(&entry.image, &page.month);
        // Pages only grow: a racing publisher's smaller page is older than ours.
        summary.releases = summary.releases.max(page.releases.len() as u64);
        summary.next_expiry = earlier(summary.next_expiry.take(), page.next_expiry());
        *self != before
    }

    /// After a tick expired entries of `page` (as written): the page's next expiry. When the
    /// index counts more releases than the tick's page had, a publisher added one meanwhile and
    /// its expiry may be missing from the page the tick read, so the earlier of the two stays.
    pub fn settle(&mut self, page: &History) -> bool {
        let before = self.clone();
        let Some(image) = self.images.get_mut(&page.image) else {
            return false;
        };
        let summary = image.page_mut(&page.image, &page.month);
        let len = page.releases.len() as u64;
        summary.next_expiry = if summary.releases > len {
            earlier(summary.next_expiry.take(), page.next_expiry())
        } else {
            page.next_expiry()
        };
        summary.releases = summary.releases.max(len);
        *self != before
    }

    /// The history pages with an entry whose downloads expire by `now`: (image, month).
    pub fn due(&self, now: &str) -> Vec<(String, String)> {
        self.images
            .iter()
            .flat_map(|(image, summary)| {
                summary
                    .history
                    .iter()
                    .filter(|p| p.next_expiry.as_deref().is_some_and(|at| at <= now))
                    .map(|p| (image.clone(), p.month.clone()))
            })
            .collect()
    }

    /// Replaces a schema-1 index by schema 2, given its releases' pages as written
    /// ([`Index::legacy_pages`], each merged into what the page already held). Idempotent.
    pub fn migrate(&mut self, pages: &[History]) -> bool {
        if !self.needs_migration() {
            return false;
        }
        for entry in std::mem::take(&mut self.legacy) {
            let month = month_of(&entry.published_at);
            let page = pages
                .iter()
                .find(|p| p.image == entry.image && p.month == month);
            let fallback = History {
                schema_version: CATALOG_SCHEMA_VERSION,
                image: entry.image.clone(),
                month: month.clone(),
                releases: vec![entry.clone()],
            };
            self.record(&entry, page.unwrap_or(&fallback));
        }
        self.schema_version = CATALOG_SCHEMA_VERSION;
        true
    }

    /// Marks the recent entries whose downloads have expired at `now`. Returns whether any
    /// changed.
    pub fn expire(&mut self, now: &str) -> bool {
        self.images
            .values_mut()
            .flat_map(|i| i.recent.iter_mut())
            .fold(false, |changed, e| e.expire(now) | changed)
    }
}

/// How fresh a signed catalog document is (`latest.json`, `index.json`): a sequence that grows
/// with every write, and when the document stops being current. publish-release signs the
/// document after every change and renews the seal (a new sequence and expiry, signed) well
/// before it expires, so a reader who pins the key refuses a document that is unsigned,
/// expired, or older than one it has seen: an older catalog replayed in place of the current
/// one, or one frozen by a writer who stopped the signer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    pub sequence: u64,
    /// RFC 3339.
    pub expires_at: String,
}

/// How long a seal is valid: a week. publish-release renews it once less than half is left,
/// so a document is never expired while the stack runs, and a frozen one is noticed within a
/// week.
pub const SEAL_VALIDITY: Duration = Duration::from_secs(7 * 86_400);

impl Seal {
    /// The seal after `previous`, at `now`.
    pub fn next(previous: Option<&Seal>, now: std::time::SystemTime) -> Self {
        Self {
            sequence: previous.map_or(1, |s| s.sequence.saturating_add(1)),
            expires_at: crate::release::timestamp(now + SEAL_VALIDITY),
        }
    }

    /// Whether it must be renewed at `now`: less than half its validity left (or unreadable).
    pub fn renew_due(&self, now: std::time::SystemTime) -> bool {
        crate::clock::parse_time(&self.expires_at)
            .is_none_or(|at| at.duration_since(now).unwrap_or_default() < SEAL_VALIDITY / 2)
    }

    /// Whether it has expired at `now` (or cannot be read).
    pub fn expired(&self, now: std::time::SystemTime) -> bool {
        crate::clock::parse_time(&self.expires_at).is_none_or(|at| at <= now)
    }
}

/// A document written with [`crate::documents::update`]: the signed catalog documents take a new
/// [`Seal`] with every write; the others have none.
pub trait Sealed {
    fn seal_mut(&mut self) -> Option<&mut Option<Seal>> {
        None
    }
}

impl Sealed for Latest {
    fn seal_mut(&mut self) -> Option<&mut Option<Seal>> {
        Some(&mut self.seal)
    }
}

impl Sealed for Index {
    fn seal_mut(&mut self) -> Option<&mut Option<Seal>> {
        Some(&mut self.seal)
    }
}

impl Sealed for History {}

impl Sealed for serde_json::Value {}

/// `catalog/latest.json`: the newest published release of each image (pipeline output), and
/// where each image's channels point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latest {
    pub schema_version: u32,
    /// Its freshness, signed with it (`catalog/latest.json.sig`): see [`Seal`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<Seal>,
    pub images: BTreeMap<String, Entry>,
    /// Image → channel → where it points (added to schema 1: older readers ignore it).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<String, BTreeMap<String, ChannelPointer>>,
}

impl Default for Latest {
    fn default() -> Self {
        Self {
            schema_version: LATEST_SCHEMA_VERSION,
            seal: None,
            images: BTreeMap::new(),
            channels: BTreeMap::new(),
        }
    }
}

impl Latest {
    /// Applies `change` to `image`'s latest entry when it is `release`'s. Returns whether it
    /// changed.
    pub fn change(
        &mut self,
        image: &str,
        release: &str,
        change: impl FnOnce(&mut Entry) -> bool,
    ) -> bool {
        self.images
            .get_mut(image)
            .filter(|e| e.release_id == release)
            .is_some_and(change)
    }

    /// Moves `image`'s `channel` to `pointer` unless it shows a newer move. Returns whether it
    /// moved.
    pub fn point(&mut self, image: &str, channel: &str, pointer: &ChannelPointer) -> bool {
        point(
            self.channels.entry(image.to_owned()).or_default(),
            channel,
            pointer,
        )
    }

    /// Points the image at this release only when it is newer: the pointer never moves
    /// backwards. Returns whether it moved.
    pub fn advance(&mut self, entry: Entry) -> bool {
        match self.images.get(&entry.image) {
            Some(current) if !entry.newer_than(current) => false,
            _ => {
                self.images.insert(entry.image.clone(), entry);
                true
            }
        }
    }

    /// As [`Index::expire`].
    pub fn expire(&mut self, now: &str) -> bool {
        self.images
            .values_mut()
            .fold(false, |changed, e| e.expire(now) | changed)
    }
}

/// HTML-escapes text for element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A size in bytes for people: `1.5 GiB`, `300.0 MiB`, `512 B`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The downloads page's one style sheet, inline. The site's Content-Security-Policy allows
/// exactly this text by its hash (`style-src 'sha256-…'` in template.yaml; a test checks that
/// the two agree), and nothing else: no script, no image, no frame.
pub const PAGE_STYLE: &str = "\nbody { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem 2rem; color: #1b1b1b; background: #fff; line-height: 1.5; }\nh1 { font-size: 1.8rem; }\nsection { border-top: 2px solid #d0d7de; padding: 0.5rem 0 1rem; }\ntable { border-collapse: collapse; width: 100%; margin: 0.5rem 0; }\nth, td { text-align: left; padding: 0.3rem 0.6rem; border-bottom: 1px solid #d0d7de; vertical-align: top; }\nth { background: #f3f5f7; }\ncode { font-family: ui-monospace, monospace; font-size: 0.85rem; word-break: break-all; }\na { color: #0550ae; }\na:focus, a:hover { outline: 2px solid #0550ae; }\n.meta { color: #424a53; }\n";

/// The head of every catalog page, up to `<main>`, with `intro` (HTML) under the title.
fn page_head(title: &str, intro: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{PAGE_STYLE}</style>
</head>
<body>
<header><h1>{title}</h1>
{intro}</header>
<main>
"#,
        title = escape(title)
    )
}

const PAGE_END: &str = "</main>\n</body>\n</html>\n";

/// One release: version and date, AMIs per region, downloads with format, size and SHA-256,
/// AppStream images. `level` is the heading level of its title.
fn render_entry(html: &mut String, entry: &Entry, level: u8) {
    let id = escape(&entry.release_id);
    // An expired release keeps its entry, without a link to what retention removed.
    let links = if let Some(revoked) = &entry.revoked {
        format!(
            " · <strong class=\"revoked\">revoked</strong> <time datetime=\"{at}\">{at}</time>: {reason} (do not launch or download it)",
            at = escape(&revoked.at),
            reason = escape(&revoked.reason)
        )
    } else if let Some(retired) = &entry.retired {
        format!(
            " · downloads and AMIs deleted by the retention policy <time datetime=\"{at}\">{at}</time>",
            at = escape(&retired.at)
        )
    } else if entry.artifacts_expired {
        format!(
            " · downloads removed by the retention policy (offered until <time datetime=\"{at}\">{at}</time>)",
            at = escape(entry.artifacts_expire_at.as_deref().unwrap_or(""))
        )
    } else {
        format!(
            " · <a href=\"{manifest}\">manifest.json</a>{sums}{until}",
            manifest = escape(&entry.manifest_url),
            sums = entry
                .checksums_url
                .as_ref()
                .map(|u| format!(" · <a href=\"{}\">SHA256SUMS</a>", escape(u)))
                .unwrap_or_default(),
            until = entry
                .artifacts_expire_at
                .as_deref()
                .map(|at| format!(
                    " · downloads offered until <time datetime=\"{at}\">{at}</time>",
                    at = escape(at)
                ))
                .unwrap_or_default(),
        )
    };
    let sub = level + 1;
    html.push_str(&format!(
        "<section aria-labelledby=\"{id}\">\n<h{level} id=\"{id}\">{image} {version} (build {build})</h{level}>\n<p class=\"meta\">Published <time datetime=\"{at}\">{at}</time>{links}</p>\n",
        image = escape(&entry.image),
        version = escape(&entry.version),
        build = entry.build,
        at = escape(&entry.published_at),
    ));
    if !entry.artifacts.is_empty() && !entry.artifacts_expired && entry.revoked.is_none() {
        html.push_str(&format!("<h{sub}>Downloads</h{sub}>\n<table>\n<thead><tr><th scope=\"col\">Format</th><th scope=\"col\">File</th><th scope=\"col\">Size</th><th scope=\"col\">SHA-256</th></tr></thead>\n<tbody>\n"));
        for a in &entry.artifacts {
            let file = crate::release::keys::file_name(&a.object_key);
            // The name the distribution gives the download (its CloudFront Function), and the
            // object's own name, which the manifest and SHA256SUMS use.
            let name = format!("{}.{}", entry.release_id, a.format.extension());
            html.push_str(&format!(
                "<tr><td>{format}</td><td><a href=\"{url}\" download=\"{name}\">{name}</a> <span class=\"meta\">({file})</span></td><td>{size} <span class=\"meta\">({bytes} bytes)</span></td><td><code>{sha}</code></td></tr>\n",
                format = a.format.as_str().to_uppercase(),
                url = escape(&a.url),
                name = escape(&name),
                file = escape(file),
                size = human_size(a.size_bytes),
                bytes = a.size_bytes,
                sha = escape(&a.sha256),
            ));
        }
        html.push_str("</tbody>\n</table>\n");
    }
    if !entry.amis.is_empty() {
        html.push_str(&format!("<h{sub}>AMIs</h{sub}>\n<table>\n<thead><tr><th scope=\"col\">Region</th><th scope=\"col\">AMI</th><th scope=\"col\">Account</th><th scope=\"col\">Name</th></tr></thead>\n<tbody>\n"));
        for ami in &entry.amis {
            html.push_str(&format!(
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>\n",
                escape(&ami.region),
                escape(&ami.ami_id),
                escape(ami.account_id.as_deref().unwrap_or("")),
                escape(ami.name.as_deref().unwrap_or("")),
            ));
        }
        html.push_str("</tbody>\n</table>\n");
    }
    if !entry.appstream.is_empty() {
        html.push_str(&format!("<h{sub}>AppStream images</h{sub}>\n<table>\n<thead><tr><th scope=\"col\">Region</th><th scope=\"col\">Image</th><th scope=\"col\">ARN</th></tr></thead>\n<tbody>\n"));
        for image in &entry.appstream {
            html.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>\n",
                escape(&image.region),
                escape(&image.image_name),
                escape(&image.arn),
            ));
        }
        html.push_str("</tbody>\n</table>\n");
    }
    html.push_str("</section>\n");
}

/// The downloads page: static, accessible HTML and CSS, no script. One part per image: its
/// [`RECENT`] newest releases, then links to its history pages (one per month). Its size
/// grows with images and months, never with the number of releases.
pub fn render_page(index: &Index, title: &str) -> String {
    let mut html = page_head(
        title,
        r#"<p>Machine images released by image-release. Each download has a SHA-256: check it with
<code>sha256sum -c --ignore-missing SHA256SUMS</code>. Machine-readable: <a href="/catalog/index.json">index.json</a>,
<a href="/catalog/latest.json">latest.json</a>.</p>"#,
    );
    if index.images.is_empty() {
        html.push_str("<p>No release has been published yet.</p>\n");
    }
    for (image, summary) in &index.images {
        let anchor = format!("image-{}", escape(image));
        html.push_str(&format!(
            "<section aria-labelledby=\"{anchor}\">\n<h2 id=\"{anchor}\">{}</h2>\n",
            escape(image)
        ));
        if !summary.channels.is_empty() {
            html.push_str("<p class=\"channels\">Channels: ");
            let channels: Vec<String> = summary
                .channels
                .iter()
                .map(|(channel, pointer)| {
                    // A link to the release's part of this page when it is among the newest.
                    let target = match &pointer.release_id {
                        Some(id) if summary.recent.iter().any(|e| &e.release_id == id) => {
                            format!("<a href=\"#{0}\">{0}</a>", escape(id))
                        }
                        Some(id) => escape(id),
                        None => "(empty)".to_owned(),
                    };
                    format!(
                        "<strong>{}</strong> → {target} <span class=\"meta\">(since {})</span>",
                        escape(channel),
                        escape(&pointer.moved_at)
                    )
                })
                .collect();
            html.push_str(&channels.join(" · "));
            html.push_str("</p>\n");
        }
        for entry in &summary.recent {
            render_entry(&mut html, entry, 3);
        }
        if !summary.history.is_empty() {
            html.push_str("<p class=\"meta\">Every release, by month published: ");
            let links: Vec<String> = summary
                .history
                .iter()
                .map(|p| {
                    format!(
                        "<a href=\"/{}\">{}</a> ({})",
                        escape(&p.html),
                        escape(&p.month),
                        p.releases
                    )
                })
                .collect();
            html.push_str(&links.join(" · "));
            html.push_str("</p>\n");
        }
        html.push_str("</section>\n");
    }
    html.push_str(PAGE_END);
    html
}

/// One history page: every release of an image published in a month, newest first.
pub fn render_history(page: &History, title: &str) -> String {
    let heading = format!("{title}: {} in {}", page.image, page.month);
    let mut html = page_head(
        &heading,
        &format!(
            r#"<p><a href="/">All images</a> · machine-readable: <a href="/{}">{}.json</a></p>"#,
            escape(&crate::release::keys::history(&page.image, &page.month)),
            escape(&page.month)
        ),
    );
    for entry in &page.releases {
        render_entry(&mut html, entry, 2);
    }
    html.push_str(PAGE_END);
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, published_at: &str) -> Entry {
        let (image, version, build) = split_release_id(id);
        Entry {
            release_id: id.into(),
            image,
            version,
            build,
            pipeline_arn: None,
            published_at: published_at.into(),
            manifest_url: format!("https://d.example/releases/{id}/manifest.json"),
            checksums_url: None,
            amis: Vec::new(),
            artifacts: Vec::new(),
            appstream: Vec::new(),
            artifacts_expire_at: None,
            artifacts_expired: false,
            revoked: None,
            retired: None,
        }
    }

    #[test]
    fn when_retention_passes_should_keep_the_entry_and_drop_only_its_links() {
        let mut page = History::default();
        let mut e = entry("golden-1.0.0-1", "2026-11-23T10:00:00Z");
        e.checksums_url = Some("https://d.example/releases/golden-1.0.0-1/SHA256SUMS".into());
        e.artifacts.push(ManifestExport {
            object_key: "releases/golden-1.0.0-1/export-ami-1.vmdk".into(),
            size_bytes: 1024,
            format: crate::domain::DiskImageFormat::Vmdk,
            url: "https://d.example/releases/golden-1.0.0-1/export-ami-1.vmdk".into(),
            sha256: "ab".repeat(32),
        });
        e.artifacts_expire_at = Some("2026-12-22T10:00:00Z".into());
        page.add(&e);
        let mut index = Index::default();
        index.record(&e, &page);
        assert_eq!(index.due("2026-12-22T09:59:59Z"), []);
        assert_eq!(
            index.due("2026-12-22T10:00:00Z"),
            [("golden".to_owned(), "2026-11".to_owned())]
        );
        let before = render_history(&page, "Downloads");
        assert!(before.contains("export-ami-1.vmdk") && before.contains("offered until"));
        assert_eq!(page.expire("2026-12-22T09:59:59Z"), 0);
        assert_eq!(page.expire("2026-12-22T10:00:00Z"), 1);
        assert_eq!(page.expire("2026-12-23T00:00:00Z"), 0, "once");
        assert!(index.settle(&page));
        assert_eq!(
            index.due("2027-12-22T10:00:00Z"),
            [],
            "nothing left to expire"
        );
        assert!(index.expire("2026-12-22T10:00:00Z"), "the recent entry too");
        for after in [
            render_history(&page, "Downloads"),
            render_page(&index, "Downloads"),
        ] {
            assert!(after.contains("golden 1.0.0 (build 1)"), "{after}");
            assert!(after.contains("removed by the retention policy"), "{after}");
            for gone in ["releases/golden-1.0.0-1/", "href=\"https://d.example"] {
                assert!(!after.contains(gone), "{gone} in {after}");
            }
        }
    }

    #[test]
    fn when_a_publisher_adds_to_a_page_a_tick_read_should_keep_the_earlier_expiry() {
        let mut first = entry("golden-1.0.0-1", "2026-11-01T10:00:00Z");
        first.artifacts_expire_at = Some("2026-12-01T00:00:00Z".into());
        let mut second = entry("golden-1.0.0-2", "2026-11-02T10:00:00Z");
        second.artifacts_expire_at = Some("2027-01-01T00:00:00Z".into());
        let mut index = Index::default();
        let mut tick_page = History::default();
        tick_page.add(&first);
        index.record(&first, &tick_page);
        // The publisher writes the page with `second`, then the index.
        let mut publisher_page = tick_page.clone();
        publisher_page.add(&second);
        index.record(&second, &publisher_page);
        // The tick expired `first` on the page it read before `second` was added.
        tick_page.expire("2026-12-01T00:00:00Z");
        index.settle(&tick_page);
        let summary = &index.images["golden"].history[0];
        assert_eq!(summary.releases, 2);
        assert_eq!(
            summary.next_expiry.as_deref(),
            Some("2026-12-01T00:00:00Z"),
            "kept early: the next tick reads the page again"
        );
        // That tick sees both entries and settles on the second's expiry.
        publisher_page.expire("2026-12-01T00:00:00Z");
        index.settle(&publisher_page);
        assert_eq!(
            index.images["golden"].history[0].next_expiry.as_deref(),
            Some("2027-01-01T00:00:00Z")
        );
    }

    #[test]
    fn when_a_schema_1_index_is_migrated_should_keep_every_release_on_its_page() {
        let v1 = serde_json::json!({"schema_version": 1, "releases": [
            entry("golden-1.0.1-1", "2026-11-02T10:00:00Z"),
            entry("golden-1.0.0-1", "2026-10-30T10:00:00Z"),
            entry("other-2.0.0-1", "2026-10-01T10:00:00Z"),
        ]});
        let mut index: Index = serde_json::from_value(v1).unwrap();
        assert!(index.needs_migration());
        let pages = index.legacy_pages();
        let keys: Vec<_> = pages
            .iter()
            .map(|p| crate::release::keys::history(&p.image, &p.month))
            .collect();
        assert_eq!(
            keys,
            [
                "catalog/history/golden/2026-10.json",
                "catalog/history/golden/2026-11.json",
                "catalog/history/other/2026-10.json"
            ]
        );
        assert!(index.migrate(&pages));
        assert!(!index.migrate(&pages), "once");
        let written = serde_json::to_value(&index).unwrap();
        assert_eq!(written["schema_version"], 2);
        assert!(written.get("releases").is_none(), "{written}");
        let golden = &index.images["golden"];
        let months: Vec<_> = golden.history.iter().map(|p| p.month.as_str()).collect();
        assert_eq!(months, ["2026-11", "2026-10"], "newest month first");
        assert_eq!(golden.recent[0].release_id, "golden-1.0.1-1");
        assert_eq!(index.images["other"].history[0].releases, 1);
    }

    #[test]
    fn when_many_releases_are_recorded_should_keep_the_index_bounded() {
        let mut index = Index::default();
        let mut page = History::default();
        for n in 0..500 {
            let e = entry(
                &format!("golden-1.0.0-{n}"),
                &format!(
                    "2026-11-{:02}T{:02}:{:02}:00Z",
                    1 + n / 24 / 60 % 28,
                    n / 60 % 24,
                    n % 60
                ),
            );
            page.add(&e);
            index.record(&e, &page);
        }
        let golden = &index.images["golden"];
        assert_eq!(golden.recent.len(), RECENT);
        assert_eq!(golden.recent[0].release_id, "golden-1.0.0-499");
        assert_eq!(golden.history.len(), 1);
        assert_eq!(golden.history[0].releases, 500);
        assert!(serde_json::to_vec(&index).unwrap().len() < 20_000);
        assert_eq!(month_of("2026-11-23T10:00:00Z"), "2026-11");
        assert_eq!(month_of("garbage"), "0000-00");
    }

    #[test]
    fn when_the_expiry_is_computed_should_be_a_day_before_the_first_object_may_go() {
        let manifest: Manifest = serde_json::from_value(serde_json::json!({
            "schema_version": 2, "release_id": "golden-1.0.0-1",
            "source_image_arn": "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1",
            "distributed_image_arn": "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/2",
            "amis": [], "appstream": [],
            "timestamps": {"distribution_requested_at": "2026-11-23T09:00:00Z",
                "export_requested_at": "2026-11-23T10:00:00Z", "published_at": "2026-11-23T12:00:00Z"}
        }))
        .unwrap();
        assert_eq!(
            artifacts_expire_at(&manifest, 30).as_deref(),
            Some("2026-12-22T10:00:00Z")
        );
        assert_eq!(
            artifacts_expire_at(&manifest, 1).as_deref(),
            Some("2026-11-23T10:00:00Z")
        );
    }

    #[test]
    fn when_a_release_id_is_split_should_give_image_version_and_build() {
        assert_eq!(
            split_release_id("golden-linux-1.10.2-7"),
            ("golden-linux".into(), "1.10.2".into(), 7)
        );
    }

    #[test]
    fn when_releases_are_added_should_list_each_once_newest_first() {
        let mut page = History::default();
        assert!(page.add(&entry("golden-1.0.0-1", "2026-11-23T10:00:00Z")));
        assert!(page.add(&entry("golden-1.0.1-1", "2026-11-23T11:00:00Z")));
        assert!(!page.add(&entry("golden-1.0.0-1", "2026-11-23T12:00:00Z")));
        let ids: Vec<_> = page
            .releases
            .iter()
            .map(|e| e.release_id.as_str())
            .collect();
        assert_eq!(ids, ["golden-1.0.1-1", "golden-1.0.0-1"]);
        let mut index = Index::default();
        assert!(index.record(&page.releases[1], &page));
        assert!(index.record(&page.releases[0], &page));
        assert!(!index.record(&page.releases[0], &page), "idempotent");
    }

    #[test]
    fn when_an_older_version_is_published_late_should_leave_latest_alone() {
        let mut latest = Latest::default();
        assert!(latest.advance(entry("golden-1.10.0-1", "2026-11-23T10:00:00Z")));
        assert!(!latest.advance(entry("golden-1.9.0-3", "2026-11-23T11:00:00Z")));
        assert!(!latest.advance(entry("golden-1.10.0-1", "2026-11-23T12:00:00Z")));
        assert!(latest.advance(entry("golden-1.10.0-2", "2026-11-23T13:00:00Z")));
        assert!(latest.advance(entry("other-0.1.0-1", "2026-11-23T13:00:00Z")));
        assert_eq!(latest.images["golden"].release_id, "golden-1.10.0-2");
        assert_eq!(latest.images.len(), 2);
    }

    #[test]
    fn when_the_page_is_rendered_should_escape_and_list_every_release_without_script() {
        let mut index = Index::default();
        let mut e = entry("golden-1.0.0-1", "2026-11-23T10:00:00Z");
        e.artifacts.push(ManifestExport {
            object_key: "exports/golden-1.0.0-1/export-ami-1.vmdk".into(),
            size_bytes: 3 * 1024 * 1024,
            format: crate::domain::DiskImageFormat::Vmdk,
            url: "https://d.example/exports/golden-1.0.0-1/export-ami-1.vmdk".into(),
            sha256: "ab".repeat(32),
        });
        e.image = "<golden>".into();
        let mut history = History::default();
        history.add(&e);
        index.record(&e, &history);
        let page = render_page(&index, "Downloads");
        assert!(page.contains("&lt;golden&gt; 1.0.0 (build 1)"));
        assert!(page.contains("3.0 MiB"));
        assert!(page.contains("download=\"golden-1.0.0-1.vmdk\""), "{page}");
        assert!(page.contains(&"ab".repeat(32)));
        assert!(
            page.contains("href=\"/catalog/history/&lt;golden&gt;/2026-11.html\">2026-11</a> (1)")
        );
        assert!(render_history(&history, "Downloads").contains("&lt;golden&gt; 1.0.0 (build 1)"));
        assert!(page.contains("<html lang=\"en\">"));
        assert!(!page.contains("<script"));
    }
}
