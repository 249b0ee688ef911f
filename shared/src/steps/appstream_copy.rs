//! Copying one AppStream image to one destination region, idempotently. CopyImage takes no client
//! token, so the destination is checked first and `ResourceAlreadyExistsException` counts as done
//! once DescribeImages in the destination region confirms the image. Used by copy-appstream-image
//! (first attempt) and publish-release (when the source became AVAILABLE later).

use crate::domain::{AppStreamImageName, ImageDescription, RegionName};
use crate::error::{ErrorClass, ServiceError};
use crate::ports::{AppStreamImages, CopyImage};
use crate::release::CopyState;
use crate::retry::{RetryPolicy, with_backoff};

/// Ensures a copy of `source` named `name` exists (or is under way) in `region`.
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
) -> Result<CopyState, ServiceError> {
    if with_backoff(policy, || appstream.describe_image(region, name))
        .await?
        .is_some()
    {
        tracing::info!(%region, image = %name, "copy exists already in the destination region");
        return Ok(CopyState::Requested);
    }
    let request = CopyImage {
        source_image_name: source.clone(),
        destination_image_name: name.clone(),
        destination_region: region.clone(),
        description: description.cloned(),
    };
    match with_backoff(policy, || appstream.copy_image(&request)).await {
        Ok(()) => {
            tracing::info!(%region, source = %source, image = %name, "CopyImage accepted");
            Ok(CopyState::Requested)
        }
        Err(err) => match err.class {
            ErrorClass::AlreadyExists => {
                match with_backoff(policy, || appstream.describe_image(region, name)).await? {
                    Some(_) => Ok(CopyState::Requested),
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
