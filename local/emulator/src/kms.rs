//! KMS, as far as release signing needs it (awsJson1_1, `X-Amz-Target: TrentService.<Op>`):
//! `CreateKey` (`ECC_NIST_P256`, `SIGN_VERIFY` only), `Sign` and `Verify` (`ECDSA_SHA_256`,
//! `MessageType` `RAW` or `DIGEST`), `GetPublicKey` (DER `SubjectPublicKeyInfo`). moto's KMS
//! ignores `MessageType: DIGEST` and hashes the digest again, so it cannot stand in here.
//! Limits and codes from botocore's `kms` model: `Message` 1–4096 bytes, `KeyId` 1–2048
//! characters; `NotFoundException`, `InvalidKeyUsageException`, `KMSInvalidSignatureException`,
//! `UnsupportedOperationException`; a request that breaks the model's constraints gets the
//! generic `ValidationException` of AWS's JSON services (not in the model).

use crate::world::World;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::pkcs8::EncodePublicKey;
use serde_json::{Value, json};

const ALGORITHM: &str = "ECDSA_SHA_256";

/// An asymmetric signing key of the account.
pub(crate) struct KmsKey {
    pub arn: String,
    pub id: String,
    pub key: SigningKey,
}

impl KmsKey {
    /// A fresh P-256 key: 32 random bytes (two v4 UUIDs), drawn again in the negligible case
    /// that they are not a valid scalar.
    pub(crate) fn generate(arn: String) -> Self {
        let id = arn.rsplit('/').next().unwrap_or_default().to_owned();
        loop {
            let mut bytes = [0u8; 32];
            bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            if let Ok(key) = SigningKey::from_slice(&bytes) {
                return Self { arn, id, key };
            }
        }
    }
}

/// An awsJson1_1 error answer (`__type` and `message`), as every JSON service gives it.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
        json!({ "__type": code, "message": message }).to_string(),
    )
        .into_response()
}

pub(crate) fn ok(body: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
        body.to_string(),
    )
        .into_response()
}

fn invalid(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "ValidationException", message)
}

/// The key `KeyId` names in `region`: key id, key ARN, alias name or alias ARN. KMS keys are
/// regional ("Multi-Region keys are not global"): another region's key is not found.
pub(crate) fn key_arn(world: &World, region: &str, key_id: &str) -> Option<String> {
    let alias = key_id
        .split_once(":alias/")
        .map_or(key_id.to_owned(), |(_, name)| format!("alias/{name}"));
    let target = world
        .config
        .key_aliases
        .iter()
        .find(|(name, _)| *name == alias)
        .map_or(key_id, |(_, arn)| arn.as_str());
    world
        .kms_keys
        .iter()
        .filter(|k| k.arn.split(':').nth(3) == Some(region))
        .find(|k| k.arn == target || k.id == target)
        .map(|k| k.arn.clone())
}

/// Randomness for ECDSA's nonce: KMS's signatures differ on each call (not RFC 6979's
/// deterministic ones), so nothing may depend on a signature repeating. From v4 UUIDs, the
/// emulator's source of random bytes.
struct NonceRng;

impl p256::elliptic_curve::rand_core::RngCore for NonceRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(16) {
            let random = uuid::Uuid::new_v4();
            chunk.copy_from_slice(&random.as_bytes()[..chunk.len()]);
        }
    }
    fn try_fill_bytes(
        &mut self,
        dest: &mut [u8],
    ) -> Result<(), p256::elliptic_curve::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl p256::elliptic_curve::rand_core::CryptoRng for NonceRng {}

pub(crate) fn handle(world: &mut World, region: &str, operation: &str, body: &[u8]) -> Response {
    let Ok(input) = serde_json::from_slice::<Value>(body) else {
        return invalid("the body is not JSON");
    };
    if operation == "CreateKey" {
        return create_key(world, region, &input);
    }
    if !matches!(operation, "Sign" | "Verify" | "GetPublicKey") {
        return error(
            StatusCode::BAD_REQUEST,
            "UnsupportedOperationException",
            &format!("the emulator does not implement KMS {operation}"),
        );
    }
    let key_id = input["KeyId"].as_str().unwrap_or_default();
    if key_id.is_empty() || key_id.chars().count() > 2048 {
        return invalid(
            "1 validation error detected: Value at 'keyId' failed to satisfy constraint: Member must have length between 1 and 2048",
        );
    }
    let found = key_arn(world, region, key_id);
    let Some(key) = world
        .kms_keys
        .iter()
        .find(|k| Some(&k.arn) == found.as_ref())
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "NotFoundException",
            &format!("Key '{key_id}' does not exist"),
        );
    };
    // Sign's DryRun: "The request was rejected because the DryRun parameter was specified"
    // (DryRunOperationException, HTTP 400), once the key and the caller check out.
    if operation == "Sign" && input["DryRun"].as_bool() == Some(true) {
        return error(
            StatusCode::BAD_REQUEST,
            "DryRunOperationException",
            "The request would have succeeded, but the DryRun parameter was specified.",
        );
    }
    if operation == "GetPublicKey" {
        let Ok(der) = key.key.verifying_key().to_public_key_der() else {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "KMSInternalException",
                "encoding",
            );
        };
        return ok(&json!({
            "KeyId": key.arn,
            "PublicKey": STANDARD.encode(der.as_bytes()),
            "KeySpec": "ECC_NIST_P256",
            "CustomerMasterKeySpec": "ECC_NIST_P256",
            "KeyUsage": "SIGN_VERIFY",
            "SigningAlgorithms": [ALGORITHM],
        }));
    }
    // The model's enum (botocore `SigningAlgorithmSpec`); another value breaks its constraint.
    const ALGORITHMS: [&str; 13] = [
        "RSASSA_PSS_SHA_256",
        "RSASSA_PSS_SHA_384",
        "RSASSA_PSS_SHA_512",
        "RSASSA_PKCS1_V1_5_SHA_256",
        "RSASSA_PKCS1_V1_5_SHA_384",
        "RSASSA_PKCS1_V1_5_SHA_512",
        "ECDSA_SHA_256",
        "ECDSA_SHA_384",
        "ECDSA_SHA_512",
        "SM2DSA",
        "ML_DSA_SHAKE_256",
        "ED25519_SHA_512",
        "ED25519_PH_SHA_512",
    ];
    if !ALGORITHMS.contains(&input["SigningAlgorithm"].as_str().unwrap_or_default()) {
        return invalid(
            "1 validation error detected: Value at 'signingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set",
        );
    }
    if input["SigningAlgorithm"].as_str() != Some(ALGORITHM) {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidKeyUsageException",
            &format!(
                "{} is not a valid signing algorithm for key {}: use {ALGORITHM}",
                input["SigningAlgorithm"].as_str().unwrap_or("(none)"),
                key.arn
            ),
        );
    }
    let Some(message) = input["Message"]
        .as_str()
        .and_then(|m| STANDARD.decode(m).ok())
    else {
        return invalid("Message must be base64");
    };
    if message.is_empty() || message.len() > 4096 {
        return invalid(
            "1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length between 1 and 4096",
        );
    }
    let digest = match input["MessageType"].as_str().unwrap_or("RAW") {
        "RAW" => None,
        "DIGEST" if message.len() == 32 => Some(message.clone()),
        "DIGEST" => {
            return invalid(&format!(
                "Digest is invalid length for algorithm {ALGORITHM}: {} bytes, not 32",
                message.len()
            ));
        }
        other => return invalid(&format!("MessageType {other} is not supported here")),
    };
    if operation == "Sign" {
        use p256::ecdsa::signature::RandomizedSigner;
        use p256::ecdsa::signature::hazmat::RandomizedPrehashSigner;
        let signature: Result<Signature, _> = match &digest {
            Some(d) => key.key.sign_prehash_with_rng(&mut NonceRng, d),
            None => key.key.try_sign_with_rng(&mut NonceRng, &message),
        };
        let Ok(signature) = signature else {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "KMSInternalException",
                "signing",
            );
        };
        return ok(&json!({
            "KeyId": key.arn,
            "Signature": STANDARD.encode(signature.to_der().as_bytes()),
            "SigningAlgorithm": ALGORITHM,
        }));
    }
    // Verify.
    let valid = input["Signature"]
        .as_str()
        .and_then(|s| STANDARD.decode(s).ok())
        .and_then(|der| DerSignature::from_bytes(&der).ok())
        .and_then(|der| Signature::from_der(der.as_bytes()).ok())
        .is_some_and(|sig| {
            let verifier: &VerifyingKey = key.key.verifying_key();
            match &digest {
                Some(d) => verifier.verify_prehash(d, &sig).is_ok(),
                None => verifier.verify(&message, &sig).is_ok(),
            }
        });
    if !valid {
        return error(
            StatusCode::BAD_REQUEST,
            "KMSInvalidSignatureException",
            "The signature does not verify with this key and message",
        );
    }
    ok(&json!({ "KeyId": key.arn, "SignatureValid": true, "SigningAlgorithm": ALGORITHM }))
}

fn create_key(world: &mut World, region: &str, input: &Value) -> Response {
    let spec = input["KeySpec"].as_str().unwrap_or("SYMMETRIC_DEFAULT");
    let usage = input["KeyUsage"].as_str().unwrap_or("ENCRYPT_DECRYPT");
    if spec != "ECC_NIST_P256" || usage != "SIGN_VERIFY" {
        return error(
            StatusCode::BAD_REQUEST,
            "UnsupportedOperationException",
            &format!(
                "the emulator's KMS makes ECC_NIST_P256 SIGN_VERIFY keys only, not {spec} {usage}"
            ),
        );
    }
    let id = uuid::Uuid::new_v4().to_string();
    let arn = format!("arn:aws:kms:{region}:{}:key/{id}", world.config.account);
    world.kms_keys.push(KmsKey::generate(arn.clone()));
    ok(&json!({ "KeyMetadata": {
        "AWSAccountId": world.config.account,
        "KeyId": id,
        "Arn": arn,
        "Enabled": true,
        "KeyState": "Enabled",
        "KeySpec": spec,
        "CustomerMasterKeySpec": spec,
        "KeyUsage": usage,
        "KeyManager": "CUSTOMER",
        "Origin": "AWS_KMS",
        "SigningAlgorithms": [ALGORITHM],
    }}))
}
