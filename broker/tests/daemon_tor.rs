//! `persite serve` with a real Debian `tor` that needs no network (`DisableNetwork 1`): the
//! control link (status, version, NEWNYM rate limit, reconnect after tor restarts) and managed
//! tor (started, supervised, restarted after a kill, stopped with the daemon). Fails, never
//! skips, when `tor` is missing.

mod daemon_support;
mod local_tor;

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use daemon_support::{Client, Env, Events};
use local_tor::{Tor, free_port};
use serde_json::{Value, json};

/// Bound on every wait for tor or the daemon to change state.
const BOUND: Duration = Duration::from_secs(40);

/// Polls `GET /v1/status` until `ready(status.tor)` holds; fails after [`BOUND`].
async fn wait_tor(c: &mut Client, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + BOUND;
    loop {
        let (_, status) = c.call("GET", "/v1/status", b"").await;
        if ready(&status["tor"]) {
            return status["tor"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "tor status never became {what} within {BOUND:?}: {}",
            status["tor"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn connected(tor: &Value) -> bool {
    tor["control"] == "connected"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_tor_status_newnym_and_reconnect() {
    // A system-style tor whose only way out is a bridge on a closed loopback port: it opens
    // its SocksPort (which `DisableNetwork 1` would not) yet never leaves 127.0.0.1.
    let mut tor = Tor::start_loopback_only();
    let env = Env::new();
    env.write_config(&format!(
        "[socks]\nport = {}\n[tor]\nmode = \"system\"\ncontrol = \"unix:{}\"\n",
        tor.socks_port,
        tor.socket().display()
    ));
    let daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;
    let status = wait_tor(&mut c, "connected", connected).await;
    assert_eq!(status["managed"], false, "{status}");
    let version = status["version"].as_str().expect("version").to_owned();
    assert!(version.starts_with("0."), "{status}");
    let listeners = status["socks_listeners"].as_array().expect("listeners");
    assert!(
        listeners
            .iter()
            .any(|l| l == &json!(format!("127.0.0.1:{}", tor.socks_port))),
        "{status}"
    );
    // No way out: tor reports its (unfinished) bootstrap, so displays are unavailable.
    let progress = status["bootstrap"]["progress"].as_u64().expect("progress");
    assert!(progress < 100, "{status}");
    let circ = c
        .rpc(json!({"id": 1, "type": "circuit", "site": "example.com"}))
        .await;
    assert_eq!(circ["result"]["reason"], "not_bootstrapped", "{circ}");

    // Two new identities within 10 s: tor takes the first now and defers the second.
    let first = c.rpc(json!({"id": 2, "type": "new_identity"})).await;
    assert_eq!(first["result"]["newnym"], "sent", "{first}");
    let second = c.rpc(json!({"id": 3, "type": "new_identity"})).await;
    assert_eq!(second["result"]["newnym"], "delayed", "{second}");
    let delay = second["result"]["newnym_delay_s"].as_u64().expect("delay");
    assert!((1..=10).contains(&delay), "{second}");
    assert!(
        daemon.stderr().contains("NEWNYM sent"),
        "the daemon log lacks the NEWNYM: {}",
        daemon.stderr()
    );

    // tor restarts: the daemon notices, says so, and reconnects by itself.
    let mut events = Events::subscribe(&env.socket()).await;
    tor.kill();
    wait_tor(&mut c, "connecting", |t| t["control"] == "connecting").await;
    let down = events.next_matching(|p| p["type"] == "tor_status").await;
    assert_eq!(down["control"], "connecting", "{down}");
    tor.spawn();
    let back = wait_tor(&mut c, "connected again", connected).await;
    assert_eq!(back["version"], version.as_str(), "{back}");
    let up = events
        .next_matching(|p| p["type"] == "tor_status" && p["control"] == "connected")
        .await;
    assert_eq!(up["managed"], false, "{up}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_none_keeps_isolation_working() {
    let env = Env::new();
    env.write_config("[tor]\nmode = \"system\"\ncontrol = \"none\"\n");
    let _daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;
    let a = c
        .rpc(json!({"id": 1, "type": "credentials", "url": "https://example.com/"}))
        .await;
    let ni = c.rpc(json!({"id": 2, "type": "new_identity"})).await;
    assert_eq!(ni["result"]["newnym"], "unavailable", "{ni}");
    let b = c
        .rpc(json!({"id": 3, "type": "credentials", "url": "https://example.com/"}))
        .await;
    assert_ne!(a["result"]["password"], b["result"]["password"]);
    let (_, status) = c.call("GET", "/v1/status", b"").await;
    assert_eq!(status["tor"]["control"], "none", "{status}");
}

/// Pids of processes whose command line contains `fragment`.
fn pids_mentioning(fragment: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(fragment))
        })
        .collect()
}

/// Waits until exactly one process mentions `fragment` and returns its pid.
fn wait_one_process(fragment: &str, not: Option<u32>) -> u32 {
    let deadline = Instant::now() + BOUND;
    loop {
        let pids: Vec<u32> = pids_mentioning(fragment)
            .into_iter()
            .filter(|p| Some(*p) != not)
            .collect();
        if pids.len() == 1 {
            return pids[0];
        }
        assert!(
            Instant::now() < deadline,
            "expected one tor process for {fragment}, found {pids:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_gone(pid: u32) {
    let deadline = Instant::now() + BOUND;
    while Path::new(&format!("/proc/{pid}")).exists() {
        // A zombie has exited; its parent (the daemon, or init after it) reaps it.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.contains(") Z ") {
            return;
        }
        assert!(Instant::now() < deadline, "tor {pid} is still running");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_tor_is_started_restarted_and_stopped() {
    let env = Env::new();
    let data_dir = env.root().join("tor-data");
    let socks_port = free_port();
    env.write_config(&format!(
        "[socks]\nport = {socks_port}\n[tor]\nmode = \"managed\"\ndata_dir = \"{}\"\n\
         torrc_extra = [\"DisableNetwork 1\", \"AvoidDiskWrites 1\"]\n",
        data_dir.display()
    ));
    let mut daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;
    let status = wait_tor(&mut c, "connected to managed tor", connected).await;
    assert_eq!(status["managed"], true, "{status}");
    assert!(status["version"].is_string(), "{status}");
    // DisableNetwork 1 keeps tor from opening its SocksPort, so check where it would listen.
    assert!(status["socks_listeners"].is_array(), "{status}");
    // `persite status` reads the same state; with no way to bootstrap, --wait-bootstrap gives
    // up at its timeout and says so.
    let text = env.command(&["status"]).output().expect("persite status");
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(
        out.contains("Tor control: connected, tor 0.") && out.contains("managed by persite"),
        "{out}"
    );
    let wait = env
        .command(&["status", "--wait-bootstrap", "--timeout", "2"])
        .output()
        .expect("persite status --wait-bootstrap");
    assert!(!wait.status.success());
    let (out, err) = (
        String::from_utf8_lossy(&wait.stdout),
        String::from_utf8_lossy(&wait.stderr),
    );
    assert!(out.contains("tor bootstrap: 0%"), "{out}");
    assert!(
        err.contains("did not finish bootstrapping within 2s"),
        "{err}"
    );
    let torrc = env.runtime_dir().join("torrc");
    let text = std::fs::read_to_string(&torrc).expect("generated torrc");
    assert!(
        text.contains(&format!(
            "SocksPort 127.0.0.1:{socks_port} KeepAliveIsolateSOCKSAuth"
        )),
        "managed tor must listen where the browser is told to:\n{text}"
    );
    assert!(text.contains(&format!("__OwningControllerProcess {}", daemon.pid())));
    assert!(data_dir.is_dir(), "the DataDirectory was created");
    let fragment = torrc.display().to_string();
    let pid = wait_one_process(&fragment, None);
    // tor's notice log is copied into the daemon's log at debug level.
    let copied = |log: &str| {
        log.lines().any(|l| {
            l.contains("DEBUG") && l.contains("managed_tor::log") && l.contains("Bootstrapped 0%")
        })
    };
    let deadline = Instant::now() + BOUND;
    while !copied(&daemon.stderr()) {
        assert!(
            Instant::now() < deadline,
            "tor's log is missing from the daemon's:\n{}",
            daemon.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Killed behind the daemon's back: the supervisor starts a new one and reconnects.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).expect("pid"),
        rustix::process::Signal::KILL,
    )
    .expect("kill tor");
    wait_gone(pid);
    let restarted = wait_one_process(&fragment, Some(pid));
    assert_ne!(restarted, pid);
    let again = wait_tor(&mut c, "reconnected to the restarted tor", |t| {
        connected(t) && t["error"].is_null()
    })
    .await;
    assert_eq!(again["managed"], true, "{again}");

    // Stopping the daemon stops its tor: no orphan.
    daemon.signal(rustix::process::Signal::TERM);
    assert!(daemon.wait_exit().success(), "{}", daemon.stderr());
    wait_gone(restarted);
    assert!(
        pids_mentioning(&fragment).is_empty(),
        "managed tor outlived the daemon"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_tor_that_cannot_start_is_reported() {
    let env = Env::new();
    env.write_config(&format!(
        "[socks]\nport = {}\n[tor]\nmode = \"managed\"\ntor_binary = \"/nonexistent/tor\"\ndata_dir = \"{}\"\n",
        free_port(),
        env.root().join("tor-data").display()
    ));
    let _daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;
    let status = wait_tor(&mut c, "an error naming the binary", |t| {
        t["error"]
            .as_str()
            .is_some_and(|e| e.contains("/nonexistent/tor"))
    })
    .await;
    assert_eq!(status["managed"], true, "{status}");
    assert_eq!(status["control"], "connecting", "{status}");
    // Credentials keep flowing: isolation never depends on tor.
    let r = c
        .rpc(json!({"id": 1, "type": "credentials", "url": "https://example.com/"}))
        .await;
    assert!(r["result"]["username"].is_string(), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_mode_uses_what_listens_on_socks_else_starts_tor() {
    // Something listens on [socks]: auto means "system", so no tor is started.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy = listener.local_addr().expect("addr").port();
    let env = Env::new();
    env.write_config(&format!(
        "[socks]\nport = {busy}\n[tor]\ncontrol = \"none\"\n"
    ));
    let daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;
    let (_, status) = c.call("GET", "/v1/status", b"").await;
    assert_eq!(status["tor"]["managed"], false, "{status}");
    assert_eq!(status["tor"]["control"], "none", "{status}");
    assert!(!env.runtime_dir().join("torrc").exists());
    drop(daemon);
    drop(listener);

    // Nothing listens: auto starts a managed tor on that endpoint.
    let env = Env::new();
    let free = free_port();
    env.write_config(&format!(
        "[socks]\nport = {free}\n[tor]\ndata_dir = \"{}\"\ntorrc_extra = [\"DisableNetwork 1\"]\n",
        env.root().join("tor-data").display()
    ));
    let _daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;
    let status = wait_tor(&mut c, "connected to managed tor", connected).await;
    assert_eq!(status["managed"], true, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tor_orphaned_by_a_killed_daemon_is_replaced() {
    let env = Env::new();
    env.write_config(&format!(
        "[socks]\nport = {}\n[tor]\ndata_dir = \"{}\"\ntorrc_extra = [\"DisableNetwork 1\"]\n",
        free_port(),
        env.root().join("tor-data").display()
    ));
    let mut first = env.start();
    let mut c = Client::connect(&env.socket()).await;
    wait_tor(&mut c, "connected to managed tor", connected).await;
    let fragment = env.runtime_dir().join("torrc").display().to_string();
    let orphan = wait_one_process(&fragment, None);
    // SIGKILL: the daemon cannot stop its tor, which keeps the SocksPort for a while.
    first.signal(rustix::process::Signal::KILL);
    first.wait_exit();
    assert!(
        Path::new(&format!("/proc/{orphan}")).exists(),
        "tor should outlive a SIGKILLed daemon for a moment"
    );
    // The next daemon (auto mode) must not mistake it for a system tor: it stops it and
    // starts its own.
    let _second = env.start();
    let mut c = Client::connect(&env.socket()).await;
    let status = wait_tor(&mut c, "connected to a new managed tor", connected).await;
    assert_eq!(status["managed"], true, "{status}");
    wait_gone(orphan);
    let replacement = wait_one_process(&fragment, Some(orphan));
    assert_ne!(replacement, orphan);
}
