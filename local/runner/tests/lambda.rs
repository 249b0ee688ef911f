//! The local Lambda's semantics with a real function binary (`lambda-probe`, which can be asked
//! to use memory, take time or fail): MemorySize is a hard limit, Timeout ends the invocation
//! and resets the environment, and a failed asynchronous invocation is retried as
//! EventInvokeConfig says, then sent to the on-failure destination.

use runner::lambda::{Attempt, Lambda, Running, invoke_async};
use runner::runtime_api::Outcome;
use runner::stack::Function;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

fn hello(memory_mb: u32, timeout_s: u32) -> Function {
    Function {
        logical_id: "HelloFunction".into(),
        binary: "lambda-probe".into(),
        name: "image-release-hello".into(),
        arn: "arn:aws:lambda:us-east-1:123456789012:function:image-release-hello".into(),
        environment: BTreeMap::new(),
        memory_mb,
        timeout_s,
        role_arn: "arn:aws:iam::123456789012:role/hello".into(),
        retries: 2,
        max_event_age_s: 3_600,
        on_failure: Some("arn:aws:sqs:us-east-1:123456789012:image-release-DeadLetterQueue".into()),
        dead_letter: None,
        rules: Vec::new(),
        schedules: Vec::new(),
    }
}

async fn start(spec: Function, lambda: &Lambda) -> Running {
    let env = runner::process::lambda_environment(
        "lambda-probe",
        "",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
    );
    let log = std::env::temp_dir().join(format!("image-release-hello-{}.log", std::process::id()));
    Running::start(spec, &runner::process::binaries_dir(), env, log, lambda)
        .await
        .unwrap()
}

/// Every attempt of one asynchronous invocation, and its dead letter.
async fn invoke(
    running: &Running,
    lambda: &Lambda,
    event: serde_json::Value,
) -> (Vec<Attempt>, Option<runner::lambda::DeadLetter>) {
    let mut attempts = Vec::new();
    let dead = invoke_async(
        running,
        lambda,
        &event,
        "test",
        None,
        "AKIDHELLO",
        |_, a| attempts.push(a.clone()),
    )
    .await;
    (attempts, dead)
}

fn error_type(attempt: &Attempt) -> String {
    match &attempt.outcome {
        Outcome::Error { error_type, .. } => error_type.clone(),
        Outcome::Response(v) => format!("response {v}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_attempt_fails_should_retry_twice_one_then_two_minutes_apart_and_dead_letter() {
    let lambda = Lambda {
        minute: Duration::from_millis(200),
        confine_memory: false,
        ..Lambda::default()
    };
    let running = start(hello(128, 10), &lambda).await;
    let (attempts, dead) = invoke(&running, &lambda, json!({ "fail": "boom" })).await;
    assert_eq!(
        attempts.len(),
        3,
        "the first attempt and MaximumRetryAttempts (2) retries"
    );
    assert!(
        attempts
            .iter()
            .all(|a| matches!(&a.outcome, Outcome::Error { message, .. } if message == "boom"))
    );
    let first_gap = attempts[1].handed - attempts[0].handed;
    let second_gap = attempts[2].handed - attempts[1].handed;
    assert!(first_gap >= Duration::from_millis(200), "{first_gap:?}");
    assert!(second_gap >= Duration::from_millis(400), "{second_gap:?}");
    let dead = dead.expect("the event goes to the on-failure destination");
    assert_eq!(dead.attempts, 3);
    assert_eq!(dead.delivered_to.len(), 1);
    assert!(dead.error.contains("boom"), "{}", dead.error);
    // A success is not retried.
    let (attempts, dead) = invoke(&running, &lambda, json!({})).await;
    assert_eq!(attempts.len(), 1);
    assert!(dead.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_an_invocation_outlives_its_timeout_should_fail_timed_out_and_reset_the_environment() {
    let lambda = Lambda {
        minute: Duration::from_millis(50),
        confine_memory: false,
        ..Lambda::default()
    };
    let timeout = Duration::from_secs(1);
    let wanted = Duration::from_secs(3);
    let running = start(hello(128, timeout.as_secs() as u32), &lambda).await;
    let (attempts, dead) = invoke(
        &running,
        &lambda,
        json!({ "sleep_ms": wanted.as_millis() as u64 }),
    )
    .await;
    assert_eq!(attempts.len(), 3);
    for attempt in &attempts {
        assert_eq!(error_type(attempt), "Sandbox.Timedout");
        // Ended by the timeout, from hand-over: at least the Timeout, and before the function
        // would have ended by itself.
        assert!(
            attempt.duration >= timeout && attempt.duration < wanted,
            "{:?} (Timeout {timeout:?}, the function wanted {wanted:?})",
            attempt.duration
        );
    }
    assert!(dead.is_some());
    // Each timed-out environment is replaced by a fresh one (once each), which answers. The
    // replacement is waited for, within what three new environments may take.
    let resets = || running.resets.load(std::sync::atomic::Ordering::SeqCst);
    let waited = std::time::Instant::now();
    while resets() < 3 && waited.elapsed() < timeout * 10 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(resets(), 3);
    let (attempts, _) = invoke(&running, &lambda, json!({})).await;
    assert_eq!(error_type(&attempts[0]), r#"response {"hello":"world"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_an_invocation_uses_more_than_its_memory_size_should_fail_out_of_memory() {
    if runner::confine::Cgroup::create(
        "probe",
        runner::confine::Limits {
            memory_mb: 64,
            cpu_share: false,
        },
    )
    .is_err()
    {
        // CI (.ci/run sets IMAGE_RELEASE_REQUIRE_CGROUPS) runs as root: there a missing cgroup
        // is a failure, never a skip that reports as a pass.
        assert!(
            std::env::var_os("IMAGE_RELEASE_REQUIRE_CGROUPS").is_none(),
            "this machine cannot create cgroups, and IMAGE_RELEASE_REQUIRE_CGROUPS says it must: \
             MemorySize would not be enforced"
        );
        eprintln!(
            "skipped: this machine cannot create cgroups (not root?); MemorySize is not enforced here"
        );
        return;
    }
    let lambda = Lambda {
        minute: Duration::from_millis(50),
        ..Lambda::default()
    };
    let running = start(hello(64, 10), &lambda).await;
    // Within the limit: answered.
    let (attempts, _) = invoke(&running, &lambda, json!({ "allocate_mb": 16 })).await;
    assert_eq!(error_type(&attempts[0]), r#"response {"hello":"world"}"#);
    // Past it: killed, as Lambda ends a function that runs out of memory, and retried.
    let (attempts, dead) = invoke(&running, &lambda, json!({ "allocate_mb": 200 })).await;
    assert_eq!(attempts.len(), 3);
    assert!(
        attempts
            .iter()
            .all(|a| error_type(a) == "Runtime.OutOfMemory"),
        "{:?}",
        attempts.iter().map(error_type).collect::<Vec<_>>()
    );
    assert!(dead.is_some());
    assert!(
        running.peak_bytes().is_some_and(|b| b <= 64 << 20),
        "{:?}",
        running.peak_bytes()
    );
}
