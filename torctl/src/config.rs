//! Where the control port is and how to talk to it: [`ControlAddr`] and [`ControlConfig`].

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::{self, AuthMethod};
use crate::events::EventKind;
use crate::reply::Limits;

/// Where tor's control port listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlAddr {
    /// `host:port` (e.g. `127.0.0.1:9051`).
    Tcp(String),
    /// Path of a `ControlSocket`.
    Unix(PathBuf),
}

impl std::str::FromStr for ControlAddr {
    type Err = std::convert::Infallible;

    /// `unix:/path` or an absolute path is a Unix socket; anything else is `host:port`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.strip_prefix("unix:") {
            Some(path) => ControlAddr::Unix(path.into()),
            None if s.starts_with('/') => ControlAddr::Unix(s.into()),
            None => ControlAddr::Tcp(s.to_owned()),
        })
    }
}

impl std::fmt::Display for ControlAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlAddr::Tcp(addr) => f.write_str(addr),
            ControlAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl ControlAddr {
    /// How a connection to this address is carried (decides the usable auth methods).
    pub fn transport(&self) -> auth::Transport {
        match self {
            ControlAddr::Tcp(_) => auth::Transport::Tcp,
            ControlAddr::Unix(_) => auth::Transport::Unix,
        }
    }
}

/// Everything needed to reach and authenticate to tor.
#[derive(Clone)]
pub struct ControlConfig {
    /// Control port or socket.
    pub addr: ControlAddr,
    /// Password for HASHEDPASSWORD, if tor uses `HashedControlPassword`; used only when set
    /// (over TCP it goes in clear to whoever holds the port).
    pub password: Option<Vec<u8>>,
    /// The cookie file to read for SAFECOOKIE/COOKIE instead of the path PROTOCOLINFO names:
    /// for a tor whose file system is not ours (another container or VM, a different mount),
    /// where its `CookieAuthFile` is shared under another path.
    pub cookie_file: Option<PathBuf>,
    /// Methods this client may use (default: all four); e.g. `[SafeCookie]` to insist on it.
    pub auth_methods: Vec<AuthMethod>,
    /// Bound on establishing the socket.
    pub connect_timeout: Duration,
    /// Bound on the whole authentication exchange.
    pub auth_timeout: Duration,
    /// Bound on waiting for each reply.
    pub reply_timeout: Duration,
    /// Parser limits.
    pub limits: Limits,
    /// Events to subscribe to after authenticating (re-issued after every reconnect).
    pub events: Vec<EventKind>,
    /// First delay before reconnecting; doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// Longest delay between reconnection attempts.
    pub reconnect_max: Duration,
    /// Notifications buffered per subscriber before it lags.
    pub notification_capacity: usize,
}

impl std::fmt::Debug for ControlConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlConfig")
            .field("addr", &self.addr)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .field("cookie_file", &self.cookie_file)
            .field("auth_methods", &self.auth_methods)
            .field("connect_timeout", &self.connect_timeout)
            .field("auth_timeout", &self.auth_timeout)
            .field("reply_timeout", &self.reply_timeout)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl ControlConfig {
    /// Defaults (10 s bounds, CIRC + STREAM events, 250 ms–30 s backoff) for `addr`.
    pub fn new(addr: ControlAddr) -> Self {
        ControlConfig {
            addr,
            password: None,
            cookie_file: None,
            auth_methods: vec![
                AuthMethod::SafeCookie,
                AuthMethod::Cookie,
                AuthMethod::HashedPassword,
                AuthMethod::Null,
            ],
            connect_timeout: Duration::from_secs(10),
            auth_timeout: Duration::from_secs(10),
            reply_timeout: Duration::from_secs(10),
            limits: Limits::default(),
            events: vec![EventKind::Circ, EventKind::Stream],
            reconnect_min: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(30),
            notification_capacity: 4096,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_addresses_parse() {
        assert_eq!(
            "127.0.0.1:9051".parse::<ControlAddr>(),
            Ok(ControlAddr::Tcp("127.0.0.1:9051".into()))
        );
        assert_eq!(
            "unix:/run/tor/control".parse::<ControlAddr>(),
            Ok(ControlAddr::Unix("/run/tor/control".into()))
        );
        assert_eq!(
            "/run/tor/control".parse::<ControlAddr>(),
            Ok(ControlAddr::Unix("/run/tor/control".into()))
        );
        assert_eq!(
            ControlAddr::Unix("/x".into()).to_string(),
            "unix:/x".to_owned()
        );
    }

    #[test]
    fn config_debug_hides_the_password() {
        let mut config = ControlConfig::new(ControlAddr::Tcp("127.0.0.1:9051".into()));
        config.password = Some(b"hunter2".to_vec());
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
