//! Real-Firefox trials for defects found in use, each of which failed before its fix.
//!
//! One binary with a custom runner (`libtest-mimic`), like `e2e_firefox`: the fixture HTTP
//! server and two recording SOCKS5 servers start once; every trial runs its own Firefox.
//!
//! Run: `cargo test -p persite-tests --test e2e_defects` (filters work as usual).

use std::time::Duration;

use anyhow::{Context as _, ensure};
use persite_tests::binaries::Binaries;
use persite_tests::firefox::Firefox;
use persite_tests::fixtures::FixtureServer;
use persite_tests::persite_browser::{PersiteBrowser, Setup, new_runtime_dir};
use persite_tests::socks_recorder::SocksRecorder;
use persite_tests::test_daemon::{TestDaemon, system_tor_config};
use persite_tests::trial::{self, TrialRunner, trial};

/// Upper bound for one trial, Firefox start included.
const TRIAL_TIMEOUT: Duration = Duration::from_secs(180);
/// Upper bound for the whole binary (building the Persite binaries included).
const RUN_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// Servers shared by every trial: two recorders, both in front of the fixture server.
struct Harness {
    runner: TrialRunner,
    fixtures: FixtureServer,
    first: SocksRecorder,
    second: SocksRecorder,
}

impl Harness {
    fn start() -> anyhow::Result<Self> {
        let runner = TrialRunner::new("defects", TRIAL_TIMEOUT)?;
        let (fixtures, first, second) = runner.runtime().block_on(async {
            let fixtures = FixtureServer::start().await?;
            let first = SocksRecorder::start(fixtures.addr()).await?;
            let second = SocksRecorder::start(fixtures.addr()).await?;
            anyhow::Ok((fixtures, first, second))
        })?;
        Ok(Self {
            runner,
            fixtures,
            first,
            second,
        })
    }

    fn binaries(&self) -> anyhow::Result<Binaries> {
        self.runner.binaries()
    }
}

impl AsRef<TrialRunner> for Harness {
    fn as_ref(&self) -> &TrialRunner {
        &self.runner
    }
}

fn main() {
    // Whole-run bound: per-trial timeouts cannot interrupt a blocked thread.
    trial::spawn_run_watchdog("e2e_defects", RUN_TIMEOUT);
    trial::run_with_harness("defects harness", Harness::start, |harness| {
        vec![trial(
            harness,
            "defect_socks_endpoint_of_a_restarted_daemon_is_taken_at_once",
            true,
            |h| Box::pin(restarted_daemon_new_socks(h)),
        )]
    });
}

/// A port on 127.0.0.1 that nothing listens on (bound, then closed).
fn closed_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Loads `url` and checks that every HTTP request it made reached the fixture server through
/// `via` (joined on the tunnel's upstream source port, tunnel opened for the request's host).
/// Returns how many requests there were.
async fn load_via(
    h: &Harness,
    ff: &Firefox,
    url: &str,
    via: &SocksRecorder,
    via_name: &str,
) -> anyhow::Result<usize> {
    let http_mark = h.fixtures.mark();
    ff.load_fixture_page(url)
        .await
        .with_context(|| format!("geckodriver log tail:\n{}", ff.log_tail(15)))?;
    let requests = h.fixtures.requests_since(http_mark);
    ensure!(!requests.is_empty(), "{url}: no HTTP request was logged");
    for request in &requests {
        let tunnel = via
            .tunnel_for_upstream_port(request.client_port, request.at)
            .with_context(|| {
                format!(
                    "{url}: request {}{} from port {} did not travel through the {via_name} SOCKS endpoint",
                    request.host, request.path, request.client_port
                )
            })?;
        ensure!(
            tunnel.host.as_deref() == Some(request.host.as_str()),
            "{url}: request for {}{} travelled in a tunnel opened for {:?}",
            request.host,
            request.path,
            tunnel.host
        );
        ensure!(
            tunnel.credentials().is_some(),
            "{url}: request for {}{} travelled without credentials",
            request.host,
            request.path
        );
    }
    Ok(requests.len())
}

/// The daemon restarts with another `[socks]` endpoint while Firefox runs: from then on every
/// request goes to the new endpoint, for a site visited before the restart (its credentials
/// cached in the extension) as for a new one; none reaches the old endpoint, none goes direct
/// (a direct request would fail: the prefs proxy is a closed port and `.test` names do not
/// resolve).
async fn restarted_daemon_new_socks(h: &Harness) -> anyhow::Result<String> {
    let broker = h.binaries()?.broker;
    let runtime_dir = new_runtime_dir()?;
    let runtime = runtime_dir.path().to_path_buf();
    let first_config = system_tor_config(h.first.addr().port(), "none");
    let first_daemon =
        TestDaemon::start(&broker, &first_config, Some(&runtime)).map_err(anyhow::Error::msg)?;
    // A daemon the native host would start by itself (it should not: the test starts both)
    // would send everything to a closed port and fail the page loads.
    let browser = PersiteBrowser::start_in(
        &h.binaries()?,
        closed_port()?,
        runtime_dir,
        Setup::default(),
    )
    .await?;
    let ff = &browser.firefox;
    let before = load_via(h, ff, "http://site-a.test/", &h.first, "first").await?;

    drop(first_daemon);
    // Let the native host notice and tell the extension (`broker_disconnected`).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second_config = system_tor_config(h.second.addr().port(), "none");
    let second_daemon =
        TestDaemon::start(&broker, &second_config, Some(&runtime)).map_err(anyhow::Error::msg)?;
    let first_mark = h.first.mark();

    let visited = load_via(h, ff, "http://site-a.test/", &h.second, "second").await?;
    let fresh = load_via(h, ff, "http://site-c.test/", &h.second, "second").await?;
    let stale = h.first.connections_since(first_mark);
    ensure!(
        stale.is_empty(),
        "after the restart {} connection(s) still went to the old SOCKS endpoint: {:?}",
        stale.len(),
        stale
            .iter()
            .map(|c| format!("{:?}:{:?}", c.host, c.port))
            .collect::<Vec<_>>()
    );
    browser.firefox.shutdown().await;
    drop(second_daemon);
    Ok(format!(
        "{before} requests before the restart via the first endpoint; after it {visited} \
         (visited site) + {fresh} (new site) all via the second, none via the first"
    ))
}
