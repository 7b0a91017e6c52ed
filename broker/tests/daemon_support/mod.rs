//! Shared helpers for the daemon tests: start the real `persite serve` in a private temp
//! environment and talk HTTP to it over its real Unix socket (client: `hyper` + `hyper-util`).

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::ops::Deref;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use persite_test_support::{Spawned, StopBy, UserEnv};
use serde_json::Value;
use tokio::net::UnixStream;

pub use persite_test_support::NO_TOR;

/// Upper bound for any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(20);

/// A private HOME, config, data and runtime directory for one test (a
/// [`persite_test_support::UserEnv`] whose config keeps the daemon away from tor).
pub struct Env {
    user: UserEnv,
}

impl Deref for Env {
    type Target = UserEnv;

    fn deref(&self) -> &UserEnv {
        &self.user
    }
}

impl Env {
    pub fn new() -> Self {
        let user = UserEnv::new("persite-daemon-test-");
        // Tests not about tor must not start one (the default `auto` mode would).
        user.write_config(NO_TOR);
        Self { user }
    }

    /// `persite <args>` with this environment; the caller chooses stdout and stderr.
    pub fn command(&self, args: &[&str]) -> Command {
        self.user
            .command(Path::new(env!("CARGO_BIN_EXE_persite")), args)
    }

    /// Starts `persite serve` and waits until its socket answers.
    pub fn start(&self) -> Daemon {
        let daemon = self.spawn(&["serve"]);
        daemon.wait_ready(&self.socket());
        daemon
    }

    /// Starts `persite <args>` without waiting; stderr goes to a file for diagnostics.
    pub fn spawn(&self, args: &[&str]) -> Daemon {
        self.spawn_logging(args, "debug")
    }

    /// As [`Env::spawn`] with `PERSITE_LOG=level`.
    pub fn spawn_logging(&self, args: &[&str], level: &str) -> Daemon {
        let mut cmd = self.command(args);
        cmd.env("PERSITE_LOG", level);
        // SIGKILL on drop: some tests leave the daemon stopped (SIGSTOP) or half-dead.
        Daemon {
            process: self.user.spawn(cmd, StopBy::Kill),
        }
    }
}

/// A running `persite` process, killed (SIGKILL) on drop if still alive.
pub struct Daemon {
    process: Spawned,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn stderr(&self) -> String {
        self.process.log()
    }

    /// Waits until `socket` accepts connections, failing the test if the process exits first.
    pub fn wait_ready(&self, socket: &Path) {
        let deadline = std::time::Instant::now() + WAIT;
        while std::os::unix::net::UnixStream::connect(socket).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "daemon did not open {} in {WAIT:?}; stderr:\n{}",
                socket.display(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: rustix::process::Signal) {
        self.process.signal(signal);
    }

    /// Waits (bounded) for the process to exit and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        self.process.wait_exit(WAIT).unwrap_or_else(|| {
            panic!(
                "process did not exit in {WAIT:?}; stderr:\n{}",
                self.stderr()
            )
        })
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }
}

/// An HTTP/1.1 keep-alive connection to the daemon.
pub struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Client {
    pub async fn connect(socket: &Path) -> Self {
        let stream = tokio::time::timeout(WAIT, UnixStream::connect(socket))
            .await
            .expect("connect timeout")
            .expect("connect");
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        Self { sender }
    }

    /// Sends a request and returns the response head with its streaming body.
    pub async fn send(&mut self, method: &str, path: &str, body: Vec<u8>) -> Response<Incoming> {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "persite")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        tokio::time::timeout(WAIT, async {
            self.sender.ready().await.expect("connection ready");
            self.sender.send_request(req).await.expect("send")
        })
        .await
        .expect("response timeout")
    }

    /// Sends a request and reads the whole JSON answer.
    pub async fn call(&mut self, method: &str, path: &str, body: &[u8]) -> (StatusCode, Value) {
        let resp = self.send(method, path, body.to_vec()).await;
        let status = resp.status();
        let bytes = tokio::time::timeout(WAIT, resp.into_body().collect())
            .await
            .expect("body timeout")
            .expect("body")
            .to_bytes();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        (status, json)
    }

    /// `POST /v1/rpc` with `request`, asserting status 200.
    pub async fn rpc(&mut self, request: Value) -> Value {
        let (status, reply) = self
            .call("POST", "/v1/rpc", request.to_string().as_bytes())
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        reply
    }
}

/// An HTTP/2 prior-knowledge (h2c) connection to the daemon.
pub async fn connect_h2(socket: &Path) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let stream = UnixStream::connect(socket).await.expect("connect");
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    sender
}

/// Reads SSE `data:` payloads from a `GET /v1/events` body.
pub struct Events {
    body: Incoming,
    buf: String,
}

impl Events {
    pub async fn subscribe(socket: &Path) -> Self {
        let mut client = Client::connect(socket).await;
        let resp = client.send("GET", "/v1/events", Vec::new()).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let ctype = resp.headers()["content-type"].to_str().expect("ascii");
        assert!(ctype.starts_with("text/event-stream"), "{ctype}");
        // Keep the connection task alive with the body; the client handle may drop.
        Self {
            body: resp.into_body(),
            buf: String::new(),
        }
    }

    /// The next event's data parsed as JSON, or panics after `WAIT`.
    pub async fn next(&mut self) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let event: String = self.buf.drain(..end + 2).collect();
                let data: Vec<&str> = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(|d| d.strip_prefix(' ').unwrap_or(d))
                    .collect();
                if data.is_empty() {
                    continue; // keep-alive comment
                }
                return serde_json::from_str(&data.join("\n")).expect("event JSON");
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .expect("no event within the wait")
                .expect("stream ended")
                .expect("stream error");
            if let Ok(data) = frame.into_data() {
                self.buf
                    .push_str(std::str::from_utf8(&data).expect("utf-8"));
            }
        }
    }

    /// The next push for which `wanted` holds (others are skipped), or panics after `WAIT`.
    pub async fn next_matching(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let push = tokio::time::timeout_at(deadline, self.next())
                .await
                .expect("no matching event within the wait");
            if wanted(&push) {
                return push;
            }
        }
    }
}
