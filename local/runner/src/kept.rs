//! The kept local stack (`local-release --keep`): every function, both buses and
//! publish-release's scheduled tick stay up after the releases publish, on the accelerated
//! clock, so that the operator CLI's commands as README.md and docs/src/operating.md write them
//! can be tried against it: promote, rollback, revoke then verify, retention, a new request.
//! What an operator exports and what to try, for `local-release` to print and for the CLI's
//! lifecycle test (`cli/tests/lifecycle.rs`) to run with.

use crate::stack::OPERATORS;
use crate::{BUCKET, Live, PARAMETER_PREFIX};
use std::path::Path;

/// The operator the printed environment acts as: the release manager (the read-only and
/// release-manager policies: everything but `revoke` and `retention apply`).
pub const RELEASE_MANAGER: &str = OPERATORS[1].access_key;
/// The revoker's and the retention operator's keys, for the commands that need their policy.
pub const REVOKER: &str = OPERATORS[2].access_key;
pub const RETENTION: &str = OPERATORS[3].access_key;

/// The environment the operator CLI needs against the kept stack, as `access_key` (one of
/// [`OPERATORS`]): S3 (and STS, which the CLI asks who acts) through the authorizing proxy, so
/// that the local IAM and the bucket policy judge every call as AWS would; the emulator for
/// everything else; the stack's bucket, channel prefix and signing key; what `verify` has seen
/// of the catalog kept in `state_dir` (each kept stack is a new account: a previous run's
/// catalog must not make this one's look old).
pub fn operator_environment(
    live: &Live,
    access_key: &str,
    state_dir: &Path,
) -> Vec<(&'static str, String)> {
    let emulator = live.emulator.endpoint();
    // S3, STS, and doctor's CloudFormation, IAM and SNS: moto's, behind the local IAM.
    let mut env = vec![
        ("AWS_ENDPOINT_URL_S3", live.s3_authorized.clone()),
        ("AWS_ENDPOINT_URL_STS", live.s3_authorized.clone()),
        (
            "AWS_ENDPOINT_URL_CLOUDFORMATION",
            live.s3_authorized.clone(),
        ),
        ("AWS_ENDPOINT_URL_IAM", live.s3_authorized.clone()),
        ("AWS_ENDPOINT_URL_SNS", live.s3_authorized.clone()),
    ];
    for service in [
        "AWS_ENDPOINT_URL_EC2",
        "AWS_ENDPOINT_URL_APPSTREAM",
        "AWS_ENDPOINT_URL_IMAGEBUILDER",
        "AWS_ENDPOINT_URL_EVENTBRIDGE",
        "AWS_ENDPOINT_URL_KMS",
        "AWS_ENDPOINT_URL_SSM",
    ] {
        env.push((service, emulator.clone()));
    }
    env.extend([
        ("AWS_ACCESS_KEY_ID", access_key.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "local".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("IMAGE_RELEASE_BUCKET", BUCKET.to_owned()),
        (
            "IMAGE_RELEASE_PARAMETER_PREFIX",
            PARAMETER_PREFIX.to_owned(),
        ),
        ("IMAGE_RELEASE_STATE_DIR", state_dir.display().to_string()),
    ]);
    if let Some(key) = live.signing_keys.first() {
        env.push(("IMAGE_RELEASE_SIGNING_KEY", key.clone()));
    }
    env
}

/// The trust policy of the VM Import/Export user guide's "Required service role".
pub const VM_IMPORT_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"vmie.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:Externalid":"vmimport"}}}]}"#;

/// What `image-release doctor` reads of the stack besides what the runner serves: the stack's
/// parameters and outputs.
const DOCTOR_READS: [&str; 9] = [
    "PipelineArn",
    "DistributionConfigurationArn",
    "RequiredSteps",
    "AppStreamDestinationRegions",
    "AppStreamSourceMode",
    "AppStreamImageName",
    "VmExportRoleName",
    "AlarmTopicArn",
    "ArtifactBucketName",
];

/// The stack's name, from its id.
pub fn stack_name(live: &Live) -> String {
    live.stack_id
        .split('/')
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

/// One query-protocol call to moto as its administrator (moto routes it by the service of the
/// credential scope; it checks no signature).
async fn moto_query(endpoint: &str, service: &str, params: &[(&str, &str)]) -> anyhow::Result<()> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let answer = reqwest::Client::new()
        .post(endpoint)
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20260101/us-east-1/{service}/aws4_request, \
                 SignedHeaders=host, Signature=0"
            ),
        )
        .body(body)
        .send()
        .await?;
    let status = answer.status();
    anyhow::ensure!(
        status.is_success(),
        "moto {service} {params:?}: {status} {}",
        answer.text().await.unwrap_or_default()
    );
    Ok(())
}

/// What CloudFormation would have made beside the resources the runner serves, made in moto
/// with the names the template resolves to, so that `image-release doctor --stack <name>`
/// answers against the local stack as against a deployed one: the stack (its parameters and
/// the outputs doctor reads), the VM export role, the alarm topic with a subscription.
pub async fn deploy_stand_ins(live: &Live) -> anyhow::Result<()> {
    let value = |k: &str| live.stack.get(k).cloned().unwrap_or_default();
    let moto = live.s3.as_str();
    moto_query(
        moto,
        "iam",
        &[
            ("Action", "CreateRole"),
            ("Version", "2010-05-08"),
            ("RoleName", &value("VmExportRoleName")),
            ("AssumeRolePolicyDocument", VM_IMPORT_TRUST),
        ],
    )
    .await?;
    let topic = value("AlarmTopicArn");
    let topic_name = topic.rsplit(':').next().unwrap_or_default();
    moto_query(
        moto,
        "sns",
        &[
            ("Action", "CreateTopic"),
            ("Version", "2010-03-31"),
            ("Name", topic_name),
        ],
    )
    .await?;
    moto_query(
        moto,
        "sns",
        &[
            ("Action", "Subscribe"),
            ("Version", "2010-03-31"),
            ("TopicArn", &topic),
            ("Protocol", "email"),
            ("Endpoint", "ops@example.com"),
        ],
    )
    .await?;
    let outputs = ["VmExportRoleName", "AlarmTopicArn", "ArtifactBucketName"];
    let template = serde_json::json!({
        "Parameters": DOCTOR_READS
            .iter()
            .filter(|k| !outputs.contains(k))
            .map(|k| ((*k).to_owned(), serde_json::json!({ "Type": "String", "Default": value(k) })))
            .collect::<serde_json::Map<_, _>>(),
        // moto's CloudFormation wants a resource: one that stands for the rest.
        "Resources": { "StandIn": { "Type": "AWS::SNS::Topic", "Properties": { "TopicName": "image-release-stand-in" } } },
        "Outputs": outputs
            .iter()
            .map(|k| ((*k).to_owned(), serde_json::json!({ "Value": value(k) })))
            .collect::<serde_json::Map<_, _>>(),
    })
    .to_string();
    moto_query(
        moto,
        "cloudformation",
        &[
            ("Action", "CreateStack"),
            ("Version", "2010-05-15"),
            ("StackName", &stack_name(live)),
            ("TemplateBody", &template),
        ],
    )
    .await
}

/// The downloads page of the kept stack: `index.html` presigned for moto (7 days, S3's most),
/// as CloudFront's origin access reads the private bucket (moto answers an unsigned GET 403,
/// and the distribution's domain in the manifests is moto's invention and resolves nowhere).
pub async fn downloads_page(live: &Live) -> anyhow::Result<String> {
    let presigning = aws_sdk_s3::presigning::PresigningConfig::expires_in(
        std::time::Duration::from_secs(7 * 24 * 3_600),
    )?;
    let request = crate::s3_at(&live.s3)
        .await
        .get_object()
        .bucket(BUCKET)
        .key("index.html")
        .presigned(presigning)
        .await
        .map_err(|e| anyhow::anyhow!("presigning index.html: {e}"))?;
    Ok(request.uri().to_owned())
}

/// The lifecycle to try against the kept stack, one command a line, as README.md and
/// operating.md write them with this stack's releases filled in (the oldest promoted first, the
/// newest revoked), `cli` naming the operator CLI. The commands that need another operator's
/// policy say its key in front.
pub fn commands(live: &Live, cli: &str) -> Vec<String> {
    let (Some(oldest), Some(newest)) = (live.releases.first(), live.releases.last()) else {
        return vec![format!("{cli} status")];
    };
    let mut lines = vec![
        format!(
            "{cli} doctor --stack {} --release {oldest}",
            stack_name(live)
        ),
        format!("{cli} status"),
        format!("{cli} status {newest} --live"),
        format!("{cli} channels golden"),
        format!("{cli} verify {oldest} --skip-urls"),
        format!("{cli} promote {oldest} --to stable --reason \"checked\""),
    ];
    if newest != oldest {
        lines.extend([
            format!("{cli} promote {newest} --to stable --reason \"soaked 48h\""),
            format!("{cli} rollback --channel stable --reason \"bad kernel\""),
        ]);
    } else {
        lines.push(
            "# rollback needs an earlier release in the channel: run with --releases 2, or request one (below)"
                .to_owned(),
        );
    }
    lines.extend([
        format!(
            "AWS_ACCESS_KEY_ID={REVOKER} {cli} revoke {newest} --reason \"CVE-2026-0001\""
        ),
        format!(
            "{cli} verify {newest} --skip-urls   # exit 0 once publish-release's ticks have carried the revocation out"
        ),
        format!("{cli} retention plan"),
        format!("{cli} retention plan --keep-newest 0 --keep-channel-days 0 --delete-after-days 0"),
        format!(
            "AWS_ACCESS_KEY_ID={RETENTION} {cli} retention apply --keep-newest 0 --keep-channel-days 0 --delete-after-days 0"
        ),
        format!("{cli} url {oldest}"),
        format!(
            "{cli} request --event-bus {} --version 1.0.{}   # a new build, published within seconds",
            live.release_bus,
            live.releases.len()
        ),
    ]);
    lines
}

/// What `local-release --keep` prints once every release is published: the export line, the
/// commands to try, the downloads page, and how to stop.
/// `downloads` is the page's URL ([`downloads_page`]).
pub fn instructions(live: &Live, cli: &str, state_dir: &Path, downloads: &str) -> String {
    let export: Vec<String> = operator_environment(live, RELEASE_MANAGER, state_dir)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut text = format!(
        "\nthe local stack keeps running: every function, the buses and publish-release's tick \
         (on the accelerated clock), until Ctrl-C.\n\
         try the lifecycle with the operator CLI (as the release manager; revoke and retention \
         apply as their own operators):\n  export {}\n",
        export.join(" ")
    );
    for line in commands(live, cli) {
        text.push_str(&format!("  {line}\n"));
    }
    text.push_str(&format!(
        "the downloads page (its links need CloudFront, which is not emulated: the manifests' \
         CloudFront URLs are moto's and resolve nowhere, so verify with --skip-urls):\n  {downloads}\n"
    ));
    text
}
