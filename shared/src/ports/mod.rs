//! Ports: the small traits the handlers are generic over. One adapter per AWS service implements
//! them in [`crate::aws`]; tests implement them with in-memory fakes.

use crate::domain::{
    AmiId, AppStreamImageName, BucketName, ClientToken, DiskImageFormat,
    DistributionConfigurationArn, IamRoleArn, ImageBuildVersionArn, ImageDescription,
    ImagePipelineArn, ImageTags, ImportDescription, LogGroupName, RegionName, RoleName,
    RoleNameOrArn,
};
use crate::error::ServiceError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::future::Future;

pub type Result<T> = std::result::Result<T, ServiceError>;

mod appstream;
mod cdn;
mod ec2;
mod events;
mod imagebuilder;
mod parameters;
mod signer;
mod store;

pub use appstream::*;
pub use cdn::*;
pub use ec2::*;
pub use events::*;
pub use imagebuilder::*;
pub use parameters::*;
pub use signer::*;
pub use store::*;
