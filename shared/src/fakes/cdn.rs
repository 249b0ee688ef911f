//! The CloudFront fake.

use super::{Script, lock};
use crate::ports::*;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct FakeCdn {
    pub script: Script,
    /// caller reference → (id, paths)
    pub invalidations: Mutex<BTreeMap<String, (String, Vec<String>)>>,
}

impl FakeCdn {
    pub fn invalidations(&self) -> Vec<(String, Vec<String>)> {
        lock(&self.invalidations)
            .iter()
            .map(|(r, (_, p))| (r.clone(), p.clone()))
            .collect()
    }
}

impl Cdn for FakeCdn {
    async fn create_invalidation(
        &self,
        paths: &[String],
        caller_reference: &str,
    ) -> Result<String> {
        self.script.enter("CreateInvalidation")?;
        let mut all = lock(&self.invalidations);
        let next = format!("I{}", all.len() + 1);
        Ok(all
            .entry(caller_reference.into())
            .or_insert((next, paths.to_vec()))
            .0
            .clone())
    }
}
