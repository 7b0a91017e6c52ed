//! The private Tor network is real, and Tor isolates streams by SOCKS credentials the way
//! Persite relies on.
//!
//! Custom runner (`harness = false`): one network for the whole binary, trials in sequence,
//! network stopped before exit. Every fetch uses credentials unique to this run, and each
//! stream is tied to its circuit through the control port: the `NEW` stream event's
//! `SOURCE_ADDR` is the fetch's own socket address, the `SUCCEEDED` event gives the circuit.

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::FileTypeExt as _;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use persite_tests::control_probe::{ControlProbe, StreamEvent};
use persite_tests::tornet::fetch::{SocksAuth, SocksFetch, http_get_via_socks_blocking};
use persite_tests::tornet::shared::{run_with_network, tor_trial};
use persite_tests::tornet::{
    ClientOptions, EQUAL_BANDWIDTH_KB, RELAY_COUNT, RelayKind, TorClient, TorNetwork,
    TorNetworkOptions,
};
use persite_tests::trial::ensure;

const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
const EVENT_TIMEOUT: Duration = Duration::from_secs(15);
const CLIENT_START_TIMEOUT: Duration = Duration::from_secs(120);
/// Two voting rounds of the test network (10 s each) and some slack.
const WEIGHT_TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    run_with_network(TorNetworkOptions::default(), |shared| {
        vec![
            tor_trial(
                shared,
                "consensus_lists_every_relay_and_exit",
                consensus_lists_every_relay_and_exit,
            ),
            tor_trial(
                shared,
                "fetch_reaches_the_loopback_origin_through_our_exit",
                fetch_reaches_origin_through_exit,
            ),
            tor_trial(
                shared,
                "exits_resolve_names_with_the_test_dns_responder",
                exits_resolve_with_test_dns,
            ),
            tor_trial(
                shared,
                "different_credentials_never_share_a_circuit",
                different_credentials_differ,
            ),
            tor_trial(
                shared,
                "same_credentials_share_one_circuit",
                same_credentials_share,
            ),
            tor_trial(
                shared,
                "extra_client_applies_its_socks_flags",
                extra_client_applies_flags,
            ),
            tor_trial(
                shared,
                "failed_client_start_is_loud_and_leaves_no_process",
                failed_start_is_loud,
            ),
            tor_trial(
                shared,
                "client_restart_keeps_ports_and_carries_streams",
                client_restart_works,
            ),
        ]
    })
}

/// A value unique to this process and call, so credentials and names never repeat across
/// trials (circuits and DNS caches outlive a trial).
fn unique(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// A control connection subscribed to stream events.
fn stream_watcher(client: &TorClient) -> Result<ControlProbe, String> {
    let mut probe = client.control().map_err(|e| format!("control port: {e}"))?;
    probe
        .command("SETEVENTS STREAM")
        .map_err(|e| e.to_string())?;
    Ok(probe)
}

/// One fetch and the circuit its stream used.
struct Traced {
    fetch: SocksFetch,
    circuit: String,
    succeeded: StreamEvent,
}

/// Fetches `http://{host}:{origin}/{path}` with `auth` and finds the circuit of that stream.
fn traced_fetch(
    network: &TorNetwork,
    client: &TorClient,
    watcher: &mut ControlProbe,
    host: &str,
    path: &str,
    auth: SocksAuth<'_>,
) -> Result<Traced, String> {
    let port = network.origin().port();
    let fetch = http_get_via_socks_blocking(
        client.socks_addr(),
        host,
        port,
        path,
        Some(auth),
        FETCH_TIMEOUT,
    )?;
    let expected = network
        .origin()
        .expected_body(&format!("{host}:{port}"), path);
    ensure(fetch.status == 200 && fetch.body == expected, || {
        format!(
            "fetch {host}{path}: got {} {:?}, want 200 {expected:?}",
            fetch.status, fetch.body
        )
    })?;
    let source = fetch.source_addr.to_string();
    let mut stream_id = None;
    let events = watcher
        .collect_stream_events(EVENT_TIMEOUT, |events| {
            let id = events
                .iter()
                .find(|e| e.status == "NEW" && e.fields.get("SOURCE_ADDR") == Some(&source))
                .map(|e| e.stream_id.clone());
            id.is_some_and(|id| {
                events
                    .iter()
                    .any(|e| e.stream_id == id && e.status == "SUCCEEDED")
            })
        })
        .map_err(|e| e.to_string())?;
    for e in &events {
        if e.status == "NEW" && e.fields.get("SOURCE_ADDR") == Some(&source) {
            stream_id = Some(e.stream_id.clone());
        }
    }
    let stream_id = stream_id
        .ok_or_else(|| format!("no NEW stream event with SOURCE_ADDR={source}: {events:#?}"))?;
    let succeeded = events
        .iter()
        .find(|e| e.stream_id == stream_id && e.status == "SUCCEEDED")
        .cloned()
        .ok_or_else(|| format!("stream {stream_id} never SUCCEEDED: {events:#?}"))?;
    ensure(succeeded.circuit_id != "0", || {
        format!("stream {stream_id} succeeded on circuit 0")
    })?;
    Ok(Traced {
        fetch,
        circuit: succeeded.circuit_id.clone(),
        succeeded,
    })
}

fn consensus_lists_every_relay_and_exit(network: &TorNetwork) -> Result<(), String> {
    let client = network.client();
    let mut listed = client.consensus_nicknames().map_err(|e| e.to_string())?;
    listed.sort();
    let mut ours: Vec<String> = network
        .relays()
        .iter()
        .map(|r| r.nickname().to_owned())
        .collect();
    ours.sort();
    ensure(listed == ours && ours.len() == RELAY_COUNT, || {
        format!("consensus lists {listed:?}, ours are {ours:?}")
    })?;
    // Full descriptors carry the real exit policies: loopback only for exits, nothing otherwise.
    for relay in network.relays() {
        let descriptor = client
            .descriptor_within(relay.nickname(), EVENT_TIMEOUT)
            .map_err(|e| e.to_string())?;
        let policy: Vec<&str> = descriptor
            .lines()
            .filter(|l| l.starts_with("accept ") || l.starts_with("reject "))
            .collect();
        let allows_loopback = policy.first() == Some(&"accept 127.0.0.0/8:*");
        let want = relay.kind() == RelayKind::Exit;
        ensure(allows_loopback == want, || {
            format!("{} has exit policy {policy:?}", relay.nickname())
        })?;
        if want {
            ensure(
                policy.contains(&"reject 0.0.0.0/1:*") && policy.contains(&"reject 128.0.0.0/1:*"),
                || format!("{} may exit beyond loopback: {policy:?}", relay.nickname()),
            )?;
        }
    }
    let fingerprints: HashSet<String> = network
        .relays()
        .iter()
        .filter_map(|r| r.fingerprint())
        .collect();
    ensure(fingerprints.len() == RELAY_COUNT, || {
        format!("relay fingerprints: {fingerprints:?}")
    })?;
    // The authorities' bandwidth file gives every relay a circuit may use one measured weight,
    // so paths vary (tor leaves the authorities themselves at their own few KB/s).
    let weights = equal_weights_within(client, WEIGHT_TIMEOUT)?;
    let non_authorities = network
        .relays()
        .iter()
        .filter(|r| r.kind() != RelayKind::Authority)
        .count();
    ensure(weights.len() == non_authorities, || {
        format!("consensus weights: {weights:?}")
    })?;
    let circuits = network
        .client()
        .control()
        .and_then(|mut c| c.circuits())
        .map_err(|e| e.to_string())?;
    let built: Vec<_> = circuits.iter().filter(|c| c.status == "BUILT").collect();
    ensure(!built.is_empty(), || {
        format!("no built circuit: {circuits:#?}")
    })?;
    for circuit in built {
        for hop in &circuit.path {
            ensure(fingerprints.contains(hop), || {
                format!("circuit {} uses unknown relay {hop}", circuit.id)
            })?;
        }
    }
    Ok(())
}

/// Waits until the client's consensus gives every relay but the authorities (`auth*`) the
/// harness's equal, measured weight (a vote cast before the bandwidth file was written may still
/// be in force for a round); returns those relays' nicknames and `w` lines.
fn equal_weights_within(
    client: &TorClient,
    timeout: Duration,
) -> Result<Vec<(String, String)>, String> {
    let want = format!("w Bandwidth={EQUAL_BANDWIDTH_KB}");
    let deadline = Instant::now() + timeout;
    loop {
        let ns = client
            .control()
            .and_then(|mut c| c.getinfo("ns/all"))
            .map_err(|e| e.to_string())?;
        // `r <nickname> …` is followed by its `w Bandwidth=…` line: pair them for the message.
        let mut weights = Vec::new();
        let mut nickname = "?";
        for line in ns.lines() {
            if let Some(r) = line.strip_prefix("r ") {
                nickname = r.split(' ').next().unwrap_or("?");
            } else if line.starts_with("w ") && !nickname.starts_with("auth") {
                weights.push((nickname.to_owned(), line.to_owned()));
            }
        }
        if !weights.is_empty() && weights.iter().all(|(_, w)| *w == want) {
            return Ok(weights);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "consensus weights {weights:?}, want every one {want:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn fetch_reaches_origin_through_exit(network: &TorNetwork) -> Result<(), String> {
    let client = network.client();
    let mut watcher = stream_watcher(client)?;
    let user = unique("origin-check");
    let traced = traced_fetch(
        network,
        client,
        &mut watcher,
        "site-a.test",
        "/hello",
        SocksAuth {
            username: &user,
            password: "p",
        },
    )?;
    ensure(traced.fetch.body.contains(network.origin().nonce()), || {
        "body lacks the origin's nonce".into()
    })?;
    let host = format!("site-a.test:{}", network.origin().port());
    let seen = network.origin().requests();
    let request = seen
        .iter()
        .rev()
        .find(|r| r.host == host && r.path == "/hello")
        .ok_or_else(|| format!("origin never saw Host {host}: {seen:#?}"))?;
    ensure(request.peer.ip().is_loopback(), || {
        format!("origin peer {} is not loopback", request.peer)
    })?;

    let circuits = client
        .control()
        .and_then(|mut c| c.circuits())
        .map_err(|e| e.to_string())?;
    let circuit = circuits
        .iter()
        .find(|c| c.id == traced.circuit)
        .ok_or_else(|| format!("circuit {} not in circuit-status", traced.circuit))?;
    let exits = network.fingerprints(RelayKind::Exit);
    // 3 hops, or 4 when tor cannibalized a preemptive circuit by extending it to a chosen exit.
    ensure((3..=4).contains(&circuit.path.len()), || {
        format!("circuit path {:?} is not 3-4 hops", circuit.path)
    })?;
    let last = circuit.path.last().cloned().unwrap_or_default();
    ensure(exits.contains(&last), || {
        format!("last hop {last} is not one of our exits {exits:?}")
    })?;
    ensure(circuit.fields.get("SOCKS_USERNAME") == Some(&user), || {
        format!(
            "circuit {} has SOCKS_USERNAME {:?}, want {user:?}",
            circuit.id,
            circuit.fields.get("SOCKS_USERNAME")
        )
    })
}

fn exits_resolve_with_test_dns(network: &TorNetwork) -> Result<(), String> {
    let client = network.client();
    let dns = network.dns();
    let port = network.origin().port();
    for name in [
        format!("{}.test", unique("dns")),
        format!("www.{}.co.uk", unique("dns")),
    ] {
        ensure(!dns.was_asked(&name, "A"), || {
            format!("{name} was resolved before the fetch")
        })?;
        let user = unique("dns-check");
        let auth = SocksAuth {
            username: &user,
            password: "p",
        };
        let fetch = http_get_via_socks_blocking(
            client.socks_addr(),
            &name,
            port,
            "/",
            Some(auth),
            FETCH_TIMEOUT,
        )?;
        let expected = network
            .origin()
            .expected_body(&format!("{name}:{port}"), "/");
        ensure(fetch.body == expected, || {
            format!("{name}: body {:?}, want {expected:?}", fetch.body)
        })?;
        ensure(dns.was_asked(&name, "A"), || {
            format!("the exit did not ask our responder for {name}")
        })?;
    }
    // NXDOMAIN from our responder must make the stream fail: the exit used no other resolver.
    let name = format!("{}.invalid", unique("dns"));
    let auth = SocksAuth {
        username: "dns-check-invalid",
        password: "p",
    };
    let result = http_get_via_socks_blocking(
        client.socks_addr(),
        &name,
        port,
        "/",
        Some(auth),
        FETCH_TIMEOUT,
    );
    ensure(result.is_err(), || {
        format!("{name} resolved although our responder says NXDOMAIN: {result:?}")
    })?;
    ensure(dns.was_asked(&name, "A"), || {
        format!("the exit did not ask our responder for {name}")
    })
}

fn different_credentials_differ(network: &TorNetwork) -> Result<(), String> {
    let client = network.client();
    let mut watcher = stream_watcher(client)?;
    let (a, b) = (unique("site-a"), unique("site-b"));
    let cases = [
        ("site-a.test", a.as_str(), "n1"),
        ("site-b.test", b.as_str(), "n1"),
        ("site-a.test", a.as_str(), "n2"),
    ];
    let mut circuits = Vec::new();
    for (host, username, password) in cases {
        let traced = traced_fetch(
            network,
            client,
            &mut watcher,
            host,
            "/",
            SocksAuth { username, password },
        )?;
        let fields = &traced.succeeded.fields;
        ensure(
            fields.get("SOCKS_USERNAME").map(String::as_str) == Some(username)
                && fields.get("SOCKS_PASSWORD").map(String::as_str) == Some(password),
            || format!("stream event credentials {fields:?}, want {username}:{password}"),
        )?;
        circuits.push((format!("{username}:{password}"), traced.circuit));
    }
    let distinct: HashSet<&String> = circuits.iter().map(|(_, c)| c).collect();
    ensure(distinct.len() == circuits.len(), || {
        format!("credentials shared a circuit: {circuits:?}")
    })
}

fn same_credentials_share(network: &TorNetwork) -> Result<(), String> {
    let client = network.client();
    let mut watcher = stream_watcher(client)?;
    let user = unique("first-party");
    let auth = SocksAuth {
        username: &user,
        password: "n1",
    };
    let first = traced_fetch(network, client, &mut watcher, "site-a.test", "/one", auth)?;
    let again = traced_fetch(network, client, &mut watcher, "site-a.test", "/two", auth)?;
    let third_party = traced_fetch(
        network,
        client,
        &mut watcher,
        "cdn.site-b.test",
        "/lib.js",
        auth,
    )?;
    let circuits = [&first.circuit, &again.circuit, &third_party.circuit];
    ensure(circuits.iter().all(|c| *c == circuits[0]), || {
        format!("same credentials used circuits {circuits:?} (conflux is off on this client)")
    })
}

fn extra_client_applies_flags(network: &TorNetwork) -> Result<(), String> {
    let options = ClientOptions {
        socks_flags: vec!["NoIsolateSOCKSAuth".into(), "IsolateDestAddr".into()],
        control_socket: true,
        ..ClientOptions::default()
    };
    let extra = network
        .add_client(options, CLIENT_START_TIMEOUT)
        .map_err(|e| e.to_string())?;
    ensure(extra.socks_addr() != network.client().socks_addr(), || {
        "extra client reuses the SocksPort".into()
    })?;

    let socket = extra
        .control_socket_path()
        .ok_or("no control socket path")?;
    let kind = std::fs::metadata(socket)
        .map_err(|e| format!("{}: {e}", socket.display()))?
        .file_type();
    ensure(kind.is_socket(), || {
        format!("{} is not a socket", socket.display())
    })?;
    let mut unix = UnixStream::connect(socket).map_err(|e| e.to_string())?;
    unix.set_read_timeout(Some(EVENT_TIMEOUT))
        .map_err(|e| e.to_string())?;
    unix.write_all(b"PROTOCOLINFO 1\r\n")
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(&unix)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    ensure(line.starts_with("250-PROTOCOLINFO"), || {
        format!("unix ControlPort answered {line:?}")
    })?;

    let mut watcher = stream_watcher(&extra)?;
    let (u1, u2) = (unique("no-iso-1"), unique("no-iso-2"));
    // NoIsolateSOCKSAuth: different credentials, same destination ⇒ one circuit.
    let one = traced_fetch(
        network,
        &extra,
        &mut watcher,
        "site-a.test",
        "/",
        SocksAuth {
            username: &u1,
            password: "p",
        },
    )?;
    let two = traced_fetch(
        network,
        &extra,
        &mut watcher,
        "site-a.test",
        "/",
        SocksAuth {
            username: &u2,
            password: "q",
        },
    )?;
    ensure(one.circuit == two.circuit, || {
        format!(
            "NoIsolateSOCKSAuth still split credentials: {} vs {}",
            one.circuit, two.circuit
        )
    })?;
    // IsolateDestAddr: same credentials, different destination names ⇒ different circuits.
    let other = traced_fetch(
        network,
        &extra,
        &mut watcher,
        "site-b.test",
        "/",
        SocksAuth {
            username: &u1,
            password: "p",
        },
    )?;
    ensure(other.circuit != one.circuit, || {
        format!("IsolateDestAddr shared circuit {}", one.circuit)
    })
}

fn client_restart_works(network: &TorNetwork) -> Result<(), String> {
    let client = network.client();
    let (pid, socks, control) = (client.pid(), client.socks_addr(), client.control_addr());
    client
        .restart(CLIENT_START_TIMEOUT)
        .map_err(|e| e.to_string())?;
    ensure(client.pid().is_some() && client.pid() != pid, || {
        format!("pid {pid:?} → {:?}", client.pid())
    })?;
    ensure(
        client.socks_addr() == socks && client.control_addr() == control,
        || "ports changed".into(),
    )?;
    let mut watcher = stream_watcher(client)?;
    let user = unique("after-restart");
    traced_fetch(
        network,
        client,
        &mut watcher,
        "site-a.test",
        "/",
        SocksAuth {
            username: &user,
            password: "p",
        },
    )
    .map(|_| ())
}

/// PIDs of running processes whose command line mentions `fragment`.
fn processes_mentioning(fragment: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(fragment))
        })
        .collect()
}

fn failed_start_is_loud(network: &TorNetwork) -> Result<(), String> {
    // A SocksPort tor refuses (the two flags contradict each other): the node exits at once and
    // the error shows tor's own complaint.
    let bad = ClientOptions {
        socks_flags: vec![
            "NoIsolateSOCKSAuth".into(),
            "KeepAliveIsolateSOCKSAuth".into(),
        ],
        ..ClientOptions::default()
    };
    let err = match network.add_client(bad, CLIENT_START_TIMEOUT) {
        Ok(client) => {
            return Err(format!(
                "{} started with contradictory SocksPort flags",
                client.name()
            ));
        }
        Err(e) => e.to_string(),
    };
    ensure(
        err.contains("exited") && err.contains("Invalid SocksPort configuration"),
        || format!("error does not say tor exited and why: {err}"),
    )?;
    // A client that cannot bootstrap: the bounded wait ends with the notice log.
    let offline = ClientOptions {
        extra_torrc: vec!["DisableNetwork 1".into()],
        ..ClientOptions::default()
    };
    let err = match network.add_client(offline, Duration::from_secs(3)) {
        Ok(client) => {
            return Err(format!(
                "{} bootstrapped with DisableNetwork 1",
                client.name()
            ));
        }
        Err(e) => e.to_string(),
    };
    ensure(
        err.contains("did not bootstrap in time") && err.contains("notice.log"),
        || format!("timeout error lacks the reason or the log tail: {err}"),
    )?;
    let dir = network.dir().display().to_string();
    let leftovers: Vec<u32> = processes_mentioning(&dir)
        .into_iter()
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).into_owned();
            !network
                .relays()
                .iter()
                .any(|r| cmdline.contains(&format!("/{}/torrc", r.nickname())))
                && !cmdline.contains(&format!("/{}/torrc", network.client().name()))
        })
        .collect();
    ensure(leftovers.is_empty(), || {
        format!("failed clients left tor processes behind: {leftovers:?}")
    })
}
