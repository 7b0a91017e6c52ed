//! One daemon per user: the lock file, the live-daemon check and the socket's life cycle.
//!
//! The runtime directory holds `broker.lock`, locked with `flock` for as long as a daemon runs.
//! The kernel drops the lock when the process dies, however it dies, so a held lock always means
//! a live daemon and a free lock means any `broker.sock` left behind is stale. (A lock file is
//! used rather than "try to connect" alone because two daemons started at once would both find
//! no socket and both bind.) The lock file itself is never deleted: unlinking a lock file races
//! with a process that has opened but not yet locked it.
//!
//! The socket is bound under a temporary name, made 0600, then renamed over `broker.sock`, so a
//! client never sees it with other permissions and a stale socket is replaced in one step.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};

/// File name of the single-instance lock inside the runtime directory.
pub const LOCK_NAME: &str = "broker.lock";

/// The result of trying to become the user's daemon.
#[derive(Debug)]
pub(crate) enum Acquired {
    /// This process is now the daemon; keep the guard alive while serving.
    Lock(InstanceLock),
    /// Another live process holds the lock.
    HeldBy {
        /// Its process id, as written in the lock file (absent while it starts up).
        pid: Option<u32>,
    },
}

/// Proof that this process is the user's only daemon; releases the lock on drop.
#[derive(Debug)]
pub(crate) struct InstanceLock {
    file: File,
    socket_path: PathBuf,
    /// Device and inode of the socket we bound, so we only ever remove our own.
    bound: Option<(u64, u64)>,
}

/// Tries to take the lock in `runtime_dir` without waiting.
pub(crate) fn acquire(runtime_dir: &Path, socket_path: &Path) -> io::Result<Acquired> {
    let lock_path = runtime_dir.join(LOCK_NAME);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
            let mut text = String::new();
            // The holder may still be writing its pid; a missing pid is fine.
            let _ = file.read_to_string(&mut text);
            return Ok(Acquired::HeldBy {
                pid: text.trim().parse().ok(),
            });
        }
        Err(e) => return Err(e.into()),
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    Ok(Acquired::Lock(InstanceLock {
        file,
        socket_path: socket_path.to_owned(),
        bound: None,
    }))
}

/// True when something accepts connections on `socket_path`.
pub(crate) fn answers(socket_path: &Path) -> bool {
    UnixStream::connect(socket_path).is_ok()
}

/// Polls [`answers`] until it succeeds or `timeout` passes (a daemon may still be starting).
pub(crate) fn wait_until_answers(socket_path: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if answers(socket_path) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl InstanceLock {
    /// Binds the daemon socket (mode 0600), replacing a stale one, and returns the listener.
    pub(crate) fn bind(&mut self) -> io::Result<UnixListener> {
        let tmp = self
            .socket_path
            .with_file_name(format!(".broker.sock.{}.tmp", std::process::id()));
        match std::fs::remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = UnixListener::bind(&tmp)?;
        let placed = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .and_then(|()| std::fs::rename(&tmp, &self.socket_path));
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let meta = std::fs::symlink_metadata(&self.socket_path)?;
        self.bound = Some((meta.dev(), meta.ino()));
        Ok(listener)
    }

    /// Removes the socket file if it is still the one this process bound.
    pub(crate) fn remove_socket(&mut self) {
        let Some(ours) = self.bound.take() else {
            return;
        };
        if let Ok(meta) = std::fs::symlink_metadata(&self.socket_path)
            && (meta.dev(), meta.ino()) == ours
        {
            if let Err(e) = std::fs::remove_file(&self.socket_path) {
                tracing::warn!(error = %e, "could not remove the daemon socket");
            }
        }
    }
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        self.remove_socket();
        // Emptying the pid makes a later reader see "starting", never a dead pid; closing the
        // file (right after) releases the lock.
        let _ = self.file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("persite-inst-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        persite_native_messaging::runtime::ensure_private_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn second_lock_is_refused_until_the_first_is_dropped() {
        let dir = temp_dir("lock");
        let sock = dir.join("broker.sock");
        let Acquired::Lock(first) = acquire(&dir, &sock).unwrap() else {
            panic!("first acquire must win");
        };
        match acquire(&dir, &sock).unwrap() {
            Acquired::HeldBy { pid } => assert_eq!(pid, Some(std::process::id())),
            Acquired::Lock(_) => panic!("a second lock must be refused"),
        }
        drop(first);
        assert!(matches!(acquire(&dir, &sock).unwrap(), Acquired::Lock(_)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bind_replaces_a_stale_socket_and_removes_it_on_drop() {
        let dir = temp_dir("bind");
        let sock = dir.join("broker.sock");
        drop(UnixListener::bind(&sock).unwrap()); // stale: file left, nobody listening
        assert!(!answers(&sock));
        let Acquired::Lock(mut lock) = acquire(&dir, &sock).unwrap() else {
            panic!("lock");
        };
        let listener = lock.bind().unwrap();
        assert!(answers(&sock));
        let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(listener);
        drop(lock);
        assert!(!sock.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
