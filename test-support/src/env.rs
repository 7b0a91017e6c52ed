//! [`UserEnv`]: a temporary HOME, config, data and runtime directory for one test, and the
//! commands that run the real binaries in it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::process::{Spawned, StopBy};

/// A `config.toml` `[tor]` section that keeps the daemon away from any tor (the default `auto`
/// mode would start one).
pub const NO_TOR: &str = "[tor]\nmode = \"system\"\ncontrol = \"none\"\n";

/// The `[socks]` and `[tor]` sections of a daemon config for a system tor: SOCKS on
/// `127.0.0.1:socks_port`, control port `control` (`"none"`, `unix:/…` or `host:port`).
pub fn system_tor_config(socks_port: u16, control: &str) -> String {
    format!(
        "[socks]\nhost = \"127.0.0.1\"\nport = {socks_port}\n\n[tor]\nmode = \"system\"\ncontrol = \"{control}\"\n"
    )
}

/// A private user for one test: `HOME`, `XDG_CONFIG_HOME`, `XDG_DATA_HOME` and
/// `PERSITE_RUNTIME_DIR` inside one temporary directory (removed on drop), so nothing a test
/// runs reads or writes the real user's files.
#[derive(Debug)]
pub struct UserEnv {
    dir: tempfile::TempDir,
    runtime_dir: PathBuf,
}

impl UserEnv {
    /// A fresh environment in a temporary directory named `prefix…`, with its runtime
    /// directory inside it.
    pub fn new(prefix: &str) -> UserEnv {
        UserEnv::with_runtime_dir(prefix, None)
    }

    /// As [`UserEnv::new`], with the runtime directory `runtime_dir` when given (tests that
    /// share a socket directory with a browser's native host).
    pub fn with_runtime_dir(prefix: &str, runtime_dir: Option<&Path>) -> UserEnv {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(std::env::temp_dir())
            .expect("creating a temporary directory");
        let runtime_dir = runtime_dir.map_or_else(|| dir.path().join("run"), Path::to_path_buf);
        std::fs::create_dir_all(dir.path().join("home")).expect("creating the temporary HOME");
        UserEnv { dir, runtime_dir }
    }

    /// The temporary directory holding everything.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `HOME`.
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    /// `XDG_CONFIG_HOME`.
    pub fn config_home(&self) -> PathBuf {
        self.root().join("config")
    }

    /// `XDG_DATA_HOME`.
    pub fn data_home(&self) -> PathBuf {
        self.root().join("data")
    }

    /// `PERSITE_RUNTIME_DIR`.
    pub fn runtime_dir(&self) -> &Path {
        &self.runtime_dir
    }

    /// The daemon's API socket in the runtime directory.
    pub fn socket(&self) -> PathBuf {
        self.runtime_dir.join("broker.sock")
    }

    /// Writes `$XDG_CONFIG_HOME/persite/config.toml`.
    pub fn write_config(&self, text: &str) {
        let dir = self.config_home().join("persite");
        std::fs::create_dir_all(&dir).expect("creating the config directory");
        std::fs::write(dir.join("config.toml"), text).expect("writing config.toml");
    }

    /// `program args…` in this environment (`PERSITE_LOG=debug`, stdin closed); the caller
    /// chooses stdout and stderr.
    pub fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.config_home())
            .env("XDG_DATA_HOME", self.data_home())
            .env("PERSITE_RUNTIME_DIR", &self.runtime_dir)
            .env_remove("XDG_RUNTIME_DIR")
            .env("PERSITE_LOG", "debug")
            .stdin(Stdio::null());
        cmd
    }

    /// Starts `cmd` (usually from [`UserEnv::command`]) with stdout discarded and stderr in a
    /// fresh log file of this environment; `stop` says how the guard ends it.
    pub fn spawn(&self, mut cmd: Command, stop: StopBy) -> Spawned {
        static N: AtomicU32 = AtomicU32::new(0);
        let log = self
            .root()
            .join(format!("stderr-{}.log", N.fetch_add(1, Ordering::Relaxed)));
        let file = std::fs::File::create(&log).expect("creating a log file");
        cmd.stdout(Stdio::null()).stderr(file);
        let what = format!("{cmd:?}");
        Spawned::spawn(cmd, log, stop).unwrap_or_else(|e| panic!("starting {what}: {e}"))
    }
}
