//! The KMS fake: a "signature" that names the digest it signs, so a test can tell what was
//! signed (the cryptography is checked end to end against the emulator's KMS and openssl).

use super::{Script, lock};
use crate::ports::*;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct FakeSigner {
    pub script: Script,
    /// Every digest signed, in order.
    pub signed: Mutex<Vec<[u8; 32]>>,
}

impl FakeSigner {
    /// The signature the fake gives `digest`.
    pub fn signature_of(digest: &[u8; 32]) -> Vec<u8> {
        format!("signed:{}", hex(digest)).into_bytes()
    }

    pub const PUBLIC_KEY: &'static [u8] = b"fake public key";
}

impl ReleaseSigner for FakeSigner {
    async fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>> {
        self.script.enter("Sign")?;
        lock(&self.signed).push(*digest);
        Ok(Self::signature_of(digest))
    }

    async fn public_key(&self) -> Result<Vec<u8>> {
        self.script.enter("GetPublicKey")?;
        Ok(Self::PUBLIC_KEY.to_vec())
    }
}
