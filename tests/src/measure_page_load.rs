//! Page-load measurements in real Firefox for issue 7.4 (what isolation costs): starting the
//! browsers being compared (static SOCKS proxy in prefs, the trivial-listener extension,
//! Persite), timing one navigation from the page's own Navigation Timing entry, closing idle
//! connections between loads, reading Persite's listener probe, the interleaving order and the
//! summaries. The bench `benches/page_load.rs` drives it.
//!
//! Timing comes from the page itself (`performance.getEntriesByType("navigation")`), not from
//! WebDriver round trips, so geckodriver's own latency is not part of a sample.

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::binaries::{self, Binaries};
use crate::firefox::{Firefox, FirefoxConfig, PAGE_TIMEOUT, PERSITE_EXTENSION_UUID};
use crate::measure::stats::percentile;

/// The add-on id of `fixtures/trivial-listener-extension`.
pub const TRIVIAL_LISTENER_ID: &str = "trivial-listener@persite.test";

/// Which kind of browser a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// No extension; a static SOCKS5 proxy in prefs (no credentials).
    StaticSocks,
    /// The trivial-listener extension: credentials per first party from a `Map`.
    TrivialListener,
    /// Persite: extension, real native host, real broker daemon.
    Persite,
}

/// Prefs every measured session gets on top of the harness's `base_prefs`.
///
/// The long idle timeout keeps the trivial listener's MV3 event page alive between phases, as
/// Persite's own page is kept alive by its native port: neither pays a wake-up in a sample.
pub fn measurement_prefs(parent_process_extensions: bool) -> serde_json::Map<String, Value> {
    let mut prefs = serde_json::Map::new();
    prefs.insert(
        "extensions.background.idle.timeout".into(),
        json!(3_600_000),
    );
    prefs.insert("privacy.reduceTimerPrecision".into(), json!(false));
    prefs.insert(
        "privacy.reduceTimerPrecision.unconditional".into(),
        json!(false),
    );
    if parent_process_extensions {
        prefs.insert("extensions.webextensions.remote".into(), json!(false));
    }
    prefs
}

/// One browser under measurement; dropping it stops Firefox (and Persite's daemon).
pub struct MeasuredBrowser {
    /// Short label used in tables (`A`, `A'`, `T`, `P`).
    pub label: String,
    /// What kind of browser this is.
    pub variant: Variant,
    /// The session.
    pub firefox: Firefox,
    // Dropped after `firefox`: the extension copy and Persite's runtime directory.
    _dirs: Vec<tempfile::TempDir>,
}

impl std::fmt::Debug for MeasuredBrowser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeasuredBrowser")
            .field("label", &self.label)
            .field("variant", &self.variant)
            .finish_non_exhaustive()
    }
}

/// Copy the trivial-listener fixture into a temporary directory with `config.js` naming the
/// SOCKS port.
pub fn prepare_trivial_listener(socks_port: u16) -> anyhow::Result<tempfile::TempDir> {
    binaries::test_extension("trivial-listener-extension", socks_port)
}

impl MeasuredBrowser {
    /// Start a session of `variant` proxying through the SOCKS server at `socks`.
    pub async fn start(
        label: &str,
        variant: Variant,
        socks: std::net::SocketAddr,
        binaries: Option<&Binaries>,
        prefs: serde_json::Map<String, Value>,
    ) -> anyhow::Result<Self> {
        let mut dirs = Vec::new();
        let firefox = match variant {
            Variant::StaticSocks => {
                Firefox::start(FirefoxConfig {
                    static_socks: Some(socks),
                    prefs,
                    ..FirefoxConfig::default()
                })
                .await?
            }
            Variant::TrivialListener => {
                let extension = prepare_trivial_listener(socks.port())?;
                let firefox = Firefox::start(FirefoxConfig {
                    prefs,
                    ..FirefoxConfig::default()
                })
                .await?;
                let id = firefox.install_addon(extension.path(), true).await?;
                anyhow::ensure!(
                    id == TRIVIAL_LISTENER_ID,
                    "trivial listener installed as {id}"
                );
                dirs.push(extension);
                firefox
            }
            Variant::Persite => {
                let binaries = binaries.context("Persite needs its binaries")?;
                let extension = binaries::extension_dir()?;
                let runtime_dir = tempfile::Builder::new()
                    .prefix("persite-rt-")
                    .tempdir_in("/tmp")?;
                let runtime = runtime_dir.path().to_string_lossy().into_owned();
                let firefox = Firefox::start(FirefoxConfig {
                    native_host: Some(binaries.native_host.clone()),
                    env: vec![
                        ("PERSITE_RUNTIME_DIR".into(), runtime),
                        (
                            "PERSITE_BROKER_BIN".into(),
                            binaries.broker.to_string_lossy().into_owned(),
                        ),
                    ],
                    home_files: vec![(
                        PathBuf::from(".config/persite/config.toml"),
                        format!("[socks]\nhost = \"127.0.0.1\"\nport = {}\n", socks.port()),
                    )],
                    prefs,
                    ..FirefoxConfig::default()
                })
                .await?;
                let id = firefox.install_addon(&extension, true).await?;
                anyhow::ensure!(id == binaries::EXTENSION_ID, "Persite installed as {id}");
                dirs.push(runtime_dir);
                firefox
            }
        };
        Ok(Self {
            label: label.to_owned(),
            variant,
            firefox,
            _dirs: dirs,
        })
    }

    /// Close every idle keep-alive connection (untimed, before a load), so each load opens its
    /// own SOCKS tunnels as a first visit does and no browser profits from the previous load.
    pub async fn close_idle_connections(&self) -> anyhow::Result<()> {
        self.firefox
            .chrome_execute(
                r#"Services.obs.notifyObservers(null, "net:prune-all-connections");
                   return true;"#,
                vec![],
            )
            .await?;
        Ok(())
    }

    /// Navigate to `url`, wait until the page's title is `done` (generated pages) or the load
    /// event passed (other pages), and return the navigation's timing.
    pub async fn timed_load(&self, url: &str, wait_done: bool) -> anyhow::Result<NavTiming> {
        if wait_done {
            self.firefox.load_fixture_page(url).await.with_context(|| {
                format!(
                    "{}: geckodriver log tail:\n{}",
                    self.label,
                    self.firefox.log_tail(15)
                )
            })?;
        } else {
            self.firefox.goto(url).await?;
        }
        let started = std::time::Instant::now();
        loop {
            let value = self
                .firefox
                .client()
                .execute(NAV_TIMING_SCRIPT, vec![])
                .await
                .context("reading Navigation Timing")?;
            if let Some(timing) = NavTiming::from_json(&value) {
                anyhow::ensure!(
                    timing.url == url,
                    "{}: Navigation Timing names {}, not {url}",
                    self.label,
                    timing.url
                );
                return Ok(timing);
            }
            anyhow::ensure!(
                started.elapsed() < PAGE_TIMEOUT,
                "{}: no complete Navigation Timing entry for {url} (last {value})",
                self.label
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Run `script` (may return a promise) with `b` bound to the extension API, in a tab
    /// showing Persite's options page, then close that tab and switch back.
    async fn in_persite_page(&self, script: &str) -> anyhow::Result<Value> {
        anyhow::ensure!(
            self.variant == Variant::Persite,
            "{} is not Persite",
            self.label
        );
        let client = self.firefox.client();
        let original = client.window().await?;
        self.firefox.open_tab().await?;
        let result = async {
            self.firefox
                .goto(&format!(
                    "moz-extension://{PERSITE_EXTENSION_UUID}/options/options.html"
                ))
                .await?;
            let wrapped = format!("const b = (window.wrappedJSObject || window).browser; {script}");
            client
                .execute(&wrapped, vec![])
                .await
                .context("running a script in Persite's options page")
        }
        .await;
        client.close_window().await?;
        client.switch_to_window(original).await?;
        result
    }

    /// In Persite's options page, `rounds` times each (alternating): `persite:perf-reset`
    /// (page ⇄ background only) and `persite:circuit` for the first tab showing a web page
    /// (page ⇄ background ⇄ native host ⇄ daemon: one broker `circuit` round trip more). Returns their durations in ms, in that order. Call
    /// it after reading the probe: it resets the probe's samples.
    pub async fn message_round_trips(&self, rounds: usize) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
        let script = format!(
            r#"return (async () => {{
                 const local = [], broker = [];
                 const tab = (await b.tabs.query({{}})).find((t) => /^http:/.test(t.url || ""));
                 if (!tab) {{ throw new Error("no tab shows a web page"); }}
                 for (let i = 0; i < {rounds}; i += 1) {{
                   const pair = [[{{ type: "persite:perf-reset" }}, local],
                                 [{{ type: "persite:circuit", tabId: tab.id }}, broker]];
                   if (i % 2 === 1) {{ pair.reverse(); }}
                   for (const [message, out] of pair) {{
                     const started = performance.now();
                     const answer = await b.runtime.sendMessage(message);
                     const ms = performance.now() - started;
                     if (!answer || answer.ok !== true) {{
                       throw new Error(message.type + " answered " + JSON.stringify(answer));
                     }}
                     out.push(ms);
                   }}
                 }}
                 return {{ local, broker }};
               }})();"#
        );
        let value = self.in_persite_page(&script).await?;
        let list = |key: &str| -> anyhow::Result<Vec<f64>> {
            value[key]
                .as_array()
                .with_context(|| format!("message round trips answered {value}"))?
                .iter()
                .map(|v| v.as_f64().context("not a number"))
                .collect()
        };
        Ok((list("local")?, list("broker")?))
    }

    /// Switch Persite's listener probe on (`storage.local` `perfProbe`) and forget old samples.
    pub async fn enable_perf_probe(&self) -> anyhow::Result<()> {
        let answer = self
            .in_persite_page(
                r#"return b.storage.local.set({ perfProbe: true })
                     .then(() => new Promise((r) => setTimeout(r, 200)))
                     .then(() => b.runtime.sendMessage({ type: "persite:perf-reset" }));"#,
            )
            .await?;
        anyhow::ensure!(
            answer["ok"] == json!(true) && answer["enabled"] == json!(true),
            "{}: the perf probe did not switch on: {answer}",
            self.label
        );
        Ok(())
    }

    /// Forget the probe's samples.
    pub async fn reset_perf_probe(&self) -> anyhow::Result<()> {
        let answer = self
            .in_persite_page(r#"return b.runtime.sendMessage({ type: "persite:perf-reset" });"#)
            .await?;
        anyhow::ensure!(answer["ok"] == json!(true), "perf reset answered {answer}");
        Ok(())
    }

    /// The probe's samples so far (`persite:perf`).
    pub async fn read_perf_probe(&self) -> anyhow::Result<ProbeReport> {
        let answer = self
            .in_persite_page(r#"return b.runtime.sendMessage({ type: "persite:perf" });"#)
            .await?;
        ProbeReport::from_json(&answer)
            .with_context(|| format!("{}: persite:perf answered {answer}", self.label))
    }
}

/// Times Firefox's proxy decision for one request per host in `arguments[0]`, in order, in the
/// parent process: `nsIProtocolProxyService.asyncResolve` on a fresh channel whose loading
/// document is `http://<host>/` runs every proxy filter, so an extension's `proxy.onRequest`
/// answers it (the IPC to the extension process included) exactly as for a subresource of
/// that site. Resolves to `[{ms, type, username}]`.
const PROXY_DECISION_SCRIPT: &str = r#"
const { NetUtil } = ChromeUtils.importESModule("resource://gre/modules/NetUtil.sys.mjs");
const pps = Cc["@mozilla.org/network/protocol-proxy-service;1"]
  .getService(Ci.nsIProtocolProxyService);
function resolveOne(host) {
  const uri = Services.io.newURI("http://" + host + "/img.gif");
  const principal = Services.scriptSecurityManager.createContentPrincipal(
    Services.io.newURI("http://" + host + "/"), {});
  const channel = NetUtil.newChannel({
    uri,
    loadingPrincipal: principal,
    securityFlags: Ci.nsILoadInfo.SEC_ALLOW_CROSS_ORIGIN_SEC_CONTEXT_IS_NULL,
    contentPolicyType: Ci.nsIContentPolicy.TYPE_IMAGE,
  });
  return new Promise((resolve) => {
    const started = performance.now();
    pps.asyncResolve(channel, 0, {
      onProxyAvailable(request, ch, info, status) {
        resolve({ ms: performance.now() - started, type: info ? info.type : "direct",
                  username: info ? info.username : "", status });
      },
    });
  });
}
return (async () => {
  const out = [];
  for (const host of arguments[0]) { out.push(await resolveOne(host)); }
  return out;
})();
"#;

/// One proxy decision timed by [`MeasuredBrowser::proxy_decisions`].
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyDecision {
    /// From `asyncResolve` to the callback, in ms (parent process clock).
    pub ms: f64,
    /// The proxy type answered (`socks`, `direct`, …).
    pub proxy_type: String,
    /// The SOCKS username answered (empty without one).
    pub username: String,
}

impl MeasuredBrowser {
    /// Time the proxy decision of one subresource request under each first party in `hosts`,
    /// one after another (see [`PROXY_DECISION_SCRIPT`]).
    pub async fn proxy_decisions(&self, hosts: &[String]) -> anyhow::Result<Vec<ProxyDecision>> {
        let value = self
            .firefox
            .chrome_execute(PROXY_DECISION_SCRIPT, vec![json!(hosts)])
            .await
            .context("timing proxy decisions in the parent process")?;
        let list = value
            .as_array()
            .with_context(|| format!("proxy decisions answered {value}"))?;
        anyhow::ensure!(
            list.len() == hosts.len(),
            "proxy decisions answered {value}"
        );
        list.iter()
            .map(|entry| {
                Ok(ProxyDecision {
                    ms: entry["ms"]
                        .as_f64()
                        .with_context(|| format!("no time in {entry}"))?,
                    proxy_type: entry["type"].as_str().unwrap_or_default().to_owned(),
                    username: entry["username"].as_str().unwrap_or_default().to_owned(),
                })
            })
            .collect()
    }
}

/// Reads the navigation entry once the load event has ended; `null` before.
const NAV_TIMING_SCRIPT: &str = r#"
const e = performance.getEntriesByType("navigation")[0];
if (!e || e.loadEventEnd <= 0) { return null; }
return { url: location.href, title: document.title, start: e.startTime,
         requestStart: e.requestStart, responseEnd: e.responseEnd, loadEventEnd: e.loadEventEnd };
"#;

/// One navigation's timing, in ms from the navigation's start.
#[derive(Debug, Clone, PartialEq)]
pub struct NavTiming {
    /// The document's URL.
    pub url: String,
    /// Start of the main document's HTTP request (after its proxy decision and tunnel).
    pub request_start_ms: f64,
    /// Main document fully received.
    pub response_end_ms: f64,
    /// Load event finished: every resource of the page loaded (`loadEventEnd - startTime`).
    pub load_ms: f64,
}

impl NavTiming {
    fn from_json(value: &Value) -> Option<Self> {
        let start = value["start"].as_f64()?;
        Some(Self {
            url: value["url"].as_str()?.to_owned(),
            request_start_ms: value["requestStart"].as_f64()? - start,
            response_end_ms: value["responseEnd"].as_f64()? - start,
            load_ms: value["loadEventEnd"].as_f64()? - start,
        })
    }
}

/// Summary of one kind of probe sample, in µs.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSummary {
    /// Samples kept.
    pub count: usize,
    /// Median.
    pub median_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Largest.
    pub max_us: f64,
}

impl ProbeSummary {
    fn from_samples_ms(samples_ms: &[f64]) -> Option<Self> {
        if samples_ms.is_empty() {
            return None;
        }
        let mut us: Vec<f64> = samples_ms.iter().map(|ms| ms * 1000.0).collect();
        us.sort_by(f64::total_cmp);
        Some(Self {
            count: us.len(),
            median_us: percentile(&us, 50.0),
            p90_us: percentile(&us, 90.0),
            p99_us: percentile(&us, 99.0),
            max_us: us[us.len() - 1],
        })
    }
}

/// What `persite:perf` answered, summarized here from its raw samples.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeReport {
    /// `performance.now()` looked rounded to 1 ms (the precision prefs are missing).
    pub timer_coarse: bool,
    /// Cache hits (synchronous credentials).
    pub hit: Option<ProbeSummary>,
    /// Misses: the synchronous part before the broker round trip.
    pub miss: Option<ProbeSummary>,
    /// Misses: from the listener call until its promise settled (the broker round trip as the
    /// extension sees it).
    pub miss_answered: Option<ProbeSummary>,
    /// Black-hole answers.
    pub black_hole_count: usize,
}

impl ProbeReport {
    /// Parse a `persite:perf` answer; `None` if it is not an enabled probe's report.
    pub fn from_json(value: &Value) -> Option<Self> {
        if value["ok"] != json!(true) || value["enabled"] != json!(true) {
            return None;
        }
        let samples = |kind: &str| -> Option<Vec<f64>> {
            value[kind]["samplesMs"]
                .as_array()?
                .iter()
                .map(Value::as_f64)
                .collect()
        };
        Some(Self {
            timer_coarse: value["timerCoarse"].as_bool().unwrap_or(false),
            hit: ProbeSummary::from_samples_ms(&samples("hit")?),
            miss: ProbeSummary::from_samples_ms(&samples("miss")?),
            miss_answered: ProbeSummary::from_samples_ms(&samples("missAnswered")?),
            black_hole_count: samples("blackHole")?.len(),
        })
    }
}

/// p10, median and p90 of a sample set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Number of samples.
    pub n: usize,
    /// 10th percentile.
    pub p10: f64,
    /// Median.
    pub median: f64,
    /// 90th percentile.
    pub p90: f64,
}

impl Spread {
    /// Summarize `values` (nearest-rank percentiles); `None` when empty.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Self {
            n: sorted.len(),
            p10: percentile(&sorted, 10.0),
            median: percentile(&sorted, 50.0),
            p90: percentile(&sorted, 90.0),
        })
    }
}

/// The order in which `n` browsers load in round `round`: a rotation that moves by one every
/// two rounds, played forwards on even rounds and backwards on odd ones (A B C, C B A, B C A,
/// A C B, …). Every browser takes every position equally often over `2n` rounds, and the one
/// that loads twice in a row (at a round boundary) changes, so neither a position nor the
/// previous browser's after-load work favours anyone; slow drift of the machine's load hits
/// every browser alike.
pub fn interleaved_order(n: usize, round: usize) -> Vec<usize> {
    let shift = (round / 2) % n.max(1);
    let forwards = (0..n).map(|i| (i + shift) % n);
    if round % 2 == 0 {
        forwards.collect()
    } else {
        forwards.rev().collect()
    }
}

/// Median of the per-round ratios `numerator[i] / denominator[i]` (paired loads of one round,
/// so a busy moment of the machine hits both sides of the ratio).
pub fn median_paired_ratio(numerator: &[f64], denominator: &[f64]) -> Option<f64> {
    let ratios: Vec<f64> = numerator
        .iter()
        .zip(denominator)
        .filter(|(_, d)| **d > 0.0)
        .map(|(n, d)| n / d)
        .collect();
    Spread::of(&ratios).map(|s| s.median)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_alternates_direction_and_rotates() {
        assert_eq!(interleaved_order(3, 0), vec![0, 1, 2]);
        assert_eq!(interleaved_order(3, 1), vec![2, 1, 0]);
        assert_eq!(interleaved_order(3, 2), vec![1, 2, 0]);
        assert_eq!(interleaved_order(3, 3), vec![0, 2, 1]);
        // Over 2n rounds every browser takes every position equally often.
        let n = 4;
        let mut seen = vec![vec![0; n]; n];
        for round in 0..2 * n {
            for (position, browser) in interleaved_order(n, round).into_iter().enumerate() {
                seen[browser][position] += 1;
            }
        }
        assert!(seen.iter().flatten().all(|count| *count == 2), "{seen:?}");
    }

    #[test]
    fn spread_uses_nearest_rank() {
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        let spread = Spread::of(&values).unwrap();
        assert_eq!((spread.p10, spread.median, spread.p90), (2.0, 10.0, 18.0));
        assert!(Spread::of(&[]).is_none());
    }

    #[test]
    fn paired_ratio_is_the_median_of_round_ratios() {
        let ratio = median_paired_ratio(&[110.0, 200.0, 330.0], &[100.0, 100.0, 300.0]).unwrap();
        assert!((ratio - 1.1).abs() < 1e-9);
    }

    #[test]
    fn probe_report_summarizes_raw_samples_in_microseconds() {
        let answer = json!({
            "ok": true, "enabled": true, "timerCoarse": false,
            "hit": {"samplesMs": [0.002, 0.004, 0.003]},
            "miss": {"samplesMs": []},
            "blackHole": {"samplesMs": [0.01]},
            "missAnswered": {"samplesMs": []},
        });
        let report = ProbeReport::from_json(&answer).unwrap();
        let hit = report.hit.unwrap();
        assert_eq!(hit.count, 3);
        assert!((hit.median_us - 3.0).abs() < 1e-9);
        assert!(report.miss.is_none());
        assert_eq!(report.black_hole_count, 1);
        assert!(ProbeReport::from_json(&json!({"ok": true, "enabled": false})).is_none());
    }

    #[test]
    fn navigation_timing_is_relative_to_the_navigation_start() {
        let timing = NavTiming::from_json(&json!({
            "url": "http://s.test/", "start": 0.0, "requestStart": 3.5,
            "responseEnd": 5.0, "loadEventEnd": 140.25,
        }))
        .unwrap();
        assert_eq!(timing.load_ms, 140.25);
        assert_eq!(timing.request_start_ms, 3.5);
        assert!(NavTiming::from_json(&Value::Null).is_none());
    }
}
