//! Shared helpers for the daemon tests: start the real `persite serve` in a private temp
//! environment and talk HTTP to it over its real Unix socket (client: `hyper` + `hyper-util`).

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::UnixStream;

/// Upper bound for any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(20);

/// A `[tor]` section that keeps the daemon away from any tor.
pub const NO_TOR: &str = "[tor]\nmode = \"system\"\ncontrol = \"none\"\n";

/// A private HOME, config dir and runtime dir for one test.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("persite-daemon-test-")
            .tempdir()
            .expect("temp dir");
        let env = Self { dir };
        // Tests not about tor must not start one (the default `auto` mode would).
        env.write_config(NO_TOR);
        env
    }

    pub fn runtime_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime_dir().join("broker.sock")
    }

    pub fn config_home(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// Writes `$XDG_CONFIG_HOME/persite/config.toml`.
    pub fn write_config(&self, text: &str) {
        let dir = self.config_home().join("persite");
        std::fs::create_dir_all(&dir).expect("config dir");
        std::fs::write(dir.join("config.toml"), text).expect("config file");
    }

    /// `persite <args>` with this environment, stdio as given.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_persite"));
        cmd.args(args)
            .env("PERSITE_RUNTIME_DIR", self.runtime_dir())
            .env("XDG_CONFIG_HOME", self.config_home())
            .env("HOME", self.dir.path().join("home"))
            .env("PERSITE_LOG", "debug")
            .stdin(Stdio::null());
        cmd
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
        let log = self
            .dir
            .path()
            .join(format!("stderr-{}.log", fastrand_suffix()));
        let stderr = std::fs::File::create(&log).expect("log file");
        let child = self
            .command(args)
            .env("PERSITE_LOG", level)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn persite");
        Daemon {
            child: Some(child),
            log,
        }
    }
}

fn fastrand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A running `persite` process, killed (SIGKILL) on drop if still alive.
pub struct Daemon {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("child").id()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `socket` accepts connections, failing the test if the process exits first.
    pub fn wait_ready(&self, socket: &Path) {
        let deadline = Instant::now() + WAIT;
        while std::os::unix::net::UnixStream::connect(socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "daemon did not open {} in {WAIT:?}; stderr:\n{}",
                socket.display(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).expect("pid");
        rustix::process::kill_process(pid, signal).expect("kill");
    }

    /// Waits (bounded) for the process to exit and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("child");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "process did not exit in {WAIT:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().expect("child").try_wait(), Ok(None))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
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
