//! SSM adapter: the channels' parameters (`<prefix>/<image>/<channel>`), in whichever region a
//! channel's AMIs are, and their ownership tag. A client per region is built the first time that
//! region is asked for.

use super::RegionalClients;
use super::errors::{classify, found};
use crate::domain::{AmiId, RegionName};
use crate::error::{ErrorClass, ServiceError};
use crate::ports::{Parameters, Result};
use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{ParameterType, ResourceTypeForTagging, Tag};

/// The data type SSM validates as an AMI id that exists in the account and region.
pub const AMI_DATA_TYPE: &str = "aws:ec2:image";

/// The error codes botocore's SSM model documents for PutParameter, GetParameter and
/// DeleteParameter, and the common ones.
pub fn error_class(code: &str) -> ErrorClass {
    match code {
        "ThrottlingException" => ErrorClass::Throttled,
        // "There are concurrent updates for a resource that supports one update at a time."
        "TooManyUpdates" => ErrorClass::InUse,
        "InternalServerError" => ErrorClass::Transient,
        // ListTagsForResource on a parameter that does not exist answers InvalidResourceId.
        "ParameterNotFound" | "ParameterVersionNotFound" | "InvalidResourceId" => {
            ErrorClass::NotFound
        }
        "ParameterAlreadyExists" => ErrorClass::AlreadyExists,
        // The account's parameter quota (10,000 standard per region), or 100 versions whose
        // oldest has a label: an operator must act.
        "ParameterLimitExceeded"
        | "ParameterMaxVersionLimitExceeded"
        | "PoliciesLimitExceededException"
        | "TooManyTagsError" => ErrorClass::LimitExceeded,
        "HierarchyLevelLimitExceededException"
        | "HierarchyTypeMismatchException"
        | "InvalidAllowedPatternException"
        | "ParameterPatternMismatchException"
        | "UnsupportedParameterType"
        | "InvalidPolicyTypeException"
        | "InvalidPolicyAttributeException"
        | "IncompatiblePolicyException"
        | "InvalidKeyId"
        | "InvalidResourceType"
        | "ValidationException" => ErrorClass::Invalid,
        "AccessDeniedException" => ErrorClass::AccessDenied,
        _ => ErrorClass::Other,
    }
}

#[derive(Debug)]
pub struct SsmParameters {
    clients: RegionalClients<Client>,
}

impl SsmParameters {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            clients: RegionalClients::new(config, Client::new),
        }
    }

    fn client(&self, region: &RegionName) -> Client {
        self.clients.get(region.as_str())
    }

    /// PutParameter of an AMI id: a `String` of data type `aws:ec2:image`.
    fn put(
        &self,
        region: &RegionName,
        name: &str,
        ami: &AmiId,
    ) -> aws_sdk_ssm::operation::put_parameter::builders::PutParameterFluentBuilder {
        self.client(region)
            .put_parameter()
            .name(name)
            .value(ami.as_str())
            .r#type(ParameterType::String)
            .data_type(AMI_DATA_TYPE)
    }
}

impl Parameters for SsmParameters {
    async fn get(&self, region: &RegionName, name: &str) -> Result<Option<String>> {
        const OP: &str = "GetParameter";
        let answer = self.client(region).get_parameter().name(name).send().await;
        Ok(found(OP, answer, error_class)?
            .and_then(|out| out.parameter)
            .and_then(|p| p.value))
    }

    async fn tag(&self, region: &RegionName, name: &str, key: &str) -> Result<Option<String>> {
        const OP: &str = "ListTagsForResource";
        let out = self
            .client(region)
            .list_tags_for_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(name)
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        Ok(out
            .tag_list
            .unwrap_or_default()
            .into_iter()
            .find(|t| t.key == key)
            .map(|t| t.value))
    }

    async fn create_ami(
        &self,
        region: &RegionName,
        name: &str,
        ami: &AmiId,
        (key, value): (&str, &str),
    ) -> Result<()> {
        const OP: &str = "PutParameter";
        let tag = Tag::builder()
            .key(key)
            .value(value)
            .build()
            .map_err(|e| ServiceError::new(OP, ErrorClass::Invalid, "Tag", e.to_string()))?;
        self.put(region, name, ami)
            .tags(tag)
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        Ok(())
    }

    async fn put_ami(&self, region: &RegionName, name: &str, ami: &AmiId) -> Result<()> {
        const OP: &str = "PutParameter";
        self.put(region, name, ami)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        Ok(())
    }

    async fn delete(&self, region: &RegionName, name: &str) -> Result<()> {
        const OP: &str = "DeleteParameter";
        let answer = self
            .client(region)
            .delete_parameter()
            .name(name)
            .send()
            .await;
        found(OP, answer, error_class)?;
        Ok(())
    }
}
