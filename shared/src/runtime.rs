//! The Lambda lifecycle around a handler: what a function does when its configuration is invalid.
//!
//! Lambda shows an init failure through the Runtime API's `POST /runtime/init/error`: an
//! `errorType` and an `errorMessage`, which appear in the console, in `Invoke`'s answer and in
//! the function's log. `lambda_runtime` only reports its own SnapStart failures there, so a
//! configuration error is reported here, with the variable, the rule and the value, and the
//! process exits without the Rust `Debug` form of the error on stderr.

use crate::error::ConfigError;
use lambda_runtime::Diagnostic;
use std::process::ExitCode;

/// The `errorType` of an invalid configuration.
pub const INVALID_CONFIGURATION: &str = "InvalidConfiguration";

/// The diagnostic Lambda shows for a configuration error.
pub fn init_diagnostic(error: &ConfigError) -> Diagnostic {
    Diagnostic {
        error_type: INVALID_CONFIGURATION.to_owned(),
        error_message: error.to_string(),
    }
}

/// Logs the configuration error, reports it to `/runtime/init/error` and returns the exit code
/// the process should end with. A failure to reach the Runtime API is logged, never hidden.
pub async fn init_failed(error: &ConfigError) -> ExitCode {
    let diagnostic = init_diagnostic(error);
    tracing::error!(error_type = %diagnostic.error_type, error = %diagnostic.error_message, "invalid configuration");
    if let Err(err) = post_init_error(&diagnostic).await {
        tracing::error!(error = %err, "could not report the init error to the Runtime API");
    }
    ExitCode::FAILURE
}

async fn post_init_error(diagnostic: &Diagnostic) -> Result<(), lambda_runtime::Error> {
    use lambda_runtime_api_client::{PooledClient, body::Body, build_request};
    // The client reads AWS_LAMBDA_RUNTIME_API, as lambda_runtime's own does.
    let client = PooledClient::builder().build();
    let request = build_request()
        .method("POST")
        .uri("/2018-06-01/runtime/init/error")
        .header("lambda-runtime-function-error-type", "Runtime.InitError")
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(diagnostic)?))?;
    let response = client.call(request).await?;
    if !response.status().is_success() {
        return Err(format!("init/error answered {}", response.status()).into());
    }
    Ok(())
}

/// The exit code of the invocation loop: it only ends on a Runtime API failure, which is logged.
pub fn exit_code(result: Result<(), lambda_runtime::Error>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "the runtime loop ended");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ValidationError;

    #[test]
    fn when_a_variable_is_invalid_should_name_it_the_rule_and_the_value() {
        let error = ConfigError::Invalid {
            var: "RELEASE_TAGS",
            source: ValidationError::new("RELEASE_TAGS.a<b", "must match ^x$", "a<b"),
        };
        let diagnostic = init_diagnostic(&error);
        assert_eq!(diagnostic.error_type, "InvalidConfiguration");
        assert_eq!(
            diagnostic.error_message,
            "environment variable RELEASE_TAGS: RELEASE_TAGS.a<b: must match ^x$ (got \"a<b\")"
        );
    }
}
