//! One authenticated control connection: [`Connection`].
//!
//! A connection has one writer task, which sends whole commands in order, and one reader task.
//! The reader feeds bytes to the sans-IO [`ReplyParser`], hands each reply to the oldest waiting
//! command (tor answers strictly in order, so commands can be pipelined) and broadcasts events.
//! Every wait is bounded: connecting, authenticating and each reply. A reply that does not come
//! in time poisons the connection (a late reply would be matched to the wrong command), so it
//! is closed and the supervisor ([`crate::supervisor`]) reconnects.
//!
//! Logging: events carry SOCKS credentials and destinations, so nothing from a reply or event
//! is logged; at debug level only command keywords and event kinds appear.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::auth::{self, AuthError, Plan, SafeCookie};
use crate::command::{Command, CommandError, Signal};
use crate::config::{ControlAddr, ControlConfig};
use crate::events::{CircEvent, Event, EventError, EventKind, StatusEvent};
use crate::info::{self, InfoError, RouterStatus, TorVersion};
use crate::reply::{Limits, Message, ParseError, Parsed, Reply, ReplyParser};

/// Why a control connection ended.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LostReason {
    /// Tor closed the connection between messages.
    #[error("tor closed the control connection")]
    Eof,
    /// Tor closed the connection in the middle of a reply.
    #[error("tor closed the control connection in the middle of a reply")]
    EofMidReply,
    /// Tor sent something that is not the control protocol.
    #[error("control protocol violation: {0}")]
    Protocol(ParseError),
    /// A reply arrived with no command waiting for it.
    #[error("control protocol violation: reply without a command")]
    UnsolicitedReply,
    /// Reading or writing the socket failed.
    #[error("control connection I/O error: {0}")]
    Io(String),
    /// A reply did not arrive in time, so replies can no longer be matched to commands.
    #[error("no reply within {0:?}; connection abandoned")]
    ReplyTimeout(Duration),
    /// This side closed the connection.
    #[error("control connection closed locally")]
    ClosedLocally,
}

/// Errors from the control client.
#[derive(Debug, Error)]
pub enum ControlError {
    /// The socket could not be opened.
    #[error("cannot connect to tor control port {addr}: {source}")]
    Connect {
        /// Where we tried.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A bounded wait ran out.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What we were waiting for.
        what: &'static str,
        /// The bound.
        after: Duration,
    },
    /// The connection is gone (the command's fate is unknown).
    #[error("{0}")]
    ConnectionLost(LostReason),
    /// Authentication failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The command could not be encoded safely.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A reply could not be interpreted.
    #[error(transparent)]
    Info(#[from] InfoError),
    /// Tor answered a command with an error status.
    #[error("tor refused {command}: {status} {message}")]
    Refused {
        /// Command keyword.
        command: String,
        /// Status code.
        status: u16,
        /// Tor's message.
        message: String,
    },
    /// No connection to tor right now (the supervisor is reconnecting).
    #[error("not connected to tor's control port: {0}")]
    NotConnected(String),
}

/// Something a subscriber of [`TorControl`] (or of a bare [`Connection`]) is told.
#[derive(Debug, Clone)]
pub enum Notification {
    /// A connection was established, authenticated and subscribed. Events of the new
    /// connection may precede it slightly; resynchronise (e.g. `circuit_status()`) on it.
    Connected {
        /// Tor's version as PROTOCOLINFO reported it.
        tor_version: Option<String>,
    },
    /// The connection was lost; the supervisor will retry.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// A parsed event (shared: every subscriber gets the same allocation).
    Event(Arc<Event>),
    /// An event of a known kind that did not parse (kept so nothing is silently lost).
    MalformedEvent(EventError),
}

type ReplySender = oneshot::Sender<Result<Reply, LostReason>>;

/// State shared by a connection's handle and its reader task.
struct Shared {
    inner: Mutex<SharedInner>,
    closed_tx: watch::Sender<Option<LostReason>>,
}

struct SharedInner {
    pending: VecDeque<ReplySender>,
    closed: Option<LostReason>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, SharedInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the connection dead and fails every waiting command with `reason` (first wins).
    fn close(&self, reason: LostReason) {
        let pending = {
            let mut inner = self.lock();
            if inner.closed.is_some() {
                return;
            }
            inner.closed = Some(reason.clone());
            std::mem::take(&mut inner.pending)
        };
        for tx in pending {
            let _ = tx.send(Err(reason.clone()));
        }
        self.closed_tx.send_replace(Some(reason));
    }
}

type BoxedWrite = Box<dyn AsyncWrite + Send + Unpin>;
type BoxedRead = Box<dyn AsyncRead + Send + Unpin>;

/// One authenticated control connection.
pub struct Connection {
    shared: Arc<Shared>,
    commands: mpsc::Sender<(Vec<u8>, ReplySender)>,
    writer: JoinHandle<()>,
    reader: JoinHandle<()>,
    closed_rx: watch::Receiver<Option<LostReason>>,
    reply_timeout: Duration,
    protocol_info: auth::ProtocolInfo,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("tor_version", &self.protocol_info.tor_version)
            .finish_non_exhaustive()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.close(LostReason::ClosedLocally);
        self.reader.abort();
        self.writer.abort();
    }
}

impl Connection {
    /// Closes the connection from our side (the supervisor is shutting down).
    pub(crate) fn close_locally(&self) {
        self.shared.close(LostReason::ClosedLocally);
    }

    /// Connects, authenticates and subscribes to `config.events`; events go to `notify`.
    pub async fn open(
        config: &ControlConfig,
        notify: broadcast::Sender<Notification>,
    ) -> Result<Self, ControlError> {
        let (read, write) = connect_socket(config).await?;
        let (closed_tx, closed_rx) = watch::channel(None);
        let shared = Arc::new(Shared {
            inner: Mutex::new(SharedInner {
                pending: VecDeque::new(),
                closed: None,
            }),
            closed_tx,
        });
        let reader = tokio::spawn(read_loop(read, Arc::clone(&shared), config.limits, notify));
        let (commands, queue) = mpsc::channel(64);
        let writer = tokio::spawn(write_loop(
            write,
            queue,
            Arc::clone(&shared),
            config.reply_timeout,
        ));
        let mut conn = Connection {
            shared,
            commands,
            writer,
            reader,
            closed_rx,
            reply_timeout: config.reply_timeout,
            protocol_info: auth::ProtocolInfo::default(),
        };
        let auth_timeout = config.auth_timeout;
        conn.protocol_info = tokio::time::timeout(auth_timeout, conn.authenticate(config))
            .await
            .map_err(|_| ControlError::Timeout {
                what: "control-port authentication",
                after: auth_timeout,
            })??;
        if !config.events.is_empty() {
            let names: Vec<&str> = config.events.iter().map(|e| e.keyword()).collect();
            conn.ok(Command::setevents(&names)?).await?;
        }
        Ok(conn)
    }

    /// PROTOCOLINFO, then the strongest usable method; returns what PROTOCOLINFO said, with
    /// the configured cookie file in place of tor's when one is set (the file actually used).
    async fn authenticate(
        &self,
        config: &ControlConfig,
    ) -> Result<auth::ProtocolInfo, ControlError> {
        let password = config.password.as_deref();
        let mut info = auth::parse_protocolinfo(&self.request(Command::protocolinfo()).await?)?;
        if let Some(path) = &config.cookie_file {
            info.cookie_file = Some(path.clone());
        }
        let usable = auth::ProtocolInfo {
            methods: info
                .methods
                .iter()
                .filter(|m| config.auth_methods.contains(m))
                .cloned()
                .collect(),
            ..info.clone()
        };
        let plan =
            auth::choose_method(&usable, config.addr.transport(), password.is_some(), |p| {
                std::fs::File::open(p).is_ok()
            })?;
        tracing::debug!(method = ?plan_name(&plan), "authenticating to tor control port");
        match plan {
            Plan::SafeCookie(path) => {
                let cookie = read_cookie("SAFECOOKIE", &path).await?;
                let mut nonce = [0u8; auth::COOKIE_LEN];
                getrandom::fill(&mut nonce).map_err(|e| {
                    ControlError::ConnectionLost(LostReason::Io(format!(
                        "no randomness for SAFECOOKIE nonce: {e}"
                    )))
                })?;
                let exchange = SafeCookie::new(cookie, nonce, path);
                let challenge = self.request(exchange.challenge()).await?;
                let answer = exchange.respond(&challenge)?;
                auth::check_authenticated("SAFECOOKIE", &self.request(answer).await?)?;
            }
            Plan::Cookie(path) => {
                let cookie = read_cookie("COOKIE", &path).await?;
                let reply = self.request(auth::authenticate_cookie(&cookie)).await?;
                auth::check_authenticated("COOKIE", &reply)?;
            }
            Plan::HashedPassword => {
                let reply = self
                    .request(auth::authenticate_password(password.unwrap_or_default()))
                    .await?;
                auth::check_authenticated("HASHEDPASSWORD", &reply)?;
            }
            Plan::Null => {
                auth::check_authenticated("NULL", &self.request(auth::authenticate_null()).await?)?;
            }
        }
        Ok(info)
    }

    /// What PROTOCOLINFO reported (methods, cookie file — or the configured one, see
    /// [`ControlConfig::cookie_file`] —, tor version).
    pub fn protocol_info(&self) -> &auth::ProtocolInfo {
        &self.protocol_info
    }

    /// Sends `command` and waits (bounded) for its reply, whatever its status.
    ///
    /// Concurrent calls are pipelined; each gets its own reply.
    pub async fn request(&self, command: Command) -> Result<Reply, ControlError> {
        tracing::debug!(command = command.keyword(), "tor control command");
        let (tx, rx) = oneshot::channel();
        let exchange = async {
            // The writer task writes whole commands, so a caller that gives up midway
            // (timeout, dropped future) can never leave half a command on the wire.
            if self.commands.send((command.to_bytes(), tx)).await.is_err() {
                return Err(self.lost());
            }
            match rx.await {
                Ok(Ok(reply)) => Ok(reply),
                Ok(Err(reason)) => Err(ControlError::ConnectionLost(reason)),
                Err(_) => Err(self.lost()),
            }
        };
        match tokio::time::timeout(self.reply_timeout, exchange).await {
            Ok(result) => result,
            Err(_) => {
                // Replies are matched by order; after a missing one nothing can be trusted.
                self.shared
                    .close(LostReason::ReplyTimeout(self.reply_timeout));
                self.reader.abort();
                self.writer.abort();
                Err(ControlError::Timeout {
                    what: "a control-port reply",
                    after: self.reply_timeout,
                })
            }
        }
    }

    fn lost(&self) -> ControlError {
        ControlError::ConnectionLost(
            self.shared
                .lock()
                .closed
                .clone()
                .unwrap_or(LostReason::ClosedLocally),
        )
    }

    /// Sends `command` and fails unless tor answers 2xx.
    pub async fn ok(&self, command: Command) -> Result<Reply, ControlError> {
        let keyword = command.keyword().to_owned();
        let reply = self.request(command).await?;
        if reply.is_ok() {
            Ok(reply)
        } else {
            Err(ControlError::Refused {
                command: keyword,
                status: reply.status(),
                message: reply.end_text().to_owned(),
            })
        }
    }

    /// `GETINFO keys…` → `(key, value)` pairs in reply order.
    pub async fn getinfo<S: AsRef<str>>(
        &self,
        keys: &[S],
    ) -> Result<Vec<(String, String)>, ControlError> {
        Ok(info::parse_key_values(
            &self.request(Command::getinfo(keys)?).await?,
        )?)
    }

    /// `GETINFO key` → its value.
    pub async fn getinfo_one(&self, key: &str) -> Result<String, ControlError> {
        let pairs = self.getinfo(&[key]).await?;
        Ok(info::value_of(&pairs, key)?.to_owned())
    }

    /// `GETCONF keys…` → `(key, value)` pairs (a key may repeat for multi-valued options).
    pub async fn getconf<S: AsRef<str>>(
        &self,
        keys: &[S],
    ) -> Result<Vec<(String, String)>, ControlError> {
        Ok(info::parse_key_values(
            &self.request(Command::getconf(keys)?).await?,
        )?)
    }

    /// `SETEVENTS` with the given kinds (replaces the current subscription).
    pub async fn set_events(&self, events: &[EventKind]) -> Result<(), ControlError> {
        let names: Vec<&str> = events.iter().map(|e| e.keyword()).collect();
        self.ok(Command::setevents(&names)?).await.map(drop)
    }

    /// `SIGNAL <signal>`.
    pub async fn signal(&self, signal: Signal) -> Result<(), ControlError> {
        self.ok(Command::signal(signal)).await.map(drop)
    }

    /// `SIGNAL NEWNYM` (tor rate-limits it to one per 10 s but still answers 250).
    pub async fn newnym(&self) -> Result<(), ControlError> {
        self.signal(Signal::Newnym).await
    }

    /// `GETINFO version`.
    pub async fn version(&self) -> Result<TorVersion, ControlError> {
        Ok(info::parse_version(&self.getinfo_one("version").await?)?)
    }

    /// `GETINFO circuit-status`.
    pub async fn circuit_status(&self) -> Result<Vec<CircEvent>, ControlError> {
        Ok(info::parse_circuit_status(
            &self.getinfo_one("circuit-status").await?,
        )?)
    }

    /// `GETINFO ns/id/<fingerprint>` (fingerprint: 40 hex digits, with or without `$`).
    pub async fn router_status(&self, fingerprint: &str) -> Result<RouterStatus, ControlError> {
        let key = format!("ns/id/{}", fingerprint.trim_start_matches('$'));
        Ok(info::parse_router_status(&self.getinfo_one(&key).await?)?)
    }

    /// `GETINFO ip-to-country/<ip>`; `None` when tor does not know.
    pub async fn ip_to_country(
        &self,
        ip: std::net::IpAddr,
    ) -> Result<Option<String>, ControlError> {
        Ok(info::parse_country(
            &self.getinfo_one(&format!("ip-to-country/{ip}")).await?,
        ))
    }

    /// `GETINFO net/listeners/socks`.
    pub async fn socks_listeners(&self) -> Result<Vec<String>, ControlError> {
        Ok(info::parse_listeners(
            &self.getinfo_one("net/listeners/socks").await?,
        )?)
    }

    /// `GETINFO status/bootstrap-phase`.
    pub async fn bootstrap_phase(&self) -> Result<StatusEvent, ControlError> {
        Ok(info::parse_bootstrap_phase(
            &self.getinfo_one("status/bootstrap-phase").await?,
        )?)
    }

    /// Waits until the connection is gone and says why.
    pub async fn closed(&self) -> LostReason {
        let mut rx = self.closed_rx.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or(LostReason::ClosedLocally),
            Err(_) => LostReason::ClosedLocally,
        }
    }

    /// True once the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.closed_rx.borrow().is_some()
    }
}

fn plan_name(plan: &Plan) -> &'static str {
    match plan {
        Plan::SafeCookie(_) => "SAFECOOKIE",
        Plan::Cookie(_) => "COOKIE",
        Plan::HashedPassword => "HASHEDPASSWORD",
        Plan::Null => "NULL",
    }
}

async fn read_cookie(
    method: &'static str,
    path: &std::path::Path,
) -> Result<[u8; auth::COOKIE_LEN], AuthError> {
    // Read at most one byte more than a cookie, so a hostile path (e.g. /dev/zero) is harmless.
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|source| AuthError::CookieUnreadable {
            method,
            path: path.to_owned(),
            source,
        })?;
    let mut bytes = Vec::with_capacity(auth::COOKIE_LEN + 1);
    file.take(auth::COOKIE_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|source| AuthError::CookieUnreadable {
            method,
            path: path.to_owned(),
            source,
        })?;
    auth::check_cookie(method, path, &bytes)
}

async fn connect_socket(config: &ControlConfig) -> Result<(BoxedRead, BoxedWrite), ControlError> {
    let addr = config.addr.to_string();
    let connect = async {
        match &config.addr {
            ControlAddr::Tcp(hostport) => {
                let stream = tokio::net::TcpStream::connect(hostport.as_str()).await?;
                stream.set_nodelay(true)?;
                let (r, w) = stream.into_split();
                Ok::<(BoxedRead, BoxedWrite), std::io::Error>((Box::new(r), Box::new(w)))
            }
            ControlAddr::Unix(path) => {
                let (r, w) = tokio::net::UnixStream::connect(path).await?.into_split();
                Ok::<(BoxedRead, BoxedWrite), std::io::Error>((Box::new(r), Box::new(w)))
            }
        }
    };
    match tokio::time::timeout(config.connect_timeout, connect).await {
        Ok(Ok(halves)) => Ok(halves),
        Ok(Err(source)) => Err(ControlError::Connect { addr, source }),
        Err(_) => Err(ControlError::Timeout {
            what: "the control-port connection",
            after: config.connect_timeout,
        }),
    }
}

/// Writes queued commands in order, registering each reply waiter just before its bytes go out.
async fn write_loop(
    mut write: BoxedWrite,
    mut queue: mpsc::Receiver<(Vec<u8>, ReplySender)>,
    shared: Arc<Shared>,
    write_timeout: Duration,
) {
    while let Some((bytes, waiter)) = queue.recv().await {
        {
            let mut inner = shared.lock();
            if let Some(reason) = &inner.closed {
                let _ = waiter.send(Err(reason.clone()));
                continue;
            }
            inner.pending.push_back(waiter);
        }
        let sent = tokio::time::timeout(write_timeout, async {
            write.write_all(&bytes).await?;
            write.flush().await
        })
        .await;
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return shared.close(LostReason::Io(e.to_string())),
            Err(_) => return shared.close(LostReason::ReplyTimeout(write_timeout)),
        }
    }
}

async fn read_loop(
    mut read: BoxedRead,
    shared: Arc<Shared>,
    limits: Limits,
    notify: broadcast::Sender<Notification>,
) {
    let mut parser = ReplyParser::new(limits);
    let mut buf = vec![0u8; 16 * 1024];
    let reason = 'conn: loop {
        let n = match read.read(&mut buf).await {
            Ok(0) if parser.in_message() => break LostReason::EofMidReply,
            Ok(0) => break LostReason::Eof,
            Ok(n) => n,
            Err(e) => break LostReason::Io(e.to_string()),
        };
        parser.push(&buf[..n]);
        loop {
            match parser.next_message() {
                Ok(Parsed::NeedMore) => break,
                Ok(Parsed::Message(Message::Reply(reply))) => {
                    let waiter = shared.lock().pending.pop_front();
                    match waiter {
                        // A dropped receiver (caller gave up) is fine: the reply is consumed in order.
                        Some(tx) => drop(tx.send(Ok(reply))),
                        None => break 'conn LostReason::UnsolicitedReply,
                    }
                }
                Ok(Parsed::Message(Message::Event(reply))) => {
                    let note = match Event::parse(&reply) {
                        Ok(event) => {
                            tracing::trace!(kind = event_kind(&event), "tor event");
                            Notification::Event(Arc::new(event))
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "malformed tor event");
                            Notification::MalformedEvent(e)
                        }
                    };
                    // No subscribers is not an error.
                    let _ = notify.send(note);
                }
                Err(e) => break 'conn LostReason::Protocol(e),
            }
        }
    };
    tracing::debug!(%reason, "tor control connection ended");
    shared.close(reason);
}

fn event_kind(event: &Event) -> &str {
    match event {
        Event::Circ(_) => "CIRC",
        Event::Stream(_) => "STREAM",
        Event::StreamBw(_) => "STREAM_BW",
        Event::CircBw(_) => "CIRC_BW",
        Event::StatusClient(_) => "STATUS_CLIENT",
        Event::Other { keyword, .. } => keyword,
    }
}
