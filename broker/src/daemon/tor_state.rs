//! What the daemon knows about tor, without I/O: the tor status of `docs/protocol.md` §2.4 and
//! tor's NEWNYM rate limit, so `new_identity` can say whether tor acts now or later.

use std::time::{Duration, Instant};
/// Tor accepts one NEWNYM per this interval and defers later ones (`MAX_SIGNEWNYM_RATE`).
pub(crate) const NEWNYM_INTERVAL: Duration = Duration::from_secs(10);

pub(crate) use persite_protocol::ControlState;

/// The tor status (§2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TorStatus {
    /// Control link state.
    pub control: ControlState,
    /// Whether the daemon runs this tor itself.
    pub managed: bool,
    /// Tor's version, once known.
    pub version: Option<String>,
    /// Bootstrap percentage, once known.
    pub bootstrap_progress: Option<u8>,
    /// Bootstrap summary (`Done`, `Loading relay descriptors`, …).
    pub bootstrap_summary: Option<String>,
    /// `GETINFO net/listeners/socks`.
    pub socks_listeners: Option<Vec<String>>,
    /// Why managed tor is not running (gave up restarting, binary missing), for people.
    pub error: Option<String>,
}

impl TorStatus {
    /// The status before anything is known.
    pub(crate) fn new(control: ControlState, managed: bool) -> Self {
        Self {
            control,
            managed,
            version: None,
            bootstrap_progress: None,
            bootstrap_summary: None,
            socks_listeners: None,
            error: None,
        }
    }

    /// The tor status of §2.4 (plus the additive `error`).
    pub(crate) fn to_wire(&self) -> persite_protocol::TorStatus {
        persite_protocol::TorStatus {
            control: self.control,
            managed: self.managed,
            version: self.version.clone(),
            bootstrap: self
                .bootstrap_progress
                .map(|progress| persite_protocol::Bootstrap {
                    progress,
                    summary: self.bootstrap_summary.clone(),
                }),
            socks_listeners: self.socks_listeners.clone(),
            error: self.error.clone(),
            // The daemon's verdict (dispatch.rs `tor_wire`) fills these in.
            socks_vouched: false,
            socks_problem: None,
        }
    }

    /// Whether circuit data can be shown: connected, and bootstrapped when progress is known.
    pub(crate) fn availability(&self) -> crate::daemon::circuits::Availability {
        use crate::daemon::circuits::Availability;
        match (self.control, self.bootstrap_progress) {
            (ControlState::Connected, Some(p)) if p < 100 => Availability::NotBootstrapped,
            (ControlState::Connected, _) => Availability::Available,
            _ => Availability::NoControlPort,
        }
    }
}

/// How much proof the daemon wants that the `[socks]` endpoint is tor before it hands out
/// credentials (`docs/tor.md`, "The SOCKS endpoint must be tor").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocksCheck {
    /// Managed mode: the endpoint is the daemon's own tor's.
    Own,
    /// A control port is configured, was found, or has answered once: until it is connected
    /// and names the endpoint among tor's SOCKS listeners, credentials are refused.
    Required,
    /// No control port (`control = "none"`, or none found at start): nothing vouches for the
    /// endpoint; credentials are served and doctor says so. Turns into [`Self::Required`] as
    /// soon as a control link comes up.
    Unvouched,
}

/// What the daemon concludes about the `[socks]` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SocksVerdict {
    /// Tor listens there (or it is our own tor).
    Tor,
    /// Nothing can vouch for it; served anyway (no control port).
    Unvouched,
    /// Tor's control port says its SOCKS listeners are elsewhere.
    NotTor {
        /// `GETINFO net/listeners/socks`.
        listeners: Vec<String>,
    },
    /// Not known yet: the control link is not up, or tor did not list its SOCKS listeners.
    Unverified {
        /// Why, for people.
        why: &'static str,
    },
}

impl SocksVerdict {
    /// Decides from the control link's `status`, how much proof `check` wants and the
    /// endpoint `host:port`.
    pub(crate) fn of(status: &TorStatus, check: SocksCheck, host: &str, port: u16) -> Self {
        use crate::doctor::socks_port::listeners_cover;
        match check {
            SocksCheck::Own => return Self::Tor,
            SocksCheck::Unvouched if status.control != ControlState::Connected => {
                return Self::Unvouched;
            }
            _ => {}
        }
        if status.control != ControlState::Connected {
            return Self::Unverified {
                why: "tor's control port has not answered (yet), so nothing confirms that the SOCKS endpoint is tor",
            };
        }
        match &status.socks_listeners {
            Some(list) if listeners_cover(list, host, port) => Self::Tor,
            Some(list) => Self::NotTor {
                listeners: list.clone(),
            },
            None => Self::Unverified {
                why: "tor did not list its SOCKS listeners (GETINFO net/listeners/socks failed or is filtered)",
            },
        }
    }

    /// Why credentials are refused, with what to do, for people (`None` when served).
    pub(crate) fn problem(&self, host: &str, port: u16) -> Option<String> {
        let ep = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        match self {
            Self::Tor | Self::Unvouched => None,
            Self::NotTor { listeners } => {
                let shown = if listeners.is_empty() {
                    "none".to_owned()
                } else {
                    listeners.join(", ")
                };
                let localhost = if host.eq_ignore_ascii_case("localhost") {
                    " (`localhost` needs tor on both 127.0.0.1 and [::1]; or use an IP literal)"
                } else {
                    ""
                };
                Some(format!(
                    "the SOCKS endpoint {ep} is not one of tor's SOCKS listeners ({shown}){localhost}: something else may be listening there, so no browsing is sent to it; set [socks] host/port to one of tor's listeners, or add `SocksPort {ep} KeepAliveIsolateSOCKSAuth` to torrc, then run `persite doctor`"
                ))
            }
            Self::Unverified { why } => Some(format!(
                "{why}; no browsing is sent to {ep} until it does; run `persite doctor` (or set [tor] control = \"none\" to trust {ep} without proof)"
            )),
        }
    }
}

/// What became of a NEWNYM request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NewnymOutcome {
    /// Tor acts on it now.
    Sent,
    /// Tor defers it; it takes effect after this long.
    Delayed(Duration),
}

/// Mirrors tor's NEWNYM rate limit: tor performs a NEWNYM at once when the last one was at
/// least [`NEWNYM_INTERVAL`] ago, otherwise it schedules one for last + interval (further
/// requests until then join that one), and that deferred one counts as the new "last".
#[derive(Debug, Default, Clone)]
pub(crate) struct NewnymLimiter {
    last: Option<Instant>,
    pending: Option<Instant>,
}

impl NewnymLimiter {
    /// Records a NEWNYM sent at `now` and says what tor does with it.
    pub(crate) fn request(&mut self, now: Instant) -> NewnymOutcome {
        if let Some(p) = self.pending
            && p <= now
        {
            self.last = Some(p);
            self.pending = None;
        }
        match self.last {
            Some(last) if now < last + NEWNYM_INTERVAL => {
                let due = last + NEWNYM_INTERVAL;
                self.pending = Some(due);
                NewnymOutcome::Delayed(due - now)
            }
            _ => {
                self.last = Some(now);
                NewnymOutcome::Sent
            }
        }
    }

    /// Forgets the history (a restarted tor has none).
    pub(crate) fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn newnym_follows_tors_ten_second_rule() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut l = NewnymLimiter::default();
        assert_eq!(l.request(t0), NewnymOutcome::Sent);
        assert_eq!(l.request(t0 + s(3)), NewnymOutcome::Delayed(s(7)));
        assert_eq!(l.request(t0 + s(9)), NewnymOutcome::Delayed(s(1)));
        // The deferred one ran at t0+10, so t0+15 is within its 10 s.
        assert_eq!(l.request(t0 + s(15)), NewnymOutcome::Delayed(s(5)));
        assert_eq!(l.request(t0 + s(31)), NewnymOutcome::Sent);
        l.reset();
        assert_eq!(l.request(t0 + s(32)), NewnymOutcome::Sent);
    }

    #[test]
    fn status_json_and_availability() {
        use crate::daemon::circuits::Availability;
        let mut st = TorStatus::new(ControlState::Connecting, true);
        assert_eq!(
            serde_json::to_value(st.to_wire()).expect("serialises"),
            json!({"control": "connecting", "managed": true, "version": null,
                   "bootstrap": null, "socks_listeners": null, "error": null,
                   "socks_vouched": false, "socks_problem": null})
        );
        assert_eq!(st.availability(), Availability::NoControlPort);
        st.control = ControlState::Connected;
        assert_eq!(st.availability(), Availability::Available);
        st.bootstrap_progress = Some(45);
        st.bootstrap_summary = Some("Loading".into());
        assert_eq!(st.availability(), Availability::NotBootstrapped);
        assert_eq!(
            serde_json::to_value(st.to_wire()).expect("serialises")["bootstrap"],
            json!({"progress": 45, "summary": "Loading"})
        );
        st.bootstrap_progress = Some(100);
        assert_eq!(st.availability(), Availability::Available);
    }
}
