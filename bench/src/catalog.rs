//! The catalog's cost against the length of the history: one publication's catalog work
//! (`bench-catalog`, release build) with 10 to 100,000 releases already published, in today's
//! sharded layout (schema 2: the month's history page and a bounded index) and in the layout
//! before it (schema 1: every release in one index and one page), at publish-release's
//! template memory and its CPU share. Prints seconds, bytes read and written, and peak RSS,
//! and the ratio of the largest history to the smallest.

use crate::confined::{self, Share};
use serde_json::{Value, json};
use shared::catalog::{Entry, History, ImageSummary, Index, PageSummary, RECENT};
use shared::domain::DiskImageFormat;
use shared::release::{ManifestAmi, ManifestAppStreamImage, ManifestExport, keys};
use std::path::Path;

/// Fifty pipelines building nightly: the example of a busy account.
const IMAGES: usize = 50;
/// Releases per image and month (nightly builds).
const PER_MONTH: usize = 28;
const RUNS: usize = 3;

fn image(i: usize) -> String {
    format!("image-{i:02}")
}

/// Release `k` of image `i`: built on day `k` (month `k / 28`), with two AMIs, two disks and
/// two AppStream copies, like the demo's releases (about 1.7 KB pretty-printed).
fn entry(i: usize, k: usize) -> Entry {
    let name = image(i);
    let month = k / PER_MONTH;
    let published_at = format!(
        "{:04}-{:02}-{:02}T{:02}:00:00Z",
        2017 + month / 12,
        month % 12 + 1,
        k % PER_MONTH + 1,
        i % 24
    );
    let id = format!("{name}-1.{month}.{}-1", k % PER_MONTH);
    let url = |file: &str| format!("https://d111111abcdef8.cloudfront.net/releases/{id}/{file}");
    Entry {
        release_id: id.clone(),
        image: name.clone(),
        version: format!("1.{month}.{}", k % PER_MONTH),
        build: 1,
        pipeline_arn: Some(format!(
            "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/{name}"
        )),
        published_at,
        manifest_url: url("manifest.json"),
        checksums_url: Some(url("SHA256SUMS")),
        amis: ["us-east-1", "eu-west-1"]
            .iter()
            .map(|region| ManifestAmi {
                region: (*region).to_owned(),
                ami_id: format!("ami-{:017x}", i * 1_000_000 + k),
                account_id: Some("123456789012".into()),
                name: Some(format!("{id} {region}")),
            })
            .collect(),
        artifacts: [DiskImageFormat::Vmdk, DiskImageFormat::Raw]
            .iter()
            .map(|format| {
                let file = format!("export-ami-{:017x}.{}", k, format.extension());
                ManifestExport {
                    object_key: format!("releases/{id}/{file}"),
                    size_bytes: 8 << 30,
                    format: *format,
                    url: url(&file),
                    sha256: format!("{:064x}", i * 1_000_000 + k),
                }
            })
            .collect(),
        appstream: ["eu-west-1", "ap-southeast-2"]
            .iter()
            .map(|region| ManifestAppStreamImage {
                region: (*region).to_owned(),
                image_name: id.clone(),
                arn: format!("arn:aws:appstream:{region}:123456789012:image/{id}"),
            })
            .collect(),
        artifacts_expire_at: None,
        artifacts_expired: false,
        revoked: None,
        retired: None,
    }
}

/// The documents a publication reads with `n` releases published, and the new release's entry.
struct Seed {
    /// (file name, bytes) written into the probe's directory before each run.
    files: Vec<(String, Vec<u8>)>,
    entry: Entry,
}

fn per_image(n: usize) -> (usize, usize) {
    let images = IMAGES.min(n.max(1));
    (images, n.div_ceil(images))
}

fn seed_v2(n: usize) -> anyhow::Result<Seed> {
    let (images, per) = per_image(n);
    let mut index = Index::default();
    let mut current = History::default();
    for i in 0..images {
        let mut summary = ImageSummary::default();
        let newest = per.saturating_sub(1);
        summary.recent = (0..per).rev().take(RECENT).map(|k| entry(i, k)).collect();
        let months = per.div_ceil(PER_MONTH);
        for m in (0..months).rev() {
            let in_month = PER_MONTH.min(per - m * PER_MONTH);
            let month = shared::catalog::month_of(&entry(i, m * PER_MONTH).published_at);
            summary.history.push(PageSummary {
                json: keys::history(&image(i), &month),
                html: keys::history_page(&image(i), &month),
                month,
                releases: in_month as u64,
                next_expiry: None,
            });
        }
        if i == 0 {
            let first = (newest / PER_MONTH) * PER_MONTH;
            for k in first..per {
                current.add(&entry(0, k));
            }
        }
        index.images.insert(image(i), summary);
    }
    // The next release of image 0, the same month.
    let mut next = entry(0, per.saturating_sub(1));
    next.release_id = format!("{}-next", next.release_id);
    next.build = 2;
    next.published_at = next.published_at.replace("T00:", "T23:");
    Ok(Seed {
        files: vec![
            ("index.json".into(), serde_json::to_vec_pretty(&index)?),
            ("page.json".into(), serde_json::to_vec_pretty(&current)?),
        ],
        entry: next,
    })
}

fn seed_v1(n: usize) -> anyhow::Result<Seed> {
    let (images, per) = per_image(n);
    let mut releases: Vec<Entry> = (0..per)
        .flat_map(|k| (0..images).map(move |i| entry(i, k)))
        .take(n)
        .collect();
    releases.reverse();
    let mut next = entry(0, per);
    next.release_id = format!("{}-next", next.release_id);
    Ok(Seed {
        files: vec![(
            "index.json".into(),
            serde_json::to_vec_pretty(&json!({"schema_version": 1, "releases": releases}))?,
        )],
        entry: next,
    })
}

/// One run of the probe on a fresh copy of the seed; `None` when the memory limit killed it.
async fn run(
    probe: &Path,
    dir: &Path,
    layout: &str,
    seed: &Seed,
    memory_mb: u32,
) -> anyhow::Result<(Option<Value>, Share)> {
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in &seed.files {
        std::fs::write(dir.join(name), bytes)?;
    }
    let entry = dir.join("entry.json");
    std::fs::write(&entry, serde_json::to_vec(&seed.entry)?)?;
    let args = [
        dir.to_str().unwrap_or_default(),
        layout,
        entry.to_str().unwrap_or_default(),
    ];
    let (mut command, cgroup, share) = confined::command(probe, &args, memory_mb);
    let out = command.output().await?;
    let killed = cgroup.as_ref().is_some_and(|c| c.oom_kills() > 0);
    if !out.status.success() {
        anyhow::ensure!(
            killed,
            "bench-catalog {layout}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return Ok((None, share));
    }
    Ok((Some(serde_json::from_slice(&out.stdout)?), share))
}

/// [`measure_at`] at the template's memory and at 1,769 MB (one whole vCPU).
pub async fn measure(
    release: &Path,
    sizes: &[usize],
    template_mb: u32,
    log_dir: &Path,
) -> anyhow::Result<Value> {
    let mut all = Vec::new();
    for memory_mb in [template_mb, 1769] {
        all.push(measure_at(release, sizes, memory_mb, log_dir).await?);
    }
    Ok(Value::Array(all))
}

async fn measure_at(
    release: &Path,
    sizes: &[usize],
    memory_mb: u32,
    log_dir: &Path,
) -> anyhow::Result<Value> {
    let probe = release.join("bench-catalog");
    let mut rows = Vec::new();
    let mut share = Share::Unconfined;
    for layout in ["v2", "v1"] {
        for &n in sizes {
            eprintln!("catalog: {layout} with {n} releases…");
            let seed = if layout == "v2" {
                seed_v2(n)?
            } else {
                seed_v1(n)?
            };
            let dir = log_dir.join(format!("catalog-{layout}-{n}"));
            let mut runs = Vec::new();
            let mut oom = false;
            for _ in 0..RUNS {
                let (run, s) = run(&probe, &dir, layout, &seed, memory_mb).await?;
                share = s;
                match run {
                    Some(run) => runs.push(run),
                    None => {
                        oom = true;
                        break;
                    }
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
            let best = |field: &str| {
                runs.iter()
                    .filter_map(|r| r[field].as_f64())
                    .fold(f64::INFINITY, f64::min)
            };
            let most = |field: &str| runs.iter().filter_map(|r| r[field].as_u64()).max();
            rows.push(json!({
                "layout": layout,
                "releases": n,
                "out_of_memory": oom,
                "seconds": (!oom).then(|| best("seconds")),
                "bytes_read": most("bytes_read"),
                "bytes_written": most("bytes_written"),
                "peak_rss_kb": most("peak_rss_kb"),
            }));
        }
    }
    println!(
        "\nCatalog: one publication's catalog work with N releases already published, at {} (best of {RUNS}):",
        share.label()
    );
    println!(
        "  {:>7} | {:<29} | {:>9} | {:>10} | {:>10} | {:>9}",
        "N", "layout", "seconds", "read", "written", "peak RSS"
    );
    let mb = |b: f64| b / 1e6;
    for row in &rows {
        let layout = if row["layout"] == "v2" {
            "sharded (schema 2)"
        } else {
            "one index (schema 1, before)"
        };
        if row["out_of_memory"] == true {
            println!(
                "  {:>7} | {layout:<29} | killed: out of memory at {memory_mb} MB",
                row["releases"].as_u64().unwrap_or_default()
            );
            continue;
        }
        println!(
            "  {:>7} | {layout:<29} | {:>9.4} | {:>7.2} MB | {:>7.2} MB | {:>6.1} MB",
            row["releases"].as_u64().unwrap_or_default(),
            row["seconds"].as_f64().unwrap_or_default(),
            mb(row["bytes_read"].as_f64().unwrap_or_default()),
            mb(row["bytes_written"].as_f64().unwrap_or_default()),
            row["peak_rss_kb"].as_f64().unwrap_or_default() * 1024.0 / 1e6,
        );
    }
    let v2: Vec<&Value> = rows.iter().filter(|r| r["layout"] == "v2").collect();
    let (first, last) = (v2.first(), v2.last());
    let ratio = first
        .zip(last)
        .and_then(|(a, b)| Some(b["seconds"].as_f64()? / a["seconds"].as_f64()?));
    // Once every image has RECENT releases the index stops growing but for one line per
    // image and month: the ratio from the first such size shows what history alone costs.
    let full = v2
        .iter()
        .find(|r| r["releases"].as_u64().unwrap_or(0) >= (IMAGES * RECENT) as u64);
    let bounded = full.zip(last).and_then(|(a, b)| {
        Some((
            a["releases"].clone(),
            b["seconds"].as_f64()? / a["seconds"].as_f64()?,
        ))
    });
    if let Some((from, ratio)) = &bounded {
        println!(
            "  sharded, from {from} releases (every image's recent list full) to {}: {ratio:.2}× the time",
            last.map(|r| r["releases"].clone()).unwrap_or_default()
        );
    }
    let peak = v2
        .iter()
        .filter_map(|r| r["peak_rss_kb"].as_f64())
        .fold(0.0, f64::max)
        * 1024.0
        / 1e6;
    let budget = f64::from(memory_mb) * 1.048576 / 2.0;
    if let Some(ratio) = ratio {
        println!(
            "  sharded: {} releases take {ratio:.2}× the time of {} (target ≤ 2×: {}); peak RSS {peak:.1} MB (target ≤ 50% of {memory_mb} MB = {budget:.0} MB: {})",
            last.map(|r| r["releases"].clone()).unwrap_or_default(),
            first.map(|r| r["releases"].clone()).unwrap_or_default(),
            if ratio <= 2.0 { "met" } else { "missed" },
            if peak <= budget { "met" } else { "missed" },
        );
    }
    Ok(json!({
        "share": share.label(),
        "memory_mb": memory_mb,
        "rows": rows,
        "ratio_largest_to_smallest": ratio,
        "ratio_largest_to_first_full": bounded.map(|(_, r)| r),
        "peak_rss_mb": peak,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_history_is_seeded_should_the_index_count_every_release_and_the_page_hold_the_month() {
        for n in [10, 1000, 10_000] {
            let seed = seed_v2(n).unwrap();
            let index: Index = serde_json::from_slice(&seed.files[0].1).unwrap();
            let counted: u64 = index
                .images
                .values()
                .flat_map(|i| i.history.iter().map(|p| p.releases))
                .sum();
            assert_eq!(counted, n as u64);
            let page: History = serde_json::from_slice(&seed.files[1].1).unwrap();
            let month = shared::catalog::month_of(&seed.entry.published_at);
            assert_eq!(
                page.month, month,
                "the next release goes on the seeded page"
            );
            assert_eq!(
                index.images["image-00"].history[0].releases,
                page.releases.len() as u64
            );
            let v1: serde_json::Value =
                serde_json::from_slice(&seed_v1(n).unwrap().files[0].1).unwrap();
            assert_eq!(v1["releases"].as_array().unwrap().len(), n);
        }
    }
}
