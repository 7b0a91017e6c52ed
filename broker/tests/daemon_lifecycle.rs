//! The daemon's life cycle with the real binary: one instance per user, stale sockets,
//! permissions, SIGTERM, config errors.

mod daemon_support;

use std::os::unix::fs::PermissionsExt;

use daemon_support::{Client, Env, NO_TOR};
use serde_json::json;

async fn hello_instance(env: &Env) -> String {
    let mut c = Client::connect(&env.socket()).await;
    let reply = c
        .rpc(json!({"id": 1, "type": "hello", "protocol": 1}))
        .await;
    reply["result"]["instance"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_instance_exits_zero_and_the_first_keeps_serving() {
    let env = Env::new();
    let mut first = env.start();
    let before = hello_instance(&env).await;

    let mut second = env.spawn(&["serve"]);
    let status = second.wait_exit();
    assert!(
        status.success(),
        "second instance: {status}; {}",
        second.stderr()
    );
    let msg = second.stderr();
    assert!(msg.contains("already running"), "{msg}");
    assert!(msg.contains(&format!("pid {}", first.pid())), "{msg}");

    assert!(first.is_running());
    assert_eq!(hello_instance(&env).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_starts_leave_exactly_one_daemon() {
    let env = Env::new();
    let mut all: Vec<_> = (0..4).map(|_| env.spawn(&["serve", "--detach"])).collect();
    all[0].wait_ready(&env.socket());
    // Every loser exits 0 once it sees the winner answer; exactly one keeps running.
    let deadline = std::time::Instant::now() + daemon_support::WAIT;
    loop {
        let running = all
            .iter_mut()
            .map(|d| d.is_running())
            .filter(|r| *r)
            .count();
        if running == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{running} daemons still running"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for d in all.iter_mut() {
        if !d.is_running() {
            let status = d.wait_exit();
            assert!(status.success(), "{status}: {}", d.stderr());
        }
    }
    hello_instance(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_socket_is_replaced() {
    let env = Env::new();
    persite_native_messaging::runtime::ensure_private_dir(env.runtime_dir()).expect("dir");
    // A socket file nobody listens on, as a crashed daemon leaves behind.
    drop(std::os::unix::net::UnixListener::bind(env.socket()).expect("bind"));
    assert!(std::os::unix::net::UnixStream::connect(env.socket()).is_err());

    let _daemon = env.start();
    hello_instance(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_is_replaced_by_the_next_start() {
    let env = Env::new();
    let first = env.start();
    let before = hello_instance(&env).await;
    first.signal(rustix::process::Signal::KILL);
    drop(first);
    assert!(env.socket().exists(), "SIGKILL leaves the socket behind");
    let _second = env.start();
    assert_ne!(
        hello_instance(&env).await,
        before,
        "a new run has a new instance id"
    );
}

#[test]
fn socket_is_0600_and_runtime_dir_0700() {
    let env = Env::new();
    let _daemon = env.start();
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&env.socket()), 0o600);
    assert_eq!(mode(env.runtime_dir()), 0o700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sigint_stop_cleanly_and_remove_the_socket() {
    for signal in [rustix::process::Signal::TERM, rustix::process::Signal::INT] {
        let env = Env::new();
        let mut daemon = env.start();
        // An open event stream must not hold the shutdown up.
        let _events = daemon_support::Events::subscribe(&env.socket()).await;
        hello_instance(&env).await;
        daemon.signal(signal);
        let status = daemon.wait_exit();
        assert!(
            status.success(),
            "{signal:?}: {status}; {}",
            daemon.stderr()
        );
        assert!(!env.socket().exists(), "socket left after {signal:?}");
        // The lock is released: a new daemon starts at once.
        let _next = env.start();
    }
}

#[test]
fn bad_config_fails_with_a_message_naming_the_key() {
    let cases = [
        ("[socks]\nport = 70000\n", "socks.port"),
        ("[socks]\nhost = \"tor.example\"\n", "socks.host"),
        ("[socks]\nhots = \"127.0.0.1\"\n", "hots"),
        ("[tor]\ncontrol = 1\n", "control"),
        ("[tor]\nmode = \"sytem\"\n", "tor.mode"),
        ("[tor]\ncontrol = \"9051\"\n", "tor.control"),
    ];
    for (text, key) in cases {
        let env = Env::new();
        env.write_config(text);
        let mut daemon = env.spawn(&["serve"]);
        let status = daemon.wait_exit();
        let msg = daemon.stderr();
        assert!(!status.success(), "{text:?} was accepted");
        assert!(msg.contains(key), "{text:?}: {msg}");
        assert!(msg.contains("config.toml"), "{text:?}: {msg}");
        assert!(!env.socket().exists());
    }
    // --config naming a missing file is an error too (a typo must not silently mean defaults).
    let env = Env::new();
    let mut daemon = env.spawn(&["serve", "--config", "/nonexistent/persite.toml"]);
    assert!(!daemon.wait_exit().success());
    assert!(daemon.stderr().contains("/nonexistent/persite.toml"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_logs_carry_no_domain_names() {
    let env = Env::new();
    let mut daemon = env.spawn_logging(&["serve"], "info");
    daemon.wait_ready(&env.socket());
    let mut c = Client::connect(&env.socket()).await;
    c.rpc(json!({"id": 1, "type": "credentials", "url": "https://secret-site.example/"}))
        .await;
    c.rpc(json!({"id": 2, "type": "new_circuit", "site": "secret-site.example"}))
        .await;
    c.rpc(json!({"id": 3, "type": "credentials", "url": "bad url secret-site"}))
        .await;
    c.rpc(json!({"id": 4, "type": "new_identity"})).await;
    daemon.signal(rustix::process::Signal::TERM);
    daemon.wait_exit();
    let text = daemon.stderr();
    assert!(text.contains("listening"), "{text}");
    assert!(!text.contains("secret-site"), "{text}");
}

#[test]
fn status_command_reports_the_running_daemon() {
    let env = Env::new();
    let out = env.command(&["status"]).output().expect("run status");
    assert!(!out.status.success(), "status without a daemon must fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no persite daemon is running"), "{err}");

    env.write_config(&format!("[socks]\nport = 9150\n{NO_TOR}"));
    let _daemon = env.start();
    let out = env.command(&["status"]).output().expect("run status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("SOCKS endpoint for the browser: 127.0.0.1:9150"),
        "{text}"
    );
    let out = env
        .command(&["status", "--json"])
        .output()
        .expect("run status");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["socks"]["port"], 9150);
    assert_eq!(json["sites"], 0);
}
