//! The catalog a published release joins: its image's history page for the month
//! (`catalog/history/<image>/<yyyy-mm>.json` and `.html`), `catalog/index.json` (each image's
//! newest releases and its history pages), `catalog/latest.json` and the downloads page
//! `index.html`. Each document is read with its ETag and written with `If-Match` (or
//! `If-None-Match: *` when new), and re-read and retried when another publisher wrote first, so
//! two releases published at once both end up listed. A publication reads and writes one page
//! and the index, whatever the length of the history: nothing is ever read whole.

use super::*;
use shared::catalog::{Entry, History, Index, Latest, artifacts_expire_at};
use shared::ports::Versioned;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use shared::documents::ATTEMPTS;

impl<T: Ports> Deps<T> {
    /// Adds the release to its history page and the index, moves the latest pointer when it
    /// is newer, and renders the pages that changed. The catalog's documents are served with
    /// caching disabled, so nothing is invalidated.
    pub(crate) async fn update_catalog(
        &self,
        manifest: &Manifest,
        manifest_url: String,
    ) -> Result<(), HandlerError> {
        self.migrate_catalog().await?;
        let expire_at = self
            .config
            .retention_days
            .and_then(|days| artifacts_expire_at(manifest, days));
        let mut entry = Entry::of(manifest, manifest_url, expire_at);
        // A release published after its downloads' expiry (a late retry) is listed expired.
        entry.expire(&release::timestamp(self.clock.now()));
        let month = shared::catalog::month_of(&entry.published_at);
        let page_key = keys::history(&entry.image, &month);
        let (page, page_changed) = self
            .update(&page_key, |page: &mut History| page.add(&entry))
            .await?;
        if page_changed {
            self.render_history(&entry.image, &month).await?;
        }
        let (index, changed) = self
            .update(keys::INDEX, |index: &mut Index| {
                !index.needs_migration() && index.record(&entry, &page)
            })
            .await?;
        check_migrated(&index)?;
        let (_, moved) = self
            .update(keys::LATEST, |latest: &mut Latest| {
                latest.advance(entry.clone())
            })
            .await?;
        if changed {
            self.render_index().await?;
        }
        info!(page = %page_key, page_changed, index = changed, latest = moved, "catalog updated");
        Ok(())
    }

    /// Replaces a schema-1 index (every release in one list) by schema 2 in place: writes each
    /// release onto its history page (merged with what a page already holds), then the index,
    /// with `If-Match` on the schema-1 index it read, so a racing migration or publication is
    /// read again rather than lost. Nothing when the index is schema 2 or absent.
    async fn migrate_catalog(&self) -> Result<(), HandlerError> {
        for _ in 0..ATTEMPTS {
            let current: Option<Versioned<Index>> = self
                .store
                .get_json_versioned(keys::INDEX)
                .await
                .map_err(store_err("reading the catalog"))?;
            let Some(Versioned { value, etag }) = current else {
                return Ok(());
            };
            if !value.needs_migration() {
                return Ok(());
            }
            let mut pages = Vec::new();
            for legacy in value.legacy_pages() {
                let key = keys::history(&legacy.image, &legacy.month);
                let (page, changed) = self
                    .update(&key, |page: &mut History| {
                        legacy
                            .releases
                            .iter()
                            .fold(false, |changed, e| page.add(e) | changed)
                    })
                    .await?;
                if changed {
                    self.render_history(&legacy.image, &legacy.month).await?;
                }
                pages.push(page);
            }
            let mut index = value;
            index.migrate(&pages);
            index.seal = Some(shared::catalog::Seal::next(
                index.seal.as_ref(),
                self.clock.now(),
            ));
            match self
                .store
                .put_json_if_match(keys::INDEX, &index, Some(&etag))
                .await
                .map_err(store_err("writing the catalog"))?
            {
                PutOutcome::Written => {
                    info!(pages = pages.len(), "catalog migrated to schema 2");
                    return self.render_index().await;
                }
                PutOutcome::AlreadyExists => {
                    warn!("the catalog changed during its migration; reading again");
                }
            }
        }
        Err(conflict(keys::INDEX))
    }

    /// On each scheduled tick: marks the catalog entries whose downloads the retention rule is
    /// about to remove, and renders the pages without their links. Reads only the history
    /// pages the index says have an entry due. The pages and the catalog are not cached by the
    /// distribution (`CachingDisabled`), so nothing is invalidated. Returns how many entries
    /// expired.
    pub(crate) async fn expire_catalog(&self) -> Result<usize, HandlerError> {
        if self.config.retention_days.is_none() {
            return Ok(0);
        }
        self.migrate_catalog().await?;
        let now = release::timestamp(self.clock.now());
        let index: Option<Index> = self
            .store
            .get_json(keys::INDEX)
            .await
            .map_err(store_err("reading the catalog"))?;
        let Some(index) = index else { return Ok(0) };
        let mut expired = 0;
        for (image, month) in index.due(&now) {
            let key = keys::history(&image, &month);
            let marked = AtomicUsize::new(0);
            let (page, changed) = self
                .update(&key, |page: &mut History| {
                    marked.store(page.expire(&now), Relaxed);
                    marked.load(Relaxed) > 0
                })
                .await?;
            if changed {
                expired += marked.load(Relaxed);
                self.render_history(&image, &month).await?;
            }
            // A page the index lists but nobody wrote (never expected): nothing to settle.
            if page.image == image {
                self.update(keys::INDEX, |index: &mut Index| index.settle(&page))
                    .await?;
            }
        }
        let (_, changed) = self
            .update(keys::INDEX, |index: &mut Index| index.expire(&now))
            .await?;
        self.update(keys::LATEST, |latest: &mut Latest| latest.expire(&now))
            .await?;
        if changed || expired > 0 {
            self.render_index().await?;
        }
        if expired > 0 {
            info!(
                expired,
                "downloads past their retention withdrawn from the catalog"
            );
        }
        Ok(expired)
    }

    /// [`shared::documents::update`]: `change` applied with a conditional write, read again
    /// when another publisher wrote first.
    pub(crate) async fn update<D>(
        &self,
        key: &str,
        change: impl FnMut(&mut D) -> bool + Send,
    ) -> Result<(D, bool), HandlerError>
    where
        D: Default
            + Serialize
            + serde::de::DeserializeOwned
            + shared::catalog::Sealed
            + Send
            + Sync,
    {
        shared::documents::update(&self.store, key, change)
            .await
            .map_err(store_err("updating the catalog"))
    }

    /// Renders the downloads page from the index.
    async fn render_index(&self) -> Result<(), HandlerError> {
        shared::documents::render_downloads_page(&self.store)
            .await
            .map_err(store_err("writing the downloads page"))
    }

    /// Renders the HTML of `image`'s history page of `month`.
    async fn render_history(&self, image: &str, month: &str) -> Result<(), HandlerError> {
        shared::documents::render_history_page(&self.store, image, month)
            .await
            .map_err(store_err("writing a catalog page"))
    }
}

/// A schema-1 index written after this publisher migrated it (an older version of the
/// function still running): retried, and the next attempt migrates it again.
fn check_migrated(index: &Index) -> Result<(), HandlerError> {
    if index.needs_migration() {
        return Err(precondition_failed(format!(
            "{} was written in schema {} during this publication",
            keys::INDEX,
            index.schema_version
        )));
    }
    Ok(())
}

fn conflict(key: &str) -> HandlerError {
    precondition_failed(format!(
        "{key} changed under {ATTEMPTS} conditional writes in a row"
    ))
}

/// A catalog document another writer keeps changing: retried by the next attempt or tick.
fn precondition_failed(message: String) -> HandlerError {
    HandlerError::Retryable(shared::documents::precondition_failed(message))
}
