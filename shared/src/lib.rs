//! The shared crate of the image-release functions: validated domain types, typed trigger events,
//! errors with retry semantics, release state records, the port traits the handlers are generic
//! over, and one AWS SDK adapter per service (each behind its cargo feature).

pub mod aws;
pub mod catalog;
pub mod channels;
pub mod clock;
pub mod config;
pub mod documents;
pub mod domain;
pub mod error;
pub mod events;
pub mod hashing;
pub mod lineage;
pub mod ports;
pub mod provenance;
pub mod release;
pub mod retention;
pub mod revocation;
pub mod token;

pub use error::{ConfigError, ErrorClass, HandlerError, ServiceError, ValidationError};

/// Initialises logging the way Lambda expects (honours `AWS_LAMBDA_LOG_FORMAT` and `AWS_LAMBDA_LOG_LEVEL`).
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}
#[cfg(feature = "fakes")]
pub mod fakes;
pub mod retry;
pub mod runtime;
pub mod steps;
