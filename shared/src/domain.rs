//! Validated domain types. Every value that reaches an AWS request passes through one of these,
//! so the documented patterns and length limits are enforced at the edge, once.
//!
//! Patterns are the ones in the API references (Image Builder, EC2, AppStream), anchored as there.

use crate::error::ValidationError;
use regex_lite::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

fn regex(pattern: &str) -> Regex {
    // The patterns are literals of this module, covered by its tests.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("static pattern compiles")
}

fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<(), ValidationError> {
    let len = value.chars().count();
    if len < min || len > max {
        return Err(ValidationError::new(
            field,
            format!("length must be {min} to {max} characters, was {len}"),
            value,
        ));
    }
    Ok(())
}

fn check_pattern(
    field: &str,
    value: &str,
    re: &Regex,
    pattern: &str,
) -> Result<(), ValidationError> {
    if !re.is_match(value) {
        return Err(ValidationError::new(
            field,
            format!("must match {pattern}"),
            value,
        ));
    }
    Ok(())
}

macro_rules! string_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                $name::parse(stringify!($name), &raw).map_err(|e| serde::de::Error::custom(e.detail()))
            }
        }
    };
}

const PIPELINE_ARN: &str =
    r"^arn:aws[^:]*:imagebuilder:[^:]+:(?:[0-9]{12}|aws):image-pipeline/[a-z0-9-_]+$";
static PIPELINE_ARN_RE: LazyLock<Regex> = LazyLock::new(|| regex(PIPELINE_ARN));

string_type!(
    /// `imagePipelineArn` of StartImagePipelineExecution.
    ImagePipelineArn
);

impl ImagePipelineArn {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_pattern(field, value, &PIPELINE_ARN_RE, PIPELINE_ARN)?;
        Ok(Self(value.to_owned()))
    }
}

const IMAGE_BUILD_ARN: &str = r"^arn:aws[^:]*:imagebuilder:([^:]+):(?:[0-9]{12}|aws(?:-[a-z-]+)?):image/([a-z0-9-_]+)/([0-9]+\.[0-9]+\.[0-9]+)/([0-9]+)$";
static IMAGE_BUILD_ARN_RE: LazyLock<Regex> = LazyLock::new(|| regex(IMAGE_BUILD_ARN));

/// An Image Builder image *build version* ARN (`…:image/<name>/<x.y.z>/<build>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ImageBuildVersionArn {
    arn: String,
    #[serde(skip)]
    region: String,
    #[serde(skip)]
    release: ReleaseId,
}

impl ImageBuildVersionArn {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        let caps = IMAGE_BUILD_ARN_RE.captures(value).ok_or_else(|| {
            ValidationError::new(
                field,
                format!("must be an image build version ARN matching {IMAGE_BUILD_ARN}"),
                value,
            )
        })?;
        let part = |i| caps.get(i).map_or("", |m| m.as_str());
        Ok(Self {
            arn: value.to_owned(),
            region: part(1).to_owned(),
            release: ReleaseId(format!("{}-{}-{}", part(2), part(3), part(4))),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.arn
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The release this image build belongs to: `<name>-<x.y.z>-<build>`.
    pub fn release_id(&self) -> &ReleaseId {
        &self.release
    }
}

impl fmt::Display for ImageBuildVersionArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

impl<'de> Deserialize<'de> for ImageBuildVersionArn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse("imageBuildVersionArn", &raw).map_err(|e| serde::de::Error::custom(e.detail()))
    }
}

const RELEASE_ID: &str = r"^[a-z0-9-_]+-[0-9]+\.[0-9]+\.[0-9]+-[0-9]+$";
static RELEASE_ID_RE: LazyLock<Regex> = LazyLock::new(|| regex(RELEASE_ID));

string_type!(
    /// The identity of a release, derived from the image build version ARN: `<name>-<x.y.z>-<build>`.
    /// Every state record, S3 key and AppStream image name derives from it.
    ReleaseId
);

impl ReleaseId {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_len(field, value, 1, 128)?;
        check_pattern(field, value, &RELEASE_ID_RE, RELEASE_ID)?;
        Ok(Self(value.to_owned()))
    }

    /// The S3 prefix under which every record and artifact of this release lives (ends with `/`).
    pub fn prefix(&self) -> String {
        format!("releases/{}/", self.0)
    }
}

const DISTRIBUTION_ARN: &str =
    r"^arn:aws[^:]*:imagebuilder:[^:]+:(?:[0-9]{12}|aws):distribution-configuration/[a-z0-9-_]+$";
static DISTRIBUTION_ARN_RE: LazyLock<Regex> = LazyLock::new(|| regex(DISTRIBUTION_ARN));

string_type!(
    /// `distributionConfigurationArn` of DistributeImage.
    DistributionConfigurationArn
);

impl DistributionConfigurationArn {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_pattern(field, value, &DISTRIBUTION_ARN_RE, DISTRIBUTION_ARN)?;
        Ok(Self(value.to_owned()))
    }
}

const ROLE_NAME_OR_ARN: &str =
    r"^(?:arn:aws(?:-[a-z]+)*:iam::[0-9]{12}:role/)?[a-zA-Z_0-9+=,.@\-_/]+$";
static ROLE_NAME_OR_ARN_RE: LazyLock<Regex> = LazyLock::new(|| regex(ROLE_NAME_OR_ARN));

string_type!(
    /// An IAM role name or ARN (`executionRole` of DistributeImage): 1–2048 characters.
    RoleNameOrArn
);

impl RoleNameOrArn {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_len(field, value, 1, 2048)?;
        check_pattern(field, value, &ROLE_NAME_OR_ARN_RE, ROLE_NAME_OR_ARN)?;
        Ok(Self(value.to_owned()))
    }
}

const IAM_ROLE_ARN: &str = r"^arn:aws(?:-[a-z]+)*:iam::[0-9]{12}:role/[a-zA-Z_0-9+=,.@\-_/]+$";
static IAM_ROLE_ARN_RE: LazyLock<Regex> = LazyLock::new(|| regex(IAM_ROLE_ARN));

string_type!(
    /// An IAM role ARN (`IamRoleArn` of AppStream CreateImportedImage).
    IamRoleArn
);

impl IamRoleArn {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_len(field, value, 1, 2048)?;
        check_pattern(field, value, &IAM_ROLE_ARN_RE, IAM_ROLE_ARN)?;
        Ok(Self(value.to_owned()))
    }
}

const IAM_ROLE_NAME: &str = r"^[\w+=,.@-]+$";
static IAM_ROLE_NAME_RE: LazyLock<Regex> = LazyLock::new(|| regex(IAM_ROLE_NAME));

string_type!(
    /// An IAM role *name* (`RoleName` of EC2 ExportImage, default `vmimport`): 1–64 characters.
    RoleName
);

impl RoleName {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_len(field, value, 1, 64)?;
        check_pattern(field, value, &IAM_ROLE_NAME_RE, IAM_ROLE_NAME)?;
        Ok(Self(value.to_owned()))
    }
}

/// `loggingConfiguration.logGroupName` of DistributeImage, as Image Builder's model gives it
/// (`LogGroupName`: 1–512, `^[a-zA-Z0-9\-_/\.]{1,512}$`). CloudWatch Logs itself also allows `#`,
/// but Image Builder rejects it, so it is rejected here.
const LOG_GROUP: &str = r"^[a-zA-Z0-9\-_/\.]{1,512}$";
static LOG_GROUP_RE: LazyLock<Regex> = LazyLock::new(|| regex(LOG_GROUP));

string_type!(
    /// `loggingConfiguration.logGroupName` of DistributeImage: 1–512 characters.
    LogGroupName
);

impl LogGroupName {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_len(field, value, 1, 512)?;
        check_pattern(field, value, &LOG_GROUP_RE, LOG_GROUP)?;
        Ok(Self(value.to_owned()))
    }
}

/// A client token whose documented maximum length is `MAX` characters
/// (36 for StartImagePipelineExecution, 64 for DistributeImage and EC2 ExportImage).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ClientToken<const MAX: usize>(String);

impl<const MAX: usize> ClientToken<MAX> {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_len(field, value, 1, MAX)?;
        if !value.is_ascii() {
            return Err(ValidationError::new(field, "must be ASCII", value));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> fmt::Display for ClientToken<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The tag key pattern of DistributeImage and StartImagePipelineExecution (seed document
/// `DistributeImage`, and Image Builder's model `TagKey`): `^(?!aws:)[a-zA-Z0-9\s_.:/=+\-@]*$`.
/// regex-lite has no look-ahead, so the `aws:` prefix is checked on its own; `\s` is ASCII
/// whitespace as in Java's regex, which the service uses.
const TAG_KEY: &str = r"^[a-zA-Z0-9\s_.:/=+\-@]*$";
const TAG_KEY_DOCUMENTED: &str = r"^(?!aws:)[a-zA-Z0-9\s_.:/=+\-@]*$";
static TAG_KEY_RE: LazyLock<Regex> = LazyLock::new(|| regex(TAG_KEY));

/// Image Builder tags: at most 50; keys 1–128 characters matching
/// `^(?!aws:)[a-zA-Z0-9\s_.:/=+\-@]*$`; values at most 256 characters (lengths in characters).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct ImageTags(BTreeMap<String, String>);

impl ImageTags {
    pub const MAX_TAGS: usize = 50;

    pub fn parse(field: &str, tags: BTreeMap<String, String>) -> Result<Self, ValidationError> {
        if tags.len() > Self::MAX_TAGS {
            return Err(ValidationError::new(
                field,
                format!("at most {} tags, got {}", Self::MAX_TAGS, tags.len()),
                "",
            ));
        }
        for (key, value) in &tags {
            let key_field = format!("{field}.{key}");
            check_len(&key_field, key, 1, 128)?;
            if key.starts_with("aws:") {
                return Err(ValidationError::new(
                    &key_field,
                    "tag keys must not start with \"aws:\"",
                    key,
                ));
            }
            check_pattern(&key_field, key, &TAG_KEY_RE, TAG_KEY_DOCUMENTED)?;
            check_len(&key_field, value, 0, 256)?;
        }
        Ok(Self(tags))
    }

    /// Adds the tags of `other` over these ones, checking the limits again.
    pub fn merged(
        &self,
        field: &str,
        other: &BTreeMap<String, String>,
    ) -> Result<Self, ValidationError> {
        let mut all = self.0.clone();
        all.extend(other.iter().map(|(k, v)| (k.clone(), v.clone())));
        Self::parse(field, all)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

const APPSTREAM_NAME: &str = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$";
static APPSTREAM_NAME_RE: LazyLock<Regex> = LazyLock::new(|| regex(APPSTREAM_NAME));

string_type!(
    /// An AppStream image name (`SourceImageName`, `DestinationImageName`, `Name`):
    /// `^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$`, so 1–101 characters.
    AppStreamImageName
);

impl AppStreamImageName {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_pattern(field, value, &APPSTREAM_NAME_RE, APPSTREAM_NAME)?;
        Ok(Self(value.to_owned()))
    }
}

/// A name template in which `{release}` stands for the release id (e.g. `golden-{release}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameTemplate(String);

impl NameTemplate {
    pub const PLACEHOLDER: &'static str = "{release}";

    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        // Check the fixed part against the name rule by substituting a minimal release id.
        AppStreamImageName::parse(field, &value.replace(Self::PLACEHOLDER, "a"))?;
        Ok(Self(value.to_owned()))
    }

    pub fn render(
        &self,
        field: &str,
        release: &ReleaseId,
    ) -> Result<AppStreamImageName, ValidationError> {
        AppStreamImageName::parse(field, &self.0.replace(Self::PLACEHOLDER, release.as_str()))
    }
}

string_type!(
    /// `DestinationImageDescription` of CopyImage, `Description` of CreateImportedImage: at most 256 characters.
    ImageDescription
);

impl ImageDescription {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_len(field, value, 0, 256)?;
        Ok(Self(value.to_owned()))
    }
}

const IMPORT_DESCRIPTION: &str = r"^[a-zA-Z0-9_.() -]+$";
static IMPORT_DESCRIPTION_RE: LazyLock<Regex> = LazyLock::new(|| regex(IMPORT_DESCRIPTION));

string_type!(
    /// `Description` of AppStream CreateImportedImage. The model's `ImageImportDescription` is
    /// stricter than CopyImage's description: at most 256 characters matching
    /// `^[a-zA-Z0-9_.() -]+$` (botocore `appstream` 2016-12-01).
    ImportDescription
);

impl ImportDescription {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_len(field, value, 1, 256)?;
        check_pattern(field, value, &IMPORT_DESCRIPTION_RE, IMPORT_DESCRIPTION)?;
        Ok(Self(value.to_owned()))
    }
}

const REGION: &str = r"^[a-z]{2}(?:-[a-z]+)+-[0-9]+$";
static REGION_RE: LazyLock<Regex> = LazyLock::new(|| regex(REGION));

string_type!(
    /// An AWS Region code (`DestinationRegion` of CopyImage: 1–32 characters).
    RegionName
);

impl RegionName {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_len(field, value, 1, 32)?;
        check_pattern(field, value, &REGION_RE, REGION)?;
        Ok(Self(value.to_owned()))
    }
}

/// The regions that offer AppStream 2.0, generated from botocore's endpoint data by
/// `scripts/appstream-regions.py` (checked in CI against the pinned botocore).
pub const APPSTREAM_REGIONS_FILE: &str = include_str!("../data/appstream-regions.txt");

/// Every region of [`APPSTREAM_REGIONS_FILE`].
pub fn appstream_regions() -> impl Iterator<Item = &'static str> {
    APPSTREAM_REGIONS_FILE
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

impl RegionName {
    /// Whether AppStream 2.0 is offered in this region (botocore's endpoint data).
    pub fn offers_appstream(&self) -> bool {
        appstream_regions().any(|r| r == self.0)
    }

    /// This region, if AppStream 2.0 is offered there; otherwise an error naming the field.
    pub fn with_appstream(self, field: &str) -> Result<Self, ValidationError> {
        if self.offers_appstream() {
            Ok(self)
        } else {
            Err(ValidationError::new(
                field,
                format!(
                    "must be a region that offers AppStream 2.0 ({}; from botocore's endpoint data)",
                    appstream_regions().collect::<Vec<_>>().join(", ")
                ),
                &self.0,
            ))
        }
    }

    /// Parses a region that offers AppStream 2.0.
    pub fn parse_appstream(field: &str, value: &str) -> Result<Self, ValidationError> {
        Self::parse(field, value)?.with_appstream(field)
    }
}

const AMI_ID: &str = r"^ami-[0-9a-f]{8,17}$";
static AMI_ID_RE: LazyLock<Regex> = LazyLock::new(|| regex(AMI_ID));

string_type!(
    /// An EC2 AMI id (`ImageId` of ExportImage, `SourceAmiId` of CreateImportedImage).
    AmiId
);

impl AmiId {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_pattern(field, value, &AMI_ID_RE, AMI_ID)?;
        Ok(Self(value.to_owned()))
    }
}

const BUCKET: &str = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$";
static BUCKET_RE: LazyLock<Regex> = LazyLock::new(|| regex(BUCKET));

string_type!(
    /// An S3 bucket name: 3–63 characters of lowercase letters, digits, dots and hyphens.
    BucketName
);

impl BucketName {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_pattern(field, value, &BUCKET_RE, BUCKET)?;
        if value.contains("..") {
            return Err(ValidationError::new(
                field,
                "must not contain two adjacent periods",
                value,
            ));
        }
        Ok(Self(value.to_owned()))
    }
}

/// `DiskImageFormat` of EC2 ExportImage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DiskImageFormat {
    Vmdk,
    Raw,
    Vhd,
}

impl DiskImageFormat {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        match value {
            "VMDK" => Ok(Self::Vmdk),
            "RAW" => Ok(Self::Raw),
            "VHD" => Ok(Self::Vhd),
            _ => Err(ValidationError::new(
                field,
                "must be one of VMDK | RAW | VHD",
                value,
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vmdk => "VMDK",
            Self::Raw => "RAW",
            Self::Vhd => "VHD",
        }
    }

    /// The file extension EC2 gives the exported object.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Vmdk => "vmdk",
            Self::Raw => "raw",
            Self::Vhd => "vhd",
        }
    }
}

impl fmt::Display for DiskImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const SEMVER: &str = r"^[0-9]+\.[0-9]+\.[0-9]+$";
static SEMVER_RE: LazyLock<Regex> = LazyLock::new(|| regex(SEMVER));

string_type!(
    /// The release version asked for in a "Release Requested" event: `<major>.<minor>.<patch>`,
    /// the semantic version format Image Builder uses for recipes.
    ReleaseVersion
);

impl ReleaseVersion {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_len(field, value, 5, 64)?;
        check_pattern(field, value, &SEMVER_RE, SEMVER)?;
        Ok(Self(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILD_ARN: &str =
        "arn:aws:imagebuilder:us-east-1:123456789012:image/golden-linux/1.2.3/4";

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
        assert!(
            ImageTags::parse("tags", BTreeMap::from([("k".to_owned(), "v".repeat(257))])).is_err()
        );
    }

    #[test]
    fn when_tag_keys_follow_the_documented_pattern_should_pass_and_others_fail() {
        let one =
            |k: &str| ImageTags::parse("tags", BTreeMap::from([(k.to_owned(), "x".to_owned())]));
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
            AppStreamImageName::parse("DestinationImageName", &format!("a{}", "b".repeat(100)))
                .is_ok()
        );
        let err =
            AppStreamImageName::parse("DestinationImageName", &format!("a{}", "b".repeat(101)))
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
        let err = RegionName::parse_appstream("APPSTREAM_DESTINATION_REGIONS[0]", "us-west-1")
            .unwrap_err();
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
        let err = DiskImageFormat::parse("EXPORT_DISK_FORMAT", "qcow2").unwrap_err();
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
}
