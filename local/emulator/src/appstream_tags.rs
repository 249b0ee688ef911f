//! AppStream's tags: `TagResource`, `ListTagsForResource` and the `Tags` of
//! `CreateImportedImage`, with botocore's `appstream` model: `Tags` a map of 1 to 50 entries,
//! `TagKey` 1–128 characters matching `^(^(?!aws:).[\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`, `TagValue`
//! 0–256 matching `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`, `ResourceArn` the model's `Arn` pattern.
//! A resource holds at most 50 tags (the administration guide, "Tagging Your Resources":
//! "Maximum number of tags per resource – 50"): past it TagResource answers the model's
//! `LimitExceededException`. Tags are regional, as the images are: a call in one region knows
//! only that region's images.

use crate::appstream::{Answer, Failure, bad, field};
use crate::world::World;
use axum::http::StatusCode;
use regex_lite::Regex;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The model's `Arn`.
const ARN: &str = r"^arn:aws(?:\-cn|\-iso\-b|\-iso|\-us\-gov)?:[A-Za-z0-9][A-Za-z0-9_/.-]{0,62}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9][A-Za-z0-9:_/+=,@.\\-]{0,1023}$";

/// At most this many tags on one resource, and in one request (`Tags` max 50).
const MAX_TAGS: usize = 50;

/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]`: letters, separators (`Zs`, `Zl`, `Zp`), numbers and the seven
/// symbols (Rust's `is_alphabetic`/`is_numeric` stand for `\p{L}`/`\p{N}`).
fn allowed(c: char) -> bool {
    c.is_alphabetic()
        || c.is_numeric()
        || matches!(
            c,
            ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
        )
        || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
}

fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    // `(?!aws:).`: any first character but a line break, unless the key begins `aws:`.
    (1..=128).contains(&key.chars().count())
        && !key.starts_with("aws:")
        && chars.next().is_some_and(|c| c != '\n')
        && chars.all(allowed)
}

fn valid_value(value: &str) -> bool {
    value.chars().count() <= 256 && value.chars().all(allowed)
}

/// A request's `Tags` map, checked against the model (`None`: the request has none).
pub(crate) fn check(tags: &Value) -> Result<Option<BTreeMap<String, String>>, Failure> {
    if tags.is_null() {
        return Ok(None);
    }
    let Some(map) = tags.as_object() else {
        return Err(bad("ValidationException", "Tags must be a map".into()));
    };
    if map.is_empty() || map.len() > MAX_TAGS {
        return Err(bad(
            "ValidationException",
            format!("Tags must hold 1 to {MAX_TAGS} tags, not {}", map.len()),
        ));
    }
    let mut checked = BTreeMap::new();
    for (key, value) in map {
        if !valid_key(key) {
            return Err(bad(
                "ValidationException",
                format!(
                    "1 validation error detected: Value '{key}' at 'tags' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: ^(^(?!aws:).[\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]*)$]"
                ),
            ));
        }
        let value = value.as_str().unwrap_or_default();
        if !valid_value(value) {
            return Err(bad(
                "ValidationException",
                format!(
                    "1 validation error detected: Value '{value}' at 'tags' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 256, Member must satisfy regular expression pattern: ^([\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]*)$]"
                ),
            ));
        }
        checked.insert(key.clone(), value.to_owned());
    }
    Ok(Some(checked))
}

/// The request's `ResourceArn`, if it matches the model and names an image of `region`.
fn resource<'a>(world: &World, region: &str, input: &'a Value) -> Result<&'a str, Failure> {
    let arn = field(input, "ResourceArn")?;
    if !Regex::new(ARN).is_ok_and(|re| re.is_match(arn)) {
        return Err(bad(
            "ValidationException",
            format!("ResourceArn must match {ARN}"),
        ));
    }
    if !world
        .appstream
        .values()
        .any(|i| i.arn == arn && i.region == region)
    {
        return Err(bad(
            "ResourceNotFoundException",
            format!("{arn} does not exist in {region}"),
        ));
    }
    Ok(arn)
}

pub(crate) fn tag_resource(world: &mut World, region: &str, input: &Value) -> Answer {
    let arn = resource(world, region, input)?.to_owned();
    let Some(tags) = check(&input["Tags"])? else {
        return Err(bad("ValidationException", "Tags is required".into()));
    };
    let mut merged = world.tags.get(&arn).cloned().unwrap_or_default();
    merged.extend(tags);
    if merged.len() > MAX_TAGS {
        return Err(Failure(
            StatusCode::BAD_REQUEST,
            "LimitExceededException",
            format!("A resource can have at most {MAX_TAGS} tags."),
        ));
    }
    world.tags.insert(arn.clone(), merged);
    world.counts.effect(&format!("tag:{arn}"));
    Ok(json!({}))
}

pub(crate) fn list_tags(world: &World, region: &str, input: &Value) -> Answer {
    let arn = resource(world, region, input)?;
    Ok(json!({ "Tags": world.tags.get(arn).cloned().unwrap_or_default() }))
}
