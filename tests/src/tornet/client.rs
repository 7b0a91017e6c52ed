//! A client tor of the private network: its SocksPort, ControlPort and lifecycle.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::fetch::{SocksAuth, http_get_via_socks_blocking};
use super::process::{TorProcess, log_tail};
use super::torrc::{self, Role};
use super::{NetworkSpec, TorNetError, listed_nicknames, make_private_dir, ports};
use crate::control_probe::{ControlProbe, ProbeError};

/// How often readiness is polled.
const POLL: Duration = Duration::from_millis(250);
/// Longest single warm-up fetch; tor may hold a stream a few seconds right after bootstrap.
const WARMUP_FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// Settings of one client tor.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Flags after `SocksPort 127.0.0.1:<port>`, e.g. `KeepAliveIsolateSOCKSAuth`,
    /// `IsolateDestAddr`, `NoIsolateSOCKSAuth`. Empty means tor's defaults (which include
    /// `IsolateSOCKSAuth`).
    pub socks_flags: Vec<String>,
    /// Leave conflux on (tor's default). Off by default here, because conflux may split streams
    /// with the same credentials over two circuits and tests assert "same credentials ⇒ same
    /// circuit".
    pub conflux: bool,
    /// Also open a Unix-socket ControlPort at `<data_dir>/control.sock`.
    pub control_socket: bool,
    /// Extra raw torrc lines.
    pub extra_torrc: Vec<String>,
}

/// A client tor; stopped when dropped.
#[derive(Debug)]
pub struct TorClient {
    name: String,
    data_dir: PathBuf,
    torrc: PathBuf,
    empty_torrc: PathBuf,
    socks_addr: SocketAddr,
    control_addr: SocketAddr,
    control_socket: Option<PathBuf>,
    origin_port: u16,
    process: Mutex<Option<TorProcess>>,
}

impl TorClient {
    /// Writes the client's torrc with fresh ports; does not start it.
    pub(crate) fn create(
        name: &str,
        spec: &NetworkSpec,
        options: ClientOptions,
    ) -> Result<Self, TorNetError> {
        let data_dir = spec.root.join(name);
        make_private_dir(&data_dir)?;
        let ports =
            ports::free_ports(2).map_err(|e| TorNetError::io("choosing client ports", e))?;
        let (socks_port, control_port) = (ports[0], ports[1]);
        let control_socket = options
            .control_socket
            .then(|| data_dir.join("control.sock"));
        let role = Role::Client {
            socks_port,
            socks_flags: options.socks_flags,
            control_port,
            control_socket: control_socket.as_ref().map(|p| p.display().to_string()),
            conflux: options.conflux,
            extra: options.extra_torrc,
        };
        let text = torrc::render(
            name,
            &data_dir,
            &role,
            spec.files(),
            &spec.authorities,
            std::process::id(),
        );
        let torrc = data_dir.join("torrc");
        std::fs::write(&torrc, text).map_err(|e| TorNetError::io("writing the client torrc", e))?;
        Ok(Self {
            name: name.to_owned(),
            data_dir,
            torrc,
            empty_torrc: spec.empty_torrc.clone(),
            socks_addr: (Ipv4Addr::LOCALHOST, socks_port).into(),
            control_addr: (Ipv4Addr::LOCALHOST, control_port).into(),
            control_socket,
            origin_port: spec.origin_port,
            process: Mutex::new(None),
        })
    }

    /// Node nickname (`client`, `client1`, …).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The SocksPort (127.0.0.1:port); stays the same across restarts.
    pub fn socks_addr(&self) -> SocketAddr {
        self.socks_addr
    }

    /// The TCP ControlPort (127.0.0.1:port, cookie authentication); same across restarts.
    pub fn control_addr(&self) -> SocketAddr {
        self.control_addr
    }

    /// The Unix-socket ControlPort, when [`ClientOptions::control_socket`] was set.
    pub fn control_socket_path(&self) -> Option<&Path> {
        self.control_socket.as_deref()
    }

    /// The control cookie (`<data_dir>/control_auth_cookie`, rewritten at each start).
    pub fn cookie_path(&self) -> PathBuf {
        self.data_dir.join("control_auth_cookie")
    }

    /// The client's DataDirectory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The client's torrc.
    pub fn torrc_path(&self) -> &Path {
        &self.torrc
    }

    /// OS process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.lock().as_ref().and_then(TorProcess::pid)
    }

    /// Whether the tor process is running.
    pub fn is_running(&self) -> bool {
        self.lock().as_mut().is_some_and(|p| p.exited().is_none())
    }

    /// A fresh, authenticated control connection.
    pub fn control(&self) -> Result<ControlProbe, ProbeError> {
        ControlProbe::connect(self.control_addr, &self.cookie_path())
    }

    /// The last `lines` lines of this client's logs.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.name, &self.data_dir, lines)
    }

    /// Starts tor (if stopped) and waits, at most `timeout`, for bootstrap and one stream.
    pub fn start(&self, timeout: Duration) -> Result<(), TorNetError> {
        let deadline = Instant::now() + timeout;
        let ready = self
            .start_process()
            .and_then(|()| self.wait_bootstrapped(deadline, &mut || Ok(())))
            .and_then(|()| self.warm_up(deadline));
        ready.map_err(|e| TorNetError(format!("{e}\n{}", self.log_tail(40))))
    }

    /// Stops tor (SIGTERM, then SIGKILL after 5 s); the ports and DataDirectory are kept.
    pub fn stop(&self) {
        if let Some(mut process) = self.lock().take() {
            process.stop();
        }
    }

    /// Stops and starts tor again with the same torrc, ports and DataDirectory.
    pub fn restart(&self, timeout: Duration) -> Result<(), TorNetError> {
        self.stop();
        self.start(timeout)
    }

    /// Spawns the process if it is not running.
    pub(crate) fn start_process(&self) -> Result<(), String> {
        let mut guard = self.lock();
        if guard.as_mut().is_some_and(|p| p.exited().is_none()) {
            return Ok(());
        }
        // A stale cookie would let a poller authenticate against nothing; tor writes a new one.
        let _ = std::fs::remove_file(self.cookie_path());
        let process = TorProcess::spawn(&self.name, &self.torrc, &self.empty_torrc, &self.data_dir)
            .map_err(|e| format!("starting {}: {e}", self.name))?;
        *guard = Some(process);
        Ok(())
    }

    /// Polls `GETINFO status/bootstrap-phase` until `PROGRESS=100` or `deadline`.
    pub(crate) fn wait_bootstrapped(
        &self,
        deadline: Instant,
        check_others: &mut dyn FnMut() -> Result<(), String>,
    ) -> Result<(), String> {
        let mut last = String::from("control port not reachable yet");
        let mut probe: Option<ControlProbe> = None;
        loop {
            self.check_alive()?;
            check_others()?;
            if probe.is_none() {
                probe = self.control().map_err(|e| last = e.to_string()).ok();
            }
            if let Some(p) = probe.as_mut() {
                match p.bootstrap_progress() {
                    Ok(100) => return Ok(()),
                    Ok(progress) => last = format!("bootstrap at {progress}%"),
                    Err(e) => {
                        last = e.to_string();
                        probe = None;
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not bootstrap in time (last: {last})",
                    self.name
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Polls until the client's consensus lists every nickname in `relays` and it holds the
    /// descriptor of every relay in `exits` with the loopback exit policy.
    pub(crate) fn wait_for_relays(
        &self,
        relays: &[String],
        exits: &[String],
        deadline: Instant,
        check_others: &mut dyn FnMut() -> Result<(), String>,
    ) -> Result<(), String> {
        let mut missing: Vec<String> = relays.to_vec();
        loop {
            self.check_alive()?;
            check_others()?;
            if let Ok(listed) = self.consensus_nicknames() {
                missing = relays
                    .iter()
                    .filter(|r| !listed.contains(r))
                    .cloned()
                    .collect();
                missing.extend(
                    exits
                        .iter()
                        .filter(|e| {
                            !self
                                .descriptor(e)
                                .is_ok_and(|d| d.contains("accept 127.0.0.0/8:*"))
                        })
                        .map(|e| format!("{e} (exit descriptor)")),
                );
                if missing.is_empty() {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{}'s directory info still lacks {missing:?}",
                    self.name
                ));
            }
            std::thread::sleep(POLL * 2);
        }
    }

    /// Nicknames of the relays in the client's current consensus (`GETINFO ns/all`).
    pub fn consensus_nicknames(&self) -> Result<Vec<String>, ProbeError> {
        let ns = self.control()?.getinfo("ns/all")?;
        Ok(listed_nicknames(&ns)
            .into_iter()
            .map(str::to_owned)
            .collect())
    }

    /// The full server descriptor the client holds for relay `nickname` (`GETINFO desc/name/…`).
    pub fn descriptor(&self, nickname: &str) -> Result<String, ProbeError> {
        self.control()?.getinfo(&format!("desc/name/{nickname}"))
    }

    /// Like [`Self::descriptor`], but while tor answers "552 Unrecognized key" it asks again
    /// until `timeout`: a relay that republished its descriptor is listed in the consensus a
    /// moment before the client has fetched the new descriptor.
    pub fn descriptor_within(
        &self,
        nickname: &str,
        timeout: Duration,
    ) -> Result<String, ProbeError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.descriptor(nickname) {
                Err(ProbeError::Refused { reply, .. })
                    if reply.starts_with("552") && Instant::now() < deadline =>
                {
                    std::thread::sleep(POLL);
                }
                other => return other,
            }
        }
    }

    /// Carries one stream end to end (right after bootstrap, exits may be briefly unusable).
    pub(crate) fn warm_up(&self, deadline: Instant) -> Result<(), String> {
        let auth = SocksAuth {
            username: "persite-tornet-warmup",
            password: &self.name,
        };
        let mut last = String::new();
        while Instant::now() < deadline {
            self.check_alive()?;
            let left = deadline
                .saturating_duration_since(Instant::now())
                .min(WARMUP_FETCH_TIMEOUT);
            match http_get_via_socks_blocking(
                self.socks_addr,
                "warmup.test",
                self.origin_port,
                "/warmup",
                Some(auth),
                left,
            ) {
                Ok(fetch) if fetch.status == 200 && fetch.body.contains("path=/warmup") => {
                    return Ok(());
                }
                Ok(fetch) => last = format!("unexpected reply {}: {:?}", fetch.status, fetch.body),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        Err(format!(
            "{}: no stream reached the origin before the deadline (last: {last})",
            self.name
        ))
    }

    fn check_alive(&self) -> Result<(), String> {
        match self.lock().as_mut() {
            None => Err(format!("{} is not running", self.name)),
            Some(p) => match p.exited() {
                Some(status) => Err(format!("{} exited ({status})", self.name)),
                None => Ok(()),
            },
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<TorProcess>> {
        self.process.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for TorClient {
    fn drop(&mut self) {
        self.stop();
    }
}
