//! The soak (issue 14, part 3): real Firefox with the Persite extension, native host and daemon
//! browsing through the private Tor network for many page loads across many sites, containers
//! and a private window, while faults are injected at random.
//!
//! Fault kinds ([`FaultKind`]): the daemon SIGKILLed, the native host SIGKILLed, the tor client
//! restarted and HUPed, a burst of `SIGNAL NEWNYM` on tor's control port, a burst of
//! `new_circuit`/`new_identity` through the daemon, a circuit-lifetime policy rotation
//! (`policy_set`: a short `max_age_s`, `per_tab`, then removed) and the extension's event page
//! terminated. Each is done the way `tests/tests/e2e_faults.rs` does it (helpers in `tests/src/procs.rs`).
//! Every kind comes once (in random order) before kinds are drawn at random.
//!
//! Over the whole run it asserts:
//! - **0 direct connections**: every page URL carries the port of [`front::ExitOnlyFront`], which
//!   serves only connections whose socket belongs to an exit relay of the network;
//! - **0 unauthenticated tunnels**: every user stream in tor's `STREAM` events (a watcher that
//!   resubscribes after tor restarts, [`audit::StreamWatcher`]) carries
//!   `SOCKS_USERNAME`/`SOCKS_PASSWORD`;
//! - **0 requests on another first party's credentials**: every site `sN.test` has its own
//!   third parties (`cdn-sN.test`, `img-sN.test`), and no credential pair is seen on streams
//!   of two first parties;
//! - every fault recovered (a page loaded) within [`SoakOptions::recovery_bound`], and the
//!   success rate of the loads after recovery is at least [`SoakOptions::min_success_rate`].
//!
//! It reports the page-load success rate after recovery, the recovery time per fault kind and
//! the daemon's and native host's RSS and open descriptors (from `/proc`) at start and end.
//!
//! Run by `tests/src/bin/soak.rs` (long runs) and `tests/tests/soak_short.rs` (the test command).

pub mod audit;
pub mod front;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use fantoccini::wd::WindowHandle;
use serde_json::json;

use crate::binaries::{self, Binaries};
use crate::firefox::Firefox;
use crate::fixtures::PageSpec;
use crate::procs::{self, ProcUsage};
use crate::tor_session::FirefoxOnTor;
use crate::tornet::{RelayKind, TorNetwork};
use audit::{FirstParties, StreamAudit, StreamWatcher, audit_streams};
use front::{ExitOnlyFront, FrontConnection};

/// How a soak runs.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// Page loads to attempt (recovery attempts included).
    pub pages: usize,
    /// Distinct first parties (`s1.test` …).
    pub sites: usize,
    /// Seed of the fault and page schedule.
    pub seed: u64,
    /// Pages between two faults: drawn from this inclusive range.
    pub fault_gap: (usize, usize),
    /// Bound on the recovery from one fault (a page loaded after it).
    pub recovery_bound: Duration,
    /// Lowest acceptable success rate of page loads after recovery.
    pub min_success_rate: f64,
    /// Print a progress line every this many pages (0: never).
    pub progress_every: usize,
}

impl Default for SoakOptions {
    fn default() -> Self {
        Self {
            pages: 1000,
            sites: 40,
            seed: 1,
            fault_gap: (8, 16),
            recovery_bound: Duration::from_secs(90),
            min_success_rate: 0.95,
            progress_every: 50,
        }
    }
}

/// A fault the soak injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// `persite serve` SIGKILLed (the host starts a new one on the next request).
    DaemonKilled,
    /// `persite-native-host` SIGKILLed (the extension starts a new one).
    HostKilled,
    /// The tor client stopped and started again (same ports and data directory).
    TorRestarted,
    /// SIGHUP to the tor client (reload).
    TorHup,
    /// Three `SIGNAL NEWNYM` on tor's control port at once.
    NewnymBurst,
    /// `new_circuit` for three sites and a `new_identity` through the daemon, at once.
    DaemonNewnymBurst,
    /// `policy_set`: short `max_age_s` and `per_tab` on some sites, or those removed again.
    PolicyRotation,
    /// The extension's event page terminated (Firefox's idle suspension, forced).
    EventPageSuspended,
}

impl FaultKind {
    /// Every kind, in a fixed order.
    pub const ALL: [Self; 8] = [
        Self::DaemonKilled,
        Self::HostKilled,
        Self::TorRestarted,
        Self::TorHup,
        Self::NewnymBurst,
        Self::DaemonNewnymBurst,
        Self::PolicyRotation,
        Self::EventPageSuspended,
    ];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::DaemonKilled => "daemon killed",
            Self::HostKilled => "native host killed",
            Self::TorRestarted => "tor restarted",
            Self::TorHup => "tor HUP",
            Self::NewnymBurst => "NEWNYM burst (control port)",
            Self::DaemonNewnymBurst => "new circuit/identity burst (daemon)",
            Self::PolicyRotation => "policy rotation",
            Self::EventPageSuspended => "event page suspended",
        }
    }
}

/// One injected fault and how browsing recovered.
#[derive(Debug, Clone)]
pub struct FaultRecord {
    /// What was injected.
    pub kind: FaultKind,
    /// Page index at injection.
    pub at_page: usize,
    /// Time from the injection to the end of the first successful load after it.
    pub recovery: Option<Duration>,
    /// Loads that failed before that one.
    pub failed_loads: usize,
    /// What the injection itself saw (pids, states).
    pub note: String,
}

/// The figures of a soak run; [`SoakReport::verdict`] holds the assertions.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// The options the run used.
    pub options: SoakOptions,
    /// Wall time of the browsing part.
    pub elapsed: Duration,
    /// Page loads attempted.
    pub attempted: usize,
    /// Page loads that finished with `done`.
    pub loaded: usize,
    /// Loads attempted after recovery (not a fault's recovery attempts).
    pub steady_attempted: usize,
    /// Of those, the successful ones.
    pub steady_loaded: usize,
    /// Loads per browsing context.
    pub per_context: BTreeMap<&'static str, usize>,
    /// Injected faults.
    pub faults: Vec<FaultRecord>,
    /// Tor's view.
    pub streams: StreamAudit,
    /// Connections the exit-only front relayed.
    pub via_exits: usize,
    /// Direct connections (must be none).
    pub direct: Vec<FrontConnection>,
    /// The daemon's usage at start (after the first load in every context) and at the end.
    pub daemon: (Vec<ProcUsage>, Vec<ProcUsage>),
    /// The native host's usage at start and at the end.
    pub host: (Vec<ProcUsage>, Vec<ProcUsage>),
    /// Errors of the injections themselves (a failed RPC, a process not found).
    pub injection_errors: Vec<String>,
    /// The first failed loads' errors (at most 10), for the report.
    pub load_errors: Vec<String>,
}

impl SoakReport {
    /// Success rate of the loads after recovery.
    pub fn steady_rate(&self) -> f64 {
        if self.steady_attempted == 0 {
            return 0.0;
        }
        self.steady_loaded as f64 / self.steady_attempted as f64
    }

    /// Recovery times per kind: (count, min, median, max).
    pub fn recovery_by_kind(&self) -> BTreeMap<FaultKind, (usize, Duration, Duration, Duration)> {
        let mut by: BTreeMap<FaultKind, Vec<Duration>> = BTreeMap::new();
        for f in &self.faults {
            if let Some(r) = f.recovery {
                by.entry(f.kind).or_default().push(r);
            }
        }
        by.into_iter()
            .map(|(k, mut v)| {
                v.sort();
                (k, (v.len(), v[0], v[v.len() / 2], v[v.len() - 1]))
            })
            .collect()
    }

    /// The assertions: `Err` lists every one that failed.
    pub fn verdict(&self, require_every_kind: bool) -> Result<(), String> {
        let mut failures = Vec::new();
        if !self.direct.is_empty() {
            let owners: Vec<String> = self
                .direct
                .iter()
                .take(5)
                .map(|c| format!("{} owned by {:?}", c.peer, c.owner))
                .collect();
            failures.push(format!(
                "{} direct connection(s) reached the fixture front, e.g. {owners:?}",
                self.direct.len()
            ));
        }
        if !self.streams.unauthenticated.is_empty() {
            failures.push(format!(
                "{} unauthenticated stream(s): {:?}",
                self.streams.unauthenticated.len(),
                self.streams.unauthenticated
            ));
        }
        if !self.streams.cross_party.is_empty() {
            failures.push(format!(
                "credential pairs seen for two first parties: {:?}",
                self.streams.cross_party
            ));
        }
        let unrecovered: Vec<String> = self
            .faults
            .iter()
            .filter(|f| f.recovery.is_none())
            .map(|f| format!("{} at page {}", f.kind.name(), f.at_page))
            .collect();
        if !unrecovered.is_empty() {
            failures.push(format!(
                "not recovered within {:?}: {unrecovered:?}",
                self.options.recovery_bound
            ));
        }
        if !self.injection_errors.is_empty() {
            failures.push(format!("injections failed: {:?}", self.injection_errors));
        }
        if self.steady_rate() < self.options.min_success_rate {
            failures.push(format!(
                "success rate after recovery {:.1} % < {:.1} % (errors: {:?})",
                self.steady_rate() * 100.0,
                self.options.min_success_rate * 100.0,
                self.load_errors
            ));
        }
        if require_every_kind {
            let missing: Vec<&str> = FaultKind::ALL
                .iter()
                .filter(|k| !self.faults.iter().any(|f| f.kind == **k))
                .map(|k| k.name())
                .collect();
            if !missing.is_empty() {
                failures.push(format!("fault kinds never injected: {missing:?}"));
            }
        }
        // Sanity: the run really went through tor and the front.
        if self.via_exits == 0 || self.streams.user_streams == 0 || self.loaded == 0 {
            failures.push(format!(
                "nothing was observed ({} exit connections, {} streams, {} loads)",
                self.via_exits, self.streams.user_streams, self.loaded
            ));
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("\n"))
        }
    }
}

impl std::fmt::Display for SoakReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        writeln!(
            f,
            "pages: {} attempted, {} loaded in {:.0} s ({:.2} loads/s); {} sites; contexts {:?}; seed {}",
            self.attempted,
            self.loaded,
            secs,
            self.loaded as f64 / secs.max(0.001),
            self.options.sites,
            self.per_context,
            self.options.seed
        )?;
        writeln!(
            f,
            "success after recovery: {}/{} = {:.2} %",
            self.steady_loaded,
            self.steady_attempted,
            self.steady_rate() * 100.0
        )?;
        writeln!(
            f,
            "faults: {} injected; recovery (first page loaded after the fault) per kind:",
            self.faults.len()
        )?;
        let by = self.recovery_by_kind();
        for kind in FaultKind::ALL {
            let injected = self.faults.iter().filter(|r| r.kind == kind).count();
            let failed: usize = self
                .faults
                .iter()
                .filter(|r| r.kind == kind)
                .map(|r| r.failed_loads)
                .sum();
            match by.get(&kind) {
                Some((n, min, median, max)) => writeln!(
                    f,
                    "  {:<38} {injected:>3} injected, {n:>3} recovered: min {:.1} s, median {:.1} s, max {:.1} s; {failed} failed load(s) before recovery",
                    kind.name(),
                    min.as_secs_f64(),
                    median.as_secs_f64(),
                    max.as_secs_f64()
                )?,
                None => writeln!(
                    f,
                    "  {:<38} {injected:>3} injected, none recovered",
                    kind.name()
                )?,
            }
        }
        writeln!(
            f,
            "tor: {}; front: {} connections from exits, {} direct",
            self.streams,
            self.via_exits,
            self.direct.len()
        )?;
        let usage = |v: &[ProcUsage]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        };
        writeln!(
            f,
            "daemon: start {} → end {}",
            usage(&self.daemon.0),
            usage(&self.daemon.1)
        )?;
        write!(
            f,
            "native host: start {} → end {}",
            usage(&self.host.0),
            usage(&self.host.1)
        )
    }
}

/// A small deterministic generator (splitmix64); the schedule is reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn between(&mut self, (low, high): (usize, usize)) -> usize {
        low + self.below(high.saturating_sub(low) + 1)
    }
}

/// A browsing context: a tab in the default container, in a container, or in a private window.
struct Context {
    name: &'static str,
    handle: WindowHandle,
}

/// Runs a soak on `network` with the Persite `binaries`; the report holds the figures, and
/// [`SoakReport::verdict`] the assertions. Needs a multi-threaded tokio runtime (tor restarts
/// block a worker).
pub async fn run_soak(
    network: &TorNetwork,
    binaries: &Binaries,
    options: &SoakOptions,
) -> anyhow::Result<SoakReport> {
    ensure!(options.sites >= 3, "a soak needs at least 3 sites");
    let client = network.client();
    let extension = binaries::extension_dir()?;
    let session =
        FirefoxOnTor::start(client, binaries, &extension, "", Duration::from_secs(60)).await?;
    let outcome = soak(network, binaries, options, &session).await;
    let outcome = outcome.with_context(|| session.log_tail(30));
    session.shutdown().await;
    outcome
}

async fn soak(
    network: &TorNetwork,
    binaries: &Binaries,
    options: &SoakOptions,
    session: &FirefoxOnTor,
) -> anyhow::Result<SoakReport> {
    let client = network.client();
    let ff = session.ff();
    // The session's own STREAM subscription is not read during a soak: unsubscribe it.
    session.watcher().command("SETEVENTS")?;
    let watcher = StreamWatcher::start(client.control_addr(), client.cookie_path())?;
    let exits: Vec<i32> = network
        .relays()
        .iter()
        .filter(|r| r.kind() == RelayKind::Exit)
        .filter_map(|r| r.pid().and_then(|p| i32::try_from(p).ok()))
        .collect();
    ensure!(
        exits.len() == 3,
        "expected 3 running exits, found {exits:?}"
    );
    let front = ExitOnlyFront::start(session.fixtures.addr(), exits).await?;
    front_self_check(&front).await?;

    let runtime_dir = session
        .daemon_socket()
        .parent()
        .map(Path::to_path_buf)
        .context("runtime dir")?;
    let port = front.addr().port();
    let sites: Vec<String> = (1..=options.sites).map(|i| format!("s{i}.test")).collect();
    let mut parties = FirstParties::default();
    for site in &sites {
        for host in [site.clone(), format!("cdn-{site}"), format!("img-{site}")] {
            parties.add(site, &host);
        }
    }
    let url = |site: &str| {
        let third = format!("cdn-{site}:{port}");
        // No frame: the fixture frame reports its URL without the port, which these URLs carry.
        PageSpec {
            images: vec![third.clone(), format!("img-{site}:{port}")],
            scripts: vec![third.clone()],
            fetches: vec![third],
            repeat: 1,
            ..PageSpec::default()
        }
        .url(&format!("{site}:{port}"))
    };

    // Contexts: the first tab (default container), containers 1 and 2, a private window.
    let main = bounded("reading the window handle", ff.client().window()).await?;
    let mut contexts = vec![Context {
        name: "default",
        handle: main,
    }];
    contexts.push(Context {
        name: "container-1",
        handle: ff.open_container_tab(1).await?,
    });
    contexts.push(Context {
        name: "container-2",
        handle: ff.open_container_tab(2).await?,
    });
    contexts.push(Context {
        name: "private",
        handle: ff.open_private_window().await?,
    });

    let mut rng = Rng(options.seed);
    let mut report = SoakReport {
        options: options.clone(),
        elapsed: Duration::ZERO,
        attempted: 0,
        loaded: 0,
        steady_attempted: 0,
        steady_loaded: 0,
        per_context: BTreeMap::new(),
        faults: Vec::new(),
        streams: StreamAudit::default(),
        via_exits: 0,
        direct: Vec::new(),
        daemon: (Vec::new(), Vec::new()),
        host: (Vec::new(), Vec::new()),
        injection_errors: Vec::new(),
        load_errors: Vec::new(),
    };
    let mut browser = Browsing {
        ff,
        contexts,
        current: 3,
    };
    let started = Instant::now();
    // Warm-up: the first page in each context (counted), then the start figures.
    for (index, site) in (0..browser.contexts.len()).zip(sites.iter()) {
        let ok = browser.load(index, &url(site), &mut report).await;
        ensure!(
            ok,
            "the first page in context {} did not load: {:?}",
            browser.contexts[index].name,
            report.load_errors
        );
        report.steady_attempted += 1;
        report.steady_loaded += 1;
    }
    report.daemon.0 = usage(&runtime_dir, &binaries.broker);
    report.host.0 = usage(&runtime_dir, &binaries.native_host);

    let mut order: Vec<FaultKind> = FaultKind::ALL.to_vec();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order.reverse(); // popped from the end
    let mut next_fault = report.attempted + rng.between(options.fault_gap);
    let mut policy_sites: Vec<String> = Vec::new();
    while report.attempted < options.pages {
        if report.attempted >= next_fault {
            let kind = order
                .pop()
                .unwrap_or_else(|| FaultKind::ALL[rng.below(FaultKind::ALL.len())]);
            let at_page = report.attempted;
            let injected = Instant::now();
            let note = match inject(
                kind,
                network,
                session,
                &watcher,
                &runtime_dir,
                binaries,
                &sites,
                &mut policy_sites,
                &mut rng,
            )
            .await
            {
                Ok(note) => note,
                Err(error) => {
                    report
                        .injection_errors
                        .push(format!("{} at page {at_page}: {error:#}", kind.name()));
                    format!("injection failed: {error:#}")
                }
            };
            // Recovery: load pages until one loads (bounded).
            let mut failed_loads = 0;
            let mut recovery = None;
            while injected.elapsed() < options.recovery_bound {
                let context = rng.below(browser.contexts.len());
                let site = &sites[rng.below(sites.len())];
                if browser.load(context, &url(site), &mut report).await {
                    recovery = Some(injected.elapsed());
                    break;
                }
                failed_loads += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            report.faults.push(FaultRecord {
                kind,
                at_page,
                recovery,
                failed_loads,
                note,
            });
            next_fault = report.attempted + rng.between(options.fault_gap);
            continue;
        }
        let context = rng.below(browser.contexts.len());
        let site = &sites[rng.below(sites.len())];
        report.steady_attempted += 1;
        if browser.load(context, &url(site), &mut report).await {
            report.steady_loaded += 1;
        }
        if options.progress_every > 0 && report.attempted % options.progress_every == 0 {
            eprintln!(
                "[soak] {} pages attempted, {} loaded, {} faults, {:.0} s",
                report.attempted,
                report.loaded,
                report.faults.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    report.elapsed = started.elapsed();
    report.daemon.1 = usage(&runtime_dir, &binaries.broker);
    report.host.1 = usage(&runtime_dir, &binaries.native_host);
    // Late stream events of the last load.
    tokio::time::sleep(Duration::from_secs(2)).await;
    report.streams = audit_streams(&watcher.events(), &parties);
    let connections = front.connections();
    report.via_exits = connections.iter().filter(|c| c.exit_pid.is_some()).count();
    report.direct = front.direct();
    Ok(report)
}

/// The front must see a direct connection as direct: one from this process.
async fn front_self_check(front: &ExitOnlyFront) -> anyhow::Result<()> {
    let conn = tokio::net::TcpStream::connect(front.addr()).await?;
    let started = Instant::now();
    while front.connections().is_empty() && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(conn);
    let direct = front.direct();
    ensure!(
        direct.len() == 1 && front.connections().len() == 1,
        "the front's self-check: a connection from this process was not seen as direct: {:?}",
        front.connections()
    );
    front.clear();
    Ok(())
}

fn usage(runtime_dir: &Path, exe: &Path) -> Vec<ProcUsage> {
    procs::pids_in_runtime_dir(runtime_dir, exe)
        .into_iter()
        .filter_map(ProcUsage::read)
        .collect()
}

async fn bounded<T, E: Into<anyhow::Error>>(
    what: &str,
    future: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(Duration::from_secs(15), future).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => anyhow::bail!("{what} took over 15 s"),
    }
}

/// The browser and its contexts.
struct Browsing<'a> {
    ff: &'a Firefox,
    contexts: Vec<Context>,
    current: usize,
}

impl Browsing<'_> {
    /// Loads `url` in context `index`; counts the attempt and the load.
    async fn load(&mut self, index: usize, url: &str, report: &mut SoakReport) -> bool {
        report.attempted += 1;
        *report
            .per_context
            .entry(self.contexts[index].name)
            .or_default() += 1;
        let outcome = async {
            if self.current != index {
                bounded(
                    "switching context",
                    self.ff
                        .client()
                        .switch_to_window(self.contexts[index].handle.clone()),
                )
                .await?;
                self.current = index;
            }
            self.ff.load_fixture_page(url).await
        }
        .await;
        match outcome {
            Ok(()) => {
                report.loaded += 1;
                true
            }
            Err(error) => {
                if report.load_errors.len() < 10 {
                    report.load_errors.push(format!(
                        "page {} in {}: {}",
                        report.attempted,
                        self.contexts[index].name,
                        brief(&format!("{error:#}"))
                    ));
                }
                false
            }
        }
    }
}

/// `neterror <kind>` out of a navigation error, else its last 200 characters (the cause).
fn brief(text: &str) -> String {
    match text.split("about:neterror?e=").nth(1) {
        Some(rest) => format!("neterror {}", rest.split('&').next().unwrap_or("?")),
        None => {
            let chars: Vec<char> = text.chars().collect();
            chars[chars.len().saturating_sub(200)..].iter().collect()
        }
    }
}

/// Chrome-context script: terminate the extension's background like Firefox's idle timeout does,
/// skipping the open-native-port exemption (as `tests/tests/e2e_faults.rs` trial d).
const TERMINATE_BACKGROUND: &str = r#"
const policy = WebExtensionPolicy.getByID("persite@persite.org");
if (!policy || !policy.extension) { return "no-extension"; }
policy.extension.terminateBackground({ ignoreDevToolsAttached: true, disableResetIdleForTest: true });
return "terminated";
"#;

#[allow(clippy::too_many_arguments)]
async fn inject(
    kind: FaultKind,
    network: &TorNetwork,
    session: &FirefoxOnTor,
    watcher: &StreamWatcher,
    runtime_dir: &Path,
    binaries: &Binaries,
    sites: &[String],
    policy_sites: &mut Vec<String>,
    rng: &mut Rng,
) -> anyhow::Result<String> {
    let client = network.client();
    let kill_one = |exe: &PathBuf, what: &str| -> anyhow::Result<i32> {
        let pids = procs::pids_in_runtime_dir(runtime_dir, exe);
        let pid = *pids.first().with_context(|| format!("no {what} running"))?;
        procs::sigkill(pid)?;
        Ok(pid)
    };
    match kind {
        FaultKind::DaemonKilled => {
            let pid = kill_one(&binaries.broker, "daemon")?;
            procs::wait_for("the daemon to die", Duration::from_secs(5), || {
                (!procs::is_alive(pid)).then_some(())
            })
            .await?;
            Ok(format!("daemon {pid} SIGKILLed"))
        }
        FaultKind::HostKilled => {
            let pid = kill_one(&binaries.native_host, "native host")?;
            Ok(format!("host {pid} SIGKILLed"))
        }
        FaultKind::TorRestarted => {
            let generation = watcher.generation();
            let started = Instant::now();
            tokio::task::block_in_place(|| client.restart(Duration::from_secs(60)))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let took = started.elapsed();
            watcher.wait_past(generation, Duration::from_secs(10))?;
            Ok(format!(
                "tor restarted (bootstrapped in {:.1} s)",
                took.as_secs_f64()
            ))
        }
        FaultKind::TorHup => {
            let pid = client.pid().context("tor client not running")?;
            procs::signal(i32::try_from(pid)?, rustix::process::Signal::HUP)?;
            Ok(format!("SIGHUP to tor {pid}"))
        }
        FaultKind::NewnymBurst => {
            let mut probe = client.control()?;
            for _ in 0..3 {
                probe.command("SIGNAL NEWNYM")?;
            }
            Ok("3 × SIGNAL NEWNYM".into())
        }
        FaultKind::DaemonNewnymBurst => {
            for i in 0..3 {
                let site = &sites[rng.below(sites.len())];
                session.rpc(json!({"id": 100 + i, "type": "new_circuit", "site": site}))?;
            }
            let identity = session.rpc(json!({"id": 110, "type": "new_identity"}))?;
            Ok(format!(
                "3 × new_circuit, new_identity (newnym {})",
                identity["newnym"]
            ))
        }
        FaultKind::PolicyRotation => {
            if policy_sites.is_empty() {
                let a = sites[rng.below(sites.len())].clone();
                let b = sites[rng.below(sites.len())].clone();
                session.rpc(json!({"id": 120, "type": "policy_set", "site": a,
                    "policy": {"max_age_s": 3}}))?;
                session.rpc(json!({"id": 121, "type": "policy_set", "site": b,
                    "policy": {"per_tab": true}}))?;
                policy_sites.extend([a, b]);
                Ok("max_age_s 3 on one site, per_tab on another".into())
            } else {
                for (i, site) in policy_sites.drain(..).enumerate() {
                    session.rpc(json!({"id": 130 + i, "type": "policy_set", "site": site,
                        "policy": null}))?;
                }
                Ok("site policies removed".into())
            }
        }
        FaultKind::EventPageSuspended => {
            let hosts = procs::pids_in_runtime_dir(runtime_dir, &binaries.native_host);
            let state = session
                .ff()
                .chrome_execute(TERMINATE_BACKGROUND, vec![])
                .await?;
            ensure!(
                state == "terminated",
                "terminateBackground answered {state}"
            );
            procs::wait_for(
                "the native host to exit with the event page",
                Duration::from_secs(10),
                || hosts.iter().all(|p| !procs::is_alive(*p)).then_some(()),
            )
            .await?;
            Ok(format!("background terminated, host(s) {hosts:?} exited"))
        }
    }
}
