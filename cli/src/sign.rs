//! CloudFront signed URLs with a canned policy, as CloudFront's developer guide documents them
//! ("Create a signed URL using a canned policy"):
//!
//! * the policy is `{"Statement":[{"Resource":"<URL>","Condition":{"DateLessThan":{"AWS:EpochTime":<t>}}}]}`
//!   with no white space;
//! * its signature is RSA-SHA1 (RSASSA-PKCS1-v1_5) with the private key of a public key in the
//!   distribution's trusted key group;
//! * the signature is base64-encoded, then `+` → `-`, `=` → `_`, `/` → `~`;
//! * the URL gets `Expires=<t>&Signature=<sig>&Key-Pair-Id=<public key id>`.

use base64::Engine;
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};

/// Why a key cannot sign.
#[derive(Debug)]
pub struct KeyError(pub String);

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads an RSA private key in PEM: PKCS#1 (`BEGIN RSA PRIVATE KEY`) or PKCS#8 (`BEGIN PRIVATE KEY`).
pub fn private_key(pem: &str) -> Result<RsaPrivateKey, KeyError> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    RsaPrivateKey::from_pkcs1_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem))
        .map_err(|e| {
            KeyError(format!(
                "not an RSA private key in PEM (PKCS#1 or PKCS#8): {e}"
            ))
        })
}

/// The canned policy of `url` until `expires` (seconds since the epoch).
pub fn canned_policy(url: &str, expires: u64) -> String {
    format!(
        r#"{{"Statement":[{{"Resource":"{url}","Condition":{{"DateLessThan":{{"AWS:EpochTime":{expires}}}}}}}]}}"#
    )
}

/// CloudFront's URL-safe base64: standard base64, then `+` → `-`, `=` → `_`, `/` → `~`.
pub fn url_safe(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .replace('+', "-")
        .replace('=', "_")
        .replace('/', "~")
}

/// `url` signed with a canned policy that expires at `expires`.
pub fn signed_url(url: &str, key_pair_id: &str, key: &RsaPrivateKey, expires: u64) -> String {
    let policy = canned_policy(url, expires);
    let signer = SigningKey::<sha1::Sha1>::new(key.clone());
    let signature = signer.sign(policy.as_bytes()).to_vec();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{separator}Expires={expires}&Signature={}&Key-Pair-Id={key_pair_id}",
        url_safe(&signature)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_canned_policy_is_written_should_match_cloudfronts_documented_form() {
        // The developer guide's example: no white space, the epoch time as a number.
        assert_eq!(
            canned_policy(
                "https://d111111abcdef8.cloudfront.net/image.jpg",
                1357034400
            ),
            r#"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/image.jpg","Condition":{"DateLessThan":{"AWS:EpochTime":1357034400}}}]}"#
        );
    }

    #[test]
    fn when_a_signature_is_encoded_should_replace_the_three_characters_cloudfront_names() {
        assert_eq!(url_safe(&[0xfb, 0xff, 0xbf]), "-~-~");
        assert_eq!(url_safe(&[0xff]), "~w__");
    }

    #[test]
    fn when_a_key_is_not_pem_should_say_so() {
        assert!(private_key("nope").unwrap_err().0.contains("PEM"));
    }
}
