//! `bench-catalog <dir> <v1|v2> <entry.json>`: one publication's catalog work, as
//! publish-release does it, on the documents in `dir` (as S3 would return them: whole objects
//! read into memory, parsed, changed, serialized and written back), and prints one JSON line:
//! seconds, bytes read and written, and the process's peak RSS.
//! * `v2` (today's layout): the month's history page (`page.json`) gets the entry and its HTML
//!   is rendered; `index.json` records it and the downloads page is rendered from the index.
//! * `v1` (the layout before, the baseline): `index.json` lists every release; the entry is
//!   added and the page, listing every release, is rendered.

use serde::{Deserialize, Serialize};
use shared::catalog::{Entry, History, Index, render_history, render_page};
use std::path::Path;

/// Schema 1's index: every release in one list.
#[derive(Serialize, Deserialize)]
struct IndexV1 {
    schema_version: u32,
    releases: Vec<Entry>,
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

struct Io {
    read: u64,
    written: u64,
}

impl Io {
    fn read(&mut self, path: &Path) -> Vec<u8> {
        let bytes = std::fs::read(path).unwrap_or_default();
        self.read += bytes.len() as u64;
        bytes
    }
    fn write(&mut self, path: &Path, bytes: &[u8]) {
        self.written += bytes.len() as u64;
        std::fs::write(path, bytes).expect("writable");
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, layout, entry] = args.as_slice() else {
        eprintln!("usage: bench-catalog <dir> <v1|v2> <entry.json>");
        return std::process::ExitCode::from(2);
    };
    let dir = Path::new(dir);
    let entry: Entry = match std::fs::read(entry)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(entry) => entry,
        Err(e) => {
            eprintln!("{entry}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let idle_kb = vm_hwm_kb();
    let mut io = Io {
        read: 0,
        written: 0,
    };
    let started = std::time::Instant::now();
    match layout.as_str() {
        "v2" => {
            let page_path = dir.join("page.json");
            let mut page: History =
                serde_json::from_slice(&io.read(&page_path)).unwrap_or_default();
            page.add(&entry);
            io.write(&page_path, &serde_json::to_vec_pretty(&page).expect("json"));
            io.write(
                &dir.join("page.html"),
                render_history(&page, "Image releases").as_bytes(),
            );
            let index_path = dir.join("index.json");
            let mut index: Index =
                serde_json::from_slice(&io.read(&index_path)).unwrap_or_default();
            index.record(&entry, &page);
            io.write(
                &index_path,
                &serde_json::to_vec_pretty(&index).expect("json"),
            );
            io.write(
                &dir.join("index.html"),
                render_page(&index, "Image releases").as_bytes(),
            );
        }
        "v1" => {
            let index_path = dir.join("index.json");
            let mut index: IndexV1 =
                serde_json::from_slice(&io.read(&index_path)).unwrap_or(IndexV1 {
                    schema_version: 1,
                    releases: Vec::new(),
                });
            index.releases.insert(0, entry.clone());
            io.write(
                &index_path,
                &serde_json::to_vec_pretty(&index).expect("json"),
            );
            // Schema 1's page listed every release.
            let all = History {
                schema_version: 1,
                image: String::new(),
                month: String::new(),
                releases: index.releases,
            };
            io.write(
                &dir.join("index.html"),
                render_history(&all, "Image releases").as_bytes(),
            );
        }
        other => {
            eprintln!("layout must be v1 or v2, not {other}");
            return std::process::ExitCode::from(2);
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "seconds": started.elapsed().as_secs_f64(),
            "bytes_read": io.read,
            "bytes_written": io.written,
            "idle_rss_kb": idle_kb,
            "peak_rss_kb": vm_hwm_kb(),
        })
    );
    std::process::ExitCode::SUCCESS
}
