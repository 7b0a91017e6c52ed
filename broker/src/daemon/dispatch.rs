//! Executes parsed requests against the [`Isolator`] and says which push, if any, must follow.
//!
//! Sans-IO like [`super::rpc`]: the HTTP layer locks a [`Broker`], calls [`Broker::handle`] and
//! publishes the returned push; both `/v1/rpc` and the REST routes go through here, so they
//! cannot behave differently.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::rpc::{ErrorCode, InvalidateReason, Push, Request, RpcError, SiteRef};
use super::tor_state::{
    ControlState, NewnymLimiter, NewnymOutcome, SocksCheck, SocksVerdict, TorStatus,
};
use crate::config::SocksEndpoint;
use crate::daemon::circuits::{CircuitTracker, SiteKey};
use crate::isolation::container::Container;
use crate::isolation::error::IsolationError;
use crate::isolation::isolator::{Isolator, IssuedCredentials};
use crate::isolation::site::Site;
use crate::policy::store::{PolicySetError, PolicyStore};
use crate::policy::{self, Policy, PolicyError};
use persite_protocol as wire;
use torctl::{CircEvent, Event};

/// The daemon's state: the isolator, what tor is doing, and what `hello` and `status` report.
#[derive(Debug)]
pub(crate) struct Broker {
    isolator: Isolator,
    socks: SocksEndpoint,
    instance: String,
    started: Instant,
    tor: TorStatus,
    /// How much proof the `[socks]` endpoint needs before credentials are handed out.
    socks_check: SocksCheck,
    circuits: CircuitTracker,
    newnym: NewnymLimiter,
    /// Circuit-lifetime policies: `config.toml`'s and the API overrides file's.
    policies: PolicyStore,
    /// Where the SOCKS front listens, once it does.
    front: Option<String>,
    /// The application contexts served (front and `persite run`).
    apps: super::apps::Apps,
    /// The front's RESOLVE answers per context (its IP-literal rule); forgotten on New
    /// identity with everything else.
    resolved: crate::front::resolved::ResolvedAddresses,
}

/// The moment a request is handled, on both clocks the broker uses; passed in so tests can
/// move time (e.g. past the catch-all's rotation age) without sleeping.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Now {
    /// Monotonic time, for `uptime_s`.
    pub instant: Instant,
    /// Unix time in milliseconds, for credential expiry and rotation.
    pub unix_ms: u64,
}

impl Now {
    /// The current time.
    pub(crate) fn current() -> Self {
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
pub(crate) struct Outcome {
    /// `result` or `error` of the reply.
    pub result: Result<Value, RpcError>,
    /// A push every subscriber must get now.
    pub push: Option<Push>,
    /// Send tor `SIGNAL NEWNYM` now (after the state change, before the reply).
    pub newnym: bool,
}

/// A typed result as the JSON value the reply carries.
fn wire<T: serde::Serialize>(result: &T) -> Result<Value, RpcError> {
    serde_json::to_value(result).map_err(|e| {
        RpcError::new(
            ErrorCode::Internal,
            format!("cannot encode the result: {e}"),
        )
    })
}

impl From<IsolationError> for RpcError {
    fn from(e: IsolationError) -> Self {
        RpcError::new(e.code(), e.to_string())
    }
}

impl From<PolicyError> for RpcError {
    fn from(e: PolicyError) -> Self {
        RpcError::new(e.code(), e.to_string())
    }
}

/// Most sites named in one `invalidate` push; beyond it (e.g. a new default policy after a long
/// session) the push says `all`, which keeps it far below the 1 MiB frame limit.
const MAX_SITES_PER_PUSH: usize = 512;

/// The `invalidate` push, reason `rotation`, for `sites`.
fn rotation_push(sites: &[Site]) -> Push {
    if sites.len() > MAX_SITES_PER_PUSH {
        return Push::InvalidateAll {
            reason: InvalidateReason::Rotation,
        };
    }
    Push::InvalidateSites {
        sites: sites.iter().map(ToString::to_string).collect(),
        reason: InvalidateReason::Rotation,
    }
}

impl Broker {
    /// A broker for one daemon run identified by `instance`.
    pub(crate) fn new(
        isolator: Isolator,
        socks: SocksEndpoint,
        instance: String,
        now: Instant,
    ) -> Self {
        Self {
            isolator,
            socks,
            instance,
            started: now,
            tor: TorStatus::new(ControlState::None, false),
            socks_check: SocksCheck::Unvouched,
            circuits: CircuitTracker::new(),
            newnym: NewnymLimiter::default(),
            policies: PolicyStore::default(),
            front: None,
            apps: super::apps::Apps::default(),
            resolved: crate::front::resolved::ResolvedAddresses::default(),
        }
    }

    /// Sets how much proof the `[socks]` endpoint needs ([`SocksCheck`]; the default is
    /// [`SocksCheck::Unvouched`]).
    pub(crate) fn set_socks_check(&mut self, check: SocksCheck) {
        self.socks_check = check;
    }

    /// What the daemon concludes about the `[socks]` endpoint now.
    pub(crate) fn socks_verdict(&self) -> SocksVerdict {
        SocksVerdict::of(
            &self.tor,
            self.socks_check,
            &self.socks.host,
            self.socks.port,
        )
    }

    /// `Err` (`socks_not_tor` or `socks_unverified`) when credentials must not be handed out
    /// because nothing shows that the `[socks]` endpoint is tor.
    fn socks_gate(&self) -> Result<(), RpcError> {
        let verdict = self.socks_verdict();
        match verdict.problem(&self.socks.host, self.socks.port) {
            None => Ok(()),
            Some(message) => {
                let code = match verdict {
                    SocksVerdict::NotTor { .. } => ErrorCode::SocksNotTor,
                    _ => ErrorCode::SocksUnverified,
                };
                Err(RpcError::new(code, message))
            }
        }
    }

    /// The tor status (§2.4) as JSON, with the additive `socks_problem`: why credentials are
    /// refused, for people, or `null`.
    pub(crate) fn tor_json(&self) -> Value {
        serde_json::to_value(self.tor_wire()).unwrap_or(Value::Null)
    }

    /// The tor status (§2.4) with the daemon's verdict on its SOCKS endpoint.
    fn tor_wire(&self) -> wire::TorStatus {
        let verdict = self.socks_verdict();
        wire::TorStatus {
            socks_vouched: verdict == SocksVerdict::Tor,
            socks_problem: verdict.problem(&self.socks.host, self.socks.port),
            ..self.tor.to_wire()
        }
    }

    /// The front's RESOLVE in `context` answered `ip` for a name of `site`.
    pub(crate) fn remember_resolved(&mut self, context: &str, ip: std::net::IpAddr, site: &str) {
        self.resolved.remember(context, ip, site);
    }

    /// The site a RESOLVE in `context` last answered `ip` for.
    pub(crate) fn resolved_site(&self, context: &str, ip: std::net::IpAddr) -> Option<String> {
        self.resolved.site_of(context, ip).map(str::to_owned)
    }

    /// Records where the SOCKS front listens (`status`, `app_credentials`).
    pub(crate) fn set_front(&mut self, addr: Option<String>) {
        self.front = addr;
    }

    /// The site of a destination host, by the browser's site function (the SOCKS front).
    pub(crate) fn site_of_host(&self, host: &str) -> Option<String> {
        self.isolator
            .site_of(host)
            .ok()
            .map(|site| site.as_str().to_owned())
    }

    /// Credentials of application context `app` for `site` (a host or site), or for the
    /// whole application (`None`); the context and site are remembered for `status`.
    pub(crate) fn app_credentials(
        &mut self,
        app: &str,
        site: Option<&str>,
        now_ms: u64,
    ) -> Result<IssuedCredentials, RpcError> {
        self.socks_gate()?;
        let container = Container::app(app)?;
        let site = match site {
            Some(host) => self.isolator.site_of(host)?,
            None => self.isolator.site_of(&super::apps::whole_app_host(app))?,
        };
        self.apps.note(app, &site);
        Ok(self.isolator.issue(site, container, now_ms))
    }

    /// Uses `store`'s circuit-lifetime policies (the default is keep-alive for every site,
    /// not persisted).
    pub(crate) fn with_policies(mut self, store: PolicyStore) -> Self {
        self.isolator.set_policies(store.effective());
        self.policies = store;
        self
    }

    /// The tor status (§2.4) the daemon reports.
    pub(crate) fn tor_status(&self) -> &TorStatus {
        &self.tor
    }

    /// Replaces the tor status; returns the `tor_status` push when it changed.
    pub(crate) fn set_tor_status(&mut self, status: TorStatus) -> Option<Push> {
        if status.control == ControlState::Connected && self.socks_check == SocksCheck::Unvouched {
            // A control port answered: from now on the endpoint needs its word.
            self.socks_check = SocksCheck::Required;
        }
        if status == self.tor {
            return None;
        }
        if status.control != ControlState::Connected && self.tor.control == ControlState::Connected
        {
            self.circuits.disconnected();
            self.isolator.forget_streams();
        }
        self.tor = status;
        Some(Push::TorStatus(self.tor_json()))
    }

    /// Feeds a tor event to the circuit bookkeeping, the max-bytes meter (and bootstrap
    /// progress to the status); returns a `tor_status` push when the status changed, an
    /// `invalidate` (`rotation`) push when a site's credentials reached their max-bytes.
    pub(crate) fn on_tor_event(&mut self, event: &Event) -> Vec<Push> {
        if let Event::StatusClient(status) = event
            && let Some(progress) = status.bootstrap_progress()
        {
            let mut next = self.tor.clone();
            next.bootstrap_progress = Some(progress);
            next.bootstrap_summary = status.arg("SUMMARY");
            return self.set_tor_status(next).into_iter().collect();
        }
        self.circuits.on_event(event, &self.isolator);
        match self.isolator.on_tor_event(event) {
            Some(site) => {
                tracing::debug!(%site, "credentials rotated: max-bytes reached");
                self.circuits.credentials_changed(&site);
                vec![rotation_push(&[site])]
            }
            None => Vec::new(),
        }
    }

    /// Re-learns every circuit from `GETINFO circuit-status` (after (re)connecting, an unknown
    /// circuit or missed events). Streams stay metered: their ids are tor's for as long as the
    /// control connection lasts, and losing it already forgot them (`set_tor_status`).
    pub(crate) fn resync_circuits(&mut self, status: &[CircEvent]) {
        self.circuits.resync(status, &self.isolator);
    }

    /// Rotates the credentials whose max-age passed at `now_ms`; the `invalidate` push
    /// (`rotation`) for their sites, so the browser drops them on time with no request.
    pub(crate) fn rotate_due(&mut self, now_ms: u64) -> Option<Push> {
        let sites = self.isolator.rotate_due(now_ms);
        if sites.is_empty() {
            return None;
        }
        tracing::debug!(sites = sites.len(), "credentials rotated: max-age reached");
        for site in &sites {
            self.circuits.credentials_changed(site);
        }
        Some(rotation_push(&sites))
    }

    /// The circuit bookkeeping (relay details, bridges, resync flag).
    pub(crate) fn circuits_mut(&mut self) -> &mut CircuitTracker {
        &mut self.circuits
    }

    /// `circuit` pushes for at most `max` sites whose display changed; with `include_bytes`
    /// also for sites whose byte counts alone changed.
    pub(crate) fn circuit_pushes(&mut self, max: usize, include_bytes: bool) -> Vec<Push> {
        let availability = self.tor.availability();
        self.circuits
            .take_changed(max, include_bytes)
            .iter()
            .map(|key| Push::Circuit(self.circuits.result(key, availability)))
            .collect()
    }

    /// Executes `request` at `now`.
    pub(crate) fn handle(&mut self, request: Request, now: Now) -> Outcome {
        let mut push = None;
        let mut newnym = false;
        let result = match request {
            Request::Hello { tabs_reset } => {
                if tabs_reset {
                    push = self.reset_tabs();
                }
                wire(&wire::HelloResult {
                    protocol: super::rpc::PROTOCOL_VERSION,
                    broker_version: env!("CARGO_PKG_VERSION").to_owned(),
                    instance: self.instance.clone(),
                    socks: self.wire_socks(),
                })
            }
            Request::TabClosed { tab, session } => {
                let sites = self.isolator.tab_closed_in(tab, session);
                self.circuits.forget_tabs(|t| t == tab);
                wire(&wire::TabClosedResult {
                    sites: sites.len() as u64,
                })
            }
            Request::SessionEnded { session } => {
                let forgotten = self.isolator.end_session(session);
                // Its displays go too, unless a set of another session or tab still shows there
                // (a display is per site, container and tab, not per session).
                let rotation = self.isolator.rotation();
                let displays: std::collections::HashSet<SiteKey> = forgotten
                    .iter()
                    .flat_map(|set| {
                        [
                            (set.site.clone(), set.container, set.tab),
                            (set.site.clone(), set.container, None),
                        ]
                    })
                    .filter(|(site, container, tab)| {
                        !rotation
                            .sets_of(site, *container)
                            .any(|other| tab.is_none() || other.tab == *tab)
                    })
                    .collect();
                self.circuits.forget_displays(|key| displays.contains(key));
                let sets = forgotten.len();
                tracing::debug!(sets, "browser session ended: its credential sets forgotten");
                wire(&wire::SessionEndedResult { sets: sets as u64 })
            }
            Request::Credentials {
                url,
                container,
                tab,
                session,
            } => self.credentials(&url, &container, tab, session, now.unix_ms, &mut push),
            Request::PolicyGet => Ok(self.isolator.policies().to_json()),
            Request::PolicySet { site, policy } => self.policy_set(site, &policy, &mut push),
            Request::NewCircuit(target) => self
                .new_circuit(&target)
                .map(|site| {
                    push = Some(Push::InvalidateSites {
                        sites: vec![site.clone()],
                        reason: InvalidateReason::NewCircuit,
                    });
                    wire::NewCircuitResult { site }
                })
                .and_then(|result| wire(&result)),
            Request::NewIdentity => {
                let epoch = self.isolator.new_identity();
                self.circuits.new_identity();
                self.apps.clear();
                self.resolved.clear();
                push = Some(Push::InvalidateAll {
                    reason: InvalidateReason::NewIdentity,
                });
                if self.tor.control == ControlState::Connected {
                    newnym = true;
                    match self.newnym.request(now.instant) {
                        NewnymOutcome::Sent => {
                            tracing::info!(epoch, "new identity: new credentials, NEWNYM sent");
                            wire(&wire::NewIdentityResult {
                                epoch,
                                newnym: wire::Newnym::Sent,
                                newnym_delay_s: None,
                            })
                        }
                        NewnymOutcome::Delayed(after) => {
                            let delay_s = after.as_millis().div_ceil(1000);
                            tracing::info!(
                                epoch,
                                delay_s,
                                "new identity: new credentials, tor defers NEWNYM"
                            );
                            wire(&wire::NewIdentityResult {
                                epoch,
                                newnym: wire::Newnym::Delayed,
                                newnym_delay_s: Some(delay_s as u64),
                            })
                        }
                    }
                } else {
                    tracing::info!(
                        epoch,
                        "new identity: new credentials; no control port for NEWNYM"
                    );
                    wire(&wire::NewIdentityResult {
                        epoch,
                        newnym: wire::Newnym::Unavailable,
                        newnym_delay_s: None,
                    })
                }
            }
            Request::Circuit {
                target,
                container,
                tab,
            } => self.circuit(&target, &container, tab),
            Request::AppCredentials { app, site } => self
                .app_credentials(&app, site.as_deref(), now.unix_ms)
                .and_then(|issued| {
                    wire(&wire::AppCredentialsResult {
                        app,
                        site: issued.site.as_str().to_owned(),
                        container: issued.container.to_string(),
                        username: issued.username,
                        password: issued.password,
                        socks: self.wire_socks(),
                        front: self.front.clone(),
                    })
                }),
            Request::Status => wire(&wire::StatusResult {
                broker_version: env!("CARGO_PKG_VERSION").to_owned(),
                instance: self.instance.clone(),
                uptime_s: now
                    .instant
                    .saturating_duration_since(self.started)
                    .as_secs(),
                sites: self.isolator.sites_seen() as u64,
                epoch: self.isolator.epoch(),
                socks: self.wire_socks(),
                tor: self.tor_wire(),
                front: self.front.clone(),
                apps: self.apps_status(),
            }),
        };
        Outcome {
            result,
            push,
            newnym,
        }
    }

    /// `status`'s `apps`: each application context with how many sites it reached and how
    /// many circuits those use now (no site names: `status` output is shown and logged).
    fn apps_status(&self) -> Vec<wire::AppStatus> {
        self.apps
            .iter()
            .map(|(name, sites)| {
                let mut circuits = std::collections::BTreeSet::new();
                if let Ok(container) = Container::app(name) {
                    for site in sites {
                        let key: SiteKey = (site.clone(), container, None);
                        circuits.extend(self.circuits.circuit_ids(&key));
                    }
                }
                wire::AppStatus {
                    name: (*name).to_owned(),
                    sites: sites.len() as u64,
                    circuits: circuits.len() as u64,
                }
            })
            .collect()
    }

    /// The SOCKS endpoint as the protocol writes it.
    fn wire_socks(&self) -> wire::SocksEndpoint {
        wire::SocksEndpoint {
            host: self.socks.host.clone(),
            port: self.socks.port,
        }
    }

    /// The browser's tab ids start over: per-tab credentials and displays are forgotten; the
    /// `invalidate` push (`rotation`) for the sites that had some, so another browser sharing
    /// this daemon drops its cached per-tab credentials too.
    fn reset_tabs(&mut self) -> Option<Push> {
        let sites = self.isolator.reset_tabs();
        self.circuits.forget_tabs(|_| true);
        tracing::debug!(
            sites = sites.len(),
            "tab ids start over: per-tab credentials forgotten"
        );
        (!sites.is_empty()).then(|| rotation_push(&sites))
    }

    /// Tor answered NEWNYM with an error (or the link dropped meanwhile): tor never took it.
    pub(crate) fn newnym_failed(&mut self) {
        self.newnym.reset();
    }

    /// The tor we are connected to started less than a NEWNYM interval ago, so it has no
    /// NEWNYM history and takes the next one at once.
    pub(crate) fn tor_restarted(&mut self) {
        self.newnym.reset();
    }

    fn circuit(
        &self,
        target: &SiteRef,
        container: &str,
        tab: Option<i64>,
    ) -> Result<Value, RpcError> {
        let container = Container::parse(container)?;
        let site: Site = match target {
            SiteRef::Site(s) => self.isolator.parse_site(s)?,
            SiteRef::Url(u) => self.isolator.site_of(u)?,
        };
        // The tab counts only for a per-tab site, exactly as when its credentials were issued.
        let set = self.isolator.rotation().set_of(site, container, tab);
        let key: SiteKey = (set.site, set.container, set.tab);
        Ok(self.circuits.result(&key, self.tor.availability()))
    }

    fn credentials(
        &mut self,
        url: &str,
        container: &str,
        tab: Option<i64>,
        session: Option<crate::isolation::session::Session>,
        now_ms: u64,
        push: &mut Option<Push>,
    ) -> Result<Value, RpcError> {
        self.socks_gate()?;
        let issued = self
            .isolator
            .credentials_in_session_at(url, container, tab, session, now_ms)?;
        tracing::debug!(site = %issued.site, container, tab = ?issued.tab, "credentials");
        if issued.rotated {
            if issued.site.is_catch_all() {
                tracing::info!("catch-all credentials rotated");
            } else {
                tracing::debug!(site = %issued.site, "credentials rotated by policy");
                self.circuits.credentials_changed(&issued.site);
            }
            *push = Some(rotation_push(std::slice::from_ref(&issued.site)));
        }
        wire(&wire::CredentialsResult {
            site: issued.site.as_str().to_owned(),
            container: issued.container.to_string(),
            username: issued.username,
            password: issued.password,
            expires_at: issued.expires_at_ms,
            per_tab: issued.per_tab,
        })
    }

    /// `policy_set`: validates, saves the overrides file, applies; the sites whose policy
    /// changed get an `invalidate` push (`rotation`) so the extension re-asks (and learns
    /// `per_tab` and `expires_at`).
    fn policy_set(
        &mut self,
        site: Option<String>,
        policy: &Value,
        push: &mut Option<Push>,
    ) -> Result<Value, RpcError> {
        let site = site
            .map(|s| policy::parse_site(&s, self.isolator.psl(), "site"))
            .transpose()?;
        let policy = match policy {
            Value::Null => None,
            v => Some(Policy::from_json(v, "policy")?),
        };
        let table = self.policies.set(site, policy).map_err(|e| match e {
            PolicySetError::Invalid(e) => RpcError::from(e),
            PolicySetError::Save(e) => RpcError::new(ErrorCode::Internal, e.to_string()),
        })?;
        let affected = self.isolator.set_policies(table);
        tracing::info!(
            sites_affected = affected.len(),
            "circuit-lifetime policy changed"
        );
        if !affected.is_empty() {
            *push = Some(rotation_push(&affected));
        }
        Ok(self.isolator.policies().to_json())
    }

    fn new_circuit(&mut self, target: &SiteRef) -> Result<String, RpcError> {
        let site = match target {
            SiteRef::Site(s) => self.isolator.parse_site(s)?,
            SiteRef::Url(u) => self.isolator.site_of(u)?,
        };
        self.isolator.new_circuit(&site);
        self.circuits.credentials_changed(&site);
        tracing::debug!(%site, "new circuit");
        Ok(site.to_string())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::isolation::isolator::CATCH_ALL_MAX_AGE_MS;
    use crate::isolation::psl::Psl;

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
            session: None,
        }
    }

    /// Every golden fixture request (`protocol/fixtures/`) parses to its kind and gets an
    /// answer of the protocol's type (strict: an extra, missing or mistyped field fails); every
    /// invalid one gets the fixture's error code; every push reads back as a protocol push.
    #[test]
    fn golden_fixtures_parse_and_every_answer_has_the_protocol_type() {
        let (mut b, now) = broker();
        for (name, file) in persite_protocol::golden::files() {
            let kind = persite_protocol::golden::kind_of(name);
            let mut answered = 0;
            for request in file["requests"].as_array().into_iter().flatten() {
                let (_, parsed) = super::super::rpc::parse_rpc(request.to_string().as_bytes());
                let parsed = parsed.unwrap_or_else(|e| panic!("{name}: {request}: {e:?}"));
                let out = b.handle(parsed, now);
                let result = out
                    .result
                    .unwrap_or_else(|e| panic!("{name}: {request}: {e:?}"));
                let kind = kind.expect("request fixtures are per kind");
                persite_protocol::check_result(kind, &result)
                    .unwrap_or_else(|e| panic!("{name}: {request} → {result}: {e}"));
                if let Some(push) = out.push {
                    let push = push.to_json();
                    serde_json::from_value::<persite_protocol::Push>(push.clone())
                        .unwrap_or_else(|e| panic!("{name}: push {push}: {e}"));
                }
                answered += 1;
            }
            if kind.is_some() {
                assert!(answered > 0, "{name} has no request");
            }
            for case in file["invalid_requests"].as_array().into_iter().flatten() {
                let request = &case["request"];
                let code = case["code"].as_str().expect("code");
                let (_, parsed) = super::super::rpc::parse_rpc(request.to_string().as_bytes());
                let error = match parsed {
                    Err(e) => e,
                    Ok(parsed) => b
                        .handle(parsed, now)
                        .result
                        .expect_err(&format!("{name}: {request} must fail")),
                };
                assert_eq!(error.code, code, "{name}: {request}: {}", error.message);
            }
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

    fn set_policy(b: &mut Broker, site: Option<&str>, policy: Value, now: Now) -> Outcome {
        b.handle(
            Request::PolicySet {
                site: site.map(str::to_owned),
                policy,
            },
            now,
        )
    }

    fn creds_in_tab(url: &str, tab: Option<i64>) -> Request {
        Request::Credentials {
            url: url.into(),
            container: "firefox-default".into(),
            tab,
            session: None,
        }
    }

    fn session(value: &str) -> Option<crate::isolation::session::Session> {
        Some(crate::isolation::session::Session::parse(value).expect("valid session"))
    }

    fn creds_in_session(url: &str, tab: Option<i64>, value: &str) -> Request {
        Request::Credentials {
            url: url.into(),
            container: "firefox-default".into(),
            tab,
            session: session(value),
        }
    }

    #[test]
    fn each_session_has_its_own_credentials_and_tabs() {
        const A: &str = "AAAAAAAAAAAAAAAAAAAAAA";
        const B: &str = "BBBBBBBBBBBBBBBBBBBBBB";
        let (mut b, now) = broker();
        let pair = |b: &mut Broker, request| {
            let r = b.handle(request, now).result.expect("credentials");
            (r["username"].clone(), r["password"].clone())
        };
        let url = "https://www.example.com/";
        let none = pair(&mut b, creds(url));
        let a = pair(&mut b, creds_in_session(url, None, A));
        let b_pair = pair(&mut b, creds_in_session(url, None, B));
        assert!(a.0 != b_pair.0 && a.1 != b_pair.1, "sessions share nothing");
        assert!(
            a.0 != none.0 && a.1 != none.1,
            "a session is not the shared set"
        );
        assert_eq!(pair(&mut b, creds_in_session(url, None, A)), a, "stable");
        assert_eq!(pair(&mut b, creds(url)), none, "no session: as before");

        // New circuit changes the site in every session; sessions stay apart.
        b.handle(
            Request::NewCircuit(SiteRef::Site("example.com".into())),
            now,
        );
        let a2 = pair(&mut b, creds_in_session(url, None, A));
        assert!(a2.0 == a.0 && a2.1 != a.1);
        assert_ne!(a2.1, pair(&mut b, creds_in_session(url, None, B)).1);

        // Per-tab: closing tab 1 of session A leaves tab 1 of session B alone.
        set_policy(&mut b, Some("example.com"), json!({"per_tab": true}), now);
        let a_tab = pair(&mut b, creds_in_session(url, Some(1), A));
        let b_tab = pair(&mut b, creds_in_session(url, Some(1), B));
        assert_ne!(a_tab, b_tab);
        let out = b.handle(
            Request::TabClosed {
                tab: 1,
                session: session(A),
            },
            now,
        );
        assert_eq!(out.result.expect("closed"), json!({"sites": 1}));
        assert_eq!(pair(&mut b, creds_in_session(url, Some(1), B)), b_tab);
        assert_ne!(pair(&mut b, creds_in_session(url, Some(1), A)), a_tab);

        // Session A ends: its sets go, B's stay.
        let sets_before = b.isolator.rotation().len();
        let out = b.handle(
            Request::SessionEnded {
                session: session(A).expect("valid"),
            },
            now,
        );
        let forgotten = out.result.expect("ended")["sets"]
            .as_u64()
            .expect("a count");
        assert!(forgotten >= 2, "session A had its shared and tab sets");
        assert_eq!(
            b.isolator.rotation().len() as u64,
            sets_before as u64 - forgotten
        );
        assert_eq!(pair(&mut b, creds_in_session(url, Some(1), B)), b_tab);
    }

    #[test]
    fn tab_closed_and_tabs_reset_forget_per_tab_credentials() {
        let (mut b, now) = broker();
        set_policy(&mut b, Some("example.com"), json!({"per_tab": true}), now);
        let password = |b: &mut Broker, tab| {
            let out = b.handle(creds_in_tab("https://example.com/", Some(tab)), now);
            out.result.expect("creds")["password"].clone()
        };
        let (one, two) = (password(&mut b, 1), password(&mut b, 2));

        let out = b.handle(
            Request::TabClosed {
                tab: 1,
                session: None,
            },
            now,
        );
        assert_eq!(
            (out.result.expect("closed"), out.push),
            (json!({"sites": 1}), None)
        );
        let out = b.handle(
            Request::TabClosed {
                tab: 1,
                session: None,
            },
            now,
        );
        assert_eq!(out.result.expect("closed again"), json!({"sites": 0}));
        assert_ne!(
            password(&mut b, 1),
            one,
            "a closed tab's credentials never come back"
        );
        assert_eq!(password(&mut b, 2), two);

        let out = b.handle(Request::Hello { tabs_reset: false }, now);
        assert_eq!(out.push, None);
        assert_eq!(password(&mut b, 2), two, "a plain hello changes nothing");
        let out = b.handle(Request::Hello { tabs_reset: true }, now);
        assert_eq!(out.result.expect("hello")["instance"], "test-instance");
        assert_eq!(
            out.push,
            Some(Push::InvalidateSites {
                sites: vec!["example.com".into()],
                reason: InvalidateReason::Rotation
            })
        );
        assert_ne!(
            password(&mut b, 2),
            two,
            "tab 2 of the new session is a new tab"
        );
        let out = b.handle(creds("https://example.org/"), now);
        let shared = out.result.expect("creds")["password"].clone();
        b.handle(Request::Hello { tabs_reset: true }, now);
        let out = b.handle(creds("https://example.org/"), now);
        assert_eq!(
            out.result.expect("creds")["password"],
            shared,
            "sites without per-tab keep theirs"
        );
    }

    #[test]
    fn per_tab_policy_gives_each_tab_its_credentials() {
        let (mut b, now) = broker();
        let shared = b.handle(creds_in_tab("https://example.com/", Some(1)), now);
        let shared = shared.result.expect("creds");
        assert_eq!(shared["per_tab"], false);
        let out = set_policy(
            &mut b,
            Some("www.example.com"),
            json!({"per_tab": true}),
            now,
        );
        assert_eq!(
            out.result.expect("set")["sites"]["example.com"],
            json!({"max_age_s": null, "max_bytes": null, "per_tab": true})
        );
        assert_eq!(
            out.push,
            Some(Push::InvalidateSites {
                sites: vec!["example.com".into()],
                reason: InvalidateReason::Rotation
            })
        );
        let one = b
            .handle(creds_in_tab("https://example.com/", Some(1)), now)
            .result
            .expect("1");
        let two = b
            .handle(creds_in_tab("https://example.com/", Some(2)), now)
            .result
            .expect("2");
        let one_again = b
            .handle(creds_in_tab("https://example.com/x", Some(1)), now)
            .result
            .expect("1");
        assert_eq!(one["per_tab"], true);
        assert_ne!(one["username"], two["username"]);
        assert_ne!(one["password"], two["password"]);
        assert_ne!(one["username"], shared["username"]);
        assert_eq!(one, one_again);
        let got = b.handle(Request::PolicyGet, now).result.expect("get");
        assert_eq!(got["default"]["per_tab"], false);
        assert_eq!(got["sites"]["example.com"]["per_tab"], true);
    }

    #[test]
    fn max_age_rotation_is_pushed_by_the_timer_and_on_request() {
        let (mut b, now) = broker();
        set_policy(&mut b, Some("example.com"), json!({"max_age_s": 2}), now)
            .result
            .expect("set");
        let first = b
            .handle(creds("https://example.com/"), now)
            .result
            .expect("first");
        assert_eq!(first["expires_at"], now.unix_ms + 2000);
        assert_eq!(b.isolator.next_rotation_at(), Some(now.unix_ms + 2000));
        assert_eq!(b.rotate_due(now.unix_ms + 1999), None);
        assert_eq!(
            b.rotate_due(now.unix_ms + 2000),
            Some(Push::InvalidateSites {
                sites: vec!["example.com".into()],
                reason: InvalidateReason::Rotation
            })
        );
        let later = Now {
            instant: now.instant + Duration::from_secs(3),
            unix_ms: now.unix_ms + 3000,
        };
        let second = b.handle(creds("https://example.com/"), later);
        assert_eq!(second.push, None, "already rotated by the timer");
        let second = second.result.expect("second");
        assert_eq!(second["username"], first["username"]);
        assert_ne!(second["password"], first["password"]);
        assert_eq!(second["expires_at"], later.unix_ms + 2000);
        let much_later = Now {
            instant: now.instant + Duration::from_secs(9),
            unix_ms: now.unix_ms + 9000,
        };
        let out = b.handle(creds("https://example.com/"), much_later);
        assert!(
            out.push.is_some(),
            "a request past the expiry rotates and pushes"
        );
    }

    #[test]
    fn an_ended_private_session_leaves_nothing_of_its_sites() {
        use torctl::events::StreamEvent;
        const P: &str = "PPPPPPPPPPPPPPPPPPPPPP";
        let (mut b, now) = broker();
        // A normal-window site first: it must survive the private session's end.
        b.handle(creds("https://kept.example/"), now)
            .result
            .expect("normal");
        let before = (b.isolator.sizes(), b.isolator.sites_seen());
        let mut stream_id = 100;
        let mut visit = |b: &mut Broker, url: &str, tab: Option<i64>| {
            let r = b
                .handle(
                    Request::Credentials {
                        url: url.into(),
                        container: "firefox-private".into(),
                        tab,
                        session: session(P),
                    },
                    now,
                )
                .result
                .expect("private credentials");
            stream_id += 1;
            let attach = format!(
                "{stream_id} SUCCEEDED 7 host:443 SOCKS_USERNAME=\"{}\" SOCKS_PASSWORD=\"{}\"",
                r["username"].as_str().expect("username"),
                r["password"].as_str().expect("password")
            );
            b.on_tor_event(&Event::Stream(
                StreamEvent::parse_body(&attach).expect("STREAM"),
            ));
        };
        set_policy(
            &mut b,
            Some("tabbed.example"),
            json!({"per_tab": true}),
            now,
        )
        .result
        .expect("policy");
        visit(&mut b, "https://secret-one.example/", None);
        visit(&mut b, "https://secret-two.example/", Some(3));
        visit(&mut b, "https://tabbed.example/", Some(4));
        b.handle(
            Request::NewCircuit(SiteRef::Site("secret-one.example".into())),
            now,
        );
        assert!(b.circuits.sizes().sites >= 3, "{:?}", b.circuits.sizes());
        let out = b.handle(
            Request::SessionEnded {
                session: session(P).expect("s"),
            },
            now,
        );
        assert_eq!(out.result.expect("ended"), json!({"sets": 3}));
        assert_eq!(
            (b.isolator.sizes(), b.isolator.sites_seen()),
            before,
            "the isolator still holds entries of the ended session's sites"
        );
        let left = b.circuits.sizes();
        assert_eq!(
            (left.sites, left.streams, left.showing),
            (0, 0, 0),
            "circuit displays of the ended session remain: {left:?}"
        );
    }

    #[test]
    fn max_bytes_from_tor_stream_events_rotates_and_pushes() {
        use torctl::events::{StreamBwEvent, StreamEvent};
        let (mut b, now) = broker();
        set_policy(&mut b, Some("example.com"), json!({"max_bytes": 4096}), now)
            .result
            .expect("set");
        let first = b
            .handle(creds("https://example.com/"), now)
            .result
            .expect("first");
        let attach = format!(
            "9 SUCCEEDED 4 example.com:443 SOCKS_USERNAME=\"{}\" SOCKS_PASSWORD=\"{}\"",
            first["username"].as_str().expect("username"),
            first["password"].as_str().expect("password")
        );
        let attach = Event::Stream(StreamEvent::parse_body(&attach).expect("STREAM"));
        assert!(b.on_tor_event(&attach).is_empty());
        let bw = |read: u64| {
            Event::StreamBw(StreamBwEvent::parse_body(&format!("9 100 {read}")).expect("BW"))
        };
        assert!(b.on_tor_event(&bw(3000)).is_empty(), "3,100 bytes < 4,096");
        assert_eq!(
            b.on_tor_event(&bw(900)),
            vec![Push::InvalidateSites {
                sites: vec!["example.com".into()],
                reason: InvalidateReason::Rotation
            }]
        );
        assert!(
            b.on_tor_event(&bw(100_000)).is_empty(),
            "the old stream no longer counts"
        );
        let second = b
            .handle(creds("https://example.com/"), now)
            .result
            .expect("second");
        assert_ne!(second["password"], first["password"]);
        assert_eq!(second["username"], first["username"]);
    }

    /// A resync of the circuits (a stream on a circuit not seen yet, or missed events) keeps
    /// metering the streams that are open: their bytes still reach max-bytes.
    #[test]
    fn max_bytes_keeps_metering_open_streams_across_a_circuit_resync() {
        use torctl::events::{CircEvent, StreamBwEvent, StreamEvent};
        let (mut b, now) = broker();
        set_policy(&mut b, Some("example.com"), json!({"max_bytes": 4096}), now)
            .result
            .expect("set");
        let first = b
            .handle(creds("https://example.com/"), now)
            .result
            .expect("first");
        let attach = format!(
            "9 SUCCEEDED 4 example.com:443 SOCKS_USERNAME=\"{}\" SOCKS_PASSWORD=\"{}\"",
            first["username"].as_str().expect("username"),
            first["password"].as_str().expect("password")
        );
        b.on_tor_event(&Event::Stream(
            StreamEvent::parse_body(&attach).expect("STREAM"),
        ));
        let bw = |read: u64| {
            Event::StreamBw(StreamBwEvent::parse_body(&format!("9 0 {read}")).expect("BW"))
        };
        assert!(b.on_tor_event(&bw(3000)).is_empty());
        b.resync_circuits(&[CircEvent::parse_body("4 BUILT PURPOSE=GENERAL").expect("CIRC")]);
        assert_eq!(
            b.on_tor_event(&bw(1096)),
            vec![Push::InvalidateSites {
                sites: vec!["example.com".into()],
                reason: InvalidateReason::Rotation
            }],
            "3,000 + 1,096 bytes reached 4,096"
        );
    }

    #[test]
    fn a_new_default_affecting_many_sites_invalidates_all() {
        let (mut b, now) = broker();
        for i in 0..=MAX_SITES_PER_PUSH {
            b.handle(creds(&format!("https://site{i}.example/")), now);
        }
        let out = set_policy(&mut b, None, json!({"max_age_s": 600}), now);
        assert_eq!(out.result.expect("set")["default"]["max_age_s"], 600);
        assert_eq!(
            out.push,
            Some(Push::InvalidateAll {
                reason: InvalidateReason::Rotation
            })
        );
    }

    #[test]
    fn bad_policies_are_invalid_field_and_change_nothing() {
        let (mut b, now) = broker();
        let before = b.handle(Request::PolicyGet, now).result.expect("get");
        for (site, policy, field) in [
            (
                Some("example.com"),
                json!({"max_age_s": 0}),
                "policy.max_age_s",
            ),
            (
                Some("example.com"),
                json!({"max_bytes": 10}),
                "policy.max_bytes",
            ),
            (
                Some("example.com"),
                json!({"per_tab": "yes"}),
                "policy.per_tab",
            ),
            (
                Some("example.com"),
                json!({"max_age": 60}),
                "policy.max_age",
            ),
            (Some("example.com"), json!(5), "policy"),
            (Some("--unknown--"), json!({"per_tab": true}), "site"),
            (Some("a/b"), json!({"per_tab": true}), "site"),
            (None, Value::Null, "policy"),
        ] {
            let out = set_policy(&mut b, site, policy.clone(), now);
            let e = out.result.expect_err("invalid");
            assert_eq!(e.code, "invalid_field", "{policy}");
            assert!(e.message.contains(&format!("`{field}`")), "{}", e.message);
            assert_eq!(out.push, None);
        }
        assert_eq!(
            b.handle(Request::PolicyGet, now).result.expect("get"),
            before
        );
    }

    #[test]
    fn application_contexts_get_their_own_keys_and_follow_new_circuit_and_new_identity() {
        let parse = |v: &Value| {
            super::super::rpc::parse_rpc(v.to_string().as_bytes())
                .1
                .expect("request")
        };
        let (mut b, now) = broker();
        let app = |b: &mut Broker, app: &str, site: Option<&str>| {
            let mut request = json!({"id": 1, "type": "app_credentials", "app": app});
            if let Some(site) = site {
                request["site"] = json!(site);
            }
            let request = parse(&request);
            b.handle(request, now).result.expect("app credentials")
        };
        let git = app(&mut b, "git", None);
        assert_eq!(git["container"], "app:git");
        assert!(git["site"].as_str().expect("site").ends_with(".invalid"));
        assert_eq!(
            app(&mut b, "git", None),
            git,
            "stable while the daemon runs"
        );
        let curl = app(&mut b, "curl", None);
        assert_ne!(
            curl["username"], git["username"],
            "two applications, two keys"
        );
        let browser = b
            .handle(creds("https://example.com/"), now)
            .result
            .expect("browser credentials");
        let git_site = app(&mut b, "git", Some("www.example.com"));
        assert_eq!(git_site["site"], "example.com");
        assert_ne!(
            git_site["username"], browser["username"],
            "not the browser's key"
        );
        assert_eq!(
            app(&mut b, "git", Some("cdn.example.com"))["username"],
            git_site["username"]
        );
        // New circuit for git's own site moves git only.
        let target = parse(&json!({"id": 2, "type": "new_circuit", "site": git["site"]}));
        b.handle(target, now).result.expect("new circuit");
        assert_ne!(app(&mut b, "git", None)["password"], git["password"]);
        assert_eq!(app(&mut b, "curl", None), curl);
        // The front's RESOLVE memory and the application list go with New identity.
        b.remember_resolved("git", "192.0.2.1".parse().expect("ip"), "example.com");
        let status = b
            .handle(super::super::rpc::Request::Status, now)
            .result
            .expect("status");
        assert!(status["apps"].as_array().expect("apps").len() >= 2);
        b.handle(super::super::rpc::Request::NewIdentity, now);
        assert_eq!(
            b.resolved_site("git", "192.0.2.1".parse().expect("ip")),
            None
        );
        let status = b
            .handle(super::super::rpc::Request::Status, now)
            .result
            .expect("status");
        assert_eq!(status["apps"], json!([]));
        assert_ne!(app(&mut b, "curl", None)["password"], curl["password"]);
        let bad = parse(&json!({"id": 3, "type": "app_credentials", "app": "two words"}));
        assert_eq!(
            b.handle(bad, now).result.expect_err("refused").code,
            "invalid_container"
        );
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
        assert_eq!(out.result, Ok(json!({"epoch": 1, "newnym": "unavailable"})));
        assert!(!out.newnym, "no control port: nothing to send");
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
        assert_eq!(r["tor"]["control"], "none");
    }

    #[test]
    fn new_identity_reports_tors_newnym_rate_limit() {
        let (mut b, now) = broker();
        let mut status = b.tor_status().clone();
        status.control = ControlState::Connected;
        assert!(b.set_tor_status(status.clone()).is_some());
        assert!(
            b.set_tor_status(status).is_none(),
            "unchanged status is not pushed"
        );
        let out = b.handle(Request::NewIdentity, now);
        assert!(out.newnym);
        assert_eq!(out.result, Ok(json!({"epoch": 1, "newnym": "sent"})));
        let later = Now {
            instant: now.instant + Duration::from_millis(2500),
            unix_ms: now.unix_ms + 2500,
        };
        let out = b.handle(Request::NewIdentity, later);
        assert!(out.newnym, "tor must still get it, to run it later");
        assert_eq!(
            out.result,
            Ok(json!({"epoch": 2, "newnym": "delayed", "newnym_delay_s": 8}))
        );
    }

    #[test]
    fn circuit_requests_follow_the_status_and_validate_input() {
        let (mut b, now) = broker();
        let circuit = |site: &str, container: &str| Request::Circuit {
            target: SiteRef::Site(site.into()),
            container: container.into(),
            tab: None,
        };
        let r = b
            .handle(circuit("example.com", "firefox-default"), now)
            .result
            .expect("circuit");
        assert_eq!(r["available"], false);
        assert_eq!(r["reason"], "no_control_port");
        let mut status = b.tor_status().clone();
        status.control = ControlState::Connected;
        status.socks_listeners = Some(vec!["127.0.0.1:9050".into()]);
        b.set_tor_status(status);
        let r = b
            .handle(
                Request::Circuit {
                    target: SiteRef::Url("https://www.example.com/x".into()),
                    container: "firefox-private".into(),
                    tab: None,
                },
                now,
            )
            .result
            .expect("circuit");
        assert_eq!(
            r,
            json!({"site": "example.com", "container": "firefox-private", "available": true,
                   "reason": null, "onion": false, "circuits": [],
                   "bytes": {"read": 0, "written": 0}})
        );
        let e = b
            .handle(circuit("example.com", "nope"), now)
            .result
            .expect_err("container");
        assert_eq!(e.code, "invalid_container");
        let e = b
            .handle(circuit("a/b", "firefox-default"), now)
            .result
            .expect_err("site");
        assert_eq!(e.code, "invalid_field");
        let r = b
            .handle(creds("https://example.com/"), now)
            .result
            .expect("creds");
        assert_eq!(r["per_tab"], false);
    }

    #[test]
    fn credentials_wait_for_tor_to_vouch_for_the_socks_endpoint() {
        let code = |b: &mut Broker, now: Now| {
            b.handle(creds("https://a.test/"), now)
                .result
                .err()
                .map(|e| e.code.as_str())
        };
        let app = |b: &mut Broker| {
            b.app_credentials("git", None, 0)
                .err()
                .map(|e| e.code.as_str())
        };
        let status = |control: ControlState, listeners: Option<&[&str]>| {
            let mut st = TorStatus::new(control, false);
            st.socks_listeners = listeners.map(|l| l.iter().map(|s| (*s).to_owned()).collect());
            st
        };

        // No control port: nothing vouches, nothing refutes; served.
        let (mut b, now) = broker();
        assert_eq!(code(&mut b, now), None);
        assert_eq!(b.tor_json()["socks_vouched"], false);
        assert_eq!(b.tor_json()["socks_problem"], Value::Null);
        // A control port comes up naming another port: refused, for the front too.
        b.set_tor_status(status(ControlState::Connected, Some(&["127.0.0.1:9150"])));
        assert_eq!(code(&mut b, now), Some("socks_not_tor"));
        assert_eq!(app(&mut b), Some("socks_not_tor"));
        let problem = b.tor_json()["socks_problem"].as_str().unwrap().to_owned();
        assert!(
            problem.contains("127.0.0.1:9050") && problem.contains("127.0.0.1:9150"),
            "{problem}"
        );
        // Once a control port answered, losing it is not "no control port": refused until back.
        b.set_tor_status(status(ControlState::Connecting, None));
        assert_eq!(code(&mut b, now), Some("socks_unverified"));
        b.set_tor_status(status(
            ControlState::Connected,
            Some(&["[::1]:9050", "0.0.0.0:9050"]),
        ));
        assert_eq!(code(&mut b, now), None);
        assert_eq!(app(&mut b), None);
        assert_eq!(b.tor_json()["socks_vouched"], true);
        // Listeners unknown (a filtered GETINFO): refused.
        b.set_tor_status(status(ControlState::Connected, None));
        assert_eq!(code(&mut b, now), Some("socks_unverified"));

        // A configured control port: refused before it first answers.
        let (mut b, now) = broker();
        b.set_socks_check(SocksCheck::Required);
        assert_eq!(code(&mut b, now), Some("socks_unverified"));
        b.set_tor_status(status(ControlState::Connected, Some(&["127.0.0.1:9050"])));
        assert_eq!(code(&mut b, now), None);

        // Managed tor is our own: served while its control link is still coming up.
        let (mut b, now) = broker();
        b.set_socks_check(SocksCheck::Own);
        b.set_tor_status(status(ControlState::Connecting, None));
        assert_eq!(code(&mut b, now), None);
    }
}
