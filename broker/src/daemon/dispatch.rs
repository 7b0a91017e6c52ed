//! Executes parsed requests against the [`Isolator`] and says which push, if any, must follow.
//!
//! Sans-IO like [`super::rpc`]: the HTTP layer locks a [`Broker`], calls [`Broker::handle`] and
//! publishes the returned push; both `/v1/rpc` and the REST routes go through here, so they
//! cannot behave differently.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::rpc::{InvalidateReason, Push, Request, RpcError, SiteRef};
use crate::config::SocksEndpoint;
use crate::isolation_error::IsolationError;
use crate::isolator::Isolator;

/// The daemon's state: the isolator plus what `hello` and `status` report.
#[derive(Debug)]
pub struct Broker {
    isolator: Isolator,
    socks: SocksEndpoint,
    instance: String,
    started: Instant,
}

/// The moment a request is handled, on both clocks the broker uses; passed in so tests can
/// move time (e.g. past the catch-all's rotation age) without sleeping.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time, for `uptime_s`.
    pub instant: Instant,
    /// Unix time in milliseconds, for credential expiry and rotation.
    pub unix_ms: u64,
}

impl Now {
    /// The current time.
    pub fn current() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            instant: Instant::now(),
            unix_ms: u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// What a request produced: the reply's result and the push to publish.
#[derive(Debug)]
pub struct Outcome {
    /// `result` or `error` of the reply.
    pub result: Result<Value, RpcError>,
    /// A push every subscriber must get now.
    pub push: Option<Push>,
}

impl From<IsolationError> for RpcError {
    fn from(e: IsolationError) -> Self {
        RpcError::new(e.code(), e.to_string())
    }
}

impl Broker {
    /// A broker for one daemon run identified by `instance`.
    pub fn new(isolator: Isolator, socks: SocksEndpoint, instance: String, now: Instant) -> Self {
        Self {
            isolator,
            socks,
            instance,
            started: now,
        }
    }

    /// This run's random id.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Executes `request` at `now`.
    pub fn handle(&mut self, request: Request, now: Now) -> Outcome {
        let mut push = None;
        let result = match request {
            Request::Hello => Ok(json!({
                "protocol": super::rpc::PROTOCOL_VERSION,
                "broker_version": env!("CARGO_PKG_VERSION"),
                "instance": self.instance,
                "socks": self.socks,
            })),
            Request::Credentials { url, container, .. } => {
                self.credentials(&url, &container, now.unix_ms, &mut push)
            }
            Request::NewCircuit(target) => self.new_circuit(&target).map(|site| {
                push = Some(Push::InvalidateSites {
                    sites: vec![site.clone()],
                    reason: InvalidateReason::NewCircuit,
                });
                json!({"site": site})
            }),
            Request::NewIdentity => {
                let epoch = self.isolator.new_identity();
                tracing::info!(epoch, "new identity: every site gets new credentials");
                push = Some(Push::InvalidateAll {
                    reason: InvalidateReason::NewIdentity,
                });
                Ok(json!({"epoch": epoch}))
            }
            Request::Status => Ok(json!({
                "broker_version": env!("CARGO_PKG_VERSION"),
                "instance": self.instance,
                "uptime_s": now.instant.saturating_duration_since(self.started).as_secs(),
                "sites": self.isolator.sites_seen(),
                "epoch": self.isolator.epoch(),
                "socks": self.socks,
                "tor": Value::Null,
            })),
        };
        Outcome { result, push }
    }

    fn credentials(
        &mut self,
        url: &str,
        container: &str,
        now_ms: u64,
        push: &mut Option<Push>,
    ) -> Result<Value, RpcError> {
        let issued = self.isolator.credentials_at(url, container, now_ms)?;
        tracing::debug!(site = %issued.site, container, "credentials");
        if issued.rotated {
            tracing::info!("catch-all credentials rotated");
            *push = Some(Push::InvalidateSites {
                sites: vec![issued.site.to_string()],
                reason: InvalidateReason::Rotation,
            });
        }
        Ok(json!({
            "site": issued.site,
            "container": issued.container,
            "username": issued.username,
            "password": issued.password,
            "expires_at": issued.expires_at_ms,
        }))
    }

    fn new_circuit(&mut self, target: &SiteRef) -> Result<String, RpcError> {
        let site = match target {
            SiteRef::Site(s) => self.isolator.parse_site(s)?,
            SiteRef::Url(u) => self.isolator.site_of(u)?,
        };
        self.isolator.new_circuit(&site);
        tracing::debug!(%site, "new circuit");
        Ok(site.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::isolator::CATCH_ALL_MAX_AGE_MS;
    use crate::psl::Psl;

    fn broker() -> (Broker, Now) {
        let psl = Arc::new(Psl::vendored().expect("vendored PSL"));
        let now = Now {
            instant: Instant::now(),
            unix_ms: 1_800_000_000_000,
        };
        let broker = Broker::new(
            Isolator::with_key([7; 32], psl),
            SocksEndpoint::default(),
            "test-instance".into(),
            now.instant,
        );
        (broker, now)
    }

    fn creds(url: &str) -> Request {
        Request::Credentials {
            url: url.into(),
            container: "firefox-default".into(),
            tab: None,
        }
    }

    #[test]
    fn credentials_push_nothing_and_carry_expiry_only_for_the_catch_all() {
        let (mut b, now) = broker();
        let out = b.handle(creds("https://www.example.com/"), now);
        assert_eq!(out.push, None);
        let r = out.result.expect("credentials");
        assert_eq!(r["site"], "example.com");
        assert!(r["expires_at"].is_null());
        let out = b.handle(creds("about:blank"), now);
        let r = out.result.expect("credentials");
        assert_eq!(r["site"], "--unknown--");
        assert_eq!(r["expires_at"], now.unix_ms + CATCH_ALL_MAX_AGE_MS);
        assert_eq!(out.push, None);
    }

    #[test]
    fn catch_all_rotation_is_pushed() {
        let (mut b, now) = broker();
        let first = b.handle(creds("about:blank"), now).result.expect("first");
        let later = Now {
            instant: now.instant + Duration::from_secs(601),
            unix_ms: now.unix_ms + CATCH_ALL_MAX_AGE_MS + 1,
        };
        let out = b.handle(creds("moz-extension://abc/page.html"), later);
        assert_eq!(
            out.push,
            Some(Push::InvalidateSites {
                sites: vec!["--unknown--".into()],
                reason: InvalidateReason::Rotation
            })
        );
        assert_ne!(out.result.expect("rotated")["password"], first["password"]);
        // The next use within the new lifetime does not rotate again.
        let out = b.handle(creds("about:blank"), later);
        assert_eq!(out.push, None);
    }

    #[test]
    fn new_circuit_and_new_identity_push_invalidations() {
        let (mut b, now) = broker();
        let out = b.handle(
            Request::NewCircuit(SiteRef::Url("https://a.b.example.co.uk/x".into())),
            now,
        );
        assert_eq!(out.result, Ok(json!({"site": "example.co.uk"})));
        assert_eq!(
            out.push,
            Some(Push::InvalidateSites {
                sites: vec!["example.co.uk".into()],
                reason: InvalidateReason::NewCircuit
            })
        );
        let out = b.handle(Request::NewIdentity, now);
        assert_eq!(out.result, Ok(json!({"epoch": 1})));
        assert_eq!(
            out.push,
            Some(Push::InvalidateAll {
                reason: InvalidateReason::NewIdentity
            })
        );
    }

    #[test]
    fn failures_push_nothing() {
        let (mut b, now) = broker();
        let out = b.handle(Request::NewCircuit(SiteRef::Site("a/b".into())), now);
        assert_eq!(out.result.expect_err("bad site").code, "invalid_field");
        assert_eq!(out.push, None);
        let out = b.handle(creds("http://exa mple.com"), now);
        assert_eq!(out.result.expect_err("bad url").code, "invalid_url");
        let mut bad_container = creds("https://example.com/");
        if let Request::Credentials { container, .. } = &mut bad_container {
            *container = "firefox-container-0".into();
        }
        let out = b.handle(bad_container, now);
        assert_eq!(
            out.result.expect_err("bad container").code,
            "invalid_container"
        );
        assert_eq!(out.push, None);
    }

    #[test]
    fn status_reports_counters() {
        let (mut b, now) = broker();
        b.handle(creds("https://example.com/"), now);
        b.handle(creds("https://example.org/"), now);
        let later = Now {
            instant: now.instant + Duration::from_secs(5),
            unix_ms: now.unix_ms + 5000,
        };
        let r = b.handle(Request::Status, later).result.expect("status");
        assert_eq!(r["sites"], 2);
        assert_eq!(r["uptime_s"], 5);
        assert_eq!(r["epoch"], 0);
        assert_eq!(r["instance"], "test-instance");
        assert_eq!(r["socks"], json!({"host": "127.0.0.1", "port": 9050}));
    }
}
