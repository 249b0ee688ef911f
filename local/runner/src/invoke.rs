//! The local Lambda's Invoke API (Lambda API Reference, `Invoke`:
//! `POST /2015-03-31/functions/<FunctionName>/invocations`), so that anyone holding
//! `lambda:InvokeFunction` can reach a function without the bus, as on AWS: `aws lambda invoke`
//! with a sample event from `events/` works against the local stack.
//!
//! * The caller is authorized by the local IAM as `lambda:InvokeFunction` on the function's ARN
//!   (a key the account does not know is its administrator, as everywhere locally); a denial is
//!   Lambda's `403 AccessDeniedException`.
//! * `X-Amz-Invocation-Type`: `RequestResponse` (the default) answers `200` with the function's
//!   response, or its error with `X-Amz-Function-Error: Unhandled`; `Event` queues the event as
//!   Lambda's asynchronous invocation does (retries, then the on-failure destination) and
//!   answers `202`; `DryRun` authorizes only and answers `204`.
//! * An unknown function is `404 ResourceNotFoundException`; a payload that is not JSON is
//!   `400 InvalidRequestContentException`.
//!
//! Every invocation is recorded in the run's report like a delivery of the bus, with the trigger
//! `direct invoke by <principal>`.

use crate::Bus;
use crate::process::serve_locally;
use crate::runtime_api::Outcome;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The running Invoke API; dropping it stops it.
#[derive(Debug)]
pub struct InvokeApi {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for InvokeApi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl InvokeApi {
    /// Serves on 127.0.0.1 at a free port, invoking the bus's running functions.
    pub(crate) async fn start(bus: Arc<Bus>) -> anyhow::Result<Self> {
        let app = axum::Router::new().route(
            "/2015-03-31/functions/{name}/invocations",
            axum::routing::post(
                move |Path(name): Path<String>, headers: HeaderMap, body: Bytes| {
                    let bus = bus.clone();
                    async move { invoke(&bus, &name, &headers, &body).await }
                },
            ),
        );
        let (addr, stop) = serve_locally(app).await?;
        Ok(Self {
            addr,
            stop: Some(stop),
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Lambda's error answer: `x-amzn-ErrorType` and a JSON body with `Type` and `message`.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let kind = if status.is_server_error() {
        "Service"
    } else {
        "User"
    };
    (
        status,
        [
            ("x-amzn-errortype", code),
            (header::CONTENT_TYPE.as_str(), "application/json"),
        ],
        serde_json::json!({ "Type": kind, "message": message }).to_string(),
    )
        .into_response()
}

/// The signing access key and region of a SigV4 `Authorization` header.
fn signer(headers: &HeaderMap) -> (Option<String>, String) {
    let credential = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .unwrap_or_default();
    let mut parts = credential.split('/');
    let key = parts.next().filter(|k| !k.is_empty()).map(str::to_owned);
    let region = parts.nth(1).unwrap_or("us-east-1").to_owned();
    (key, region)
}

async fn invoke(bus: &Arc<Bus>, name: &str, headers: &HeaderMap, body: &Bytes) -> Response {
    // FunctionName is a name, a full ARN or a partial one (`<account>:function:<name>`); a
    // qualifier (`:$LATEST`) names the only version the local stack has.
    let wanted = name.strip_suffix(":$LATEST").unwrap_or(name);
    let Some(index) = bus.running.iter().position(|r| {
        r.spec.name == wanted || r.spec.arn == wanted || r.spec.arn.ends_with(&format!(":{wanted}"))
    }) else {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("Function not found: {name}"),
        );
    };
    let function = &bus.running[index];
    let (key, region) = signer(headers);
    let mut caller = "the account's administrator".to_owned();
    if let (Some(iam), Some(key)) = (&bus.iam, &key)
        && let Some(principal) = iam.principals.get(key)
    {
        caller = principal.name.clone();
        let call = iam::Call::new("lambda:Invoke", &region).on("function", &function.spec.arn);
        match iam.authorize(key, &call) {
            Ok(Ok(())) => {}
            Ok(Err(denied)) => {
                return error(
                    StatusCode::FORBIDDEN,
                    "AccessDeniedException",
                    &denied.message,
                );
            }
            Err(mismatch) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ServiceException",
                    &format!("the local Lambda's authorization of Invoke is wrong: {mismatch}"),
                );
            }
        }
    }
    let payload: serde_json::Value = if body.is_empty() {
        serde_json::json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(payload) => payload,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContentException",
                    &format!("Could not parse request body into json: {e}"),
                );
            }
        }
    };
    let kind = headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse");
    let trigger = format!("direct invoke by {caller}");
    match kind {
        "DryRun" => StatusCode::NO_CONTENT.into_response(),
        "Event" => {
            let flight = bus.in_flight();
            let bus = bus.clone();
            tokio::spawn(async move {
                let _flight = flight;
                bus.invoke_as(index, payload, trigger).await
            });
            StatusCode::ACCEPTED.into_response()
        }
        "RequestResponse" => {
            let _flight = bus.in_flight();
            let outcome = bus.invoke_once(index, payload, &trigger).await;
            let executed = [("x-amz-executed-version", "$LATEST")];
            match outcome {
                Outcome::Response(value) => (
                    StatusCode::OK,
                    executed,
                    [(header::CONTENT_TYPE, "application/json")],
                    value.to_string(),
                )
                    .into_response(),
                Outcome::Error {
                    error_type,
                    message,
                } => (
                    StatusCode::OK,
                    executed,
                    [("x-amz-function-error", "Unhandled")],
                    serde_json::json!({ "errorType": error_type, "errorMessage": message })
                        .to_string(),
                )
                    .into_response(),
            }
        }
        other => error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            &format!("X-Amz-Invocation-Type {other} is not RequestResponse, Event or DryRun"),
        ),
    }
}

/// How long a synchronous invocation may wait for its answer (Lambda's own limit is the
/// function's timeout, which the runtime API enforces).
pub(crate) const SYNC_WAIT: Duration = Duration::from_secs(900);
