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
