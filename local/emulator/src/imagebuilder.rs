//! EC2 Image Builder, restJson1: `PUT /StartImagePipelineExecution`, `GET /GetImage`,
//! `PUT /DistributeImage`, `POST /ListImagePipelineImages`, `PUT /RetryImage`. Errors carry `x-amzn-errortype` and a JSON `message`.

use crate::world::{Image, World, now};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use regex_lite::Regex;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Instant;

pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [
            ("x-amzn-errortype", code),
            (header::CONTENT_TYPE.as_str(), "application/json"),
        ],
        json!({ "message": message }).to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A value that breaks the model's pattern or bounds. Image Builder answers those with
/// InvalidParameterValueException ("The value supplied for parameter '…' is not valid. '…'
/// must match pattern …", as seen from GetComponent); its error lists do not name it.
pub(crate) fn invalid(message: String) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        &message,
    )
}

fn not_found(message: String) -> Response {
    error(StatusCode::NOT_FOUND, "ResourceNotFoundException", &message)
}

fn mismatch(token: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "IdempotentParameterMismatchException",
        &format!("client token {token} was used with different parameters"),
    )
}

/// DistributeImage `executionRole` (`RoleNameOrArn` of the model).
const ROLE_NAME_OR_ARN: &str =
    r"^(?:arn:aws(?:-[a-z]+)*:iam::[0-9]{12}:role/)?[a-zA-Z_0-9+=,.@\-_/]+$";
const PIPELINE_ARN: &str =
    r"^arn:aws[^:]*:imagebuilder:[^:]+:(?:[0-9]{12}|aws):image-pipeline/[a-z0-9-_]+$";
const DISTRIBUTION_ARN: &str =
    r"^arn:aws[^:]*:imagebuilder:[^:]+:(?:[0-9]{12}|aws):distribution-configuration/[a-z0-9-_]+$";
/// `ImageBuildVersionArn` of the model (RetryImage): a build, `…/x.y.z/n`.
const IMAGE_ARN: &str = r"^arn:aws[^:]*:imagebuilder:[^:]+:(?:[0-9]{12}|aws(?:-[a-z-]+)?):image/[a-z0-9-_]+/[0-9]+\.[0-9]+\.[0-9]+/[0-9]+$";
/// `TagKey` of Image Builder's model: `^(?!aws:)[a-zA-Z0-9\s_.:/=+\-@]*$`, 1–128 characters
/// (regex-lite has no look-ahead: the `aws:` prefix is checked on its own).
const TAG_KEY: &str = r"^[a-zA-Z0-9\s_.:/=+\-@]*$";
/// `LogGroupName` of Image Builder's model.
const LOG_GROUP: &str = r"^[a-zA-Z0-9\-_/\.]{1,512}$";

fn matches(pattern: &str, value: &str) -> bool {
    Regex::new(pattern).is_ok_and(|re| re.is_match(value))
}

fn string<'a>(body: &'a Value, field: &str) -> Result<&'a str, Response> {
    body.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{field} is required")))
}

/// `ClientToken` of the model: 1 to 64 characters, for every operation that takes one.
fn token(body: &Value) -> Result<String, Response> {
    const MAX: usize = 64;
    let token = string(body, "clientToken")?;
    if token.is_empty() || token.chars().count() > MAX {
        return Err(invalid(format!(
            "clientToken must be 1 to {MAX} characters"
        )));
    }
    Ok(token.to_owned())
}

fn tags(body: &Value) -> Result<BTreeMap<String, String>, Response> {
    let Some(map) = body.get("tags").and_then(Value::as_object) else {
        return Ok(BTreeMap::new());
    };
    // TagMap: 1 to 50 entries (the model): an empty map is refused, not read as none.
    if map.is_empty() || map.len() > 50 {
        return Err(invalid(format!("tags: 1 to 50, got {}", map.len())));
    }
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let value = value.as_str().unwrap_or_default();
        // Lengths are in characters, as the model's min/max are.
        if key.is_empty()
            || key.chars().count() > 128
            || key.starts_with("aws:")
            || !matches(TAG_KEY, key)
            || value.chars().count() > 256
        {
            return Err(invalid(format!(
                "tag key {key:?} or its value breaks the tag rules"
            )));
        }
        out.insert(key.clone(), value.to_owned());
    }
    Ok(out)
}

/// The region field of an ARN.
fn arn_region(arn: &str) -> &str {
    arn.split(':').nth(3).unwrap_or_default()
}

/// Image Builder resources are regional: a request signed for another region does not see them.
fn in_region(region: &str, arn: &str, what: &str) -> Result<(), Response> {
    if arn_region(arn) == region {
        Ok(())
    } else {
        Err(not_found(format!(
            "{what} {arn} does not exist in {region}"
        )))
    }
}

/// The ARN a request names, before the operation itself looks at the request.
fn named_arn(operation: &str, query: &str, body: &Value) -> Option<String> {
    let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    match operation {
        "StartImagePipelineExecution" | "ListImagePipelineImages" => field("imagePipelineArn"),
        "DistributeImage" => field("sourceImage"),
        "RetryImage" => field("imageBuildVersionArn"),
        "GetImage" => query_arn(query, "imageBuildVersionArn").ok(),
        "GetImagePipeline" => query_arn(query, "imagePipelineArn").ok(),
        "GetDistributionConfiguration" => query_arn(query, "distributionConfigurationArn").ok(),
        _ => None,
    }
}

pub(crate) fn handle(
    world: &mut World,
    region: &str,
    method: &Method,
    operation: &str,
    query: &str,
    body: &[u8],
) -> Response {
    let parsed: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).unwrap_or(Value::Null)
    };
    if !parsed.is_object() {
        return error(
            StatusCode::BAD_REQUEST,
            "ClientException",
            "the request body is not a JSON object",
        );
    }
    if let Some(arn) = named_arn(operation, query, &parsed) {
        // A malformed ARN is a validation error, not a resource of another region.
        if !arn.starts_with("arn:") || arn.split(':').count() < 6 {
            return invalid(format!(
                "The value supplied for parameter {arn:?} is not valid: it is not an Image Builder ARN"
            ));
        }
        if let Err(answer) = in_region(region, &arn, "resource") {
            return answer;
        }
    }
    let result = match (method.as_str(), operation) {
        ("PUT", "StartImagePipelineExecution") => start(world, &parsed),
        ("GET", "GetImage") => get_image(world, query),
        ("GET", "GetImagePipeline") => get_pipeline(world, query),
        ("GET", "GetDistributionConfiguration") => get_distribution(world, query),
        ("PUT", "DistributeImage") => distribute(world, &parsed),
        ("POST", "ListImagePipelineImages") => list_pipeline_images(world, &parsed),
        ("PUT", "RetryImage") => retry(world, &parsed),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "ClientException",
            &format!("operation {operation} is not emulated"),
        )),
    };
    result.unwrap_or_else(|response| response)
}

fn start(world: &mut World, body: &Value) -> Result<Response, Response> {
    let arn = string(body, "imagePipelineArn")?;
    if !matches(PIPELINE_ARN, arn) {
        return Err(invalid(format!(
            "imagePipelineArn must match {PIPELINE_ARN}"
        )));
    }
    let token = token(body)?;
    let tags = tags(body)?;
    let fingerprint = format!("{arn}|{tags:?}");
    match world.idempotent("StartImagePipelineExecution", &token, &fingerprint) {
        Ok(Some(first)) => return Ok(ok(first)),
        Err(()) => return Err(mismatch(&token)),
        Ok(None) => {}
    }
    let Some(pipeline) = world
        .config
        .pipelines
        .iter()
        .find(|p| world.config.pipeline_arn(&p.name) == arn)
        .cloned()
    else {
        return Err(not_found(format!("pipeline {arn} does not exist")));
    };
    // Image Builder names the image after its recipe, not the pipeline.
    let image_arn = world.next_build_arn(pipeline.recipe(), &pipeline.version);
    // The first call that needs Image Builder's service-linked role creates it.
    world.config.service_linked_role = true;
    // Every status AWS documents for a build on its way (INTEGRATING included, whose meaning
    // AWS does not document), or its end: FAILED with a reason, or CANCELLED (CancelImageCreation).
    let plan = match &pipeline.failure {
        _ if world.config.build_cancelled => vec![(0, "BUILDING"), (1, "CANCELLED")],
        Some(_) => vec![(0, "BUILDING"), (1, "TESTING"), (2, "FAILED")],
        None => vec![
            (0, "BUILDING"),
            (1, "TESTING"),
            (2, "DISTRIBUTING"),
            (3, "INTEGRATING"),
            (4, "AVAILABLE"),
        ],
    };
    world.add_image(Image {
        arn: image_arn.clone(),
        name: pipeline.recipe().to_owned(),
        version: pipeline.version.clone(),
        status: "BUILDING",
        reason: pipeline.failure.clone(),
        pipeline_arn: Some(arn.to_owned()),
        distribution_arn: None,
        tags,
        ami_tags: BTreeMap::new(),
        amis: Vec::new(),
        regions: vec![world.config.home_region.clone()],
        plan,
        started: Instant::now(),
        created: now(),
        failure_context: None,
        attempts: 0,
    });
    world.counts.effect("pipeline-execution");
    let answer = json!({ "requestId": uuid::Uuid::new_v4().to_string(), "clientToken": token, "imageBuildVersionArn": image_arn });
    world.remember("StartImagePipelineExecution", &token, fingerprint, &answer);
    Ok(ok(answer))
}

fn image_json(image: &Image, account: &str) -> Value {
    let mut state = json!({ "status": image.status });
    if let Some(reason) = image.reason.as_ref().filter(|_| image.status == "FAILED") {
        state["reason"] = json!(reason);
    }
    // Image Builder sets failureContext only when the image is FAILED.
    if let Some(context) = image
        .failure_context
        .as_ref()
        .filter(|_| image.status == "FAILED")
    {
        state["failureContext"] = context.clone();
    }
    let amis: Vec<Value> = image
        .amis
        .iter()
        .map(|(region, ami)| json!({ "region": region, "image": ami, "name": image.ami_name(), "accountId": account, "state": { "status": "AVAILABLE" } }))
        .collect();
    let mut out = json!({
        "arn": image.arn, "name": image.name, "version": image.version, "platform": "Linux", "type": "AMI",
        "state": state, "dateCreated": image.created, "tags": image.tags, "outputResources": { "amis": amis }, "buildType": "USER_INITIATED"
    });
    // `sourcePipelineName` is not returned for new images (only the ARN is).
    if let Some(pipeline) = &image.pipeline_arn {
        out["sourcePipelineArn"] = json!(pipeline);
    }
    if let Some(distribution) = &image.distribution_arn {
        out["distributionConfiguration"] = json!({ "arn": distribution });
    }
    out
}

fn query_arn(query: &str, name: &str) -> Result<String, Response> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| invalid(format!("{name} is required")))
}

/// The pipeline with its distribution configuration (the one of its own name, else the first).
fn get_pipeline(world: &World, query: &str) -> Result<Response, Response> {
    let arn = query_arn(query, "imagePipelineArn")?;
    let config = &world.config;
    let pipeline = config
        .pipelines
        .iter()
        .find(|p| config.pipeline_arn(&p.name) == arn)
        .ok_or_else(|| not_found(format!("image pipeline {arn} does not exist")))?;
    let distribution = config
        .distribution_configurations
        .iter()
        .find(|(name, _)| *name == pipeline.name)
        .or(config.distribution_configurations.first())
        .map(|(name, _)| config.distribution_arn(name));
    Ok(ok(json!({
        "requestId": uuid::Uuid::new_v4().to_string(),
        "imagePipeline": {
            "arn": arn, "name": pipeline.name, "platform": "Linux", "status": "ENABLED",
            "distributionConfigurationArn": distribution,
        }
    })))
}

/// Each region of the configuration, with a KMS key when the emulator's AMIs are encrypted.
fn get_distribution(world: &World, query: &str) -> Result<Response, Response> {
    let arn = query_arn(query, "distributionConfigurationArn")?;
    let config = &world.config;
    let (name, regions) = config
        .distribution_configurations
        .iter()
        .find(|(name, _)| config.distribution_arn(name) == arn)
        .ok_or_else(|| not_found(format!("distribution configuration {arn} does not exist")))?;
    let distributions: Vec<Value> = regions
        .iter()
        .map(|region| {
            let mut ami = json!({ "name": format!("{name} {{{{imagebuilder:buildDate}}}}") });
            if config.amis_encrypted {
                ami["kmsKeyId"] = json!(format!(
                    "arn:aws:kms:{region}:{}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                    config.account
                ));
            }
            if !config.launch_permissions.is_empty() {
                let (groups, users): (Vec<&String>, Vec<&String>) =
                    config.launch_permissions.iter().partition(|a| *a == "all");
                let mut permission = json!({});
                if !users.is_empty() {
                    permission["userIds"] = json!(users);
                }
                if !groups.is_empty() {
                    permission["userGroups"] = json!(groups);
                }
                ami["launchPermission"] = permission;
            }
            json!({ "region": region, "amiDistributionConfiguration": ami })
        })
        .collect();
    Ok(ok(json!({
        "requestId": uuid::Uuid::new_v4().to_string(),
        "distributionConfiguration": {
            "arn": arn, "name": name, "timeoutMinutes": 720, "distributions": distributions,
        }
    })))
}

fn get_image(world: &World, query: &str) -> Result<Response, Response> {
    let arn = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "imageBuildVersionArn")
        .map(|(_, v)| v.into_owned());
    let Some(arn) = arn else {
        return Err(invalid("imageBuildVersionArn is required".into()));
    };
    let image = crate::imagebuilder_versions::resolve(world, &arn)?
        .ok_or_else(|| not_found(format!("image {arn} does not exist")))?;
    Ok(ok(
        json!({ "requestId": uuid::Uuid::new_v4().to_string(), "image": image_json(image, &world.config.account) }),
    ))
}

fn distribute(world: &mut World, body: &Value) -> Result<Response, Response> {
    let source = string(body, "sourceImage")?.to_owned();
    let distribution = string(body, "distributionConfigurationArn")?.to_owned();
    let role = string(body, "executionRole")?.to_owned();
    if !matches(DISTRIBUTION_ARN, &distribution) {
        return Err(invalid(format!(
            "distributionConfigurationArn must match {DISTRIBUTION_ARN}"
        )));
    }
    if role.is_empty() || role.chars().count() > 2048 || !matches(ROLE_NAME_OR_ARN, &role) {
        return Err(invalid(format!(
            "executionRole must be 1 to 2048 characters matching {ROLE_NAME_OR_ARN}"
        )));
    }
    let token = token(body)?;
    let tags = tags(body)?;
    let log_group = body
        .pointer("/loggingConfiguration/logGroupName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if body.pointer("/loggingConfiguration/logGroupName").is_some()
        && !matches(LOG_GROUP, log_group)
    {
        return Err(invalid(format!(
            "loggingConfiguration.logGroupName must match {LOG_GROUP}"
        )));
    }
    let fingerprint = format!("{source}|{distribution}|{role}|{log_group}|{tags:?}");
    match world.idempotent("DistributeImage", &token, &fingerprint) {
        Ok(Some(first)) => return Ok(ok(first)),
        Err(()) => return Err(mismatch(&token)),
        Ok(None) => {}
    }
    let Some(regions) = world
        .config
        .distribution_configurations
        .iter()
        .find(|(name, _)| world.config.distribution_arn(name) == distribution)
        .map(|(_, r)| r.clone())
    else {
        return Err(not_found(format!(
            "distribution configuration {distribution} does not exist"
        )));
    };
    let Some(source_image) = world.images.get(&source).cloned() else {
        return Err(not_found(format!("source image {source} does not exist")));
    };
    if source_image.status != "AVAILABLE" {
        return Err(invalid(format!(
            "source image {source} is {}, not AVAILABLE",
            source_image.status
        )));
    }
    let arn = world.next_build_arn(&source_image.name, &source_image.version);
    // The two behaviours AWS does not document, as the scenario asks.
    let (image_tags, ami_tags) = if world.config.distribution_tags_on_amis_only {
        (BTreeMap::new(), tags.clone())
    } else {
        (tags.clone(), BTreeMap::new())
    };
    let pipeline_arn = if world.config.distribution_keeps_pipeline_arn {
        source_image.pipeline_arn.clone()
    } else {
        None
    };
    world.add_image(Image {
        arn: arn.clone(),
        name: source_image.name.clone(),
        version: source_image.version.clone(),
        status: "DISTRIBUTING",
        reason: None,
        pipeline_arn,
        distribution_arn: Some(distribution),
        tags: image_tags,
        ami_tags,
        amis: Vec::new(),
        regions,
        plan: vec![(0, "DISTRIBUTING"), (2, "AVAILABLE")],
        started: Instant::now(),
        created: now(),
        failure_context: None,
        attempts: 1,
    });
    world.counts.effect("distribution");
    let answer = json!({ "clientToken": token, "imageBuildVersionArn": arn });
    world.remember("DistributeImage", &token, fingerprint, &answer);
    Ok(ok(answer))
}

/// ListImagePipelineImages: the images whose `sourcePipelineArn` is the pipeline, `maxResults`
/// (1–100, default 25) per page. AWS answers an unknown pipeline with an empty list, not
/// ResourceNotFoundException (the model's documentation says so).
fn list_pipeline_images(world: &World, body: &Value) -> Result<Response, Response> {
    let arn = string(body, "imagePipelineArn")?;
    if !matches(PIPELINE_ARN, arn) {
        return Err(invalid(format!(
            "imagePipelineArn must match {PIPELINE_ARN}"
        )));
    }
    // Filters: 1 to 10, each named name or version ("Use the following filters to streamline
    // results: name, version") with 1 to 10 values.
    if let Some(filters) = body.get("filters") {
        let filters = filters.as_array().cloned().unwrap_or_default();
        let bad = filters.is_empty()
            || filters.len() > 10
            || filters.iter().any(|f| {
                let values = f["values"].as_array().map_or(0, Vec::len);
                !matches!(f["name"].as_str(), Some("name" | "version"))
                    || !(1..=10).contains(&values)
            });
        if bad {
            return Err(invalid(
                "filters: 1 to 10, each named name or version with 1 to 10 values".into(),
            ));
        }
    }
    let max = match body.get("maxResults") {
        None => 25,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=100) => n as usize,
            _ => return Err(invalid("maxResults must be 1 to 100".into())),
        },
    };
    let start = match body.get("nextToken").and_then(Value::as_str) {
        None => 0,
        Some(token) => token
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    "InvalidPaginationTokenException",
                    "nextToken is not one this service issued",
                )
            })?,
    };
    let all: Vec<&Image> = world
        .images
        .values()
        .filter(|i| i.pipeline_arn.as_deref() == Some(arn))
        .collect();
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(max)
        .map(|image| {
            let full = image_json(image, &world.config.account);
            json!({
                "arn": full["arn"], "name": full["name"], "type": "AMI", "version": full["version"],
                "platform": "Linux", "state": full["state"], "owner": world.config.account,
                "dateCreated": full["dateCreated"], "outputResources": full["outputResources"],
                "tags": full["tags"], "buildType": full["buildType"],
            })
        })
        .collect();
    let mut answer =
        json!({ "requestId": uuid::Uuid::new_v4().to_string(), "imageSummaryList": page });
    if start + max < all.len() {
        answer["nextToken"] = json!(format!("page-{}", start + max));
    }
    Ok(ok(answer))
}

/// RetryImage: "The image must be in the FAILED or CANCELLED state." AWS does not document the
/// error for another state: `InvalidRequestException` here is a stand-in.
fn retry(world: &mut World, body: &Value) -> Result<Response, Response> {
    let arn = string(body, "imageBuildVersionArn")?.to_owned();
    if !matches(IMAGE_ARN, &arn) {
        return Err(invalid(format!(
            "imageBuildVersionArn must match {IMAGE_ARN}"
        )));
    }
    let token = token(body)?;
    let fingerprint = arn.clone();
    match world.idempotent("RetryImage", &token, &fingerprint) {
        Ok(Some(first)) => return Ok(ok(first)),
        Err(()) => return Err(mismatch(&token)),
        Ok(None) => {}
    }
    let image = world
        .images
        .get(&arn)
        .ok_or_else(|| not_found(format!("image {arn} does not exist")))?;
    if !matches!(image.status, "FAILED" | "CANCELLED") {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
            &format!(
                "image {arn} is {}; only a FAILED or CANCELLED image can be retried",
                image.status
            ),
        ));
    }
    world.retry_image(&arn);
    world.counts.effect("retry-image");
    let answer = json!({ "clientToken": token, "imageBuildVersionArn": arn });
    world.remember("RetryImage", &token, fingerprint, &answer);
    Ok(ok(answer))
}
