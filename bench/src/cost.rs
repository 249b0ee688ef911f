//! Cost of one release, from the local release run with the release binaries: invocations and
//! billed duration per function (Lambda bills arm64 per 1 ms, rounded up, at the function's
//! MemorySize), AWS API calls by operation (the emulator's counts), S3 and CloudFront requests by
//! operation (moto's recording of the functions' own requests: the runner signs with its own key),
//! CloudFront invalidation paths and EventBridge events; turned into dollars with the price table
//! printed beside them.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// us-east-1 list prices (AWS pricing pages for Lambda, S3, CloudFront and EventBridge).
/// Image Builder, EC2 Describe*/ExportImage and AppStream API calls have no request charge.
pub const PRICES: [(&str, f64, &str); 7] = [
    (
        "lambda_gb_second_arm64",
        0.000_013_333_4,
        "USD per GB-second, arm64",
    ),
    (
        "lambda_request",
        0.20 / 1e6,
        "USD per invocation ($0.20 per million)",
    ),
    (
        "s3_put_copy_post_list",
        0.005 / 1e3,
        "USD per PUT/COPY/POST/LIST ($0.005 per 1,000)",
    ),
    (
        "s3_get_head_other",
        0.0004 / 1e3,
        "USD per GET/HEAD ($0.0004 per 1,000); DELETE is free",
    ),
    (
        "cloudfront_invalidation_path",
        0.005,
        "USD per path beyond 1,000 free per month",
    ),
    (
        "eventbridge_event",
        1.0 / 1e6,
        "USD per custom event ($1.00 per million)",
    ),
    (
        "aws_api_call",
        0.0,
        "Image Builder, EC2, AppStream calls: no request charge",
    ),
];

fn price(name: &str) -> f64 {
    PRICES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or(0.0, |(_, p, _)| *p)
}

/// The S3 or CloudFront operation of a recorded request.
fn operation(method: &str, url: &str, service: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    match (service, method) {
        ("s3", "GET") if query.contains("list-type=2") => "ListObjectsV2".into(),
        ("s3", "GET") => "GetObject".into(),
        ("s3", "HEAD") => "HeadObject".into(),
        ("s3", "PUT") => "PutObject".into(),
        ("s3", "DELETE") => "DeleteObject".into(),
        ("cloudfront", "POST") if url.contains("/invalidation") => "CreateInvalidation".into(),
        ("cloudfront", "GET") if url.contains("/invalidation") => "GetInvalidation".into(),
        (_, m) => format!("{m} {}", url.split('?').next().unwrap_or(url)),
    }
}

/// The functions' requests in moto's recording, by service and operation.
fn recorded(recording: &Path) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let text = std::fs::read_to_string(recording).unwrap_or_default();
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let auth = entry["headers"]["Authorization"]
            .as_str()
            .or_else(|| entry["headers"]["authorization"].as_str())
            .unwrap_or_default();
        // Credential=<key>/<date>/<region>/<service>/aws4_request
        let Some(scope) = auth.split("Credential=").nth(1) else {
            continue;
        };
        let parts: Vec<&str> = scope.split('/').collect();
        // The runner signs with its own key; every function with `AKID<NAME>`.
        if parts
            .first()
            .is_none_or(|k| *k == "AKIDRUNNER" || !k.starts_with("AKID"))
        {
            continue;
        }
        let service = parts.get(3).copied().unwrap_or("?").to_owned();
        let op = operation(
            entry["method"].as_str().unwrap_or_default(),
            entry["url"].as_str().unwrap_or_default(),
            &service,
        );
        *out.entry(service).or_default().entry(op).or_default() += 1;
    }
    out
}

pub async fn measure(root: &Path, release: &Path, log_dir: &Path) -> anyhow::Result<Value> {
    let mut scenario = runner::Scenario::new(root);
    scenario.progress = false;
    scenario.binaries = Some(release.to_path_buf());
    scenario.record_moto = true;
    scenario.log_dir = log_dir.join("cost");
    let report = runner::run(scenario).await?;
    anyhow::ensure!(
        report.state == "published",
        "the local release ended {} (logs in {})",
        report.state,
        report.log_dir.display()
    );
    let memory_gb = 128.0 / 1024.0;
    let mut functions: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for invocation in &report.invocations {
        let entry = functions.entry(invocation.function.clone()).or_default();
        entry.0 += 1;
        entry.1 += invocation.duration.as_micros().div_ceil(1000) as u64;
        entry.2 += u64::from(invocation.trigger.contains("Scheduled"));
    }
    let aws: BTreeMap<String, u32> = report
        .counts
        .calls
        .iter()
        .filter(|(op, _)| !op.contains('#'))
        .map(|(op, n)| (op.clone(), *n))
        .collect();
    let requests = recorded(&report.log_dir.join("moto-recording.jsonl"));
    let s3 = requests.get("s3").cloned().unwrap_or_default();
    let paths: usize = report.invalidations.iter().map(Vec::len).sum();
    let events = aws.get("events:PutEvents").copied().unwrap_or_default();
    let invocations: u64 = functions.values().map(|f| f.0).sum();
    let billed_ms: u64 = functions.values().map(|f| f.1).sum();
    let lambda = invocations as f64 * price("lambda_request")
        + billed_ms as f64 / 1000.0 * memory_gb * price("lambda_gb_second_arm64");
    let s3_write: u64 = ["PutObject", "ListObjectsV2"]
        .iter()
        .map(|op| s3.get(*op).copied().unwrap_or_default())
        .sum();
    let s3_read: u64 = ["GetObject", "HeadObject"]
        .iter()
        .map(|op| s3.get(*op).copied().unwrap_or_default())
        .sum();
    let s3_cost = s3_write as f64 * price("s3_put_copy_post_list")
        + s3_read as f64 * price("s3_get_head_other");
    let cloudfront = paths as f64 * price("cloudfront_invalidation_path");
    let eventbridge = f64::from(events) * price("eventbridge_event");
    let total = lambda + s3_cost + cloudfront + eventbridge;

    println!(
        "\nCost of one release (the local release, release binaries, MemorySize 128 MB, {} schedule ticks while it ran)",
        functions.values().map(|f| f.2).sum::<u64>()
    );
    println!(
        "{:<22} {:>12} {:>16}",
        "function", "invocations", "billed ms (sum)"
    );
    for (name, (count, ms, _)) in &functions {
        println!("{name:<22} {count:>12} {ms:>16}");
    }
    println!("AWS API calls: {}", json!(aws));
    println!("S3 requests (the functions'): {}", json!(s3));
    println!(
        "CloudFront: {} (invalidation paths {paths}); EventBridge events put: {events}",
        json!(requests.get("cloudfront").cloned().unwrap_or_default())
    );
    println!("Price table (us-east-1):");
    for (name, value, unit) in PRICES {
        println!("  {name:<30} {value:>14.10} {unit}");
    }
    let within_free = total - cloudfront;
    println!(
        "Dollars per release: Lambda {lambda:.8} + S3 {s3_cost:.8} + CloudFront {cloudfront:.4} + EventBridge {eventbridge:.8} = {total:.6}; within CloudFront's free 1,000 paths a month (200 releases): {within_free:.6}"
    );
    Ok(json!({
        "memory_mb": 128,
        "functions": functions.iter().map(|(n, (c, ms, ticks))| json!({ "function": n, "invocations": c, "billed_ms": ms, "schedule_ticks": ticks })).collect::<Vec<_>>(),
        "aws_calls": aws,
        "s3_requests": s3,
        "cloudfront_requests": requests.get("cloudfront"),
        "invalidation_paths": paths,
        "eventbridge_events": events,
        "prices_usd": PRICES.iter().map(|(n, p, u)| json!({ "name": n, "usd": p, "unit": u })).collect::<Vec<_>>(),
        "usd": { "lambda": lambda, "s3": s3_cost, "cloudfront_invalidations": cloudfront, "eventbridge": eventbridge, "total": total, "total_within_free_invalidations": within_free },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_request_is_recorded_should_name_its_operation() {
        assert_eq!(
            operation("GET", "/b?list-type=2&prefix=pending/", "s3"),
            "ListObjectsV2"
        );
        assert_eq!(operation("GET", "/b/releases/x.json", "s3"), "GetObject");
        assert_eq!(
            operation(
                "POST",
                "/2020-05-31/distribution/E1/invalidation",
                "cloudfront"
            ),
            "CreateInvalidation"
        );
    }
}
