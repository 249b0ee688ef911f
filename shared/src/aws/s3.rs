//! S3 adapter: release state records and artifact sizes.

use super::LazyClient;
use super::errors::{classify, found};
use crate::domain::BucketName;
use crate::error::{ErrorClass, ServiceError};
use crate::hashing::{HashSlice, HashState};
use crate::ports::{ArtifactStore, ObjectDigest, PutOutcome, Result, Versioned, hex};
use aws_sdk_s3::Client;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Tag, Tagging};
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
/// (see "Checksums" in docs/src/publishes.md).
pub const HASH_AHEAD: usize = 3;

#[derive(Debug, Clone)]
pub struct S3Adapter {
    client: LazyClient<Client>,
    bucket: BucketName,
}

impl S3Adapter {
    pub fn new(config: &aws_config::SdkConfig, bucket: BucketName) -> Self {
        Self {
            client: LazyClient::new(config, Client::new),
            bucket,
        }
    }

    pub fn from_client(client: Client, bucket: BucketName) -> Self {
        Self {
            client: LazyClient::ready(client, Client::new),
            bucket,
        }
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        self.bucket.as_str()
    }

    /// When S3 last wrote the object at `key` (its `Last-Modified`, S3's clock, not the
    /// caller's); `None` when there is no object.
    pub async fn last_modified(&self, key: &str) -> Result<Option<std::time::SystemTime>> {
        Ok(self
            .head(key)
            .await?
            .and_then(|h| h.last_modified)
            .and_then(|at| std::time::SystemTime::try_from(at).ok()))
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

    /// GetObject of a whole (small) object: its bytes and ETag, or `None`.
    async fn get_bytes(&self, key: &str) -> Result<Option<(Vec<u8>, Option<String>)>> {
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
        // A record, a catalog page, a signature: never the size of a disk. One that is (planted,
        // or gone wrong) is refused before it is read, so it cannot exhaust a 128 MB function
        // and stop every tick.
        let size = out.content_length.unwrap_or_default();
        if u64::try_from(size).unwrap_or(u64::MAX) > crate::ports::MAX_DOCUMENT_BYTES {
            return Err(ServiceError::new(
                OP,
                ErrorClass::CorruptRecord,
                "DocumentTooLarge",
                format!(
                    "s3://{}/{key} is {size} bytes; a record or document is at most {} bytes",
                    self.bucket,
                    crate::ports::MAX_DOCUMENT_BYTES
                ),
            ));
        }
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| {
                ServiceError::new(OP, ErrorClass::Transient, "BodyReadError", e.to_string())
            })?
            .into_bytes();
        Ok(Some((bytes.to_vec(), out.e_tag)))
    }

    /// One of our records, parsed; a record that is not its type names its key.
    fn parse<T: DeserializeOwned>(&self, key: &str, bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| {
            ServiceError::new(
                "GetObject",
                ErrorClass::CorruptRecord,
                "CorruptRecord",
                format!("s3://{}/{key}: {e}", self.bucket),
            )
        })
    }

    /// PutObject, unconditional or conditional; `conflicts` are the error classes that mean
    /// "someone else wrote first" (answered as [`PutOutcome::AlreadyExists`]).
    async fn put(
        &self,
        key: &str,
        body: ByteStream,
        content_type: &str,
        condition: Condition<'_>,
    ) -> Result<PutOutcome> {
        const OP: &str = "PutObject";
        let request = self
            .client
            .put_object()
            .bucket(self.bucket.as_str())
            .key(key)
            .content_type(content_type)
            .body(body);
        let (request, conflicts): (_, &[ErrorClass]) = match condition {
            Condition::None => (request, &[]),
            Condition::Absent => (
                request.if_none_match("*"),
                &[ErrorClass::PreconditionFailed],
            ),
            // In a read-change-write loop, 412 (changed), 404 (If-Match on a key deleted
            // meanwhile) and 409 (a concurrent conditional write) all mean "someone else wrote":
            // the caller reads again and retries.
            Condition::Update(etag) => (
                match etag {
                    Some(etag) => request.if_match(etag),
                    None => request.if_none_match("*"),
                },
                &[
                    ErrorClass::PreconditionFailed,
                    ErrorClass::NotFound,
                    ErrorClass::InUse,
                ],
            ),
        };
        match request.send().await {
            Ok(_) => Ok(PutOutcome::Written),
            Err(err) => {
                let err = classify(OP, err, error_class);
                if conflicts.iter().any(|c| err.is(*c)) {
                    Ok(PutOutcome::AlreadyExists)
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn head(&self, key: &str) -> Result<Option<HeadObjectOutput>> {
        let result = self
            .client
            .head_object()
            .bucket(self.bucket.as_str())
            .key(key)
            .send()
            .await;
        found("HeadObject", result, error_class)
    }
}

/// The precondition of a PutObject.
enum Condition<'a> {
    None,
    /// `If-None-Match: *`, for a record with one writer: the first write wins.
    Absent,
    /// `If-Match: <etag>` of the version read, or `If-None-Match: *` when there was none.
    Update(Option<&'a str>),
}

fn size_of(head: &HeadObjectOutput) -> u64 {
    head.content_length
        .unwrap_or_default()
        .max(0)
        .unsigned_abs()
}

impl S3Adapter {
    /// The tag set of the object at `key` (GetObjectTagging); `None` when there is no object.
    pub async fn object_tags(
        &self,
        key: &str,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>> {
        const OP: &str = "GetObjectTagging";
        let answer = self
            .client
            .get_object_tagging()
            .bucket(self.bucket.as_str())
            .key(key)
            .send()
            .await;
        Ok(found(OP, answer, error_class)?
            .map(|out| out.tag_set.into_iter().map(|t| (t.key, t.value)).collect()))
    }
}

impl S3Adapter {
    /// [`ArtifactStore::sha256`], calling `progress(bytes hashed, size)` after every chunk (the
    /// operator CLI's progress bar).
    pub async fn sha256_with_progress(
        &self,
        key: &str,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Option<ObjectDigest>> {
        let Some(head) = self.head(key).await? else {
            return Ok(None);
        };
        let size = size_of(&head);
        let mut hasher = sha2::Sha256::new();
        self.hash_ranges(key, head.e_tag, &mut hasher, 0, size, progress)
            .await?;
        Ok(Some(ObjectDigest {
            size,
            sha256: hex(&hasher.finalize()),
        }))
    }

    /// Feeds bytes `start..end` of the object at `key` into `hasher`: ranged GETs of
    /// [`HASH_RANGE_BYTES`], [`HASH_AHEAD`] requested ahead of the one being hashed, each with
    /// `If-Match: etag` so that every range comes from the same object (a replaced object fails
    /// with 412 instead of mixing two objects).
    async fn hash_ranges(
        &self,
        key: &str,
        etag: Option<String>,
        hasher: &mut sha2::Sha256,
        start: u64,
        end: u64,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<()> {
        const OP: &str = "GetObject";
        let ranges = (0..(end - start).div_ceil(HASH_RANGE_BYTES)).map(|i| {
            let from = start + i * HASH_RANGE_BYTES;
            let to = (from + HASH_RANGE_BYTES).min(end) - 1;
            format!("bytes={from}-{to}")
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
        let mut read = start;
        let body_error = |e: aws_sdk_s3::primitives::ByteStreamError| {
            ServiceError::new(OP, ErrorClass::Transient, "BodyReadError", e.to_string())
        };
        while let Some(response) = responses.next().await {
            let mut body = response.map_err(|e| classify(OP, e, error_class))?.body;
            while let Some(chunk) = body.try_next().await.map_err(body_error)? {
                hasher.update(&chunk);
                read += chunk.len() as u64;
                progress(read, end);
            }
        }
        if read != end {
            return Err(ServiceError::new(
                OP,
                ErrorClass::Transient,
                "IncompleteBody",
                format!(
                    "s3://{}/{key}: read up to byte {read}, not {end}",
                    self.bucket
                ),
            ));
        }
        Ok(())
    }
}

impl ArtifactStore for S3Adapter {
    async fn get_json<T: DeserializeOwned + Send>(&self, key: &str) -> Result<Option<T>> {
        match self.get_bytes(key).await? {
            Some((bytes, _)) => self.parse(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn put_json<T: Serialize + Sync>(&self, key: &str, value: &T) -> Result<()> {
        let body = Self::body("PutObject", value)?;
        self.put(key, body, "application/json", Condition::None)
            .await
            .map(|_| ())
    }

    async fn put_json_if_absent<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<PutOutcome> {
        let body = Self::body("PutObject", value)?;
        self.put(key, body, "application/json", Condition::Absent)
            .await
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

    async fn delete_every_version(&self, key: &str) -> Result<usize> {
        const LIST: &str = "ListObjectVersions";
        const DELETE: &str = "DeleteObject";
        // Versions and delete markers of exactly `key` (the prefix also lists longer keys), one
        // page of up to 1,000 at a time with S3's two markers.
        let mut ids = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(self.bucket.as_str())
                .prefix(key)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| classify(LIST, e, error_class))?;
            let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
            let markers = page
                .delete_markers()
                .iter()
                .map(|m| (m.key(), m.version_id()));
            ids.extend(
                versions
                    .chain(markers)
                    .filter(|(k, _)| *k == Some(key))
                    .filter_map(|(_, id)| id.map(str::to_owned)),
            );
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
            if key_marker.is_none() && version_marker.is_none() {
                break;
            }
        }
        for id in &ids {
            self.client
                .delete_object()
                .bucket(self.bucket.as_str())
                .key(key)
                .version_id(id)
                .send()
                .await
                .map_err(|e| classify(DELETE, e, error_class))?;
        }
        Ok(ids.len())
    }

    async fn tag_object(&self, key: &str, tags: &[(&str, &str)]) -> Result<()> {
        const OP: &str = "PutObjectTagging";
        let invalid = |e: aws_sdk_s3::error::BuildError| {
            ServiceError::new(OP, ErrorClass::Invalid, "InvalidTag", e.to_string())
        };
        let tag_set = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(*k).value(*v).build().map_err(invalid))
            .collect::<Result<Vec<_>>>()?;
        self.client
            .put_object_tagging()
            .bucket(self.bucket.as_str())
            .key(key)
            .tagging(
                Tagging::builder()
                    .set_tag_set(Some(tag_set))
                    .build()
                    .map_err(invalid)?,
            )
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

    async fn read_bytes(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.get_bytes(key).await?.map(|(bytes, _)| bytes))
    }

    async fn object_size(&self, key: &str) -> Result<Option<u64>> {
        Ok(self.head(key).await?.as_ref().map(size_of))
    }

    async fn sha256(&self, key: &str) -> Result<Option<ObjectDigest>> {
        self.sha256_with_progress(key, &|_, _| {}).await
    }

    async fn sha256_slice(
        &self,
        key: &str,
        resume: Option<&HashState>,
        budget: u64,
    ) -> Result<Option<HashSlice>> {
        let Some(head) = self.head(key).await? else {
            return Ok(None);
        };
        let size = size_of(&head);
        let etag = head.e_tag.clone().unwrap_or_default();
        let what = format!("s3://{}/{key}", self.bucket);
        let mut slice = crate::hashing::Slice::next(resume, &etag, size, budget, &what)?;
        let (start, end) = (slice.start, slice.end);
        self.hash_ranges(key, head.e_tag, &mut slice.hasher, start, end, &|_, _| {})
            .await?;
        Ok(Some(slice.finish()))
    }

    async fn put_text(&self, key: &str, body: String, content_type: &str) -> Result<()> {
        self.put_bytes(key, body.into_bytes(), content_type).await
    }

    async fn put_bytes(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<()> {
        self.put(key, ByteStream::from(body), content_type, Condition::None)
            .await
            .map(|_| ())
    }

    async fn get_json_versioned<T: DeserializeOwned + Send>(
        &self,
        key: &str,
    ) -> Result<Option<Versioned<T>>> {
        let Some((bytes, etag)) = self.get_bytes(key).await? else {
            return Ok(None);
        };
        Ok(Some(Versioned {
            value: self.parse(key, &bytes)?,
            etag: etag.unwrap_or_default(),
        }))
    }

    async fn put_json_if_match<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
        etag: Option<&str>,
    ) -> Result<PutOutcome> {
        let body = Self::body("PutObject", value)?;
        self.put(key, body, "application/json", Condition::Update(etag))
            .await
    }
}
