//! The control client against a hostile fake control port: malformed lines, truncated replies,
//! oversized replies, endless lines, silence, forged SAFECOOKIE hashes, odd cookie files,
//! unsolicited replies. Each must end in a clear, typed error within the configured bounds,
//! never a panic or a hang.
//!
//! Fakes that authenticate with NULL listen on a Unix socket (over TCP the client refuses NULL);
//! the TCP fakes check that a port anyone could bind never receives a secret.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio::sync::broadcast;
use torctl::Connection;
use torctl::{
    AuthError, ConnectionState, ControlAddr, ControlConfig, ControlError, Limits, LostReason,
    Notification, ParseError, TorControl,
};

/// Upper bound on any single test step; the client's own bounds are far below it.
const GUARD: Duration = Duration::from_secs(20);

const PROTOCOLINFO_NULL: &[u8] =
    b"250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250-VERSION Tor=\"0.4.9.11\"\r\n250 OK\r\n";

/// The server side of one fake connection.
struct Peer {
    reader: BufReader<Box<dyn AsyncRead + Unpin + Send>>,
    writer: Box<dyn AsyncWrite + Unpin + Send>,
    /// Every byte the client sent, for checking that no secret reached the fake.
    seen: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Peer {
    fn new(
        r: impl AsyncRead + Unpin + Send + 'static,
        w: impl AsyncWrite + Unpin + Send + 'static,
    ) -> Self {
        Peer {
            reader: BufReader::new(Box::new(r)),
            writer: Box::new(w),
            seen: Arc::default(),
        }
    }

    /// Reads one command line (empty string at EOF).
    async fn line(&mut self) -> String {
        let mut line = String::new();
        let _ = self.reader.read_line(&mut line).await;
        self.seen
            .lock()
            .expect("seen")
            .extend_from_slice(line.as_bytes());
        line.trim_end().to_owned()
    }

    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes).await
    }

    /// Plays a well-behaved tor up to and including NULL authentication.
    async fn null_auth(&mut self) {
        assert_eq!(self.line().await, "PROTOCOLINFO 1");
        self.send(PROTOCOLINFO_NULL).await.expect("send");
        assert_eq!(self.line().await, "AUTHENTICATE");
        self.send(b"250 OK\r\n").await.expect("send");
    }
}

/// Starts a one-connection fake control port on a Unix socket running `script`; returns the
/// client config (the socket's directory is removed when the script ends).
async fn fake<F, Fut>(script: F) -> ControlConfig
where
    F: FnOnce(Peer) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("control");
    let listener = UnixListener::bind(&path).expect("bind");
    tokio::spawn(async move {
        let _dir = dir;
        if let Ok((stream, _)) = listener.accept().await {
            let (r, w) = stream.into_split();
            script(Peer::new(r, w)).await;
        }
    });
    client_config(ControlAddr::Unix(path))
}

/// Like [`fake`] on a TCP port; returns the config and every byte the client sent.
async fn fake_tcp<F, Fut>(script: F) -> (ControlConfig, Arc<std::sync::Mutex<Vec<u8>>>)
where
    F: FnOnce(Peer) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::default();
    let seen2 = Arc::clone(&seen);
    tokio::spawn(async move {
        if let Ok((stream, _)) = listener.accept().await {
            let (r, w) = stream.into_split();
            let mut peer = Peer::new(r, w);
            peer.seen = seen2;
            script(peer).await;
        }
    });
    (client_config(ControlAddr::Tcp(addr.to_string())), seen)
}

fn client_config(addr: ControlAddr) -> ControlConfig {
    let mut config = ControlConfig::new(addr);
    config.events = Vec::new();
    config.connect_timeout = Duration::from_secs(2);
    config.auth_timeout = Duration::from_secs(2);
    config.reply_timeout = Duration::from_secs(1);
    config
}

fn sink() -> broadcast::Sender<Notification> {
    broadcast::channel(16).0
}

async fn open(config: &ControlConfig) -> Result<Connection, ControlError> {
    tokio::time::timeout(GUARD, Connection::open(config, sink()))
        .await
        .expect("client hung past every bound")
}

#[tokio::test]
async fn malformed_line_is_a_protocol_error() {
    let config = fake(|mut p| async move {
        p.line().await;
        let _ = p.send(b"hello, I am not tor\r\n").await;
        let _ = p.line().await;
    })
    .await;
    match open(&config).await {
        Err(ControlError::ConnectionLost(LostReason::Protocol(ParseError::MalformedLine))) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn mixed_status_codes_are_a_protocol_error() {
    let config = fake(|mut p| async move {
        p.line().await;
        let _ = p.send(b"250-PROTOCOLINFO 1\r\n550 OK\r\n").await;
        let _ = p.line().await;
    })
    .await;
    match open(&config).await {
        Err(ControlError::ConnectionLost(LostReason::Protocol(ParseError::MixedStatus {
            first: 250,
            found: 550,
        }))) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn truncated_reply_then_eof() {
    let config = fake(|mut p| async move {
        p.line().await;
        let _ = p.send(b"250-PROTOCOLINFO 1\r\n250-AUTH METH").await;
        // Dropping the peer closes the socket mid-reply.
    })
    .await;
    match open(&config).await {
        Err(ControlError::ConnectionLost(LostReason::EofMidReply)) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn immediate_eof() {
    // Over TCP: a Unix socket closed at once may fail the first write (EPIPE) instead.
    let (config, _) = fake_tcp(|_p| async move {}).await;
    match open(&config).await {
        Err(ControlError::ConnectionLost(LostReason::Eof)) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn oversized_reply_is_refused_without_buffering_it() {
    let mut config = fake(|mut p| async move {
        p.line().await;
        let _ = p.send(b"250+PROTOCOLINFO=\r\n").await;
        let chunk =
            b"0123456789012345678901234567890123456789012345678901234567890123\r\n".repeat(1024);
        // Up to 64 MiB; the client must stop reading long before.
        for _ in 0..1000 {
            if p.send(&chunk).await.is_err() {
                break;
            }
        }
    })
    .await;
    config.limits = Limits {
        max_message_len: 1024 * 1024,
        ..Limits::default()
    };
    match open(&config).await {
        Err(ControlError::ConnectionLost(LostReason::Protocol(ParseError::MessageTooLarge {
            limit,
        }))) => assert_eq!(limit, 1024 * 1024),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn too_many_lines_are_refused() {
    let mut config = fake(|mut p| async move {
        p.line().await;
        for _ in 0..10_000 {
            if p.send(b"250-x\r\n").await.is_err() {
                break;
            }
        }
    })
    .await;
    config.limits = Limits {
        max_lines: 100,
        ..Limits::default()
    };
    match open(&config).await {
        Err(ControlError::ConnectionLost(LostReason::Protocol(ParseError::TooManyLines {
            limit: 100,
        }))) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn never_ending_line_hits_the_line_limit() {
    let config = fake(|mut p| async move {
        p.line().await;
        let _ = p.send(b"250-").await;
        let junk = vec![b'A'; 16 * 1024];
        loop {
            if p.send(&junk).await.is_err() {
                break;
            }
        }
    })
    .await;
    match open(&config).await {
        Err(ControlError::ConnectionLost(LostReason::Protocol(ParseError::LineTooLong {
            limit,
        }))) => assert_eq!(limit, Limits::default().max_line_len),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn silence_during_authentication_times_out() {
    let config = fake(|mut p| async move {
        p.line().await;
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    match open(&config).await {
        // The reply bound (1 s) fires inside the authentication bound (2 s).
        Err(ControlError::Timeout { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn slow_drip_is_cut_off_by_the_auth_bound() {
    // Each line arrives within the reply bound, but authentication as a whole never ends.
    let mut config = fake(|mut p| async move {
        p.line().await;
        for _ in 0..100 {
            if p.send(b"250-still here\r\n").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    config.reply_timeout = Duration::from_secs(10);
    config.auth_timeout = Duration::from_millis(700);
    match open(&config).await {
        Err(ControlError::Timeout { what, after }) => {
            assert_eq!(after, Duration::from_millis(700));
            assert!(what.contains("authentication"), "{what}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn silence_after_auth_times_out_and_poisons_the_connection() {
    let config = fake(|mut p| async move {
        p.null_auth().await;
        p.line().await;
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    let conn = open(&config).await.expect("NULL auth");
    let started = tokio::time::Instant::now();
    match conn.getinfo_one("version").await {
        Err(ControlError::Timeout { after, .. }) => assert_eq!(after, Duration::from_secs(1)),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < GUARD);
    assert!(conn.is_closed());
    match conn.newnym().await {
        Err(ControlError::ConnectionLost(LostReason::ReplyTimeout(_))) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unsolicited_reply_closes_the_connection() {
    let config = fake(|mut p| async move {
        p.null_auth().await;
        let _ = p.send(b"250 OK\r\n").await;
        p.line().await;
    })
    .await;
    let conn = open(&config).await.expect("NULL auth");
    let reason = tokio::time::timeout(GUARD, conn.closed())
        .await
        .expect("closed");
    assert_eq!(reason, LostReason::UnsolicitedReply);
}

#[tokio::test]
async fn malformed_events_are_reported_and_the_connection_survives() {
    let config = fake(|mut p| async move {
        p.null_auth().await;
        let _ = p
            .send(b"650 CIRC\r\n650 STREAM 1 NEW 0 a:1 SOCKS_USERNAME=\"unterminated\r\n650 CIRC 5 BUILT $AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA~x\r\n")
            .await;
        assert_eq!(p.line().await, "GETINFO version");
        let _ = p.send(b"250-version=0.4.9.11\r\n250 OK\r\n").await;
        p.line().await;
    })
    .await;
    let (tx, mut rx) = broadcast::channel(16);
    let conn = tokio::time::timeout(GUARD, Connection::open(&config, tx))
        .await
        .expect("bounded")
        .expect("NULL auth");
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let note = tokio::time::timeout(GUARD, rx.recv())
            .await
            .expect("note")
            .expect("open");
        kinds.push(match note {
            Notification::MalformedEvent(e) => format!("malformed: {e}"),
            Notification::Event(_) => "event".to_owned(),
            other => format!("{other:?}"),
        });
    }
    assert!(
        kinds[0].starts_with("malformed") && kinds[0].contains("CIRC"),
        "{kinds:?}"
    );
    assert!(
        kinds[1].starts_with("malformed") && kinds[1].contains("STREAM"),
        "{kinds:?}"
    );
    assert!(
        !kinds[1].contains("unterminated"),
        "errors must not echo event contents"
    );
    assert_eq!(kinds[2], "event");
    assert_eq!(
        conn.version().await.expect("still usable").numbers,
        [0, 4, 9, 11]
    );
}

/// A 32-byte secret file (another tor's cookie, say) a fake port may name as its COOKIEFILE.
fn secret_file(dir: &tempfile::TempDir) -> (std::path::PathBuf, [u8; 32]) {
    let mut secret = [0u8; 32];
    for (i, b) in secret.iter_mut().enumerate() {
        *b = 0xA0 ^ (i as u8).wrapping_mul(37);
    }
    let path = dir.path().join("control_auth_cookie");
    std::fs::write(&path, secret).expect("secret");
    (path, secret)
}

/// Asserts that `seen` holds neither the secret's bytes nor their hex (either case).
fn assert_secret_not_sent(seen: &std::sync::Mutex<Vec<u8>>, secret: &[u8; 32]) {
    let seen = seen.lock().expect("seen").clone();
    let text = String::from_utf8_lossy(&seen).to_ascii_uppercase();
    assert!(
        !text.contains(&hex::encode_upper(secret)),
        "the fake port received the secret file's contents: {text}"
    );
    assert!(
        !seen.windows(secret.len()).any(|w| w == secret),
        "the fake port received the secret's raw bytes"
    );
}

/// A TCP fake offering `methods` with `COOKIEFILE` naming a secret file; it accepts any
/// AUTHENTICATE. Returns the link's result, what the fake received, and the secret.
async fn tcp_fake_naming_a_secret(
    methods: &str,
    password: Option<&[u8]>,
) -> (
    Result<Connection, ControlError>,
    Arc<std::sync::Mutex<Vec<u8>>>,
    [u8; 32],
) {
    let dir = tempfile::tempdir().expect("tmp");
    let (path, secret) = secret_file(&dir);
    let line = format!(
        "250-PROTOCOLINFO 1\r\n250-AUTH METHODS={methods} COOKIEFILE=\"{}\"\r\n250-VERSION Tor=\"0.4.9.11\"\r\n250 OK\r\n",
        path.display()
    );
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let (mut config, seen) = fake_tcp(move |mut p| async move {
        p.line().await;
        let _ = p.send(line.as_bytes()).await;
        loop {
            let l = p.line().await;
            if l.is_empty() {
                break;
            }
            if p.send(b"250 OK\r\n").await.is_err() {
                break;
            }
        }
        let _ = done_tx.send(());
    })
    .await;
    config.password = password.map(<[u8]>::to_vec);
    let result = open(&config).await;
    if result.is_err() {
        // The client hung up; wait for the fake to have read everything it was sent.
        let _ = tokio::time::timeout(GUARD, done_rx).await;
    }
    (result, seen, secret)
}

fn refusal_says_what_to_do(result: Result<Connection, ControlError>) {
    match result {
        Err(ControlError::Auth(e @ AuthError::NoUsableMethod { .. })) => {
            let msg = e.to_string();
            assert!(
                msg.contains("over TCP") && msg.contains("CookieAuthentication 1"),
                "{msg}"
            );
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("authenticated to a port that offered no SAFECOOKIE"),
    }
}

#[tokio::test]
async fn tcp_port_offering_only_cookie_never_gets_the_cookie_file() {
    let (result, seen, secret) = tcp_fake_naming_a_secret("COOKIE", None).await;
    assert_secret_not_sent(&seen, &secret);
    refusal_says_what_to_do(result);
}

#[tokio::test]
async fn tcp_port_offering_only_null_is_refused() {
    let (result, seen, secret) = tcp_fake_naming_a_secret("NULL", None).await;
    assert_secret_not_sent(&seen, &secret);
    refusal_says_what_to_do(result);
}

#[tokio::test]
async fn tcp_port_offering_password_cookie_and_null_without_a_configured_password() {
    let (result, seen, secret) = tcp_fake_naming_a_secret("HASHEDPASSWORD,COOKIE,NULL", None).await;
    assert_secret_not_sent(&seen, &secret);
    refusal_says_what_to_do(result);
}

#[tokio::test]
async fn tcp_configured_password_is_the_only_thing_sent() {
    let (result, seen, secret) =
        tcp_fake_naming_a_secret("HASHEDPASSWORD,COOKIE,NULL", Some(b"explicit")).await;
    assert_secret_not_sent(&seen, &secret);
    result.expect("an explicitly configured password is used");
    let seen = String::from_utf8_lossy(&seen.lock().expect("seen").clone()).into_owned();
    assert!(seen.contains("AUTHENTICATE \"explicit\""), "{seen}");
}

#[tokio::test]
async fn unix_socket_keeps_every_method() {
    // Over a Unix socket (its permissions decide who listens), COOKIE is still used.
    let dir = tempfile::tempdir().expect("tmp");
    let (path, secret) = secret_file(&dir);
    let line = format!(
        "250-PROTOCOLINFO 1\r\n250-AUTH METHODS=COOKIE COOKIEFILE=\"{}\"\r\n250 OK\r\n",
        path.display()
    );
    let (auth_tx, auth_rx) = tokio::sync::oneshot::channel();
    let config = fake(move |mut p| async move {
        p.line().await;
        let _ = p.send(line.as_bytes()).await;
        let _ = auth_tx.send(p.line().await);
        let _ = p.send(b"250 OK\r\n").await;
        p.line().await;
    })
    .await;
    let _conn = open(&config).await.expect("COOKIE over a Unix socket");
    let auth = auth_rx.await.expect("fake ran");
    assert_eq!(auth, format!("AUTHENTICATE {}", hex::encode_upper(secret)));
}

#[tokio::test]
async fn forged_safecookie_server_hash_is_rejected() {
    let dir = tempfile::tempdir().expect("tmp");
    let (cookie, secret) = secret_file(&dir);
    let cookie_line = format!(
        "250-PROTOCOLINFO 1\r\n250-AUTH METHODS=SAFECOOKIE,COOKIE,NULL COOKIEFILE=\"{}\"\r\n250 OK\r\n",
        cookie.display()
    );
    let (next_tx, next_rx) = tokio::sync::oneshot::channel();
    let (config, seen) = fake_tcp(move |mut p| async move {
        p.line().await;
        let _ = p.send(cookie_line.as_bytes()).await;
        let challenge = p.line().await;
        assert!(
            challenge.starts_with("AUTHCHALLENGE SAFECOOKIE "),
            "{challenge}"
        );
        let forged = format!(
            "250 AUTHCHALLENGE SERVERHASH={} SERVERNONCE={}\r\n",
            "AB".repeat(32),
            "CD".repeat(32)
        );
        let _ = p.send(forged.as_bytes()).await;
        let _ = next_tx.send(p.line().await);
    })
    .await;
    match open(&config).await {
        Err(ControlError::Auth(AuthError::ServerHashMismatch(path))) => assert_eq!(path, cookie),
        other => panic!("{other:?}"),
    }
    // Going on to AUTHENTICATE would hand a fake tor a usable response; the client hangs up.
    let next = tokio::time::timeout(GUARD, next_rx)
        .await
        .expect("bounded")
        .expect("fake ran");
    assert_eq!(next, "", "client sent {next:?} after a forged challenge");
    assert_secret_not_sent(&seen, &secret);
    let seen = String::from_utf8_lossy(&seen.lock().expect("seen").clone()).into_owned();
    assert!(
        !seen.contains("AUTHENTICATE"),
        "no AUTHENTICATE (client hash, cookie or NULL) may follow a forged challenge: {seen}"
    );
}

async fn cookie_file_error(path: &str) -> ControlError {
    let line = format!(
        "250-PROTOCOLINFO 1\r\n250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE=\"{path}\"\r\n250 OK\r\n"
    );
    let config = fake(move |mut p| async move {
        p.line().await;
        let _ = p.send(line.as_bytes()).await;
        p.line().await;
    })
    .await;
    open(&config).await.expect_err("bad cookie file must fail")
}

#[tokio::test]
async fn cookie_file_problems_are_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let short = dir.path().join("short");
    std::fs::write(&short, [1u8; 10]).expect("write");
    let msg = cookie_file_error(&short.display().to_string())
        .await
        .to_string();
    assert!(
        msg.contains("SAFECOOKIE") && msg.contains("10 bytes"),
        "{msg}"
    );
    // An endless file is read only up to 33 bytes.
    let msg = cookie_file_error("/dev/zero").await.to_string();
    assert!(msg.contains("33 bytes"), "{msg}");
    let msg = cookie_file_error("/nonexistent/cookie").await.to_string();
    assert!(
        msg.contains("cannot read cookie file /nonexistent/cookie"),
        "{msg}"
    );
}

#[tokio::test]
async fn refused_authentication_names_the_method() {
    let config = fake(|mut p| async move {
        p.line().await;
        let _ = p.send(PROTOCOLINFO_NULL).await;
        p.line().await;
        let _ = p.send(b"515 Authentication failed: nope\r\n").await;
    })
    .await;
    let err = open(&config).await.expect_err("refused");
    let msg = err.to_string();
    assert!(msg.contains("NULL") && msg.contains("515"), "{msg}");
}

#[tokio::test]
async fn supervisor_reports_an_unreachable_port_and_keeps_retrying() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let mut config = ControlConfig::new(ControlAddr::Tcp(addr.to_string()));
    config.reconnect_min = Duration::from_millis(50);
    config.reconnect_max = Duration::from_millis(200);
    let control = TorControl::spawn(config);
    let mut state = control.state();
    tokio::time::timeout(
        GUARD,
        state.wait_for(|s| matches!(s, ConnectionState::Disconnected { .. })),
    )
    .await
    .expect("state within bound")
    .expect("watch open");
    let ConnectionState::Disconnected { reason } = state.borrow().clone() else {
        panic!("not disconnected")
    };
    assert!(
        reason.contains("cannot connect") && reason.contains(&addr.to_string()),
        "{reason}"
    );
    match control.wait_connected(Duration::from_millis(300)).await {
        Err(ControlError::Timeout { .. }) => {}
        other => panic!("{other:?}"),
    }
    match control.newnym().await {
        Err(ControlError::NotConnected(why)) => assert!(!why.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn supervisor_survives_a_hostile_port_and_recovers_when_it_behaves() {
    // First connection: garbage. Second: a well-behaved NULL-auth tor that answers NEWNYM.
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("control");
    let listener = UnixListener::bind(&path).expect("bind");
    let served = Arc::new(tokio::sync::Notify::new());
    let served2 = served.clone();
    tokio::spawn(async move {
        let _dir = dir;
        let (s, _) = listener.accept().await.expect("accept 1");
        let mut s: UnixStream = s;
        let _ = s.write_all(b"\x00\x01garbage\r\n").await;
        drop(s);
        let (s, _) = listener.accept().await.expect("accept 2");
        let (r, w) = s.into_split();
        let mut p = Peer::new(r, w);
        p.null_auth().await;
        assert_eq!(p.line().await, "SETEVENTS CIRC STREAM");
        let _ = p.send(b"250 OK\r\n").await;
        assert_eq!(p.line().await, "SIGNAL NEWNYM");
        let _ = p.send(b"250 OK\r\n").await;
        served2.notify_one();
        p.line().await;
    });
    let mut config = ControlConfig::new(ControlAddr::Unix(path));
    config.reconnect_min = Duration::from_millis(50);
    let control = TorControl::spawn(config);
    control.wait_connected(GUARD).await.expect("recovered");
    control
        .newnym()
        .await
        .expect("NEWNYM on the good connection");
    tokio::time::timeout(GUARD, served.notified())
        .await
        .expect("fake saw NEWNYM");
}

#[tokio::test]
async fn abandoned_request_does_not_shift_later_replies() {
    let mut config = fake(|mut p| async move {
        p.null_auth().await;
        let mut n = 0;
        loop {
            let line = p.line().await;
            if line.is_empty() {
                break;
            }
            assert_eq!(line, "GETINFO version", "commands must arrive whole");
            n += 1;
            if n == 1 {
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            let reply = format!("250-version=0.4.9.{n}\r\n250 OK\r\n");
            if p.send(reply.as_bytes()).await.is_err() {
                break;
            }
        }
    })
    .await;
    config.reply_timeout = Duration::from_secs(5);
    let conn = open(&config).await.expect("NULL auth");
    // The caller gives up after the command went out but before its reply came.
    let abandoned =
        tokio::time::timeout(Duration::from_millis(100), conn.getinfo_one("version")).await;
    assert!(abandoned.is_err(), "first reply should still be delayed");
    // Its reply is discarded in order; the next caller gets its own.
    assert_eq!(conn.version().await.expect("second").numbers, [0, 4, 9, 2]);
    assert!(!conn.is_closed());
}
