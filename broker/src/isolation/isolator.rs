//! The isolation state of one broker run: the secret key, the credential sets' state
//! ([`CredentialSets`]: every counter a password folds in, and the policies), the stream →
//! credentials map that meters bytes for max-bytes policies, and the username → site map used
//! for display.
//!
//! Nothing here touches disk: a restarted broker has a new key, so every credential changes.
//! Time is passed in (`*_at` methods take Unix milliseconds) so rotation is testable without
//! sleeping; the plain methods read the system clock.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::isolation::container::Container;
use crate::isolation::credentials::{self, DerivationKey, Digest};
use crate::isolation::error::IsolationError;
use crate::isolation::psl::Psl;
use crate::isolation::session::Session;
pub use crate::isolation::sets::CATCH_ALL_MAX_AGE_MS;
use crate::isolation::sets::{CredentialSet, CredentialSets, TabId};
use crate::isolation::site::Site;
use crate::policy::{Policy, PolicyTable};
use torctl::{Event, StreamStatus};

/// Most open streams metered at once; beyond it the map starts over (bytes of forgotten
/// streams are not counted, which can only delay a max-bytes rotation).
const MAX_METERED_STREAMS: usize = 65_536;

/// Closed streams kept for their late `STREAM_BW`.
const CLOSED_STREAMS_KEPT: usize = 1024;

/// SOCKS credentials issued for one (site, container[, tab]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IssuedCredentials {
    /// The first-party site the credentials isolate.
    pub site: Site,
    /// The container they belong to.
    pub container: Container,
    /// SOCKS username: stable for (site, container[, tab]) for the life of the key.
    pub username: String,
    /// SOCKS password: changes with "new circuit" for the site, "new identity" and policy
    /// rotation.
    pub password: String,
    /// Unix time in ms after which the extension must ask again (catch-all, max-age
    /// policies), else `None`.
    pub expires_at_ms: Option<u64>,
    /// Set when issuing these credentials rotated them first (catch-all age, or the site's
    /// policy): the daemon must push `invalidate {sites: [site], reason: "rotation"}`.
    pub rotated: bool,
    /// The site's policy gives each tab its own credentials; these are for one tab only.
    pub per_tab: bool,
    /// The tab these credentials belong to (per-tab sites only).
    pub tab: Option<TabId>,
}

/// Owns the key and all isolation state; see the module doc.
pub struct Isolator {
    key: DerivationKey,
    psl: Arc<Psl>,
    /// Username hash → credential set, so circuit displays can name the owner of a SOCKS
    /// username.
    usernames: HashMap<Digest, CredentialSet>,
    /// Every credential set's state and the policies.
    rotation: CredentialSets,
    /// Open tor streams on current credentials → (set, serial of its credentials), for bytes;
    /// closed ones stay a while for their late `STREAM_BW`.
    streams: HashMap<String, (CredentialSet, u64)>,
    /// Closed streams still in `streams`, oldest first (at most [`CLOSED_STREAMS_KEPT`]).
    closed_streams: VecDeque<String>,
}

impl std::fmt::Debug for Isolator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Isolator")
            .field("epoch", &self.rotation.epoch())
            .field("sites_seen", &self.rotation.sites_seen())
            .finish_non_exhaustive()
    }
}

impl Isolator {
    /// An isolator with a fresh random key.
    ///
    /// # Panics
    /// When the operating system's random generator fails: without randomness there is no safe
    /// key, so the broker must not serve. Use [`Isolator::try_new`] to handle that yourself.
    pub fn new(psl: Arc<Psl>) -> Self {
        Self::try_new(psl).expect("the OS random generator failed; cannot create a secret key")
    }

    /// An isolator with a fresh random key, or the random generator's error.
    pub fn try_new(psl: Arc<Psl>) -> Result<Self, getrandom::Error> {
        Ok(Self::with_derivation_key(DerivationKey::random()?, psl))
    }

    /// An isolator with a known key (tests, benchmarks).
    pub fn with_key(key: [u8; 32], psl: Arc<Psl>) -> Self {
        Self::with_derivation_key(DerivationKey::from_bytes(key), psl)
    }

    fn with_derivation_key(key: DerivationKey, psl: Arc<Psl>) -> Self {
        Isolator {
            key,
            psl,
            usernames: HashMap::new(),
            rotation: CredentialSets::default(),
            streams: HashMap::new(),
            closed_streams: VecDeque::new(),
        }
    }

    /// Credentials for the first party `url` in `container`, at the current time.
    pub fn credentials(
        &mut self,
        url: &str,
        container: &str,
    ) -> Result<IssuedCredentials, IsolationError> {
        self.credentials_at(url, container, now_ms())
    }

    /// Credentials for the first party `url` in `container` at `now_ms` (Unix ms).
    pub fn credentials_at(
        &mut self,
        url: &str,
        container: &str,
        now_ms: u64,
    ) -> Result<IssuedCredentials, IsolationError> {
        let container = Container::parse(container)?;
        let site = self.site_of(url)?;
        Ok(self.issue(site, container, now_ms))
    }

    /// Credentials for the first party `url` in `container`, requested from browser tab `tab`,
    /// at `now_ms` (Unix ms). The tab matters only for sites with a per-tab policy.
    pub fn credentials_in_tab_at(
        &mut self,
        url: &str,
        container: &str,
        tab: Option<TabId>,
        now_ms: u64,
    ) -> Result<IssuedCredentials, IsolationError> {
        self.credentials_in_session_at(url, container, tab, None, now_ms)
    }

    /// Credentials for the first party `url` in `container`, requested from browser tab `tab`
    /// of browser session `session` (`None`: the credentials shared by requests that name no
    /// session), at `now_ms` (Unix ms).
    pub fn credentials_in_session_at(
        &mut self,
        url: &str,
        container: &str,
        tab: Option<TabId>,
        session: Option<Session>,
        now_ms: u64,
    ) -> Result<IssuedCredentials, IsolationError> {
        let container = Container::parse(container)?;
        let site = self.site_of(url)?;
        Ok(self.issue_in_session(site, container, tab, session, now_ms))
    }

    /// Credentials for an already-parsed site and container at `now_ms` (Unix ms).
    pub fn issue(&mut self, site: Site, container: Container, now_ms: u64) -> IssuedCredentials {
        self.issue_in_tab(site, container, None, now_ms)
    }

    /// Credentials for an already-parsed site, container and tab at `now_ms` (Unix ms),
    /// rotating them first when the site's policy (or the catch-all's age) says so.
    pub fn issue_in_tab(
        &mut self,
        site: Site,
        container: Container,
        tab: Option<TabId>,
        now_ms: u64,
    ) -> IssuedCredentials {
        self.issue_in_session(site, container, tab, None, now_ms)
    }

    /// [`Isolator::issue_in_tab`] for a request of browser session `session`.
    pub fn issue_in_session(
        &mut self,
        site: Site,
        container: Container,
        tab: Option<TabId>,
        session: Option<Session>,
        now_ms: u64,
    ) -> IssuedCredentials {
        let set = self.rotation.set_in_session(site, container, tab, session);
        let policy = self.rotation.policy_for(&set.site);
        let issue = self.rotation.issue(&set, now_ms);
        let (rotated, expires_at_ms) = (issue.rotated, issue.expires_at_ms);
        let username = credentials::username_digest(
            &self.key,
            &set.site,
            &set.container,
            set.tab,
            set.session.as_ref(),
        );
        let password = self.password_of(&set, issue.counters);
        self.usernames
            .entry(username)
            .or_insert_with(|| set.clone());
        IssuedCredentials {
            site: set.site,
            container: set.container,
            username: credentials::encode(&username),
            password: credentials::encode(&password),
            expires_at_ms,
            rotated,
            per_tab: policy.per_tab,
            tab: set.tab,
        }
    }

    fn password_of(&self, set: &CredentialSet, counters: credentials::PasswordCounters) -> Digest {
        credentials::password_digest(
            &self.key,
            &set.site,
            &set.container,
            counters,
            set.session.as_ref(),
        )
    }

    fn current_password(&self, set: &CredentialSet) -> Digest {
        self.password_of(set, self.rotation.current_counters(set))
    }

    /// The site of a URL or bare host (`invalid_url` on bad input).
    pub fn site_of(&self, url_or_host: &str) -> Result<Site, IsolationError> {
        Site::of(url_or_host, &self.psl)
    }

    /// Parses a `site` field, e.g. of `new_circuit`; accepts `--unknown--` (`invalid_field` on
    /// bad input).
    pub fn parse_site(&self, site: &str) -> Result<Site, IsolationError> {
        Site::parse(site, &self.psl)
    }

    /// "New circuit for this site": every container's password for `site` changes, usernames
    /// and other sites stay.
    pub fn new_circuit(&mut self, site: &Site) {
        self.rotation.new_circuit(site);
        self.streams.retain(|_, (set, _)| &set.site != site);
    }

    /// "New identity": every password of every site changes, and what was seen is forgotten.
    /// Returns the new epoch.
    pub fn new_identity(&mut self) -> u64 {
        self.usernames = HashMap::new();
        self.streams = HashMap::new();
        self.closed_streams.clear();
        self.rotation.new_identity()
    }

    /// Browser tab `tab` was closed: its per-tab credential sets are forgotten, and should the
    /// tab id ask again (a late request of the closing tab), it gets credentials never issued
    /// before. Returns the sites whose sets were forgotten (sorted, each once; empty when the
    /// tab had none).
    pub fn tab_closed(&mut self, tab: TabId) -> Vec<Site> {
        self.tab_closed_in(tab, None)
    }

    /// [`Isolator::tab_closed`] for the tab of browser session `session`: tabs with the same
    /// id in other sessions keep their credentials.
    pub fn tab_closed_in(&mut self, tab: TabId, session: Option<Session>) -> Vec<Site> {
        let sites = self.rotation.tab_closed(tab, session);
        if !sites.is_empty() {
            self.forget_tab_sets(|set| set.tab == Some(tab) && set.session == session);
        }
        sites
    }

    /// Browser session `session` ended (a private browsing session's last window closed): its
    /// credential sets, usernames, metered streams and tab lives are forgotten. Returns how
    /// many credential sets it had. The extension never uses an ended session's value again.
    pub fn session_ended(&mut self, session: Session) -> usize {
        self.end_session(session).len()
    }

    /// [`Isolator::session_ended`], returning the forgotten credential sets (so that the
    /// daemon can drop their circuit displays too); the sites only the session used leave no
    /// trace ([`CredentialSets::end_session`]).
    pub fn end_session(&mut self, session: Session) -> Vec<CredentialSet> {
        let forgotten = self.rotation.end_session(session);
        let gone = |set: &CredentialSet| set.session == Some(session);
        self.usernames.retain(|_, set| !gone(set));
        self.streams.retain(|_, (set, _)| !gone(set));
        self.closed_streams
            .retain(|id| self.streams.contains_key(id));
        forgotten
    }

    /// How many entries each per-site or per-set map holds (for tests and diagnostics):
    /// generations, usernames, rotation sets, metered streams, tab lives.
    pub fn sizes(&self) -> [usize; 5] {
        let [generations, tab_lives] = self.rotation.counter_sizes();
        [
            generations,
            self.usernames.len(),
            self.rotation.len(),
            self.streams.len(),
            tab_lives,
        ]
    }

    /// The browser's tab ids start over (a new browser session: Firefox numbers tabs anew and
    /// would hand out ids that tabs of the last session had). Every per-tab credential set is
    /// forgotten and per-tab passwords change, so no new tab gets an old tab's circuit.
    /// Returns the sites whose per-tab sets were forgotten, for an `invalidate` push.
    pub fn reset_tabs(&mut self) -> Vec<Site> {
        let sites = self.rotation.reset_tabs();
        self.forget_tab_sets(|set| set.tab.is_some());
        sites
    }

    /// Drops the username and stream entries of the per-tab sets that `gone` selects.
    fn forget_tab_sets(&mut self, gone: impl Fn(&CredentialSet) -> bool) {
        self.usernames.retain(|_, set| !gone(set));
        self.streams.retain(|_, (set, _)| !gone(set));
    }

    /// The current "new identity" counter (0 until the first new identity).
    pub fn epoch(&self) -> u64 {
        self.rotation.epoch()
    }

    /// How many sites got credentials or a new circuit since the last new identity.
    pub fn sites_seen(&self) -> usize {
        self.rotation.sites_seen()
    }

    /// The site a SOCKS username was issued for (for display), if this isolator issued it.
    pub fn site_for_username(&self, username: &str) -> Option<&Site> {
        self.owner_of_username(username).map(|(site, _)| site)
    }

    /// The (site, container) a SOCKS username was issued for, if this isolator issued it since
    /// the last new identity.
    pub fn owner_of_username(&self, username: &str) -> Option<(&Site, Container)> {
        let set = self.usernames.get(&credentials::decode(username)?)?;
        Some((&set.site, set.container))
    }

    /// The credential set a username was issued for and whether `password` is its current
    /// password, if this isolator issued the username since the last new identity.
    pub fn owner_of_credentials(
        &self,
        username: &str,
        password: &str,
    ) -> Option<(&CredentialSet, bool)> {
        let set = self.usernames.get(&credentials::decode(username)?)?;
        let current = credentials::decode(password) == Some(self.current_password(set));
        Some((set, current))
    }

    /// Whether `password` is a password (site, container) — or one of its per-tab or
    /// per-session credential sets — would get now, i.e. credentials issued before a later
    /// "new circuit", rotation or "new identity" answer `false`.
    pub fn is_current_password(&self, site: &Site, container: &Container, password: &str) -> bool {
        let Some(password) = credentials::decode(password) else {
            return false;
        };
        let shared = CredentialSet {
            site: site.clone(),
            container: *container,
            tab: None,
            session: None,
        };
        password == self.current_password(&shared)
            || self
                .rotation
                .sets_of(site, *container)
                .filter(|set| set.tab.is_some() || set.session.is_some())
                .any(|set| password == self.current_password(set))
    }

    /// The circuit-lifetime policies in force.
    pub fn policies(&self) -> &PolicyTable {
        self.rotation.policies()
    }

    /// The policy that applies to `site` now.
    pub fn policy_for(&self, site: &Site) -> Policy {
        self.rotation.policy_for(site)
    }

    /// Replaces the policies; returns the sites that have credentials and whose policy changed
    /// (the daemon pushes `invalidate` for them).
    pub fn set_policies(&mut self, policies: PolicyTable) -> Vec<Site> {
        self.rotation.set_policies(policies)
    }

    /// Rotates every credential set whose max-age is due at `now_ms`; returns their sites
    /// (sorted, each once) for an `invalidate` push with reason `rotation`.
    pub fn rotate_due(&mut self, now_ms: u64) -> Vec<Site> {
        let mut sites: Vec<Site> = self
            .rotation
            .due(now_ms)
            .into_iter()
            .map(|set| set.site)
            .collect();
        sites.dedup();
        sites
    }

    /// When [`Isolator::rotate_due`] next has work (Unix ms), for the daemon's timer.
    pub fn next_rotation_at(&self) -> Option<u64> {
        self.rotation.next_deadline()
    }

    /// The rotation state (read-only), for diagnostics and tests.
    pub fn rotation(&self) -> &CredentialSets {
        &self.rotation
    }

    /// A tor stream attached with these SOCKS credentials: its bytes count towards the
    /// credential set's max-bytes when they are the set's current credentials.
    pub fn stream_attached(&mut self, stream_id: &str, username: &[u8], password: &[u8]) {
        let (Ok(username), Ok(password)) =
            (std::str::from_utf8(username), std::str::from_utf8(password))
        else {
            return;
        };
        let attributed = match self.owner_of_credentials(username, password) {
            Some((set, true)) if !set.site.is_catch_all() => self
                .rotation
                .issue_of(set)
                .map(|issue| (set.clone(), issue)),
            _ => None,
        };
        match attributed {
            Some(entry) => {
                if self.streams.len() >= MAX_METERED_STREAMS
                    && !self.streams.contains_key(stream_id)
                {
                    self.streams.clear();
                    self.closed_streams.clear();
                }
                self.streams.insert(stream_id.to_owned(), entry);
            }
            None => {
                self.streams.remove(stream_id);
            }
        }
    }

    /// A tor stream closed or failed. Its entry stays for a while: tor may report a stream's
    /// last bytes around its `CLOSED` event (as [`crate::daemon::circuits`] counts them for the
    /// display, so the meter and the display agree).
    pub fn stream_closed(&mut self, stream_id: &str) {
        if self.streams.contains_key(stream_id) {
            self.closed_streams.push_back(stream_id.to_owned());
            if self.closed_streams.len() > CLOSED_STREAMS_KEPT
                && let Some(old) = self.closed_streams.pop_front()
            {
                self.streams.remove(&old);
            }
        }
    }

    /// Bytes a stream carried (read + written); returns the site when this reached its
    /// max-bytes and rotated its credentials (push `invalidate` reason `rotation`).
    pub fn stream_bytes(&mut self, stream_id: &str, bytes: u64) -> Option<Site> {
        let (set, issue) = self.streams.get(stream_id)?;
        let set = set.clone();
        let issue = *issue;
        if self.rotation.record_bytes(&set, issue, bytes) {
            self.streams.retain(|_, (s, _)| *s != set);
            return Some(set.site);
        }
        None
    }

    /// Tor is unreachable (or restarted, reusing stream ids): forget the metered streams.
    pub fn forget_streams(&mut self) {
        self.streams.clear();
        self.closed_streams.clear();
    }

    /// Feeds one tor event to the byte meter (`STREAM` attach/close, `STREAM_BW`); returns the
    /// site whose credentials rotated by max-bytes, if any.
    pub fn on_tor_event(&mut self, event: &Event) -> Option<Site> {
        match event {
            Event::Stream(s) => {
                match s.status {
                    StreamStatus::SentConnect
                    | StreamStatus::SentResolve
                    | StreamStatus::Succeeded => {
                        if let (Some(user), Some(pass)) = (&s.socks_username, &s.socks_password) {
                            self.stream_attached(&s.id, user.as_bytes(), pass.as_bytes());
                        }
                    }
                    StreamStatus::Closed | StreamStatus::Failed => self.stream_closed(&s.id),
                    _ => {}
                }
                None
            }
            Event::StreamBw(bw) => {
                self.stream_bytes(&bw.stream_id, bw.read.saturating_add(bw.written))
            }
            _ => None,
        }
    }

    /// The Public Suffix List in use.
    pub fn psl(&self) -> &Psl {
        &self.psl
    }
}

fn now_ms() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}
