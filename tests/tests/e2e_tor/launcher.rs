//! Trial d: `persite browser --headless --url A --url B`, run as a user runs it (temporary HOME,
//! the packed add-on where `scripts/install.sh` puts it, `config.toml` naming the network
//! client's SocksPort and control port as the system tor), loads the two sites on two circuits.
//!
//! Proof, from tor's side and the server's: the fixture server saw both sites' requests
//! (through the exits); every stream tor opened to either site carried SOCKS credentials (so
//! the add-on, not the profile's default proxy, answered), one set per site, and the two sites'
//! streams share no circuit. Then the prepared profile is opened in a WebDriver session and
//! chrome-privileged script checks the add-on: running, allowed in private windows, its button
//! on the toolbar.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use persite_tests::binaries::{self, Binaries};
use persite_tests::firefox::{self, Firefox, FirefoxConfig};
use persite_tests::fixtures::FixtureServer;
use persite_tests::launcher::LauncherHome;
use persite_tests::stream_trace::{Creds, traced_streams};
use persite_tests::test_daemon::system_tor_config;
use persite_tests::tornet::TorNetwork;
use persite_tests::trial;
use serde_json::{Value, json};

/// The two sites the launcher opens (the exits resolve every name to 127.0.0.1).
const SITES: [&str; 2] = ["launch-a.test", "launch-b.test"];
/// Bound on the browser's start (first run of a fresh profile) and both pages over tor.
const LOAD_WAIT: Duration = Duration::from_secs(120);
/// Bound on the whole trial.
const TRIAL_BOUND: Duration = Duration::from_secs(240);
/// Bound on the add-on showing its state in the second session.
const STATE_WAIT: Duration = Duration::from_secs(20);
/// Quiet time after the pages during which late stream events are still collected.
const EVENT_DRAIN: Duration = Duration::from_millis(1500);

/// Runs the trial; its summary line.
pub(crate) fn two_sites_two_circuits(
    network: &TorNetwork,
    binaries: &Binaries,
) -> anyhow::Result<String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(trial::within(TRIAL_BOUND, scenario(network, binaries)))
}

async fn scenario(network: &TorNetwork, binaries: &Binaries) -> anyhow::Result<String> {
    let client = network.client();
    let socks_port = client.socks_addr().port();
    let fixtures = FixtureServer::start().await?;
    let port = fixtures.addr().port();
    let config = system_tor_config(socks_port, &client.control_addr().to_string());
    let mut home = LauncherHome::new(Some(&config))?;
    home.pack_xpi()?;
    let mut watcher = client
        .control()
        .context("control probe for STREAM events")?;
    watcher.command("SETEVENTS STREAM")?;

    let urls: Vec<String> = SITES
        .iter()
        .map(|s| format!("http://{s}:{port}/"))
        .collect();
    let browser = firefox::firefox_binary()?;
    let browser = browser.to_string_lossy().into_owned();
    let log = home.home().join("launcher.log");
    let mark = fixtures.mark();
    let args: [&str; 7] = [
        "--browser",
        &browser,
        "--headless",
        "--url",
        &urls[0],
        "--url",
        &urls[1],
    ];
    home.spawn(&binaries.broker, &args, &log)?;
    let printed = || std::fs::read_to_string(&log).unwrap_or_default();

    let mut events = Vec::new();
    let started = Instant::now();
    loop {
        events.extend(watcher.collect_stream_events(Duration::from_millis(500), |_| false)?);
        let served: BTreeSet<String> = fixtures
            .requests_since(mark)
            .into_iter()
            .map(|r| r.host)
            .collect();
        if SITES.iter().all(|s| served.contains(*s)) {
            break;
        }
        ensure!(
            started.elapsed() < LOAD_WAIT,
            "within {LOAD_WAIT:?} the fixture server saw only {served:?}; persite browser \
             printed:\n{}",
            printed()
        );
    }
    loop {
        let batch = watcher.collect_stream_events(EVENT_DRAIN, |_| false)?;
        if batch.is_empty() || started.elapsed() > LOAD_WAIT {
            break;
        }
        events.extend(batch);
    }
    let load_secs = started.elapsed().as_secs_f64();

    // Tor's view: each site on credentials of its own, no circuit shared.
    let mut per_site: BTreeMap<&str, (BTreeSet<String>, BTreeSet<Option<Creds>>)> = BTreeMap::new();
    let streams = traced_streams(&events);
    for stream in &streams {
        let (Some(site), Some(circuit)) = (
            SITES.iter().find(|s| **s == stream.host),
            stream.circuit.as_ref(),
        ) else {
            continue;
        };
        let entry = per_site.entry(*site).or_default();
        entry.0.insert(circuit.clone());
        entry.1.insert(stream.creds.clone());
    }
    for site in SITES {
        let (_, creds) = per_site
            .get(site)
            .with_context(|| format!("tor saw no succeeded stream to {site}: {streams:#?}"))?;
        ensure!(
            !creds.contains(&None),
            "a stream to {site} carried no SOCKS credentials: the add-on did not answer for it \
             (is it installed and enabled?); streams: {streams:#?}"
        );
        ensure!(
            creds.len() == 1,
            "{site}'s streams carried {} sets of credentials: {creds:?}",
            creds.len()
        );
    }
    let (a_circuits, a_creds) = &per_site[SITES[0]];
    let (b_circuits, b_creds) = &per_site[SITES[1]];
    ensure!(
        a_circuits.is_disjoint(b_circuits),
        "the two sites shared a circuit: {a_circuits:?} and {b_circuits:?}"
    );
    ensure!(
        a_creds != b_creds,
        "the two sites carried the same credentials"
    );

    // The launcher's own words and the profile's default proxy name the tor in use.
    let endpoint = format!("127.0.0.1:{socks_port}");
    let text = printed();
    ensure!(
        text.contains("Persite:") && text.contains(&endpoint),
        "persite browser did not say what protects the browser (expected {endpoint}):\n{text}"
    );
    let user_js = std::fs::read_to_string(home.profile_dir().join("user.js"))?;
    ensure!(
        user_js.contains(&format!(
            "user_pref(\"network.proxy.socks_port\", {socks_port});"
        )),
        "the profile's user.js does not point the default proxy at port {socks_port}"
    );

    home.kill_all();
    let state = addon_state_in(&home).await?;
    Ok(format!(
        "pages in {load_secs:.1} s, circuits {a_circuits:?} and {b_circuits:?}; add-on {state}"
    ))
}

/// The add-on's state in a WebDriver session on the prepared profile.
async fn addon_state_in(home: &LauncherHome) -> anyhow::Result<Value> {
    let ff = Firefox::start(FirefoxConfig {
        profile: Some(home.profile_dir()),
        ..FirefoxConfig::default()
    })
    .await?;
    let outcome = wait_addon_state(&ff).await;
    ff.shutdown().await;
    outcome
}

/// Reads the add-on's state until it is running with its button placed (bounded), then checks it.
async fn wait_addon_state(ff: &Firefox) -> anyhow::Result<Value> {
    let started = Instant::now();
    let state = loop {
        let state = ff
            .chrome_execute(ADDON_STATE, vec![json!(binaries::EXTENSION_ID)])
            .await?;
        let settled = state["active"] == json!(true) && !state["area"].is_null();
        if settled || started.elapsed() > STATE_WAIT {
            break state;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    ensure!(
        state["active"] == json!(true),
        "the add-on is not running in the prepared profile: {state}"
    );
    ensure!(
        state["private"] == json!(true),
        "the add-on is not allowed in private windows: {state}"
    );
    ensure!(
        state["area"] == json!("nav-bar"),
        "the add-on's button is not on the toolbar: {state}"
    );
    Ok(state)
}

/// Chrome-context script: the add-on's policy and its button's placement.
const ADDON_STATE: &str = r#"
const id = arguments[0];
const policy = WebExtensionPolicy.getByID(id);
// ExtensionCommon's makeWidgetId: lower case, anything but [a-z0-9_-] as "_".
const widget = id.toLowerCase().replace(/[^a-z0-9_-]/g, "_") + "-browser-action";
let area = null;
try {
  const placement = window.CustomizableUI.getPlacementOfWidget(widget);
  area = placement ? placement.area : null;
} catch (e) {
  area = "error: " + e;
}
return {
  active: !!policy && policy.active,
  private: !!policy && policy.privateBrowsingAllowed,
  area,
  widget,
};
"#;
