//! The end of a release: `status.json` every time, and the pending marker cleared when final.

use super::*;

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
