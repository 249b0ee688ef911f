use super::*;
use aws_sdk_cloudfront::operation::create_invalidation::CreateInvalidationOutput;
use aws_sdk_cloudfront::types::Invalidation;
use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};

#[tokio::test]
async fn when_writing_if_absent_should_send_if_none_match_and_map_412_to_already_exists() {
    let written = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| {
            r.bucket() == Some("image-release-artifacts")
                && r.key() == Some("releases/x/manifest.json")
                && r.if_none_match() == Some("*")
        })
        .then_output(|| PutObjectOutput::builder().build());
    let lost = mock!(aws_sdk_s3::Client::put_object)
        .then_error(|| PutObjectError::generic(meta("PreconditionFailed")));
    let client = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&written, &lost]);
    let store = S3Adapter::from_client(
        client,
        BucketName::parse("b", "image-release-artifacts").unwrap(),
    );
    assert_eq!(
        store
            .put_json_if_absent("releases/x/manifest.json", &1)
            .await
            .unwrap(),
        PutOutcome::Written
    );
    assert_eq!(
        store
            .put_json_if_absent("releases/x/manifest.json", &1)
            .await
            .unwrap(),
        PutOutcome::AlreadyExists
    );
}

#[tokio::test]
async fn when_invalidating_should_send_paths_quantity_and_caller_reference() {
    let rule = mock!(aws_sdk_cloudfront::Client::create_invalidation)
        .match_requests(|r| {
            let batch = r.invalidation_batch().unwrap();
            r.distribution_id() == Some("E2QWRUHEXAMPLE")
                && batch.caller_reference() == "ref-1"
                && batch.paths().map(|p| (p.quantity(), p.items().to_vec()))
                    == Some((1, vec!["/releases/x/manifest.json".to_owned()]))
        })
        .then_output(|| {
            CreateInvalidationOutput::builder()
                .invalidation(
                    Invalidation::builder()
                        .id("I2J0I21PCUYOIK")
                        .status("InProgress")
                        .create_time(aws_smithy_types::DateTime::from_secs(0))
                        .invalidation_batch(
                            aws_sdk_cloudfront::types::InvalidationBatch::builder()
                                .caller_reference("ref-1")
                                .paths(
                                    aws_sdk_cloudfront::types::Paths::builder()
                                        .quantity(0)
                                        .build()
                                        .unwrap(),
                                )
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
        });
    let client = mock_client!(aws_sdk_cloudfront, [&rule]);
    let cdn = CloudFrontAdapter::from_client(client, "E2QWRUHEXAMPLE".into());
    assert_eq!(
        cdn.create_invalidation(&["/releases/x/manifest.json".to_owned()], "ref-1")
            .await
            .unwrap(),
        "I2J0I21PCUYOIK"
    );
    assert_eq!(rule.num_calls(), 1);
}
