//! CloudFront.

use super::*;

pub trait Cdn: Send + Sync {
    /// Creates an invalidation; the same `caller_reference` returns the first invalidation's id.
    fn create_invalidation(
        &self,
        paths: &[String],
        caller_reference: &str,
    ) -> impl Future<Output = Result<String>> + Send;
}
