//! Workspace-level test helpers: reading `template.yaml` the way CloudFormation would, with the
//! intrinsic functions the tests need resolved against fixed local values.

use serde_json::{Map, Value as Json};
use serde_yaml::Value as Yaml;
use std::path::{Path, PathBuf};

/// The workspace root (this crate lives in `tests/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Values for `!Ref`/`!Sub` pseudo parameters and resources in tests.
pub fn local_value(name: &str) -> String {
    match name {
        "AWS::Partition" => "aws".into(),
        "AWS::Region" => "us-east-1".into(),
        "AWS::AccountId" => "123456789012".into(),
        "AWS::StackName" => "image-release".into(),
        "ArtifactBucket" => "image-release-artifacts".into(),
        other => format!("<{other}>"),
    }
}

/// Converts a template fragment to JSON, resolving `!Ref`, `!Sub` (pseudo parameters and names)
/// and taking the first branch of `!If`; other intrinsics become a placeholder string.
pub fn resolve(value: &Yaml) -> Json {
    match value {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(*b),
        Yaml::Number(n) => serde_json::to_value(n).unwrap_or(Json::Null),
        Yaml::String(s) => Json::String(s.clone()),
        Yaml::Sequence(items) => Json::Array(items.iter().map(resolve).collect()),
        Yaml::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if let Some(k) = k.as_str() {
                    out.insert(k.to_owned(), resolve(v));
                }
            }
            Json::Object(out)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            match (tag.trim_start_matches('!'), &tagged.value) {
                ("Ref", Yaml::String(name)) => Json::String(local_value(name)),
                ("Sub", Yaml::String(text)) => Json::String(substitute(text)),
                ("If", Yaml::Sequence(parts)) if parts.len() == 3 => resolve(&parts[1]),
                (other, _) => Json::String(format!("<{other}>")),
            }
        }
    }
}

fn substitute(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&local_value(&rest[start + 2..start + end]));
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// The template as JSON, intrinsics resolved.
pub fn template() -> Json {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap_or_default();
    let yaml: Yaml = serde_yaml::from_str(&text).unwrap_or(Yaml::Null);
    resolve(&yaml)
}
