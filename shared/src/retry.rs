//! Bounded backoff for the errors the SDK does not retry by itself (Image Builder's
//! `CallRateLimitExceededException` and `ResourceInUseException`, AppStream's
//! `ConcurrentModificationException`…). After the last attempt the error goes back to the handler,
//! which reports it as `Retryable` so Lambda's async retries and the DLQ take over.

use crate::error::ServiceError;
use std::future::Future;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (1 = no retry).
    pub attempts: u32,
    /// Delay before the second attempt; doubles for each later one.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// Three attempts, 250 ms then 500 ms: well inside a Lambda timeout, and a throttled service gets air.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(250),
        max_delay: Duration::from_secs(2),
    };
    /// No waiting: for tests.
    pub const IMMEDIATE: RetryPolicy = RetryPolicy {
        attempts: 3,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };

    fn delay(&self, attempt: u32) -> Duration {
        self.base_delay
            .saturating_mul(1 << attempt.min(16))
            .min(self.max_delay)
    }
}

/// Runs `call` until it succeeds, fails with a class that retrying cannot fix, or the attempts run out.
pub async fn with_backoff<T, F, Fut>(policy: RetryPolicy, mut call: F) -> Result<T, ServiceError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ServiceError>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(err) if err.class.is_retryable() && attempt + 1 < policy.attempts => {
                let delay = policy.delay(attempt);
                tracing::warn!(operation = err.operation, code = %err.code, attempt = attempt + 1, delay_ms = delay.as_millis() as u64, "retrying after a retryable error");
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn throttled() -> ServiceError {
        ServiceError::new(
            "X",
            ErrorClass::Throttled,
            "CallRateLimitExceededException",
            "slow down",
        )
    }

    #[tokio::test]
    async fn when_throttled_twice_should_succeed_on_the_third_attempt() {
        let calls = AtomicU32::new(0);
        let result = with_backoff(RetryPolicy::IMMEDIATE, || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(throttled())
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn when_always_throttled_should_give_up_after_the_bound() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = with_backoff(RetryPolicy::IMMEDIATE, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(throttled())
        })
        .await;
        assert_eq!(result.unwrap_err().class, ErrorClass::Throttled);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn when_error_is_not_retryable_should_not_retry() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = with_backoff(RetryPolicy::IMMEDIATE, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(ServiceError::new(
                "X",
                ErrorClass::IdempotencyMismatch,
                "IdempotentParameterMismatchException",
                "",
            ))
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn when_attempts_grow_should_double_the_delay_up_to_the_cap() {
        let p = RetryPolicy::DEFAULT;
        assert_eq!(p.delay(0), Duration::from_millis(250));
        assert_eq!(p.delay(1), Duration::from_millis(500));
        assert_eq!(p.delay(10), Duration::from_secs(2));
    }
}
