//! Persite in real Firefox on the private Tor network: Firefox with the extension and the native
//! host, whose daemon uses the network client's SocksPort and control port
//! (`mode = "system"`), the fixture server for pages, and a control-port watcher for tor's
//! `STREAM` events. Shared by `e2e_tor` and `tor_policies`, which add their own checks.
//!
//! Firefox's prefs proxy stays the harness's closed port (fail closed): only the extension's
//! per-site answers reach tor.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use serde_json::Value;

use crate::binaries::{self, Binaries};
use crate::control_probe::{ControlProbe, StreamEvent};
use crate::daemon_http;
use crate::firefox::{Firefox, FirefoxConfig};
use crate::fixtures::{FixtureServer, PageSpec};
use crate::test_daemon::system_tor_config;
use crate::tornet::TorClient;

/// One Persite Firefox session on the private network; see the module doc.
pub struct FirefoxOnTor {
    /// The pages the session browses.
    pub fixtures: FixtureServer,
    firefox: Option<Firefox>,
    /// `STREAM` events of the network client, subscribed before the first page load.
    watcher: Mutex<ControlProbe>,
    // Dropped after `firefox`, whose drop kills the daemon living in it.
    runtime_dir: tempfile::TempDir,
}

impl FirefoxOnTor {
    /// Starts Firefox, installs `extension`, and waits (bounded by `tor_wait`) until the daemon
    /// the extension's first message started sees `client` bootstrapped. `extra_config` is
    /// appended to the daemon's `config.toml` (e.g. a `[policy]` section).
    pub async fn start(
        client: &TorClient,
        binaries: &Binaries,
        extension: &Path,
        extra_config: &str,
        tor_wait: Duration,
    ) -> anyhow::Result<Self> {
        Self::start_with(client, binaries, extension, extra_config, tor_wait, false).await
    }

    /// [`Self::start`]; with `default_proxy_is_tor`, Firefox's own proxy is the client's SOCKS
    /// port with remote DNS, as the shipped `user.js` sets it (otherwise it stays the harness's
    /// closed port, which Persite's status reports as a gap).
    pub async fn start_with(
        client: &TorClient,
        binaries: &Binaries,
        extension: &Path,
        extra_config: &str,
        tor_wait: Duration,
        default_proxy_is_tor: bool,
    ) -> anyhow::Result<Self> {
        let fixtures = FixtureServer::start().await?;
        let runtime_dir = tempfile::Builder::new()
            .prefix("persite-rt-tor-")
            .tempdir_in("/tmp")?;
        let config = format!(
            "{}\n{extra_config}",
            system_tor_config(
                client.socks_addr().port(),
                &client.control_addr().to_string()
            )
        );
        let firefox = Firefox::start(FirefoxConfig {
            native_host: Some(binaries.native_host.clone()),
            env: vec![
                (
                    "PERSITE_RUNTIME_DIR".into(),
                    runtime_dir.path().to_string_lossy().into_owned(),
                ),
                (
                    "PERSITE_BROKER_BIN".into(),
                    binaries.broker.to_string_lossy().into_owned(),
                ),
            ],
            home_files: vec![(PathBuf::from(".config/persite/config.toml"), config)],
            static_socks: default_proxy_is_tor.then(|| client.socks_addr()),
            ..FirefoxConfig::default()
        })
        .await?;
        let mut watcher = client
            .control()
            .context("control probe for STREAM events")?;
        watcher.command("SETEVENTS STREAM")?;
        let session = Self {
            fixtures,
            firefox: Some(firefox),
            watcher: Mutex::new(watcher),
            runtime_dir,
        };
        let id = session.ff().install_addon(extension, true).await?;
        ensure!(
            id == binaries::EXTENSION_ID,
            "the extension installed as {id}"
        );
        let socket = session.daemon_socket();
        tokio::task::spawn_blocking(move || daemon_http::wait_on_tor(&socket, tor_wait))
            .await?
            .map_err(anyhow::Error::msg)?;
        Ok(session)
    }

    /// The browser (present until [`Self::shutdown`] consumes the session).
    pub fn ff(&self) -> &Firefox {
        self.firefox.as_ref().expect("firefox lives until shutdown")
    }

    /// Ends the browser session (and with it the daemon it started).
    pub async fn shutdown(mut self) {
        if let Some(ff) = self.firefox.take() {
            ff.shutdown().await;
        }
    }

    /// Context for a failure: the tail of geckodriver's log (Firefox's and the extension's
    /// console).
    pub fn log_tail(&self, lines: usize) -> String {
        format!(
            "geckodriver log tail:\n{}",
            self.firefox
                .as_ref()
                .map(|ff| ff.log_tail(lines))
                .unwrap_or_default()
        )
    }

    /// The socket of the daemon the native host started.
    pub fn daemon_socket(&self) -> PathBuf {
        self.runtime_dir.path().join("broker.sock")
    }

    /// `POST /v1/rpc` to that daemon; the reply's `result`.
    pub fn rpc(&self, request: Value) -> anyhow::Result<Value> {
        daemon_http::rpc(&self.daemon_socket(), &request).map_err(anyhow::Error::msg)
    }

    /// The `STREAM` watcher, for waits of a suite's own.
    pub fn watcher(&self) -> MutexGuard<'_, ControlProbe> {
        self.watcher.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stream events until `quiet` passes without one (bounded by `bound`): the streams of the
    /// load that just finished, late ones included.
    pub fn drain_streams(
        &self,
        quiet: Duration,
        bound: Duration,
    ) -> anyhow::Result<Vec<StreamEvent>> {
        let mut watcher = self.watcher();
        let mut all = Vec::new();
        let started = Instant::now();
        loop {
            let batch = watcher.collect_stream_events(quiet, |_| false)?;
            if batch.is_empty() || started.elapsed() > bound {
                return Ok(all);
            }
            all.extend(batch);
        }
    }

    /// A page of `site` (on the fixture server's port) with images, a script and a `fetch`
    /// from `third_party`, each `repeat` times (at least once).
    pub fn page_url(&self, site: &str, third_party: &str, repeat: usize) -> String {
        let port = self.fixtures.addr().port();
        let third = format!("{third_party}:{port}");
        PageSpec {
            images: vec![third.clone()],
            scripts: vec![third.clone()],
            fetches: vec![third],
            repeat,
            ..PageSpec::default()
        }
        .url(&format!("{site}:{port}"))
    }
}
