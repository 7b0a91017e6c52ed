//! The soak (issue 14, part 3) as its own command, not a test: a private Tor network, then real
//! Firefox with Persite browsing through it for `--pages` loads while faults are injected (see
//! `tests/src/soak/mod.rs`). Prints the figures and exits non-zero when an assertion fails.
//!
//! ```sh
//! cargo run -p persite-tests --release --bin soak -- --pages 1000 [--sites 40] [--seed 7] \
//!     [--gap 8-16] [--min-rate 0.95]
//! ```

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use persite_tests::soak::{SoakOptions, run_soak};
use persite_tests::tornet::{TorNetwork, TorNetworkOptions};

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("soak: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn parse_args() -> anyhow::Result<SoakOptions> {
    let mut options = SoakOptions {
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs()),
        ..SoakOptions::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--pages" => options.pages = value.parse()?,
            "--sites" => options.sites = value.parse()?,
            "--seed" => options.seed = value.parse()?,
            "--min-rate" => options.min_success_rate = value.parse()?,
            "--gap" => {
                let (low, high) = value.split_once('-').context("--gap MIN-MAX")?;
                options.fault_gap = (low.parse()?, high.parse()?);
            }
            other => bail!("unknown flag {other} (see the doc comment of tests/src/bin/soak.rs)"),
        }
    }
    Ok(options)
}

fn run() -> anyhow::Result<bool> {
    let options = parse_args()?;
    // Whole-run bound: 30 s per page at worst plus the network start.
    let bound = Duration::from_secs(600 + 30 * options.pages as u64);
    persite_tests::trial::spawn_run_watchdog("soak", bound);
    let binaries = persite_tests::binaries::ensure_built()?;
    eprintln!("[soak] starting the private Tor network");
    let network =
        TorNetwork::start(TorNetworkOptions::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    eprintln!("[soak] {options:?}");
    let report = runtime.block_on(run_soak(&network, &binaries, &options))?;
    println!("{report}");
    match report.verdict(options.pages >= 60) {
        Ok(()) => {
            println!("soak: ok");
            Ok(true)
        }
        Err(failures) => {
            println!("soak: FAILED\n{failures}");
            Ok(false)
        }
    }
}
