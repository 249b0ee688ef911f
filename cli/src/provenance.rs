//! How the operator CLI proves a release before it writes an SSM parameter or deregisters an
//! AMI ([`shared::provenance`]): from its manifest's signature. publish-release signs only a
//! manifest it built from Image Builder's answers (the distributed image of a configured
//! pipeline, its AMIs as `outputResources` reports them), so a manifest that verifies with the
//! stack's key is that proof, carried. The key is pinned (`--public-key`, `--signing-key`) or,
//! said loudly, the bucket's own.

use crate::verify::{PublicKeySource, public_key, signature_problem};
use shared::ServiceError;
use shared::aws::s3::S3Adapter;
use shared::domain::{AmiId, RegionName, ReleaseId};
use shared::ports::ArtifactStore;
use shared::provenance::{Proof, Proven, ProvenAmi, Provenance, Refusal, Refused};
use shared::release::{Manifest, keys};

/// The key-pinning flags of every command that trusts a release's signature.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KeyArgs {
    /// The public key (PEM) the release's signatures must verify with, pinned out of band
    /// (takes precedence over --signing-key).
    #[arg(long)]
    pub public_key: Option<std::path::PathBuf>,
    /// The stack's signing key (output SigningKeyArn): its public key is read with KMS
    /// GetPublicKey. Without this or --public-key, the bucket's own key is used, which proves
    /// integrity, not origin (a warning says so).
    #[arg(long, env = "IMAGE_RELEASE_SIGNING_KEY")]
    pub signing_key: Option<String>,
}

impl KeyArgs {
    /// A `--public-key` file that cannot be read as a public key, or a `--signing-key` that is
    /// no KMS key id: a usage error (exit 2), found before anything is asked of AWS.
    pub fn check(&self) -> Result<(), crate::Failure> {
        if let Some(key) = &self.signing_key {
            shared::domain::KmsKeyId::parse("--signing-key (or IMAGE_RELEASE_SIGNING_KEY)", key)?;
        }
        let Some(path) = &self.public_key else {
            return Ok(());
        };
        std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|b| public_key(&b))
            .map(drop)
            .map_err(|e| crate::Failure::Usage(format!("--public-key {}: {e}", path.display())))
    }

    /// Where the key comes from; the bucket's own, with a warning on stderr, when nothing is
    /// pinned. A `--public-key` file that cannot be read as a public key is a usage error
    /// (exit 2), found before anything is asked of AWS.
    pub fn source(&self) -> Result<PublicKeySource, crate::Failure> {
        self.check()?;
        Ok(match (&self.public_key, &self.signing_key) {
            (Some(path), _) => PublicKeySource::File(path.clone()),
            (None, Some(arn)) => PublicKeySource::Kms(arn.clone()),
            (None, None) => {
                eprintln!(
                    "warning: no pinned key (--public-key or --signing-key): the signatures are \
                     checked with the bucket's own {}, which proves integrity, not origin: \
                     whoever can write the bucket can replace it",
                    keys::SIGNING_KEY_PEM
                );
                PublicKeySource::Bucket
            }
        })
    }
}

/// The release's AMIs as `manifest` lists them, in the account of its distributed image.
pub fn proven_from(manifest: &Manifest) -> Proven {
    let account = manifest
        .distributed_image_arn
        .split(':')
        .nth(4)
        .unwrap_or_default()
        .to_owned();
    let amis = manifest
        .amis
        .iter()
        .filter_map(|a| {
            Some(ProvenAmi {
                region: RegionName::parse("amis[].region", &a.region).ok()?,
                ami_id: AmiId::parse("amis[].ami_id", &a.ami_id).ok()?,
                account_id: a.account_id.clone().unwrap_or_else(|| account.clone()),
                name: a.name.clone(),
            })
        })
        .collect();
    Proven {
        release: manifest.release_id.clone(),
        account,
        source_image: manifest.source_image_arn.clone(),
        distributed_image: manifest.distributed_image_arn.clone(),
        pipeline_arn: manifest.pipeline_arn.clone(),
        amis,
    }
}

/// The one release a command verified (promote, rollback): its checked manifest. Any other
/// release is not proven here (a channel that moved meanwhile is left to publish-release).
pub struct Verified<'a>(pub &'a Manifest);

impl Provenance for Verified<'_> {
    async fn prove(&self, release: &ReleaseId) -> Result<Proof, ServiceError> {
        Ok(if *release == self.0.release_id {
            Proof::Proven(proven_from(self.0))
        } else {
            Proof::Refused(Refusal {
                reason: format!(
                    "the channel now points at {release}, not {}, which this command checked",
                    self.0.release_id
                ),
                kind: Refused::NotYet,
            })
        })
    }
}

/// Every release of the bucket, each proven by its manifest's signature with `key`.
pub struct SignedManifests<'a> {
    pub store: &'a S3Adapter,
    pub key: p256::ecdsa::VerifyingKey,
}

impl SignedManifests<'_> {
    /// Reads the key `source` names (`Err`: why it cannot be read).
    pub async fn key(
        config: &aws_config::SdkConfig,
        store: &S3Adapter,
        source: &PublicKeySource,
    ) -> Result<p256::ecdsa::VerifyingKey, String> {
        match source {
            PublicKeySource::File(path) => std::fs::read(path)
                .map_err(|e| format!("--public-key {}: {e}", path.display()))
                .and_then(|b| public_key(&b)),
            PublicKeySource::Kms(arn) => {
                use shared::ports::ReleaseSigner;
                let key_id = shared::domain::KmsKeyId::parse("--signing-key", arn)
                    .map_err(|e| e.to_string())?;
                shared::aws::kms::KmsSigner::new(config, key_id)
                    .public_key()
                    .await
                    .map_err(|e| format!("GetPublicKey of {arn}: {e}"))
                    .and_then(|der| public_key(&der))
            }
            PublicKeySource::Bucket => match store.read_bytes(keys::SIGNING_KEY_PEM).await {
                Ok(Some(bytes)) => public_key(&bytes),
                Ok(None) => Err(format!("{} does not exist", keys::SIGNING_KEY_PEM)),
                Err(e) => Err(format!("reading {}: {e}", keys::SIGNING_KEY_PEM)),
            },
        }
    }
}

impl Provenance for SignedManifests<'_> {
    async fn prove(&self, release: &ReleaseId) -> Result<Proof, ServiceError> {
        let key = keys::manifest(release);
        let refused = |reason: String, kind| Ok(Proof::Refused(Refusal { reason, kind }));
        let Some(manifest) = self.store.get_json::<Manifest>(&key).await? else {
            return refused(format!("{key} does not exist"), Refused::Gone);
        };
        if manifest.release_id != *release {
            return refused(
                format!("{key} is the manifest of {}", manifest.release_id),
                Refused::Forged,
            );
        }
        let Some(digest) = self.store.sha256(&key).await? else {
            return refused(format!("{key} vanished"), Refused::Gone);
        };
        let signature = self.store.read_bytes(&keys::signature(&key)).await?;
        if let Some(problem) = signature_problem(&self.key, &digest.sha256, signature.as_deref()) {
            return refused(format!("{key} {problem}"), Refused::Forged);
        }
        Ok(Proof::Proven(proven_from(&manifest)))
    }
}
