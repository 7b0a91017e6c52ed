//! The daemon's HTTP API (`docs/protocol.md` §3) as an axum router.
//!
//! Every route funnels into [`AppState::execute`], which locks the [`Broker`] for the length of
//! one request (microseconds, never across an `.await`) and publishes the push the request
//! produced before the reply is sent, so a subscriber learns of new credentials no later than
//! the requester does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::dispatch::{Broker, Now};
use super::events::{EventBus, sse_stream};
use super::rpc::{self, ErrorCode, Push, Request, RequestType, RpcError};
use torctl::TorControl;

/// Bound on waiting for tor's answer to `SIGNAL NEWNYM` before replying anyway.
const NEWNYM_REPLY_WAIT: Duration = Duration::from_secs(5);

/// Largest request body the daemon reads (the same 1 MiB as a native-messaging frame).
pub(crate) const MAX_BODY: usize = persite_protocol::limits::MAX_FRAME_BYTES;

/// Beyond this, an oversized body is no longer drained and the connection is dropped instead.
const MAX_DRAIN: usize = 64 * 1024 * 1024;

/// Interval of SSE keep-alive comments, so a vanished subscriber is noticed and dropped.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Shared state of all connections.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    broker: Mutex<Broker>,
    bus: EventBus,
    shutdown: watch::Sender<bool>,
    tor: Option<Arc<TorControl>>,
}

impl AppState {
    /// State serving `broker`, publishing on `bus`, stopped via `shutdown`, sending NEWNYM
    /// through `tor` (when a control port is configured).
    pub(crate) fn new(
        broker: Broker,
        bus: EventBus,
        shutdown: watch::Sender<bool>,
        tor: Option<Arc<TorControl>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                broker: Mutex::new(broker),
                bus,
                shutdown,
                tor,
            }),
        }
    }

    /// Runs `f` on the broker under its lock and publishes the pushes it returns, in order,
    /// before the lock is released; `None` when the state is poisoned.
    pub(crate) fn with_broker<T>(
        &self,
        f: impl FnOnce(&mut Broker) -> (T, Vec<Push>),
    ) -> Option<T> {
        let mut broker = self.inner.broker.lock().ok()?;
        let (value, pushes) = f(&mut broker);
        for push in &pushes {
            self.inner.bus.publish(push);
        }
        drop(broker);
        Some(value)
    }

    /// Runs one request, publishes its push and, for `new_identity`, sends tor NEWNYM; the
    /// single path behind every route.
    pub(crate) async fn execute(&self, request: Request) -> Result<Value, RpcError> {
        let (result, newnym) = self.execute_locked(request);
        if newnym && let Some(tor) = &self.inner.tor {
            let sent = tokio::time::timeout(NEWNYM_REPLY_WAIT, tor.newnym()).await;
            if !matches!(sent, Ok(Ok(()))) {
                let why = match sent {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {NEWNYM_REPLY_WAIT:?}"),
                };
                tracing::warn!(error = %why, "SIGNAL NEWNYM failed");
                self.with_broker(|b| {
                    b.newnym_failed();
                    ((), Vec::new())
                });
                return result.map(|mut r| {
                    r["newnym"] = "unavailable".into();
                    if let Some(obj) = r.as_object_mut() {
                        obj.remove("newnym_delay_s");
                    }
                    r
                });
            }
        }
        result
    }

    fn execute_locked(&self, request: Request) -> (Result<Value, RpcError>, bool) {
        let Ok(mut broker) = self.inner.broker.lock() else {
            // A panic mid-request may have left the isolator half-updated. Serving from it
            // could hand out wrong credentials, so stop: the host starts a fresh daemon,
            // whose new instance id makes the extension drop every cached credential.
            tracing::error!("broker state poisoned by an earlier panic; shutting down");
            self.inner.shutdown.send_replace(true);
            return (
                Err(RpcError::new(
                    ErrorCode::Internal,
                    "broker state is inconsistent after an internal error; the daemon is restarting",
                )),
                false,
            );
        };
        let outcome = broker.handle(request, Now::current());
        if let Some(push) = &outcome.push {
            // Published under the lock, so pushes leave in the order the state changed and a
            // subscriber never sees an invalidation before the change it announces.
            self.inner.bus.publish(push);
        }
        drop(broker);
        (outcome.result, outcome.newnym)
    }
}

/// The router of §3.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/rpc", post(rpc_route))
        .route("/v1/events", get(events_route))
        .route("/v1/credentials", post(credentials_route))
        .route("/v1/new-circuit", post(new_circuit_route))
        .route("/v1/new-identity", post(new_identity_route))
        .route("/v1/status", get(status_route))
        .route(
            "/v1/policies",
            get(policies_get_route).put(policies_put_route),
        )
        // Bodies are read by `read_body`, which answers oversize with a protocol error.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Reads at most [`MAX_BODY`] bytes. A larger body is drained (up to [`MAX_DRAIN`]) without
/// being kept, so the client, still writing, is not cut off and can read the error reply.
async fn read_body(body: Body) -> Result<Bytes, RpcError> {
    let mut body = body;
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            RpcError::new(
                ErrorCode::InvalidJson,
                format!("reading the body failed: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen <= MAX_BODY {
            buf.extend_from_slice(&data);
        } else if seen > MAX_DRAIN {
            break;
        }
    }
    if seen > MAX_BODY {
        return Err(RpcError::new(
            ErrorCode::FrameTooLarge,
            format!("the request body is {seen} bytes or more; the limit is {MAX_BODY} bytes"),
        ));
    }
    Ok(Bytes::from(buf))
}

async fn rpc_route(State(state): State<AppState>, body: Body) -> Json<Value> {
    let (id, parsed) = match read_body(body).await {
        Ok(bytes) => rpc::parse_rpc(&bytes),
        Err(e) => (None, Err(e)),
    };
    let result = match parsed {
        Ok(request) => state.execute(request).await,
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
        tracing::debug!(code = %e.code, message = %e.message, "request failed");
    }
    Json(rpc::reply(id, &result))
}

async fn events_route(State(state): State<AppState>) -> impl IntoResponse {
    // Subscribe before answering: once the client sees the response head, it misses nothing.
    let rx = state.inner.bus.subscribe();
    let shutdown = state.inner.shutdown.subscribe();
    tracing::debug!(
        subscribers = state.inner.bus.subscribers(),
        "event subscriber connected"
    );
    Sse::new(sse_stream(rx, shutdown)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

/// A REST reply: the bare result, or `{"error": …}` with a 4xx/5xx status.
fn rest_reply(result: Result<Value, RpcError>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => {
            tracing::debug!(code = %e.code, message = %e.message, "request failed");
            let status = match e.code {
                ErrorCode::FrameTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::SocksNotTor | ErrorCode::SocksUnverified => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                _ => StatusCode::BAD_REQUEST,
            };
            (status, Json(json!({"error": e.to_json()}))).into_response()
        }
    }
}

async fn rest(state: &AppState, kind: RequestType, body: Body) -> Response {
    let request = match read_body(body).await {
        Ok(bytes) => rpc::parse_typed(kind, &bytes),
        Err(e) => Err(e),
    };
    rest_reply(match request {
        Ok(r) => state.execute(r).await,
        Err(e) => Err(e),
    })
}

async fn credentials_route(State(state): State<AppState>, body: Body) -> Response {
    rest(&state, RequestType::Credentials, body).await
}

async fn new_circuit_route(State(state): State<AppState>, body: Body) -> Response {
    rest(&state, RequestType::NewCircuit, body).await
}

async fn new_identity_route(State(state): State<AppState>, body: Body) -> Response {
    rest(&state, RequestType::NewIdentity, body).await
}

async fn status_route(State(state): State<AppState>) -> Response {
    rest_reply(state.execute(Request::Status).await)
}

async fn policies_get_route(State(state): State<AppState>) -> Response {
    rest_reply(state.execute(Request::PolicyGet).await)
}

async fn policies_put_route(State(state): State<AppState>, body: Body) -> Response {
    rest(&state, RequestType::PolicySet, body).await
}
