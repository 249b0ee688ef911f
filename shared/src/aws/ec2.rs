//! EC2 adapter (EC2 query protocol): ExportImage and DescribeExportImageTasks.

use super::LazyClient;
use super::errors::{classify, found, missing};
use crate::domain::{AmiId, RegionName};
use crate::error::ErrorClass;
use crate::ports::{
    AmiCatalog, AmiFacts, AmiLifecycle, Deregistered, ExportImage, ExportStarted, ExportTask,
    ImageExports, ImageReference, Result,
};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    DiskImageFormat, ExportTaskS3LocationRequest, ResourceType, Tag, TagSpecification,
};

/// EC2's documented error codes for the calls made here.
pub fn error_class(code: &str) -> ErrorClass {
    match code {
        "RequestLimitExceeded" | "Throttling" | "ThrottlingException" => ErrorClass::Throttled,
        "InternalError" | "InternalFailure" | "Unavailable" | "ServiceUnavailable" => {
            ErrorClass::Transient
        }
        "IdempotentParameterMismatch" => ErrorClass::IdempotencyMismatch,
        "ResourceLimitExceeded" | "ResourceCountExceeded" => ErrorClass::LimitExceeded,
        "IncorrectState" | "IncorrectInstanceState" | "InvalidAMIID.Unavailable" => {
            ErrorClass::NotAvailable
        }
        "UnauthorizedOperation" | "AuthFailure" | "OptInRequired" | "Blocked" => {
            ErrorClass::AccessDenied
        }
        code if code.ends_with(".NotFound") => ErrorClass::NotFound,
        code if code.starts_with("Invalid")
            || code.starts_with("MissingParameter")
            || code.ends_with(".Malformed") =>
        {
            ErrorClass::Invalid
        }
        _ => ErrorClass::Other,
    }
}

#[derive(Debug, Clone)]
pub struct Ec2Adapter {
    client: LazyClient<Client>,
}

impl Ec2Adapter {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: LazyClient::new(config, Client::new),
        }
    }

    pub fn from_client(client: Client) -> Self {
        Self {
            client: LazyClient::ready(client, Client::new),
        }
    }
}

fn to_task(
    id: Option<String>,
    status: Option<String>,
    progress: Option<String>,
    message: Option<String>,
    location: Option<aws_sdk_ec2::types::ExportTaskS3Location>,
) -> Option<ExportTask> {
    Some(ExportTask {
        export_task_id: id?,
        status: status.unwrap_or_default(),
        progress,
        status_message: message,
        bucket: location.as_ref().and_then(|l| l.s3_bucket.clone()),
        prefix: location.and_then(|l| l.s3_prefix),
    })
}

impl Ec2Adapter {
    /// Who may launch `ami` (DescribeImageAttribute `launchPermission`): account ids, `group:all`
    /// for a public AMI, `organization:<arn>` and `ou:<arn>`. `None` when EC2 does not know the AMI.
    pub async fn launch_permissions(&self, ami: &AmiId) -> Result<Option<Vec<String>>> {
        launch_permissions(&self.client, ami).await
    }
}

/// DescribeImageAttribute `launchPermission` of `ami` with `client` (see
/// [`Ec2Adapter::launch_permissions`]).
async fn launch_permissions(client: &Client, ami: &AmiId) -> Result<Option<Vec<String>>> {
    const OP: &str = "DescribeImageAttribute";
    let Some(out) = found(
        OP,
        client
            .describe_image_attribute()
            .image_id(ami.as_str())
            .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
            .send()
            .await,
        error_class,
    )?
    else {
        return Ok(None);
    };
    Ok(Some(
        out.launch_permissions
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| {
                p.user_id
                    .or_else(|| p.group.map(|g| format!("group:{}", g.as_str())))
                    .or_else(|| p.organization_arn.map(|a| format!("organization:{a}")))
                    .or_else(|| p.organizational_unit_arn.map(|a| format!("ou:{a}")))
            })
            .collect(),
    ))
}

/// EC2 in whichever region an AMI is: a client per region, built the first time that region is
/// asked for (a release's AMIs are wherever its distribution configuration put them).
#[derive(Debug)]
pub struct Ec2Regions {
    clients: super::RegionalClients<Client>,
}

impl Ec2Regions {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            clients: super::RegionalClients::new(config, Client::new),
        }
    }

    /// Over clients made already, one per region (adapter tests).
    pub fn from_clients(clients: std::collections::HashMap<RegionName, Client>) -> Self {
        Self {
            clients: super::RegionalClients::ready(
                Client::new,
                clients
                    .into_iter()
                    .map(|(region, client)| (region.as_str().to_owned(), client))
                    .collect(),
            ),
        }
    }

    fn client(&self, region: &RegionName) -> Client {
        self.clients.get(region.as_str())
    }
}

impl AmiLifecycle for Ec2Regions {
    async fn describe(&self, region: &RegionName, ami: &AmiId) -> Result<Option<AmiFacts>> {
        describe(&self.client(region), ami, true).await
    }

    async fn launch_permissions(
        &self,
        region: &RegionName,
        ami: &AmiId,
    ) -> Result<Option<Vec<String>>> {
        launch_permissions(&self.client(region), ami).await
    }

    async fn deprecate(
        &self,
        region: &RegionName,
        ami: &AmiId,
        at: std::time::SystemTime,
    ) -> Result<()> {
        const OP: &str = "EnableImageDeprecation";
        self.client(region)
            .enable_image_deprecation()
            .image_id(ami.as_str())
            .deprecate_at(aws_smithy_types::DateTime::from(at))
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        Ok(())
    }

    async fn disable(&self, region: &RegionName, ami: &AmiId) -> Result<()> {
        const OP: &str = "DisableImage";
        self.client(region)
            .disable_image()
            .image_id(ami.as_str())
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        Ok(())
    }

    async fn references(&self, region: &RegionName, ami: &AmiId) -> Result<Vec<ImageReference>> {
        const OP: &str = "DescribeImageReferences";
        let client = self.client(region);
        let mut references = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = client
                .describe_image_references()
                .image_ids(ami.as_str())
                .include_all_resource_types(true)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| classify(OP, e, error_class))?;
            references.extend(
                out.image_references
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| ImageReference {
                        resource_type: r
                            .resource_type
                            .map(|t| t.as_str().to_owned())
                            .unwrap_or_default(),
                        arn: r.arn.unwrap_or_default(),
                    }),
            );
            match out.next_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => return Ok(references),
            }
        }
    }

    async fn deregister(&self, region: &RegionName, ami: &AmiId) -> Result<Option<Deregistered>> {
        const OP: &str = "DeregisterImage";
        let answer = self
            .client(region)
            .deregister_image()
            .image_id(ami.as_str())
            .delete_associated_snapshots(true)
            .send()
            .await;
        let Some(out) = found(OP, answer, error_class)? else {
            return Ok(None);
        };
        let mut done = Deregistered::default();
        for result in out.delete_snapshot_results.unwrap_or_default() {
            let id = result.snapshot_id.unwrap_or_default();
            match result.return_code.map(|c| c.as_str().to_owned()).as_deref() {
                Some("success") => done.snapshots_deleted.push(id),
                other => done
                    .snapshots_kept
                    .push((id, other.unwrap_or("unknown").to_owned())),
            }
        }
        Ok(Some(done))
    }
}

impl AmiCatalog for Ec2Adapter {
    async fn describe_ami(&self, ami: &AmiId) -> Result<Option<AmiFacts>> {
        describe(&self.client, ami, false).await
    }
}

/// DescribeImages of one AMI (`include_disabled`: a disabled AMI too, which EC2 leaves out by
/// default).
async fn describe(
    client: &Client,
    ami: &AmiId,
    include_disabled: bool,
) -> Result<Option<AmiFacts>> {
    {
        const OP: &str = "DescribeImages";
        let Some(out) = found(
            OP,
            client
                .describe_images()
                .image_ids(ami.as_str())
                .set_include_disabled(include_disabled.then_some(true))
                .send()
                .await,
            error_class,
        )?
        else {
            return Ok(None);
        };
        let Some(image) = out
            .images
            .unwrap_or_default()
            .into_iter()
            .find(|i| i.image_id.as_deref() == Some(ami.as_str()))
        else {
            return Ok(None);
        };
        // "Recently deregistered images appear in the returned results for a short interval"
        // (DescribeImages): such an AMI is gone.
        if image.state.as_ref().map(|s| s.as_str()) == Some("deregistered") {
            return Ok(None);
        }
        // One pass over the block device mappings: encrypted snapshots and EBS volume sizes.
        let mut encrypted_devices = Vec::new();
        let mut ebs_volumes = Vec::new();
        for mapping in image.block_device_mappings.unwrap_or_default() {
            let Some(ebs) = mapping.ebs else { continue };
            let device = mapping.device_name.unwrap_or_default();
            if ebs.encrypted == Some(true) {
                encrypted_devices.push(device.clone());
            }
            ebs_volumes.push((device, ebs.volume_size));
        }
        Ok(Some(AmiFacts {
            encrypted_devices,
            windows: image.platform == Some(aws_sdk_ec2::types::PlatformValues::Windows),
            platform_details: image.platform_details,
            marketplace_codes: image
                .product_codes
                .unwrap_or_default()
                .into_iter()
                .filter(|c| {
                    c.product_code_type == Some(aws_sdk_ec2::types::ProductCodeValues::Marketplace)
                })
                .filter_map(|c| c.product_code_id)
                .collect(),
            architecture: image.architecture.map(|a| a.as_str().to_owned()),
            boot_mode: image.boot_mode.map(|b| b.as_str().to_owned()),
            tpm_support: image.tpm_support.map(|t| t.as_str().to_owned()),
            ena_support: image.ena_support,
            ebs_volumes,
            state: image.state.map(|s| s.as_str().to_owned()),
            deprecation_time: image.deprecation_time,
            owner_id: image.owner_id,
            name: image.name,
            tags: image
                .tags
                .unwrap_or_default()
                .into_iter()
                .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
                .collect(),
        }))
    }
}

impl ImageExports for Ec2Adapter {
    async fn export_image(&self, request: &ExportImage) -> Result<ExportStarted> {
        const OP: &str = "ExportImage";
        let tags = TagSpecification::builder()
            .resource_type(ResourceType::ExportImageTask)
            .set_tags(Some(
                request
                    .tags
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .build();
        let result = self
            .client
            .export_image()
            .image_id(request.image_id.as_str())
            .disk_image_format(DiskImageFormat::from(request.format.as_str()))
            .s3_export_location(
                ExportTaskS3LocationRequest::builder()
                    .s3_bucket(request.bucket.as_str())
                    .s3_prefix(&request.prefix)
                    .build(),
            )
            .role_name(request.role_name.as_str())
            .client_token(request.client_token.as_str())
            .description(&request.description)
            .set_tag_specifications((!request.tags.is_empty()).then(|| vec![tags]))
            .dry_run(request.dry_run)
            .send()
            .await;
        match result {
            Ok(out) => to_task(
                out.export_image_task_id,
                out.status,
                out.progress,
                out.status_message,
                out.s3_export_location,
            )
            .map(ExportStarted::Task)
            .ok_or_else(|| missing(OP, "exportImageTaskId")),
            // With DryRun, EC2 answers "DryRunOperation" when the request would have succeeded.
            Err(err)
                if request.dry_run
                    && aws_sdk_ec2::error::ProvideErrorMetadata::code(&err)
                        == Some("DryRunOperation") =>
            {
                Ok(ExportStarted::DryRunOk)
            }
            Err(err) => Err(classify(OP, err, error_class)),
        }
    }

    async fn describe_export_task(&self, export_task_id: &str) -> Result<Option<ExportTask>> {
        const OP: &str = "DescribeExportImageTasks";
        let Some(out) = found(
            OP,
            self.client
                .describe_export_image_tasks()
                .export_image_task_ids(export_task_id)
                .send()
                .await,
            error_class,
        )?
        else {
            return Ok(None);
        };
        Ok(out
            .export_image_tasks
            .unwrap_or_default()
            .into_iter()
            .find(|t| t.export_image_task_id.as_deref() == Some(export_task_id))
            .and_then(|t| {
                to_task(
                    t.export_image_task_id,
                    t.status,
                    t.progress,
                    t.status_message,
                    t.s3_export_location,
                )
            }))
    }
}
