//! A private Tor network on 127.0.0.1 built from Debian's `tor` and `tor-gencert`.
//!
//! [`TorNetwork::start`] creates, in a temporary directory, 3 directory authorities, 2 middle
//! relays, 3 exits (which may reach only 127.0.0.0/8 and resolve names through the harness's
//! [`DnsResponder`]) and one client, all on dynamically chosen ports, and returns once the
//! client has bootstrapped and carried one real stream to the network's [`LoopbackOrigin`].
//! Every tor process runs in the foreground in its own process group and is stopped on drop; as
//! a safety net each one also exits by itself once the test process is gone
//! (`__OwningControllerProcess`). Test binaries share one network through [`shared`].

mod client;
pub mod dns;
pub mod fetch;
mod keys;
pub mod onion;
pub mod origin;
mod ports;
mod process;
pub mod shared;
mod torrc;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use client::{ClientOptions, TorClient};
pub use dns::DnsResponder;
pub use onion::OnionServices;
pub use origin::LoopbackOrigin;

pub use torrc::EQUAL_BANDWIDTH_KB;

use process::TorProcess;
use torrc::{AuthorityLine, NetworkFiles, Role};

/// Why the network (or a client) could not be started; the message carries the log tails.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TorNetError(pub String);

impl TorNetError {
    fn io(context: &str, e: std::io::Error) -> Self {
        Self(format!("{context}: {e}"))
    }
}

/// How to build the network.
#[derive(Debug, Clone)]
pub struct TorNetworkOptions {
    /// The first client's settings.
    pub client: ClientOptions,
    /// Upper bound for the whole start (keys, bootstrap, consensus, warm-up stream).
    pub bootstrap_timeout: Duration,
    /// Also wait until the client's consensus lists all 8 relays and it holds the 3 exits'
    /// descriptors, so circuits can use every relay; otherwise tor's own 67% threshold is enough.
    pub wait_for_all_relays: bool,
}

impl Default for TorNetworkOptions {
    fn default() -> Self {
        Self {
            client: ClientOptions::default(),
            bootstrap_timeout: Duration::from_secs(120),
            wait_for_all_relays: true,
        }
    }
}

/// What kind of relay a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayKind {
    /// Directory authority (also a relay).
    Authority,
    /// Middle-only relay.
    Middle,
    /// Exit to 127.0.0.0/8.
    Exit,
}

/// One relay of the network.
#[derive(Debug)]
pub struct Relay {
    nickname: String,
    kind: RelayKind,
    or_port: u16,
    data_dir: PathBuf,
    process: TorProcess,
}

impl Relay {
    /// Nickname (`auth0`, `middle1`, `exit2`, …).
    pub fn nickname(&self) -> &str {
        &self.nickname
    }

    /// Role in the network.
    pub fn kind(&self) -> RelayKind {
        self.kind
    }

    /// ORPort on 127.0.0.1.
    pub fn or_port(&self) -> u16 {
        self.or_port
    }

    /// Relay RSA identity fingerprint (40 hex digits), read from `<data_dir>/fingerprint`.
    pub fn fingerprint(&self) -> Option<String> {
        let text = fs::read_to_string(self.data_dir.join("fingerprint")).ok()?;
        text.split_whitespace().nth(1).map(str::to_owned)
    }

    /// OS process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }
}

/// Durations of the phases of [`TorNetwork::start`].
#[derive(Debug, Clone, Copy, Default)]
pub struct StartupTimings {
    /// Authority key generation (parallel).
    pub keys: Duration,
    /// From spawning the nodes to the client's `PROGRESS=100`.
    pub bootstrap: Duration,
    /// From `PROGRESS=100` until the client (when awaited) and every relay know every relay.
    pub full_consensus: Duration,
    /// The warm-up stream, including retries while exits are not yet usable.
    pub warmup: Duration,
    /// Everything, from the call to the return.
    pub total: Duration,
}

/// Shared facts about the network a client needs to join it.
#[derive(Debug, Clone)]
pub(crate) struct NetworkSpec {
    pub(crate) root: PathBuf,
    pub(crate) resolv_conf: PathBuf,
    pub(crate) geoip_empty: PathBuf,
    pub(crate) bandwidths: PathBuf,
    pub(crate) empty_torrc: PathBuf,
    pub(crate) authorities: Vec<AuthorityLine>,
    pub(crate) origin_port: u16,
}

impl NetworkSpec {
    fn files(&self) -> NetworkFiles<'_> {
        NetworkFiles {
            resolv_conf: &self.resolv_conf,
            geoip_empty: &self.geoip_empty,
            bandwidths: &self.bandwidths,
        }
    }
}

/// A running private Tor network; dropping it stops every tor process and deletes its files.
#[derive(Debug)]
pub struct TorNetwork {
    spec: NetworkSpec,
    relays: Vec<Relay>,
    client: TorClient,
    extra_clients: AtomicUsize,
    timings: StartupTimings,
    // Declared last: dropped after the processes that use them.
    origin: LoopbackOrigin,
    dns: DnsResponder,
    _dir: tempfile::TempDir,
}

const AUTHORITIES: usize = 3;
const MIDDLES: usize = 2;
const EXITS: usize = 3;
/// Relays in the consensus once the network is complete.
pub const RELAY_COUNT: usize = AUTHORITIES + MIDDLES + EXITS;

impl TorNetwork {
    /// Builds and starts the network, returning once the client carried a stream end to end.
    pub fn start(options: TorNetworkOptions) -> Result<Self, TorNetError> {
        let started = Instant::now();
        let deadline = started + options.bootstrap_timeout;
        process::require_binary(process::TOR).map_err(TorNetError)?;
        process::require_binary(process::TOR_GENCERT).map_err(TorNetError)?;

        remove_abandoned_dirs();
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir()
            .map_err(|e| TorNetError::io("creating the network directory", e))?;
        let root = dir.path().to_owned();
        let dns =
            DnsResponder::start().map_err(|e| TorNetError::io("starting the DNS responder", e))?;
        let origin = LoopbackOrigin::start()
            .map_err(|e| TorNetError::io("starting the origin server", e))?;
        let write = |name: &str, text: &str| -> Result<PathBuf, TorNetError> {
            let path = root.join(name);
            fs::write(&path, text)
                .map_err(|e| TorNetError::io(&format!("writing {}", path.display()), e))?;
            Ok(path)
        };
        let resolv_conf = write("resolv.conf", &torrc::resolv_conf(dns.addr()))?;
        write(OWNER_FILE, &std::process::id().to_string())?;
        let geoip_empty = write("geoip-empty", "")?;
        let empty_torrc = write("torrc-defaults", "")?;

        let ports = ports::free_ports(2 * AUTHORITIES + MIDDLES + EXITS)
            .map_err(|e| TorNetError::io("choosing ports", e))?;
        let mut ports = ports.into_iter();
        let mut next_port = || {
            ports
                .next()
                .ok_or_else(|| TorNetError("ran out of ports".into()))
        };

        let mut plan: Vec<(String, RelayKind, Role)> = Vec::new();
        for i in 0..AUTHORITIES {
            plan.push((
                format!("auth{i}"),
                RelayKind::Authority,
                Role::Authority {
                    or_port: next_port()?,
                    dir_port: next_port()?,
                },
            ));
        }
        for i in 0..MIDDLES {
            plan.push((
                format!("middle{i}"),
                RelayKind::Middle,
                Role::Middle {
                    or_port: next_port()?,
                },
            ));
        }
        for i in 0..EXITS {
            plan.push((
                format!("exit{i}"),
                RelayKind::Exit,
                Role::Exit {
                    or_port: next_port()?,
                },
            ));
        }
        for (nickname, kind, _) in &plan {
            make_private_dir(&root.join(nickname))?;
            if *kind == RelayKind::Authority {
                make_private_dir(&root.join(nickname).join("keys"))?;
            }
        }

        let key_started = Instant::now();
        let requests: Vec<keys::KeyRequest> = plan
            .iter()
            .filter_map(|(nickname, _, role)| match role {
                Role::Authority { dir_port, .. } => Some(keys::KeyRequest {
                    nickname: nickname.clone(),
                    data_dir: root.join(nickname),
                    dir_port: *dir_port,
                }),
                _ => None,
            })
            .collect();
        let generated = keys::generate(&requests, &empty_torrc).map_err(TorNetError)?;
        let key_time = key_started.elapsed();
        let authorities: Vec<AuthorityLine> = plan
            .iter()
            .filter_map(|(nickname, _, role)| match role {
                Role::Authority { or_port, dir_port } => Some((nickname, *or_port, *dir_port)),
                _ => None,
            })
            .zip(generated)
            .map(|((nickname, or_port, dir_port), keys)| AuthorityLine {
                nickname: nickname.clone(),
                or_port,
                dir_port,
                v3ident: keys.v3ident,
                fingerprint: keys.fingerprint,
            })
            .collect();

        let spec = NetworkSpec {
            root: root.clone(),
            resolv_conf,
            geoip_empty,
            bandwidths: root.join(BANDWIDTH_FILE),
            empty_torrc,
            authorities,
            origin_port: origin.port(),
        };
        let spawn_started = Instant::now();
        let mut relays = Vec::new();
        for (nickname, kind, role) in plan {
            let data_dir = root.join(&nickname);
            let text = torrc::render(
                &nickname,
                &data_dir,
                &role,
                spec.files(),
                &spec.authorities,
                std::process::id(),
            );
            let torrc_path = data_dir.join("torrc");
            fs::write(&torrc_path, text).map_err(|e| TorNetError::io("writing torrc", e))?;
            let process = TorProcess::spawn(&nickname, &torrc_path, &spec.empty_torrc, &data_dir)
                .map_err(|e| TorNetError::io(&format!("starting {nickname}"), e))?;
            let or_port = match role {
                Role::Authority { or_port, .. }
                | Role::Middle { or_port }
                | Role::Exit { or_port } => or_port,
                Role::Client { .. } => 0,
            };
            relays.push(Relay {
                nickname,
                kind,
                or_port,
                data_dir,
                process,
            });
        }
        write_bandwidth_file(&relays, &spec.bandwidths, deadline)?;
        let client = TorClient::create("client", &spec, options.client.clone())?;
        let mut network = Self {
            spec,
            relays,
            client,
            extra_clients: AtomicUsize::new(0),
            timings: StartupTimings {
                keys: key_time,
                ..StartupTimings::default()
            },
            origin,
            dns,
            _dir: dir,
        };
        let ready = network.wait_ready(spawn_started, deadline, options.wait_for_all_relays);
        if let Err(e) = ready {
            return Err(TorNetError(format!("{e}\n{}", network.log_tails(40))));
        }
        network.timings.total = started.elapsed();
        Ok(network)
    }

    fn wait_ready(
        &mut self,
        spawn_started: Instant,
        deadline: Instant,
        all_relays: bool,
    ) -> Result<(), String> {
        let nicknames: Vec<String> = self.relays.iter().map(|r| r.nickname.clone()).collect();
        let exits: Vec<String> = self
            .relays
            .iter()
            .filter(|r| r.kind == RelayKind::Exit)
            .map(|r| r.nickname.clone())
            .collect();
        let relays = &mut self.relays;
        let mut check_relays = || -> Result<(), String> {
            for relay in relays.iter_mut() {
                if let Some(status) = relay.process.exited() {
                    return Err(format!("{} exited early ({status})", relay.nickname));
                }
            }
            Ok(())
        };
        self.client.start_process()?;
        self.client.wait_bootstrapped(deadline, &mut check_relays)?;
        self.timings.bootstrap = spawn_started.elapsed();
        let t = Instant::now();
        if all_relays {
            self.client
                .wait_for_relays(&nicknames, &exits, deadline, &mut check_relays)?;
        }
        wait_until_relays_know_each_other(relays, &nicknames, deadline)?;
        self.timings.full_consensus = t.elapsed();
        let t = Instant::now();
        self.client.warm_up(deadline)?;
        self.timings.warmup = t.elapsed();
        Ok(())
    }

    /// The client the tests use.
    pub fn client(&self) -> &TorClient {
        &self.client
    }

    /// Starts one more client on this network (e.g. with other SocksPort flags) and waits until
    /// it carried a stream; it is stopped when the returned value is dropped.
    pub fn add_client(
        &self,
        options: ClientOptions,
        timeout: Duration,
    ) -> Result<TorClient, TorNetError> {
        let n = self.extra_clients.fetch_add(1, Ordering::Relaxed) + 1;
        let client = TorClient::create(&format!("client{n}"), &self.spec, options)?;
        client.start(timeout)?;
        Ok(client)
    }

    /// The relays (authorities, middles, exits).
    pub fn relays(&self) -> &[Relay] {
        &self.relays
    }

    /// Fingerprints of the relays of one kind.
    pub fn fingerprints(&self, kind: RelayKind) -> Vec<String> {
        self.relays
            .iter()
            .filter(|r| r.kind == kind)
            .filter_map(Relay::fingerprint)
            .collect()
    }

    /// The DNS responder the exits resolve names with.
    pub fn dns(&self) -> &DnsResponder {
        &self.dns
    }

    /// The loopback web server every hostname leads to (`http://<any name>:<origin port>/`).
    pub fn origin(&self) -> &LoopbackOrigin {
        &self.origin
    }

    /// The network's temporary directory (one subfolder per node).
    pub fn dir(&self) -> &Path {
        &self.spec.root
    }

    /// How long the start phases took.
    pub fn timings(&self) -> StartupTimings {
        self.timings
    }

    /// Resident memory of all tor processes of the network, in KiB (from `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> u64 {
        let pids = self
            .relays
            .iter()
            .filter_map(Relay::pid)
            .chain(self.client.pid());
        pids.filter_map(rss_kib_of).sum()
    }

    /// The last `lines` lines of every node's logs.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for relay in &self.relays {
            out.push_str(&relay.process.log_tail(lines));
        }
        out.push_str(&self.client.log_tail(lines));
        out
    }
}

impl Drop for TorNetwork {
    fn drop(&mut self) {
        self.client.stop();
        let mut processes: Vec<TorProcess> = self.relays.drain(..).map(|r| r.process).collect();
        process::stop_all(&mut processes);
    }
}

/// Resident set size of one process in KiB.
pub(crate) fn rss_kib_of(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The authorities' bandwidth file in the network directory.
const BANDWIDTH_FILE: &str = "bandwidths";

/// Writes the authorities' bandwidth file ([`torrc::bandwidth_file`]) once every relay has
/// written its fingerprint (a second or so after its start; the first vote comes later).
fn write_bandwidth_file(
    relays: &[Relay],
    path: &Path,
    deadline: Instant,
) -> Result<(), TorNetError> {
    let fingerprints = loop {
        let known: Vec<String> = relays.iter().filter_map(Relay::fingerprint).collect();
        if known.len() == relays.len() {
            break known;
        }
        if Instant::now() >= deadline {
            let missing: Vec<&str> = relays
                .iter()
                .filter(|r| r.fingerprint().is_none())
                .map(Relay::nickname)
                .collect();
            return Err(TorNetError(format!("no fingerprint file from {missing:?}")));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Written aside and renamed: an authority voting meanwhile reads all of it or none.
    let partial = path.with_extension("partial");
    fs::write(&partial, torrc::bandwidth_file(now, &fingerprints))
        .and_then(|()| fs::rename(&partial, path))
        .map_err(|e| TorNetError::io(&format!("writing {}", path.display()), e))
}

/// Waits until every relay holds a consensus that lists every relay.
///
/// The client's view is not enough: an exit refuses a stream whose circuit reaches it from a
/// relay it does not know ("Attempt by … to open a stream from unknown relay. Closing.", end
/// reason `misc`), and a young exit still backing off after the authorities' first 404s may have
/// no consensus at all while the client already builds circuits through it. Three such refusals
/// in a row made the client give up on a name, which failed tests at random.
fn wait_until_relays_know_each_other(
    relays: &mut [Relay],
    nicknames: &[String],
    deadline: Instant,
) -> Result<(), String> {
    loop {
        let mut lacking = Vec::new();
        for relay in relays.iter_mut() {
            if let Some(status) = relay.process.exited() {
                return Err(format!("{} exited early ({status})", relay.nickname));
            }
            let missing = relay.missing_from_consensus(nicknames);
            if !missing.is_empty() {
                lacking.push(format!("{} lacks {missing:?}", relay.nickname));
            }
        }
        if lacking.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "relays still do not know each other: {}",
                lacking.join("; ")
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The consensus files a relay caches in its data directory (either flavour).
const CACHED_CONSENSUS_FILES: [&str; 2] = ["cached-consensus", "cached-microdesc-consensus"];

impl Relay {
    /// Which of `nicknames` the relay's best cached consensus does not list (all of them when
    /// it has none yet).
    fn missing_from_consensus(&self, nicknames: &[String]) -> Vec<String> {
        CACHED_CONSENSUS_FILES
            .iter()
            .filter_map(|file| fs::read_to_string(self.data_dir.join(file)).ok())
            .map(|document| missing_from_consensus(&document, nicknames))
            .min_by_key(Vec::len)
            .unwrap_or_else(|| nicknames.to_vec())
    }
}

/// The nicknames of a consensus document's (or `GETINFO ns/all`'s) `r <nickname> …` lines.
pub(crate) fn listed_nicknames(document: &str) -> Vec<&str> {
    document
        .lines()
        .filter_map(|l| l.strip_prefix("r ")?.split(' ').next())
        .collect()
}

/// Which of `nicknames` have no `r <nickname> …` line in a consensus document.
fn missing_from_consensus(document: &str, nicknames: &[String]) -> Vec<String> {
    let listed = listed_nicknames(document);
    nicknames
        .iter()
        .filter(|n| !listed.contains(&n.as_str()))
        .cloned()
        .collect()
}

/// Prefix of every network directory under the system temp dir.
const DIR_PREFIX: &str = "persite-tornet-";
/// File in a network directory naming the PID of the test process that owns it.
const OWNER_FILE: &str = "owner.pid";

/// Deletes network directories left by test processes that died without dropping their network
/// (their tor processes exit by themselves through `__OwningControllerProcess`).
fn remove_abandoned_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(DIR_PREFIX));
        let Ok(owner) = fs::read_to_string(path.join(OWNER_FILE)) else {
            continue;
        };
        let alive = Path::new("/proc").join(owner.trim()).exists();
        if ours && !alive && !owner.trim().is_empty() {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

fn make_private_dir(path: &Path) -> Result<(), TorNetError> {
    fs::create_dir_all(path)
        .map_err(|e| TorNetError::io(&format!("creating {}", path.display()), e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
        .map_err(|e| TorNetError::io(&format!("chmod {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::missing_from_consensus;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_consensus_lacking_a_relay_names_it() {
        let document = "network-status-version 3 microdesc\n\
                        r auth0 3NZ4FDw6OQEEMTD8IfrzZiNb17A 2038-01-01 00:00:00 127.0.0.1 5000 0\n\
                        s Authority Exit Fast Guard Running Stable V2Dir Valid\n\
                        r exit0 fDOhm4cVYgsgcnWmZM252dM1S6E 2038-01-01 00:00:00 127.0.0.1 5001 0\n\
                        directory-footer\n";
        let wanted = names(&["auth0", "exit0", "middle0"]);
        assert_eq!(
            missing_from_consensus(document, &wanted),
            names(&["middle0"])
        );
        assert!(missing_from_consensus(document, &names(&["exit0"])).is_empty());
        // A nickname that is only a prefix of a listed one, or appears elsewhere, is not listed.
        assert_eq!(
            missing_from_consensus(document, &names(&["exit", "Exit"])),
            names(&["exit", "Exit"])
        );
        assert_eq!(missing_from_consensus("", &wanted), wanted);
    }
}
