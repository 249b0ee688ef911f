//! SSM Parameter Store, per region: the parameter of each channel a launch template resolves
//! (`resolve:ssm:/image-release/<image>/<channel>`).

use super::Result;
use crate::domain::{AmiId, RegionName};
use std::future::Future;

pub trait Parameters: Send + Sync {
    /// The value of parameter `name` in `region`; `None` when it does not exist
    /// (`ParameterNotFound`).
    fn get(
        &self,
        region: &RegionName,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>>> + Send;

    /// The value of the tag `key` of parameter `name` in `region` (`ListTagsForResource`):
    /// `None` when the parameter has no such tag; an error of class `NotFound` when the
    /// parameter does not exist.
    fn tag(
        &self,
        region: &RegionName,
        name: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<String>>> + Send;

    /// Creates `name` in `region` with an AMI id and the tag `(key, value)`, never overwriting:
    /// an error of class `AlreadyExists` when the parameter exists (SSM refuses `Tags` with
    /// `Overwrite`). Validated asynchronously, as [`Parameters::put_ami`].
    fn create_ami(
        &self,
        region: &RegionName,
        name: &str,
        ami: &AmiId,
        tag: (&str, &str),
    ) -> impl Future<Output = Result<()>> + Send;

    /// Overwrites `name` in `region` with an AMI id, as a `String` parameter of data type
    /// `aws:ec2:image`. SSM validates such a value asynchronously: success here does not mean
    /// the parameter holds it yet (read it back with [`Parameters::get`]).
    fn put_ami(
        &self,
        region: &RegionName,
        name: &str,
        ami: &AmiId,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Deletes `name` in `region` (nothing when it does not exist).
    fn delete(&self, region: &RegionName, name: &str) -> impl Future<Output = Result<()>> + Send;
}
