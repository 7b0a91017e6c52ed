//! A fault-injecting stand-in for the broker daemon (`persite serve`) on its Unix socket.
//!
//! It speaks what the real native host uses of the daemon's API (`docs/protocol.md` §3): HTTP/2
//! with prior knowledge, `POST /v1/rpc` and a long-lived `GET /v1/events`. `hello` and `status`
//! are answered correctly; `credentials` requests are answered according to the current
//! [`FakeMode`], which a test switches at run time. The native host and the extension in front
//! of it are the real ones: this is a fault injector, so here a fake is the point.
//!
//! Hand-written on hyper's HTTP/2 server because the faults (late, unparsable, mismatched
//! replies) are exactly what a real implementation must never produce.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context as _;
use http_body_util::{BodyExt, Full, channel::Channel};
use hyper::body::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use persite_protocol as wire;
use serde_json::{Value, json};
use tokio::net::UnixListener;
use tokio::task::JoinHandle;

/// How the fake answers `credentials` requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeMode {
    /// Well-formed per-site credentials at once.
    Honest,
    /// Well-formed per-site credentials after this delay.
    Slow(Duration),
    /// HTTP 200 whose body is not JSON at all.
    GarbageBody,
    /// A reply object whose credentials break the rules (empty username, `<` prefix).
    MalformedCredentials,
    /// A well-formed reply carrying another request's `id` (so it matches nothing).
    WrongId,
    /// The complete result issued earlier for another site (site name included), under this
    /// request's `id`: a broker mixing up two sites' answers.
    OtherSitesCredentials,
}

/// Credentials the fake issued, keyed by `"<request host> <container>"`.
pub type Issued = BTreeMap<String, (String, String)>;

#[derive(Debug)]
struct FakeState {
    mode: FakeMode,
    socks_port: u16,
    instance: String,
    issued: Issued,
    /// Results in the order they were first issued (for [`FakeMode::OtherSitesCredentials`]).
    history: Vec<Value>,
    credentials_requests: usize,
    /// The tor status `status` answers (no control port unless set).
    tor: wire::TorStatus,
    /// The `circuits` list every `circuit` answer carries (for the requested site), or `None`:
    /// `circuit` is then an unknown request type, as from an old broker.
    circuits: Option<Value>,
    /// Open event streams; kept so the bodies stay open.
    events: Vec<http_body_util::channel::Sender<Bytes>>,
}

/// A running fake daemon; stops (and removes its socket) on drop.
#[derive(Debug)]
pub struct FakeBroker {
    socket: PathBuf,
    state: Arc<Mutex<FakeState>>,
    task: JoinHandle<()>,
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

impl FakeBroker {
    /// Listen on `<runtime_dir>/broker.sock`, telling clients the SOCKS port `socks_port`.
    pub async fn start(
        runtime_dir: &Path,
        socks_port: u16,
        mode: FakeMode,
    ) -> anyhow::Result<Self> {
        let socket = runtime_dir.join("broker.sock");
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket)
            .with_context(|| format!("binding the fake broker on {}", socket.display()))?;
        let state = Arc::new(Mutex::new(FakeState {
            mode,
            socks_port,
            instance: format!("fake-{}", std::process::id()),
            issued: Issued::new(),
            history: Vec::new(),
            credentials_requests: 0,
            tor: wire::TorStatus {
                control: wire::ControlState::None,
                managed: false,
                version: None,
                bootstrap: None,
                socks_listeners: None,
                error: None,
                socks_vouched: false,
                socks_problem: None,
            },
            circuits: None,
            events: Vec::new(),
        }));
        let accept_state = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&accept_state);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, std::convert::Infallible>(handle(state, request).await) }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            socket,
            state,
            task,
        })
    }

    fn state(&self) -> MutexGuard<'_, FakeState> {
        lock(&self.state)
    }

    /// Switch how `credentials` requests are answered from now on.
    pub fn set_mode(&self, mode: FakeMode) {
        self.state().mode = mode;
    }

    /// The tor status `status` answers from now on.
    pub fn set_tor(&self, tor: wire::TorStatus) {
        self.state().tor = tor;
    }

    /// From now on `circuit` answers carry `circuits` (the protocol's list, §2.4) for whatever
    /// site is asked: a display as tor would report it, e.g. a conflux set.
    pub fn set_circuits(&self, circuits: Value) {
        self.state().circuits = Some(circuits);
    }

    /// The credentials issued so far, per request host.
    pub fn issued(&self) -> Issued {
        self.state().issued.clone()
    }

    /// How many `credentials` requests arrived.
    pub fn credentials_requests(&self) -> usize {
        self.state().credentials_requests
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.task.abort();
        self.state().events.clear();
        let _ = std::fs::remove_file(&self.socket);
    }
}

fn lock(state: &Mutex<FakeState>) -> MutexGuard<'_, FakeState> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn handle(state: Arc<Mutex<FakeState>>, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_owned();
    if path == "/v1/events" {
        let (sender, body) = Channel::<Bytes>::new(16);
        lock(&state).events.push(sender);
        return Response::builder()
            .header("content-type", "text/event-stream")
            .body(body.boxed())
            .unwrap_or_else(|_| Response::new(full("")));
    }
    if path != "/v1/rpc" {
        let mut response = Response::new(full("not found"));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    }
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Response::new(full("")),
    };
    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let kind = message.get("type").and_then(Value::as_str).unwrap_or("");
    let reply = match kind {
        "hello" => {
            let state = lock(&state);
            let result = wire::HelloResult {
                protocol: wire::limits::PROTOCOL_VERSION,
                broker_version: "0.0.0-fake".into(),
                instance: state.instance.clone(),
                socks: socks(state.socks_port),
            };
            json!({"id": id, "result": result})
        }
        "status" => {
            let state = lock(&state);
            let result = wire::StatusResult {
                broker_version: "0.0.0-fake".into(),
                instance: state.instance.clone(),
                uptime_s: 0,
                sites: state.issued.len() as u64,
                epoch: 0,
                socks: socks(state.socks_port),
                tor: state.tor.clone(),
                front: None,
                apps: Vec::new(),
            };
            json!({"id": id, "result": result})
        }
        "credentials" => return credentials(&state, id, &message).await,
        "circuit" if lock(&state).circuits.is_some() => {
            let (site, container) = site_and_container(&message);
            let circuits = lock(&state).circuits.clone();
            json!({"id": id, "result": {
                "site": site, "container": container, "available": true, "reason": null,
                "onion": false, "circuits": circuits, "bytes": {"read": 1_234_567, "written": 8_910},
            }})
        }
        _ => {
            json!({"id": id, "error": wire::ErrorBody::new(wire::ErrorCode::UnknownType, "fake broker")})
        }
    };
    Response::new(full(reply.to_string()))
}

/// The SOCKS endpoint a fake answer names.
fn socks(port: u16) -> wire::SocksEndpoint {
    wire::SocksEndpoint {
        host: "127.0.0.1".into(),
        port,
    }
}

/// The host of a request's `url` (the fake's site) and its container.
fn site_and_container(message: &Value) -> (String, String) {
    let url = message.get("url").and_then(Value::as_str).unwrap_or("");
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "--unknown--".to_owned());
    let container = message
        .get("container")
        .and_then(Value::as_str)
        .unwrap_or("firefox-default")
        .to_owned();
    (host, container)
}

async fn credentials(state: &Arc<Mutex<FakeState>>, id: Value, message: &Value) -> Response<Body> {
    let (host, container) = site_and_container(message);
    let (mode, honest, other) = {
        let mut state = lock(state);
        state.credentials_requests += 1;
        let next = state.issued.len();
        let (username, password) = state
            .issued
            .entry(format!("{host} {container}"))
            .or_insert_with(|| (format!("fake-user-{next}"), format!("fake-pass-{next}")))
            .clone();
        let honest = json!(wire::CredentialsResult {
            site: host,
            container,
            username,
            password,
            expires_at: None,
            per_tab: false,
        });
        if !state.history.contains(&honest) {
            state.history.push(honest.clone());
        }
        let other = state
            .history
            .iter()
            .find(|r| r["site"] != honest["site"] && r["container"] == honest["container"])
            .cloned();
        (state.mode.clone(), honest, other)
    };
    let reply = match mode {
        FakeMode::Honest => json!({"id": id, "result": honest}),
        FakeMode::Slow(delay) => {
            tokio::time::sleep(delay).await;
            json!({"id": id, "result": honest})
        }
        FakeMode::GarbageBody => return Response::new(full("}{ this is not JSON \u{1}")),
        FakeMode::MalformedCredentials => {
            let mut bad = honest;
            bad["username"] = json!("");
            bad["password"] = json!("<torS0X>0");
            json!({"id": id, "result": bad})
        }
        FakeMode::WrongId => {
            let wrong = id.as_u64().map_or(json!(999_999), |n| json!(n + 1000));
            json!({"id": wrong, "result": honest})
        }
        FakeMode::OtherSitesCredentials => json!({"id": id, "result": other.unwrap_or(honest)}),
    };
    Response::new(full(reply.to_string()))
}
