//! One fixed application trace (tests/src/measure/app_trace.rs) replayed on the private Tor
//! network under five isolation schemes, each on a fresh client tor; prints what tor's control
//! events show (circuits used, circuits built, circuits carrying more than one site, sites split
//! over circuits) beside the model's isolation-key count. docs/performance.md records the table.
//!
//! ```text
//! cargo bench -p persite-tests --bench app_isolation
//! ```
//!
//! - Tails: one SocksPort with `IsolateDestAddr IsolateDestPort`, no credentials.
//! - Whonix: a SocksPort per program with Whonix's flags (apt without destination isolation,
//!   git and the chat client with it, pip on the plain default port).
//! - torsocks `--isolate`: the credentials torsocks makes per process (`torsocks-<pid>:<unix
//!   time>`, password `0`; tpo/core/torsocks `src/common/config-file.c`), and, as torsocks does
//!   for every program, RESOLVE first, then CONNECT to the answer.
//! - Persite per application: the credentials `persite run --as PROGRAM --print-env` gives, from
//!   a real daemon on that client.
//! - Persite per site: through the daemon's SOCKS front, the program's name as SOCKS username
//!   (what `persite run --per-site` sets).

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, ExitCode};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use persite_tests::binaries;
use persite_tests::measure::app_replay::{Route, replay};
use persite_tests::measure::app_trace::{
    Approach, Measured, TraceStream, application_trace, evaluate, measured,
};
use persite_tests::measure::events::EventLog;
use persite_tests::test_daemon::{TestDaemon, start_with_front};
use persite_tests::tornet::{ClientOptions, TorClient, TorNetwork, TorNetworkOptions};
use serde_json::json;

/// Longest start of an extra client.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);
/// Longest wait for a daemon to see its tor.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("app_isolation: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let trace = application_trace();
    let network = TorNetwork::start(TorNetworkOptions::default()).map_err(|e| e.to_string())?;
    let programs: BTreeSet<&str> = trace.iter().map(|s| s.program).collect();
    let sites: BTreeSet<&str> = trace.iter().map(|s| s.site).collect();
    println!(
        "{} streams of {} programs to {} sites (tor {}).\n",
        trace.len(),
        programs.len(),
        sites.len(),
        tor_version()
    );
    println!(
        "| approach | circuits used | CIRC BUILT | circuits carrying >1 site | most sites on one circuit | sites split over >1 circuit | tor streams | model: isolation keys |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut splits = Vec::new();
    for approach in Approach::ALL {
        let m = measure(&network, approach, &trace)
            .map_err(|e| format!("{}: {e}", approach.label()))?;
        let model = evaluate(approach, &trace);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            approach.label(),
            m.circuits_used,
            m.circuits_built,
            m.shared_circuits,
            m.most_sites_on_a_circuit,
            m.split_sites,
            m.streams,
            model.keys
        );
        splits.push(format!("{}: {:?}", approach.label(), m.split_detail));
    }
    println!("\nSites split over circuits (circuit ids in trace order; R: the name lookup):");
    for line in splits {
        println!("- {line}");
    }
    Ok(())
}

/// Replays the trace under `approach` on a fresh client of `network`.
fn measure(
    network: &TorNetwork,
    approach: Approach,
    trace: &[TraceStream],
) -> Result<Measured, String> {
    let origin = network.origin().port();
    let started = |options: ClientOptions| {
        network
            .add_client(options, CLIENT_TIMEOUT)
            .map_err(|e| e.to_string())
    };
    let run = |client: &TorClient, route_of: &dyn Fn(&TraceStream) -> Route, resolve_all| {
        let events = EventLog::start(client)?;
        let carried = replay(trace, route_of, origin, &events, resolve_all)?;
        let built = events.circuits_built();
        events.finish()?;
        Ok::<_, String>(measured(trace, &carried, built))
    };
    match approach {
        Approach::TailsDestAddr => {
            let client = started(ClientOptions {
                socks_flags: vec!["IsolateDestAddr".into(), "IsolateDestPort".into()],
                ..ClientOptions::default()
            })?;
            let socks = client.socks_addr();
            run(&client, &|_| Route { socks, auth: None }, false)
        }
        Approach::WhonixPorts => {
            let [apt, git, chat] = free_ports()?;
            let client = started(ClientOptions {
                extra_torrc: vec![
                    format!("SocksPort 127.0.0.1:{apt}"),
                    format!("SocksPort 127.0.0.1:{git} IsolateDestAddr IsolateDestPort"),
                    format!("SocksPort 127.0.0.1:{chat} IsolateDestAddr IsolateDestPort"),
                ],
                ..ClientOptions::default()
            })?;
            let default = client.socks_addr();
            let port_of = |program: &str| match program {
                "apt" => SocketAddr::from(([127, 0, 0, 1], apt)),
                "git" => SocketAddr::from(([127, 0, 0, 1], git)),
                "chat" => SocketAddr::from(([127, 0, 0, 1], chat)),
                _ => default,
            };
            run(
                &client,
                &|s| Route {
                    socks: port_of(s.program),
                    auth: None,
                },
                false,
            )
        }
        Approach::TorsocksIsolate => {
            let client = started(ClientOptions::default())?;
            let socks = client.socks_addr();
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            run(
                &client,
                &|s| Route {
                    socks,
                    auth: Some((format!("torsocks-{}:{now}", s.process), "0".to_owned())),
                },
                true,
            )
        }
        Approach::PersiteApp => {
            let client = started(ClientOptions::default())?;
            let daemon = daemon_on(&client)?;
            let mut creds = std::collections::BTreeMap::new();
            for program in trace.iter().map(|s| s.program) {
                if !creds.contains_key(program) {
                    creds.insert(program, run_credentials(&daemon, program)?);
                }
            }
            let socks = client.socks_addr();
            run(
                &client,
                &|s| Route {
                    socks,
                    auth: creds.get(s.program).cloned(),
                },
                false,
            )
        }
        Approach::PersiteSite => {
            let client = started(ClientOptions::default())?;
            let daemon = daemon_on(&client)?;
            let status = daemon.rpc(json!({"id": 1, "type": "status"}))?;
            let front: SocketAddr = status["front"]
                .as_str()
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| format!("the daemon runs no front: {status}"))?;
            run(
                &client,
                &|s| Route {
                    socks: front,
                    auth: Some((s.program.to_owned(), "persite".to_owned())),
                },
                false,
            )
        }
    }
}

/// A daemon on `client` with its SOCKS front on an ephemeral loopback port.
fn daemon_on(client: &TorClient) -> Result<TestDaemon, String> {
    let daemon = start_with_front(client)?;
    daemon.wait_on_tor(DAEMON_TIMEOUT)?;
    Ok(daemon)
}

/// The SOCKS credentials `persite run --as NAME` gives a program (`--print-env`).
fn run_credentials(daemon: &TestDaemon, name: &str) -> Result<(String, String), String> {
    let binaries = binaries::ensure_built().map_err(|e| format!("{e:#}"))?;
    let out = Command::new("timeout")
        .args(["30"])
        .arg(&binaries.broker)
        .args(["run", "--as", name, "--print-env", "--", "true"])
        .env("PERSITE_RUNTIME_DIR", daemon.runtime_dir())
        .output()
        .map_err(|e| format!("persite run: {e}"))?;
    let env = String::from_utf8_lossy(&out.stdout).into_owned();
    let var = |key: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('=').map(str::to_owned))
            .ok_or_else(|| {
                format!(
                    "persite run --print-env set no {key}: {env} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
    };
    Ok((var("TORSOCKS_USERNAME")?, var("TORSOCKS_PASSWORD")?))
}

/// Three free loopback ports (bound, then released for tor to take).
fn free_ports() -> Result<[u16; 3], String> {
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let port = |i: usize| listeners[i].local_addr().map(|a| a.port());
    let ports = [port(0), port(1), port(2)];
    let [Ok(a), Ok(b), Ok(c)] = ports else {
        return Err("cannot read a bound port".into());
    };
    Ok([a, b, c])
}

fn tor_version() -> String {
    Command::new("tor")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout).lines().next().map(|l| {
                l.trim_start_matches("Tor version ")
                    .trim_end_matches('.')
                    .to_owned()
            })
        })
        .unwrap_or_else(|| "?".into())
}
