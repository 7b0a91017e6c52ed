//! A small client for the daemon's REST routes, used by `persite status` and other tools.
//!
//! One HTTP/1.1 request per connection with `hyper` over the Unix socket; every step is bounded
//! by a timeout so a wedged daemon cannot hang a command line.

use std::path::Path;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::UnixStream;

/// How long one request may take in total.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a request to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing accepts connections on the socket.
    #[error("no persite daemon answers on {socket}: {source}")]
    NotRunning {
        /// The socket tried.
        socket: String,
        /// Why connecting failed.
        source: std::io::Error,
    },
    /// The daemon did not answer in time.
    #[error("the persite daemon did not answer within {0:?}")]
    Timeout(Duration),
    /// The HTTP exchange failed.
    #[error("talking to the persite daemon failed: {0}")]
    Http(String),
    /// The answer was not JSON.
    #[error("the persite daemon's answer is not JSON: {0}")]
    NotJson(serde_json::Error),
}

/// Sends `method path` with `body` and returns the status code and the JSON answer.
pub async fn request(
    socket: &Path,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<(u16, Value), ClientError> {
    tokio::time::timeout(
        REQUEST_TIMEOUT,
        request_unbounded(socket, method, path, body),
    )
    .await
    .map_err(|_| ClientError::Timeout(REQUEST_TIMEOUT))?
}

async fn request_unbounded(
    socket: &Path,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<(u16, Value), ClientError> {
    let http = |e: &dyn std::fmt::Display| ClientError::Http(e.to_string());
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|source| ClientError::NotRunning {
            socket: socket.display().to_string(),
            source,
        })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| http(&e))?;
    let conn = tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "persite")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| http(&e))?;
    let resp = sender.send_request(req).await.map_err(|e| http(&e))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| http(&e))?
        .to_bytes();
    conn.abort();
    let json = serde_json::from_slice(&bytes).map_err(ClientError::NotJson)?;
    Ok((status, json))
}
