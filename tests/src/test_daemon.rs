//! A `persite serve` that a test starts itself (rather than leaving it to the native host), in
//! its own temporary config and home directories, with its stderr in `daemon.log`; stopped
//! (SIGTERM, then SIGKILL after 10 s) on drop. Shared by the suites that drive a real daemon.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::daemon_http;

/// Longest wait for a started daemon's socket to accept connections.
const START_WAIT: Duration = Duration::from_secs(20);

/// A running `persite serve`; see the module doc.
pub struct TestDaemon {
    dir: tempfile::TempDir,
    runtime_dir: PathBuf,
    child: Option<Child>,
}

impl TestDaemon {
    /// Starts `broker` (the `persite` binary) as a daemon with `config` as its `config.toml`, on
    /// `runtime_dir` (a fresh one inside its own directory when `None`), and waits (bounded)
    /// until its socket accepts connections.
    pub fn start(broker: &Path, config: &str, runtime_dir: Option<&Path>) -> Result<Self, String> {
        let mut daemon = Self::spawn(broker, config, runtime_dir)?;
        let deadline = Instant::now() + START_WAIT;
        while UnixStream::connect(daemon.socket()).is_err() {
            if let Some(status) = daemon.wait_exit(Duration::ZERO) {
                return Err(format!("daemon exited ({status}):\n{}", daemon.log()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "daemon did not start within {START_WAIT:?}:\n{}",
                    daemon.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(daemon)
    }

    /// The daemon's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Like [`Self::start`], without waiting for the socket (for a daemon expected to refuse
    /// its config and exit).
    pub fn spawn(broker: &Path, config: &str, runtime_dir: Option<&Path>) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("persite-daemon-")
            .tempdir_in("/tmp")
            .map_err(|e| e.to_string())?;
        let runtime_dir = runtime_dir.map_or_else(|| dir.path().join("run"), Path::to_path_buf);
        let config_dir = dir.path().join("config").join("persite");
        std::fs::create_dir_all(&config_dir).map_err(|e| e.to_string())?;
        std::fs::write(config_dir.join("config.toml"), config).map_err(|e| e.to_string())?;
        let log =
            std::fs::File::create(dir.path().join("daemon.log")).map_err(|e| e.to_string())?;
        let child = Command::new(broker)
            .arg("serve")
            .env("PERSITE_RUNTIME_DIR", &runtime_dir)
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("HOME", dir.path().join("home"))
            .env("PERSITE_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting persite serve: {e}"))?;
        Ok(Self {
            dir,
            runtime_dir,
            child: Some(child),
        })
    }

    /// Its exit status, if it exits within `bound` (polled every 50 ms).
    pub fn wait_exit(&mut self, bound: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + bound;
        let child = self.child.as_mut()?;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => return None,
            }
        }
    }

    /// Its runtime directory (`PERSITE_RUNTIME_DIR`).
    pub fn runtime_dir(&self) -> &Path {
        &self.runtime_dir
    }

    /// Its API socket.
    pub fn socket(&self) -> PathBuf {
        self.runtime_dir.join("broker.sock")
    }

    /// What it logged so far (at debug level).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// `POST /v1/rpc`; the whole reply object (`result` or `error`).
    pub fn rpc_reply(&self, request: &Value) -> Result<Value, String> {
        daemon_http::request(&self.socket(), "POST", "/v1/rpc", &request.to_string())
    }

    /// `POST /v1/rpc`; the reply's `result`, or the error as text.
    pub fn rpc(&self, request: Value) -> Result<Value, String> {
        daemon_http::rpc(&self.socket(), &request)
    }

    /// Waits (bounded by `bound`) until the daemon reports tor's control port connected and
    /// bootstrapped.
    pub fn wait_on_tor(&self, bound: Duration) -> Result<(), String> {
        daemon_http::wait_on_tor(&self.socket(), bound).map_err(|e| format!("{e}\n{}", self.log()))
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_child(child);
        }
    }
}

/// SIGTERM, up to 10 s to exit, then SIGKILL.
pub fn stop_child(mut child: Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The `[socks]` and `[tor]` sections of a daemon config for a system tor: SOCKS on
/// `127.0.0.1:socks_port`, control port `control` (`"none"`, `unix:/…` or `host:port`).
pub fn system_tor_config(socks_port: u16, control: &str) -> String {
    format!(
        "[socks]\nhost = \"127.0.0.1\"\nport = {socks_port}\n\n[tor]\nmode = \"system\"\ncontrol = \"{control}\"\n"
    )
}
