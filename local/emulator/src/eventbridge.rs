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

/// PutEvents' limit on a request's entries (see [`handle`]).
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// An entry's `Source` and `DetailType`, or why EventBridge fails the entry before it looks at
/// its detail (the entry's result).
fn source_and_type<'a>(
    entry: &'a Value,
    region: &str,
    account: &str,
) -> Result<(&'a str, &'a str), Value> {
    let fail =
        |code: &str, message: &str| Err(json!({ "ErrorCode": code, "ErrorMessage": message }));
    let source = entry["Source"].as_str().unwrap_or_default();
    let detail_type = entry["DetailType"].as_str().unwrap_or_default();
    if source.is_empty() {
        return fail(
            "InvalidArgument",
            "Parameter Source is not valid. Reason: Source is a required argument.",
        );
    }
    if detail_type.is_empty() {
        return fail(
            "InvalidArgument",
            "Parameter DetailType is not valid. Reason: DetailType is a required argument.",
        );
    }
    // "Customer-generated events can have any value here, as long as it doesn't begin with
    // "aws."" (the EventBridge events reference).
    if source.starts_with("aws.") {
        return fail(
            "NotAuthorizedForSourceException",
            "Not authorized for the source.",
        );
    }
    // DetailType: "Free-form string, with a maximum of 128 characters".
    if detail_type.chars().count() > 128 {
        return fail(
            "InvalidArgument",
            "Parameter DetailType is not valid. Reason: DetailType must be at most 128 characters.",
        );
    }
    // A bus named by ARN is that region's and that account's: another region's is refused as
    // EventBridge refuses cross-region calls; another account's is not emulated.
    let bus = entry["EventBusName"].as_str().unwrap_or_default();
    if let Some(rest) = bus.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let (bus_region, bus_account) = (parts.get(2).copied(), parts.get(3).copied());
        if bus_region != Some(region) {
            return fail("InvalidArgument", "Cross-region api call is not allowed.");
        }
        if bus_account != Some(account) {
            return fail(
                "AccessDeniedException",
                "The emulator holds no event bus of another account.",
            );
        }
    }
    Ok((source, detail_type))
}

/// An entry's `Time` (awsJson: seconds since the epoch) as an event's RFC 3339 `time`.
fn entry_time(value: &Value) -> Option<String> {
    let seconds = value.as_f64()?;
    aws_sdk_s3::primitives::DateTime::from_secs(seconds as i64)
        .fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime)
        .ok()
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
    // "The total entry size must be less than 1MB" (PutEvents, botocore 1.44's model; 256 KB in
    // older documentation), counted as the user guide says: Time 14 bytes when given, Source,
    // DetailType, Detail and each of Resources by their UTF-8 bytes. The whole request fails.
    let size: usize = entries
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().map_or(0, str::len);
            let resources: usize = e["Resources"].as_array().map_or(0, |r| {
                r.iter().filter_map(Value::as_str).map(str::len).sum()
            });
            usize::from(!e["Time"].is_null()) * 14
                + text("Source")
                + text("DetailType")
                + text("Detail")
                + resources
        })
        .sum();
    if size >= MAX_REQUEST_BYTES {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "Total size of the entries in the request is over the limit.",
        );
    }
    let mut failed = 0;
    let mut results = Vec::new();
    for entry in entries {
        let (source, detail_type) = match source_and_type(&entry, region, &world.config.account) {
            Ok(fields) => fields,
            Err(reason) => {
                failed += 1;
                results.push(reason);
                continue;
            }
        };
        let detail = entry["Detail"]
            .as_str()
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
            .filter(Value::is_object);
        let Some(detail) = detail else {
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
            // "If no time stamp is provided, the time stamp of the PutEvents call is used."
            "time": entry_time(&entry["Time"]).unwrap_or_else(now),
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
