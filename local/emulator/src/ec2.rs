//! EC2 query protocol (form-encoded `Action=…&Version=2016-11-15`, XML answers): the dispatch,
//! DryRun, the AMI lifecycle calls (DescribeImageAttribute, DisableImage, DeregisterImage) and
//! CreateTags. Exports, DescribeImages and DescribeImageReferences have modules of their own.

mod export;
mod images;
mod query;
mod references;

use crate::world::World;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write as _;

const NS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

fn esc(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{}</RequestID></Response>",
        esc(code),
        esc(message),
        uuid::Uuid::new_v4()
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/xml;charset=UTF-8")],
        body,
    )
        .into_response()
}

fn ok(action: &str, inner: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"{NS}\"><requestId>{}</requestId>{inner}</{action}Response>",
        uuid::Uuid::new_v4()
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml;charset=UTF-8")],
        body,
    )
        .into_response()
}

fn invalid(code: &str, message: String) -> Response {
    error(StatusCode::BAD_REQUEST, code, &message)
}

/// `Prefix.N` values in order (query lists are 1-based).
fn list(params: &BTreeMap<String, String>, prefix: &str) -> Vec<String> {
    (1..)
        .map_while(|i| params.get(&format!("{prefix}.{i}")).cloned())
        .collect()
}

/// EC2's answer to a request with `DryRun` that would have succeeded.
fn dry_run_succeeded() -> Response {
    error(
        StatusCode::PRECONDITION_FAILED,
        "DryRunOperation",
        "Request would have succeeded, but DryRun flag is set.",
    )
}

pub(crate) fn handle(world: &mut World, region: &str, action: &str, body: &[u8]) -> Response {
    let params: BTreeMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    // DryRun (every EC2 action here): "If you have the required permissions, the error response
    // is DryRunOperation" (the caller's permissions were checked before this handler). The
    // image a call names is looked up first; ExportImage makes its own checks before answering.
    if action != "ExportImage" && params.get("DryRun").is_some_and(|v| v == "true") {
        let missing = params
            .get("ImageId")
            .filter(|id| world.amis.get(*id).is_none_or(|r| r != region));
        if let Some(id) = missing {
            return invalid(
                "InvalidAMIID.NotFound",
                format!("The image id '[{id}]' does not exist"),
            );
        }
        return dry_run_succeeded();
    }
    match action {
        "ExportImage" => export::export_image(world, region, &params),
        "DescribeExportImageTasks" => export::describe_tasks(world, region, &params),
        "DescribeImages" => images::describe_images(world, region, &params),
        "CreateTags" => create_tags(world, &params),
        "DeregisterImage" => deregister_image(world, region, &params),
        "DescribeImageAttribute" => describe_image_attribute(world, region, &params),
        "EnableImageDeprecation" => images::enable_deprecation(world, region, &params),
        "DisableImage" => disable_image(world, region, &params),
        "DescribeImageReferences" => references::describe_references(world, region, &params),
        other => invalid(
            "InvalidAction",
            format!("The action {other} is not valid for this web service."),
        ),
    }
}

/// `launchPermission` (the only attribute the emulator keeps): the accounts the distribution
/// configuration shared the AMI with, `all` as `<group>all</group>` (EC2 API Reference,
/// DescribeImageAttribute and LaunchPermission).
fn describe_image_attribute(
    world: &World,
    region: &str,
    params: &BTreeMap<String, String>,
) -> Response {
    let id = match own_ami(world, region, params) {
        Ok(id) => id,
        Err(e) => return e,
    };
    let Some(attribute) = params.get("Attribute") else {
        return invalid(
            "MissingParameter",
            "The request must contain the parameter Attribute".into(),
        );
    };
    if attribute != "launchPermission" {
        return invalid(
            "InvalidParameterValue",
            format!("the emulator answers only the launchPermission attribute, not {attribute}"),
        );
    }
    let mut items = String::new();
    for account in world.launch_permissions.get(id).into_iter().flatten() {
        if account == "all" {
            items.push_str("<item><group>all</group></item>");
        } else {
            let _ = write!(items, "<item><userId>{}</userId></item>", esc(account));
        }
    }
    ok(
        "DescribeImageAttribute",
        &format!("<imageId>{id}</imageId><launchPermission>{items}</launchPermission>"),
    )
}

/// The AMI named by `ImageId` in `region`, or the error EC2 answers.
fn own_ami<'a>(
    world: &World,
    region: &str,
    params: &'a BTreeMap<String, String>,
) -> Result<&'a String, Response> {
    let Some(id) = params.get("ImageId") else {
        return Err(invalid(
            "MissingParameter",
            "The request must contain the parameter ImageId".into(),
        ));
    };
    if world.amis.get(id).is_none_or(|r| r != region) {
        return Err(invalid(
            "InvalidAMIID.NotFound",
            format!("The image id '[{id}]' does not exist"),
        ));
    }
    Ok(id)
}

/// DisableImage: state `disabled`, every launch permission removed (EC2 API Reference).
fn disable_image(world: &mut World, region: &str, params: &BTreeMap<String, String>) -> Response {
    let id = match own_ami(world, region, params) {
        Ok(id) => id.clone(),
        Err(e) => return e,
    };
    world.ami_states.insert(id.clone(), "disabled".into());
    world.launch_permissions.remove(&id);
    world.counts.effect("disable");
    ok("DisableImage", "<return>true</return>")
}

/// An operator (or a test) removing an AMI: it no longer appears in DescribeImages.
fn deregister_image(
    world: &mut World,
    region: &str,
    params: &BTreeMap<String, String>,
) -> Response {
    let id = match own_ami(world, region, params) {
        Ok(id) => id.clone(),
        Err(e) => return e,
    };
    let id = &id;
    world.amis.remove(id);
    world.deregistered.insert((id.clone(), region.to_owned()));
    world.tags.remove(id);
    world.ami_states.remove(id);
    world.ami_deprecations.remove(id);
    world.launch_permissions.remove(id);
    world.counts.effect("deregistered");
    // DeleteAssociatedSnapshots: the AMI's one snapshot (no other AMI shares it here).
    let snapshots = if params
        .get("DeleteAssociatedSnapshots")
        .is_some_and(|v| v == "true")
    {
        let snapshot = format!("snap-{}", &id[4..]);
        world.deleted_snapshots.insert(snapshot.clone());
        format!(
            "<deleteSnapshotResultSet><item><snapshotId>{snapshot}</snapshotId><returnCode>success</returnCode></item></deleteSnapshotResultSet>"
        )
    } else {
        world
            .orphaned_snapshots
            .insert(format!("snap-{}", &id[4..]));
        String::new()
    };
    ok(
        "DeregisterImage",
        &format!("<return>true</return>{snapshots}"),
    )
}

fn create_tags(world: &mut World, params: &BTreeMap<String, String>) -> Response {
    let resources = list(params, "ResourceId");
    if resources.is_empty() {
        return invalid(
            "MissingParameter",
            "The request must contain the parameter ResourceId".into(),
        );
    }
    let mut tags = BTreeMap::new();
    for i in 1.. {
        let Some(key) = params.get(&format!("Tag.{i}.Key")) else {
            break;
        };
        let value = params
            .get(&format!("Tag.{i}.Value"))
            .cloned()
            .unwrap_or_default();
        if let Some(refused) = query::tag_refused(key, &value) {
            return refused;
        }
        tags.insert(key.clone(), value);
    }
    for resource in &resources {
        let known = world.amis.contains_key(resource) || world.exports.contains_key(resource);
        if !known {
            return invalid("InvalidID", format!("The ID '{resource}' is not valid"));
        }
    }
    for resource in resources {
        world.tags.entry(resource).or_default().extend(tags.clone());
    }
    ok("CreateTags", "<return>true</return>")
}
