//! Names, tokens, descriptions, identifiers and formats of the AWS requests.

use super::*;

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

string_type!(
    /// An AppStream image builder's name (`ImageBuilderName` of an image, `Name` of
    /// CreateImageBuilder): `^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$`, as an image's name.
    AppStreamBuilderName
);

impl AppStreamBuilderName {
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

const EVENT_BUS: &str =
    r"^(arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus/)?[._A-Za-z0-9-]+$";
static EVENT_BUS_RE: LazyLock<Regex> = LazyLock::new(|| regex(EVENT_BUS));

string_type!(
    /// `EventBusName` of an EventBridge PutEvents entry: a bus name or ARN, 1–1600 characters
    /// (botocore `events` 2015-10-07, `NonPartnerEventBusNameOrArn`).
    EventBusName
);

impl EventBusName {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_len(field, value, 1, 1600)?;
        check_pattern(field, value, &EVENT_BUS_RE, EVENT_BUS)?;
        Ok(Self(value.to_owned()))
    }
}

/// The four forms KMS documents for `KeyId`: key id, key ARN, alias name, alias ARN.
const KMS_KEY: &str = r"^(arn:aws[\w-]*:kms:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:(key/[A-Za-z0-9-]+|alias/[A-Za-z0-9/_-]+)|alias/[A-Za-z0-9/_-]+|[A-Za-z0-9-]+)$";
static KMS_KEY_RE: LazyLock<Regex> = LazyLock::new(|| regex(KMS_KEY));

string_type!(
    /// `KeyId` of KMS Sign and GetPublicKey (1–2048 characters, botocore `KeyIdType`): a key id,
    /// key ARN, alias name (`alias/…`) or alias ARN.
    KmsKeyId
);

impl KmsKeyId {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_len(field, value, 1, 2048)?;
        check_pattern(field, value, &KMS_KEY_RE, KMS_KEY)?;
        Ok(Self(value.to_owned()))
    }
}

/// A release channel: lower-case letters, digits and hyphens, starting with a letter, 1–32
/// characters (`testing`, `stable`, `lts-2026`). It is a path segment of the channel's S3 record
/// and of its SSM parameter name, so nothing else is allowed.
const CHANNEL: &str = r"^[a-z][a-z0-9-]{0,31}$";
static CHANNEL_RE: LazyLock<Regex> = LazyLock::new(|| regex(CHANNEL));

string_type!(
    /// A release channel (`testing`, `stable`): see [`ChannelName::parse`].
    ChannelName
);

impl ChannelName {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_len(field, value, 1, 32)?;
        check_pattern(field, value, &CHANNEL_RE, CHANNEL)?;
        Ok(Self(value.to_owned()))
    }
}

/// The SSM parameter hierarchy channels are published under (default `/image-release`): a
/// path of SSM's parameter-name characters (`a-zA-Z0-9_.-` and `/`), starting with `/`, not
/// ending with one, without empty levels, and not under `/aws` or `/ssm` (reserved by SSM,
/// case-insensitively: user guide "Parameter naming constraints"). At most 200 characters and
/// 13 levels, so that `<prefix>/<image>/<channel>` stays within SSM's 15 levels and 1,011
/// characters of a parameter name.
const PARAMETER_PREFIX: &str = r"^(/[a-zA-Z0-9_.-]+)+$";
static PARAMETER_PREFIX_RE: LazyLock<Regex> = LazyLock::new(|| regex(PARAMETER_PREFIX));

string_type!(
    /// The SSM parameter hierarchy of the channels: see [`ParameterPrefix::parse`].
    ParameterPrefix
);

impl ParameterPrefix {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_len(field, value, 2, 200)?;
        check_pattern(field, value, &PARAMETER_PREFIX_RE, PARAMETER_PREFIX)?;
        let first = value[1..].split('/').next().unwrap_or_default();
        let lower = first.to_ascii_lowercase();
        if lower.starts_with("aws") || lower.starts_with("ssm") {
            return Err(ValidationError::new(
                field,
                "must not begin with aws or ssm (reserved by SSM, in any case)",
                value,
            ));
        }
        if value.matches('/').count() > 13 {
            return Err(ValidationError::new(
                field,
                "must have at most 13 levels (SSM allows 15, and <image>/<channel> adds two)",
                value,
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// `<prefix>/<image>/<channel>`: the parameter a launch template resolves with
    /// `resolve:ssm:<name>`.
    pub fn parameter(&self, image: &str, channel: &ChannelName) -> String {
        format!("{}/{image}/{channel}", self.0)
    }
}
