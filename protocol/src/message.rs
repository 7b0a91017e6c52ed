//! Typed messages of `docs/protocol.md` §2: request kinds, results, pushes and replies.
//!
//! Results and pushes derive `Serialize` and `Deserialize` with `deny_unknown_fields`, so a test
//! that reads the broker's output or a doc example into them fails on any drift. Clients must
//! still ignore fields they do not know (the protocol grows additively).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

use crate::error::ErrorBody;

/// The kinds of request of §2.1, by their wire `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestType {
    /// `hello`: version handshake.
    Hello,
    /// `credentials`: SOCKS credentials for a first party.
    Credentials,
    /// `new_circuit`: fresh credentials for one site.
    NewCircuit,
    /// `new_identity`: fresh credentials for every site.
    NewIdentity,
    /// `status`: counters and settings.
    Status,
    /// `circuit`: a site's circuit display.
    Circuit,
    /// `policy_get`: the circuit-lifetime policies.
    PolicyGet,
    /// `policy_set`: change the default or a site's circuit-lifetime policy.
    PolicySet,
    /// `tab_closed`: a browser tab was closed; its per-tab credentials go.
    TabClosed,
    /// `app_credentials`: credentials of an application context (`persite run`).
    AppCredentials,
    /// `session_ended`: a browser session (a private one) ended; its credential state goes.
    SessionEnded,
}

impl RequestType {
    /// Every request kind, in the order of §2.1.
    pub const ALL: [RequestType; 11] = [
        RequestType::Hello,
        RequestType::Credentials,
        RequestType::NewCircuit,
        RequestType::NewIdentity,
        RequestType::Status,
        RequestType::PolicyGet,
        RequestType::PolicySet,
        RequestType::Circuit,
        RequestType::AppCredentials,
        RequestType::TabClosed,
        RequestType::SessionEnded,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestType::Hello => "hello",
            RequestType::Credentials => "credentials",
            RequestType::NewCircuit => "new_circuit",
            RequestType::NewIdentity => "new_identity",
            RequestType::Status => "status",
            RequestType::Circuit => "circuit",
            RequestType::PolicyGet => "policy_get",
            RequestType::PolicySet => "policy_set",
            RequestType::TabClosed => "tab_closed",
            RequestType::AppCredentials => "app_credentials",
            RequestType::SessionEnded => "session_ended",
        }
    }

    /// Looks up a wire `type` string.
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == s)
    }
}

/// Where tor's SOCKS port is (`socks` in `hello`, `status`, `app_credentials`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocksEndpoint {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// The result of `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelloResult {
    /// The protocol the broker speaks ([`crate::limits::PROTOCOL_VERSION`]).
    pub protocol: u64,
    /// The broker's version.
    pub broker_version: String,
    /// A random id of this daemon run: a new one means every cached credential is stale.
    pub instance: String,
    /// Tor's SOCKS port.
    pub socks: SocksEndpoint,
}

/// The result of `credentials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsResult {
    /// The first-party site the credentials belong to.
    pub site: String,
    /// The container.
    pub container: String,
    /// SOCKS username.
    pub username: String,
    /// SOCKS password.
    pub password: String,
    /// Unix time in milliseconds after which the extension must ask again, or `None`.
    pub expires_at: Option<u64>,
    /// Each tab of the site has its own credentials: cache them for this tab only.
    pub per_tab: bool,
}

/// The result of `new_circuit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCircuitResult {
    /// The site whose credentials changed.
    pub site: String,
}

/// What became of tor's `SIGNAL NEWNYM` on New identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Newnym {
    /// Sent now.
    Sent,
    /// Tor accepts one per 10 s: sent when that time is up.
    Delayed,
    /// No control port: not sent.
    Unavailable,
}

impl Newnym {
    /// Every outcome.
    pub const ALL: [Newnym; 3] = [Newnym::Sent, Newnym::Delayed, Newnym::Unavailable];
}

/// The result of `new_identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewIdentityResult {
    /// The identity epoch now in force.
    pub epoch: u64,
    /// What became of `SIGNAL NEWNYM`.
    pub newnym: Newnym,
    /// Seconds until the delayed NEWNYM is sent (only with [`Newnym::Delayed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newnym_delay_s: Option<u64>,
}

/// State of the control-port connection in a [`TorStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlState {
    /// Authenticated and listening to events.
    Connected,
    /// Configured, not reachable yet.
    Connecting,
    /// No control port configured.
    None,
}

impl ControlState {
    /// Every state.
    pub const ALL: [ControlState; 3] = [
        ControlState::Connected,
        ControlState::Connecting,
        ControlState::None,
    ];

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            ControlState::Connected => "connected",
            ControlState::Connecting => "connecting",
            ControlState::None => "none",
        }
    }
}

/// Tor's bootstrap progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bootstrap {
    /// Percent, 0–100.
    pub progress: u8,
    /// Tor's summary of the current phase.
    pub summary: Option<String>,
}

/// A tor status: `status.tor` and the body of a `tor_status` push (§2.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TorStatus {
    /// The control connection.
    pub control: ControlState,
    /// Whether the daemon runs this tor itself.
    pub managed: bool,
    /// Tor's version, when known.
    pub version: Option<String>,
    /// Bootstrap progress, when known.
    pub bootstrap: Option<Bootstrap>,
    /// Tor's SOCKS listeners (`net/listeners/socks`), when known.
    pub socks_listeners: Option<Vec<String>>,
    /// For people: why a managed tor is not running.
    #[serde(default)]
    pub error: Option<String>,
    /// Tor's SOCKS listeners cover the daemon's SOCKS endpoint (or the tor is the daemon's
    /// own): credentials are handed out.
    #[serde(default)]
    pub socks_vouched: bool,
    /// For people: why credentials are refused (the endpoint is not tor's, or nothing could
    /// check it yet).
    #[serde(default)]
    pub socks_problem: Option<String>,
}

/// One application context in a [`StatusResult`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppStatus {
    /// The context's name.
    pub name: String,
    /// How many destination sites it has credentials for.
    pub sites: u64,
    /// How many circuits it uses.
    pub circuits: u64,
}

/// The result of `status` (no site names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusResult {
    /// The broker's version.
    pub broker_version: String,
    /// This daemon run's id.
    pub instance: String,
    /// Seconds since the daemon started.
    pub uptime_s: u64,
    /// How many sites have been seen.
    pub sites: u64,
    /// The identity epoch.
    pub epoch: u64,
    /// Tor's SOCKS port.
    pub socks: SocksEndpoint,
    /// Tor's state.
    pub tor: TorStatus,
    /// Where the SOCKS front listens, if it runs.
    pub front: Option<String>,
    /// The application contexts.
    pub apps: Vec<AppStatus>,
}

/// The result of `app_credentials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppCredentialsResult {
    /// The application context.
    pub app: String,
    /// The destination site (or the application's own site under `.invalid`).
    pub site: String,
    /// `app:<app>`.
    pub container: String,
    /// SOCKS username.
    pub username: String,
    /// SOCKS password.
    pub password: String,
    /// Tor's SOCKS port.
    pub socks: SocksEndpoint,
    /// Where the SOCKS front listens, if it runs.
    pub front: Option<String>,
}

/// The result of `tab_closed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TabClosedResult {
    /// How many sites had per-tab credentials in the tab.
    pub sites: u64,
}

/// The result of `session_ended`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionEndedResult {
    /// How many credential sets the session had.
    pub sets: u64,
}

/// A circuit-lifetime policy (§2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Rotate once the credentials are this many seconds old.
    pub max_age_s: Option<u64>,
    /// Rotate once the credentials carried this many bytes.
    pub max_bytes: Option<u64>,
    /// Each tab gets its own credentials.
    pub per_tab: bool,
}

/// The answer of `policy_get` and `policy_set` (§2.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policies {
    /// The default policy.
    pub default: Policy,
    /// Per-site overrides.
    pub sites: BTreeMap<String, Policy>,
}

/// Role of a hop in a circuit display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HopRole {
    /// First hop.
    Guard,
    /// A middle hop.
    Middle,
    /// Last hop.
    Exit,
    /// A first hop that is a configured bridge.
    Bridge,
}

impl HopRole {
    /// Every role.
    pub const ALL: [HopRole; 4] = [
        HopRole::Guard,
        HopRole::Middle,
        HopRole::Exit,
        HopRole::Bridge,
    ];
}

/// Why a circuit display is unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnavailableReason {
    /// No control port configured or reachable.
    NoControlPort,
    /// Tor has not finished bootstrapping.
    NotBootstrapped,
    /// The page has no network first party (the catch-all).
    NoNetworkFirstParty,
}

impl UnavailableReason {
    /// Every reason.
    pub const ALL: [UnavailableReason; 3] = [
        UnavailableReason::NoControlPort,
        UnavailableReason::NotBootstrapped,
        UnavailableReason::NoNetworkFirstParty,
    ];
}

/// One relay of a circuit display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hop {
    /// The hop's role.
    pub role: HopRole,
    /// Relay fingerprint, 40 hex digits.
    pub fingerprint: String,
    /// Relay nickname, when known.
    pub nickname: Option<String>,
    /// IPv4 address, when known.
    pub ip: Option<String>,
    /// IPv6 address, when known.
    pub ipv6: Option<String>,
    /// Lowercase ISO 3166 country code, when tor's GeoIP knows it.
    pub country: Option<String>,
    /// A bridge's transport (`""` for a vanilla bridge); `None` for relays.
    pub bridge_type: Option<String>,
}

/// One circuit (a conflux leg or a plain circuit) of a display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitPath {
    /// Tor's circuit id.
    pub id: String,
    /// The conflux set the leg belongs to, if any.
    pub conflux_id: Option<String>,
    /// The relays, first to last.
    pub hops: Vec<Hop>,
}

/// Bytes carried by a site's current credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByteCounts {
    /// Bytes read.
    pub read: u64,
    /// Bytes written.
    pub written: u64,
}

/// A circuit display: the answer to `circuit` and the body of a `circuit` push (§2.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitResult {
    /// The site.
    pub site: String,
    /// The container.
    pub container: String,
    /// The tab, only on the display of one tab of a per-tab site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tab: Option<i64>,
    /// Whether circuit data can be shown.
    pub available: bool,
    /// Why not, when `available` is false.
    pub reason: Option<UnavailableReason>,
    /// An `.onion` site: the hops end at the rendezvous point.
    pub onion: bool,
    /// The circuits (two with a conflux set); empty before the first stream.
    pub circuits: Vec<CircuitPath>,
    /// Bytes carried since the current credentials were issued.
    pub bytes: Option<ByteCounts>,
}

/// Why an `invalidate` push was sent (§2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidateReason {
    /// The user asked for a new circuit for the site.
    NewCircuit,
    /// The user asked for a new identity.
    NewIdentity,
    /// Credentials rotated by policy or lifetime.
    Rotation,
    /// A new daemon run (sent by clients that notice one).
    BrokerRestarted,
    /// This subscriber fell behind and missed pushes, so it must drop everything.
    EventsLost,
}

impl InvalidateReason {
    /// Every reason.
    pub const ALL: [InvalidateReason; 5] = [
        InvalidateReason::NewCircuit,
        InvalidateReason::NewIdentity,
        InvalidateReason::Rotation,
        InvalidateReason::BrokerRestarted,
        InvalidateReason::EventsLost,
    ];

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NewCircuit => "new_circuit",
            Self::NewIdentity => "new_identity",
            Self::Rotation => "rotation",
            Self::BrokerRestarted => "broker_restarted",
            Self::EventsLost => "events_lost",
        }
    }
}

/// An unsolicited message (§2.2): no `id`, a `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Push {
    /// Drop cached credentials: of `sites`, or all with `all: true`.
    Invalidate(Invalidate),
    /// The host (re)connected to a daemon.
    BrokerConnected {
        /// The daemon run's id.
        instance: String,
    },
    /// The host lost the daemon.
    BrokerDisconnected,
    /// A site's circuit display changed.
    Circuit(CircuitResult),
    /// Tor's control connection or bootstrap progress changed.
    TorStatus(TorStatus),
}

/// The body of an `invalidate` push: exactly one of `sites` or `all: true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Invalidate {
    /// Drop these sites' credentials.
    Sites {
        /// The sites.
        sites: Vec<String>,
        /// Why.
        reason: InvalidateReason,
    },
    /// Drop every credential.
    All {
        /// Always `true`.
        all: True,
        /// Why.
        reason: InvalidateReason,
    },
}

/// A boolean that must be `true` on the wire (`invalidate`'s `all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct True;

impl Serialize for True {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(true)
    }
}

impl<'de> Deserialize<'de> for True {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if bool::deserialize(d)? {
            Ok(True)
        } else {
            Err(serde::de::Error::custom("`all` must be true"))
        }
    }
}

/// A reply (§2): the request's `id` (`null` when it could not be read) and exactly one of
/// `result` or `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// The request's id.
    pub id: Option<Number>,
    /// The result, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The error, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl Reply {
    /// A successful reply.
    pub fn ok(id: Option<Number>, result: Value) -> Self {
        Self {
            id,
            result: Some(result),
            error: None,
        }
    }

    /// An error reply.
    pub fn err(id: Option<Number>, error: ErrorBody) -> Self {
        Self {
            id,
            result: None,
            error: Some(error),
        }
    }

    /// Whether exactly one of `result` and `error` is present, as §2 requires.
    pub fn is_well_formed(&self) -> bool {
        self.result.is_some() != self.error.is_some()
    }
}

/// Reads a result of `kind` strictly (unknown fields and wrong types are errors): what tests
/// use to hold the broker's output and the docs to these types.
pub fn check_result(kind: RequestType, result: &Value) -> Result<(), serde_json::Error> {
    fn read<T: serde::de::DeserializeOwned>(v: &Value) -> Result<(), serde_json::Error> {
        T::deserialize(v).map(drop)
    }
    match kind {
        RequestType::Hello => read::<HelloResult>(result),
        RequestType::Credentials => read::<CredentialsResult>(result),
        RequestType::NewCircuit => read::<NewCircuitResult>(result),
        RequestType::NewIdentity => read::<NewIdentityResult>(result),
        RequestType::Status => read::<StatusResult>(result),
        RequestType::Circuit => read::<CircuitResult>(result),
        RequestType::PolicyGet | RequestType::PolicySet => read::<Policies>(result),
        RequestType::TabClosed => read::<TabClosedResult>(result),
        RequestType::AppCredentials => read::<AppCredentialsResult>(result),
        RequestType::SessionEnded => read::<SessionEndedResult>(result),
    }
}
