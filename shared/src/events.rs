//! Typed trigger events. Each handler takes the raw JSON and parses it here, so a malformed event
//! becomes an `InvalidEvent` error that names the field, instead of an opaque runtime failure.

use crate::domain::{ImageBuildVersionArn, ImagePipelineArn, ReleaseId, ReleaseVersion};
use crate::error::ValidationError;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub const IMAGE_BUILDER_SOURCE: &str = "aws.imagebuilder";
pub const IMAGE_STATE_CHANGE: &str = "EC2 Image Builder Image State Change";
pub const RELEASE_SOURCE: &str = "image-release";
pub const RELEASE_REQUESTED: &str = "Release Requested";
pub const SCHEDULE_SOURCE: &str = "aws.events";
pub const SCHEDULED_EVENT: &str = "Scheduled Event";
pub const S3_SOURCE: &str = "aws.s3";
pub const OBJECT_CREATED: &str = "Object Created";

/// Deserializes `value` into `T`, reporting the exact path of the first bad field.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, ValidationError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        // The root is ".", and a key that is itself empty (`{"": …}`) prints as "": both are the
        // event as a whole.
        let field = if path == "." || path.is_empty() {
            "event".to_owned()
        } else {
            path
        };
        ValidationError::without_value(field, err.inner().to_string())
    })
}

fn envelope<T: DeserializeOwned + serde::Serialize>(
    value: &Value,
) -> Result<EventBridgeEvent<T>, ValidationError> {
    from_value(value)
}

fn expect(field: &str, actual: &str, expected: &str) -> Result<(), ValidationError> {
    if actual != expected {
        return Err(ValidationError::new(
            field,
            format!("must be {expected:?}"),
            actual,
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
struct ImageStateDetail {
    state: ImageState,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
struct ImageState {
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

/// `EC2 Image Builder Image State Change`: the image build version ARN is `resources[0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageStateChange {
    pub event_id: Option<String>,
    pub image: ImageBuildVersionArn,
    pub status: String,
    pub reason: Option<String>,
}

impl ImageStateChange {
    pub fn parse(value: &Value) -> Result<Self, ValidationError> {
        let event: EventBridgeEvent<ImageStateDetail> = envelope(value)?;
        expect("source", &event.source, IMAGE_BUILDER_SOURCE)?;
        expect("detail-type", &event.detail_type, IMAGE_STATE_CHANGE)?;
        let first = event
            .resources
            .as_deref()
            .and_then(<[String]>::first)
            .ok_or_else(|| {
                ValidationError::new(
                    "resources",
                    "must hold the image build version ARN as its first element",
                    "",
                )
            })?;
        Ok(Self {
            event_id: event.id,
            image: ImageBuildVersionArn::parse("resources[0]", first)?,
            status: event.detail.state.status,
            reason: event.detail.state.reason,
        })
    }

    pub fn is_available(&self) -> bool {
        self.status == "AVAILABLE"
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReleaseRequestDetail {
    #[serde(default)]
    pipeline_arn: Option<ImagePipelineArn>,
    #[serde(default)]
    release_version: Option<ReleaseVersion>,
    /// EventBridge Scheduler context attribute `<aws.scheduler.execution-id>`.
    #[serde(default)]
    execution_id: Option<String>,
    /// EventBridge Scheduler context attribute `<aws.scheduler.scheduled-time>`.
    #[serde(default)]
    scheduled_time: Option<String>,
}

/// What starts a release: a "Release Requested" custom event, an EventBridge rule schedule
/// ("Scheduled Event"), or an EventBridge Scheduler custom input (no envelope at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRequest {
    pub pipeline_override: Option<ImagePipelineArn>,
    pub version: Option<ReleaseVersion>,
    /// What makes this request unique; two deliveries of the same request share it.
    pub dedup_key: String,
}

impl ReleaseRequest {
    pub fn parse(value: &Value) -> Result<Self, ValidationError> {
        let is_envelope = value.get("detail-type").is_some() || value.get("source").is_some();
        if !is_envelope {
            // EventBridge Scheduler delivers its custom input as is, without source or detail-type.
            let detail: ReleaseRequestDetail = from_value(value)?;
            let dedup = detail
                .release_version
                .as_ref()
                .map(|v| format!("version:{v}"))
                .or_else(|| detail.execution_id.as_ref().map(|id| format!("scheduler-execution:{id}")))
                .or_else(|| detail.scheduled_time.as_ref().map(|t| format!("scheduled-time:{t}")))
                .ok_or_else(|| {
                    ValidationError::new(
                        "event",
                        "a Scheduler input needs releaseVersion, executionId (<aws.scheduler.execution-id>) or scheduledTime \
                         (<aws.scheduler.scheduled-time>) so that each run gets its own idempotency token",
                        "",
                    )
                })?;
            return Ok(Self {
                pipeline_override: detail.pipeline_arn,
                version: detail.release_version,
                dedup_key: dedup,
            });
        }
        let event: EventBridgeEvent<Value> = envelope(value)?;
        let id = event
            .id
            .clone()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                ValidationError::new(
                    "id",
                    "an EventBridge event must carry its id (it is the idempotency key)",
                    "",
                )
            })?;
        match (event.source.as_str(), event.detail_type.as_str()) {
            (SCHEDULE_SOURCE, SCHEDULED_EVENT) => Ok(Self {
                pipeline_override: None,
                version: None,
                dedup_key: format!("event:{id}"),
            }),
            (RELEASE_SOURCE, RELEASE_REQUESTED) => {
                let detail: ReleaseRequestDetail = from_value(&event.detail).map_err(|e| {
                    let field = format!("detail.{}", e.field.trim_start_matches("event"));
                    e.at(field.trim_end_matches('.').to_owned())
                })?;
                let dedup = match &detail.release_version {
                    Some(v) => format!("version:{v}"),
                    None => format!("event:{id}"),
                };
                Ok(Self {
                    pipeline_override: detail.pipeline_arn,
                    version: detail.release_version,
                    dedup_key: dedup,
                })
            }
            (source, detail_type) => Err(ValidationError::new(
                "detail-type",
                format!(
                    "expected {RELEASE_REQUESTED:?} from {RELEASE_SOURCE:?} or {SCHEDULED_EVENT:?} from {SCHEDULE_SOURCE:?}, got {detail_type:?} from {source:?}"
                ),
                detail_type,
            )),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct S3Detail {
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(Debug, Clone, Deserialize)]
struct S3Bucket {
    name: String,
}

#[derive(Debug, Clone, Deserialize)]
struct S3Object {
    key: String,
    #[serde(default)]
    size: Option<u64>,
}

/// What wakes publish-release: the rate schedule, or an S3 `Object Created` event under `releases/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishTrigger {
    /// Advance every pending release.
    Schedule,
    /// Advance the release the object belongs to.
    ObjectCreated {
        bucket: String,
        key: String,
        size: Option<u64>,
        release: ReleaseId,
    },
}

impl PublishTrigger {
    pub fn parse(value: &Value) -> Result<Self, ValidationError> {
        let event: EventBridgeEvent<Value> = envelope(value)?;
        match (event.source.as_str(), event.detail_type.as_str()) {
            (SCHEDULE_SOURCE, SCHEDULED_EVENT) => Ok(Self::Schedule),
            (S3_SOURCE, OBJECT_CREATED) => {
                let detail: S3Detail = from_value(&event.detail).map_err(|e| {
                    let field = format!("detail.{}", e.field.trim_start_matches("event"));
                    e.at(field.trim_end_matches('.').to_owned())
                })?;
                let release = release_of_key(&detail.object.key).ok_or_else(|| {
                    ValidationError::new(
                        "detail.object.key",
                        "must be releases/<release-id>/<file>",
                        &detail.object.key,
                    )
                })?;
                Ok(Self::ObjectCreated {
                    bucket: detail.bucket.name,
                    key: detail.object.key,
                    size: detail.object.size,
                    release,
                })
            }
            (source, detail_type) => Err(ValidationError::new(
                "detail-type",
                format!(
                    "expected {SCHEDULED_EVENT:?} from {SCHEDULE_SOURCE:?} or {OBJECT_CREATED:?} from {S3_SOURCE:?}, got {detail_type:?} from {source:?}"
                ),
                detail_type,
            )),
        }
    }
}

/// `releases/<id>/<file>` → `<id>`.
pub fn release_of_key(key: &str) -> Option<ReleaseId> {
    let mut parts = key.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("releases"), Some(id), Some(file)) if !file.is_empty() => {
            ReleaseId::parse("key", id).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state_change(status: &str) -> Value {
        json!({
            "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "EC2 Image Builder Image State Change", "source": "aws.imagebuilder",
            "account": "123456789012", "time": "2026-11-20T10:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1"],
            "detail": {"previous-state": {"status": "DISTRIBUTING"}, "state": {"status": status}}
        })
    }

    #[test]
    fn when_state_change_is_well_formed_should_parse_image_and_status() {
        let change = ImageStateChange::parse(&state_change("AVAILABLE")).unwrap();
        assert!(change.is_available());
        assert_eq!(change.image.release_id().as_str(), "golden-1.0.0-1");
    }

    #[test]
    fn when_a_scheduler_input_has_an_empty_key_should_name_the_event() {
        // Found by proptest in CI: the unknown key "" printed as an empty path.
        let err = ReleaseRequest::parse(&json!({"": null})).unwrap_err();
        assert_eq!(err.field, "event", "{err}");
    }

    #[test]
    fn when_state_is_missing_should_name_the_field() {
        let mut event = state_change("AVAILABLE");
        event["detail"] = json!({"previous-state": {"status": "X"}});
        let err = ImageStateChange::parse(&event).unwrap_err();
        assert_eq!(err.field, "detail");
        assert!(err.rule.contains("state"), "{err}");
    }

    #[test]
    fn when_resources_is_empty_should_name_resources() {
        let mut event = state_change("AVAILABLE");
        event["resources"] = json!([]);
        assert_eq!(
            ImageStateChange::parse(&event).unwrap_err().field,
            "resources"
        );
    }

    #[test]
    fn when_scheduler_input_has_no_unique_field_should_be_rejected() {
        let err = ReleaseRequest::parse(
            &json!({"pipelineArn": "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/g"}),
        )
        .unwrap_err();
        assert!(err.rule.contains("executionId"));
    }

    #[test]
    fn when_release_request_has_unknown_field_should_name_it() {
        let event = json!({"id": "1", "source": "image-release", "detail-type": "Release Requested", "detail": {"pipelinearn": "x"}});
        let err = ReleaseRequest::parse(&event).unwrap_err();
        assert!(err.rule.contains("pipelinearn"), "{err}");
    }

    #[test]
    fn when_release_request_has_bad_pipeline_arn_should_name_detail_field() {
        let event = json!({"id": "1", "source": "image-release", "detail-type": "Release Requested", "detail": {"pipelineArn": "arn:nope"}});
        let err = ReleaseRequest::parse(&event).unwrap_err();
        assert_eq!(err.field, "detail.pipelineArn");
        assert_eq!(err.to_string().matches("(got").count(), 1, "{err}");
        assert!(!err.to_string().contains("ImagePipelineArn"), "{err}");
    }

    #[test]
    fn when_key_is_under_a_release_should_find_the_release() {
        assert_eq!(
            release_of_key("releases/golden-1.0.0-1/export-ami-0a.vmdk")
                .unwrap()
                .as_str(),
            "golden-1.0.0-1"
        );
        assert!(release_of_key("other/golden-1.0.0-1/x").is_none());
        assert!(release_of_key("releases/golden-1.0.0-1/").is_none());
    }
}
