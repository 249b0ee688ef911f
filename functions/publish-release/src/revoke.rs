//! Drives each recorded revocation ([`shared::revocation`]) to completion, one surface after
//! the other, recording each as it is done, so a tick that stops midway (a crash, a timeout, a
//! throttled service) is finished by the next one. Every surface is idempotent: doing one
//! again after a crash changes nothing more.

use super::*;
use shared::catalog::Revoked;
use shared::channels::{self, Action, ChannelRecord, Target};
use shared::domain::AmiId;
use shared::ports::{AmiLifecycle, Cdn};
use shared::provenance::{Proof, Proven, Provenance, Refused};
use shared::revocation::{self, Progress, RevocationRecord, Surface};

/// The code of the channels surface's wait for SSM to show a moved channel's new AMI.
const NOT_YET_VALIDATED: &str = "NotYetValidated";

/// The event a finished revocation puts on the release bus.
pub const RELEASE_REVOKED: &str = "Release Revoked";

impl<T: Ports> Deps<T> {
    /// Every revocation still to drive (one listing of `pending-revocations/`). One release's
    /// trouble does not stop the others; the first error is returned after all were tried.
    pub(crate) async fn drive_revocations(&self) -> Result<usize, HandlerError> {
        let keys = self
            .store
            .list_keys(revocation::keys::PENDING_PREFIX)
            .await
            .map_err(store_err("listing pending revocations"))?;
        let mut failed = None;
        let mut finished = 0;
        for (marker, id) in keys
            .iter()
            .filter_map(|k| Some((k, revocation::keys::parse_pending(k)?)))
        {
            match self.drive_revocation(&id, marker).await {
                Ok(true) => finished += 1,
                Ok(false) => {}
                Err(err) => {
                    error!(release = %id, error = %err, "revocation not finished this tick");
                    failed.get_or_insert(err);
                }
            }
        }
        failed.map_or(Ok(finished), Err)
    }

    /// One revocation, for its marker `marker` (the first decision's, or a raise's): each
    /// surface not done yet for the record's revision, in order. `true` when it finished.
    #[tracing::instrument(skip_all, fields(release = %id, marker))]
    async fn drive_revocation(&self, id: &ReleaseId, marker: &str) -> Result<bool, HandlerError> {
        let record = self
            .store
            .get_json::<RevocationRecord>(&revocation::keys::record(id))
            .await
            .map_err(store_err("reading the revocation"))?;
        // The marker is written first, then the record (or its raise): a marker ahead of the
        // record means the CLI is between its two writes (leave it), or stopped between them
        // long ago (nothing was decided: clear it). Its `at` is the CLI's clock, which SigV4
        // keeps within 15 minutes of AWS's (RequestTimeTooSkewed), far inside the hour.
        let written = self
            .store
            .get_json::<revocation::Marker>(marker)
            .await
            .map_err(store_err("reading the revocation marker"))?;
        let ahead = written.as_ref().map_or(0, |m| m.revision);
        let record = match record {
            Some(record) if record.revision() >= ahead => record,
            _ => {
                let at = written
                    .and_then(|m| m.at)
                    .and_then(|at| shared::clock::parse_time(&at));
                let orphaned = at.is_none_or(|at| {
                    shared::clock::age(self.clock.now(), at) >= revocation::ORPHAN_MARKER_AFTER
                });
                if orphaned {
                    self.store
                        .delete(marker)
                        .await
                        .map_err(store_err("clearing the revocation marker"))?;
                }
                return Ok(false);
            }
        };
        let manifest: Manifest = self
            .store
            .get_json(&keys::manifest(id))
            .await
            .map_err(store_err("reading the manifest"))?
            .ok_or_else(|| {
                HandlerError::from_service(
                    "revoking",
                    ServiceError::new(
                        "GetObject",
                        shared::ErrorClass::CorruptRecord,
                        "NoManifest",
                        format!("{id} is being revoked but has no manifest"),
                    ),
                )
            })?;
        // Each revision of the record has its progress (a raise's starts from the one before).
        let (progress_key, mut progress) = revocation::progress_for(&self.store, &record)
            .await
            .map_err(store_err("reading the revocation's progress"))?;
        // What the release really is, by Image Builder's answers: only its proven AMIs are
        // deprecated or disabled. A revocation the records cannot back (no distribution of
        // this release, an image that is another's) touches nothing and is a security event.
        let proven = match self
            .provenance()
            .prove(id)
            .await
            .map_err(store_err("proving the release"))?
        {
            Proof::Proven(proven) => Some(proven),
            Proof::Refused(refusal) if refusal.kind == Refused::NotYet => {
                return Err(HandlerError::Retryable(ServiceError::new(
                    "GetImage",
                    shared::ErrorClass::Transient,
                    "NotProvenYet",
                    refusal.reason,
                )));
            }
            Proof::Refused(refusal) if refusal.kind == Refused::Forged => {
                shared::provenance::security_event(&format!("revoking {id}"), &refusal.reason);
                progress
                    .notes
                    .insert(Surface::Amis, format!("refused: {}", refusal.reason));
                self.end_revocation(&progress_key, &progress, marker)
                    .await?;
                return Ok(false);
            }
            // Its images are gone from Image Builder (deleted since): the bucket's surfaces
            // are still taken back; its AMIs cannot be proven, so they are left alone.
            Proof::Refused(refusal) => {
                warn!(
                    reason = refusal.reason,
                    "the release's AMIs cannot be proven"
                );
                None
            }
        };
        let mut waiting = false;
        for surface in Surface::ALL {
            if progress.done.contains(&surface) {
                continue;
            }
            // The event says the revocation is done: it waits for every other surface.
            if surface == Surface::Event && waiting {
                break;
            }
            let result = self
                .revoke_surface(surface, &record, &manifest, proven.as_ref())
                .await;
            match result {
                // SSM validates an aws:ec2:image value after PutParameter returns, so a moved
                // channel's parameters usually show the replacement only at a later tick: the
                // other surfaces need not wait for it.
                Err(HandlerError::Retryable(e))
                    if surface == Surface::Channels && e.code == NOT_YET_VALIDATED =>
                {
                    info!(reason = %e, "channels moved; waiting for SSM to show them");
                    progress
                        .notes
                        .insert(surface, format!("not done yet: {}", e.message));
                    waiting = true;
                }
                Ok(note) => {
                    info!(surface = surface.as_str(), note, "surface revoked");
                    progress.done.insert(surface);
                    progress.notes.insert(surface, note);
                    self.store
                        .put_json(&progress_key, &progress)
                        .await
                        .map_err(store_err("writing the revocation's progress"))?;
                }
                Err(err) => {
                    progress
                        .notes
                        .insert(surface, format!("not done yet: {err}"));
                    // Best effort: the note helps an operator; the next tick tries again anyway.
                    let _ = self.store.put_json(&progress_key, &progress).await;
                    return Err(err);
                }
            }
        }
        if waiting {
            self.store
                .put_json(&progress_key, &progress)
                .await
                .map_err(store_err("writing the revocation's progress"))?;
            return Ok(false);
        }
        progress.finished_at = Some(release::timestamp(self.clock.now()));
        self.end_revocation(&progress_key, &progress, marker)
            .await?;
        info!("release revoked on every surface");
        Ok(true)
    }

    /// A revocation's last writes (finished, or refused): its progress, then its marker goes.
    async fn end_revocation(
        &self,
        progress_key: &str,
        progress: &Progress,
        marker: &str,
    ) -> Result<(), HandlerError> {
        self.store
            .put_json(progress_key, progress)
            .await
            .map_err(store_err("writing the revocation's progress"))?;
        self.store
            .delete(marker)
            .await
            .map_err(store_err("clearing the revocation marker"))
    }

    async fn revoke_surface(
        &self,
        surface: Surface,
        record: &RevocationRecord,
        manifest: &Manifest,
        proven: Option<&Proven>,
    ) -> Result<String, HandlerError> {
        match surface {
            Surface::Channels => self.revoke_channels(record).await,
            Surface::Catalog => self.revoke_in_catalog(record, manifest).await,
            Surface::Disks => self.revoke_disks(record, manifest).await,
            Surface::Amis => self.revoke_amis(record, manifest, proven).await,
            Surface::Appstream => self.revoke_appstream(record, manifest).await,
            Surface::Event => {
                let detail = serde_json::json!({
                    "releaseId": record.release_id.as_str(),
                    "reason": record.reason,
                    "revokedAt": record.at,
                    "revokedBy": record.by,
                });
                with_backoff(self.retry, || {
                    self.events.put(
                        RELEASE_REVOKED,
                        std::slice::from_ref(&manifest.distributed_image_arn),
                        &detail,
                    )
                })
                .await
                .map_err(store_err("putting Release Revoked"))?;
                Ok(format!("{RELEASE_REVOKED} put on the release bus"))
            }
        }
    }

    /// Every channel of the image that points at the release moves to the newest release it
    /// pointed at before that is not revoked (never to one it never held), or is emptied.
    async fn revoke_channels(&self, record: &RevocationRecord) -> Result<String, HandlerError> {
        let id = &record.release_id;
        let image = channels::image_of(id);
        let mut notes = Vec::new();
        for channel in channels::of_image(&self.store, &image)
            .await
            .map_err(store_err("listing the channels"))?
        {
            let Some(current) = channels::read(&self.store, &image, &channel)
                .await
                .map_err(store_err("reading a channel"))?
            else {
                continue;
            };
            if current.value.release_id.as_ref() == Some(id) {
                let mut moved = current.value.clone();
                let now = release::timestamp(self.clock.now());
                let reason = format!("{id} revoked: {}", record.reason);
                match self.replacement(&current.value, id).await? {
                    Some(target) => {
                        notes.push(format!("{channel} → {}", target.release_id));
                        moved.moved(target, Action::Revoke, &now, &record.by, Some(&reason));
                    }
                    None => {
                        notes.push(format!("{channel} emptied (it held no other good release)"));
                        moved.emptied(Action::Revoke, &now, &record.by, Some(&reason));
                    }
                }
                if !channels::write_move(&self.store, Some(&current), &moved)
                    .await
                    .map_err(store_err("moving a channel"))?
                {
                    return Err(HandlerError::Retryable(
                        shared::documents::precondition_failed(format!(
                            "{image}/{channel} moved while it was revoked; next tick"
                        )),
                    ));
                }
            }
            // Mirrored whether moved now or by an earlier attempt that stopped before this.
            if current.value.release_id.as_ref() == Some(id)
                || !current.value.withdrawn.is_empty()
                || current
                    .value
                    .history
                    .last()
                    .is_some_and(|m| m.action == Action::Revoke)
            {
                let mirrored = channels::mirror(
                    &self.store,
                    &self.parameters,
                    &self.provenance(),
                    &self.parameter_space(),
                    &image,
                    &channel,
                )
                .await
                .map_err(store_err("mirroring a channel"))?;
                // Until SSM shows the replacement, a parameter may still name the revoked AMI.
                if let channels::Mirrored::Waiting { regions, .. } = mirrored {
                    return Err(HandlerError::Retryable(ServiceError::new(
                        "GetParameter",
                        shared::ErrorClass::Transient,
                        NOT_YET_VALIDATED,
                        format!("SSM does not show {image}/{channel}'s new AMI in {regions:?} yet"),
                    )));
                }
            }
        }
        Ok(if notes.is_empty() {
            "no channel pointed at it".to_owned()
        } else {
            notes.join("; ")
        })
    }

    /// The newest release `channel` held before, other than `revoked`, that is not revoked.
    async fn replacement(
        &self,
        channel: &ChannelRecord,
        revoked: &ReleaseId,
    ) -> Result<Option<Target>, HandlerError> {
        let mut seen = Vec::new();
        for candidate in channel
            .history
            .iter()
            .rev()
            .filter_map(|m| m.release_id.as_ref())
        {
            if candidate == revoked || seen.contains(candidate) {
                continue;
            }
            seen.push(candidate.clone());
            let is_revoked = self
                .store
                .object_size(&revocation::keys::record(candidate))
                .await
                .map_err(store_err("reading a revocation"))?
                .is_some();
            if is_revoked {
                continue;
            }
            // Its AMIs as Image Builder reports them: a channel never moves to a release it
            // cannot prove.
            let proof = self
                .provenance()
                .prove(candidate)
                .await
                .map_err(store_err("proving a release"))?;
            if let Proof::Proven(proven) = proof {
                let target = Target::proven(&proven);
                if self.launchable(&target).await? {
                    return Ok(Some(target));
                }
            }
        }
        Ok(None)
    }

    /// Whether every AMI of `target` is `available` and not deprecated (retention may have
    /// deregistered an older release's, or a revocation deprecated them).
    async fn launchable(&self, target: &Target) -> Result<bool, HandlerError> {
        let now = self.clock.now();
        for ami in &target.amis {
            let facts = with_backoff(self.retry, || {
                self.lifecycle.describe(&ami.region, &ami.ami_id)
            })
            .await
            .map_err(store_err("describing an AMI"))?;
            let fine = facts.is_some_and(|f| {
                f.state.as_deref() == Some("available")
                    && !revocation::deprecated_by(f.deprecation_time.as_deref(), now)
            });
            if !fine {
                return Ok(false);
            }
        }
        Ok(!target.amis.is_empty())
    }

    /// The entry on its history page, among the index's newest and in latest.json says revoked;
    /// the pages are rendered again.
    async fn revoke_in_catalog(
        &self,
        record: &RevocationRecord,
        manifest: &Manifest,
    ) -> Result<String, HandlerError> {
        let id = record.release_id.as_str();
        let image = channels::image_of(&record.release_id);
        let month = shared::catalog::month_of(&manifest.timestamps.published_at);
        let mark = Revoked {
            at: record.at.clone(),
            reason: record.reason.clone(),
        };
        shared::documents::update_entry(&self.store, &image, &month, id, |e| e.revoke(&mark))
            .await
            .map_err(store_err("marking the catalog"))?;
        let page = keys::history(&image, &month);
        Ok(format!(
            "marked revoked in {page}, the index and latest.json"
        ))
    }

    /// The disks, `SHA256SUMS` and their signatures leave the grant (their published tag is
    /// replaced; the bucket policy lets CloudFront read only objects tagged published) or are
    /// deleted (`purge`); then their paths are invalidated, once (CallerReference
    /// `revoke-<id>`), since their cache behaviour keeps them at the edge for up to a year.
    async fn revoke_disks(
        &self,
        record: &RevocationRecord,
        manifest: &Manifest,
    ) -> Result<String, HandlerError> {
        let id = &record.release_id;
        // Only the release's own objects: a manifest naming another release's keys is not
        // followed there.
        let own = id.prefix();
        let mut objects: Vec<String> = manifest
            .artifacts
            .iter()
            .chain(manifest.export.iter())
            .map(|a| a.object_key.clone())
            .filter(|k| k.starts_with(&own) && !k.contains(".."))
            .collect();
        objects.sort();
        objects.dedup();
        if objects.is_empty() {
            return Ok("no disks".to_owned());
        }
        // SHA256SUMS and its signature (the disks are signed through it).
        objects.push(keys::sha256sums(id));
        objects.push(keys::signature(&keys::sha256sums(id)));
        for key in &objects {
            let exists = self
                .store
                .object_size(key)
                .await
                .map_err(store_err("looking for a disk"))?
                .is_some();
            if !exists {
                continue;
            }
            if record.purge {
                // Every version: a purge removes the bytes, not only the current version.
                self.store
                    .delete_every_version(key)
                    .await
                    .map_err(store_err("deleting a revoked disk"))?;
            } else {
                let tag = [(release::TAG_PUBLISHED, "revoked")];
                with_backoff(self.retry, || self.store.tag_object(key, &tag))
                    .await
                    .map_err(store_err("withdrawing a revoked disk"))?;
            }
        }
        let what = if record.purge {
            "deleted"
        } else {
            "withdrawn from the distribution's grant"
        };
        let Some(cdn) = &self.cdn else {
            return Ok(format!(
                "{} objects {what}; not invalidated (CDN_DISTRIBUTION_ID unset)",
                objects.len()
            ));
        };
        let paths: Vec<String> = objects.iter().map(|k| format!("/{k}")).collect();
        let reference = format!("revoke-{id}");
        let invalidation = with_backoff(self.retry, || cdn.create_invalidation(&paths, &reference))
            .await
            .map_err(store_err("invalidating the revoked disks"))?;
        Ok(format!(
            "{} objects {what}; their paths invalidated ({invalidation})",
            objects.len()
        ))
    }

    /// Every AMI of the building account that Image Builder reports for the release
    /// (`proven`): deprecated now (and disabled when asked). An AMI gone already counts as done;
    /// AMIs of other accounts are theirs to take back (named); a release that cannot be proven
    /// leaves every AMI alone.
    async fn revoke_amis(
        &self,
        record: &RevocationRecord,
        manifest: &Manifest,
        proven: Option<&Proven>,
    ) -> Result<String, HandlerError> {
        let Some(proven) = proven else {
            return Ok(
                "AMIs left alone: Image Builder no longer reports the release's images, so they cannot be proven its"
                    .to_owned(),
            );
        };
        let target = Target::proven(proven);
        let mut notes = Vec::new();
        for ami in &target.amis {
            let described = with_backoff(self.retry, || {
                self.lifecycle.describe(&ami.region, &ami.ami_id)
            })
            .await
            .map_err(store_err("describing an AMI"))?;
            let Some(facts) = described else {
                notes.push(format!("{} {} is gone", ami.region, ami.ami_id));
                continue;
            };
            // Deprecated already only when its time has passed, or is the one a revocation asks
            // for: a public AMI's default deprecation two years ahead is none.
            let by = revocation::deprecate_at(self.clock.now());
            if !revocation::deprecated_by(facts.deprecation_time.as_deref(), by) {
                let deprecated = with_backoff(self.retry, || {
                    // Asked as late as possible: EC2 refuses a time in the past.
                    let at = revocation::deprecate_at(self.clock.now());
                    self.lifecycle.deprecate(&ami.region, &ami.ami_id, at)
                })
                .await;
                match deprecated {
                    Ok(()) => {}
                    // Deregistered meanwhile (retention, or by hand).
                    Err(e) if e.is(shared::ErrorClass::NotFound) => {
                        notes.push(format!("{} {} is gone", ami.region, ami.ami_id));
                        continue;
                    }
                    Err(e) => return Err(store_err("deprecating an AMI")(e)),
                }
            }
            if record.disable && facts.state.as_deref() != Some("disabled") {
                with_backoff(self.retry, || {
                    self.lifecycle.disable(&ami.region, &ami.ami_id)
                })
                .await
                .map_err(store_err("disabling an AMI"))?;
            }
            notes.push(format!(
                "{} {} deprecated{}",
                ami.region,
                ami.ami_id,
                if record.disable { " and disabled" } else { "" }
            ));
        }
        let home: Vec<&AmiId> = target.amis.iter().map(|a| &a.ami_id).collect();
        for other in proven.amis.iter().filter(|a| !home.contains(&&a.ami_id)) {
            notes.push(format!(
                "{} {} of account {} left to that account",
                other.region, other.ami_id, other.account_id
            ));
        }
        for unproven in manifest
            .amis
            .iter()
            .filter(|a| !proven.amis.iter().any(|p| p.ami_id.as_str() == a.ami_id))
        {
            shared::provenance::security_event(
                &format!("revoking {}", record.release_id),
                &format!(
                    "the manifest names {} {}, which Image Builder does not report for the release: left alone",
                    unproven.region, unproven.ami_id
                ),
            );
            notes.push(format!(
                "{} {} left alone: not an AMI of the release",
                unproven.region, unproven.ami_id
            ));
        }
        Ok(notes.join("; "))
    }

    /// Every AppStream copy deleted, when the revocation asks for it.
    async fn revoke_appstream(
        &self,
        record: &RevocationRecord,
        manifest: &Manifest,
    ) -> Result<String, HandlerError> {
        if !record.delete_appstream || manifest.appstream.is_empty() {
            return Ok(if manifest.appstream.is_empty() {
                "no AppStream images".to_owned()
            } else {
                "AppStream images kept (not asked to delete them)".to_owned()
            });
        }
        // Only the copies this release made: they carry its mark in their description.
        let mark = self
            .store
            .get_json::<shared::steps::appstream_copy::CopyMarkRecord>(&keys::appstream_mark(
                &record.release_id,
            ))
            .await
            .map_err(store_err("reading the release's AppStream mark"))?
            .map(|m| m.mark);
        let mut notes = Vec::new();
        for image in &manifest.appstream {
            let (Ok(region), Ok(name)) = (
                RegionName::parse("appstream[].region", &image.region),
                shared::domain::AppStreamImageName::parse(
                    "appstream[].image_name",
                    &image.image_name,
                ),
            ) else {
                notes.push(format!(
                    "{} {} not a valid image",
                    image.region, image.image_name
                ));
                continue;
            };
            let described =
                with_backoff(self.retry, || self.appstream.describe_image(&region, &name))
                    .await
                    .map_err(store_err("describing an AppStream image"))?;
            let Some(described) = described else {
                notes.push(format!("{region} {name} gone already"));
                continue;
            };
            if !mark.as_ref().is_some_and(|m| m.is_on(&described)) {
                shared::provenance::security_event(
                    &format!("revoking {}", record.release_id),
                    &format!("{region} {name} does not carry the release's mark: not its copy"),
                );
                notes.push(format!(
                    "{region} {name} left alone: not the release's copy"
                ));
                continue;
            }
            // DeleteImage leaves the image DELETING for a while (AppStream's image states):
            // an earlier tick deleted it already, and deleting again is refused.
            if described.image_state() == shared::ports::AppStreamImageState::Deleting {
                notes.push(format!("{region} {name} being deleted"));
                continue;
            }
            match with_backoff(self.retry, || self.appstream.delete_image(&region, &name)).await {
                Ok(deleted) => notes.push(format!(
                    "{region} {name} {}",
                    if deleted { "deleted" } else { "gone already" }
                )),
                // A fleet or image builder uses it: that lasts until an operator stops them,
                // so the revocation goes on and says so (verify reports the copy).
                Err(e) if e.code == "ResourceInUseException" => notes.push(format!(
                    "{region} {name} kept: in use ({}); delete it once its fleet is stopped",
                    e.message
                )),
                Err(e) => return Err(store_err("deleting an AppStream image")(e)),
            }
        }
        Ok(notes.join("; "))
    }
}
