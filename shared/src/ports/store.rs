//! S3: the release records and artifacts.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Written,
    /// A conditional write found the key there already: someone else wrote first.
    AlreadyExists,
}

/// An object's size and SHA-256 (lower-case hex), read back from the store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObjectDigest {
    pub size: u64,
    pub sha256: String,
}

/// A JSON document and the ETag it was read with, for a conditional update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub etag: String,
}

/// SHA-256 of bytes as lower-case hex (what `sha256sum` prints).
/// The largest record or document (JSON, a signature, a public key) the functions read whole:
/// 16 MiB, far above any the stack writes (the catalog's index of 100,000 releases is under
/// 2 MB) and far below a 128 MB function's memory.
pub const MAX_DOCUMENT_BYTES: u64 = 16 * 1024 * 1024;

/// The bytes a JSON document is stored as (pretty-printed): one serialization for every store,
/// so that a digest computed from a value is the digest of the object written from it.
pub fn json_body<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

/// The SHA-256 of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

/// The bytes of `hex` (two digits a byte), or `None` when it is not hex.
pub fn unhex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
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
    /// Deletes the object at `key` for good: every version of it and every delete marker (in
    /// a versioned bucket a plain delete only adds a marker, and the bytes stay stored, and
    /// billed, until the noncurrent-version rule expires them). How many were deleted.
    fn delete_every_version(&self, key: &str) -> impl Future<Output = Result<usize>> + Send;
    /// Every key under `prefix`.
    fn list_keys(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// The bytes of a small object at `key` (a document, a record, a signature; at most
    /// [`MAX_DOCUMENT_BYTES`], a larger one is `ErrorClass::CorruptRecord`), or `None`.
    fn read_bytes(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;
    /// The size of the object at `key`, or `None`.
    fn object_size(&self, key: &str) -> impl Future<Output = Result<Option<u64>>> + Send;
    /// Size and SHA-256 of the object at `key`, streamed (memory does not grow with the size),
    /// or `None` when there is no object.
    fn sha256(&self, key: &str) -> impl Future<Output = Result<Option<ObjectDigest>>> + Send;
    /// Hashes the object at `key` from `resume` (a state saved by an earlier slice, or the first
    /// byte) until the object ends or `budget` more bytes were read, on one version of the
    /// object: a `resume` of another version (its ETag changed) starts again from the first
    /// byte. `None` when there is no object.
    fn sha256_slice(
        &self,
        key: &str,
        resume: Option<&crate::hashing::HashState>,
        budget: u64,
    ) -> impl Future<Output = Result<Option<crate::hashing::HashSlice>>> + Send;
    /// Writes a text object (`SHA256SUMS`, `index.html`).
    fn put_text(
        &self,
        key: &str,
        body: String,
        content_type: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Writes a binary object (a detached signature).
    fn put_bytes(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Replaces the tag set of the object at `key` (S3 PutObjectTagging). A missing object is
    /// `ErrorClass::NotFound`.
    fn tag_object(
        &self,
        key: &str,
        tags: &[(&str, &str)],
    ) -> impl Future<Output = Result<()>> + Send;
    /// The JSON document at `key` with its ETag, or `None`.
    fn get_json_versioned<T: DeserializeOwned + Send>(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Versioned<T>>>> + Send;
    /// Writes only if the object is still the one read with `etag` (`If-Match`), or, for
    /// `None`, if there is none yet (`If-None-Match: *`). `AlreadyExists` means someone else
    /// wrote in between: read again and retry.
    fn put_json_if_match<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
        etag: Option<&str>,
    ) -> impl Future<Output = Result<PutOutcome>> + Send;
}
