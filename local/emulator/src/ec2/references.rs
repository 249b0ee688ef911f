//! DescribeImageReferences (EC2 API Reference; EC2 User Guide, "Identify your resources
//! referencing specified AMIs").

use super::{esc, invalid, list, ok};
use crate::world::World;
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write as _;

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
pub(super) fn describe_references(
    world: &World,
    region: &str,
    params: &BTreeMap<String, String>,
) -> Response {
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
