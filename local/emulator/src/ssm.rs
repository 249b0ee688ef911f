//! SSM Parameter Store, as far as channels need it (awsJson1_1, `X-Amz-Target:
//! AmazonSSM.<Op>`): `PutParameter`, `GetParameter`, `DeleteParameter`, and a parameter's tags
//! (`ListTagsForResource`, `AddTagsToResource`; `Tags` on PutParameter only when creating:
//! with `Overwrite` SSM answers `ValidationException`). Limits and codes from
//! botocore's `ssm` model (`PSParameterName` 1–2048; `ParameterAlreadyExists`,
//! `ParameterNotFound`, `HierarchyLevelLimitExceededException`, `UnsupportedParameterType`) and
//! the user guide's naming constraints (characters `a-zA-Z0-9_.-/`, at most 15 levels, not
//! beginning with `aws` or `ssm`, a hierarchy beginning with `/`); a request that breaks them
//! gets AWS's generic `ValidationException`.
//!
//! A value of data type `aws:ec2:image` is validated asynchronously, as the API reference says:
//! PutParameter answers 200 and the parameter takes the value only if it names an AMI that is
//! available in the account and region; otherwise it keeps its old value (or stays absent).

use crate::world::World;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

/// One parameter of a region.
#[derive(Debug, Clone)]
pub(crate) struct Parameter {
    pub value: String,
    pub kind: String,
    pub data_type: String,
    pub version: u64,
    pub modified: f64,
    pub tags: std::collections::BTreeMap<String, String>,
}

/// Tags a resource may carry (AddTagsToResource's documentation: "most resources can have a
/// maximum of 50 tags").
const MAX_TAGS: usize = 50;

/// awsJson1_1's answers, as KMS's (the same protocol).
pub(crate) use crate::kms::{error, ok};

fn invalid(message: String) -> Response {
    error(StatusCode::BAD_REQUEST, "ValidationException", &message)
}

pub(crate) fn handle(world: &mut World, region: &str, operation: &str, body: &[u8]) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "the request body is not JSON",
        );
    };
    let result = match operation {
        "PutParameter" => put(world, region, &request),
        "GetParameter" => get(world, region, &request),
        "DeleteParameter" => delete(world, region, &request),
        "ListTagsForResource" => list_tags(world, region, &request),
        "AddTagsToResource" => add_tags(world, region, &request),
        other => Err(error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("the emulator does not implement SSM {other}"),
        )),
    };
    result.unwrap_or_else(|e| e)
}

/// The parameter's ARN: `parameter/` and the name without its leading slash.
pub(crate) fn arn(partition: &str, region: &str, account: &str, name: &str) -> String {
    format!(
        "arn:{partition}:ssm:{region}:{account}:parameter/{}",
        name.trim_start_matches('/')
    )
}

/// The name rules of the user guide ("Parameter naming constraints") and the model's length;
/// `creating`: the rules only a new parameter must meet (the reserved prefixes; reading one
/// of AWS's own public parameters under `/aws` is allowed).
fn check_name(request: &Value, creating: bool) -> Result<String, Response> {
    let Some(name) = request["Name"].as_str() else {
        return Err(invalid(
            "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null".into(),
        ));
    };
    // 2048 in the model; "the maximum length for a parameter name, including the full length of
    // the parameter ARN, is 1011 characters" (PutParameter's documentation): the name alone is
    // held to 1011 here.
    if name.is_empty() || name.len() > 1011 {
        return Err(invalid(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must have length between 1 and 2048"
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
    {
        return Err(invalid(format!(
            "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: /get/parameters2-/by1./path0_. ({name})"
        )));
    }
    if name.contains('/') && !name.starts_with('/') {
        return Err(invalid(format!(
            "Parameter name must be a fully qualified name: a hierarchy must begin with / ({name})"
        )));
    }
    let first = name.trim_start_matches('/').to_ascii_lowercase();
    // A path under /aws is AWS's own public parameters: PutParameter there is refused as
    // access, not as a malformed name ("No access to reserved parameter name", as moto's server
    // answers too; tests/tests/second_opinion.rs).
    if creating && name.to_ascii_lowercase().starts_with("/aws") && name.matches('/').count() > 1 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "AccessDeniedException",
            &format!("No access to reserved parameter name: {name}."),
        ));
    }
    if creating && (first.starts_with("aws") || first.starts_with("ssm")) {
        return Err(invalid(format!(
            "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). ({name})"
        )));
    }
    if name.matches('/').count() > 15 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "HierarchyLevelLimitExceededException",
            "A hierarchy can have a maximum of 15 levels.",
        ));
    }
    Ok(name.to_owned())
}

fn put(world: &mut World, region: &str, request: &Value) -> Result<Response, Response> {
    let name = check_name(request, true)?;
    let Some(value) = request["Value"].as_str() else {
        return Err(invalid(
            "1 validation error detected: Value null at 'value' failed to satisfy constraint: Member must not be null".into(),
        ));
    };
    if value.is_empty() || value.len() > 4096 {
        return Err(invalid(
            "Standard tier parameters support a maximum parameter value of 4096 characters.".into(),
        ));
    }
    let key = (region.to_owned(), name.clone());
    let existing = world.parameters.get(&key).cloned();
    let overwrite = request["Overwrite"].as_bool().unwrap_or(false);
    let tags = check_tags(&request["Tags"])?;
    if overwrite && !tags.is_empty() {
        return Err(invalid(
            "Invalid request: tags and overwrite can't be used together. To create a parameter \
             with tags, please remove overwrite flag. To update tags for an existing parameter, \
             please use AddTagsToResource or RemoveTagsFromResource."
                .into(),
        ));
    }
    if existing.is_some() && !overwrite {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "ParameterAlreadyExists",
            "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
        ));
    }
    let kind = match (request["Type"].as_str(), &existing) {
        (Some(kind @ ("String" | "StringList" | "SecureString")), _) => kind.to_owned(),
        (Some(other), _) => {
            return Err(invalid(format!(
                "1 validation error detected: Value '{other}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]"
            )));
        }
        (None, Some(p)) => p.kind.clone(),
        (None, None) => {
            return Err(invalid(
                "A parameter type is required when you create a parameter.".into(),
            ));
        }
    };
    if let Some(p) = &existing
        && p.kind != kind
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "HierarchyTypeMismatchException",
            "Parameter Store does not support changing a parameter type in a hierarchy.",
        ));
    }
    let data_type = request["DataType"].as_str().unwrap_or("text").to_owned();
    if !matches!(
        data_type.as_str(),
        "text" | "aws:ec2:image" | "aws:ssm:integration"
    ) {
        return Err(invalid(format!(
            "The following data type is not supported: {data_type} (Valid data types are: text | aws:ec2:image | aws:ssm:integration)"
        )));
    }
    if data_type == "aws:ec2:image" && kind != "String" {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "UnsupportedParameterType",
            "The aws:ec2:image data type is only supported for the String parameter type.",
        ));
    }
    if let Some(p) = &existing
        && p.data_type != data_type
        && (p.data_type == "aws:ec2:image" || data_type == "aws:ec2:image")
    {
        return Err(invalid(format!(
            "You can't change a parameter's data type from {} to {data_type}.",
            p.data_type
        )));
    }
    let version = existing.as_ref().map_or(0, |p| p.version) + 1;
    // aws:ec2:image: the asynchronous validation, decided now; a value it refuses is dropped.
    let accepted = data_type != "aws:ec2:image" || world.ami_available(region, value);
    if accepted {
        world.parameters.insert(
            key,
            Parameter {
                value: value.to_owned(),
                kind,
                data_type,
                version,
                // An overwrite keeps the tags; a new parameter takes the request's.
                tags: existing.map_or(tags, |p| p.tags),
                modified: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or_default(),
            },
        );
        world.counts.effect("ssm:PutParameter");
    } else {
        tracing::info!(
            region,
            name,
            value,
            "aws:ec2:image validation failed: parameter unchanged"
        );
    }
    Ok(ok(&json!({ "Version": version, "Tier": "Standard" })))
}

fn not_found(name: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "ParameterNotFound",
        &format!("Parameter {name} not found."),
    )
}

fn get(world: &World, region: &str, request: &Value) -> Result<Response, Response> {
    let name = check_name(request, false)?;
    let Some(p) = world.parameters.get(&(region.to_owned(), name.clone())) else {
        return Err(not_found(&name));
    };
    let partition = crate::authz::partition(region);
    Ok(ok(&json!({ "Parameter": {
        "Name": name,
        "Type": p.kind,
        "Value": p.value,
        "Version": p.version,
        "LastModifiedDate": p.modified,
        "ARN": arn(partition, region, &world.config.account, &name),
        "DataType": p.data_type,
    }})))
}

fn delete(world: &mut World, region: &str, request: &Value) -> Result<Response, Response> {
    let name = check_name(request, false)?;
    if world
        .parameters
        .remove(&(region.to_owned(), name.clone()))
        .is_none()
    {
        return Err(not_found(&name));
    }
    Ok(ok(&json!({})))
}

/// A request's `Tags` (`[{"Key", "Value"}]`), checked against botocore's `TagKey` (1–128) and
/// `TagValue` (0–256) with their pattern, the `aws:` prefix AWS reserves, and [`MAX_TAGS`].
fn check_tags(tags: &Value) -> Result<std::collections::BTreeMap<String, String>, Response> {
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

fn list_tags(world: &mut World, region: &str, request: &Value) -> Result<Response, Response> {
    let parameter = tagged(world, region, request)?;
    let list: Vec<Value> = parameter
        .tags
        .iter()
        .map(|(k, v)| json!({ "Key": k, "Value": v }))
        .collect();
    Ok(ok(&json!({ "TagList": list })))
}

fn add_tags(world: &mut World, region: &str, request: &Value) -> Result<Response, Response> {
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
