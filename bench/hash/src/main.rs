//! `bench-hash <bucket> <key> [slice-mib]`: hashes one object with the S3 adapter
//! publish-release uses (`ArtifactStore::sha256`: pipelined ranged GETs, streamed into SHA-256),
//! on the same single-threaded runtime as the functions, and prints one JSON line: size,
//! SHA-256, seconds, and VmHWM before (idle, client ready) and after. With `slice-mib`, it
//! hashes as publish-release does an object larger than a slice: `sha256_slice` of at most that
//! many MiB at a time, the saved state round-tripped through JSON between slices as it is
//! through S3 between invocations, and reports each slice's seconds (one invocation each).
//! Endpoints and credentials come from the SDK's standard environment variables.

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
    let (bucket, key, slice_mib) = match args.as_slice() {
        [_, bucket, key] => (bucket, key, None),
        [_, bucket, key, mib] => match mib.parse::<u64>() {
            Ok(mib) if mib > 0 => (bucket, key, Some(mib)),
            _ => {
                eprintln!("slice-mib must be a positive whole number, not {mib}");
                return std::process::ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: bench-hash <bucket> <key> [slice-mib]");
            return std::process::ExitCode::from(2);
        }
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
    let mut slices: Vec<f64> = Vec::new();
    let hashed = match slice_mib {
        None => store.sha256(key).await,
        Some(mib) => sliced(&store, key, mib << 20, &mut slices).await,
    };
    let digest = match hashed {
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
    // 256 MiB as 8 × 32 MiB: within a 128 MB function's memory.
    let buffer = vec![0x5au8; 32 << 20];
    let started = std::time::Instant::now();
    for _ in 0..8 {
        let _ = std::hint::black_box(shared::ports::sha256_hex(std::hint::black_box(&buffer)));
    }
    let memory_mb_per_s = 8.0 * buffer.len() as f64 / 1e6 / started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "size": digest.size,
            "sha256": digest.sha256,
            "seconds": seconds,
            "idle_rss_kb": idle_kb,
            "peak_rss_kb": peak_kb,
            "memory_mb_per_s": memory_mb_per_s,
            "slice_seconds": slices,
        })
    );
    std::process::ExitCode::SUCCESS
}

/// Hashes `key` a slice of `budget` bytes at a time, as consecutive invocations of
/// publish-release would: the state between slices serialized to JSON and read back.
async fn sliced(
    store: &S3Adapter,
    key: &str,
    budget: u64,
    seconds: &mut Vec<f64>,
) -> Result<Option<shared::ports::ObjectDigest>, shared::ServiceError> {
    let mut saved: Option<String> = None;
    loop {
        let started = std::time::Instant::now();
        let resume: Option<shared::hashing::HashState> = saved
            .as_deref()
            .map(|json| serde_json::from_str(json).expect("the state as written"));
        let slice = store.sha256_slice(key, resume.as_ref(), budget).await?;
        seconds.push(started.elapsed().as_secs_f64());
        match slice {
            None => return Ok(None),
            Some(shared::hashing::HashSlice::Done(digest)) => return Ok(Some(digest)),
            Some(shared::hashing::HashSlice::Partial(state)) => {
                saved = Some(serde_json::to_string(&state).expect("a serializable state"));
            }
        }
    }
}
