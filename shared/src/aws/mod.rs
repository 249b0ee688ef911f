//! AWS SDK adapters: one per service, each behind the cargo feature of its service. Request
//! building happens in exactly one place per operation, and every documented error code is
//! classified once, in the table of its service.

// Used by every adapter; a build of `shared` without any (as the local tools use it) has none.
#[cfg(any(
    feature = "appstream",
    feature = "cloudfront",
    feature = "ec2",
    feature = "eventbridge",
    feature = "imagebuilder",
    feature = "kms",
    feature = "s3",
    feature = "ssm"
))]
mod errors;
mod lazy;
pub use lazy::{LazyClient, RegionalClients};

/// An error and its causes, one line (`dispatch failure: io error: … Connection refused`):
/// what `DisplayErrorContext` says without the debug structure it appends, which no operator
/// can read.
pub fn causes(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

#[cfg(feature = "appstream")]
pub mod appstream;
#[cfg(feature = "cloudfront")]
pub mod cloudfront;
#[cfg(feature = "ec2")]
pub mod ec2;
#[cfg(feature = "eventbridge")]
pub mod eventbridge;
#[cfg(feature = "imagebuilder")]
pub mod imagebuilder;
#[cfg(feature = "kms")]
pub mod kms;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "ssm")]
pub mod ssm;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The root CAs of Amazon Trust Services, which sign every AWS service endpoint (Amazon Root CA
/// 1-4 and their cross-signer Starfield Services Root CA G2), from the Mozilla bundle.
pub const AMAZON_TRUST_SERVICES_PEM: &[u8] =
    include_bytes!("../../certs/amazon-trust-services.pem");

/// Loads the shared SDK configuration once, at init. Credentials and region come from the
/// Lambda environment; endpoints can be redirected with the SDK's standard
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` variables (the local emulator uses them).
///
/// When the environment holds credentials, as Lambda's always does, they are used directly: the
/// SDK's default chain would pick the same ones first, but building it at init also builds the
/// providers behind them (an STS client for web identity, with its own endpoint resolver and TLS
/// set-up), which `bench` measured as about a quarter of a function's init instructions.
/// Without them (a profile, SSO on a workstation, a container role) the default chain applies.
pub async fn load_config() -> aws_config::SdkConfig {
    let loader =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client());
    let loader = if environment_has_credentials(|name| std::env::var_os(name).is_some()) {
        loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        )
    } else {
        loader
    };
    loader.load().await
}

/// `config` with another region, for a client of a regional service (AppStream's destinations;
/// the operator CLI's look at an AMI, export task or image where it lives).
pub fn regional(config: &aws_config::SdkConfig, region: &str) -> aws_config::SdkConfig {
    config
        .to_builder()
        .region(aws_config::Region::new(region.to_owned()))
        .build()
}

/// Whether the environment-variable credentials provider can answer (the two variables it
/// requires; the session token is optional).
fn environment_has_credentials(is_set: impl Fn(&str) -> bool) -> bool {
    is_set("AWS_ACCESS_KEY_ID") && is_set("AWS_SECRET_ACCESS_KEY")
}

/// The one HTTPS client of every SDK client here (also plain HTTP, for local endpoints): rustls
/// with ring, trusting the five Amazon Trust Services roots, embedded.
///
/// Both choices are `bench` findings. The SDK's default parses the whole system store at init
/// (~144 roots, plus every file of the certificate directory): init 5.7 ms with the system
/// store, 2.2 ms with five roots, against 1.0 ms for a bare runtime. And its default crypto,
/// aws-lc, is larger than ring: start-pipeline's stripped binary went from 8.06 to 7.23 MB. The
/// SDK feature that would pull aws-lc in (`default-https-client`) is off in the workspace.
///
/// Setting `SSL_CERT_FILE` or `SSL_CERT_DIR` (for a proxy or a private endpoint with another
/// CA) trusts the system store instead, which honours both.
pub fn https_client() -> SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let custom_ca =
        std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some();
    let trust = if custom_ca {
        TrustStore::default()
    } else {
        TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(AMAZON_TRUST_SERVICES_PEM)
    };
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .unwrap_or_default();
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https();
    SharedHttpClient::new(ConnectorOnFirstRequest(client))
}

/// The SDK's HTTPS client without the connector it builds, and throws away, for every SDK client
/// at construction, only so that a native trust store fails at init rather than on the first
/// request. Each of those builds decodes the PEM roots again (constant-time base64) and sets up
/// rustls: `bench` counted ~246k instructions per build, a fifth of start-pipeline's init with
/// its two clients.
/// The embedded roots are checked by a test instead, and the one connector the first request
/// builds is shared by every client (the SDK caches it per timeout settings).
#[derive(Debug)]
struct ConnectorOnFirstRequest(SharedHttpClient);

impl HttpClient for ConnectorOnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
    use rustls_pki_types::{CertificateDer, pem::PemObject};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn when_environment_lacks_either_key_should_leave_credentials_to_the_default_chain() {
        let with = |set: &'static [&'static str]| move |name: &str| set.contains(&name);
        assert!(environment_has_credentials(with(&[
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY"
        ])));
        assert!(!environment_has_credentials(with(&["AWS_ACCESS_KEY_ID"])));
        assert!(!environment_has_credentials(with(&[
            "AWS_SECRET_ACCESS_KEY"
        ])));
        assert!(!environment_has_credentials(with(&[])));
    }

    /// An HTTP client that counts the SDK's construction-time checks of it.
    #[derive(Debug)]
    struct Counting(SharedHttpClient, Arc<AtomicUsize>);

    impl HttpClient for Counting {
        fn http_connector(
            &self,
            settings: &HttpConnectorSettings,
            components: &RuntimeComponents,
        ) -> SharedHttpConnector {
            self.0.http_connector(settings, components)
        }

        fn validate_base_client_config(
            &self,
            _: &RuntimeComponentsBuilder,
            _: &ConfigBag,
        ) -> Result<(), BoxError> {
            self.1.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    /// How many times building two SDK clients on `client` checks it (building a connector).
    fn checks_for_two_clients(client: impl Fn(SharedHttpClient) -> SharedHttpClient) -> usize {
        let checks = Arc::new(AtomicUsize::new(0));
        let counted = SharedHttpClient::new(Counting(https_client(), Arc::clone(&checks)));
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .http_client(client(counted))
            .build();
        let _first = aws_sdk_s3::Client::from_conf(config.clone());
        let _second = aws_sdk_s3::Client::from_conf(config);
        checks.load(Ordering::SeqCst)
    }

    #[test]
    fn when_sdk_clients_are_built_should_leave_the_connector_to_the_first_request() {
        // The SDK's own client builds (and drops) a connector per SDK client it is given to ...
        assert_eq!(checks_for_two_clients(|client| client), 2);
        // ... which ours skips: the first request builds the one connector all clients share.
        let ours = |client| SharedHttpClient::new(ConnectorOnFirstRequest(client));
        assert_eq!(checks_for_two_clients(ours), 0);
    }

    #[test]
    fn when_trust_store_is_embedded_should_hold_the_five_amazon_roots_as_valid_pem() {
        // The SDK expects valid PEM when it builds its root store: a bad file would panic there.
        let certs: Vec<_> = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_PEM)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(certs.len(), 5);
    }
}
