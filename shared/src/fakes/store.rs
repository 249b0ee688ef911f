//! The S3 fake (the artifact store).

use super::{Script, lock};
use crate::error::{ErrorClass, ServiceError};
use crate::ports::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The most keys one ListObjectsV2 page holds.
pub const S3_PAGE_KEYS: usize = 1_000;

#[derive(Debug, Default)]
pub struct FakeStore {
    pub script: Script,
    pub objects: Mutex<BTreeMap<String, Vec<u8>>>,
    /// Each object's tag set; a write replaces the object and drops its tags, as in S3.
    pub tags: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
    /// When set, every call yields to the runtime before it acts, as a call over the network
    /// would: two handlers run at once interleave their calls instead of one finishing first.
    pub yields: std::sync::atomic::AtomicBool,
    /// The key of every write a call made (PutObject, conditional or not, that wrote), in
    /// order; what tests seed with `put_raw`/`put_value` is not counted.
    pub written: Mutex<Vec<String>>,
    /// The prefix of each ListObjectsV2 page asked for, in order.
    pub listed: Mutex<Vec<String>>,
    /// Bytes hashed by `sha256_slice` so far (what a resumed hash saves).
    pub hashed_bytes: std::sync::atomic::AtomicU64,
}

impl FakeStore {
    pub fn json(&self, key: &str) -> Option<serde_json::Value> {
        lock(&self.objects)
            .get(key)
            .and_then(|b| serde_json::from_slice(b).ok())
    }
    pub fn put_raw(&self, key: &str, bytes: &[u8]) {
        lock(&self.objects).insert(key.into(), bytes.to_vec());
        lock(&self.tags).remove(key);
    }
    pub fn put_value<T: Serialize>(&self, key: &str, value: &T) {
        self.put_raw(key, &crate::ports::json_body(value));
    }
    pub fn keys(&self) -> Vec<String> {
        lock(&self.objects).keys().cloned().collect()
    }
    /// The keys that begin with `prefix`.
    pub fn keys_under(&self, prefix: &str) -> Vec<String> {
        lock(&self.objects)
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }
    /// The object at `key` as UTF-8 text.
    pub fn text(&self, key: &str) -> Option<String> {
        lock(&self.objects)
            .get(key)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
    /// A store whose calls yield (see `yields`).
    pub fn yielding(self) -> Self {
        self.yields
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self
    }
    /// How many writes of `key` calls made.
    pub fn writes_of(&self, key: &str) -> usize {
        lock(&self.written).iter().filter(|k| *k == key).count()
    }
    async fn enter(&self, operation: &'static str) -> Result<()> {
        if self.yields.load(std::sync::atomic::Ordering::Relaxed) {
            tokio::task::yield_now().await;
        }
        self.script.enter(operation)
    }
    fn wrote(&self, key: &str) {
        lock(&self.written).push(key.to_owned());
    }
    /// How many ListObjectsV2 pages of exactly `prefix` were asked for.
    pub fn pages_listed(&self, prefix: &str) -> usize {
        lock(&self.listed).iter().filter(|p| *p == prefix).count()
    }
    /// The tags of the object at `key` (empty when it has none).
    pub fn tags_of(&self, key: &str) -> BTreeMap<String, String> {
        lock(&self.tags).get(key).cloned().unwrap_or_default()
    }

    /// A pending release whose distribution record names `distributed` as the image its
    /// DistributeImage created (what distribute-image leaves behind).
    pub fn with_distributed_release(self, release: &str, source: &str, distributed: &str) -> Self {
        let id =
            crate::domain::ReleaseId::parse("release", release).unwrap_or_else(|e| panic!("{e}"));
        self.put_value(
            &crate::release::keys::pending(&id),
            &crate::release::PendingMarker {
                schema_version: crate::release::SCHEMA_VERSION,
                release_id: id.clone(),
                since: "2026-11-30T00:00:00Z".into(),
                source_image_arn: Some(source.into()),
            },
        );
        self.put_value(
            &crate::release::keys::distribution(&id),
            &crate::release::DistributionRecord {
                schema_version: crate::release::SCHEMA_VERSION,
                release_id: id.clone(),
                source_image_arn: source.into(),
                distribution_configuration_arn:
                    "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden"
                        .into(),
                distributed_image_arn: Some(distributed.into()),
                client_token: "t".into(),
                requested_at: "2026-11-30T00:00:00Z".into(),
            },
        );
        self
    }
}

impl ArtifactStore for FakeStore {
    async fn get_json<T: DeserializeOwned + Send>(&self, key: &str) -> Result<Option<T>> {
        self.enter("GetObject").await?;
        match lock(&self.objects).get(key) {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(bytes).map(Some).map_err(|e| {
                ServiceError::new(
                    "GetObject",
                    ErrorClass::CorruptRecord,
                    "CorruptRecord",
                    format!("s3://fake/{key}: {e}"),
                )
            }),
        }
    }

    async fn put_json<T: Serialize + Sync>(&self, key: &str, value: &T) -> Result<()> {
        self.enter("PutObject").await?;
        self.put_value(key, value);
        self.wrote(key);
        Ok(())
    }

    async fn put_json_if_absent<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<PutOutcome> {
        self.enter("PutObject").await?;
        let mut objects = lock(&self.objects);
        if objects.contains_key(key) {
            return Ok(PutOutcome::AlreadyExists);
        }
        objects.insert(key.into(), crate::ports::json_body(value));
        lock(&self.tags).remove(key);
        self.wrote(key);
        Ok(PutOutcome::Written)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.enter("DeleteObject").await?;
        lock(&self.objects).remove(key);
        lock(&self.tags).remove(key);
        Ok(())
    }

    /// The fake keeps one version of each object: deleting it for good deletes that one.
    async fn delete_every_version(&self, key: &str) -> Result<usize> {
        self.enter("ListObjectVersions").await?;
        let existed = lock(&self.objects).remove(key).is_some();
        lock(&self.tags).remove(key);
        Ok(usize::from(existed))
    }

    async fn tag_object(&self, key: &str, tags: &[(&str, &str)]) -> Result<()> {
        self.enter("PutObjectTagging").await?;
        if !lock(&self.objects).contains_key(key) {
            return Err(ServiceError::new(
                "PutObjectTagging",
                ErrorClass::NotFound,
                "NoSuchKey",
                format!("no object {key}"),
            ));
        }
        lock(&self.tags).insert(
            key.into(),
            tags.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        Ok(())
    }

    /// Pages as S3 does: ListObjectsV2 returns at most 1,000 keys (`MaxKeys`' default and
    /// limit), so each page is a call of its own that can fail, after the earlier pages were
    /// read. An empty listing is one call.
    async fn list_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let keys = self.keys_under(prefix);
        for _page in 0..keys.len().div_ceil(S3_PAGE_KEYS).max(1) {
            lock(&self.listed).push(prefix.to_owned());
            self.enter("ListObjectsV2").await?;
        }
        Ok(keys)
    }

    async fn read_bytes(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.enter("GetObject").await?;
        Ok(lock(&self.objects).get(key).cloned())
    }

    async fn object_size(&self, key: &str) -> Result<Option<u64>> {
        self.enter("HeadObject").await?;
        Ok(lock(&self.objects).get(key).map(|b| b.len() as u64))
    }

    async fn sha256(&self, key: &str) -> Result<Option<ObjectDigest>> {
        self.enter("GetObject").await?;
        Ok(lock(&self.objects).get(key).map(|b| ObjectDigest {
            size: b.len() as u64,
            sha256: sha256_hex(b),
        }))
    }

    async fn sha256_slice(
        &self,
        key: &str,
        resume: Option<&crate::hashing::HashState>,
        budget: u64,
    ) -> Result<Option<crate::hashing::HashSlice>> {
        use sha2::Digest;
        self.enter("GetObject").await?;
        let Some(bytes) = lock(&self.objects).get(key).cloned() else {
            return Ok(None);
        };
        let etag = sha256_hex(&bytes);
        let mut slice =
            crate::hashing::Slice::next(resume, &etag, bytes.len() as u64, budget, key)?;
        slice
            .hasher
            .update(&bytes[slice.start as usize..slice.end as usize]);
        self.hashed_bytes.fetch_add(
            slice.end - slice.start,
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(Some(slice.finish()))
    }

    async fn put_text(&self, key: &str, body: String, content_type: &str) -> Result<()> {
        self.put_bytes(key, body.into_bytes(), content_type).await
    }

    async fn put_bytes(&self, key: &str, body: Vec<u8>, _content_type: &str) -> Result<()> {
        self.enter("PutObject").await?;
        lock(&self.objects).insert(key.into(), body);
        lock(&self.tags).remove(key);
        self.wrote(key);
        Ok(())
    }

    async fn get_json_versioned<T: DeserializeOwned + Send>(
        &self,
        key: &str,
    ) -> Result<Option<Versioned<T>>> {
        self.enter("GetObject").await?;
        let objects = lock(&self.objects);
        let Some(bytes) = objects.get(key) else {
            return Ok(None);
        };
        let value = serde_json::from_slice(bytes).map_err(|e| {
            ServiceError::new(
                "GetObject",
                ErrorClass::CorruptRecord,
                "CorruptRecord",
                e.to_string(),
            )
        })?;
        Ok(Some(Versioned {
            value,
            etag: sha256_hex(bytes),
        }))
    }

    async fn put_json_if_match<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
        etag: Option<&str>,
    ) -> Result<PutOutcome> {
        self.enter("PutObject").await?;
        let mut objects = lock(&self.objects);
        let current = objects.get(key).map(|b| sha256_hex(b));
        if current.as_deref() != etag {
            return Ok(PutOutcome::AlreadyExists);
        }
        objects.insert(key.into(), crate::ports::json_body(value));
        lock(&self.tags).remove(key);
        self.wrote(key);
        Ok(PutOutcome::Written)
    }
}
