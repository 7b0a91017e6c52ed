//! The attribution corpus in real headless Firefox ESR: for every way a page can make Firefox
//! fetch (`tests/src/corpus.rs`), every request must ride its first party's credentials.
//!
//! Every corpus URL names the first party it belongs to (`fp`) and the browsing context the test
//! opened it in (`cx`); the check joins each logged HTTP request to the SOCKS tunnel that carried
//! it and demands: one credential pair per `(fp, cx)`, no pair shared by two `(fp, cx)`, every
//! tunnel authenticated, and every expected request kind seen.
//!
//! Run: `cargo test -p persite-tests --test e2e_attribution`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use persite_tests::binaries;
use persite_tests::corpus::{CASES, tag_of_path};
use persite_tests::firefox::{Firefox, FirefoxConfig};
use persite_tests::fixtures::HttpRecord;
use persite_tests::persite_browser::{PersiteBrowser, Setup, new_runtime_dir};
use persite_tests::popup::show_popup_for;
use persite_tests::socks_recorder::{Auth, Credentials, SocksConnection};
use persite_tests::trial::{self, RecordingHarness, trial};
use serde_json::{Value, json};

/// Upper bound for one trial, Firefox start included.
const TRIAL_TIMEOUT: Duration = Duration::from_secs(300);
/// Upper bound for the whole binary.
const RUN_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long the test waits for requests a page cannot observe (beacons, pings, reports).
const STRAGGLER_WAIT: Duration = Duration::from_secs(10);

/// Servers shared by every trial.
type Harness = RecordingHarness;

fn main() {
    trial::spawn_run_watchdog("e2e_attribution", RUN_TIMEOUT);
    trial::run_with_harness(
        "attribution harness",
        || RecordingHarness::start("attribution", TRIAL_TIMEOUT),
        |harness| {
            vec![
                trial(
                    harness,
                    "harness_probe_details_of_every_request_kind",
                    false,
                    |h| Box::pin(probe_details(h)),
                ),
                trial(
                    harness,
                    "persite_every_request_rides_its_first_party",
                    true,
                    |h| Box::pin(persite_corpus(h)),
                ),
                trial(harness, "persite_reports_paths_that_bypass_it", true, |h| {
                    Box::pin(persite_reports_bypasses(h))
                }),
            ]
        },
    )
}

/// Prefs the corpus needs on top of the harness's: service workers over plain http on the test
/// names, pings, popups from frames, favicons, downloads without a dialog.
fn corpus_prefs(download_dir: &std::path::Path) -> serde_json::Map<String, Value> {
    let mut hosts: Vec<String> = ["alpha.test", "beta.test", "gamma.test"]
        .iter()
        .map(|h| (*h).to_owned())
        .collect();
    hosts.extend(
        persite_tests::corpus::THIRD_PARTIES
            .iter()
            .map(|h| (*h).to_owned()),
    );
    [
        ("dom.serviceWorkers.enabled", json!(true)),
        ("dom.serviceWorkers.testing.enabled", json!(true)),
        ("dom.securecontext.allowlist", json!(hosts.join(","))),
        // Those hosts now count as secure, so Firefox would upgrade their plain-http images and
        // media to https (mixed display content), which the fixture server does not speak.
        (
            "security.mixed_content.upgrade_display_content",
            json!(false),
        ),
        (
            "security.mixed_content.upgrade_display_content.image",
            json!(false),
        ),
        (
            "security.mixed_content.upgrade_display_content.audio",
            json!(false),
        ),
        (
            "security.mixed_content.upgrade_display_content.video",
            json!(false),
        ),
        ("security.mixed_content.block_display_content", json!(false)),
        // …and would stop a form on them posting to a plain-http site with a warning page.
        ("security.warn_submit_secure_to_insecure", json!(false)),
        // Paths the shipped hardening turns off are exercised here: a user may not run it.
        ("browser.send_pings", json!(true)),
        ("dom.disable_open_during_load", json!(false)),
        ("browser.chrome.site_icons", json!(true)),
        ("browser.download.folderList", json!(2)),
        (
            "browser.download.dir",
            json!(download_dir.to_string_lossy()),
        ),
        ("browser.download.useDownloadDir", json!(true)),
        (
            "browser.download.always_ask_before_handling_new_types",
            json!(false),
        ),
        ("browser.download.alwaysOpenPanel", json!(false)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A logged corpus request with the tunnel that carried it.
#[derive(Debug, Clone)]
struct Seen {
    request: HttpRecord,
    fp: String,
    cx: String,
    k: String,
    tunnel: SocksConnection,
}

/// Every corpus request logged since `mark`, joined to its tunnel.
fn corpus_requests_since(h: &Harness, mark: usize) -> anyhow::Result<Vec<Seen>> {
    let mut out = Vec::new();
    for request in h.fixtures.requests_since(mark) {
        let Some((fp, cx, k)) = tag_of_path(&request.path) else {
            continue;
        };
        let tunnel = h
            .recorder
            .tunnel_for_upstream_port(request.client_port, request.at)
            .with_context(|| {
                format!(
                    "request {}{} joins no SOCKS tunnel (it did not go through the proxy)",
                    request.host, request.path
                )
            })?;
        ensure!(
            tunnel.host.as_deref() == Some(request.host.as_str()),
            "request for {}{} travelled in a tunnel opened for {:?}",
            request.host,
            request.path,
            tunnel.host
        );
        out.push(Seen {
            request,
            fp,
            cx,
            k,
            tunnel,
        });
    }
    Ok(out)
}

/// Load `url` and wait until the page reports `done` (failures of single resources allowed).
async fn load_case(ff: &Firefox, url: &str) -> anyhow::Result<String> {
    ff.goto(url).await?;
    let title = ff
        .wait_for_title(Duration::from_secs(25), |t| {
            t.starts_with("done") || t.starts_with("failed")
        })
        .await
        .with_context(|| format!("waiting for {url}"))?;
    ensure!(title.starts_with("done"), "{url}: {title}");
    Ok(title)
}

/// Wait (bounded) until every label in `expected` was logged for `(fp, cx)`.
async fn wait_for_labels(
    h: &Harness,
    mark: usize,
    fp: &str,
    cx: &str,
    expected: &[&str],
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let seen: BTreeSet<String> = h
            .fixtures
            .requests_since(mark)
            .iter()
            .filter_map(|r| tag_of_path(&r.path))
            .filter(|(f, c, _)| f == fp && c == cx)
            .map(|(_, _, k)| k)
            .collect();
        let missing: Vec<&&str> = expected.iter().filter(|k| !seen.contains(**k)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        if started.elapsed() > STRAGGLER_WAIT {
            bail!("{fp}/{cx}: requests never seen: {missing:?} (seen: {seen:?})");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the corpus under the details probe, prints what Firefox told the extension about each
/// kind of request (the table in docs/architecture.md comes from this output), and checks the
/// facts first-party.js relies on, so a Firefox that changes them fails here first.
async fn probe_details(h: &Harness) -> anyhow::Result<String> {
    let extension = binaries::test_extension("details-probe-extension", h.recorder.addr().port())?;
    let downloads = tempfile::tempdir()?;
    let ff = Firefox::start(FirefoxConfig {
        prefs: corpus_prefs(downloads.path()),
        ..FirefoxConfig::default()
    })
    .await?;
    ff.install_addon(extension.path(), true).await?;
    let mark = h.fixtures.mark();
    let socks_mark = h.recorder.mark();
    for case in CASES {
        load_case(&ff, &case_url("alpha.test", "default", case)).await?;
        wait_for_labels(h, mark, "alpha.test", "default", expected_labels(case))
            .await
            .with_context(|| format!("case {case}"))?;
    }
    let seen = corpus_requests_since(h, mark)?;
    let mut rows: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut violations = Vec::new();
    for s in &seen {
        let summary = match &s.tunnel.auth {
            Auth::UserPass(c) => c.password.clone(),
            other => bail!("{} went through a tunnel authenticated as {other:?}", s.k),
        };
        let details: Value = serde_json::from_str(&summary)
            .with_context(|| format!("{}: probe summary {summary:?}", s.k))?;
        if let Some(problem) = probe_fact_broken(&s.k, &details) {
            violations.push(format!("{}: {problem}: {summary}", s.k));
        }
        rows.entry(format!("{:<24} {:<13}", s.k, s.request.host))
            .or_default()
            .insert(summary);
    }
    for (key, summaries) in &rows {
        for summary in summaries {
            eprintln!("[probe] {key} {summary}");
        }
    }
    let unauthenticated = h
        .recorder
        .connections_since(socks_mark)
        .iter()
        .filter(|c| !c.silent && !matches!(c.auth, Auth::UserPass(_)))
        .count();
    ensure!(
        unauthenticated == 0,
        "{unauthenticated} tunnels without credentials"
    );
    ensure!(
        violations.is_empty(),
        "Firefox no longer gives what extension/src/first-party.js relies on:\n{}",
        violations.join("\n")
    );
    ff.shutdown().await;
    Ok(format!(
        "{} corpus requests of {} kinds, every fact first-party.js relies on holds",
        seen.len(),
        rows.len()
    ))
}

/// The fact of Firefox's `proxy.onRequest` details that first-party.js relies on for request
/// kind `k`, if this summary breaks it (`t` type, `tab`, `f` frameId, `fa` frameAncestors, `d`
/// documentUrl, `di` 1 when a documentId is given).
fn probe_fact_broken(k: &str, d: &Value) -> Option<&'static str> {
    let tab = d["tab"].as_i64().unwrap_or(i64::MIN);
    let has_document_id = d["di"] == 1;
    let worker_load = ["-import", "-fetch"].iter().any(|end| k.ends_with(end))
        && ["top-", "tp-"].iter().any(|start| k.starts_with(start));
    if is_one_off_kind(k) {
        // Rule 6: shared and service workers come without a tab.
        return (tab != -1).then_some("a shared or service worker's load has a tab");
    }
    if worker_load {
        // Rule 4 must not apply to a worker's loads: they name the worker script as document.
        return has_document_id.then_some("a worker's load carries a documentId");
    }
    if k.starts_with("sandbox-") && !k.starts_with("sandbox-frame") {
        // Rule 5: an opaque-origin top document names no document URL.
        if d.get("d").is_some() {
            return Some("an opaque-origin document's load names a document URL");
        }
    }
    if d["t"] == "main_frame" || tab < 0 {
        return None;
    }
    let ancestors_empty = d["fa"].as_array().is_some_and(Vec::is_empty);
    if ancestors_empty && d["f"] == 0 && has_document_id && d.get("d").is_some() {
        // Rule 4: a load with a documentId in the top frame names the top document.
        let top = d["d"].as_str().unwrap_or_default();
        if !top.starts_with("alpha.test/") {
            return Some("a top-frame load with a documentId names another document");
        }
    }
    if let Some(last) = d["fa"].as_array().and_then(|a| a.last()) {
        // Rule 3: the last frame ancestor is the top document (or an opaque one: no URL).
        let top = last.as_str().unwrap_or_default();
        if !top.starts_with("alpha.test/") && !k.starts_with("sandbox-frame") {
            return Some("the last frame ancestor is not the top document");
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Persite: the corpus through the extension, the native host and the daemon
// ---------------------------------------------------------------------------------------------

/// Request kinds each case page must produce (the `k` of its URLs), beyond the page itself.
fn expected_labels(case: &str) -> &'static [&'static str] {
    match case {
        "frames" => &[
            "nest",
            "nest-nest-b.test-img",
            "nest-nest-c.test-img",
            "nest-nest-d.test-img",
            "srcdoc-img",
            "about-blank-img",
            "blob-img",
            "data-img",
            "sandboxed",
            "sandboxed-img",
            "sandboxed-opaque",
            "sandboxed-opaque-img",
        ],
        "workers" => &[
            "top-dedicated",
            "top-dedicated-import",
            "top-dedicated-fetch",
            "top-module",
            "top-module-import",
            "top-module-fetch",
            "top-shared",
            "top-shared-import",
            "top-shared-fetch",
            "top-sw",
            "top-sw-import",
            "top-sw-fetch",
            "top-worklet",
        ],
        "tp-workers" => &[
            "tp-frame",
            "tp-dedicated",
            "tp-dedicated-import",
            "tp-dedicated-fetch",
            "tp-module",
            "tp-module-import",
            "tp-module-fetch",
            "tp-shared",
            "tp-shared-import",
            "tp-shared-fetch",
            "tp-sw",
            "tp-sw-import",
            "tp-sw-fetch",
            "tp-worklet",
        ],
        "sandbox" => &[
            "sandbox-css",
            "sandbox-css-import",
            "sandbox-css-background",
            "sandbox-img",
            "sandbox-fetch",
            "sandbox-script",
            "sandbox-frame",
            "sandbox-frame-img",
        ],
        "requests" => &[
            "fetch",
            "xhr",
            "beacon",
            "ping",
            "ping-nav",
            "eventsource",
            "websocket",
        ],
        "styles" => &[
            "css",
            "css-import",
            "css-font",
            "css-background",
            "favicon",
            // `prefetch` is on the page too, but Firefox made no request for it in any run
            // (it prefetches only when idle, and skips no-store responses); when it does, the
            // request is checked like every other.
            "preload",
            "modulepreload",
            "media",
        ],
        "csp-report" => &["csp-report"],
        "redirects" => &[
            "redirect-img",
            "redirect-img-target",
            "redirect-fetch",
            "redirect-fetch-target",
        ],
        _ => &[],
    }
}

/// Requests whose first party Firefox does not reveal (no tab: shared and service workers):
/// they must ride credentials of their own (first-party.js rule 6).
fn is_one_off_kind(k: &str) -> bool {
    ["top-shared", "top-sw", "tp-shared", "tp-sw"]
        .iter()
        .any(|prefix| k.starts_with(prefix))
}

/// The URL of a corpus case page for first party `fp` in context `cx`.
fn case_url(fp: &str, cx: &str, case: &str) -> String {
    format!("http://{fp}/c/page/{case}?fp={fp}&cx={cx}&k=page")
}

fn encoded(url: &str) -> String {
    url::form_urlencoded::byte_serialize(url.as_bytes()).collect()
}

/// Loads every case for `fp` in the current tab (context `cx`) and waits for its requests.
async fn run_cases(
    h: &Harness,
    ff: &Firefox,
    mark: usize,
    fp: &str,
    cx: &str,
    cases: &[&str],
    skip: impl Fn(&str) -> bool,
) -> anyhow::Result<()> {
    for case in cases {
        load_case(ff, &case_url(fp, cx, case)).await?;
        let expected: Vec<&str> = expected_labels(case)
            .iter()
            .copied()
            .filter(|k| !skip(k))
            .collect();
        wait_for_labels(h, mark, fp, cx, &expected)
            .await
            .with_context(|| format!("case {case}"))?;
    }
    Ok(())
}

/// Navigations that change the first party: a form POST, a redirect, `window.open` from a
/// third-party frame, a download from this site and a link to another site's file.
async fn run_navigations(h: &Harness, ff: &Firefox, mark: usize) -> anyhow::Result<()> {
    let landing = |fp: &str| case_url(fp, "default", "landing");
    let landed = ["landing-img", "landing-fetch"];
    ff.goto(&format!(
        "{}&to={}",
        case_url("alpha.test", "default", "form"),
        encoded(&landing("form-dest.test"))
    ))
    .await?;
    wait_for_labels(h, mark, "form-dest.test", "default", &landed)
        .await
        .context("form POST navigation")?;
    ff.goto(&format!(
        "http://alpha.test/c/res/redirect?fp=alpha.test&cx=default&k=nav-redirect&to={}",
        encoded(&landing("redirect-dest.test"))
    ))
    .await?;
    wait_for_labels(h, mark, "redirect-dest.test", "default", &landed)
        .await
        .context("redirected navigation")?;
    wait_for_labels(h, mark, "alpha.test", "default", &["nav-redirect"]).await?;
    ff.goto(&format!(
        "{}&to={}",
        case_url("alpha.test", "default", "open"),
        encoded(&landing("popup-dest.test"))
    ))
    .await?;
    wait_for_labels(h, mark, "alpha.test", "default", &["opener-frame"]).await?;
    wait_for_labels(h, mark, "popup-dest.test", "default", &landed)
        .await
        .context("window.open from a third-party frame")?;
    ff.goto(&case_url("beta.test", "default", "download"))
        .await?;
    wait_for_labels(h, mark, "beta.test", "default", &["download-same"]).await?;
    wait_for_labels(h, mark, "tp1.test", "default", &["download-cross"]).await?;
    // tracker.test visited as a site of its own: its pair must differ from every pair its
    // frames and workers rode on the other sites.
    load_case(ff, &landing("tracker.test")).await?;
    wait_for_labels(h, mark, "tracker.test", "default", &landed).await?;
    Ok(())
}

/// Checks the whole log since the marks: every tunnel authenticated with ATYP 3; per
/// `(fp, cx)` one pair; no pair shared between two `(fp, cx)`; one-off kinds on pairs used by
/// no other request. Returns a summary.
fn check_attribution(h: &Harness, mark: usize, socks_mark: usize) -> anyhow::Result<String> {
    let mut tunnels = 0;
    for c in h.recorder.connections_since(socks_mark) {
        if c.silent {
            continue;
        }
        tunnels += 1;
        ensure!(c.error.is_none(), "SOCKS connection failed: {c:?}");
        ensure!(
            c.atyp == Some(3),
            "tunnel {} to {:?} used ATYP {:?}",
            c.id,
            c.host,
            c.atyp
        );
        ensure!(
            matches!(c.auth, Auth::UserPass(_)),
            "tunnel {} to {:?} without credentials",
            c.id,
            c.host
        );
    }
    let seen = corpus_requests_since(h, mark)?;
    let mut groups: BTreeMap<(String, String), BTreeMap<Credentials, Vec<String>>> =
        BTreeMap::new();
    let mut pair_uses: BTreeMap<Credentials, usize> = BTreeMap::new();
    let mut one_off = Vec::new();
    for s in &seen {
        let credentials = s
            .tunnel
            .credentials()
            .cloned()
            .with_context(|| format!("{} carried no credentials", s.k))?;
        *pair_uses.entry(credentials.clone()).or_default() += 1;
        if is_one_off_kind(&s.k) {
            one_off.push((s, credentials));
            continue;
        }
        groups
            .entry((s.fp.clone(), s.cx.clone()))
            .or_default()
            .entry(credentials)
            .or_default()
            .push(format!(
                "{} {}{}",
                s.k,
                s.request.host,
                s.request.path_only()
            ));
    }
    let mut owner: BTreeMap<&Credentials, &(String, String)> = BTreeMap::new();
    for (group, pairs) in &groups {
        ensure!(
            pairs.len() == 1,
            "{}/{}: requests rode {} different credential pairs: {:#?}",
            group.0,
            group.1,
            pairs.len(),
            pairs
        );
        let pair = pairs.keys().next().context("empty group")?;
        if let Some(other) = owner.insert(pair, group) {
            bail!(
                "{}/{} and {}/{} rode the same credentials",
                other.0,
                other.1,
                group.0,
                group.1
            );
        }
    }
    for (s, credentials) in &one_off {
        ensure!(
            !owner.contains_key(credentials),
            "{} under {}/{} rode the credentials of {:?}",
            s.k,
            s.fp,
            s.cx,
            owner.get(credentials)
        );
        ensure!(
            pair_uses.get(credentials) == Some(&1),
            "{} under {}/{}: its one-off pair carried {:?} requests",
            s.k,
            s.fp,
            s.cx,
            pair_uses.get(credentials)
        );
    }
    Ok(format!(
        "{} requests of {} first-party contexts on {} pairs, {} one-off, {tunnels} tunnels all authenticated",
        seen.len(),
        groups.len(),
        owner.len(),
        one_off.len()
    ))
}

async fn persite_corpus(h: &Harness) -> anyhow::Result<String> {
    let downloads = tempfile::tempdir()?;
    let browser = PersiteBrowser::start_in(
        &h.runner.binaries()?,
        h.recorder.addr().port(),
        new_runtime_dir()?,
        Setup {
            prefs: corpus_prefs(downloads.path()),
            ..Setup::default()
        },
    )
    .await?;
    let ff = &browser.firefox;
    let mark = h.fixtures.mark();
    let socks_mark = h.recorder.mark();
    let none = |_: &str| false;
    for fp in ["alpha.test", "beta.test"] {
        run_cases(h, ff, mark, fp, "default", CASES, none).await?;
    }
    run_navigations(h, ff, mark).await?;
    let some = ["frames", "tp-workers", "sandbox"];
    ff.open_container_tab(1).await?;
    run_cases(h, ff, mark, "alpha.test", "c1", &some, none).await?;
    ff.open_private_window().await?;
    // No service workers in private windows (Firefox's rule).
    run_cases(h, ff, mark, "alpha.test", "private", &some, |k| {
        k.starts_with("tp-sw")
    })
    .await?;
    let summary = check_attribution(h, mark, socks_mark)?;
    browser.firefox.shutdown().await;
    Ok(summary)
}

// ---------------------------------------------------------------------------------------------
// Honest status: the paths by which traffic bypasses the per-site circuits
// ---------------------------------------------------------------------------------------------

/// The popup's warning codes and the toolbar badge, read from the popup page of the selected
/// tab (the popup polls the background, which checks the facts on every status request).
async fn popup_warnings(ff: &Firefox) -> anyhow::Result<(Vec<String>, String)> {
    let tab = ff.selected_extension_tab_id().await?;
    ff.open_tab().await?;
    show_popup_for(ff, tab).await?;
    let started = Instant::now();
    loop {
        let state = ff
            .client()
            .execute(
                r##"const s = document.getElementById("status").dataset.state;
                   const codes = [...document.querySelectorAll("#warnings li")].map((li) => li.dataset.code);
                   return [s, codes];"##,
                vec![],
            )
            .await?;
        if state[0] != "unknown" {
            let codes = state[1]
                .as_array()
                .context("warning codes")?
                .iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect();
            let badge = ff
                .client()
                .execute_async(
                    "const done = arguments[arguments.length - 1]; browser.action.getBadgeText({}).then(done, (e) => done('error: ' + e));",
                    vec![],
                )
                .await?;
            return Ok((codes, badge.as_str().unwrap_or_default().to_owned()));
        }
        ensure!(
            started.elapsed() < Duration::from_secs(15),
            "the popup showed no status"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Two browsers: one with every gap (no private-window access, Firefox's default proxy not
/// tor, a page that runs service and shared workers), one with none (tor's SOCKS port as
/// default proxy with remote DNS, private windows allowed, service workers off). The popup
/// lists exactly the gaps present and the badge warns only in the first.
async fn persite_reports_bypasses(h: &Harness) -> anyhow::Result<String> {
    let binaries = h.runner.binaries()?;
    let socks = h.recorder.addr();
    let downloads = tempfile::tempdir()?;
    let gaps = PersiteBrowser::start_in(
        &binaries,
        socks.port(),
        new_runtime_dir()?,
        Setup {
            prefs: corpus_prefs(downloads.path()),
            allow_private: false,
            ..Setup::default()
        },
    )
    .await?;
    gaps.firefox
        .load_fixture_page("http://site-a.test/")
        .await?;
    let (codes, _) = popup_warnings(&gaps.firefox).await?;
    ensure!(
        codes == ["private_windows", "default_proxy"],
        "before any worker ran the popup listed {codes:?}"
    );
    load_case(&gaps.firefox, &case_url("alpha.test", "default", "workers")).await?;
    let (codes, badge) = popup_warnings(&gaps.firefox).await?;
    ensure!(
        codes == ["private_windows", "default_proxy", "service_workers"],
        "with every gap open the popup listed {codes:?}"
    );
    ensure!(badge == "!", "with gaps the badge shows {badge:?}");
    gaps.firefox.shutdown().await;

    let mut prefs = serde_json::Map::new();
    prefs.insert("dom.serviceWorkers.enabled".into(), json!(false));
    let covered = PersiteBrowser::start_in(
        &binaries,
        socks.port(),
        new_runtime_dir()?,
        Setup {
            prefs,
            allow_private: true,
            default_proxy: Some(socks),
        },
    )
    .await?;
    covered
        .firefox
        .load_fixture_page("http://site-a.test/")
        .await?;
    let (codes, badge) = popup_warnings(&covered.firefox).await?;
    ensure!(
        codes.is_empty(),
        "with every gap closed the popup listed {codes:?}"
    );
    ensure!(badge.is_empty(), "without gaps the badge shows {badge:?}");
    covered.firefox.shutdown().await;
    Ok("every gap reported with its fix, none when all are closed; badge agrees".to_owned())
}
