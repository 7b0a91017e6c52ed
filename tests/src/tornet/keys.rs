//! Directory-authority keys: `tor-gencert` (v3 identity) and `tor --list-fingerprint` (relay
//! identity), all authorities at once in parallel child processes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::process::{TOR, TOR_GENCERT};

/// Longest time key generation may take for all authorities together.
const KEYGEN_TIMEOUT: Duration = Duration::from_secs(60);

/// The two fingerprints a `DirAuthority` line needs.
#[derive(Debug, Clone)]
pub(crate) struct AuthorityKeys {
    /// `v3ident`: the authority identity from `keys/authority_certificate`.
    pub(crate) v3ident: String,
    /// The relay RSA identity from `<data_dir>/fingerprint`.
    pub(crate) fingerprint: String,
}

/// One authority to generate keys for.
#[derive(Debug, Clone)]
pub(crate) struct KeyRequest {
    /// Nickname.
    pub(crate) nickname: String,
    /// Data directory (created 0700 with a `keys/` subfolder by the caller).
    pub(crate) data_dir: PathBuf,
    /// DirPort written into the certificate.
    pub(crate) dir_port: u16,
}

/// Generates the keys of every requested authority in parallel.
pub(crate) fn generate(
    requests: &[KeyRequest],
    empty_torrc: &Path,
) -> Result<Vec<AuthorityKeys>, String> {
    let mut jobs = Vec::new();
    for req in requests {
        let dir = &req.data_dir;
        let mut gencert = Command::new(TOR_GENCERT);
        gencert
            .current_dir(dir)
            .args(["--create-identity-key", "--passphrase-fd", "0"])
            .args(["-i", "keys/authority_identity_key"])
            .args(["-s", "keys/authority_signing_key"])
            .args(["-c", "keys/authority_certificate"])
            .args(["-m", "12", "-a"])
            .arg(format!("127.0.0.1:{}", req.dir_port));
        jobs.push(spawn(&mut gencert, dir, "tor-gencert")?);
        let mut fingerprint = Command::new(TOR);
        fingerprint
            .arg("--list-fingerprint")
            .arg("--defaults-torrc")
            .arg(empty_torrc)
            .arg("-f")
            .arg(empty_torrc)
            .arg("--DataDirectory")
            .arg(dir)
            .args([
                "--Nickname",
                &req.nickname,
                "--ORPort",
                "1",
                "--Log",
                "warn stderr",
            ])
            .args([
                "--DirAuthority",
                "xyzzy 127.0.0.1:1 ffffffffffffffffffffffffffffffffffffffff",
            ]);
        jobs.push(spawn(&mut fingerprint, dir, "list-fingerprint")?);
    }
    let deadline = Instant::now() + KEYGEN_TIMEOUT;
    let mut failures = Vec::new();
    for (mut child, dir, what) in jobs {
        if let Err(e) = wait_until(&mut child, deadline) {
            failures.push(format!(
                "{what} in {}: {e}\n{}",
                dir.display(),
                output_of(&dir, what)
            ));
        }
    }
    if !failures.is_empty() {
        return Err(format!(
            "authority key generation failed:\n{}",
            failures.join("\n")
        ));
    }
    requests
        .iter()
        .map(|req| read_keys(&req.data_dir))
        .collect()
}

fn spawn(
    command: &mut Command,
    dir: &Path,
    what: &'static str,
) -> Result<(Child, PathBuf, &'static str), String> {
    let log = std::fs::File::create(dir.join(format!("{what}.log"))).map_err(|e| e.to_string())?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let child = command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot run {what}: {e} (is Debian's `tor` package installed?)"))?;
    Ok((child, dir.to_owned(), what))
}

fn wait_until(child: &mut Child, deadline: Instant) -> Result<(), String> {
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return if status.success() {
                Ok(())
            } else {
                Err(format!("exited with {status}"))
            };
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("timed out".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn output_of(dir: &Path, what: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{what}.log"))).unwrap_or_default()
}

fn read_keys(dir: &Path) -> Result<AuthorityKeys, String> {
    let read =
        |p: PathBuf| std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()));
    let cert = read(dir.join("keys/authority_certificate"))?;
    let v3ident = cert
        .lines()
        .find_map(|l| l.strip_prefix("fingerprint "))
        .ok_or_else(|| {
            format!(
                "no fingerprint line in {}/keys/authority_certificate",
                dir.display()
            )
        })?
        .trim()
        .to_owned();
    let fp = read(dir.join("fingerprint"))?;
    let fingerprint = fp
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| format!("unreadable {}/fingerprint: {fp:?}", dir.display()))?
        .to_owned();
    Ok(AuthorityKeys {
        v3ident,
        fingerprint,
    })
}
