//! Measurements on the private Tor network (issues 5.7 and 6.4); results go to
//! `docs/performance.md` ("Tor isolation on a private network") and `docs/policies.md`.
//!
//! ```text
//! cargo bench -p persite-tests --bench tor_measure -- [all|ttfb|trace]
//!     [--samples N] [--seconds-per-minute S] [--out DIR]
//! ```
//!
//! - `ttfb`: time to the response of a new site's first request (new credentials: tor builds a
//!   circuit or takes a clean pre-built one) and of a request on an already-used site (its circuit
//!   exists), N samples each, on a client with tor's predicted circuits on and one with them off.
//! - `trace`: the browsing trace of `persite_tests::measure::trace`, replayed with time compressed
//!   (default 1 simulated minute = 1 real second; each client's `MaxCircuitDirtiness` is scaled
//!   the same way) once per scenario, each on a fresh client, all scenarios at the same time:
//!   Persite per-site credentials under the keep-alive, max-age, max-bytes and per-tab policies
//!   (credentials from the real `persite::Isolator` with the simulated clock), tor's
//!   `IsolateDestAddr` without credentials, and no isolation. Streams are tied to circuits by the
//!   control port's `STREAM` events.
//!
//! Writes `<out>/tor-measure-<unix time>.json`, `<out>/latest.json` and `<out>/policies-chart.svg`
//! (default `<workspace>/target/tor-measure`) and prints Markdown tables. Every tor it starts is
//! stopped when it ends (the network and clients stop on drop).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use persite::policy::{Policy, PolicyTable};
use persite::{Isolator, IssuedCredentials, Psl};
use persite_tests::measure::chart::{Panel, bar_chart};
use persite_tests::measure::events::EventLog;
use persite_tests::measure::stats::{CircuitUse, StreamRecord, Summary, circuit_use, summarize};
use persite_tests::measure::trace::{self, TRACE_MINUTES, Visit};
use persite_tests::tornet::fetch::{SocksAuth, SocksFetch, http_get_via_socks};
use persite_tests::tornet::{ClientOptions, TorClient, TorNetwork, TorNetworkOptions};
use serde_json::{Value, json};

/// Container of every request (the extension's default store).
const CONTAINER: &str = "firefox-default";
/// Longest single fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for a stream's events after its fetch returned.
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest start of an extra client.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);
/// Pause before an already-used site's request, as between two clicks.
const USED_PAUSE: Duration = Duration::from_millis(300);
/// Pause between TTFB samples, so each new site meets a settled client.
const SAMPLE_PAUSE: Duration = Duration::from_millis(400);
/// tor's `MaxCircuitDirtiness` default (10 minutes), scaled with the trace's clock.
const DIRTINESS_SIM_MIN: f64 = 10.0;
/// The simulated clock starts here (Unix ms) for the isolator.
const SIM_EPOCH_MS: u64 = 1_800_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    All,
    Ttfb,
    Trace,
}

#[derive(Debug, Clone)]
struct Args {
    which: Which,
    samples: usize,
    seconds_per_minute: f64,
    out: PathBuf,
}

fn parse_args(raw: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        which: Which::All,
        samples: 30,
        seconds_per_minute: 1.0,
        out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tor-measure"),
    };
    let mut raw = raw.peekable();
    while let Some(arg) = raw.next() {
        let mut value = |name: &str| raw.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            // cargo bench passes --bench to every bench binary.
            "--bench" => {}
            "all" => args.which = Which::All,
            "ttfb" => args.which = Which::Ttfb,
            "trace" => args.which = Which::Trace,
            "--samples" => {
                args.samples = value("--samples")?
                    .parse()
                    .map_err(|e| format!("--samples: {e}"))?;
                if args.samples < 2 {
                    return Err("--samples must be at least 2".into());
                }
            }
            "--seconds-per-minute" => {
                args.seconds_per_minute = value("--seconds-per-minute")?
                    .parse()
                    .map_err(|e| format!("--seconds-per-minute: {e}"))?;
                // tor refuses MaxCircuitDirtiness below 10 s.
                if !(1.0..=60.0).contains(&args.seconds_per_minute) {
                    return Err("--seconds-per-minute must be from 1 to 60".into());
                }
            }
            "--out" => args.out = PathBuf::from(value("--out")?),
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: tor_measure [all|ttfb|trace] \
                     [--samples N] [--seconds-per-minute S] [--out DIR]"
                ));
            }
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("tor_measure: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tor_measure: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let psl = Arc::new(Psl::vendored().map_err(|e| format!("loading the PSL: {e}"))?);
    let load_before = load_average();
    let started = Instant::now();
    eprintln!("tor_measure: starting the private network…");
    let net = TorNetwork::start(TorNetworkOptions::default()).map_err(|e| e.to_string())?;
    let timings = net.timings();
    eprintln!(
        "tor_measure: network ready in {:.1} s",
        timings.total.as_secs_f64()
    );
    let mut report = json!({
        "command": format!("cargo bench -p persite-tests --bench tor_measure -- {}",
            std::env::args().skip(1).filter(|a| a != "--bench").collect::<Vec<_>>().join(" ")),
        "unix_time": unix_now_s(),
        "machine": machine(),
        "load_average_before": load_before,
        "network_start_s": timings.total.as_secs_f64(),
    });
    if matches!(args.which, Which::All | Which::Ttfb) {
        let ttfb = measure_ttfb(&net, &psl, args.samples)?;
        print_ttfb(&ttfb);
        report["ttfb"] = ttfb;
    }
    if matches!(args.which, Which::All | Which::Trace) {
        let trace = measure_trace(&net, &psl, args.seconds_per_minute)?;
        print_trace(&trace);
        std::fs::create_dir_all(&args.out)
            .map_err(|e| format!("creating {}: {e}", args.out.display()))?;
        let svg = policies_chart(&trace, args.seconds_per_minute);
        write(&args.out.join("policies-chart.svg"), &svg)?;
        report["trace"] = trace;
    }
    report["load_average_after"] = json!(load_average());
    report["wall_s"] = json!(started.elapsed().as_secs_f64());
    drop(net);
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("creating {}: {e}", args.out.display()))?;
    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    write(
        &args.out.join(format!("tor-measure-{}.json", unix_now_s())),
        &text,
    )?;
    write(&args.out.join("latest.json"), &text)?;
    eprintln!(
        "tor_measure: done in {:.0} s; results in {}",
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Time to first byte: new site vs already-used site.

/// One new-site sample.
struct TtfbSample {
    new_ms: f64,
    used_ms: f64,
    /// A third request, right after the second one closed, to the first request's host again
    /// (the exit has its name cached).
    back_to_back_ms: f64,
    /// The new site's circuit was launched after its request started (built for it), rather
    /// than taken from the clean circuits tor keeps ready.
    built_for_it: bool,
    /// LAUNCHED → BUILT of that circuit, when it was built for the request.
    build_ms: Option<f64>,
    /// The second request of the site used the first one's circuit.
    same_circuit: bool,
}

fn measure_ttfb(net: &TorNetwork, psl: &Arc<Psl>, samples: usize) -> Result<Value, String> {
    // tor reaches 100 % bootstrap only by building a circuit, so predicted circuits are turned
    // off after the start, and the clean circuits it already holds are closed.
    let variants = [
        ("predicted_on", "tor default (predicted circuits on)", false),
        (
            "predicted_off",
            "predicted circuits off (__DisablePredictedCircuits 1)",
            true,
        ),
    ];
    let mut out = serde_json::Map::new();
    for (key, label, predicted_off) in variants {
        eprintln!("tor_measure: ttfb {label}: starting a client…");
        let client = net
            .add_client(
                ClientOptions {
                    socks_flags: vec!["KeepAliveIsolateSOCKSAuth".into()],
                    ..ClientOptions::default()
                },
                CLIENT_TIMEOUT,
            )
            .map_err(|e| e.to_string())?;
        if predicted_off {
            disable_predicted_circuits(&client)?;
        }
        let events = EventLog::start(&client)?;
        let runtime = runtime()?;
        let mut isolator = Isolator::new(Arc::clone(psl));
        // Let tor finish what it builds right after bootstrap.
        std::thread::sleep(Duration::from_secs(2));
        let mut taken = Vec::with_capacity(samples);
        for i in 0..samples {
            let site = format!("fresh{i}-{key}.test");
            let creds = isolator
                .credentials_at(&format!("http://www.{site}/"), CONTAINER, now_ms())
                .map_err(|e| e.to_string())?;
            let since = events.mark();
            let t0 = Instant::now();
            let first = fetch(
                &runtime,
                net,
                &client,
                &format!("www.{site}"),
                "/new",
                &creds,
            )?;
            let new_ms = ms(t0.elapsed());
            let attach = events.stream_of(first.source_addr, since, EVENT_TIMEOUT)?;
            let launched = events.launched_at(&attach.circuit_id);
            let built_for_it = launched.is_some_and(|at| at >= t0);
            let build_ms = launched
                .filter(|_| built_for_it)
                .zip(events.built_at(&attach.circuit_id))
                .map(|(l, b)| ms(b.saturating_duration_since(l)));
            // A stream opened right after another one on the same circuit closed waits ~45 ms
            // more (see docs/performance.md), so the used-site request comes after a pause, as a
            // click does; the back-to-back case is the third request.
            std::thread::sleep(USED_PAUSE);
            let since = events.mark();
            let t1 = Instant::now();
            let second = fetch(
                &runtime,
                net,
                &client,
                &format!("static.{site}"),
                "/used",
                &creds,
            )?;
            let used_ms = ms(t1.elapsed());
            let again = events.stream_of(second.source_addr, since, EVENT_TIMEOUT)?;
            let t2 = Instant::now();
            fetch(
                &runtime,
                net,
                &client,
                &format!("www.{site}"),
                "/again",
                &creds,
            )?;
            let back_to_back_ms = ms(t2.elapsed());
            taken.push(TtfbSample {
                new_ms,
                used_ms,
                back_to_back_ms,
                built_for_it,
                build_ms,
                same_circuit: again.circuit_id == attach.circuit_id,
            });
            std::thread::sleep(SAMPLE_PAUSE);
        }
        events.finish()?;
        drop(client);
        let pick = |f: &dyn Fn(&TtfbSample) -> Option<f64>| -> Vec<f64> {
            taken.iter().filter_map(f).collect()
        };
        out.insert(
            key.to_owned(),
            json!({
                "label": label,
                "samples": samples,
                "new_site_ms": summary_json(summarize(&pick(&|s| Some(s.new_ms)))),
                "new_site_built_for_it_ms":
                    summary_json(summarize(&pick(&|s| s.built_for_it.then_some(s.new_ms)))),
                "new_site_prebuilt_ms":
                    summary_json(summarize(&pick(&|s| (!s.built_for_it).then_some(s.new_ms)))),
                "circuit_build_ms": summary_json(summarize(&pick(&|s| s.build_ms))),
                "used_site_ms": summary_json(summarize(&pick(&|s| Some(s.used_ms)))),
                "used_site_back_to_back_ms":
                    summary_json(summarize(&pick(&|s| Some(s.back_to_back_ms)))),
                "built_for_it": taken.iter().filter(|s| s.built_for_it).count(),
                "second_request_same_circuit": taken.iter().filter(|s| s.same_circuit).count(),
                "raw_new_ms": pick(&|s| Some(s.new_ms)),
                "raw_used_ms": pick(&|s| Some(s.used_ms)),
            }),
        );
    }
    Ok(Value::Object(out))
}

/// Stops tor from building circuits ahead of need and closes the circuits it holds, so every
/// new credential pair needs a circuit built on demand.
fn disable_predicted_circuits(client: &TorClient) -> Result<(), String> {
    let mut control = client.control().map_err(|e| e.to_string())?;
    control
        .command("SETCONF __DisablePredictedCircuits=1")
        .map_err(|e| e.to_string())?;
    for circuit in control.circuits().map_err(|e| e.to_string())? {
        // A circuit may close by itself meanwhile; that is what we want anyway.
        let _ = control.command(&format!("CLOSECIRCUIT {}", circuit.id));
    }
    Ok(())
}

fn print_ttfb(ttfb: &Value) {
    println!("\n## Time to first byte (ms; loopback network)\n");
    println!("| client | request | n | median | p90 | min | max |");
    println!("|---|---|---|---|---|---|---|");
    let Some(variants) = ttfb.as_object() else {
        return;
    };
    for v in variants.values() {
        for (key, what) in [
            ("new_site_ms", "new site (all)"),
            ("new_site_built_for_it_ms", "new site, circuit built for it"),
            ("new_site_prebuilt_ms", "new site, pre-built clean circuit"),
            ("used_site_ms", "already-used site"),
            (
                "used_site_back_to_back_ms",
                "already-used site, right after its previous stream closed",
            ),
            ("circuit_build_ms", "circuit LAUNCHED→BUILT"),
        ] {
            let s = &v[key];
            if s.is_null() {
                continue;
            }
            println!(
                "| {} | {what} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                v["label"].as_str().unwrap_or(""),
                s["n"],
                s["median"].as_f64().unwrap_or(f64::NAN),
                s["p90"].as_f64().unwrap_or(f64::NAN),
                s["min"].as_f64().unwrap_or(f64::NAN),
                s["max"].as_f64().unwrap_or(f64::NAN),
            );
        }
        println!(
            "\n{}: {} of {} new sites got a circuit built for them; the second request used \
             the first one's circuit in {} of {}.\n",
            v["label"].as_str().unwrap_or(""),
            v["built_for_it"],
            v["samples"],
            v["second_request_same_circuit"],
            v["samples"],
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The browsing trace under each isolation mode and policy.

/// One replay of the trace.
struct Scenario {
    key: &'static str,
    label: &'static str,
    socks_flags: &'static [&'static str],
    /// Persite credentials under this policy, or no credentials at all.
    policy: Option<Policy>,
}

/// Threshold of the max-bytes policy: the video site crosses it every ~2 views.
const MAX_BYTES: u64 = 50 * 1024 * 1024;
/// Age of the max-age policy: Brave's 10 minutes.
const MAX_AGE: Duration = Duration::from_secs(600);

fn scenarios() -> Vec<Scenario> {
    let persite = &["KeepAliveIsolateSOCKSAuth"][..];
    let policy = |age: Option<Duration>, bytes: Option<u64>, per_tab: bool| Policy {
        max_age: age,
        max_bytes: bytes,
        per_tab,
    };
    vec![
        Scenario {
            key: "keep_alive",
            label: "Persite, keep-alive",
            socks_flags: persite,
            policy: Some(Policy::KEEP_ALIVE),
        },
        Scenario {
            key: "max_age",
            label: "Persite, max-age 10 min",
            socks_flags: persite,
            policy: Some(policy(Some(MAX_AGE), None, false)),
        },
        Scenario {
            key: "max_bytes",
            label: "Persite, max-bytes 50 MiB",
            socks_flags: persite,
            policy: Some(policy(None, Some(MAX_BYTES), false)),
        },
        Scenario {
            key: "per_tab",
            label: "Persite, per-tab",
            socks_flags: persite,
            policy: Some(policy(None, None, true)),
        },
        Scenario {
            key: "isolate_dest_addr",
            label: "IsolateDestAddr, no credentials",
            socks_flags: &["IsolateDestAddr"],
            policy: None,
        },
        Scenario {
            key: "no_isolation",
            label: "no isolation (one shared circuit)",
            socks_flags: &["NoIsolateSOCKSAuth"],
            policy: None,
        },
    ]
}

/// What one replay measured.
struct Replay {
    usage: CircuitUse,
    circuits_built: usize,
    credential_pairs: usize,
    rotations_by_bytes: usize,
    failures: Vec<String>,
    max_lag_s: f64,
    real_s: f64,
}

fn measure_trace(
    net: &TorNetwork,
    psl: &Arc<Psl>,
    seconds_per_minute: f64,
) -> Result<Value, String> {
    let visits = trace::browsing_trace();
    let requests: usize = visits.iter().map(|v| v.resources.len()).sum();
    let dirtiness_s = (DIRTINESS_SIM_MIN * seconds_per_minute).round() as u64;
    let all = scenarios();
    eprintln!(
        "tor_measure: trace: {} views, {requests} requests, {TRACE_MINUTES} simulated minutes at \
         {seconds_per_minute} s each, {} scenarios in parallel…",
        visits.len(),
        all.len()
    );
    let results: Vec<Result<Replay, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = all
            .iter()
            .map(|scenario| {
                let visits = &visits;
                scope.spawn(move || {
                    replay(net, psl, scenario, visits, seconds_per_minute, dirtiness_s)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("replay thread panicked".into()))
            })
            .collect()
    });
    let mut rows = Vec::new();
    for (scenario, result) in all.iter().zip(results) {
        let r = result.map_err(|e| format!("{}: {e}", scenario.label))?;
        rows.push(json!({
            "key": scenario.key,
            "label": scenario.label,
            "socks_flags": scenario.socks_flags,
            "policy": scenario.policy.map(|p| p.to_json()),
            "streams": r.usage.streams,
            "circuits_used": r.usage.circuits_used,
            "circuits_built": r.circuits_built,
            "streams_per_circuit_mean": r.usage.streams_per_circuit_mean,
            "streams_per_circuit_max": r.usage.streams_per_circuit_max,
            "max_sites_per_circuit": r.usage.max_sites_per_circuit,
            "longest_window_min": r.usage.longest_window_min,
            "longest_window_site": r.usage.longest_window_site,
            "credential_pairs": r.credential_pairs,
            "rotations_by_bytes": r.rotations_by_bytes,
            "failures": r.failures,
            "max_lag_s": r.max_lag_s,
            "real_s": r.real_s,
        }));
    }
    let sites: BTreeSet<&str> = visits.iter().map(|v| v.site).collect();
    let hosts: BTreeSet<&str> = visits
        .iter()
        .flat_map(|v| v.resources.iter().map(|r| r.host.as_str()))
        .collect();
    Ok(json!({
        "views": visits.len(),
        "requests": requests,
        "first_parties": sites.len(),
        "hosts": hosts.len(),
        "simulated_minutes": TRACE_MINUTES,
        "seconds_per_simulated_minute": seconds_per_minute,
        "max_circuit_dirtiness_s": dirtiness_s,
        "scenarios": rows,
    }))
}

fn replay(
    net: &TorNetwork,
    psl: &Arc<Psl>,
    scenario: &Scenario,
    visits: &[Visit],
    seconds_per_minute: f64,
    dirtiness_s: u64,
) -> Result<Replay, String> {
    let client = net
        .add_client(
            ClientOptions {
                socks_flags: scenario
                    .socks_flags
                    .iter()
                    .map(|f| (*f).to_owned())
                    .collect(),
                extra_torrc: vec![format!("MaxCircuitDirtiness {dirtiness_s}")],
                ..ClientOptions::default()
            },
            CLIENT_TIMEOUT,
        )
        .map_err(|e| e.to_string())?;
    let events = EventLog::start(&client)?;
    let runtime = runtime()?;
    let mut isolator = scenario.policy.map(|policy| {
        let mut isolator = Isolator::new(Arc::clone(psl));
        isolator.set_policies(PolicyTable::new(policy));
        isolator
    });
    let mut records = Vec::new();
    let mut pairs = BTreeSet::new();
    let mut failures = Vec::new();
    let mut rotations_by_bytes = 0;
    let mut max_lag_s: f64 = 0.0;
    let t0 = Instant::now();
    for visit in visits {
        let due = t0 + Duration::from_secs_f64(f64::from(visit.at_min) * seconds_per_minute);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else {
            max_lag_s = max_lag_s.max((now - due).as_secs_f64());
        }
        let sim_ms = SIM_EPOCH_MS + u64::from(visit.at_min) * 60_000;
        for resource in &visit.resources {
            let creds = match isolator.as_mut() {
                Some(isolator) => Some(
                    isolator
                        .credentials_in_tab_at(
                            &format!("http://www.{}/", visit.site),
                            CONTAINER,
                            Some(visit.tab),
                            sim_ms,
                        )
                        .map_err(|e| e.to_string())?,
                ),
                None => None,
            };
            if let Some(c) = &creds {
                pairs.insert((c.username.clone(), c.password.clone()));
            }
            let since = events.mark();
            let fetched = match &creds {
                Some(c) => fetch(&runtime, net, &client, &resource.host, &resource.path, c),
                None => fetch_plain(&runtime, net, &client, &resource.host, &resource.path),
            };
            let attach = fetched
                .and_then(|f| events.stream_of(f.source_addr, since, EVENT_TIMEOUT))
                .and_then(|attach| same_credentials(&attach, creds.as_ref()).map(|()| attach));
            let attach = match attach {
                Ok(attach) => attach,
                Err(e) => {
                    failures.push(format!("{}{}: {e}", resource.host, resource.path));
                    continue;
                }
            };
            records.push(StreamRecord {
                circuit: attach.circuit_id.clone(),
                site: visit.site.to_owned(),
                at_min: f64::from(visit.at_min),
            });
            // Feed the isolator's byte meter as the daemon does from STREAM/STREAM_BW events,
            // with the trace's simulated sizes (the loopback bodies are ~100 bytes).
            if let (Some(isolator), Some(c)) = (isolator.as_mut(), &creds) {
                isolator.stream_attached(
                    &attach.stream_id,
                    c.username.as_bytes(),
                    c.password.as_bytes(),
                );
                if isolator
                    .stream_bytes(&attach.stream_id, resource.bytes)
                    .is_some()
                {
                    rotations_by_bytes += 1;
                }
                isolator.stream_closed(&attach.stream_id);
            }
        }
    }
    let real_s = t0.elapsed().as_secs_f64();
    // Let late CIRC events arrive.
    std::thread::sleep(Duration::from_secs(1));
    let circuits_built = events.circuits_built();
    events.finish()?;
    drop(client);
    Ok(Replay {
        usage: circuit_use(&records),
        circuits_built,
        credential_pairs: pairs.len(),
        rotations_by_bytes,
        failures,
        max_lag_s,
        real_s,
    })
}

fn print_trace(trace: &Value) {
    println!(
        "\n## Browsing trace: {} views, {} requests, {} first parties, {} hosts, {} simulated \
         minutes at {} s each (MaxCircuitDirtiness {} s)\n",
        trace["views"],
        trace["requests"],
        trace["first_parties"],
        trace["hosts"],
        trace["simulated_minutes"],
        trace["seconds_per_simulated_minute"],
        trace["max_circuit_dirtiness_s"],
    );
    println!(
        "| scenario | circuits used | CIRC BUILT (all) | streams | streams/circuit (mean, max) | \
         max sites/circuit | longest circuit–site window (sim min) | credential pairs | failures |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for s in trace["scenarios"].as_array().into_iter().flatten() {
        println!(
            "| {} | {} | {} | {} | {:.1}, {} | {} | {} ({}) | {} | {} |",
            s["label"].as_str().unwrap_or(""),
            s["circuits_used"],
            s["circuits_built"],
            s["streams"],
            s["streams_per_circuit_mean"].as_f64().unwrap_or(f64::NAN),
            s["streams_per_circuit_max"],
            s["max_sites_per_circuit"],
            s["longest_window_min"],
            s["longest_window_site"].as_str().unwrap_or(""),
            s["credential_pairs"],
            s["failures"].as_array().map_or(0, Vec::len),
        );
        for f in s["failures"].as_array().into_iter().flatten().take(3) {
            eprintln!("  failure in {}: {f}", s["label"]);
        }
    }
}

fn policies_chart(trace: &Value, seconds_per_minute: f64) -> String {
    let rows: Vec<&Value> = trace["scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let bars = |field: &str| -> Vec<(String, f64)> {
        rows.iter()
            .map(|s| {
                (
                    s["label"].as_str().unwrap_or("").to_owned(),
                    s[field].as_f64().unwrap_or(0.0),
                )
            })
            .collect()
    };
    bar_chart(
        "One 60-minute browsing trace on a private Tor network",
        &format!(
            "8 first parties, 10 shared third parties, {} requests; 1 simulated minute = {} s \
             (tor's MaxCircuitDirtiness scaled alike)",
            trace["requests"], seconds_per_minute
        ),
        &[
            Panel {
                title: "Circuits that carried streams (fewer = cheaper)".into(),
                unit: "circuits".into(),
                bars: bars("circuits_used"),
            },
            Panel {
                title: "Longest time one circuit carried one site (shorter = less linkable)".into(),
                unit: "min".into(),
                bars: bars("longest_window_min"),
            },
            Panel {
                title: "Most first parties on one circuit (1 = sites never share)".into(),
                unit: "site(s)".into(),
                bars: bars("max_sites_per_circuit"),
            },
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

/// GET through `client` with Persite credentials; the body must be the origin's answer.
fn fetch(
    runtime: &tokio::runtime::Runtime,
    net: &TorNetwork,
    client: &TorClient,
    host: &str,
    path: &str,
    creds: &IssuedCredentials,
) -> Result<SocksFetch, String> {
    let auth = SocksAuth {
        username: &creds.username,
        password: &creds.password,
    };
    fetch_with(runtime, net, client, host, path, Some(auth))
}

/// GET through `client` without credentials.
fn fetch_plain(
    runtime: &tokio::runtime::Runtime,
    net: &TorNetwork,
    client: &TorClient,
    host: &str,
    path: &str,
) -> Result<SocksFetch, String> {
    fetch_with(runtime, net, client, host, path, None)
}

fn fetch_with(
    runtime: &tokio::runtime::Runtime,
    net: &TorNetwork,
    client: &TorClient,
    host: &str,
    path: &str,
    auth: Option<SocksAuth<'_>>,
) -> Result<SocksFetch, String> {
    let port = net.origin().port();
    let fetched = runtime.block_on(http_get_via_socks(
        client.socks_addr(),
        host,
        port,
        path,
        auth,
        FETCH_TIMEOUT,
    ));
    // `http_get_via_socks` aborts its connection task on return; running the runtime once more
    // drops it, so the stream closes now (as a finished browser connection) rather than at the
    // next fetch, where it would still be open on the circuit.
    runtime.block_on(async {
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
    });
    let fetched = fetched?;
    let expected = net.origin().expected_body(&format!("{host}:{port}"), path);
    if fetched.status != 200 || fetched.body != expected {
        return Err(format!(
            "{host}{path}: got {} {:?}, want 200 {expected:?}",
            fetched.status, fetched.body
        ));
    }
    Ok(fetched)
}

/// Checks that tor saw the credentials the request was sent with, i.e. that the stream found by
/// its source address is this request's.
fn same_credentials(
    attach: &persite_tests::measure::events::StreamAttach,
    creds: Option<&IssuedCredentials>,
) -> Result<(), String> {
    let sent = creds.map(|c| (c.username.as_str(), c.password.as_str()));
    let seen = attach.username.as_deref().zip(attach.password.as_deref());
    if sent == seen {
        Ok(())
    } else {
        Err(format!(
            "stream {} carried other SOCKS credentials than its request",
            attach.stream_id
        ))
    }
}

fn summary_json(summary: Option<Summary>) -> Value {
    summary.map_or(
        Value::Null,
        |s| json!({"n": s.n, "min": s.min, "median": s.median, "p90": s.p90, "max": s.max}),
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

fn unix_now_s() -> u64 {
    now_ms() / 1000
}

fn write(path: &std::path::Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_default();
    let tor = std::process::Command::new("tor")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default();
    json!({
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu_model": cpu,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default().trim(),
        "tor": tor,
    })
}
