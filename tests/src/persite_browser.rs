//! Firefox with the Persite extension, its native host manifest and a per-session daemon
//! runtime directory: the set-up of every real-Firefox suite that runs the whole Persite chain
//! against the recording SOCKS server (`e2e_firefox`, `e2e_attribution`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::ensure;
use serde_json::Value;

use crate::binaries::{self, Binaries};
use crate::firefox::{Firefox, FirefoxConfig};
use crate::test_daemon::system_tor_config;

/// Firefox with Persite; dropping it kills Firefox and the daemon its native host started.
pub struct PersiteBrowser {
    /// The browser session.
    pub firefox: Firefox,
    // Dropped after `firefox`, whose drop kills the daemon living in it.
    _runtime_dir: tempfile::TempDir,
}

/// A fresh runtime directory for a daemon (short path under /tmp: it holds a Unix socket).
pub fn new_runtime_dir() -> anyhow::Result<tempfile::TempDir> {
    Ok(tempfile::Builder::new()
        .prefix("persite-rt-")
        .tempdir_in("/tmp")?)
}

/// What a session needs besides the defaults.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Prefs applied after the harness's.
    pub prefs: serde_json::Map<String, Value>,
    /// Install the extension allowed in private windows (the default).
    pub allow_private: bool,
    /// Firefox's own (prefs) proxy; `None` keeps the harness's closed port.
    pub default_proxy: Option<SocketAddr>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            prefs: serde_json::Map::new(),
            allow_private: true,
            default_proxy: None,
        }
    }
}

impl PersiteBrowser {
    /// Starts Firefox with the extension installed and a native host whose daemon runs in
    /// `runtime_dir` (started by the host unless one already runs there) and sends every
    /// stream to the SOCKS server on `socks_port`. `control = "none"` keeps the daemon away
    /// from any system tor (these suites test the browser side).
    pub async fn start_in(
        binaries: &Binaries,
        socks_port: u16,
        runtime_dir: tempfile::TempDir,
        setup: Setup,
    ) -> anyhow::Result<Self> {
        let extension = binaries::extension_dir()?;
        let runtime = runtime_dir.path().to_string_lossy().into_owned();
        let config_file = PathBuf::from(".config/persite/config.toml");
        let firefox = Firefox::start(FirefoxConfig {
            native_host: Some(binaries.native_host.clone()),
            env: vec![
                ("PERSITE_RUNTIME_DIR".into(), runtime),
                (
                    "PERSITE_BROKER_BIN".into(),
                    binaries.broker.to_string_lossy().into_owned(),
                ),
            ],
            home_files: vec![(config_file, system_tor_config(socks_port, "none"))],
            prefs: setup.prefs,
            static_socks: setup.default_proxy,
            profile: None,
        })
        .await?;
        let id = firefox
            .install_addon(&extension, setup.allow_private)
            .await?;
        ensure!(
            id == binaries::EXTENSION_ID,
            "the extension installed as {id}"
        );
        Ok(Self {
            firefox,
            _runtime_dir: runtime_dir,
        })
    }
}
