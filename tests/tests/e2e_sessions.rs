//! Sessions and profiles are unlinkable, in real headless Firefox ESR: every browser session,
//! every profile sharing one daemon and every private browsing session gets its own SOCKS
//! credentials for every site (`docs/architecture.md` "Sessions"; the extension's
//! `extension/src/sessions.js`, the broker's `broker/src/isolation/session.rs`).
//!
//! Same harness as `tests/e2e_firefox.rs` (recording SOCKS server joined with the fixture
//! server); every assertion is on the credentials the recorder saw on the page's tunnels.
//!
//! | trial | asserts |
//! |---|---|
//! | `sessions_a_…` | two profiles at once on one daemon (started by the test): site-a's pair differs between them (username and password), each profile's pair is stable across reloads, and the daemon answers each profile's pair only for that profile's session value |
//! | `sessions_b_…` | the browser restarted on the same profile (extension installed permanently) while the daemon keeps running: site-a's pair after ≠ before (stable within each run) |
//! | `sessions_c_…` | private windows: site-a in a private window; every private window closed (the extension forgets the private secret); a new private window: site-a gets a new pair, ≠ the first private pair, ≠ the normal window's; the normal window's pair is unchanged throughout |
//!
//! Run: `cargo test -p persite-tests --test e2e_sessions` (filters work, e.g. `-- sessions_c`).
//!
//! A restart on the same profile needs the Firefox wrapper of `src/wrappers.rs`
//! (`PERSITE_KEEP_PROFILE`, `PERSITE_SIDELOAD_XPI`), which `firefox_binary` finds through
//! `$PERSITE_FIREFOX`: like `tests/e2e_faults.rs`, the binary re-executes itself once with it set
//! (changing the environment in-process is `unsafe`). Without those variables the wrapper just
//! execs Firefox, so the other trials run as usual.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use persite_tests::binaries::{self};
use persite_tests::extension_state::{session_secrets, wait_browser_secret};
use persite_tests::firefox::{Firefox, FirefoxConfig};
use persite_tests::fixtures::HttpRecord;
use persite_tests::socks_recorder::{Credentials, SocksConnection};
use persite_tests::test_daemon::{TestDaemon, system_tor_config};
use persite_tests::trial::{self, RecordingHarness, trial};
use persite_tests::wrappers;
use serde_json::{Value, json};

/// Upper bound for one trial, Firefox starts included.
const TRIAL_TIMEOUT: Duration = Duration::from_secs(180);
/// Upper bound for the whole binary (building the Persite binaries included).
const RUN_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Longest wait for the extension to notice that the last private window closed.
const PRIVATE_END_WAIT: Duration = Duration::from_secs(10);
/// Marks the re-executed child process (its value: the wrapper scripts' directory).
const CHILD_MARKER: &str = "PERSITE_SESSIONS_CHILD";

/// Servers shared by every trial.
type Harness = RecordingHarness;

/// Re-runs this binary with `$PERSITE_FIREFOX` set to the wrapper script (module doc).
fn reexec_with_wrapper() -> ! {
    let code = (|| -> anyhow::Result<i32> {
        let real = persite_tests::firefox::firefox_binary()?;
        let scripts = tempfile::Builder::new()
            .prefix("persite-sessions-scripts-")
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
            eprintln!("e2e_sessions: cannot set up the Firefox wrapper: {error:#}");
            std::process::exit(101);
        }
    }
}

fn main() {
    if std::env::var_os(CHILD_MARKER).is_none() {
        reexec_with_wrapper();
    }
    trial::spawn_run_watchdog("e2e_sessions", RUN_TIMEOUT);
    trial::run_with_harness(
        "e2e_sessions harness",
        || RecordingHarness::start("e2e-sessions", TRIAL_TIMEOUT),
        |harness| {
            vec![
                trial(
                    harness,
                    "sessions_a_two_profiles_sharing_one_daemon_never_share_credentials",
                    true,
                    |h| Box::pin(two_profiles(h)),
                ),
                trial(
                    harness,
                    "sessions_b_browser_restart_with_the_daemon_running_gets_new_credentials",
                    true,
                    |h| Box::pin(browser_restart(h)),
                ),
                trial(
                    harness,
                    "sessions_c_private_session_credentials_end_with_its_last_window",
                    true,
                    |h| Box::pin(private_windows(h)),
                ),
            ]
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Browsers and the daemon
// ---------------------------------------------------------------------------------------------

/// A runtime dir for one trial's daemon.
fn new_runtime_dir() -> anyhow::Result<tempfile::TempDir> {
    Ok(tempfile::Builder::new()
        .prefix("persite-rt-")
        .tempdir_in("/tmp")?)
}

/// `dir` spelled differently for each process that shares it (`<dir>`, `<dir>/.`, …): the
/// same directory, but dropping a [`Firefox`] kills only the processes whose
/// `PERSITE_RUNTIME_DIR` is its own spelling, so one browser's end leaves the daemon and the
/// other browser alone.
fn spelling(dir: &Path, n: usize) -> PathBuf {
    let mut path = dir.to_path_buf();
    for _ in 0..n {
        path.push(".");
    }
    path
}

/// The daemon's `config.toml`: the recorder stands in for tor's SocksPort.
fn daemon_config(h: &Harness) -> String {
    system_tor_config(h.recorder.addr().port(), "none")
}

/// A `persite serve` started by the test on `runtime_dir`, outliving the browsers.
fn own_daemon(h: &Harness, runtime_dir: &Path) -> anyhow::Result<TestDaemon> {
    TestDaemon::start(&h.binaries()?.broker, &daemon_config(h), Some(runtime_dir))
        .map_err(anyhow::Error::msg)
}

/// Firefox (fresh profile) with Persite, whose native host talks to the daemon of
/// `runtime_dir` (started by the host unless one already runs there).
async fn start_persite(h: &Harness, runtime_dir: &Path) -> anyhow::Result<Firefox> {
    start_persite_with(h, runtime_dir, None).await
}

/// A profile kept across browser runs (a restart), with Persite installed permanently.
struct KeptProfile {
    /// The profile directory (the wrapper links geckodriver's temporary profile to it).
    profile: PathBuf,
    /// The packed extension; copied into the profile on the first run only.
    xpi: PathBuf,
}

/// [`start_persite`], or with `kept`: Firefox on that profile (the extension sideloaded on the
/// first run, waiting until its background runs; found installed on the next).
async fn start_persite_with(
    h: &Harness,
    runtime_dir: &Path,
    kept: Option<(&KeptProfile, bool)>,
) -> anyhow::Result<Firefox> {
    let binaries = h.binaries()?;
    let mut env = vec![
        (
            "PERSITE_RUNTIME_DIR".into(),
            runtime_dir.to_string_lossy().into_owned(),
        ),
        (
            "PERSITE_BROKER_BIN".into(),
            binaries.broker.to_string_lossy().into_owned(),
        ),
    ];
    let mut prefs = serde_json::Map::new();
    if let Some((kept, first_run)) = kept {
        env.push((
            "PERSITE_KEEP_PROFILE".into(),
            kept.profile.to_string_lossy().into_owned(),
        ));
        if first_run {
            env.push((
                "PERSITE_SIDELOAD_XPI".into(),
                kept.xpi.to_string_lossy().into_owned(),
            ));
        }
        for (name, value) in [
            ("xpinstall.signatures.required", json!(false)),
            ("extensions.autoDisableScopes", json!(0)),
            ("extensions.enabledScopes", json!(15)),
        ] {
            prefs.insert(name.into(), value);
        }
    }
    let firefox = Firefox::start(FirefoxConfig {
        native_host: Some(binaries.native_host.clone()),
        env,
        prefs,
        home_files: vec![(
            PathBuf::from(".config/persite/config.toml"),
            daemon_config(h),
        )],
        ..FirefoxConfig::default()
    })
    .await?;
    if let Some((_, first_run)) = kept {
        // After a restart the event page is not started until its first event (Firefox
        // primes its persistent `proxy.onRequest` listener, and the first request wakes it).
        if first_run {
            wait_for_background(&firefox).await?;
        }
        return Ok(firefox);
    }
    let id = firefox
        .install_addon(&binaries::extension_dir()?, true)
        .await?;
    ensure!(
        id == binaries::EXTENSION_ID,
        "the extension installed as {id}"
    );
    Ok(firefox)
}

/// Waits (bounded: 20 s) until the installed extension's background runs.
async fn wait_for_background(ff: &Firefox) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let state: Value = ff
            .chrome_execute(
                r#"const policy = WebExtensionPolicy.getByID(arguments[0]);
                   if (!policy || !policy.extension) { return "no-extension"; }
                   return String(policy.extension.backgroundState);"#,
                vec![json!(binaries::EXTENSION_ID)],
            )
            .await?;
        if state == "running" {
            return Ok(());
        }
        ensure!(
            started.elapsed() < Duration::from_secs(20),
            "the installed extension's background stayed {state} for 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The daemon's credentials for `site` asked with `session` (`None`: no session named).
fn daemon_pair(
    daemon: &TestDaemon,
    site: &str,
    session: Option<&str>,
) -> anyhow::Result<Credentials> {
    let mut request = json!({"id": 1, "type": "credentials", "url": format!("http://{site}/")});
    if let Some(session) = session {
        request["session"] = json!(session);
    }
    let result = daemon.rpc(request).map_err(anyhow::Error::msg)?;
    let (username, password) =
        persite_tests::daemon_http::credential_pair(&result).map_err(anyhow::Error::msg)?;
    Ok(Credentials { username, password })
}

// ---------------------------------------------------------------------------------------------
// Log analysis (as in tests/e2e_firefox.rs)
// ---------------------------------------------------------------------------------------------

/// Loads a fixture page and returns the one credential pair all of its requests carried; a
/// request that joins no tunnel, travelled in a tunnel of another host, or went
/// unauthenticated fails.
async fn load_and_attribute(h: &Harness, ff: &Firefox, url: &str) -> anyhow::Result<Credentials> {
    let http_mark = h.fixtures.mark();
    ff.load_fixture_page(url)
        .await
        .with_context(|| format!("geckodriver log tail:\n{}", ff.log_tail(15)))?;
    let mut seen: BTreeMap<Option<Credentials>, Vec<String>> = BTreeMap::new();
    for request in h.fixtures.requests_since(http_mark) {
        let tunnel = tunnel_of(h, &request)?;
        seen.entry(tunnel.credentials().cloned())
            .or_default()
            .push(format!("{}{}", request.host, request.path_only()));
    }
    ensure!(!seen.is_empty(), "{url}: no HTTP request was logged");
    ensure!(
        seen.len() == 1,
        "{url}: requests carried {} different credentials: {seen:#?}",
        seen.len()
    );
    let (credentials, _) = seen.into_iter().next().context("empty map")?;
    let credentials = credentials
        .with_context(|| format!("{url}: requests went through unauthenticated tunnels"))?;
    for (field, value) in [
        ("username", &credentials.username),
        ("password", &credentials.password),
    ] {
        ensure!(
            !value.is_empty() && value.len() <= 255 && !value.starts_with('<'),
            "{url}: bad SOCKS {field} {value:?}"
        );
    }
    Ok(credentials)
}

fn tunnel_of(h: &Harness, request: &HttpRecord) -> anyhow::Result<SocksConnection> {
    let tunnel = h
        .recorder
        .tunnel_for_upstream_port(request.client_port, request.at)
        .with_context(|| {
            format!(
                "HTTP request {}{} from port {} joins no SOCKS tunnel",
                request.host, request.path, request.client_port
            )
        })?;
    ensure!(
        tunnel.host.as_deref() == Some(request.host.as_str()),
        "request for {}{} travelled in a tunnel opened for {:?}",
        request.host,
        request.path,
        tunnel.host
    );
    Ok(tunnel)
}

/// Two pairs share nothing: neither username nor password.
fn ensure_unlinked(a: &Credentials, b: &Credentials, what: &str) -> anyhow::Result<()> {
    ensure!(
        a.username != b.username && a.password != b.password,
        "{what}: {a} and {b} share a username or password"
    );
    Ok(())
}

fn short(c: &Credentials) -> String {
    let cut = |s: &str| s.chars().take(8).collect::<String>();
    format!("{}…/{}…", cut(&c.username), cut(&c.password))
}

// ---------------------------------------------------------------------------------------------
// Trials
// ---------------------------------------------------------------------------------------------

/// Two profiles at once, one daemon: never the same credentials for a site.
async fn two_profiles(h: &Harness) -> anyhow::Result<String> {
    let runtime_dir = new_runtime_dir()?;
    let daemon = own_daemon(h, &spelling(runtime_dir.path(), 2))?;
    let one = start_persite(h, runtime_dir.path()).await?;
    let two = start_persite(h, &spelling(runtime_dir.path(), 1)).await?;

    let a1 = load_and_attribute(h, &one, "http://site-a.test/").await?;
    let a2 = load_and_attribute(h, &two, "http://site-a.test/").await?;
    ensure_unlinked(&a1, &a2, "site-a.test in two profiles")?;
    let a1_again = load_and_attribute(h, &one, "http://site-a.test/").await?;
    let a2_again = load_and_attribute(h, &two, "http://site-a.test/").await?;
    ensure!(
        a1_again == a1,
        "profile 1's site-a.test changed on reload: {a1} → {a1_again}"
    );
    ensure!(
        a2_again == a2,
        "profile 2's site-a.test changed on reload: {a2} → {a2_again}"
    );

    // The daemon derives each profile's pair from that profile's session value, and the
    // session-less pair (`persite creds`, old clients) is neither.
    let wait = Duration::from_secs(10);
    let (s1, s2) = (
        wait_browser_secret(&one, wait).await?,
        wait_browser_secret(&two, wait).await?,
    );
    ensure!(s1 != s2, "the two profiles have one session secret");
    ensure!(
        daemon_pair(&daemon, "site-a.test", Some(&s1))? == a1,
        "the daemon's pair for profile 1's session is not what profile 1 used ({a1})"
    );
    ensure!(
        daemon_pair(&daemon, "site-a.test", Some(&s2))? == a2,
        "the daemon's pair for profile 2's session is not what profile 2 used ({a2})"
    );
    let shared = daemon_pair(&daemon, "site-a.test", None)?;
    ensure_unlinked(&shared, &a1, "session-less pair and profile 1")?;
    ensure_unlinked(&shared, &a2, "session-less pair and profile 2")?;

    two.shutdown().await;
    one.shutdown().await;
    drop(daemon);
    Ok(format!(
        "site-a.test: profile 1 {}, profile 2 {}, each stable across a reload",
        short(&a1),
        short(&a2)
    ))
}

/// A browser restart on the same profile while the daemon (and so its key) keeps running:
/// new credentials.
async fn browser_restart(h: &Harness) -> anyhow::Result<String> {
    let runtime_dir = new_runtime_dir()?;
    let daemon = own_daemon(h, &spelling(runtime_dir.path(), 1))?;
    let work = tempfile::Builder::new()
        .prefix("persite-sessions-profile-")
        .tempdir_in("/tmp")?;
    let kept = KeptProfile {
        profile: work.path().join("profile"),
        xpi: work.path().join("persite.xpi"),
    };
    wrappers::pack_xpi(&kept.xpi)?;

    let first = start_persite_with(h, runtime_dir.path(), Some((&kept, true))).await?;
    let before = load_and_attribute(h, &first, "http://site-a.test/").await?;
    let before_again = load_and_attribute(h, &first, "http://site-a.test/").await?;
    ensure!(
        before_again == before,
        "site-a.test changed on reload: {before} → {before_again}"
    );
    first.shutdown().await;
    ensure!(
        daemon.rpc(json!({"id": 1, "type": "status"})).is_ok(),
        "the daemon did not outlive the first browser"
    );
    ensure!(
        kept.profile
            .join("extensions/persite@persite.org.xpi")
            .is_file(),
        "the first run left no installed extension in the kept profile"
    );

    let second = start_persite_with(h, runtime_dir.path(), Some((&kept, false))).await?;
    let after = load_and_attribute(h, &second, "http://site-a.test/").await?;
    ensure_unlinked(&before, &after, "site-a.test before and after the restart")?;
    let after_again = load_and_attribute(h, &second, "http://site-a.test/").await?;
    ensure!(
        after_again == after,
        "site-a.test changed on reload after the restart: {after} → {after_again}"
    );
    second.shutdown().await;
    drop(daemon);
    Ok(format!(
        "site-a.test before {}, after {} (same profile, same daemon)",
        short(&before),
        short(&after)
    ))
}

/// A private browsing session's credentials end with its last private window.
async fn private_windows(h: &Harness) -> anyhow::Result<String> {
    let runtime_dir = new_runtime_dir()?;
    let ff = start_persite(h, runtime_dir.path()).await?;
    let normal_window = ff.client().window().await?;
    let normal = load_and_attribute(h, &ff, "http://site-a.test/").await?;

    let private_window = ff.open_private_window().await?;
    let first_private = load_and_attribute(h, &ff, "http://site-a.test/").await?;
    ensure_unlinked(&normal, &first_private, "normal and private window")?;
    let (_, secret) = session_secrets(&ff).await?;
    ensure!(
        secret.is_some(),
        "no private-session secret while a private window is open"
    );

    // Close the only private window: the private browsing session ends.
    ff.client().switch_to_window(private_window).await?;
    ff.client().close_window().await?;
    ff.client().switch_to_window(normal_window.clone()).await?;
    let started = Instant::now();
    let ended = loop {
        if session_secrets(&ff).await?.1.is_none() {
            break true;
        }
        if started.elapsed() > PRIVATE_END_WAIT {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let normal_between = load_and_attribute(h, &ff, "http://site-a.test/").await?;
    ensure!(
        normal_between == normal,
        "the normal window's site-a.test changed when the private windows closed: {normal} → {normal_between}"
    );

    ff.open_private_window().await?;
    let second_private = load_and_attribute(h, &ff, "http://site-a.test/").await?;
    ensure_unlinked(
        &first_private,
        &second_private,
        "site-a.test in the first and the second private session",
    )?;
    ensure_unlinked(
        &normal,
        &second_private,
        "normal window and new private window",
    )?;
    ensure!(
        ended,
        "the extension still held the private secret {PRIVATE_END_WAIT:?} after the last private window closed"
    );

    ff.client().switch_to_window(normal_window).await?;
    let normal_after = load_and_attribute(h, &ff, "http://site-a.test/").await?;
    ensure!(
        normal_after == normal,
        "the normal window's site-a.test changed: {normal} → {normal_after}"
    );
    ff.shutdown().await;
    Ok(format!(
        "site-a.test: normal {} throughout; private {} → after closing every private window {}",
        short(&normal),
        short(&first_private),
        short(&second_private)
    ))
}
