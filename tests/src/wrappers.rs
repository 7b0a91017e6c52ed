//! Wrapper scripts that the fault-injection tests put between geckodriver/Firefox and the real
//! programs, plus packing the extension as an `.xpi`.
//!
//! - [`write_firefox_wrapper`]: a bash script used as the Firefox binary (through
//!   `$PERSITE_FIREFOX`, which [`crate::firefox::firefox_binary`] honours). Driven by the
//!   environment geckodriver passes on (set per session with `FirefoxConfig::env`):
//!   `PERSITE_STRACE_OUT=<file>` runs Firefox under `strace -f` (every Firefox process and
//!   everything it starts); `PERSITE_KEEP_PROFILE=<dir>` makes Firefox use `<dir>` as its
//!   profile (geckodriver's `user.js` is copied in and its temporary profile path becomes a
//!   symlink to `<dir>`, so geckodriver still finds `MarionetteActivePort` and deletes only the
//!   link), so two sessions share one profile — a browser restart; `PERSITE_SIDELOAD_XPI=<xpi>`
//!   copies the extension into `<profile>/extensions/` (a permanent install Firefox picks up at
//!   start). Without these variables it just execs Firefox.
//! - [`write_host_wrapper`]: a shell script used as the native host in the manifest; it logs the
//!   pid of every host Firefox starts, then execs the real host (same pid), so tests can count
//!   host starts (an event page waking opens a new port) and kill the current host.
//!
//! Scripts rather than Rust: exec keeps the pid, and the argument rewriting is a few lines.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context as _;

/// The syscalls the leak test traces (network calls, plus process starts to attribute them).
pub const STRACE_SYSCALLS: &str = "connect,sendto,sendmsg,sendmmsg,execve,clone,clone3,fork,vfork";

fn write_executable(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Write the Firefox wrapper into `dir` for `real_firefox`; returns its path.
pub fn write_firefox_wrapper(dir: &Path, real_firefox: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("firefox-wrapper.sh");
    let script = format!(
        r#"#!/bin/bash
# Persite fault tests: Firefox wrapper (tests/src/wrappers.rs).
set -e
real={real}
args=()
profile=""
while [ $# -gt 0 ]; do
  case "$1" in
    -profile|--profile) profile="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ -n "$PERSITE_KEEP_PROFILE" ] && [ -n "$profile" ]; then
  mkdir -p "$PERSITE_KEEP_PROFILE"
  cp -f "$profile/user.js" "$PERSITE_KEEP_PROFILE/user.js"
  rm -rf "$profile"
  ln -s "$PERSITE_KEEP_PROFILE" "$profile"
  profile="$PERSITE_KEEP_PROFILE"
fi
if [ -n "$PERSITE_SIDELOAD_XPI" ] && [ -n "$profile" ]; then
  mkdir -p "$profile/extensions"
  cp -f "$PERSITE_SIDELOAD_XPI" "$profile/extensions/persite@persite.org.xpi"
fi
if [ -n "$profile" ]; then
  args=(-profile "$profile" "${{args[@]}}")
fi
if [ -n "$PERSITE_STRACE_OUT" ]; then
  exec strace -f -qq -s 128 -e trace={syscalls} -o "$PERSITE_STRACE_OUT" "$real" "${{args[@]}}"
fi
exec "$real" "${{args[@]}}"
"#,
        real = shell_quote(real_firefox),
        syscalls = STRACE_SYSCALLS,
    );
    write_executable(&path, &script)?;
    Ok(path)
}

/// Write a native host wrapper into `dir` that appends `<pid> <start time, ns since the epoch>`
/// to `pid_log` and execs `real_host`; returns its path.
pub fn write_host_wrapper(dir: &Path, real_host: &Path, pid_log: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("persite-native-host-wrapper.sh");
    let script = format!(
        "#!/bin/sh\n# Persite fault tests: native host wrapper (tests/src/wrappers.rs).\n\
         echo \"$$ $(date +%s%N)\" >> {log}\nexec {real} \"$@\"\n",
        log = shell_quote(pid_log),
        real = shell_quote(real_host),
    );
    write_executable(&path, &script)?;
    Ok(path)
}

/// The pids logged by a host wrapper, oldest first.
pub fn host_pids(pid_log: &Path) -> Vec<u32> {
    host_starts(pid_log)
        .into_iter()
        .map(|(pid, _)| pid)
        .collect()
}

/// The hosts logged by a host wrapper, oldest first: pid and start time.
pub fn host_starts(pid_log: &Path) -> Vec<(u32, std::time::SystemTime)> {
    std::fs::read_to_string(pid_log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let pid = fields.next()?.parse().ok()?;
            let nanos: u64 = fields.next()?.parse().ok()?;
            Some((
                pid,
                std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos),
            ))
        })
        .collect()
}

/// Packs the Persite extension into `xpi` with `scripts/pack-xpi.sh`, the packer
/// `scripts/install.sh` uses too (the extension is small; the script is bounded by its input).
pub fn pack_xpi(xpi: &Path) -> anyhow::Result<()> {
    let script = crate::binaries::repo_root().join("scripts/pack-xpi.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(xpi)
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    anyhow::ensure!(status.success(), "{} failed: {status}", script.display());
    Ok(())
}

/// Fail loudly when strace is missing (the leak test must not pass by not tracing).
pub fn require_strace() -> anyhow::Result<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("strace"))
        .find(|p| p.is_file())
        .context(
            "strace is not installed (apt-get install strace): the DNS/connect leak test needs it",
        )
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}
