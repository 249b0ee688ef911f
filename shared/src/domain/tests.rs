use super::*;

const BUILD_ARN: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden-linux/1.2.3/4";

#[test]
fn when_build_arn_is_valid_should_derive_release_id_and_region() {
    let arn = ImageBuildVersionArn::parse("resources[0]", BUILD_ARN).unwrap();
    assert_eq!(arn.release_id().as_str(), "golden-linux-1.2.3-4");
    assert_eq!(arn.region(), "us-east-1");
    assert_eq!(arn.release_id().prefix(), "releases/golden-linux-1.2.3-4/");
}

#[test]
fn when_arn_is_an_image_version_without_build_should_be_rejected_naming_the_field() {
    let err = ImageBuildVersionArn::parse(
        "resources[0]",
        "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.2.3",
    )
    .unwrap_err();
    assert_eq!(err.field, "resources[0]");
    assert!(err.rule.contains("image build version ARN"));
}

#[test]
fn when_pipeline_arn_is_valid_should_name_its_region_and_account() {
    let arn = ImagePipelineArn::parse(
        "p",
        "arn:aws:imagebuilder:eu-west-1:123456789012:image-pipeline/golden",
    )
    .unwrap();
    assert_eq!(arn.region(), "eu-west-1");
    assert_eq!(arn.account(), "123456789012");
}

#[test]
fn when_pipeline_arn_has_uppercase_name_should_be_rejected() {
    assert!(
        ImagePipelineArn::parse(
            "p",
            "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden"
        )
        .is_ok()
    );
    assert!(
        ImagePipelineArn::parse(
            "p",
            "arn:aws:imagebuilder:us-east-1:aws:image-pipeline/golden_1-a"
        )
        .is_ok()
    );
    assert!(
        ImagePipelineArn::parse(
            "p",
            "arn:aws-cn:imagebuilder:cn-north-1:123456789012:image-pipeline/g"
        )
        .is_ok()
    );
    let err = ImagePipelineArn::parse(
        "p",
        "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/Golden",
    )
    .unwrap_err();
    assert!(err.rule.contains("image-pipeline/[a-z0-9-_]+$"));
    assert!(
        ImagePipelineArn::parse(
            "p",
            "arn:aws:imagebuilder:us-east-1:12345678901:image-pipeline/g"
        )
        .is_err()
    );
}

#[test]
fn when_token_is_36_chars_should_pass_and_37_should_fail() {
    assert!(ClientToken::<36>::parse("clientToken", &"a".repeat(36)).is_ok());
    let err = ClientToken::<36>::parse("clientToken", &"a".repeat(37)).unwrap_err();
    assert_eq!(err.field, "clientToken");
    assert!(err.rule.contains("1 to 36"));
    assert!(ClientToken::<36>::parse("clientToken", "").is_err());
    assert!(ClientToken::<64>::parse("clientToken", &"a".repeat(64)).is_ok());
    assert!(ClientToken::<64>::parse("clientToken", &"a".repeat(65)).is_err());
}

#[test]
fn when_tags_are_50_should_pass_and_51_should_fail() {
    let tags = |n: usize| {
        (0..n)
            .map(|i| (format!("k{i}"), "v".to_owned()))
            .collect::<BTreeMap<_, _>>()
    };
    assert!(ImageTags::parse("tags", tags(50)).is_ok());
    let err = ImageTags::parse("tags", tags(51)).unwrap_err();
    assert!(err.rule.contains("at most 50"));
}

#[test]
fn when_tag_key_starts_with_aws_prefix_should_fail() {
    let err = ImageTags::parse(
        "tags",
        BTreeMap::from([("aws:owner".to_owned(), "x".to_owned())]),
    )
    .unwrap_err();
    assert_eq!(err.field, "tags.aws:owner");
    assert!(err.rule.contains("aws:"));
}

#[test]
fn when_tag_key_is_128_chars_should_pass_and_129_should_fail() {
    let one = |k: String| BTreeMap::from([(k, "v".to_owned())]);
    assert!(ImageTags::parse("tags", one("k".repeat(128))).is_ok());
    assert!(ImageTags::parse("tags", one("k".repeat(129))).is_err());
    assert!(ImageTags::parse("tags", one("bad<key".to_owned())).is_err());
    assert!(ImageTags::parse("tags", BTreeMap::from([("k".to_owned(), "v".repeat(257))])).is_err());
}

#[test]
fn when_tag_keys_follow_the_documented_pattern_should_pass_and_others_fail() {
    let one = |k: &str| ImageTags::parse("tags", BTreeMap::from([(k.to_owned(), "x".to_owned())]));
    // ^(?!aws:)[a-zA-Z0-9\s_.:/=+\-@]*$: digits, spaces, '@', '=', '+', '-' are allowed…
    for ok in [
        "owner@team",
        "cost center",
        "1st",
        "a=b",
        "a+b-c",
        "team/x:y_z.w",
        "tab\tkey",
    ] {
        assert!(one(ok).is_ok(), "{ok:?} should pass");
    }
    // …while ',', ';', '<' fell inside the old `+-=` range and are not allowed.
    for bad in ["a<b", "a;b", "a,b", "a*b", "ключ", ""] {
        let err = one(bad).unwrap_err();
        assert!(err.field.starts_with("tags."), "{bad:?}: {err}");
    }
    assert!(one("aws:x").unwrap_err().rule.contains("aws:"));
    assert!(
        one("AWS:x").is_ok(),
        "only the lowercase prefix is reserved"
    );
}

#[test]
fn when_tag_lengths_are_counted_should_count_characters_not_bytes() {
    let value = |v: String| ImageTags::parse("tags", BTreeMap::from([("k".to_owned(), v)]));
    assert!(value("é".repeat(256)).is_ok(), "256 characters, 512 bytes");
    assert!(value("é".repeat(257)).is_err());
}

#[test]
fn when_log_group_follows_image_builders_pattern_should_pass_and_others_fail() {
    assert!(LogGroupName::parse("l", "/aws/imagebuilder/golden-1.0_x").is_ok());
    assert!(LogGroupName::parse("l", &"a".repeat(512)).is_ok());
    assert!(LogGroupName::parse("l", &"a".repeat(513)).is_err());
    let err = LogGroupName::parse("l", "/aws/group#1").unwrap_err();
    assert!(err.rule.contains(r"^[a-zA-Z0-9\-_/\.]{1,512}$"), "{err}");
    assert!(LogGroupName::parse("l", "").is_err());
}

#[test]
fn when_import_description_breaks_the_import_pattern_should_fail() {
    assert!(ImportDescription::parse("d", "Released by image-release (v1.2_3)").is_ok());
    assert!(ImportDescription::parse("d", &"x".repeat(256)).is_ok());
    assert!(ImportDescription::parse("d", &"x".repeat(257)).is_err());
    for bad in ["a,b", "a:b", "x/y", "é", ""] {
        assert!(ImportDescription::parse("d", bad).is_err(), "{bad:?}");
    }
    // CopyImage's description has only the length limit.
    assert!(ImageDescription::parse("d", "a,b: x/y").is_ok());
}

#[test]
fn when_appstream_name_is_101_chars_should_pass_and_102_should_fail() {
    assert!(
        AppStreamImageName::parse("DestinationImageName", &format!("a{}", "b".repeat(100))).is_ok()
    );
    let err = AppStreamImageName::parse("DestinationImageName", &format!("a{}", "b".repeat(101)))
        .unwrap_err();
    assert_eq!(err.field, "DestinationImageName");
    assert!(AppStreamImageName::parse("n", "-leading-dash").is_err());
    assert!(AppStreamImageName::parse("n", "golden_1.2-3").is_ok());
}

#[test]
fn when_template_renders_a_release_should_check_the_full_name() {
    let release = ReleaseId::parse("r", "golden-1.2.3-4").unwrap();
    let template = NameTemplate::parse("APPSTREAM_IMAGE_NAME", "as2-{release}").unwrap();
    assert_eq!(
        template.render("n", &release).unwrap().as_str(),
        "as2-golden-1.2.3-4"
    );
    let long = NameTemplate::parse(
        "APPSTREAM_IMAGE_NAME",
        &format!("{}{{release}}", "a".repeat(95)),
    )
    .unwrap();
    assert!(long.render("n", &release).is_err());
    assert!(NameTemplate::parse("APPSTREAM_IMAGE_NAME", "bad name {release}").is_err());
}

#[test]
fn when_region_is_32_chars_should_pass_and_33_should_fail() {
    assert!(RegionName::parse("r", "eu-west-1").is_ok());
    assert!(RegionName::parse("r", "us-gov-west-1").is_ok());
    let r32 = format!("us-{}-1", "a".repeat(27));
    assert_eq!(r32.len(), 32);
    assert!(RegionName::parse("r", &r32).is_ok());
    assert!(RegionName::parse("r", &format!("us-{}-1", "a".repeat(28))).is_err());
    assert!(RegionName::parse("r", "mars-1").is_err());
}

#[test]
fn when_region_does_not_offer_appstream_should_fail_naming_the_regions_that_do() {
    assert!(RegionName::parse_appstream("r", "eu-west-1").is_ok());
    assert!(RegionName::parse_appstream("r", "us-gov-west-1").is_ok());
    // us-west-1 is a real region without AppStream 2.0.
    let err =
        RegionName::parse_appstream("APPSTREAM_DESTINATION_REGIONS[0]", "us-west-1").unwrap_err();
    assert_eq!(err.field, "APPSTREAM_DESTINATION_REGIONS[0]");
    assert!(err.to_string().contains("offers AppStream 2.0"), "{err}");
    assert!(err.to_string().contains("eu-central-1"), "{err}");
    assert!(err.to_string().contains("(got \"us-west-1\")"), "{err}");
    assert!(appstream_regions().count() >= 18);
    assert!(appstream_regions().all(|r| RegionName::parse("r", r).is_ok()));
}

#[test]
fn when_description_is_256_chars_should_pass_and_257_should_fail() {
    assert!(ImageDescription::parse("d", &"x".repeat(256)).is_ok());
    assert!(ImageDescription::parse("d", &"x".repeat(257)).is_err());
}

#[test]
fn when_format_is_not_documented_should_fail_naming_the_allowed_values() {
    assert_eq!(
        DiskImageFormat::parse("f", "VHD").unwrap(),
        DiskImageFormat::Vhd
    );
    let err = DiskImageFormat::parse("EXPORT_FORMATS", "qcow2").unwrap_err();
    assert!(err.to_string().contains("VMDK | RAW | VHD"));
}

#[test]
fn when_other_ids_are_checked_should_follow_their_rules() {
    assert!(AmiId::parse("a", "ami-0123456789abcdef0").is_ok());
    assert!(AmiId::parse("a", "ami-XYZ").is_err());
    assert!(BucketName::parse("b", "my-artifacts").is_ok());
    assert!(BucketName::parse("b", "My_Bucket").is_err());
    assert!(RoleName::parse("r", "vmimport").is_ok());
    assert!(RoleName::parse("r", &"r".repeat(65)).is_err());
    assert!(RoleNameOrArn::parse("r", "arn:aws:iam::123456789012:role/dist").is_ok());
    assert!(IamRoleArn::parse("r", "not-an-arn").is_err());
    assert!(LogGroupName::parse("l", "/aws/imagebuilder/golden").is_ok());
    assert!(LogGroupName::parse("l", "bad group").is_err());
    assert!(
        DistributionConfigurationArn::parse(
            "d",
            "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden"
        )
        .is_ok()
    );
    assert!(ReleaseVersion::parse("v", "1.2.3").is_ok());
    assert!(ReleaseVersion::parse("v", "v1").is_err());
}

#[test]
fn when_a_kms_key_is_named_in_any_documented_form_should_parse_and_anything_else_be_named() {
    for ok in [
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "alias/image-release-signing",
        "arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/image-release-signing",
    ] {
        assert!(KmsKeyId::parse("SIGNING_KEY_ID", ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "key with spaces",
        "arn:aws:s3:::bucket",
        &"k".repeat(2049),
    ] {
        let err = KmsKeyId::parse("SIGNING_KEY_ID", bad).unwrap_err();
        assert_eq!(err.field, "SIGNING_KEY_ID", "{bad}");
    }
}
