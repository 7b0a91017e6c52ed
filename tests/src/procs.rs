//! Processes seen through `/proc`: the Persite processes of one runtime dir, liveness, signals,
//! resident memory and open file descriptors. Shared by `tests/tests/e2e_faults.rs` (fault injection)
//! and the soak (`tests/src/soak/`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};

/// The processes whose executable is `exe` and whose environment carries
/// `PERSITE_RUNTIME_DIR=<runtime_dir>` exactly (the broker daemon or the native host of one
/// browser).
pub fn pids_in_runtime_dir(runtime_dir: &Path, exe: &Path) -> Vec<i32> {
    let exe = std::fs::canonicalize(exe).unwrap_or_else(|_| exe.to_path_buf());
    pids_with_env(
        "PERSITE_RUNTIME_DIR",
        &runtime_dir.display().to_string(),
        Some(&exe),
    )
}

/// The processes other than this one whose environment holds `key=value` exactly, and whose
/// executable is `exe` when given.
pub fn pids_with_env(key: &str, value: &str, exe: Option<&Path>) -> Vec<i32> {
    let needle = format!("{key}={value}").into_bytes();
    let own = std::process::id();
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if u32::try_from(pid).ok() == Some(own) {
            continue;
        }
        if let Some(exe) = exe {
            match std::fs::read_link(entry.path().join("exe")) {
                Ok(found) if found == exe => {}
                _ => continue,
            }
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ.split(|b| *b == 0).any(|v| v == needle.as_slice()) {
            pids.push(pid);
        }
    }
    pids
}

/// Whether `pid` exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            // State is the field after the parenthesised command name; Z = zombie (gone).
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

/// Sends `signal` to `pid`.
pub fn signal(pid: i32, signal: rustix::process::Signal) -> anyhow::Result<()> {
    let pid = rustix::process::Pid::from_raw(pid).context("pid 0")?;
    rustix::process::kill_process(pid, signal)
        .with_context(|| format!("sending {signal:?} to {pid:?}"))
}

/// Sends SIGKILL to `pid`.
pub fn sigkill(pid: i32) -> anyhow::Result<()> {
    signal(pid, rustix::process::Signal::KILL)
}

/// Polls `check` every 100 ms until it yields something (bounded by `bound`).
pub async fn wait_for<T>(
    what: &str,
    bound: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        ensure!(
            started.elapsed() < bound,
            "timed out after {bound:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A process's resident memory and open file descriptors at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcUsage {
    /// The process.
    pub pid: i32,
    /// `VmRSS` of `/proc/<pid>/status`, KiB.
    pub rss_kib: u64,
    /// Entries of `/proc/<pid>/fd`.
    pub fds: usize,
}

impl ProcUsage {
    /// Reads `pid`'s usage; `None` when the process is gone or unreadable.
    pub fn read(pid: i32) -> Option<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())?;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
        Some(Self { pid, rss_kib, fds })
    }
}

impl std::fmt::Display for ProcUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} RSS {:.1} MiB, {} fds",
            self.pid,
            self.rss_kib as f64 / 1024.0,
            self.fds
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_usage_is_readable() {
        let me = i32::try_from(std::process::id()).expect("pid fits");
        let usage = ProcUsage::read(me).expect("own /proc entry");
        assert!(usage.rss_kib > 0 && usage.fds > 0, "{usage:?}");
        assert!(is_alive(me));
    }
}
