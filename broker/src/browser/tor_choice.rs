//! Where the browser's tor comes from, decided before anything is started: the daemon already
//! running, a system tor that `persite doctor` accepts, or Persite's own (managed) tor — the
//! last only when the configuration asks for it or the user said yes, because it connects to
//! the public Tor network.

use crate::config::TorMode;
use crate::doctor::{Finding, Section, SocksObs, Status};

/// What `persite browser` knows when it decides.
#[derive(Debug, Clone)]
pub struct Situation<'a> {
    /// A daemon answers on its socket.
    pub daemon_running: bool,
    /// `[tor] mode`.
    pub mode: TorMode,
    /// The SOCKS endpoint as doctor probed it.
    pub socks: &'a SocksObs,
    /// Doctor's findings (only the SOCKS and Tor sections are read).
    pub findings: &'a [Finding],
    /// The user allowed Persite's own tor (`--managed-tor`, or yes at the prompt).
    pub consent: bool,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TorChoice {
    /// A daemon runs: use it and the tor it has.
    UseRunningDaemon,
    /// Start the daemon; it uses the system tor that doctor accepted.
    SystemTor,
    /// Start the daemon with its own tor (asked for by the configuration or the user).
    ManagedTor,
    /// Nothing listens on the SOCKS endpoint and Persite's own tor was not allowed.
    NeedConsent,
    /// Something listens on the SOCKS endpoint but doctor finds it unusable: these errors.
    Refused(Vec<Finding>),
}

/// Decides; see [`TorChoice`].
pub fn decide(s: &Situation<'_>) -> TorChoice {
    if s.daemon_running {
        return TorChoice::UseRunningDaemon;
    }
    if s.mode == TorMode::Managed {
        return TorChoice::ManagedTor;
    }
    let nothing_listens = matches!(s.socks, SocksObs::Unreachable(_));
    if s.mode == TorMode::Auto && nothing_listens {
        return if s.consent {
            TorChoice::ManagedTor
        } else {
            TorChoice::NeedConsent
        };
    }
    let errors: Vec<Finding> = s
        .findings
        .iter()
        .filter(|f| matches!(f.section, Section::Socks | Section::Tor) && f.status == Status::Error)
        .cloned()
        .collect();
    if errors.is_empty() {
        TorChoice::SystemTor
    } else {
        TorChoice::Refused(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::SocksProbe;

    fn error(section: Section) -> Finding {
        Finding {
            id: "x".into(),
            section,
            status: Status::Error,
            message: "broken".into(),
            hint: Some("fix it".into()),
        }
    }

    fn situation<'a>(mode: TorMode, socks: &'a SocksObs, findings: &'a [Finding]) -> Situation<'a> {
        Situation {
            daemon_running: false,
            mode,
            socks,
            findings,
            consent: false,
        }
    }

    #[test]
    fn no_tor_means_asking_first_in_auto_mode() {
        let closed = SocksObs::Unreachable("connection refused".into());
        let errors = [error(Section::Socks)];
        let s = situation(TorMode::Auto, &closed, &errors);
        assert_eq!(decide(&s), TorChoice::NeedConsent);
        assert_eq!(
            decide(&Situation {
                consent: true,
                ..s.clone()
            }),
            TorChoice::ManagedTor
        );
        assert_eq!(
            decide(&Situation {
                daemon_running: true,
                ..s
            }),
            TorChoice::UseRunningDaemon
        );
    }

    #[test]
    fn a_system_tor_must_pass_doctor() {
        let up = SocksObs::Reached(SocksProbe::UserPass);
        let warning = Finding {
            status: Status::Warning,
            ..error(Section::Tor)
        };
        let fine = [warning.clone(), error(Section::Manifests)];
        assert_eq!(
            decide(&situation(TorMode::Auto, &up, &fine)),
            TorChoice::SystemTor
        );
        let bad = [warning, error(Section::Tor)];
        assert_eq!(
            decide(&situation(TorMode::System, &up, &bad)),
            TorChoice::Refused(vec![error(Section::Tor)])
        );
        // System mode never falls back to a tor of Persite's own, even with consent.
        let closed = SocksObs::Unreachable("refused".into());
        let s = Situation {
            consent: true,
            ..situation(TorMode::System, &closed, &bad)
        };
        assert!(matches!(decide(&s), TorChoice::Refused(_)));
    }

    #[test]
    fn managed_mode_is_the_configurations_own_request() {
        let closed = SocksObs::Unreachable("refused".into());
        assert_eq!(
            decide(&situation(TorMode::Managed, &closed, &[])),
            TorChoice::ManagedTor
        );
    }
}
