//! Read-modify-write of the JSON documents several writers share (the catalog, the channels):
//! read with the ETag, change, write with `If-Match` (`If-None-Match: *` when new), and read
//! again when another writer came first. One implementation for publish-release and the
//! operator CLI, so both keep the same promise: no writer's change is lost.

use crate::catalog::{
    Entry, History, Index, Latest, PAGE_TITLE, Seal, Sealed, render_history, render_page,
};
use crate::error::{ErrorClass, ServiceError};
use crate::ports::{ArtifactStore, PutOutcome, Versioned};
use crate::release::keys;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Conditional writes tried per document before giving up (the caller retries later).
pub const ATTEMPTS: u32 = 8;

/// Reads `key` (a default document when absent), applies `change`, and writes it back only if
/// nobody wrote in between; otherwise reads again, up to [`ATTEMPTS`] times. Returns the
/// document as written (or as read, when `change` left it alone) and whether it changed. After
/// [`ATTEMPTS`] lost races: a retryable `PreconditionFailed` ([`ErrorClass::InUse`]).
pub async fn update<S, D>(
    store: &S,
    key: &str,
    mut change: impl FnMut(&mut D) -> bool,
) -> Result<(D, bool), ServiceError>
where
    S: ArtifactStore,
    D: Default + Serialize + DeserializeOwned + Sealed + Send + Sync,
{
    for attempt in 1..=ATTEMPTS {
        let current: Option<Versioned<D>> = store.get_json_versioned(key).await?;
        let (mut value, etag) = match current {
            Some(v) => (v.value, Some(v.etag)),
            None => (D::default(), None),
        };
        if !change(&mut value) {
            return Ok((value, false));
        }
        // A signed document's every version has its own sequence (publish-release signs it).
        if let Some(seal) = value.seal_mut() {
            *seal = Some(Seal::next(seal.as_ref(), std::time::SystemTime::now()));
        }
        match store
            .put_json_if_match(key, &value, etag.as_deref())
            .await?
        {
            PutOutcome::Written => return Ok((value, true)),
            PutOutcome::AlreadyExists => {
                tracing::warn!(key, attempt, "another writer wrote first; reading again");
                tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(attempt))).await;
            }
        }
    }
    Err(precondition_failed(format!(
        "{key} changed under {ATTEMPTS} conditional writes in a row"
    )))
}

/// A document other writers keep changing: retryable.
pub fn precondition_failed(message: String) -> ServiceError {
    ServiceError::new(
        "PutObject",
        ErrorClass::InUse,
        "PreconditionFailed",
        message,
    )
}

/// Writes `html_key` rendered from the document at `json_key`; then, if the document moved on
/// meanwhile (another writer), renders the newer one, so the last page written is never of an
/// older document. Nothing when the document does not exist.
pub async fn render<S, D>(
    store: &S,
    json_key: &str,
    html_key: &str,
    render: impl Fn(&D) -> String,
) -> Result<(), ServiceError>
where
    S: ArtifactStore,
    D: DeserializeOwned + PartialEq + Send + Sync,
{
    let Some(mut document) = store.get_json::<D>(json_key).await? else {
        return Ok(());
    };
    for _ in 0..ATTEMPTS {
        store
            .put_text(html_key, render(&document), "text/html; charset=utf-8")
            .await?;
        match store.get_json::<D>(json_key).await? {
            Some(now) if now != document => document = now,
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// The downloads page, rendered from the index.
pub async fn render_downloads_page<S: ArtifactStore>(store: &S) -> Result<(), ServiceError> {
    render(store, keys::INDEX, keys::DOWNLOADS_PAGE, |i: &Index| {
        render_page(i, PAGE_TITLE)
    })
    .await
}

/// The HTML of `image`'s history page of `month`, rendered from its JSON.
pub async fn render_history_page<S: ArtifactStore>(
    store: &S,
    image: &str,
    month: &str,
) -> Result<(), ServiceError> {
    render(
        store,
        &keys::history(image, month),
        &keys::history_page(image, month),
        |p: &History| render_history(p, PAGE_TITLE),
    )
    .await
}

/// Applies `change` to the catalog entry of `release` (of `image`, published in `month`)
/// wherever the catalog holds it: its history page, the index's newest and `latest.json`; then
/// renders both pages. `change` says whether it changed the entry (no write when it did not).
pub async fn update_entry<S: ArtifactStore>(
    store: &S,
    image: &str,
    month: &str,
    release: &str,
    change: impl Fn(&mut Entry) -> bool + Send,
) -> Result<(), ServiceError> {
    update(store, &keys::history(image, month), |p: &mut History| {
        p.change(release, &change)
    })
    .await?;
    update(store, keys::INDEX, |i: &mut Index| {
        !i.needs_migration() && i.change(image, release, &change)
    })
    .await?;
    update(store, keys::LATEST, |l: &mut Latest| {
        l.change(image, release, &change)
    })
    .await?;
    render_history_page(store, image, month).await?;
    render_downloads_page(store).await
}
