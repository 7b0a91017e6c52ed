//! Where the broker daemon's socket lives (`docs/protocol.md` §3).
//!
//! Both the daemon (`persite serve`) and the native host resolve the same path, so it lives in
//! this lower-level crate. Resolution order:
//! 1. `$PERSITE_RUNTIME_DIR` (tests and unusual setups),
//! 2. `$XDG_RUNTIME_DIR/persite` (systemd and most desktops: a per-user tmpfs),
//! 3. `/tmp/persite-<uid>` when no runtime dir is set (as tmux does).
//!
//! The directory is created with mode 0700; an existing one must belong to the current user and
//! not be writable by anyone else, otherwise another local user could plant a socket there.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// File name of the daemon's Unix socket inside the runtime directory.
pub const SOCKET_NAME: &str = "broker.sock";

/// Why the runtime directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeDirError {
    /// Creating or inspecting the directory failed.
    #[error("cannot use runtime directory {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The directory exists but another user owns it.
    #[error(
        "runtime directory {path} belongs to uid {owner}, not to you (uid {me}); refusing to use it"
    )]
    WrongOwner {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The current user.
        me: u32,
    },
    /// The directory is readable or writable by other users.
    #[error(
        "runtime directory {path} has mode {mode:o}; it must not be accessible to other users (chmod 700 it)"
    )]
    TooOpen {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// The runtime directory path, without creating it.
pub fn runtime_dir_path() -> PathBuf {
    runtime_dir_from(
        std::env::var_os("PERSITE_RUNTIME_DIR").map(PathBuf::from),
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
        rustix::process::getuid().as_raw(),
    )
}

/// Pure resolution rule, separated from the environment so it can be tested.
fn runtime_dir_from(persite: Option<PathBuf>, xdg: Option<PathBuf>, uid: u32) -> PathBuf {
    match (persite, xdg) {
        (Some(dir), _) if !dir.as_os_str().is_empty() => dir,
        (_, Some(xdg)) if !xdg.as_os_str().is_empty() => xdg.join("persite"),
        _ => PathBuf::from(format!("/tmp/persite-{uid}")),
    }
}

/// The runtime directory, created (0700) if missing and checked to be private to this user.
pub fn runtime_dir() -> Result<PathBuf, RuntimeDirError> {
    let dir = runtime_dir_path();
    ensure_private_dir(&dir)?;
    Ok(dir)
}

/// Path of the daemon socket, ensuring its directory exists and is private.
pub fn broker_socket_path() -> Result<PathBuf, RuntimeDirError> {
    Ok(runtime_dir()?.join(SOCKET_NAME))
}

/// Creates `dir` with mode 0700 (parents as needed) or checks an existing one.
pub fn ensure_private_dir(dir: &Path) -> Result<(), RuntimeDirError> {
    let io_err = |source| RuntimeDirError::Io {
        path: dir.to_owned(),
        source,
    };
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(e)),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(io_err)?;
    if !meta.is_dir() {
        return Err(io_err(io::Error::other("not a directory")));
    }
    let me = rustix::process::getuid().as_raw();
    if meta.uid() != me {
        return Err(RuntimeDirError::WrongOwner {
            path: dir.to_owned(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        // We own it: tighten it rather than fail, then re-check.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io_err)?;
        let mode = std::fs::metadata(dir).map_err(io_err)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(RuntimeDirError::TooOpen {
                path: dir.to_owned(),
                mode,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_order() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(
            runtime_dir_from(p("/a"), p("/run/user/1"), 7),
            PathBuf::from("/a")
        );
        assert_eq!(
            runtime_dir_from(None, p("/run/user/1"), 7),
            PathBuf::from("/run/user/1/persite")
        );
        assert_eq!(
            runtime_dir_from(p(""), p(""), 7),
            PathBuf::from("/tmp/persite-7")
        );
        assert_eq!(
            runtime_dir_from(None, None, 1000),
            PathBuf::from("/tmp/persite-1000")
        );
    }

    #[test]
    fn creates_private_dir_and_tightens_open_one() {
        let base = std::env::temp_dir().join(format!("persite-rt-{}", std::process::id()));
        let dir = base.join("nested/run");
        ensure_private_dir(&dir).unwrap();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        ensure_private_dir(&dir).unwrap();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn refuses_a_file_in_place_of_the_dir() {
        let f = std::env::temp_dir().join(format!("persite-rt-file-{}", std::process::id()));
        std::fs::write(&f, b"x").unwrap();
        assert!(ensure_private_dir(&f).is_err());
        std::fs::remove_file(&f).unwrap();
    }
}
