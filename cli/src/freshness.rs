//! The signed catalog's freshness, as `verify` checks it: `latest.json`, `index.json` and each
//! channel record are signed with the stack's key and sealed (a sequence that only grows, an expiry), and this
//! machine remembers the highest sequence it has seen of each, per bucket, so that an older
//! catalog served in place of the current one is refused.

use crate::verify::{Finding, PublicKeySource, origin_of, signature_problem};
use shared::aws::s3::S3Adapter;
use shared::ports::ArtifactStore;
use shared::release::keys;
use std::collections::BTreeMap;

/// What is wrong with a signed catalog document's freshness: no seal, an expired one, or a
/// sequence lower than one already seen (`seen`) — an older catalog replayed.
pub fn freshness_problem(
    seal: Option<&shared::catalog::Seal>,
    seen: Option<u64>,
    now: std::time::SystemTime,
) -> Option<String> {
    let Some(seal) = seal else {
        return Some(
            "has no seal (sequence and expiry): not written by a sealing publisher".into(),
        );
    };
    if seal.expired(now) {
        return Some(format!(
            "expired at {}: publish-release has not renewed it (stopped, or the document is frozen)",
            seal.expires_at
        ));
    }
    match seen {
        Some(seen) if seal.sequence < seen => Some(format!(
            "is sequence {}, older than sequence {seen} seen before: an older catalog served in place of the current one",
            seal.sequence
        )),
        _ => None,
    }
}

/// Where the highest sequence of each catalog document this machine has seen is kept, per
/// bucket: `seen-<bucket>.json` in `$IMAGE_RELEASE_STATE_DIR`, else
/// `$XDG_STATE_HOME/image-release`, else `~/.local/state/image-release`; `None` without any.
fn seen_file(bucket: &str) -> Option<std::path::PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    let dir = var("IMAGE_RELEASE_STATE_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            var("XDG_STATE_HOME").map(|d| std::path::PathBuf::from(d).join("image-release"))
        })
        .or_else(|| {
            var("HOME").map(|h| std::path::PathBuf::from(h).join(".local/state/image-release"))
        })?;
    Some(dir.join(format!("seen-{bucket}.json")))
}

/// The signature and freshness findings of the signed catalog documents (`latest.json`,
/// `index.json`): each signature verifies with the key, the seal has not expired, and its
/// sequence is not lower than one seen before (then recorded as seen).
pub(crate) async fn check_catalog(
    config: &aws_config::SdkConfig,
    store: &S3Adapter,
    source: &PublicKeySource,
) -> Vec<Finding> {
    let origin = origin_of(source);
    let key = match crate::provenance::SignedManifests::key(config, store, source).await {
        Ok(key) => key,
        Err(problem) => return vec![Finding::new("catalog", origin, Some(problem))],
    };
    let path = seen_file(store.bucket());
    let mut seen: BTreeMap<String, u64> = path
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let now = std::time::SystemTime::now();
    let mut findings = Vec::new();
    // The channel records are sealed and signed the same way (read from the bucket: they are
    // not served).
    let channels = match store.list_keys(shared::channels::keys::PREFIX).await {
        Ok(keys) => keys
            .into_iter()
            .filter(|k| shared::channels::keys::is_record(k))
            .collect(),
        Err(e) => {
            findings.push(Finding::new(
                "catalog",
                shared::channels::keys::PREFIX.to_owned(),
                Some(format!("could not list the channels: {e}")),
            ));
            Vec::new()
        }
    };
    let documents = [keys::LATEST.to_owned(), keys::INDEX.to_owned()]
        .into_iter()
        .chain(channels);
    for document in documents {
        let document = document.as_str();
        #[derive(serde::Deserialize)]
        struct Sealed {
            seal: Option<shared::catalog::Seal>,
        }
        let problem = match (
            store.get_json::<Sealed>(document).await,
            store.sha256(document).await,
            store.read_bytes(&keys::signature(document)).await,
        ) {
            (Ok(None), _, _) => None,
            (Ok(Some(sealed)), Ok(Some(digest)), Ok(signature)) => {
                if signature.is_none() && !source.pinned() {
                    findings.push(Finding::new(
                        "catalog",
                        format!("{document} (not signed; pass --signing-key or --public-key to require it)"),
                        None,
                    ));
                    continue;
                }
                let problem = signature_problem(&key, &digest.sha256, signature.as_deref())
                    .or_else(|| {
                        freshness_problem(sealed.seal.as_ref(), seen.get(document).copied(), now)
                    });
                if problem.is_none()
                    && let Some(seal) = &sealed.seal
                {
                    let entry = seen.entry(document.to_owned()).or_default();
                    *entry = (*entry).max(seal.sequence);
                }
                problem
            }
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                Some(format!("could not read it: {e}"))
            }
            (Ok(Some(_)), Ok(None), _) => Some("vanished while it was checked".into()),
        };
        findings.push(Finding::new(
            "catalog",
            format!("{document} ({origin})"),
            problem,
        ));
    }
    if let Some(path) = path {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(&path, serde_json::to_vec_pretty(&seen).unwrap_or_default());
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_catalog_document_is_unsealed_expired_or_older_than_seen_should_say_so() {
        use shared::catalog::Seal;
        let now = std::time::SystemTime::now();
        let seal = |sequence, expires_at: std::time::SystemTime| Seal {
            sequence,
            expires_at: shared::release::timestamp(expires_at),
        };
        let day = std::time::Duration::from_secs(86_400);
        assert_eq!(
            freshness_problem(Some(&seal(5, now + day)), None, now),
            None
        );
        assert_eq!(
            freshness_problem(Some(&seal(5, now + day)), Some(5), now),
            None
        );
        assert!(
            freshness_problem(None, None, now)
                .unwrap()
                .contains("no seal")
        );
        assert!(
            freshness_problem(Some(&seal(5, now - day)), None, now)
                .unwrap()
                .contains("expired")
        );
        let older = freshness_problem(Some(&seal(4, now + day)), Some(5), now).unwrap();
        assert!(
            older.contains("sequence 4, older than sequence 5"),
            "{older}"
        );
    }
}
