//! The SSM fake: parameters per (region, name). `lagging` regions take a value only on the
//! next write, as SSM's asynchronous validation of `aws:ec2:image` values can show the old one.

use super::{Script, lock};
use crate::domain::{AmiId, RegionName};
use crate::ports::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct FakeParameters {
    pub script: Script,
    /// (region, name) → value.
    pub values: Mutex<BTreeMap<(String, String), String>>,
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

    async fn put_ami(&self, region: &RegionName, name: &str, ami: &AmiId) -> Result<()> {
        self.script.enter("PutParameter")?;
        let key = (region.to_string(), name.to_owned());
        if lock(&self.lagging).contains(region.as_str()) {
            let earlier = lock(&self.unseen).insert(key.clone(), ami.to_string());
            if let Some(earlier) = earlier {
                lock(&self.values).insert(key, earlier);
            }
            return Ok(());
        }
        lock(&self.values).insert(key, ami.to_string());
        Ok(())
    }

    async fn delete(&self, region: &RegionName, name: &str) -> Result<()> {
        self.script.enter("DeleteParameter")?;
        lock(&self.values).remove(&(region.to_string(), name.to_owned()));
        Ok(())
    }
}
