//! KMS adapter: signs what a release publishes with an asymmetric `ECC_NIST_P256` key.

use super::LazyClient;
use super::errors::classify;
use crate::domain::KmsKeyId;
use crate::error::{ErrorClass, ServiceError};
use crate::ports::{ReleaseSigner, Result, SIGNING_ALGORITHM};
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};

/// KMS's documented error codes for Sign and GetPublicKey (botocore's model), and the common
/// throttling code.
pub fn error_class(code: &str) -> ErrorClass {
    match code {
        // KMS answers its request quotas with ThrottlingException; LimitExceededException is a
        // resource quota (not listed for Sign or GetPublicKey).
        "ThrottlingException" => ErrorClass::Throttled,
        "LimitExceededException" => ErrorClass::LimitExceeded,
        "KMSInternalException" | "DependencyTimeoutException" | "KeyUnavailableException" => {
            ErrorClass::Transient
        }
        "NotFoundException" => ErrorClass::NotFound,
        // Disabled, pending deletion, or the wrong key type: an operator must fix the key.
        "DisabledException" | "KMSInvalidStateException" => ErrorClass::NotAvailable,
        "InvalidKeyUsageException"
        | "UnsupportedOperationException"
        | "InvalidArnException"
        | "InvalidGrantTokenException"
        | "ValidationException" => ErrorClass::Invalid,
        "AccessDeniedException" => ErrorClass::AccessDenied,
        _ => ErrorClass::Other,
    }
}

#[derive(Debug, Clone)]
pub struct KmsSigner {
    client: LazyClient<Client>,
    key: KmsKeyId,
}

impl KmsSigner {
    pub fn new(config: &aws_config::SdkConfig, key: KmsKeyId) -> Self {
        Self {
            client: LazyClient::new(config, Client::new),
            key,
        }
    }

    pub fn from_client(client: Client, key: KmsKeyId) -> Self {
        Self {
            client: LazyClient::ready(client, Client::new),
            key,
        }
    }
}

fn missing(operation: &'static str, what: &str) -> ServiceError {
    ServiceError::new(
        operation,
        ErrorClass::Other,
        "MissingField",
        format!("{operation} answered without {what}"),
    )
}

impl ReleaseSigner for KmsSigner {
    async fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>> {
        const OP: &str = "Sign";
        let out = self
            .client
            .sign()
            .key_id(self.key.as_str())
            .message(Blob::new(digest.to_vec()))
            .message_type(MessageType::Digest)
            .signing_algorithm(SigningAlgorithmSpec::from(SIGNING_ALGORITHM))
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        out.signature
            .map(Blob::into_inner)
            .ok_or_else(|| missing(OP, "Signature"))
    }

    async fn public_key(&self) -> Result<Vec<u8>> {
        const OP: &str = "GetPublicKey";
        let out = self
            .client
            .get_public_key()
            .key_id(self.key.as_str())
            .send()
            .await
            .map_err(|e| classify(OP, e, error_class))?;
        out.public_key
            .map(Blob::into_inner)
            .ok_or_else(|| missing(OP, "PublicKey"))
    }
}
