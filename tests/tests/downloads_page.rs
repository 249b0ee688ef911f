//! The downloads page in a real browser: a local release publishes, moto serves `index.html`
//! from the (private) bucket through a presigned URL, as CloudFront's origin access would, and
//! headless Chromium (Debian's, `scripts/install-chromium.sh`) renders it. The test asserts what
//! a user sees and keeps a screenshot in `<target>/downloads-page.png`. The page has no script;
//! headless Chromium's own `--dump-dom` and `--screenshot` need scripting on, so "no script" is
//! asserted on the DOM.

use release_tests::root;
use runner::{Scenario, run};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn chromium() -> PathBuf {
    let from_env = std::env::var_os("CHROMIUM").map(PathBuf::from);
    from_env
        .or_else(|| {
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .find_map(|name| {
                    let out = Command::new("sh")
                        .args(["-c", &format!("command -v {name}")])
                        .output()
                        .ok()?;
                    out.status
                        .success()
                        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
                })
        })
        .unwrap_or_else(|| panic!("no Chromium: run scripts/install-chromium.sh (or set CHROMIUM)"))
}

/// Chromium, headless, with a throw-away profile.
fn browse(args: &[&str], url: &str) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url);
    let out = command.output().expect("chromium");
    assert!(
        out.status.success(),
        "chromium {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn when_a_release_is_published_should_the_downloads_page_show_it_in_a_browser() {
    let mut s = Scenario::new(&root());
    s.step = Duration::from_millis(150);
    s.publish_interval = Duration::from_millis(200);
    s.timeout = Duration::from_secs(60);
    s.progress = false;
    s.export_size = Some(3 * 1024 * 1024);
    let report = run(s).await.expect("local release");
    assert_eq!(
        report.state,
        "published",
        "logs {}",
        report.log_dir.display()
    );
    let manifest = report.manifest.clone().unwrap();
    let url = report
        .object_url("index.html")
        .await
        .expect("presigned URL");

    let dom = String::from_utf8(browse(&["--dump-dom"], &url).stdout).unwrap();
    // What a user sees: the version and date, each download with format, size and SHA-256,
    // the AMIs per region, the AppStream images.
    for expected in [
        "golden 1.0.0 (build 1)",
        manifest["timestamps"]["published_at"].as_str().unwrap(),
        "VMDK",
        // The name the distribution downloads it under, and the link to the image's history.
        "golden-1.0.0-1.vmdk",
        "Every release, by month published",
        "3.0 MiB",
        manifest["export"]["sha256"].as_str().unwrap(),
        "us-east-1",
        "eu-west-1",
        manifest["amis"][0]["ami_id"].as_str().unwrap(),
        "AppStream images",
        "ap-southeast-2",
    ] {
        assert!(
            dom.contains(expected),
            "the page lacks {expected:?}:\n{dom}"
        );
    }
    assert!(!dom.contains("<script"), "no script needed");
    assert!(
        dom.contains("<th scope=\"col\">SHA-256</th>"),
        "table headers for screen readers"
    );

    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    std::fs::create_dir_all(&target).unwrap();
    let shot = target.join("downloads-page.png");
    browse(&[&format!("--screenshot={}", shot.display())], &url);
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    println!("downloads page screenshot: {}", shot.display());
}
