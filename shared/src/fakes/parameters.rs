//! The SSM fake: parameters per (region, name), with their tags. `lagging` regions take a value
//! only on the next write, as SSM's asynchronous validation of `aws:ec2:image` values can show
//! the old one.

use super::{Script, lock};
use crate::domain::{AmiId, RegionName};
use crate::error::{ErrorClass, ServiceError};
use crate::ports::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct FakeParameters {
    pub script: Script,
    /// (region, name) → value.
    pub values: Mutex<BTreeMap<(String, String), String>>,
    /// (region, name) → the parameter's tags.
    pub tags: Mutex<BTreeMap<(String, String), BTreeMap<String, String>>>,
    /// Regions where a PutParameter does not show until the next one.
    pub lagging: Mutex<BTreeSet<String>>,
    /// Puts that lagging regions have not shown yet.
    unseen: Mutex<BTreeMap<(String, String), String>>,
}

impl FakeParameters {
    /// PutParameter in `region` shows only after the next one (SSM's asynchronous validation).
    pub fn lag(&self, region: &str) {
        lock(&self.lagging).insert(region.to_owned());
    }

    /// A parameter someone else made: `value` with the tag `(key, owner)`, or untagged.
    pub fn plant(&self, region: &str, name: &str, value: &str, tag: Option<(&str, &str)>) {
        let key = (region.to_owned(), name.to_owned());
        lock(&self.values).insert(key.clone(), value.to_owned());
        let tags = tag.map(|(k, v)| (k.to_owned(), v.to_owned()));
        lock(&self.tags).insert(key, tags.into_iter().collect());
    }

    /// The value of tag `key` of a parameter, as the fake holds it.
    pub fn tag_of(&self, region: &str, name: &str, key: &str) -> Option<String> {
        lock(&self.tags)
            .get(&(region.to_owned(), name.to_owned()))
            .and_then(|tags| tags.get(key).cloned())
    }

    /// A parameter deleted by someone else (an operator resolving a collision).
    pub fn remove(&self, region: &str, name: &str) {
        let key = (region.to_owned(), name.to_owned());
        lock(&self.values).remove(&key);
        lock(&self.tags).remove(&key);
    }

    pub fn value(&self, region: &str, name: &str) -> Option<String> {
        lock(&self.values)
            .get(&(region.to_owned(), name.to_owned()))
            .cloned()
    }
}

impl Parameters for FakeParameters {
    async fn get(&self, region: &RegionName, name: &str) -> Result<Option<String>> {
        self.script.enter("GetParameter")?;
        Ok(self.value(region.as_str(), name))
    }

    async fn tag(&self, region: &RegionName, name: &str, key: &str) -> Result<Option<String>> {
        self.script.enter("ListTagsForResource")?;
        let id = (region.to_string(), name.to_owned());
        if self.value(region.as_str(), name).is_none() {
            return Err(ServiceError::new(
                "ListTagsForResource",
                ErrorClass::NotFound,
                "InvalidResourceId",
                format!("no parameter {name}"),
            ));
        }
        Ok(lock(&self.tags)
            .get(&id)
            .and_then(|tags| tags.get(key).cloned()))
    }

    async fn create_ami(
        &self,
        region: &RegionName,
        name: &str,
        ami: &AmiId,
        (key, value): (&str, &str),
    ) -> Result<()> {
        self.script.enter("PutParameter")?;
        if self.value(region.as_str(), name).is_some() {
            return Err(ServiceError::new(
                "PutParameter",
                ErrorClass::AlreadyExists,
                "ParameterAlreadyExists",
                format!("{name} exists"),
            ));
        }
        let id = (region.to_string(), name.to_owned());
        lock(&self.tags).insert(id, [(key.to_owned(), value.to_owned())].into());
        self.write(region, name, ami);
        Ok(())
    }

    async fn put_ami(&self, region: &RegionName, name: &str, ami: &AmiId) -> Result<()> {
        self.script.enter("PutParameter")?;
        self.write(region, name, ami);
        Ok(())
    }

    async fn delete(&self, region: &RegionName, name: &str) -> Result<()> {
        self.script.enter("DeleteParameter")?;
        let id = (region.to_string(), name.to_owned());
        lock(&self.values).remove(&id);
        lock(&self.tags).remove(&id);
        Ok(())
    }
}

impl FakeParameters {
    /// A value written, as SSM shows it: at once, or after the next write in a lagging region.
    fn write(&self, region: &RegionName, name: &str, ami: &AmiId) {
        let key = (region.to_string(), name.to_owned());
        if lock(&self.lagging).contains(region.as_str()) {
            let earlier = lock(&self.unseen).insert(key.clone(), ami.to_string());
            if let Some(earlier) = earlier {
                lock(&self.values).insert(key, earlier);
            }
            return;
        }
        lock(&self.values).insert(key, ami.to_string());
    }
}
