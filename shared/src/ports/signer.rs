//! KMS: signatures over what a release publishes, so a download's origin can be proven by
//! someone who cannot trust the bucket (whoever may write it could replace a disk and its
//! checksum together, but cannot sign without the key).

use super::*;

/// The one signing algorithm used: ECDSA on NIST P-256 over SHA-256 (KMS `ECC_NIST_P256` keys,
/// `ECDSA_SHA_256`). Signatures are DER, as `openssl dgst -sha256 -verify` reads them.
pub const SIGNING_ALGORITHM: &str = "ECDSA_SHA_256";

pub trait ReleaseSigner: Send + Sync {
    /// The DER signature of a SHA-256 `digest` (KMS Sign, `MessageType: DIGEST`).
    fn sign_digest(&self, digest: &[u8; 32]) -> impl Future<Output = Result<Vec<u8>>> + Send;
    /// The public key, DER `SubjectPublicKeyInfo` (KMS GetPublicKey).
    fn public_key(&self) -> impl Future<Output = Result<Vec<u8>>> + Send;
}

/// `der` as a PEM `PUBLIC KEY` block (what `openssl pkey -pubin` reads).
pub fn public_key_pem(der: &[u8]) -> String {
    let encoded = aws_smithy_types::base64::encode(der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_key_is_encoded_should_the_pem_be_base64_in_64_column_lines() {
        let pem = public_key_pem(b"Man");
        assert_eq!(
            pem,
            "-----BEGIN PUBLIC KEY-----\nTWFu\n-----END PUBLIC KEY-----\n"
        );
        assert!(public_key_pem(b"Ma").contains("\nTWE=\n"));
        assert!(public_key_pem(b"M").contains("\nTQ==\n"));
        let long = public_key_pem(&[0u8; 91]);
        assert!(long.lines().all(|l| l.len() <= 64));
    }
}
