//! publish-release's configuration: its own variables, the deadlines, and the configuration of
//! every step it re-drives as the reconciler (read with the same variables, by the same code, as
//! the functions that run those steps on the event path).

use shared::clock::parse_duration;
use shared::config::{Env, RequiredSteps};
use shared::domain::{BucketName, ChannelName, ParameterPrefix, RegionName};
use shared::release::Step;
use shared::steps::{appstream, distribute, export};
use shared::{ConfigError, ValidationError};
use std::time::Duration;

/// The longest a step may wait (`DEADLINE_<STEP>`), and the whole release (`DEADLINE_RELEASE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub build: Duration,
    pub distribution: Duration,
    pub export: Duration,
    pub appstream: Duration,
    pub release: Duration,
}

impl Deadlines {
    pub fn of(&self, step: Step) -> Duration {
        match step {
            Step::Build => self.build,
            Step::Distribution => self.distribution,
            Step::Export => self.export,
            Step::Appstream => self.appstream,
            Step::Publish => self.release,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `AWS_REGION` (set by Lambda): the home region.
    pub region: RegionName,
    /// `ARTIFACT_BUCKET`
    pub bucket: BucketName,
    /// `CDN_DOMAIN`: the host name users download from (the distribution's domain or an alias).
    pub cdn_domain: String,
    /// `EVENT_BUS_NAME` (default `default`): where Release Published and Release Failed go;
    /// the template passes its release bus.
    pub event_bus: shared::domain::EventBusName,
    /// `SIGNING_KEY_ID` (optional): the KMS key (`ECC_NIST_P256`, `SIGN_VERIFY`) that signs
    /// each publication's `SHA256SUMS` and manifest; unset, nothing is signed.
    pub signing_key: Option<shared::domain::KmsKeyId>,
    /// `APPSTREAM_DESTINATION_REGIONS`: the regions copies are followed in.
    pub destinations: Vec<RegionName>,
    /// `REQUIRED_STEPS`: which steps a release needs before it is published.
    pub required: RequiredSteps,
    /// `DEADLINE_BUILD`, `DEADLINE_DISTRIBUTION`, `DEADLINE_EXPORT`, `DEADLINE_APPSTREAM`,
    /// `DEADLINE_RELEASE` (defaults 6h, 3h, 12h, 6h, 24h).
    pub deadlines: Deadlines,
    /// `DISCOVERY_LOOKBACK` (default 2d): images a pipeline built this recently are registered
    /// as releases when nothing registered them (a pipeline's own schedule, a lost event).
    pub lookback: Duration,
    /// `DISTRIBUTION_RETRIES` (default 2, at most 10): RetryImage calls for a failed distribution.
    pub distribution_retries: u32,
    /// `CHECKSUM_MAX_GIB` (default 16384, EBS's largest volume; 1–65536): the largest exported
    /// disk hashed, a cost decision (each GiB costs the same GB-s whatever the size). Larger
    /// exports fail the export step with this limit in the reason.
    pub checksum_max_bytes: u64,
    /// `CHECKSUM_SLICE_MIB` (default 16384, 1–1048576): what one invocation hashes of an
    /// export before it saves the hash's state for the next (a slice must fit in the timeout).
    pub checksum_slice_bytes: u64,
    /// `RECONCILE_CONCURRENCY` (default 16, 1–64): releases looked at in parallel per tick.
    pub concurrency: usize,
    /// `RELEASE_RETENTION_DAYS` (1–36500; unset: kept for ever): the bucket's retention rule for
    /// `releases/`. The catalog offers a release's downloads until a day before it may act.
    pub retention_days: Option<u32>,
    /// `CDN_DISTRIBUTION_ID` (optional): the download distribution, whose cached paths of a
    /// revoked release's disks are invalidated; unset, nothing is invalidated.
    pub cdn_distribution_id: Option<String>,
    /// `RETENTION_KEEP_NEWEST`, `RETENTION_KEEP_CHANNEL_DAYS`, `RETENTION_DEPRECATE_AFTER_DAYS`,
    /// `RETENTION_DELETE_AFTER_DAYS`: the retention policy ([`shared::retention::Policy`]).
    pub retention: shared::retention::Policy,
    /// `RETENTION_INTERVAL` (default `1d`): the least time between two retention runs.
    pub retention_interval: Duration,
    /// `RELEASE_CHANNEL` (default `testing`): the channel a published release goes into.
    pub channel: ChannelName,
    /// `PIPELINE_CHANNELS` (optional, empty is none): `<pipeline name>=<channel>` pairs, separated by commas,
    /// for pipelines whose releases go into another channel than `RELEASE_CHANNEL`.
    pub pipeline_channels: Vec<(String, ChannelName)>,
    /// `CHANNEL_PARAMETER_PREFIX` (default `/image-release`): the SSM hierarchy of the channels'
    /// parameters, `<prefix>/<image>/<channel>`.
    pub parameter_prefix: ParameterPrefix,
    /// The distribution step (`PIPELINE_ARNS`, `DISTRIBUTION_*`, `RELEASE_TAGS`).
    pub distribute: distribute::Config,
    /// The export step, when `REQUIRED_STEPS` has it (`EXPORT_*`).
    pub export: Option<export::Config>,
    /// The AppStream step, when `REQUIRED_STEPS` has it (`APPSTREAM_*`).
    pub appstream: Option<appstream::Config>,
}

fn host_name(field: &str, v: &str) -> Result<String, ValidationError> {
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    if ok {
        Ok(v.to_owned())
    } else {
        Err(ValidationError::new(
            field,
            "must be a host name such as d111111abcdef8.cloudfront.net",
            v,
        ))
    }
}

/// A CloudFront distribution id: upper-case letters and digits (CloudFront's ids are 13–14
/// characters; 1–64 accepted).
fn distribution_id(field: &str, v: &str) -> Result<String, ValidationError> {
    if !v.is_empty()
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        Ok(v.to_owned())
    } else {
        Err(ValidationError::new(
            field,
            "must be a CloudFront distribution id such as E2QWRUHAPOMQZL",
            v,
        ))
    }
}

/// `<pipeline name>=<channel>`: an Image Builder pipeline name (1–128 characters, its
/// `ResourceName` pattern `^[-_A-Za-z-0-9][-_A-Za-z0-9 ]{1,126}[-_A-Za-z-0-9]$`) and a channel.
fn pipeline_channel(field: &str, v: &str) -> Result<(String, ChannelName), ValidationError> {
    let (name, channel) = v
        .split_once('=')
        .ok_or_else(|| ValidationError::new(field, "must be <pipeline name>=<channel>", v))?;
    let name = name.trim();
    let ok = (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ' '))
        && !name.starts_with(' ')
        && !name.ends_with(' ');
    if !ok {
        return Err(ValidationError::new(
            field,
            "must start with an Image Builder pipeline name (1-128 of A-Z a-z 0-9 - _ and inner spaces)",
            v,
        ));
    }
    Ok((name.to_owned(), ChannelName::parse(field, channel.trim())?))
}

impl Config {
    /// The channel a release of `pipeline_arn` is published into.
    pub fn channel_for(&self, pipeline_arn: Option<&str>) -> &ChannelName {
        let name = pipeline_arn.and_then(|arn| arn.rsplit('/').next());
        self.pipeline_channels
            .iter()
            .find(|(pipeline, _)| Some(pipeline.as_str()) == name)
            .map_or(&self.channel, |(_, channel)| channel)
    }
}

fn bounded<T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display>(
    min: T,
    max: T,
) -> impl Fn(&str, &str) -> Result<T, ValidationError> {
    move |field, v| {
        v.parse::<T>()
            .ok()
            .filter(|n| *n >= min && *n <= max)
            .ok_or_else(|| {
                ValidationError::new(field, format!("must be a whole number {min} to {max}"), v)
            })
    }
}

impl Config {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&get);
        let required = RequiredSteps::from_env(&env)?;
        let destinations =
            env.list("APPSTREAM_DESTINATION_REGIONS", RegionName::parse_appstream)?;
        if required.appstream && destinations.is_empty() {
            return Err(ConfigError::Missing("APPSTREAM_DESTINATION_REGIONS"));
        }
        let deadlines = Deadlines {
            build: env.or_default("DEADLINE_BUILD", "6h", parse_duration)?,
            distribution: env.or_default("DEADLINE_DISTRIBUTION", "3h", parse_duration)?,
            export: env.or_default("DEADLINE_EXPORT", "12h", parse_duration)?,
            appstream: env.or_default("DEADLINE_APPSTREAM", "6h", parse_duration)?,
            release: env.or_default("DEADLINE_RELEASE", "24h", parse_duration)?,
        };
        Ok(Self {
            region: env.required("AWS_REGION", RegionName::parse)?,
            bucket: env.required("ARTIFACT_BUCKET", BucketName::parse)?,
            cdn_domain: env.required("CDN_DOMAIN", host_name)?,
            event_bus: env.or_default(
                "EVENT_BUS_NAME",
                "default",
                shared::domain::EventBusName::parse,
            )?,
            signing_key: env.optional("SIGNING_KEY_ID", shared::domain::KmsKeyId::parse)?,
            destinations,
            required,
            deadlines,
            lookback: env.or_default("DISCOVERY_LOOKBACK", "2d", parse_duration)?,
            distribution_retries: env.or_default("DISTRIBUTION_RETRIES", "2", bounded(0, 10))?,
            concurrency: env.or_default("RECONCILE_CONCURRENCY", "16", bounded(1, 64))?,
            retention_days: env.optional("RELEASE_RETENTION_DAYS", bounded(1u32, 36_500))?,
            checksum_max_bytes: env.or_default(
                "CHECKSUM_MAX_GIB",
                "16384",
                bounded(1u64, 65_536),
            )? << 30,
            checksum_slice_bytes: env.or_default(
                "CHECKSUM_SLICE_MIB",
                "16384",
                bounded(1u64, 1_048_576),
            )? << 20,
            cdn_distribution_id: env.optional("CDN_DISTRIBUTION_ID", distribution_id)?,
            retention: shared::retention::Policy::from_lookup(&get)?,
            retention_interval: env.or_default("RETENTION_INTERVAL", "1d", parse_duration)?,
            channel: env.or_default(
                "RELEASE_CHANNEL",
                shared::channels::DEFAULT_CHANNEL,
                ChannelName::parse,
            )?,
            // Empty (the template's default) is none.
            pipeline_channels: match env.raw("PIPELINE_CHANNELS") {
                Some(v) if !v.trim().is_empty() => {
                    env.list("PIPELINE_CHANNELS", pipeline_channel)?
                }
                _ => Vec::new(),
            },
            parameter_prefix: env.or_default(
                "CHANNEL_PARAMETER_PREFIX",
                shared::channels::DEFAULT_PARAMETER_PREFIX,
                ParameterPrefix::parse,
            )?,
            distribute: distribute::Config::from_lookup(&get)?,
            export: match required.export {
                true => Some(export::Config::from_lookup(&get)?),
                false => None,
            },
            appstream: match required.appstream {
                true => Some(appstream::Config::from_lookup(&get)?),
                false => None,
            },
        })
    }
}
