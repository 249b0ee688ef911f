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
        // As CloudFront documents CallerReference: the same reference with the same paths is
        // the first invalidation again; with other paths it is InvalidationBatchAlreadyExists.
        let (id, first) = all
            .entry(caller_reference.into())
            .or_insert((next, paths.to_vec()));
        if first.as_slice() != paths {
            return Err(crate::error::ServiceError::new(
                "CreateInvalidation",
                crate::error::ErrorClass::AlreadyExists,
                "InvalidationBatchAlreadyExists",
                format!("caller reference {caller_reference} was used with other paths"),
            ));
        }
        Ok(id.clone())
    }
}
