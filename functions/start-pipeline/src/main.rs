//! Lambda entry point: wiring only. The decision logic is in `lib.rs`.

use lambda_runtime::{run, service_fn};
use shared::aws::imagebuilder::ImageBuilderAdapter;
use shared::aws::s3::S3Adapter;
use start_pipeline::{Config, Deps, handle};
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    shared::init_tracing();
    let config = match Config::from_lookup(shared::config::process_env) {
        Ok(config) => config,
        // Reported to the Runtime API's init/error, as Lambda shows init failures.
        Err(error) => return shared::runtime::init_failed(&error).await,
    };
    let sdk = shared::aws::load_config().await;
    let deps = Deps {
        pipelines: ImageBuilderAdapter::new(&sdk),
        store: S3Adapter::new(&sdk, config.bucket.clone()),
        config,
        retry: shared::retry::RetryPolicy::DEFAULT,
        clock: Box::new(shared::clock::SystemClock),
    };
    shared::runtime::exit_code(run(service_fn(|event| handle(&deps, event))).await)
}
