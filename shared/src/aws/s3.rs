//! S3 adapter: release state records and artifact sizes.

use super::errors::{classify, found};
use crate::domain::BucketName;
use crate::error::{ErrorClass, ServiceError};
use crate::ports::{ArtifactStore, ObjectDigest, PutOutcome, Result, Versioned, hex};
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Digest;

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

/// The size of each ranged GET when hashing an object.
pub const HASH_RANGE_BYTES: u64 = 8 * 1024 * 1024;
/// Ranged GETs requested while the one before them is hashed. Each waits with its body unread,
/// held back by TCP flow control, so memory does not grow with the object or with this number
/// (see README "Checksums").
pub const HASH_AHEAD: usize = 3;

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

    async fn sha256(&self, key: &str) -> Result<Option<ObjectDigest>> {
        const OP: &str = "GetObject";
        let head = self
            .client
            .head_object()
            .bucket(self.bucket.as_str())
            .key(key)
            .send()
            .await;
        let Some(head) = found("HeadObject", head, error_class)? else {
            return Ok(None);
        };
        let size = head
            .content_length
            .unwrap_or_default()
            .max(0)
            .unsigned_abs();
        // Every range must come from the same object: a replaced object fails with 412 and the
        // caller hashes again.
        let etag = head.e_tag;
        let ranges = (0..size.div_ceil(HASH_RANGE_BYTES)).map(|i| {
            let start = i * HASH_RANGE_BYTES;
            let end = (start + HASH_RANGE_BYTES).min(size) - 1;
            format!("bytes={start}-{end}")
        });
        let mut responses = futures::stream::iter(ranges)
            .map(|range| {
                self.client
                    .get_object()
                    .bucket(self.bucket.as_str())
                    .key(key)
                    .range(range)
                    .set_if_match(etag.clone())
                    .send()
            })
            .buffered(HASH_AHEAD + 1);
        let mut hasher = sha2::Sha256::new();
        let mut read = 0u64;
        let body_error = |e: aws_sdk_s3::primitives::ByteStreamError| {
            ServiceError::new(OP, ErrorClass::Transient, "BodyReadError", e.to_string())
        };
        while let Some(response) = responses.next().await {
            let mut body = response.map_err(|e| classify(OP, e, error_class))?.body;
            while let Some(chunk) = body.try_next().await.map_err(body_error)? {
                hasher.update(&chunk);
                read += chunk.len() as u64;
            }
        }
        if read != size {
            return Err(ServiceError::new(
                OP,
                ErrorClass::Transient,
                "IncompleteBody",
                format!("s3://{}/{key}: read {read} of {size} bytes", self.bucket),
            ));
        }
        Ok(Some(ObjectDigest {
            size,
            sha256: hex(&hasher.finalize()),
        }))
    }

    async fn put_text(&self, key: &str, body: String, content_type: &str) -> Result<()> {
        const OP: &str = "PutObject";
        self.client
            .put_object()
            .bucket(self.bucket.as_str())
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body.into_bytes()))
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        Ok(())
    }

    async fn get_json_versioned<T: DeserializeOwned + Send>(
        &self,
        key: &str,
    ) -> Result<Option<Versioned<T>>> {
        const OP: &str = "GetObject";
        let result = self
            .client
            .get_object()
            .bucket(self.bucket.as_str())
            .key(key)
            .send()
            .await;
        let Some(out) = found(OP, result, error_class)? else {
            return Ok(None);
        };
        let etag = out.e_tag.clone().unwrap_or_default();
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| {
                ServiceError::new(OP, ErrorClass::Transient, "BodyReadError", e.to_string())
            })?
            .into_bytes();
        let value = serde_json::from_slice(&bytes).map_err(|e| {
            ServiceError::new(
                OP,
                ErrorClass::CorruptRecord,
                "CorruptRecord",
                format!("s3://{}/{key}: {e}", self.bucket),
            )
        })?;
        Ok(Some(Versioned { value, etag }))
    }

    async fn put_json_if_match<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
        etag: Option<&str>,
    ) -> Result<PutOutcome> {
        const OP: &str = "PutObject";
        let request = self
            .client
            .put_object()
            .bucket(self.bucket.as_str())
            .key(key)
            .content_type("application/json")
            .body(Self::body(OP, value)?);
        let request = match etag {
            Some(etag) => request.if_match(etag),
            None => request.if_none_match("*"),
        };
        // 412 (changed), 404 (If-Match on a key deleted meanwhile) and 409 (a concurrent
        // conditional write) all mean "someone else wrote": read again and retry.
        match request.send().await {
            Ok(_) => Ok(PutOutcome::Written),
            Err(err) => {
                let err = classify(OP, err, error_class);
                let conflict = [
                    ErrorClass::PreconditionFailed,
                    ErrorClass::NotFound,
                    ErrorClass::InUse,
                ];
                if conflict.iter().any(|c| err.is(*c)) {
                    Ok(PutOutcome::AlreadyExists)
                } else {
                    Err(err)
                }
            }
        }
    }
}
