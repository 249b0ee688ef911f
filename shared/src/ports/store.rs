//! S3: the release records and artifacts.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Written,
    /// A conditional write found the key there already: someone else wrote first.
    AlreadyExists,
}

pub trait ArtifactStore: Send + Sync {
    /// The JSON document at `key`, or `None`.
    fn get_json<T: DeserializeOwned + Send>(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<T>>> + Send;
    fn put_json<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Writes only if nothing is at `key` yet (S3 `If-None-Match: *`).
    fn put_json_if_absent<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
    ) -> impl Future<Output = Result<PutOutcome>> + Send;
    fn delete(&self, key: &str) -> impl Future<Output = Result<()>> + Send;
    /// Every key under `prefix`.
    fn list_keys(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// The size of the object at `key`, or `None`.
    fn object_size(&self, key: &str) -> impl Future<Output = Result<Option<u64>>> + Send;
}
