//! The end of a release: `status.json` every time, and the pending marker cleared when final.
//! A failed release is logged once, here, as [`RELEASE_FAILED`]: the template's metric filter
//! counts that line and its alarm notifies the alarm topic.

use super::*;
use shared::provenance::{Proof, Proven, Provenance};

/// The log message of a failed release; template.yaml's `ReleaseFailedMetric` matches it.
pub const RELEASE_FAILED: &str = "release failed";
/// The log message of a release publish-release has not been able to observe for
/// [`STUCK_AFTER_TICKS`] ticks in a row; template.yaml's `ReleaseStuckMetric` matches it.
pub const RELEASE_STUCK: &str = "release stuck";
pub use shared::release::STUCK_AFTER_TICKS;
/// The release events' detail types (source `image-release`, default bus).
pub const RELEASE_PUBLISHED_EVENT: &str = "Release Published";
pub const RELEASE_FAILED_EVENT: &str = "Release Failed";

/// What the steps left for the manifest.
pub(crate) struct Parts {
    pub distribution: Option<DistributionRecord>,
    /// One per format of `EXPORT_FORMATS`, in that order.
    pub export_records: Vec<ExportRecord>,
    /// When the last artifact was hashed: the export step's end.
    pub export_hashed_at: Option<String>,
    pub export_done: Option<Vec<ManifestExport>>,
    pub appstream_record: Option<AppStreamRecord>,
    pub appstream_done: Option<Vec<ManifestAppStreamImage>>,
}

/// Writes `status.json`; a final state also takes the release off the pending list.
impl<T: Ports> Deps<T> {
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
        let status = self.record_status(release, state, &steps, failure).await?;
        if state != ReleaseState::Pending {
            // Before the marker goes: a failed put keeps the release pending, and the next
            // tick puts the event again (at least once; consumers key on the release id).
            self.announce(
                release,
                state,
                status.failure.as_ref(),
                manifest_url.as_deref(),
            )
            .await?;
            self.clear_pending(release).await?;
        }
        Ok(ReleaseReport {
            release_id: release.to_string(),
            state,
            steps,
            manifest_url,
        })
    }

    /// Writes `status.json`: `state` after `steps`, with `failure`. A final state says which
    /// retry generation it ends, so that a reader can tell it from a status an operator's later
    /// retry superseded.
    async fn record_status(
        &self,
        release: &ReleaseId,
        state: ReleaseState,
        steps: &[StepStatus],
        failure: Option<FailureRecord>,
    ) -> Result<StatusRecord, HandlerError> {
        let generation = match state {
            ReleaseState::Pending => 0,
            _ => shared::steps::generation(&self.store, release)
                .await
                .map_err(store_err("reading the retry record"))?,
        };
        let status = StatusRecord {
            schema_version: SCHEMA_VERSION,
            release_id: release.clone(),
            state,
            steps: steps.to_vec(),
            failure,
            observation: None,
            updated_at: release::timestamp(self.clock.now()),
            generation,
        };
        self.store
            .put_json(&keys::status(release), &status)
            .await
            .map_err(store_err("writing the status record"))?;
        Ok(status)
    }

    /// Takes the release off the pending list.
    async fn clear_pending(&self, release: &ReleaseId) -> Result<(), HandlerError> {
        self.store
            .delete(&keys::pending(release))
            .await
            .map_err(store_err("clearing the pending marker"))
    }

    /// Publishes a release whose steps are done: proves it from Image Builder's answers
    /// ([`shared::provenance`]), builds its manifest from that proof and the steps' records,
    /// writes `SHA256SUMS` and the manifest once (the first publisher wins), checks that what is
    /// stored is exactly what this invocation built, signs what it built, then the catalog
    /// (history page, index, latest pointer, downloads page) and the channel, and ends the
    /// release. A revoked release is never published. Nothing is invalidated: the distribution
    /// does not cache what changed (`CachingDisabled`).
    pub(crate) async fn publish(
        &self,
        release: &ReleaseId,
        parts: Parts,
        mut steps: Vec<StepStatus>,
    ) -> Result<ReleaseReport, HandlerError> {
        let config = &self.config;
        let manifest_key = keys::manifest(release);
        let url = format!("https://{}/{manifest_key}", config.cdn_domain);
        // Revocation wins: a release revoked before its publication finished stays unpublished
        // (its revocation takes back whatever an earlier attempt reached).
        if let Some(revoked) = self
            .store
            .get_json::<shared::revocation::RevocationRecord>(&shared::revocation::keys::record(
                release,
            ))
            .await
            .map_err(store_err("reading the revocation"))?
        {
            let reason = format!(
                "revoked by {} at {} before its publication finished: {}",
                revoked.by, revoked.at, revoked.reason
            );
            return self.refuse(release, steps, reason, false).await;
        }
        let proven = match self.provenance().prove(release).await {
            Ok(Proof::Proven(proven)) => proven,
            Ok(Proof::Refused(refusal)) if refusal.is_forged(true) => {
                return self.refuse(release, steps, refusal.reason, true).await;
            }
            Ok(Proof::Refused(refusal)) => {
                steps.push(step(Step::Publish, StepState::Pending, refusal.reason));
                return self.pending(release, steps).await;
            }
            Err(e) => return Err(HandlerError::from_service("proving the release", e)),
        };
        let manifest = self.write_manifest(release, parts, &proven).await?;
        let signed = self.sign(release, &manifest).await?;
        self.tag_published(release, &manifest, &signed).await?;
        self.update_catalog(&manifest, url.clone()).await?;
        self.publish_into_channel(&manifest).await?;
        steps.push(step(
            Step::Publish,
            StepState::Done,
            format!("manifest at {url}"),
        ));
        info!(url = %url, "release published");
        self.finish(release, ReleaseState::Published, steps, None, Some(url))
            .await
    }

    /// Ends a release that must not be published (`reason`): its status says why, it leaves
    /// the pending list, and nothing is announced. `forged`: the records claim what AWS's
    /// answers contradict, a security event.
    pub(crate) async fn refuse(
        &self,
        release: &ReleaseId,
        mut steps: Vec<StepStatus>,
        reason: String,
        forged: bool,
    ) -> Result<ReleaseReport, HandlerError> {
        if forged {
            shared::provenance::security_event(&format!("publishing {release}"), &reason);
        } else {
            warn!(reason, "not published");
        }
        let failure = decide::failure(release, Step::Publish, reason.clone(), self.clock.now());
        steps.push(step(Step::Publish, StepState::Failed, reason));
        self.record_status(release, ReleaseState::Failed, &steps, Some(failure))
            .await?;
        self.clear_pending(release).await?;
        Ok(ReleaseReport {
            release_id: release.to_string(),
            state: ReleaseState::Failed,
            steps,
            manifest_url: None,
        })
    }

    /// Signs `SHA256SUMS` and the manifest as this invocation built them (KMS Sign over each
    /// one's SHA-256, `MessageType: DIGEST`), writes each signature beside its object
    /// (`<key>.sig`), and the public key to [`keys::SIGNING_KEY_PEM`]. [`Deps::write_manifest`]
    /// proved that the stored objects are those bytes. Returns the signature keys. Runs on every
    /// publication attempt: ECDSA signatures differ each time, and any of them verifies, so a
    /// repeat after a partial finish simply signs again. Nothing when no key is configured.
    async fn sign(
        &self,
        release: &ReleaseId,
        manifest: &Manifest,
    ) -> Result<Vec<String>, HandlerError> {
        let Some(signer) = &self.signer else {
            return Ok(Vec::new());
        };
        let mut signed = Vec::new();
        for (key, bytes) in published_documents(release, manifest) {
            let digest = shared::ports::sha256_digest(&bytes);
            let signature = with_backoff(self.retry, || signer.sign_digest(&digest))
                .await
                .map_err(|e| HandlerError::from_service(format!("signing {key}"), e))?;
            let target = keys::signature(&key);
            with_backoff(self.retry, || {
                self.store
                    .put_bytes(&target, signature.clone(), "application/octet-stream")
            })
            .await
            .map_err(store_err("writing a signature"))?;
            signed.push(target);
        }
        let public_key = with_backoff(self.retry, || signer.public_key())
            .await
            .map_err(|e| HandlerError::from_service("reading the signing key's public key", e))?;
        with_backoff(self.retry, || {
            self.store.put_text(
                keys::SIGNING_KEY_PEM,
                shared::ports::public_key_pem(&public_key),
                "application/x-pem-file",
            )
        })
        .await
        .map_err(store_err("writing the public key"))?;
        info!(signatures = signed.len(), "publication signed");
        Ok(signed)
    }

    /// Tags every object the manifest publishes (its disks, `SHA256SUMS`, the manifest itself,
    /// their `signatures`) [`release::TAG_PUBLISHED`]: the bucket policy lets CloudFront read an
    /// object under `releases/` only with that tag, so a pending or failed release's disk is
    /// never served. Runs on every publication attempt, after every write of it: a write
    /// replaces an object's tags, and a repeat after a partial finish tags again.
    async fn tag_published(
        &self,
        release: &ReleaseId,
        manifest: &Manifest,
        signatures: &[String],
    ) -> Result<(), HandlerError> {
        let mut published: Vec<String> = manifest
            .artifacts
            .iter()
            .map(|a| a.object_key.clone())
            .collect();
        if !manifest.artifacts.is_empty() {
            published.push(keys::sha256sums(release));
        }
        published.push(keys::manifest(release));
        published.extend(signatures.iter().cloned());
        let tag = [(release::TAG_PUBLISHED, "true")];
        for key in &published {
            with_backoff(self.retry, || self.store.tag_object(key, &tag))
                .await
                .map_err(|e| HandlerError::from_service(format!("tagging {key} published"), e))?;
        }
        info!(objects = published.len(), "published objects tagged");
        Ok(())
    }

    /// `Release Published` or `Release Failed` on the default bus, source `image-release`.
    async fn announce(
        &self,
        release: &ReleaseId,
        state: ReleaseState,
        failure: Option<&FailureRecord>,
        manifest_url: Option<&str>,
    ) -> Result<(), HandlerError> {
        let (image, version, build) = shared::catalog::split_release_id(release.as_str());
        let mut detail = serde_json::json!({
            "releaseId": release.as_str(),
            "image": image,
            "version": version,
            "build": build,
            "state": state,
        });
        let detail_type = match state {
            ReleaseState::Published => {
                detail["manifestUrl"] = manifest_url.into();
                detail["downloadsUrl"] = format!("https://{}/", self.config.cdn_domain).into();
                RELEASE_PUBLISHED_EVENT
            }
            _ => {
                detail["failedStep"] = failure.map(|f| f.step.as_str()).into();
                detail["reason"] = failure.map(|f| f.reason.as_str()).into();
                RELEASE_FAILED_EVENT
            }
        };
        with_backoff(self.retry, || self.events.put(detail_type, &[], &detail))
            .await
            .map_err(|e| HandlerError::from_service(format!("putting {detail_type}"), e))?;
        info!(detail_type, "release event put");
        Ok(())
    }

    /// Writes `SHA256SUMS`, then the manifest once (`If-None-Match: *`), as built from `proven`
    /// and the steps' records; when a manifest is stored already (another publisher, or an
    /// attempt whose status write was lost), the one built here takes its publication time and
    /// step times. Then proves that what the store holds is exactly those bytes: an object
    /// that differs (a planted manifest, a changed `SHA256SUMS`) is a security event, and
    /// nothing is signed. Returns the manifest this invocation stands behind.
    async fn write_manifest(
        &self,
        release: &ReleaseId,
        parts: Parts,
        proven: &Proven,
    ) -> Result<Manifest, HandlerError> {
        let key = keys::manifest(release);
        let mut manifest = self.manifest(release, parts, proven).await?;
        if !manifest.artifacts.is_empty() {
            self.store
                .put_text(
                    &keys::sha256sums(release),
                    sha256sums(&manifest),
                    "text/plain; charset=utf-8",
                )
                .await
                .map_err(store_err("writing SHA256SUMS"))?;
        }
        let outcome = self
            .store
            .put_json_if_absent(&key, &manifest)
            .await
            .map_err(store_err("writing the manifest"))?;
        info!(key = %key, outcome = ?outcome, "manifest written");
        if outcome != PutOutcome::Written
            && let Some(stored) = self
                .store
                .get_json::<Manifest>(&key)
                .await
                .map_err(store_err("reading the manifest"))?
        {
            manifest.timestamps.published_at = stored.timestamps.published_at;
            manifest.steps = stored.steps;
        }
        for (object, bytes) in published_documents(release, &manifest) {
            let stored = self
                .store
                .sha256(&object)
                .await
                .map_err(|e| HandlerError::from_service(format!("hashing {object}"), e))?;
            let built = shared::ports::sha256_hex(&bytes);
            if stored.as_ref().map(|d| d.sha256.as_str()) != Some(built.as_str()) {
                let why = match stored {
                    None => format!("{object} vanished before it was signed"),
                    Some(d) => format!(
                        "{object} as stored (SHA-256 {}) is not the one built from AWS's answers ({built})",
                        d.sha256
                    ),
                };
                shared::provenance::security_event(&format!("signing {object}"), &why);
                return Err(HandlerError::Failed(why));
            }
        }
        Ok(manifest)
    }

    /// The v2 manifest of a release whose steps are all done.
    async fn manifest(
        &self,
        release: &ReleaseId,
        parts: Parts,
        proven: &Proven,
    ) -> Result<Manifest, HandlerError> {
        let Parts {
            distribution,
            export_records,
            export_hashed_at,
            export_done,
            appstream_record,
            appstream_done,
            ..
        } = parts;
        let distribution = distribution.ok_or_else(|| {
            HandlerError::Failed(format!("{release}: no distribution record to publish"))
        })?;
        let build: Option<BuildRecord> = self
            .store
            .get_json(&keys::build(release))
            .await
            .map_err(store_err("reading the build record"))?;
        let published_at = release::timestamp(self.clock.now());
        let artifacts: Vec<ManifestExport> = export_done.unwrap_or_default();
        let (_, version, number) = shared::catalog::split_release_id(release.as_str());
        let export_started = export_records.iter().map(|r| r.requested_at.clone()).min();
        let appstream_started = appstream_record.as_ref().map(|r| r.requested_at.clone());
        let mut step_times = Vec::new();
        let mut times = |step: Step, started: Option<String>, ended: Option<String>| {
            if let (Some(started_at), Some(ended_at)) = (started, ended) {
                step_times.push(StepTimes {
                    step,
                    started_at,
                    ended_at,
                });
            }
        };
        // A step ends when the reconciler or the next step saw it done.
        let distribution_ended = [export_started.clone(), appstream_started.clone()]
            .into_iter()
            .flatten()
            .min()
            .or(Some(published_at.clone()));
        times(
            Step::Build,
            build.as_ref().map(|b| b.recorded_at.clone()),
            Some(distribution.requested_at.clone()),
        );
        times(
            Step::Distribution,
            Some(distribution.requested_at.clone()),
            distribution_ended,
        );
        times(
            Step::Export,
            export_started.clone(),
            // The export ends when the last of its artifacts was hashed.
            export_hashed_at.or(Some(published_at.clone())),
        );
        times(
            Step::Appstream,
            appstream_started.clone(),
            Some(published_at.clone()),
        );
        Ok(Manifest {
            schema_version: MANIFEST_SCHEMA_VERSION,
            release_id: release.clone(),
            version: Some(version),
            build: Some(number),
            // What the proof read from Image Builder, never a record: whichever steps the
            // release required, its AMIs are the distribution's outputs.
            pipeline_arn: proven.pipeline_arn.clone(),
            source_image_arn: proven.source_image.clone(),
            distributed_image_arn: proven.distributed_image.clone(),
            amis: proven
                .amis
                .iter()
                .map(|a| ManifestAmi {
                    region: a.region.to_string(),
                    ami_id: a.ami_id.to_string(),
                    account_id: Some(a.account_id.clone()),
                    name: a.name.clone(),
                })
                .collect(),
            export: artifacts.first().cloned(),
            checksums_url: (!artifacts.is_empty()).then(|| {
                format!(
                    "https://{}/{}",
                    self.config.cdn_domain,
                    keys::sha256sums(release)
                )
            }),
            artifacts,
            appstream: appstream_done.unwrap_or_default(),
            timestamps: ManifestTimestamps {
                distribution_requested_at: distribution.requested_at,
                export_requested_at: export_started,
                appstream_requested_at: appstream_started,
                published_at,
            },
            steps: step_times,
        })
    }
}

/// `SHA256SUMS` of `manifest`'s artifacts, in `sha256sum -c` format, under a first line that
/// names the release: the file is signed, so the line ties it to its release (an older
/// release's `SHA256SUMS`, validly signed, says so). `sha256sum -c` skips lines that begin with
/// `#`, `--strict` included (GNU coreutils).
fn sha256sums(manifest: &Manifest) -> String {
    std::iter::once(format!("# release {}\n", manifest.release_id))
        .chain(
            manifest
                .artifacts
                .iter()
                .map(|a| format!("{}  {}\n", a.sha256, keys::file_name(&a.object_key))),
        )
        .collect()
}

/// The documents a publication signs, as this invocation builds them: `SHA256SUMS` (when the
/// release has artifacts), then the manifest, each with its bytes as stored.
fn published_documents(release: &ReleaseId, manifest: &Manifest) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if !manifest.artifacts.is_empty() {
        out.push((keys::sha256sums(release), sha256sums(manifest).into_bytes()));
    }
    out.push((keys::manifest(release), shared::ports::json_body(manifest)));
    out
}
