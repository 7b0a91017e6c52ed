//! Fault injection and leak tests in real headless Firefox ESR (issues 7.1 and 7.2).
//!
//! One binary with a custom runner (`libtest-mimic`), like `e2e_firefox.rs`: the fixture server,
//! the recording SOCKS server and the direct-connection canary start once; every scenario is a
//! trial with its own Firefox session(s). Every Persite scenario ends with the same audit
//! (`persite_tests::leak_audit`): **0 direct connections** (canary listeners on loopback IP
//! literals + every fixture request joined to a SOCKS tunnel), **0 unauthenticated SOCKS
//! connections** (Firefox's prefs proxy is the recorder itself, so a request that falls through
//! the extension to the default proxy would show up without credentials) and **0 connections of
//! one site carrying another site's credentials** (every first party has its own hosts).
//!
//! Firefox runs through `persite_tests::wrappers`' wrapper script (strace, kept profile,
//! sideloaded extension); the process re-executes itself once with `$PERSITE_FIREFOX` pointing
//! at the wrapper, because changing the environment of a running multi-threaded process is
//! `unsafe` (and forbidden in this workspace).
//!
//! Run: `cargo test -p persite-tests --test e2e_faults` (filters work, e.g. `-- c_`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use persite_tests::binaries::{self, Binaries};
use persite_tests::canary::DirectCanary;
use persite_tests::fake_broker::{FakeBroker, FakeMode};
use persite_tests::firefox::{Firefox, FirefoxConfig};
use persite_tests::fixtures::{FixtureServer, PageSpec};
use persite_tests::leak_audit::{AuditReport, Marks, SiteMap, audit, audit_with_background};
use persite_tests::procs::{is_alive, pids_in_runtime_dir as daemon_pids, sigkill, wait_for};
use persite_tests::socks_recorder::{Credentials, SocksRecorder};
use persite_tests::strace::{Endpoint, NetEvent, parse_log};
use persite_tests::trial::{self, TrialRunner, trial};
use persite_tests::wrappers;
use serde_json::{Value, json};

/// Upper bound for one trial, Firefox start(s) included.
const TRIAL_TIMEOUT: Duration = Duration::from_secs(200);
/// Upper bound for the whole binary (building the Persite binaries included).
const RUN_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Canary listeners (one loopback IP literal per site index).
const CANARY_LISTENERS: usize = 30;
/// Marks the re-executed child process.
const CHILD_MARKER: &str = "PERSITE_FAULTS_CHILD";
/// The black hole the extension answers when it cannot proxy (extension/README.md): SOCKS over
/// a Unix socket path under `/proc`, where no one can listen (`file:///proc/persite-black-hole`
/// in `extension/src/proxy-decision.js`).
const BLACK_HOLE_PATH: &str = "/proc/persite-black-hole";

/// Servers shared by every trial.
struct Harness {
    runner: TrialRunner,
    fixtures: FixtureServer,
    recorder: SocksRecorder,
    canary: DirectCanary,
}

impl Harness {
    fn start() -> anyhow::Result<Self> {
        let runner = TrialRunner::new("faults", TRIAL_TIMEOUT)?;
        let (fixtures, recorder, canary) = runner.runtime().block_on(async {
            let fixtures = FixtureServer::start().await?;
            let recorder = SocksRecorder::start(fixtures.addr()).await?;
            let canary = DirectCanary::start(CANARY_LISTENERS).await?;
            anyhow::Ok((fixtures, recorder, canary))
        })?;
        Ok(Self {
            runner,
            fixtures,
            recorder,
            canary,
        })
    }

    fn binaries(&self) -> anyhow::Result<Binaries> {
        self.runner.binaries()
    }

    fn marks(&self) -> Marks {
        Marks::now(&self.recorder, &self.fixtures, &self.canary)
    }

    fn audit(&self, marks: Marks, sites: &SiteMap) -> anyhow::Result<AuditReport> {
        audit(&self.recorder, &self.fixtures, &self.canary, marks, sites)
    }
}

impl AsRef<TrialRunner> for Harness {
    fn as_ref(&self) -> &TrialRunner {
        &self.runner
    }
}

/// Re-run this binary with `$PERSITE_FIREFOX` set to the wrapper script (see the module doc).
fn reexec_with_wrapper() -> ! {
    let code = (|| -> anyhow::Result<i32> {
        let real = persite_tests::firefox::firefox_binary()?;
        let scripts = tempfile::Builder::new()
            .prefix("persite-faults-scripts-")
            .tempdir()?;
        let wrapper = wrappers::write_firefox_wrapper(scripts.path(), &real)?;
        let status = std::process::Command::new(std::env::current_exe()?)
            .args(std::env::args_os().skip(1))
            .env("PERSITE_FIREFOX", &wrapper)
            .env(CHILD_MARKER, scripts.path())
            .status()
            .context("re-running the test binary")?;
        drop(scripts);
        Ok(status.code().unwrap_or(101))
    })();
    match code {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            eprintln!("e2e_faults: cannot set up the Firefox wrapper: {error:#}");
            std::process::exit(101);
        }
    }
}

fn main() {
    if std::env::var_os(CHILD_MARKER).is_none() {
        reexec_with_wrapper();
    }
    trial::spawn_run_watchdog("e2e_faults", RUN_TIMEOUT);
    trial::run_with_harness("e2e_faults harness", Harness::start, |harness| {
        vec![
            trial(harness, "canary_control_direct_load_is_seen", false, |h| {
                Box::pin(canary_control(h))
            }),
            trial(
                harness,
                "a_daemon_killed_mid_load_restarts_without_browser_restart",
                true,
                |h| Box::pin(daemon_killed(h)),
            ),
            trial(
                harness,
                "b_native_host_killed_extension_reconnects",
                true,
                |h| Box::pin(host_killed(h)),
            ),
            trial(
                harness,
                "c_slow_and_garbage_broker_fails_closed",
                true,
                |h| Box::pin(faulty_broker(h)),
            ),
            trial(
                harness,
                "c_lying_broker_other_sites_credentials_are_refused",
                true,
                |h| Box::pin(lying_broker(h)),
            ),
            trial(
                harness,
                "d_event_page_suspended_then_woken_by_requests",
                true,
                |h| Box::pin(event_page_suspended(h)),
            ),
            trial(
                harness,
                "e_firefox_restart_holds_startup_requests",
                true,
                |h| Box::pin(firefox_restart(h)),
            ),
            trial(harness, "f_twenty_four_sites_loading_at_once", true, |h| {
                Box::pin(simultaneous_tabs(h))
            }),
            trial(
                harness,
                "g_strace_no_dns_and_no_direct_connect",
                true,
                |h| Box::pin(strace_leaks(h)),
            ),
            trial(harness, "h_webrtc_reveals_no_local_address", true, |h| {
                Box::pin(webrtc(h))
            }),
            trial(
                harness,
                "i_black_hole_is_a_socket_no_one_can_listen_on",
                true,
                |h| Box::pin(black_hole(h)),
            ),
        ]
    })
}

// ---------------------------------------------------------------------------------------------
// Pages and sites
// ---------------------------------------------------------------------------------------------

/// A first party with hosts of its own: its page host, an iframe host, a CDN host (images,
/// script, fetch, WebSocket) and a canary IP literal (an image).
struct Site {
    name: String,
    spec: PageSpec,
}

impl Site {
    fn new(h: &Harness, name: &str, canary_index: usize) -> Self {
        let frame = format!("frame-{name}");
        let cdn = format!("cdn-{name}");
        let spec = PageSpec {
            frames: vec![frame],
            frame_images: vec![cdn.clone()],
            images: vec![cdn.clone(), h.canary.host(canary_index)],
            scripts: vec![cdn.clone()],
            fetches: vec![cdn.clone()],
            websockets: vec![cdn],
            repeat: 1,
        };
        Self {
            name: name.to_owned(),
            spec,
        }
    }

    fn url(&self) -> String {
        self.spec.url(&self.name)
    }

    fn hosts(&self) -> Vec<String> {
        let mut hosts: BTreeSet<String> = BTreeSet::new();
        for list in [
            &self.spec.frames,
            &self.spec.frame_images,
            &self.spec.images,
            &self.spec.scripts,
            &self.spec.fetches,
            &self.spec.websockets,
        ] {
            hosts.extend(list.iter().cloned());
        }
        hosts.into_iter().collect()
    }
}

fn site_map<'a>(sites: impl IntoIterator<Item = &'a Site>) -> SiteMap {
    let mut map = SiteMap::new();
    for site in sites {
        map.add(&site.name, &site.hosts());
    }
    map
}

/// The one credential pair the audit saw for `site`.
fn creds_of(report: &AuditReport, site: &str) -> anyhow::Result<Credentials> {
    let all = report.credentials_of(site);
    ensure!(
        all.len() == 1,
        "{site}: {} credential pairs: {all:?}",
        all.len()
    );
    Ok(all[0].clone())
}

/// Credentials carried by tunnels to `site`'s hosts since `mark`.
fn creds_since(h: &Harness, mark: usize, site: &Site) -> BTreeSet<Credentials> {
    let map = site_map([site]);
    h.recorder
        .connections_since(mark)
        .into_iter()
        .filter(|c| {
            c.host
                .as_deref()
                .is_some_and(|host| map.owner(host).is_some())
        })
        .filter_map(|c| c.credentials().cloned())
        .collect()
}

fn short(c: &Credentials) -> String {
    let cut = |s: &str| s.chars().take(8).collect::<String>();
    format!("{}…/{}…", cut(&c.username), cut(&c.password))
}

// ---------------------------------------------------------------------------------------------
// Browser setup
// ---------------------------------------------------------------------------------------------

/// The prefs of the shipped `docs/firefox/user.js` (the file users copy; `hardening_files`
/// checks it is what the table renders), with one change: the SOCKS port is the recorder's,
/// which stands in for tor's SocksPort (the file says 9050).
fn documented_prefs(h: &Harness) -> anyhow::Result<serde_json::Map<String, Value>> {
    use persite::hardening::{PrefValue, parse_prefs};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/firefox/user.js");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut prefs: serde_json::Map<String, Value> = parse_prefs(&text)
        .with_context(|| format!("parsing {}", path.display()))?
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                PrefValue::Bool(b) => json!(b),
                PrefValue::Int(i) => json!(i),
                PrefValue::Str(s) => json!(s),
            };
            (name, value)
        })
        .collect();
    ensure!(
        prefs.get("network.proxy.socks_port") == Some(&json!(9050)),
        "docs/firefox/user.js no longer points at 127.0.0.1:9050; update this harness"
    );
    prefs.insert(
        "network.proxy.socks_port".into(),
        json!(h.recorder.addr().port()),
    );
    Ok(prefs)
}

/// WebDriver itself silences Firefox's own traffic: geckodriver writes prefs into the profile
/// (`src/prefs.rs`: a dummy Remote Settings server, no add-on, app or media-plugin updates) and
/// Marionette applies its "recommended preferences" (Safe Browsing, captive portal, telemetry,
/// push, …). A shipped-profile session turns both back to what users have, so the background
/// traffic the shipped user.js leaves on really runs.
fn undo_automation_quiet() -> Vec<(&'static str, Value)> {
    vec![
        ("remote.prefs.recommended", json!(false)),
        (
            "services.settings.server",
            json!("https://firefox.settings.services.mozilla.com/v1"),
        ),
        ("extensions.update.enabled", json!(true)),
        ("app.update.disabledForTesting", json!(false)),
        ("media.gmp-manager.updateEnabled", json!(true)),
    ]
}

/// How to start one Persite browser.
#[derive(Default)]
struct BrowserOptions {
    /// Extra prefs (after the documented ones).
    prefs: Vec<(&'static str, Value)>,
    /// Prefs of the documented set to leave out.
    without_prefs: Vec<&'static str>,
    /// Extra environment (wrapper switches).
    env: Vec<(String, String)>,
    /// Install the extension as a temporary add-on after start.
    temporary_addon: bool,
    /// Run what users run: only the harness's plumbing prefs under the shipped user.js, none
    /// of the test-only switches for Firefox's own background traffic (so that traffic happens
    /// and the audit must show where it goes).
    shipped_profile: bool,
    /// Use this runtime dir (else a fresh one).
    runtime_dir: Option<PathBuf>,
    /// Daemon binary the host starts (else the real `persite`).
    broker_bin: Option<PathBuf>,
}

/// A Persite browser: Firefox, its native-host pid log and runtime dir.
struct Browser {
    firefox: Firefox,
    host_log: PathBuf,
    runtime_dir: PathBuf,
    // Dropped after `firefox`, whose drop kills the daemon living in it.
    _dirs: Vec<tempfile::TempDir>,
}

async fn start_browser(h: &Harness, options: BrowserOptions) -> anyhow::Result<Browser> {
    let binaries = h.binaries()?;
    let work = tempfile::Builder::new()
        .prefix("persite-faults-")
        .tempdir_in("/tmp")?;
    let mut dirs = vec![];
    let runtime_dir = match options.runtime_dir {
        Some(dir) => dir,
        None => {
            let dir = tempfile::Builder::new()
                .prefix("persite-rt-")
                .tempdir_in("/tmp")?;
            let path = dir.path().to_path_buf();
            dirs.push(dir);
            path
        }
    };
    let host_log = work.path().join("host-pids.log");
    let host = wrappers::write_host_wrapper(work.path(), &binaries.native_host, &host_log)?;
    let mut prefs = documented_prefs(h)?;
    if options.shipped_profile {
        prefs.extend(
            undo_automation_quiet()
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value)),
        );
    }
    for name in &options.without_prefs {
        prefs.remove(*name);
    }
    for (name, value) in options.prefs {
        prefs.insert(name.to_owned(), value);
    }
    let broker_bin = options.broker_bin.unwrap_or(binaries.broker.clone());
    let mut env = vec![
        (
            "PERSITE_RUNTIME_DIR".to_owned(),
            runtime_dir.to_string_lossy().into_owned(),
        ),
        (
            "PERSITE_BROKER_BIN".to_owned(),
            broker_bin.to_string_lossy().into_owned(),
        ),
    ];
    env.extend(options.env);
    let base = if options.shipped_profile {
        persite_tests::firefox::plumbing_prefs()
    } else {
        persite_tests::firefox::base_prefs()
    };
    let firefox = Firefox::start_with_base(FirefoxConfig {
        static_socks: Some(h.recorder.addr()),
        native_host: Some(host),
        env,
        prefs,
        home_files: vec![(
            PathBuf::from(".config/persite/config.toml"),
            format!(
                "[socks]\nhost = \"127.0.0.1\"\nport = {}\n\n[tor]\nmode = \"system\"\ncontrol = \"none\"\n",
                h.recorder.addr().port()
            ),
        )],
        profile: None,
    }, base)
    .await?;
    if options.temporary_addon {
        let id = firefox
            .install_addon(&binaries::extension_dir()?, true)
            .await?;
        ensure!(
            id == binaries::EXTENSION_ID,
            "the extension installed as {id}"
        );
    }
    dirs.push(work);
    Ok(Browser {
        firefox,
        host_log,
        runtime_dir,
        _dirs: dirs,
    })
}

async fn start_persite(h: &Harness) -> anyhow::Result<Browser> {
    start_browser(
        h,
        BrowserOptions {
            temporary_addon: true,
            ..BrowserOptions::default()
        },
    )
    .await
}

/// Load `site`'s page and wait for `done`; the error names what failed.
async fn load(ff: &Firefox, site: &Site) -> anyhow::Result<()> {
    ff.load_fixture_page(&site.url())
        .await
        .with_context(|| format!("loading {} (log tail:\n{})", site.name, ff.log_tail(12)))
}

/// Load `site` until it succeeds (at most `attempts`, 1 s apart); returns the attempts used and
/// the errors of the failed ones (each must be a visible failure, never a silent success).
async fn load_retrying(
    ff: &Firefox,
    site: &Site,
    attempts: usize,
) -> anyhow::Result<(usize, Vec<String>)> {
    let mut errors = Vec::new();
    for attempt in 1..=attempts {
        match ff.load_fixture_page(&site.url()).await {
            Ok(()) => return Ok((attempt, errors)),
            Err(error) => errors.push(brief_error(&format!("{error:#}"))),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    bail!(
        "{} did not load in {attempts} attempts: {errors:#?}\nlog tail:\n{}",
        site.name,
        ff.log_tail(25)
    )
}

/// `about:neterror?e=<kind>` out of a navigation error, else its first 120 characters.
fn brief_error(text: &str) -> String {
    match text.split("about:neterror?e=").nth(1) {
        Some(rest) => format!("neterror {}", rest.split('&').next().unwrap_or("?")),
        None => text.chars().take(120).collect(),
    }
}

/// Navigate and expect a visible failure (an error page, or no `done` within `bound`); returns
/// what was seen.
async fn expect_visible_failure(
    ff: &Firefox,
    url: &str,
    bound: Duration,
) -> anyhow::Result<String> {
    let started = Instant::now();
    let outcome = tokio::time::timeout(bound, ff.client().goto(url)).await;
    let seen = match outcome {
        Ok(Err(error)) => {
            let text = error.to_string();
            ensure!(
                text.contains("about:neterror"),
                "navigating to {url} failed, but not with an error page: {text}"
            );
            let kind = text
                .split("about:neterror?e=")
                .nth(1)
                .and_then(|rest| rest.split('&').next())
                .unwrap_or("?");
            format!(
                "error page {kind} after {:.1} s",
                started.elapsed().as_secs_f64()
            )
        }
        Ok(Ok(())) => {
            let title = ff.title().await.unwrap_or_default();
            ensure!(
                title != "done",
                "{url} loaded ({title:?}) although the broker failed"
            );
            format!("page title {title:?}")
        }
        Err(_) => format!("no load within {bound:?}"),
    };
    Ok(seen)
}

// ---------------------------------------------------------------------------------------------
// Control: the canary can fail
// ---------------------------------------------------------------------------------------------

async fn canary_control(h: &Harness) -> anyhow::Result<String> {
    let marks = h.marks();
    let ff = Firefox::start(FirefoxConfig {
        prefs: [("network.proxy.type".to_owned(), json!(0))]
            .into_iter()
            .collect(),
        ..FirefoxConfig::default()
    })
    .await?;
    let url = format!("http://{}/page-direct", h.canary.host(0));
    ff.goto(&url).await?;
    let title = ff.title().await?;
    ff.shutdown().await;
    let hits = h.canary.hits_since(marks.canary);
    ensure!(title == "canary", "the direct page did not load: {title:?}");
    ensure!(
        !hits.is_empty(),
        "the canary saw no connection from a direct load"
    );
    let mut sites = SiteMap::new();
    sites.add("control", &[h.canary.host(0)]);
    let verdict = h.audit(marks, &sites);
    ensure!(
        verdict.is_err(),
        "the audit accepted a run with {} direct connection(s)",
        hits.len()
    );
    Ok(format!(
        "Firefox without proxy loaded {url} directly: canary saw {} connection(s) and the audit \
         rejected the run",
        hits.len()
    ))
}

// ---------------------------------------------------------------------------------------------
// 7.1 a: the broker daemon killed
// ---------------------------------------------------------------------------------------------

async fn daemon_killed(h: &Harness) -> anyhow::Result<String> {
    let binaries = h.binaries()?;
    let b = start_persite(h).await?;
    let ff = &b.firefox;
    let marks = h.marks();
    // a1: before; a2..a7: loading in six tabs when the daemon dies; a8, a9: after; a10..a15:
    // a burst of six tabs arriving at a dead daemon; a16: after that.
    let sites: Vec<Site> = (1..=16)
        .map(|i| Site::new(h, &format!("a{i}.test"), i))
        .collect();
    load(ff, &sites[0]).await?;
    let before = creds_since(h, marks.socks, &sites[0]);
    let daemons = daemon_pids(&b.runtime_dir, &binaries.broker);
    ensure!(
        daemons.len() == 1,
        "expected one broker daemon, found {daemons:?}"
    );
    let old_daemon = daemons[0];

    // Kill it while six new sites (each needing the broker) are loading.
    let mark_kill = h.recorder.mark();
    open_tabs(ff, &sites[1..7]).await?;
    tokio::time::sleep(Duration::from_millis(40)).await;
    sigkill(old_daemon)?;
    let killed_at = Instant::now();
    wait_for(
        "the killed daemon to vanish",
        Duration::from_secs(5),
        || (!is_alive(old_daemon)).then_some(()),
    )
    .await?;
    let batch = wait_for_settled_tabs(ff, 6, Duration::from_secs(40)).await?;
    let mid_load = format!(
        "the six tabs loading during the kill ended as {:?}",
        count_titles(&batch)
    );

    // No Firefox restart: the next requests restart the daemon through the host.
    let (attempts, errors) = load_retrying(ff, &sites[7], 5).await?;
    let new_daemon = wait_for("a new daemon", Duration::from_secs(10), || {
        daemon_pids(&b.runtime_dir, &binaries.broker)
            .into_iter()
            .find(|p| *p != old_daemon)
    })
    .await?;
    let recovered = killed_at.elapsed();
    load(ff, &sites[0]).await?;
    load(ff, &sites[8]).await?;
    // Second kill while idle; then six tabs at once reach the dead daemon together.
    sigkill(new_daemon)?;
    wait_for(
        "the second daemon to vanish",
        Duration::from_secs(5),
        || (!is_alive(new_daemon)).then_some(()),
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    open_tabs(ff, &sites[9..15]).await?;
    let burst = wait_for_settled_tabs(ff, 6, Duration::from_secs(40)).await?;
    let (burst_attempts, _) = load_retrying(ff, &sites[15], 5).await?;
    let third_daemon = daemon_pids(&b.runtime_dir, &binaries.broker)
        .into_iter()
        .find(|p| *p != old_daemon && *p != new_daemon)
        .context("no third daemon after the second kill")?;
    let report = h.audit(marks, &site_map(&sites))?;
    // The first site's credentials after the restart: a new daemon has a new key, and the
    // extension must have dropped its cache (broker_connected with a new instance).
    let after: BTreeSet<Credentials> = creds_since(h, mark_kill, &sites[0]);
    ensure!(
        after.is_disjoint(&before),
        "a1.test still used its pre-restart credentials after the daemon restarted: {after:?}"
    );
    ensure!(
        !after.is_empty(),
        "a1.test made no connection after the restart"
    );
    let distinct: BTreeSet<_> = report.credentials.keys().collect();
    b.firefox.shutdown().await;
    Ok(format!(
        "daemon {old_daemon} SIGKILLed mid-load ({mid_load}); daemon {new_daemon} started by the \
         host, browsing resumed after {attempts} attempt(s) {errors:?} in {:.1} s; a1.test got new \
         credentials {}; second kill while idle, then a burst of six tabs at the dead daemon \
         ended as {:?}, daemon {third_daemon} started, a16 loaded after {burst_attempts} \
         attempt(s); {} distinct pairs; {report}",
        recovered.as_secs_f64(),
        after.iter().map(short).collect::<Vec<_>>().join(","),
        count_titles(&burst),
        distinct.len()
    ))
}

// ---------------------------------------------------------------------------------------------
// 7.1 b: the native host killed
// ---------------------------------------------------------------------------------------------

async fn host_killed(h: &Harness) -> anyhow::Result<String> {
    let b = start_persite(h).await?;
    let ff = &b.firefox;
    let marks = h.marks();
    let sites: Vec<Site> = (1..=3)
        .map(|i| Site::new(h, &format!("b{i}.test"), i))
        .collect();
    load(ff, &sites[0]).await?;
    let before = creds_since(h, marks.socks, &sites[0]);
    let hosts = wrappers::host_pids(&b.host_log);
    let host = *hosts.last().context("no native host was started")?;
    let host = i32::try_from(host)?;
    ensure!(is_alive(host), "the native host {host} is not running");
    sigkill(host)?;
    let killed_at = Instant::now();
    // A new site right away: the port is down or reconnecting, so this either waits for the
    // reconnect or fails visibly.
    let (attempts, errors) = load_retrying(ff, &sites[1], 6).await?;
    let new_hosts = wait_for("a new native host", Duration::from_secs(15), || {
        let now = wrappers::host_pids(&b.host_log);
        (now.len() > hosts.len()).then_some(now)
    })
    .await?;
    let recovered = killed_at.elapsed();
    let mark_after = h.recorder.mark();
    load(ff, &sites[0]).await?;
    load(ff, &sites[2]).await?;
    let after = creds_since(h, mark_after, &sites[0]);
    ensure!(
        after == before,
        "b1.test's credentials changed from {before:?} to {after:?} although the daemon (and its \
         key) kept running"
    );
    let report = h.audit(marks, &site_map(&sites))?;
    b.firefox.shutdown().await;
    Ok(format!(
        "host {host} SIGKILLed; the extension started host {} and browsing resumed after \
         {attempts} attempt(s) {errors:?} in {:.1} s; b1.test kept its credentials (same daemon); \
         {report}",
        new_hosts.last().copied().unwrap_or_default(),
        recovered.as_secs_f64()
    ))
}

// ---------------------------------------------------------------------------------------------
// 7.1 c: a slow, garbled or lying broker
// ---------------------------------------------------------------------------------------------

/// A Persite browser whose native host talks to a [`FakeBroker`] (and can start no real daemon).
async fn start_with_fake(h: &Harness) -> anyhow::Result<(FakeBroker, Browser, tempfile::TempDir)> {
    start_with_fake_env(h, Vec::new()).await
}

/// [`start_with_fake`] with extra environment for Firefox and its native host.
async fn start_with_fake_env(
    h: &Harness,
    env: Vec<(String, String)>,
) -> anyhow::Result<(FakeBroker, Browser, tempfile::TempDir)> {
    let runtime_dir = tempfile::Builder::new()
        .prefix("persite-rt-fake-")
        .tempdir_in("/tmp")?;
    let fake = FakeBroker::start(
        runtime_dir.path(),
        h.recorder.addr().port(),
        FakeMode::Honest,
    )
    .await?;
    let b = start_browser(
        h,
        BrowserOptions {
            temporary_addon: true,
            runtime_dir: Some(runtime_dir.path().to_path_buf()),
            // If the fake is not answering, the host must not start a real daemon.
            broker_bin: Some(PathBuf::from("/bin/false")),
            env,
            ..BrowserOptions::default()
        },
    )
    .await?;
    Ok((fake, b, runtime_dir))
}

async fn faulty_broker(h: &Harness) -> anyhow::Result<String> {
    let (fake, b, _runtime_dir) = start_with_fake(h).await?;
    let ff = &b.firefox;
    let marks = h.marks();
    let sites: Vec<Site> = (1..=8)
        .map(|i| Site::new(h, &format!("c{i}.test"), i))
        .collect();
    let mut notes = Vec::new();

    load(ff, &sites[0]).await.context("honest fake broker")?;
    notes.push(format!(
        "honest: loaded, native hosts {}",
        wrappers::host_pids(&b.host_log).len()
    ));

    fake.set_mode(FakeMode::Slow(Duration::from_secs(3)));
    let started = Instant::now();
    load(ff, &sites[1]).await.context("slow (3 s) broker")?;
    let waited = started.elapsed();
    ensure!(
        waited >= Duration::from_millis(2900),
        "c2.test loaded in {waited:?} although the broker answered after 3 s"
    );
    notes.push(format!(
        "slow 3 s: the page waited and loaded in {:.1} s, native hosts {}",
        waited.as_secs_f64(),
        wrappers::host_pids(&b.host_log).len()
    ));

    for (index, mode, bound) in [
        (2, FakeMode::GarbageBody, Duration::from_secs(25)),
        (3, FakeMode::MalformedCredentials, Duration::from_secs(25)),
        (4, FakeMode::WrongId, Duration::from_secs(25)),
    ] {
        fake.set_mode(mode.clone());
        let hosts_before = wrappers::host_pids(&b.host_log).len();
        let http_mark = h.fixtures.mark();
        let seen = expect_visible_failure(ff, &sites[index].url(), bound)
            .await
            .with_context(|| format!("{mode:?}"))?;
        let reached: Vec<String> = h
            .fixtures
            .requests_since(http_mark)
            .into_iter()
            .filter(|r| r.host == sites[index].name)
            .map(|r| r.path)
            .collect();
        ensure!(
            reached.is_empty(),
            "{mode:?}: {} reached the server: {reached:?}",
            sites[index].name
        );
        // A new host means Firefox dropped the port (e.g. it could not parse a frame).
        tokio::time::sleep(Duration::from_millis(500)).await;
        notes.push(format!(
            "{mode:?}: {seen}, native hosts {hosts_before}→{}",
            wrappers::host_pids(&b.host_log).len()
        ));
    }

    fake.set_mode(FakeMode::Honest);
    let (attempts, _) = load_retrying(ff, &sites[6], 12)
        .await
        .context("honest again")?;
    notes.push(format!("honest again: loaded after {attempts} attempt(s)"));
    let report = h.audit(marks, &site_map(&sites))?;
    let issued = fake.issued();
    let requests = fake.credentials_requests();
    for site in [&sites[0], &sites[1], &sites[6]] {
        let creds = creds_of(&report, &site.name)?;
        let expected = issued
            .get(&format!("{} firefox-default", site.name))
            .with_context(|| format!("the fake issued nothing for {}", site.name))?;
        ensure!(
            (creds.username.as_str(), creds.password.as_str())
                == (expected.0.as_str(), expected.1.as_str()),
            "{} carried {creds}, not the fake broker's {expected:?}",
            site.name
        );
    }
    b.firefox.shutdown().await;
    drop(fake);
    Ok(format!(
        "{}; {requests} credentials requests reached the fake; {report}",
        notes.join("; ")
    ))
}

/// The broker answers a request with the complete, well-formed result it issued for another
/// site (its `site` field names that other site). The extension must refuse it (the result's
/// site is not the requested first party's) instead of sending the page with another site's
/// credentials.
async fn lying_broker(h: &Harness) -> anyhow::Result<String> {
    let (fake, b, _runtime_dir) = start_with_fake(h).await?;
    let ff = &b.firefox;
    let marks = h.marks();
    let sites: Vec<Site> = (1..=3)
        .map(|i| Site::new(h, &format!("l{i}.test"), i))
        .collect();
    load(ff, &sites[0]).await.context("honest fake broker")?;
    fake.set_mode(FakeMode::OtherSitesCredentials);
    let http_mark = h.fixtures.mark();
    let outcome = expect_visible_failure(ff, &sites[1].url(), Duration::from_secs(25)).await;
    let reached = h
        .fixtures
        .requests_since(http_mark)
        .into_iter()
        .filter(|r| r.host == sites[1].name)
        .count();
    let audit = h.audit(marks, &site_map(&sites));
    b.firefox.shutdown().await;
    let seen = outcome.context(
        "PRODUCT DEFECT: the extension accepted a credentials reply whose `site` names another \
         site than the requested first party (protocol §2.1) and sent the page with that other \
         site's credentials",
    )?;
    ensure!(reached == 0, "l2.test reached the server {reached} time(s)");
    let report = audit?;
    Ok(format!(
        "the other site's credentials were refused: {seen}; {} credentials requests; {report}",
        fake.credentials_requests()
    ))
}

// ---------------------------------------------------------------------------------------------
// 7.1 d: the event page suspended
// ---------------------------------------------------------------------------------------------

/// Chrome-context script: the extension's background state (`running`, `stopped`, …).
const BACKGROUND_STATE: &str = r#"
const policy = WebExtensionPolicy.getByID("persite@persite.org");
if (!policy || !policy.extension) { return "no-extension"; }
return String(policy.extension.backgroundState);
"#;

async fn event_page_suspended(h: &Harness) -> anyhow::Result<String> {
    let b = start_browser(
        h,
        BrowserOptions {
            temporary_addon: true,
            prefs: vec![("extensions.background.idle.timeout", json!(2000))],
            ..BrowserOptions::default()
        },
    )
    .await?;
    let ff = &b.firefox;
    let marks = h.marks();
    let sites: Vec<Site> = (1..=2)
        .map(|i| Site::new(h, &format!("d{i}.test"), i))
        .collect();
    load(ff, &sites[0]).await?;
    let before = creds_since(h, marks.socks, &sites[0]);
    let hosts_before = wrappers::host_pids(&b.host_log);
    let host = i32::try_from(*hosts_before.last().context("no native host started")?)?;

    // Idle well past the 2 s idle timeout: does the event page suspend by itself?
    tokio::time::sleep(Duration::from_secs(6)).await;
    let idle_state = ff.chrome_execute(BACKGROUND_STATE, vec![]).await?;
    let natural = if is_alive(host) {
        format!(
            "after 6 s idle (timeout 2 s) the background is {idle_state} and its native port keeps host {host} alive"
        )
    } else {
        format!("after 6 s idle the background is {idle_state} and host {host} exited")
    };

    // Suspend it the way Firefox does on idle, skipping the native-port exemption.
    ff.chrome_execute(
        r#"const policy = WebExtensionPolicy.getByID("persite@persite.org");
           // Without disableResetIdleForTest Firefox refuses while a native port is open
           // (ext-backgroundPage.js: hasActiveNativeAppPorts), exactly as at the idle timeout.
           policy.extension.terminateBackground({ ignoreDevToolsAttached: true, disableResetIdleForTest: true });
           return true;"#,
        vec![],
    )
    .await?;
    let suspended_state =
        wait_for_background(ff, |s| s != "running", Duration::from_secs(10)).await?;
    wait_for(
        "the native host to exit with its port",
        Duration::from_secs(10),
        || (!is_alive(host)).then_some(()),
    )
    .await?;

    // Wake it with a request of the cached site: the restored cache (storage.session) and the
    // same daemon give the same credentials.
    let mark_wake = h.recorder.mark();
    load(ff, &sites[0])
        .await
        .context("cached site after the wake")?;
    let woken_state = wait_for_background(ff, |s| s == "running", Duration::from_secs(10)).await?;
    let after = creds_since(h, mark_wake, &sites[0]);
    ensure!(
        after == before,
        "d1.test carried {after:?} after the wake, not its credentials {before:?}"
    );
    let hosts_after = wait_for("a new native host (hello)", Duration::from_secs(10), || {
        let now = wrappers::host_pids(&b.host_log);
        (now.len() > hosts_before.len()).then_some(now)
    })
    .await?;
    load(ff, &sites[1])
        .await
        .context("new site after the wake")?;
    let report = h.audit(marks, &site_map(&sites))?;
    let d2 = creds_of(&report, "d2.test")?;
    ensure!(!before.contains(&d2), "d2.test got d1.test's credentials");
    b.firefox.shutdown().await;
    Ok(format!(
        "{natural}; terminated: background {suspended_state}, host {host} exited; a request woke \
         it ({woken_state}), new host {} (new hello), d1.test kept {}, d2.test got its own; {report}",
        hosts_after.last().copied().unwrap_or_default(),
        before.iter().map(short).collect::<Vec<_>>().join(",")
    ))
}

async fn wait_for_background(
    ff: &Firefox,
    accept: impl Fn(&str) -> bool,
    bound: Duration,
) -> anyhow::Result<String> {
    let started = Instant::now();
    loop {
        let state = ff.chrome_execute(BACKGROUND_STATE, vec![]).await?;
        let state = state.as_str().unwrap_or("?").to_owned();
        if accept(&state) {
            return Ok(state);
        }
        ensure!(
            started.elapsed() < bound,
            "the background stayed {state} for {bound:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 7.1 e: Firefox restarted with the extension installed
// ---------------------------------------------------------------------------------------------

fn permanent_install_prefs() -> Vec<(&'static str, Value)> {
    vec![
        ("xpinstall.signatures.required", json!(false)),
        ("extensions.autoDisableScopes", json!(0)),
        ("extensions.enabledScopes", json!(15)),
        // The extension may run in private windows (policy `private_browsing` in production).
        ("extensions.allowPrivateBrowsingByDefault", json!(true)),
    ]
}

async fn firefox_restart(h: &Harness) -> anyhow::Result<String> {
    let work = tempfile::Builder::new()
        .prefix("persite-faults-profile-")
        .tempdir_in("/tmp")?;
    let profile = work.path().join("profile");
    let xpi = work.path().join("persite.xpi");
    wrappers::pack_xpi(&xpi)?;
    let sites: Vec<Site> = (1..=3)
        .map(|i| Site::new(h, &format!("e{i}.test"), i))
        .collect();
    let marks_first = h.marks();

    // First run: the extension is installed permanently (sideloaded into the profile).
    let first = start_browser(
        h,
        BrowserOptions {
            prefs: permanent_install_prefs(),
            env: vec![
                (
                    "PERSITE_KEEP_PROFILE".into(),
                    profile.to_string_lossy().into_owned(),
                ),
                (
                    "PERSITE_SIDELOAD_XPI".into(),
                    xpi.to_string_lossy().into_owned(),
                ),
            ],
            ..BrowserOptions::default()
        },
    )
    .await?;
    wait_for_background(&first.firefox, |s| s == "running", Duration::from_secs(20))
        .await
        .context("the sideloaded extension did not start")?;
    load_retrying(&first.firefox, &sites[0], 3).await?;
    first.firefox.shutdown().await;
    ensure!(
        profile.join("extensions/persite@persite.org.xpi").is_file()
            && profile.join("extensions.json").is_file(),
        "the first run left no installed extension in the kept profile"
    );

    // Second run, same profile, no install step: the start page loads two sites at once, before
    // the test (or the extension's background) can do anything.
    let marks = h.marks();
    let homepage = format!("{}|{}", sites[1].url(), sites[2].url());
    let mut prefs = permanent_install_prefs();
    prefs.push(("browser.startup.page", json!(1)));
    prefs.push(("browser.startup.homepage", json!(homepage)));
    let second = start_browser(
        h,
        BrowserOptions {
            prefs,
            env: vec![(
                "PERSITE_KEEP_PROFILE".into(),
                profile.to_string_lossy().into_owned(),
            )],
            ..BrowserOptions::default()
        },
    )
    .await?;
    let ff = &second.firefox;
    let titles = wait_for_tab_titles(ff, 2, Duration::from_secs(40)).await?;
    let report = h.audit(marks, &site_map(&sites))?;
    let e2 = creds_of(&report, "e2.test")?;
    let e3 = creds_of(&report, "e3.test")?;
    ensure!(e2 != e3, "e2.test and e3.test share {e2}");
    ensure!(
        titles.iter().filter(|t| t.as_str() == "done").count() == 2,
        "the start pages did not both load through Persite: tab titles {titles:?} (log tail:\n{})",
        ff.log_tail(25)
    );
    // When did the start pages' navigations begin, relative to the first native host (which
    // the background starts as soon as it runs)?
    let host_start = wrappers::host_starts(&second.host_log)
        .first()
        .map(|(_, at)| *at)
        .context("the restarted Firefox started no native host")?;
    let mut lead_ms = Vec::new();
    for handle in ff.client().windows().await? {
        ff.client().switch_to_window(handle).await?;
        let origin = ff
            .client()
            .execute("return [location.host, performance.timeOrigin];", vec![])
            .await?;
        let (Some(host), Some(origin_ms)) = (origin[0].as_str(), origin[1].as_f64()) else {
            continue;
        };
        if !host.starts_with('e') {
            continue;
        }
        let host_ms = host_start
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs_f64()
            * 1000.0;
        lead_ms.push((host.to_owned(), host_ms - origin_ms));
    }
    ensure!(
        lead_ms.len() == 2 && lead_ms.iter().all(|(_, lead)| *lead > 0.0),
        "the start pages did not begin loading before the background connected its native host \
         ({lead_ms:?} ms): the restart did not exercise requests made before the extension was \
         ready"
    );
    let lead_ms: Vec<String> = lead_ms
        .iter()
        .map(|(host, lead)| format!("{host} {lead:.0} ms"))
        .collect();
    second.firefox.shutdown().await;
    let first_report = h.audit(marks_first, &site_map(&sites))?;
    Ok(format!(
        "extension sideloaded, Firefox restarted on the same profile: start pages e2/e3 held until \
         the background answered and loaded with their own credentials (tabs {titles:?}; navigation start before the first native host: {lead_ms:?}); both \
         runs {first_report}; restart alone {report}"
    ))
}

/// Open one tab per site at once (chrome context), without waiting for any load.
async fn open_tabs(ff: &Firefox, sites: &[Site]) -> anyhow::Result<()> {
    let urls: Vec<Value> = sites.iter().map(|s| json!(s.url())).collect();
    ff.chrome_execute(
        r#"const win = Services.wm.getMostRecentWindow("navigator:browser");
           for (const url of arguments[0]) {
             win.gBrowser.addTab(url, {
               triggeringPrincipal: Services.scriptSecurityManager.getSystemPrincipal(),
             });
           }
           return true;"#,
        vec![json!(urls)],
    )
    .await?;
    Ok(())
}

/// The titles of the front window's tabs (content title, else the tab label).
async fn tab_titles(ff: &Firefox) -> anyhow::Result<Vec<String>> {
    let titles = ff
        .chrome_execute(
            r#"const win = Services.wm.getMostRecentWindow("navigator:browser");
               if (!win || !win.gBrowser) { return []; }
               return win.gBrowser.tabs.map(t => t.linkedBrowser.contentTitle || t.label || "");"#,
            vec![],
        )
        .await?;
    Ok(titles
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| t.as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default())
}

/// Wait until the last `count` tabs are settled: a fixture page's `done`/`failed…`, or an
/// error page (any other title that is not a URL or the fixture's `loading`). Bounded.
async fn wait_for_settled_tabs(
    ff: &Firefox,
    count: usize,
    bound: Duration,
) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    loop {
        let titles = tab_titles(ff).await?;
        let last: Vec<String> = titles[titles.len().saturating_sub(count)..].to_vec();
        let settled = last.len() == count
            && last.iter().all(|t| {
                !t.is_empty() && t != "loading" && !t.starts_with("http") && !t.contains(".test")
            });
        if settled {
            return Ok(last);
        }
        ensure!(
            started.elapsed() < bound,
            "tabs still loading after {bound:?}: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// How many tabs show each title.
fn count_titles(titles: &[String]) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for title in titles {
        *counts.entry(title.clone()).or_insert(0) += 1;
    }
    counts
}

/// Wait until at least `count` tabs of the front window show `done` or `failed…` (bounded);
/// returns the titles of all tabs.
async fn wait_for_tab_titles(
    ff: &Firefox,
    count: usize,
    bound: Duration,
) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    loop {
        let titles = tab_titles(ff).await?;
        let finished = titles
            .iter()
            .filter(|t| t.as_str() == "done" || t.starts_with("failed"))
            .count();
        if finished >= count {
            return Ok(titles);
        }
        ensure!(
            started.elapsed() < bound,
            "only {finished} of {count} tabs finished within {bound:?}: {titles:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 7.1 f: many sites at once
// ---------------------------------------------------------------------------------------------

async fn simultaneous_tabs(h: &Harness) -> anyhow::Result<String> {
    const TABS: usize = 24;
    let b = start_persite(h).await?;
    let ff = &b.firefox;
    let marks = h.marks();
    let sites: Vec<Site> = (1..=TABS)
        .map(|i| Site::new(h, &format!("f{i}.test"), i))
        .collect();
    let started = Instant::now();
    open_tabs(ff, &sites).await?;
    let titles = wait_for_tab_titles(ff, TABS, Duration::from_secs(90)).await?;
    let elapsed = started.elapsed();
    let done = titles.iter().filter(|t| t.as_str() == "done").count();
    ensure!(done == TABS, "{done} of {TABS} tabs loaded: {titles:?}");
    let report = h.audit(marks, &site_map(&sites))?;
    let mut pairs = BTreeSet::new();
    for site in &sites {
        let creds = creds_of(&report, &site.name)?;
        ensure!(
            pairs.insert(creds.clone()),
            "{} shares {creds} with another site",
            site.name
        );
        for host in site.hosts() {
            let seen = h
                .fixtures
                .requests_since(marks.http)
                .iter()
                .any(|r| r.host == host.split(':').next().unwrap_or(&host));
            ensure!(seen, "no request for {host} (third party of {})", site.name);
        }
    }
    b.firefox.shutdown().await;
    Ok(format!(
        "{TABS} tabs opened at once, all done in {:.1} s; {} distinct credential pairs, every \
         third party (iframe, CDN, canary IP literal) on its first party's pair; {report}",
        elapsed.as_secs_f64(),
        pairs.len()
    ))
}

// ---------------------------------------------------------------------------------------------
// 7.2 g: strace — no DNS, no direct connect
// ---------------------------------------------------------------------------------------------

async fn strace_leaks(h: &Harness) -> anyhow::Result<String> {
    wrappers::require_strace()?;
    let binaries = h.binaries()?;
    let work = tempfile::Builder::new()
        .prefix("persite-faults-strace-")
        .tempdir_in("/tmp")?;
    let log = work.path().join("strace.log");
    let marks = h.marks();
    // The profile users run: the shipped user.js and only the harness's plumbing prefs, so
    // Firefox's own background traffic is on and must stay on the SOCKS port too.
    let b = start_browser(
        h,
        BrowserOptions {
            temporary_addon: true,
            shipped_profile: true,
            env: vec![(
                "PERSITE_STRACE_OUT".into(),
                log.to_string_lossy().into_owned(),
            )],
            ..BrowserOptions::default()
        },
    )
    .await?;
    let ff = &b.firefox;
    let sites: Vec<Site> = (1..=4)
        .map(|i| Site::new(h, &format!("g{i}.test"), i))
        .collect();
    for site in &sites[..3] {
        load(ff, site).await?;
    }
    // A top-level page on an IP literal, and a name under a real-looking TLD.
    let ip_page = format!("http://{}/", h.canary.host(9));
    ff.load_fixture_page(&ip_page)
        .await
        .context("IP-literal page")?;
    ff.load_fixture_page("http://www.example.com/")
        .await
        .context("example.com")?;
    // Firefox's own traffic, now rather than on its timers: a Remote Settings poll and an
    // add-on update check (both kept on by the shipped user.js). Their servers do not exist
    // here; what matters is which way the connections go.
    let background = ff
        .chrome_execute(TRIGGER_BACKGROUND, vec![])
        .await
        .context("triggering Firefox's background traffic")?;
    // A fault under the trace: the native host dies, the next site fails closed (black hole)
    // or waits for the reconnect — either way no other destination may appear.
    let host = wrappers::host_pids(&b.host_log)
        .last()
        .copied()
        .context("no native host started")?;
    sigkill(i32::try_from(host)?)?;
    let (attempts, _) = load_retrying(ff, &sites[3], 6).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    b.firefox.shutdown().await;
    let text =
        std::fs::read_to_string(&log).with_context(|| format!("reading {}", log.display()))?;
    ensure!(
        !text.is_empty(),
        "strace wrote nothing: was Firefox traced?"
    );
    let events = parse_log(&text);
    let mut sites_map = site_map(&sites);
    sites_map.add(&h.canary.host(9), &[h.canary.host(9)]);
    sites_map.add("example.com", &["www.example.com".to_owned()]);
    // Firefox's own traffic before the extension is installed goes to the default proxy
    // without credentials; that is the shipped design (tor, unisolated, never direct) and is
    // listed. A test site's request without credentials still fails.
    let report = audit_with_background(&h.recorder, &h.fixtures, &h.canary, marks, &sites_map)?;
    let turned_off: Vec<&String> = report
        .background
        .keys()
        .filter(|k| TURNED_OFF_HOSTS.iter().any(|host| k.starts_with(host)))
        .collect();
    ensure!(
        turned_off.is_empty(),
        "Firefox reached servers the shipped user.js turns off: {turned_off:?}"
    );
    ensure!(
        report
            .background
            .keys()
            .any(|k| k.starts_with("firefox.settings.services.mozilla.com:443")),
        "the Remote Settings poll ({background}) reached no SOCKS tunnel: the trial did not see \
         Firefox's own traffic ({:?})",
        report.background
    );

    let socks = h.recorder.addr();
    let persite_programs = [
        binaries.native_host.file_name(),
        binaries.broker.file_name(),
    ]
    .into_iter()
    .flatten()
    .map(|n| n.to_string_lossy().into_owned())
    .collect::<Vec<_>>();
    let mut problems = Vec::new();
    let mut firefox_unix: BTreeSet<String> = BTreeSet::new();
    let mut persite_seen: BTreeSet<String> = BTreeSet::new();
    let mut firefox_socks = 0usize;
    let mut black_hole = 0usize;
    let programs: BTreeSet<String> = events.iter().map(|e| e.program_name().to_owned()).collect();
    let mut netlink = 0usize;
    let mut nss_cache_probes = 0usize;
    for event in &events {
        // Firefox looks up its user at start (NetEvent::is_failed_nss_cache_probe says why
        // that is not a DNS lookup).
        if event.is_failed_nss_cache_probe() {
            nss_cache_probes += 1;
            continue;
        }
        // Netlink to the kernel (nl_pid=0): Firefox's NetlinkService dumps links/addresses and
        // asks the kernel's routing table for the route to a fixed address (RTM_GETROUTE,
        // 23.219.91.27 / 2a02:26f0:40::17db:5b1b) to compute a network id. It is a kernel-local
        // query; no packet leaves the machine.
        if matches!(&event.endpoint, Endpoint::Other(family) if family == "AF_NETLINK")
            && event.line.contains("nl_pid=0")
        {
            netlink += 1;
            continue;
        }
        if event.is_dns() {
            problems.push(format!(
                "DNS: {} by {}: {}",
                event.endpoint,
                event.program_name(),
                event.line
            ));
            continue;
        }
        let persite = persite_programs.iter().any(|p| p == event.program_name());
        match (&event.endpoint, persite) {
            (Endpoint::Other(family), _) if family == "AF_UNSPEC" => {}
            (Endpoint::Unix(path), false) if path == BLACK_HOLE_PATH => {
                black_hole += 1;
                if !event.line.contains("ENOENT") {
                    problems.push(format!("the black hole answered: {}", event.line));
                }
            }
            (Endpoint::Unix(path), false) => {
                firefox_unix.insert(path.clone());
            }
            (Endpoint::Inet(ip, port), false) if *ip == socks.ip() && *port == socks.port() => {
                firefox_socks += 1;
            }
            (endpoint, true) => {
                // The host may reach only the daemon's socket; the daemon only probes the SOCKS
                // port (and nothing else: its config says control = "none").
                let allowed = match endpoint {
                    Endpoint::Unix(path) => path.starts_with(&*b.runtime_dir.to_string_lossy()),
                    Endpoint::Inet(ip, port) => *ip == socks.ip() && *port == socks.port(),
                    Endpoint::Other(_) => false,
                };
                if allowed {
                    persite_seen.insert(format!("{} → {endpoint}", event.program_name()));
                } else {
                    problems.push(format!(
                        "{} connected to {endpoint}: {}",
                        event.program_name(),
                        event.line
                    ));
                }
            }
            (endpoint, false) => problems.push(unexpected(event, endpoint)),
        }
    }
    ensure!(
        firefox_socks > 0,
        "strace saw no connection to the SOCKS port {socks}: the trace does not cover Firefox's \
         network process (programs seen: {programs:?})"
    );
    ensure!(
        problems.is_empty(),
        "{} leak(s) in the strace log:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
    Ok(format!(
        "{} traced socket calls by {programs:?}: 0 DNS; Firefox inet connects only to the SOCKS \
         port ({firefox_socks}); the black hole {BLACK_HOLE_PATH} ({black_hole}, all ENOENT); Firefox Unix \
         sockets {firefox_unix:?}; {netlink} kernel netlink queries; {nss_cache_probes} failed \
         nscd probes (ENOENT); Persite {persite_seen:?}; native host killed mid-run, g4 loaded \
         after {attempts} attempt(s); {report}",
        events.len()
    ))
}

/// Servers of background services the shipped user.js turns off (broker/src/hardening.rs):
/// telemetry and usage pings, Safe Browsing, captive-portal detection, studies, Web Push,
/// network geolocation, sponsored tiles and suggestions, add-on metadata.
const TURNED_OFF_HOSTS: &[&str] = &[
    "incoming.telemetry.mozilla.org:",
    "safebrowsing.googleapis.com:",
    "detectportal.firefox.com:",
    "normandy.cdn.mozilla.net:",
    "push.services.mozilla.com:",
    "location.services.mozilla.com:",
    "contile.services.mozilla.com:",
    "merino.services.mozilla.com:",
    "services.addons.mozilla.org:",
];

/// Chrome script: start a Remote Settings poll and an add-on update check, wait for both (at
/// most 15 s), and say how each ended.
const TRIGGER_BACKGROUND: &str = r#"
return (async () => {
  const { RemoteSettings } = ChromeUtils.importESModule(
    "resource://services-settings/remote-settings.sys.mjs");
  const { AddonManagerPrivate } = ChromeUtils.importESModule(
    "resource://gre/modules/AddonManager.sys.mjs");
  const out = {};
  const settle = (name, start) => Promise.resolve().then(start).then(
    () => { out[name] = "ok"; }, (e) => { out[name] = String(e).slice(0, 120); });
  await Promise.race([
    Promise.allSettled([
      settle("remoteSettings", () => RemoteSettings.pollChanges({ trigger: "manual", full: true })),
      settle("addonUpdates", () => AddonManagerPrivate.backgroundUpdateCheck()),
    ]),
    new Promise((resolve) => setTimeout(resolve, 15000)),
  ]);
  return out;
})();
"#;

fn unexpected(event: &NetEvent, endpoint: &Endpoint) -> String {
    format!(
        "{} ({}) {} to {endpoint}: {}",
        event.program_name(),
        event.pid,
        event.syscall,
        event.line
    )
}

// ---------------------------------------------------------------------------------------------
// 7.2 h: WebRTC
// ---------------------------------------------------------------------------------------------

/// Page script: try to gather ICE candidates; report what happened.
const WEBRTC_PROBE: &str = r#"
const done = arguments[arguments.length - 1];
const out = { typeofRTCPeerConnection: typeof RTCPeerConnection, candidates: [] };
(async () => {
  try {
    const pc = new RTCPeerConnection({ iceServers: [] });
    out.constructed = true;
    pc.createDataChannel("probe");
    const gathered = new Promise((resolve) => {
      pc.onicecandidate = (e) => { if (e.candidate) { out.candidates.push(e.candidate.candidate); } else { resolve(); } };
      setTimeout(resolve, 4000);
    });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered;
    out.sdpHasCandidates = /a=candidate/.test(pc.localDescription ? pc.localDescription.sdp : "");
    pc.close();
  } catch (e) {
    out.error = String(e);
  }
  done(out);
})();
"#;

async fn webrtc(h: &Harness) -> anyhow::Result<String> {
    // Leave the user.js WebRTC switch out: this test is about what the extension does.
    let b = start_browser(
        h,
        BrowserOptions {
            without_prefs: vec!["media.peerconnection.enabled"],
            ..BrowserOptions::default()
        },
    )
    .await?;
    let ff = &b.firefox;
    // Control, before the extension exists: WebRTC works and gathers host candidates.
    ff.goto("about:blank").await?;
    let control = ff.client().execute_async(WEBRTC_PROBE, vec![]).await?;
    let control_candidates = control["candidates"].as_array().map_or(0, Vec::len);

    let binaries_dir = binaries::extension_dir()?;
    let id = ff.install_addon(&binaries_dir, true).await?;
    ensure!(
        id == binaries::EXTENSION_ID,
        "the extension installed as {id}"
    );
    let started = Instant::now();
    let enabled = loop {
        let value = ff
            .chrome_execute(
                r#"return Services.prefs.getBoolPref("media.peerconnection.enabled", true);"#,
                vec![],
            )
            .await?;
        if value == json!(false) || started.elapsed() > Duration::from_secs(10) {
            break value;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let marks = h.marks();
    let site = Site::new(h, "h1.test", 1);
    load(ff, &site).await?;
    let probe = ff.client().execute_async(WEBRTC_PROBE, vec![]).await?;
    let report = h.audit(marks, &site_map([&site]))?;
    b.firefox.shutdown().await;
    let candidates = probe["candidates"].as_array().cloned().unwrap_or_default();
    ensure!(
        candidates.is_empty() && probe["sdpHasCandidates"] != json!(true),
        "WebRTC gathered candidates with Persite active: {probe}"
    );
    ensure!(
        probe["typeofRTCPeerConnection"] == json!("undefined") || probe.get("error").is_some(),
        "RTCPeerConnection is still usable with Persite active: {probe}"
    );
    Ok(format!(
        "control without the extension: RTCPeerConnection {} with {control_candidates} \
         candidate(s) {control}; with Persite media.peerconnection.enabled = {enabled} and the page \
         sees {probe}; {report}",
        control["typeofRTCPeerConnection"]
    ))
}

// ---------------------------------------------------------------------------------------------
// The black hole: a SOCKS proxy no local user can listen on
// ---------------------------------------------------------------------------------------------

/// The extension's fail-closed answer is SOCKS over the Unix socket `/proc/persite-black-hole`.
/// Under strace, with a broker whose answers are garbage: Firefox takes the answer from
/// `proxy.onRequest` (it does not fall back to the prefs proxy, the recorder), tries to connect
/// to that path, fails with ENOENT (nothing can be created under /proc, not even by root), and
/// the navigation fails (Persite's blocked page replaces Firefox's proxy error page); no TCP
/// connection but the SOCKS recorder's is made and
/// the recorder sees no tunnel for the site.
async fn black_hole(h: &Harness) -> anyhow::Result<String> {
    wrappers::require_strace()?;
    let work = tempfile::Builder::new()
        .prefix("persite-faults-hole-")
        .tempdir_in("/tmp")?;
    let log = work.path().join("strace.log");
    let (fake, b, _runtime_dir) = start_with_fake_env(
        h,
        vec![(
            "PERSITE_STRACE_OUT".into(),
            log.to_string_lossy().into_owned(),
        )],
    )
    .await?;
    let ff = &b.firefox;
    let sites: Vec<Site> = (1..=2)
        .map(|i| Site::new(h, &format!("i{i}.test"), i))
        .collect();
    load(ff, &sites[0]).await.context("honest fake broker")?;
    fake.set_mode(FakeMode::GarbageBody);
    let socks_mark = h.recorder.mark();
    let http_mark = h.fixtures.mark();
    let seen = expect_visible_failure(ff, &sites[1].url(), Duration::from_secs(25)).await?;
    // The extension replaces the proxy failure page with its own blocked page, which it shows
    // only for a request it answered with the black hole and Firefox then reported failed;
    // WebDriver may still catch the error page before the replacement.
    ensure!(
        seen.contains("proxyConnectFailure") || seen.contains("\"Blocked by Persite\""),
        "the black hole did not give a proxy connection failure (or Persite's blocked page): {seen}"
    );
    let tunnels: Vec<String> = h
        .recorder
        .connections_since(socks_mark)
        .into_iter()
        .filter_map(|c| c.host)
        .filter(|host| host.contains(&sites[1].name))
        .collect();
    ensure!(
        tunnels.is_empty(),
        "{} reached the SOCKS recorder (the prefs proxy): {tunnels:?}",
        sites[1].name
    );
    let reached = h
        .fixtures
        .requests_since(http_mark)
        .into_iter()
        .filter(|r| r.host == sites[1].name)
        .count();
    ensure!(reached == 0, "{} reached its server", sites[1].name);
    tokio::time::sleep(Duration::from_secs(1)).await;
    b.firefox.shutdown().await;
    drop(fake);

    let text =
        std::fs::read_to_string(&log).with_context(|| format!("reading {}", log.display()))?;
    let events = parse_log(&text);
    let firefox = |e: &&NetEvent| {
        let name = e.program_name();
        name != "persite-native-host" && name != "persite" && name != "false"
    };
    let hole: Vec<&NetEvent> = events
        .iter()
        .filter(firefox)
        .filter(|e| matches!(&e.endpoint, Endpoint::Unix(p) if p == BLACK_HOLE_PATH))
        .collect();
    ensure!(
        !hole.is_empty(),
        "Firefox never tried the black hole {BLACK_HOLE_PATH}: it did not take the extension's \
         answer ({} traced socket calls)",
        events.len()
    );
    ensure!(
        hole.iter().all(|e| e.line.contains("ENOENT")),
        "a connection to the black hole did not fail with ENOENT: {:?}",
        hole.iter().map(|e| e.line.as_str()).collect::<Vec<_>>()
    );
    let socks = h.recorder.addr();
    let other_inet: Vec<String> = events
        .iter()
        .filter(firefox)
        .filter(|e| match &e.endpoint {
            Endpoint::Inet(ip, port) => !(*ip == socks.ip() && *port == socks.port()),
            _ => false,
        })
        .map(|e| e.line.clone())
        .collect();
    ensure!(
        other_inet.is_empty(),
        "Firefox made TCP/UDP connections other than to the SOCKS recorder: {other_inet:?}"
    );
    Ok(format!(
        "{seen}; {} connect(s) to {BLACK_HOLE_PATH}, all ENOENT; no tunnel for {} and no other \
         inet connection",
        hole.len(),
        sites[1].name
    ))
}
