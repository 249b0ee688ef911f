//! What every adapter does with an SDK error: one classification of SDK errors, and the error for
//! an answer that lacks a documented field.

use super::causes;
use crate::error::{ErrorClass, ServiceError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

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
    match &err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("Unknown").to_owned();
            let status = service.raw().status().as_u16();
            let class = match table(&code) {
                ErrorClass::Other if status == 429 => ErrorClass::Throttled,
                ErrorClass::Other if status >= 500 => ErrorClass::Transient,
                class => class,
            };
            // A HEAD's 403 or 404 has no body, so no message: the causes, without the debug
            // structure `DisplayErrorContext` would append.
            let text = service
                .err()
                .message()
                .map_or_else(|| causes(&err), str::to_owned);
            ServiceError::new(operation, class, code, text)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ServiceError::new(
                operation,
                ErrorClass::Transient,
                "NetworkError",
                causes(&err),
            )
        }
        SdkError::ConstructionFailure(_) => ServiceError::new(
            operation,
            ErrorClass::Invalid,
            "ConstructionFailure",
            causes(&err),
        ),
        _ => ServiceError::new(operation, ErrorClass::Other, "Unknown", causes(&err)),
    }
}

/// An answer that lacks a field the API documents as always present.
#[cfg(any(feature = "imagebuilder", feature = "ec2", feature = "cloudfront"))]
pub(crate) fn missing(operation: &'static str, field: &str) -> ServiceError {
    ServiceError::new(
        operation,
        ErrorClass::Transient,
        "IncompleteResponse",
        format!("the response has no {field}"),
    )
}

/// The answer of a call whose `NotFound` class means "absent": `Some(answer)`, `None` when the
/// service says the resource does not exist, or the classified error.
pub(crate) fn found<T, E>(
    operation: &'static str,
    result: Result<T, SdkError<E, HttpResponse>>,
    table: fn(&str) -> ErrorClass,
) -> Result<Option<T>, ServiceError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(answer) => Ok(Some(answer)),
        Err(err) => {
            let err = classify(operation, err, table);
            if err.is(ErrorClass::NotFound) {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}
