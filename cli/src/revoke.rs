//! `revoke RELEASE --reason …`: takes a published release back on every surface.
//!
//! The CLI records the decision and nothing else: the marker
//! `pending-revocations/<id>.json`, then `state/<id>/revocation.json` with `If-None-Match` (a
//! release is revoked once; a second operator is told who came first). publish-release's next
//! tick drives it surface by surface with its own role, recording each, so a crash midway is
//! finished by the tick after ([`shared::revocation`]). `verify RELEASE` then checks that the
//! release is revoked everywhere ([`crate::revoked::check_revoked`]).

use crate::{Cli, Failure, Outcome, aws, release_id, store};
use shared::aws::s3::S3Adapter;
use shared::channels::Target;
use shared::ports::{ArtifactStore, PutOutcome};
use shared::release;
use shared::revocation::{self, RevocationRecord};

/// What `revoke` does besides the reason.
#[derive(Debug, Clone, clap::Args)]
pub struct RevokeOptions {
    /// Why (shown on the downloads page and in the catalog, and sent in Release Revoked).
    #[arg(long)]
    pub reason: String,
    /// Also DisableImage every AMI of the building account: no launches at all, every launch
    /// permission removed (EnableImage undoes it).
    #[arg(long)]
    pub disable: bool,
    /// Also delete every AppStream copy.
    #[arg(long)]
    pub delete_appstream: bool,
    /// Delete the disks, SHA256SUMS and their signatures instead of only withdrawing them from
    /// the distribution.
    #[arg(long)]
    pub purge: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub async fn revoke(cli: &Cli, release: &str, options: &RevokeOptions) -> Outcome {
    let id = release_id(release)?;
    let reason = options.reason.trim();
    if reason.is_empty() || reason.chars().count() > 1024 || reason.chars().any(char::is_control) {
        return Err(Failure::Usage(
            "--reason: 1 to 1024 characters, no control characters".into(),
        ));
    }
    let store = store(cli).await?;
    let manifest = crate::published(&store, &id).await?;
    if let Some(existing) = store
        .get_json_versioned::<RevocationRecord>(&revocation::keys::record(&id))
        .await
        .map_err(aws("reading the revocation"))?
    {
        return raise(cli, &store, existing, options, reason).await;
    }
    crate::say(
        cli,
        &format!(
            "Revoking {id} takes it back on every surface: the channels that point at it move to the \
         newest release they held before (or are emptied), the catalog and the downloads page \
         say revoked, its {} disk(s) stop being served{}, its {} AMI(s) of the building account \
         are deprecated{}{}, and Release Revoked goes on the bus.",
            crate::artifacts(&manifest).len(),
            if options.purge {
                " and are deleted"
            } else {
                ""
            },
            Target::of(&manifest).map(|t| t.amis.len()).unwrap_or(0),
            if options.disable { " and disabled" } else { "" },
            if options.delete_appstream {
                format!(
                    ", its {} AppStream copies deleted",
                    manifest.appstream.len()
                )
            } else {
                String::new()
            },
        ),
    );
    if !options.yes
        && !crate::confirm(&format!(
            "Revoke {id}? This cannot be undone by image-release."
        ))?
    {
        return Err(Failure::Problem(format!("{id} not revoked")));
    }
    let config = crate::sdk(cli).await?;
    let record = RevocationRecord {
        schema_version: revocation::REVOCATION_SCHEMA_VERSION,
        release_id: id.clone(),
        reason: reason.to_owned(),
        at: release::timestamp(std::time::SystemTime::now()),
        by: crate::channels::caller(&config).await,
        disable: options.disable,
        delete_appstream: options.delete_appstream,
        purge: options.purge,
        raises: Vec::new(),
    };
    // The marker first: a record without one would never be driven.
    let marker = revocation::Marker {
        at: Some(release::timestamp(std::time::SystemTime::now())),
        revision: 0,
    };
    store
        .put_json(&revocation::keys::pending(&id), &marker)
        .await
        .map_err(aws("writing the revocation marker"))?;
    match store
        .put_json_if_match(&revocation::keys::record(&id), &record, None)
        .await
        .map_err(aws("recording the revocation"))?
    {
        PutOutcome::Written => {}
        PutOutcome::AlreadyExists => {
            return Err(Failure::Problem(format!(
                "{id} was revoked by someone else meanwhile: run image-release verify {id}"
            )));
        }
    }
    if cli.json {
        println!("{}", serde_json::json!({ "revoked": record }));
    } else {
        println!(
            "revocation of {id} recorded ({}); publish-release takes it back at its next tick. \
             Check it is revoked everywhere: image-release verify {id}",
            revocation::keys::record(&id)
        );
    }
    Ok(None)
}

/// The release's revocation record, if it was revoked.
pub(crate) async fn revocation(
    store: &S3Adapter,
    id: &shared::domain::ReleaseId,
) -> Result<Option<RevocationRecord>, Failure> {
    store
        .get_json(&revocation::keys::record(id))
        .await
        .map_err(aws("reading the revocation"))
}

/// `revoke` of a release revoked already: done (exit 0) when it asks for nothing more than the
/// revocation has; raised when it adds `--purge`, `--disable` or `--delete-appstream`. A raise
/// is a marker of its own (`pending-revocations/<id>.r<revision>.json`), then the record with
/// the options added and the raise listed (`If-Match` on what was read), so publish-release's
/// next tick does the disks, AMIs and AppStream copies again with them.
async fn raise(
    cli: &Cli,
    store: &S3Adapter,
    existing: shared::ports::Versioned<RevocationRecord>,
    options: &RevokeOptions,
    reason: &str,
) -> Outcome {
    let record = existing.value;
    let id = record.release_id.clone();
    let added = record.missing_options(options.disable, options.delete_appstream, options.purge);
    if added.is_empty() {
        if cli.json {
            println!(
                "{}",
                serde_json::json!({ "revoked": record, "unchanged": true })
            );
        } else {
            println!(
                "{}: nothing to do (follow it with image-release verify {id})",
                crate::contract::revoked(&record)
            );
        }
        return Ok(None);
    }
    let flags: Vec<String> = added
        .iter()
        .map(|o| format!("--{}", o.replace('_', "-")))
        .collect();
    crate::say(
        cli,
        &format!(
            "{} Raising it with {} does its disks, AMIs and AppStream copies again with them.",
            crate::contract::revoked(&record),
            flags.join(", ")
        ),
    );
    if !options.yes
        && !crate::confirm(&format!(
            "Raise the revocation of {id}? This cannot be undone by image-release."
        ))?
    {
        return Err(Failure::Problem(format!("{id}: revocation not raised")));
    }
    let config = crate::sdk(cli).await?;
    let now = release::timestamp(std::time::SystemTime::now());
    let mut raised = record.clone();
    raised.disable |= options.disable;
    raised.delete_appstream |= options.delete_appstream;
    raised.purge |= options.purge;
    raised.raises.push(revocation::Raise {
        at: now.clone(),
        by: crate::channels::caller(&config).await,
        added: added.iter().map(|o| (*o).to_owned()).collect(),
        reason: reason.to_owned(),
    });
    let revision = raised.revision();
    let marker = revocation::Marker {
        at: Some(now),
        revision,
    };
    store
        .put_json(&revocation::keys::pending_raise(&id, revision), &marker)
        .await
        .map_err(aws("writing the revocation marker"))?;
    match store
        .put_json_if_match(
            &revocation::keys::record(&id),
            &raised,
            Some(&existing.etag),
        )
        .await
        .map_err(aws("raising the revocation"))?
    {
        PutOutcome::Written => {}
        PutOutcome::AlreadyExists => {
            return Err(Failure::Problem(format!(
                "the revocation of {id} was changed by someone else meanwhile: nothing raised; \
                 run image-release status {id} and decide again"
            )));
        }
    }
    if cli.json {
        println!(
            "{}",
            serde_json::json!({ "revoked": raised, "raised": revision })
        );
    } else {
        println!(
            "revocation of {id} raised to revision {revision} (adds {}); publish-release does \
             it at its next tick. Check it: image-release verify {id}",
            flags.join(", ")
        );
    }
    Ok(None)
}
