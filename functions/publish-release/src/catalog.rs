//! The catalog a published release joins: `catalog/index.json`, `catalog/latest.json` and the
//! downloads page `index.html`. Each is read with its ETag and written with `If-Match` (or
//! `If-None-Match: *` when new), and re-read and retried when another publisher wrote first, so
//! two releases published at once both end up listed.

use super::*;
use shared::catalog::{Entry, Index, Latest, artifacts_expire_at, render_page};
use shared::ports::Versioned;

/// Conditional writes tried per document before the tick gives up (the next tick retries).
const ATTEMPTS: u32 = 8;
/// The downloads page's title.
const PAGE_TITLE: &str = "Image releases";

impl<T: Ports> Deps<T> {
    /// Adds the release to the index, moves the latest pointer when it is newer, and renders
    /// the downloads page from the index. Returns the CloudFront paths that changed.
    pub(crate) async fn update_catalog(
        &self,
        manifest: &Manifest,
        manifest_url: String,
    ) -> Result<Vec<String>, HandlerError> {
        let expire_at = self
            .config
            .retention_days
            .and_then(|days| artifacts_expire_at(manifest, days));
        let mut entry = Entry::of(manifest, manifest_url, expire_at);
        // A release published after its downloads' expiry (a late retry) is listed expired.
        entry.expire(&release::timestamp(self.clock.now()));
        let mut paths = Vec::new();
        let latest_entry = entry.clone();
        let (index, changed) = self
            .update(keys::INDEX, move |index: &mut Index| {
                index.add(entry.clone())
            })
            .await?;
        if changed {
            paths.push(format!("/{}", keys::INDEX));
        }
        let (_, moved) = self
            .update(keys::LATEST, move |latest: &mut Latest| {
                latest.advance(latest_entry.clone())
            })
            .await?;
        if moved {
            paths.push(format!("/{}", keys::LATEST));
        }
        if changed {
            self.render(index).await?;
            paths.push(format!("/{}", keys::DOWNLOADS_PAGE));
            paths.push("/".to_owned());
        }
        info!(index = changed, latest = moved, "catalog updated");
        Ok(paths)
    }

    /// On each scheduled tick: marks the catalog entries whose downloads the retention rule is
    /// about to remove, and renders the page without their links. The page and the catalog
    /// are not cached by the distribution (`CachingDisabled`), so nothing is invalidated.
    /// Returns how many entries expired.
    pub(crate) async fn expire_catalog(&self) -> Result<usize, HandlerError> {
        if self.config.retention_days.is_none() {
            return Ok(0);
        }
        let now = release::timestamp(self.clock.now());
        let count = |index: &Index| {
            index
                .releases
                .iter()
                .filter(|e| e.artifacts_expired)
                .count()
        };
        let before: Option<Index> = self
            .store
            .get_json(keys::INDEX)
            .await
            .map_err(store_err("reading the catalog"))?;
        let Some(before) = before else { return Ok(0) };
        let mut probe = before.clone();
        if !probe.expire(&now) {
            return Ok(0);
        }
        let (index, changed) = self
            .update(keys::INDEX, |index: &mut Index| index.expire(&now))
            .await?;
        self.update(keys::LATEST, |latest: &mut Latest| latest.expire(&now))
            .await?;
        if changed {
            self.render(index.clone()).await?;
        }
        let expired = count(&index).saturating_sub(count(&before));
        info!(
            expired,
            "downloads past their retention withdrawn from the catalog"
        );
        Ok(expired)
    }

    /// Reads `key`, applies `change`, and writes it back only if nobody wrote in between;
    /// otherwise reads again. Returns the document as written and whether it changed.
    async fn update<D>(
        &self,
        key: &str,
        change: impl Fn(&mut D) -> bool,
    ) -> Result<(D, bool), HandlerError>
    where
        D: Default + Serialize + serde::de::DeserializeOwned + Send + Sync,
    {
        for attempt in 1..=ATTEMPTS {
            let current: Option<Versioned<D>> = self
                .store
                .get_json_versioned(key)
                .await
                .map_err(store_err("reading the catalog"))?;
            let (mut value, etag) = match current {
                Some(v) => (v.value, Some(v.etag)),
                None => (D::default(), None),
            };
            if !change(&mut value) {
                return Ok((value, false));
            }
            match self
                .store
                .put_json_if_match(key, &value, etag.as_deref())
                .await
                .map_err(store_err("writing the catalog"))?
            {
                PutOutcome::Written => return Ok((value, true)),
                PutOutcome::AlreadyExists => {
                    warn!(key, attempt, "another publisher wrote first; reading again");
                    tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(attempt)))
                        .await;
                }
            }
        }
        Err(HandlerError::Retryable(shared::ServiceError::new(
            "PutObject",
            shared::ErrorClass::InUse,
            "PreconditionFailed",
            format!("{key} changed under {ATTEMPTS} conditional writes in a row"),
        )))
    }

    /// Writes the downloads page for `index`; then, if the index moved on meanwhile (another
    /// publisher), renders the newer one, so the last page written is never an older index.
    async fn render(&self, mut index: Index) -> Result<(), HandlerError> {
        for _ in 0..ATTEMPTS {
            self.store
                .put_text(
                    keys::DOWNLOADS_PAGE,
                    render_page(&index, PAGE_TITLE),
                    "text/html; charset=utf-8",
                )
                .await
                .map_err(store_err("writing the downloads page"))?;
            let now: Option<Index> = self
                .store
                .get_json(keys::INDEX)
                .await
                .map_err(store_err("reading the catalog"))?;
            match now {
                Some(now) if now != index => index = now,
                _ => return Ok(()),
            }
        }
        Ok(())
    }
}
