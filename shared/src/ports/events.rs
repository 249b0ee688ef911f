//! EventBridge: the release events other teams' automation reacts to.

use super::*;

/// The `source` of every event this project puts on the bus.
pub const EVENT_SOURCE: &str = "image-release";

pub trait ReleaseEvents: Send + Sync {
    /// Puts one event on the release bus (`source` [`EVENT_SOURCE`]). `resources` are ARNs the
    /// event is about. At least once: a retried publish may put it again.
    fn put(
        &self,
        detail_type: &str,
        resources: &[String],
        detail: &serde_json::Value,
    ) -> impl Future<Output = Result<()>> + Send;
}
