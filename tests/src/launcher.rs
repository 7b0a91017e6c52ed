//! `persite browser` as a user runs it, in a temporary `HOME` (its config, data directory with
//! the packed add-on, native-messaging manifests and Persite's profile all live there) and a
//! runtime directory of its own. Dropping the [`LauncherHome`] kills what the launcher left
//! running: the browser it became (its process group) and the daemon and native host it
//! started (found by their `PERSITE_RUNTIME_DIR`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::procs;

/// A temporary home for `persite browser`; see the module doc.
pub struct LauncherHome {
    home: tempfile::TempDir,
    runtime_dir: tempfile::TempDir,
    children: Vec<Child>,
}

/// How a bounded run ended.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl LauncherHome {
    /// A fresh home whose `~/.config/persite/config.toml` is `config` (none when `None`).
    pub fn new(config: Option<&str>) -> anyhow::Result<Self> {
        let home = tempfile::Builder::new()
            .prefix("persite-launcher-home-")
            .tempdir()?;
        if let Some(config) = config {
            let dir = home.path().join(".config/persite");
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("config.toml"), config)?;
        }
        // Short path under /tmp: it holds the daemon's Unix socket.
        let runtime_dir = tempfile::Builder::new()
            .prefix("persite-rt-launch-")
            .tempdir_in("/tmp")?;
        Ok(Self {
            home,
            runtime_dir,
            children: Vec::new(),
        })
    }

    /// The temporary `HOME`.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Persite's data directory in it (`~/.local/share/persite`).
    pub fn data_dir(&self) -> PathBuf {
        self.home.path().join(".local/share/persite")
    }

    /// The profile `persite browser` prepares.
    pub fn profile_dir(&self) -> PathBuf {
        self.data_dir().join("browser-profile")
    }

    /// The daemon's runtime directory.
    pub fn runtime_dir(&self) -> &Path {
        self.runtime_dir.path()
    }

    /// Packs the extension where `scripts/install.sh` puts it (`<data dir>/persite.xpi`).
    pub fn pack_xpi(&self) -> anyhow::Result<PathBuf> {
        let xpi = self.data_dir().join("persite.xpi");
        std::fs::create_dir_all(self.data_dir())?;
        crate::wrappers::pack_xpi(&xpi)?;
        Ok(xpi)
    }

    /// `persite browser <args>` in this home, stdin closed (no terminal: it never asks).
    fn command(&self, broker: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(broker);
        command
            .arg("browser")
            .args(args)
            .env("HOME", self.home.path())
            .env("PERSITE_RUNTIME_DIR", self.runtime_dir.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("PERSITE_BROKER_BIN")
            .env("MOZ_REMOTE_SETTINGS_DEVTOOLS", "1")
            .stdin(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command
    }

    /// Starts `persite browser <args>` (it becomes the browser), output into `log`.
    pub fn spawn(&mut self, broker: &Path, args: &[&str], log: &Path) -> anyhow::Result<()> {
        let out = std::fs::File::create(log)?;
        let child = self
            .command(broker, args)
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting persite browser")?;
        self.children.push(child);
        Ok(())
    }

    /// Runs `persite browser <args>` to its end (killed after `bound`).
    pub fn run(
        &mut self,
        broker: &Path,
        args: &[&str],
        bound: Duration,
    ) -> anyhow::Result<Finished> {
        let out = self.home.path().join("launcher.out");
        let err = self.home.path().join("launcher.err");
        let mut child = self
            .command(broker, args)
            .stdout(std::fs::File::create(&out)?)
            .stderr(std::fs::File::create(&err)?)
            .spawn()
            .context("starting persite browser")?;
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() > bound {
                self.children.push(child);
                anyhow::bail!(
                    "persite browser did not finish within {bound:?}; it printed:\n{}\n{}",
                    std::fs::read_to_string(&out).unwrap_or_default(),
                    std::fs::read_to_string(&err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Ok(Finished {
            status,
            stdout: std::fs::read_to_string(&out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err).unwrap_or_default(),
        })
    }

    /// Processes left running in this home's runtime directory (daemon, native host, tor).
    pub fn leftovers(&self) -> Vec<i32> {
        procs::pids_with_env(
            "PERSITE_RUNTIME_DIR",
            &self.runtime_dir.path().to_string_lossy(),
            None,
        )
        .into_iter()
        .filter(|pid| procs::is_alive(*pid))
        .collect()
    }

    /// Kills the launched browser's process group and everything in the runtime directory,
    /// and waits (bounded) until they are gone.
    pub fn kill_all(&mut self) {
        for child in &mut self.children {
            if let Some(pid) = i32::try_from(child.id())
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _ = child.wait();
        }
        self.children.clear();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = self.leftovers();
            if left.is_empty() || Instant::now() > deadline {
                break;
            }
            for pid in left {
                let _ = procs::sigkill(pid);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for LauncherHome {
    fn drop(&mut self) {
        self.kill_all();
    }
}
