//! Typed asynchronous events (control-spec §4.1): CIRC, STREAM, STREAM_BW, CIRC_BW and
//! STATUS_CLIENT. Anything else arrives as [`Event::Other`].
//!
//! Unknown statuses, flags and `KEY=value` fields never cause errors: statuses have an `Other`
//! variant and unrecognised pairs are kept in `extra`. Values that reveal browsing (SOCKS
//! credentials, stream targets) are [`Sensitive`], whose `Debug` prints only a length.

use thiserror::Error;

use super::kv::{Fields, KeyValue, KvError};
use super::reply::Reply;

/// Why a known event could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EventError {
    /// A positional field was missing.
    #[error("{event} event lacks its {field} field")]
    Missing {
        /// Event keyword.
        event: &'static str,
        /// Field name in control-spec.
        field: &'static str,
    },
    /// A number did not parse.
    #[error("{event} event has a non-numeric {field}")]
    BadNumber {
        /// Event keyword.
        event: &'static str,
        /// Field name in control-spec.
        field: &'static str,
    },
    /// A `KEY=value` list or QuotedString was malformed.
    #[error("{event} event: {source}")]
    Fields {
        /// Event keyword.
        event: &'static str,
        /// What was wrong.
        source: KvError,
    },
}

/// Bytes that may identify visited sites (SOCKS credentials, targets); `Debug` hides them.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Sensitive(pub Vec<u8>);

impl Sensitive {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// As text, replacing invalid UTF-8 (do not log the result at info level or above).
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

impl std::fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<redacted {} bytes>", self.0.len())
    }
}

/// One hop of a circuit path: `$FINGERPRINT~nickname`, `$FINGERPRINT=nickname`,
/// `$FINGERPRINT` or a bare nickname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathHop {
    /// Upper-case 40-hex identity fingerprint, if given.
    pub fingerprint: Option<String>,
    /// Relay nickname, if given.
    pub nickname: Option<String>,
}

impl PathHop {
    fn parse(hop: &str) -> Self {
        match hop.strip_prefix('$') {
            Some(rest) => {
                let (fp, nick) = match rest.find(['~', '=']) {
                    Some(i) => (&rest[..i], Some(rest[i + 1..].to_owned())),
                    None => (rest, None),
                };
                PathHop {
                    fingerprint: Some(fp.to_ascii_uppercase()),
                    nickname: nick.filter(|n| !n.is_empty()),
                }
            }
            None => PathHop {
                fingerprint: None,
                nickname: Some(hop.to_owned()),
            },
        }
    }
}

/// Circuit status (control-spec §4.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CircStatus {
    /// Circuit ID assigned to a new circuit.
    Launched,
    /// All hops finished; can now accept streams.
    Built,
    /// Waiting to see if there's a circuit with a better guard.
    GuardWait,
    /// One more hop has been completed.
    Extended,
    /// Circuit closed (was not built).
    Failed,
    /// Circuit closed (was built).
    Closed,
    /// A status this client does not know.
    Other(String),
}

impl CircStatus {
    fn parse(s: &str) -> Self {
        match s {
            "LAUNCHED" => CircStatus::Launched,
            "BUILT" => CircStatus::Built,
            "GUARD_WAIT" => CircStatus::GuardWait,
            "EXTENDED" => CircStatus::Extended,
            "FAILED" => CircStatus::Failed,
            "CLOSED" => CircStatus::Closed,
            other => CircStatus::Other(other.to_owned()),
        }
    }
}

/// A `CIRC` event, or one line of `GETINFO circuit-status` (same format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircEvent {
    /// Circuit ID.
    pub id: String,
    /// New status.
    pub status: CircStatus,
    /// Hops from guard to last hop (empty while launching).
    pub path: Vec<PathHop>,
    /// `BUILD_FLAGS=` (e.g. `NEED_CAPACITY`, `IS_INTERNAL`, `ONEHOP_TUNNEL`).
    pub build_flags: Vec<String>,
    /// `PURPOSE=` (e.g. `GENERAL`, `CONFLUX_LINKED`, `HS_CLIENT_REND`).
    pub purpose: Option<String>,
    /// `HS_STATE=`.
    pub hs_state: Option<String>,
    /// `REND_QUERY=` (onion address: sensitive).
    pub rend_query: Option<Sensitive>,
    /// `TIME_CREATED=`.
    pub time_created: Option<String>,
    /// `REASON=`.
    pub reason: Option<String>,
    /// `REMOTE_REASON=`.
    pub remote_reason: Option<String>,
    /// `SOCKS_USERNAME=` of the circuit's first stream.
    pub socks_username: Option<Sensitive>,
    /// `SOCKS_PASSWORD=` of the circuit's first stream.
    pub socks_password: Option<Sensitive>,
    /// `CONFLUX_ID=`: legs of one conflux set share it.
    pub conflux_id: Option<String>,
    /// Fields this client does not interpret.
    pub extra: Vec<KeyValue>,
}

impl CircEvent {
    /// Parses the text after the `CIRC` keyword (or a `circuit-status` line).
    pub fn parse_body(text: &str) -> Result<Self, EventError> {
        const E: &str = "CIRC";
        let mut f = Fields::new(text);
        let id = f
            .word()
            .ok_or(EventError::Missing {
                event: E,
                field: "CircuitID",
            })?
            .to_owned();
        let status = CircStatus::parse(f.word().ok_or(EventError::Missing {
            event: E,
            field: "CircStatus",
        })?);
        let path = if !f.is_empty() && !f.next_is_key_value() {
            f.word()
                .unwrap_or_default()
                .split(',')
                .filter(|h| !h.is_empty())
                .map(PathHop::parse)
                .collect()
        } else {
            Vec::new()
        };
        let mut ev = CircEvent {
            id,
            status,
            path,
            build_flags: Vec::new(),
            purpose: None,
            hs_state: None,
            rend_query: None,
            time_created: None,
            reason: None,
            remote_reason: None,
            socks_username: None,
            socks_password: None,
            conflux_id: None,
            extra: Vec::new(),
        };
        for kv in f
            .key_values()
            .map_err(|source| EventError::Fields { event: E, source })?
        {
            match kv.key.as_str() {
                "BUILD_FLAGS" => {
                    ev.build_flags = kv
                        .value_lossy()
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect();
                }
                "PURPOSE" => ev.purpose = Some(kv.value_lossy()),
                "HS_STATE" => ev.hs_state = Some(kv.value_lossy()),
                "REND_QUERY" => ev.rend_query = Some(Sensitive(kv.value)),
                "TIME_CREATED" => ev.time_created = Some(kv.value_lossy()),
                "REASON" => ev.reason = Some(kv.value_lossy()),
                "REMOTE_REASON" => ev.remote_reason = Some(kv.value_lossy()),
                "SOCKS_USERNAME" => ev.socks_username = Some(Sensitive(kv.value)),
                "SOCKS_PASSWORD" => ev.socks_password = Some(Sensitive(kv.value)),
                "CONFLUX_ID" => ev.conflux_id = Some(kv.value_lossy()),
                _ => ev.extra.push(kv),
            }
        }
        Ok(ev)
    }
}

/// Stream status (control-spec §4.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamStatus {
    /// New request to connect.
    New,
    /// New request to resolve an address.
    NewResolve,
    /// Address re-mapped to another.
    Remap,
    /// Sent a connect cell along a circuit.
    SentConnect,
    /// Sent a resolve cell along a circuit.
    SentResolve,
    /// Received a reply; stream established.
    Succeeded,
    /// Stream failed and not retriable.
    Failed,
    /// Stream closed.
    Closed,
    /// Detached from circuit; still retriable.
    Detached,
    /// Waiting for controller to use ATTACHSTREAM.
    ControllerWait,
    /// A status this client does not know (e.g. XOFF_SENT).
    Other(String),
}

impl StreamStatus {
    fn parse(s: &str) -> Self {
        match s {
            "NEW" => StreamStatus::New,
            "NEWRESOLVE" => StreamStatus::NewResolve,
            "REMAP" => StreamStatus::Remap,
            "SENTCONNECT" => StreamStatus::SentConnect,
            "SENTRESOLVE" => StreamStatus::SentResolve,
            "SUCCEEDED" => StreamStatus::Succeeded,
            "FAILED" => StreamStatus::Failed,
            "CLOSED" => StreamStatus::Closed,
            "DETACHED" => StreamStatus::Detached,
            "CONTROLLER_WAIT" => StreamStatus::ControllerWait,
            other => StreamStatus::Other(other.to_owned()),
        }
    }
}

/// A `STREAM` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent {
    /// Stream ID.
    pub id: String,
    /// New status.
    pub status: StreamStatus,
    /// The circuit carrying it; `None` when tor reports `0` (not attached).
    pub circuit_id: Option<String>,
    /// `host:port` the stream goes to (sensitive: visited sites).
    pub target: Sensitive,
    /// `REASON=`.
    pub reason: Option<String>,
    /// `REMOTE_REASON=`.
    pub remote_reason: Option<String>,
    /// `SOURCE=` (`CACHE` or `EXIT`).
    pub source: Option<String>,
    /// `SOURCE_ADDR=`: the SOCKS client's `address:port`.
    pub source_addr: Option<String>,
    /// `PURPOSE=` (e.g. `USER`, `DIR_FETCH`).
    pub purpose: Option<String>,
    /// `SOCKS_USERNAME=`.
    pub socks_username: Option<Sensitive>,
    /// `SOCKS_PASSWORD=`.
    pub socks_password: Option<Sensitive>,
    /// `CLIENT_PROTOCOL=` (e.g. `SOCKS5`).
    pub client_protocol: Option<String>,
    /// `NYM_EPOCH=`: increments with every NEWNYM.
    pub nym_epoch: Option<u64>,
    /// `SESSION_GROUP=`.
    pub session_group: Option<i64>,
    /// `ISO_FIELDS=`: which fields isolate this stream.
    pub iso_fields: Vec<String>,
    /// Fields this client does not interpret.
    pub extra: Vec<KeyValue>,
}

impl StreamEvent {
    /// Parses the text after the `STREAM` keyword.
    pub fn parse_body(text: &str) -> Result<Self, EventError> {
        const E: &str = "STREAM";
        let mut f = Fields::new(text);
        let missing = |field| EventError::Missing { event: E, field };
        let id = f.word().ok_or(missing("StreamID"))?.to_owned();
        let status = StreamStatus::parse(f.word().ok_or(missing("StreamStatus"))?);
        let circ = f.word().ok_or(missing("CircuitID"))?;
        let target = Sensitive(f.word().ok_or(missing("Target"))?.as_bytes().to_vec());
        let mut ev = StreamEvent {
            id,
            status,
            circuit_id: (circ != "0").then(|| circ.to_owned()),
            target,
            reason: None,
            remote_reason: None,
            source: None,
            source_addr: None,
            purpose: None,
            socks_username: None,
            socks_password: None,
            client_protocol: None,
            nym_epoch: None,
            session_group: None,
            iso_fields: Vec::new(),
            extra: Vec::new(),
        };
        for kv in f
            .key_values()
            .map_err(|source| EventError::Fields { event: E, source })?
        {
            let bad = |field| EventError::BadNumber { event: E, field };
            match kv.key.as_str() {
                "REASON" => ev.reason = Some(kv.value_lossy()),
                "REMOTE_REASON" => ev.remote_reason = Some(kv.value_lossy()),
                "SOURCE" => ev.source = Some(kv.value_lossy()),
                "SOURCE_ADDR" => ev.source_addr = Some(kv.value_lossy()),
                "PURPOSE" => ev.purpose = Some(kv.value_lossy()),
                "SOCKS_USERNAME" => ev.socks_username = Some(Sensitive(kv.value)),
                "SOCKS_PASSWORD" => ev.socks_password = Some(Sensitive(kv.value)),
                "CLIENT_PROTOCOL" => ev.client_protocol = Some(kv.value_lossy()),
                "NYM_EPOCH" => {
                    ev.nym_epoch = Some(kv.value_lossy().parse().map_err(|_| bad("NYM_EPOCH"))?);
                }
                "SESSION_GROUP" => {
                    ev.session_group =
                        Some(kv.value_lossy().parse().map_err(|_| bad("SESSION_GROUP"))?);
                }
                "ISO_FIELDS" => {
                    ev.iso_fields = kv
                        .value_lossy()
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect();
                }
                _ => ev.extra.push(kv),
            }
        }
        Ok(ev)
    }
}

/// A `STREAM_BW` event: bytes moved on one stream since the last event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamBwEvent {
    /// Stream ID.
    pub stream_id: String,
    /// Bytes written to the application.
    pub written: u64,
    /// Bytes read from the application.
    pub read: u64,
    /// Timestamp, when tor sends one.
    pub time: Option<String>,
}

impl StreamBwEvent {
    /// Parses the text after the `STREAM_BW` keyword.
    pub fn parse_body(text: &str) -> Result<Self, EventError> {
        const E: &str = "STREAM_BW";
        let mut f = Fields::new(text);
        let stream_id = f
            .word()
            .ok_or(EventError::Missing {
                event: E,
                field: "StreamID",
            })?
            .to_owned();
        let mut number = |field| -> Result<u64, EventError> {
            f.word()
                .ok_or(EventError::Missing { event: E, field })?
                .parse()
                .map_err(|_| EventError::BadNumber { event: E, field })
        };
        let written = number("BytesWritten")?;
        let read = number("BytesRead")?;
        let time = f.word().map(str::to_owned);
        Ok(StreamBwEvent {
            stream_id,
            written,
            read,
            time,
        })
    }
}

/// A `CIRC_BW` event: bytes moved on one circuit since the last event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircBwEvent {
    /// Circuit ID.
    pub circuit_id: String,
    /// `READ=` bytes.
    pub read: u64,
    /// `WRITTEN=` bytes.
    pub written: u64,
    /// `TIME=`, when present.
    pub time: Option<String>,
    /// Other fields (`DELIVERED_READ=`, `OVERHEAD_WRITTEN=`, congestion-control fields, …).
    pub extra: Vec<KeyValue>,
}

impl CircBwEvent {
    /// Parses the text after the `CIRC_BW` keyword.
    pub fn parse_body(text: &str) -> Result<Self, EventError> {
        const E: &str = "CIRC_BW";
        let kvs = Fields::new(text)
            .key_values()
            .map_err(|source| EventError::Fields { event: E, source })?;
        let mut circuit_id = None;
        let mut read = None;
        let mut written = None;
        let mut time = None;
        let mut extra = Vec::new();
        for kv in kvs {
            let number = |field| {
                kv.value_lossy()
                    .parse::<u64>()
                    .map_err(|_| EventError::BadNumber { event: E, field })
            };
            match kv.key.as_str() {
                "ID" => circuit_id = Some(kv.value_lossy()),
                "READ" => read = Some(number("READ")?),
                "WRITTEN" => written = Some(number("WRITTEN")?),
                "TIME" => time = Some(kv.value_lossy()),
                _ => extra.push(kv),
            }
        }
        let missing = |field| EventError::Missing { event: E, field };
        Ok(CircBwEvent {
            circuit_id: circuit_id.ok_or(missing("ID"))?,
            read: read.ok_or(missing("READ"))?,
            written: written.ok_or(missing("WRITTEN"))?,
            time,
            extra,
        })
    }
}

/// A `STATUS_CLIENT` event (also the format of `GETINFO status/bootstrap-phase`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEvent {
    /// `NOTICE`, `WARN` or `ERR`.
    pub severity: String,
    /// e.g. `BOOTSTRAP`, `CIRCUIT_ESTABLISHED`, `DANGEROUS_SOCKS`.
    pub action: String,
    /// The action's arguments.
    pub args: Vec<KeyValue>,
}

impl StatusEvent {
    /// Parses `Severity Action Arguments`.
    pub fn parse_body(text: &str) -> Result<Self, EventError> {
        const E: &str = "STATUS_CLIENT";
        let mut f = Fields::new(text);
        let severity = f
            .word()
            .ok_or(EventError::Missing {
                event: E,
                field: "Severity",
            })?
            .to_owned();
        let action = f
            .word()
            .ok_or(EventError::Missing {
                event: E,
                field: "Action",
            })?
            .to_owned();
        let args = f
            .key_values()
            .map_err(|source| EventError::Fields { event: E, source })?;
        Ok(StatusEvent {
            severity,
            action,
            args,
        })
    }

    /// The value of argument `key`, as text.
    pub fn arg(&self, key: &str) -> Option<String> {
        self.args
            .iter()
            .find(|kv| kv.key == key)
            .map(KeyValue::value_lossy)
    }

    /// Bootstrap percentage, for `BOOTSTRAP` status lines.
    pub fn bootstrap_progress(&self) -> Option<u8> {
        if self.action != "BOOTSTRAP" {
            return None;
        }
        self.arg("PROGRESS")?.parse().ok().filter(|p| *p <= 100)
    }
}

/// Event names for `SETEVENTS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `CIRC`.
    Circ,
    /// `STREAM`.
    Stream,
    /// `STREAM_BW`.
    StreamBw,
    /// `CIRC_BW`.
    CircBw,
    /// `STATUS_CLIENT`.
    StatusClient,
}

impl EventKind {
    /// The keyword used in `SETEVENTS` and in event lines.
    pub fn keyword(self) -> &'static str {
        match self {
            EventKind::Circ => "CIRC",
            EventKind::Stream => "STREAM",
            EventKind::StreamBw => "STREAM_BW",
            EventKind::CircBw => "CIRC_BW",
            EventKind::StatusClient => "STATUS_CLIENT",
        }
    }
}

/// A parsed asynchronous event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Circuit status changed.
    Circ(CircEvent),
    /// Stream status changed.
    Stream(StreamEvent),
    /// Stream bandwidth.
    StreamBw(StreamBwEvent),
    /// Circuit bandwidth.
    CircBw(CircBwEvent),
    /// Client status (bootstrap progress, warnings).
    StatusClient(StatusEvent),
    /// An event keyword this client does not interpret; the whole message is kept.
    Other {
        /// The event keyword.
        keyword: String,
        /// The raw event.
        reply: Reply,
    },
}

impl Event {
    /// Parses one asynchronous (650) message.
    pub fn parse(reply: &Reply) -> Result<Self, EventError> {
        let first = reply.lines.first().map_or("", |l| l.text.as_str());
        let (keyword, body) = first.split_once(' ').unwrap_or((first, ""));
        Ok(match keyword {
            "CIRC" => Event::Circ(CircEvent::parse_body(body)?),
            "STREAM" => Event::Stream(StreamEvent::parse_body(body)?),
            "STREAM_BW" => Event::StreamBw(StreamBwEvent::parse_body(body)?),
            "CIRC_BW" => Event::CircBw(CircBwEvent::parse_body(body)?),
            "STATUS_CLIENT" => Event::StatusClient(StatusEvent::parse_body(body)?),
            other => Event::Other {
                keyword: other.to_owned(),
                reply: reply.clone(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{Message, Parsed, ReplyParser};

    fn event(text: &str) -> Event {
        let mut p = ReplyParser::default();
        p.push(text.as_bytes());
        match p.next_message() {
            Ok(Parsed::Message(Message::Event(r))) => Event::parse(&r).unwrap(),
            other => panic!("not an event: {other:?}"),
        }
    }

    const FP1: &str = "1E1B7C2A9E5FB8E4A14E0A1C1B9A4B0D7D5E2F11";
    const FP2: &str = "2A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D";

    #[test]
    fn circ_built_with_credentials_and_conflux() {
        let ev = event(&format!(
            "650 CIRC 12 BUILT ${FP1}~relayA,${FP2}=relayB,$3a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d BUILD_FLAGS=NEED_CAPACITY,NEED_UPTIME PURPOSE=CONFLUX_LINKED TIME_CREATED=2026-11-21T17:58:43.123456 SOCKS_USERNAME=\"site\\303\\251:0\" SOCKS_PASSWORD=\"p\\\"w\" CONFLUX_ID=AB12 NEW_FIELD=x\r\n"
        ));
        let Event::Circ(c) = ev else {
            panic!("not CIRC")
        };
        assert_eq!(c.id, "12");
        assert_eq!(c.status, CircStatus::Built);
        assert_eq!(c.path.len(), 3);
        assert_eq!(c.path[0].fingerprint.as_deref(), Some(FP1));
        assert_eq!(c.path[0].nickname.as_deref(), Some("relayA"));
        assert_eq!(c.path[1].nickname.as_deref(), Some("relayB"));
        assert_eq!(
            c.path[2].fingerprint.as_deref(),
            Some("3A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D")
        );
        assert_eq!(c.path[2].nickname, None);
        assert_eq!(c.build_flags, vec!["NEED_CAPACITY", "NEED_UPTIME"]);
        assert_eq!(c.purpose.as_deref(), Some("CONFLUX_LINKED"));
        assert_eq!(
            c.socks_username.as_ref().map(Sensitive::as_bytes),
            Some("siteé:0".as_bytes())
        );
        assert_eq!(
            c.socks_password.as_ref().map(Sensitive::as_bytes),
            Some(&b"p\"w"[..])
        );
        assert_eq!(c.conflux_id.as_deref(), Some("AB12"));
        assert_eq!(c.extra.len(), 1);
        assert_eq!(c.extra[0].key, "NEW_FIELD");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("site"), "{dbg}");
    }

    #[test]
    fn circ_launched_without_path_and_closed_with_reason() {
        let Event::Circ(c) = event(
            "650 CIRC 3 LAUNCHED BUILD_FLAGS=IS_INTERNAL,NEED_CAPACITY PURPOSE=HS_VANGUARDS TIME_CREATED=2026-11-21T17:58:43.1\r\n",
        ) else {
            panic!()
        };
        assert!(c.path.is_empty());
        assert_eq!(c.status, CircStatus::Launched);
        let Event::Circ(c) = event(&format!(
            "650 CIRC 3 CLOSED ${FP1}~a REASON=FINISHED REMOTE_REASON=DESTROYED\r\n"
        )) else {
            panic!()
        };
        assert_eq!(c.status, CircStatus::Closed);
        assert_eq!(c.reason.as_deref(), Some("FINISHED"));
        assert_eq!(c.remote_reason.as_deref(), Some("DESTROYED"));
        let Event::Circ(c) = event("650 CIRC 4 SOMETHING_NEW\r\n") else {
            panic!()
        };
        assert_eq!(c.status, CircStatus::Other("SOMETHING_NEW".into()));
    }

    #[test]
    fn stream_events_carry_credentials_and_join_keys() {
        let Event::Stream(s) = event(
            "650 STREAM 21 NEW 0 site-a.test:80 SOURCE_ADDR=127.0.0.1:53422 PURPOSE=USER SOCKS_USERNAME=\"a1b2\" SOCKS_PASSWORD=\"c3\\\\d4\" CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=3 SESSION_GROUP=-7 ISO_FIELDS=SOCKS_USERNAME,SOCKS_PASSWORD,NYM_EPOCH\r\n",
        ) else {
            panic!()
        };
        assert_eq!(s.id, "21");
        assert_eq!(s.status, StreamStatus::New);
        assert_eq!(s.circuit_id, None);
        assert_eq!(s.target.as_bytes(), b"site-a.test:80");
        assert_eq!(s.source_addr.as_deref(), Some("127.0.0.1:53422"));
        assert_eq!(
            s.socks_password.as_ref().map(Sensitive::as_bytes),
            Some(&b"c3\\d4"[..])
        );
        assert_eq!(s.nym_epoch, Some(3));
        assert_eq!(s.session_group, Some(-7));
        assert_eq!(
            s.iso_fields,
            vec!["SOCKS_USERNAME", "SOCKS_PASSWORD", "NYM_EPOCH"]
        );
        assert!(!format!("{s:?}").contains("site-a"));

        let Event::Stream(s) = event(
            "650 STREAM 21 SENTCONNECT 12 site-a.test:80 SOCKS_USERNAME=\"a1b2\" SOCKS_PASSWORD=\"x\" CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=3 SESSION_GROUP=-7 ISO_FIELDS=SOCKS_USERNAME\r\n",
        ) else {
            panic!()
        };
        assert_eq!(s.status, StreamStatus::SentConnect);
        assert_eq!(s.circuit_id.as_deref(), Some("12"));

        let Event::Stream(s) =
            event("650 STREAM 21 CLOSED 12 1.2.3.4:443 REASON=END REMOTE_REASON=DONE XOFF=1\r\n")
        else {
            panic!()
        };
        assert_eq!(s.reason.as_deref(), Some("END"));
        assert_eq!(s.extra.len(), 1);
    }

    #[test]
    fn bandwidth_and_status_events() {
        let Event::StreamBw(b) = event("650 STREAM_BW 21 120 4096 2026-11-21T17:58:43.123456\r\n")
        else {
            panic!()
        };
        assert_eq!((b.written, b.read), (120, 4096));
        assert!(b.time.is_some());
        let Event::CircBw(b) = event(
            "650 CIRC_BW ID=12 READ=509 WRITTEN=1018 TIME=2026-11-21T17:58:43.1 DELIVERED_READ=498 OVERHEAD_READ=0 SS=1 CWND=124 RTT=30 MIN_RTT=2\r\n",
        ) else {
            panic!()
        };
        assert_eq!(
            (b.circuit_id.as_str(), b.read, b.written),
            ("12", 509, 1018)
        );
        assert_eq!(b.extra.len(), 6);
        let Event::StatusClient(s) = event(
            "650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=75 TAG=enough_dirinfo SUMMARY=\"Loaded enough directory info to build circuits\"\r\n",
        ) else {
            panic!()
        };
        assert_eq!(s.bootstrap_progress(), Some(75));
        assert_eq!(
            s.arg("SUMMARY").as_deref(),
            Some("Loaded enough directory info to build circuits")
        );
        let Event::StatusClient(s) = event("650 STATUS_CLIENT NOTICE CIRCUIT_ESTABLISHED\r\n")
        else {
            panic!()
        };
        assert_eq!(s.bootstrap_progress(), None);
    }

    #[test]
    fn unknown_events_are_kept() {
        let ev = event("650-NEWCONSENSUS\r\n650+\r\nr x y\r\n.\r\n650 OK\r\n");
        let Event::Other { keyword, reply } = ev else {
            panic!()
        };
        assert_eq!(keyword, "NEWCONSENSUS");
        assert_eq!(reply.lines.len(), 3);
    }

    #[test]
    fn malformed_known_events_are_typed_errors() {
        let parse = |t: &str| {
            let mut p = ReplyParser::default();
            p.push(t.as_bytes());
            let Ok(Parsed::Message(Message::Event(r))) = p.next_message() else {
                panic!()
            };
            Event::parse(&r)
        };
        assert!(matches!(
            parse("650 CIRC\r\n"),
            Err(EventError::Missing {
                field: "CircuitID",
                ..
            })
        ));
        assert!(matches!(
            parse("650 STREAM 1 NEW 0\r\n"),
            Err(EventError::Missing {
                field: "Target",
                ..
            })
        ));
        assert!(matches!(
            parse("650 STREAM_BW 1 x 2\r\n"),
            Err(EventError::BadNumber { .. })
        ));
        assert!(matches!(
            parse("650 CIRC_BW ID=1 READ=2\r\n"),
            Err(EventError::Missing {
                field: "WRITTEN",
                ..
            })
        ));
        assert!(matches!(
            parse("650 STREAM 1 NEW 0 a:1 NYM_EPOCH=x\r\n"),
            Err(EventError::BadNumber { .. })
        ));
        assert!(matches!(
            parse("650 CIRC 1 BUILT SOCKS_USERNAME=\"abc\r\n"),
            Err(EventError::Fields { .. })
        ));
    }
}
