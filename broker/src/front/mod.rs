//! The SOCKS front: per-application and per-destination-site isolation on one tor SocksPort.
//!
//! Programs that cannot set per-site credentials (curl, git, package managers, anything that
//! takes a SOCKS proxy) connect here instead of to tor. The front reads the client's own SOCKS
//! username as the **application context**, reduces the destination host to its **site** with
//! the browser's site function (eTLD+1; `.onion` names are their own site), and opens the
//! stream to tor with credentials derived for (context, site) — so `a.cdn.example` and
//! `b.cdn.example` share a circuit, two sites never do, and two programs never do. It never
//! resolves a name locally: names go to tor as names; tor's RESOLVE / RESOLVE_PTR extensions
//! (torsocks resolves that way) are forwarded with the queried site's credentials; a stream to
//! an IP literal follows [`resolved`]'s rule. BIND and UDP ASSOCIATE get "command not
//! supported" and a log line.
//!
//! The server side of the handshake is arti's `tor-socksproto` (the Tor Project's sans-IO
//! parser: SOCKS4, SOCKS4a and SOCKS5 with username/password and tor's extensions, fuzzed
//! upstream), rather than our own: it is maintained by the people who define tor's SOCKS
//! dialect, and its `Buffer` bounds every message. What the request means for us is
//! [`request::interpret`] (pure); the client side towards tor is [`upstream`] (ours: it must
//! never fall back to "no authentication").

pub(crate) mod request;
pub(crate) mod resolved;
pub(crate) mod upstream;

pub use request::{ReplayOutcome, replay_handshake};
pub use resolved::ResolvedAddresses;
pub use upstream::parse_reply;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::{Semaphore, watch};
use tor_socksproto::{
    Buffer, Handshake as _, NextStep, SocksAddr, SocksHostname, SocksProxyHandshake, SocksRequest,
    SocksStatus,
};

use request::{ClientRequest, Destination, Intent, handshake_failure_reply, interpret};
use upstream::{ReplyAddr, TorCommand, ask_tor};

/// Longest time a client may take to finish its SOCKS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest time tor may take to answer a request (tor itself gives up on a stream after
/// about two minutes).
pub const TOR_TIMEOUT: Duration = Duration::from_secs(130);

/// Most client connections served at once; more wait for a free place.
pub const MAX_CONNECTIONS: usize = 4096;

/// Where the front listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontAddr {
    /// A TCP address (loopback unless the user asked otherwise).
    Tcp(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

impl std::fmt::Display for FrontAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrontAddr::Tcp(addr) => write!(f, "{addr}"),
            FrontAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// The credentials side the front needs from the broker.
pub trait Keys: Send + Sync + 'static {
    /// The site of a host name (the browser's site function), or `None` for a name that has
    /// none (a single label such as `localhost`): the name is then its own site.
    fn site_of(&self, host: &str) -> Option<String>;
    /// Credentials `(username, password)` for `site` in application context `context`.
    fn credentials(&self, context: &str, site: &str) -> Result<(String, String), String>;
    /// Notes that a RESOLVE in `context` answered `ip` for a name of `site` ([`resolved`]).
    fn remember_resolved(&self, context: &str, ip: std::net::IpAddr, site: &str);
    /// The site whose name a RESOLVE in `context` last answered with `ip`, if any.
    fn resolved_site(&self, context: &str, ip: std::net::IpAddr) -> Option<String>;
}

/// A bound front, ready to serve.
pub struct Front {
    listener: Listener,
    addr: FrontAddr,
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// Shared state of the connections.
struct Shared {
    keys: Arc<dyn Keys>,
    tor: SocketAddr,
}

impl Front {
    /// Binds `addr` (a Unix socket is created 0600; a stale one is replaced).
    pub async fn bind(addr: &FrontAddr) -> std::io::Result<Front> {
        let listener = match addr {
            FrontAddr::Tcp(tcp) => Listener::Tcp(TcpListener::bind(tcp).await?),
            FrontAddr::Unix(path) => {
                match std::fs::remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                let listener = UnixListener::bind(path)?;
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
                Listener::Unix(listener)
            }
        };
        let addr = match (&listener, addr) {
            (Listener::Tcp(l), _) => FrontAddr::Tcp(l.local_addr()?),
            (Listener::Unix(_), a) => a.clone(),
        };
        Ok(Front { listener, addr })
    }

    /// Where it listens (the actual port when bound to port 0).
    pub fn addr(&self) -> &FrontAddr {
        &self.addr
    }

    /// Serves until `stop` turns true: each client gets its streams to tor's SOCKS port `tor`
    /// with credentials from `keys`.
    pub async fn serve(
        self,
        keys: Arc<dyn Keys>,
        tor: SocketAddr,
        mut stop: watch::Receiver<bool>,
    ) {
        let shared = Arc::new(Shared { keys, tor });
        let places = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok(place) = Arc::clone(&places).acquire_owned().await else {
                return;
            };
            let accepted = tokio::select! {
                _ = stop.changed() => return,
                accepted = self.accept() => accepted,
            };
            match accepted {
                Ok(client) => {
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        let _place = place;
                        match client {
                            Client::Tcp(s) => serve_client(s, &shared).await,
                            Client::Unix(s) => serve_client(s, &shared).await,
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("SOCKS front: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn accept(&self) -> std::io::Result<Client> {
        Ok(match &self.listener {
            Listener::Tcp(l) => Client::Tcp(l.accept().await?.0),
            Listener::Unix(l) => Client::Unix(l.accept().await?.0),
        })
    }
}

enum Client {
    Tcp(TcpStream),
    Unix(tokio::net::UnixStream),
}

/// One client connection: handshake, then one request (CONNECT relays until either side
/// closes). Every failure answers the client with a SOCKS status when it can and closes.
async fn serve_client<S>(mut client: S, shared: &Shared)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_request(&mut client)).await;
    let (request, read_ahead) = match handshake {
        Ok(Ok(done)) => done,
        Ok(Err(HandshakeError::Io(e))) => {
            tracing::info!("SOCKS front: a client's handshake broke off: {e}");
            return;
        }
        Ok(Err(HandshakeError::Protocol { first_byte, error })) => {
            match handshake_failure_reply(first_byte, &error) {
                Some((bytes, reason)) => {
                    tracing::info!("SOCKS front: refused a request: {reason} ({error})");
                    let _ = client.write_all(&bytes).await;
                }
                None => tracing::info!("SOCKS front: a client did not speak SOCKS ({error})"),
            }
            return;
        }
        Err(_) => {
            tracing::info!("SOCKS front: a client did not finish its handshake in time");
            return;
        }
    };
    let wanted = match interpret(&request) {
        Ok(wanted) => wanted,
        Err(refusal) => {
            tracing::info!("SOCKS front: refused a request: {}", refusal.reason);
            let _ = reply(&mut client, &request, refusal.status, None).await;
            return;
        }
    };
    if let Err(e) = carry(&mut client, shared, &request, &wanted, read_ahead).await {
        tracing::info!(
            "SOCKS front: a request of context {:?} failed: {e}",
            wanted.context
        );
        let _ = reply(&mut client, &request, SocksStatus::GENERAL_FAILURE, None).await;
    }
}

/// Why a handshake did not complete.
enum HandshakeError {
    /// The socket failed or the client closed.
    Io(std::io::Error),
    /// The parser refused the client's bytes; `first_byte` is the SOCKS version it spoke.
    Protocol {
        first_byte: Option<u8>,
        error: tor_socksproto::Error,
    },
}

/// Runs the server side of the handshake until the client's request is complete; returns it
/// and whatever the client already sent after it.
async fn read_request<S>(client: &mut S) -> Result<(SocksRequest, Vec<u8>), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut handshake = SocksProxyHandshake::new();
    let mut buffer = Buffer::new();
    let mut first_byte = None;
    loop {
        let step = handshake
            .step(&mut buffer)
            .map_err(|error| HandshakeError::Protocol { first_byte, error })?;
        match step {
            NextStep::Send(data) => client.write_all(&data).await.map_err(HandshakeError::Io)?,
            NextStep::Recv(mut recv) => {
                let n = client.read(recv.buf()).await.map_err(HandshakeError::Io)?;
                if n == 0 {
                    return Err(HandshakeError::Io(std::io::ErrorKind::UnexpectedEof.into()));
                }
                if first_byte.is_none() {
                    first_byte = recv.buf().first().copied();
                }
                recv.note_received(n)
                    .map_err(|error| HandshakeError::Protocol { first_byte, error })?;
            }
            NextStep::Finished(done) => return Ok(done.into_output_and_vec()),
        }
    }
}

async fn reply<S>(
    client: &mut S,
    request: &SocksRequest,
    status: SocksStatus,
    addr: Option<&SocksAddr>,
) -> std::io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    let bytes = request
        .reply(status, addr)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    client.write_all(&bytes).await
}

/// The site a destination belongs to in `context` (module doc).
fn site_for(shared: &Shared, context: &str, destination: &Destination) -> String {
    match destination {
        Destination::Name(name) => shared.keys.site_of(name).unwrap_or_else(|| name.clone()),
        Destination::Ip(ip) => shared
            .keys
            .resolved_site(context, *ip)
            .unwrap_or_else(|| ip.to_string()),
    }
}

async fn carry<S>(
    client: &mut S,
    shared: &Shared,
    request: &SocksRequest,
    wanted: &ClientRequest,
    read_ahead: Vec<u8>,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let context = wanted.context.as_str();
    let (command, destination, port) = match &wanted.intent {
        Intent::Connect { destination, port } => (TorCommand::Connect, destination.clone(), *port),
        Intent::Resolve { name } => (TorCommand::Resolve, Destination::Name(name.clone()), 0),
        Intent::ResolvePtr { ip } => (TorCommand::ResolvePtr, Destination::Ip(*ip), 0),
    };
    let site = site_for(shared, context, &destination);
    let (username, password) = shared.keys.credentials(context, &site)?;
    let mut tor = TcpStream::connect(shared.tor)
        .await
        .map_err(|e| format!("cannot reach tor's SOCKS port: {e}"))?;
    let answer = tokio::time::timeout(
        TOR_TIMEOUT,
        ask_tor(&mut tor, &username, &password, command, &destination, port),
    )
    .await
    .map_err(|_| format!("tor did not answer within {TOR_TIMEOUT:?}"))?
    .map_err(|e| e.to_string())?;
    let status = SocksStatus::from(answer.status);
    match command {
        TorCommand::Connect => {
            reply(client, request, status, None)
                .await
                .map_err(|e| e.to_string())?;
            if answer.status != 0 {
                return Ok(());
            }
            if !read_ahead.is_empty() {
                tor.write_all(&read_ahead)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            // Either side closing ends the relay; errors here are the peers' business.
            let _ = tokio::io::copy_bidirectional(client, &mut tor).await;
            Ok(())
        }
        TorCommand::Resolve | TorCommand::ResolvePtr => {
            let addr = match (&answer.addr, answer.status) {
                (_, s) if s != 0 => None,
                (ReplyAddr::Ip(ip), _) => {
                    shared.keys.remember_resolved(context, *ip, &site);
                    Some(SocksAddr::Ip(*ip))
                }
                (ReplyAddr::Name(name), _) => SocksHostname::try_from(name.clone())
                    .ok()
                    .map(SocksAddr::Hostname),
            };
            reply(client, request, status, addr.as_ref())
                .await
                .map_err(|e| e.to_string())
        }
    }
}
