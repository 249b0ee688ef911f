//! What users find a release by: `catalog/index.json` (every published release, newest
//! first), `catalog/latest.json` (the newest release of each pipeline) and `index.html` (the
//! downloads page, rendered from the index). Pure: publish-release reads, changes and writes them
//! with conditional writes (`If-Match`), so racing publishers never drop an entry.

use crate::release::{Manifest, ManifestAmi, ManifestAppStreamImage, ManifestExport};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Duration;

pub const CATALOG_SCHEMA_VERSION: u32 = 1;

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
        }
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

/// `catalog/index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub schema_version: u32,
    /// Newest published first.
    pub releases: Vec<Entry>,
}

impl Default for Index {
    fn default() -> Self {
        Self {
            schema_version: CATALOG_SCHEMA_VERSION,
            releases: Vec::new(),
        }
    }
}

impl Index {
    /// Adds the release once (a repeat changes nothing); keeps newest first by publication
    /// time, then by release id. Returns whether the index changed.
    pub fn add(&mut self, entry: Entry) -> bool {
        if self
            .releases
            .iter()
            .any(|e| e.release_id == entry.release_id)
        {
            return false;
        }
        self.releases.push(entry);
        self.releases.sort_by(|a, b| {
            b.published_at
                .cmp(&a.published_at)
                .then_with(|| b.release_id.cmp(&a.release_id))
        });
        true
    }

    /// Marks every entry whose downloads have expired at `now`. Returns whether any changed.
    pub fn expire(&mut self, now: &str) -> bool {
        self.releases
            .iter_mut()
            .fold(false, |changed, e| e.expire(now) | changed)
    }
}

/// `catalog/latest.json`: the newest published release of each image (pipeline output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latest {
    pub schema_version: u32,
    pub images: BTreeMap<String, Entry>,
}

impl Default for Latest {
    fn default() -> Self {
        Self {
            schema_version: CATALOG_SCHEMA_VERSION,
            images: BTreeMap::new(),
        }
    }
}

impl Latest {
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

/// The downloads page: static, accessible HTML and CSS, no script. One section per release,
/// newest first: version and date, AMIs per region, downloads with format, size and SHA-256,
/// AppStream images.
pub fn render_page(index: &Index, title: &str) -> String {
    let mut html = String::new();
    html.push_str(&format!(
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
<p>Machine images released by image-release. Each download has a SHA-256: check it with
<code>sha256sum -c --ignore-missing SHA256SUMS</code>. Machine-readable: <a href="catalog/index.json">index.json</a>,
<a href="catalog/latest.json">latest.json</a>.</p></header>
<main>
"#,
        title = escape(title)
    ));
    if index.releases.is_empty() {
        html.push_str("<p>No release has been published yet.</p>\n");
    }
    for entry in &index.releases {
        let id = escape(&entry.release_id);
        // An expired release keeps its entry, without a link to what retention removed.
        let links = if entry.artifacts_expired {
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
        html.push_str(&format!(
            "<section aria-labelledby=\"{id}\">\n<h2 id=\"{id}\">{image} {version} (build {build})</h2>\n<p class=\"meta\">Published <time datetime=\"{at}\">{at}</time>{links}</p>\n",
            image = escape(&entry.image),
            version = escape(&entry.version),
            build = entry.build,
            at = escape(&entry.published_at),
        ));
        if !entry.artifacts.is_empty() && !entry.artifacts_expired {
            html.push_str("<h3>Downloads</h3>\n<table>\n<thead><tr><th scope=\"col\">Format</th><th scope=\"col\">File</th><th scope=\"col\">Size</th><th scope=\"col\">SHA-256</th></tr></thead>\n<tbody>\n");
            for a in &entry.artifacts {
                let file = crate::release::keys::file_name(&a.object_key);
                html.push_str(&format!(
                    "<tr><td>{format}</td><td><a href=\"{url}\" download>{file}</a></td><td>{size} <span class=\"meta\">({bytes} bytes)</span></td><td><code>{sha}</code></td></tr>\n",
                    format = a.format.as_str().to_uppercase(),
                    url = escape(&a.url),
                    file = escape(file),
                    size = human_size(a.size_bytes),
                    bytes = a.size_bytes,
                    sha = escape(&a.sha256),
                ));
            }
            html.push_str("</tbody>\n</table>\n");
        }
        if !entry.amis.is_empty() {
            html.push_str("<h3>AMIs</h3>\n<table>\n<thead><tr><th scope=\"col\">Region</th><th scope=\"col\">AMI</th><th scope=\"col\">Account</th><th scope=\"col\">Name</th></tr></thead>\n<tbody>\n");
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
            html.push_str("<h3>AppStream images</h3>\n<table>\n<thead><tr><th scope=\"col\">Region</th><th scope=\"col\">Image</th><th scope=\"col\">ARN</th></tr></thead>\n<tbody>\n");
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
    html.push_str("</main>\n</body>\n</html>\n");
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
        }
    }

    #[test]
    fn when_retention_passes_should_keep_the_entry_and_drop_only_its_links() {
        let mut index = Index::default();
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
        index.add(e);
        let before = render_page(&index, "Downloads");
        assert!(before.contains("export-ami-1.vmdk") && before.contains("offered until"));
        assert!(!index.expire("2026-12-22T09:59:59Z"));
        assert!(index.expire("2026-12-22T10:00:00Z"));
        assert!(!index.expire("2026-12-23T00:00:00Z"), "once");
        let after = render_page(&index, "Downloads");
        assert!(after.contains("golden 1.0.0 (build 1)"), "{after}");
        assert!(after.contains("removed by the retention policy"), "{after}");
        for gone in ["releases/golden-1.0.0-1/", "href=\"https://d.example"] {
            assert!(!after.contains(gone), "{gone} in {after}");
        }
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
        let mut index = Index::default();
        assert!(index.add(entry("golden-1.0.0-1", "2026-11-23T10:00:00Z")));
        assert!(index.add(entry("golden-1.0.1-1", "2026-11-23T11:00:00Z")));
        assert!(!index.add(entry("golden-1.0.0-1", "2026-11-23T12:00:00Z")));
        let ids: Vec<_> = index
            .releases
            .iter()
            .map(|e| e.release_id.as_str())
            .collect();
        assert_eq!(ids, ["golden-1.0.1-1", "golden-1.0.0-1"]);
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
        index.add(e);
        let page = render_page(&index, "Downloads");
        assert!(page.contains("&lt;golden&gt; 1.0.0 (build 1)"));
        assert!(page.contains("3.0 MiB"));
        assert!(page.contains(&"ab".repeat(32)));
        assert!(page.contains("<html lang=\"en\">"));
        assert!(!page.contains("<script"));
    }
}
