//! EC2 query protocol (form-encoded `Action=…&Version=2016-11-15`, XML answers): ExportImage,
//! DescribeExportImageTasks, DescribeImages, CreateTags, DeregisterImage.

use crate::world::{ExportTask, World};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

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
        "ExportImage" => export_image(world, region, &params),
        "DescribeExportImageTasks" => describe_tasks(world, region, &params),
        "DescribeImages" => describe_images(world, region, &params),
        "CreateTags" => create_tags(world, &params),
        "DeregisterImage" => deregister_image(world, region, &params),
        "DescribeImageAttribute" => describe_image_attribute(world, region, &params),
        "EnableImageDeprecation" => enable_deprecation(world, region, &params),
        "DisableImage" => disable_image(world, region, &params),
        "DescribeImageReferences" => describe_references(world, region, &params),
        other => invalid(
            "InvalidAction",
            format!("The action {other} is not valid for this web service."),
        ),
    }
}

fn task_xml(task: &ExportTask) -> String {
    let mut out = format!(
        "<description>{}</description><exportImageTaskId>{}</exportImageTaskId><imageId>{}</imageId><progress>{}</progress>\
         <s3ExportLocation><s3Bucket>{}</s3Bucket><s3Prefix>{}</s3Prefix></s3ExportLocation><status>{}</status>",
        esc(&task.description),
        task.id,
        task.image_id,
        task.progress,
        esc(&task.bucket),
        esc(&task.prefix),
        task.status
    );
    if let Some(message) = &task.message {
        let _ = write!(out, "<statusMessage>{}</statusMessage>", esc(message));
    }
    out.push_str("<tagSet>");
    for (k, v) in &task.tags {
        let _ = write!(
            out,
            "<item><key>{}</key><value>{}</value></item>",
            esc(k),
            esc(v)
        );
    }
    out.push_str("</tagSet>");
    out
}

fn export_image(world: &mut World, region: &str, params: &BTreeMap<String, String>) -> Response {
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    let image_id = get("ImageId");
    let format = get("DiskImageFormat");
    let bucket = get("S3ExportLocation.S3Bucket");
    let prefix = get("S3ExportLocation.S3Prefix");
    let role = params
        .get("RoleName")
        .cloned()
        .unwrap_or_else(|| "vmimport".into());
    let token = get("ClientToken");
    if image_id.is_empty() {
        return invalid(
            "MissingParameter",
            "The request must contain the parameter ImageId".into(),
        );
    }
    if !matches!(format.as_str(), "VMDK" | "RAW" | "VHD") {
        return invalid(
            "InvalidParameterValue",
            format!(
                "Value ({format}) for parameter DiskImageFormat is invalid. Valid values: VMDK, RAW, VHD"
            ),
        );
    }
    if bucket.is_empty() {
        return invalid(
            "MissingParameter",
            "The request must contain the parameter S3ExportLocation.S3Bucket".into(),
        );
    }
    if token.len() > 64 {
        return invalid(
            "InvalidParameterValue",
            "ClientToken must be at most 64 ASCII characters".into(),
        );
    }
    if world.amis.get(&image_id).is_none_or(|r| r != region) {
        return invalid(
            "InvalidAMIID.NotFound",
            format!("The image id '[{image_id}]' does not exist"),
        );
    }
    // VM Export's documented limits ("Considerations for image export"). The exact code AWS
    // answers with is not documented: `InvalidParameter` with AWS-like messages is a stand-in.
    if world.config.amis_encrypted {
        return invalid(
            "InvalidParameter",
            format!("The image {image_id} has encrypted EBS snapshots and cannot be exported."),
        );
    }
    if world.config.amis_windows {
        return invalid(
            "InvalidParameter",
            format!(
                "The image {image_id} contains AWS-provided third-party software (Windows) and cannot be exported."
            ),
        );
    }
    if params.get("DryRun").is_some_and(|v| v == "true") {
        return dry_run_succeeded();
    }
    let mut tags = Vec::new();
    for i in 1.. {
        let Some(kind) = params.get(&format!("TagSpecification.{i}.ResourceType")) else {
            break;
        };
        if kind != "export-image-task" {
            return invalid(
                "InvalidParameterValue",
                format!("'{kind}' is not a valid taggable resource type for this operation."),
            );
        }
        for j in 1.. {
            let Some(key) = params.get(&format!("TagSpecification.{i}.Tag.{j}.Key")) else {
                break;
            };
            tags.push((
                key.clone(),
                params
                    .get(&format!("TagSpecification.{i}.Tag.{j}.Value"))
                    .cloned()
                    .unwrap_or_default(),
            ));
        }
    }
    let description = get("Description");
    let fingerprint =
        format!("{image_id}|{format}|{bucket}|{prefix}|{role}|{description}|{tags:?}");
    if !token.is_empty() {
        match world.idempotent("ExportImage", &token, &fingerprint) {
            Ok(Some(first)) => {
                let id = first.as_str().unwrap_or_default().to_owned();
                if let Some(task) = world.exports.get(&id) {
                    return ok("ExportImage", &format!("<diskImageFormat>{}</diskImageFormat><roleName>{}</roleName>{}", format.to_ascii_lowercase(), esc(&role), task_xml(task)));
                }
            }
            Err(()) => return invalid("IdempotentParameterMismatch", "The client token you have provided is associated with a resource that is already deleted or has different parameters.".into()),
            Ok(None) => {}
        }
    }
    // VM Import/Export: "By default, you can't have more than 5 conversion tasks per Region in
    // progress at the same time." The code of the answer is not documented (a stand-in).
    let active = world
        .exports
        .values()
        .filter(|t| t.region == region && t.status == "active")
        .count();
    if active >= world.config.export_limit {
        return invalid(
            "ResourceLimitExceeded",
            format!(
                "You have reached the maximum number of concurrent export image tasks ({}) in {region}.",
                world.config.export_limit
            ),
        );
    }
    // VM Import/Export assumes the role named by RoleName: its trust policy must let
    // vmie.amazonaws.com in with the external id and the confused-deputy keys VM Import/Export
    // documents that it sends (aws:SourceAccount, aws:SourceArn of arn:aws:vmie:…). The code
    // AWS answers a role it cannot use with is not documented (a stand-in).
    if let Some(reason) = vm_import_role_refuses(world, region, &role) {
        return invalid("InvalidParameter", reason);
    }
    let id = format!("export-ami-{}", world.next_hex(17));
    let task = ExportTask {
        id: id.clone(),
        region: region.to_owned(),
        image_id,
        format: format.clone(),
        bucket,
        prefix,
        description,
        status: "active",
        progress: 0,
        message: Some("validating".into()),
        tags,
        started: Instant::now(),
        uploaded: false,
    };
    let xml = task_xml(&task);
    world.exports.insert(id.clone(), task);
    world.counts.effect("export-task");
    if !token.is_empty() {
        world.remember(
            "ExportImage",
            &token,
            fingerprint,
            &serde_json::Value::String(id),
        );
    }
    ok(
        "ExportImage",
        &format!(
            "<diskImageFormat>{}</diskImageFormat><roleName>{}</roleName>{xml}",
            format.to_ascii_lowercase(),
            esc(&role)
        ),
    )
}

/// Why VM Import/Export could not assume `role` for an export in `region`, when the local IAM
/// knows the role and its trust policy refuses.
fn vm_import_role_refuses(world: &World, region: &str, role: &str) -> Option<String> {
    let account = world.config.iam.as_ref()?;
    let partition = crate::authz::partition(region);
    let arn = format!("arn:{partition}:iam::{}:role/{role}", world.config.account);
    let source = format!(
        "arn:{partition}:vmie:{region}:{}:export-image-task/{}",
        world.config.account,
        world.peek_export_task_id()
    );
    let decision = account.may_assume(
        "vmie.amazonaws.com",
        &arn,
        &[
            ("sts:ExternalId", "vmimport"),
            ("aws:SourceAccount", &world.config.account),
            ("aws:SourceArn", &source),
        ],
    )?;
    (!decision.is_allowed()).then(|| {
        format!("The service role {role} provided does not exist or does not have sufficient permissions (its trust policy does not let vmie.amazonaws.com assume it)")
    })
}

fn describe_tasks(world: &World, region: &str, params: &BTreeMap<String, String>) -> Response {
    let ids = list(params, "ExportImageTaskId");
    let mut items = String::new();
    for id in &ids {
        match world.exports.get(id).filter(|t| t.region == region) {
            Some(task) => {
                let _ = write!(items, "<item>{}</item>", task_xml(task));
            }
            None => {
                return invalid(
                    "InvalidExportImageTaskId.NotFound",
                    format!("The export image task ID '{id}' does not exist"),
                );
            }
        }
    }
    if ids.is_empty() {
        for task in world.exports.values().filter(|t| t.region == region) {
            let _ = write!(items, "<item>{}</item>", task_xml(task));
        }
    }
    ok(
        "DescribeExportImageTasks",
        &format!("<exportImageTaskSet>{items}</exportImageTaskSet>"),
    )
}

fn describe_images(world: &World, region: &str, params: &BTreeMap<String, String>) -> Response {
    let ids = list(params, "ImageId");
    let mut items = String::new();
    for id in &ids {
        // "Recently deregistered images appear in the returned results for a short interval
        // and then return empty results" (DescribeImages): empty, not an error, as moto answers.
        let deregistered = world
            .deregistered
            .contains(&(id.clone(), region.to_owned()));
        if world.amis.get(id).is_none_or(|r| r != region) && !deregistered {
            return invalid(
                "InvalidAMIID.NotFound",
                format!("The image id '[{id}]' does not exist"),
            );
        }
    }
    // A Windows AMI here meets AppStream's import requirements (UEFI, TPM 2.0, ENA, one root
    // volume); a Linux one does not.
    let platform = if world.config.amis_windows {
        "<platform>windows</platform><platformDetails>Windows</platformDetails><bootMode>uefi</bootMode><tpmSupport>v2.0</tpmSupport><enaSupport>true</enaSupport>"
    } else {
        "<platformDetails>Linux/UNIX</platformDetails><bootMode>uefi-preferred</bootMode><enaSupport>true</enaSupport>"
    };
    // A disabled AMI does not appear unless asked for (EC2 API Reference, DisableImage).
    let include_disabled = params.get("IncludeDisabled").is_some_and(|v| v == "true");
    for (ami, ami_region) in world.amis.iter().filter(|(ami, r)| {
        *r == region
            && (ids.is_empty() || ids.contains(ami))
            && (include_disabled || world.ami_states.get(*ami).is_none_or(|s| s != "disabled"))
    }) {
        let tags = world.tags.get(ami).cloned().unwrap_or_default();
        let mut tag_xml = String::new();
        for (k, v) in tags {
            let _ = write!(
                tag_xml,
                "<item><key>{}</key><value>{}</value></item>",
                esc(&k),
                esc(&v)
            );
        }
        // The name Image Builder gave it (GetImage's outputResources say the same).
        let name = world
            .images
            .values()
            .find(|i| i.amis.iter().any(|(_, a)| a == ami))
            .map_or_else(|| format!("{ami}-{ami_region}"), |i| i.ami_name());
        let state = world
            .ami_states
            .get(ami)
            .map_or("available", String::as_str);
        let deprecation = world
            .ami_deprecations
            .get(ami)
            .map(|at| format!("<deprecationTime>{}</deprecationTime>", esc(at)))
            .unwrap_or_default();
        let _ = write!(
            items,
            "<item><imageId>{ami}</imageId><imageState>{state}</imageState>{deprecation}<imageOwnerId>{}</imageOwnerId><architecture>x86_64</architecture><imageType>machine</imageType><name>{}</name>{platform}<rootDeviceName>/dev/xvda</rootDeviceName><rootDeviceType>ebs</rootDeviceType>\
             <blockDeviceMapping><item><deviceName>/dev/xvda</deviceName><ebs><snapshotId>snap-{}</snapshotId><volumeSize>8</volumeSize><deleteOnTermination>true</deleteOnTermination><volumeType>gp3</volumeType><encrypted>{}</encrypted></ebs></item></blockDeviceMapping><tagSet>{tag_xml}</tagSet></item>",
            world.config.account,
            esc(&name),
            &ami[4..],
            world.config.amis_encrypted,
        );
    }
    ok("DescribeImages", &format!("<imagesSet>{items}</imagesSet>"))
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

/// EnableImageDeprecation: `DeprecateAt` (`YYYY-MM-DDTHH:MM:SSZ`) rounded to the nearest
/// minute, not in the past, at most 10 years ahead (EC2 API Reference).
fn enable_deprecation(
    world: &mut World,
    region: &str,
    params: &BTreeMap<String, String>,
) -> Response {
    let id = match own_ami(world, region, params) {
        Ok(id) => id.clone(),
        Err(e) => return e,
    };
    let Some(raw) = params.get("DeprecateAt") else {
        return invalid(
            "MissingParameter",
            "The request must contain the parameter DeprecateAt".into(),
        );
    };
    let Ok(at) = aws_sdk_s3::primitives::DateTime::from_str(
        raw,
        aws_sdk_s3::primitives::DateTimeFormat::DateTimeWithOffset,
    ) else {
        return invalid(
            "InvalidParameterValue",
            format!("Invalid value '{raw}' for DeprecateAt"),
        );
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let secs = (at.secs() + 30) / 60 * 60;
    if secs < now {
        return invalid(
            "InvalidParameterValue",
            format!("DeprecateAt {raw} is in the past"),
        );
    }
    if secs > now + 3_652 * 86_400 {
        return invalid(
            "InvalidParameterValue",
            format!("DeprecateAt {raw} is more than 10 years from now"),
        );
    }
    let rounded = aws_sdk_s3::primitives::DateTime::from_secs(secs)
        .fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime)
        .unwrap_or_default();
    world.ami_deprecations.insert(id, rounded);
    world.counts.effect("deprecation");
    ok("EnableImageDeprecation", "<return>true</return>")
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

/// DescribeImageReferences' resource types (`ImageReferenceResourceType` of the model).
const REFERENCE_TYPES: [&str; 5] = [
    "ec2:Instance",
    "ec2:LaunchTemplate",
    "ssm:Parameter",
    "imagebuilder:ImageRecipe",
    "imagebuilder:ContainerRecipe",
];

/// DescribeImageReferences: the resources a test registered as using each AMI and the
/// account's own `aws:ec2:image` parameters naming it. Either `IncludeAllResourceTypes` or
/// `ResourceType.N` is required, as the model says; AMIs that do not exist are refused as EC2
/// refuses them elsewhere.
fn describe_references(world: &World, region: &str, params: &BTreeMap<String, String>) -> Response {
    let ids = list(params, "ImageId");
    if ids.is_empty() {
        return invalid(
            "MissingParameter",
            "The request must contain the parameter ImageId".into(),
        );
    }
    let all = params
        .get("IncludeAllResourceTypes")
        .is_some_and(|v| v == "true");
    let types: Vec<String> = (1..)
        .map_while(|i| {
            params
                .get(&format!("ResourceType.{i}.ResourceType"))
                .cloned()
        })
        .collect();
    if !all && types.is_empty() {
        return invalid(
            "InvalidParameterCombination",
            "Either IncludeAllResourceTypes or ResourceTypes must be specified".into(),
        );
    }
    // The model: ImageIds 1 to 10; MaxResults at least 5; ResourceType one of five.
    if ids.len() > 10 {
        return invalid(
            "InvalidParameterValue",
            format!(
                "The request names {} images; at most 10 are allowed",
                ids.len()
            ),
        );
    }
    if let Some(kind) = types
        .iter()
        .find(|t| !REFERENCE_TYPES.contains(&t.as_str()))
    {
        return invalid(
            "InvalidParameterValue",
            format!("Value ({kind}) for parameter ResourceType is invalid"),
        );
    }
    let max = match params.get("MaxResults").map(|v| v.parse::<usize>()) {
        None => usize::MAX,
        Some(Ok(n)) if n >= 5 => n,
        Some(_) => {
            return invalid(
                "InvalidParameterValue",
                format!(
                    "Value ( {} ) for parameter maxResults is invalid. Expecting a value greater than 5.",
                    params["MaxResults"]
                ),
            );
        }
    };
    let start = match params.get("NextToken") {
        None => 0,
        Some(token) => match token.strip_prefix("refs-").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => {
                return invalid(
                    "InvalidPaginationToken",
                    "The specified pagination token is not valid or is expired.".into(),
                );
            }
        },
    };
    let mut found = Vec::new();
    for id in &ids {
        if world.amis.get(id).is_none_or(|r| r != region) {
            return invalid(
                "InvalidAMIID.NotFound",
                format!("The image id '[{id}]' does not exist"),
            );
        }
        // What the emulated account itself holds that names the AMI: its SSM parameters of
        // data type aws:ec2:image in the AMI's region (the user guide: references are checked in
        // "SSM parameters"), beside the references a test registers (instances, templates).
        let parameters = world
            .parameters
            .iter()
            .filter(|((r, _), p)| r == region && p.data_type == "aws:ec2:image" && &p.value == id)
            .map(|((_, name), _)| {
                (
                    "ssm:Parameter".to_owned(),
                    crate::ssm::arn(
                        crate::authz::partition(region),
                        region,
                        &world.config.account,
                        name,
                    ),
                )
            });
        let registered = world
            .image_references
            .get(id)
            .into_iter()
            .flatten()
            .cloned();
        for (kind, arn) in registered.chain(parameters) {
            if all || types.contains(&kind) {
                found.push((id.clone(), kind, arn));
            }
        }
    }
    let mut items = String::new();
    for (id, kind, arn) in found.iter().skip(start).take(max) {
        let _ = write!(
            items,
            "<item><imageId>{id}</imageId><resourceType>{}</resourceType><arn>{}</arn></item>",
            esc(kind),
            esc(arn)
        );
    }
    let next = if start.saturating_add(max) < found.len() {
        format!("<nextToken>refs-{}</nextToken>", start + max)
    } else {
        String::new()
    };
    ok(
        "DescribeImageReferences",
        &format!("<imageReferenceSet>{items}</imageReferenceSet>{next}"),
    )
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
        if key.starts_with("aws:") {
            return invalid(
                "InvalidParameterValue",
                format!("Tag keys starting with 'aws:' are reserved: {key}"),
            );
        }
        tags.insert(
            key.clone(),
            params
                .get(&format!("Tag.{i}.Value"))
                .cloned()
                .unwrap_or_default(),
        );
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
