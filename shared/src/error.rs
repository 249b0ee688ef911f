//! Errors, one type per layer, each carrying its retry semantics.
//!
//! * [`ValidationError`]: a value broke a documented AWS limit or pattern (names the field and the rule).
//! * [`ServiceError`]: an AWS call failed; [`ErrorClass`] says what the documented error code means.
//! * [`HandlerError`]: what a function returns; its [`Diagnostic`] `errorType` is one of
//!   `InvalidEvent`, `Retryable`, `NonRetryable`, so Lambda's async retries / DLQ can act on it.

use lambda_runtime::Diagnostic;
use std::fmt;

/// A value that does not satisfy a documented AWS constraint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {}", self.detail())]
pub struct ValidationError {
    pub field: String,
    pub rule: String,
    shown: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, rule: impl Into<String>, value: &str) -> Self {
        // Never echo a huge value back into logs: keep the first 80 characters.
        let mut shown: String = value.chars().take(80).collect();
        if value.chars().count() > 80 {
            shown.push('…');
        }
        Self {
            field: field.into(),
            rule: rule.into(),
            // An empty value is shown too (`(got "")`): `FOO=` is a value, and the commonest
            // mistake of all.
            shown: format!("{shown:?}"),
        }
    }

    /// An error about a field whose value cannot be shown (a malformed document).
    pub fn without_value(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
            shown: String::new(),
        }
    }

    /// The rule and, when there is one, the offending value: `must match … (got "x")`.
    pub fn detail(&self) -> String {
        if self.shown.is_empty() {
            self.rule.clone()
        } else {
            format!("{} (got {})", self.rule, self.shown)
        }
    }

    /// The same error, reported under a more precise field path (e.g. `detail.pipelineArn`).
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }
}

/// What a documented AWS error code means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throttled (`CallRateLimitExceededException`, `TooManyRequestsException`, `RequestLimitExceeded`…): retry later.
    Throttled,
    /// Service-side or network failure (5xx, `ServiceUnavailableException`, timeouts): retry later.
    Transient,
    /// The resource is busy (`ResourceInUseException`, `ConcurrentModificationException`): retry later.
    InUse,
    /// The resource does not exist (`ResourceNotFoundException`, `InvalidAMIID.NotFound`…).
    NotFound,
    /// The resource exists already (`ResourceAlreadyExistsException`): the caller decides if that means done.
    AlreadyExists,
    /// Same client token, different parameters: our token derivation is wrong. Never retry.
    IdempotencyMismatch,
    /// A quota is exhausted (`ServiceQuotaExceededException`, `LimitExceededException`).
    LimitExceeded,
    /// The resource is not in a state that allows the call (`ResourceNotAvailableException`, `IncompatibleImageException`).
    NotAvailable,
    /// The request was rejected as invalid (`InvalidRequestException`, `InvalidParameterValue`, `ClientException`…).
    Invalid,
    /// Permissions (`AccessDeniedException`, `ForbiddenException`, `UnauthorizedOperation`, `OperationNotPermittedException`).
    AccessDenied,
    /// A conditional write lost (S3 `PreconditionFailed`): someone else wrote first.
    PreconditionFailed,
    /// One of our own release records could not be read as its type (the message names the key).
    CorruptRecord,
    /// Anything undocumented.
    Other,
}

impl ErrorClass {
    /// Whether trying the same call again later can succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::Throttled | ErrorClass::Transient | ErrorClass::InUse
        )
    }
}

/// A failed AWS call, classified once, in the adapter of its service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed with {code}: {message}")]
pub struct ServiceError {
    pub operation: &'static str,
    pub class: ErrorClass,
    pub code: String,
    pub message: String,
}

impl ServiceError {
    pub fn new(
        operation: &'static str,
        class: ErrorClass,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            operation,
            class,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn is(&self, class: ErrorClass) -> bool {
        self.class == class
    }
}

/// The `errorType` values this project reports to Lambda.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    InvalidEvent,
    Retryable,
    NonRetryable,
    /// A release record in the bucket is corrupt: an operator must look at that key.
    CorruptRecord,
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorType::InvalidEvent => "InvalidEvent",
            ErrorType::Retryable => "Retryable",
            ErrorType::NonRetryable => "NonRetryable",
            ErrorType::CorruptRecord => "CorruptRecord",
        })
    }
}

/// What a handler returns when it cannot finish.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event is malformed or carries a value that breaks a documented limit. Retrying cannot help.
    #[error("invalid event: {0}")]
    InvalidEvent(#[from] ValidationError),
    /// An AWS call failed in a way that a later attempt can fix (throttling, 5xx, resource busy).
    #[error("{0} (will be retried)")]
    Retryable(ServiceError),
    /// An AWS call failed for good (bad parameters, permissions, token mismatch…).
    #[error("{context}: {source}")]
    NonRetryable {
        context: String,
        source: ServiceError,
    },
    /// The release cannot go on for a reason that is not an AWS error (e.g. the AMI of the home region is missing).
    #[error("{0}")]
    Failed(String),
    /// A release record could not be read as its type; the message names the key. Not retried:
    /// the record must be repaired (or removed) first.
    #[error("corrupt release record {}", .0.message)]
    CorruptRecord(ServiceError),
}

impl HandlerError {
    pub fn error_type(&self) -> ErrorType {
        match self {
            HandlerError::InvalidEvent(_) => ErrorType::InvalidEvent,
            HandlerError::Retryable(_) => ErrorType::Retryable,
            HandlerError::NonRetryable { .. } | HandlerError::Failed(_) => ErrorType::NonRetryable,
            HandlerError::CorruptRecord(_) => ErrorType::CorruptRecord,
        }
    }

    /// The class of the AWS error behind this one, if an AWS call failed.
    pub fn class(&self) -> Option<ErrorClass> {
        match self {
            HandlerError::Retryable(e)
            | HandlerError::CorruptRecord(e)
            | HandlerError::NonRetryable { source: e, .. } => Some(e.class),
            HandlerError::InvalidEvent(_) | HandlerError::Failed(_) => None,
        }
    }

    /// Classifies a service error by its class alone: retryable classes retry, everything else fails
    /// with `context` as the reason. Handlers that give a class another meaning match on it first.
    pub fn from_service(context: impl Into<String>, error: ServiceError) -> Self {
        if error.class == ErrorClass::CorruptRecord {
            HandlerError::CorruptRecord(error)
        } else if error.class.is_retryable() {
            HandlerError::Retryable(error)
        } else {
            HandlerError::NonRetryable {
                context: context.into(),
                source: error,
            }
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        Diagnostic {
            error_type: error.error_type().to_string(),
            error_message: error.to_string(),
        }
    }
}

/// A missing or invalid environment variable at init.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {var}: {source}")]
    Invalid {
        var: &'static str,
        source: ValidationError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_error_is_throttled_should_map_to_retryable_diagnostic() {
        let err = HandlerError::from_service(
            "start pipeline",
            ServiceError::new(
                "StartImagePipelineExecution",
                ErrorClass::Throttled,
                "CallRateLimitExceededException",
                "slow down",
            ),
        );
        let diagnostic = Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "Retryable");
        assert!(
            diagnostic
                .error_message
                .contains("CallRateLimitExceededException")
        );
    }

    #[test]
    fn when_error_is_token_mismatch_should_map_to_non_retryable_diagnostic() {
        let err = HandlerError::from_service(
            "distribute image",
            ServiceError::new(
                "DistributeImage",
                ErrorClass::IdempotencyMismatch,
                "IdempotentParameterMismatchException",
                "x",
            ),
        );
        assert_eq!(Diagnostic::from(err).error_type, "NonRetryable");
    }

    #[test]
    fn when_value_is_long_should_truncate_it_in_the_message() {
        let err = ValidationError::new("name", "at most 100 characters", &"a".repeat(500));
        assert!(err.to_string().len() < 200);
    }
}
