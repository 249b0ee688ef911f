//! Lambda entry point: wiring only. The decision logic is in `lib.rs`.

use copy_appstream_image::{Config, Deps, handle};
use lambda_runtime::{Error, run, service_fn};
use shared::aws::appstream::AppStreamAdapter;
use shared::aws::imagebuilder::ImageBuilderAdapter;
use shared::aws::s3::S3Adapter;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::init_tracing();
    let config = Config::from_lookup(shared::config::process_env)
        .inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let sdk = shared::aws::load_config().await;
    let deps = Deps {
        pipelines: ImageBuilderAdapter::new(&sdk),
        appstream: AppStreamAdapter::new(&sdk, &config.region, &config.destinations),
        store: S3Adapter::new(&sdk, config.bucket.clone()),
        config,
        retry: shared::retry::RetryPolicy::DEFAULT,
    };
    run(service_fn(|event| handle(&deps, event))).await
}
