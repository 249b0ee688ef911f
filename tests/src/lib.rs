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

/// Validates `manifest` against the checked-in schema; every violation, one per line.
pub fn manifest_violations(manifest: &serde_json::Value) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(MANIFEST_SCHEMA))
        .unwrap_or_else(|e| panic!("{MANIFEST_SCHEMA}: {e}"));
    let schema: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{MANIFEST_SCHEMA}: {e}"));
    let validator =
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{MANIFEST_SCHEMA}: {e}"));
    validator
        .iter_errors(manifest)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}
