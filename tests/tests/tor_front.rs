//! Per-application and per-site isolation for programs outside the browser, on the private Tor
//! network: the daemon's SOCKS front and `persite run`, driven with real programs (curl, a
//! Python client, torsocks, tor-resolve) against the loopback origin, judged by what tor's
//! control port reports for each stream (its SOCKS credentials and circuit).
//!
//! Custom runner (`harness = false`): one network for the binary, trials in sequence.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitCode, Output};
use std::time::Duration;

use persite_tests::binaries;
use persite_tests::control_probe::{ControlProbe, StreamEvent};
use persite_tests::strace::{Endpoint, parse_log};
use persite_tests::stream_trace::Creds;
use persite_tests::stream_trace::{TracedStream, traced_streams};
use persite_tests::test_daemon::{TestDaemon, start_with_front};
use persite_tests::tornet::onion::ONION_PORT;
use persite_tests::tornet::shared::{run_with_network, tor_trial};
use persite_tests::tornet::{OnionServices, TorNetwork, TorNetworkOptions};
use persite_tests::trial::ensure;
use serde_json::json;

/// Bound on one program run through tor.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on waiting for tor's STREAM events of the runs.
const EVENTS_WAIT: Duration = Duration::from_secs(30);
/// Bound on starting the onion services' tor and publishing their descriptors.
const ONION_WAIT: Duration = Duration::from_secs(120);

fn main() -> ExitCode {
    run_with_network(TorNetworkOptions::default(), |shared| {
        vec![
            tor_trial(
                shared,
                "front_gives_each_context_and_site_its_circuit",
                front_contexts_and_sites,
            ),
            tor_trial(
                shared,
                "persite_run_gives_each_identity_its_circuit",
                run_identities,
            ),
            tor_trial(
                shared,
                "front_answers_resolve_and_keys_ip_literals_by_the_resolved_site",
                resolve_and_ip_literals,
            ),
            tor_trial(
                shared,
                "no_local_dns_program_and_daemon_strace",
                no_local_dns,
            ),
            tor_trial(
                shared,
                "torsocks_wget_reaches_onion_services_per_application_and_per_site",
                torsocks_onion,
            ),
        ]
    })
}

/// A daemon on the network client with the front on an ephemeral loopback port.
struct FrontDaemon {
    daemon: TestDaemon,
    front: SocketAddr,
}

impl FrontDaemon {
    fn start(network: &TorNetwork) -> Result<Self, String> {
        let daemon = start_with_front(network.client())?;
        let status = daemon.rpc(json!({"id": 1, "type": "status"}))?;
        let front = status["front"]
            .as_str()
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("the daemon runs no front: {status}\n{}", daemon.log()))?;
        Ok(Self { daemon, front })
    }

    /// Runs `persite run ARGS…` against this daemon.
    fn persite_run(&self, args: &[&str]) -> Result<Output, String> {
        let binaries = binaries::ensure_built().map_err(|e| format!("{e:#}"))?;
        run_bounded(
            Command::new(&binaries.broker)
                .arg("run")
                .args(args)
                .env("PERSITE_RUNTIME_DIR", self.daemon.runtime_dir()),
        )
    }
}

/// Runs a command with [`RUN_TIMEOUT`] (killed after it).
fn run_bounded(command: &mut Command) -> Result<Output, String> {
    let mut wrapped = Command::new("timeout");
    wrapped
        .arg("--kill-after=5")
        .arg(RUN_TIMEOUT.as_secs().to_string())
        .arg(command.get_program());
    wrapped.args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(v) => wrapped.env(key, v),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))
}

fn succeeded(what: &str, output: &Output) -> Result<String, String> {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    ensure(output.status.success(), || {
        format!(
            "{what}: {} — stdout {stdout:?} stderr {:?}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    Ok(stdout)
}

/// A STREAM watcher on the network client.
fn watcher(network: &TorNetwork) -> Result<ControlProbe, String> {
    let mut probe = network.client().control().map_err(|e| e.to_string())?;
    probe
        .command("SETEVENTS STREAM")
        .map_err(|e| e.to_string())?;
    Ok(probe)
}

/// Tor's streams until every host of `hosts` has a finished stream (SUCCEEDED, or CLOSED for a
/// RESOLVE), grouped per stream.
fn streams_for(probe: &mut ControlProbe, hosts: &[&str]) -> Result<Vec<TracedStream>, String> {
    let done = |events: &[StreamEvent]| {
        let traced = traced_streams(events);
        hosts.iter().all(|h| {
            traced.iter().any(|s| {
                s.host == *h
                    && s.creds.is_some()
                    && s.log
                        .iter()
                        .any(|l| l.starts_with("SUCCEEDED") || l.starts_with("CLOSED"))
            })
        })
    };
    let events = probe
        .collect_stream_events(EVENTS_WAIT, done)
        .map_err(|e| e.to_string())?;
    let traced = traced_streams(&events);
    ensure(done(&events), || {
        format!("tor never reported streams to every one of {hosts:?}: {traced:#?}")
    })?;
    Ok(traced)
}

fn stream<'a>(traced: &'a [TracedStream], host: &str) -> Result<&'a TracedStream, String> {
    traced
        .iter()
        .find(|s| s.host == host && s.creds.is_some())
        .ok_or_else(|| format!("no stream to {host} in {traced:#?}"))
}

/// A tiny SOCKS5 client in Python (no PySocks): CONNECT by name through `front` with username
/// `context`, then one HTTP GET; prints the status line.
const PYTHON_CLIENT: &str = r#"
import socket, sys
front_host, front_port, context, host, port = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), sys.argv[4].encode(), int(sys.argv[5])
s = socket.create_connection((front_host, front_port), timeout=50)
s.sendall(b"\x05\x01\x02")
assert s.recv(2) == b"\x05\x02"
s.sendall(bytes([1, len(context)]) + context + b"\x01x")
assert s.recv(2) == b"\x01\x00"
s.sendall(b"\x05\x01\x00\x03" + bytes([len(host)]) + host + port.to_bytes(2, "big"))
reply = s.recv(10)
assert reply[1] == 0, reply
s.sendall(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
print(s.recv(64).split(b"\r\n")[0].decode())
"#;

fn python_fetch(front: SocketAddr, context: &str, host: &str, port: u16) -> Result<(), String> {
    let out = run_bounded(
        Command::new("python3")
            .arg("-c")
            .arg(PYTHON_CLIENT)
            .arg(front.ip().to_string())
            .arg(front.port().to_string())
            .arg(context)
            .arg(host)
            .arg(port.to_string()),
    )?;
    let line = succeeded(&format!("python client to {host}"), &out)?;
    ensure(line.contains(" 200"), || {
        format!("python client to {host}: {line:?}")
    })
}

fn curl_via(proxy: &str, url: &str) -> Result<(), String> {
    let out = run_bounded(Command::new("curl").args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--proxy",
        proxy,
        url,
    ]))?;
    let code = succeeded(&format!("curl {url}"), &out)?;
    ensure(code == "200", || format!("curl {url}: HTTP {code}"))
}

/// Through the front: one context reaching two hosts of one site shares a credential pair and
/// circuit; another site, and the same site in another context, get their own.
fn front_contexts_and_sites(network: &TorNetwork) -> Result<(), String> {
    let daemon = FrontDaemon::start(network)?;
    let port = network.origin().port();
    let mut probe = watcher(network)?;
    python_fetch(daemon.front, "alpha", "www.shop-a.test", port)?;
    python_fetch(daemon.front, "alpha", "img.shop-a.test", port)?;
    python_fetch(daemon.front, "alpha", "shop-b.test", port)?;
    curl_via(
        &format!("socks5h://beta:x@{}", daemon.front),
        &format!("http://cart.shop-a.test:{port}/"),
    )?;
    let traced = streams_for(
        &mut probe,
        &[
            "www.shop-a.test",
            "img.shop-a.test",
            "shop-b.test",
            "cart.shop-a.test",
        ],
    )?;
    let www = stream(&traced, "www.shop-a.test")?;
    let img = stream(&traced, "img.shop-a.test")?;
    let b = stream(&traced, "shop-b.test")?;
    ensure(www.creds == img.creds, || {
        format!("two hosts of shop-a.test rode different credentials: {www:#?} {img:#?}")
    })?;
    ensure(www.circuit.is_some() && www.circuit == img.circuit, || {
        format!("two hosts of shop-a.test on different circuits: {www:#?} {img:#?}")
    })?;
    ensure(b.creds != www.creds && b.circuit != www.circuit, || {
        format!("shop-a.test and shop-b.test shared credentials or a circuit: {www:#?} {b:#?}")
    })?;
    let beta = stream(&traced, "cart.shop-a.test")?;
    ensure(beta.creds != www.creds && beta.creds != b.creds, || {
        format!(
            "context beta's stream to shop-a.test did not ride credentials of its own: {traced:#?}"
        )
    })?;
    ensure(beta.circuit != www.circuit, || {
        format!("contexts alpha and beta shared a circuit for shop-a.test: {traced:#?}")
    })?;
    // Nothing identifying in tor's view: the credentials name neither the site nor the context.
    for s in &traced {
        if let Some(c) = &s.creds {
            ensure(
                !c.username.contains("shop") && !c.username.contains("alpha"),
                || format!("credentials name the site or context: {c:?}"),
            )?;
        }
    }
    let status = daemon.daemon.rpc(json!({"id": 2, "type": "status"}))?;
    let apps = status["apps"].as_array().cloned().unwrap_or_default();
    ensure(
        apps.iter().any(|a| a["name"] == "alpha" && a["sites"] == 2),
        || format!("status does not list context alpha with 2 sites: {status}"),
    )?;
    Ok(())
}

/// `persite run`: the same identity keeps one pair (and circuit) across two runs; another
/// identity gets its own; `--per-site` splits one program's sites.
fn run_identities(network: &TorNetwork) -> Result<(), String> {
    let daemon = FrontDaemon::start(network)?;
    let port = network.origin().port();
    let mut probe = watcher(network)?;
    let curl = |name: &str, host: &str, per_site: bool| -> Result<(), String> {
        let url = format!("http://{host}:{port}/");
        let mut args = vec!["--as", name];
        if per_site {
            args.push("--per-site");
        }
        args.extend([
            "--",
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            url.as_str(),
        ]);
        let out = daemon.persite_run(&args)?;
        let code = succeeded(&format!("persite run --as {name} curl {url}"), &out)?;
        ensure(code == "200", || {
            format!("persite run curl {url}: HTTP {code}")
        })
    };
    curl("one", "first.run-a.test", false)?;
    curl("one", "second.run-a.test", false)?;
    curl("two", "third.run-a.test", false)?;
    curl("split", "x.site-x.test", true)?;
    curl("split", "y.site-y.test", true)?;
    let traced = streams_for(
        &mut probe,
        &[
            "first.run-a.test",
            "second.run-a.test",
            "third.run-a.test",
            "x.site-x.test",
            "y.site-y.test",
        ],
    )?;
    let first = stream(&traced, "first.run-a.test")?;
    let second = stream(&traced, "second.run-a.test")?;
    let third = stream(&traced, "third.run-a.test")?;
    ensure(
        first.creds == second.creds && first.circuit == second.circuit,
        || {
            format!(
                "identity one changed credentials or circuit between runs: {first:#?} {second:#?}"
            )
        },
    )?;
    ensure(
        third.creds != first.creds && third.circuit != first.circuit,
        || format!("identities one and two shared credentials or a circuit: {first:#?} {third:#?}"),
    )?;
    let x = stream(&traced, "x.site-x.test")?;
    let y = stream(&traced, "y.site-y.test")?;
    ensure(x.creds != y.creds && x.circuit != y.circuit, || {
        format!("--per-site put two sites of one program on one key or circuit: {x:#?} {y:#?}")
    })?;
    ensure(x.creds != first.creds && x.creds != third.creds, || {
        "a --per-site stream rode another identity's credentials".to_owned()
    })?;
    // The environment names the daemon's endpoints and nothing of the program's destinations.
    let env = daemon.persite_run(&["--as", "one", "--print-env", "--", "true"])?;
    let env = succeeded("persite run --print-env", &env)?;
    let socks = network.client().socks_addr();
    ensure(
        env.contains(&format!("@{socks}")) && env.contains("TORSOCKS_USERNAME="),
        || format!("persite run --print-env: {env}"),
    )?;
    Ok(())
}

/// tor's RESOLVE through the front: tor-resolve (no username: the default context) and
/// torsocks (context from TORSOCKS_USERNAME, via `persite run --torsocks --per-site`) get the
/// exit's answer on the name's site credentials; a later CONNECT to the answered address in
/// the same context rides that site's pair, and in another context the address is its own site.
fn resolve_and_ip_literals(network: &TorNetwork) -> Result<(), String> {
    let daemon = FrontDaemon::start(network)?;
    let port = network.origin().port();
    let mut probe = watcher(network)?;
    let tor_resolve = run_bounded(Command::new("tor-resolve").args([
        "-5",
        "resolve-me.site-r.test",
        &daemon.front.to_string(),
    ]))?;
    let answer = succeeded("tor-resolve through the front", &tor_resolve)?;
    ensure(answer.trim() == "127.0.0.1", || {
        format!("tor-resolve answered {answer:?}, not the exit's 127.0.0.1")
    })?;
    // The default context now connects to the address: the resolved site's pair.
    curl_via(
        &format!("socks5h://{}", daemon.front),
        &format!("http://127.0.0.1:{port}/"),
    )?;
    // Another context connecting to the same address: the address is its own site.
    curl_via(
        &format!("socks5h://other:x@{}", daemon.front),
        &format!("http://127.0.0.1:{port}/"),
    )?;
    let torsocks = daemon.persite_run(&[
        "--as",
        "ts",
        "--per-site",
        "--torsocks",
        "--",
        "python3",
        "-c",
        "import socket; print(socket.gethostbyname('torsocks.site-t.test'))",
    ])?;
    let resolved = succeeded("torsocks resolving through the front", &torsocks)?;
    ensure(resolved.trim() == "127.0.0.1", || {
        format!("torsocks resolved {resolved:?}")
    })?;
    let traced = streams_for(
        &mut probe,
        &["resolve-me.site-r.test", "torsocks.site-t.test"],
    )?;
    let resolve = stream(&traced, "resolve-me.site-r.test")?;
    let literal: Vec<&TracedStream> = traced
        .iter()
        .filter(|s| s.host == "127.0.0.1" && s.creds.is_some())
        .collect();
    ensure(literal.len() == 2, || {
        format!("expected two streams to 127.0.0.1: {traced:#?}")
    })?;
    ensure(literal[0].creds == resolve.creds, || {
        format!(
            "the address answered for site-r.test did not ride its pair: {resolve:#?} {:#?}",
            literal[0]
        )
    })?;
    ensure(literal[1].creds != resolve.creds, || {
        "another context's stream to the address rode the resolving context's pair".to_owned()
    })?;
    let ts = stream(&traced, "torsocks.site-t.test")?;
    ensure(ts.creds != resolve.creds, || {
        "torsocks' lookup rode the default context's pair".to_owned()
    })?;
    Ok(())
}

/// Under strace: `persite run --per-site -- curl` and the daemon serving it resolve nothing
/// locally; the program connects only to the daemon's socket and the front, the daemon only to
/// tor's SOCKS port.
fn no_local_dns(network: &TorNetwork) -> Result<(), String> {
    let daemon = FrontDaemon::start(network)?;
    let port = network.origin().port();
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let daemon_log = work.path().join("daemon.strace");
    let program_log = work.path().join("program.strace");
    let pid = daemon.daemon.pid().ok_or("the daemon has no pid")?;
    let mut tracer = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=connect,sendto,sendmsg,sendmmsg",
            "-o",
        ])
        .arg(&daemon_log)
        .args(["-p", &pid.to_string()])
        .spawn()
        .map_err(|e| format!("cannot start strace (the test command installs it): {e}"))?;
    // strace attaches to every thread before the first traced call is written.
    std::thread::sleep(Duration::from_millis(500));
    let binaries = binaries::ensure_built().map_err(|e| format!("{e:#}"))?;
    let url = format!("http://traced.site-s.test:{port}/");
    let out = run_bounded(
        Command::new("strace")
            .args([
                "-f",
                "-qq",
                "-e",
                "trace=connect,sendto,sendmsg,sendmmsg,execve,clone,clone3,fork,vfork",
                "-o",
            ])
            .arg(&program_log)
            .arg(&binaries.broker)
            .args([
                "run",
                "--as",
                "traced",
                "--per-site",
                "--",
                "curl",
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .arg(&url)
            .env("PERSITE_RUNTIME_DIR", daemon.daemon.runtime_dir()),
    )?;
    let code = succeeded("persite run curl under strace", &out)?;
    let _ = Command::new("kill")
        .args(["-INT", &tracer.id().to_string()])
        .status();
    let _ = tracer.wait();
    ensure(code == "200", || format!("curl under strace: HTTP {code}"))?;
    let tor = network.client().socks_addr();
    let socket = daemon.daemon.socket();
    let read = |path: &std::path::Path| std::fs::read_to_string(path).map_err(|e| e.to_string());
    let program = parse_log(&read(&program_log)?);
    let served = parse_log(&read(&daemon_log)?);
    ensure(!program.is_empty() && !served.is_empty(), || {
        "strace recorded nothing: was anything traced?".to_owned()
    })?;
    for event in program.iter().chain(&served) {
        ensure(event.is_failed_nss_cache_probe() || !event.is_dns(), || {
            format!("a DNS lookup: {}", event.line)
        })?;
    }
    for event in &program {
        let allowed = match &event.endpoint {
            Endpoint::Inet(ip, p) => std::net::SocketAddr::new(*ip, *p) == daemon.front,
            Endpoint::Unix(path) => Path::new(path) == socket || event.is_failed_nss_cache_probe(),
            Endpoint::Other(_) => true,
        };
        ensure(allowed, || {
            format!(
                "the program connected elsewhere than the front: {}",
                event.line
            )
        })?;
    }
    for event in &served {
        if let Endpoint::Inet(ip, p) = &event.endpoint {
            ensure(std::net::SocketAddr::new(*ip, *p) == tor, || {
                format!(
                    "the daemon connected elsewhere than tor's SOCKS port: {}",
                    event.line
                )
            })?;
        }
    }
    ensure(
        served.iter().any(|e| matches!(&e.endpoint, Endpoint::Inet(ip, p) if std::net::SocketAddr::new(*ip, *p) == tor)),
        || "the daemon's stream to tor was not seen: was it traced?".to_owned(),
    )?;
    Ok(())
}

/// The credentials `persite run --as NAME` gives a program (from `--print-env`).
fn run_credentials(daemon: &FrontDaemon, name: &str) -> Result<Creds, String> {
    let out = daemon.persite_run(&["--as", name, "--print-env", "--", "true"])?;
    let env = succeeded("persite run --print-env", &out)?;
    let var = |key: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('=').map(str::to_owned))
            .ok_or_else(|| format!("persite run --print-env set no {key}: {env}"))
    };
    Ok(Creds {
        username: var("TORSOCKS_USERNAME")?,
        password: var("TORSOCKS_PASSWORD")?,
    })
}

/// `persite run RUN_ARGS -- torsocks wget URLS…` (wget under torsocks, ignoring the proxy
/// variables `persite run` sets too); each page must come from the loopback origin.
fn torsocks_wget(daemon: &FrontDaemon, run_args: &[&str], hosts: &[&str]) -> Result<(), String> {
    let urls: Vec<String> = hosts
        .iter()
        .map(|h| format!("http://{h}:{ONION_PORT}/"))
        .collect();
    let mut args: Vec<&str> = run_args.to_vec();
    args.extend([
        "--torsocks",
        "--",
        "wget",
        "-q",
        "-O",
        "-",
        "--no-proxy",
        "--tries=1",
    ]);
    args.extend(urls.iter().map(String::as_str));
    let out = daemon.persite_run(&args)?;
    let body = succeeded(
        &format!("persite run {run_args:?} torsocks wget {urls:?}"),
        &out,
    )?;
    let pages = body.matches("persite-tornet origin=").count();
    ensure(pages == hosts.len(), || {
        format!("torsocks wget {urls:?} got {pages} pages from the origin: {body:?}")
    })
}

/// torsocks with a real program (wget) end to end through onion services, where torsocks does
/// not refuse the destination (it refuses loopback addresses, the answer for every other name
/// on this network): per application, two identities reach one service on two circuits with
/// their own credentials; through the front (`--per-site`), two hosts of one onion name share
/// a pair and a circuit, two onion names are two sites.
fn torsocks_onion(network: &TorNetwork) -> Result<(), String> {
    let onions = OnionServices::start(network, 2, ONION_WAIT).map_err(|e| e.to_string())?;
    let (a, b) = (&onions.hostnames()[0], &onions.hostnames()[1]);
    let www_a = format!("www.{a}");
    let daemon = FrontDaemon::start(network)?;
    let one = run_credentials(&daemon, "onion-one")?;
    let two = run_credentials(&daemon, "onion-two")?;
    let mut probe = watcher(network)?;
    torsocks_wget(&daemon, &["--as", "onion-one"], &[a])?;
    torsocks_wget(&daemon, &["--as", "onion-two"], &[a])?;
    torsocks_wget(
        &daemon,
        &["--as", "onion-sites", "--per-site"],
        &[a, &www_a, b],
    )?;
    // Every stream finished: 2 per-application to `a`, then the front's three.
    let done = |events: &[StreamEvent]| {
        let traced = traced_streams(events);
        let finished = |s: &&TracedStream| s.circuit.is_some() && s.creds.is_some();
        let to = |h: &str| {
            traced
                .iter()
                .filter(|s| s.host == h)
                .filter(finished)
                .count()
        };
        to(a) >= 3 && to(&www_a) >= 1 && to(b) >= 1
    };
    let events = probe
        .collect_stream_events(EVENTS_WAIT, done)
        .map_err(|e| e.to_string())?;
    let traced = traced_streams(&events);
    ensure(done(&events), || {
        format!("tor never reported every onion stream: {traced:#?}")
    })?;
    let by = |host: &str, pick: &dyn Fn(&Creds) -> bool| -> Result<TracedStream, String> {
        traced
            .iter()
            .find(|s| s.host == host && s.circuit.is_some() && s.creds.as_ref().is_some_and(pick))
            .cloned()
            .ok_or_else(|| format!("no such stream to {host} in {traced:#?}"))
    };
    let app_one = by(a, &|c| *c == one)?;
    let app_two = by(a, &|c| *c == two)?;
    ensure(app_one.circuit != app_two.circuit, || {
        format!(
            "identities onion-one and onion-two shared a circuit to {a}: {app_one:#?} {app_two:#?}"
        )
    })?;
    let per_app = |c: &Creds| *c == one || *c == two;
    let site_a = by(a, &|c| !per_app(c))?;
    let site_www_a = by(&www_a, &|c| !per_app(c))?;
    let site_b = by(b, &|c| !per_app(c))?;
    ensure(
        site_a.creds == site_www_a.creds && site_a.circuit == site_www_a.circuit,
        || {
            format!(
                "two hosts of one onion site rode different pairs or circuits: {site_a:#?} {site_www_a:#?}"
            )
        },
    )?;
    ensure(
        site_a.creds != site_b.creds && site_a.circuit != site_b.circuit,
        || format!("two onion sites shared a pair or a circuit: {site_a:#?} {site_b:#?}"),
    )?;
    Ok(())
}
