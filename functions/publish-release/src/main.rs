//! Lambda entry point: wiring only. The decision logic is in `lib.rs`.

use lambda_runtime::{run, service_fn};
use publish_release::{Config, Deps, Ports, handle};
use shared::aws::appstream::AppStreamAdapter;
use shared::aws::cloudfront::CloudFrontAdapter;
use shared::aws::ec2::{Ec2Adapter, Ec2Regions};
use shared::aws::eventbridge::EventBridgeAdapter;
use shared::aws::imagebuilder::ImageBuilderAdapter;
use shared::aws::kms::KmsSigner;
use shared::aws::s3::S3Adapter;
use shared::aws::ssm::SsmParameters;
use std::process::ExitCode;

/// The AWS SDK adapters.
struct Aws;

impl Ports for Aws {
    type Pipelines = ImageBuilderAdapter;
    type Exports = Ec2Adapter;
    type AppStream = AppStreamAdapter;
    type Store = S3Adapter;
    type Events = EventBridgeAdapter;
    type Signer = KmsSigner;
    type Parameters = SsmParameters;
    type Lifecycle = Ec2Regions;
    type Cdn = CloudFrontAdapter;
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    shared::init_tracing();
    let config = match Config::from_lookup(shared::config::process_env) {
        Ok(config) => config,
        // Reported to the Runtime API's init/error, as Lambda shows init failures.
        Err(error) => return shared::runtime::init_failed(&error).await,
    };
    let sdk = shared::aws::load_config().await;
    let deps = Deps::<Aws> {
        pipelines: ImageBuilderAdapter::new(&sdk),
        exports: Ec2Adapter::new(&sdk),
        appstream: AppStreamAdapter::new(&sdk, &config.region, &config.destinations),
        store: S3Adapter::new(&sdk, config.bucket.clone()),
        events: EventBridgeAdapter::new(&sdk, config.event_bus.clone()),
        signer: config
            .signing_key
            .clone()
            .map(|key| KmsSigner::new(&sdk, key)),
        parameters: SsmParameters::new(&sdk),
        lifecycle: Ec2Regions::new(&sdk),
        cdn: config
            .cdn_distribution_id
            .clone()
            .map(|id| CloudFrontAdapter::new(&sdk, id)),
        config,
        retry: shared::retry::RetryPolicy::DEFAULT,
        clock: Box::new(shared::clock::SystemClock),
    };
    shared::runtime::exit_code(run(service_fn(|event| handle(&deps, event))).await)
}
