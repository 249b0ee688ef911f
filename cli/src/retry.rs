//! `retry RELEASE`: a failed release back on publish-release's pending list.
//!
//! Shows what failed; on confirmation (or `--yes`) it appends the retry to `retry.json` with a
//! conditional write (`If-Match` on what it read, `If-None-Match` for the first): the retry
//! generation moves on, which supersedes the failures shown (they stay on record, in their own
//! keys and in `retry.json`; nothing is deleted). Then, last, it puts the pending marker back:
//! before that no tick looks at the release, so no tick can end it between the two writes.
//! publish-release's next tick re-drives the steps with the same idempotent tokens (UUID v5 of
//! the same inputs), so nothing is done twice; an export whose task failed is started again as
//! a new task (its token carries the attempt number), one that only outlived its deadline is
//! followed on; the deadlines of the export and AppStream steps count from the retry.

use crate::{Cli, Failure, Outcome, aws, name, release_id, store};
use shared::clock::SystemClock;
use shared::ports::ArtifactStore;
use shared::release::{ReleaseState, keys};
use shared::steps::retry::Retried;

pub async fn retry(cli: &Cli, release: &str, yes: bool) -> Outcome {
    let id = release_id(release)?;
    let store = store(cli).await?;
    let status = crate::status::current_status(&store, &id).await?;
    let records = store
        .list_keys(&keys::records(&id))
        .await
        .map_err(aws("listing the release's records"))?;
    let (generation, mut failures) = shared::steps::current_failures(&store, &id, &records)
        .await
        .map_err(aws("reading a failure record"))?;
    match status.as_ref().map(|s| s.state) {
        Some(ReleaseState::Published) => {
            return Err(Failure::Problem(format!(
                "release {id} is published: nothing to retry"
            )));
        }
        None if records.is_empty() => {
            return Err(crate::contract::unknown_release(&id, store.bucket()));
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
    if let Some(failure) = status.as_ref().and_then(|s| s.failure.clone())
        && !failures.contains(&failure)
    {
        failures.push(failure);
    }
    crate::say(
        cli,
        &format!(
            "{id}: {}",
            status.as_ref().map_or("failing".into(), |s| name(s.state))
        ),
    );
    for failure in &failures {
        crate::say(
            cli,
            &format!(
                "  {} failed at {}: {}",
                failure.step.as_str(),
                failure.at,
                failure.reason
            ),
        );
    }
    if !yes
        && !crate::confirm(&format!(
            "Clear the failure of {id} and let publish-release re-drive it with the same tokens?"
        ))?
    {
        return Err(Failure::Problem(format!("release {id} not retried")));
    }

    // The retry first (a conditional write: a concurrent retry stops this one before it
    // changed anything), the pending marker last.
    let now = shared::release::timestamp(std::time::SystemTime::now());
    let generation = match shared::steps::retry::retry_release(
        &store,
        &SystemClock,
        &id,
        generation,
        failures.clone(),
    )
    .await
    .map_err(|e| Failure::Problem(format!("retrying {id}: {e}")))?
    {
        Retried::Recorded { generation } => generation,
        Retried::Concurrent { on_record } => {
            return Err(Failure::Problem(format!(
                "release {id} was retried by someone else meanwhile (retry {on_record} is on \
                 record): nothing changed; run `image-release status {id}`"
            )));
        }
    };

    if cli.json {
        println!(
            "{}",
            serde_json::json!({ "release": id.as_str(), "retried_at": now, "cleared": failures })
        );
    } else {
        println!(
            "retried {id} (retry {}): {} failure(s) superseded (kept, and listed in {}); \
             publish-release re-drives it at its next tick with the same tokens. Follow it: \
             image-release watch {id}",
            generation,
            failures.len(),
            keys::retry(&id)
        );
    }
    Ok(None)
}
