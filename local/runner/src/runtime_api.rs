//! A local Lambda Runtime API for one function, the same contract AWS uses:
//! `GET /2018-06-01/runtime/invocation/next`, `POST …/invocation/{id}/response`,
//! `POST …/invocation/{id}/error`, `POST …/init/error`. One process polls it, like one warm
//! execution environment.

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

struct Invocation {
    id: String,
    payload: Value,
    reply: Reply,
}

struct Shared {
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    /// Handed to the function: where its answer goes, and when it was handed over.
    pending: Mutex<HashMap<String, (Reply, Instant)>>,
    function_arn: String,
    first_poll: watch::Sender<Option<Instant>>,
    init_error: watch::Sender<Option<String>>,
}

pub struct RuntimeApi {
    addr: SocketAddr,
    sender: mpsc::UnboundedSender<Invocation>,
    first_poll: watch::Receiver<Option<Instant>>,
    init_error: watch::Receiver<Option<String>>,
    stop: Option<oneshot::Sender<()>>,
}

impl RuntimeApi {
    /// Serves on 127.0.0.1 at a free port.
    pub async fn start(function_name: &str) -> anyhow::Result<Self> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let (first_poll_tx, first_poll) = watch::channel(None);
        let (init_error_tx, init_error) = watch::channel(None);
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(receiver),
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
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
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
        + Duration::from_secs(300);
    shared
        .pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(invocation.id.clone(), (invocation.reply, Instant::now()));
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
        Some((reply, handed)) => {
            let _ = reply.send((outcome, handed));
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
