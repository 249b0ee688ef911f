//! The EventBridge fake.

use super::{Script, lock};
use crate::ports::*;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct FakeEvents {
    pub script: Script,
    /// (detail-type, resources, detail) of every event put.
    pub put: Mutex<Vec<(String, Vec<String>, serde_json::Value)>>,
}

impl FakeEvents {
    pub fn events(&self) -> Vec<(String, Vec<String>, serde_json::Value)> {
        lock(&self.put).clone()
    }
}

impl ReleaseEvents for FakeEvents {
    async fn put(
        &self,
        detail_type: &str,
        resources: &[String],
        detail: &serde_json::Value,
    ) -> Result<()> {
        self.script.enter("PutEvents")?;
        lock(&self.put).push((detail_type.to_owned(), resources.to_vec(), detail.clone()));
        Ok(())
    }
}
