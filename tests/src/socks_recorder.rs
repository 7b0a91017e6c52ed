//! A recording SOCKS5 server that stands in for Tor's SOCKS port in end-to-end tests.
//!
//! Every connection is logged as a [`SocksConnection`]: the authentication method, the RFC 1929
//! username and password exactly as sent, the address type (ATYP), the destination, and the
//! **local source port of the outgoing connection** to the fixture server. That port is the join
//! key with the fixture server's request log ([`crate::fixtures::HttpRecord::client_port`]), so
//! each HTTP request can be attributed to the credentials of the tunnel that carried it.
//!
//! Every destination (any name, any port) is connected to one upstream address, the local
//! fixture HTTP server: names such as `site-a.test` exist only inside this mapping, no DNS is
//! involved.
//!
//! Why the SOCKS5 wire handling is hand-written ([`wire`], sans-IO, unit-tested): a recorder must
//! keep the raw wire fields — the offered method list, the ATYP byte, the credential bytes even
//! when they are not UTF-8 — which the maintained crates abstract away; `fast-socks5` drives the
//! socket itself (not sans-IO) and `tor-socksproto` pulls arti's whole crypto stack
//! (`tor-llcrypto`) into every build of this crate on a shared 2-core machine. The subset needed
//! (greeting, RFC 1929 sub-negotiation, CONNECT request, reply) is about a hundred lines.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How long a client may take to finish the SOCKS handshake before the recorder gives up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting to the upstream (fixture) server may take.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Sans-IO SOCKS5 message parsing and encoding (RFC 1928 and RFC 1929).
pub mod wire {
    /// SOCKS protocol version 5.
    pub const VERSION: u8 = 0x05;
    /// Method "no authentication required".
    pub const METHOD_NO_AUTH: u8 = 0x00;
    /// Method "username/password" (RFC 1929).
    pub const METHOD_USER_PASS: u8 = 0x02;
    /// Method "no acceptable methods".
    pub const METHOD_NONE_ACCEPTABLE: u8 = 0xff;
    /// Command CONNECT.
    pub const CMD_CONNECT: u8 = 0x01;
    /// Address type IPv4.
    pub const ATYP_IPV4: u8 = 0x01;
    /// Address type domain name.
    pub const ATYP_DOMAIN: u8 = 0x03;
    /// Address type IPv6.
    pub const ATYP_IPV6: u8 = 0x04;
    /// Reply code: succeeded.
    pub const REP_SUCCEEDED: u8 = 0x00;
    /// Reply code: general failure.
    pub const REP_GENERAL_FAILURE: u8 = 0x01;
    /// Reply code: host unreachable.
    pub const REP_HOST_UNREACHABLE: u8 = 0x04;
    /// Reply code: command not supported.
    pub const REP_COMMAND_NOT_SUPPORTED: u8 = 0x07;
    /// Reply code: address type not supported.
    pub const REP_ATYP_NOT_SUPPORTED: u8 = 0x08;

    /// Outcome of trying to parse one message from the front of a buffer.
    #[derive(Debug, PartialEq, Eq)]
    pub enum Parsed<T> {
        /// More bytes are needed; nothing was consumed.
        Incomplete,
        /// A complete message and the number of bytes it used.
        Done(T, usize),
    }

    /// A malformed SOCKS5 message.
    #[derive(Debug, PartialEq, Eq)]
    pub struct WireError(pub String);

    impl std::fmt::Display for WireError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl std::error::Error for WireError {}

    /// The client's greeting: the authentication methods it offers.
    pub fn parse_greeting(buf: &[u8]) -> Result<Parsed<Vec<u8>>, WireError> {
        let [version, count, rest @ ..] = buf else {
            return Ok(Parsed::Incomplete);
        };
        if *version != VERSION {
            return Err(WireError(format!(
                "not SOCKS5: version byte {version:#04x}"
            )));
        }
        let count = usize::from(*count);
        if rest.len() < count {
            return Ok(Parsed::Incomplete);
        }
        Ok(Parsed::Done(rest[..count].to_vec(), 2 + count))
    }

    /// Which method the server picks: username/password when offered (as Tor does), else none.
    pub fn choose_method(offered: &[u8]) -> u8 {
        if offered.contains(&METHOD_USER_PASS) {
            METHOD_USER_PASS
        } else if offered.contains(&METHOD_NO_AUTH) {
            METHOD_NO_AUTH
        } else {
            METHOD_NONE_ACCEPTABLE
        }
    }

    /// Raw RFC 1929 username and password bytes.
    pub type UserPass = (Vec<u8>, Vec<u8>);

    /// The RFC 1929 sub-negotiation: raw username and password bytes.
    pub fn parse_user_pass(buf: &[u8]) -> Result<Parsed<UserPass>, WireError> {
        let [version, ulen, rest @ ..] = buf else {
            return Ok(Parsed::Incomplete);
        };
        if *version != 0x01 {
            return Err(WireError(format!(
                "bad RFC 1929 sub-negotiation version {version:#04x}"
            )));
        }
        let ulen = usize::from(*ulen);
        let Some((user, rest)) = rest.split_at_checked(ulen) else {
            return Ok(Parsed::Incomplete);
        };
        let [plen, rest @ ..] = rest else {
            return Ok(Parsed::Incomplete);
        };
        let plen = usize::from(*plen);
        if rest.len() < plen {
            return Ok(Parsed::Incomplete);
        }
        Ok(Parsed::Done(
            (user.to_vec(), rest[..plen].to_vec()),
            3 + ulen + plen,
        ))
    }

    /// A destination as written on the wire.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Destination {
        /// ATYP 1.
        Ipv4(std::net::Ipv4Addr),
        /// ATYP 3 (the bytes are kept lossily as text).
        Domain(String),
        /// ATYP 4.
        Ipv6(std::net::Ipv6Addr),
    }

    /// A SOCKS5 request (command, ATYP, destination, port).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Request {
        /// Command byte (1 = CONNECT).
        pub command: u8,
        /// Address type byte as sent.
        pub atyp: u8,
        /// Destination host.
        pub destination: Destination,
        /// Destination port.
        pub port: u16,
    }

    /// The client's request after authentication.
    pub fn parse_request(buf: &[u8]) -> Result<Parsed<Request>, WireError> {
        let [version, command, _reserved, atyp, rest @ ..] = buf else {
            return Ok(Parsed::Incomplete);
        };
        if *version != VERSION {
            return Err(WireError(format!(
                "request version byte {version:#04x}, expected 5"
            )));
        }
        let (destination, addr_len) = match *atyp {
            ATYP_IPV4 => {
                let Some(octets) = rest.first_chunk::<4>() else {
                    return Ok(Parsed::Incomplete);
                };
                (Destination::Ipv4((*octets).into()), 4)
            }
            ATYP_IPV6 => {
                let Some(octets) = rest.first_chunk::<16>() else {
                    return Ok(Parsed::Incomplete);
                };
                (Destination::Ipv6((*octets).into()), 16)
            }
            ATYP_DOMAIN => {
                let Some((&len, name)) = rest.split_first() else {
                    return Ok(Parsed::Incomplete);
                };
                let len = usize::from(len);
                if name.len() < len {
                    return Ok(Parsed::Incomplete);
                }
                (
                    Destination::Domain(String::from_utf8_lossy(&name[..len]).into_owned()),
                    1 + len,
                )
            }
            other => return Err(WireError(format!("unknown ATYP {other:#04x}"))),
        };
        let Some(port) = rest[addr_len..].first_chunk::<2>() else {
            return Ok(Parsed::Incomplete);
        };
        Ok(Parsed::Done(
            Request {
                command: *command,
                atyp: *atyp,
                destination,
                port: u16::from_be_bytes(*port),
            },
            4 + addr_len + 2,
        ))
    }

    /// A reply with the given code and a 0.0.0.0:0 bound address.
    pub fn reply(code: u8) -> [u8; 10] {
        [VERSION, code, 0, ATYP_IPV4, 0, 0, 0, 0, 0, 0]
    }
}

/// Credentials of one tunnel (RFC 1929 username and password, lossily decoded as UTF-8).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Credentials {
    /// The SOCKS username.
    pub username: String,
    /// The SOCKS password.
    pub password: String,
}

impl std::fmt::Display for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}:{:?}", self.username, self.password)
    }
}

/// How a connection authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Method 0: no authentication.
    NoAuth,
    /// Method 2 with these credentials.
    UserPass(Credentials),
    /// The handshake ended before an authentication method was agreed and completed.
    Incomplete,
}

/// One logged SOCKS connection.
#[derive(Debug, Clone)]
pub struct SocksConnection {
    /// Sequence number in the log (0-based, never reused).
    pub id: u64,
    /// When the connection was accepted.
    pub accepted_at: SystemTime,
    /// The SOCKS client's (Firefox's) source port.
    pub client_port: u16,
    /// Methods offered in the greeting.
    pub offered_methods: Vec<u8>,
    /// Authentication outcome.
    pub auth: Auth,
    /// ATYP byte of the request, if one arrived.
    pub atyp: Option<u8>,
    /// Destination host (name, or IP as text), if a request arrived.
    pub host: Option<String>,
    /// Destination port, if a request arrived.
    pub port: Option<u16>,
    /// Local source port of the outgoing connection to the fixture server (join key).
    pub upstream_port: Option<u16>,
    /// The client closed without sending a single byte: a TCP reachability probe (the broker
    /// daemon checks that the SOCKS port listens this way), not a SOCKS connection; it named no
    /// destination and carried no data.
    pub silent: bool,
    /// Why the connection failed, if it did.
    pub error: Option<String>,
}

impl SocksConnection {
    /// The credentials, if the connection used username/password authentication.
    pub fn credentials(&self) -> Option<&Credentials> {
        match &self.auth {
            Auth::UserPass(credentials) => Some(credentials),
            _ => None,
        }
    }
}

/// Latency added per tunnel, to mimic Tor's round trips.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Delay before the CONNECT reply is sent.
    pub connect: Duration,
}

/// A running recording SOCKS5 server; the accept loop stops on drop.
#[derive(Debug)]
pub struct SocksRecorder {
    addr: SocketAddr,
    state: Arc<State>,
    accept_task: JoinHandle<()>,
}

#[derive(Debug)]
struct State {
    upstream: SocketAddr,
    log: Mutex<Vec<SocksConnection>>,
    connect_delay_ms: AtomicU64,
    next_id: AtomicU64,
}

impl State {
    fn log(&self) -> MutexGuard<'_, Vec<SocksConnection>> {
        // A panic while holding the lock cannot leave a half-written record; keep going.
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl SocksRecorder {
    /// Listen on 127.0.0.1 (ephemeral port); every CONNECT goes to `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the SOCKS recorder")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            upstream,
            log: Mutex::new(Vec::new()),
            connect_delay_ms: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
        });
        let accept_state = Arc::clone(&state);
        let accept_task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&accept_state);
                tokio::spawn(async move { serve_connection(state, stream, peer).await });
            }
        });
        Ok(Self {
            addr,
            state,
            accept_task,
        })
    }

    /// The address Firefox (or an extension) must use as its SOCKS proxy.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Set the latency added to every new tunnel.
    pub fn set_latency(&self, latency: Latency) {
        let ms = u64::try_from(latency.connect.as_millis()).unwrap_or(u64::MAX);
        self.state.connect_delay_ms.store(ms, Ordering::Relaxed);
    }

    /// A copy of the whole log.
    pub fn connections(&self) -> Vec<SocksConnection> {
        self.state.log().clone()
    }

    /// A position in the log; pass it to [`Self::connections_since`].
    pub fn mark(&self) -> usize {
        self.state.log().len()
    }

    /// The connections logged after `mark`.
    pub fn connections_since(&self, mark: usize) -> Vec<SocksConnection> {
        self.state.log().get(mark..).unwrap_or_default().to_vec()
    }

    /// The connections (after `mark`) whose destination host is `host`.
    pub fn connections_to(&self, mark: usize, host: &str) -> Vec<SocksConnection> {
        self.connections_since(mark)
            .into_iter()
            .filter(|c| c.host.as_deref() == Some(host))
            .collect()
    }

    /// The tunnel that carried an upstream connection from `upstream_port`: the latest logged
    /// connection with that port accepted no later than `at` (ports are reused over time).
    pub fn tunnel_for_upstream_port(
        &self,
        upstream_port: u16,
        at: SystemTime,
    ) -> Option<SocksConnection> {
        self.state
            .log()
            .iter()
            .rev()
            .find(|c| c.upstream_port == Some(upstream_port) && c.accepted_at <= at)
            .cloned()
    }
}

impl Drop for SocksRecorder {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

/// Drive one client: handshake (bounded), log, then relay bytes to the upstream.
async fn serve_connection(state: Arc<State>, mut client: TcpStream, peer: SocketAddr) {
    let mut record = SocksConnection {
        id: state.next_id.fetch_add(1, Ordering::Relaxed),
        accepted_at: SystemTime::now(),
        client_port: peer.port(),
        offered_methods: Vec::new(),
        auth: Auth::Incomplete,
        atyp: None,
        host: None,
        port: None,
        upstream_port: None,
        silent: false,
        error: None,
    };
    let handshake = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake(&state, &mut client, &mut record),
    )
    .await;
    let upstream = match handshake {
        Ok(Ok(upstream)) => Some(upstream),
        Ok(Err(error)) => {
            record.error = Some(format!("{error:#}"));
            None
        }
        Err(_) => {
            record.error = Some("handshake timed out".to_owned());
            None
        }
    };
    let log_position = {
        let mut log = state.log();
        log.push(record);
        log.len() - 1
    };
    let Some(mut upstream) = upstream else {
        return;
    };
    let delay = Duration::from_millis(state.connect_delay_ms.load(Ordering::Relaxed));
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Err(error) = client.write_all(&wire::reply(wire::REP_SUCCEEDED)).await {
        state.log()[log_position].error = Some(format!("writing the CONNECT reply: {error}"));
        return;
    }
    // Errors after the tunnel is up are ordinary disconnects.
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// Read until `parse` yields a message; keep unparsed bytes in `buf`.
async fn read_message<T>(
    client: &mut TcpStream,
    buf: &mut Vec<u8>,
    parse: impl Fn(&[u8]) -> Result<wire::Parsed<T>, wire::WireError>,
) -> anyhow::Result<T> {
    loop {
        if let wire::Parsed::Done(message, used) = parse(buf)? {
            buf.drain(..used);
            return Ok(message);
        }
        let mut chunk = [0u8; 1024];
        let read = client.read(&mut chunk).await?;
        anyhow::ensure!(read > 0, "client closed the connection mid-handshake");
        buf.extend_from_slice(&chunk[..read]);
    }
}

/// The SOCKS5 handshake up to (not including) the success reply; fills `record` as it goes.
async fn handshake(
    state: &State,
    client: &mut TcpStream,
    record: &mut SocksConnection,
) -> anyhow::Result<TcpStream> {
    let mut first = [0u8; 1];
    if client.peek(&mut first).await? == 0 {
        record.silent = true;
        anyhow::bail!("closed before sending any byte");
    }
    let mut buf = Vec::new();
    record.offered_methods = read_message(client, &mut buf, wire::parse_greeting).await?;
    let method = wire::choose_method(&record.offered_methods);
    client.write_all(&[wire::VERSION, method]).await?;
    match method {
        wire::METHOD_USER_PASS => {
            let (user, pass) = read_message(client, &mut buf, wire::parse_user_pass).await?;
            record.auth = Auth::UserPass(Credentials {
                username: String::from_utf8_lossy(&user).into_owned(),
                password: String::from_utf8_lossy(&pass).into_owned(),
            });
            client.write_all(&[0x01, 0x00]).await?;
        }
        wire::METHOD_NO_AUTH => record.auth = Auth::NoAuth,
        _ => anyhow::bail!("no acceptable method in {:?}", record.offered_methods),
    }
    let request = read_message(client, &mut buf, wire::parse_request).await?;
    record.atyp = Some(request.atyp);
    record.host = Some(match &request.destination {
        wire::Destination::Domain(name) => name.clone(),
        wire::Destination::Ipv4(ip) => ip.to_string(),
        wire::Destination::Ipv6(ip) => ip.to_string(),
    });
    record.port = Some(request.port);
    if request.command != wire::CMD_CONNECT {
        client
            .write_all(&wire::reply(wire::REP_COMMAND_NOT_SUPPORTED))
            .await?;
        anyhow::bail!("unsupported SOCKS command {:#04x}", request.command);
    }
    anyhow::ensure!(
        buf.is_empty(),
        "client sent {} bytes before the CONNECT reply",
        buf.len()
    );
    let upstream =
        match tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, TcpStream::connect(state.upstream))
            .await
        {
            Ok(Ok(upstream)) => upstream,
            failed => {
                client
                    .write_all(&wire::reply(wire::REP_HOST_UNREACHABLE))
                    .await?;
                anyhow::bail!("connecting to the fixture server failed: {failed:?}");
            }
        };
    record.upstream_port = Some(upstream.local_addr()?.port());
    Ok(upstream)
}

#[cfg(test)]
mod recorder_tests {
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::{Auth, Credentials, Latency, SocksRecorder};
    use crate::fixtures::FixtureServer;

    /// Fetch `path` from `host` through the recorder with a real SOCKS5 client.
    async fn fetch(recorder: &SocksRecorder, host: &str, auth: Option<(&str, &str)>) -> String {
        let target = (host, 80);
        let mut stream = match auth {
            Some((user, pass)) => tokio_socks::tcp::Socks5Stream::connect_with_password(
                recorder.addr(),
                target,
                user,
                pass,
            )
            .await
            .expect("SOCKS connect with password"),
            None => tokio_socks::tcp::Socks5Stream::connect(recorder.addr(), target)
                .await
                .expect("SOCKS connect"),
        };
        let request = format!("GET /img.gif HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
            .await
            .expect("response within 10 s")
            .expect("read");
        String::from_utf8_lossy(&response).into_owned()
    }

    #[tokio::test]
    async fn logs_credentials_destination_and_the_join_key() {
        let fixtures = FixtureServer::start().await.expect("fixtures");
        let recorder = SocksRecorder::start(fixtures.addr())
            .await
            .expect("recorder");
        let response = fetch(&recorder, "site-a.test", Some(("user-a", "pass-a"))).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.contains("cache-control: no-store"), "{response}");
        fetch(&recorder, "cdn.test", None).await;

        let log = recorder.connections();
        assert_eq!(log.len(), 2, "{log:#?}");
        assert_eq!(
            log[0].auth,
            Auth::UserPass(Credentials {
                username: "user-a".into(),
                password: "pass-a".into()
            })
        );
        assert_eq!(log[0].atyp, Some(3));
        assert_eq!(
            (log[0].host.as_deref(), log[0].port),
            (Some("site-a.test"), Some(80))
        );
        assert_eq!(log[1].auth, Auth::NoAuth);
        assert_eq!(log[1].host.as_deref(), Some("cdn.test"));

        let requests = fixtures.requests();
        assert_eq!(requests.len(), 2, "{requests:#?}");
        for request in &requests {
            let tunnel = recorder
                .tunnel_for_upstream_port(request.client_port, request.at)
                .expect("every request joins a tunnel");
            assert_eq!(tunnel.host.as_deref(), Some(request.host.as_str()));
        }
    }

    #[tokio::test]
    async fn a_silent_probe_is_marked_as_such() {
        let fixtures = FixtureServer::start().await.expect("fixtures");
        let recorder = SocksRecorder::start(fixtures.addr())
            .await
            .expect("recorder");
        drop(
            tokio::net::TcpStream::connect(recorder.addr())
                .await
                .expect("connect"),
        );
        let mut half = tokio::net::TcpStream::connect(recorder.addr())
            .await
            .expect("connect");
        half.write_all(&[5, 1]).await.expect("write");
        drop(half);
        let started = Instant::now();
        while recorder.connections().len() < 2 {
            assert!(started.elapsed() < Duration::from_secs(5), "not logged");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut log = recorder.connections();
        log.sort_by_key(|c| c.silent);
        assert!(!log[0].silent && log[0].error.is_some(), "{:?}", log[0]);
        assert!(log[1].silent && log[1].error.is_some(), "{:?}", log[1]);
    }

    #[tokio::test]
    async fn connect_latency_delays_the_reply() {
        let fixtures = FixtureServer::start().await.expect("fixtures");
        let recorder = SocksRecorder::start(fixtures.addr())
            .await
            .expect("recorder");
        recorder.set_latency(Latency {
            connect: Duration::from_millis(300),
        });
        let started = Instant::now();
        fetch(&recorder, "site-a.test", Some(("u", "p"))).await;
        // The harness's own knob, not a performance claim: the reply waited at least that long.
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
}

#[cfg(test)]
mod tests {
    use super::wire::*;

    #[test]
    fn greeting_needs_all_method_bytes() {
        assert_eq!(parse_greeting(&[5, 2, 0]), Ok(Parsed::Incomplete));
        assert_eq!(
            parse_greeting(&[5, 2, 0, 2, 9]),
            Ok(Parsed::Done(vec![0, 2], 4))
        );
        assert!(parse_greeting(&[4, 1, 0]).is_err());
    }

    #[test]
    fn user_pass_is_preferred_like_tor() {
        assert_eq!(choose_method(&[0, 2]), METHOD_USER_PASS);
        assert_eq!(choose_method(&[0]), METHOD_NO_AUTH);
        assert_eq!(choose_method(&[1]), METHOD_NONE_ACCEPTABLE);
    }

    #[test]
    fn user_pass_keeps_raw_bytes_and_handles_truncation() {
        let msg = [1, 2, b'a', 0xff, 1, b'p'];
        for cut in 0..msg.len() {
            assert_eq!(
                parse_user_pass(&msg[..cut]),
                Ok(Parsed::Incomplete),
                "{cut}"
            );
        }
        assert_eq!(
            parse_user_pass(&msg),
            Ok(Parsed::Done((vec![b'a', 0xff], vec![b'p']), 6))
        );
        assert_eq!(
            parse_user_pass(&[1, 0, 0]),
            Ok(Parsed::Done((vec![], vec![]), 3))
        );
    }

    #[test]
    fn request_domain_ipv4_ipv6() {
        let mut domain = vec![5, 1, 0, ATYP_DOMAIN, 6];
        domain.extend_from_slice(b"cdn.te");
        domain.extend_from_slice(&80u16.to_be_bytes());
        for cut in 0..domain.len() {
            assert_eq!(
                parse_request(&domain[..cut]),
                Ok(Parsed::Incomplete),
                "{cut}"
            );
        }
        let Ok(Parsed::Done(request, used)) = parse_request(&domain) else {
            panic!("domain request did not parse");
        };
        assert_eq!(used, domain.len());
        assert_eq!(request.destination, Destination::Domain("cdn.te".into()));
        assert_eq!((request.atyp, request.port), (ATYP_DOMAIN, 80));

        let ipv4 = [5, 1, 0, ATYP_IPV4, 127, 0, 0, 1, 0x1f, 0x90];
        let Ok(Parsed::Done(request, 10)) = parse_request(&ipv4) else {
            panic!("ipv4 request did not parse");
        };
        assert_eq!(request.port, 8080);
        assert_eq!(
            request.destination,
            Destination::Ipv4([127, 0, 0, 1].into())
        );

        let mut ipv6 = vec![5, 1, 0, ATYP_IPV6];
        ipv6.extend_from_slice(&[0; 15]);
        ipv6.push(1);
        ipv6.extend_from_slice(&[0, 80]);
        let Ok(Parsed::Done(request, 22)) = parse_request(&ipv6) else {
            panic!("ipv6 request did not parse");
        };
        assert_eq!(
            request.destination,
            Destination::Ipv6(std::net::Ipv6Addr::LOCALHOST)
        );
        assert!(parse_request(&[5, 1, 0, 9, 0, 0]).is_err());
    }
}
