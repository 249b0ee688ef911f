//! `image-release`: see, check and drive releases from one command line, against real AWS (the
//! standard credential chain: `--profile`, `--region`, environment) or the local stack (the SDK's
//! `AWS_ENDPOINT_URL_<SERVICE>` variables). Tables for people, `--json` for scripts.
//!
//! Exit codes and messages: one contract for every command, [`contract`].

pub mod channels;
pub mod contract;
pub mod doctor;
pub mod freshness;
pub mod live;
pub mod provenance;
pub mod retention;
pub mod retry;
pub mod revoke;
pub mod revoked;
pub mod sign;
pub mod status;
pub mod url;
pub mod verify;

pub use contract::Failure;

use clap::{Parser, Subcommand};
use serde_json::json;
use shared::aws::eventbridge::EventBridgeAdapter;
use shared::aws::regional;
use shared::aws::s3::S3Adapter;
use shared::clock::{age, display, parse_duration, parse_time};
use shared::domain::{BucketName, ImagePipelineArn, ReleaseId, ReleaseVersion};
use shared::ports::{ArtifactStore, ReleaseEvents};
use shared::release::{Manifest, keys};
use std::process::ExitCode;
use std::time::SystemTime;

#[derive(Parser, Debug)]
#[command(
    name = "image-release",
    version,
    about = "See, check and drive image releases"
)]
pub struct Cli {
    /// The artifact bucket (stack output ArtifactBucketName).
    #[arg(long, env = "IMAGE_RELEASE_BUCKET", global = true)]
    pub bucket: Option<String>,
    /// AWS profile (default: the standard credential chain).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// AWS region (default: the profile's or AWS_REGION).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Every release with its state, age and the step it waits on; or one release's steps.
    Status {
        /// A release id such as golden-1.0.0-1.
        release: Option<String>,
        /// Also ask AWS for the state of every resource the records name.
        #[arg(long, requires = "release")]
        live: bool,
    },
    /// The download URL of a release's artifact; a CloudFront signed URL with a key. A revoked
    /// release's is refused unless --force.
    Url(url::UrlArgs),
    /// Checks a published release against AWS: AMIs, artifacts (size and SHA-256), AppStream
    /// images, the signatures of SHA256SUMS and the manifest, CloudFront URLs. Prints every mismatch; exit 1 if there is any.
    Verify {
        release: String,
        /// Do not request the CloudFront URLs (e.g. against the local stack).
        #[arg(long)]
        skip_urls: bool,
        /// The CloudFront public key id, when the disks need signed URLs.
        #[arg(long, requires = "private_key")]
        key_pair_id: Option<String>,
        /// The matching RSA private key (PEM file).
        #[arg(long, requires = "key_pair_id")]
        private_key: Option<std::path::PathBuf>,
        #[command(flatten)]
        keys: provenance::KeyArgs,
        /// The SSM hierarchy of the channels' parameters (stack output ChannelParameterPrefix),
        /// checked for a revoked release.
        #[arg(long, env = "IMAGE_RELEASE_PARAMETER_PREFIX")]
        parameter_prefix: Option<String>,
    },
    /// Follows a release, one progress bar per step, until it is published (exit 0) or fails (exit 1).
    Watch {
        release: String,
        /// How often to look: a whole number and s, m, h or d.
        #[arg(long, default_value = "10s")]
        interval: String,
        /// Give up (exit 1) after this long.
        #[arg(long)]
        timeout: Option<String>,
    },
    /// Shows what failed; on confirmation (or --yes) clears the failure and puts the release back
    /// on publish-release's pending list, which re-drives it with the same idempotent tokens.
    Retry {
        release: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Checks a deployment's configuration against AWS (from --stack or flags): one line per
    /// finding with its fix; exit 1 if any fails.
    Doctor(doctor::Settings),
    /// Every channel (of one image): the release it points at, since when, who moved it, and
    /// whether its SSM parameters and the catalog show it yet.
    Channels {
        /// An image name such as golden (default: every image).
        image: Option<String>,
    },
    /// Checks a published release (every check of verify but the URLs; each AMI of the building
    /// account not deprecated and shared as the distribution configuration says), then points
    /// CHANNEL at it: its record, the SSM parameter of each region, the catalog. A failed check
    /// moves nothing (exit 1).
    Promote {
        /// A release id such as golden-1.0.0-2.
        release: String,
        /// The channel, e.g. stable.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        settings: channels::MoveSettings,
    },
    /// Moves a channel back to the release it pointed at before (skipping any a rollback
    /// already left), or to --to RELEASE, with the same checks as promote.
    Rollback {
        /// The channel, e.g. stable.
        #[arg(long)]
        channel: String,
        /// The image (default: the only image that has this channel).
        #[arg(long)]
        image: Option<String>,
        /// The release to move to (default: the previous one).
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        settings: channels::MoveSettings,
    },
    /// Takes a published release back on every surface: records the decision, which
    /// publish-release's next tick carries out (channels moved or emptied, the catalog and page
    /// marked, disks withdrawn and invalidated, AMIs deprecated, Release Revoked). `verify`
    /// then checks it is revoked everywhere.
    Revoke {
        release: String,
        #[command(flatten)]
        options: revoke::RevokeOptions,
    },
    /// The retention policy: `plan` lists what it would deprecate or delete, why and what it
    /// saves; `apply` does it (the AMIs something still uses are kept).
    Retention {
        #[command(subcommand)]
        action: RetentionAction,
    },
    /// Puts a "Release Requested" event on the release bus (start-pipeline takes it). Your
    /// principal must be one of the stack's ReleaseOperatorArns: the bus refuses anyone else.
    Request {
        /// The release bus (stack output ReleaseBusName).
        #[arg(long, env = "IMAGE_RELEASE_EVENT_BUS")]
        event_bus: String,
        /// The pipeline to run (default: the stack's PipelineArn).
        #[arg(long)]
        pipeline: Option<String>,
        /// The release version the request is for (its idempotency key).
        #[arg(long)]
        version: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RetentionAction {
    /// What the policy would do, and why; nothing is changed.
    Plan {
        #[command(flatten)]
        policy: retention::PolicyArgs,
        /// The key each release's manifest must verify with: only a release so proven has its
        /// AMIs planned for.
        #[command(flatten)]
        keys: provenance::KeyArgs,
    },
    /// The plan, then (confirmed, or --yes) done.
    Apply {
        #[command(flatten)]
        policy: retention::PolicyArgs,
        #[command(flatten)]
        keys: provenance::KeyArgs,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

type Outcome = Result<Option<String>, Failure>;

pub async fn run(cli: Cli) -> ExitCode {
    let result = match &cli.command {
        Command::Status { release, live } => status::status(&cli, release.as_deref(), *live).await,
        Command::Url(args) => url::url(&cli, args).await,
        Command::Verify {
            release,
            skip_urls,
            key_pair_id,
            private_key,
            keys,
            parameter_prefix,
        } => match (
            signing_key(key_pair_id.as_deref().zip(private_key.as_deref())),
            keys.source(),
        ) {
            (Ok(key), Ok(public_key)) => {
                let options = verify::Options {
                    skip_urls: *skip_urls,
                    catalog: true,
                    key,
                    public_key,
                    parameter_prefix: parameter_prefix.clone(),
                };
                verify::verify(&cli, release, options).await
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
        Command::Watch {
            release,
            interval,
            timeout,
        } => match (
            parse_duration("--interval", interval),
            timeout
                .as_deref()
                .map(|t| parse_duration("--timeout", t))
                .transpose(),
        ) {
            (Ok(interval), Ok(timeout)) => status::watch(&cli, release, interval, timeout).await,
            (Err(e), _) | (_, Err(e)) => Err(Failure::Usage(e.to_string())),
        },
        Command::Doctor(settings) => doctor::doctor(&cli, settings).await,
        Command::Retry { release, yes } => retry::retry(&cli, release, *yes).await,
        Command::Retention { action } => match action {
            RetentionAction::Plan { policy, keys } => retention::plan(&cli, policy, keys).await,
            RetentionAction::Apply { policy, keys, yes } => {
                retention::apply(&cli, policy, keys, *yes).await
            }
        },
        Command::Revoke { release, options } => revoke::revoke(&cli, release, options).await,
        Command::Channels { image } => channels::list(&cli, image.as_deref()).await,
        Command::Promote {
            release,
            to,
            settings,
        } => channels::promote(&cli, release, to, settings).await,
        Command::Rollback {
            channel,
            image,
            to,
            settings,
        } => channels::rollback(&cli, channel, image.as_deref(), to.as_deref(), settings).await,
        Command::Request {
            event_bus,
            pipeline,
            version,
        } => request(&cli, event_bus, pipeline.as_deref(), version.as_deref()).await,
    };
    contract::finish(result, cli.json)
}

/// The SDK's configuration (the standard chain, `--profile`, `--region`), with a region of an
/// AWS partition: a missing or malformed region is a configuration error (exit 2), where the
/// SDK would only fail at the first call.
async fn sdk(cli: &Cli) -> Result<aws_config::SdkConfig, Failure> {
    if let Some(region) = &cli.region {
        shared::domain::RegionName::parse_known("--region", region)?;
    }
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(shared::aws::https_client());
    if let Some(profile) = &cli.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &cli.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let config = loader.load().await;
    let region = config.region().ok_or_else(|| {
        Failure::Usage(
            "no region: pass --region, set AWS_REGION or give the profile a region".into(),
        )
    })?;
    if cli.region.is_none() {
        shared::domain::RegionName::parse_known(
            "the region (AWS_REGION or the profile's)",
            region.as_ref(),
        )?;
    }
    Ok(config)
}

/// The channels' SSM hierarchy, which only the stack knows (its default names the stack).
fn parameter_prefix(value: Option<&str>) -> Result<shared::domain::ParameterPrefix, Failure> {
    let value = value.ok_or_else(|| {
        Failure::Usage(
            "no parameter prefix: pass --parameter-prefix or set IMAGE_RELEASE_PARAMETER_PREFIX \
             (stack output ChannelParameterPrefix)"
                .into(),
        )
    })?;
    shared::domain::ParameterPrefix::parse("--parameter-prefix", value)
        .map_err(|e| Failure::Usage(e.to_string()))
}

async fn store(cli: &Cli) -> Result<S3Adapter, Failure> {
    let bucket = cli.bucket.as_deref().ok_or_else(|| {
        Failure::Usage("no bucket: pass --bucket or set IMAGE_RELEASE_BUCKET (stack output ArtifactBucketName)".into())
    })?;
    let bucket = BucketName::parse("--bucket", bucket)?;
    Ok(S3Adapter::new(&sdk(cli).await?, bucket))
}

/// Prose for the operator (what a command is about to do): on stdout for people, on stderr
/// with `--json`, whose stdout carries only results.
fn say(cli: &Cli, text: &str) {
    if cli.json {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
}

/// Asks `question` on the terminal; anything but y/yes (or no answer) declines.
fn confirm(question: &str) -> Result<bool, Failure> {
    use std::io::{BufRead, Write};
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::Usage(format!("reading the answer: {e} (pass --yes)")))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn release_id(value: &str) -> Result<ReleaseId, Failure> {
    ReleaseId::parse("RELEASE", value).map_err(|e| Failure::Usage(e.to_string()))
}

fn aws(what: &str) -> impl Fn(shared::ServiceError) -> Failure + '_ {
    move |e| Failure::Problem(format!("{what}: {e}"))
}

/// A state as the records spell it (`published`, `pending`, `done`, …).
fn name(state: impl serde::Serialize) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn ago(timestamp: &str) -> String {
    parse_time(timestamp)
        .map(|t| display(age(SystemTime::now(), t)))
        .unwrap_or_else(|| "?".into())
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(headers.iter().map(|h| (*h).to_owned()).collect())];
    out.extend(rows.iter().cloned().map(line));
    out.join("\n")
}

/// The manifest of a published release (exit 1 when there is none, the contract's words for
/// an unknown or unpublished release, or when the manifest at
/// its path names another release: its signature would then prove the other's objects).
async fn published(store: &S3Adapter, id: &ReleaseId) -> Result<Manifest, Failure> {
    let key = keys::manifest(id);
    let manifest: Option<Manifest> = store
        .get_json(&key)
        .await
        .map_err(aws("reading the manifest"))?;
    let Some(manifest) = manifest else {
        return Err(match status::current_status(store, id).await? {
            Some(status) => contract::not_published(id, &name(status.state)),
            None if status::registered(store, id).await? => contract::not_published(id, "pending"),
            None => contract::unknown_release(id, store.bucket()),
        });
    };
    if manifest.release_id != *id {
        return Err(Failure::Problem(format!(
            "{key} names release {}, not {id}: it is not this release's manifest",
            manifest.release_id
        )));
    }
    Ok(manifest)
}

/// Every downloadable artifact of a manifest (a v1 manifest has only `export`).
fn artifacts(manifest: &Manifest) -> Vec<shared::release::ManifestExport> {
    if manifest.artifacts.is_empty() {
        manifest.export.iter().cloned().collect()
    } else {
        manifest.artifacts.clone()
    }
}

/// The key pair of `--key-pair-id` and `--private-key`, read and parsed.
fn signing_key(
    key: Option<(&str, &std::path::Path)>,
) -> Result<Option<(String, rsa::RsaPrivateKey)>, Failure> {
    let Some((id, path)) = key else {
        return Ok(None);
    };
    let pem = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("--private-key {}: {e}", path.display())))?;
    let key = sign::private_key(&pem)
        .map_err(|e| Failure::Usage(format!("--private-key {}: {e}", path.display())))?;
    Ok(Some((id.to_owned(), key)))
}

async fn request(
    cli: &Cli,
    event_bus: &str,
    pipeline: Option<&str>,
    version: Option<&str>,
) -> Outcome {
    let bus = shared::domain::EventBusName::parse("--event-bus", event_bus)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let mut detail = json!({});
    if let Some(p) = pipeline {
        let arn =
            ImagePipelineArn::parse("--pipeline", p).map_err(|e| Failure::Usage(e.to_string()))?;
        detail["pipelineArn"] = arn.as_str().into();
    }
    if let Some(v) = version {
        let version =
            ReleaseVersion::parse("--version", v).map_err(|e| Failure::Usage(e.to_string()))?;
        detail["releaseVersion"] = version.as_str().into();
    }
    let events = EventBridgeAdapter::new(&sdk(cli).await?, bus.clone());
    events
        .put("Release Requested", &[], &detail)
        .await
        .map_err(aws("putting Release Requested"))?;
    if cli.json {
        println!(
            "{}",
            json!({ "put": "Release Requested", "detail": detail })
        );
    } else {
        println!("Release Requested put on {bus}: {detail}");
    }
    Ok(None)
}
