//! The runner pieces shared by the end-to-end binaries with a custom runner (`libtest-mimic`,
//! `harness = false`): a whole-run watchdog, a `main` for binaries whose trials share one harness,
//! and the trial wrapper: prepare untimed (build the Persite binaries), run the scenario under a
//! time bound, and print one line per trial on stderr, `[<tag>] <name>: ok in <s> s: <summary>`
//! or `[<tag>] <name>: FAILED in <s> s`.
//!
//! Hand-written because libtest-mimic runs plain closures: it has no notion of untimed set-up,
//! per-trial bounds, summary lines or state shared by the trials.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};

use crate::binaries::{self, Binaries};

/// Bounds the whole run: after `bound`, kills every Firefox session and exits with 101 (a
/// per-trial timeout cannot interrupt a blocked thread).
pub fn spawn_run_watchdog(binary: &'static str, bound: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(bound);
        eprintln!("{binary}: the run exceeded {bound:?}; killing browsers and exiting");
        crate::firefox::kill_all_sessions();
        std::process::exit(101);
    });
}

/// The `main` of a binary whose trials share one harness: trials run one at a time (one browser
/// at a time: the machine is small and trials share the servers' logs); a harness that fails to
/// start prints `<harness_name> failed to start: <error>` and exits with 101; the harness is
/// dropped (its servers stopped) before the process exits.
pub fn run_with_harness<H>(
    harness_name: &str,
    start: impl FnOnce() -> anyhow::Result<H>,
    trials: impl FnOnce(&Arc<H>) -> Vec<Trial>,
) -> ! {
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let harness = match start() {
        Ok(harness) => Arc::new(harness),
        Err(error) => {
            eprintln!("{harness_name} failed to start: {error:#}");
            std::process::exit(101);
        }
    };
    let trials = trials(&harness);
    let conclusion = libtest_mimic::run(&args, trials);
    drop(harness);
    conclusion.exit();
}

/// Runs `prepare` (not timed), then `run` (timed), printing the trial's line on stderr; the error
/// (with its whole context chain) on failure.
pub fn run_scenario<P>(
    tag: &str,
    name: &str,
    prepare: impl FnOnce() -> anyhow::Result<P>,
    run: impl FnOnce(P) -> anyhow::Result<String>,
) -> Result<(), String> {
    let mut started = Instant::now();
    let result = prepare().and_then(|prepared| {
        started = Instant::now();
        run(prepared)
    });
    let secs = started.elapsed().as_secs_f64();
    match result {
        Ok(summary) => {
            eprintln!("[{tag}] {name}: ok in {secs:.1} s: {summary}");
            Ok(())
        }
        Err(error) => {
            eprintln!("[{tag}] {name}: FAILED in {secs:.1} s");
            Err(format!("{error:#}"))
        }
    }
}

/// Awaits `scenario`, failing with `trial exceeded <bound>` once `bound` has passed.
pub async fn within<T>(
    bound: Duration,
    scenario: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(bound, scenario).await {
        Ok(result) => result,
        Err(_) => anyhow::bail!("trial exceeded {bound:?}"),
    }
}

/// A scenario borrowing the binary's shared harness `H`; resolves to its summary line.
pub type Scenario<H> =
    for<'a> fn(&'a H) -> Pin<Box<dyn Future<Output = anyhow::Result<String>> + Send + 'a>>;

/// What every trial of one binary shares: its tag, its time bound, the async runtime and the
/// Persite binaries (built once).
pub struct TrialRunner {
    tag: &'static str,
    bound: Duration,
    runtime: tokio::runtime::Runtime,
    binaries: OnceLock<Result<Binaries, String>>,
}

impl TrialRunner {
    /// A runner printing `[tag] …` lines, bounding each scenario by `bound`, on a 2-worker runtime.
    pub fn new(tag: &'static str, bound: Duration) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        Ok(Self {
            tag,
            bound,
            runtime,
            binaries: OnceLock::new(),
        })
    }

    /// The runtime the scenarios (and the binary's servers) run on.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// The Persite binaries, built once (outside the async runtime: it blocks).
    pub fn binaries(&self) -> anyhow::Result<Binaries> {
        self.binaries
            .get_or_init(|| binaries::ensure_built().map_err(|e| format!("{e:#}")))
            .clone()
            .map_err(anyhow::Error::msg)
    }

    /// Builds the Persite binaries (noting a build of over a second) and checks the extension.
    fn prepare_persite(&self) -> anyhow::Result<()> {
        let build_started = Instant::now();
        self.binaries()?;
        let build = build_started.elapsed();
        if build > Duration::from_secs(1) {
            eprintln!(
                "[{}] built persite and persite-native-host in {:.1} s (not counted below)",
                self.tag,
                build.as_secs_f64()
            );
        }
        binaries::extension_dir()?;
        Ok(())
    }

    /// Runs one trial: the Persite build first when `needs_persite`, then `scenario` within the
    /// bound on the runtime.
    pub fn run(
        &self,
        name: &str,
        needs_persite: bool,
        scenario: impl Future<Output = anyhow::Result<String>>,
    ) -> Result<(), String> {
        run_scenario(
            self.tag,
            name,
            || {
                if needs_persite {
                    self.prepare_persite()?;
                }
                Ok(())
            },
            |()| self.runtime.block_on(within(self.bound, scenario)),
        )
    }
}

/// A libtest-mimic trial running `scenario` on `harness` with the harness's [`TrialRunner`].
pub fn trial<H>(
    harness: &Arc<H>,
    name: &'static str,
    needs_persite: bool,
    scenario: Scenario<H>,
) -> Trial
where
    H: AsRef<TrialRunner> + Send + Sync + 'static,
{
    let harness = Arc::clone(harness);
    Trial::test(name, move || {
        let runner: &TrialRunner = (*harness).as_ref();
        runner
            .run(name, needs_persite, scenario(&harness))
            .map_err(Failed::from)
    })
}

/// Makes `cond` a trial failure with `message` (computed only when it fails).
pub fn ensure(cond: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(message()) }
}

/// What the Firefox suites share across their trials: the runner, the fixture pages and one
/// recording SOCKS server in front of them (`e2e_firefox`, `e2e_sessions`, `e2e_attribution`,
/// `e2e_ui`).
pub struct RecordingHarness {
    /// Builds the binaries and bounds each trial.
    pub runner: TrialRunner,
    /// The fixture pages.
    pub fixtures: crate::fixtures::FixtureServer,
    /// The SOCKS server every connection goes through, recording its credentials.
    pub recorder: crate::socks_recorder::SocksRecorder,
}

impl RecordingHarness {
    /// Starts the servers; trials print under `tag` and are bounded by `bound` each.
    pub fn start(tag: &'static str, bound: Duration) -> anyhow::Result<Self> {
        let runner = TrialRunner::new(tag, bound)?;
        let (fixtures, recorder) = runner.runtime().block_on(async {
            let fixtures = crate::fixtures::FixtureServer::start().await?;
            let recorder = crate::socks_recorder::SocksRecorder::start(fixtures.addr()).await?;
            anyhow::Ok((fixtures, recorder))
        })?;
        Ok(Self {
            runner,
            fixtures,
            recorder,
        })
    }

    /// The Persite binaries, built once (outside the async runtime: it blocks).
    pub fn binaries(&self) -> anyhow::Result<Binaries> {
        self.runner.binaries()
    }
}

impl AsRef<TrialRunner> for RecordingHarness {
    fn as_ref(&self) -> &TrialRunner {
        &self.runner
    }
}
