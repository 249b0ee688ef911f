//! EventBridge adapter: release events on one bus (the stack's release bus).

use super::LazyClient;
use super::errors::classify;
use crate::domain::EventBusName;
use crate::error::{ErrorClass, ServiceError};
use crate::ports::{EVENT_SOURCE, ReleaseEvents, Result};
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

/// EventBridge's documented error codes for PutEvents (the operation's and the common ones),
/// and the `ErrorCode` of a failed entry.
pub fn error_class(code: &str) -> ErrorClass {
    match code {
        "ThrottlingException" | "ThrottledException" => ErrorClass::Throttled,
        "InternalException" | "InternalFailure" | "ServiceUnavailable" => ErrorClass::Transient,
        // The last two: a failed entry whose source or detail type the bus policy's
        // events:source / events:detail-type conditions refuse.
        "AccessDeniedException"
        | "NotAuthorized"
        | "NotAuthorizedForSourceException"
        | "NotAuthorizedForDetailTypeException" => ErrorClass::AccessDenied,
        "ResourceNotFoundException" => ErrorClass::NotFound,
        "ValidationException" | "InvalidArgument" | "MalformedDetail" => ErrorClass::Invalid,
        _ => ErrorClass::Other,
    }
}

#[derive(Debug, Clone)]
pub struct EventBridgeAdapter {
    client: LazyClient<Client>,
    bus: EventBusName,
}

impl EventBridgeAdapter {
    /// Puts on `bus`.
    pub fn new(config: &aws_config::SdkConfig, bus: EventBusName) -> Self {
        Self {
            client: LazyClient::new(config, Client::new),
            bus,
        }
    }

    pub fn from_client(client: Client, bus: EventBusName) -> Self {
        Self {
            client: LazyClient::ready(client, Client::new),
            bus,
        }
    }
}

impl ReleaseEvents for EventBridgeAdapter {
    async fn put(
        &self,
        detail_type: &str,
        resources: &[String],
        detail: &serde_json::Value,
    ) -> Result<()> {
        const OP: &str = "PutEvents";
        let entry = PutEventsRequestEntry::builder()
            .source(EVENT_SOURCE)
            .detail_type(detail_type)
            .set_resources(Some(resources.to_vec()))
            .detail(detail.to_string())
            .event_bus_name(self.bus.as_str())
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        // PutEvents answers 200 with per-entry failures: the one entry's code decides.
        if out.failed_entry_count > 0 {
            let failed = out.entries.unwrap_or_default().into_iter().next();
            let code = failed
                .as_ref()
                .and_then(|e| e.error_code.clone())
                .unwrap_or_else(|| "InternalFailure".to_owned());
            let message = failed
                .and_then(|e| e.error_message)
                .unwrap_or_else(|| "the entry was not accepted".to_owned());
            return Err(ServiceError::new(OP, error_class(&code), code, message));
        }
        Ok(())
    }
}
