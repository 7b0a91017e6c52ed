//! The one owner of every credential set's state: the counters its password folds in (the
//! site's "new circuit" generation, the "new identity" epoch, the set's policy rotation, the tab
//! era and the tab's life) and the clock and byte meter behind max-age and max-bytes rotation
//! under its site's [`Policy`] (`docs/protocol.md` §2.5). Sans-IO and key-free: time comes in as
//! Unix milliseconds, bytes as counts; the [`crate::Isolator`] turns a set's
//! [`PasswordCounters`] into a password with its key.
//!
//! A **credential set** is (site, container, tab, session): the tab is there only when the
//! site's policy is per-tab, the session only when the request named its browser session
//! ([`Session`]). Each set rotates on its own clock, so the moment one container or tab switches
//! circuits tells an observer nothing about when another one does (rotating them together would
//! link them). A set's age counts from the first request after its last change; its bytes are
//! those carried by streams that used its current credentials. Once it is due, its rotation
//! counter goes up and its age and bytes start over; streams already open keep their old
//! circuit, only new streams get the new credentials.
//!
//! The catch-all site (`--unknown--`) has no policy: its credentials rotate on use once they
//! are [`CATCH_ALL_MAX_AGE_MS`] old, through its generation.
//!
//! `next_deadline()` scans all sets (O(sets)); the daemon calls it once per timer tick or
//! change, and a user has at most a few thousand sets between two new identities.

use std::collections::{BTreeMap, HashMap};

use crate::isolation::container::Container;
use crate::isolation::credentials::PasswordCounters;
use crate::isolation::session::Session;
use crate::isolation::site::Site;
use crate::policy::{Policy, PolicyTable};

/// How long catch-all credentials live from their first use (10 minutes, as in Tor Browser).
pub const CATCH_ALL_MAX_AGE_MS: u64 = 10 * 60 * 1000;

/// A browser tab id, as the extension sends it.
pub(crate) type TabId = i64;

/// The unit that has its own credentials: (site, container, tab when the site is per-tab,
/// browser session when the request named one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CredentialSet {
    /// The first-party site.
    pub site: Site,
    /// The container.
    pub container: Container,
    /// The tab, only for sites with a per-tab policy.
    pub tab: Option<TabId>,
    /// The browser session (private browsing sessions have their own), when named.
    pub session: Option<Session>,
}

#[derive(Debug, Clone, Default)]
struct SetState {
    /// How often this set rotated since the last new identity.
    rotation: u64,
    /// When the current credentials were first handed out (Unix ms); `None` until then.
    since_ms: Option<u64>,
    /// Bytes carried by streams on the current credentials.
    bytes: u64,
    /// Serial of the current credentials: changes with every rotation or reset, never reused.
    issue: u64,
}

/// What [`CredentialSets::grant`] decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grant {
    /// The rotation counter to fold into the password.
    pub rotation: u64,
    /// True when this request rotated the set first (push `invalidate` reason `rotation`).
    pub rotated: bool,
    /// When the extension must ask again (Unix ms): issued + max_age; `None` without max_age.
    pub expires_at_ms: Option<u64>,
    /// Serial of the credentials granted (for attributing stream bytes).
    pub issue: u64,
}

/// What [`CredentialSets::issue`] decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Issue {
    /// The counters the password folds in.
    pub counters: PasswordCounters,
    /// True when this request rotated the set first (push `invalidate` reason `rotation`).
    pub rotated: bool,
    /// When the extension must ask again (Unix ms), if ever.
    pub expires_at_ms: Option<u64>,
}

/// Every credential set's state; see the module doc.
#[derive(Debug, Default)]
pub struct CredentialSets {
    policies: PolicyTable,
    sets: BTreeMap<CredentialSet, SetState>,
    last_issue: u64,
    /// The "new identity" counter.
    epoch: u64,
    /// "New circuit" counter of every site seen since the last new identity.
    generations: HashMap<Site, u64>,
    /// When the current catch-all credentials were first used (Unix ms).
    catch_all_since_ms: Option<u64>,
    /// How often the browser's tab ids started over (`hello` with `tabs_reset`).
    tab_era: u64,
    /// How often each tab id (of each browser session) that had per-tab credentials was
    /// closed in this era.
    tab_lives: HashMap<(TabId, Option<Session>), u64>,
}

impl CredentialSets {
    /// Sets under `policies`, none known yet.
    pub fn new(policies: PolicyTable) -> Self {
        Self {
            policies,
            ..Self::default()
        }
    }

    /// Hands out `set`'s credentials at `now_ms`: rotates it first when due (by policy, or the
    /// catch-all by age) and returns the counters its password folds in.
    pub fn issue(&mut self, set: &CredentialSet, now_ms: u64) -> Issue {
        let (rotated, expires_at_ms, rotation) = if set.site.is_catch_all() {
            let (rotated, expires) = self.touch_catch_all(&set.site, now_ms);
            (rotated, expires, 0)
        } else {
            let grant = self.grant(set, now_ms);
            (grant.rotated, grant.expires_at_ms, grant.rotation)
        };
        let generation = *self.generations.entry(set.site.clone()).or_insert(0);
        Issue {
            counters: self.counters(set, generation, rotation),
            rotated,
            expires_at_ms,
        }
    }

    /// The counters of `set`'s current password, without handing anything out.
    pub fn current_counters(&self, set: &CredentialSet) -> PasswordCounters {
        let generation = self.generations.get(&set.site).copied().unwrap_or(0);
        self.counters(set, generation, self.rotation_of(set))
    }

    fn counters(&self, set: &CredentialSet, generation: u64, rotation: u64) -> PasswordCounters {
        PasswordCounters {
            generation,
            epoch: self.epoch,
            tab: set.tab,
            rotation,
            tab_era: self.tab_era,
            tab_life: set
                .tab
                .and_then(|tab| self.tab_lives.get(&(tab, set.session)).copied())
                .unwrap_or(0),
        }
    }

    /// Rotates the catch-all when its credentials are older than [`CATCH_ALL_MAX_AGE_MS`];
    /// returns (rotated, expiry of the current credentials).
    fn touch_catch_all(&mut self, site: &Site, now_ms: u64) -> (bool, Option<u64>) {
        let (rotated, since) = match self.catch_all_since_ms {
            Some(since) if now_ms.saturating_sub(since) >= CATCH_ALL_MAX_AGE_MS => {
                *self.generations.entry(site.clone()).or_insert(0) += 1;
                (true, now_ms)
            }
            Some(since) => (false, since),
            None => (false, now_ms),
        };
        self.catch_all_since_ms = Some(since);
        (rotated, Some(since.saturating_add(CATCH_ALL_MAX_AGE_MS)))
    }

    /// "New circuit" for `site`: its generation goes up (every container's password changes),
    /// its sets' age and bytes start over with new serials.
    pub fn new_circuit(&mut self, site: &Site) {
        *self.generations.entry(site.clone()).or_insert(0) += 1;
        self.reset_site(site);
        if site.is_catch_all() {
            // The fresh catch-all credentials get their full 10 minutes from their first use.
            self.catch_all_since_ms = None;
        }
    }

    /// "New identity": the epoch goes up (every password changes) and every set, counter and
    /// tab life is forgotten. Returns the new epoch.
    pub fn new_identity(&mut self) -> u64 {
        self.epoch += 1;
        self.generations = HashMap::new();
        self.catch_all_since_ms = None;
        self.sets.clear();
        self.tab_lives = HashMap::new();
        self.epoch
    }

    /// Tab `tab` of `session` was closed: forgets its sets and, when it had any, moves its
    /// tab life on, so a set made again for the tab id never gets the forgotten credentials.
    /// Returns the sites whose sets were forgotten (sorted, each once).
    pub fn tab_closed(&mut self, tab: TabId, session: Option<Session>) -> Vec<Site> {
        let sites = self.forget_tab_in(tab, session);
        if !sites.is_empty() {
            *self.tab_lives.entry((tab, session)).or_insert(0) += 1;
        }
        sites
    }

    /// The browser's tab ids start over: every per-tab set is forgotten and the tab era moves
    /// on (every per-tab password changes). Returns the sites whose sets were forgotten.
    pub fn reset_tabs(&mut self) -> Vec<Site> {
        let sites = self.forget_tabs();
        self.tab_era += 1;
        self.tab_lives = HashMap::new();
        sites
    }

    /// Browser session `session` ended: its sets and tab lives are forgotten, and so is the
    /// generation of a site only the session used (no credentials of another session used it:
    /// each session has its own usernames and passwords, a forgotten tab's are changed by its
    /// tab life), so the site leaves no trace. Returns the forgotten sets.
    pub fn end_session(&mut self, session: Session) -> Vec<CredentialSet> {
        let forgotten = self.forget_session_sets(session);
        self.tab_lives.retain(|(_, s), _| *s != Some(session));
        let mut sites: Vec<&Site> = forgotten.iter().map(|set| &set.site).collect();
        sites.sort();
        sites.dedup();
        for site in sites {
            if !site.is_catch_all() && !self.has_site(site) {
                self.generations.remove(site);
            }
        }
        forgotten
    }

    /// The current "new identity" counter (0 until the first new identity).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// How many sites got credentials or a new circuit since the last new identity.
    pub fn sites_seen(&self) -> usize {
        self.generations.len()
    }

    /// How many entries the per-site and per-tab maps hold: generations, tab lives.
    pub fn counter_sizes(&self) -> [usize; 2] {
        [self.generations.len(), self.tab_lives.len()]
    }

    /// The policies in force.
    pub fn policies(&self) -> &PolicyTable {
        &self.policies
    }

    /// Replaces the policies; returns the sites whose policy changed and that have credential
    /// sets (the daemon pushes `invalidate` for them). Sets keep their age and bytes: a
    /// shorter `max_age` applies to credentials already out.
    pub fn set_policies(&mut self, policies: PolicyTable) -> Vec<Site> {
        let mut changed: Vec<Site> = self
            .sets
            .keys()
            .map(|set| &set.site)
            .filter(|site| self.policies.policy_for(site) != policies.policy_for(site))
            .cloned()
            .collect();
        changed.dedup();
        self.policies = policies;
        changed
    }

    /// The policy that applies to `site` now.
    pub fn policy_for(&self, site: &Site) -> Policy {
        self.policies.policy_for(site)
    }

    /// The credential set of a request: the tab is kept only when `site` is per-tab and the
    /// tab is a real one (≥ 0; Firefox's `TAB_ID_NONE` is -1).
    pub fn set_of(&self, site: Site, container: Container, tab: Option<TabId>) -> CredentialSet {
        self.set_in_session(site, container, tab, None)
    }

    /// [`CredentialSets::set_of`] for a request of browser session `session`.
    pub fn set_in_session(
        &self,
        site: Site,
        container: Container,
        tab: Option<TabId>,
        session: Option<Session>,
    ) -> CredentialSet {
        let per_tab = self.policies.policy_for(&site).per_tab;
        CredentialSet {
            site,
            container,
            tab: tab.filter(|t| per_tab && *t >= 0),
            session,
        }
    }

    /// Hands out `set`'s credentials at `now_ms`, rotating first when its age or bytes are due.
    fn grant(&mut self, set: &CredentialSet, now_ms: u64) -> Grant {
        let policy = self.policies.policy_for(&set.site);
        let mut rotated = false;
        if let Some(state) = self.sets.get(set)
            && is_due(state, &policy, now_ms)
        {
            self.rotate(set);
            rotated = true;
        }
        if !self.sets.contains_key(set) {
            self.last_issue += 1;
            let issue = self.last_issue;
            self.sets.insert(
                set.clone(),
                SetState {
                    issue,
                    ..SetState::default()
                },
            );
        }
        let state = self.sets.get_mut(set).expect("inserted above");
        let since = *state.since_ms.get_or_insert(now_ms);
        Grant {
            rotation: state.rotation,
            rotated,
            expires_at_ms: policy.max_age_ms().map(|age| since.saturating_add(age)),
            issue: state.issue,
        }
    }

    /// The rotation counter of `set` (0 when it never rotated or is unknown).
    pub fn rotation_of(&self, set: &CredentialSet) -> u64 {
        self.sets.get(set).map_or(0, |s| s.rotation)
    }

    /// The serial of `set`'s current credentials, if it was ever granted.
    pub fn issue_of(&self, set: &CredentialSet) -> Option<u64> {
        self.sets.get(set).map(|s| s.issue)
    }

    /// Bytes carried by a stream that used `set`'s credentials with serial `issue`; returns
    /// true when this reached the site's `max_bytes` and rotated the set (push `invalidate`).
    /// Bytes of older credentials (streams finishing on the old circuit) are not counted.
    pub fn record_bytes(&mut self, set: &CredentialSet, issue: u64, bytes: u64) -> bool {
        let policy = self.policies.policy_for(&set.site);
        let Some(state) = self.sets.get_mut(set) else {
            return false;
        };
        if state.issue != issue || bytes == 0 {
            return false;
        }
        state.bytes = state.bytes.saturating_add(bytes);
        if policy.max_bytes.is_some_and(|max| state.bytes >= max) {
            self.rotate(set);
            return true;
        }
        false
    }

    /// Bytes carried so far by `set`'s current credentials.
    pub fn bytes_of(&self, set: &CredentialSet) -> u64 {
        self.sets.get(set).map_or(0, |s| s.bytes)
    }

    /// Rotates every set whose age is due at `now_ms` and returns them, so the daemon pushes
    /// `invalidate` on time even when no request comes.
    pub fn due(&mut self, now_ms: u64) -> Vec<CredentialSet> {
        let due: Vec<CredentialSet> = self
            .sets
            .iter()
            .filter(|(set, state)| {
                let policy = self.policies.policy_for(&set.site);
                in_use(set, &policy) && is_due(state, &policy, now_ms)
            })
            .map(|(set, _)| set.clone())
            .collect();
        for set in &due {
            self.rotate(set);
        }
        due
    }

    /// The earliest time (Unix ms) at which [`CredentialSets::due`] will rotate a set.
    pub fn next_deadline(&self) -> Option<u64> {
        self.sets
            .iter()
            .filter_map(|(set, state)| {
                let policy = self.policies.policy_for(&set.site);
                let age = policy.max_age_ms().filter(|_| in_use(set, &policy))?;
                Some(state.since_ms?.saturating_add(age))
            })
            .min()
    }

    /// Every known set of `(site, container)`, tabs and sessions included.
    pub fn sets_of<'a>(
        &'a self,
        site: &'a Site,
        container: Container,
    ) -> impl Iterator<Item = &'a CredentialSet> {
        let low = CredentialSet {
            site: site.clone(),
            container,
            tab: None,
            session: None,
        };
        self.sets
            .range(low..)
            .map(|(set, _)| set)
            .take_while(move |set| &set.site == site && set.container == container)
    }

    /// Its sets' age and bytes start over with new serials (part of [`Self::new_circuit`]).
    fn reset_site(&mut self, site: &Site) {
        for (set, state) in self.sets.iter_mut() {
            if &set.site == site {
                self.last_issue += 1;
                state.issue = self.last_issue;
                state.since_ms = None;
                state.bytes = 0;
            }
        }
    }

    /// Forgets the sets of tab `tab` of browser session `session` (of every site and
    /// container; another browser's tab with the same id keeps its sets); returns their sites
    /// (sorted, each once). Part of [`Self::tab_closed`], which also moves the tab life on.
    fn forget_tab_in(&mut self, tab: TabId, session: Option<Session>) -> Vec<Site> {
        self.forget_where(|set| set.tab == Some(tab) && set.session == session)
    }

    /// Forgets every per-tab set; returns their sites (sorted, each once). Part of
    /// [`Self::reset_tabs`], which also moves the tab era on.
    fn forget_tabs(&mut self) -> Vec<Site> {
        self.forget_where(|set| set.tab.is_some())
    }

    /// Browser session `session` ended: forgets its sets and returns them.
    fn forget_session_sets(&mut self, session: Session) -> Vec<CredentialSet> {
        let mut gone = Vec::new();
        self.sets.retain(|set, _| {
            let forget = set.session == Some(session);
            if forget {
                gone.push(set.clone());
            }
            !forget
        });
        gone
    }

    /// Whether any remaining set (of any tab or session) is for `site`.
    pub fn has_site(&self, site: &Site) -> bool {
        self.sets.keys().any(|set| &set.site == site)
    }

    fn forget_where(&mut self, forget: impl Fn(&CredentialSet) -> bool) -> Vec<Site> {
        let mut sites = Vec::new();
        self.sets.retain(|set, _| {
            let gone = forget(set);
            if gone {
                sites.push(set.site.clone());
            }
            !gone
        });
        sites.sort();
        sites.dedup();
        sites
    }

    /// How many credential sets are tracked.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Whether no set is tracked.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    fn rotate(&mut self, set: &CredentialSet) {
        if let Some(state) = self.sets.get_mut(set) {
            self.last_issue += 1;
            state.rotation += 1;
            state.issue = self.last_issue;
            state.since_ms = None;
            state.bytes = 0;
        }
    }
}

/// Whether requests can still reach `set` under `policy`: a tab's set is out of use while its
/// site is not per-tab. Such sets keep their counters (so turning per-tab back on never reuses
/// old credentials) but are not rotated or pushed by the timer.
fn in_use(set: &CredentialSet, policy: &Policy) -> bool {
    set.tab.is_none() || policy.per_tab
}

fn is_due(state: &SetState, policy: &Policy, now_ms: u64) -> bool {
    let by_age = match (policy.max_age_ms(), state.since_ms) {
        (Some(age), Some(since)) => now_ms >= since.saturating_add(age),
        _ => false,
    };
    let by_bytes = policy.max_bytes.is_some_and(|max| state.bytes >= max);
    by_age || by_bytes
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::isolation::psl::Psl;

    const T0: u64 = 1_800_000_000_000;

    fn site(name: &str) -> Site {
        Site::parse(name, &Psl::vendored().expect("psl")).expect("site")
    }

    fn engine(site_policy: Policy) -> CredentialSets {
        let mut table = PolicyTable::default();
        table
            .set_site(site("example.com"), Some(site_policy))
            .expect("set");
        CredentialSets::new(table)
    }

    fn set(name: &str) -> CredentialSet {
        CredentialSet {
            site: site(name),
            container: Container::Default,
            tab: None,
            session: None,
        }
    }

    #[test]
    fn max_age_rotates_exactly_when_due() {
        let age = Policy::new(Some(Duration::from_secs(60)), None, false, "p").expect("ok");
        let mut e = engine(age);
        let s = set("example.com");
        let g = e.grant(&s, T0);
        assert_eq!(
            (g.rotation, g.rotated, g.expires_at_ms),
            (0, false, Some(T0 + 60_000))
        );
        assert_eq!(e.next_deadline(), Some(T0 + 60_000));
        assert!(e.due(T0 + 59_999).is_empty());
        assert_eq!(e.grant(&s, T0 + 59_999).rotation, 0);
        assert_eq!(e.due(T0 + 60_000), vec![s.clone()]);
        assert_eq!(
            e.next_deadline(),
            None,
            "no deadline until the new credentials are used"
        );
        let g = e.grant(&s, T0 + 70_000);
        assert_eq!(
            (g.rotation, g.rotated, g.expires_at_ms),
            (1, false, Some(T0 + 130_000))
        );
        // Without the timer, the request itself rotates.
        let g = e.grant(&s, T0 + 130_000);
        assert_eq!((g.rotation, g.rotated), (2, true));
    }

    #[test]
    fn max_bytes_rotates_after_not_before_the_threshold() {
        let bytes = Policy::new(None, Some(10_000), false, "p").expect("ok");
        let mut e = engine(bytes);
        let s = set("example.com");
        let g = e.grant(&s, T0);
        assert_eq!(g.expires_at_ms, None);
        assert!(!e.record_bytes(&s, g.issue, 9_999));
        assert_eq!(e.bytes_of(&s), 9_999);
        assert!(e.record_bytes(&s, g.issue, 1));
        assert_eq!(e.rotation_of(&s), 1);
        // Old streams finishing on the old circuit do not count for the new credentials.
        assert!(!e.record_bytes(&s, g.issue, 50_000));
        let g2 = e.grant(&s, T0 + 1);
        assert_eq!((g2.rotation, g2.rotated), (1, false));
        assert_ne!(g2.issue, g.issue);
        assert_eq!(e.bytes_of(&s), 0);
    }

    #[test]
    fn keep_alive_never_rotates_and_catch_all_is_ignored() {
        let mut e = CredentialSets::new(PolicyTable::default());
        let s = set("example.com");
        let g = e.grant(&s, T0);
        assert!(!e.record_bytes(&s, g.issue, u64::MAX));
        assert!(e.due(u64::MAX).is_empty());
        assert_eq!(e.next_deadline(), None);
        assert_eq!(e.grant(&s, u64::MAX).rotation, 0);
        let every_second = Policy::new(Some(Duration::from_secs(1)), None, true, "p").expect("ok");
        let mut table = PolicyTable::new(every_second);
        assert!(
            table
                .set_site(Site::catch_all(), Some(every_second))
                .is_err()
        );
        table
            .set_site(site("example.org"), None)
            .expect("remove nothing");
        let e = CredentialSets::new(table);
        assert_eq!(e.policy_for(&Site::catch_all()), Policy::KEEP_ALIVE);
        assert_eq!(
            e.set_of(Site::catch_all(), Container::Default, Some(4)).tab,
            None
        );
    }

    #[test]
    fn closing_a_tab_forgets_its_sets_and_only_its_sets() {
        let per_tab = Policy::new(None, None, true, "p").expect("ok");
        let mut e = engine(per_tab);
        let in_tab =
            |site_name: &str, tab| e.set_of(site(site_name), Container::Default, Some(tab));
        let (a3, a4) = (in_tab("example.com", 3), in_tab("example.com", 4));
        let shared = set("example.org");
        for s in [&a3, &a4, &shared] {
            e.grant(s, T0);
        }
        assert_eq!(e.len(), 3);
        assert_eq!(e.forget_tab_in(3, None), vec![site("example.com")]);
        assert_eq!(e.issue_of(&a3), None);
        assert!(e.issue_of(&a4).is_some() && e.issue_of(&shared).is_some());
        assert_eq!(
            e.forget_tab_in(3, None),
            Vec::<Site>::new(),
            "closing twice forgets nothing more"
        );
        assert_eq!(e.forget_tabs(), vec![site("example.com")]);
        assert_eq!(e.len(), 1, "only the shared set is left");
        assert!(e.issue_of(&shared).is_some());
    }

    #[test]
    fn tabs_are_kept_only_for_per_tab_sites() {
        let per_tab = Policy::new(None, None, true, "p").expect("ok");
        let e = engine(per_tab);
        assert_eq!(
            e.set_of(site("example.com"), Container::Default, Some(7))
                .tab,
            Some(7)
        );
        assert_eq!(
            e.set_of(site("example.com"), Container::Default, Some(-1))
                .tab,
            None
        );
        assert_eq!(
            e.set_of(site("example.org"), Container::Default, Some(7))
                .tab,
            None
        );
    }

    #[test]
    fn tab_sets_out_of_use_are_not_rotated_by_the_timer_and_keep_their_counters() {
        let tabs_every_minute =
            Policy::new(Some(Duration::from_secs(60)), None, true, "p").expect("ok");
        let mut e = engine(tabs_every_minute);
        let tab = e.set_of(site("example.com"), Container::Default, Some(3));
        assert_eq!(tab.tab, Some(3));
        e.grant(&tab, T0);
        assert_eq!(e.due(T0 + 60_000), vec![tab.clone()]);
        e.grant(&tab, T0 + 60_000);
        let mut shared_only = PolicyTable::default();
        let every_minute =
            Policy::new(Some(Duration::from_secs(60)), None, false, "p").expect("ok");
        shared_only
            .set_site(site("example.com"), Some(every_minute))
            .expect("set");
        e.set_policies(shared_only);
        assert_eq!(e.next_deadline(), None, "the tab's set is out of use");
        assert!(e.due(T0 + 500_000).is_empty());
        let mut per_tab_again = PolicyTable::default();
        per_tab_again
            .set_site(site("example.com"), Some(tabs_every_minute))
            .expect("set");
        e.set_policies(per_tab_again);
        assert_eq!(
            e.rotation_of(&tab),
            1,
            "counters kept: old credentials never come back"
        );
        assert_eq!(e.next_deadline(), Some(T0 + 120_000));
    }

    #[test]
    fn policy_changes_report_the_sites_with_sets() {
        let mut e = CredentialSets::new(PolicyTable::default());
        e.grant(&set("example.com"), T0);
        e.grant(&set("example.org"), T0);
        let mut table = PolicyTable::default();
        let tab = Policy::new(None, None, true, "p").expect("ok");
        table.set_site(site("example.com"), Some(tab)).expect("set");
        table.set_site(site("example.net"), Some(tab)).expect("set");
        assert_eq!(e.set_policies(table), vec![site("example.com")]);
    }
}
