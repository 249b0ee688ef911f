//! In-memory fakes of every port, for handler tests (feature `fakes`, dev-dependencies only).
//! Each records the requests it received and can be scripted to fail an operation N times.

use crate::error::{ErrorClass, ServiceError};
use crate::ports::Result;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

mod appstream;
mod cdn;
mod ec2;
mod events;
mod imagebuilder;
mod parameters;
mod signer;
mod store;

pub use appstream::FakeAppStream;
pub use cdn::FakeCdn;
pub use ec2::FakeEc2;
pub use events::FakeEvents;
pub use imagebuilder::FakeImageBuilder;
pub use parameters::FakeParameters;
pub use signer::FakeSigner;
pub use store::{FakeStore, S3_PAGE_KEYS};

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Scripted failures: `fail(op, error, times)` makes the next `times` calls of `op` fail.
#[derive(Debug, Default)]
pub struct Script {
    errors: Mutex<HashMap<&'static str, VecDeque<ServiceError>>>,
    /// `op` → (calls still to succeed, the error of the call after them).
    later: Mutex<HashMap<&'static str, (usize, ServiceError)>>,
    calls: Mutex<Vec<&'static str>>,
}

impl Script {
    pub fn fail(&self, operation: &'static str, class: ErrorClass, code: &str, times: usize) {
        let mut errors = lock(&self.errors);
        let queue = errors.entry(operation).or_default();
        for _ in 0..times {
            queue.push_back(ServiceError::new(
                operation,
                class,
                code,
                format!("scripted {code}"),
            ));
        }
    }

    /// The call of `operation` after the next `succeed` fails once, transiently: a crash at
    /// that point of a sequence of writes.
    pub fn fail_after(&self, operation: &'static str, succeed: usize) {
        lock(&self.later).insert(
            operation,
            (
                succeed,
                ServiceError::new(operation, ErrorClass::Transient, "Crash", "scripted crash"),
            ),
        );
    }

    fn enter(&self, operation: &'static str) -> Result<()> {
        lock(&self.calls).push(operation);
        {
            let mut later = lock(&self.later);
            if matches!(later.get(operation), Some((0, _))) {
                if let Some((_, err)) = later.remove(operation) {
                    return Err(err);
                }
            } else if let Some((left, _)) = later.get_mut(operation) {
                *left -= 1;
            }
        }
        match lock(&self.errors)
            .get_mut(operation)
            .and_then(VecDeque::pop_front)
        {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// How many times `operation` was called (failed calls included).
    pub fn count(&self, operation: &str) -> usize {
        lock(&self.calls)
            .iter()
            .filter(|op| **op == operation)
            .count()
    }
}

/// How many items a fake's recorded collection holds.
pub fn lock_len<C: IntoIterator + Clone>(m: &Mutex<C>) -> usize {
    lock(m).clone().into_iter().count()
}
