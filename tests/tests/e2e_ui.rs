//! The extension's pages for people, in real Firefox: the first-run and status page's checks,
//! the popup's verdicts, its layout bound, and the page that replaces Firefox's proxy error
//! when Persite blocks a navigation (issue 12, parts 3 and 4).
//!
//! One binary with a custom runner (`libtest-mimic`), like `e2e_defects`: the fixture server and
//! a recording SOCKS5 server start once; every trial runs its own Firefox with the real
//! extension and native host. The daemon is the real `persite serve` (tor down: its control
//! port configured but closed; daemon down: the host cannot start one) or, for the circuit
//! display's worst case, the fault-injecting fake (`src/fake_broker.rs`) reporting a conflux
//! set, which the private Tor network cannot be made to build on demand. The protected verdict
//! on a real circuit is proven on the private Tor network (`e2e_tor`, trial d).
//!
//! Screenshots go to `<target>/screenshots/`; with `PERSITE_SCREENSHOTS=1`, the status page's
//! also to `docs/screenshots/status.png`.
//!
//! Run: `cargo test -p persite-tests --test e2e_ui` (filters work as usual).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use persite_protocol as wire;
use persite_tests::binaries::Binaries;
use persite_tests::fake_broker::{FakeBroker, FakeMode};
use persite_tests::firefox::{Firefox, PAGE_TIMEOUT, PERSITE_EXTENSION_UUID};
use persite_tests::persite_browser::{PersiteBrowser, Setup, new_runtime_dir};
use persite_tests::popup::{
    PopupStatus, click, open_popup, show_popup_for, show_status_page, wait_for_script,
    wait_popup_ok, wait_popup_state, wait_status_checks,
};
use persite_tests::test_daemon::{TestDaemon, system_tor_config};
use persite_tests::trial::{self, RecordingHarness, trial};
use serde_json::{Value, json};

/// Upper bound for one trial, Firefox start included.
const TRIAL_TIMEOUT: Duration = Duration::from_secs(180);
/// Upper bound for the whole binary (building the Persite binaries included).
const RUN_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Bound on waiting for a page to show a state: the native host's reconnect backoff tops out at
/// 10 s, the pages poll every second.
const STATE_WAIT: Duration = Duration::from_secs(30);
/// Firefox cuts extension popups near this height (issue 12).
const POPUP_MAX_HEIGHT: f64 = 600.0;

/// Servers shared by every trial.
type Harness = RecordingHarness;

fn main() {
    // Whole-run bound: per-trial timeouts cannot interrupt a blocked thread.
    trial::spawn_run_watchdog("e2e_ui", RUN_TIMEOUT);
    trial::run_with_harness(
        "ui harness",
        || RecordingHarness::start("ui", TRIAL_TIMEOUT),
        |harness| {
            vec![
                trial(
                    harness,
                    "ui_a_tor_down_blocks_pages_and_every_page_says_why",
                    true,
                    |h| Box::pin(tor_down(h)),
                ),
                trial(
                    harness,
                    "ui_b_daemon_down_then_started_retry_loads_the_page",
                    true,
                    |h| Box::pin(daemon_down_then_up(h)),
                ),
                trial(
                    harness,
                    "ui_c_popup_protected_conflux_fits_600px_and_page_without_site",
                    true,
                    |h| Box::pin(popup_layout(h)),
                ),
            ]
        },
    );
}

/// A port on 127.0.0.1 that nothing listens on (bound, then closed).
fn closed_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// What the blocked page (`extension/blocked/`) shows.
#[derive(Debug)]
struct BlockedPage {
    url: String,
    problem: String,
    site: String,
    reason: String,
    fix: String,
}

/// Waits until the current tab shows the blocked page at an address other than `not` (a new
/// block, not the one already shown), naming the check `problem` (the page polls the status
/// every second; its first answer may come before the daemon has reported tor); returns what it
/// says, or fails with what it said last.
async fn wait_blocked_page(
    ff: &Firefox,
    not: Option<&str>,
    problem: &str,
) -> anyhow::Result<BlockedPage> {
    let prefix = format!("moz-extension://{PERSITE_EXTENSION_UUID}/blocked/blocked.html?");
    let started = Instant::now();
    loop {
        let value = ff
            .client()
            .execute(
                r#"const r = document.getElementById('blocked-reason');
                   return [location.href, document.body?.dataset.ready || '',
                           r ? r.dataset.problem : '', r ? r.textContent : '',
                           document.getElementById('blocked-site')?.textContent || '',
                           document.getElementById('blocked-fix')?.textContent || ''];"#,
                vec![],
            )
            .await
            .unwrap_or(Value::Null);
        let text = |i: usize| value[i].as_str().unwrap_or_default().to_owned();
        let url = text(0);
        let shown = BlockedPage {
            url,
            problem: text(2),
            reason: text(3),
            site: text(4),
            fix: text(5),
        };
        let is_page = shown.url.starts_with(&prefix) && text(1) == "true";
        if is_page && Some(shown.url.as_str()) != not && shown.problem == problem {
            return Ok(shown);
        }
        ensure!(
            started.elapsed() < STATE_WAIT,
            "the tab never showed Persite's blocked page naming {problem} (it shows {shown:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Navigates the current tab to `url`, which Persite is expected to block (Firefox's load then
/// ends on an error page, which WebDriver reports as an error: ignored).
async fn navigate_blocked(ff: &Firefox, url: &str) {
    let _ = ff.goto(url).await;
}

/// Tor is down (its control port configured, nothing answering), Persite not allowed in
/// private windows, Firefox's own proxy direct: a page load ends on Persite's blocked page
/// naming tor, with the fix; its retry loads the URL again (blocked again, new address); the
/// status page fails exactly tor, the SOCKS check, private windows and the default proxy; the
/// popup says Not protected because of tor. Nothing reached the SOCKS server.
async fn tor_down(h: &Harness) -> anyhow::Result<String> {
    let binaries = h.binaries()?;
    let runtime_dir = new_runtime_dir()?;
    let runtime = runtime_dir.path().to_path_buf();
    let config = system_tor_config(
        h.recorder.addr().port(),
        &format!("127.0.0.1:{}", closed_port()?),
    );
    let daemon =
        TestDaemon::start(&binaries.broker, &config, Some(&runtime)).map_err(anyhow::Error::msg)?;
    let mut prefs = serde_json::Map::new();
    prefs.insert("network.proxy.type".into(), json!(0));
    let browser = PersiteBrowser::start_in(
        &binaries,
        closed_port()?,
        runtime_dir,
        Setup {
            prefs,
            allow_private: false,
            default_proxy: None,
        },
    )
    .await?;
    let ff = &browser.firefox;
    let recorder_mark = h.recorder.mark();

    navigate_blocked(ff, "http://site-a.test/path?secret=1").await;
    let first = wait_blocked_page(ff, None, "tor").await?;
    ensure!(
        first.problem == "tor" && first.site.contains("site-a.test"),
        "the blocked page does not name tor and the site: {first:?}"
    );
    ensure!(
        !first.url.contains("site-a") && !first.url.contains("secret"),
        "the blocked page's address carries the blocked URL: {}",
        first.url
    );
    ensure!(
        first.fix.contains("Start tor"),
        "the blocked page gives no fix for tor: {first:?}"
    );
    let blocked_tab = ff.selected_extension_tab_id().await?;
    click(ff, "retry").await?;
    let again = wait_blocked_page(ff, Some(&first.url), "tor").await?;
    ensure!(again.problem == "tor", "after the retry: {again:?}");

    open_popup(ff, blocked_tab).await?;
    let status = wait_popup_state(ff, "broken", STATE_WAIT).await?;
    ensure!(
        status.problem == "tor" && !status.fix.is_empty(),
        "the popup's verdict does not name tor with a fix: {status:?}"
    );
    show_status_page(ff).await?;
    let checks = wait_status_checks(
        ff,
        &[
            ("native-host", "ok"),
            ("daemon", "ok"),
            ("tor", "fail"),
            ("socks", "fail"),
            ("private-windows", "fail"),
            ("default-proxy", "fail"),
        ],
        STATE_WAIT,
    )
    .await?;
    let overall = ff
        .client()
        .execute(
            "return document.getElementById('overall').dataset.state;",
            vec![],
        )
        .await?;
    ensure!(
        overall == json!("broken"),
        "the status page's summary is {overall}"
    );
    let shot = persite_tests::screenshot::element(ff, "main", "status.png", true).await?;
    let reached = h.recorder.connections_since(recorder_mark);
    ensure!(
        reached.is_empty(),
        "{} connection(s) reached the SOCKS server while tor was down",
        reached.len()
    );
    browser.firefox.shutdown().await;
    drop(daemon);
    Ok(format!(
        "blocked page names tor ({:?}), retry blocked again at a new address; popup {}/{}; \
         status page {checks:?}; nothing reached the SOCKS server; screenshot {}",
        first.reason,
        status.state,
        status.problem,
        shot.display()
    ))
}

/// No daemon (the host's daemon binary is `/bin/false`): the blocked page and the popup name
/// the Persite service, the buttons say why they cannot act, the status page fails the daemon
/// only. Then a daemon starts: the popup stops saying so, the blocked page's retry loads the
/// page through the SOCKS server with credentials, and New identity (tabs kept) confirms.
async fn daemon_down_then_up(h: &Harness) -> anyhow::Result<String> {
    let binaries = h.binaries()?;
    let runtime_dir = new_runtime_dir()?;
    let runtime = runtime_dir.path().to_path_buf();
    let no_daemon = Binaries {
        native_host: binaries.native_host.clone(),
        broker: PathBuf::from("/bin/false"),
    };
    let browser =
        PersiteBrowser::start_in(&no_daemon, closed_port()?, runtime_dir, Setup::default()).await?;
    let ff = &browser.firefox;
    let page = ff.client().window().await?;
    navigate_blocked(ff, "http://site-a.test/").await;
    let blocked = wait_blocked_page(ff, None, "daemon").await?;
    ensure!(
        blocked.problem == "daemon" && blocked.fix.contains("persite serve"),
        "the blocked page does not name the Persite service with its fix: {blocked:?}"
    );
    let blocked_tab = ff.selected_extension_tab_id().await?;

    let popup = open_popup(ff, blocked_tab).await?;
    let down = wait_popup_state(ff, "broken", STATE_WAIT).await?;
    ensure!(down.problem == "daemon", "popup verdict {down:?}");
    let buttons = ff
        .client()
        .execute(
            r#"const b = (id) => [document.getElementById(id).disabled,
                                  document.getElementById(id + '-reason').textContent];
               return [b('new-circuit'), b('new-identity'),
                       !document.getElementById('open-status').hidden];"#,
            vec![],
        )
        .await?;
    ensure!(
        buttons[1][0] == json!(true)
            && buttons[1][1]
                .as_str()
                .is_some_and(|t| t.contains("Persite service"))
            && buttons[0][0] == json!(true)
            && buttons[2] == json!(true),
        "with the daemon down: [new circuit, new identity, status link shown] = {buttons}"
    );
    ff.open_tab().await?;
    show_status_page(ff).await?;
    wait_status_checks(ff, &[("native-host", "ok"), ("daemon", "fail")], STATE_WAIT).await?;

    let daemon = TestDaemon::start(
        &binaries.broker,
        &system_tor_config(h.recorder.addr().port(), "none"),
        Some(&runtime),
    )
    .map_err(anyhow::Error::msg)?;
    wait_status_checks(ff, &[("daemon", "ok")], STATE_WAIT).await?;
    ff.client().switch_to_window(popup).await?;
    // No control port in this daemon: nothing blocks, but tor cannot be confirmed.
    let up = wait_popup_state(ff, "at-risk", STATE_WAIT).await?;
    ensure!(
        up.problem == "tor",
        "popup verdict once the daemon runs: {up:?}"
    );

    ff.client().switch_to_window(page).await?;
    let http_mark = h.fixtures.mark();
    click(ff, "retry").await?;
    ff.wait_for_title(PAGE_TIMEOUT, |t| t == "done" || t.starts_with("failed"))
        .await?;
    let title = ff.title().await?;
    ensure!(title == "done", "the retried page ended as {title:?}");
    let requests = h.fixtures.requests_since(http_mark);
    ensure!(
        requests
            .iter()
            .any(|r| r.host == "site-a.test" && r.path == "/"),
        "the retry did not load site-a.test/"
    );
    for request in &requests {
        let tunnel = h
            .recorder
            .tunnel_for_upstream_port(request.client_port, request.at)
            .with_context(|| {
                format!(
                    "{}{} did not go through the SOCKS server",
                    request.host, request.path
                )
            })?;
        ensure!(
            tunnel.credentials().is_some(),
            "{}{} went without credentials",
            request.host,
            request.path
        );
    }

    // New identity with tabs kept: the popup says it is done.
    let site_tab = ff.selected_extension_tab_id().await?;
    ff.open_tab().await?;
    show_popup_for(ff, site_tab).await?;
    ff.client()
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               browser.storage.local.set({options: {confirmNewIdentity: false, closeTabsOnNewIdentity: false}})
                 .then(() => done(true), (e) => done(String(e)));"#,
            vec![],
        )
        .await?;
    wait_for_script(
        ff,
        "return !document.getElementById('new-identity').disabled;",
        "New identity to be enabled",
        STATE_WAIT,
    )
    .await?;
    click(ff, "new-identity").await?;
    let message = wait_identity_done(ff).await?;
    browser.firefox.shutdown().await;
    drop(daemon);
    Ok(format!(
        "daemon down: blocked page and popup name the service, buttons disabled with a reason; \
         daemon started: popup {}/{}, retry loaded site-a.test with credentials ({} requests); \
         New identity: {message:?}",
        up.state,
        up.problem,
        requests.len()
    ))
}

/// Waits until the popup's message confirms a finished New identity; returns its text.
async fn wait_identity_done(ff: &Firefox) -> anyhow::Result<String> {
    let started = Instant::now();
    loop {
        wait_popup_ok(ff, PAGE_TIMEOUT).await?;
        let text = ff
            .client()
            .execute(
                "return document.getElementById('message').textContent;",
                vec![],
            )
            .await?;
        let text = text.as_str().unwrap_or_default().to_owned();
        if text.starts_with("New identity done") {
            return Ok(text);
        }
        ensure!(
            started.elapsed() < PAGE_TIMEOUT,
            "New identity never said it was done (last message {text:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A 40-hex fingerprint made of `digit`.
fn fingerprint(digit: char) -> String {
    std::iter::repeat_n(digit, 40).collect()
}

/// One leg of a conflux set as the protocol's `circuits` entry (§2.4).
fn leg(id: &str, digits: [char; 3]) -> Value {
    let hop = |role: &str, digit: char, country: &str| {
        json!({"role": role, "fingerprint": fingerprint(digit), "nickname": format!("relay{digit}"),
               "ip": "203.0.113.5", "ipv6": "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "country": country, "bridge_type": null})
    };
    json!({"id": id, "conflux_id": "C0FFEE", "hops": [
        hop("guard", digits[0], "de"), hop("middle", digits[1], "fr"), hop("exit", digits[2], "nl")]})
}

/// The worst case for the popup's height: every check passes (a fake daemon reporting tor
/// bootstrapped and vouched, Persite allowed in private windows, Firefox's own proxy the same
/// SOCKS endpoint), a conflux set of two legs, a long site name. The popup says Protected,
/// shows one path and "+1 parallel path", is at most 600 px tall at its own width, and New
/// identity's confirmation is on screen even with the page scrolled to its end. A page with no
/// website: the popup says so and New circuit is disabled with the reason.
async fn popup_layout(h: &Harness) -> anyhow::Result<String> {
    let binaries = h.binaries()?;
    let runtime_dir = new_runtime_dir()?;
    let socks_port = h.recorder.addr().port();
    let fake = FakeBroker::start(runtime_dir.path(), socks_port, FakeMode::Honest).await?;
    fake.set_tor(wire::TorStatus {
        control: wire::ControlState::Connected,
        managed: false,
        version: Some("0.4.9.11".into()),
        bootstrap: Some(wire::Bootstrap {
            progress: 100,
            summary: Some("Done".into()),
        }),
        socks_listeners: Some(vec![format!("127.0.0.1:{socks_port}")]),
        error: None,
        socks_vouched: true,
        socks_problem: None,
    });
    fake.set_circuits(json!([
        leg("41", ['1', '2', '3']),
        leg("42", ['4', '5', '3'])
    ]));
    let browser = PersiteBrowser::start_in(
        &binaries,
        closed_port()?,
        runtime_dir,
        Setup {
            default_proxy: Some(h.recorder.addr()),
            ..Setup::default()
        },
    )
    .await?;
    let ff = &browser.firefox;
    let long =
        "the-longest-label-anyone-would-ever-type-in-a-url.another-rather-long-label.site-a.test";
    ff.load_fixture_page(&format!("http://{long}/")).await?;
    let tab = ff.selected_extension_tab_id().await?;
    open_popup(ff, tab).await?;
    let status: PopupStatus = wait_popup_state(ff, "protected", STATE_WAIT).await?;
    wait_for_script(
        ff,
        "return document.getElementById('circuit-display').dataset.state === 'shown';",
        "the circuit display",
        STATE_WAIT,
    )
    .await?;
    let rows = ff
        .client()
        .execute(
            r#"return [...document.querySelectorAll('#circuit-hops > li.hop')]
                 .map((li) => [li.dataset.role, li.textContent]);"#,
            vec![],
        )
        .await?;
    let roles: Vec<&str> = rows
        .as_array()
        .context("rows")?
        .iter()
        .filter_map(|r| r[0].as_str())
        .collect();
    ensure!(
        roles == ["browser", "guard", "middle", "exit", "conflux", "site"],
        "the conflux set is not shown as one path and one line: {rows}"
    );
    ensure!(
        rows[4][1] == json!("+1 parallel path"),
        "the folded line reads {}",
        rows[4][1]
    );
    let height = popup_height(ff).await?;
    ensure!(
        height.0 <= POPUP_MAX_HEIGHT,
        "the popup is {} px tall (Firefox cuts popups near {POPUP_MAX_HEIGHT} px)",
        height.0
    );
    let shot = persite_tests::screenshot::element(ff, "body", "popup-conflux.png", false).await?;

    // New identity's confirmation with the page scrolled to its end.
    ff.client()
        .execute(
            "window.scrollTo(0, document.body.scrollHeight); return true;",
            vec![],
        )
        .await?;
    click(ff, "new-identity").await?;
    let confirm = ff
        .client()
        .execute(
            r#"const c = document.getElementById('confirm');
               const r = c.getBoundingClientRect();
               return [!c.hidden, r.top, r.bottom];"#,
            vec![],
        )
        .await?;
    let (top, bottom) = (
        confirm[1].as_f64().unwrap_or(-1.0),
        confirm[2].as_f64().unwrap_or(f64::MAX),
    );
    ensure!(
        confirm[0] == json!(true) && top >= 0.0 && bottom <= POPUP_MAX_HEIGHT,
        "New identity's confirmation is not within the first {POPUP_MAX_HEIGHT} px on screen \
         ([shown, top, bottom] = {confirm})"
    );
    click(ff, "confirm-no").await?;

    // A page with no website.
    ff.open_tab().await?;
    let blank = ff.selected_extension_tab_id().await?;
    show_popup_for(ff, blank).await?;
    let idle = wait_popup_state(ff, "idle", STATE_WAIT).await?;
    let no_site = ff
        .client()
        .execute(
            r#"return [document.getElementById('new-circuit').disabled,
                       document.getElementById('new-circuit-reason').textContent,
                       document.getElementById('circuit-display').hidden,
                       document.getElementById('site').textContent];"#,
            vec![],
        )
        .await?;
    ensure!(
        no_site[0] == json!(true)
            && no_site[1]
                .as_str()
                .is_some_and(|t| t.contains("not a website"))
            && no_site[2] == json!(true),
        "on a page with no website: [new circuit disabled, reason, circuit hidden, site] = {no_site}"
    );
    browser.firefox.shutdown().await;
    drop(fake);
    Ok(format!(
        "protected ({:?}); conflux shown as one path + \"+1 parallel path\"; popup {:.0}×{:.0} px \
         with a {}-character site name; confirmation at {top:.0}–{bottom:.0} px; no-site page: {} \
         with New circuit disabled ({}); screenshot {}",
        status.headline,
        height.1,
        height.0,
        long.len(),
        idle.state,
        no_site[1],
        shot.display()
    ))
}

/// The popup page's content box in the current tab: `(height, width)` in CSS px.
async fn popup_height(ff: &Firefox) -> anyhow::Result<(f64, f64)> {
    let size = ff
        .client()
        .execute(
            r#"const r = document.body.getBoundingClientRect();
               return [Math.max(r.height, document.body.scrollHeight), r.width];"#,
            vec![],
        )
        .await?;
    Ok((
        size[0].as_f64().context("height")?,
        size[1].as_f64().context("width")?,
    ))
}
