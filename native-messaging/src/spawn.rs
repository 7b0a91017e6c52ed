//! Starting the broker daemon when no one answers on its socket (`docs/protocol.md` §4).
//!
//! The daemon is started as `<dir of this executable>/persite serve --detach` (or
//! `$PERSITE_BROKER_BIN serve --detach`) in its own process group, with stdio on `/dev/null`, so
//! the browser's SIGTERM/SIGKILL of the host does not reach it and it outlives the browser.
//! The host then polls the socket for a bounded time.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::net::UnixStream;

/// Environment variable overriding the daemon binary.
pub const BROKER_BIN_ENV: &str = "PERSITE_BROKER_BIN";

/// How long the host waits for a daemon it started to open its socket.
pub const START_TIMEOUT: Duration = Duration::from_secs(5);

/// Interval between two connection attempts while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// The daemon binary: `$PERSITE_BROKER_BIN`, else `persite` next to the running executable.
pub fn broker_binary() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os(BROKER_BIN_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(bin));
    }
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find the host's own executable: {e}"))?;
    let dir = exe
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", exe.display()))?;
    Ok(dir.join("persite"))
}

/// Starts `binary serve --detach` detached and waits (at most `timeout`) until `socket` accepts a
/// connection, which is returned.
pub async fn start_daemon(
    binary: &Path,
    socket: &Path,
    timeout: Duration,
) -> Result<UnixStream, String> {
    let mut command = tokio::process::Command::new(binary);
    command
        .args(["serve", "--detach"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(false);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start the daemon {}: {e}", binary.display()))?;
    tracing::info!(binary = %binary.display(), "started the broker daemon");
    let deadline = tokio::time::Instant::now() + timeout;
    let mut exited_ok = false;
    loop {
        if let Ok(stream) = UnixStream::connect(socket).await {
            return Ok(stream);
        }
        if !exited_ok {
            match child.try_wait() {
                // `--detach` may fork and exit 0 while the daemon goes on: keep polling.
                Ok(Some(status)) if status.success() => exited_ok = true,
                Ok(Some(status)) => {
                    return Err(format!("the daemon {} exited ({status})", binary.display()));
                }
                Ok(None) => {}
                Err(e) => return Err(format!("cannot watch the daemon process: {e}")),
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "the daemon {} did not open {} within {} s",
                binary.display(),
                socket.display(),
                timeout.as_secs_f32()
            ));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    // Dropping `child` leaves the daemon running; tokio reaps it if it exits while we live.
}
