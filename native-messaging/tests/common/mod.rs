//! Test harness: the real `persite-native-host` binary on real pipes, and cleanup of the daemons
//! it starts.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a test waits for any one frame.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(20);

/// The host binary cargo built for these tests.
pub fn host_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_persite-native-host"))
}

/// The real `persite` binary in the same target directory; panics with a clear message when it
/// has not been built.
pub fn broker_bin() -> PathBuf {
    let host = host_bin();
    let dir = host.parent().expect("target dir");
    let bin = dir.join("persite");
    assert!(
        bin.is_file(),
        "the broker binary {} is missing: build it first with `cargo build -p persite`",
        bin.display()
    );
    bin
}

/// One frame as bytes.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_ne_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// A running host with its stdin, its decoded stdout frames and its stderr.
pub struct Host {
    child: Child,
    stdin: Option<ChildStdin>,
    frames: Receiver<Value>,
    pub started: Instant,
}

impl Host {
    /// Starts the host as Firefox does, with `PERSITE_RUNTIME_DIR=runtime_dir` and
    /// `PERSITE_BROKER_BIN=broker_bin`.
    pub fn start(runtime_dir: &Path, broker_bin: &Path) -> Host {
        let mut child = Command::new(host_bin())
            .arg("/nonexistent/persite.json")
            .arg("persite@persite.org")
            .env("PERSITE_RUNTIME_DIR", runtime_dir)
            .env("PERSITE_BROKER_BIN", broker_bin)
            .env("XDG_CONFIG_HOME", runtime_dir)
            .env("PERSITE_LOG", "debug")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start persite-native-host");
        let mut stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            loop {
                let mut len = [0u8; 4];
                if stdout.read_exact(&mut len).is_err() {
                    return;
                }
                let mut body = vec![0u8; u32::from_ne_bytes(len) as usize];
                stdout.read_exact(&mut body).expect("frame body");
                let value: Value = serde_json::from_slice(&body).expect("host wrote JSON");
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        Host {
            stdin: child.stdin.take(),
            child,
            frames: rx,
            started: Instant::now(),
        }
    }

    /// Writes raw bytes to the host's stdin.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write to host");
        stdin.flush().expect("flush");
    }

    /// Writes one JSON message as a frame.
    pub fn send(&mut self, message: &Value) {
        self.send_raw(&frame(message.to_string().as_bytes()));
    }

    /// The next frame the host wrote; panics after [`FRAME_TIMEOUT`].
    pub fn recv(&self) -> Value {
        self.try_recv(FRAME_TIMEOUT)
            .unwrap_or_else(|| panic!("no frame from the host within {FRAME_TIMEOUT:?}"))
    }

    /// The next frame, or `None` when none arrives within `limit` (or stdout closed).
    pub fn try_recv(&self, limit: Duration) -> Option<Value> {
        self.frames.recv_timeout(limit).ok()
    }

    /// The next frame that carries an `id` (a reply), collecting pushes seen on the way
    /// (except tor status pushes, which the daemon sends whenever tor's state changes).
    pub fn recv_reply(&self, pushes: &mut Vec<Value>) -> Value {
        loop {
            let v = self.recv();
            if v.get("id").is_some() {
                return v;
            }
            if v["type"] != "tor_status" {
                pushes.push(v);
            }
        }
    }

    /// Sends a request and waits for the reply with the same id (pushes are collected).
    pub fn call(&mut self, request: &Value, pushes: &mut Vec<Value>) -> Value {
        self.send(request);
        let reply = self.recv_reply(pushes);
        assert_eq!(
            reply["id"], request["id"],
            "reply to another request: {reply}"
        );
        reply
    }

    /// The next push of `type` (skipping others), panicking after [`FRAME_TIMEOUT`].
    pub fn recv_push(&self, kind: &str) -> Value {
        let deadline = Instant::now() + FRAME_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .try_recv(left)
                .unwrap_or_else(|| panic!("no {kind} push from the host within {FRAME_TIMEOUT:?}"));
            if v["type"] == kind {
                return v;
            }
        }
    }

    /// Closes stdin (as Firefox does when the port closes).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the host to exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "host still running after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True while the host process runs.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary runtime directory whose daemon (if any) is killed on drop.
pub struct Runtime {
    pub dir: tempfile::TempDir,
}

impl Runtime {
    /// A fresh private runtime directory.
    pub fn new() -> Runtime {
        let dir = tempfile::Builder::new()
            .prefix("persite-nm-test-")
            .tempdir()
            .expect("tempdir");
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .expect("chmod");
        // The host passes XDG_CONFIG_HOME=<dir> to the daemon it starts: use the SOCKS port
        // only, so no test starts a tor of its own (the default "auto" mode would).
        let config = dir.path().join("persite");
        std::fs::create_dir_all(&config).expect("mkdir");
        std::fs::write(config.join("config.toml"), persite_test_support::NO_TOR)
            .expect("write config");
        Runtime { dir }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The daemon socket inside it.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("broker.sock")
    }

    /// The pid of the process listening on the socket (via `SO_PEERCRED`), if any.
    pub fn daemon_pid(&self) -> Option<i32> {
        let stream = UnixStream::connect(self.socket()).ok()?;
        let cred = rustix::net::sockopt::socket_peercred(&stream).ok()?;
        Some(cred.pid.as_raw_nonzero().get())
    }

    /// SIGKILLs the daemon and waits (bounded) until it is gone.
    pub fn kill_daemon(&self) -> i32 {
        let pid = self.daemon_pid().expect("a daemon listens on the socket");
        kill_and_wait(pid);
        pid
    }
}

fn kill_and_wait(pid: i32) {
    let Some(pid) = rustix::process::Pid::from_raw(pid) else {
        return;
    };
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    let deadline = Instant::now() + Duration::from_secs(5);
    // Gone once signal 0 fails (our own child would linger as a zombie: the host reaps it).
    let stat = format!("/proc/{}/stat", pid.as_raw_nonzero());
    while rustix::process::test_kill_process(pid).is_ok() && Instant::now() < deadline {
        // A zombie is dead already; its parent (the host) reaps it.
        if std::fs::read_to_string(&stat).is_ok_and(|s| s.contains(") Z ")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(pid) = self.daemon_pid() {
            kill_and_wait(pid);
        }
    }
}
