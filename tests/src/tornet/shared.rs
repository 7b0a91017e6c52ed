//! One network per test binary: a lazily started [`TorNetwork`] and a `libtest-mimic` runner.
//!
//! A `static` would never be dropped (tor processes would outlive the run until
//! `__OwningControllerProcess` noticed), so test binaries that need Tor use `harness = false`
//! and [`run_with_network`]: the network starts when the first selected trial asks for it (not
//! at all for `--list` or a filter that selects no Tor trial), trials run one at a time, and the
//! network is stopped before the process exits.

use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use libtest_mimic::{Arguments, Trial};

use super::{TorNetwork, TorNetworkOptions};

/// A network test: gets the shared network, returns a failure message.
pub type TorTest = fn(&TorNetwork) -> Result<(), String>;

/// A network started on first use and shared by every trial of a test binary.
#[derive(Debug)]
pub struct SharedTorNetwork {
    options: TorNetworkOptions,
    state: Mutex<Option<Result<Arc<TorNetwork>, String>>>,
}

impl SharedTorNetwork {
    /// Prepares (does not start) a network with `options`.
    pub fn new(options: TorNetworkOptions) -> Self {
        Self {
            options,
            state: Mutex::new(None),
        }
    }

    /// The running network, starting it on the first call; a failed start is remembered and
    /// reported to every later caller instead of being retried.
    pub fn get(&self) -> Result<Arc<TorNetwork>, String> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.is_none() {
            let started = TorNetwork::start(self.options.clone())
                .map(Arc::new)
                .map_err(|e| e.to_string());
            if let Ok(network) = &started {
                let t = network.timings();
                eprintln!(
                    "tornet: network ready in {:.1?} (keys {:.1?}, bootstrap {:.1?}, full consensus {:.1?}, \
                     warm-up {:.1?}); {} MiB RSS; dir {}",
                    t.total,
                    t.keys,
                    t.bootstrap,
                    t.full_consensus,
                    t.warmup,
                    network.rss_kib() / 1024,
                    network.dir().display()
                );
            }
            *state = Some(started);
        }
        state
            .as_ref()
            .map_or_else(|| Err("network state missing".into()), Clone::clone)
    }

    /// Stops the network (if started). Trials must be finished; later `get` calls fail.
    pub fn shutdown(&self) {
        let taken = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(Err("network shut down".into()));
        drop(taken);
    }
}

/// Runs `trials` (built with access to the shared network) one at a time, then stops the
/// network and returns the exit code for `main`.
pub fn run_with_network(
    options: TorNetworkOptions,
    trials: impl FnOnce(&Arc<SharedTorNetwork>) -> Vec<Trial>,
) -> ExitCode {
    let mut args = Arguments::from_args();
    // One network, 2 CI cores: trials that share circuits and logs must not interleave.
    args.test_threads = Some(1);
    let shared = Arc::new(SharedTorNetwork::new(options));
    let trials = trials(&shared);
    let conclusion = libtest_mimic::run(&args, trials);
    shared.shutdown();
    conclusion.exit_code()
}

/// Log lines of every node printed with a failed trial.
const FAILURE_LOG_LINES: usize = 30;

/// A trial that runs `test` against the shared network (starting it if needed).
pub fn tor_trial(shared: &Arc<SharedTorNetwork>, name: &str, test: TorTest) -> Trial {
    let shared = Arc::clone(shared);
    Trial::test(name, move || {
        let network = shared.get()?;
        // The nodes' own words are what explains a network failure seen once in CI.
        test(&network).map_err(|failure| {
            format!("{failure}\n{}", network.log_tails(FAILURE_LOG_LINES)).into()
        })
    })
}
