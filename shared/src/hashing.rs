//! SHA-256 in slices that survive a function's timeout: the hasher's state is saved between
//! invocations ([`HashState`], in the release's records) and resumed from the byte it reached,
//! on the same object (its ETag), so an artifact of any size is hashed by as many invocations as
//! it takes. sha2 0.11's `Sha256` serializes its state (digest's `SerializableState`: the
//! compression state, the byte count and the partial block), so a resumed hash is exactly the
//! one-shot hash.

use serde::{Deserialize, Serialize};
use sha2::Digest;
use sha2::digest::common::hazmat::SerializableState;

/// A hash cut off after `offset` bytes of the object whose ETag is `etag`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashState {
    pub etag: String,
    pub size: u64,
    pub offset: u64,
    /// The serialized `Sha256` state, hex.
    pub state: String,
}

/// Where a slice of hashing ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashSlice {
    /// The whole object is hashed.
    Done(crate::ports::ObjectDigest),
    /// The budget ran out first: resume from here.
    Partial(HashState),
}

/// One slice of hashing an object (`etag`, `size`): the bytes `start..end` to feed `hasher`.
pub struct Slice {
    pub hasher: sha2::Sha256,
    pub start: u64,
    pub end: u64,
    etag: String,
    size: u64,
}

impl Slice {
    /// The slice of at most `budget` bytes that follows `resume` when it is a state of this very
    /// object (same ETag and size), else the first. A saved state that does not deserialize is
    /// `CorruptRecord` (the message names `what`).
    pub fn next(
        resume: Option<&HashState>,
        etag: &str,
        size: u64,
        budget: u64,
        what: &str,
    ) -> Result<Self, crate::error::ServiceError> {
        let (hasher, start) = match resume.filter(|r| r.etag == etag && r.size == size) {
            Some(r) => (
                self::resume(Some(&r.state)).ok_or_else(|| {
                    crate::error::ServiceError::new(
                        "GetObject",
                        crate::error::ErrorClass::CorruptRecord,
                        "CorruptRecord",
                        format!("{what}: a saved hash state that does not resume"),
                    )
                })?,
                r.offset.min(size),
            ),
            None => (sha2::Sha256::new(), 0),
        };
        Ok(Self {
            hasher,
            start,
            end: start.saturating_add(budget.max(1)).min(size),
            etag: etag.to_owned(),
            size,
        })
    }

    /// The digest when the slice reached the end of the object, else the state to resume.
    pub fn finish(self) -> HashSlice {
        if self.end == self.size {
            HashSlice::Done(crate::ports::ObjectDigest {
                size: self.size,
                sha256: crate::ports::hex(&self.hasher.finalize()),
            })
        } else {
            HashSlice::Partial(HashState {
                state: save(&self.hasher),
                etag: self.etag,
                size: self.size,
                offset: self.end,
            })
        }
    }
}

/// A hasher that continues `state` (or starts afresh).
pub fn resume(state: Option<&str>) -> Option<sha2::Sha256> {
    let Some(hex) = state else {
        return Some(sha2::Sha256::new());
    };
    let bytes = crate::ports::unhex(hex)?;
    let serialized =
        sha2::digest::common::hazmat::SerializedState::<sha2::Sha256>::try_from(&bytes[..]).ok()?;
    sha2::Sha256::deserialize(&serialized).ok()
}

/// The hex of `hasher`'s state.
pub fn save(hasher: &sha2::Sha256) -> String {
    crate::ports::hex(&hasher.serialize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_hash_is_cut_anywhere_and_resumed_should_it_equal_the_one_shot_hash() {
        let data: Vec<u8> = (0..1_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = crate::ports::sha256_hex(&data);
        for cut in [0, 1, 63, 64, 65, 500, 999, 1000] {
            let mut first = resume(None).unwrap();
            first.update(&data[..cut]);
            let saved = save(&first);
            let mut second = resume(Some(&saved)).unwrap();
            second.update(&data[cut..]);
            assert_eq!(crate::ports::hex(&second.finalize()), whole, "cut at {cut}");
        }
    }

    #[test]
    fn when_a_saved_state_is_damaged_should_resume_refuse_it() {
        assert!(resume(Some("zz")).is_none());
        assert!(resume(Some("abc")).is_none());
        assert!(resume(Some("00")).is_none());
    }
}
