//! A local Lambda Runtime API for one function, the same contract AWS uses:
//! `GET /2018-06-01/runtime/invocation/next`, `POST …/invocation/{id}/response`,
//! `POST …/invocation/{id}/error`, `POST …/init/error`. One process polls it, like one warm
//! execution environment.
//!
//! The function's `Timeout` is Lambda's: it counts from the moment the invocation is handed
//! over (`lambda-runtime-deadline-ms` says when it ends); an invocation still running then fails
//! with `Sandbox.Timedout` ("Task timed out after N seconds"), and the API asks for the execution
//! environment to be reset ([`RuntimeApi::resets`]), as Lambda resets it after a timeout.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};

/// What an invocation returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(Value),
    Error { error_type: String, message: String },
}

/// Where a function's answer goes, with the time it took.
type Reply = oneshot::Sender<(Outcome, Instant)>;

/// An invocation handed to the function: where its answer goes, when it was handed over, and
/// its payload (to hand it to a fresh environment when the one that took it is reset).
struct Handed {
    reply: Reply,
    at: Instant,
    payload: Value,
}

struct Invocation {
    id: String,
    payload: Value,
    reply: Reply,
}

struct Shared {
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    /// The function's `Timeout`, from hand-over to answer.
    timeout: Duration,
    /// Asks the supervisor to reset the execution environment (after a timeout).
    resets: mpsc::UnboundedSender<String>,
    /// Handed to the function: where its answer goes, and when it was handed over.
    pending: Mutex<HashMap<String, Handed>>,
    function_arn: String,
    first_poll: watch::Sender<Option<Instant>>,
    init_error: watch::Sender<Option<String>>,
}

pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    resets: std::sync::Mutex<Option<mpsc::UnboundedReceiver<String>>>,
    sender: mpsc::UnboundedSender<Invocation>,
    first_poll: watch::Receiver<Option<Instant>>,
    init_error: watch::Receiver<Option<String>>,
    stop: Option<oneshot::Sender<()>>,
}

impl RuntimeApi {
    /// Serves on 127.0.0.1 at a free port, with Lambda's maximum timeout (15 minutes).
    pub async fn start(function_name: &str) -> anyhow::Result<Self> {
        Self::start_with_timeout(function_name, Duration::from_secs(900)).await
    }

    /// [`RuntimeApi::start`] for a function whose `Timeout` is `timeout`.
    pub async fn start_with_timeout(
        function_name: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let (resets_tx, resets_rx) = mpsc::unbounded_channel();
        let (first_poll_tx, first_poll) = watch::channel(None);
        let (init_error_tx, init_error) = watch::channel(None);
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(receiver),
            timeout,
            resets: resets_tx,
            pending: Mutex::new(HashMap::new()),
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
            first_poll: first_poll_tx,
            init_error: init_error_tx,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error_route))
            .with_state(shared.clone());
        let (addr, stop) = crate::process::serve_locally(app).await?;
        Ok(Self {
            addr,
            shared,
            resets: std::sync::Mutex::new(Some(resets_rx)),
            sender,
            first_poll,
            init_error,
            stop: Some(stop),
        })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues an invocation and waits for its outcome (or `timeout`).
    pub async fn invoke(&self, payload: Value, timeout: Duration) -> Outcome {
        self.invoke_timed(payload, timeout).await.0
    }

    /// [`RuntimeApi::invoke`], with when the function was handed the invocation (`GET /next`)
    /// and how long it took from there to its answer, without the time it queued behind others
    /// (what Lambda bills). `None` when it never answered.
    pub async fn invoke_timed(
        &self,
        payload: Value,
        timeout: Duration,
    ) -> (Outcome, Option<(Instant, Duration)>) {
        let (reply, answer) = oneshot::channel();
        let id = uuid::Uuid::new_v4().to_string();
        if self.sender.send(Invocation { id, payload, reply }).is_err() {
            let error = Outcome::Error {
                error_type: "Runtime.Unavailable".into(),
                message: "the runtime API stopped".into(),
            };
            return (error, None);
        }
        let mut init_error = self.init_error.clone();
        tokio::select! {
            outcome = tokio::time::timeout(timeout, answer) => match outcome {
                Ok(Ok((outcome, handed))) => (outcome, Some((handed, handed.elapsed()))),
                Ok(Err(_)) => (Outcome::Error { error_type: "Runtime.Exited".into(), message: "the function exited without answering".into() }, None),
                Err(_) => (Outcome::Error { error_type: "Sandbox.Timedout".into(), message: format!("no answer within {timeout:?}") }, None),
            },
            message = async { init_error.wait_for(Option::is_some).await.map(|m| m.clone().unwrap_or_default()).unwrap_or_default() } => {
                (Outcome::Error { error_type: "Runtime.InitError".into(), message }, None)
            }
        }
    }

    /// The reset requests (one per timed-out invocation, with its message), for the one
    /// supervisor of the function's process; `None` once taken.
    pub fn resets(&self) -> Option<mpsc::UnboundedReceiver<String>> {
        self.resets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Fails every invocation handed to the process and not answered (the process died):
    /// Lambda reports such an invocation with the runtime's error.
    pub fn fail_pending(&self, error_type: &str, message: &str) -> usize {
        let pending = self.take_pending();
        let n = pending.len();
        for handed in pending {
            let _ = handed.reply.send((
                Outcome::Error {
                    error_type: error_type.to_owned(),
                    message: message.to_owned(),
                },
                handed.at,
            ));
        }
        n
    }

    /// Queues again every invocation handed to the process and not answered: an environment
    /// being reset after a timeout may have taken the next one before it was stopped, and on
    /// Lambda that one would have gone to a healthy environment.
    pub fn requeue_pending(&self) -> usize {
        let pending = self.take_pending();
        let n = pending.len();
        for handed in pending {
            let _ = self.sender.send(Invocation {
                id: uuid::Uuid::new_v4().to_string(),
                payload: handed.payload,
                reply: handed.reply,
            });
        }
        n
    }

    fn take_pending(&self) -> Vec<Handed> {
        self.shared
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain()
            .map(|(_, handed)| handed)
            .collect()
    }

    /// A fresh init error slate for a new execution environment.
    pub fn clear_init_error(&self) {
        let _ = self.shared.init_error.send(None);
    }

    /// What the function reported to `/runtime/init/error`, if it did.
    pub fn init_error(&self) -> Option<String> {
        self.init_error.borrow().clone()
    }

    /// When the function first asked for an invocation (the end of its init).
    pub async fn first_poll(&self) -> Instant {
        let mut rx = self.first_poll.clone();
        let value = rx
            .wait_for(Option::is_some)
            .await
            .map(|v| *v)
            .ok()
            .flatten();
        value.unwrap_or_else(Instant::now)
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared.first_poll.send_if_modified(|first| {
        if first.is_none() {
            *first = Some(Instant::now());
            true
        } else {
            false
        }
    });
    let invocation = shared.queue.lock().await.recv().await;
    let Some(invocation) = invocation else {
        return StatusCode::GONE.into_response();
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        + shared.timeout;
    shared
        .pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(
            invocation.id.clone(),
            Handed {
                reply: invocation.reply,
                at: Instant::now(),
                payload: invocation.payload.clone(),
            },
        );
    // Lambda's timeout: from hand-over, whatever the function is doing.
    {
        let (shared, id) = (shared.clone(), invocation.id.clone());
        tokio::spawn(async move {
            tokio::time::sleep(shared.timeout).await;
            let message = format!(
                "Task timed out after {:.2} seconds",
                shared.timeout.as_secs_f64()
            );
            if settle(
                &shared,
                &id,
                Outcome::Error {
                    error_type: "Sandbox.Timedout".into(),
                    message: message.clone(),
                },
            ) == StatusCode::ACCEPTED
            {
                let _ = shared.resets.send(message);
            }
        });
    }
    let mut headers = HeaderMap::new();
    let put = |headers: &mut HeaderMap, name: &'static str, value: String| {
        if let Ok(value) = value.parse() {
            headers.insert(name, value);
        }
    };
    put(
        &mut headers,
        "lambda-runtime-aws-request-id",
        invocation.id.clone(),
    );
    put(
        &mut headers,
        "lambda-runtime-deadline-ms",
        deadline.as_millis().to_string(),
    );
    put(
        &mut headers,
        "lambda-runtime-invoked-function-arn",
        shared.function_arn.clone(),
    );
    put(
        &mut headers,
        "lambda-runtime-trace-id",
        format!("Root=1-{}", &invocation.id[..8]),
    );
    put(&mut headers, "content-type", "application/json".into());
    (StatusCode::OK, headers, invocation.payload.to_string()).into_response()
}

fn settle(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match shared
        .pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(id)
    {
        Some(handed) => {
            let _ = handed.reply.send((outcome, handed.at));
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    settle(&shared, &id, Outcome::Response(value))
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let value: Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = |k: &str| value[k].as_str().unwrap_or_default().to_owned();
    settle(
        &shared,
        &id,
        Outcome::Error {
            error_type: text("errorType"),
            message: text("errorMessage"),
        },
    )
}

async fn init_error_route(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let value: Value = serde_json::from_slice(&body).unwrap_or_default();
    let _ = shared.init_error.send(Some(format!(
        "{}: {}",
        value["errorType"].as_str().unwrap_or("?"),
        value["errorMessage"].as_str().unwrap_or("")
    )));
    StatusCode::ACCEPTED
}
