//! Lambda entry point: wiring only. The decision logic is in `lib.rs`.

use lambda_runtime::{Error, run, service_fn};
use shared::aws::imagebuilder::ImageBuilderAdapter;
use start_pipeline::{Config, Deps, handle};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::init_tracing();
    let config = Config::from_lookup(shared::config::process_env)
        .inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let sdk = shared::aws::load_config().await;
    let deps = Deps {
        config,
        pipelines: ImageBuilderAdapter::new(&sdk),
        retry: shared::retry::RetryPolicy::DEFAULT,
    };
    run(service_fn(|event| handle(&deps, event))).await
}
