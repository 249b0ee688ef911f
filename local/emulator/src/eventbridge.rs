//! EventBridge PutEvents (awsJson1_1, `X-Amz-Target: AWSEvents.PutEvents`): the release events
//! publish-release puts on the release bus. Accepted entries go onto the emulator's event
//! channel, so the local release's bus routes them like any other event.
//!
//! From the API reference: 1–10 entries; each needs `Source`, `DetailType` and a `Detail` that is
//! a JSON object, or it fails alone (`FailedEntryCount`, the entry's `ErrorCode`) while the
//! others are accepted.

use crate::world::{World, now};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The key under which an event put with PutEvents carries its bus locally (stripped before a
/// function sees the event).
pub const LOCAL_BUS_KEY: &str = "x-local-event-bus";

pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
        json!({ "__type": code, "message": message }).to_string(),
    )
        .into_response()
}

pub(crate) fn handle(world: &mut World, region: &str, operation: &str, body: &[u8]) -> Response {
    if operation != "PutEvents" {
        return error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("the emulator does not implement EventBridge {operation}"),
        );
    }
    let Ok(input) = serde_json::from_slice::<Value>(body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "the body is not JSON",
        );
    };
    let entries = input["Entries"].as_array().cloned().unwrap_or_default();
    if entries.is_empty() || entries.len() > 10 {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            &format!(
                "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10 (got {})",
                entries.len()
            ),
        );
    }
    let mut failed = 0;
    let mut results = Vec::new();
    for entry in entries {
        let detail = entry["Detail"]
            .as_str()
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
            .filter(Value::is_object);
        let (Some(source), Some(detail_type), Some(detail)) = (
            entry["Source"].as_str(),
            entry["DetailType"].as_str(),
            detail,
        ) else {
            failed += 1;
            let code = if entry["Detail"].is_string() {
                "MalformedDetail"
            } else {
                "InvalidArgument"
            };
            results.push(json!({ "ErrorCode": code, "ErrorMessage": "Source, DetailType and a JSON object Detail are required" }));
            continue;
        };
        let id = uuid::Uuid::new_v4().to_string();
        world.counts.effect(&format!("event-put:{detail_type}"));
        world.publish(json!({
            "version": "0",
            "id": id,
            "detail-type": detail_type,
            "source": source,
            "account": world.config.account,
            "time": now(),
            "region": region,
            "resources": entry["Resources"].as_array().cloned().unwrap_or_default(),
            "detail": detail,
            // Local metadata, not part of an EventBridge event: the bus the entry was put on
            // (a name, or the last segment of an ARN), so only that bus's rules see it.
            LOCAL_BUS_KEY: entry["EventBusName"]
                .as_str()
                .and_then(|b| b.rsplit('/').next())
                .unwrap_or("default"),
        }));
        results.push(json!({ "EventId": id }));
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
        json!({ "FailedEntryCount": failed, "Entries": results }).to_string(),
    )
        .into_response()
}
