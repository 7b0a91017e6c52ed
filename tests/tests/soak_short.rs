//! The short soak: the code of the soak command (`tests/src/soak/`, `tests/src/bin/soak.rs`) with a
//! small page count, every fault kind at least once, and the same assertions (0 direct
//! connections, 0 unauthenticated streams, 0 credential pairs on two first parties, every fault
//! recovered, success rate after recovery).
//!
//! Custom runner (`harness = false`) on the binary's own private Tor network, like the other
//! `tor_*`/`e2e_tor` binaries. Run: `cargo test -p persite-tests --test soak_short`.

use std::process::ExitCode;
use std::time::Duration;

use persite_tests::soak::{SoakOptions, run_soak};
use persite_tests::tornet::shared::{run_with_network, tor_trial};
use persite_tests::tornet::{TorNetwork, TorNetworkOptions};
use persite_tests::{binaries, trial};

/// Upper bound for the soak itself (Firefox start included).
const SOAK_TIMEOUT: Duration = Duration::from_secs(200);
/// Upper bound for the whole binary (network start and building the binaries included).
const RUN_TIMEOUT: Duration = Duration::from_secs(15 * 60);

fn main() -> ExitCode {
    trial::spawn_run_watchdog("soak_short", RUN_TIMEOUT);
    run_with_network(TorNetworkOptions::default(), |shared| {
        vec![tor_trial(
            shared,
            "soak_every_fault_kind_no_leak_no_cross_site_credentials",
            short_soak,
        )]
    })
}

fn short_soak(network: &TorNetwork) -> Result<(), String> {
    trial::run_scenario(
        "soak",
        "short",
        || {
            let binaries = binaries::ensure_built()?;
            binaries::extension_dir()?;
            Ok(binaries)
        },
        |binaries| {
            let options = SoakOptions {
                pages: 40,
                sites: 12,
                seed: 14,
                fault_gap: (3, 3),
                recovery_bound: Duration::from_secs(60),
                min_success_rate: 0.9,
                progress_every: 0,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let report = runtime.block_on(trial::within(
                SOAK_TIMEOUT,
                run_soak(network, &binaries, &options),
            ))?;
            eprintln!("{report}");
            report.verdict(true).map_err(anyhow::Error::msg)?;
            Ok(format!(
                "{} pages, {} faults, {:.1} % after recovery",
                report.attempted,
                report.faults.len(),
                report.steady_rate() * 100.0
            ))
        },
    )
}
