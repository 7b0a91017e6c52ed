//! The broker daemon's circuit display against the private Tor network (issue 5.6).
//!
//! Custom runner (`harness = false`, like `tor_network`): one network for the binary, trials in
//! sequence. Each trial runs the real `persite serve` configured with the network client's
//! SocksPort and ControlPort, fetches "sites" through tor with the credentials the daemon
//! issued, and compares the daemon's `circuit` answers with what tor itself reports in
//! `GETINFO circuit-status` for those credentials.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use persite_tests::binaries;
use persite_tests::control_probe::{CircuitInfo, ControlProbe, StreamEvent};
use persite_tests::daemon_http::{self, EventStream};
use persite_tests::test_daemon::{TestDaemon, system_tor_config};
use persite_tests::tornet::fetch::{SocksAuth, http_get_via_socks_blocking};
use persite_tests::tornet::shared::{run_with_network, tor_trial};
use persite_tests::tornet::{TorClient, TorNetwork, TorNetworkOptions};
use persite_tests::trial::ensure;
use serde_json::{Value, json};

const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on waiting for the daemon to reflect something tor did.
const DISPLAY_WAIT: Duration = Duration::from_secs(30);
const CLIENT_RESTART_TIMEOUT: Duration = Duration::from_secs(120);

fn main() -> ExitCode {
    run_with_network(TorNetworkOptions::default(), |shared| {
        vec![
            tor_trial(
                shared,
                "circuit_display_matches_tor_and_follows_new_circuit_and_new_identity",
                circuit_display,
            ),
            // Last: it restarts the shared client.
            tor_trial(
                shared,
                "daemon_reconnects_after_the_tor_client_restarts",
                reconnects_after_restart,
            ),
        ]
    })
}

/// A `persite serve` for one trial ([`TestDaemon`]) on the network client, with this suite's
/// requests.
struct BrokerDaemon {
    daemon: TestDaemon,
}

impl BrokerDaemon {
    fn start(client: &TorClient) -> Result<Self, String> {
        let config = system_tor_config(
            client.socks_addr().port(),
            &client.control_addr().to_string(),
        );
        let binaries = binaries::ensure_built().map_err(|e| format!("{e:#}"))?;
        Ok(Self {
            daemon: TestDaemon::start(&binaries.broker, &config, None)?,
        })
    }

    fn socket(&self) -> PathBuf {
        self.daemon.socket()
    }

    fn log(&self) -> String {
        self.daemon.log()
    }

    fn rpc(&self, request: Value) -> Result<Value, String> {
        self.daemon.rpc(request)
    }

    fn credentials(&self, url: &str) -> Result<(String, String), String> {
        daemon_http::credential_pair(
            &self.rpc(json!({"id": 1, "type": "credentials", "url": url}))?,
        )
    }

    fn circuit(&self, site: &str) -> Result<Value, String> {
        self.rpc(json!({"id": 2, "type": "circuit", "site": site}))
    }

    fn tor_status(&self) -> Result<Value, String> {
        Ok(self.rpc(json!({"id": 3, "type": "status"}))?["tor"].clone())
    }

    /// Polls until `ready` holds for the tor status.
    fn wait_tor(&self, what: &str, ready: impl Fn(&Value) -> bool) -> Result<Value, String> {
        let deadline = Instant::now() + DISPLAY_WAIT * 2;
        loop {
            let status = self.tor_status()?;
            if ready(&status) {
                return Ok(status);
            }
            if Instant::now() > deadline {
                return Err(format!("tor status never {what}: {status}\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Polls `circuit` for `site` until `ready` holds.
    fn wait_circuit(
        &self,
        site: &str,
        what: &str,
        ready: impl Fn(&Value) -> bool,
    ) -> Result<Value, String> {
        let deadline = Instant::now() + DISPLAY_WAIT;
        loop {
            let c = self.circuit(site)?;
            if ready(&c) {
                return Ok(c);
            }
            if Instant::now() > deadline {
                return Err(format!("circuit display of {site} never {what}: {c}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Fetches `http://<host>:<origin>/` through the client's SocksPort with `(user, pass)`.
fn fetch(network: &TorNetwork, host: &str, creds: &(String, String)) -> Result<(), String> {
    let f = http_get_via_socks_blocking(
        network.client().socks_addr(),
        host,
        network.origin().port(),
        "/",
        Some(SocksAuth {
            username: &creds.0,
            password: &creds.1,
        }),
        FETCH_TIMEOUT,
    )?;
    ensure(f.status == 200, || {
        format!("fetch {host}: HTTP {}", f.status)
    })
}

/// The circuits tor's `circuit-status` attributes to these credentials.
fn tor_circuits_for(
    probe: &mut ControlProbe,
    creds: &(String, String),
) -> Result<Vec<CircuitInfo>, String> {
    let all = probe.circuits().map_err(|e| e.to_string())?;
    Ok(all
        .into_iter()
        .filter(|c| {
            c.fields.get("SOCKS_USERNAME") == Some(&creds.0)
                && c.fields.get("SOCKS_PASSWORD") == Some(&creds.1)
        })
        .collect())
}

/// The first circuit id of a circuit result.
fn shown_id(c: &Value) -> Option<String> {
    c["circuits"][0]["id"].as_str().map(str::to_owned)
}

/// Checks the display of `site` against tor's own view of `creds`: same circuit, same path.
fn matches_tor(
    daemon: &BrokerDaemon,
    probe: &mut ControlProbe,
    site: &str,
    creds: &(String, String),
    not: Option<&str>,
) -> Result<String, String> {
    let shown = daemon.wait_circuit(site, "showed a circuit with hop details", |c| {
        shown_id(c).is_some_and(|id| Some(id.as_str()) != not)
            && c["circuits"][0]["hops"]
                .as_array()
                .is_some_and(|h| !h.is_empty() && h.iter().all(|hop| hop["ip"].is_string()))
    })?;
    let id = shown_id(&shown).unwrap_or_default();
    let theirs = tor_circuits_for(probe, creds)?;
    let tor_circuit = theirs.iter().find(|c| c.id == id).ok_or_else(|| {
        format!("{site}: daemon shows circuit {id}, tor has {theirs:#?} for its credentials")
    })?;
    let hops: Vec<String> = shown["circuits"][0]["hops"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|hop| hop["fingerprint"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ensure(hops == tor_circuit.path, || {
        format!(
            "{site}: hops {hops:?} differ from tor's path {:?}",
            tor_circuit.path
        )
    })?;
    let roles: Vec<&str> = shown["circuits"][0]["hops"]
        .as_array()
        .map(|h| h.iter().filter_map(|hop| hop["role"].as_str()).collect())
        .unwrap_or_default();
    ensure(
        roles.first() == Some(&"guard") && roles.last() == Some(&"exit"),
        || format!("{site}: roles {roles:?}"),
    )?;
    let first = &shown["circuits"][0]["hops"][0];
    ensure(
        first["ip"] == "127.0.0.1" && first["nickname"].is_string(),
        || format!("{site}: guard details {first}"),
    )?;
    ensure(shown["site"] == site && shown["available"] == true, || {
        format!("{shown}")
    })?;
    Ok(id)
}

/// The highest `NYM_EPOCH` among stream events seen so far on `probe`.
fn max_epoch(events: &[StreamEvent]) -> Option<u64> {
    events
        .iter()
        .filter_map(|e| e.fields.get("NYM_EPOCH")?.parse().ok())
        .max()
}

fn circuit_display(network: &TorNetwork) -> Result<(), String> {
    let client = network.client();
    let daemon = BrokerDaemon::start(client)?;
    daemon.wait_tor("connected and bootstrapped", |t| {
        t["control"] == "connected" && t["bootstrap"]["progress"] == 100
    })?;
    // The command line sees the same: `persite status --wait-bootstrap` returns at once.
    let binaries = binaries::ensure_built().map_err(|e| e.to_string())?;
    let wait = Command::new(&binaries.broker)
        .args(["status", "--wait-bootstrap", "--timeout", "20"])
        .env("PERSITE_RUNTIME_DIR", daemon.daemon.runtime_dir())
        .output()
        .map_err(|e| e.to_string())?;
    let out = String::from_utf8_lossy(&wait.stdout);
    ensure(
        wait.status.success() && out.contains("tor bootstrap: 100% Done"),
        || {
            format!(
                "persite status --wait-bootstrap: {} {out} {}",
                wait.status,
                String::from_utf8_lossy(&wait.stderr)
            )
        },
    )?;
    let mut probe = client.control().map_err(|e| e.to_string())?;
    let mut watcher = client.control().map_err(|e| e.to_string())?;
    watcher
        .command("SETEVENTS STREAM")
        .map_err(|e| e.to_string())?;

    let mut events = EventStream::subscribe(&daemon.socket())?;
    let a = daemon.credentials("http://www.site-a.test/")?;
    let b = daemon.credentials("http://site-b.test/page")?;
    fetch(network, "www.site-a.test", &a)?;
    // The display is pushed, not only answered: a `circuit` push names the site and its circuit.
    let pushed = events.expect(DISPLAY_WAIT, |p| {
        p["type"] == "circuit" && p["site"] == "site-a.test" && shown_id(p).is_some()
    })?;
    fetch(network, "site-b.test", &b)?;

    // 5.6 d: the display is the circuit tor attributes to the site's credentials.
    let a_id = matches_tor(&daemon, &mut probe, "site-a.test", &a, None)?;
    ensure(shown_id(&pushed).as_deref() == Some(a_id.as_str()), || {
        format!("pushed {pushed}, answered circuit {a_id}")
    })?;
    let b_id = matches_tor(&daemon, &mut probe, "site-b.test", &b, None)?;
    // 5.6 a: two sites, two circuits.
    ensure(a_id != b_id, || format!("both sites show circuit {a_id}"))?;
    // Bytes from STREAM_BW: the browser read the response, which is larger than the request.
    let bytes = daemon.wait_circuit("site-a.test", "counted bytes", |c| {
        c["bytes"]["read"].as_u64().unwrap_or(0) > 0
    })?;
    let (read, written) = (
        bytes["bytes"]["read"].as_u64().unwrap_or(0),
        bytes["bytes"]["written"].as_u64().unwrap_or(0),
    );
    ensure(read > written && written > 0, || {
        format!("bytes read {read} should exceed written {written} (> 0)")
    })?;

    // 5.6 b: new circuit for A moves A's next stream to a new circuit; B keeps its own.
    daemon.rpc(json!({"id": 4, "type": "new_circuit", "site": "site-a.test"}))?;
    let a2 = daemon.credentials("http://site-a.test/")?;
    ensure(a2.0 == a.0 && a2.1 != a.1, || {
        "new circuit must change only the password".into()
    })?;
    let after_nc = daemon.circuit("site-a.test")?;
    ensure(after_nc["bytes"]["read"] == 0, || {
        format!("bytes not reset: {after_nc}")
    })?;
    fetch(network, "site-a.test", &a2)?;
    let a2_id = matches_tor(&daemon, &mut probe, "site-a.test", &a2, Some(&a_id))?;
    ensure(a2_id != a_id, || "site A kept its circuit".into())?;
    fetch(network, "site-b.test", &b)?;
    let b_again = daemon.circuit("site-b.test")?;
    ensure(shown_id(&b_again).as_deref() == Some(b_id.as_str()), || {
        format!("site B moved from {b_id}: {b_again}")
    })?;

    // 5.6 c: new identity sends NEWNYM (tor's NYM_EPOCH rises) and both sites get new circuits.
    let seen = watcher
        .collect_stream_events(Duration::from_millis(500), |_| false)
        .map_err(|e| e.to_string())?;
    let epoch_before = max_epoch(&seen).ok_or("no NYM_EPOCH in stream events")?;
    let ni = daemon.rpc(json!({"id": 5, "type": "new_identity"}))?;
    match ni["newnym"].as_str() {
        Some("sent") => {}
        Some("delayed") => {
            let wait = ni["newnym_delay_s"].as_u64().unwrap_or(10) + 1;
            std::thread::sleep(Duration::from_secs(wait));
        }
        _ => return Err(format!("NEWNYM did not reach tor: {ni}")),
    }
    let a3 = daemon.credentials("http://site-a.test/")?;
    let b3 = daemon.credentials("http://site-b.test/")?;
    fetch(network, "site-a.test", &a3)?;
    fetch(network, "site-b.test", &b3)?;
    let after = watcher
        .collect_stream_events(Duration::from_secs(2), |_| false)
        .map_err(|e| e.to_string())?;
    let epoch_after = max_epoch(&after).ok_or("no NYM_EPOCH after new identity")?;
    ensure(epoch_after > epoch_before, || {
        format!("NYM_EPOCH stayed at {epoch_before} (now {epoch_after})")
    })?;
    let a3_id = matches_tor(&daemon, &mut probe, "site-a.test", &a3, None)?;
    let b3_id = matches_tor(&daemon, &mut probe, "site-b.test", &b3, None)?;
    ensure(a3_id != a2_id && b3_id != b_id && a3_id != b3_id, || {
        format!("after new identity: A {a2_id}→{a3_id}, B {b_id}→{b3_id}")
    })?;
    ensure(debug_only(&daemon.log(), "site-a.test"), || {
        "a domain name appeared in the daemon's log above debug level".into()
    })
}

/// True when every log line naming `needle` is at DEBUG or TRACE level.
fn debug_only(log: &str, needle: &str) -> bool {
    log.lines()
        .filter(|l| l.contains(needle))
        .all(|l| l.contains("DEBUG") || l.contains("TRACE"))
}

fn reconnects_after_restart(network: &TorNetwork) -> Result<(), String> {
    let client = network.client();
    let daemon = BrokerDaemon::start(client)?;
    let before = daemon.wait_tor("connected", |t| t["control"] == "connected")?;
    let mut events = EventStream::subscribe(&daemon.socket())?;
    client.stop();
    events.expect(DISPLAY_WAIT, |p| {
        p["type"] == "tor_status" && p["control"] == "connecting"
    })?;
    daemon.wait_tor("connecting after tor stopped", |t| {
        t["control"] == "connecting"
    })?;
    client
        .start(CLIENT_RESTART_TIMEOUT)
        .map_err(|e| e.to_string())?;
    let after = daemon.wait_tor("connected again", |t| {
        t["control"] == "connected" && t["bootstrap"]["progress"] == 100
    })?;
    ensure(after["version"] == before["version"], || {
        format!("{before} → {after}")
    })?;
    events.expect(DISPLAY_WAIT, |p| {
        p["type"] == "tor_status" && p["control"] == "connected"
    })?;
    // Events flow on the new connection: a fresh stream shows up in the display.
    let creds = daemon.credentials("http://after-restart.test/")?;
    fetch(network, "after-restart.test", &creds)?;
    let mut probe = client.control().map_err(|e| e.to_string())?;
    matches_tor(&daemon, &mut probe, "after-restart.test", &creds, None).map(|_| ())
}
