use super::*;
use aws_sdk_eventbridge::operation::put_events::{PutEventsError, PutEventsOutput};
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use shared::aws::eventbridge::EventBridgeAdapter;

fn bus() -> shared::domain::EventBusName {
    shared::domain::EventBusName::parse("bus", "image-release-releases").unwrap()
}

#[tokio::test]
async fn when_putting_a_release_event_should_send_source_detail_type_and_json_detail() {
    let rule = mock!(aws_sdk_eventbridge::Client::put_events)
        .match_requests(|r| {
            let entry = &r.entries()[0];
            r.entries().len() == 1
                && entry.source() == Some("image-release")
                && entry.detail_type() == Some("Release Published")
                && entry.event_bus_name() == Some("image-release-releases")
                && entry
                    .detail()
                    .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                    == Some(serde_json::json!({ "releaseId": "golden-1.0.0-1" }))
        })
        .then_output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(0)
                .entries(PutEventsResultEntry::builder().event_id("e-1").build())
                .build()
        });
    let client = mock_client!(aws_sdk_eventbridge, [&rule]);
    let events = EventBridgeAdapter::from_client(client, bus());
    events
        .put(
            "Release Published",
            &[],
            &serde_json::json!({ "releaseId": "golden-1.0.0-1" }),
        )
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn when_an_entry_fails_or_the_call_is_throttled_should_classify_the_code() {
    let failed_entry = mock!(aws_sdk_eventbridge::Client::put_events).then_output(|| {
        PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(
                PutEventsResultEntry::builder()
                    .error_code("ThrottlingException")
                    .error_message("Rate exceeded")
                    .build(),
            )
            .build()
    });
    let throttled = mock!(aws_sdk_eventbridge::Client::put_events)
        .then_error(|| PutEventsError::generic(meta("ThrottlingException")));
    let internal = mock!(aws_sdk_eventbridge::Client::put_events).then_error(|| {
        PutEventsError::InternalException(
            aws_sdk_eventbridge::types::error::InternalException::builder()
                .message("boom")
                .meta(meta("InternalException"))
                .build(),
        )
    });
    let denied = mock!(aws_sdk_eventbridge::Client::put_events)
        .then_error(|| PutEventsError::generic(meta("AccessDeniedException")));
    let client = mock_client!(
        aws_sdk_eventbridge,
        RuleMode::Sequential,
        [&failed_entry, &throttled, &internal, &denied]
    );
    let events = EventBridgeAdapter::from_client(client, bus());
    let detail = serde_json::json!({});
    for expected in [
        ErrorClass::Throttled,
        ErrorClass::Throttled,
        ErrorClass::Transient,
        ErrorClass::AccessDenied,
    ] {
        let err = events
            .put("Release Failed", &[], &detail)
            .await
            .unwrap_err();
        assert!(err.is(expected), "{expected:?}: {err:?}");
    }
}
