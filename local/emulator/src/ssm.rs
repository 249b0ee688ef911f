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
//! A value of data type `aws:ec2:image` is validated asynchronously, as the API reference says
//! ("the PutParameter call returns before the validation is complete"): PutParameter answers 200,
//! GetParameter keeps answering the old value (or `ParameterNotFound`) until the validation ends
//! [`crate::Config::ssm_validation_steps`] lifecycle steps later, and then the parameter takes
//! the value only if it names an AMI available in the account and region (`ssm_validation`).
//!
//! GetParameter takes what its documentation lists: a name, the parameter's ARN, and a selector
//! `name:version` or `name:label` (labels are not emulated: a label selects nothing). PutParameter
//! and DeleteParameter take only a name ("You can't enter the Amazon Resource Name (ARN) for a
//! parameter"). Values are limited by tier, in characters: "Standard tier parameters support a
//! maximum parameter value of 4096 characters" (SSM's own message), Advanced 8 KB
//! (PutParameter `Tier`: "Advanced parameters have a content size limit of 8 KB"), and
//! Intelligent-Tiering picks Standard when the value fits, Advanced otherwise.

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
    /// `Standard` or `Advanced` ("you can't revert an advanced parameter to a standard parameter").
    pub tier: &'static str,
    /// The earlier versions' (version, value, modified), for GetParameter's `name:version`.
    pub history: Vec<(u64, String, f64)>,
}

/// A write PutParameter accepted: applied at once, or when its validation ends.
#[derive(Debug, Clone)]
pub(crate) struct Write {
    pub value: String,
    pub kind: String,
    pub data_type: String,
    pub version: u64,
    pub tier: &'static str,
    /// The request's tags: a parameter that does not exist yet when the write lands gets them.
    pub tags: std::collections::BTreeMap<String, String>,
}

/// awsJson1_1's answers, as KMS's (the same protocol).
pub(crate) use crate::kms::{error, ok};

pub(crate) fn invalid(message: String) -> Response {
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
        "ListTagsForResource" => crate::ssm_tags::list_tags(world, region, &request),
        "AddTagsToResource" => crate::ssm_tags::add_tags(world, region, &request),
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
    check_name_text(name, creating)
}

fn check_name_text(name: &str, creating: bool) -> Result<String, Response> {
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

/// The tier a value of `chars` characters takes: the request's `Tier`, or the existing
/// parameter's, or the default (Standard); its limit checked.
fn tier(
    request: &Value,
    existing: Option<&Parameter>,
    chars: usize,
) -> Result<&'static str, Response> {
    let tier = match request["Tier"].as_str() {
        Some("Standard") => "Standard",
        Some("Advanced") => "Advanced",
        Some("Intelligent-Tiering") if chars <= 4096 => existing.map_or("Standard", |p| p.tier),
        Some("Intelligent-Tiering") => "Advanced",
        Some(other) => {
            return Err(invalid(format!(
                "1 validation error detected: Value '{other}' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]"
            )));
        }
        None => existing.map_or("Standard", |p| p.tier),
    };
    if tier == "Standard" && existing.is_some_and(|p| p.tier == "Advanced") {
        return Err(invalid(
            "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.".into(),
        ));
    }
    match tier {
        "Standard" if chars > 4096 => Err(invalid(
            "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.".into(),
        )),
        "Advanced" if chars > 8192 => Err(invalid(
            "Advanced tier parameters support a maximum parameter value of 8192 characters.".into(),
        )),
        tier => Ok(tier),
    }
}

fn put(world: &mut World, region: &str, request: &Value) -> Result<Response, Response> {
    let name = check_name(request, true)?;
    let Some(value) = request["Value"].as_str() else {
        return Err(invalid(
            "1 validation error detected: Value null at 'value' failed to satisfy constraint: Member must not be null".into(),
        ));
    };
    if value.is_empty() {
        return Err(invalid(
            "1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1.".into(),
        ));
    }
    let key = (region.to_owned(), name.clone());
    let existing = world.parameters.get(&key).cloned();
    let tier = tier(request, existing.as_ref(), value.chars().count())?;
    let overwrite = request["Overwrite"].as_bool().unwrap_or(false);
    let tags = crate::ssm_tags::check_tags(&request["Tags"])?;
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
    // After the newest version, written or still being validated.
    let version = existing
        .as_ref()
        .map(|p| p.version)
        .max(crate::ssm_validation::newest_version(world, region, &name))
        .unwrap_or(0)
        + 1;
    let write = Write {
        value: value.to_owned(),
        kind,
        data_type,
        version,
        tier,
        tags,
    };
    if write.data_type == "aws:ec2:image" && world.config.ssm_validation_steps > 0 {
        crate::ssm_validation::queue(world, region, &name, write);
    } else if write.data_type == "aws:ec2:image" && !world.ami_available(region, value) {
        crate::ssm_validation::refused(region, &name, value);
    } else {
        apply(world, region, &name, write);
    }
    Ok(ok(&json!({ "Version": version, "Tier": tier })))
}

/// Writes a new version of parameter `name` (an overwrite keeps its tags, the version before
/// goes into its history; a new parameter takes the request's tags).
pub(crate) fn apply(world: &mut World, region: &str, name: &str, write: Write) {
    let key = (region.to_owned(), name.to_owned());
    let modified = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let (tags, history) = match world.parameters.remove(&key) {
        Some(mut p) => {
            p.history.push((p.version, p.value, p.modified));
            (p.tags, p.history)
        }
        None => (write.tags, Vec::new()),
    };
    world.parameters.insert(
        key,
        Parameter {
            value: write.value,
            kind: write.kind,
            data_type: write.data_type,
            version: write.version,
            tier: write.tier,
            tags,
            history,
            modified,
        },
    );
    world.counts.effect("ssm:PutParameter");
}

fn not_found(name: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "ParameterNotFound",
        &format!("Parameter {name} not found."),
    )
}

/// What GetParameter's `Name` asks for: the parameter's name and the selector after it, if any.
/// An ARN names the parameter of its region and account (`parameter/` and the name without its
/// leading slash; a name of one level may have been created with or without it); an ARN of
/// another region or account names nothing here.
fn selected(
    world: &World,
    region: &str,
    asked: &str,
) -> Result<(String, Option<String>), Response> {
    let (path, from_arn) = match asked.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [partition, "ssm", arn_region, account, resource] = parts[..] else {
                return Err(invalid(format!("{asked} is not a parameter ARN")));
            };
            let Some(name) = resource.strip_prefix("parameter/") else {
                return Err(invalid(format!("{asked} is not a parameter ARN")));
            };
            if partition != crate::authz::partition(region)
                || arn_region != region
                || account != world.config.account
            {
                return Err(not_found(asked));
            }
            (name.to_owned(), true)
        }
        None => (asked.to_owned(), false),
    };
    let (path, selector) = match path.split_once(':') {
        Some((_, selector)) if selector.is_empty() || selector.contains(':') => {
            return Err(not_found(asked));
        }
        Some((name, selector)) => (name.to_owned(), Some(selector.to_owned())),
        None => (path, None),
    };
    let name = if from_arn {
        let slashed = format!("/{path}");
        let exists = |n: &str| {
            world
                .parameters
                .contains_key(&(region.to_owned(), n.to_owned()))
        };
        if path.contains('/') || (exists(&slashed) && !exists(&path)) {
            slashed
        } else {
            path
        }
    } else {
        path
    };
    Ok((check_name_text(&name, false)?, selector))
}

fn get(world: &World, region: &str, request: &Value) -> Result<Response, Response> {
    let Some(asked) = request["Name"].as_str() else {
        return Err(check_name(request, false)
            .err()
            .unwrap_or_else(|| not_found("")));
    };
    let (name, selector) = selected(world, region, asked)?;
    let Some(p) = world.parameters.get(&(region.to_owned(), name.clone())) else {
        return Err(not_found(asked));
    };
    let (version, value, modified) = match &selector {
        None => (p.version, p.value.as_str(), p.modified),
        Some(s) if s.bytes().all(|b| b.is_ascii_digit()) => {
            let wanted: Option<u64> = s.parse().ok();
            let current = (p.version, p.value.as_str(), p.modified);
            std::iter::once(current)
                .chain(p.history.iter().map(|(v, value, m)| (*v, value.as_str(), *m)))
                .find(|(v, ..)| Some(*v) == wanted)
                .ok_or_else(|| {
                    error(
                        StatusCode::BAD_REQUEST,
                        "ParameterVersionNotFound",
                        &format!(
                            "Systems Manager could not find version {s} of {name}. Verify the version and try again."
                        ),
                    )
                })?
        }
        // A label: LabelParameterVersion is not emulated, so no version carries one.
        Some(_) => return Err(not_found(asked)),
    };
    let partition = crate::authz::partition(region);
    let mut parameter = json!({
        "Name": name,
        "Type": p.kind,
        "Value": value,
        "Version": version,
        "LastModifiedDate": modified,
        "ARN": arn(partition, region, &world.config.account, &name),
        "DataType": p.data_type,
    });
    if let Some(selector) = selector {
        parameter["Selector"] = json!(format!(":{selector}"));
    }
    Ok(ok(&json!({ "Parameter": parameter })))
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
