//! SDK clients built the first time they are used instead of at init.
//!
//! Building the first client of an SDK crate parses that crate's endpoint partitions (JSON with
//! eight region regexes, in a static of each crate), which `bench` measured as the largest piece
//! of a function's init. A function only pays it for the services an invocation calls: a
//! scheduled publish-release tick with nothing pending never builds its EC2, AppStream,
//! CloudFront or EventBridge clients.

use aws_config::SdkConfig;
use std::sync::OnceLock;

/// An SDK client of type `C`, built from `config` by `build` on first use. It dereferences to
/// the client, so an adapter calls `self.client.operation()` as if it held the client itself.
#[derive(Debug, Clone)]
pub struct LazyClient<C> {
    config: SdkConfig,
    build: fn(&SdkConfig) -> C,
    client: OnceLock<C>,
}

impl<C> LazyClient<C> {
    /// A client to be built by `build` (the crate's `Client::new`) when it is first used.
    pub fn new(config: &SdkConfig, build: fn(&SdkConfig) -> C) -> Self {
        Self {
            config: config.clone(),
            build,
            client: OnceLock::new(),
        }
    }

    /// A client that is already built (tests hand adapters their own).
    pub fn ready(client: C, build: fn(&SdkConfig) -> C) -> Self {
        Self {
            config: SdkConfig::builder().build(),
            build,
            client: OnceLock::from(client),
        }
    }

    /// Whether the client has been built yet.
    pub fn is_built(&self) -> bool {
        self.client.get().is_some()
    }
}

impl<C> std::ops::Deref for LazyClient<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.client.get_or_init(|| (self.build)(&self.config))
    }
}

/// One SDK client of type `C` per region, each built from `config` (with that region) by
/// `build` the first time its region is asked for: for a service called wherever a release's
/// AMIs are, in regions no configuration lists in advance.
#[derive(Debug)]
pub struct RegionalClients<C> {
    config: SdkConfig,
    build: fn(&SdkConfig) -> C,
    clients: std::sync::Mutex<std::collections::HashMap<String, C>>,
}

impl<C: Clone> RegionalClients<C> {
    pub fn new(config: &SdkConfig, build: fn(&SdkConfig) -> C) -> Self {
        Self {
            config: config.clone(),
            build,
            clients: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Clients made already, one per region (tests: SDK clients over a mocked transport); a
    /// region without one is built from an empty configuration.
    pub fn ready(
        build: fn(&SdkConfig) -> C,
        clients: std::collections::HashMap<String, C>,
    ) -> Self {
        Self {
            config: SdkConfig::builder().build(),
            build,
            clients: std::sync::Mutex::new(clients),
        }
    }

    /// The client of `region` (SDK clients are cheap handles: cloned out of the map).
    pub fn get(&self, region: &str) -> C {
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(region.to_owned())
            .or_insert_with(|| (self.build)(&super::regional(&self.config, region)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static BUILT: AtomicUsize = AtomicUsize::new(0);

    fn counted(config: &SdkConfig) -> Option<String> {
        BUILT.fetch_add(1, Ordering::SeqCst);
        config.region().map(|r| r.to_string())
    }

    #[test]
    fn when_client_is_used_twice_should_build_it_once_on_first_use() {
        let config = SdkConfig::builder()
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        let lazy = LazyClient::new(&config, counted);
        assert!(!lazy.is_built());
        assert_eq!(BUILT.load(Ordering::SeqCst), 0);
        assert_eq!(lazy.as_deref(), Some("eu-west-1"));
        assert_eq!(lazy.as_deref(), Some("eu-west-1"));
        assert!(lazy.is_built());
        assert_eq!(BUILT.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn when_client_is_given_ready_should_never_build_another() {
        let lazy = LazyClient::ready(Some("given".to_owned()), |_| None);
        assert!(lazy.is_built());
        assert_eq!(lazy.as_deref(), Some("given"));
    }

    #[test]
    fn when_regions_are_asked_for_should_build_one_client_each_with_its_region() {
        let config = SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let clients = RegionalClients::new(&config, |c| {
            (uuid::Uuid::new_v4(), c.region().map(|r| r.to_string()))
        });
        let first = clients.get("eu-west-1");
        assert_eq!(first.1.as_deref(), Some("eu-west-1"));
        assert_eq!(clients.get("eu-west-1").0, first.0, "built once");
        assert_eq!(
            clients.get("ap-southeast-2").1.as_deref(),
            Some("ap-southeast-2")
        );
    }
}
