//! The host's link to the broker daemon: HTTP/2 (prior knowledge, "h2c") over its Unix socket.
//!
//! One HTTP/2 connection carries every request of the host as its own stream, so requests the
//! browser pipelines are relayed concurrently and their replies come back in whatever order the
//! daemon finishes them; a long-lived `GET /v1/events` stream on the same connection carries the
//! pushes. HTTP/2 rather than a pool of HTTP/1.1 connections: one socket, no head-of-line
//! blocking, no pool sizing, and the daemon (axum with its `http2` feature) accepts the
//! prior-knowledge preface on the same listener.
//!
//! Lifecycle: the link is established at start and again by the first request after a loss.
//! Establishing means: connect (starting the daemon when nothing listens, see [`crate::spawn`]),
//! subscribe to events, `hello` for the daemon's `instance`, then push `broker_connected`. A
//! transport failure, a timeout or the end of the event stream drops the link and pushes
//! `broker_disconnected` once. Requests that arrive while an attempt is under way wait for it;
//! when an attempt that ended after a request arrived failed, that request fails too instead of
//! starting yet another attempt, so a dead daemon costs each burst of requests one attempt.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::UnixStream;
use tokio::sync::{Mutex, mpsc};
use tokio::time::timeout;

use crate::codec::MAX_FRAME_LEN;
use crate::message;
use crate::spawn;
use crate::sse::SseParser;

const RPC_URI: &str = "http://persite/v1/rpc";
const EVENTS_URI: &str = "http://persite/v1/events";

/// Settings of the link; [`BrokerConfig::from_env`] gives the production ones.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// The daemon socket, or why it cannot be determined.
    pub socket: Result<PathBuf, String>,
    /// The daemon binary to start when none answers, or why it cannot be determined.
    pub broker_bin: Result<PathBuf, String>,
    /// How long to wait for a started daemon's socket.
    pub start_timeout: Duration,
    /// How long one request may take (hello and subscription included).
    pub request_timeout: Duration,
}

impl BrokerConfig {
    /// Socket from `persite_native_messaging::runtime`, binary from [`spawn::broker_binary`].
    pub fn from_env() -> Self {
        Self {
            socket: crate::runtime::broker_socket_path().map_err(|e| e.to_string()),
            broker_bin: spawn::broker_binary(),
            start_timeout: spawn::START_TIMEOUT,
            request_timeout: Duration::from_secs(15),
        }
    }
}

/// Why a request could not be relayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The daemon cannot be reached or failed mid-request (`broker_unavailable`).
    #[error("the broker daemon is unavailable: {0}")]
    Unavailable(String),
    /// The daemon's reply exceeds the 1 MiB frame limit (`reply_too_large`).
    #[error("the broker's reply exceeds the 1 MiB native-messaging limit")]
    ReplyTooLarge,
    /// The daemon answered something that is not a reply (`internal`).
    #[error("the broker daemon answered unexpectedly: {0}")]
    Internal(String),
}

/// Failure of one HTTP exchange.
enum RpcError {
    Transport(String),
    TooLarge,
    Unexpected(String),
}

type Sender = SendRequest<Full<Bytes>>;

/// A live HTTP/2 connection to one daemon run.
#[derive(Clone)]
struct Link {
    generation: u64,
    sender: Sender,
}

struct LinkState {
    link: Option<Link>,
    /// Number of the last connection attempt that failed (attempts count from 1, in the order
    /// they ended).
    last_failed_attempt: u64,
}

struct Inner {
    config: BrokerConfig,
    pushes: mpsc::Sender<Bytes>,
    state: Mutex<LinkState>,
    /// Connection attempts that have ended, successful or not.
    attempts_ended: AtomicU64,
    generations: AtomicU64,
}

/// Relays requests to the daemon and its pushes to `pushes`; cheap to clone.
#[derive(Clone)]
pub struct BrokerClient {
    inner: Arc<Inner>,
}

impl BrokerClient {
    /// A client that is not yet connected; pushes (`broker_connected`, events) go to `pushes`.
    pub fn new(config: BrokerConfig, pushes: mpsc::Sender<Bytes>) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                pushes,
                state: Mutex::new(LinkState {
                    link: None,
                    last_failed_attempt: 0,
                }),
                attempts_ended: AtomicU64::new(0),
                generations: AtomicU64::new(0),
            }),
        }
    }

    /// Connects now (starting the daemon if needed) so the browser learns `broker_connected`
    /// before its first request; failures are only logged, the next request retries.
    pub async fn connect(&self) {
        let arrival = self.inner.attempts_ended.load(Ordering::SeqCst);
        if let Err(e) = self.inner.link(arrival).await {
            tracing::warn!("cannot reach the broker daemon: {e}");
        }
    }

    /// Relays one request body to `POST /v1/rpc` and returns the daemon's reply body.
    pub async fn call(&self, body: Bytes) -> Result<Bytes, CallError> {
        let arrival = self.inner.attempts_ended.load(Ordering::SeqCst);
        let link = self
            .inner
            .link(arrival)
            .await
            .map_err(CallError::Unavailable)?;
        let mut sender = link.sender.clone();
        let limit = self.inner.config.request_timeout;
        match timeout(limit, rpc(&mut sender, body)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(RpcError::TooLarge)) => Err(CallError::ReplyTooLarge),
            Ok(Err(RpcError::Unexpected(why))) => Err(CallError::Internal(why)),
            Ok(Err(RpcError::Transport(why))) => {
                self.inner.lose(link.generation, &why).await;
                Err(CallError::Unavailable(why))
            }
            Err(_) => {
                let why = format!("no reply within {} s", limit.as_secs());
                self.inner.lose(link.generation, &why).await;
                Err(CallError::Unavailable(why))
            }
        }
    }
}

impl Inner {
    /// The current link, or a new one; see the module doc for who attempts and who waits.
    async fn link(self: &Arc<Self>, arrival: u64) -> Result<Link, String> {
        let mut state = self.state.lock().await;
        if let Some(link) = &state.link {
            return Ok(link.clone());
        }
        if state.last_failed_attempt > arrival {
            return Err(
                "the daemon could not be reached (a connection attempt just failed)".to_owned(),
            );
        }
        let result = timeout(self.attempt_timeout(), self.establish()).await;
        let attempt = self.attempts_ended.fetch_add(1, Ordering::SeqCst) + 1;
        match result {
            Ok(Ok(link)) => {
                state.link = Some(link.clone());
                Ok(link)
            }
            Ok(Err(why)) => {
                state.last_failed_attempt = attempt;
                Err(why)
            }
            Err(_) => {
                state.last_failed_attempt = attempt;
                Err("connecting to the daemon timed out".to_owned())
            }
        }
    }

    fn attempt_timeout(&self) -> Duration {
        self.config.start_timeout + self.config.request_timeout
    }

    async fn establish(self: &Arc<Self>) -> Result<Link, String> {
        let socket = self.config.socket.clone()?;
        let stream = match UnixStream::connect(&socket).await {
            Ok(stream) => stream,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                let binary = self.config.broker_bin.clone()?;
                spawn::start_daemon(&binary, &socket, self.config.start_timeout).await?
            }
            Err(e) => return Err(format!("cannot connect to {}: {e}", socket.display())),
        };
        let (mut sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP/2 handshake with the daemon failed: {e}"))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("daemon connection ended: {e}");
            }
        });
        let limit = self.config.request_timeout;
        let events = timeout(limit, subscribe(&mut sender))
            .await
            .map_err(|_| "the daemon did not answer GET /v1/events".to_owned())??;
        let hello = match timeout(limit, rpc(&mut sender, message::hello_request())).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(RpcError::Transport(why) | RpcError::Unexpected(why))) => {
                return Err(format!("hello failed: {why}"));
            }
            Ok(Err(RpcError::TooLarge)) => return Err("hello reply too large".to_owned()),
            Err(_) => return Err("the daemon did not answer hello".to_owned()),
        };
        let instance = message::hello_instance(&hello)?;
        let generation = self.generations.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::info!("connected to the broker daemon");
        // Queued before the event relay starts, so the browser sees it before any push.
        let _ = self.pushes.send(message::broker_connected(&instance)).await;
        tokio::spawn(relay_events(Arc::clone(self), generation, events));
        Ok(Link { generation, sender })
    }

    /// Drops the link of `generation` (if still current) and pushes `broker_disconnected` once.
    async fn lose(&self, generation: u64, why: &str) {
        let mut state = self.state.lock().await;
        if state
            .link
            .as_ref()
            .is_some_and(|l| l.generation == generation)
        {
            state.link = None;
            tracing::warn!("lost the broker daemon: {why}");
            // Sent under the lock so a reconnect's `broker_connected` cannot overtake it.
            let _ = self.pushes.send(message::broker_disconnected()).await;
        }
    }
}

async fn rpc(sender: &mut Sender, body: Bytes) -> Result<Bytes, RpcError> {
    let request = Request::post(RPC_URI)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .map_err(|e| RpcError::Unexpected(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| RpcError::Transport(e.to_string()))?;
    let status = response.status();
    let collected = Limited::new(response.into_body(), MAX_FRAME_LEN + 1)
        .collect()
        .await;
    let reply = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(RpcError::TooLarge),
        Err(e) => return Err(RpcError::Transport(e.to_string())),
    };
    if reply.len() > MAX_FRAME_LEN {
        return Err(RpcError::TooLarge);
    }
    // `/v1/rpc` answers 200 with the reply, errors included; relay any other status's body only
    // if it is a reply object.
    if status != StatusCode::OK && !message::is_json_object(&reply) {
        return Err(RpcError::Unexpected(format!(
            "POST /v1/rpc answered HTTP {status}"
        )));
    }
    Ok(reply)
}

async fn subscribe(sender: &mut Sender) -> Result<Incoming, String> {
    let request = Request::get(EVENTS_URI)
        .header(ACCEPT, "text/event-stream")
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("GET /v1/events failed: {e}"))?;
    if response.status() != StatusCode::OK {
        return Err(format!(
            "GET /v1/events answered HTTP {}",
            response.status()
        ));
    }
    Ok(response.into_body())
}

/// Relays every event of `body` as a push until the stream ends, then drops the link.
async fn relay_events(inner: Arc<Inner>, generation: u64, mut body: Incoming) {
    let mut parser = SseParser::new();
    let why = loop {
        match body.frame().await {
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                for event in parser.feed(&data) {
                    if event.len() > MAX_FRAME_LEN {
                        tracing::warn!(len = event.len(), "dropped an oversized daemon event");
                        continue;
                    }
                    // An event shaped like a reply (`id`) must not reach the browser, which
                    // would take it for the answer to one of its requests.
                    if let Err(problem) = message::check_push(&event) {
                        tracing::warn!(
                            len = event.len(),
                            problem = problem.as_str(),
                            "dropped a daemon event that is not a push"
                        );
                        continue;
                    }
                    if inner.pushes.send(event).await.is_err() {
                        return;
                    }
                }
            }
            Some(Err(e)) => break format!("event stream failed: {e}"),
            None => break "event stream ended".to_owned(),
        }
    };
    inner.lose(generation, &why).await;
}
