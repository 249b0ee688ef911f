//! When a scheduled tick cannot read where a pending release stands (a call AWS denies, a
//! corrupt record, a throttle that never clears): the release's deadline is judged anyway, the
//! error goes into `status.json` with how long it has lasted, and from the
//! [`STUCK_AFTER_TICKS`]th tick in a row the release is logged as stuck, which the template's
//! `ReleaseStuckMetric` counts for its alarm. Whatever cannot be read or written here is logged
//! as stuck at once: an alarm that depends on the failing store would never fire.

use super::*;
use shared::release::{ObservationError, STUCK_AFTER_TICKS};

impl<T: Ports> Deps<T> {
    /// `err` kept this tick from observing `release`. Returns the release failed (its deadline
    /// passed) or pending (the error recorded); an error only when nothing could be recorded.
    pub(crate) async fn observation_failed(
        &self,
        release: &ReleaseId,
        err: HandlerError,
    ) -> Result<ReleaseReport, HandlerError> {
        // The release's deadline first: it fires whatever the observation does.
        let marker: Option<PendingMarker> = match self.store.get_json(&keys::pending(release)).await
        {
            Ok(marker) => marker,
            Err(read) => {
                error!(error = %err, marker_error = %read, "{}", publish::RELEASE_STUCK);
                return Err(err);
            }
        };
        let state = format!("a state that could not be read ({err})");
        if let Some(reason) = marker
            .as_ref()
            .and_then(|m| self.timed_out(Step::Publish, &m.since, &state))
        {
            return self.timed_out_release(release, Vec::new(), reason).await;
        }

        // How long it has lasted: the previous status says. When even that cannot be read, the
        // count cannot be trusted: the release is stuck now.
        let now = release::timestamp(self.clock.now());
        let (previous, unreadable) = match self
            .store
            .get_json::<StatusRecord>(&keys::status(release))
            .await
        {
            Ok(previous) => (previous, false),
            Err(read) => {
                warn!(error = %read, "the previous status cannot be read either");
                (None, true)
            }
        };
        let (since, ticks) = previous
            .as_ref()
            .and_then(|p| p.observation.as_ref())
            .map_or((now.clone(), 1), |o| (o.since.clone(), o.ticks + 1));
        let observation = ObservationError {
            error: err.to_string(),
            since,
            ticks: if unreadable {
                ticks.max(STUCK_AFTER_TICKS)
            } else {
                ticks
            },
        };
        if observation.stuck() {
            error!(error = %err, error_type = %err.error_type(), ticks = observation.ticks, since = %observation.since, "{}", publish::RELEASE_STUCK);
        } else {
            warn!(error = %err, error_type = %err.error_type(), ticks = observation.ticks, "could not observe the release this tick");
        }
        let detail = format!(
            "cannot observe the release: {err} ({} ticks since {})",
            observation.ticks, observation.since
        );
        let mut steps: Vec<StepStatus> = previous
            .map(|p| {
                p.steps
                    .into_iter()
                    .filter(|s| s.step != Step::Publish)
                    .collect()
            })
            .unwrap_or_default();
        steps.push(step(Step::Publish, StepState::Pending, detail));
        let status = StatusRecord {
            schema_version: SCHEMA_VERSION,
            release_id: release.clone(),
            state: ReleaseState::Pending,
            steps: steps.clone(),
            failure: None,
            observation: Some(observation.clone()),
            updated_at: now,
            generation: 0,
        };
        if let Err(write) = self.store.put_json(&keys::status(release), &status).await {
            // Nothing records it: the alarm must hear of it now.
            if !observation.stuck() {
                error!(error = %err, status_error = %write, "{}", publish::RELEASE_STUCK);
            }
            return Err(err);
        }
        Ok(ReleaseReport {
            release_id: release.to_string(),
            state: ReleaseState::Pending,
            steps,
            manifest_url: None,
        })
    }
}
