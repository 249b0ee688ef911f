use super::*;
use aws_sdk_appstream::operation::copy_image::{CopyImageError, CopyImageOutput};
use aws_sdk_appstream::operation::describe_images::DescribeImagesOutput;
use aws_sdk_appstream::operation::tag_resource::TagResourceOutput;
use aws_sdk_appstream::types::error::{
    IncompatibleImageException, LimitExceededException, ResourceAlreadyExistsException,
    ResourceNotAvailableException, ResourceNotFoundException,
};
use aws_sdk_appstream::types::{Image, ImageState};

fn region(r: &str) -> RegionName {
    RegionName::parse("r", r).unwrap()
}

fn adapter(client: aws_sdk_appstream::Client) -> AppStreamAdapter {
    AppStreamAdapter::from_clients(
        region("us-east-1"),
        HashMap::from([
            (region("us-east-1"), client.clone()),
            (region("eu-west-1"), client),
        ]),
    )
}

fn copy() -> CopyImage {
    CopyImage {
        source_image_name: AppStreamImageName::parse("s", "golden-1.0.0-1").unwrap(),
        destination_image_name: AppStreamImageName::parse("d", "golden-1.0.0-1").unwrap(),
        destination_region: region("eu-west-1"),
        description: Some(ImageDescription::parse("x", "Golden").unwrap()),
    }
}

#[tokio::test]
async fn when_copying_should_send_source_destination_region_and_description() {
    let rule = mock!(aws_sdk_appstream::Client::copy_image)
        .match_requests(|r| {
            r.source_image_name() == Some("golden-1.0.0-1")
                && r.destination_image_name() == Some("golden-1.0.0-1")
                && r.destination_region() == Some("eu-west-1")
                && r.destination_image_description() == Some("Golden")
        })
        .then_output(|| {
            CopyImageOutput::builder()
                .destination_image_name("golden-1.0.0-1")
                .build()
        });
    let client = mock_client!(aws_sdk_appstream, [&rule]);
    adapter(client).copy_image(&copy()).await.unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn when_copy_fails_with_documented_errors_should_classify_each() {
    let cases: Vec<(fn() -> CopyImageError, ErrorClass)> = vec![
        (
            || {
                CopyImageError::ResourceAlreadyExistsException(
                    ResourceAlreadyExistsException::builder()
                        .meta(meta("ResourceAlreadyExistsException"))
                        .build(),
                )
            },
            ErrorClass::AlreadyExists,
        ),
        (
            || {
                CopyImageError::IncompatibleImageException(
                    IncompatibleImageException::builder()
                        .meta(meta("IncompatibleImageException"))
                        .build(),
                )
            },
            ErrorClass::Invalid,
        ),
        (
            || {
                CopyImageError::LimitExceededException(
                    LimitExceededException::builder()
                        .meta(meta("LimitExceededException"))
                        .build(),
                )
            },
            ErrorClass::LimitExceeded,
        ),
        (
            || {
                CopyImageError::ResourceNotAvailableException(
                    ResourceNotAvailableException::builder()
                        .meta(meta("ResourceNotAvailableException"))
                        .build(),
                )
            },
            ErrorClass::NotAvailable,
        ),
        (
            || {
                CopyImageError::ResourceNotFoundException(
                    ResourceNotFoundException::builder()
                        .meta(meta("ResourceNotFoundException"))
                        .build(),
                )
            },
            ErrorClass::NotFound,
        ),
    ];
    for (error, class) in cases {
        let rule = mock!(aws_sdk_appstream::Client::copy_image).then_error(error);
        let client = mock_client!(aws_sdk_appstream, [&rule]);
        assert_eq!(
            adapter(client).copy_image(&copy()).await.unwrap_err().class,
            class
        );
    }
}

#[tokio::test]
async fn when_describing_by_name_should_return_state_and_arn_or_none() {
    let found = mock!(aws_sdk_appstream::Client::describe_images)
        .match_requests(|r| r.names() == ["golden-1.0.0-1"])
        .then_output(|| {
            DescribeImagesOutput::builder()
                .images(
                    Image::builder()
                        .name("golden-1.0.0-1")
                        .arn("arn:aws:appstream:eu-west-1:123456789012:image/golden-1.0.0-1")
                        .state(ImageState::Available)
                        .build(),
                )
                .build()
        });
    let missing = mock!(aws_sdk_appstream::Client::describe_images).then_error(|| {
        aws_sdk_appstream::operation::describe_images::DescribeImagesError::ResourceNotFoundException(
            ResourceNotFoundException::builder().meta(meta("ResourceNotFoundException")).build(),
        )
    });
    let client = mock_client!(aws_sdk_appstream, RuleMode::Sequential, [&found, &missing]);
    let adapter = adapter(client);
    let name = AppStreamImageName::parse("n", "golden-1.0.0-1").unwrap();
    let image = adapter
        .describe_image(&region("eu-west-1"), &name)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(image.state, "AVAILABLE");
    assert!(
        adapter
            .describe_image(&region("eu-west-1"), &name)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn when_tagging_should_send_the_arn_and_tags_and_reject_unconfigured_regions() {
    let rule = mock!(aws_sdk_appstream::Client::tag_resource)
        .match_requests(|r| {
            r.resource_arn() == Some("arn:x")
                && r.tags().and_then(|t| t.get("team")).map(String::as_str) == Some("platform")
        })
        .then_output(|| TagResourceOutput::builder().build());
    let client = mock_client!(aws_sdk_appstream, [&rule]);
    let adapter = adapter(client);
    let tags = BTreeMap::from([("team".to_owned(), "platform".to_owned())]);
    adapter
        .tag_resource(&region("eu-west-1"), "arn:x", &tags)
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
    assert_eq!(
        adapter
            .tag_resource(&region("sa-east-1"), "arn:x", &tags)
            .await
            .unwrap_err()
            .code,
        "UnconfiguredRegion"
    );
}
