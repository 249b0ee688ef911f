//! No reachable panic (the workspace aborts on panic): every parser of configuration, events and
//! identifiers, fed arbitrary text and arbitrary JSON, answers a value or a `ValidationError`
//! naming its field. Property-based (proptest): each run tries a few hundred generated inputs,
//! shrunk to the smallest one on a failure.

use proptest::prelude::*;
use serde_json::{Value, json};
use shared::ValidationError;
use shared::config::{RequiredSteps, parse_pairs};
use shared::domain::*;
use shared::events::{ImageStateChange, PublishTrigger, ReleaseRequest};
use std::collections::BTreeMap;

/// Any text, including multi-byte characters, control characters and separators.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        any::<String>(),
        "[a-z0-9:/._{}=,@+ -]{0,80}",
        "arn:aws[a-z-]{0,4}:[a-z]{0,12}:[a-z0-9-]{0,12}:[0-9]{0,12}:[a-z/._0-9-]{0,60}",
    ]
}

/// Any JSON value, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A sample event with one of its fields (found by a JSON pointer) replaced by `value`.
fn mutated(sample: &str, pointer: &str, value: Value) -> Value {
    let mut event: Value = serde_json::from_str(sample).unwrap();
    if let Some(slot) = event.pointer_mut(pointer) {
        *slot = value;
    }
    event
}

const STATE_CHANGE: &str = include_str!("../../events/image-available-pipeline.json");
const REQUEST: &str = include_str!("../../events/release-requested.json");
const OBJECT: &str = include_str!("../../events/s3-object-created.json");
const POINTERS: [&str; 10] = [
    "",
    "/detail",
    "/detail/state",
    "/detail/state/status",
    "/resources",
    "/resources/0",
    "/detail/pipelineArn",
    "/detail/releaseVersion",
    "/detail/object/key",
    "/detail/bucket/name",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn when_any_text_is_an_identifier_should_answer_without_panicking(value in text()) {
        let _ = ImagePipelineArn::parse("f", &value);
        let _ = ImageBuildVersionArn::parse("f", &value);
        let _ = ReleaseId::parse("f", &value);
        let _ = DistributionConfigurationArn::parse("f", &value);
        let _ = RoleNameOrArn::parse("f", &value);
        let _ = IamRoleArn::parse("f", &value);
        let _ = RegionName::parse("f", &value);
        let _ = RegionName::parse_appstream("f", &value);
        let _ = RoleName::parse("f", &value);
        let _ = LogGroupName::parse("f", &value);
        let _ = AppStreamImageName::parse("f", &value);
        let _ = NameTemplate::parse("f", &value);
        let _ = ImageDescription::parse("f", &value);
        let _ = ImportDescription::parse("f", &value);
        let _ = AmiId::parse("f", &value);
        let _ = BucketName::parse("f", &value);
        let _ = ReleaseVersion::parse("f", &value);
        let _ = DiskImageFormat::parse("f", &value);
        let _ = ClientToken::<36>::parse("f", &value);
        let _ = ClientToken::<64>::parse("f", &value);
        let _ = RequiredSteps::parse("f", &value);
        let _ = KmsKeyId::parse("f", &value);
        let _ = EventBusName::parse("f", &value);
        let _ = parse_pairs("f", &value);
        let _ = shared::clock::parse_time(&value);
        let _ = partition_of(&value);
        let _ = shared::catalog::split_release_id(&value);
        // A name template renders with any release it is given.
        if let (Ok(template), Ok(release)) = (NameTemplate::parse("t", &value), ReleaseId::parse("r", "golden-1.0.0-1")) {
            let _ = template.render("t", &release);
        }
    }

    #[test]
    fn when_any_text_is_an_error_value_should_be_shown_briefly(value in text()) {
        let err = ValidationError::new("field", "must be something", &value);
        prop_assert!(err.to_string().chars().count() < 200);
        prop_assert!(err.to_string().starts_with("field: "));
    }

    #[test]
    fn when_tags_are_arbitrary_should_answer_without_panicking(tags in prop::collection::btree_map(text(), text(), 0..60)) {
        let _ = ImageTags::parse("tags", tags);
    }

    #[test]
    fn when_an_event_is_arbitrary_json_should_be_rejected_or_parsed_without_panicking(event in json()) {
        let _ = ImageStateChange::parse(&event);
        let _ = ReleaseRequest::parse(&event);
        let _ = PublishTrigger::parse(&event);
    }

    #[test]
    fn when_one_field_of_a_real_event_is_replaced_should_name_the_field_or_parse(
        pointer in prop::sample::select(POINTERS.to_vec()),
        value in json(),
    ) {
        for (sample, parse) in [
            (STATE_CHANGE, (|v: &Value| ImageStateChange::parse(v).map(|_| ())) as fn(&Value) -> Result<(), ValidationError>),
            (REQUEST, |v: &Value| ReleaseRequest::parse(v).map(|_| ())),
            (OBJECT, |v: &Value| PublishTrigger::parse(v).map(|_| ())),
        ] {
            if let Err(err) = parse(&mutated(sample, pointer, value.clone())) {
                prop_assert!(!err.field.is_empty(), "{err}");
            }
        }
    }

    #[test]
    fn when_the_environment_is_arbitrary_should_configure_or_name_the_variable(
        values in prop::collection::btree_map(
            prop::sample::select(vec![
                "AWS_REGION", "ARTIFACT_BUCKET", "PIPELINE_ARNS", "DISTRIBUTION_CONFIGURATION_ARN",
                "DISTRIBUTION_EXECUTION_ROLE", "DISTRIBUTION_LOG_GROUP", "RELEASE_TAGS", "EXPORT_FORMATS",
                "EXPORT_ROLE_NAME", "EXPORT_DRY_RUN", "REQUIRED_STEPS", "APPSTREAM_DESTINATION_REGIONS",
                "APPSTREAM_SOURCE_MODE", "APPSTREAM_IMAGE_NAME", "APPSTREAM_IMPORT_ROLE_ARN",
                "APPSTREAM_IMAGE_DESCRIPTION",
            ]),
            text(),
            0..16,
        )
    ) {
        let lookup = |k: &str| values.get(k).cloned();
        let errors = [
            shared::steps::distribute::Config::from_lookup(lookup).err().map(|e| e.to_string()),
            shared::steps::export::Config::from_lookup(lookup).err().map(|e| e.to_string()),
            shared::steps::appstream::Config::from_lookup(lookup).err().map(|e| e.to_string()),
        ];
        for message in errors.into_iter().flatten() {
            prop_assert!(message.starts_with("environment variable "), "{message}");
        }
    }
}

#[test]
fn when_a_release_id_has_multi_byte_characters_should_be_refused_naming_the_field() {
    for value in ["golden-1.0.0-1µ", "µ", "goldén-1.0.0-1", "golden-1.0.0-١"] {
        let err = ReleaseId::parse("release", value).unwrap_err();
        assert_eq!(err.field, "release");
    }
    let tags = BTreeMap::from([("µ".repeat(200), "v".into())]);
    assert!(ImageTags::parse("tags", tags).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A hash cut at any offsets, its state saved and resumed each time, is `sha256sum`'s
    /// digest of the bytes (the fake store slices as the S3 adapter does).
    #[test]
    fn when_a_hash_is_cut_at_random_offsets_should_resume_to_the_one_shot_digest(
        data in prop::collection::vec(any::<u8>(), 0..5_000),
        budgets in prop::collection::vec(1u64..700, 1..12),
    ) {
        use shared::hashing::HashSlice;
        use shared::ports::ArtifactStore;
        let store = shared::fakes::FakeStore::default();
        store.put_raw("disk", &data);
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let digest = runtime.block_on(async {
            let mut state = None;
            let mut budgets = budgets.iter().cycle();
            loop {
                let budget = *budgets.next().unwrap();
                match store.sha256_slice("disk", state.as_ref(), budget).await.unwrap().unwrap() {
                    HashSlice::Done(digest) => break digest,
                    HashSlice::Partial(next) => state = Some(next),
                }
            }
        });
        prop_assert_eq!(digest.sha256, shared::ports::sha256_hex(&data));
        prop_assert_eq!(digest.size, data.len() as u64);
    }
}
