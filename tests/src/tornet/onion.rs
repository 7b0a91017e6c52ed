//! Onion services on the private network, started on demand: one more tor instance with a
//! `HiddenServiceDir`/`HiddenServicePort` per service, each leading to the network's
//! [`LoopbackOrigin`](super::LoopbackOrigin) on port 80.
//!
//! They exist for programs that refuse loopback destinations (torsocks refuses to connect to
//! 127.0.0.0/8, which is where the exits' DNS sends every name): an onion name never resolves,
//! torsocks hands it to tor as a name, and the stream ends at the loopback origin all the same.
//! The authorities vote every relay `HSDir` (`TestingDirAuthVoteHSDir *`, see `torrc.rs`); only
//! the authorities are directory caches, so a descriptor reaches some of its HSDirs and the
//! client's fetch may need a retry: [`OnionServices::start`] returns once the network's client
//! fetched a page from every service.

use std::time::{Duration, Instant};

use super::fetch::{SocksAuth, http_get_via_socks_blocking};
use super::{ClientOptions, TorClient, TorNetError, TorNetwork};

/// The virtual port every service listens on.
pub const ONION_PORT: u16 = 80;
/// How long one readiness fetch may take.
const PROBE_FETCH_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between readiness fetches (the descriptor is not yet published, or not yet on the
/// HSDir the client asked).
const PROBE_PAUSE: Duration = Duration::from_secs(2);

/// Onion services run by one tor; stopped when dropped.
#[derive(Debug)]
pub struct OnionServices {
    hostnames: Vec<String>,
    _tor: TorClient,
}

impl OnionServices {
    /// Starts `count` services on a new tor of `network` and waits, at most `timeout`, until the
    /// network's client fetched the origin's page from each of them (SOCKS username
    /// `persite-tornet-onion-probe`, so the probes are told apart from a test's streams).
    pub fn start(
        network: &TorNetwork,
        count: usize,
        timeout: Duration,
    ) -> Result<Self, TorNetError> {
        let deadline = Instant::now() + timeout;
        let origin = network.origin().addr();
        let dirs: Vec<_> = (0..count)
            .map(|i| {
                network
                    .dir()
                    .join(format!("onion-{}-{i}", std::process::id()))
            })
            .collect();
        let extra_torrc = dirs
            .iter()
            .flat_map(|dir| {
                [
                    format!("HiddenServiceDir {}", dir.display()),
                    format!("HiddenServicePort {ONION_PORT} {origin}"),
                ]
            })
            .collect();
        let tor = network.add_client(
            ClientOptions {
                extra_torrc,
                ..ClientOptions::default()
            },
            timeout,
        )?;
        let mut hostnames = Vec::new();
        for dir in &dirs {
            let path = dir.join("hostname");
            let name = std::fs::read_to_string(&path)
                .map_err(|e| TorNetError::io(&format!("reading {}", path.display()), e))?;
            hostnames.push(name.trim().to_owned());
        }
        for hostname in &hostnames {
            wait_reachable(network, hostname, deadline)
                .map_err(|e| TorNetError(format!("{e}\n{}", tor.log_tail(30))))?;
        }
        Ok(Self {
            hostnames,
            _tor: tor,
        })
    }

    /// The services' `<56 letters>.onion` names, in start order.
    pub fn hostnames(&self) -> &[String] {
        &self.hostnames
    }
}

/// Fetches from `hostname` through the network's client until the origin answers or `deadline`.
fn wait_reachable(network: &TorNetwork, hostname: &str, deadline: Instant) -> Result<(), String> {
    let auth = SocksAuth {
        username: "persite-tornet-onion-probe",
        password: hostname,
    };
    let mut last = String::from("no attempt");
    while Instant::now() < deadline {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .min(PROBE_FETCH_TIMEOUT);
        match http_get_via_socks_blocking(
            network.client().socks_addr(),
            hostname,
            ONION_PORT,
            "/onion-probe",
            Some(auth),
            left,
        ) {
            Ok(fetch) if fetch.status == 200 && fetch.body.contains(network.origin().nonce()) => {
                return Ok(());
            }
            Ok(fetch) => last = format!("unexpected reply {}: {:?}", fetch.status, fetch.body),
            Err(e) => last = e,
        }
        std::thread::sleep(PROBE_PAUSE);
    }
    Err(format!(
        "the onion service {hostname} was not reachable before the deadline (last: {last})"
    ))
}
