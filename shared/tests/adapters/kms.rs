use super::*;
use aws_sdk_kms::operation::get_public_key::{GetPublicKeyError, GetPublicKeyOutput};
use aws_sdk_kms::operation::sign::{SignError, SignOutput};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
use shared::aws::kms::KmsSigner;

const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn key() -> KmsKeyId {
    KmsKeyId::parse("key", KEY).unwrap()
}

#[tokio::test]
async fn when_signing_a_digest_should_send_digest_message_type_and_ecdsa_sha_256() {
    let digest = [0xabu8; 32];
    let rule = mock!(aws_sdk_kms::Client::sign)
        .match_requests(move |r| {
            r.key_id() == Some(KEY)
                && r.message().map(|m| m.as_ref()) == Some(&digest[..])
                && r.message_type() == Some(&MessageType::Digest)
                && r.signing_algorithm() == Some(&SigningAlgorithmSpec::EcdsaSha256)
        })
        .then_output(|| {
            SignOutput::builder()
                .key_id(KEY)
                .signature(Blob::new(b"der".to_vec()))
                .build()
        });
    let signer = KmsSigner::from_client(mock_client!(aws_sdk_kms, [&rule]), key());
    assert_eq!(signer.sign_digest(&digest).await.unwrap(), b"der");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn when_kms_answers_a_documented_error_should_classify_it() {
    let cases = [
        ("KMSInternalException", ErrorClass::Transient),
        ("KeyUnavailableException", ErrorClass::Transient),
        ("DependencyTimeoutException", ErrorClass::Transient),
        ("ThrottlingException", ErrorClass::Throttled),
        ("NotFoundException", ErrorClass::NotFound),
        ("DisabledException", ErrorClass::NotAvailable),
        ("KMSInvalidStateException", ErrorClass::NotAvailable),
        ("InvalidKeyUsageException", ErrorClass::Invalid),
        ("AccessDeniedException", ErrorClass::AccessDenied),
    ];
    for (code, class) in cases {
        let rule =
            mock!(aws_sdk_kms::Client::sign).then_error(move || SignError::generic(meta(code)));
        let signer = KmsSigner::from_client(mock_client!(aws_sdk_kms, [&rule]), key());
        let err = signer.sign_digest(&[0u8; 32]).await.unwrap_err();
        assert_eq!(err.class, class, "{code}");
    }
    let rule = mock!(aws_sdk_kms::Client::get_public_key)
        .then_error(|| GetPublicKeyError::generic(meta("UnsupportedOperationException")));
    let signer = KmsSigner::from_client(mock_client!(aws_sdk_kms, [&rule]), key());
    assert_eq!(
        signer.public_key().await.unwrap_err().class,
        ErrorClass::Invalid
    );
}

#[tokio::test]
async fn when_reading_the_public_key_should_return_its_der() {
    let rule = mock!(aws_sdk_kms::Client::get_public_key)
        .match_requests(|r| r.key_id() == Some(KEY))
        .then_output(|| {
            GetPublicKeyOutput::builder()
                .key_id(KEY)
                .public_key(Blob::new(vec![0x30, 0x59]))
                .build()
        });
    let signer = KmsSigner::from_client(mock_client!(aws_sdk_kms, [&rule]), key());
    assert_eq!(signer.public_key().await.unwrap(), vec![0x30, 0x59]);
}
