//! CloudFront adapter: invalidations of the published manifest.

use super::LazyClient;
use super::errors::{classify, missing};
use crate::error::{ErrorClass, ServiceError};
use crate::ports::{Cdn, Result};
use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};

/// CloudFront's documented error codes for CreateInvalidation.
pub fn error_class(code: &str) -> ErrorClass {
    match code {
        "TooManyInvalidationsInProgress" | "Throttling" => ErrorClass::Throttled,
        "ServiceUnavailable" | "InternalError" => ErrorClass::Transient,
        "NoSuchDistribution" => ErrorClass::NotFound,
        "AccessDenied" => ErrorClass::AccessDenied,
        // The caller reference was used before with other paths.
        "InvalidationBatchAlreadyExists" => ErrorClass::AlreadyExists,
        "InvalidArgument" | "MissingBody" | "InconsistentQuantities" | "BatchTooLarge" => {
            ErrorClass::Invalid
        }
        _ => ErrorClass::Other,
    }
}

#[derive(Debug, Clone)]
pub struct CloudFrontAdapter {
    client: LazyClient<Client>,
    distribution_id: String,
}

impl CloudFrontAdapter {
    pub fn new(config: &aws_config::SdkConfig, distribution_id: String) -> Self {
        Self {
            client: LazyClient::new(config, Client::new),
            distribution_id,
        }
    }

    pub fn from_client(client: Client, distribution_id: String) -> Self {
        Self {
            client: LazyClient::ready(client, Client::new),
            distribution_id,
        }
    }
}

impl Cdn for CloudFrontAdapter {
    async fn create_invalidation(
        &self,
        paths: &[String],
        caller_reference: &str,
    ) -> Result<String> {
        const OP: &str = "CreateInvalidation";
        let invalid = |e: aws_smithy_types::error::operation::BuildError| {
            ServiceError::new(OP, ErrorClass::Invalid, "BuildError", e.to_string())
        };
        let paths = Paths::builder()
            .quantity(i32::try_from(paths.len()).unwrap_or(i32::MAX))
            .set_items(Some(paths.to_vec()))
            .build()
            .map_err(invalid)?;
        let batch = InvalidationBatch::builder()
            .paths(paths)
            .caller_reference(caller_reference)
            .build()
            .map_err(invalid)?;
        let out = self
            .client
            .create_invalidation()
            .distribution_id(&self.distribution_id)
            .invalidation_batch(batch)
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        out.invalidation
            .map(|i| i.id)
            .ok_or_else(|| missing(OP, "Invalidation"))
    }
}
