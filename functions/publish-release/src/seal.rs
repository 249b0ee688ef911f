//! The catalog's signed freshness. Every write of `catalog/latest.json`,
//! `catalog/index.json` and each channel record takes a new [`Seal`] (a sequence that only grows and an expiry, see
//! [`shared::documents::update`]); at the end of every invocation publish-release signs each
//! document whose stored bytes are not the ones it signed last (`<key>.sig` beside it, KMS over
//! the SHA-256 of the object as stored, as for the manifest), and renews a seal that has less
//! than half its validity left. What it signed is kept in `state/seals.json`.
//!
//! Only a document whose sequence went up since the last signature is signed: a writer past
//! the bucket policy who puts back an older document (a lower or equal sequence) gets a
//! security event, not a signature. A channel record is signed only once proven as the mirror
//! proves it (the record of its key's channel, naming AMIs AWS says are its release's).

use super::*;
use shared::catalog::{Index, Latest, Seal};
use shared::channels::{self, ChannelRecord};
use std::collections::BTreeMap;

/// What publish-release signed of each catalog document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Seals {
    #[serde(default)]
    pub signed: BTreeMap<String, SignedDocument>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SignedDocument {
    pub sha256: String,
    pub sequence: u64,
    pub signed_at: String,
}

pub const SEALS: &str = "state/seals.json";

/// The catalog documents whose freshness is signed (and every channel record,
/// `channels/<image>/<channel>.json`).
pub const SEALED: [&str; 2] = [keys::LATEST, keys::INDEX];

impl<T: Ports> Deps<T> {
    /// Renews the seals that are due, then signs every catalog document that changed since it
    /// was last signed. Nothing without a signing key.
    pub(crate) async fn seal_catalog(&self) -> Result<usize, HandlerError> {
        let Some(signer) = &self.signer else {
            return Ok(0);
        };
        let now = self.clock.now();
        let current: Option<shared::ports::Versioned<Seals>> = self
            .store
            .get_json_versioned(SEALS)
            .await
            .map_err(store_err("reading the catalog's seals"))?;
        let (mut seals, etag) =
            current.map_or((Seals::default(), None), |c| (c.value, Some(c.etag)));
        // Renew what is due first. A channel that cannot be read or renewed is skipped (logged):
        // it never stops the catalog's own signatures.
        let mut documents: Vec<String> = Vec::new();
        for key in SEALED {
            match key {
                keys::LATEST => self.renewed::<Latest>(key, now, |l| &l.seal).await?,
                _ => self.renewed::<Index>(key, now, |i| &i.seal).await?,
            };
            documents.push(key.to_owned());
        }
        match with_backoff(self.retry, || self.store.list_keys(channels::keys::PREFIX)).await {
            Ok(channel_keys) => {
                for key in channel_keys
                    .into_iter()
                    .filter(|k| channels::keys::is_record(k))
                {
                    let last = seals.signed.get(&key).map(|l| l.sequence);
                    match self.renewed_channel(&key, now, last).await {
                        Ok(()) => documents.push(key),
                        Err(e) => {
                            warn!(key, error = %e, "channel not renewed; not signed this tick")
                        }
                    }
                }
            }
            Err(e) => warn!(error = %e, "channels not listed; none signed this tick"),
        }
        let mut signed = 0;
        for key in documents {
            let key = key.as_str();
            // One read: the bytes signed are the bytes whose seal is judged and, for a
            // channel, whose record is proven.
            let bytes = match with_backoff(self.retry, || self.store.read_bytes(key)).await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => continue,
                Err(e) if key.starts_with(channels::keys::PREFIX) => {
                    warn!(key, error = %e, "channel unreadable; not signed this tick");
                    continue;
                }
                Err(e) => return Err(HandlerError::from_service(format!("reading {key}"), e)),
            };
            #[derive(serde::Deserialize)]
            struct Sealed {
                seal: Option<Seal>,
            }
            let Some(seal) = serde_json::from_slice::<Sealed>(&bytes)
                .ok()
                .and_then(|s| s.seal)
            else {
                continue;
            };
            let digest = shared::ports::sha256_digest(&bytes);
            let sha256 = shared::ports::sha256_hex(&bytes);
            let last = seals.signed.get(key);
            if last.is_some_and(|l| l.sha256 == sha256) {
                continue;
            }
            if let Some(last) = last.filter(|l| seal.sequence <= l.sequence) {
                shared::provenance::security_event(
                    &format!("signing {key}"),
                    &format!(
                        "{key} changed without its sequence going up ({} after {}): an older or \
                         foreign document, left unsigned",
                        seal.sequence, last.sequence
                    ),
                );
                continue;
            }
            if key.starts_with(channels::keys::PREFIX) && !self.channel_proven(key, &bytes).await {
                continue;
            }
            let signature = with_backoff(self.retry, || signer.sign_digest(&digest))
                .await
                .map_err(|e| HandlerError::from_service(format!("signing {key}"), e))?;
            let target = keys::signature(key);
            with_backoff(self.retry, || {
                self.store
                    .put_bytes(&target, signature.clone(), "application/octet-stream")
            })
            .await
            .map_err(store_err("writing a catalog signature"))?;
            seals.signed.insert(
                key.to_owned(),
                SignedDocument {
                    sha256,
                    sequence: seal.sequence,
                    signed_at: release::timestamp(now),
                },
            );
            signed += 1;
            info!(
                key,
                sequence = seal.sequence,
                expires_at = seal.expires_at,
                "catalog document signed"
            );
        }
        if signed > 0 {
            // Another invocation signing at once: either record is one of the two signatures,
            // and the next invocation signs again whatever is not recorded.
            let _ = self
                .store
                .put_json_if_match(SEALS, &seals, etag.as_deref())
                .await
                .map_err(store_err("recording the catalog's seals"))?;
        }
        Ok(signed)
    }

    /// Renews the seal of the channel record at `key` when due, with `If-Match` on the record
    /// read (a move meanwhile sealed it anew: signed next tick). A record without a seal (written
    /// before records were sealed, or by hand) takes the sequence after `last_signed`, so it can
    /// be signed again; a record put back with an older seal keeps it, and is refused.
    async fn renewed_channel(
        &self,
        key: &str,
        now: std::time::SystemTime,
        last_signed: Option<u64>,
    ) -> Result<(), shared::error::ServiceError> {
        let read = with_backoff(self.retry, || {
            self.store.get_json_versioned::<ChannelRecord>(key)
        })
        .await;
        let current = match read {
            Ok(Some(current)) => current,
            Ok(None) => return Ok(()),
            // A record that does not parse is never signed (the mirror reports it).
            Err(e) if e.class == shared::error::ErrorClass::CorruptRecord => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut record = current.value;
        if record.seal.as_ref().is_some_and(|s| !s.renew_due(now)) {
            return Ok(());
        }
        let previous = match (&record.seal, last_signed) {
            (Some(seal), _) => Some(seal.clone()),
            (None, Some(sequence)) => Some(Seal {
                sequence,
                expires_at: String::new(),
            }),
            (None, None) => None,
        };
        record.seal = Some(Seal::next(previous.as_ref(), now));
        // Lost to a move: that move sealed the record.
        let _ = self
            .store
            .put_json_if_match(key, &record, Some(&current.etag))
            .await?;
        Ok(())
    }

    /// Whether the channel record at `key` is one publish-release stands behind: the record of
    /// the channel its key names, pointing at AMIs AWS says are its release's. Anything else is
    /// a security event and stays unsigned (as the mirror refuses it).
    async fn channel_proven(&self, key: &str, bytes: &[u8]) -> bool {
        let Ok(record) = serde_json::from_slice::<ChannelRecord>(bytes) else {
            return false;
        };
        if channels::keys::record(&record.image, &record.channel) != key {
            shared::provenance::security_event(
                &format!("signing {key}"),
                &format!(
                    "{key} is the record of {}/{}: left unsigned",
                    record.image, record.channel
                ),
            );
            return false;
        }
        match channels::unproven(&self.provenance(), &record).await {
            Ok(None) => true,
            Ok(Some(refusal)) => {
                shared::provenance::security_event(
                    &format!("signing {key}"),
                    &format!("{}: left unsigned", refusal.reason),
                );
                false
            }
            Err(e) => {
                warn!(key, error = %e, "channel not proven yet; signed on a later tick");
                false
            }
        }
    }

    /// The seal of document `key` (absent: `None`), renewed first when due (a new sequence and
    /// expiry, through the conditional write every writer uses).
    async fn renewed<D>(
        &self,
        key: &str,
        now: std::time::SystemTime,
        seal_of: impl Fn(&D) -> &Option<Seal> + Send + Sync,
    ) -> Result<Option<Seal>, HandlerError>
    where
        D: Default
            + Serialize
            + serde::de::DeserializeOwned
            + shared::catalog::Sealed
            + Send
            + Sync,
    {
        let Some(document) = self
            .store
            .get_json::<D>(key)
            .await
            .map_err(store_err("reading the catalog"))?
        else {
            return Ok(None);
        };
        if seal_of(&document)
            .as_ref()
            .is_some_and(|s| !s.renew_due(now))
        {
            return Ok(seal_of(&document).clone());
        }
        let (renewed, _) = self.update(key, |_: &mut D| true).await?;
        Ok(seal_of(&renewed).clone())
    }
}
