//! Copying one AppStream image to one destination region, idempotently. CopyImage takes no client
//! token, so the destination is checked first and `ResourceAlreadyExistsException` counts as done
//! once DescribeImages in the destination region confirms the image. Used by copy-appstream-image
//! (first attempt) and publish-release (when the source became AVAILABLE later).
//!
//! An image name proves nothing: anyone in the account may create an AppStream image with the
//! name a release will use. Every image a release creates (the import and each copy) therefore
//! carries the release's [`CopyMark`] in its description, and an image found under the expected
//! name counts as the release's only when it carries that mark. The mark is random, kept in the
//! release's private state, and AppStream offers no call that changes an image's description.

use crate::domain::{AppStreamImageName, ImageDescription, ImportDescription, RegionName};
use crate::error::{ErrorClass, ServiceError};
use crate::ports::{AppStreamImage, AppStreamImages, ArtifactStore, CopyImage, PutOutcome};
use crate::release::{CopyState, SCHEMA_VERSION, keys};
use crate::retry::{RetryPolicy, with_backoff};
use serde::{Deserialize, Serialize};

/// A release's mark: 32 lower-case hex digits (a random UUID), written once per release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CopyMark(String);

impl<'de> Deserialize<'de> for CopyMark {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = String::deserialize(d)?;
        CopyMark::parse(&value).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "mark must be 32 lower-case hex digits, was {value:?}"
            ))
        })
    }
}

/// `appstream-mark.json`: the release's [`CopyMark`], written with `If-None-Match` before the
/// first image is created, so every attempt and every function uses the same one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyMarkRecord {
    pub schema_version: u32,
    pub release_id: crate::domain::ReleaseId,
    pub mark: CopyMark,
}

impl CopyMark {
    /// What the description carries: `(image-release <mark>)`. Letters, digits, spaces and
    /// parentheses only, so it also fits CreateImportedImage's stricter description pattern.
    const LABEL: &'static str = "image-release";

    fn parse(value: &str) -> Option<Self> {
        (value.len() == 32
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(value.to_owned()))
    }

    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    fn suffix(&self) -> String {
        format!("({} {})", Self::LABEL, self.0)
    }

    /// `description` with the mark appended, the description shortened (on a character boundary)
    /// so that the whole stays within the 256 characters both APIs allow.
    fn append(&self, description: Option<&str>) -> String {
        let suffix = self.suffix();
        let room = 256 - suffix.chars().count() - 1;
        match description.map(str::trim).filter(|d| !d.is_empty()) {
            None => suffix,
            Some(d) => {
                let kept: String = d.chars().take(room).collect();
                format!("{} {suffix}", kept.trim_end())
            }
        }
    }

    /// The `DestinationImageDescription` of a copy.
    pub fn describe_copy(&self, description: Option<&ImageDescription>) -> ImageDescription {
        ImageDescription::parse(
            "DestinationImageDescription",
            &self.append(description.map(ImageDescription::as_str)),
        )
        .unwrap_or_else(|_| unreachable!("append keeps the text within 256 characters"))
    }

    /// The `Description` of an import (its pattern holds for the user's part already).
    pub fn describe_import(&self, description: Option<&ImportDescription>) -> ImportDescription {
        ImportDescription::parse(
            "Description",
            &self.append(description.map(ImportDescription::as_str)),
        )
        .unwrap_or_else(|_| unreachable!("the mark fits the import description's pattern"))
    }

    /// Whether `image` was created by the release that holds this mark.
    pub fn is_on(&self, image: &AppStreamImage) -> bool {
        image
            .description
            .as_deref()
            .is_some_and(|d| d.contains(&self.suffix()))
    }

    /// Why `image` does not count as the release's (for a failure record).
    pub fn not_ours(image: &AppStreamImage, region: &RegionName) -> String {
        format!(
            "an AppStream image named {} exists in {region} but this release did not create it \
             (its description lacks the release's mark); delete or rename it, then retry",
            image.name
        )
    }
}

/// The release's mark: the one on record, or a new one written with `If-None-Match` (a
/// concurrent writer's wins, and is read back).
pub async fn copy_mark<S: ArtifactStore>(
    store: &S,
    policy: RetryPolicy,
    release: &crate::domain::ReleaseId,
) -> Result<CopyMark, ServiceError> {
    let key = keys::appstream_mark(release);
    if let Some(record) = with_backoff(policy, || store.get_json::<CopyMarkRecord>(&key)).await? {
        return Ok(record.mark);
    }
    let record = CopyMarkRecord {
        schema_version: SCHEMA_VERSION,
        release_id: release.clone(),
        mark: CopyMark::new_random(),
    };
    match with_backoff(policy, || store.put_json_if_absent(&key, &record)).await? {
        PutOutcome::Written => Ok(record.mark),
        PutOutcome::AlreadyExists => {
            with_backoff(policy, || store.get_json::<CopyMarkRecord>(&key))
                .await?
                .map(|r| r.mark)
                .ok_or_else(|| {
                    ServiceError::new(
                        "GetObject",
                        ErrorClass::Transient,
                        "NotVisibleYet",
                        format!("{key} was written concurrently but cannot be read yet"),
                    )
                })
        }
    }
}

/// Ensures a copy of `source` named `name`, carrying `mark`, exists (or is under way) in `region`.
///
/// An image of that name without the mark is someone else's: `Failed`, naming it.
///
/// Outcomes per documented error of CopyImage:
/// * `ResourceAlreadyExistsException` → `Requested` once DescribeImages finds it, else retryable.
/// * `ResourceNotAvailableException` (source not AVAILABLE yet) → `WaitingForSource`.
/// * `LimitExceededException` (a quota, which the SDK has retried as throttling already) →
///   `WaitingForQuota`: publish-release copies again later.
/// * `ResourceNotFoundException`, `IncompatibleImageException`, `InvalidAccountStatusException`,
///   `OperationNotPermittedException` → `Failed` with the reason.
/// * throttling and 5xx → `Err` (retryable) after the bounded backoff.
pub async fn ensure_copy<A: AppStreamImages>(
    appstream: &A,
    policy: RetryPolicy,
    source: &AppStreamImageName,
    region: &RegionName,
    name: &AppStreamImageName,
    description: Option<&ImageDescription>,
    mark: &CopyMark,
) -> Result<CopyState, ServiceError> {
    let judge = |image: AppStreamImage| {
        if mark.is_on(&image) {
            CopyState::Requested
        } else {
            tracing::error!(%region, image = %name, "an image of the copy's name exists without the release's mark");
            CopyState::Failed {
                reason: CopyMark::not_ours(&image, region),
            }
        }
    };
    if let Some(image) = with_backoff(policy, || appstream.describe_image(region, name)).await? {
        tracing::info!(%region, image = %name, "an image of the copy's name exists already in the destination region");
        return Ok(judge(image));
    }
    let request = CopyImage {
        source_image_name: source.clone(),
        destination_image_name: name.clone(),
        destination_region: region.clone(),
        description: Some(mark.describe_copy(description)),
    };
    match with_backoff(policy, || appstream.copy_image(&request)).await {
        Ok(()) => {
            tracing::info!(%region, source = %source, image = %name, "CopyImage accepted");
            Ok(CopyState::Requested)
        }
        Err(err) => match err.class {
            ErrorClass::AlreadyExists => {
                match with_backoff(policy, || appstream.describe_image(region, name)).await? {
                    Some(image) => Ok(judge(image)),
                    None => Err(ServiceError::new(
                        err.operation,
                        ErrorClass::Transient,
                        err.code,
                        format!(
                            "CopyImage says {name} exists in {region} but DescribeImages does not show it yet"
                        ),
                    )),
                }
            }
            ErrorClass::NotAvailable => {
                tracing::info!(%region, source = %source, reason = %err, "source image not available yet; the copy waits");
                Ok(CopyState::WaitingForSource)
            }
            class if class.is_retryable() => Err(err),
            ErrorClass::LimitExceeded => {
                tracing::warn!(%region, image = %name, reason = %err, "AppStream quota exhausted; the copy waits");
                Ok(CopyState::WaitingForQuota {
                    reason: err.to_string(),
                })
            }
            ErrorClass::NotFound => Ok(CopyState::Failed {
                reason: format!("source image {source} not found: {err}"),
            }),
            _ => Ok(CopyState::Failed {
                reason: format!("copy to {region} failed: {err}"),
            }),
        },
    }
}
