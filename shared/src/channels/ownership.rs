//! Whose a channel parameter is. A parameter's name is the account's, not the stack's: another
//! stack with the same prefix (or anyone) may have made `<prefix>/<image>/<channel>` first. So a
//! stack creates its parameters with the tag [`OWNER_TAG`], whose value is its artifact bucket
//! (globally unique, and known to the functions and the CLI alike), and overwrites or deletes a
//! parameter only when that tag names its bucket, as `ListTagsForResource` answers. SSM refuses
//! `Tags` together with `Overwrite`, so the tag is given once, when the parameter is created.

use crate::domain::{AmiId, ParameterPrefix, RegionName};
use crate::error::{ErrorClass, ServiceError};
use crate::ports::Parameters;

/// The tag that names the stack a parameter belongs to, by its artifact bucket.
pub const OWNER_TAG: &str = "image-release:bucket";

/// The error code of a write refused because the parameter is not this stack's.
pub const NOT_OURS: &str = "ParameterNotOurs";

/// Where a stack's channel parameters are, and how it knows its own.
#[derive(Debug, Clone, Copy)]
pub struct ParameterSpace<'a> {
    pub prefix: &'a ParameterPrefix,
    /// The stack's artifact bucket's name: the value of [`OWNER_TAG`] on each parameter it
    /// created.
    pub owner: &'a str,
}

impl<'a> ParameterSpace<'a> {
    pub fn new(prefix: &'a ParameterPrefix, owner: &'a str) -> Self {
        Self { prefix, owner }
    }

    /// `None` when parameter `name` of `region` is this stack's (or is gone); otherwise why not.
    pub(super) async fn foreign<P: Parameters>(
        &self,
        parameters: &P,
        region: &RegionName,
        name: &str,
    ) -> Result<Option<String>, ServiceError> {
        match parameters.tag(region, name, OWNER_TAG).await {
            Ok(Some(owner)) if owner == self.owner => Ok(None),
            Ok(Some(owner)) => Ok(Some(format!(
                "{name} in {region} belongs to another stack (its {OWNER_TAG} tag is {owner:?}, \
                 this stack's bucket is {:?})",
                self.owner
            ))),
            Ok(None) => Ok(Some(format!(
                "{name} in {region} has no {OWNER_TAG} tag: this stack did not create it"
            ))),
            Err(e) if e.class == ErrorClass::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes `ami` into parameter `name` of `region`. `checked`: a read found the parameter
    /// and [`ParameterSpace::refuse_foreign`] passed it, so it is overwritten. Otherwise it is
    /// created with the ownership tag; if someone created it between the read and the create,
    /// it is overwritten only if it is this stack's.
    pub(super) async fn put<P: Parameters>(
        &self,
        parameters: &P,
        region: &RegionName,
        name: &str,
        ami: &AmiId,
        checked: bool,
    ) -> Result<(), ServiceError> {
        if !checked {
            let tag = (OWNER_TAG, self.owner);
            match parameters.create_ami(region, name, ami, tag).await {
                Err(e) if e.class == ErrorClass::AlreadyExists => {
                    self.refuse_foreign(parameters, region, name).await?;
                }
                created => return created,
            }
        }
        parameters.put_ami(region, name, ami).await
    }

    /// An error (and a security event) when parameter `name` of `region` is not this stack's.
    pub(super) async fn refuse_foreign<P: Parameters>(
        &self,
        parameters: &P,
        region: &RegionName,
        name: &str,
    ) -> Result<(), ServiceError> {
        match self.foreign(parameters, region, name).await? {
            None => Ok(()),
            Some(reason) => {
                crate::provenance::security_event(
                    &format!("writing SSM parameter {name}"),
                    &reason,
                );
                Err(ServiceError::new(
                    "PutParameter",
                    ErrorClass::Invalid,
                    NOT_OURS,
                    format!(
                        "{reason}; give each stack its own ChannelParameterPrefix, or delete the \
                         parameter if it is a leftover"
                    ),
                ))
            }
        }
    }
}
