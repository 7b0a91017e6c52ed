//! End-to-end tests in real headless Firefox ESR.
//!
//! One binary with a custom runner (`libtest-mimic`): the fixture HTTP server and the recording
//! SOCKS5 server start once; every scenario is a trial run sequentially with its own Firefox
//! session (fresh profile). Assertions read the SOCKS log (credentials, ATYP, destination) joined
//! with the fixture server's request log on the tunnel's upstream source port.
//!
//! Run: `cargo test -p persite-tests --test e2e_firefox` (filters work as usual, e.g.
//! `-- harness_`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use persite_tests::binaries::{self};
use persite_tests::firefox::{Firefox, FirefoxConfig, PAGE_TIMEOUT, PERSITE_EXTENSION_UUID};
use persite_tests::fixtures::{HttpRecord, PageSpec};
use persite_tests::persite_browser::{PersiteBrowser, Setup, new_runtime_dir};
use persite_tests::popup::{click, open_popup, wait_for_script, wait_popup_ok};
use persite_tests::socks_recorder::{Auth, Credentials, Latency, SocksConnection, SocksRecorder};
use persite_tests::test_daemon::{TestDaemon, system_tor_config};
use persite_tests::trial::{self, RecordingHarness, trial};
use serde_json::json;

/// Upper bound for one trial, Firefox start included.
const TRIAL_TIMEOUT: Duration = Duration::from_secs(180);
/// Upper bound for the whole binary (building the Persite binaries included).
const RUN_TIMEOUT: Duration = Duration::from_secs(40 * 60);

/// Servers shared by every trial.
type Harness = RecordingHarness;

fn main() {
    // Whole-run bound: per-trial timeouts cannot interrupt a blocked thread.
    trial::spawn_run_watchdog("e2e_firefox", RUN_TIMEOUT);
    trial::run_with_harness(
        "e2e harness",
        || RecordingHarness::start("e2e", TRIAL_TIMEOUT),
        |harness| {
            vec![
                trial(harness, "harness_analysis_rejects_bad_logs", false, |_| {
                    Box::pin(async { harness_analysis_rejects_bad_logs() })
                }),
                trial(
                    harness,
                    "harness_static_socks_routes_every_resource_through_the_recorder",
                    false,
                    |h| Box::pin(harness_static_socks(h)),
                ),
                trial(
                    harness,
                    "harness_test_extension_credentials_are_seen_per_first_party",
                    false,
                    |h| Box::pin(harness_test_extension(h)),
                ),
                trial(
                    harness,
                    "persite_a_site_a_resources_all_carry_site_a_credentials",
                    true,
                    |h| Box::pin(persite_site_a(h)),
                ),
                trial(
                    harness,
                    "persite_b_sites_get_distinct_credentials_and_subdomains_share",
                    true,
                    |h| Box::pin(persite_distinct_sites(h)),
                ),
                trial(
                    harness,
                    "persite_c_container_and_private_window_get_their_own_credentials",
                    true,
                    |h| Box::pin(persite_containers(h)),
                ),
                trial(
                    harness,
                    "persite_d_new_circuit_from_the_popup_changes_only_that_site",
                    true,
                    |h| Box::pin(persite_new_circuit(h)),
                ),
                trial(
                    harness,
                    "persite_e_new_identity_changes_every_site_and_clears_cookies",
                    true,
                    |h| Box::pin(persite_new_identity(h)),
                ),
                trial(
                    harness,
                    "persite_g_twenty_sites_get_twenty_distinct_credentials",
                    true,
                    |h| Box::pin(persite_twenty_sites(h)),
                ),
                trial(
                    harness,
                    "persite_h_fifty_resource_page_under_tor_like_latency",
                    true,
                    |h| Box::pin(persite_latency_page(h)),
                ),
                trial(
                    harness,
                    "persite_i_per_tab_credentials_end_with_their_tab_and_browser_session",
                    true,
                    |h| Box::pin(persite_per_tab_lifetime(h)),
                ),
                trial(
                    harness,
                    "persite_j_options_page_edits_the_daemons_policies",
                    true,
                    |h| Box::pin(persite_options_page_policies(h)),
                ),
                trial(
                    harness,
                    "persite_k_options_page_settings_apply_at_once",
                    true,
                    |h| Box::pin(persite_options_page_settings(h)),
                ),
                trial(
                    harness,
                    "persite_l_options_page_placeholders_errors_and_layout",
                    true,
                    |h| Box::pin(persite_options_page_checks(h)),
                ),
                trial(
                    harness,
                    "persite_f_every_connection_carries_credentials",
                    true,
                    |h| Box::pin(persite_every_connection_authenticated(h)),
                ),
            ]
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Log analysis
// ---------------------------------------------------------------------------------------------

/// An HTTP request joined to the SOCKS tunnel that carried it.
#[derive(Debug, Clone)]
struct Joined {
    request: HttpRecord,
    tunnel: SocksConnection,
}

/// Every HTTP request logged since `http_mark`, joined to its tunnel; a request that joins no
/// tunnel (it reached the fixture server without the recorder) or whose tunnel was opened for
/// another host is an error.
fn joined_since(h: &Harness, http_mark: usize) -> anyhow::Result<Vec<Joined>> {
    let mut out = Vec::new();
    for request in h.fixtures.requests_since(http_mark) {
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
        out.push(Joined { request, tunnel });
    }
    Ok(out)
}

/// The one set of credentials every joined request carried.
fn single_credentials(joined: &[Joined], what: &str) -> anyhow::Result<Credentials> {
    let mut seen: BTreeMap<Option<Credentials>, Vec<String>> = BTreeMap::new();
    for j in joined {
        seen.entry(j.tunnel.credentials().cloned())
            .or_default()
            .push(format!("{}{}", j.request.host, j.request.path_only()));
    }
    ensure!(!seen.is_empty(), "{what}: no HTTP request was logged");
    ensure!(
        seen.len() == 1,
        "{what}: requests carried {} different credentials: {seen:#?}",
        seen.len()
    );
    let (credentials, _) = seen.into_iter().next().context("empty map")?;
    credentials.with_context(|| format!("{what}: requests went through unauthenticated tunnels"))
}

/// Credentials as the product must produce them (Tor rules; brief's privacy rules).
fn check_credentials_shape(c: &Credentials) -> anyhow::Result<()> {
    for (field, value) in [("username", &c.username), ("password", &c.password)] {
        ensure!(!value.is_empty(), "empty SOCKS {field}");
        ensure!(value.len() <= 255, "SOCKS {field} longer than 255 bytes");
        ensure!(!value.starts_with('<'), "SOCKS {field} starts with '<'");
    }
    Ok(())
}

/// Every expected `(host, path)` (as a multiset) appears among the joined requests.
fn check_expected_requests(joined: &[Joined], expected: &[(String, String)]) -> anyhow::Result<()> {
    let mut have: BTreeMap<(String, String), usize> = BTreeMap::new();
    for j in joined {
        *have
            .entry((j.request.host.clone(), j.request.path_only().to_owned()))
            .or_default() += 1;
    }
    let mut missing = Vec::new();
    for key in expected {
        match have.get_mut(key) {
            Some(count) if *count > 0 => *count -= 1,
            _ => missing.push(format!("{}{}", key.0, key.1)),
        }
    }
    ensure!(
        missing.is_empty(),
        "requests missing from the fixture log: {missing:?}"
    );
    Ok(())
}

/// Every SOCKS connection since `mark`: authenticated (or, with `no_auth`, not), ATYP 3, no
/// handshake error.
fn check_connections(h: &Harness, mark: usize, no_auth: bool) -> anyhow::Result<Tally> {
    let connections = h.recorder.connections_since(mark);
    let mut tally = Tally::default();
    for c in &connections {
        if c.silent {
            // Connected and closed without a byte: the broker's SOCKS reachability probe
            // (`socks_listening` in broker/src/daemon/mod.rs). No destination, no data.
            tally.silent_probes += 1;
            continue;
        }
        tally.tunnels += 1;
        ensure!(c.error.is_none(), "SOCKS connection failed: {c:?}");
        ensure!(
            c.atyp == Some(3),
            "SOCKS connection {} to {:?} used ATYP {:?}, not 3 (hostname): a DNS leak",
            c.id,
            c.host,
            c.atyp
        );
        match (&c.auth, no_auth) {
            (Auth::NoAuth, true) => {}
            (Auth::UserPass(credentials), false) => check_credentials_shape(credentials)?,
            (auth, _) => bail!(
                "SOCKS connection {} to {:?}:{:?} authenticated as {auth:?}",
                c.id,
                c.host,
                c.port
            ),
        }
    }
    Ok(tally)
}

/// What [`check_connections`] counted.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    /// SOCKS connections (all checked).
    tunnels: usize,
    /// Connections closed before sending any byte.
    silent_probes: usize,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.tunnels)?;
        if self.silent_probes > 0 {
            write!(f, " (+{} silent TCP probe(s))", self.silent_probes)?;
        }
        Ok(())
    }
}

/// Load a fixture page and return the credentials all of its requests carried.
async fn load_and_attribute(h: &Harness, ff: &Firefox, url: &str) -> anyhow::Result<Credentials> {
    let (joined, _) = load_and_join(h, ff, url).await?;
    let credentials = single_credentials(&joined, url)?;
    check_credentials_shape(&credentials)?;
    Ok(credentials)
}

/// Load a fixture page; return its joined requests and the SOCKS mark taken before.
async fn load_and_join(
    h: &Harness,
    ff: &Firefox,
    url: &str,
) -> anyhow::Result<(Vec<Joined>, usize)> {
    let http_mark = h.fixtures.mark();
    let socks_mark = h.recorder.mark();
    ff.load_fixture_page(url)
        .await
        .with_context(|| format!("geckodriver log tail:\n{}", ff.log_tail(15)))?;
    Ok((joined_since(h, http_mark)?, socks_mark))
}

fn short(c: &Credentials) -> String {
    let cut = |s: &str| s.chars().take(10).collect::<String>();
    format!("{}…/{}…", cut(&c.username), cut(&c.password))
}

// ---------------------------------------------------------------------------------------------
// Harness self-tests (no Persite components)
// ---------------------------------------------------------------------------------------------

/// The analysis helpers fail on the logs they exist to catch.
fn harness_analysis_rejects_bad_logs() -> anyhow::Result<String> {
    let request = |host: &str, path: &str| HttpRecord {
        at: std::time::SystemTime::now(),
        client_port: 1,
        host: host.into(),
        method: "GET".into(),
        path: path.into(),
        upgrade: None,
        cookie: None,
    };
    let tunnel = |auth: Auth| SocksConnection {
        id: 0,
        accepted_at: std::time::SystemTime::now(),
        client_port: 2,
        offered_methods: vec![0, 2],
        auth,
        atyp: Some(3),
        host: Some("cdn.test".into()),
        port: Some(80),
        upstream_port: Some(1),
        silent: false,
        error: None,
    };
    let pair = |u: &str| {
        Auth::UserPass(Credentials {
            username: u.into(),
            password: "p".into(),
        })
    };
    let mixed = vec![
        Joined {
            request: request("site-a.test", "/"),
            tunnel: tunnel(pair("a")),
        },
        Joined {
            request: request("cdn.test", "/img.gif?i=0"),
            tunnel: tunnel(pair("b")),
        },
    ];
    ensure!(
        single_credentials(&mixed, "mixed").is_err(),
        "mixed credentials accepted"
    );
    let unauthenticated = vec![Joined {
        request: request("cdn.test", "/"),
        tunnel: tunnel(Auth::NoAuth),
    }];
    ensure!(
        single_credentials(&unauthenticated, "no auth").is_err(),
        "unauthenticated tunnels accepted"
    );
    ensure!(
        single_credentials(&[], "nothing").is_err(),
        "an empty log accepted"
    );
    for bad in ["", "<torS0X>0", &"x".repeat(256)] {
        let c = Credentials {
            username: bad.into(),
            password: "p".into(),
        };
        ensure!(
            check_credentials_shape(&c).is_err(),
            "credential {bad:?} accepted"
        );
    }
    let expected = PageSpec::standard().expected_requests("site-a.test", "/");
    ensure!(
        check_expected_requests(&mixed, &expected).is_err(),
        "a page with missing resources accepted"
    );
    Ok("mixed, unauthenticated, empty, malformed and incomplete logs all rejected".into())
}

async fn harness_static_socks(h: &Harness) -> anyhow::Result<String> {
    let ff = Firefox::start(FirefoxConfig {
        static_socks: Some(h.recorder.addr()),
        ..FirefoxConfig::default()
    })
    .await?;
    let (joined, socks_mark) = load_and_join(h, &ff, "http://site-a.test/").await?;
    check_expected_requests(
        &joined,
        &PageSpec::standard().expected_requests("site-a.test", "/"),
    )?;
    // Plain-http pages get no Sec-Fetch-Dest; the paths name the resource kinds (checked above)
    // and the WebSocket handshake shows as an upgrade.
    ensure!(
        joined.iter().any(|j| j.request.host == "cdn.test"
            && j.request.path_only() == "/ws"
            && j.request
                .upgrade
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))),
        "no WebSocket upgrade to cdn.test reached the fixture server"
    );
    let tunnels = check_connections(h, socks_mark, true)?;
    ff.shutdown().await;
    Ok(format!(
        "{} requests joined to {tunnels} unauthenticated ATYP-3 tunnels",
        joined.len()
    ))
}

async fn harness_test_extension(h: &Harness) -> anyhow::Result<String> {
    let extension = binaries::test_extension("static-creds-extension", h.recorder.addr().port())?;
    let ff = Firefox::start(FirefoxConfig::default()).await?;
    ff.install_addon(extension.path(), true).await?;
    let session_mark = h.recorder.mark();

    let (joined_a, _) = load_and_join(h, &ff, "http://site-a.test/").await?;
    let a = single_credentials(&joined_a, "site-a.test")?;
    ensure!(
        a == Credentials {
            username: "test-site-a.test".into(),
            password: "pw-site-a.test-firefox-default".into()
        },
        "site-a.test carried {a}, not the test extension's fixed credentials"
    );
    ensure!(
        joined_a.iter().any(|j| j.request.host == "cdn.test"),
        "no cdn.test request under site-a.test"
    );
    let (joined_b, _) = load_and_join(h, &ff, "http://site-b.test/").await?;
    let b = single_credentials(&joined_b, "site-b.test")?;
    ensure!(a != b, "site-a.test and site-b.test carried the same {a}");
    ensure!(b.username == "test-site-b.test", "site-b.test carried {b}");
    let cdn_under_b: Vec<&Joined> = joined_b
        .iter()
        .filter(|j| j.request.host == "cdn.test")
        .collect();
    ensure!(
        !cdn_under_b.is_empty(),
        "no cdn.test request under site-b.test"
    );
    let tunnels = check_connections(h, session_mark, false)?;
    ff.shutdown().await;
    Ok(format!(
        "site-a {a}, site-b {b}; cdn.test followed its first party; {tunnels} tunnels all authenticated"
    ))
}

// ---------------------------------------------------------------------------------------------
// Persite scenarios (extension + native host + broker daemon)
// ---------------------------------------------------------------------------------------------

async fn start_persite(h: &Harness) -> anyhow::Result<PersiteBrowser> {
    start_persite_in(h, new_runtime_dir()?).await
}

/// Firefox with Persite whose native host uses the daemon of `runtime_dir` (started by the
/// host unless one already runs there); the recorder stands in for tor's SocksPort.
async fn start_persite_in(
    h: &Harness,
    runtime_dir: tempfile::TempDir,
) -> anyhow::Result<PersiteBrowser> {
    PersiteBrowser::start_in(
        &h.binaries()?,
        h.recorder.addr().port(),
        runtime_dir,
        Setup::default(),
    )
    .await
}

async fn persite_site_a(h: &Harness) -> anyhow::Result<String> {
    let browser = start_persite(h).await?;
    let ff = &browser.firefox;
    let session_mark = h.recorder.mark();
    let (joined, _) = load_and_join(h, ff, "http://site-a.test/").await?;
    check_expected_requests(
        &joined,
        &PageSpec::standard().expected_requests("site-a.test", "/"),
    )?;
    let a = single_credentials(&joined, "site-a.test")?;
    check_credentials_shape(&a)?;
    ensure!(
        !a.username.contains("site-a") && !a.password.contains("site-a"),
        "credentials {a} contain the plain site name"
    );
    let tunnels = check_connections(h, session_mark, false)?;
    browser.firefox.shutdown().await;
    Ok(format!(
        "{} requests (iframe, images, script, fetch, WebSocket) over {tunnels} tunnels, all {}",
        joined.len(),
        short(&a)
    ))
}

async fn persite_distinct_sites(h: &Harness) -> anyhow::Result<String> {
    let browser = start_persite(h).await?;
    let ff = &browser.firefox;
    let session_mark = h.recorder.mark();
    let a = load_and_attribute(h, ff, "http://site-a.test/").await?;
    let b = load_and_attribute(h, ff, "http://site-b.test/").await?;
    ensure!(a != b, "site-a.test and site-b.test share credentials {a}");
    let www_a = load_and_attribute(h, ff, "http://www.site-a.test/").await?;
    ensure!(
        www_a == a,
        "www.site-a.test got {www_a}, not site-a.test's {a}"
    );
    let alpha = load_and_attribute(h, ff, "http://alpha.co.uk/").await?;
    let beta = load_and_attribute(h, ff, "http://beta.co.uk/").await?;
    ensure!(
        alpha != beta,
        "alpha.co.uk and beta.co.uk share credentials {alpha} (co.uk treated as a site?)"
    );
    let all: BTreeSet<&Credentials> = [&a, &b, &alpha, &beta].into_iter().collect();
    ensure!(
        all.len() == 4,
        "two of site-a, site-b, alpha.co.uk, beta.co.uk share credentials"
    );
    let tunnels = check_connections(h, session_mark, false)?;
    browser.firefox.shutdown().await;
    Ok(format!(
        "4 distinct credential pairs, www.site-a.test shares site-a.test's; {tunnels} tunnels"
    ))
}

async fn persite_containers(h: &Harness) -> anyhow::Result<String> {
    let browser = start_persite(h).await?;
    let ff = &browser.firefox;
    let session_mark = h.recorder.mark();
    let default = load_and_attribute(h, ff, "http://site-a.test/").await?;
    ff.open_container_tab(1).await?;
    let container = load_and_attribute(h, ff, "http://site-a.test/").await?;
    ff.open_private_window().await?;
    let private = load_and_attribute(h, ff, "http://site-a.test/").await?;
    ensure!(
        default != container,
        "container tab shares the default container's credentials {default}"
    );
    ensure!(
        default != private,
        "private window shares the default container's credentials {default}"
    );
    ensure!(
        container != private,
        "private window shares the container tab's credentials {container}"
    );
    let tunnels = check_connections(h, session_mark, false)?;
    browser.firefox.shutdown().await;
    Ok(format!(
        "default {}, container {}, private {}; {tunnels} tunnels",
        short(&default),
        short(&container),
        short(&private)
    ))
}

async fn persite_new_circuit(h: &Harness) -> anyhow::Result<String> {
    let browser = start_persite(h).await?;
    let ff = &browser.firefox;
    let session_mark = h.recorder.mark();
    let tab_a = ff.client().window().await?;
    let a = load_and_attribute(h, ff, "http://site-a.test/").await?;
    let tab_a_id = ff.selected_extension_tab_id().await?;
    let tab_b = ff.open_tab().await?;
    let b = load_and_attribute(h, ff, "http://site-b.test/").await?;

    open_popup(ff, tab_a_id).await?;
    // The popup's layout: its actions stacked, the confirm dialog's side by side.
    let layout = ff
        .client()
        .execute(
            r#"const direction = (selector) =>
                 getComputedStyle(document.querySelector(selector)).flexDirection;
               return [direction('body > .actions'), direction('#confirm .actions')];"#,
            vec![],
        )
        .await?;
    ensure!(
        layout == json!(["column", "row"]),
        "popup actions / confirm actions flex directions are {layout}, not column / row"
    );
    let http_mark = h.fixtures.mark();
    click(ff, "new-circuit").await?;
    wait_popup_ok(ff, PAGE_TIMEOUT).await?;
    // The extension reloads the tab by itself: wait for site-a's document to be requested again.
    let started = Instant::now();
    while !h
        .fixtures
        .requests_since(http_mark)
        .iter()
        .any(|r| r.host == "site-a.test" && r.path == "/")
    {
        ensure!(
            started.elapsed() < PAGE_TIMEOUT,
            "site-a.test's tab was not reloaded after New circuit"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ff.client().switch_to_window(tab_a).await?;
    ff.wait_for_title(PAGE_TIMEOUT, |t| t == "done" || t.starts_with("failed"))
        .await?;
    let reloaded = single_credentials(
        &joined_since(h, http_mark)?,
        "site-a.test after New circuit",
    )?;
    ensure!(
        reloaded != a,
        "site-a.test kept its credentials {a} after New circuit"
    );
    ensure!(
        reloaded.password != a.password,
        "site-a.test's password did not change ({})",
        a.password
    );
    ff.client().switch_to_window(tab_b).await?;
    let b_again = load_and_attribute(h, ff, "http://site-b.test/").await?;
    ensure!(
        b_again == b,
        "site-b.test's credentials changed from {b} to {b_again} after New circuit for site-a.test"
    );
    let tunnels = check_connections(h, session_mark, false)?;
    browser.firefox.shutdown().await;
    Ok(format!(
        "site-a {} → {}, site-b unchanged, tab reloaded; {tunnels} tunnels",
        short(&a),
        short(&reloaded)
    ))
}

async fn persite_new_identity(h: &Harness) -> anyhow::Result<String> {
    let browser = start_persite(h).await?;
    let ff = &browser.firefox;
    let session_mark = h.recorder.mark();
    ff.goto("http://site-a.test/set-cookie?value=before")
        .await?;
    ff.goto("http://site-a.test/cookies").await?;
    let title = ff.title().await?;
    ensure!(
        title == "cookies:persite=before",
        "the cookie was not stored: {title:?}"
    );
    let a = load_and_attribute(h, ff, "http://site-a.test/").await?;
    // Every other kind New identity removes, each read back before (so the check can fail).
    // Service workers need a secure context; the fixtures are plain http, so site-a.test is
    // made one, on its /cookies page (no subresources that would then count as mixed content).
    ff.chrome_execute(&secure_site_a(true), vec![]).await?;
    ff.goto("http://site-a.test/cookies").await?;
    let stored = ff.client().execute_async(STORE_SITE_DATA, vec![]).await?;
    ensure!(stored == json!("stored"), "storing site data: {stored}");
    ff.chrome_execute(STORE_BROWSER_DATA, vec![]).await?;
    let started = Instant::now();
    let stored_kinds = loop {
        let page = ff.client().execute_async(READ_SITE_DATA, vec![]).await?;
        let browser_data = ff.chrome_execute(READ_BROWSER_DATA, vec![]).await?;
        let kinds = identity_kinds(&page, &browser_data);
        if kinds.iter().all(|(_, present)| *present) {
            break kinds;
        }
        ensure!(
            started.elapsed() < PAGE_TIMEOUT,
            "not every kind of data was stored before New identity: {kinds:?} ({page}, {browser_data})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let tab_a_id = ff.selected_extension_tab_id().await?;
    ff.open_tab().await?;
    let b = load_and_attribute(h, ff, "http://site-b.test/").await?;

    open_popup(ff, tab_a_id)
        .await
        .context("opening the popup")?;
    let before = ff.client().windows().await?;
    click(ff, "new-identity").await?;
    let confirm_shown = ff
        .client()
        .execute("return !document.getElementById('confirm').hidden;", vec![])
        .await?;
    if confirm_shown == json!(true) {
        click(ff, "confirm-yes").await?;
    }
    // With the default options New identity ends by closing every tab (the popup's too) and
    // opening one fresh tab; that is the signal that it finished.
    let started = Instant::now();
    let fresh = loop {
        let now = ff.client().windows().await?;
        if !now.is_empty() && now.iter().all(|h| !before.contains(h)) {
            ensure!(now.len() == 1, "{} tabs left after New identity", now.len());
            break now[0].clone();
        }
        ensure!(
            started.elapsed() < PAGE_TIMEOUT,
            "New identity did not replace the tabs within {PAGE_TIMEOUT:?}; \
             popup message: {:?}",
            ff.client()
                .execute(
                    "return document.getElementById('message').textContent;",
                    vec![]
                )
                .await
                .ok()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    ff.client().switch_to_window(fresh).await?;
    // The fresh tab appears before New identity has removed the browsing data; until then every
    // request gets the black hole (an error page). Load the cookie page until it is served.
    let started = Instant::now();
    let title = loop {
        // Until then the navigation ends on an error page, which WebDriver reports as an error.
        let loaded = ff.goto("http://site-a.test/cookies").await;
        let title = match loaded {
            Ok(()) => ff.title().await?,
            Err(error) => format!("{error:#}"),
        };
        if title.starts_with("cookies:") {
            break title;
        }
        ensure!(
            started.elapsed() < PAGE_TIMEOUT,
            "site-a.test/cookies never loaded after New identity (last title {title:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    ensure!(
        title == "cookies:",
        "cookies survived New identity: {title:?}"
    );
    let page = ff.client().execute_async(READ_SITE_DATA, vec![]).await?;
    let browser_data = ff.chrome_execute(READ_BROWSER_DATA, vec![]).await?;
    let mut survived: Vec<&str> = identity_kinds(&page, &browser_data)
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(kind, _)| kind)
        .collect();
    // New identity closed the tabs of site-a and site-b; undo-close must not bring them back
    // (removing history also empties Firefox's recently-closed list).
    if browser_data["closed"] != json!(0) {
        survived.push("recently closed tabs");
    }
    ensure!(
        survived.is_empty(),
        "New identity left {survived:?} ({page}, {browser_data})"
    );
    ff.chrome_execute(&secure_site_a(false), vec![]).await?;
    let a_after = load_and_attribute(h, ff, "http://site-a.test/").await?;
    let b_after = load_and_attribute(h, ff, "http://site-b.test/").await?;
    ensure!(a_after != a, "site-a.test kept {a} after New identity");
    ensure!(b_after != b, "site-b.test kept {b} after New identity");
    ensure!(
        a_after != b_after,
        "site-a and site-b share {a_after} after New identity"
    );
    let tunnels = check_connections(h, session_mark, false)?;
    browser.firefox.shutdown().await;
    let kinds: Vec<&str> = stored_kinds.iter().map(|(kind, _)| *kind).collect();
    Ok(format!(
        "site-a and site-b got new credentials; cookie and {kinds:?} there before, gone after; \
         {tunnels} tunnels"
    ))
}

/// Chrome script: treat site-a.test as a secure context and allow service workers over http
/// (`on`), or back to normal (test-only; applies to documents loaded afterwards).
fn secure_site_a(on: bool) -> String {
    if on {
        r#"Services.prefs.setStringPref("dom.securecontext.allowlist", "site-a.test");
           Services.prefs.setBoolPref("dom.serviceWorkers.testing.enabled", true);
           return true;"#
            .to_owned()
    } else {
        r#"Services.prefs.clearUserPref("dom.securecontext.allowlist");
           Services.prefs.clearUserPref("dom.serviceWorkers.testing.enabled");
           return true;"#
            .to_owned()
    }
}

/// Page script on site-a.test: localStorage, an indexedDB database and a service worker.
const STORE_SITE_DATA: &str = r#"
const done = arguments[arguments.length - 1];
(async () => {
  localStorage.setItem("persite", "before");
  await new Promise((resolve, reject) => {
    const open = indexedDB.open("persite-db", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("s");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction("s", "readwrite");
      tx.objectStore("s").put("before", "k");
      tx.oncomplete = () => { open.result.close(); resolve(); };
      tx.onerror = () => reject(tx.error);
    };
  });
  if (!navigator.serviceWorker) {
    throw new Error("no navigator.serviceWorker (not a secure context?)");
  }
  await navigator.serviceWorker.register("/sw.js");
  done("stored");
})().catch((e) => done(String(e)));
"#;

/// Chrome script: a form-history entry and a downloads-list entry (not started: the list is
/// what New identity clears, not files).
const STORE_BROWSER_DATA: &str = r#"
return (async () => {
  const { FormHistory } = ChromeUtils.importESModule("resource://gre/modules/FormHistory.sys.mjs");
  await FormHistory.update({ op: "add", fieldname: "persite-field", value: "before" });
  const { Downloads } = ChromeUtils.importESModule("resource://gre/modules/Downloads.sys.mjs");
  const list = await Downloads.getList(Downloads.ALL);
  await list.add(await Downloads.createDownload({
    source: "http://site-a.test/img.gif",
    target: PathUtils.join(PathUtils.tempDir, "persite-new-identity.gif"),
  }));
  return true;
})();
"#;

/// Page script on site-a.test: what is left of its localStorage and indexedDB.
const READ_SITE_DATA: &str = r#"
const done = arguments[arguments.length - 1];
(async () => {
  const databases = (await indexedDB.databases()).map((d) => d.name);
  done({ localStorage: localStorage.getItem("persite"), indexedDB: databases });
})().catch((e) => done({ error: String(e) }));
"#;

/// Chrome script: history of site-a.test, form history, the downloads list, service-worker
/// registrations and recently closed tabs and windows.
const READ_BROWSER_DATA: &str = r#"
return (async () => {
  const { PlacesUtils } = ChromeUtils.importESModule("resource://gre/modules/PlacesUtils.sys.mjs");
  const { FormHistory } = ChromeUtils.importESModule("resource://gre/modules/FormHistory.sys.mjs");
  const { Downloads } = ChromeUtils.importESModule("resource://gre/modules/Downloads.sys.mjs");
  const { SessionStore } = ChromeUtils.importESModule(
    "resource:///modules/sessionstore/SessionStore.sys.mjs");
  const swm = Cc["@mozilla.org/serviceworkers/manager;1"].getService(Ci.nsIServiceWorkerManager);
  return {
    closed: SessionStore.getClosedTabCount({
      closedTabsFromAllWindows: true, closedTabsFromClosedWindows: true,
    }) + SessionStore.getClosedWindowCount(),
    history: await PlacesUtils.history.hasVisits("http://site-a.test/"),
    formHistory: await FormHistory.count({ fieldname: "persite-field" }),
    downloads: (await (await Downloads.getList(Downloads.ALL)).getAll()).length,
    serviceWorkers: swm.getAllRegistrations().length,
  };
})();
"#;

/// Each kind New identity must remove (besides cookies), and whether it is present now.
fn identity_kinds(
    page: &serde_json::Value,
    browser: &serde_json::Value,
) -> Vec<(&'static str, bool)> {
    let count = |v: &serde_json::Value| v.as_u64().unwrap_or(0) > 0;
    vec![
        ("localStorage", page["localStorage"] == json!("before")),
        (
            "indexedDB",
            page["indexedDB"]
                .as_array()
                .is_some_and(|names| names.contains(&json!("persite-db"))),
        ),
        ("history", browser["history"] == json!(true)),
        ("formData", count(&browser["formHistory"])),
        ("downloads", count(&browser["downloads"])),
        ("serviceWorkers", count(&browser["serviceWorkers"])),
    ]
}

/// Highest tab id whose last-session credentials the per-tab trial issues beforehand; Firefox
/// numbers a new session's tabs from a handful up.
const LAST_SESSION_TABS: u64 = 255;

/// A `persite serve` started by the test (not by the native host) on `runtime_dir`, where
/// Firefox's native host will find it.
fn own_daemon(h: &Harness, runtime_dir: &std::path::Path) -> anyhow::Result<OwnDaemon> {
    let broker = h.binaries()?.broker;
    let config = system_tor_config(h.recorder.addr().port(), "none");
    let daemon =
        TestDaemon::start(&broker, &config, Some(runtime_dir)).map_err(anyhow::Error::msg)?;
    Ok(OwnDaemon(daemon))
}

/// [`TestDaemon`] with this suite's requests.
struct OwnDaemon(TestDaemon);

impl OwnDaemon {
    /// One request's `result` (an `error` answer is an error).
    fn rpc(&self, request: serde_json::Value) -> anyhow::Result<serde_json::Value> {
        self.0.rpc(request).map_err(anyhow::Error::msg)
    }

    /// The per-tab credentials the daemon issues now for `site` asked from tab `tab`.
    /// `session`: the browser's session secret (`extension/src/sessions.js`), to get what
    /// that browser gets; `None` for a request naming no session.
    fn credentials(
        &self,
        site: &str,
        tab: u64,
        session: Option<&str>,
    ) -> anyhow::Result<Credentials> {
        let mut request =
            json!({"id": 2, "type": "credentials", "url": format!("http://{site}/"), "tab": tab});
        if let Some(session) = session {
            request["session"] = json!(session);
        }
        let r = self.rpc(request)?;
        ensure!(r["per_tab"] == true, "{site} is not per-tab: {r}");
        let (username, password) =
            persite_tests::daemon_http::credential_pair(&r).map_err(anyhow::Error::msg)?;
        Ok(Credentials { username, password })
    }
}

/// Per-tab credentials end with their tab (`tab_closed`) and with the browser session (the
/// extension's first `hello` says tab ids start over): a daemon that outlives the browser
/// never gives a new tab the credentials a closed tab, or the last session's tab with the same
/// id, had.
async fn persite_per_tab_lifetime(h: &Harness) -> anyhow::Result<String> {
    let runtime_dir = new_runtime_dir()?;
    let daemon = own_daemon(h, runtime_dir.path())?;
    daemon.rpc(
        json!({"id": 1, "type": "policy_set", "site": "site-a.test", "policy": {"per_tab": true}}),
    )?;
    // The last browser session: every tab id it may have used got site-a.test's credentials.
    let last_session = (0..=LAST_SESSION_TABS)
        .map(|tab| daemon.credentials("site-a.test", tab, None))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let browser = start_persite_in(h, runtime_dir).await?;
    let ff = &browser.firefox;
    let session_mark = h.recorder.mark();
    let first_window = ff.client().window().await?;
    let first = load_and_attribute(h, ff, "http://site-a.test/").await?;
    let first_tab = ff.selected_extension_tab_id().await?;
    let (session, _) = persite_tests::extension_state::session_secrets(ff).await?;
    let session = session.context("the extension mirrored no browser-session secret")?;
    let session = Some(session.as_str());
    let old = last_session
        .get(usize::try_from(first_tab)?)
        .with_context(|| {
            format!("Firefox gave the first tab id {first_tab}, above {LAST_SESSION_TABS}")
        })?;
    ensure!(
        first.username
            == daemon
                .credentials("site-a.test", first_tab, session)?
                .username,
        "tab {first_tab} did not get tab {first_tab}'s per-tab username of its session: {first}"
    );
    ensure!(
        first.password != old.password,
        "tab {first_tab} of the new session got the last session's tab {first_tab} credentials {first}"
    );
    ensure!(
        !last_session.contains(&first),
        "the new session's first tab got a last-session pair {first}"
    );

    ff.open_tab().await?;
    let second = load_and_attribute(h, ff, "http://site-a.test/").await?;
    let second_tab = ff.selected_extension_tab_id().await?;
    ensure!(
        second != first,
        "two tabs of a per-tab site share credentials {first}"
    );
    ensure!(
        daemon.credentials("site-a.test", first_tab, session)? == first,
        "the daemon's answer for tab {first_tab} is not what Firefox used ({first})"
    );

    // Close the first tab: the extension tells the broker, which retires its credentials.
    let second_window = ff.client().window().await?;
    ff.client().switch_to_window(first_window).await?;
    ff.client().close_window().await?;
    ff.client().switch_to_window(second_window).await?;
    let started = Instant::now();
    let after_close = loop {
        let now = daemon.credentials("site-a.test", first_tab, session)?;
        if now != first {
            break now;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(10),
            "10 s after tab {first_tab} closed the daemon still hands out its credentials {first}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    ensure!(
        after_close.username == first.username && after_close.password != first.password,
        "tab {first_tab} after closing: {after_close}, before: {first}"
    );
    let second_again = load_and_attribute(h, ff, "http://site-a.test/").await?;
    ensure!(
        second_again == second,
        "tab {second_tab} changed credentials from {second} to {second_again} when another tab closed"
    );
    let tunnels = check_connections(h, session_mark, false)?;
    browser.firefox.shutdown().await;
    drop(daemon);
    Ok(format!(
        "tab {first_tab}: {} (last session's {}), retired after closing; tab {second_tab}: {} kept; {tunnels} tunnels",
        short(&first),
        short(old),
        short(&second)
    ))
}

/// The options page's circuit-lifetime editor, end to end: a per-site policy typed into the
/// form and saved with the page's one Save reaches the daemon (and its policy table), the page
/// says how `www.site-a.test` was stored, the browser follows it at once (site-a.test moves to
/// per-tab credentials), bad input is refused in the page with nothing saved, and Remove + Save
/// removes the override again.
async fn persite_options_page_policies(h: &Harness) -> anyhow::Result<String> {
    let runtime_dir = new_runtime_dir()?;
    let daemon = own_daemon(h, runtime_dir.path())?;
    let browser = start_persite_in(h, runtime_dir).await?;
    let ff = &browser.firefox;
    let session_mark = h.recorder.mark();
    let site_tab = ff.client().window().await?;
    let before = load_and_attribute(h, ff, "http://site-a.test/").await?;
    let tab = ff.selected_extension_tab_id().await?;

    ff.open_tab().await?;
    ff.goto(&format!(
        "moz-extension://{PERSITE_EXTENSION_UUID}/options/options.html"
    ))
    .await?;
    if let Err(e) = wait_for_script(
        ff,
        "return document.getElementById('policies').dataset.state === 'ready';",
        "the policy editor to load the daemon's policies",
        PAGE_TIMEOUT,
    )
    .await
    {
        let page = ff
            .client()
            .execute(
                "return [location.href, document.getElementById('policies')?.dataset.state, \
                 document.getElementById('policy-status')?.textContent];",
                vec![],
            )
            .await;
        bail!("{e:#}; the options page shows {page:?}");
    }
    let add = |site: &str, age: &str| {
        ff.client().execute(
            r#"const [site, age] = arguments;
               document.getElementById('options-status').dataset.kind = '';
               document.getElementById('policy-new-site').value = site;
               document.getElementById('policy-new-age').value = age;
               document.getElementById('policy-new-mib').value = '';
               document.getElementById('policy-new-per-tab').checked = true;
               document.getElementById('save').click();
               return true;"#,
            vec![json!(site), json!(age)],
        )
    };
    let status_is = |kind: &'static str| async move {
        wait_for_script(
            ff,
            match kind {
                "ok" => "return document.getElementById('options-status').dataset.kind === 'ok';",
                _ => "return document.getElementById('options-status').dataset.kind === 'error';",
            },
            "the options page's result",
            PAGE_TIMEOUT,
        )
        .await?;
        let text = ff
            .client()
            .execute(
                "return document.getElementById('options-status').textContent;",
                vec![],
            )
            .await?;
        anyhow::Ok(text.as_str().unwrap_or_default().to_owned())
    };

    // Bad input: refused in the page, nothing reaches the daemon.
    add("site-b.test", "soon").await?;
    status_is("error").await?;
    ensure!(
        daemon.rpc(json!({"id": 3, "type": "policy_get"}))?["sites"] == json!({}),
        "a refused form still changed the daemon's policies"
    );
    // A per-site policy: 1.5 minutes, per tab, typed with the www. host; the page says how it
    // was stored.
    add("www.site-a.test", "1.5").await?;
    let saved = status_is("ok").await?;
    ensure!(
        saved.contains("www.site-a.test is stored as site-a.test"),
        "the page did not say how www.site-a.test was stored: {saved:?}"
    );
    let policies = daemon.rpc(json!({"id": 1, "type": "policy_get"}))?;
    ensure!(
        policies["sites"]
            == json!({"site-a.test": {"max_age_s": 90, "max_bytes": null, "per_tab": true}}),
        "the daemon's policies after the form: {policies}"
    );
    wait_for_script(
        ff,
        r#"return document.querySelector('#policy-sites tr[data-site="site-a.test"]') !== null;"#,
        "the page to list site-a.test's policy",
        PAGE_TIMEOUT,
    )
    .await?;

    // The browser follows at once: site-a.test's tab now has credentials of its own.
    let options_tab = ff.client().window().await?;
    ff.client().switch_to_window(site_tab).await?;
    let per_tab = load_and_attribute(h, ff, "http://site-a.test/").await?;
    ensure!(
        per_tab != before,
        "site-a.test kept {before} after its per-tab policy was saved"
    );
    let (session, _) = persite_tests::extension_state::session_secrets(ff).await?;
    ensure!(
        daemon.credentials("site-a.test", tab, session.as_deref())? == per_tab,
        "site-a.test's tab used {per_tab}, not the daemon's per-tab credentials for tab {tab}"
    );

    // Remove marks the row (nothing changes before Save), Save removes the override.
    ff.client().switch_to_window(options_tab).await?;
    let marked = ff
        .client()
        .execute(
            r#"const status = document.getElementById('options-status');
               status.dataset.kind = '';
               status.textContent = '';
               const row = document.querySelector('#policy-sites tr[data-site="site-a.test"]');
               row.querySelector('.remove').click();
               const note = row.querySelector('.removed-note');
               return [row.dataset.remove, note.hidden ? '' : note.textContent, status.textContent];"#,
            vec![],
        )
        .await?;
    ensure!(
        marked[0] == "true"
            && marked[1]
                .as_str()
                .unwrap_or_default()
                .contains("Uses the default"),
        "Remove did not say what the row falls back to: {marked}"
    );
    // Nothing was sent: no save started (its "Saving…" would show at once) and the daemon
    // still has the override.
    ensure!(marked[2] == "", "Remove started a save by itself: {marked}");
    ensure!(
        daemon.rpc(json!({"id": 4, "type": "policy_get"}))?["sites"] != json!({}),
        "Remove changed the daemon's policies before Save"
    );
    click(ff, "save").await?;
    status_is("ok").await?;
    let policies = daemon.rpc(json!({"id": 2, "type": "policy_get"}))?;
    ensure!(
        policies["sites"] == json!({}),
        "the override is still there after Remove and Save: {policies}"
    );
    let tunnels = check_connections(h, session_mark, false)?;
    browser.firefox.shutdown().await;
    drop(daemon);
    Ok(format!(
        "bad age refused in the page; site-a.test 1.5 min per-tab saved to the daemon, tab {tab} moved {} → {}; removed again; {tunnels} tunnels",
        short(&before),
        short(&per_tab)
    ))
}

/// Sets the options page's fields (`host`, `port` text; `isolate` checkbox), submits, and
/// waits for its status; returns the status kind (`ok` or `error`) and text.
async fn submit_options(
    ff: &Firefox,
    host: &str,
    port: &str,
    isolate: bool,
) -> anyhow::Result<(String, String)> {
    ff.client()
        .execute(
            r#"const [host, port, isolate] = arguments;
               document.getElementById('options-status').dataset.kind = '';
               document.getElementById('socks-host').value = host;
               document.getElementById('socks-port').value = port;
               document.getElementById('isolate-containers').checked = isolate;
               document.getElementById('save').click();
               return true;"#,
            vec![json!(host), json!(port), json!(isolate)],
        )
        .await?;
    wait_for_script(
        ff,
        "return document.getElementById('options-status').dataset.kind !== '';",
        "the options page to save",
        PAGE_TIMEOUT,
    )
    .await?;
    let status = ff
        .client()
        .execute(
            "const s = document.getElementById('options-status'); return [s.dataset.kind, s.textContent];",
            vec![],
        )
        .await?;
    let text = |i: usize| status[i].as_str().unwrap_or_default().to_owned();
    Ok((text(0), text(1)))
}

/// The options page's own settings, end to end: a SOCKS endpoint typed there takes every new
/// request at once (to a second recording server, still with per-site credentials), a bad port
/// is refused in the page, clearing it returns to the daemon's endpoint, and "isolate
/// containers" off puts a container tab on the default container's credentials.
async fn persite_options_page_settings(h: &Harness) -> anyhow::Result<String> {
    let other = SocksRecorder::start(h.fixtures.addr()).await?;
    let browser = start_persite(h).await?;
    let ff = &browser.firefox;
    let session_mark = h.recorder.mark();
    let site_tab = ff.client().window().await?;
    let default_a = load_and_attribute(h, ff, "http://site-a.test/").await?;

    ff.open_tab().await?;
    ff.goto(&format!(
        "moz-extension://{PERSITE_EXTENSION_UUID}/options/options.html"
    ))
    .await?;
    wait_for_script(
        ff,
        "return document.body.dataset.ready === 'true';",
        "the options page to load",
        PAGE_TIMEOUT,
    )
    .await?;
    let options_tab = ff.client().window().await?;
    let (kind, text) =
        submit_options(ff, "127.0.0.1", &other.addr().port().to_string(), true).await?;
    ensure!(kind == "ok", "saving the SOCKS endpoint: {kind} {text:?}");

    // Every new request goes to the typed endpoint, with site-b.test's own credentials.
    ff.client().switch_to_window(site_tab.clone()).await?;
    let (main_mark, other_mark) = (h.recorder.mark(), other.mark());
    ff.load_fixture_page("http://site-b.test/").await?;
    let via_other = other.connections_since(other_mark);
    let pairs: BTreeSet<Option<&Credentials>> = via_other
        .iter()
        .filter(|c| !c.silent)
        .map(SocksConnection::credentials)
        .collect();
    ensure!(
        !via_other.is_empty() && pairs.len() == 1 && !pairs.contains(&None),
        "site-b.test through the typed endpoint: {} connections with credentials {pairs:?}",
        via_other.len()
    );
    let tunnels_elsewhere = h.recorder.connections_since(main_mark);
    ensure!(
        tunnels_elsewhere.is_empty(),
        "{} connections still went to the daemon's endpoint after the override",
        tunnels_elsewhere.len()
    );

    // A bad port is refused in the page; clearing the fields and turning container isolation
    // off apply at once.
    ff.client().switch_to_window(options_tab).await?;
    let (kind, text) = submit_options(ff, "127.0.0.1", "99999", true).await?;
    ensure!(kind == "error", "port 99999 was accepted: {kind} {text:?}");
    let (kind, text) = submit_options(ff, "", "", false).await?;
    ensure!(kind == "ok", "clearing the endpoint: {kind} {text:?}");
    ff.client().switch_to_window(site_tab).await?;
    let back = load_and_attribute(h, ff, "http://site-a.test/").await?;
    ensure!(
        back == default_a,
        "site-a.test back on the daemon's endpoint got {back}, not its {default_a}"
    );
    ff.open_container_tab(1).await?;
    let container = load_and_attribute(h, ff, "http://site-a.test/").await?;
    ensure!(
        container == default_a,
        "with container isolation off, the Personal container got {container}, not {default_a}"
    );
    let tunnels = check_connections(h, session_mark, false)?;
    browser.firefox.shutdown().await;
    Ok(format!(
        "{} connections went to the typed endpoint, none to the daemon's; port 99999 refused; cleared: site-a.test back to {}, shared by the Personal container with isolation off; {tunnels} tunnels",
        via_other.len(),
        short(&default_a)
    ))
}

/// Width of the card in which about:addons shows an add-on's options (its section is 664 px
/// wide; the options browser gets the card's inner width, a little less).
const ABOUT_ADDONS_OPTIONS_WIDTH: u32 = 640;

/// The options page's own checks (issue 12 part 5), end to end: the SOCKS placeholders show the
/// daemon's real endpoint (the recorder's port, not 9050); a form with six bad fields names
/// every one of them at once and saves nothing; and, embedded at about:addons' width with a long
/// site name in the policy table, nothing overflows its card.
async fn persite_options_page_checks(h: &Harness) -> anyhow::Result<String> {
    let runtime_dir = new_runtime_dir()?;
    let daemon = own_daemon(h, runtime_dir.path())?;
    let long_site = "a-very-long-site-name-for-the-layout-check-of-the-options-page.example";
    daemon.rpc(json!({"id": 1, "type": "policy_set", "site": long_site,
        "policy": {"max_age_s": 600, "max_bytes": 52428800, "per_tab": true}}))?;
    let browser = start_persite_in(h, runtime_dir).await?;
    let ff = &browser.firefox;
    load_and_attribute(h, ff, "http://site-a.test/").await?;
    let options_url = format!("moz-extension://{PERSITE_EXTENSION_UUID}/options/options.html");
    ff.open_tab().await?;
    ff.goto(&options_url).await?;
    wait_for_script(
        ff,
        "return document.body.dataset.ready === 'true' \
           && document.getElementById('policies').dataset.state === 'ready';",
        "the options page to load",
        PAGE_TIMEOUT,
    )
    .await?;

    // Placeholders: the endpoint in use when the fields are empty.
    let shown = ff
        .client()
        .execute(
            "return [document.getElementById('socks-host').placeholder, \
                     document.getElementById('socks-port').placeholder];",
            vec![],
        )
        .await?;
    let port = h.recorder.addr().port().to_string();
    ensure!(
        shown == json!(["127.0.0.1", port]),
        "the SOCKS placeholders show {shown}, the daemon uses 127.0.0.1:{port}"
    );

    // Every invalid field at once; nothing saved.
    let before = daemon.rpc(json!({"id": 2, "type": "policy_get"}))?;
    let listed = ff
        .client()
        .execute(
            r#"const set = (id, v) => { document.getElementById(id).value = v; };
               set('socks-host', 'tor.example'); set('socks-port', '70000');
               set('policy-default-age', 'soon'); set('policy-default-mib', '0.0001');
               set('policy-new-site', 'not a site!'); set('policy-new-mib', 'lots');
               document.getElementById('options-status').dataset.kind = '';
               document.getElementById('save').click();
               return true;"#,
            vec![],
        )
        .await?;
    ensure!(listed == json!(true), "the form did not take the values");
    wait_for_script(
        ff,
        "return document.getElementById('options-status').dataset.kind === 'error';",
        "the options page to refuse the form",
        PAGE_TIMEOUT,
    )
    .await?;
    let errors = ff
        .client()
        .execute(
            r#"return [[...document.querySelectorAll('#options-errors li')].map((li) => li.dataset.field),
                       [...document.querySelectorAll('[aria-invalid="true"]')].map((e) => e.id).sort(),
                       document.getElementById('options-status').textContent];"#,
            vec![],
        )
        .await?;
    let expected = [
        "socks-host",
        "socks-port",
        "policy-default-age",
        "policy-default-mib",
        "policy-new-site",
        "policy-new-mib",
    ];
    ensure!(
        errors[0] == json!(expected),
        "the page named {} as invalid, not all six of {expected:?} ({})",
        errors[0],
        errors[2]
    );
    let mut sorted = expected.to_vec();
    sorted.sort_unstable();
    ensure!(
        errors[1] == json!(sorted),
        "marked invalid: {}, expected {sorted:?}",
        errors[1]
    );
    ensure!(
        daemon.rpc(json!({"id": 3, "type": "policy_get"}))? == before,
        "a refused form changed the daemon's policies"
    );

    // Layout: the page embedded at about:addons' width. The page hosts itself in an iframe of
    // that width (same origin, so its layout can be measured), like about:addons' card does.
    let layout = ff
        .client()
        .execute_async(
            r#"const [url, width, done] = arguments;
               document.body.replaceChildren();
               const frame = document.createElement('iframe');
               frame.style.cssText = `width: ${width}px; height: 900px; border: 0`;
               frame.src = url;
               const measure = () => {
                 const doc = frame.contentDocument;
                 if (doc?.body?.dataset.ready !== 'true' || doc.getElementById('policies').dataset.state !== 'ready') {
                   setTimeout(measure, 100);
                   return;
                 }
                 const card = doc.getElementById('policies').getBoundingClientRect();
                 const table = doc.getElementById('policy-sites').getBoundingClientRect();
                 const root = doc.documentElement;
                 const wide = [...doc.querySelectorAll('#options-form *')]
                   .filter((e) => e.getBoundingClientRect().right > root.clientWidth + 0.5)
                   .map((e) => e.id || e.className || e.tagName);
                 done({ scroll: root.scrollWidth, client: root.clientWidth, card: card.right,
                        table: table.right, wide, rows: doc.querySelectorAll('#policy-sites tbody tr').length });
               };
               frame.addEventListener('load', measure);
               document.body.append(frame);"#,
            vec![json!(options_url), json!(ABOUT_ADDONS_OPTIONS_WIDTH)],
        )
        .await?;
    let num = |k: &str| layout[k].as_f64().unwrap_or(f64::NAN);
    ensure!(
        layout["rows"] == json!(1)
            && num("scroll") <= num("client")
            && num("table") <= num("card") + 0.5
            && layout["wide"] == json!([]),
        "at {ABOUT_ADDONS_OPTIONS_WIDTH} px the options page overflows: {layout}"
    );
    browser.firefox.shutdown().await;
    drop(daemon);
    Ok(format!(
        "placeholders 127.0.0.1:{port} (the daemon's); six bad fields named at once, nothing saved; \
         at {ABOUT_ADDONS_OPTIONS_WIDTH} px the policy table ends at {} px inside its card ({} px), page width {} of {}",
        num("table"),
        num("card"),
        num("scroll"),
        num("client")
    ))
}

async fn persite_every_connection_authenticated(h: &Harness) -> anyhow::Result<String> {
    // Everything the recorder sees from Firefox start on: nothing is filtered out.
    let session_mark = h.recorder.mark();
    let browser = start_persite(h).await?;
    let ff = &browser.firefox;
    for url in [
        "http://site-a.test/",
        "http://site-b.test/",
        "http://alpha.co.uk/",
    ] {
        load_and_attribute(h, ff, url).await?;
    }
    ff.open_container_tab(1).await?;
    load_and_attribute(h, ff, "http://site-a.test/").await?;
    ff.open_private_window().await?;
    load_and_attribute(h, ff, "http://site-b.test/").await?;
    // Give Firefox's own background traffic a chance to show up.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let tunnels = check_connections(h, session_mark, false)?;
    ensure!(tunnels.tunnels > 0, "the recorder saw no connection at all");
    let hosts: BTreeSet<String> = h
        .recorder
        .connections_since(session_mark)
        .into_iter()
        .filter_map(|c| c.host)
        .collect();
    browser.firefox.shutdown().await;
    Ok(format!(
        "{tunnels} tunnels since Firefox start, all with credentials and ATYP 3; hosts {hosts:?}"
    ))
}

async fn persite_twenty_sites(h: &Harness) -> anyhow::Result<String> {
    let browser = start_persite(h).await?;
    let ff = &browser.firefox;
    let session_mark = h.recorder.mark();
    let spec = PageSpec {
        images: vec!["cdn.test".into(), "img.test".into()],
        fetches: vec!["cdn.test".into()],
        repeat: 2,
        ..PageSpec::default()
    };
    let mut seen: BTreeMap<Credentials, String> = BTreeMap::new();
    for i in 1..=20 {
        let host = format!("s{i}.test");
        let (joined, _) = load_and_join(h, ff, &spec.url(&host)).await?;
        check_expected_requests(&joined, &spec.expected_requests(&host, "/page"))?;
        let credentials = single_credentials(&joined, &host)?;
        if let Some(other) = seen.insert(credentials.clone(), host.clone()) {
            bail!("{host} and {other} share credentials {credentials}");
        }
    }
    let tunnels = check_connections(h, session_mark, false)?;
    browser.firefox.shutdown().await;
    Ok(format!(
        "20 sites, 20 distinct credential pairs, cdn.test/img.test followed each; {tunnels} tunnels"
    ))
}

/// Resets the shared servers' added latency when a trial ends, however it ends.
struct LatencyReset<'a>(&'a Harness);

impl Drop for LatencyReset<'_> {
    fn drop(&mut self) {
        self.0.recorder.set_latency(Latency::default());
        self.0.fixtures.set_response_delay(Duration::ZERO);
    }
}

async fn persite_latency_page(h: &Harness) -> anyhow::Result<String> {
    let browser = start_persite(h).await?;
    let ff = &browser.firefox;
    let session_mark = h.recorder.mark();
    // About one Tor round trip per CONNECT and per response (the later measurement's setting);
    // this trial checks isolation still holds under it, it does not time anything.
    let _reset = LatencyReset(h);
    h.recorder.set_latency(Latency {
        connect: Duration::from_millis(250),
    });
    h.fixtures.set_response_delay(Duration::from_millis(250));
    let spec = PageSpec::third_party_images(10, 5);
    let (joined, _) = load_and_join(h, ff, &spec.url("site-a.test")).await?;
    check_expected_requests(&joined, &spec.expected_requests("site-a.test", "/page"))?;
    let a = single_credentials(&joined, "the 50-resource page")?;
    let tunnels = check_connections(h, session_mark, false)?;
    browser.firefox.shutdown().await;
    Ok(format!(
        "{} requests from 11 hosts with 250 ms added per CONNECT and per response, all {}; {tunnels} tunnels",
        joined.len(),
        short(&a)
    ))
}
