//! AppStream 2.0 adapter (Smithy RPC v2 CBOR). AppStream is regional: one client per region,
//! each built from the shared configuration the first time that region is called.

use super::LazyClient;
use super::errors::{classify, found};
use crate::domain::{AppStreamImageName, RegionName};
use crate::error::{ErrorClass, ServiceError};
use crate::ports::{AppStreamImage, AppStreamImages, CopyImage, ImportImage, Result};
use aws_sdk_appstream::Client;
use std::collections::{BTreeMap, HashMap};

/// AppStream's documented error codes for the calls made here.
pub fn error_class(code: &str) -> ErrorClass {
    match code {
        "ResourceAlreadyExistsException" => ErrorClass::AlreadyExists,
        "ResourceNotFoundException" => ErrorClass::NotFound,
        "ResourceNotAvailableException" => ErrorClass::NotAvailable,
        "LimitExceededException" => ErrorClass::LimitExceeded,
        "ConcurrentModificationException" | "ResourceInUseException" => ErrorClass::InUse,
        "IncompatibleImageException"
        | "InvalidRoleException"
        | "InvalidParameterCombinationException"
        | "DryRunOperationException"
        | "InvalidAccountStatusException"
        | "ValidationException" => ErrorClass::Invalid,
        "OperationNotPermittedException" | "AccessDeniedException" => ErrorClass::AccessDenied,
        "ThrottlingException" | "TooManyRequestsException" => ErrorClass::Throttled,
        "ServiceUnavailableException" | "InternalServiceError" | "InternalFailure" => {
            ErrorClass::Transient
        }
        _ => ErrorClass::Other,
    }
}

#[derive(Debug, Clone)]
pub struct AppStreamAdapter {
    home: RegionName,
    clients: HashMap<RegionName, LazyClient<Client>>,
}

impl AppStreamAdapter {
    /// One client for the home region and one for each destination region.
    pub fn new(
        config: &aws_config::SdkConfig,
        home: &RegionName,
        destinations: &[RegionName],
    ) -> Self {
        let clients = std::iter::once(home)
            .chain(destinations)
            .map(|region| {
                let regional = super::regional(config, region.as_str());
                (region.clone(), LazyClient::new(&regional, Client::new))
            })
            .collect();
        Self {
            home: home.clone(),
            clients,
        }
    }

    pub fn from_clients(home: RegionName, clients: HashMap<RegionName, Client>) -> Self {
        let clients = clients
            .into_iter()
            .map(|(region, client)| (region, LazyClient::ready(client, Client::new)))
            .collect();
        Self { home, clients }
    }

    fn client(&self, operation: &'static str, region: &RegionName) -> Result<&Client> {
        self.clients.get(region).map(|c| &**c).ok_or_else(|| {
            ServiceError::new(
                operation,
                ErrorClass::Invalid,
                "UnconfiguredRegion",
                format!("no AppStream client for region {region}"),
            )
        })
    }
}

fn to_image(image: aws_sdk_appstream::types::Image) -> AppStreamImage {
    AppStreamImage {
        name: image.name.unwrap_or_default(),
        arn: image.arn,
        state: image
            .state
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        state_reason: image.state_change_reason.and_then(|r| r.message),
        description: image.description,
        visibility: image.visibility.map(|v| v.as_str().to_owned()),
        image_builder_name: image.image_builder_name,
    }
}

impl AppStreamImages for AppStreamAdapter {
    async fn describe_image(
        &self,
        region: &RegionName,
        name: &AppStreamImageName,
    ) -> Result<Option<AppStreamImage>> {
        const OP: &str = "DescribeImages";
        let result = self
            .client(OP, region)?
            .describe_images()
            .names(name.as_str())
            .send()
            .await;
        Ok(found(OP, result, error_class)?.and_then(|out| {
            out.images
                .unwrap_or_default()
                .into_iter()
                .map(to_image)
                .find(|i| i.name == name.as_str())
        }))
    }

    async fn create_imported_image(&self, request: &ImportImage) -> Result<AppStreamImage> {
        const OP: &str = "CreateImportedImage";
        let out = self
            .client(OP, &self.home)?
            .create_imported_image()
            .name(request.name.as_str())
            .source_ami_id(request.source_ami.as_str())
            .iam_role_arn(request.role.as_str())
            .set_description(request.description.as_ref().map(|d| d.as_str().to_owned()))
            .set_tags(
                (!request.tags.is_empty())
                    .then(|| request.tags.clone().into_iter().collect::<HashMap<_, _>>()),
            )
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        Ok(out.image.map(to_image).unwrap_or_else(|| AppStreamImage {
            name: request.name.as_str().to_owned(),
            arn: None,
            state: "PENDING".to_owned(),
            state_reason: None,
            description: request.description.as_ref().map(|d| d.as_str().to_owned()),
            visibility: None,
            image_builder_name: None,
        }))
    }

    async fn copy_image(&self, request: &CopyImage) -> Result<()> {
        const OP: &str = "CopyImage";
        self.client(OP, &self.home)?
            .copy_image()
            .source_image_name(request.source_image_name.as_str())
            .destination_image_name(request.destination_image_name.as_str())
            .destination_region(request.destination_region.as_str())
            .set_destination_image_description(
                request.description.as_ref().map(|d| d.as_str().to_owned()),
            )
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        Ok(())
    }

    async fn delete_image(&self, region: &RegionName, name: &AppStreamImageName) -> Result<bool> {
        const OP: &str = "DeleteImage";
        let answer = self
            .client(OP, region)?
            .delete_image()
            .name(name.as_str())
            .send()
            .await;
        Ok(found(OP, answer, error_class)?.is_some())
    }

    async fn list_tags(&self, region: &RegionName, arn: &str) -> Result<BTreeMap<String, String>> {
        const OP: &str = "ListTagsForResource";
        let out = self
            .client(OP, region)?
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        Ok(out.tags.unwrap_or_default().into_iter().collect())
    }

    async fn tag_resource(
        &self,
        region: &RegionName,
        arn: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        const OP: &str = "TagResource";
        self.client(OP, region)?
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        Ok(())
    }
}
