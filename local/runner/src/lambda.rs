//! Lambda's own semantics for the local functions, read from the stack: each function runs as
//! its real binary in one execution environment under its own Runtime API, with
//! * its `Timeout` (from hand-over; a timed-out environment is reset, as Lambda resets it),
//! * its `MemorySize` as a hard limit (a cgroup; past it the process is killed and the
//!   invocation fails with `Runtime.OutOfMemory`), and optionally the CPU share that memory
//!   buys on Lambda,
//! * a crashed or killed process replaced by a fresh one (a new environment, init included),
//! * asynchronous invocation as Lambda's event invoke does it: any error (a returned error, a
//!   timeout, a crash) is retried `MaximumRetryAttempts` times, one "minute" then two apart
//!   (Lambda developer guide, "How Lambda handles errors and retries with asynchronous
//!   invocation"; the runner's clock scales a minute to [`Lambda::minute`]), within
//!   `MaximumEventAgeInSeconds`, then the event goes to the on-failure destination (and the
//!   dead-letter queue), sent with the function's own role.

use crate::confine::{Cgroup, Limits};
use crate::process::FunctionProcess;
use crate::runtime_api::{Outcome, RuntimeApi};
use crate::stack::Function;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How the local Lambda runs functions.
#[derive(Debug, Clone)]
pub struct Lambda {
    /// What one minute of Lambda's retry schedule takes locally.
    pub minute: Duration,
    /// Enforce each function's `MemorySize` (needs cgroups: root, or a delegated cgroup).
    pub confine_memory: bool,
    /// Also give each function only the CPU share its memory buys on Lambda.
    pub cpu_share: bool,
    /// Per-function timeout overrides (tests: a timeout reached in seconds, not minutes).
    pub timeouts: Vec<(String, Duration)>,
}

impl Default for Lambda {
    fn default() -> Self {
        Self {
            minute: Duration::from_millis(300),
            confine_memory: true,
            cpu_share: false,
            timeouts: Vec::new(),
        }
    }
}

/// A function of the stack, running.
pub struct Running {
    pub spec: Function,
    pub api: Arc<RuntimeApi>,
    pub matcher: Option<quamina::Quamina<String>>,
    pub cgroup: Option<Arc<Cgroup>>,
    /// Execution environments started after the first (crashes, timeouts, OOM kills).
    pub resets: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Why a function runs unconfined (said once per run).
static UNCONFINED_SAID: std::sync::Once = std::sync::Once::new();

impl Running {
    /// Starts `spec`'s binary from `binaries` with `env`, confined as `lambda` says, and keeps
    /// an execution environment alive for it until dropped.
    pub async fn start(
        spec: Function,
        binaries: &Path,
        mut env: BTreeMap<String, String>,
        log: PathBuf,
        lambda: &Lambda,
    ) -> anyhow::Result<Self> {
        let timeout = lambda
            .timeouts
            .iter()
            .find(|(name, _)| *name == spec.binary)
            .map_or(Duration::from_secs(u64::from(spec.timeout_s)), |(_, t)| *t);
        let api = Arc::new(RuntimeApi::start_with_timeout(&spec.binary, timeout).await?);
        env.insert("AWS_LAMBDA_RUNTIME_API".into(), api.address());
        env.insert(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
            spec.memory_mb.to_string(),
        );
        env.insert("AWS_LAMBDA_FUNCTION_NAME".into(), spec.name.clone());
        let cgroup = if lambda.confine_memory || lambda.cpu_share {
            let limits = Limits {
                memory_mb: spec.memory_mb,
                cpu_share: lambda.cpu_share,
            };
            match Cgroup::create(&spec.binary, limits) {
                Ok(cgroup) => Some(Arc::new(cgroup)),
                Err(why) => {
                    UNCONFINED_SAID.call_once(|| {
                        eprintln!(
                            "local Lambda: functions run without their MemorySize limit ({why})"
                        );
                    });
                    None
                }
            }
        } else {
            None
        };
        let mut matcher = None;
        if !spec.rules.is_empty() {
            let mut q = quamina::Quamina::new();
            for (name, pattern) in &spec.rules {
                q.add_pattern(name.clone(), &pattern.to_string())
                    .map_err(|e| anyhow::anyhow!("{}/{name}: {e:?}", spec.binary))?;
            }
            matcher = Some(q);
        }
        let binary = binaries.join(&spec.binary);
        let process = FunctionProcess::spawn_in(&binary, &env, &log, cgroup.as_deref())?;
        let resets = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(supervise(
            Supervised {
                api: api.clone(),
                binary,
                env,
                log,
                cgroup: cgroup.clone(),
                resets: resets.clone(),
                memory_mb: spec.memory_mb,
            },
            process,
            stopped,
        ));
        Ok(Self {
            spec,
            api,
            matcher,
            cgroup,
            resets,
            stop: Some(stop),
        })
    }

    /// The most memory the function's environments used at once (its cgroup's peak).
    pub fn peak_bytes(&self) -> Option<u64> {
        self.cgroup.as_ref().and_then(|c| c.peak_bytes())
    }
}

struct Supervised {
    api: Arc<RuntimeApi>,
    binary: PathBuf,
    env: BTreeMap<String, String>,
    log: PathBuf,
    cgroup: Option<Arc<Cgroup>>,
    resets: Arc<AtomicUsize>,
    memory_mb: u32,
}

/// Keeps one execution environment alive: a process that dies (crash, OOM kill) fails what it
/// was handed and is replaced; a timed-out one is killed and replaced. A process that failed
/// its init is left dead (the run reports the init error).
async fn supervise(
    s: Supervised,
    mut process: FunctionProcess,
    mut stopped: oneshot::Receiver<()>,
) {
    let Some(mut resets) = s.api.resets() else {
        return;
    };
    let mut oom_seen = s.cgroup.as_ref().map_or(0, |c| c.oom_kills());
    loop {
        tokio::select! {
            _ = &mut stopped => {
                // Killed and reaped before the cgroup goes (a cgroup with members stays).
                process.kill().await;
                return;
            }
            status = process.wait() => {
                if s.api.init_error().is_some() {
                    // Init failed: nothing more to run until the run stops.
                    let _ = (&mut stopped).await;
                    return;
                }
                let ooms = s.cgroup.as_ref().map_or(0, |c| c.oom_kills());
                let (error_type, message) = if ooms > oom_seen {
                    ("Runtime.OutOfMemory", format!("Runtime exited with error: signal: killed (the function used more than its MemorySize of {} MB)", s.memory_mb))
                } else {
                    ("Runtime.ExitError", format!("Runtime exited with error: {}", status.map_or_else(|| "unknown".to_owned(), |st| st.to_string())))
                };
                oom_seen = ooms;
                s.api.fail_pending(error_type, &message);
            }
            Some(_) = resets.recv() => {
                process.kill().await;
                // What it took after the timed-out invocation goes to the fresh environment.
                s.api.requeue_pending();
            }
        }
        // A new execution environment.
        s.resets.fetch_add(1, Ordering::Relaxed);
        match FunctionProcess::spawn_in(&s.binary, &s.env, &s.log, s.cgroup.as_deref()) {
            Ok(next) => process = next,
            Err(err) => {
                eprintln!("local Lambda: cannot restart {}: {err}", s.binary.display());
                let _ = (&mut stopped).await;
                return;
            }
        }
    }
}

/// One attempt of an asynchronous invocation.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub outcome: Outcome,
    /// When the function was handed the invocation (or, if it never was, when it was queued).
    pub handed: Instant,
    /// From hand-over to the answer (what Lambda bills).
    pub duration: Duration,
}

/// An event Lambda gave up on: what it sends to the on-failure destination (and the DLQ).
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub function: String,
    pub trigger: String,
    /// `errorType: errorMessage` of the last attempt.
    pub error: String,
    pub attempts: u32,
    /// Where it went: each destination (the on-failure destination, the DLQ).
    pub delivered_to: Vec<Delivery>,
}

/// A dead letter at one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Sent to the queue of this ARN.
    Sent(String),
    /// The function's role may not send there: on AWS the message would be lost.
    Denied { queue: String, reason: String },
}

impl Delivery {
    /// The queue it was sent to, if it was.
    pub fn sent_to(&self) -> Option<&str> {
        match self {
            Delivery::Sent(arn) => Some(arn),
            Delivery::Denied { .. } => None,
        }
    }
}

/// Invokes `running` asynchronously with `event`, as Lambda's event invoke does, calling
/// `each` after every attempt. Returns the dead letter when every attempt failed.
pub async fn invoke_async(
    running: &Running,
    lambda: &Lambda,
    event: &serde_json::Value,
    trigger: &str,
    account: Option<&iam::Account>,
    access_key: &str,
    mut each: impl FnMut(u32, &Attempt),
) -> Option<DeadLetter> {
    let received = Instant::now();
    let spec = &running.spec;
    // MaximumEventAgeInSeconds on the runner's clock.
    let max_age = lambda
        .minute
        .mul_f64(f64::from(spec.max_event_age_s) / 60.0);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let queued = Instant::now();
        let (outcome, took) = running
            .api
            .invoke_timed(event.clone(), Duration::from_secs(3_600))
            .await;
        let (handed, duration) = took.unwrap_or((queued, queued.elapsed()));
        let record = Attempt {
            outcome,
            handed,
            duration,
        };
        each(attempt, &record);
        let Outcome::Error {
            error_type,
            message,
        } = record.outcome
        else {
            return None;
        };
        // An init error is not retried here: the run stops on it.
        let retry_due = attempt <= spec.retries && error_type != "Runtime.InitError";
        let delay = lambda.minute * attempt;
        if !retry_due || received.elapsed() + delay > max_age {
            let mut delivered_to = Vec::new();
            let mut targets: Vec<&String> = spec
                .on_failure
                .iter()
                .chain(spec.dead_letter.iter())
                .collect();
            targets.dedup();
            for target in targets {
                delivered_to.push(send_allowed(account, access_key, target));
            }
            return Some(DeadLetter {
                function: spec.binary.clone(),
                trigger: trigger.to_owned(),
                error: format!("{error_type}: {message}"),
                attempts: attempt,
                delivered_to,
            });
        }
        tokio::time::sleep(delay).await;
    }
}

/// Lambda sends to an SQS destination or DLQ with the function's execution role: whether it may.
fn send_allowed(account: Option<&iam::Account>, access_key: &str, queue_arn: &str) -> Delivery {
    let Some(account) = account else {
        return Delivery::Sent(queue_arn.to_owned());
    };
    let region = queue_arn.split(':').nth(3).unwrap_or("us-east-1");
    let call = iam::Call::new("sqs:SendMessage", region).on("queue", queue_arn);
    let denied = |reason: String| Delivery::Denied {
        queue: queue_arn.to_owned(),
        reason,
    };
    match account.authorize(access_key, &call) {
        Ok(Ok(())) => Delivery::Sent(queue_arn.to_owned()),
        Ok(Err(denied_call)) => denied(denied_call.message),
        Err(mismatch) => denied(mismatch.to_string()),
    }
}
