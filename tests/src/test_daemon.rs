//! A `persite serve` that a test starts itself (rather than leaving it to the native host), in
//! its own temporary config and home directories (a [`persite_test_support::UserEnv`]); stopped
//! (SIGTERM, then SIGKILL after 10 s) on drop. Shared by the suites that drive a real daemon.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

pub use persite_test_support::system_tor_config;
use persite_test_support::{Spawned, StopBy, UserEnv};
use serde_json::Value;

use crate::daemon_http;

/// Longest wait for a started daemon's socket to accept connections.
const START_WAIT: Duration = Duration::from_secs(20);

/// A running `persite serve`; see the module doc.
pub struct TestDaemon {
    env: UserEnv,
    process: Spawned,
}

impl TestDaemon {
    /// Starts `broker` (the `persite` binary) as a daemon with `config` as its `config.toml`, on
    /// `runtime_dir` (a fresh one inside its own directory when `None`), and waits (bounded)
    /// until its socket accepts connections.
    pub fn start(broker: &Path, config: &str, runtime_dir: Option<&Path>) -> Result<Self, String> {
        let mut daemon = Self::spawn(broker, config, runtime_dir)?;
        let socket = daemon.socket();
        daemon
            .process
            .wait_for_socket(&socket, START_WAIT)
            .map_err(|e| format!("persite serve: {e}"))?;
        Ok(daemon)
    }

    /// The daemon's process id.
    pub fn pid(&self) -> Option<u32> {
        Some(self.process.pid())
    }

    /// Like [`Self::start`], without waiting for the socket (for a daemon expected to refuse
    /// its config and exit).
    pub fn spawn(broker: &Path, config: &str, runtime_dir: Option<&Path>) -> Result<Self, String> {
        let env = UserEnv::with_runtime_dir("persite-daemon-", runtime_dir);
        env.write_config(config);
        // SIGTERM on drop (then SIGKILL after 10 s), so the daemon stops a managed tor.
        let process = env.spawn(env.command(broker, &["serve"]), StopBy::Terminate);
        Ok(Self { env, process })
    }

    /// Its exit status, if it exits within `bound` (polled every 20 ms).
    pub fn wait_exit(&mut self, bound: Duration) -> Option<ExitStatus> {
        self.process.wait_exit(bound)
    }

    /// Its runtime directory (`PERSITE_RUNTIME_DIR`).
    pub fn runtime_dir(&self) -> &Path {
        self.env.runtime_dir()
    }

    /// Its API socket.
    pub fn socket(&self) -> PathBuf {
        self.env.socket()
    }

    /// What it logged so far (at debug level).
    pub fn log(&self) -> String {
        self.process.log()
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

/// Starts a daemon (the built `persite`) on the private network's `client` as its system tor
/// (SOCKS and control port), with the SOCKS front on an ephemeral loopback port.
pub fn start_with_front(client: &crate::tornet::TorClient) -> Result<TestDaemon, String> {
    let config = format!(
        "{}\n[front]\nlisten = \"127.0.0.1:0\"\n",
        system_tor_config(
            client.socks_addr().port(),
            &client.control_addr().to_string()
        )
    );
    let binaries = crate::binaries::ensure_built().map_err(|e| format!("{e:#}"))?;
    TestDaemon::start(&binaries.broker, &config, None)
}
