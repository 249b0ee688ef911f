//! S3 adapter: release state records and artifact sizes.

use super::errors::{classify, found};
use crate::domain::BucketName;
use crate::error::{ErrorClass, ServiceError};
use crate::ports::{ArtifactStore, PutOutcome, Result};
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// S3's documented error codes for the calls made here.
pub fn error_class(code: &str) -> ErrorClass {
    match code {
        "NoSuchKey" | "NotFound" | "NoSuchBucket" => ErrorClass::NotFound,
        "PreconditionFailed" => ErrorClass::PreconditionFailed,
        // A concurrent conditional write to the same key: try again.
        "ConditionalRequestConflict" | "OperationAborted" => ErrorClass::InUse,
        "SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => {
            ErrorClass::Throttled
        }
        "InternalError" | "ServiceUnavailable" | "RequestTimeout" => ErrorClass::Transient,
        "AccessDenied" | "AllAccessDisabled" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" => {
            ErrorClass::AccessDenied
        }
        _ => ErrorClass::Other,
    }
}

#[derive(Debug, Clone)]
pub struct S3Adapter {
    client: Client,
    bucket: BucketName,
}

impl S3Adapter {
    pub fn new(config: &aws_config::SdkConfig, bucket: BucketName) -> Self {
        Self {
            client: Client::new(config),
            bucket,
        }
    }

    pub fn from_client(client: Client, bucket: BucketName) -> Self {
        Self { client, bucket }
    }

    fn body<T: Serialize>(operation: &'static str, value: &T) -> Result<ByteStream> {
        serde_json::to_vec_pretty(value)
            .map(ByteStream::from)
            .map_err(|e| {
                ServiceError::new(
                    operation,
                    ErrorClass::Invalid,
                    "SerializationError",
                    e.to_string(),
                )
            })
    }
}

impl ArtifactStore for S3Adapter {
    async fn get_json<T: DeserializeOwned + Send>(&self, key: &str) -> Result<Option<T>> {
        const OP: &str = "GetObject";
        let Some(out) = found(
            OP,
            self.client
                .get_object()
                .bucket(self.bucket.as_str())
                .key(key)
                .send()
                .await,
            error_class,
        )?
        else {
            return Ok(None);
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| {
                ServiceError::new(OP, ErrorClass::Transient, "BodyReadError", e.to_string())
            })?
            .into_bytes();
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            ServiceError::new(
                OP,
                ErrorClass::CorruptRecord,
                "CorruptRecord",
                format!("s3://{}/{key}: {e}", self.bucket),
            )
        })
    }

    async fn put_json<T: Serialize + Sync>(&self, key: &str, value: &T) -> Result<()> {
        const OP: &str = "PutObject";
        self.client
            .put_object()
            .bucket(self.bucket.as_str())
            .key(key)
            .content_type("application/json")
            .body(Self::body(OP, value)?)
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        Ok(())
    }

    async fn put_json_if_absent<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<PutOutcome> {
        const OP: &str = "PutObject";
        let result = self
            .client
            .put_object()
            .bucket(self.bucket.as_str())
            .key(key)
            .content_type("application/json")
            .if_none_match("*")
            .body(Self::body(OP, value)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(PutOutcome::Written),
            Err(err) => {
                let err = classify(OP, err, error_class);
                if err.is(ErrorClass::PreconditionFailed) {
                    Ok(PutOutcome::AlreadyExists)
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        const OP: &str = "DeleteObject";
        self.client
            .delete_object()
            .bucket(self.bucket.as_str())
            .key(key)
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        Ok(())
    }

    async fn list_keys(&self, prefix: &str) -> Result<Vec<String>> {
        const OP: &str = "ListObjectsV2";
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(self.bucket.as_str())
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(OP, e, error_class))?;
            keys.extend(
                page.contents
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|o| o.key),
            );
        }
        Ok(keys)
    }

    async fn object_size(&self, key: &str) -> Result<Option<u64>> {
        const OP: &str = "HeadObject";
        let result = self
            .client
            .head_object()
            .bucket(self.bucket.as_str())
            .key(key)
            .send()
            .await;
        Ok(found(OP, result, error_class)?
            .map(|out| out.content_length.unwrap_or_default().max(0).unsigned_abs()))
    }
}
