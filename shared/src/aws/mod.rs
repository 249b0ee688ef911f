//! AWS SDK adapters: one per service, each behind the cargo feature of its service. Request
//! building happens in exactly one place per operation, and every documented error code is
//! classified once, in the table of its service.

use crate::error::{ErrorClass, ServiceError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

#[cfg(feature = "appstream")]
pub mod appstream;
#[cfg(feature = "cloudfront")]
pub mod cloudfront;
#[cfg(feature = "ec2")]
pub mod ec2;
#[cfg(feature = "imagebuilder")]
pub mod imagebuilder;
#[cfg(feature = "s3")]
pub mod s3;

/// Loads the shared SDK configuration once, at init. Credentials and region come from the
/// Lambda environment; endpoints can be redirected with the SDK's standard
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` variables (the local emulator uses them).
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// Turns an SDK error into a [`ServiceError`], classifying service error codes with `table`.
/// Network failures and timeouts are transient; an unknown code falls back on the HTTP status.
pub(crate) fn classify<E>(
    operation: &'static str,
    err: SdkError<E, HttpResponse>,
    table: fn(&str) -> ErrorClass,
) -> ServiceError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("Unknown").to_owned();
            let status = service.raw().status().as_u16();
            let class = match table(&code) {
                ErrorClass::Other if status == 429 => ErrorClass::Throttled,
                ErrorClass::Other if status >= 500 => ErrorClass::Transient,
                class => class,
            };
            let text = service.err().message().map_or(message, str::to_owned);
            ServiceError::new(operation, class, code, text)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ServiceError::new(operation, ErrorClass::Transient, "NetworkError", message)
        }
        SdkError::ConstructionFailure(_) => ServiceError::new(
            operation,
            ErrorClass::Invalid,
            "ConstructionFailure",
            message,
        ),
        _ => ServiceError::new(operation, ErrorClass::Other, "Unknown", message),
    }
}

/// An answer that lacks a field the API documents as always present.
pub(crate) fn missing(operation: &'static str, field: &str) -> ServiceError {
    ServiceError::new(
        operation,
        ErrorClass::Transient,
        "IncompleteResponse",
        format!("the response has no {field}"),
    )
}
