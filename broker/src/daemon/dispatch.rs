//! Executes parsed requests against the [`Isolator`] and says which push, if any, must follow.
//!
//! Sans-IO like [`super::rpc`]: the HTTP layer locks a [`Broker`], calls [`Broker::handle`] and
//! publishes the returned push; both `/v1/rpc` and the REST routes go through here, so they
//! cannot behave differently.

use std::time::Instant;

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

    /// Executes `request`; `now` is only used for `uptime_s`.
    pub fn handle(&mut self, request: Request, now: Instant) -> Outcome {
        let mut push = None;
        let result = match request {
            Request::Hello => Ok(json!({
                "protocol": super::rpc::PROTOCOL_VERSION,
                "broker_version": env!("CARGO_PKG_VERSION"),
                "instance": self.instance,
                "socks": self.socks,
            })),
            Request::Credentials { url, container, .. } => {
                self.credentials(&url, &container, &mut push)
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
                "uptime_s": now.saturating_duration_since(self.started).as_secs(),
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
        push: &mut Option<Push>,
    ) -> Result<Value, RpcError> {
        let issued = self.isolator.credentials(url, container)?;
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
