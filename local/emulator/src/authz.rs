//! What each emulated call is, for IAM: the operation's resources by the type the Service
//! Authorization Reference names, the request's context keys, and each dependent action the
//! reference lists, on its resource, or why it does not apply to this call. The local
//! account ([`iam::Account`]) checks the description against the generated table and evaluates
//! it against the caller's role; a denied call gets the service's own error shape.

use crate::world::World;
use crate::{appstream, credential_field, ec2, eventbridge, imagebuilder};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use iam::Call;
use serde_json::Value;
use std::collections::BTreeMap;

/// The partition of a region (the ARN's second field).
pub(crate) fn partition(region: &str) -> &'static str {
    shared::domain::partition_of(region)
}

/// How one emulated request reads: its body (JSON for Image Builder, AppStream and EventBridge;
/// form fields for EC2) and its query.
pub(crate) struct Request<'a> {
    pub region: &'a str,
    pub json: &'a Value,
    pub form: &'a BTreeMap<String, String>,
    pub query: &'a str,
}

impl Request<'_> {
    fn s(&self, field: &str) -> Option<&str> {
        self.json.get(field).and_then(Value::as_str)
    }
    fn q(&self, field: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.into_owned())
    }
    fn f(&self, field: &str) -> Option<&str> {
        self.form.get(field).map(String::as_str)
    }
}

/// Image Builder's service-linked role (its user guide, "Using service-linked roles for Image
/// Builder"): created by the first call that needs it.
pub(crate) const IMAGE_BUILDER_SLR: &str =
    "aws-service-role/imagebuilder.amazonaws.com/AWSServiceRoleForImageBuilder";

/// The call, or `None` when the request lacks what identifies its resources (the service's
/// own validation then answers it, as AWS does for a malformed request).
pub(crate) fn call(world: &World, service: &str, operation: &str, r: &Request<'_>) -> Option<Call> {
    let account = world.config.account.clone();
    let region = r.region;
    let p = partition(region);
    let op = format!("{service}:{operation}");
    let call = Call::new(&op, region);
    Some(match (service, operation) {
        ("imagebuilder", "StartImagePipelineExecution") => {
            let pipeline = r.s("imagePipelineArn")?;
            let call = call
                .on("imagePipeline", pipeline)
                .dependent("imagebuilder:GetImagePipeline", pipeline);
            let call =
                with_request_tags(call, r.json.get("tags"), "imagebuilder:TagResource", || {
                    world
                        .next_image_arn_of_pipeline(pipeline)
                        .unwrap_or_else(|| {
                            format!("arn:{p}:imagebuilder:{region}:{account}:image/*")
                        })
                });
            if world.config.service_linked_role {
                call.not_applicable(
                    "iam:CreateServiceLinkedRole",
                    "Image Builder's service-linked role exists already",
                )
            } else {
                call.dependent_with(
                    "iam:CreateServiceLinkedRole",
                    format!("arn:{p}:iam::{account}:role/{IMAGE_BUILDER_SLR}"),
                    "iam:AWSServiceName",
                    "imagebuilder.amazonaws.com",
                )
            }
        }
        ("imagebuilder", "GetImage") => call.on("image", r.q("imageBuildVersionArn")?),
        ("imagebuilder", "GetImagePipeline") => call.on("imagePipeline", r.q("imagePipelineArn")?),
        ("imagebuilder", "GetDistributionConfiguration") => call.on(
            "distributionConfiguration",
            r.q("distributionConfigurationArn")?,
        ),
        ("imagebuilder", "ListImagePipelineImages") => {
            call.on("imagePipeline", r.s("imagePipelineArn")?)
        }
        ("imagebuilder", "RetryImage") => call.on("image", r.s("imageBuildVersionArn")?),
        ("imagebuilder", "TagResource") => {
            let arn = r.s("resourceArn")?;
            let kind = match arn.split(':').nth(5).and_then(|r| r.split('/').next()) {
                Some("image") => "image",
                Some("image-pipeline") => "imagePipeline",
                Some("distribution-configuration") => "distributionConfiguration",
                _ => "image",
            };
            with_tag_context(call.on(kind, arn), r.json.get("tags"))
        }
        ("imagebuilder", "DistributeImage") => {
            let source = r.s("sourceImage")?;
            let configuration = r.s("distributionConfigurationArn")?;
            let role = r.s("executionRole")?;
            let role_arn = if role.starts_with("arn:") {
                role.to_owned()
            } else {
                format!("arn:{p}:iam::{account}:role/{role}")
            };
            let call = call
                .on("image", source)
                .dependent("imagebuilder:GetImage", source)
                .dependent("imagebuilder:GetDistributionConfiguration", configuration)
                .dependent("ec2:DescribeImages", "*")
                .dependent_with(
                    "iam:PassRole",
                    role_arn,
                    "iam:PassedToService",
                    "imagebuilder.amazonaws.com",
                );
            let call =
                with_request_tags(call, r.json.get("tags"), "imagebuilder:TagResource", || {
                    world.next_distributed_arn(source).unwrap_or_else(|| {
                        format!("arn:{p}:imagebuilder:{region}:{account}:image/*")
                    })
                });
            if source.starts_with("ssm:") || source.contains(":parameter/") {
                let name = source.trim_start_matches("ssm:");
                let arn = if name.starts_with("arn:") {
                    name.to_owned()
                } else {
                    format!(
                        "arn:{p}:ssm:{region}:{account}:parameter/{}",
                        name.trim_start_matches('/')
                    )
                };
                call.dependent("ssm:GetParameter", arn)
            } else {
                call.not_applicable(
                    "ssm:GetParameter",
                    "sourceImage is an image ARN, not an SSM parameter",
                )
            }
        }
        ("ec2", "ExportImage") => {
            let ami = r.f("ImageId")?;
            let task = format!(
                "arn:{p}:ec2:{region}:{account}:export-image-task/{}",
                world.peek_export_task_id()
            );
            // The caller's S3 permissions the VM Import/Export guide requires beside
            // ec2:ExportImage: on the bucket, and on the disk the export writes.
            let bucket = r.f("S3ExportLocation.S3Bucket")?;
            let disk = format!(
                "arn:{p}:s3:::{bucket}/{}{}.{}",
                r.f("S3ExportLocation.S3Prefix").unwrap_or_default(),
                world.peek_export_task_id(),
                r.f("DiskImageFormat")
                    .unwrap_or_default()
                    .to_ascii_lowercase()
            );
            let call = call
                .on("image", format!("arn:{p}:ec2:{region}::image/{ami}"))
                .on("export-image-task", task.clone())
                .dependent("s3:GetBucketLocation", format!("arn:{p}:s3:::{bucket}"))
                .dependent("s3:GetObject", disk.clone())
                .dependent("s3:PutObject", disk);
            if r.form.keys().any(|k| k.starts_with("TagSpecification.")) {
                let mut call =
                    call.dependent_with("ec2:CreateTags", task, "ec2:CreateAction", "ExportImage");
                for (k, v) in r
                    .form
                    .iter()
                    .filter(|(k, _)| k.contains(".Tag.") && k.ends_with(".Key"))
                {
                    let value = r
                        .form
                        .get(&k.replace(".Key", ".Value"))
                        .cloned()
                        .unwrap_or_default();
                    call = call
                        .context(&format!("aws:RequestTag/{v}"), value)
                        .context("aws:TagKeys", v.clone());
                }
                call
            } else {
                call.not_applicable("ec2:CreateTags", "the request tags nothing")
            }
        }
        ("ec2", "DescribeImages" | "DescribeExportImageTasks") => call,
        ("ec2", "DescribeImageReferences") => call,
        ("ec2", "DescribeImageAttribute" | "EnableImageDeprecation" | "DisableImage") => call.on(
            "image",
            format!("arn:{p}:ec2:{region}::image/{}", r.f("ImageId")?),
        ),
        ("ssm", "PutParameter") => {
            let arn = crate::ssm::arn(p, region, &account, r.s("Name")?);
            let call = call.on("parameter", arn.clone());
            // "To create a parameter with tags you need ssm:PutParameter and
            // ssm:AddTagsToResource" (CloudFormation's AWS::SSM::Parameter, and the
            // AccessDenied SSM answers on the parameter's ARN).
            match r.json.get("Tags").and_then(serde_json::Value::as_array) {
                Some(tags) if !tags.is_empty() => {
                    let mut call = call.dependent("ssm:AddTagsToResource", arn);
                    for tag in tags {
                        let key = tag["Key"].as_str().unwrap_or_default();
                        let value = tag["Value"].as_str().unwrap_or_default();
                        call = call
                            .context(&format!("aws:RequestTag/{key}"), value.to_owned())
                            .context("aws:TagKeys", key.to_owned());
                    }
                    call
                }
                _ => call.not_applicable("ssm:AddTagsToResource", "the request tags nothing"),
            }
        }
        ("ssm", "GetParameter" | "DeleteParameter") => call.on(
            "parameter",
            crate::ssm::arn(p, region, &account, r.s("Name")?),
        ),
        ("ssm", "ListTagsForResource" | "AddTagsToResource") => call.on(
            "parameter",
            crate::ssm::arn(p, region, &account, r.s("ResourceId")?),
        ),
        ("ec2", "DeregisterImage") => call.on(
            "image",
            format!("arn:{p}:ec2:{region}::image/{}", r.f("ImageId")?),
        ),
        ("ec2", "CreateTags") => {
            let id = r.f("ResourceId.1")?;
            let (kind, arn) = if id.starts_with("export-ami-") {
                (
                    "export-image-task",
                    format!("arn:{p}:ec2:{region}:{account}:export-image-task/{id}"),
                )
            } else {
                ("image", format!("arn:{p}:ec2:{region}::image/{id}"))
            };
            call.on(kind, arn)
        }
        ("appstream", "DescribeImages" | "ListTagsForResource") => call,
        ("appstream", "CreateImportedImage") => with_tag_context(call, r.json.get("Tags")),
        ("appstream", "CopyImage") => call.on(
            "image",
            world.appstream_arn(region, r.s("SourceImageName")?),
        ),
        ("appstream", "DeleteImage") => call.on("image", world.appstream_arn(region, r.s("Name")?)),
        ("appstream", "TagResource") => {
            with_tag_context(call.on("image", r.s("ResourceArn")?), r.json.get("Tags"))
        }
        // The key's ARN whichever form KeyId takes; an unknown key is authorized on the
        // ARN its id would have, and then answered NotFoundException.
        ("kms", "Sign" | "GetPublicKey") => {
            let key_id = r.s("KeyId")?;
            let arn = crate::kms::key_arn(world, region, key_id).unwrap_or_else(|| {
                if key_id.starts_with("arn:") {
                    key_id.to_owned()
                } else {
                    format!("arn:{p}:kms:{region}:{account}:key/{key_id}")
                }
            });
            // kms:ResourceAliases: every alias of the key, whatever KeyId the call used.
            let mut call = call.on("key", arn.clone());
            for (alias, _) in world.config.key_aliases.iter().filter(|(_, k)| *k == arn) {
                call = call.context("kms:ResourceAliases", alias.clone());
            }
            call
        }
        ("events", "PutEvents") => {
            let entries = r.json["Entries"].as_array()?;
            let bus = entries
                .first()
                .and_then(|e| e["EventBusName"].as_str())
                .unwrap_or("default");
            let bus_arn = if bus.starts_with("arn:") {
                bus.to_owned()
            } else {
                format!("arn:{p}:events:{region}:{account}:event-bus/{bus}")
            };
            let mut call = call.on("event-bus", bus_arn);
            for entry in entries {
                if let Some(source) = entry["Source"].as_str() {
                    call = call.context("events:source", source);
                }
                if let Some(detail_type) = entry["DetailType"].as_str() {
                    call = call.context("events:detail-type", detail_type);
                }
            }
            call
        }
        _ => return None,
    })
}

/// `aws:RequestTag/<key>` and `aws:TagKeys` of the request's tags.
fn with_tag_context(mut call: Call, tags: Option<&Value>) -> Call {
    for (k, v) in tags.and_then(Value::as_object).into_iter().flatten() {
        call = call
            .context(
                &format!("aws:RequestTag/{k}"),
                v.as_str().unwrap_or_default(),
            )
            .context("aws:TagKeys", k.clone());
    }
    call
}

/// Tags in a create request: the tag context, and the dependent tagging action on what the call
/// creates (or why it does not apply: no tags).
fn with_request_tags(
    call: Call,
    tags: Option<&Value>,
    action: &str,
    created: impl FnOnce() -> String,
) -> Call {
    if tags
        .and_then(Value::as_object)
        .is_some_and(|t| !t.is_empty())
    {
        with_tag_context(call, tags).dependent(action, created())
    } else {
        call.not_applicable(action, "the request has no tags")
    }
}

/// IAM, as AWS would evaluate the call for the principal that signed it (the local account's
/// roles, [`iam::Account`]): `Some(answer)` when it is denied, in the service's own error shape.
#[allow(clippy::too_many_arguments)]
pub(crate) fn authorize(
    world: &World,
    headers: &HeaderMap,
    service: &str,
    operation: &str,
    region: &str,
    uri: &Uri,
    body: &[u8],
    protocol: appstream::Protocol,
) -> Option<Response> {
    let account = world.config.iam.clone()?;
    let key = credential_field(headers, 0)?;
    let json: Value = match (service, protocol) {
        ("ec2", _) => Value::Null,
        ("appstream", appstream::Protocol::RpcV2Cbor) => {
            ciborium::from_reader(body).unwrap_or(Value::Null)
        }
        _ => serde_json::from_slice(body).unwrap_or(Value::Null),
    };
    let form: std::collections::BTreeMap<String, String> = if service == "ec2" {
        form_urlencoded::parse(body).into_owned().collect()
    } else {
        Default::default()
    };
    let request = Request {
        region,
        json: &json,
        form: &form,
        query: uri.query().unwrap_or(""),
    };
    let Some(call) = call(world, service, operation, &request) else {
        // A function's call that the emulator cannot describe for IAM is never waved through.
        if account.principals.contains_key(&key) {
            return Some(fault_like(
                service,
                protocol,
                StatusCode::BAD_REQUEST,
                "AccessDeniedException",
                &format!(
                    "the local IAM cannot describe this {service}:{operation} request, so it does not allow it"
                ),
            ));
        }
        return None;
    };
    let denied = match account.authorize(&key, &call) {
        Ok(Ok(())) => return None,
        Ok(Err(denied)) => denied,
        Err(mismatch) => {
            // The emulator described a call the Service Authorization Reference does not
            // allow: a bug here, never a silent allow.
            tracing::error!(%mismatch, "the emulator's authorization of a call is wrong");
            return Some(fault_like(
                service,
                protocol,
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                &mismatch.to_string(),
            ));
        }
    };
    tracing::info!(key, action = %denied.action, resource = %denied.resource, "denied");
    Some(match service {
        "ec2" => ec2::error(
            StatusCode::FORBIDDEN,
            "UnauthorizedOperation",
            &format!(
                "You are not authorized to perform this operation. {}",
                denied.message
            ),
        ),
        "imagebuilder" => imagebuilder::error(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            &denied.message,
        ),
        _ => fault_like(
            service,
            protocol,
            StatusCode::BAD_REQUEST,
            "AccessDeniedException",
            &denied.message,
        ),
    })
}

/// An error answer in the shape of `service` (and of AppStream's `protocol`).
pub(crate) fn fault_like(
    service: &str,
    protocol: appstream::Protocol,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response {
    match service {
        "ec2" => ec2::error(status, code, message),
        "imagebuilder" => imagebuilder::error(status, code, message),
        "events" => eventbridge::error(status, code, message),
        "kms" => crate::kms::error(status, code, message),
        "ssm" => crate::ssm::error(status, code, message),
        _ => appstream::error(protocol, status, code, message),
    }
}
