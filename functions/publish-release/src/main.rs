//! Lambda entry point: wiring only. The decision logic is in `lib.rs`.

use lambda_runtime::{Error, run, service_fn};
use publish_release::{Config, Deps, handle};
use shared::aws::appstream::AppStreamAdapter;
use shared::aws::cloudfront::CloudFrontAdapter;
use shared::aws::ec2::Ec2Adapter;
use shared::aws::s3::S3Adapter;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::init_tracing();
    let config = Config::from_lookup(shared::config::process_env)
        .inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let sdk = shared::aws::load_config().await;
    let deps = Deps {
        exports: Ec2Adapter::new(&sdk),
        appstream: AppStreamAdapter::new(&sdk, &config.region, &config.destinations),
        store: S3Adapter::new(&sdk, config.bucket.clone()),
        cdn: CloudFrontAdapter::new(&sdk, config.distribution_id.clone()),
        config,
        retry: shared::retry::RetryPolicy::DEFAULT,
    };
    run(service_fn(|event| handle(&deps, event))).await
}
