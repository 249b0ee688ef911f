//! SSM's tags of a parameter: the `Tags` of PutParameter (when creating), `ListTagsForResource`
//! and `AddTagsToResource`, with botocore's limits and AWS's codes.

use super::ssm::{Parameter, error, invalid, ok};
use crate::world::World;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

/// Tags a resource may carry (AddTagsToResource's documentation: "most resources can have a
/// maximum of 50 tags").
const MAX_TAGS: usize = 50;

/// A request's `Tags` (`[{"Key", "Value"}]`), checked against botocore's `TagKey` (1–128) and
/// `TagValue` (0–256) with their pattern, the `aws:` prefix AWS reserves, and [`MAX_TAGS`].
pub(crate) fn check_tags(
    tags: &Value,
) -> Result<std::collections::BTreeMap<String, String>, Response> {
    let Some(list) = tags.as_array() else {
        return if tags.is_null() {
            Ok(Default::default())
        } else {
            Err(invalid("Tags must be a list".into()))
        };
    };
    let allowed = |text: &str| {
        text.chars().all(|c| {
            c.is_alphanumeric()
                || c.is_whitespace()
                || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
        })
    };
    let mut checked = std::collections::BTreeMap::new();
    for tag in list {
        let (Some(key), Some(value)) = (tag["Key"].as_str(), tag["Value"].as_str()) else {
            return Err(invalid(
                "1 validation error detected: Value null at 'tags.member.key' failed to satisfy constraint: Member must not be null".into(),
            ));
        };
        if key.is_empty() || key.chars().count() > 128 || !allowed(key) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{key}' at 'tags.member.key' failed to satisfy constraint: Member must have length between 1 and 128 and match ^([\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]*)$"
            )));
        }
        if value.chars().count() > 256 || !allowed(value) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{value}' at 'tags.member.value' failed to satisfy constraint: Member must have length less than or equal to 256 and match ^([\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]*)$"
            )));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid(format!(
                "The tag key {key} uses the aws: prefix, which AWS reserves."
            )));
        }
        checked.insert(key.to_owned(), value.to_owned());
    }
    if checked.len() > MAX_TAGS {
        return Err(too_many_tags());
    }
    Ok(checked)
}

fn too_many_tags() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "TooManyTagsError",
        "A resource can have at most 50 tags.",
    )
}

/// The parameter a tagging request names: `ResourceType` must be `Parameter` here (the other
/// types are not emulated), `ResourceId` its name; an unknown one is `InvalidResourceId`.
fn tagged<'a>(
    world: &'a mut World,
    region: &str,
    request: &Value,
) -> Result<&'a mut Parameter, Response> {
    match request["ResourceType"].as_str() {
        Some("Parameter") => {}
        other => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "InvalidResourceType",
                &format!(
                    "the emulator tags only parameters (ResourceType Parameter), not {other:?}"
                ),
            ));
        }
    }
    let id = request["ResourceId"].as_str().unwrap_or_default();
    world
        .parameters
        .get_mut(&(region.to_owned(), id.to_owned()))
        .ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                "InvalidResourceId",
                "The resource ID isn't valid. Verify that you entered the correct ID and try again.",
            )
        })
}

pub(crate) fn list_tags(
    world: &mut World,
    region: &str,
    request: &Value,
) -> Result<Response, Response> {
    let parameter = tagged(world, region, request)?;
    let list: Vec<Value> = parameter
        .tags
        .iter()
        .map(|(k, v)| json!({ "Key": k, "Value": v }))
        .collect();
    Ok(ok(&json!({ "TagList": list })))
}

pub(crate) fn add_tags(
    world: &mut World,
    region: &str,
    request: &Value,
) -> Result<Response, Response> {
    let tags = check_tags(&request["Tags"])?;
    let parameter = tagged(world, region, request)?;
    let mut merged = parameter.tags.clone();
    merged.extend(tags);
    if merged.len() > MAX_TAGS {
        return Err(too_many_tags());
    }
    parameter.tags = merged;
    world.counts.effect("ssm:AddTagsToResource");
    Ok(ok(&json!({})))
}
