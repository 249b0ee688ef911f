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

#[tokio::test]
async fn when_hashing_an_object_should_read_it_in_ranges_of_the_same_etag() {
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::operation::head_object::HeadObjectOutput;
    use aws_sdk_s3::primitives::ByteStream;
    const RANGE: usize = shared::aws::s3::HASH_RANGE_BYTES as usize;
    let size = RANGE + 5;
    let content: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let head = mock!(aws_sdk_s3::Client::head_object)
        .match_requests(|r| r.key() == Some("releases/x/disk.vmdk"))
        .then_output(move || {
            HeadObjectOutput::builder()
                .content_length(size as i64)
                .e_tag("\"abc\"")
                .build()
        });
    let first_bytes = content[..RANGE].to_vec();
    let first = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(move |r| {
            r.range() == Some(&format!("bytes=0-{}", RANGE - 1)) && r.if_match() == Some("\"abc\"")
        })
        .then_output(move || {
            GetObjectOutput::builder()
                .body(ByteStream::from(first_bytes.clone()))
                .build()
        });
    let rest_bytes = content[RANGE..].to_vec();
    let rest = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(move |r| {
            r.range() == Some(&format!("bytes={RANGE}-{}", size - 1))
                && r.if_match() == Some("\"abc\"")
        })
        .then_output(move || {
            GetObjectOutput::builder()
                .body(ByteStream::from(rest_bytes.clone()))
                .build()
        });
    let client = mock_client!(aws_sdk_s3, [&head, &first, &rest]);
    let store = S3Adapter::from_client(
        client,
        BucketName::parse("b", "image-release-artifacts").unwrap(),
    );
    let digest = store.sha256("releases/x/disk.vmdk").await.unwrap().unwrap();
    assert_eq!(digest.size, size as u64);
    assert_eq!(digest.sha256, sha256_hex(&content));
    assert_eq!((first.num_calls(), rest.num_calls()), (1, 1));
}

#[tokio::test]
async fn when_updating_a_catalog_should_send_if_match_and_answer_a_conflict_as_already_exists() {
    let matched = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.if_match() == Some("\"v1\"") && r.if_none_match().is_none())
        .then_output(|| PutObjectOutput::builder().build());
    let created = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.if_none_match() == Some("*") && r.if_match().is_none())
        .then_output(|| PutObjectOutput::builder().build());
    let changed = mock!(aws_sdk_s3::Client::put_object)
        .then_error(|| PutObjectError::generic(meta("PreconditionFailed")));
    let racing = mock!(aws_sdk_s3::Client::put_object)
        .then_error(|| PutObjectError::generic(meta("ConditionalRequestConflict")));
    let client = mock_client!(
        aws_sdk_s3,
        RuleMode::Sequential,
        [&matched, &created, &changed, &racing]
    );
    let store = S3Adapter::from_client(
        client,
        BucketName::parse("b", "image-release-artifacts").unwrap(),
    );
    let key = "releases/index.json";
    assert_eq!(
        store
            .put_json_if_match(key, &1, Some("\"v1\""))
            .await
            .unwrap(),
        PutOutcome::Written
    );
    assert_eq!(
        store.put_json_if_match(key, &1, None).await.unwrap(),
        PutOutcome::Written
    );
    for _ in 0..2 {
        assert_eq!(
            store
                .put_json_if_match(key, &1, Some("\"v1\""))
                .await
                .unwrap(),
            PutOutcome::AlreadyExists
        );
    }
}

/// A hash in slices: each slice reads only its bytes (ranged, `If-Match` on the ETag), saves
/// the state, and the last gives the one-shot digest; a state of another ETag starts over.
#[tokio::test]
async fn when_hashing_in_slices_should_read_each_byte_once_and_resume_to_the_same_digest() {
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::operation::head_object::HeadObjectOutput;
    use aws_sdk_s3::primitives::ByteStream;
    use shared::hashing::HashSlice;
    let content: Vec<u8> = (0..10u8).collect();
    let head = mock!(aws_sdk_s3::Client::head_object).then_output(|| {
        HeadObjectOutput::builder()
            .content_length(10)
            .e_tag("\"abc\"")
            .build()
    });
    let range = |from: usize, to: usize| {
        let bytes = content[from..=to].to_vec();
        mock!(aws_sdk_s3::Client::get_object)
            .match_requests(move |r| {
                r.range() == Some(&format!("bytes={from}-{to}")) && r.if_match() == Some("\"abc\"")
            })
            .then_output(move || {
                GetObjectOutput::builder()
                    .body(ByteStream::from(bytes.clone()))
                    .build()
            })
    };
    let (first, second, last) = (range(0, 3), range(4, 7), range(8, 9));
    let client = mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        [&head, &first, &second, &last]
    );
    let store = S3Adapter::from_client(
        client,
        BucketName::parse("b", "image-release-artifacts").unwrap(),
    );
    let key = "releases/x/disk.vmdk";
    let Some(HashSlice::Partial(at4)) = store.sha256_slice(key, None, 4).await.unwrap() else {
        panic!("a partial slice")
    };
    assert_eq!(
        (at4.offset, at4.size, at4.etag.as_str()),
        (4, 10, "\"abc\"")
    );
    let Some(HashSlice::Partial(at8)) = store.sha256_slice(key, Some(&at4), 4).await.unwrap()
    else {
        panic!("a partial slice")
    };
    assert_eq!(at8.offset, 8);
    let Some(HashSlice::Done(digest)) = store.sha256_slice(key, Some(&at8), 4).await.unwrap()
    else {
        panic!("the last slice")
    };
    assert_eq!(digest.sha256, sha256_hex(&content));
    assert_eq!(
        (first.num_calls(), second.num_calls(), last.num_calls()),
        (1, 1, 1)
    );
    // A state saved for another version of the object starts over from byte 0.
    let stale = shared::hashing::HashState {
        etag: "\"old\"".into(),
        ..at8
    };
    let Some(HashSlice::Partial(again)) = store.sha256_slice(key, Some(&stale), 4).await.unwrap()
    else {
        panic!("a partial slice")
    };
    assert_eq!(again.offset, 4);
    assert_eq!(first.num_calls(), 2);
}

#[tokio::test]
async fn when_a_record_is_larger_than_any_document_should_refuse_it_before_reading_it() {
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::primitives::ByteStream;
    // S3 says how large the object is; the body (never read) is a stand-in.
    let planted = mock!(aws_sdk_s3::Client::get_object).then_output(|| {
        GetObjectOutput::builder()
            .content_length(shared::ports::MAX_DOCUMENT_BYTES as i64 + 1)
            .body(ByteStream::from_static(b"{}"))
            .build()
    });
    let client = mock_client!(aws_sdk_s3, [&planted]);
    let store = S3Adapter::from_client(
        client,
        BucketName::parse("b", "image-release-artifacts").unwrap(),
    );
    let err = store
        .get_json::<serde_json::Value>("pending/golden-1.0.0-9.json")
        .await
        .unwrap_err();
    assert_eq!(err.class, shared::ErrorClass::CorruptRecord, "{err}");
    assert!(
        err.message.contains("pending/golden-1.0.0-9.json") && err.message.contains("at most"),
        "{err}"
    );
}

/// A purge or retention deletes an object for good: every version and delete marker of exactly
/// that key (not of longer keys the prefix also lists), across pages of ListObjectVersions.
#[tokio::test]
async fn when_deleting_every_version_should_page_the_versions_and_delete_each_of_that_key_only() {
    use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
    use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
    use aws_sdk_s3::types::{DeleteMarkerEntry, ObjectVersion};
    const KEY: &str = "releases/golden-1.0.0-1/SHA256SUMS";
    let version = |key: &str, id: &str| ObjectVersion::builder().key(key).version_id(id).build();
    let first = mock!(aws_sdk_s3::Client::list_object_versions)
        .match_requests(|r| r.prefix() == Some(KEY) && r.key_marker().is_none())
        .then_output(move || {
            ListObjectVersionsOutput::builder()
                .versions(version(KEY, "v2"))
                .versions(version(&format!("{KEY}.sig"), "s1"))
                .delete_markers(
                    DeleteMarkerEntry::builder()
                        .key(KEY)
                        .version_id("m1")
                        .build(),
                )
                .is_truncated(true)
                .next_key_marker(KEY)
                .next_version_id_marker("v2")
                .build()
        });
    let second = mock!(aws_sdk_s3::Client::list_object_versions)
        .match_requests(|r| r.key_marker() == Some(KEY) && r.version_id_marker() == Some("v2"))
        .then_output(move || {
            ListObjectVersionsOutput::builder()
                .versions(version(KEY, "v1"))
                .is_truncated(false)
                .build()
        });
    let deleted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = deleted.clone();
    let delete = mock!(aws_sdk_s3::Client::delete_object)
        .match_requests(move |r| {
            seen.lock().unwrap().push((
                r.key().unwrap().to_owned(),
                r.version_id().unwrap().to_owned(),
            ));
            true
        })
        .then_output(|| DeleteObjectOutput::builder().build());
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&first, &second, &delete]);
    let store = S3Adapter::from_client(
        client,
        BucketName::parse("b", "image-release-artifacts").unwrap(),
    );
    assert_eq!(store.delete_every_version(KEY).await.unwrap(), 3);
    let deleted = deleted.lock().unwrap().clone();
    assert_eq!(
        deleted,
        [
            (KEY.to_owned(), "v2".to_owned()),
            (KEY.to_owned(), "m1".to_owned()),
            (KEY.to_owned(), "v1".to_owned()),
        ]
    );
}
