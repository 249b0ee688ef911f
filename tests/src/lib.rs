//! Helpers for the workspace-level tests in `tests/`.

use runner::template::{Template, Values};
use std::path::PathBuf;

/// The workspace root.
pub fn root() -> PathBuf {
    runner::workspace_root()
}

/// `template.yaml` as JSON, intrinsics resolved with the local values.
pub fn template() -> serde_json::Value {
    match Template::load(&root().join("template.yaml"), Values::local()) {
        Ok(template) => template.resolved(),
        Err(err) => panic!("template.yaml: {err}"),
    }
}

/// Where the manifest's published JSON Schema lives.
pub const MANIFEST_SCHEMA: &str = "schemas/manifest-v2.schema.json";

/// The manifest's JSON Schema, generated from the Rust types.
pub fn manifest_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(shared::release::Manifest))
        .unwrap_or_else(|e| panic!("schema: {e}"))
}

/// The manifest's JSON Schema written by hand from the documentation (docs/src/publishes.md)
/// and AWS's API references, never from the Rust types: the oracle that the generated schema
/// (and every manifest a test publishes) cannot agree with by construction.
pub const DOCUMENTED_MANIFEST_SCHEMA: &str = "schemas/manifest-v2.documented.schema.json";

/// Validates `manifest` against the checked-in generated schema and the documented one; every
/// violation, one per line, starting with its JSON pointer and ending with the schema's file.
pub fn manifest_violations(manifest: &serde_json::Value) -> Vec<String> {
    [MANIFEST_SCHEMA, DOCUMENTED_MANIFEST_SCHEMA]
        .into_iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(root().join(file))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let schema: serde_json::Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
            let validator =
                jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{file}: {e}"));
            validator
                .iter_errors(manifest)
                .map(|e| format!("{}: {e} ({file})", e.instance_path()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The AWS CLI of `scripts/install-aws-clients.sh` (`AWS_CLIENTS_BIN` names its `bin`): a client
/// nobody here wrote.
pub fn aws_cli() -> PathBuf {
    std::env::var_os("AWS_CLIENTS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/image-release/venv-awscli/bin")
        })
        .join("aws")
}

/// `aws <args> --endpoint-url <endpoint>` signed with `access_key` (the local IAM tells the
/// principals apart by it), no profile or config file of the machine's.
pub fn aws_as(access_key: &str, endpoint: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(aws_cli())
        .args(args)
        .args(["--endpoint-url", endpoint])
        .env("AWS_ACCESS_KEY_ID", access_key)
        .env("AWS_SECRET_ACCESS_KEY", "local-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "the AWS CLI {} (scripts/install-aws-clients.sh): {e}",
                aws_cli().display()
            )
        })
}

/// Exit code, stdout and stderr of a command, for an assertion's message.
pub fn described(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The local account's values: the golden pipeline, one destination region, the distribution.
fn golden_values() -> runner::template::Values {
    runner::local_values(
        "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden",
        "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden",
        &["eu-west-1".to_owned()],
        "E2QWRUHEXAMPLE",
        "d111111abcdef8.cloudfront.net",
    )
}

/// `template.yaml` as the local stack makes it (SAM's translator, then CloudFormation's
/// resolution), with the local account's values (the golden pipeline, one destination region,
/// the distribution's domain) and `parameters` set: the error when CloudFormation would refuse
/// them (the template's `Rules`).
pub fn local_template(parameters: &[(&str, &str)]) -> Result<runner::stack::Stack, String> {
    let mut values = golden_values();
    for (k, v) in parameters {
        values.set(k, *v);
    }
    runner::stack::Stack::load(&root().join("template.yaml"), values).map_err(|e| e.to_string())
}

/// `template.yaml` as CloudFormation would create it as stack `stack_name` (id `…/<uuid>`) in
/// `region` of the local account, with `parameters` set: every name and every environment as
/// that stack's, not the local stack's fixed ones.
pub fn stack_in(
    stack_name: &str,
    region: &str,
    uuid: &str,
    parameters: &[(&str, &str)],
) -> Result<runner::stack::Stack, String> {
    let mut values = golden_values();
    // The local stack's fixed physical names: CloudFormation's come from the template.
    values.0.remove("ArtifactBucket");
    values.0.remove("DistributionLogs");
    values
        .set("AWS::StackName", stack_name)
        .set("AWS::Region", region)
        .set(
            "AWS::StackId",
            format!("arn:aws:cloudformation:{region}:123456789012:stack/{stack_name}/{uuid}"),
        );
    for (k, v) in parameters {
        values.set(k, *v);
    }
    runner::stack::Stack::load(&root().join("template.yaml"), values).map_err(|e| e.to_string())
}

/// The text of every file under `dir` (recursively) whose name ends with `.<extension>`,
/// concatenated; `target` directories are skipped.
pub fn read_tree(dir: &std::path::Path, extension: &str) -> String {
    let mut text = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return text;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !path.ends_with("target") {
                text.push_str(&read_tree(&path, extension));
            }
        } else if path.extension().is_some_and(|e| e == extension) {
            text.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
    text
}
