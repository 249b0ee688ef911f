//! Init errors through the real binaries: a function whose configuration breaks a documented rule
//! reports it to the Runtime API's `/runtime/init/error` (as Lambda shows init failures), naming
//! the variable, the rule and the value; a valid configuration reaches the invocation loop.

use runner::process::{FunctionProcess, binaries_dir, lambda_environment};
use runner::runtime_api::RuntimeApi;
use std::collections::BTreeMap;
use std::time::Duration;

const PIPELINE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden";

/// The variables each function needs, valid.
fn valid(function: &str) -> BTreeMap<String, String> {
    let pairs: &[(&str, &str)] = match function {
        "start-pipeline" => &[
            ("PIPELINE_ARN", PIPELINE),
            ("ARTIFACT_BUCKET", "image-release-artifacts"),
        ],
        "distribute-image" => &[
            ("PIPELINE_ARNS", PIPELINE),
            (
                "DISTRIBUTION_CONFIGURATION_ARN",
                "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden",
            ),
            (
                "DISTRIBUTION_EXECUTION_ROLE",
                "arn:aws:iam::123456789012:role/ImageBuilderDistribution",
            ),
            ("ARTIFACT_BUCKET", "image-release-artifacts"),
        ],
        "export-image" => &[("ARTIFACT_BUCKET", "image-release-artifacts")],
        "copy-appstream-image" => &[
            ("ARTIFACT_BUCKET", "image-release-artifacts"),
            ("APPSTREAM_DESTINATION_REGIONS", "eu-west-1"),
        ],
        _ => &[
            ("ARTIFACT_BUCKET", "image-release-artifacts"),
            ("CDN_DOMAIN", "d111111abcdef8.cloudfront.net"),
            ("APPSTREAM_DESTINATION_REGIONS", "eu-west-1"),
            // The reconciler configures the steps it re-drives.
            ("PIPELINE_ARNS", PIPELINE),
            (
                "DISTRIBUTION_CONFIGURATION_ARN",
                "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden",
            ),
            ("DISTRIBUTION_EXECUTION_ROLE", "ImageBuilderDistribution"),
        ],
    };
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Starts `function` with its valid variables plus `extra`; returns the init error, if any.
async fn init(function: &str, extra: &[(&str, &str)]) -> Option<String> {
    let api = RuntimeApi::start(function).await.unwrap();
    let mut env = lambda_environment(
        function,
        &api.address(),
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
    );
    env.extend(valid(function));
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    let log = std::env::temp_dir().join(format!("init-{function}-{}.log", std::process::id()));
    let _process = FunctionProcess::spawn(&binaries_dir().join(function), &env, &log).unwrap();
    // Either the function reaches the invocation loop (its first poll), or it reports an init
    // error and exits; nothing is invoked, so the two cannot race.
    let init_error = async {
        loop {
            if let Some(error) = api.init_error() {
                return error;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::select! {
        _ = api.first_poll() => None,
        error = init_error => Some(error),
        () = tokio::time::sleep(Duration::from_secs(20)) => panic!("{function}: neither polled nor reported an init error"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_variable_breaks_its_rule_should_report_init_error_naming_variable_rule_and_value() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("start-pipeline", "PIPELINE_ARN", "golden", "must match"),
        ("start-pipeline", "RELEASE_TAGS", "a<b=x", "a<b"),
        ("start-pipeline", "RELEASE_TAGS", "a;b=x", "a;b"),
        (
            "distribute-image",
            "DISTRIBUTION_LOG_GROUP",
            "/aws/group#1",
            "must match",
        ),
        (
            "export-image",
            "EXPORT_FORMATS",
            "QCOW2",
            "VMDK | RAW | VHD",
        ),
        (
            "copy-appstream-image",
            "APPSTREAM_DESTINATION_REGIONS",
            "us-west-1",
            "offers AppStream 2.0",
        ),
        (
            "publish-release",
            "CDN_DOMAIN",
            "https://not-a-host",
            "host name",
        ),
    ];
    for (function, var, value, rule) in cases {
        let error = init(function, &[(var, value)])
            .await
            .unwrap_or_else(|| panic!("{function} accepted {var}={value}"));
        assert!(
            error.starts_with(&format!("InvalidConfiguration: environment variable {var}"))
                && error.contains(rule)
                && error.contains(&format!("{:?}", value.split('=').next().unwrap_or(value))),
            "{function} {var}={value}: {error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_release_tags_use_spaces_or_at_signs_should_start() {
    // The documented tag key pattern allows whitespace and '@'.
    for tags in ["owner@team=x", "cost center=x"] {
        assert_eq!(
            init("start-pipeline", &[("RELEASE_TAGS", tags)]).await,
            None,
            "{tags}"
        );
    }
}
