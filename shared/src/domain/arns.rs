//! ARNs and the release id derived from an image build version ARN.

use super::*;

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

    /// The ARN's fourth field: the pipeline's region.
    pub fn region(&self) -> &str {
        self.0.split(':').nth(3).unwrap_or_default()
    }

    /// The ARN's fifth field: the account that owns the pipeline.
    pub fn account(&self) -> &str {
        self.0.split(':').nth(4).unwrap_or_default()
    }

    /// The pipeline's name (`[a-z0-9-_]+`, after `image-pipeline/`).
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
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

/// What `ReleaseId::parse` accepts (within 128 characters): `<image name>-<x.y.z>-<build>`, the
/// image name as Image Builder's imageBuildVersionArn spells it.
pub const RELEASE_ID: &str = r"^[a-z0-9-_]+-[0-9]+\.[0-9]+\.[0-9]+-[0-9]+$";
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

    /// The public S3 prefix of this release (ends with `/`): its exported disks, `SHA256SUMS`,
    /// manifest and signatures. CloudFront may read an object here only once publish-release
    /// has tagged it published.
    pub fn prefix(&self) -> String {
        format!("releases/{}/", self.0)
    }

    /// The private S3 prefix of this release's records (ends with `/`): build, distribution,
    /// export, AppStream, failure, retry and status records. CloudFront has no grant here.
    pub fn state_prefix(&self) -> String {
        format!("state/{}/", self.0)
    }
}

/// The image part of a release id: the name Image Builder gives the image (its recipe's name,
/// as the imageBuildVersionArn spells it).
pub const IMAGE_NAME: &str = r"^[a-z0-9-_]+$";
static IMAGE_NAME_RE: LazyLock<Regex> = LazyLock::new(|| regex(IMAGE_NAME));

string_type!(
    /// The image a release is of, as operators name it (`golden`): the part of a release id
    /// before its version. Channels belong to an image.
    ImageName
);

impl ImageName {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_len(field, value, 1, 128)?;
        check_pattern(field, value, &IMAGE_NAME_RE, IMAGE_NAME)?;
        Ok(Self(value.to_owned()))
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
