//! The manifest's JSON Schema is generated from the Rust types and checked in, so the two cannot
//! drift: `UPDATE_SCHEMA=1 cargo nextest run -p release-tests --test schema` rewrites it.

use release_tests::{MANIFEST_SCHEMA, manifest_schema, manifest_violations, root};
use serde_json::json;

/// JSON with every object's keys sorted, whatever order serde_json keeps (its `preserve_order`
/// feature may be on in a workspace build and off in a package build).
struct Sorted<'a>(&'a serde_json::Value);

impl serde::Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0 {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    out.serialize_entry(k, &Sorted(v))?;
                }
                out.end()
            }
            serde_json::Value::Array(items) => serializer.collect_seq(items.iter().map(Sorted)),
            other => other.serialize(serializer),
        }
    }
}

#[test]
fn when_the_manifest_types_change_should_the_checked_in_schema_change_with_them() {
    let generated = manifest_schema();
    let path = root().join(MANIFEST_SCHEMA);
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = serde_json::to_string_pretty(&Sorted(&generated)).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    let checked_in: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default())
            .unwrap_or_default();
    assert!(
        checked_in == generated,
        "{MANIFEST_SCHEMA} is not what the Rust types generate: run UPDATE_SCHEMA=1 cargo nextest run -p release-tests --test schema"
    );
}

fn v2() -> serde_json::Value {
    json!({
        "schema_version": 2,
        "release_id": "golden-1.0.0-1",
        "version": "1.0.0",
        "build": 1,
        "source_image_arn": "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1",
        "distributed_image_arn": "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/2",
        "amis": [{ "region": "us-east-1", "ami_id": "ami-0123456789abcdef0", "account_id": "123456789012", "name": "golden 1.0.0" }],
        "artifacts": [{
            "object_key": "releases/golden-1.0.0-1/export-ami-1.vmdk",
            "size_bytes": 1024,
            "format": "VMDK",
            "url": "https://d111111abcdef8.cloudfront.net/releases/golden-1.0.0-1/export-ami-1.vmdk",
            "sha256": "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
        }],
        "appstream": [],
        "timestamps": { "distribution_requested_at": "2026-11-23T10:00:00Z", "published_at": "2026-11-23T11:00:00Z" },
        "steps": [{ "step": "export", "started_at": "2026-11-23T10:10:00Z", "ended_at": "2026-11-23T10:50:00Z" }]
    })
}

#[test]
fn when_a_v2_manifest_is_well_formed_should_validate() {
    assert_eq!(manifest_violations(&v2()), Vec::<String>::new());
}

#[test]
fn when_a_manifest_breaks_the_schema_should_name_the_field() {
    for (pointer, bad) in [
        ("/artifacts/0/sha256", json!("not-a-digest")),
        ("/artifacts/0/format", json!("qcow2")),
        ("/amis/0/ami_id", json!("i-123")),
        ("/release_id", json!("no version")),
    ] {
        let mut manifest = v2();
        *manifest.pointer_mut(pointer).unwrap() = bad;
        let violations = manifest_violations(&manifest);
        assert!(
            violations.iter().any(|v| v.starts_with(pointer)),
            "{pointer}: {violations:?}"
        );
    }
    let mut extra = v2();
    extra["surprise"] = json!(1);
    assert!(!manifest_violations(&extra).is_empty());
}

/// The documented schema is an oracle only if it refuses on its own: each break below is one
/// the generated schema (from the Rust types) would let through or refuse for another reason,
/// and the documented schema must name it.
#[test]
fn when_a_manifest_breaks_the_documentation_should_the_documented_schema_name_the_field() {
    for (pointer, bad) in [
        ("/schema_version", json!(1)),
        ("/build", json!(0)),
        ("/version", json!("1.0")),
        ("/source_image_arn", json!("arn:aws:s3:::bucket")),
        ("/amis/0/ami_id", json!("ami-0123456789")),
        ("/amis/0/region", json!("US-EAST-1")),
        (
            "/artifacts/0/url",
            json!("http://d111111abcdef8.cloudfront.net/x"),
        ),
        (
            "/artifacts/0/object_key",
            json!("releases/golden-1.0.0-1/export-ami-1.vhd"),
        ),
        ("/timestamps/published_at", json!("yesterday")),
        ("/steps/0/step", json!("sign")),
    ] {
        let mut manifest = v2();
        *manifest.pointer_mut(pointer).unwrap() = bad;
        let violations = manifest_violations(&manifest);
        assert!(
            violations
                .iter()
                .any(|v| v.starts_with(pointer) && v.ends_with("documented.schema.json)")),
            "{pointer}: {violations:?}"
        );
    }
    // Image Builder image names may hold `_` (imageBuildVersionArn `[a-z0-9-_]+`), and so may
    // release ids (`ReleaseId::parse`): both schemas accept one.
    let mut underscore = v2();
    underscore["release_id"] = json!("golden_base-1.0.0-1");
    for key in ["/artifacts/0/object_key", "/artifacts/0/url"] {
        let value = underscore.pointer(key).unwrap().as_str().unwrap();
        let value = value.replace("golden-1.0.0-1", "golden_base-1.0.0-1");
        *underscore.pointer_mut(key).unwrap() = json!(value);
    }
    assert_eq!(manifest_violations(&underscore), Vec::<String>::new());
}

#[test]
fn when_the_schema_constrains_a_release_id_should_use_the_pattern_release_id_parse_checks() {
    let generated = manifest_schema();
    assert_eq!(
        generated["properties"]["release_id"]["pattern"],
        shared::domain::RELEASE_ID,
        "{generated}"
    );
}
