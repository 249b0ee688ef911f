use super::*;
use aws_sdk_appstream::operation::create_imported_image::CreateImportedImageOutput;
use aws_sdk_appstream::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_appstream::types::{Image, ImageState};
use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::operation::head_object::{HeadObjectError, HeadObjectOutput};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::Object;
use aws_sdk_s3::types::error::{NoSuchKey, NotFound};

fn region(r: &str) -> RegionName {
    RegionName::parse("r", r).unwrap()
}

#[tokio::test]
async fn when_importing_should_send_name_ami_role_description_and_tags() {
    let rule = mock!(aws_sdk_appstream::Client::create_imported_image)
        .match_requests(|r| {
            r.name() == Some("golden-1.0.0-1")
                && r.source_ami_id() == Some("ami-0abcdef1234567890")
                && r.iam_role_arn() == Some("arn:aws:iam::123456789012:role/Import")
                && r.description() == Some("Golden")
                && r.tags()
                    .and_then(|t| t.get("image-release:release-id"))
                    .map(String::as_str)
                    == Some("golden-1.0.0-1")
        })
        .then_output(|| {
            CreateImportedImageOutput::builder()
                .image(
                    Image::builder()
                        .name("golden-1.0.0-1")
                        .arn("arn:aws:appstream:us-east-1:123456789012:image/golden-1.0.0-1")
                        .state(ImageState::Importing)
                        .build(),
                )
                .build()
        });
    let client = mock_client!(aws_sdk_appstream, [&rule]);
    let adapter = AppStreamAdapter::from_clients(
        region("us-east-1"),
        HashMap::from([(region("us-east-1"), client)]),
    );
    let image = adapter
        .create_imported_image(&ImportImage {
            name: AppStreamImageName::parse("n", "golden-1.0.0-1").unwrap(),
            source_ami: AmiId::parse("a", "ami-0abcdef1234567890").unwrap(),
            role: IamRoleArn::parse("r", "arn:aws:iam::123456789012:role/Import").unwrap(),
            description: Some(ImportDescription::parse("d", "Golden").unwrap()),
            tags: BTreeMap::from([("image-release:release-id".into(), "golden-1.0.0-1".into())]),
        })
        .await
        .unwrap();
    assert_eq!(image.state, "IMPORTING");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn when_listing_tags_should_ask_for_the_arn_in_that_region() {
    let rule = mock!(aws_sdk_appstream::Client::list_tags_for_resource)
        .match_requests(|r| {
            r.resource_arn()
                == Some("arn:aws:appstream:us-east-1:123456789012:image/golden-1.0.0-1")
        })
        .then_output(|| {
            ListTagsForResourceOutput::builder()
                .tags("team", "platform")
                .build()
        });
    let client = mock_client!(aws_sdk_appstream, [&rule]);
    let adapter = AppStreamAdapter::from_clients(
        region("us-east-1"),
        HashMap::from([(region("us-east-1"), client)]),
    );
    let tags = adapter
        .list_tags(
            &region("us-east-1"),
            "arn:aws:appstream:us-east-1:123456789012:image/golden-1.0.0-1",
        )
        .await
        .unwrap();
    assert_eq!(tags.get("team").map(String::as_str), Some("platform"));
}

fn store(client: aws_sdk_s3::Client) -> S3Adapter {
    S3Adapter::from_client(
        client,
        BucketName::parse("b", "image-release-artifacts").unwrap(),
    )
}

#[tokio::test]
async fn when_reading_records_should_parse_json_and_treat_no_such_key_as_absent() {
    let found = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| {
            r.bucket() == Some("image-release-artifacts")
                && r.key() == Some("releases/x/export.json")
        })
        .then_output(|| {
            GetObjectOutput::builder()
                .body(ByteStream::from_static(br#"{"a": 1}"#))
                .build()
        });
    let missing = mock!(aws_sdk_s3::Client::get_object).then_error(|| {
        GetObjectError::NoSuchKey(NoSuchKey::builder().meta(meta("NoSuchKey")).build())
    });
    let client = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&found, &missing]);
    let store = store(client);
    let value: Option<serde_json::Value> = store.get_json("releases/x/export.json").await.unwrap();
    assert_eq!(value.unwrap()["a"], 1);
    assert!(
        store
            .get_json::<serde_json::Value>("releases/x/export.json")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn when_listing_heading_and_deleting_should_use_the_bucket_prefix_and_key() {
    let list = mock!(aws_sdk_s3::Client::list_objects_v2)
        .match_requests(|r| {
            r.bucket() == Some("image-release-artifacts") && r.prefix() == Some("pending/")
        })
        .then_output(|| {
            ListObjectsV2Output::builder()
                .contents(Object::builder().key("pending/golden-1.0.0-1.json").build())
                .build()
        });
    let head = mock!(aws_sdk_s3::Client::head_object)
        .match_requests(|r| r.key() == Some("releases/x/export-ami-0a.vmdk"))
        .then_output(|| HeadObjectOutput::builder().content_length(2048).build());
    let head_missing = mock!(aws_sdk_s3::Client::head_object).then_error(|| {
        HeadObjectError::NotFound(NotFound::builder().meta(meta("NotFound")).build())
    });
    let delete = mock!(aws_sdk_s3::Client::delete_object)
        .match_requests(|r| r.key() == Some("pending/golden-1.0.0-1.json"))
        .then_output(|| DeleteObjectOutput::builder().build());
    let client = mock_client!(
        aws_sdk_s3,
        RuleMode::Sequential,
        [&list, &head, &head_missing, &delete]
    );
    let store = store(client);
    assert_eq!(
        store.list_keys("pending/").await.unwrap(),
        ["pending/golden-1.0.0-1.json"]
    );
    assert_eq!(
        store
            .object_size("releases/x/export-ami-0a.vmdk")
            .await
            .unwrap(),
        Some(2048)
    );
    assert_eq!(
        store
            .object_size("releases/x/export-ami-0a.vmdk")
            .await
            .unwrap(),
        None
    );
    store.delete("pending/golden-1.0.0-1.json").await.unwrap();
    assert_eq!(delete.num_calls(), 1);
}

#[tokio::test]
async fn when_a_listing_is_truncated_should_read_every_page_with_its_continuation_token() {
    let first = mock!(aws_sdk_s3::Client::list_objects_v2)
        .match_requests(|r| r.prefix() == Some("pending/") && r.continuation_token().is_none())
        .then_output(|| {
            ListObjectsV2Output::builder()
                .contents(Object::builder().key("pending/golden-1.0.0-1.json").build())
                .is_truncated(true)
                .next_continuation_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_s3::Client::list_objects_v2)
        .match_requests(|r| {
            r.prefix() == Some("pending/") && r.continuation_token() == Some("page-2")
        })
        .then_output(|| {
            ListObjectsV2Output::builder()
                .contents(Object::builder().key("pending/golden-1.0.0-2.json").build())
                .is_truncated(false)
                .build()
        });
    let client = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&first, &second]);
    assert_eq!(
        store(client).list_keys("pending/").await.unwrap(),
        ["pending/golden-1.0.0-1.json", "pending/golden-1.0.0-2.json"]
    );
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn when_a_later_page_fails_should_fail_the_listing_not_answer_part_of_it() {
    let first = mock!(aws_sdk_s3::Client::list_objects_v2).then_output(|| {
        ListObjectsV2Output::builder()
            .contents(Object::builder().key("pending/golden-1.0.0-1.json").build())
            .is_truncated(true)
            .next_continuation_token("page-2")
            .build()
    });
    let second = mock!(aws_sdk_s3::Client::list_objects_v2).then_error(|| {
        aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error::generic(meta("SlowDown"))
    });
    let client = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&first, &second]);
    let err = store(client).list_keys("pending/").await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Throttled, "{err}");
}
