//! AppStream 2.0 in both of its protocols, as the real service accepts both:
//! * Smithy RPC v2 CBOR (`aws-sdk-appstream`, boto3 1.44): `POST /service/PhotonAdminProxyService/operation/<Op>`
//!   with a CBOR map; answers are CBOR maps, errors carry `__type` and `message`;
//! * awsJson1_1 (the AWS CLI, older botocore): `POST /` with `X-Amz-Target: PhotonAdminProxyService.<Op>`
//!   and `application/x-amz-json-1.1`; errors carry `__type` and `message` in JSON.
//!
//! The operations work on JSON values; only decoding and encoding differ per protocol.

use crate::world::{AppStreamImage, World};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use regex_lite::Regex;
use serde_json::{Value, json};
use std::time::Instant;

/// How a request reached the emulator, and so how it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    RpcV2Cbor,
    AwsJson11,
}

impl Protocol {
    fn decode(self, body: &[u8]) -> Option<Value> {
        if body.is_empty() {
            return Some(json!({}));
        }
        match self {
            Protocol::RpcV2Cbor => ciborium::from_reader(body).ok(),
            Protocol::AwsJson11 => serde_json::from_slice(body).ok(),
        }
    }

    fn encode(self, status: StatusCode, value: &Value) -> Response {
        match self {
            Protocol::RpcV2Cbor => {
                let mut body = Vec::new();
                if ciborium::into_writer(value, &mut body).is_err() {
                    body.clear();
                }
                (
                    status,
                    [
                        (header::CONTENT_TYPE.as_str(), "application/cbor"),
                        ("smithy-protocol", "rpc-v2-cbor"),
                    ],
                    body,
                )
                    .into_response()
            }
            Protocol::AwsJson11 => (
                status,
                [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
                value.to_string(),
            )
                .into_response(),
        }
    }
}

/// An error answer: HTTP status, the service's error code, its message.
pub(crate) struct Failure(pub StatusCode, pub &'static str, pub String);

pub(crate) type Answer = Result<Value, Failure>;

pub(crate) fn error(protocol: Protocol, status: StatusCode, code: &str, message: &str) -> Response {
    // RPC v2 CBOR names the shape with its namespace; awsJson1_1 accepts either form.
    let kind = match protocol {
        Protocol::RpcV2Cbor => format!("com.amazonaws.appstream#{code}"),
        Protocol::AwsJson11 => code.to_owned(),
    };
    protocol.encode(status, &json!({ "__type": kind, "message": message }))
}

pub(crate) fn bad(code: &'static str, message: String) -> Failure {
    Failure(StatusCode::BAD_REQUEST, code, message)
}

const NAME: &str = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$";
/// `ImageImportDescription` of the AppStream model (CreateImportedImage `Description`).
const IMPORT_DESCRIPTION: &str = r"^[a-zA-Z0-9_.() -]+$";

fn valid_name(name: &str) -> bool {
    Regex::new(NAME).is_ok_and(|re| re.is_match(name))
}

pub(crate) fn handle(
    world: &mut World,
    protocol: Protocol,
    region: &str,
    operation: &str,
    body: &[u8],
) -> Response {
    let Some(input) = protocol.decode(body).filter(Value::is_object) else {
        return error(
            protocol,
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "the body is not a map",
        );
    };
    let result = match operation {
        "DescribeImages" => describe_images(world, region, &input),
        "CreateImportedImage" => create_imported_image(world, region, &input),
        "CopyImage" => copy_image(world, region, &input),
        "TagResource" => crate::appstream_tags::tag_resource(world, region, &input),
        "ListTagsForResource" => crate::appstream_tags::list_tags(world, region, &input),
        "DeleteImage" => delete_image(world, region, &input),
        other => Err(bad(
            "UnknownOperationException",
            format!("operation {other} is not emulated"),
        )),
    };
    match result {
        Ok(value) => protocol.encode(StatusCode::OK, &value),
        Err(Failure(status, code, message)) => error(protocol, status, code, &message),
    }
}

pub(crate) fn field<'a>(input: &'a Value, name: &str) -> Result<&'a str, Failure> {
    input
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| bad("ValidationException", format!("{name} is required")))
}

fn image_json(image: &AppStreamImage) -> Value {
    let mut out = json!({
        "Name": image.name, "Arn": image.arn, "State": image.state, "Visibility": "PRIVATE",
        "Platform": "AMAZON_LINUX2", "ImageBuilderSupported": true
    });
    if let Some(description) = &image.description {
        out["Description"] = json!(description);
    }
    if let Some(builder) = &image.builder {
        out["ImageBuilderName"] = json!(builder);
    }
    if let Some(reason) = image.reason.as_ref().filter(|_| image.state == "FAILED") {
        out["StateChangeReason"] = json!({ "Code": image.reason_code, "Message": reason });
    }
    out
}

fn describe_images(world: &mut World, region: &str, input: &Value) -> Answer {
    let names: Vec<&str> = input
        .get("Names")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let arns: Vec<&str> = input
        .get("Arns")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut images = Vec::new();
    for name in &names {
        if world.config.appstream_sources_on_demand && region == world.config.home_region {
            world.seed_appstream_source(name);
        }
        match world
            .appstream
            .get(&(region.to_owned(), (*name).to_owned()))
        {
            Some(image) => images.push(image_json(image)),
            None => {
                return Err(bad(
                    "ResourceNotFoundException",
                    format!("The image {name} does not exist in {region}."),
                ));
            }
        }
    }
    if names.is_empty() {
        images.extend(
            world
                .appstream
                .values()
                .filter(|i| {
                    i.region == region && (arns.is_empty() || arns.contains(&i.arn.as_str()))
                })
                .map(image_json),
        );
    }
    Ok(json!({ "Images": images }))
}

fn create_imported_image(world: &mut World, region: &str, input: &Value) -> Answer {
    let name = field(input, "Name")?;
    let ami = field(input, "SourceAmiId")?;
    let role = field(input, "IamRoleArn")?;
    if !valid_name(name) {
        return Err(bad(
            "ValidationException",
            format!("Name must match {NAME}"),
        ));
    }
    if let Some(description) = input.get("Description").and_then(Value::as_str)
        && (description.chars().count() > 256
            || !Regex::new(IMPORT_DESCRIPTION).is_ok_and(|re| re.is_match(description)))
    {
        return Err(bad(
            "ValidationException",
            format!("Description must be at most 256 characters matching {IMPORT_DESCRIPTION}"),
        ));
    }
    let tags = crate::appstream_tags::check(&input["Tags"])?.unwrap_or_default();
    if !role.starts_with("arn:aws") || !role.contains(":role/") {
        return Err(bad(
            "InvalidRoleException",
            format!("{role} is not a role ARN"),
        ));
    }
    if world.amis.get(ami).is_none_or(|r| r != region) {
        return Err(bad(
            "ResourceNotFoundException",
            format!("AMI {ami} does not exist in {region}"),
        ));
    }
    let key = (region.to_owned(), name.to_owned());
    if world.appstream.contains_key(&key) {
        return Err(bad(
            "ResourceAlreadyExistsException",
            format!("The image {name} already exists."),
        ));
    }
    // The model: DryRun "performs validation checks without actually creating the imported
    // image", answered with DryRunOperationException (HTTP 412) once the checks pass.
    if input.get("DryRun").and_then(Value::as_bool) == Some(true) {
        return Err(Failure(
            StatusCode::PRECONDITION_FAILED,
            "DryRunOperationException",
            "The validation checks passed; no image was created (DryRun).".into(),
        ));
    }
    let arn = world.appstream_arn(region, name);
    world.tags.insert(arn.clone(), tags);
    // AppStream validates the AMI while it imports (Windows Server 2022, x86_64, UEFI with TPM
    // 2.0, ENA, one root volume ≤ 500 GB); here only the emulator's Windows AMIs meet that.
    let meets_requirements = world.config.amis_windows;
    let (reason, plan) = if meets_requirements {
        (
            None,
            vec![(0, "IMPORTING"), (1, "VALIDATING"), (3, "AVAILABLE")],
        )
    } else {
        (
            Some(format!(
                "The AMI {ami} does not meet the image import requirements: Windows Server 2022, x86_64, UEFI with TPM 2.0, ENA, one root volume of at most 500 GB."
            )),
            vec![(0, "IMPORTING"), (1, "VALIDATING"), (2, "FAILED")],
        )
    };
    let image = AppStreamImage {
        name: name.to_owned(),
        arn,
        region: region.to_owned(),
        state: "IMPORTING".into(),
        reason,
        reason_code: "IMAGE_IMPORT_FAILURE",
        description: input
            .get("Description")
            .and_then(Value::as_str)
            .map(str::to_owned),
        builder: None,
        plan,
        started: Instant::now(),
    };
    let answer = json!({ "Image": image_json(&image) });
    world.appstream.insert(key, image);
    world.counts.effect("appstream-import");
    Ok(answer)
}

fn copy_image(world: &mut World, region: &str, input: &Value) -> Answer {
    let source = field(input, "SourceImageName")?;
    let destination = field(input, "DestinationImageName")?;
    let destination_region = field(input, "DestinationRegion")?;
    let description = input
        .get("DestinationImageDescription")
        .and_then(Value::as_str);
    if !valid_name(source) || !valid_name(destination) {
        return Err(bad(
            "ValidationException",
            format!("image names must match {NAME}"),
        ));
    }
    if destination_region.is_empty() || destination_region.len() > 32 {
        return Err(bad(
            "ValidationException",
            "DestinationRegion must be 1 to 32 characters".into(),
        ));
    }
    if description.is_some_and(|d| d.chars().count() > 256) {
        return Err(bad(
            "ValidationException",
            "DestinationImageDescription must be at most 256 characters".into(),
        ));
    }
    let Some(source_image) = world.appstream.get(&(region.to_owned(), source.to_owned())) else {
        return Err(bad(
            "ResourceNotFoundException",
            format!("The image {source} does not exist in {region}."),
        ));
    };
    if source_image.state != "AVAILABLE" {
        return Err(bad(
            "ResourceNotAvailableException",
            format!(
                "The image {source} is {} and cannot be copied yet.",
                source_image.state
            ),
        ));
    }
    // An account lives in one partition: "you can't access the AWS GovCloud (US) Regions or the
    // China Regions from an AWS account" (AWS Regions page). The emulator judges that from its
    // own data (botocore's partitions), not from the caller's. AWS documents no error code for
    // it: IncompatibleImageException is a stand-in.
    let (from, to) = (
        shared::domain::partition_of(region),
        shared::domain::partition_of(destination_region),
    );
    if from != to {
        return Err(bad(
            "IncompatibleImageException",
            format!(
                "AppStream 2.0 images cannot be copied from {region} (partition {from}) to {destination_region} (partition {to})."
            ),
        ));
    }
    if !world
        .config
        .appstream_regions
        .iter()
        .any(|r| r == destination_region)
    {
        return Err(bad(
            "IncompatibleImageException",
            format!(
                "AppStream 2.0 images cannot be copied to {destination_region}: the region does not offer AppStream 2.0."
            ),
        ));
    }
    let key = (destination_region.to_owned(), destination.to_owned());
    if world.appstream.contains_key(&key) {
        return Err(bad(
            "ResourceAlreadyExistsException",
            format!("The image {destination} already exists in {destination_region}."),
        ));
    }
    let arn = world.appstream_arn(destination_region, destination);
    world.appstream.insert(
        key,
        AppStreamImage {
            name: destination.to_owned(),
            arn,
            region: destination_region.to_owned(),
            state: "PENDING".into(),
            reason: None,
            reason_code: "IMAGE_COPY_FAILURE",
            description: description.map(str::to_owned),
            builder: None,
            plan: vec![(0, "PENDING"), (1, "COPYING"), (3, "AVAILABLE")],
            started: Instant::now(),
        },
    );
    world
        .counts
        .effect(&format!("appstream-copy:{destination_region}"));
    Ok(json!({ "DestinationImageName": destination }))
}

/// DeleteImage: "You cannot delete an image when it is in use" (`ResourceInUseException`, the
/// model's first error: a fleet or image builder uses it, see `Emulator::use_appstream_image`).
/// Otherwise the image answers `DELETING` and is gone a lifecycle step later (its tags with it).
/// DeleteImage of an image already `DELETING` answers the model's
/// `ConcurrentModificationException` (AWS documents no answer for it: a stand-in).
fn delete_image(world: &mut World, region: &str, input: &Value) -> Answer {
    let name = field(input, "Name")?;
    if !valid_name(name) {
        return Err(bad(
            "ValidationException",
            format!("Name must match {NAME}"),
        ));
    }
    let key = (region.to_owned(), name.to_owned());
    if let Some(user) = world.appstream_users.get(&key) {
        return Err(bad(
            "ResourceInUseException",
            format!("The image {name} is in use by {user}."),
        ));
    }
    let Some(image) = world.appstream.get_mut(&key) else {
        return Err(bad(
            "ResourceNotFoundException",
            format!("The image {name} does not exist in {region}."),
        ));
    };
    if image.state == "DELETING" {
        return Err(bad(
            "ConcurrentModificationException",
            format!("The image {name} is being deleted."),
        ));
    }
    image.state = "DELETING".into();
    image.plan = vec![(0, "DELETING"), (1, DELETED)];
    image.started = Instant::now();
    let answer = json!({ "Image": image_json(image) });
    world.counts.effect(&format!("appstream-delete:{region}"));
    Ok(answer)
}

/// The state a deleted image reaches one step after `DELETING`: no answer ever shows it.
const DELETED: &str = "DELETED";

/// Forgets the images whose deletion ended (called by each tick), and their tags.
pub(crate) fn forget_deleted(world: &mut World) {
    let gone: Vec<(String, String)> = world
        .appstream
        .iter()
        .filter(|(_, i)| i.state == DELETED)
        .map(|(k, _)| k.clone())
        .collect();
    for key in gone {
        if let Some(image) = world.appstream.remove(&key) {
            world.tags.remove(&image.arn);
        }
    }
}
