//! A real Debian `tor` for the broker's tests, in its own temporary directory, that needs no
//! network (`DisableNetwork 1`, or a bridge on a closed loopback port so its SocksPort opens
//! yet it never contacts anything beyond 127.0.0.1). Fails, never skips, when `tor` is missing.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use torctl::{ControlAddr, ControlConfig};

/// Bound on tor becoming ready.
const BOUND: Duration = Duration::from_secs(30);

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// A tor child process with its own data directory, a SocksPort, a ControlPort and a
/// ControlSocket on 127.0.0.1; killed on drop.
pub struct Tor {
    /// Its directory (torrc, data, control socket, logs).
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    control_port: u16,
    /// Its SocksPort on 127.0.0.1.
    pub socks_port: u16,
    torrc: PathBuf,
}

impl Tor {
    /// Writes a torrc (cookie auth, or a hashed password instead) and starts tor with
    /// `DisableNetwork 1`.
    pub fn start(hashed_password: Option<&str>) -> Tor {
        Self::start_with(hashed_password, "DisableNetwork 1\n".to_owned())
    }

    /// Starts tor with its SOCKS port open but no way out: its only bridge is a closed
    /// loopback port, so it never contacts anything but 127.0.0.1 and never builds a circuit.
    pub fn start_loopback_only() -> Tor {
        Self::start_with(
            None,
            format!("UseBridges 1\nBridge 127.0.0.1:{}\n", free_port()),
        )
    }

    /// Starts tor with `network` torrc lines (how it may reach the network) and cookie auth, or
    /// a hashed control password instead.
    pub fn start_with(hashed_password: Option<&str>, network: String) -> Tor {
        let dir = tempfile::tempdir().expect("temp dir");
        // tor refuses a ControlSocket in a directory others can list.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .expect("chmod 700");
        let control_port = free_port();
        let socks_port = free_port();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("data dir");
        let auth = match hashed_password {
            Some(hash) => format!("CookieAuthentication 0\nHashedControlPassword {hash}\n"),
            None => "CookieAuthentication 1\n".to_owned(),
        };
        let torrc = dir.path().join("torrc");
        std::fs::write(
            &torrc,
            format!(
                "DataDirectory {data}\n{network}SocksPort 127.0.0.1:{socks_port}\n\
                 ControlPort 127.0.0.1:{control_port}\nControlSocket {sock}\n{auth}\
                 Log notice file {log}\nAvoidDiskWrites 1\nClientOnly 1\n",
                data = data.display(),
                sock = dir.path().join("control.sock").display(),
                log = dir.path().join("tor.log").display(),
            ),
        )
        .expect("write torrc");
        let mut tor = Tor {
            dir,
            child: None,
            control_port,
            socks_port,
            torrc,
        };
        tor.spawn();
        tor
    }

    /// (Re)starts the tor process on the same torrc and waits until it is ready.
    pub fn spawn(&mut self) {
        let child = Command::new("tor")
            .arg("-f")
            .arg(&self.torrc)
            .arg("--defaults-torrc")
            .arg("/dev/null")
            .stdin(Stdio::null())
            .stdout(self.output_file())
            .stderr(self.output_file())
            .spawn()
            .expect("cannot start `tor`: install Debian's tor package (this test never skips)");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Waits (bounded) until the control port and socket accept connections.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + BOUND;
        let cookie_auth = std::fs::read_to_string(&self.torrc)
            .is_ok_and(|torrc| torrc.contains("CookieAuthentication 1"));
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("tor exited early with {status}; log:\n{}", self.log());
            }
            let tcp = TcpStream::connect(("127.0.0.1", self.control_port)).is_ok();
            let unix = std::os::unix::net::UnixStream::connect(self.socket()).is_ok();
            // Tor may open its listeners before it writes the cookie; tests that move or
            // remove the cookie must find it there.
            let cookie =
                !cookie_auth || std::fs::metadata(self.cookie()).is_ok_and(|m| m.len() == 32);
            if tcp && unix && cookie {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "tor not ready in {BOUND:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the tor process (the directory stays, for a restart).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// tor's own stdout/stderr (startup errors before logging is configured land here).
    fn output_file(&self) -> Stdio {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("tor.out"))
            .map_or_else(|_| Stdio::null(), Stdio::from)
    }

    /// Its ControlSocket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("control.sock")
    }

    /// Its control cookie file.
    pub fn cookie(&self) -> PathBuf {
        self.dir.path().join("data").join("control_auth_cookie")
    }

    /// Its stdout/stderr and notice log.
    pub fn log(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("tor.out"), read("tor.log"))
    }

    /// A control-client config for its TCP ControlPort.
    pub fn tcp_config(&self) -> ControlConfig {
        ControlConfig::new(ControlAddr::Tcp(format!("127.0.0.1:{}", self.control_port)))
    }
}

impl Drop for Tor {
    fn drop(&mut self) {
        self.kill();
    }
}
