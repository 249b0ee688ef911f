//! The documentation's internal links: every relative link of the README, SECURITY.md and the
//! book (`docs/src`) names a file that exists and, with `#anchor`, a heading of that file (as
//! mdBook and GitHub make heading ids); every chapter is in the book's SUMMARY.md and every
//! SUMMARY entry exists; the README stays a landing page.

use release_tests::root;
use std::path::{Path, PathBuf};

/// The id mdBook and GitHub give a heading: lower case, spaces to `-`, punctuation dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The text of `file` outside fenced code blocks, with inline code removed.
fn prose(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            let mut inline = false;
            for c in line.chars() {
                if c == '`' {
                    inline = !inline;
                } else if !inline {
                    out.push(c);
                }
            }
            out.push('\n');
        }
    }
    out
}

fn anchors(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.push(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// `[text](target)` targets of `file`'s prose.
fn links(file: &Path) -> Vec<String> {
    let text = prose(file);
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].trim().to_owned());
            rest = &rest[end..];
        }
    }
    out
}

fn documents() -> Vec<PathBuf> {
    let root = root();
    let mut files = vec![root.join("README.md"), root.join("SECURITY.md")];
    let mut chapters: Vec<PathBuf> = std::fs::read_dir(root.join("docs/src"))
        .expect("docs/src")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    chapters.sort();
    files.extend(chapters);
    files
}

#[test]
fn when_the_docs_link_within_the_repository_should_every_file_and_heading_exist() {
    let mut broken = Vec::new();
    for file in documents() {
        for target in links(&file) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((target.as_str(), ""));
            let linked = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            if !linked.exists() {
                broken.push(format!("{}: {target}: no such file", file.display()));
                continue;
            }
            if !anchor.is_empty() && !anchors(&linked).iter().any(|a| a == anchor) {
                broken.push(format!(
                    "{}: {target}: no heading #{anchor} in {}",
                    file.display(),
                    linked.display()
                ));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn when_the_book_is_listed_should_summary_name_every_chapter_once() {
    let src = root().join("docs/src");
    let summary = links(&src.join("SUMMARY.md"));
    let mut chapters: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md") && n != "SUMMARY.md")
        .collect();
    chapters.sort();
    let mut listed = summary.clone();
    listed.sort();
    assert_eq!(listed, chapters, "SUMMARY.md against docs/src");
}

#[test]
fn when_a_newcomer_opens_the_readme_should_it_be_a_landing_page() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines; the rest belongs in docs/"
    );
    for must in [
        "scripts/demo.sh",
        "scripts/test.sh",
        "## Deploy in five steps",
        "```\n schedule /",
    ] {
        assert!(readme.contains(must), "README.md lacks {must:?}");
    }
}

#[test]
fn when_headings_are_slugged_should_match_mdbook_and_github() {
    assert_eq!(
        slug(" The manifest (`schema_version` 2)"),
        "the-manifest-schema_version-2"
    );
    assert_eq!(slug("At Lambda's CPU share"), "at-lambdas-cpu-share");
}
