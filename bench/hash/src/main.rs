//! `bench-hash <bucket> <key>`: hashes one object with the S3 adapter publish-release uses
//! (`ArtifactStore::sha256`: pipelined ranged GETs, streamed into SHA-256), on the same
//! single-threaded runtime as the functions, and prints one JSON line: size, SHA-256, seconds,
//! and VmHWM before (idle, client ready) and after. Endpoints and credentials come from the
//! SDK's standard environment variables.

use shared::aws::s3::S3Adapter;
use shared::domain::BucketName;
use shared::ports::ArtifactStore;

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

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, bucket, key] = args.as_slice() else {
        eprintln!("usage: bench-hash <bucket> <key>");
        return std::process::ExitCode::from(2);
    };
    let bucket = match BucketName::parse("bucket", bucket) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let sdk = shared::aws::load_config().await;
    let store = S3Adapter::new(&sdk, bucket);
    // Idle: the client is ready and has made a request (connections, TLS-free here, pooled).
    let _ = store.object_size(key).await;
    let idle_kb = vm_hwm_kb();
    let started = std::time::Instant::now();
    let digest = match store.sha256(key).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            eprintln!("no object {key}");
            return std::process::ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let peak_kb = vm_hwm_kb();
    // The CPU's SHA-256 speed with the same crate, in memory (after the RSS reading).
    let buffer = vec![0x5au8; 256 << 20];
    let started = std::time::Instant::now();
    let _ = std::hint::black_box(shared::ports::sha256_hex(std::hint::black_box(&buffer)));
    let memory_mb_per_s = buffer.len() as f64 / 1e6 / started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "size": digest.size,
            "sha256": digest.sha256,
            "seconds": seconds,
            "idle_rss_kb": idle_kb,
            "peak_rss_kb": peak_kb,
            "memory_mb_per_s": memory_mb_per_s,
        })
    );
    std::process::ExitCode::SUCCESS
}
