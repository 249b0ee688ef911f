//! `url RELEASE`: the download URL of a release's artifact, a CloudFront signed URL with a key.

use crate::{Cli, Failure, Outcome, artifacts, published, release_id, sign, signing_key, store};
use serde_json::json;
use shared::clock::{parse_duration, parse_time};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a signed URL lives when neither `--expires` nor `--expires-at` says.
pub const DEFAULT_LIFETIME: &str = "7d";

/// The longest a signed download URL may live, by either flag: the longest `--expires`.
pub const MAX_URL_LIFETIME: Duration = shared::clock::MAX_DURATION;

/// What `url` is asked for.
#[derive(Debug, Clone, clap::Args)]
pub struct UrlArgs {
    pub release: String,
    /// VMDK, RAW or VHD (default: the manifest's first artifact).
    #[arg(long)]
    pub format: Option<String>,
    /// How long a signed URL is valid: a whole number and s, m, h or d, at most 3650d
    /// (default 7d). Only with a key: an unsigned URL does not expire.
    #[arg(long, conflicts_with = "expires_at")]
    pub expires: Option<String>,
    /// An exact expiry (RFC 3339, e.g. 2026-12-31T00:00:00Z) instead of --expires: in the
    /// future, at most 3650 days ahead.
    #[arg(long)]
    pub expires_at: Option<String>,
    /// The CloudFront public key id (stack output DownloadSigningKeyId).
    #[arg(long, requires = "private_key")]
    pub key_pair_id: Option<String>,
    /// The matching RSA private key (PEM file).
    #[arg(long, requires = "key_pair_id")]
    pub private_key: Option<std::path::PathBuf>,
    /// Hand out the URL of a revoked release anyway.
    #[arg(long)]
    pub force: bool,
}

/// When a signed URL expires, in seconds since the epoch: in the future and at most
/// [`MAX_URL_LIFETIME`] ahead, whichever flag asked (usage error otherwise).
pub fn expiry(
    expires: Option<&str>,
    expires_at: Option<&str>,
    now: SystemTime,
) -> Result<u64, Failure> {
    let (flag, at) = match (expires, expires_at) {
        (_, Some(at)) => (
            "--expires-at",
            parse_time(at).ok_or_else(|| {
                Failure::Usage(format!(
                    "--expires-at: must be an RFC 3339 time such as 2026-12-31T00:00:00Z (got {at:?})"
                ))
            })?,
        ),
        (expires, None) => {
            let given = expires.unwrap_or(DEFAULT_LIFETIME);
            let wait = parse_duration("--expires", given)?;
            let at = now.checked_add(wait).ok_or_else(|| {
                Failure::Usage(format!("--expires: must be at most 3650d (ten years) (got {given:?})"))
            })?;
            ("--expires", at)
        }
    };
    let shown = expires_at.or(expires).unwrap_or(DEFAULT_LIFETIME);
    let lifetime = at.duration_since(now).unwrap_or(Duration::ZERO);
    if lifetime.is_zero() {
        return Err(Failure::Usage(format!(
            "{flag}: must be in the future: the URL would be born expired (got {shown:?})"
        )));
    }
    if lifetime > MAX_URL_LIFETIME {
        return Err(Failure::Usage(format!(
            "{flag}: must be at most 3650d (ten years) ahead: a signed URL is a credential (got {shown:?})"
        )));
    }
    Ok(at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs())
}

pub async fn url(cli: &Cli, args: &UrlArgs) -> Outcome {
    let id = release_id(&args.release)?;
    // The formats ExportImage makes (any case): checked before the manifest is read.
    let wanted = args
        .format
        .as_deref()
        .map(|f| shared::domain::DiskImageFormat::parse("--format", &f.to_ascii_uppercase()))
        .transpose()?;
    let key = signing_key(args.key_pair_id.as_deref().zip(args.private_key.as_deref()))?;
    if key.is_none()
        && let Some((flag, value)) = args
            .expires
            .as_deref()
            .map(|v| ("--expires", v))
            .or(args.expires_at.as_deref().map(|v| ("--expires-at", v)))
    {
        return Err(Failure::Usage(format!(
            "{flag}: only a signed URL expires; pass --key-pair-id and --private-key too, or \
             drop {flag} (got {value:?})"
        )));
    }
    let expires = match key {
        Some(_) => Some(expiry(
            args.expires.as_deref(),
            args.expires_at.as_deref(),
            SystemTime::now(),
        )?),
        None => None,
    };
    let store = store(cli).await?;
    let manifest = published(&store, &id).await?;
    if let Some(record) = crate::revoke::revocation(&store, &id).await?
        && !args.force
    {
        return Err(Failure::Problem(format!(
            "{}: no URL handed out (--force hands it out anyway)",
            crate::contract::revoked(&record)
        )));
    }
    let artifacts = artifacts(&manifest);
    let formats: Vec<&str> = artifacts.iter().map(|a| a.format.as_str()).collect();
    let artifact = match wanted.map(|w| w.as_str()) {
        Some(f) => artifacts
            .iter()
            .find(|a| a.format.as_str() == f)
            .ok_or_else(|| {
                Failure::Problem(format!(
                    "release {id} has no {f} artifact; it has {}",
                    if formats.is_empty() {
                        "none".to_owned()
                    } else {
                        formats.join(", ")
                    }
                ))
            })?,
        None => artifacts.first().ok_or_else(|| {
            Failure::Problem(format!("release {id} has no downloadable artifact"))
        })?,
    };
    let url = match (&key, expires) {
        (Some((key_pair_id, key)), Some(at)) => {
            sign::signed_url(&artifact.url, key_pair_id, key, at)
        }
        _ => artifact.url.clone(),
    };
    if cli.json {
        println!(
            "{}",
            json!({ "url": url, "format": artifact.format, "sha256": artifact.sha256, "size_bytes": artifact.size_bytes, "expires": expires })
        );
    } else {
        println!("{url}");
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_796_601_600) // 2026-12-07T00:00:00Z
    }

    #[test]
    fn when_an_expiry_is_in_the_past_or_too_far_should_refuse_it_with_either_flag() {
        let born_expired = [
            (Some("0s"), None),
            (None, Some("2020-01-01T00:00:00Z")),
            (None, Some("2026-12-07T00:00:00Z")),
        ];
        for (expires, at) in born_expired {
            let e = expiry(expires, at, now()).unwrap_err();
            assert!(e.message().contains("must be in the future"), "{e:?}");
            assert_eq!(e.code(), 2);
        }
        for (expires, at) in [(Some("3651d"), None), (None, Some("2999-01-01T00:00:00Z"))] {
            let e = expiry(expires, at, now()).unwrap_err();
            assert!(
                e.message().contains("must be at most 3650d (ten years)"),
                "{e:?}"
            );
        }
        assert_eq!(
            expiry(None, None, now()).unwrap(),
            1_796_601_600 + 7 * 86_400
        );
        assert_eq!(
            expiry(Some("3650d"), None, now()).unwrap(),
            1_796_601_600 + 3650 * 86_400
        );
        assert_eq!(
            expiry(None, Some("2026-12-08T00:00:00Z"), now()).unwrap(),
            1_796_601_600 + 86_400
        );
        let e = expiry(None, Some("tomorrow"), now()).unwrap_err();
        assert!(e.message().contains("(got \"tomorrow\")"), "{e:?}");
    }
}
