//! One `tor` child process in its own process group, stopped (group-wide) on drop.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt as _;

use rustix::process::{Pid, Signal, kill_process_group};

/// Debian's tor binary.
pub(crate) const TOR: &str = "tor";
/// Debian's authority key generator (package `tor`).
pub(crate) const TOR_GENCERT: &str = "tor-gencert";

/// How long a node may take to exit after SIGTERM before it gets SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(5);

/// A running tor node.
#[derive(Debug)]
pub(crate) struct TorProcess {
    name: String,
    data_dir: PathBuf,
    child: Option<Child>,
}

impl TorProcess {
    /// Starts `tor -f <torrc>` with an empty defaults file, output to `<data_dir>/stdout.log`.
    pub(crate) fn spawn(
        name: &str,
        torrc: &Path,
        defaults: &Path,
        data_dir: &Path,
    ) -> std::io::Result<Self> {
        let out = File::create(data_dir.join("stdout.log"))?;
        let child = Command::new(TOR)
            .arg("--defaults-torrc")
            .arg(defaults)
            .arg("-f")
            .arg(torrc)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()?;
        Ok(Self {
            name: name.to_owned(),
            data_dir: data_dir.to_owned(),
            child: Some(child),
        })
    }

    /// OS process id, if still running.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `Some(status)` once the process has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        child.try_wait().ok().flatten()
    }

    /// The last `lines` lines of the node's notice log and captured stdout/stderr.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.name, &self.data_dir, lines)
    }

    /// Sends SIGTERM to the process group (the first half of [`TorProcess::stop`]).
    pub(crate) fn signal_term(&mut self) {
        if let Some(child) = self.child.as_mut()
            && child.try_wait().ok().flatten().is_none()
        {
            let _ = kill_process_group(Pid::from_child(child), Signal::TERM);
        }
    }

    /// Waits for the process to exit until `deadline`, then SIGKILLs the group and reaps it.
    pub(crate) fn reap(&mut self, deadline: Instant) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if child.try_wait().ok().flatten().is_none() {
            let _ = kill_process_group(Pid::from_child(&child), Signal::KILL);
            let _ = child.wait();
        }
    }

    /// Stops the node: SIGTERM, bounded wait, SIGKILL.
    pub(crate) fn stop(&mut self) {
        self.signal_term();
        self.reap(Instant::now() + TERM_GRACE);
    }
}

impl Drop for TorProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Stops many nodes in parallel: SIGTERM to all first, then one shared grace period.
pub(crate) fn stop_all(nodes: &mut [TorProcess]) {
    for node in nodes.iter_mut() {
        node.signal_term();
    }
    let deadline = Instant::now() + TERM_GRACE;
    for node in nodes.iter_mut() {
        node.reap(deadline);
    }
}

/// The last `lines` lines of `<data_dir>/notice.log` and `<data_dir>/stdout.log`, labelled.
pub(crate) fn log_tail(name: &str, data_dir: &Path, lines: usize) -> String {
    let mut out = String::new();
    for file in ["notice.log", "stdout.log"] {
        let text = std::fs::read_to_string(data_dir.join(file)).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        if all.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "--- {name}/{file} (last {} lines)\n",
            lines.min(all.len())
        ));
        for line in &all[all.len().saturating_sub(lines)..] {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Fails with a clear message when `binary` is not on `PATH`.
pub(crate) fn require_binary(binary: &str) -> Result<(), String> {
    match Command::new(binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "`{binary}` is not runnable ({e}); install Debian's `tor` package (`apt-get install -y tor`, \
             which also ships tor-gencert)"
        )),
    }
}
