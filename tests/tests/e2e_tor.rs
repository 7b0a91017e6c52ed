//! Real Firefox with the Persite extension browsing through the private Tor network (issue 5.6 f).
//!
//! Custom runner (`harness = false`): one private Tor network for the binary
//! (`tornet::shared::run_with_network`, conflux off), trials in sequence, each with its own
//! Firefox session (extension + native host + `persite serve`, fresh profile and runtime dir).
//! The daemon's config points `[socks]` at the network client's SocksPort and `[tor]` at its
//! control port (`mode = "system"`, cookie auth found through `PROTOCOLINFO`). Firefox's prefs
//! proxy stays the harness's closed port, so a page loads only through the credentials the
//! extension hands to `proxy.onRequest`.
//!
//! Origin: the network's `LoopbackOrigin` answers every request with one line of text, so it
//! cannot serve a page with subresources. The pages come from the Firefox harness's
//! [`FixtureServer`] instead (HTTP on 127.0.0.1, page picked by `Host`); the exits reach any
//! 127.0.0.1 port and resolve every name to 127.0.0.1, so `site-a.test:<fixture port>` and
//! `cdn.test:<fixture port>` both land on it. The resource hosts carry the port
//! (`PageSpec { images: ["cdn.test:<port>"] }`), since the generated URLs have none.
//!
//! Assertions compare three independent views: tor's own (`STREAM` events and
//! `GETINFO circuit-status` read by the harness's `ControlProbe`), the daemon's (its REST socket),
//! and the popup's DOM (`#circuit-display`, `#circuit-hops > li.hop`).
//!
//! Trial d runs `persite browser --headless` itself, as a user would (its own profile, add-on,
//! daemon and the network's tor as the system tor); see the `launcher` module below.
//!
//! Run: `cargo test -p persite-tests --test e2e_tor`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use fantoccini::wd::WindowHandle;
use persite_tests::binaries::{self, Binaries};
use persite_tests::control_probe::{CircuitInfo, ControlProbe, StreamEvent};
use persite_tests::daemon_http;
use persite_tests::firefox::{Firefox, PAGE_TIMEOUT, PERSITE_EXTENSION_UUID};
use persite_tests::popup::{
    click, open_popup, show_popup_for, show_status_page, wait_for_script, wait_popup_ok,
    wait_popup_state, wait_status_checks,
};
use persite_tests::stream_trace::{Creds, TracedStream, traced_streams};
use persite_tests::tor_session::FirefoxOnTor;
use persite_tests::tornet::shared::{run_with_network, tor_trial};
use persite_tests::tornet::{TorNetwork, TorNetworkOptions};
use persite_tests::trial;
use serde_json::json;

/// Upper bound for one trial, Firefox start and browsing through tor included.
const TRIAL_TIMEOUT: Duration = Duration::from_secs(240);
/// Upper bound for the whole binary (network start and building the binaries included).
const RUN_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Bound on waiting for tor, the daemon or the popup to show something (circuit-status polls,
/// stream events, the daemon's control link, the popup's display).
const TOR_WAIT: Duration = Duration::from_secs(30);
/// Quiet time after a page load during which late stream events are still collected.
const EVENT_DRAIN: Duration = Duration::from_millis(1500);
/// The third party every page loads from.
const THIRD_PARTY: &str = "cdn.test";

#[path = "e2e_tor/launcher.rs"]
mod launcher;

fn main() -> ExitCode {
    // Whole-run bound: per-trial timeouts cannot interrupt a blocked thread. Tor exits by itself
    // (`__OwningControllerProcess`) once this process is gone.
    trial::spawn_run_watchdog("e2e_tor", RUN_TIMEOUT);
    run_with_network(TorNetworkOptions::default(), |shared| {
        vec![
            tor_trial(
                shared,
                "a_two_sites_use_two_circuits_with_the_daemons_credentials",
                |net| run_trial("a_two_sites_two_circuits", net, two_sites_two_circuits),
            ),
            tor_trial(
                shared,
                "e_persite_browser_opens_two_sites_on_two_circuits",
                |net| {
                    trial::run_scenario(
                        "e2e-tor",
                        "e_persite_browser",
                        || {
                            let binaries = binaries::ensure_built()?;
                            binaries::extension_dir()?;
                            Ok(binaries)
                        },
                        |binaries| launcher::two_sites_two_circuits(net, &binaries),
                    )
                },
            ),
            tor_trial(shared, "b_popup_shows_each_sites_relays", |net| {
                run_trial("b_popup_relays", net, popup_shows_each_sites_relays)
            }),
            tor_trial(
                shared,
                "c_popup_new_circuit_moves_the_site_and_updates_the_display",
                |net| run_trial("c_popup_new_circuit", net, popup_new_circuit),
            ),
            tor_trial(
                shared,
                "d_popup_says_protected_on_the_sites_own_circuit",
                |net| run_protected_trial("d_popup_protected", net, popup_protected),
            ),
            tor_trial(
                shared,
                "f_sites_page_lists_two_containers_and_new_circuit_moves_one_site",
                |net| run_trial("f_sites_page", net, sites_page),
            ),
        ]
    })
}

/// What a scenario returns: its summary line, borrowing the session.
type ScenarioFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<String>> + 'a>>;
/// A trial body run in a fresh [`Session`].
type Scenario = for<'a> fn(&'a Session<'a>) -> ScenarioFuture<'a>;

/// Builds the binaries (not timed), runs `scenario` in a fresh Persite session with a bound, and
/// prints `[e2e-tor] <label>: ok in <s> s: <summary>`.
fn run_trial(label: &str, network: &TorNetwork, scenario: Scenario) -> Result<(), String> {
    run_trial_with(label, network, scenario, false)
}

/// [`run_trial`] in a browser whose own proxy is tor's SOCKS port (no gap for the status to
/// report).
fn run_protected_trial(
    label: &str,
    network: &TorNetwork,
    scenario: Scenario,
) -> Result<(), String> {
    run_trial_with(label, network, scenario, true)
}

fn run_trial_with(
    label: &str,
    network: &TorNetwork,
    scenario: Scenario,
    default_proxy_is_tor: bool,
) -> Result<(), String> {
    trial::run_scenario(
        "e2e-tor",
        label,
        || {
            let binaries = binaries::ensure_built()?;
            binaries::extension_dir()?;
            Ok(binaries)
        },
        |binaries| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let session = Session::start(network, &binaries, default_proxy_is_tor).await?;
                let outcome = trial::within(TRIAL_TIMEOUT, scenario(&session))
                    .await
                    .with_context(|| session.tor.log_tail(20));
                session.tor.shutdown().await;
                outcome
            })
        },
    )
}

// ---------------------------------------------------------------------------------------------
// The session: Firefox + extension + native host + daemon, pages, tor's view
// ---------------------------------------------------------------------------------------------

/// One Persite Firefox session on the private network ([`FirefoxOnTor`]), with this suite's
/// checks.
struct Session<'n> {
    network: &'n TorNetwork,
    tor: FirefoxOnTor,
    /// The extension's browser-session secret (`extension/src/sessions.js`), so the daemon
    /// can be asked for what this browser gets.
    secret: String,
}

impl<'n> Session<'n> {
    async fn start(
        network: &'n TorNetwork,
        binaries: &Binaries,
        default_proxy_is_tor: bool,
    ) -> anyhow::Result<Self> {
        let extension = binaries::extension_dir()?;
        let tor = FirefoxOnTor::start_with(
            network.client(),
            binaries,
            &extension,
            "",
            TOR_WAIT,
            default_proxy_is_tor,
        )
        .await?;
        let secret =
            persite_tests::extension_state::wait_browser_secret(tor.ff(), Duration::from_secs(10))
                .await?;
        Ok(Self {
            network,
            tor,
            secret,
        })
    }

    /// The browser.
    fn ff(&self) -> &Firefox {
        self.tor.ff()
    }

    /// The credentials the daemon issues for `url` in the default container of this browser
    /// session.
    fn daemon_credentials(&self, url: &str) -> anyhow::Result<Creds> {
        let result = self
            .tor
            .rpc(json!({"id": 1, "type": "credentials", "url": url, "session": self.secret}))?;
        let (username, password) =
            daemon_http::credential_pair(&result).map_err(anyhow::Error::msg)?;
        Ok(Creds { username, password })
    }

    /// The streams of the load that just finished (see [`FirefoxOnTor::drain_streams`]).
    fn drain_streams(&self) -> anyhow::Result<Vec<StreamEvent>> {
        self.tor.drain_streams(EVENT_DRAIN, TOR_WAIT)
    }

    /// Waits until a stream to `host` succeeds with a password other than `old_password`;
    /// returns every stream event seen meanwhile.
    fn wait_stream_with_new_password(
        &self,
        host: &str,
        old_password: &str,
    ) -> anyhow::Result<Vec<StreamEvent>> {
        let mut watcher = self.tor.watcher();
        let host = host.to_owned();
        let events = watcher.collect_stream_events(TOR_WAIT, |events| {
            traced_streams(events).iter().any(|s| {
                s.host == host && s.creds.as_ref().is_some_and(|c| c.password != old_password)
            })
        })?;
        ensure!(
            traced_streams(&events).iter().any(|s| {
                s.host == host && s.creds.as_ref().is_some_and(|c| c.password != old_password)
            }),
            "no stream to {host} with new credentials within {TOR_WAIT:?}"
        );
        Ok(events)
    }

    /// Loads `site`'s page in the current tab and ties the streams it made to tor's circuits:
    /// every stream to the site and to the third party succeeded on one circuit that carries the
    /// credentials the daemon issued for the site.
    async fn browse(&self, site: &str) -> anyhow::Result<SiteVisit> {
        self.drain_streams()?; // Only this load's streams below.
        let http_mark = self.tor.fixtures.mark();
        let url = self.tor.page_url(site, THIRD_PARTY, 2);
        self.ff().load_fixture_page(&url).await?;
        let tab_id = self.ff().selected_extension_tab_id().await?;
        let events = self.drain_streams()?;
        let visit = self
            .attribute(site, &events)
            .map_err(|e| e.context(self.tor_view(site)))?;
        // The fixture server saw the page and its third-party requests (through the exits).
        let served: BTreeSet<String> = self
            .tor
            .fixtures
            .requests_since(http_mark)
            .into_iter()
            .map(|r| r.host)
            .collect();
        ensure!(
            served.contains(site) && served.contains(THIRD_PARTY),
            "{site}: the fixture server saw only {served:?}"
        );
        Ok(SiteVisit { tab_id, ..visit })
    }

    /// Tor's and the daemon's view of `site`, for a failure message.
    fn tor_view(&self, site: &str) -> String {
        let mut probe = self.watcher_probe().ok();
        let mut getinfo = |key: &str| {
            probe
                .as_mut()
                .map(|p| p.getinfo(key).unwrap_or_else(|e| e.to_string()))
                .unwrap_or_default()
        };
        let circuits = getinfo("circuit-status");
        let streams = getinfo("stream-status");
        let daemon = self
            .tor
            .rpc(json!({"id": 9, "type": "circuit", "url": format!("http://{site}/")}));
        format!(
            "circuit-status:\n{circuits}\nstream-status:\n{streams}\ndaemon's circuit for {site}: {daemon:?}"
        )
    }

    /// Checks `events` for `site`'s streams (see [`Self::browse`]); `tab_id` is left 0.
    fn attribute(&self, site: &str, events: &[StreamEvent]) -> anyhow::Result<SiteVisit> {
        let streams = traced_streams(events);
        let mine: Vec<&TracedStream> = streams
            .iter()
            .filter(|s| s.host == site || s.host == THIRD_PARTY)
            .collect();
        let hosts: BTreeSet<&str> = mine
            .iter()
            .filter(|s| s.circuit.is_some())
            .map(|s| s.host.as_str())
            .collect();
        ensure!(
            hosts.contains(site) && hosts.contains(THIRD_PARTY),
            "{site}: succeeded streams only to {hosts:?} (all streams: {streams:#?})"
        );
        let circuits: BTreeMap<&str, Vec<String>> =
            mine.iter().fold(BTreeMap::new(), |mut m, s| {
                if let Some(c) = &s.circuit {
                    m.entry(c.as_str())
                        .or_insert_with(Vec::new)
                        .push(format!("stream {} to {}", s.id, s.host));
                }
                m
            });
        ensure!(
            circuits.len() == 1,
            "{site}: its streams (third party included) used {} circuits: {circuits:#?}",
            circuits.len()
        );
        let circuit_id = circuits.keys().next().context("no circuit")?.to_string();
        let issued = self.daemon_credentials(&format!("http://{site}/"))?;
        for s in &mine {
            ensure!(
                s.creds.as_ref() == Some(&issued),
                "{site}: stream {} to {} carried {:?}, the daemon issued {issued:?} for the site",
                s.id,
                s.host,
                s.creds
            );
        }
        let circuit = tor_circuit(&mut self.watcher_probe()?, &circuit_id)?;
        ensure!(
            circuit.status == "BUILT" && circuit.path.len() == 3,
            "{site}: circuit {circuit_id} is {} with path {:?}",
            circuit.status,
            circuit.path
        );
        let on_circuit = Creds {
            username: circuit
                .fields
                .get("SOCKS_USERNAME")
                .cloned()
                .unwrap_or_default(),
            password: circuit
                .fields
                .get("SOCKS_PASSWORD")
                .cloned()
                .unwrap_or_default(),
        };
        ensure!(
            on_circuit == issued,
            "{site}: circuit {circuit_id} is isolated to {on_circuit:?}, the daemon issued {issued:?}"
        );
        Ok(SiteVisit {
            site: site.to_owned(),
            tab_id: 0,
            creds: issued,
            circuit_id,
            path: circuit.path,
            streams: mine.len(),
        })
    }

    /// A fresh control connection for one-off queries (the watcher keeps its event stream).
    fn watcher_probe(&self) -> anyhow::Result<ControlProbe> {
        Ok(self.network.client().control()?)
    }

    /// Reads the popup's circuit display until it is `shown` with guard, middle and exit rows
    /// whose fingerprints are `expected` (bounded by [`TOR_WAIT`]); returns the rows.
    async fn wait_popup_path(&self, site: &str, expected: &[String]) -> anyhow::Result<PopupView> {
        let started = Instant::now();
        loop {
            let view = self.read_popup().await?;
            if view.state == "shown" && same_path(&view.relays(), expected) {
                ensure!(
                    view.heading.contains(site),
                    "the popup shows the right relays under the heading {:?}",
                    view.heading
                );
                return Ok(view);
            }
            ensure!(
                started.elapsed() < TOR_WAIT,
                "the popup never showed {site}'s circuit {expected:?} within {TOR_WAIT:?}; last state {:?} \
                 (reason {:?}), heading {:?}, rows {:?}",
                view.state,
                view.reason,
                view.heading,
                view.rows
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn read_popup(&self) -> anyhow::Result<PopupView> {
        let value = self
            .ff()
            .client()
            .execute(
                r#"const d = document.getElementById('circuit-display');
                   const rows = Array.from(document.querySelectorAll('#circuit-hops > li.hop'))
                     .map(li => [li.dataset.role || '', li.dataset.fingerprint || '']);
                   return [d.dataset.state || '',
                           document.getElementById('circuit-heading').textContent,
                           document.getElementById('circuit-reason').textContent,
                           rows];"#,
                vec![],
            )
            .await?;
        let text = |i: usize| value[i].as_str().unwrap_or_default().to_owned();
        let rows = value[3]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| {
                        (
                            r[0].as_str().unwrap_or_default().to_owned(),
                            r[1].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(PopupView {
            state: text(0),
            heading: text(1),
            reason: text(2),
            rows,
        })
    }
}

/// One site's page load tied to tor's view.
#[derive(Debug, Clone)]
struct SiteVisit {
    site: String,
    tab_id: u64,
    creds: Creds,
    circuit_id: String,
    /// Fingerprints from `circuit-status`, guard first.
    path: Vec<String>,
    /// Streams to the site and its third party.
    streams: usize,
}

/// The popup's circuit display as read from the DOM.
#[derive(Debug, Clone)]
struct PopupView {
    state: String,
    heading: String,
    reason: String,
    /// `(data-role, data-fingerprint)` of every `li.hop`, in order.
    rows: Vec<(String, String)>,
}

impl PopupView {
    /// The relay rows' fingerprints, provided they are exactly guard, middle, exit in order.
    fn relays(&self) -> Vec<String> {
        let relays: Vec<&(String, String)> = self
            .rows
            .iter()
            .filter(|(role, _)| matches!(role.as_str(), "guard" | "middle" | "exit" | "bridge"))
            .collect();
        let roles: Vec<&str> = relays.iter().map(|(r, _)| r.as_str()).collect();
        if roles != ["guard", "middle", "exit"] {
            return Vec::new();
        }
        relays.iter().map(|(_, fp)| fp.clone()).collect()
    }
}

fn same_path(shown: &[String], tor: &[String]) -> bool {
    shown.len() == tor.len()
        && !shown.is_empty()
        && shown
            .iter()
            .zip(tor)
            .all(|(a, b)| a.len() == 40 && a.eq_ignore_ascii_case(b))
}

/// `circuit_id` in `GETINFO circuit-status`, polled until it is listed (bounded).
fn tor_circuit(probe: &mut ControlProbe, circuit_id: &str) -> anyhow::Result<CircuitInfo> {
    let started = Instant::now();
    loop {
        let all = probe.circuits()?;
        if let Some(c) = all.iter().find(|c| c.id == circuit_id) {
            return Ok(c.clone());
        }
        ensure!(
            started.elapsed() < TOR_WAIT,
            "circuit {circuit_id} is not in circuit-status: {all:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn short(fp: &[String]) -> String {
    fp.iter()
        .map(|f| f.chars().take(6).collect::<String>())
        .collect::<Vec<_>>()
        .join(",")
}

// ---------------------------------------------------------------------------------------------
// Trials
// ---------------------------------------------------------------------------------------------

/// Browses site-a then site-b in two tabs; both visits checked by [`Session::browse`].
async fn browse_two_sites(s: &Session<'_>) -> anyhow::Result<(SiteVisit, SiteVisit)> {
    let a = s.browse("site-a.test").await?;
    s.ff().open_tab().await?;
    let b = s.browse("site-b.test").await?;
    ensure!(a.creds != b.creds, "site-a and site-b share {:?}", a.creds);
    ensure!(
        a.circuit_id != b.circuit_id,
        "site-a and site-b share circuit {}",
        a.circuit_id
    );
    ensure!(a.tab_id != b.tab_id, "both pages report tab {}", a.tab_id);
    Ok((a, b))
}

fn two_sites_two_circuits<'a>(s: &'a Session<'a>) -> ScenarioFuture<'a> {
    Box::pin(async move {
        let (a, b) = browse_two_sites(s).await?;
        // The daemon's own circuit answer (what the popup will render) names the same circuits.
        for visit in [&a, &b] {
            let shown = s.tor.rpc(
                json!({"id": 2, "type": "circuit", "url": format!("http://{}/", visit.site)}),
            )?;
            let id = shown["circuits"][0]["id"].as_str().unwrap_or_default();
            ensure!(
                id == visit.circuit_id && shown["available"] == true,
                "{}: the daemon answers circuit {id:?}, tor carried the site on {}: {shown}",
                visit.site,
                visit.circuit_id
            );
        }
        Ok(format!(
            "site-a: {} streams (cdn.test included) on circuit {} [{}]; site-b: {} streams on circuit {} [{}]; \
             each circuit isolated to the daemon's credentials for its site, and the daemon's circuit answer names it",
            a.streams,
            a.circuit_id,
            short(&a.path),
            b.streams,
            b.circuit_id,
            short(&b.path)
        ))
    })
}

fn popup_shows_each_sites_relays<'a>(s: &'a Session<'a>) -> ScenarioFuture<'a> {
    Box::pin(async move {
        let (a, b) = browse_two_sites(s).await?;
        let popup = open_popup(s.ff(), a.tab_id).await?;
        let shown_a = s.wait_popup_path(&a.site, &a.path).await?;
        show_popup_for(s.ff(), b.tab_id).await?;
        let shown_b = s.wait_popup_path(&b.site, &b.path).await?;
        let shared = a.path.iter().filter(|fp| b.path.contains(fp)).count();
        let mut summary = format!(
            "popup for tab {} ({}) shows [{}] = circuit {}; for tab {} ({}) shows [{}] = circuit {}; \
             {shared} of 3 relays shared",
            a.tab_id,
            a.site,
            short(&shown_a.relays()),
            a.circuit_id,
            b.tab_id,
            b.site,
            short(&shown_b.relays()),
            b.circuit_id
        );
        if a.path == b.path {
            // Two circuits over the same three relays (2 middles, 3 exits, one guard): the check
            // above cannot tell them apart. Show one more site whose path differs, so the popup
            // is proven to follow the tab's own circuit and not site-a's.
            let mut distinct = None;
            for extra in ["site-c.test", "site-d.test", "site-e.test", "site-f.test"] {
                s.ff().open_tab().await?;
                let visit = s.browse(extra).await?;
                ensure!(
                    visit.circuit_id != a.circuit_id && visit.circuit_id != b.circuit_id,
                    "{extra} shares circuit {} with site-a or site-b",
                    visit.circuit_id
                );
                if visit.path != a.path {
                    distinct = Some(visit);
                    break;
                }
            }
            let c = distinct.context("four more sites all got site-a's exact relays")?;
            s.ff().client().switch_to_window(popup).await?;
            show_popup_for(s.ff(), c.tab_id).await?;
            let shown_c = s.wait_popup_path(&c.site, &c.path).await?;
            ensure!(
                shown_c.relays() != shown_a.relays(),
                "the popup showed site-a's relays for {}",
                c.site
            );
            summary.push_str(&format!(
                "; so also tab {} ({}) shows [{}] = circuit {}, unlike site-a",
                c.tab_id,
                c.site,
                short(&shown_c.relays()),
                c.circuit_id
            ));
        } else {
            ensure!(
                shown_a.relays() != shown_b.relays(),
                "the popup showed the same relays for site-a and site-b"
            );
        }
        Ok(summary)
    })
}

/// At most this many New circuit presses while looking for a path that differs from the first.
const NEW_CIRCUIT_ROUNDS: usize = 4;

fn popup_new_circuit<'a>(s: &'a Session<'a>) -> ScenarioFuture<'a> {
    Box::pin(async move {
        let (a, b) = browse_two_sites(s).await?;
        let popup = open_popup(s.ff(), a.tab_id).await?;
        s.wait_popup_path(&a.site, &a.path).await?;
        // Marks this document: the new path must arrive in it (push or re-ask), not by a reload.
        s.ff()
            .client()
            .execute(
                "window.persiteTestMark = 'before-new-circuit'; return true;",
                vec![],
            )
            .await?;
        let mut old_passwords = BTreeSet::from([a.creds.password.clone()]);
        let mut current = a.clone();
        let mut steps = Vec::new();
        // A new circuit may run over the same three relays (one guard, few middles and exits);
        // press again until the path differs, so the popup's update is visible in its rows.
        for _ in 0..NEW_CIRCUIT_ROUNDS {
            let next = new_circuit_round(s, &popup, &current, &old_passwords).await?;
            ensure!(
                next.circuit_id != current.circuit_id && next.circuit_id != b.circuit_id,
                "site-a's new streams went to circuit {} (before {}, site-b {})",
                next.circuit_id,
                current.circuit_id,
                b.circuit_id
            );
            steps.push(format!("{} [{}]", next.circuit_id, short(&next.path)));
            old_passwords.insert(next.creds.password.clone());
            current = next;
            if current.path != a.path {
                break;
            }
        }
        ensure!(
            current.path != a.path,
            "{NEW_CIRCUIT_ROUNDS} new circuits all ran over site-a's first relays"
        );
        let mark = s
            .ff()
            .client()
            .execute("return window.persiteTestMark || null;", vec![])
            .await?;
        ensure!(
            mark == json!("before-new-circuit"),
            "the popup document was replaced (mark {mark}); the update was not live"
        );
        // site-b is untouched: same credentials from the daemon.
        let b_now = s.daemon_credentials("http://site-b.test/")?;
        ensure!(
            b_now == b.creds,
            "site-b's credentials changed with site-a's New circuit"
        );
        Ok(format!(
            "site-a circuit {} [{}] → {} after {} press(es), same username, new password each time; \
             the open popup showed each new path without reloading; site-b keeps its credentials",
            a.circuit_id,
            short(&a.path),
            steps.join(" → "),
            steps.len()
        ))
    })
}

/// A browser with every check passing (private windows allowed, Firefox's own proxy tor's SOCKS
/// port, the daemon vouching for it, tor bootstrapped): after site-a loads on its circuit, the
/// popup says Protected and shows that circuit's relays, and the status page shows every check
/// done. The popup's screenshot is the README's.
fn popup_protected<'a>(s: &'a Session<'a>) -> ScenarioFuture<'a> {
    Box::pin(async move {
        let a = s.browse("site-a.test").await?;
        open_popup(s.ff(), a.tab_id).await?;
        let status = wait_popup_state(s.ff(), "protected", TOR_WAIT).await?;
        let shown = s.wait_popup_path(&a.site, &a.path).await?;
        let shot = persite_tests::screenshot::element(s.ff(), "body", "popup.png", true).await?;
        show_status_page(s.ff()).await?;
        let checks = wait_status_checks(
            s.ff(),
            &[
                ("native-host", "ok"),
                ("daemon", "ok"),
                ("tor", "ok"),
                ("socks", "ok"),
                ("private-windows", "ok"),
                ("default-proxy", "ok"),
                ("service-workers", "ok"),
            ],
            TOR_WAIT,
        )
        .await?;
        ensure!(
            checks.iter().all(|(_, state)| state == "ok"),
            "not every check is done: {checks:?}"
        );
        Ok(format!(
            "popup {:?} over circuit {} [{}]; status page: {} checks done; screenshot {}",
            status.headline,
            a.circuit_id,
            short(&shown.relays()),
            checks.len(),
            shot.display()
        ))
    })
}

/// Presses New circuit in the open popup (acting on `current`'s tab), follows site-a's reload
/// to its new circuit in tor, and waits for the popup to show that circuit's relays.
async fn new_circuit_round(
    s: &Session<'_>,
    popup: &WindowHandle,
    current: &SiteVisit,
    old_passwords: &BTreeSet<String>,
) -> anyhow::Result<SiteVisit> {
    s.drain_streams()?;
    // The previous round's success message must not count for this one.
    s.ff()
        .client()
        .execute(
            "document.getElementById('message').dataset.kind = ''; return true;",
            vec![],
        )
        .await?;
    click(s.ff(), "new-circuit").await?;
    wait_popup_ok(s.ff(), PAGE_TIMEOUT).await?;
    // The extension reloads site-a's tab by itself; its new streams carry new credentials.
    let mut events = s.wait_stream_with_new_password(&current.site, &current.creds.password)?;
    // Let the reload finish so the third party's streams are in too.
    events.extend(s.drain_streams()?);
    let next = s.attribute(&current.site, &only_new(&events, old_passwords))?;
    ensure!(
        next.creds.username == current.creds.username
            && !old_passwords.contains(&next.creds.password),
        "New circuit should give site-a a new password only: {:?} → {:?}",
        current.creds,
        next.creds
    );
    s.ff().client().switch_to_window(popup.clone()).await?;
    s.wait_popup_path(&current.site, &next.path).await?;
    // The feedback names the new path: the message's relays are tor's new circuit.
    let started = Instant::now();
    loop {
        let message = s
            .ff()
            .client()
            .execute(
                "const m = document.getElementById('message'); return [m.dataset.path || '', m.textContent];",
                vec![],
            )
            .await?;
        let named: Vec<String> = message[0]
            .as_str()
            .unwrap_or_default()
            .split(',')
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect();
        if same_path(&named, &next.path) {
            ensure!(
                message[1]
                    .as_str()
                    .is_some_and(|t| t.contains("now through")),
                "the New circuit message does not word the path: {message}"
            );
            break;
        }
        ensure!(
            started.elapsed() < TOR_WAIT,
            "the popup's message never named the new path {:?}: {message}",
            next.path
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(SiteVisit {
        tab_id: current.tab_id,
        ..next
    })
}

/// Events of streams that carried none of `old_passwords` (the reload after New circuit;
/// streams Firefox still had open on older credentials finish there and are left out).
fn only_new(events: &[StreamEvent], old_passwords: &BTreeSet<String>) -> Vec<StreamEvent> {
    let old: BTreeSet<String> = traced_streams(events)
        .into_iter()
        .filter(|s| {
            s.creds
                .as_ref()
                .is_some_and(|c| old_passwords.contains(&c.password))
        })
        .map(|s| s.id)
        .collect();
    events
        .iter()
        .filter(|e| !old.contains(&e.stream_id))
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The sites page (extension/sites/sites.html)
// ---------------------------------------------------------------------------------------------

/// One site loaded in a container tab, as tor carried it.
struct ContainerVisit {
    site: &'static str,
    container: String,
    tab: WindowHandle,
    creds: Creds,
    circuit_id: String,
    path: Vec<String>,
}

/// Loads `site`'s page in the tab `tab` (container `user_context`) and ties its streams to one
/// circuit carrying the daemon's credentials for the site in that container; streams that still
/// carried `old_password` (closing after New circuit) are left out.
async fn visit_in_container(
    s: &Session<'_>,
    tab: WindowHandle,
    user_context: u32,
    site: &'static str,
    old_password: Option<&str>,
) -> anyhow::Result<ContainerVisit> {
    s.ff().client().switch_to_window(tab.clone()).await?;
    s.drain_streams()?;
    s.ff()
        .load_fixture_page(&s.tor.page_url(site, THIRD_PARTY, 1))
        .await?;
    let events = s.drain_streams()?;
    let streams = traced_streams(&events);
    let circuits: BTreeSet<(&str, Option<&Creds>)> = streams
        .iter()
        .filter(|t| t.host == site)
        .filter(|t| {
            old_password.is_none() || t.creds.as_ref().map(|c| c.password.as_str()) != old_password
        })
        .filter_map(|t| t.circuit.as_deref().map(|c| (c, t.creds.as_ref())))
        .collect();
    ensure!(
        circuits.len() == 1,
        "{site} in container {user_context}: its streams used {circuits:?} (all: {streams:#?})"
    );
    let (circuit_id, creds) = circuits.into_iter().next().context("one circuit")?;
    let container = format!("firefox-container-{user_context}");
    let result = s.tor.rpc(
        json!({"id": 3, "type": "credentials", "url": format!("http://{site}/"),
        "container": container, "session": s.secret}),
    )?;
    let (username, password) = daemon_http::credential_pair(&result).map_err(anyhow::Error::msg)?;
    let issued = Creds { username, password };
    ensure!(
        creds == Some(&issued),
        "{site} in {container}: tor carried {creds:?}, the daemon issued {issued:?}"
    );
    let circuit = tor_circuit(&mut s.watcher_probe()?, circuit_id)?;
    Ok(ContainerVisit {
        site,
        container,
        tab,
        creds: issued,
        circuit_id: circuit_id.to_owned(),
        path: circuit.path,
    })
}

/// What the sites page shows in the row of `site` in `container`: `[state, circuit id,
/// fingerprints, where, bytes, age, policy]`, or `None` without such a row.
async fn sites_row(
    s: &Session<'_>,
    site: &str,
    container: &str,
) -> anyhow::Result<Option<Vec<String>>> {
    let value = s
        .ff()
        .client()
        .execute(
            r#"const [site, container] = arguments;
               const row = [...document.querySelectorAll('#sites-table tbody tr')]
                 .find((r) => r.dataset.site === site && r.dataset.container === container);
               if (!row) { return null; }
               const c = row.querySelector('.circuit');
               return [c.dataset.state, c.dataset.circuit, c.dataset.fingerprints,
                       row.querySelector('.where').textContent, row.querySelector('.bytes').textContent,
                       row.querySelector('.age').textContent,
                       row.querySelector('select.policy').selectedOptions[0].textContent];"#,
            vec![json!(site), json!(container)],
        )
        .await?;
    Ok(value.as_array().map(|a| {
        a.iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect()
    }))
}

/// Refreshes the sites page until `visit`'s row shows tor's circuit `circuit_id` with the path
/// `path` and the bytes it carried (bounded by [`TOR_WAIT`]); returns the row.
async fn wait_sites_row(
    s: &Session<'_>,
    visit: &ContainerVisit,
    circuit_id: &str,
    path: &[String],
) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    loop {
        click(s.ff(), "sites-refresh").await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let row = sites_row(s, visit.site, &visit.container).await?;
        if let Some(row) = &row {
            let shown: Vec<String> = row[2].split(',').map(str::to_owned).collect();
            if row[0] == "shown"
                && row[1] == circuit_id
                && same_path(&shown, path)
                && row[4].contains("received")
            {
                return Ok(row.clone());
            }
        }
        ensure!(
            started.elapsed() < TOR_WAIT,
            "the sites page never showed {} in {} on circuit {circuit_id} [{}]; its row: {row:?}",
            visit.site,
            visit.container,
            short(path)
        );
    }
}

/// The sites page lists site-a (container 1) and site-b (container 2) with the circuits tor
/// carried them on, and its New circuit for site-a moves site-a only.
fn sites_page<'a>(s: &'a Session<'a>) -> ScenarioFuture<'a> {
    Box::pin(async move {
        let tab_a = s.ff().open_container_tab(1).await?;
        let a = visit_in_container(s, tab_a, 1, "site-a.test", None).await?;
        let tab_b = s.ff().open_container_tab(2).await?;
        let b = visit_in_container(s, tab_b, 2, "site-b.test", None).await?;
        ensure!(
            a.circuit_id != b.circuit_id && a.creds != b.creds,
            "site-a and site-b share circuit {} / credentials",
            a.circuit_id
        );

        let sites_tab = s.ff().open_tab().await?;
        s.ff()
            .goto(&format!(
                "moz-extension://{PERSITE_EXTENSION_UUID}/sites/sites.html"
            ))
            .await?;
        wait_for_script(
            s.ff(),
            "return document.body.dataset.ready === 'true';",
            "the sites page to load",
            TOR_WAIT,
        )
        .await?;
        let row_a = wait_sites_row(s, &a, &a.circuit_id, &a.path).await?;
        let row_b = wait_sites_row(s, &b, &b.circuit_id, &b.path).await?;
        ensure!(
            row_a[3] == "Container 1" && row_b[3] == "Container 2",
            "the sites page names the containers {:?} and {:?}",
            row_a[3],
            row_b[3]
        );
        ensure!(
            row_a[6].starts_with("Default") && !row_a[5].is_empty(),
            "site-a's row: age {:?}, policy {:?}",
            row_a[5],
            row_a[6]
        );

        // New circuit in site-a's row; site-a's next load runs on a new circuit with new
        // credentials, site-b keeps its own.
        s.ff()
            .client()
            .execute(
                r#"document.getElementById('sites-status').dataset.kind = '';
                   document.querySelector('tr[data-site="site-a.test"][data-container="firefox-container-1"] .new-circuit').click();
                   return true;"#,
                vec![],
            )
            .await?;
        wait_for_script(
            s.ff(),
            "return document.getElementById('sites-status').dataset.kind === 'ok';",
            "the sites page to confirm New circuit",
            TOR_WAIT,
        )
        .await?;
        let a2 =
            visit_in_container(s, a.tab.clone(), 1, "site-a.test", Some(&a.creds.password)).await?;
        ensure!(
            a2.creds.password != a.creds.password && a2.circuit_id != a.circuit_id,
            "site-a kept circuit {} / its password after New circuit",
            a.circuit_id
        );
        // site-b keeps its credentials (a reload could reuse its open connection, so the
        // daemon is asked) and the page below still shows it on its circuit.
        let result = s.tor.rpc(
            json!({"id": 4, "type": "credentials", "url": "http://site-b.test/",
            "container": b.container, "session": s.secret}),
        )?;
        let (_, b_password) = daemon_http::credential_pair(&result).map_err(anyhow::Error::msg)?;
        ensure!(
            b_password == b.creds.password,
            "site-b got new credentials when site-a got a new circuit"
        );
        s.ff().client().switch_to_window(sites_tab).await?;
        let row_a2 = wait_sites_row(s, &a2, &a2.circuit_id, &a2.path).await?;
        let row_b2 = wait_sites_row(s, &b, &b.circuit_id, &b.path).await?;
        let written =
            persite_tests::screenshot::save_for_docs(s.ff(), "sites.png", 1100, 420).await?;
        Ok(format!(
            "sites page: site-a.test in Container 1 on circuit {} [{}], site-b.test in Container 2 on circuit {} [{}] \
             (= tor's); its New circuit moved site-a to circuit {} [{}] with a new password, site-b stayed on {}; \
             rows now {:?} / {:?}; screenshot {}",
            a.circuit_id,
            short(&a.path),
            b.circuit_id,
            short(&b.path),
            a2.circuit_id,
            short(&a2.path),
            b.circuit_id,
            row_a2[1],
            row_b2[1],
            written.map_or_else(
                || "taken (PERSITE_SCREENSHOTS unset: not written)".to_owned(),
                |p| format!("written to {}", p.display())
            )
        ))
    })
}
