//! The SOCKS endpoint must be tor: `persite serve` in the default `auto` mode with a fake SOCKS
//! listener on `[socks]` (another local program got there first) and a fake control port whose
//! `GETINFO net/listeners/socks` names tor's real listener. The daemon must refuse credentials
//! (`socks_not_tor`), say why in `status`, and `persite doctor` must report it; when the control
//! port names the endpoint, credentials are served. Before the control link is up, credentials
//! are refused too (`socks_unverified`).

mod daemon_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use daemon_support::{Client, Env};
use serde_json::{Value, json};

/// Bound on every wait for the daemon to change state.
const BOUND: Duration = Duration::from_secs(20);

/// A fake tor control port on a Unix socket (NULL authentication, as tor offers on a socket
/// only its group can open) that answers the daemon's and doctor's questions; its SOCKS
/// listener list is `listeners`. Serves every connection on its own thread until the test ends.
fn fake_control(dir: &Path, listeners: &str) -> PathBuf {
    let path = dir.join("control.sock");
    let server = UnixListener::bind(&path).expect("bind the fake control socket");
    let listeners = listeners.to_owned();
    std::thread::spawn(move || {
        for stream in server.incoming().flatten() {
            let listeners = listeners.clone();
            std::thread::spawn(move || answer(stream, &listeners));
        }
    });
    path
}

fn answer(stream: UnixStream, listeners: &str) {
    let mut out = stream.try_clone().expect("clone");
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        let reply = match line.trim() {
            "PROTOCOLINFO 1" => "250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250-VERSION Tor=\"0.4.9.11\"\r\n250 OK\r\n".to_owned(),
            "GETINFO net/listeners/socks" => format!("250-net/listeners/socks={listeners}\r\n250 OK\r\n"),
            "GETINFO version" => "250-version=0.4.9.11\r\n250 OK\r\n".to_owned(),
            "GETINFO status/bootstrap-phase" => "250-status/bootstrap-phase=NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done\"\r\n250 OK\r\n".to_owned(),
            "GETINFO uptime" => "250-uptime=3600\r\n250 OK\r\n".to_owned(),
            "GETINFO circuit-status" => "250-circuit-status=\r\n250 OK\r\n".to_owned(),
            "GETCONF Bridge" => "250 Bridge\r\n".to_owned(),
            "GETCONF SocksPort" => "250 SocksPort=9050\r\n".to_owned(),
            _ => "250 OK\r\n".to_owned(),
        };
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// Something that is not tor, listening on a loopback port (accepts and forgets).
fn impostor() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    (l, port)
}

/// `auto` mode (the default) with `control`; the SOCKS front on `front` (`"none"`: off).
fn auto_config(socks: u16, control: &Path, front: &str) -> String {
    format!(
        "[socks]\nhost = \"127.0.0.1\"\nport = {socks}\n[tor]\ncontrol = \"unix:{}\"\n\
         [front]\nlisten = \"{front}\"\n",
        control.display()
    )
}

/// A SOCKS5 CONNECT to `example.com:80` through the front as context `git`; returns the reply
/// status byte.
async fn through_front(front: u16) -> u8 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", front))
        .await
        .expect("connect to the front");
    s.write_all(&[5, 1, 2]).await.expect("greeting");
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).await.expect("choice");
    assert_eq!(choice, [5, 2]);
    s.write_all(&[1, 3, b'g', b'i', b't', 1, b'x'])
        .await
        .expect("auth");
    let mut ack = [0u8; 2];
    s.read_exact(&mut ack).await.expect("ack");
    let mut req = vec![5, 1, 0, 3, 11];
    req.extend_from_slice(b"example.com");
    req.extend_from_slice(&[0, 80]);
    s.write_all(&req).await.expect("request");
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await.expect("reply");
    head[1]
}

/// How many connections wait on `listener` (without blocking).
fn pending(listener: &TcpListener) -> usize {
    listener.set_nonblocking(true).expect("nonblocking");
    std::iter::from_fn(|| listener.accept().ok()).count()
}

/// Polls `status` until the control link is up.
async fn wait_connected(c: &mut Client) -> Value {
    let deadline = Instant::now() + BOUND;
    loop {
        let (_, status) = c.call("GET", "/v1/status", b"").await;
        if status["tor"]["control"] == "connected" {
            return status;
        }
        assert!(Instant::now() < deadline, "never connected: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn credentials(c: &mut Client) -> Value {
    c.rpc(
        json!({"id": 1, "type": "credentials", "url": "https://example.com/",
                 "container": "firefox-default"}),
    )
    .await
}

fn doctor(env: &Env) -> (i32, Value) {
    let out = env
        .command(&["doctor", "--json"])
        .env("PERSITE_LOG", "warn")
        .output()
        .expect("run doctor");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

fn finding<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no finding {id}: {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_is_not_tors_listener_gets_no_credentials() {
    let (fake_socks, socks) = impostor();
    let tor_port = socks.wrapping_add(1).max(1024);
    let (front_listener, front) = impostor();
    drop(front_listener);
    let env = Env::new();
    let control = fake_control(env.root(), &format!("\"127.0.0.1:{tor_port}\""));
    env.write_config(&auto_config(socks, &control, &format!("127.0.0.1:{front}")));
    let daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;
    let status = wait_connected(&mut c).await;
    assert_eq!(
        status["tor"]["managed"], false,
        "auto mode took the impostor for a system tor"
    );

    let reply = credentials(&mut c).await;
    assert_eq!(
        reply["error"]["code"],
        "socks_not_tor",
        "{reply}\n{}",
        daemon.stderr()
    );
    let message = reply["error"]["message"].as_str().expect("message");
    assert!(message.contains(&format!("127.0.0.1:{socks}")), "{message}");
    assert!(
        message.contains(&format!("127.0.0.1:{tor_port}")),
        "{message}"
    );
    // Programs through `persite run` and the SOCKS front get nothing either.
    let app = c
        .rpc(json!({"id": 2, "type": "app_credentials", "app": "git"}))
        .await;
    assert_eq!(app["error"]["code"], "socks_not_tor", "{app}");
    // The SOCKS front refuses too, and never reaches the impostor (past the start-up probe).
    let probes = pending(&fake_socks);
    assert_eq!(through_front(front).await, 1, "the front did not refuse");
    assert_eq!(
        pending(&fake_socks),
        0,
        "the front connected to the impostor"
    );
    assert!(probes <= 1, "{probes} connections to the impostor at start");
    let (code, rest) = c
        .call(
            "POST",
            "/v1/credentials",
            br#"{"url": "https://example.com/", "container": "firefox-default"}"#,
        )
        .await;
    assert_eq!(code.as_u16(), 503, "{rest}");
    // `status` says why, for the popup and `persite status`.
    assert_eq!(status["tor"]["socks_vouched"], false, "{status}");
    assert!(
        status["tor"]["socks_problem"]
            .as_str()
            .is_some_and(|p| p.contains("not one of tor's SOCKS listeners")),
        "{status}"
    );

    let (code, report) = doctor(&env);
    assert_eq!(code, 1, "{report:#}");
    let listener = finding(&report, "tor.listener");
    assert_eq!(listener["status"], "error", "{listener}");
    let text = listener["message"].as_str().expect("message");
    assert!(
        text.contains("socks_not_tor") && text.contains("blocked"),
        "{text}"
    );
    drop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tors_own_listener_is_served() {
    let (_tor_socks, socks) = impostor();
    let env = Env::new();
    let control = fake_control(
        env.root(),
        &format!("\"127.0.0.1:{socks}\" \"[::1]:{socks}\""),
    );
    env.write_config(&auto_config(socks, &control, "none"));
    let daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;
    let status = wait_connected(&mut c).await;
    assert_eq!(status["tor"]["socks_vouched"], true, "{status}");
    assert_eq!(status["tor"]["socks_problem"], Value::Null, "{status}");
    let reply = credentials(&mut c).await;
    assert!(
        reply["result"]["username"].is_string(),
        "{reply}\n{}",
        daemon.stderr()
    );
    let (_, report) = doctor(&env);
    assert_eq!(
        finding(&report, "tor.listener")["status"],
        "ok",
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_served_before_a_configured_control_port_answers() {
    let (_socks_listener, socks) = impostor();
    let env = Env::new();
    // Configured, but nothing listens there (yet).
    let control = env.root().join("no-control.sock");
    env.write_config(&auto_config(socks, &control, "none"));
    let daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;
    let reply = credentials(&mut c).await;
    assert_eq!(
        reply["error"]["code"],
        "socks_unverified",
        "{reply}\n{}",
        daemon.stderr()
    );
    let (code, report) = doctor(&env);
    assert_eq!(code, 1, "{report:#}");
    let vouched = finding(&report, "tor.socks_vouched");
    assert_eq!(vouched["status"], "error", "{vouched}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_control_port_doctor_says_nothing_vouches() {
    let (_socks_listener, socks) = impostor();
    let env = Env::new();
    env.write_config(&format!(
        "[socks]\nport = {socks}\n[tor]\nmode = \"system\"\ncontrol = \"none\"\n\
         [front]\nlisten = \"none\"\n"
    ));
    let daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;
    // Served: nothing can vouch, and nothing can refute either (doctor says so).
    let reply = credentials(&mut c).await;
    assert!(
        reply["result"]["username"].is_string(),
        "{reply}\n{}",
        daemon.stderr()
    );
    let (_, report) = doctor(&env);
    let vouched = finding(&report, "tor.socks_vouched");
    assert_eq!(vouched["status"], "warning", "{vouched}");
    assert!(
        vouched["message"]
            .as_str()
            .is_some_and(|m| m.contains("nothing vouches")),
        "{vouched}"
    );
}
