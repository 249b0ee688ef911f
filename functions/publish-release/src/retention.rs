//! The scheduled retention run ([`shared::retention`]): at most once per `RETENTION_INTERVAL`
//! (default a day), claimed with a conditional write of `state/retention.json` so that two
//! ticks never both run it, then the plan is made and applied, and what it did recorded.

use super::*;
use shared::retention::{self, Applied};

/// `state/retention.json`: when the policy last ran and what it did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct RetentionRun {
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<Applied>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saves_usd_per_month: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub const RETENTION_RUN: &str = "state/retention.json";

impl<T: Ports> Deps<T> {
    /// Runs the retention policy when it acts and its interval has passed since the last run.
    /// `None` when it did not run.
    pub(crate) async fn run_retention(&self) -> Result<Option<Applied>, HandlerError> {
        let policy = &self.config.retention;
        if !policy.acts() {
            return Ok(None);
        }
        let now = self.clock.now();
        let current: Option<shared::ports::Versioned<RetentionRun>> = self
            .store
            .get_json_versioned(RETENTION_RUN)
            .await
            .map_err(store_err("reading the retention run"))?;
        let due = current
            .as_ref()
            .and_then(|c| c.value.started_at.as_deref())
            .and_then(shared::clock::parse_time)
            .is_none_or(|at| {
                now.duration_since(at).unwrap_or_default() >= self.config.retention_interval
            });
        if !due {
            return Ok(None);
        }
        let mut run = RetentionRun {
            started_at: Some(release::timestamp(now)),
            ..RetentionRun::default()
        };
        // The claim: a tick that loses it leaves the run to the winner.
        if self
            .store
            .put_json_if_match(
                RETENTION_RUN,
                &run,
                current.as_ref().map(|c| c.etag.as_str()),
            )
            .await
            .map_err(store_err("claiming the retention run"))?
            != PutOutcome::Written
        {
            return Ok(None);
        }
        let result = async {
            let plan = retention::plan(
                &self.store,
                &self.lifecycle,
                &self.provenance(),
                policy,
                now,
            )
            .await?;
            let applied =
                retention::apply(&self.store, &self.lifecycle, &self.appstream, &plan, now).await?;
            Ok::<_, ServiceError>((plan.saves_usd_per_month(), applied))
        }
        .await;
        run.finished_at = Some(release::timestamp(self.clock.now()));
        let outcome = match result {
            Ok((saves, applied)) => {
                info!(?applied, saves_usd_per_month = saves, "retention applied");
                run.applied = Some(applied.clone());
                run.saves_usd_per_month = Some(saves);
                Ok(Some(applied))
            }
            Err(err) => {
                error!(error = %err, "retention stopped; its next run goes on from there");
                run.error = Some(err.to_string());
                Err(HandlerError::from_service("applying retention", err))
            }
        };
        self.store
            .put_json(RETENTION_RUN, &run)
            .await
            .map_err(store_err("recording the retention run"))?;
        outcome
    }
}
