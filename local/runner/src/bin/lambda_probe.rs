//! The local Lambda's test function: a `lambda_runtime` function that does what its event asks,
//! so the runner's Lambda semantics can be tested with a real binary under a real Runtime API:
//! use memory (`{"allocate_mb": N}`, touched page by page, at most 4096), take time
//! (`{"sleep_ms": N}`) or fail (`{"fail": "message"}`); any other event is answered with
//! `{"hello": "world"}`.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<Value>| async move {
        let payload = event.payload;
        if let Some(mb) = payload["allocate_mb"].as_u64() {
            let bytes = usize::try_from(mb.min(4096)).unwrap_or(0) << 20;
            let mut block = vec![0u8; bytes];
            // Touch every page, so the memory is really used.
            for i in (0..block.len()).step_by(4096) {
                block[i] = 1;
            }
            std::hint::black_box(&block);
        }
        if let Some(ms) = payload["sleep_ms"].as_u64() {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        if let Some(message) = payload["fail"].as_str() {
            return Err(Error::from(message.to_owned()));
        }
        Ok::<_, Error>(json!({ "hello": "world" }))
    }))
    .await
}
