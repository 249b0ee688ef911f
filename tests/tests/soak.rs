//! Soak: many releases in flight across several pipelines, on a bus that duplicates, shuffles
//! and loses events, against services that throttle and fail. Every release must be published
//! with every side effect exactly once. Prints its figures (`--nocapture` to see them).

use release_tests::root;
use runner::{MANY_PIPELINES, Scenario, run};

const RELEASES: usize = 150;
const REGIONS: [&str; 2] = ["eu-west-1", "ap-southeast-2"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_many_releases_meet_a_lossy_bus_and_faulty_services_should_publish_each_exactly_once()
{
    let mut s = Scenario::many(&root(), RELEASES);
    s.event_drop = 0.05;
    s.fault_rate = 0.10;
    s.seed = 2026;
    let report = run(s)
        .await
        .unwrap_or_else(|e| panic!("the soak run could not start: {e:#}"));

    let counts = &report.counts;
    let calls: u32 = counts
        .calls
        .iter()
        .filter(|(op, _)| !op.ends_with("#fault"))
        .map(|(_, n)| *n)
        .sum();
    let faults = counts.effect_count("fault");
    let emitted = counts.effect_count("event-emitted");
    let dropped = counts.effect_count("event-dropped");
    let published = report
        .releases
        .iter()
        .filter(|(_, state)| state == "published")
        .count();
    println!(
        "soak: {RELEASES} releases across {} pipelines",
        MANY_PIPELINES.len()
    );
    println!(
        "soak: events emitted {} (dropped {dropped} = {:.1}%), deliveries to functions {} ({} of {} delivered twice = {:.1}%, shuffled by up to 300 ms)",
        emitted + dropped,
        100.0 * f64::from(dropped) / f64::from((emitted + dropped).max(1)),
        report.deliveries,
        report.duplicates,
        report.deliveries - report.duplicates,
        100.0 * report.duplicates as f64 / (report.deliveries - report.duplicates).max(1) as f64,
    );
    println!(
        "soak: AWS calls to the emulator {} + {faults} faults ({:.1}% throttled or 5xx), {:.1} calls per release",
        calls,
        100.0 * f64::from(faults) / f64::from((calls + faults).max(1)),
        f64::from(calls) / RELEASES as f64,
    );
    println!(
        "soak: {published} of {} releases published, {} invalidations, wall time {:.1} s",
        report.releases.len(),
        report.invalidations.len(),
        report.elapsed.as_secs_f64()
    );
    for (op, n) in &counts.calls {
        println!("soak:   {op}: {n}");
    }

    let unfinished: Vec<_> = report
        .releases
        .iter()
        .filter(|(_, state)| state != "published")
        .collect();
    let effects: Vec<_> = counts
        .effects
        .iter()
        .filter(|(what, _)| !what.starts_with("tag:"))
        .collect();
    let why = format!(
        "state {} not published {unfinished:?}\neffects {effects:?}\nlogs {}",
        report.state,
        report.log_dir.display()
    );
    assert_eq!(report.state, "done", "{why}");
    assert_eq!(report.releases.len(), RELEASES, "{why}");
    assert_eq!(published, RELEASES, "{why}");
    let n = RELEASES as u32;
    assert_eq!(counts.effect_count("pipeline-execution"), n, "{why}");
    assert_eq!(counts.effect_count("distribution"), n, "{why}");
    assert_eq!(counts.effect_count("export-task"), n, "{why}");
    for region in REGIONS {
        assert_eq!(
            counts.effect_count(&format!("appstream-copy:{region}")),
            n,
            "{region}: {why}"
        );
    }
    assert!(
        report.invalidations.is_empty(),
        "nothing is cached that a publication changes: {why}"
    );
    // Publishers racing on the catalog: every release is in the index exactly once, and each
    // image's latest pointer names its newest build.
    let index = report.index.as_ref().expect("catalog/index.json");
    let all: Vec<&serde_json::Value> = report
        .history
        .iter()
        .flat_map(|page| page["releases"].as_array().unwrap())
        .collect();
    let mut listed: Vec<&str> = all
        .iter()
        .map(|e| e["release_id"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    let mut expected: Vec<&str> = report.releases.iter().map(|(id, _)| id.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(
        listed, expected,
        "the history pages list every release once"
    );
    for (image, summary) in index["images"].as_object().unwrap() {
        let counted: u64 = summary["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["releases"].as_u64().unwrap())
            .sum();
        let on_pages = all.iter().filter(|e| e["image"] == image.as_str()).count();
        assert_eq!(
            counted, on_pages as u64,
            "index.json counts {image}'s pages right"
        );
        assert!(summary["recent"].as_array().unwrap().len() <= shared::catalog::RECENT);
    }
    let latest = report.latest.as_ref().expect("catalog/latest.json");
    for (image, entry) in latest["images"].as_object().unwrap() {
        let newest = all
            .iter()
            .filter(|e| e["image"] == image.as_str())
            .max_by_key(|e| e["build"].as_u64())
            .unwrap();
        assert_eq!(
            entry["release_id"], newest["release_id"],
            "latest of {image}"
        );
    }
    println!(
        "soak: the history pages list {} releases; latest.json points {} images at their newest build",
        listed.len(),
        latest["images"].as_object().unwrap().len()
    );
    assert!(
        emitted + dropped >= 1_000,
        "{} events\n{why}",
        emitted + dropped
    );
    assert!(
        dropped > 0 && faults > 0,
        "the bus dropped and services failed\n{why}"
    );
}
