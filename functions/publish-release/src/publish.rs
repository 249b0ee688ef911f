//! The end of a release: `status.json` every time, and the pending marker cleared when final.
//! A failed release is logged once, here, as [`RELEASE_FAILED`]: the template's metric filter
//! counts that line and its alarm notifies the alarm topic.

use super::*;

/// The log message of a failed release; template.yaml's `ReleaseFailedMetric` matches it.
pub const RELEASE_FAILED: &str = "release failed";

/// What the steps left for the manifest.
pub(crate) struct Parts {
    pub distribution: Option<DistributionRecord>,
    pub export_record: Option<ExportRecord>,
    pub export_done: Option<ManifestExport>,
    pub appstream_record: Option<AppStreamRecord>,
    pub appstream_done: Option<Vec<ManifestAppStreamImage>>,
    pub already_published: bool,
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
            error!(step, reason, "{RELEASE_FAILED}");
        }
        let status = StatusRecord {
            schema_version: SCHEMA_VERSION,
            release_id: release.clone(),
            state,
            steps: steps.clone(),
            failure,
            updated_at: release::timestamp(self.clock.now()),
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

    /// Writes the manifest once (the first publisher wins), invalidates it, and ends the release.
    pub(crate) async fn publish(
        &self,
        release: &ReleaseId,
        parts: Parts,
        mut steps: Vec<StepStatus>,
    ) -> Result<ReleaseReport, HandlerError> {
        let Parts {
            distribution,
            export_record,
            export_done,
            appstream_record,
            appstream_done,
            already_published,
        } = parts;
        let config = &self.config;
        let manifest_key = keys::manifest(release);
        if let (Some(distribution), false) = (distribution, already_published) {
            let manifest = Manifest {
                schema_version: SCHEMA_VERSION,
                release_id: release.clone(),
                source_image_arn: distribution.source_image_arn.clone(),
                distributed_image_arn: export_record
                    .as_ref()
                    .map(|r| r.distributed_image_arn.clone())
                    .or(distribution.distributed_image_arn.clone())
                    .unwrap_or_default(),
                amis: export_record
                    .as_ref()
                    .map(|r| r.amis.clone())
                    .unwrap_or_default(),
                export: export_done,
                appstream: appstream_done.unwrap_or_default(),
                timestamps: ManifestTimestamps {
                    distribution_requested_at: distribution.requested_at,
                    export_requested_at: export_record.map(|r| r.requested_at),
                    appstream_requested_at: appstream_record.map(|r| r.requested_at),
                    published_at: release::timestamp(self.clock.now()),
                },
            };
            let outcome = self
                .store
                .put_json_if_absent(&manifest_key, &manifest)
                .await
                .map_err(store_err("writing the manifest"))?;
            info!(key = %manifest_key, outcome = ?outcome, "manifest written");
        }

        // The invalidation: the same caller reference for the same release, so a repeat is a no-op.
        let path = format!("/{manifest_key}");
        let reference = token::derive("publish-release", &[release.as_str()]);
        let invalidation = with_backoff(self.retry, || {
            self.cdn
                .create_invalidation(std::slice::from_ref(&path), &reference)
        })
        .await
        .map_err(|e| HandlerError::from_service(format!("invalidating {path}"), e))?;
        let url = format!("https://{}/{manifest_key}", config.cdn_domain);
        steps.push(step(
            Step::Publish,
            StepState::Done,
            format!("manifest at {url}, invalidation {invalidation}"),
        ));
        info!(url = %url, invalidation = %invalidation, "release published");
        self.finish(release, ReleaseState::Published, steps, None, Some(url))
            .await
    }
}
