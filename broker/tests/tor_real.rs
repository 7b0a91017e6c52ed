//! The control client against a real Debian `tor`, with the network disabled: every
//! authentication method, GETINFO/SETEVENTS/NEWNYM, a real STREAM event carrying escaped SOCKS
//! credentials, and reconnection after tor restarts. Fails (does not skip) if `tor` is missing.

mod local_tor;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use local_tor::Tor;
use tokio::sync::broadcast;
use torctl::Connection;
use torctl::{
    AuthMethod, ControlAddr, ControlConfig, ControlError, Event, EventKind, Notification,
    StreamStatus, TorControl,
};

const BOUND: Duration = Duration::from_secs(30);

fn hash_password(password: &str) -> String {
    let out = Command::new("tor")
        .args(["--quiet", "--hash-password", password])
        .output()
        .expect("cannot run `tor --hash-password`: install Debian's tor package");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find(|l| l.starts_with("16:"))
        .unwrap_or_else(|| panic!("no hash in tor --hash-password output: {out:?}"))
        .to_owned()
}

fn sink() -> broadcast::Sender<Notification> {
    broadcast::channel(64).0
}

fn only(method: AuthMethod, mut config: ControlConfig) -> ControlConfig {
    config.auth_methods = vec![method];
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safecookie_over_tcp_and_unix_socket_cookie_over_unix_only() {
    let tor = Tor::start(None);
    let unix = ControlConfig::new(ControlAddr::Unix(tor.socket()));
    // COOKIE sends the cookie's bytes: over TCP (a port anyone local could hold) it is refused.
    match Connection::open(&only(AuthMethod::Cookie, tor.tcp_config()), sink()).await {
        Err(ControlError::Auth(e)) => {
            assert!(e.to_string().contains("CookieAuthentication 1"), "{e}")
        }
        Err(e) => panic!("wrong error for COOKIE over TCP: {e}"),
        Ok(_) => panic!("COOKIE over TCP must be refused"),
    }
    for config in [
        only(AuthMethod::SafeCookie, tor.tcp_config()),
        only(AuthMethod::SafeCookie, unix.clone()),
        only(AuthMethod::Cookie, unix),
    ] {
        let conn = Connection::open(&config, sink())
            .await
            .unwrap_or_else(|e| panic!("{config:?}: {e}"));
        let info = conn.protocol_info();
        assert!(info.methods.contains(&AuthMethod::SafeCookie), "{info:?}");
        assert_eq!(info.cookie_file.as_deref(), Some(tor.cookie().as_path()));
        let version = conn.version().await.expect("GETINFO version");
        assert!(version.at_least([0, 4, 0, 0]), "{version:?}");
        let announced = info.tor_version.as_deref().expect("PROTOCOLINFO VERSION");
        assert!(
            version.raw.starts_with(announced),
            "{version:?} vs {announced}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn getinfo_setevents_newnym_and_a_real_stream_event() {
    let tor = Tor::start_loopback_only();
    let mut config = tor.tcp_config();
    config.events = vec![EventKind::Circ, EventKind::Stream];
    let (tx, mut rx) = broadcast::channel(64);
    let conn = Connection::open(&config, tx).await.expect("open");

    let listeners = conn.socks_listeners().await.expect("net/listeners/socks");
    assert_eq!(listeners, vec![format!("127.0.0.1:{}", tor.socks_port)]);
    let pairs = conn
        .getinfo(&["version", "status/bootstrap-phase", "circuit-status"])
        .await
        .expect("GETINFO three keys");
    assert_eq!(pairs.len(), 3);
    let phase = conn.bootstrap_phase().await.expect("bootstrap-phase");
    assert_eq!(phase.action, "BOOTSTRAP");
    assert!(phase.bootstrap_progress().is_some(), "{phase:?}");
    assert!(
        conn.circuit_status()
            .await
            .expect("circuit-status")
            .is_empty()
    );
    conn.set_events(&[
        EventKind::Circ,
        EventKind::Stream,
        EventKind::StreamBw,
        EventKind::CircBw,
        EventKind::StatusClient,
    ])
    .await
    .expect("SETEVENTS all five kinds");
    conn.newnym().await.expect("SIGNAL NEWNYM");
    // Rate-limited NEWNYM is still answered 250.
    conn.newnym().await.expect("second SIGNAL NEWNYM");

    // An unknown key is a clear refusal, and the connection stays usable.
    match conn.getinfo(&["no-such-key"]).await {
        Err(e) => assert!(e.to_string().contains("552"), "{e}"),
        Ok(v) => panic!("unexpected {v:?}"),
    }
    let conf = conn
        .getconf(&["UseBridges", "DisableNetwork"])
        .await
        .expect("GETCONF");
    assert_eq!(
        conf,
        vec![
            ("UseBridges".to_owned(), "1".to_owned()),
            ("DisableNetwork".to_owned(), "0".to_owned())
        ]
    );

    // Pipelining: many concurrent commands each get their own reply.
    let conn = std::sync::Arc::new(conn);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    conn.getinfo_one("version").await.map(|v| ("version", v))
                } else {
                    conn.getinfo_one("net/listeners/socks")
                        .await
                        .map(|v| ("socks", v))
                }
            })
        })
        .collect();
    for task in tasks {
        let (which, value) = task.await.expect("join").expect("pipelined GETINFO");
        match which {
            "version" => assert!(value.starts_with("0."), "{value}"),
            _ => assert!(value.contains(&tor.socks_port.to_string()), "{value}"),
        }
    }

    // A SOCKS client with non-ASCII, quote and backslash in its credentials: tor holds the
    // stream (network disabled) and reports it with escaped SOCKS_USERNAME/SOCKS_PASSWORD.
    let username = "sité\"a\\:0".as_bytes().to_vec();
    let password = b"0123456789abcdef".to_vec();
    let socks_port = tor.socks_port;
    let (u, p) = (username.clone(), password.clone());
    let socks = std::thread::spawn(move || socks5_connect(socks_port, &u, &p, "site-a.test", 80));
    let local_addr = socks.join().expect("socks thread");
    let deadline = tokio::time::Instant::now() + BOUND;
    let stream = loop {
        let note = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("a STREAM event within the bound")
            .expect("event channel open");
        if let Notification::Event(ev) = note
            && let Event::Stream(s) = &*ev
            && s.status == StreamStatus::New
            // tor's own directory streams (to the bridge) show up too; SOURCE_ADDR is the join key.
            && s.source_addr.as_deref() == Some(local_addr.as_str())
        {
            break s.clone();
        }
    };
    assert_eq!(stream.target.as_bytes(), b"site-a.test:80");
    assert_eq!(
        stream
            .socks_username
            .as_ref()
            .map(|s| s.as_bytes().to_vec()),
        Some(username)
    );
    assert_eq!(
        stream
            .socks_password
            .as_ref()
            .map(|s| s.as_bytes().to_vec()),
        Some(password)
    );
    assert_eq!(stream.client_protocol.as_deref(), Some("SOCKS5"));
    assert!(stream.nym_epoch.is_some(), "{stream:?}");
    assert!(
        !format!("{stream:?}").contains("site-a"),
        "Debug must redact targets"
    );
}

/// SOCKS5 with username/password, CONNECT to a hostname; returns our local `addr:port` once
/// tor has accepted the request (it then holds it, since the network is disabled).
fn socks5_connect(port: u16, user: &[u8], pass: &[u8], host: &str, dport: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect SOCKS");
    s.set_read_timeout(Some(BOUND)).expect("timeout");
    s.write_all(&[5, 1, 2]).expect("greeting");
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply).expect("method reply");
    assert_eq!(reply, [5, 2], "tor must pick username/password auth");
    let mut auth = vec![1, user.len() as u8];
    auth.extend_from_slice(user);
    auth.push(pass.len() as u8);
    auth.extend_from_slice(pass);
    s.write_all(&auth).expect("auth");
    s.read_exact(&mut reply).expect("auth reply");
    assert_eq!(reply, [1, 0], "auth accepted");
    let mut req = vec![5, 1, 0, 3, host.len() as u8];
    req.extend_from_slice(host.as_bytes());
    req.extend_from_slice(&dport.to_be_bytes());
    s.write_all(&req).expect("connect request");
    let local = s.local_addr().expect("local addr").to_string();
    // Keep the socket open in the background so the stream stays alive while we look.
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf);
    });
    local
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_password_right_and_wrong() {
    let hash = hash_password("correct horse \"battery\"");
    let tor = Tor::start(Some(&hash));
    let mut config = tor.tcp_config();
    config.password = Some(b"correct horse \"battery\"".to_vec());
    let conn = Connection::open(&config, sink())
        .await
        .expect("HASHEDPASSWORD");
    assert_eq!(
        conn.protocol_info().methods,
        vec![AuthMethod::HashedPassword]
    );
    conn.newnym().await.expect("NEWNYM after password auth");

    config.password = Some(b"wrong".to_vec());
    match Connection::open(&config, sink()).await {
        Err(ControlError::Auth(e)) => {
            let msg = e.to_string();
            assert!(
                msg.contains("HASHEDPASSWORD") && msg.contains("515"),
                "{msg}"
            );
        }
        other => panic!("wrong password must fail: {other:?}"),
    }
    config.password = None;
    match Connection::open(&config, sink()).await {
        Err(ControlError::Auth(e)) => assert!(e.to_string().contains("password"), "{e}"),
        other => panic!("missing password must fail clearly: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_cookie_is_named_in_the_error() {
    let tor = Tor::start(None);
    // PROTOCOLINFO still names the cookie file, but it is gone.
    std::fs::remove_file(tor.cookie()).expect("remove cookie");
    let err = Connection::open(&tor.tcp_config(), sink())
        .await
        .expect_err("no cookie, no auth");
    let msg = err.to_string();
    assert!(
        msg.contains("SAFECOOKIE") && msg.contains("control_auth_cookie"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_cookie_file_is_read_instead_of_the_one_tor_names() {
    let tor = Tor::start(None);
    // The cookie is shared under another path (as a volume of tor's container would be);
    // where tor says it is, there is nothing.
    let shared = tor.dir.path().join("shared-cookie");
    std::fs::rename(tor.cookie(), &shared).expect("move cookie");
    // COOKIE over the Unix socket only (over TCP it is refused, see above).
    let unix = ControlConfig::new(ControlAddr::Unix(tor.socket()));
    for (method, base) in [
        (AuthMethod::SafeCookie, tor.tcp_config()),
        (AuthMethod::Cookie, unix),
    ] {
        let mut config = only(method.clone(), base.clone());
        config.cookie_file = Some(shared.clone());
        let conn = Connection::open(&config, sink())
            .await
            .unwrap_or_else(|e| panic!("{method:?} with the shared cookie: {e}"));
        assert_eq!(
            conn.protocol_info().cookie_file.as_deref(),
            Some(shared.as_path()),
            "the cookie actually used is reported"
        );
        assert!(
            !conn
                .version()
                .await
                .expect("GETINFO version")
                .raw
                .is_empty()
        );
        let mut missing = only(method.clone(), base);
        missing.cookie_file = Some(tor.dir.path().join("no-such-cookie"));
        let err = Connection::open(&missing, sink())
            .await
            .expect_err("a missing configured cookie cannot authenticate");
        assert!(err.to_string().contains("no-such-cookie"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_reconnects_after_tor_restarts() {
    let mut tor = Tor::start(None);
    let mut config = ControlConfig::new(ControlAddr::Unix(tor.socket()));
    config.reconnect_min = Duration::from_millis(100);
    config.reconnect_max = Duration::from_secs(1);
    let control = TorControl::spawn(config);
    let mut notes = control.subscribe();
    control
        .wait_connected(BOUND)
        .await
        .expect("first connection");
    control.newnym().await.expect("NEWNYM before restart");

    tor.kill();
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let note = tokio::time::timeout_at(deadline, notes.recv())
            .await
            .expect("Disconnected within the bound")
            .expect("channel open");
        if let Notification::Disconnected { reason } = note {
            assert!(!reason.is_empty());
            break;
        }
    }
    match control.newnym().await {
        Err(ControlError::NotConnected(_)) => {}
        other => panic!("commands while tor is down must fail at once: {other:?}"),
    }

    // Same ports, same data directory, new cookie: the supervisor re-authenticates by itself.
    tor.spawn();
    loop {
        let note = tokio::time::timeout_at(deadline + BOUND, notes.recv())
            .await
            .expect("Connected again within the bound")
            .expect("channel open");
        if let Notification::Connected { tor_version } = note {
            assert!(tor_version.is_some());
            break;
        }
    }
    control.newnym().await.expect("NEWNYM after restart");
    let version = control.version().await.expect("version after restart");
    assert!(version.at_least([0, 4, 0, 0]));
    assert!(Path::new(&tor.cookie()).exists());
}
