//! The loopback web server the exits connect to: answers every request with a body naming the
//! server's random nonce, the `Host` header and the path, and records each request.
//!
//! Built on axum (already a dependency of the harness) in its own thread and runtime, so the
//! synchronous network code and any test runtime can use it alike.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::IntoResponse;
use tokio::sync::oneshot;

/// One request the origin served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginRequest {
    /// The `Host` header as sent (e.g. `site-a.test:12345`).
    pub host: String,
    /// Request path.
    pub path: String,
    /// The connecting peer (an exit relay's outgoing socket).
    pub peer: SocketAddr,
}

#[derive(Debug, Clone)]
struct Shared {
    nonce: String,
    requests: Arc<Mutex<Vec<OriginRequest>>>,
}

/// A running origin server; stops on drop.
#[derive(Debug)]
pub struct LoopbackOrigin {
    addr: SocketAddr,
    shared: Shared,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LoopbackOrigin {
    /// Binds 127.0.0.1 on a random port and starts serving.
    pub fn start() -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let nonce = format!(
            "{:016x}",
            std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), addr)
        );
        let shared = Shared {
            nonce,
            requests: Arc::new(Mutex::new(Vec::new())),
        };
        let (tx, rx) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let app = Router::new().fallback(respond).with_state(shared.clone());
        let thread = std::thread::Builder::new()
            .name("tornet-origin".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let service = app.into_make_service_with_connect_info::<SocketAddr>();
                    let _ = axum::serve(listener, service)
                        .with_graceful_shutdown(async move {
                            let _ = rx.await;
                        })
                        .await;
                });
            })?;
        Ok(Self {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The listening address (127.0.0.1:port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listening port; use it with any hostname, e.g. `site-a.test:<port>`.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The random nonce every response body carries.
    pub fn nonce(&self) -> &str {
        &self.shared.nonce
    }

    /// The exact body this origin serves for `host_header` and `path`.
    pub fn expected_body(&self, host_header: &str, path: &str) -> String {
        body(&self.shared.nonce, host_header, path)
    }

    /// Every request served so far, oldest first.
    pub fn requests(&self) -> Vec<OriginRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for LoopbackOrigin {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn body(nonce: &str, host: &str, path: &str) -> String {
    format!("persite-tornet origin={nonce} host={host} path={path}\n")
}

async fn respond(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> impl IntoResponse {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let path = uri.path().to_owned();
    let text = body(&shared.nonce, &host, &path);
    shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(OriginRequest { host, path, peer });
    ([(header::CACHE_CONTROL, "no-store")], text)
}
