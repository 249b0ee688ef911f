//! ExportImage and DescribeExportImageTasks (EC2 API Reference; VM Import/Export User Guide,
//! "Export a VM directly from an Amazon Machine Image").

use super::query::{Filter, Page, filters, tag_refused, unknown_filter};
use super::{dry_run_succeeded, esc, invalid, list, ok};
use crate::world::{ExportTask, World};
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

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

pub(super) fn export_image(
    world: &mut World,
    region: &str,
    params: &BTreeMap<String, String>,
) -> Response {
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
    if let Some(reason) = bucket_name_refused(&bucket) {
        return invalid(
            "InvalidParameterValue",
            format!(
                "Value ({bucket}) for parameter S3ExportLocation.S3Bucket is invalid: {reason}"
            ),
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
    // An assumption, not a documented rule: DisableImage documents only that a disabled AMI
    // "can't be used for instance launches" and can't be shared; that VM Export refuses one,
    // and with InvalidAMIID.Unavailable (EC2's code for an AMI that exists but is not available,
    // "Common client error codes"), is this emulator's stand-in. The project never exports a
    // disabled AMI (revocation disables only after publication).
    if let Some(state) = world
        .ami_states
        .get(&image_id)
        .filter(|s| *s != "available")
    {
        return invalid(
            "InvalidAMIID.Unavailable",
            format!("The image id '[{image_id}]' is {state} and cannot be exported"),
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
            let value = params
                .get(&format!("TagSpecification.{i}.Tag.{j}.Value"))
                .cloned()
                .unwrap_or_default();
            if let Some(refused) = tag_refused(key, &value) {
                return refused;
            }
            tags.push((key.clone(), value));
        }
    }
    if params.get("DryRun").is_some_and(|v| v == "true") {
        return dry_run_succeeded();
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

/// DescribeExportImageTasks: the tasks named (each must exist in the region) or all of the
/// region's, narrowed by the one filter the model documents ("Filter tasks using the task-state
/// filter and one of the following values: active, completed, deleting, or deleted"), in pages
/// of `MaxResults` (the model: 1 to 500).
pub(super) fn describe_tasks(
    world: &World,
    region: &str,
    params: &BTreeMap<String, String>,
) -> Response {
    let page = match Page::of(params, "export-tasks", 1, 500) {
        Ok(page) => page,
        Err(e) => return e,
    };
    let filters = filters(params);
    if let Some(other) = filters.iter().find(|f| f.name != "task-state") {
        return unknown_filter(&other.name);
    }
    let ids = list(params, "ExportImageTaskId");
    let mut tasks = Vec::new();
    for id in &ids {
        match world.exports.get(id).filter(|t| t.region == region) {
            Some(task) => tasks.push(task),
            None => {
                return invalid(
                    "InvalidExportImageTaskId.NotFound",
                    format!("The export image task ID '{id}' does not exist"),
                );
            }
        }
    }
    if ids.is_empty() {
        tasks.extend(world.exports.values().filter(|t| t.region == region));
    }
    tasks.retain(|task| filters.iter().all(|f: &Filter| f.matches(task.status)));
    let (shown, next) = page.cut(&tasks);
    let mut items = String::new();
    for task in shown {
        let _ = write!(items, "<item>{}</item>", task_xml(task));
    }
    ok(
        "DescribeExportImageTasks",
        &format!("<exportImageTaskSet>{items}</exportImageTaskSet>{next}"),
    )
}

/// Why `bucket` cannot name an S3 bucket (Amazon S3 User Guide, "General purpose bucket naming
/// rules"): 3 to 63 characters of lowercase letters, digits, dots and hyphens, beginning and
/// ending with a letter or digit, no two adjacent dots, not an IP address, none of the reserved
/// prefixes and suffixes. VM Export writes only to a bucket that exists ("The destination bucket
/// must exist"), so such a name is refused; the code EC2 answers it with is not documented
/// (`InvalidParameterValue`, EC2's code for "A value specified in a parameter is not valid", is a
/// stand-in).
pub(super) fn bucket_name_refused(bucket: &str) -> Option<&'static str> {
    let reason = if !(3..=63).contains(&bucket.len()) {
        "bucket names must be between 3 and 63 characters long"
    } else if !bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        "bucket names can consist only of lowercase letters, numbers, dots and hyphens"
    } else if !bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !bucket.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        "bucket names must begin and end with a letter or number"
    } else if bucket.contains("..") {
        "bucket names must not contain two adjacent periods"
    } else if bucket.split('.').count() == 4
        && bucket.split('.').all(|part| part.parse::<u8>().is_ok())
    {
        "bucket names must not be formatted as an IP address"
    } else if ["xn--", "sthree-", "amzn-s3-demo-"]
        .iter()
        .any(|p| bucket.starts_with(p))
    {
        "bucket names must not start with xn--, sthree- or amzn-s3-demo-"
    } else if ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
        .iter()
        .any(|p| bucket.ends_with(p))
    {
        "bucket names must not end with -s3alias, --ol-s3, .mrap, --x-s3 or --table-s3"
    } else {
        return None;
    };
    Some(reason)
}
