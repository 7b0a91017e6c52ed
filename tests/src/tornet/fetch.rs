//! HTTP/1.1 GET through a SOCKS5 proxy (tor's SocksPort), with optional RFC 1929 credentials.
//!
//! SOCKS via `tokio-socks`, HTTP via `hyper`'s connection API; the socket is connected first so
//! its local address (tor's `SOURCE_ADDR` for the stream) is known for joining control events.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio_socks::tcp::Socks5Stream;

/// The outcome of one fetch.
#[derive(Debug, Clone)]
pub struct SocksFetch {
    /// HTTP status code.
    pub status: u16,
    /// Response body (lossy UTF-8).
    pub body: String,
    /// Local address of the connection to the SocksPort (`SOURCE_ADDR` in tor's stream events).
    pub source_addr: SocketAddr,
}

/// SOCKS5 username/password for one fetch.
#[derive(Debug, Clone, Copy)]
pub struct SocksAuth<'a> {
    /// RFC 1929 username.
    pub username: &'a str,
    /// RFC 1929 password.
    pub password: &'a str,
}

/// Fetches `http://{host}:{port}{path}` through `socks`, failing after `timeout`.
pub async fn http_get_via_socks(
    socks: SocketAddr,
    host: &str,
    port: u16,
    path: &str,
    auth: Option<SocksAuth<'_>>,
    timeout: Duration,
) -> Result<SocksFetch, String> {
    tokio::time::timeout(timeout, fetch(socks, host, port, path, auth))
        .await
        .map_err(|_| {
            format!("fetching http://{host}:{port}{path} via {socks} timed out after {timeout:?}")
        })?
}

/// Blocking wrapper around [`http_get_via_socks`]; runs its own runtime on a fresh thread, so it
/// may be called from inside or outside an async runtime.
pub fn http_get_via_socks_blocking(
    socks: SocketAddr,
    host: &str,
    port: u16,
    path: &str,
    auth: Option<SocksAuth<'_>>,
    timeout: Duration,
) -> Result<SocksFetch, String> {
    let (host, path) = (host.to_owned(), path.to_owned());
    let auth = auth.map(|a| (a.username.to_owned(), a.password.to_owned()));
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                let auth = auth.as_ref().map(|(u, p)| SocksAuth {
                    username: u,
                    password: p,
                });
                runtime.block_on(http_get_via_socks(socks, &host, port, &path, auth, timeout))
            })
            .join()
            .map_err(|_| "fetch thread panicked".to_owned())?
    })
}

async fn fetch(
    socks: SocketAddr,
    host: &str,
    port: u16,
    path: &str,
    auth: Option<SocksAuth<'_>>,
) -> Result<SocksFetch, String> {
    let socket = tokio::net::TcpStream::connect(socks)
        .await
        .map_err(|e| format!("connect {socks}: {e}"))?;
    let source_addr = socket.local_addr().map_err(|e| e.to_string())?;
    let target = (host, port);
    let stream = match auth {
        Some(a) => {
            Socks5Stream::connect_with_password_and_socket(socket, target, a.username, a.password)
                .await
        }
        None => Socks5Stream::connect_with_socket(socket, target).await,
    }
    .map_err(|e| format!("SOCKS CONNECT {host}:{port} via {socks}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, format!("{host}:{port}"))
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("HTTP request: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("HTTP body: {e}"))?
        .to_bytes();
    driver.abort();
    Ok(SocksFetch {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        source_addr,
    })
}
