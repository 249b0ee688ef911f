//! SSM adapter: the channels' parameters (`<prefix>/<image>/<channel>`), in whichever region a
//! channel's AMIs are. A client per region is built the first time that region is asked for.

use super::RegionalClients;
use super::errors::{classify, found};
use crate::domain::{AmiId, RegionName};
use crate::error::ErrorClass;
use crate::ports::{Parameters, Result};
use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::ParameterType;

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
        "ParameterNotFound" | "ParameterVersionNotFound" => ErrorClass::NotFound,
        "ParameterAlreadyExists" => ErrorClass::AlreadyExists,
        // The account's parameter quota (10,000 standard per region), or 100 versions whose
        // oldest has a label: an operator must act.
        "ParameterLimitExceeded"
        | "ParameterMaxVersionLimitExceeded"
        | "PoliciesLimitExceededException" => ErrorClass::LimitExceeded,
        "HierarchyLevelLimitExceededException"
        | "HierarchyTypeMismatchException"
        | "InvalidAllowedPatternException"
        | "ParameterPatternMismatchException"
        | "UnsupportedParameterType"
        | "InvalidPolicyTypeException"
        | "InvalidPolicyAttributeException"
        | "IncompatiblePolicyException"
        | "InvalidKeyId"
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
}

impl Parameters for SsmParameters {
    async fn get(&self, region: &RegionName, name: &str) -> Result<Option<String>> {
        const OP: &str = "GetParameter";
        let answer = self.client(region).get_parameter().name(name).send().await;
        Ok(found(OP, answer, error_class)?
            .and_then(|out| out.parameter)
            .and_then(|p| p.value))
    }

    async fn put_ami(&self, region: &RegionName, name: &str, ami: &AmiId) -> Result<()> {
        const OP: &str = "PutParameter";
        self.client(region)
            .put_parameter()
            .name(name)
            .value(ami.as_str())
            .r#type(ParameterType::String)
            .data_type(AMI_DATA_TYPE)
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
