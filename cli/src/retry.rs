//! `retry RELEASE`: a failed release back on publish-release's pending list.
//!
//! Shows what failed; on confirmation (or `--yes`) it records the retry in `retry.json` (with
//! the failures it clears, so nothing is lost), puts the pending marker back, deletes the failure
//! records and `status.json`. publish-release's next tick then re-drives the steps with the same
//! idempotent tokens (UUID v5 of the same inputs), so nothing is done twice, and the deadlines of
//! the export and AppStream steps count from the retry.

use crate::{Cli, Failure, Outcome, aws, name, release_id, store};
use shared::clock::SystemClock;
use shared::ports::ArtifactStore;
use shared::release::{
    ReleaseState, RetryAttempt, RetryRecord, SCHEMA_VERSION, StatusRecord, keys,
};
use std::io::{BufRead, Write};

pub async fn retry(cli: &Cli, release: &str, yes: bool) -> Outcome {
    let id = release_id(release)?;
    let store = store(cli).await?;
    let status: Option<StatusRecord> = store
        .get_json(&keys::status(&id))
        .await
        .map_err(aws("reading the status"))?;
    let records = store
        .list_keys(&keys::records(&id))
        .await
        .map_err(aws("listing the release's records"))?;
    let mut failures = shared::steps::read_failures(&store, &records)
        .await
        .map_err(aws("reading a failure record"))?;
    match status.as_ref().map(|s| s.state) {
        Some(ReleaseState::Published) => {
            return Err(Failure::Problem(format!(
                "release {id} is published: nothing to retry"
            )));
        }
        None if records.is_empty() => {
            return Err(Failure::Problem(format!("no release {id} in the bucket")));
        }
        Some(ReleaseState::Pending) | None if failures.is_empty() => {
            return Err(Failure::Problem(format!(
                "release {id} has not failed (it is pending): nothing to retry"
            )));
        }
        _ => {}
    }

    // What failed: the step records, and the release's failure in `status.json` (a deadline
    // publish-release judged is only there).
    let records_to_delete: Vec<_> = failures.iter().map(|f| f.step).collect();
    if let Some(failure) = status.as_ref().and_then(|s| s.failure.clone())
        && !failures.contains(&failure)
    {
        failures.push(failure);
    }
    println!(
        "{id}: {}",
        status.as_ref().map_or("failing".into(), |s| name(s.state))
    );
    for failure in &failures {
        println!(
            "  {} failed at {}: {}",
            failure.step.as_str(),
            failure.at,
            failure.reason
        );
    }
    if !yes && !confirm(&id)? {
        return Err(Failure::Problem(format!("release {id} not retried")));
    }

    // The retry is on record before anything is cleared: a crash part-way loses nothing, and
    // `image-release retry` can simply be run again.
    let now = shared::release::timestamp(std::time::SystemTime::now());
    let mut record: RetryRecord = store
        .get_json(&keys::retry(&id))
        .await
        .map_err(aws("reading the retry record"))?
        .unwrap_or(RetryRecord {
            schema_version: SCHEMA_VERSION,
            release_id: id.clone(),
            attempts: Vec::new(),
        });
    record.attempts.push(RetryAttempt {
        at: now.clone(),
        cleared: failures.clone(),
    });
    store
        .put_json(&keys::retry(&id), &record)
        .await
        .map_err(aws("writing the retry record"))?;
    shared::steps::mark_pending(&store, &SystemClock, &id, None)
        .await
        .map_err(|e| Failure::Problem(format!("putting the pending marker: {e}")))?;
    for step in records_to_delete {
        store
            .delete(&keys::failure(&id, step))
            .await
            .map_err(aws("deleting a failure record"))?;
    }
    store
        .delete(&keys::status(&id))
        .await
        .map_err(aws("deleting the status"))?;

    if cli.json {
        println!(
            "{}",
            serde_json::json!({ "release": id.as_str(), "retried_at": now, "cleared": failures })
        );
    } else {
        println!(
            "retried {id}: {} failure(s) cleared (kept in {}); publish-release re-drives \
             it at its next tick with the same tokens. Follow it: image-release watch {id}",
            failures.len(),
            keys::retry(&id)
        );
    }
    Ok(None)
}

/// Asks on the terminal; anything but y/yes (or no answer) declines.
fn confirm(id: &shared::domain::ReleaseId) -> Result<bool, Failure> {
    eprint!(
        "Clear the failure of {id} and let publish-release re-drive it with the same tokens? [y/N] "
    );
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::Usage(format!("reading the answer: {e} (pass --yes)")))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
