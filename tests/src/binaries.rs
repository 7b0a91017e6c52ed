//! Where the end-to-end tests find the repository's `extension/` directory and the built
//! `persite` / `persite-native-host` binaries.
//!
//! `cargo test -p persite-tests` does not build other packages' binaries, so
//! [`ensure_built`] runs `cargo build` for them once (bounded), unless `$PERSITE_BIN_DIR` names a
//! directory that already holds them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// The native host binary's file name (protocol §4).
pub const NATIVE_HOST_BIN: &str = "persite-native-host";
/// The broker daemon binary's file name.
pub const BROKER_BIN: &str = "persite";
/// The extension id fixed by protocol §4.
pub use persite_protocol::limits::EXTENSION_ID;
/// How long building the binaries may take (the machine is shared and small).
const BUILD_TIMEOUT: Duration = Duration::from_secs(900);

/// The repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The Persite extension's unpacked directory (`<repo>/extension`), checked to hold a manifest.
pub fn extension_dir() -> anyhow::Result<PathBuf> {
    let dir = repo_root().join("extension");
    anyhow::ensure!(
        dir.join("manifest.json").is_file(),
        "the Persite extension is missing: {} has no manifest.json",
        dir.display()
    );
    Ok(dir)
}

/// This crate's `fixtures/` directory (test-only extensions and the like).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Copies the test-only extension `fixtures/<name>` (its `manifest.json` and `background.js`)
/// into a temporary directory and writes its `config.js` with the recorder's SOCKS port.
pub fn test_extension(name: &str, socks_port: u16) -> anyhow::Result<tempfile::TempDir> {
    use anyhow::Context as _;
    let source = fixtures_dir().join(name);
    let dir = tempfile::Builder::new()
        .prefix("persite-test-ext-")
        .tempdir()?;
    for file in ["manifest.json", "background.js"] {
        std::fs::copy(source.join(file), dir.path().join(file))
            .with_context(|| format!("copying {file} of {name}"))?;
    }
    std::fs::write(
        dir.path().join("config.js"),
        format!("const SOCKS_PORT = {socks_port};\n"),
    )?;
    Ok(dir)
}

/// Cargo's target directory (`$CARGO_TARGET_DIR`, else `<repo>/target`).
pub fn target_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), PathBuf::from);
    if target.is_relative() {
        repo_root().join(target)
    } else {
        target
    }
}

/// The directory cargo builds debug binaries into.
fn target_debug_dir() -> PathBuf {
    target_dir().join("debug")
}

/// The built Persite binaries.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `persite-native-host`.
    pub native_host: PathBuf,
    /// `persite` (the broker; `persite serve` is the daemon).
    pub broker: PathBuf,
}

/// Locate the binaries in `$PERSITE_BIN_DIR`, or build them with cargo (debug) and use them.
pub fn ensure_built() -> anyhow::Result<Binaries> {
    let dir = match std::env::var_os("PERSITE_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            build()?;
            target_debug_dir()
        }
    };
    let binaries = Binaries {
        native_host: dir.join(NATIVE_HOST_BIN),
        broker: dir.join(BROKER_BIN),
    };
    for path in [&binaries.native_host, &binaries.broker] {
        anyhow::ensure!(
            path.is_file(),
            "{} is missing (set $PERSITE_BIN_DIR or fix the build)",
            path.display()
        );
    }
    Ok(binaries)
}

/// `cargo build -p persite -p persite-native-messaging --bins`, bounded.
fn build() -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "persite",
            "-p",
            "persite-native-messaging",
            "--bins",
        ])
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .spawn()
        .context("running cargo build for the Persite binaries")?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            anyhow::ensure!(
                status.success(),
                "cargo build of persite/persite-native-host failed: {status}"
            );
            return Ok(());
        }
        if started.elapsed() > BUILD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("cargo build of the Persite binaries took over {BUILD_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
