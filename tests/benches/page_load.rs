//! Issue 7.4: what isolation costs in real Firefox, measured, not asserted.
//!
//! Four headless Firefox sessions run side by side: `A` and `A'` with a static SOCKS proxy in
//! prefs (no extension; `A'` is the A-vs-A noise control), `T` with the trivial-listener
//! extension (`fixtures/trivial-listener-extension`: credentials per first party from a `Map`,
//! the floor of any `proxy.onRequest` answer) and `P` with Persite (extension, real native host,
//! real broker daemon). All proxy through the harness's recording SOCKS server to its fixture
//! server.
//!
//! 1. Loopback: after warm-up loads, rounds of one fresh navigation per browser of the
//!    50-resource page (`PageSpec::third_party_images(10, 5)` on `site-a.test`, every response
//!    `no-store`), in alternating order (A A' T P, P T A' A, …), idle connections closed before
//!    each load. Time = the page's `loadEventEnd - startTime`.
//! 2. The same with `--latency-ms` added by the SOCKS server before each CONNECT reply and by the
//!    fixture server before each response.
//! 3. Persite's listener probe (`persite:perf`): cache hits from 1 and 2.
//! 4. New sites: per round, each browser loads a tiny `no-store` document (`/cookies`) under a
//!    never-seen first party and under a cached one (order alternating); then, with less noise,
//!    the proxy decision of one request under a new and a cached first party is timed in the
//!    parent process (`nsIProtocolProxyService.asyncResolve`, which runs the extension's
//!    listener across the process boundary). The miss costs the difference.
//! 5. Persite's options page times messages to its background with and without one broker
//!    round trip (an in-browser upper bound for native messaging at the machine's load).
//!
//! Method, results and their reading: `docs/performance.md`, "Page-load cost in real Firefox".
//! Pass `PERSITE_BIN_DIR=target/release` to measure release binaries (else debug ones are built).
//!
//! `cargo bench -p persite-tests --bench page_load -- [--loads N] [--warmup N] [--latency-ms MS]
//! [--new-sites N] [--parent-process]` prints Markdown tables (stdout) and progress (stderr).
//! `--parent-process` sets `extensions.webextensions.remote=false` in every session.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use persite_tests::binaries;
use persite_tests::fixtures::{FixtureServer, PageSpec};
use persite_tests::measure_page_load::{
    MeasuredBrowser, ProbeReport, Spread, Variant, interleaved_order, measurement_prefs,
    median_paired_ratio,
};
use persite_tests::socks_recorder::{Latency, SocksRecorder};

/// Upper bound for the whole run (four browsers, every phase).
const RUN_TIMEOUT: Duration = Duration::from_secs(45 * 60);
/// Untimed pause after closing idle connections, so the closes have happened before the load.
const SETTLE: Duration = Duration::from_millis(100);

/// Command-line options.
#[derive(Debug, Clone)]
struct Options {
    loads: usize,
    warmup: usize,
    latency_ms: u64,
    new_sites: usize,
    parent_process: bool,
}

impl Options {
    fn parse() -> anyhow::Result<Self> {
        let mut options = Self {
            loads: 20,
            warmup: 3,
            latency_ms: 250,
            new_sites: 40,
            parent_process: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut number = |name: &str| -> anyhow::Result<u64> {
                args.next()
                    .with_context(|| format!("{name} needs a value"))?
                    .parse()
                    .with_context(|| format!("{name} needs a whole number"))
            };
            match arg.as_str() {
                "--loads" => options.loads = usize::try_from(number("--loads")?)?,
                "--warmup" => options.warmup = usize::try_from(number("--warmup")?)?,
                "--latency-ms" => options.latency_ms = number("--latency-ms")?,
                "--new-sites" => options.new_sites = usize::try_from(number("--new-sites")?)?,
                "--parent-process" => options.parent_process = true,
                // cargo bench passes --bench to harness = false targets.
                "--bench" => {}
                other => anyhow::bail!(
                    "unknown argument {other}; use --loads N --warmup N --latency-ms MS \
                     --new-sites N --parent-process"
                ),
            }
        }
        anyhow::ensure!(options.loads >= 1, "--loads must be at least 1");
        Ok(options)
    }
}

fn main() -> ExitCode {
    let options = match Options::parse() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("page_load: {error:#}");
            return ExitCode::from(2);
        }
    };
    std::thread::spawn(|| {
        std::thread::sleep(RUN_TIMEOUT);
        eprintln!("page_load: the run exceeded {RUN_TIMEOUT:?}; killing browsers and exiting");
        persite_tests::firefox::kill_all_sessions();
        std::process::exit(101);
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("page_load: {error}");
            return ExitCode::FAILURE;
        }
    };
    let binaries = match binaries::ensure_built() {
        Ok(binaries) => binaries,
        Err(error) => {
            eprintln!("page_load: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&options, &binaries)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("page_load: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Load times (ms) per browser, one entry per round.
struct Samples {
    labels: Vec<String>,
    load_ms: Vec<Vec<f64>>,
    tunnels: Vec<Vec<f64>>,
}

async fn run(options: &Options, binaries: &binaries::Binaries) -> anyhow::Result<()> {
    let fixtures = FixtureServer::start().await?;
    let recorder = SocksRecorder::start(fixtures.addr()).await?;
    let prefs = measurement_prefs(options.parent_process);
    let mut browsers = Vec::new();
    for (label, variant) in [
        ("A", Variant::StaticSocks),
        ("A'", Variant::StaticSocks),
        ("T", Variant::TrivialListener),
        ("P", Variant::Persite),
    ] {
        eprintln!("[page_load] starting {label} ({variant:?})");
        browsers.push(
            MeasuredBrowser::start(
                label,
                variant,
                recorder.addr(),
                Some(binaries),
                prefs.clone(),
            )
            .await?,
        );
    }
    let persite = &browsers[3];
    persite.enable_perf_probe().await?;

    println!("## page_load run\n");
    println!("{}\n", machine_line(options, binaries));
    let spec = PageSpec::third_party_images(10, 5);
    let url = spec.url("site-a.test");

    eprintln!(
        "[page_load] loopback: {} warm-up + {} rounds",
        options.warmup, options.loads
    );
    let loopback = measure_pages(&browsers, &recorder, &url, options.warmup, options.loads).await?;
    let probe_loopback = persite.read_perf_probe().await?;
    persite.reset_perf_probe().await?;
    print_pages("Loopback (no added latency)", &loopback);

    let latency = Duration::from_millis(options.latency_ms);
    eprintln!(
        "[page_load] latency {} ms per CONNECT and per response: 1 warm-up + {} rounds",
        options.latency_ms, options.loads
    );
    recorder.set_latency(Latency { connect: latency });
    fixtures.set_response_delay(latency);
    let delayed = measure_pages(&browsers, &recorder, &url, 1, options.loads).await;
    recorder.set_latency(Latency::default());
    fixtures.set_response_delay(Duration::ZERO);
    let delayed = delayed?;
    let probe_latency = persite.read_perf_probe().await?;
    persite.reset_perf_probe().await?;
    print_pages(
        &format!(
            "Tor-like latency (+{} ms before each SOCKS CONNECT reply and each HTTP response)",
            options.latency_ms
        ),
        &delayed,
    );

    eprintln!("[page_load] new sites: {} rounds", options.new_sites);
    let new_sites = measure_new_sites(&browsers, options.new_sites).await?;
    let probe_new_pages = persite.read_perf_probe().await?;
    persite.reset_perf_probe().await?;
    eprintln!("[page_load] proxy decisions: {} rounds", options.new_sites);
    let decisions = measure_proxy_decisions(&browsers, options.new_sites).await?;
    let probe_new = persite.read_perf_probe().await?;
    print_new_sites(&new_sites);
    print_decisions(&decisions);
    let (local, broker) = persite
        .message_round_trips(options.new_sites.max(20))
        .await?;
    print_round_trips(&local, &broker);
    print_probe(&[
        ("loopback page loads", &probe_loopback),
        ("latency page loads", &probe_latency),
        ("new-site page loads", &probe_new_pages),
        ("proxy-decision phase", &probe_new),
    ]);

    for browser in browsers {
        browser.firefox.shutdown().await;
    }
    Ok(())
}

fn machine_line(options: &Options, binaries: &binaries::Binaries) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), load average at start {}; options {options:?}; Persite binaries {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        binaries
            .native_host
            .parent()
            .map_or_else(String::new, |p| p.display().to_string())
    )
}

/// Warm-up loads (not recorded), then `rounds` interleaved rounds of one load per browser.
async fn measure_pages(
    browsers: &[MeasuredBrowser],
    recorder: &SocksRecorder,
    url: &str,
    warmup: usize,
    rounds: usize,
) -> anyhow::Result<Samples> {
    for _ in 0..warmup {
        for browser in browsers {
            browser.close_idle_connections().await?;
            tokio::time::sleep(SETTLE).await;
            browser.timed_load(url, true).await?;
        }
    }
    let mut samples = Samples {
        labels: browsers.iter().map(|b| b.label.clone()).collect(),
        load_ms: vec![Vec::new(); browsers.len()],
        tunnels: vec![Vec::new(); browsers.len()],
    };
    for round in 0..rounds {
        for index in interleaved_order(browsers.len(), round) {
            let browser = &browsers[index];
            browser.close_idle_connections().await?;
            tokio::time::sleep(SETTLE).await;
            let mark = recorder.mark();
            let timing = browser.timed_load(url, true).await?;
            let tunnels = recorder
                .connections_since(mark)
                .iter()
                .filter(|c| !c.silent)
                .count();
            samples.load_ms[index].push(timing.load_ms);
            samples.tunnels[index].push(tunnels as f64);
        }
        eprintln!(
            "[page_load] round {}: {}",
            round + 1,
            samples
                .labels
                .iter()
                .zip(&samples.load_ms)
                .map(|(l, v)| format!("{l} {:.0} ms", v.last().copied().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(samples)
}

fn print_pages(title: &str, samples: &Samples) {
    println!("### {title}\n");
    println!("| browser | loads | p10 ms | median ms | p90 ms | SOCKS tunnels per load (median) |");
    println!("|---|---|---|---|---|---|");
    for (index, label) in samples.labels.iter().enumerate() {
        let Some(spread) = Spread::of(&samples.load_ms[index]) else {
            continue;
        };
        let tunnels = Spread::of(&samples.tunnels[index]).map_or(0.0, |s| s.median);
        println!(
            "| {label} | {} | {:.1} | {:.1} | {:.1} | {tunnels:.0} |",
            spread.n, spread.p10, spread.median, spread.p90
        );
    }
    println!();
    println!("| ratio | of medians | median of per-round ratios |");
    println!("|---|---|---|");
    for (numerator, denominator) in [(1, 0), (2, 0), (3, 0), (3, 2)] {
        let (Some(n), Some(d)) = (
            Spread::of(&samples.load_ms[numerator]),
            Spread::of(&samples.load_ms[denominator]),
        ) else {
            continue;
        };
        let paired =
            median_paired_ratio(&samples.load_ms[numerator], &samples.load_ms[denominator])
                .unwrap_or(f64::NAN);
        println!(
            "| {} / {} | {:.3} | {paired:.3} |",
            samples.labels[numerator],
            samples.labels[denominator],
            n.median / d.median
        );
    }
    println!();
}

/// Per browser: (new-site timings, cached-site timings), one pair per round.
struct NewSiteSamples {
    labels: Vec<String>,
    new_load: Vec<Vec<f64>>,
    cached_load: Vec<Vec<f64>>,
    new_request_start: Vec<Vec<f64>>,
    cached_request_start: Vec<Vec<f64>>,
}

/// Each round, every browser (alternating order) loads `/cookies` under a never-seen first party
/// and under the cached `site-a.test` (which of the two first alternates too).
async fn measure_new_sites(
    browsers: &[MeasuredBrowser],
    rounds: usize,
) -> anyhow::Result<NewSiteSamples> {
    let n = browsers.len();
    let mut out = NewSiteSamples {
        labels: browsers.iter().map(|b| b.label.clone()).collect(),
        new_load: vec![Vec::new(); n],
        cached_load: vec![Vec::new(); n],
        new_request_start: vec![Vec::new(); n],
        cached_request_start: vec![Vec::new(); n],
    };
    let cached_url = "http://site-a.test/cookies";
    // Warm the cached site's tiny document once per browser.
    for browser in browsers {
        browser.close_idle_connections().await?;
        browser.timed_load(cached_url, false).await?;
    }
    let run = std::process::id();
    for round in 0..rounds {
        for index in interleaved_order(n, round) {
            let browser = &browsers[index];
            let new_url = format!("http://new{run}x{round}x{index}.test/cookies");
            let order: [(&str, bool); 2] = if (round / 2) % 2 == 0 {
                [(&new_url, true), (cached_url, false)]
            } else {
                [(cached_url, false), (&new_url, true)]
            };
            for (url, is_new) in order {
                browser.close_idle_connections().await?;
                tokio::time::sleep(SETTLE).await;
                let timing = browser.timed_load(url, false).await?;
                if is_new {
                    out.new_load[index].push(timing.load_ms);
                    out.new_request_start[index].push(timing.request_start_ms);
                } else {
                    out.cached_load[index].push(timing.load_ms);
                    out.cached_request_start[index].push(timing.request_start_ms);
                }
            }
        }
    }
    Ok(out)
}

fn paired_differences(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

fn print_new_sites(samples: &NewSiteSamples) {
    println!("### First request of a new site vs a cached site (tiny `no-store` document)\n");
    println!(
        "| browser | rounds | cached load median ms | new load median ms | new − cached: difference of medians | median of per-round differences (p10 … p90) | requestStart: median of per-round differences (p10 … p90) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (index, label) in samples.labels.iter().enumerate() {
        let (Some(cached), Some(new)) = (
            Spread::of(&samples.cached_load[index]),
            Spread::of(&samples.new_load[index]),
        ) else {
            continue;
        };
        let diffs = paired_differences(&samples.new_load[index], &samples.cached_load[index]);
        let Some(diff) = Spread::of(&diffs) else {
            continue;
        };
        let Some(request_start) = Spread::of(&paired_differences(
            &samples.new_request_start[index],
            &samples.cached_request_start[index],
        )) else {
            continue;
        };
        println!(
            "| {label} | {} | {:.2} | {:.2} | {:+.2} | {:+.2} ({:+.2} … {:+.2}) | {:+.2} ({:+.2} … {:+.2}) |",
            diff.n,
            cached.median,
            new.median,
            new.median - cached.median,
            diff.median,
            diff.p10,
            diff.p90,
            request_start.median,
            request_start.p10,
            request_start.p90
        );
    }
    println!();
}

fn print_probe(reports: &[(&str, &ProbeReport)]) {
    println!("### Persite's own time in `proxy.onRequest` (perf probe)\n");
    println!("| phase | kind | samples | median µs | p90 µs | p99 µs | max µs |");
    println!("|---|---|---|---|---|---|---|");
    for (phase, report) in reports {
        if report.timer_coarse {
            println!("| {phase} | (timer coarse: samples rounded to 1 ms) | | | | | |");
        }
        for (kind, summary) in [
            ("hit", &report.hit),
            ("miss (sync part)", &report.miss),
            ("miss (until answered)", &report.miss_answered),
        ] {
            if let Some(s) = summary {
                println!(
                    "| {phase} | {kind} | {} | {:.1} | {:.1} | {:.1} | {:.0} |",
                    s.count, s.median_us, s.p90_us, s.p99_us, s.max_us
                );
            }
        }
        if report.black_hole_count > 0 {
            println!(
                "| {phase} | black hole | {} | | | | |",
                report.black_hole_count
            );
        }
    }
    println!();
}

/// Per browser: proxy-decision times (ms) under new and cached first parties, one per round.
struct DecisionSamples {
    labels: Vec<String>,
    new_ms: Vec<Vec<f64>>,
    cached_ms: Vec<Vec<f64>>,
}

/// Each round, every browser (alternating order) times the proxy decision of one request under
/// a never-seen first party and one under the cached `site-a.test` (order alternating); a new
/// first party must get other credentials than the cached one wherever credentials are given.
async fn measure_proxy_decisions(
    browsers: &[MeasuredBrowser],
    rounds: usize,
) -> anyhow::Result<DecisionSamples> {
    let n = browsers.len();
    let mut out = DecisionSamples {
        labels: browsers.iter().map(|b| b.label.clone()).collect(),
        new_ms: vec![Vec::new(); n],
        cached_ms: vec![Vec::new(); n],
    };
    let cached = "site-a.test".to_owned();
    for browser in browsers {
        browser
            .proxy_decisions(std::slice::from_ref(&cached))
            .await?;
    }
    let run = std::process::id();
    for round in 0..rounds {
        for index in interleaved_order(n, round) {
            let new = format!("decide{run}x{round}x{index}.test");
            let new_first = round % 2 == 0;
            let hosts = if new_first {
                vec![new, cached.clone()]
            } else {
                vec![cached.clone(), new]
            };
            let answers = browsers[index].proxy_decisions(&hosts).await?;
            let (new_answer, cached_answer) = if new_first {
                (&answers[0], &answers[1])
            } else {
                (&answers[1], &answers[0])
            };
            anyhow::ensure!(
                new_answer.proxy_type == "socks" && cached_answer.proxy_type == "socks",
                "{}: proxy decision answered {new_answer:?} / {cached_answer:?}",
                out.labels[index]
            );
            anyhow::ensure!(
                browsers[index].variant == Variant::StaticSocks
                    || (!new_answer.username.is_empty()
                        && new_answer.username != cached_answer.username),
                "{}: a new first party got {new_answer:?}, the cached one {cached_answer:?}",
                out.labels[index]
            );
            out.new_ms[index].push(new_answer.ms);
            out.cached_ms[index].push(cached_answer.ms);
        }
    }
    Ok(out)
}

fn print_decisions(samples: &DecisionSamples) {
    println!("### Proxy decision of one request, new vs cached first party (parent process)\n");
    println!(
        "| browser | rounds | cached: p10 / median / p90 ms | new: p10 / median / p90 ms | new − cached: median of per-round differences (p10 … p90) |"
    );
    println!("|---|---|---|---|---|");
    for (index, label) in samples.labels.iter().enumerate() {
        let (Some(cached), Some(new), Some(diff)) = (
            Spread::of(&samples.cached_ms[index]),
            Spread::of(&samples.new_ms[index]),
            Spread::of(&paired_differences(
                &samples.new_ms[index],
                &samples.cached_ms[index],
            )),
        ) else {
            continue;
        };
        println!(
            "| {label} | {} | {:.3} / {:.3} / {:.3} | {:.3} / {:.3} / {:.3} | {:+.3} ({:+.3} … {:+.3}) |",
            diff.n,
            cached.p10,
            cached.median,
            cached.p90,
            new.p10,
            new.median,
            new.p90,
            diff.median,
            diff.p10,
            diff.p90
        );
    }
    println!();
}

fn print_round_trips(local: &[f64], broker: &[f64]) {
    println!("### Persite options page → background messages (one broker round trip apart)\n");
    println!("| message | count | p10 ms | median ms | p90 ms |");
    println!("|---|---|---|---|---|");
    for (what, values) in [
        ("`persite:perf-reset` (no broker)", local),
        ("`persite:circuit` (+ broker round trip)", broker),
    ] {
        if let Some(s) = Spread::of(values) {
            println!(
                "| {what} | {} | {:.3} | {:.3} | {:.3} |",
                s.n, s.p10, s.median, s.p90
            );
        }
    }
    if let Some(diff) = Spread::of(&paired_differences(broker, local)) {
        println!(
            "| difference (median of pairs) | {} | {:+.3} | {:+.3} | {:+.3} |",
            diff.n, diff.p10, diff.median, diff.p90
        );
    }
    println!();
}
