//! CloudFront.

use super::*;

pub trait Cdn: Send + Sync {
    /// Creates an invalidation; the same `caller_reference` with the same paths returns the
    /// first invalidation's id, with other paths `AlreadyExists` (CloudFront's
    /// `InvalidationBatchAlreadyExists`).
    fn create_invalidation(
        &self,
        paths: &[String],
        caller_reference: &str,
    ) -> impl Future<Output = Result<String>> + Send;
}
