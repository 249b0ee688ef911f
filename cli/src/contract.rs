//! The one contract every command keeps (docs/src/operating.md, "Exit codes and messages"):
//!
//! - exit 0: done, a repeat that changed nothing included (it says so);
//! - exit 1: a check failed or the request was refused (a failed, unknown, unpublished or
//!   revoked release, a finding, a concurrent change, AWS answering no or not at all);
//! - exit 2: usage or configuration (a flag, a variable, the region, the bucket, a key file),
//!   named as the operator spelled it, with the rule and `(got …)`.
//!
//! An error is one line on stderr, `image-release: <message>`, never an SDK debug structure;
//! with `--json`, one JSON object instead, `{"error": {"exit": N, "kind": …, "message": …}}`,
//! so that a script reads stdout for results and stderr for the reason. The same situation is
//! worded the same way in every command: the messages below.

use serde_json::json;
use shared::ValidationError;
use shared::domain::ReleaseId;
use shared::revocation::RevocationRecord;
use std::process::ExitCode;

/// How a command ended: the exit code, and what to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Exit 1: the command worked and found a problem, or was refused.
    Problem(String),
    /// Exit 2: the command could not run as asked.
    Usage(String),
}

impl Failure {
    pub fn code(&self) -> u8 {
        match self {
            Failure::Problem(_) => 1,
            Failure::Usage(_) => 2,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Failure::Problem(m) | Failure::Usage(m) => m,
        }
    }
}

impl From<ValidationError> for Failure {
    /// A value the operator gave that breaks a rule: the field, the rule and what was given.
    fn from(e: ValidationError) -> Self {
        Failure::Usage(e.to_string())
    }
}

/// Prints how a command ended and gives its exit code: `problem` is what a command that ran
/// found wrong (exit 1).
pub fn finish(result: Result<Option<String>, Failure>, json: bool) -> ExitCode {
    let failure = match result {
        Ok(None) => return ExitCode::SUCCESS,
        Ok(Some(problem)) => Failure::Problem(problem),
        Err(failure) => failure,
    };
    eprintln!("{}", render(&failure, json));
    ExitCode::from(failure.code())
}

/// The one line an error is printed as.
pub fn render(failure: &Failure, json: bool) -> String {
    // One line, whatever the cause carried (an SDK message may hold newlines).
    let message = failure
        .message()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if json {
        json!({ "error": {
            "exit": failure.code(),
            "kind": if failure.code() == 2 { "usage" } else { "problem" },
            "message": message,
        }})
        .to_string()
    } else {
        format!("image-release: {message}")
    }
}

/// A command line clap refused (exit 2), in the contract's one line (as JSON when the operator
/// asked for JSON): clap's message without its `error: ` prefix, with its tip when it has one.
pub fn usage_error(error: &clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind;
    let shown = matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if shown {
        error.exit();
    }
    let rendered = error.render().to_string();
    // The first paragraph is the error (`the following required arguments were not provided:`
    // and the arguments on the lines below it).
    let mut lines = rendered.lines().map(str::trim);
    let first = lines
        .by_ref()
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let first = first.trim_start_matches("error: ");
    let message = match lines.find(|l| l.starts_with("tip: ")) {
        Some(tip) => format!("{first} ({tip}; see --help)"),
        None => format!("{first} (see --help)"),
    };
    eprintln!("{}", render(&Failure::Usage(message), json));
    ExitCode::from(2)
}

/// A release the bucket knows nothing of.
pub fn unknown_release(id: &ReleaseId, bucket: &str) -> Failure {
    Failure::Problem(format!(
        "release {id} does not exist in bucket {bucket} (image-release status lists every release)"
    ))
}

/// A release that exists but has no manifest yet (or failed).
pub fn not_published(id: &ReleaseId, state: &str) -> Failure {
    Failure::Problem(format!(
        "release {id} is not published: it is {state} (image-release status {id})"
    ))
}

/// What a revocation record says, as every command says it.
pub fn revoked(record: &RevocationRecord) -> String {
    format!(
        "release {} was revoked at {} by {}: {}",
        record.release_id, record.at, record.by, record.reason
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_failure_is_rendered_should_be_one_line_and_json_when_asked() {
        let failure = Failure::Problem("GetObject failed:\n  connection refused".into());
        assert_eq!(
            render(&failure, false),
            "image-release: GetObject failed: connection refused"
        );
        let json: serde_json::Value = serde_json::from_str(&render(&failure, true)).unwrap();
        assert_eq!(json["error"]["exit"], 1);
        assert_eq!(json["error"]["kind"], "problem");
        assert_eq!(
            json["error"]["message"],
            "GetObject failed: connection refused"
        );
        let usage = Failure::from(ValidationError::new("--bucket", "must match x", ""));
        assert_eq!(usage.code(), 2);
        assert_eq!(usage.message(), "--bucket: must match x (got \"\")");
    }
}
