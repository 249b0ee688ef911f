//! The scheduled retention run ([`shared::retention`]): at most once per `RETENTION_INTERVAL`
//! (default a day), claimed with a conditional write of `state/retention.json`
//! ([`retention::claim`]) so that two ticks, or a tick and an operator's `retention apply`,
//! never both run it; then the plan is made and applied, and what it did recorded.

use super::*;
use shared::retention::{self, Applied, Claimed};

impl<T: Ports> Deps<T> {
    /// Runs the retention policy when it acts and its interval has passed since the last run.
    /// `None` when it did not run.
    pub(crate) async fn run_retention(&self) -> Result<Option<Applied>, HandlerError> {
        let policy = &self.config.retention;
        if !policy.acts() {
            return Ok(None);
        }
        let now = self.clock.now();
        let claimed = retention::claim(
            &self.store,
            now,
            Some(self.config.retention_interval),
            "publish-release",
        )
        .await
        .map_err(store_err("claiming the retention run"))?;
        let run = match claimed {
            Claimed::Yes(run) => run,
            Claimed::Busy(run) => {
                info!(since = ?run.started_at, by = ?run.by, "retention is under way elsewhere");
                return Ok(None);
            }
            Claimed::NotDue => return Ok(None),
        };
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
        retention::finish(&self.store, run, self.clock.now(), &result)
            .await
            .map_err(store_err("recording the retention run"))?;
        match result {
            Ok((saves, applied)) => {
                info!(?applied, saves_usd_per_month = saves, "retention applied");
                Ok(Some(applied))
            }
            Err(err) => {
                error!(error = %err, "retention stopped; its next run goes on from there");
                Err(HandlerError::from_service("applying retention", err))
            }
        }
    }
}
