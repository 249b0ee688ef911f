//! The end of a release: `status.json` every time, and the pending marker cleared when final.
//! A failed release is logged once, here, as [`RELEASE_FAILED`]: the template's metric filter
//! counts that line and its alarm notifies the alarm topic.

use super::*;

/// The log message of a failed release; template.yaml's `ReleaseFailedMetric` matches it.
pub const RELEASE_FAILED: &str = "release failed";

pub(crate) fn failure(release: &ReleaseId, step: Step, reason: String) -> FailureRecord {
    FailureRecord {
        schema_version: SCHEMA_VERSION,
        release_id: release.clone(),
        step,
        reason,
        at: release::now(),
    }
}

/// Writes `status.json`; a final state also takes the release off the pending list.
impl<P: ImagePipelines, E: ImageExports + AmiCatalog, A: AppStreamImages, S: ArtifactStore, C: Cdn>
    Deps<P, E, A, S, C>
{
    pub(crate) async fn finish(
        &self,
        release: &ReleaseId,
        state: ReleaseState,
        steps: Vec<StepStatus>,
        failure: Option<FailureRecord>,
        manifest_url: Option<String>,
    ) -> Result<ReleaseReport, HandlerError> {
        if state == ReleaseState::Failed {
            let (step, reason) = failure
                .as_ref()
                .map(|f| (f.step.as_str(), f.reason.as_str()))
                .unwrap_or(("publish", "no reason recorded"));
            error!(release = %release, step, reason, "{RELEASE_FAILED}");
        }
        let status = StatusRecord {
            schema_version: SCHEMA_VERSION,
            release_id: release.clone(),
            state,
            steps: steps.clone(),
            failure,
            updated_at: release::now(),
        };
        self.store
            .put_json(&keys::status(release), &status)
            .await
            .map_err(store_err("writing the status record"))?;
        if state != ReleaseState::Pending {
            self.store
                .delete(&keys::pending(release))
                .await
                .map_err(store_err("clearing the pending marker"))?;
        }
        Ok(ReleaseReport {
            release_id: release.to_string(),
            state,
            steps,
            manifest_url,
        })
    }
}
