//! Which Tor circuits carry each site's traffic: sans-IO bookkeeping fed with typed control-port
//! events, answering the `circuit` request and saying which sites' displays changed
//! (`docs/protocol.md` §2.4).
//!
//! Data flow, as in Tor Browser (`TorProvider.sys.mjs`, `TorDomainIsolator.sys.mjs`): a
//! `STREAM … SENTCONNECT|SUCCEEDED <circuit>` event carries the stream's `SOCKS_USERNAME` and
//! `SOCKS_PASSWORD`; [`CredentialOwners`] names the credential set (site, container, and the tab
//! for a per-tab site) that username was issued to and says whether the password is still the
//! current one. A tab's streams move its own display and the site-wide one. Only current credentials move a
//! site's display, so after "new circuit" the display switches when the first stream with the new
//! password attaches. `CIRC` events (and `GETINFO circuit-status` on (re)connect) give each
//! circuit's path and `CONFLUX_ID`; legs of one conflux set are shown together; `CLOSED`/`FAILED`
//! forgets a circuit. `STREAM_BW` counts bytes per site through a stream → site map. Credentials
//! seen on `CIRC` lines are used only to re-map sites after a reconnect, not for live updates
//! (Tor Browser distrusts them too: onion services add 4-hop circuits).
//!
//! Nothing here does I/O: relay details (`ns/id`, `ip-to-country`, bridges) are requested through
//! [`CircuitTracker::take_wanted_relays`] and delivered back with [`CircuitTracker::set_relay`].

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{Value, json};

use crate::isolation::container::Container;
use crate::isolation::isolator::Isolator;
use crate::isolation::sets::TabId;
use crate::isolation::site::Site;
use torctl::{CircEvent, CircStatus, Event, PathHop, StreamBwEvent, StreamEvent, StreamStatus};

/// A display: a site in one container, and the tab for a per-tab site's credential set (as in
/// [`crate::isolation::sets::CredentialSet`]). `None` is the site-wide display, which for a per-tab
/// site shows the circuit any of its tabs used last.
pub(crate) type SiteKey = (Site, Container, Option<TabId>);

/// Most relays whose details are cached; beyond it the cache starts over (a private network has
/// 8, the real one about 8,000).
const MAX_RELAYS: usize = 20_000;

/// Closed streams kept for their late `STREAM_BW` (tor may report a stream's last bytes around
/// its `CLOSED` event).
const CLOSED_STREAMS_KEPT: usize = 1024;

/// Most circuits tracked. A tor client keeps a few dozen open (at most
/// `MaxClientCircuitsPending` = 32 being built, plus the built ones its streams use); a busy
/// browser with per-site isolation reaches hundreds. Beyond this the oldest circuits no display
/// shows are forgotten first: only a hostile or broken control port gets here.
const MAX_CIRCUITS: usize = 8192;

/// Most streams mapped to a display, open and closed (the isolator meters as many,
/// [`crate::isolation::isolator`]). Beyond it closed streams go first, then the map starts
/// over (bytes of forgotten streams are not counted in the display).
const MAX_STREAMS: usize = 65_536;

/// Longest circuit or stream id kept: tor's are decimal integers (at most 20 digits); longer
/// ids come from a broken or hostile control port and are ignored.
const MAX_ID_LEN: usize = 20;

/// Most hops kept of a circuit's path: tor builds 3 (4 for onion services, up to 8 with
/// vanguards); more is not a real circuit.
const MAX_PATH_HOPS: usize = 16;

/// Tor's `MAX_NICKNAME_LEN`.
const MAX_NICKNAME_LEN: usize = 19;

/// A conflux id is a 32-byte nonce, 64 hex characters.
const MAX_CONFLUX_ID_LEN: usize = 64;

/// Most legs of one conflux set indexed together. Tor links 2 legs (its `cfx_max_legs_set`
/// consensus parameter allows up to 8); legs beyond are shown alone.
const MAX_CONFLUX_LEGS: usize = 8;

/// Names the owner of SOCKS credentials seen in tor's events.
pub trait CredentialOwners {
    /// The credential set (site, container, tab of a per-tab site) `username` was issued to,
    /// and whether `password` is its current password; `None` for credentials this broker did
    /// not issue (or forgot at a new identity).
    fn owner(&self, username: &[u8], password: &[u8]) -> Option<(SiteKey, bool)>;
}

impl CredentialOwners for Isolator {
    fn owner(&self, username: &[u8], password: &[u8]) -> Option<(SiteKey, bool)> {
        let username = std::str::from_utf8(username).ok()?;
        let password = std::str::from_utf8(password).ok()?;
        let (set, current) = self.owner_of_credentials(username, password)?;
        Some(((set.site.clone(), set.container, set.tab), current))
    }
}

/// The displays a stream of credential set `key` moves: its own and, for a tab of a per-tab
/// site, also the site-wide one (so a `circuit` request without a tab still shows the circuit
/// the site used last).
fn displays_of(key: &SiteKey) -> Vec<SiteKey> {
    let mut keys = vec![key.clone()];
    if key.2.is_some() {
        keys.push((key.0.clone(), key.1, None));
    }
    keys
}

/// What the circuit display shows about one relay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayInfo {
    /// Nickname from the consensus.
    pub nickname: Option<String>,
    /// IPv4 address (`r` line).
    pub ipv4: Option<Ipv4Addr>,
    /// First IPv6 address (`a` line).
    pub ipv6: Option<Ipv6Addr>,
    /// Lower-case ISO 3166 code from `ip-to-country`, `None` when unknown.
    pub country: Option<String>,
}

/// A configured bridge (`GETCONF Bridge`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeLine {
    /// Upper-case identity fingerprint.
    pub fingerprint: String,
    /// Pluggable transport (`obfs4`, `snowflake`, …) or `""` for a vanilla bridge.
    pub transport: String,
    /// The bridge's address, unless it is a placeholder (`0.x.x.x`, used by snowflake/meek).
    pub ip: Option<IpAddr>,
}

/// Parses one `Bridge` value: `[transport] addr:port [fingerprint] [k=v …]`; `None` when it names
/// no fingerprint (such bridges cannot be matched to a circuit hop).
pub(crate) fn parse_bridge_line(line: &str) -> Option<BridgeLine> {
    let mut words = line.split_whitespace();
    let first = words.next()?;
    let (transport, addr) = if first.parse::<std::net::SocketAddr>().is_ok() {
        ("", first)
    } else {
        (first, words.next()?)
    };
    let fingerprint = words
        .next()
        .map(|w| w.trim_start_matches('$'))
        .filter(|w| w.len() == 40 && w.bytes().all(|b| b.is_ascii_hexdigit()))?
        .to_ascii_uppercase();
    let ip = addr
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|sa| sa.ip())
        .filter(|ip| !matches!(ip, IpAddr::V4(v4) if v4.octets()[0] == 0));
    Some(BridgeLine {
        fingerprint,
        transport: transport.to_owned(),
        ip,
    })
}

/// Whether tor's data is usable for a display right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Connected to the control port and bootstrapped (or progress unknown).
    Available,
    /// No control port configured or reachable.
    NoControlPort,
    /// Connected, but tor has not finished bootstrapping.
    NotBootstrapped,
}

#[derive(Debug, Clone)]
struct Circuit {
    path: Vec<PathHop>,
    conflux_id: Option<String>,
}

impl Circuit {
    /// What is kept of a `CIRC` line, each part within tor's own limits so that a hostile
    /// control port cannot make one circuit large: at most [`MAX_PATH_HOPS`] hops, nicknames
    /// of at most 19 characters (tor's `MAX_NICKNAME_LEN`), 40-hex fingerprints, and a
    /// conflux id of at most 64 characters (a 32-byte nonce in hex).
    fn of(c: &CircEvent) -> Self {
        let path = c
            .path
            .iter()
            .take(MAX_PATH_HOPS)
            .map(|hop| PathHop {
                fingerprint: hop.fingerprint.clone().filter(|f| f.len() == 40),
                nickname: hop.nickname.clone().filter(|n| n.len() <= MAX_NICKNAME_LEN),
            })
            .collect();
        Circuit {
            path,
            conflux_id: c
                .conflux_id
                .clone()
                .filter(|id| id.len() <= MAX_CONFLUX_ID_LEN),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct SiteState {
    /// The circuit the latest stream with current credentials attached to.
    circuit: Option<String>,
    read: u64,
    written: u64,
}

/// Entry counts of [`CircuitTracker`]'s maps ([`CircuitTracker::sizes`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackerSizes {
    /// Circuits known.
    pub circuits: usize,
    /// Streams mapped to a display (open and recently closed).
    pub streams: usize,
    /// Closed streams kept for their late bytes.
    pub closed_streams: usize,
    /// Displays (site, container, tab).
    pub sites: usize,
    /// Circuits shown by some display.
    pub showing: usize,
    /// Relays whose details are cached.
    pub relays: usize,
    /// Relays waiting to be looked up.
    pub wanted: usize,
    /// Relays looked up or being looked up.
    pub asked: usize,
    /// Displays queued for a push.
    pub changed: usize,
}

/// The bookkeeping itself; see the module doc.
#[derive(Debug, Default)]
pub struct CircuitTracker {
    /// At most [`MAX_CIRCUITS`].
    circuits: HashMap<String, Circuit>,
    /// Circuit ids in the order first seen, for evicting the oldest; may hold ids already gone
    /// (skipped when met, compacted when it grows past twice the cap).
    circuit_order: VecDeque<String>,
    /// Conflux id → its legs (at most [`MAX_CONFLUX_LEGS`]), so that a `CIRC` event finds its
    /// set's other legs without scanning every circuit.
    conflux: HashMap<String, BTreeSet<String>>,
    /// Streams carrying current credentials → their site.
    streams: HashMap<String, SiteKey>,
    /// Closed streams still in `streams`, oldest first.
    closed_streams: VecDeque<String>,
    sites: HashMap<SiteKey, SiteState>,
    /// Circuit id → sites showing it.
    showing: HashMap<String, HashSet<SiteKey>>,
    relays: HashMap<String, RelayInfo>,
    bridges: HashMap<String, BridgeLine>,
    /// Fingerprints whose details are wanted and not yet requested.
    wanted: BTreeSet<String>,
    /// Fingerprints requested or known (so none is fetched twice).
    asked: HashSet<String>,
    /// Sites whose circuit list changed since the last [`CircuitTracker::take_changed`].
    changed: BTreeSet<SiteKey>,
    /// Sites whose byte counts changed.
    bytes_changed: BTreeSet<SiteKey>,
    /// A stream attached to a circuit we have not seen: `GETINFO circuit-status` is due.
    resync_due: bool,
    /// Circuits examined while handling events (tests check it does not grow with the number
    /// of circuits).
    #[cfg(test)]
    work: u64,
}

impl CircuitTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one event; `owners` names the sites behind SOCKS credentials.
    pub fn on_event(&mut self, event: &Event, owners: &impl CredentialOwners) {
        match event {
            Event::Circ(c) => self.on_circ(c),
            Event::Stream(s) => self.on_stream(s, owners),
            Event::StreamBw(bw) => self.on_stream_bw(bw),
            Event::CircBw(_) | Event::StatusClient(_) | Event::Other { .. } => {}
        }
    }

    fn on_circ(&mut self, c: &CircEvent) {
        match c.status {
            CircStatus::Closed | CircStatus::Failed => {
                let conflux = self.remove_circuit(&c.id).and_then(|old| old.conflux_id);
                if let Some(sites) = self.showing.remove(&c.id) {
                    for key in sites {
                        if let Some(state) = self.sites.get_mut(&key) {
                            state.circuit = None;
                        }
                        self.changed.insert(key);
                    }
                }
                if let Some(conflux) = conflux {
                    self.mark_conflux_changed(&conflux);
                }
            }
            _ => {
                if c.id.len() > MAX_ID_LEN {
                    return;
                }
                let circuit = Circuit::of(c);
                let shown = self.showing.contains_key(&c.id);
                let conflux = circuit.conflux_id.clone();
                self.insert_circuit(&c.id, circuit);
                if shown {
                    self.want_path(&c.id);
                    if let Some(sites) = self.showing.get(&c.id) {
                        self.changed.extend(sites.iter().cloned());
                    }
                }
                if let Some(conflux) = conflux {
                    self.mark_conflux_changed(&conflux);
                }
            }
        }
    }

    /// Adds or updates circuit `id`, keeping the conflux index and [`MAX_CIRCUITS`].
    fn insert_circuit(&mut self, id: &str, circuit: Circuit) {
        match self.circuits.get(id) {
            Some(old) if old.conflux_id == circuit.conflux_id => {}
            Some(_) => {
                self.unindex_conflux(id);
            }
            None => {
                while self.circuits.len() >= MAX_CIRCUITS {
                    self.evict_oldest();
                }
                self.circuit_order.push_back(id.to_owned());
                if self.circuit_order.len() > 2 * MAX_CIRCUITS {
                    let mut seen = HashSet::new();
                    let circuits = &self.circuits;
                    self.circuit_order
                        .retain(|id| circuits.contains_key(id) && seen.insert(id.clone()));
                    if !seen.contains(id) {
                        self.circuit_order.push_back(id.to_owned());
                    }
                }
            }
        }
        if let Some(conflux) = &circuit.conflux_id {
            let legs = self.conflux.entry(conflux.clone()).or_default();
            if legs.len() < MAX_CONFLUX_LEGS {
                legs.insert(id.to_owned());
            }
        }
        self.circuits.insert(id.to_owned(), circuit);
    }

    /// Forgets circuit `id` and its place in the conflux index.
    fn remove_circuit(&mut self, id: &str) -> Option<Circuit> {
        self.unindex_conflux(id);
        self.circuits.remove(id)
    }

    fn unindex_conflux(&mut self, id: &str) {
        if let Some(conflux) = self.circuits.get(id).and_then(|c| c.conflux_id.as_ref())
            && let Some(legs) = self.conflux.get_mut(conflux)
        {
            legs.remove(id);
            if legs.is_empty() {
                self.conflux.remove(conflux);
            }
        }
    }

    /// Forgets the oldest circuit no display shows (the oldest of all when every one is shown).
    fn evict_oldest(&mut self) {
        let mut shown = Vec::new();
        let mut victim = None;
        while let Some(id) = self.circuit_order.pop_front() {
            if !self.circuits.contains_key(&id) {
                continue;
            }
            if self.showing.contains_key(&id) {
                shown.push(id);
                continue;
            }
            victim = Some(id);
            break;
        }
        // Shown circuits keep their turn, ahead of newer ones.
        for id in shown.into_iter().rev() {
            self.circuit_order.push_front(id);
        }
        let victim = match victim {
            Some(id) => id,
            None => match self.circuit_order.pop_front() {
                Some(id) => id,
                None => match self.circuits.keys().next() {
                    Some(id) => id.clone(),
                    None => return,
                },
            },
        };
        self.remove_circuit(&victim);
        if let Some(sites) = self.showing.remove(&victim) {
            for key in sites {
                if let Some(state) = self.sites.get_mut(&key) {
                    state.circuit = None;
                }
                self.changed.insert(key);
            }
        }
    }

    /// Marks every site showing a leg of conflux set `conflux` as changed.
    fn mark_conflux_changed(&mut self, conflux: &str) {
        let legs: Vec<String> = self
            .conflux
            .get(conflux)
            .map(|legs| legs.iter().cloned().collect())
            .unwrap_or_default();
        #[cfg(test)]
        {
            self.work += legs.len() as u64;
        }
        for leg in legs {
            if let Some(sites) = self.showing.get(&leg) {
                self.changed.extend(sites.iter().cloned());
                self.want_path(&leg);
            }
        }
    }

    fn on_stream(&mut self, s: &StreamEvent, owners: &impl CredentialOwners) {
        match s.status {
            StreamStatus::SentConnect | StreamStatus::Succeeded | StreamStatus::SentResolve => {}
            StreamStatus::Closed | StreamStatus::Failed => {
                if self.streams.contains_key(&s.id) {
                    self.closed_streams.push_back(s.id.clone());
                    if self.closed_streams.len() > CLOSED_STREAMS_KEPT
                        && let Some(old) = self.closed_streams.pop_front()
                    {
                        self.streams.remove(&old);
                    }
                }
                return;
            }
            _ => return,
        }
        let (Some(circuit), Some(user), Some(pass)) =
            (&s.circuit_id, &s.socks_username, &s.socks_password)
        else {
            return;
        };
        if s.id.len() > MAX_ID_LEN {
            return;
        }
        let Some((key, current)) = owners.owner(user.as_bytes(), pass.as_bytes()) else {
            return;
        };
        if !current || key.0.is_catch_all() {
            // Old credentials (before a new circuit) or the catch-all, which has no display.
            self.streams.remove(&s.id);
            return;
        }
        if self.streams.len() >= MAX_STREAMS && !self.streams.contains_key(&s.id) {
            for old in self.closed_streams.drain(..) {
                self.streams.remove(&old);
            }
            if self.streams.len() >= MAX_STREAMS {
                self.streams.clear();
            }
        }
        self.streams.insert(s.id.clone(), key.clone());
        for display in displays_of(&key) {
            self.show(display, circuit);
        }
        if !self.circuits.contains_key(circuit) {
            self.resync_due = true;
        }
    }

    /// Makes `key` show `circuit` (no-op when it already does).
    fn show(&mut self, key: SiteKey, circuit: &str) {
        let state = self.sites.entry(key.clone()).or_default();
        if state.circuit.as_deref() == Some(circuit) {
            return;
        }
        if let Some(old) = state.circuit.replace(circuit.to_owned())
            && let Some(set) = self.showing.get_mut(&old)
        {
            set.remove(&key);
            if set.is_empty() {
                self.showing.remove(&old);
            }
        }
        self.showing
            .entry(circuit.to_owned())
            .or_default()
            .insert(key.clone());
        self.changed.insert(key);
        self.want_path(circuit);
        if let Some(conflux) = self
            .circuits
            .get(circuit)
            .and_then(|c| c.conflux_id.clone())
        {
            self.mark_conflux_changed(&conflux);
        }
    }

    fn on_stream_bw(&mut self, bw: &StreamBwEvent) {
        let Some(key) = self.streams.get(&bw.stream_id) else {
            return;
        };
        if bw.read == 0 && bw.written == 0 {
            return;
        }
        for display in displays_of(key) {
            let state = self.sites.entry(display.clone()).or_default();
            // From the application's side, as control-spec words it: `read` = bytes the browser
            // received from the site, `written` = bytes it sent.
            state.read = state.read.saturating_add(bw.read);
            state.written = state.written.saturating_add(bw.written);
            self.bytes_changed.insert(display);
        }
    }

    /// Replaces what is known about circuits with `GETINFO circuit-status` (after connecting or
    /// reconnecting, after a stream attached to a circuit not seen yet, after missed events).
    /// Sites whose circuit is gone lose it, sites without one pick up a circuit whose `CIRC`
    /// line carries their current credentials. Streams are kept: tor never reuses a stream id
    /// while it runs, and a lost control connection (the only way to miss a restart) already
    /// forgot them ([`CircuitTracker::disconnected`]). Forgetting them here lost the rest of
    /// every open stream's bytes, the stream that asked for the resync included.
    pub fn resync(&mut self, status: &[CircEvent], owners: &impl CredentialOwners) {
        self.resync_due = false;
        self.circuits.clear();
        self.circuit_order.clear();
        self.conflux.clear();
        for c in status
            .iter()
            .filter(|c| !matches!(c.status, CircStatus::Closed | CircStatus::Failed))
        {
            if c.id.len() <= MAX_ID_LEN {
                self.insert_circuit(&c.id, Circuit::of(c));
            }
        }
        let gone: Vec<String> = self
            .showing
            .keys()
            .filter(|id| !self.circuits.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            for key in self.showing.remove(&id).unwrap_or_default() {
                if let Some(state) = self.sites.get_mut(&key) {
                    state.circuit = None;
                }
                self.changed.insert(key);
            }
        }
        for c in status {
            let (Some(user), Some(pass)) = (&c.socks_username, &c.socks_password) else {
                continue;
            };
            if !self.circuits.contains_key(&c.id) {
                continue;
            }
            if let Some((key, true)) = owners.owner(user.as_bytes(), pass.as_bytes())
                && !key.0.is_catch_all()
            {
                for display in displays_of(&key) {
                    if self.sites.get(&display).is_none_or(|s| s.circuit.is_none()) {
                        self.show(display, &c.id);
                    }
                }
            }
        }
        let shown: Vec<String> = self.showing.keys().cloned().collect();
        for id in shown {
            self.want_path(&id);
        }
    }

    /// Tor is unreachable: circuits and streams are unknown until [`CircuitTracker::resync`].
    /// Sites keep their byte counts; every site that showed a circuit is marked changed.
    pub fn disconnected(&mut self) {
        self.circuits.clear();
        self.circuit_order.clear();
        self.conflux.clear();
        self.streams.clear();
        self.closed_streams.clear();
        for (_, sites) in self.showing.drain() {
            for key in sites {
                if let Some(state) = self.sites.get_mut(&key) {
                    state.circuit = None;
                }
                self.changed.insert(key);
            }
        }
    }

    /// Entries of the conflux index (legs indexed under a conflux id), for tests.
    #[cfg(test)]
    fn conflux_legs(&self) -> usize {
        self.conflux.values().map(BTreeSet::len).sum()
    }

    /// How many entries each map holds, for tests and diagnostics.
    pub fn sizes(&self) -> TrackerSizes {
        TrackerSizes {
            circuits: self.circuits.len(),
            streams: self.streams.len(),
            closed_streams: self.closed_streams.len(),
            sites: self.sites.len(),
            showing: self.showing.len(),
            relays: self.relays.len(),
            wanted: self.wanted.len(),
            asked: self.asked.len(),
            changed: self.changed.len() + self.bytes_changed.len(),
        }
    }

    /// True when a stream attached to an unknown circuit; the caller should resync.
    pub fn resync_due(&self) -> bool {
        self.resync_due
    }

    /// "New circuit" for `site`: its byte counts start over in every container. The display
    /// keeps the old circuit until a stream with the new credentials attaches.
    pub fn credentials_changed(&mut self, site: &Site) {
        let keys: Vec<SiteKey> = self
            .sites
            .keys()
            .filter(|(s, _, _)| s == site)
            .cloned()
            .collect();
        for key in keys {
            if let Some(state) = self.sites.get_mut(&key) {
                state.read = 0;
                state.written = 0;
            }
            self.streams.retain(|_, k| *k != key);
            self.changed.insert(key);
        }
    }

    /// "New identity": every site's credentials changed and tor's NEWNYM retires every circuit
    /// for new streams, so all displays are cleared (and pushed once, empty).
    pub fn new_identity(&mut self) {
        self.streams.clear();
        self.closed_streams.clear();
        self.showing.clear();
        let keys: Vec<SiteKey> = self.sites.drain().map(|(k, _)| k).collect();
        self.changed.extend(keys);
    }

    /// Drops the per-tab displays of the tabs `gone` selects (a closed tab; every tab when the
    /// browser's tab ids start over), with their streams. Nothing is pushed: no popup shows a
    /// closed tab, and the site-wide displays stay.
    pub fn forget_tabs(&mut self, gone: impl Fn(TabId) -> bool) {
        self.forget_displays(|key| key.2.is_some_and(&gone));
    }

    /// Drops the displays `is_gone` selects (e.g. those of an ended private session), with
    /// their streams and byte counts; nothing is pushed.
    pub fn forget_displays(&mut self, is_gone: impl Fn(&SiteKey) -> bool) {
        self.sites.retain(|key, _| !is_gone(key));
        self.streams.retain(|_, key| !is_gone(key));
        for keys in self.showing.values_mut() {
            keys.retain(|key| !is_gone(key));
        }
        self.showing.retain(|_, keys| !keys.is_empty());
        self.changed.retain(|key| !is_gone(key));
        self.bytes_changed.retain(|key| !is_gone(key));
    }

    /// Records the bridges tor is configured with.
    pub fn set_bridges(&mut self, bridges: Vec<BridgeLine>) {
        self.bridges = bridges
            .into_iter()
            .map(|b| (b.fingerprint.clone(), b))
            .collect();
        let showing: Vec<String> = self.showing.keys().cloned().collect();
        for id in showing {
            if let Some(sites) = self.showing.get(&id) {
                self.changed.extend(sites.iter().cloned());
            }
        }
    }

    fn want_path(&mut self, circuit: &str) {
        let Some(c) = self.circuits.get(circuit) else {
            return;
        };
        for fp in c.path.iter().filter_map(|h| h.fingerprint.as_ref()) {
            if !self.asked.contains(fp)
                && !self.bridges.contains_key(fp)
                && self.wanted.len() < MAX_RELAYS
            {
                self.wanted.insert(fp.clone());
            }
        }
    }

    /// Fingerprints whose details (`ns/id`, `ip-to-country`) should be fetched now; each is
    /// handed out once.
    pub fn take_wanted_relays(&mut self) -> Vec<String> {
        let wanted = std::mem::take(&mut self.wanted);
        if self.asked.len() + wanted.len() > MAX_RELAYS {
            // As in set_relay: start over; at worst a relay is looked up again.
            self.relays.clear();
            self.asked.clear();
        }
        self.asked.extend(wanted.iter().cloned());
        wanted.into_iter().collect()
    }

    /// Puts fingerprints handed out by [`CircuitTracker::take_wanted_relays`] back in the queue
    /// (the caller looks up only so many at a time).
    pub fn want_again(&mut self, fingerprints: &[String]) {
        for fp in fingerprints {
            self.asked.remove(fp);
            self.wanted.insert(fp.clone());
        }
    }

    /// Delivers a relay's details (or `RelayInfo::default()` when tor had none) and marks the
    /// sites showing it as changed.
    pub fn set_relay(&mut self, fingerprint: &str, info: RelayInfo) {
        if self.relays.len() >= MAX_RELAYS || self.asked.len() >= MAX_RELAYS {
            self.relays.clear();
            self.asked.clear();
        }
        self.asked.insert(fingerprint.to_owned());
        self.relays.insert(fingerprint.to_owned(), info);
        let ids: Vec<String> = self
            .showing
            .keys()
            .filter(|id| {
                self.circuits.get(*id).is_some_and(|c| {
                    c.path
                        .iter()
                        .any(|h| h.fingerprint.as_deref() == Some(fingerprint))
                })
            })
            .cloned()
            .collect();
        for id in ids {
            if let Some(sites) = self.showing.get(&id) {
                self.changed.extend(sites.iter().cloned());
            }
        }
    }

    /// Sites whose display changed since the last call, at most `max` (the rest stay queued);
    /// with `include_bytes`, also sites whose byte counts alone changed.
    pub fn take_changed(&mut self, max: usize, include_bytes: bool) -> Vec<SiteKey> {
        let mut out = Vec::new();
        while out.len() < max {
            match self.changed.pop_first() {
                Some(key) => {
                    self.bytes_changed.remove(&key);
                    out.push(key);
                }
                None => break,
            }
        }
        while include_bytes && out.len() < max {
            match self.bytes_changed.pop_first() {
                Some(key) => out.push(key),
                None => break,
            }
        }
        out
    }

    /// How many sites wait in [`CircuitTracker::take_changed`]'s queues.
    pub fn pending_changes(&self) -> usize {
        self.changed.len() + self.bytes_changed.len()
    }

    /// The circuit ids `key` shows now: its circuit and the other legs of its conflux set.
    pub fn circuit_ids(&self, key: &SiteKey) -> Vec<String> {
        let Some(id) = self.sites.get(key).and_then(|s| s.circuit.as_ref()) else {
            return Vec::new();
        };
        let mut ids = vec![id.clone()];
        if let Some(legs) = self
            .circuits
            .get(id)
            .and_then(|c| c.conflux_id.as_ref())
            .and_then(|conflux| self.conflux.get(conflux))
        {
            // A BTreeSet: already sorted.
            ids.extend(legs.iter().filter(|other| *other != id).cloned());
        }
        ids
    }

    /// The circuit result of §2.4 for `key`; a per-tab display also carries its `tab`.
    pub fn result(&self, key: &SiteKey, availability: Availability) -> Value {
        let mut result = self.result_body(key, availability);
        if let (Some(tab), Some(obj)) = (key.2, result.as_object_mut()) {
            obj.insert("tab".to_owned(), json!(tab));
        }
        result
    }

    fn result_body(&self, key: &SiteKey, availability: Availability) -> Value {
        let (site, container, _) = key;
        let onion = site.as_str().ends_with(".onion");
        let unavailable = |reason: &str| {
            json!({
                "site": site.as_str(), "container": container.to_string(),
                "available": false, "reason": reason, "onion": onion,
                "circuits": [], "bytes": null,
            })
        };
        if site.is_catch_all() {
            return unavailable("no_network_first_party");
        }
        match availability {
            Availability::NoControlPort => return unavailable("no_control_port"),
            Availability::NotBootstrapped => return unavailable("not_bootstrapped"),
            Availability::Available => {}
        }
        let state = self.sites.get(key).cloned().unwrap_or_default();
        let circuits: Vec<Value> = self
            .circuit_ids(key)
            .iter()
            .filter_map(|id| Some((id, self.circuits.get(id)?)))
            .map(|(id, c)| {
                json!({
                    "id": id,
                    "conflux_id": c.conflux_id,
                    "hops": self.hops(&c.path, onion),
                })
            })
            .collect();
        json!({
            "site": site.as_str(), "container": container.to_string(),
            "available": true, "reason": null, "onion": onion,
            "circuits": circuits,
            "bytes": {"read": state.read, "written": state.written},
        })
    }

    fn hops(&self, path: &[PathHop], onion: bool) -> Vec<Value> {
        let with_fp: Vec<(&PathHop, &String)> = path
            .iter()
            .filter_map(|h| Some((h, h.fingerprint.as_ref()?)))
            .collect();
        let last = with_fp.len().saturating_sub(1);
        with_fp
            .iter()
            .enumerate()
            .map(|(i, (hop, fp))| {
                let info = self.relays.get(*fp).cloned().unwrap_or_default();
                let nickname = hop.nickname.clone().or(info.nickname);
                if i == 0
                    && let Some(bridge) = self.bridges.get(*fp)
                {
                    let (ip, ipv6) = match bridge.ip {
                        Some(IpAddr::V4(v4)) => (Some(v4.to_string()), None),
                        Some(IpAddr::V6(v6)) => (None, Some(v6.to_string())),
                        None => (None, None),
                    };
                    return json!({
                        "role": "bridge", "fingerprint": fp, "nickname": nickname,
                        "ip": ip, "ipv6": ipv6, "country": null,
                        "bridge_type": bridge.transport,
                    });
                }
                let role = if i == 0 {
                    "guard"
                } else if i == last && !onion {
                    "exit"
                } else {
                    "middle"
                };
                json!({
                    "role": role, "fingerprint": fp, "nickname": nickname,
                    "ip": info.ipv4.map(|ip| ip.to_string()),
                    "ipv6": info.ipv6.map(|ip| ip.to_string()),
                    "country": info.country,
                    "bridge_type": null,
                })
            })
            .collect()
    }

    /// Number of sites with a display state (for diagnostics).
    pub fn tracked_sites(&self) -> usize {
        self.sites.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::isolation::psl::Psl;
    use torctl::reply::{Message, Parsed, ReplyParser};

    const G: &str = "1E1B7C2A9E5FB8E4A14E0A1C1B9A4B0D7D5E2F11";
    const M: &str = "2A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D";
    const X: &str = "3A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5E";
    const X2: &str = "4A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5F";

    fn event(line: &str) -> Event {
        let mut p = ReplyParser::default();
        p.push(format!("650 {line}\r\n").as_bytes());
        match p.next_message() {
            Ok(Parsed::Message(Message::Event(r))) => Event::parse(&r).expect("event parses"),
            other => panic!("not an event: {other:?}"),
        }
    }

    fn isolator() -> Isolator {
        Isolator::with_key([3; 32], Arc::new(Psl::vendored().expect("psl")))
    }

    fn creds(iso: &mut Isolator, url: &str, container: &str) -> (String, String, SiteKey) {
        let c = iso.credentials_at(url, container, 0).expect("creds");
        (c.username, c.password, (c.site, c.container, c.tab))
    }

    fn stream(id: u32, status: &str, circ: u32, user: &str, pass: &str) -> Event {
        event(&format!(
            "STREAM {id} {status} {circ} example.com:443 SOCKS_USERNAME=\"{user}\" SOCKS_PASSWORD=\"{pass}\" CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=0 SESSION_GROUP=-6 ISO_FIELDS=SOCKS_USERNAME,SOCKS_PASSWORD,CLIENTADDR,SESSION_GROUP,NYM_EPOCH"
        ))
    }

    fn built(id: u32, exit: &str, extra: &str) -> Event {
        event(&format!(
            "CIRC {id} BUILT ${G}~guard0,${M}~middle0,${exit}~exit0 BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL TIME_CREATED=2026-11-21T18:00:00.000000{extra}"
        ))
    }

    fn ids(v: &Value) -> Vec<String> {
        v["circuits"]
            .as_array()
            .expect("circuits")
            .iter()
            .map(|c| c["id"].as_str().expect("id").to_owned())
            .collect()
    }

    #[test]
    fn a_flood_of_circ_and_stream_events_keeps_every_map_bounded() {
        let mut iso = isolator();
        let mut t = CircuitTracker::new();
        let (u, p, _) = creds(&mut iso, "https://www.example.com/", "firefox-default");
        let (u2, p2, _) = creds(&mut iso, "https://other.example/", "firefox-default");
        const N: u32 = 200_000;
        for i in 0..N {
            t.on_event(&event(&format!("CIRC {i} LAUNCHED PURPOSE=GENERAL")), &iso);
            // Streams that attach and never close, on credentials this broker issued.
            let (user, pass) = if i % 2 == 0 { (&u, &p) } else { (&u2, &p2) };
            t.on_event(&stream(i, "SUCCEEDED", i, user, pass), &iso);
            if i % 3 == 0 {
                // A shown circuit with a fresh path: relays wanted for the display.
                let fp = format!("{:040X}", u128::from(i) + 1);
                t.on_event(&built(i, &fp, ""), &iso);
                for wanted in t.take_wanted_relays() {
                    t.set_relay(&wanted, RelayInfo::default());
                }
            }
            if i % 10_000 == 0 {
                let s = t.sizes();
                assert!(s.circuits <= MAX_CIRCUITS, "{i}: {s:?}");
                assert!(s.streams <= MAX_STREAMS, "{i}: {s:?}");
            }
        }
        let s = t.sizes();
        assert!(s.circuits <= MAX_CIRCUITS, "{s:?}");
        assert!(s.streams <= MAX_STREAMS, "{s:?}");
        assert!(s.closed_streams <= CLOSED_STREAMS_KEPT, "{s:?}");
        assert!(s.sites <= 2 && s.showing <= 2 && s.changed <= 4, "{s:?}");
        assert!(s.relays <= MAX_RELAYS && s.asked <= MAX_RELAYS, "{s:?}");
        assert!(s.wanted <= MAX_RELAYS, "{s:?}");
        assert!(
            t.conflux_legs() <= MAX_CIRCUITS,
            "conflux index: {}",
            t.conflux_legs()
        );
        // The displays still work after the flood.
        t.on_event(&built(N + 1, X, ""), &iso);
        t.on_event(&stream(N + 1, "SUCCEEDED", N + 1, &u, &p), &iso);
        let (_, _, key) = creds(&mut iso, "https://www.example.com/", "firefox-default");
        assert_eq!(
            ids(&t.result(&key, Availability::Available)),
            vec![(N + 1).to_string()]
        );
    }

    #[test]
    fn a_hostile_circ_line_is_kept_within_tor_s_limits() {
        let mut iso = isolator();
        let mut t = CircuitTracker::new();
        let (u, p, key) = creds(&mut iso, "https://www.example.com/", "firefox-default");
        let long_nick = "n".repeat(200);
        let hops: Vec<String> = (0..200).map(|_| format!("${X}~{long_nick}")).collect();
        let conflux = "C".repeat(1000);
        t.on_event(
            &event(&format!(
                "CIRC 9 BUILT {} PURPOSE=GENERAL CONFLUX_ID={conflux}",
                hops.join(",")
            )),
            &iso,
        );
        t.on_event(&event(&format!("CIRC {} LAUNCHED", "7".repeat(1000))), &iso);
        assert_eq!(t.sizes().circuits, 1, "an over-long circuit id is ignored");
        t.on_event(&stream(1, "SUCCEEDED", 9, &u, &p), &iso);
        let r = t.result(&key, Availability::Available);
        let hops = r["circuits"][0]["hops"].as_array().expect("hops");
        assert_eq!(hops.len(), MAX_PATH_HOPS);
        assert!(
            hops.iter().all(|h| h["nickname"].is_null()),
            "{:?}",
            hops[0]
        );
        assert_eq!(r["circuits"][0]["conflux_id"], Value::Null);
        assert_eq!(t.conflux_legs(), 0);
    }

    /// Circuits examined for one `CIRC` event of a conflux leg while `n` circuits (in conflux
    /// pairs) are tracked and one of them is shown.
    fn work_of_one_circ_event(n: u32) -> u64 {
        let mut iso = isolator();
        let mut t = CircuitTracker::new();
        let (u, p, _) = creds(&mut iso, "https://www.example.com/", "firefox-default");
        for i in 0..n {
            let conflux = format!(" CONFLUX_ID={:032X}", i / 2);
            t.on_event(&built(i, X, &conflux), &iso);
        }
        t.on_event(&stream(1, "SUCCEEDED", 0, &u, &p), &iso);
        let before = t.work;
        t.on_event(&built(1, X2, &format!(" CONFLUX_ID={:032X}", 0)), &iso);
        t.on_event(
            &built(n - 1, X2, &format!(" CONFLUX_ID={:032X}", (n - 1) / 2)),
            &iso,
        );
        t.work - before
    }

    #[test]
    fn circ_event_cost_does_not_grow_with_the_number_of_circuits() {
        let small = work_of_one_circ_event(100);
        // 8,000: as many as fit under MAX_CIRCUITS, so that none is evicted.
        let large = work_of_one_circ_event(8_000);
        eprintln!("circuits examined: {small} with 100 tracked, {large} with 8,000");
        assert!(small <= 8, "a CIRC event examined {small} circuits of 100");
        assert_eq!(small, large, "work at 100 vs 8,000 circuits");
    }

    #[test]
    fn a_stream_with_current_credentials_shows_its_circuit_with_hop_details() {
        let mut iso = isolator();
        let mut t = CircuitTracker::new();
        let (u, p, key) = creds(&mut iso, "https://www.example.com/", "firefox-default");
        t.on_event(&built(7, X, ""), &iso);
        assert!(
            t.take_changed(10, true).is_empty(),
            "no site shows circuit 7 yet"
        );
        t.on_event(&stream(21, "SENTCONNECT", 7, &u, &p), &iso);
        assert_eq!(t.take_changed(10, true), vec![key.clone()]);
        assert!(!t.resync_due());
        let mut wanted = t.take_wanted_relays();
        wanted.sort();
        assert_eq!(wanted, vec![G.to_owned(), M.to_owned(), X.to_owned()]);
        assert!(
            t.take_wanted_relays().is_empty(),
            "each relay is asked for once"
        );
        t.set_relay(
            X,
            RelayInfo {
                nickname: Some("exit0".into()),
                ipv4: Some(Ipv4Addr::new(203, 0, 113, 5)),
                ipv6: Some("2001:db8::5".parse().expect("v6")),
                country: Some("nl".into()),
            },
        );
        assert_eq!(t.take_changed(10, true), vec![key.clone()]);
        let r = t.result(&key, Availability::Available);
        assert_eq!(r["site"], "example.com");
        assert_eq!(r["container"], "firefox-default");
        assert_eq!(r["available"], true);
        assert_eq!(r["onion"], false);
        assert_eq!(ids(&r), vec!["7"]);
        let hops = r["circuits"][0]["hops"].as_array().expect("hops");
        assert_eq!(hops.len(), 3);
        assert_eq!(hops[0]["role"], "guard");
        assert_eq!(hops[0]["fingerprint"], G);
        assert_eq!(hops[0]["nickname"], "guard0");
        assert_eq!(hops[0]["country"], Value::Null);
        assert_eq!(hops[1]["role"], "middle");
        assert_eq!(hops[2]["role"], "exit");
        assert_eq!(hops[2]["ip"], "203.0.113.5");
        assert_eq!(hops[2]["ipv6"], "2001:db8::5");
        assert_eq!(hops[2]["country"], "nl");
        assert_eq!(hops[2]["bridge_type"], Value::Null);
        assert_eq!(r["bytes"], json!({"read": 0, "written": 0}));
    }

    #[test]
    fn sites_and_containers_are_kept_apart_and_old_credentials_are_ignored() {
        let mut iso = isolator();
        let mut t = CircuitTracker::new();
        let (ua, pa, a) = creds(&mut iso, "https://a.example/", "firefox-default");
        let (uc, pc, a_container) = creds(&mut iso, "https://a.example/", "firefox-container-2");
        let (ub, pb, b) = creds(&mut iso, "https://b.example/", "firefox-default");
        for (id, exit) in [(1, X), (2, X2), (3, X)] {
            t.on_event(&built(id, exit, ""), &iso);
        }
        t.on_event(&stream(10, "SUCCEEDED", 1, &ua, &pa), &iso);
        t.on_event(&stream(11, "SUCCEEDED", 2, &ub, &pb), &iso);
        t.on_event(&stream(12, "SUCCEEDED", 3, &uc, &pc), &iso);
        let r = |t: &CircuitTracker, k: &SiteKey| ids(&t.result(k, Availability::Available));
        assert_eq!(r(&t, &a), ["1"]);
        assert_eq!(r(&t, &b), ["2"]);
        assert_eq!(r(&t, &a_container), ["3"]);
        assert_eq!(
            t.result(&a_container, Availability::Available)["container"],
            "firefox-container-2"
        );

        // New circuit for a.example: old-password streams no longer move the display, the
        // first stream with the new password does; b.example is untouched.
        iso.new_circuit(&a.0);
        t.credentials_changed(&a.0);
        t.take_changed(10, true);
        t.on_event(&built(4, X2, ""), &iso);
        t.on_event(&stream(13, "SUCCEEDED", 4, &ua, &pa), &iso);
        assert_eq!(r(&t, &a), ["1"], "old credentials must not count");
        let (ua2, pa2, _) = creds(&mut iso, "https://a.example/", "firefox-default");
        assert_eq!(ua2, ua);
        assert_ne!(pa2, pa);
        t.on_event(&stream(14, "SENTCONNECT", 4, &ua2, &pa2), &iso);
        assert_eq!(r(&t, &a), ["4"]);
        assert_eq!(r(&t, &b), ["2"]);
        assert_eq!(t.take_changed(10, true), vec![a.clone()]);

        // Credentials the broker never issued are ignored.
        t.on_event(&stream(15, "SUCCEEDED", 2, "someone", "else"), &iso);
        assert!(t.take_changed(10, true).is_empty());
    }

    #[test]
    fn tabs_of_a_per_tab_site_have_their_own_displays_and_other_sites_keep_one() {
        let mut iso = isolator();
        let mut policies = crate::policy::PolicyTable::new(crate::policy::Policy::KEEP_ALIVE);
        let per_tab = crate::policy::Policy::new(None, None, true, "policy").expect("policy");
        let site = iso.parse_site("a.example").expect("site");
        policies.set_site(site, Some(per_tab)).expect("set");
        iso.set_policies(policies);
        let mut t = CircuitTracker::new();
        let tab_creds = |iso: &mut Isolator, url: &str, tab: i64| {
            let c = iso
                .credentials_in_tab_at(url, "firefox-default", Some(tab), 0)
                .expect("creds");
            (c.username, c.password, (c.site, c.container, c.tab))
        };
        let (u1, p1, tab1) = tab_creds(&mut iso, "https://a.example/", 1);
        let (u2, p2, tab2) = tab_creds(&mut iso, "https://a.example/", 2);
        let (ub, pb, b) = tab_creds(&mut iso, "https://b.example/", 1);
        assert_eq!((tab1.2, tab2.2), (Some(1), Some(2)));
        assert_eq!(b.2, None, "the tab counts only for per-tab sites");
        let site_wide: SiteKey = (tab1.0.clone(), tab1.1, None);
        for (id, exit) in [(5, X), (9, X2), (3, X)] {
            t.on_event(&built(id, exit, ""), &iso);
        }
        t.on_event(&stream(1, "SUCCEEDED", 5, &u1, &p1), &iso);
        t.on_event(&stream(2, "SUCCEEDED", 9, &u2, &p2), &iso);
        t.on_event(&stream(3, "SUCCEEDED", 3, &ub, &pb), &iso);
        let r = |t: &CircuitTracker, k: &SiteKey| t.result(k, Availability::Available);
        assert_eq!(ids(&r(&t, &tab1)), ["5"]);
        assert_eq!(ids(&r(&t, &tab2)), ["9"]);
        assert_eq!(r(&t, &tab1)["tab"], 1);
        assert_eq!(r(&t, &tab2)["tab"], 2);
        // Without a tab: the circuit the site used last, as before per-tab displays.
        assert_eq!(ids(&r(&t, &site_wide)), ["9"]);
        assert!(r(&t, &site_wide).get("tab").is_none());
        // A site without the per-tab policy keeps one display, with no tab field.
        assert_eq!(ids(&r(&t, &b)), ["3"]);
        assert!(r(&t, &b).get("tab").is_none());
        let mut changed = t.take_changed(10, true);
        changed.sort();
        let mut expected = vec![tab1.clone(), tab2.clone(), site_wide.clone(), b.clone()];
        expected.sort();
        assert_eq!(changed, expected);

        // Bytes count per tab, and site-wide for the site.
        t.on_event(&event("STREAM_BW 1 10 100"), &iso);
        t.on_event(&event("STREAM_BW 2 1 20"), &iso);
        assert_eq!(r(&t, &tab1)["bytes"], json!({"read": 100, "written": 10}));
        assert_eq!(r(&t, &tab2)["bytes"], json!({"read": 20, "written": 1}));
        assert_eq!(
            r(&t, &site_wide)["bytes"],
            json!({"read": 120, "written": 11})
        );

        // Tab 2's circuit closing empties only tab 2's (and the site-wide) display.
        t.take_changed(10, true);
        t.on_event(&event("CIRC 9 CLOSED REASON=FINISHED"), &iso);
        let mut changed = t.take_changed(10, true);
        changed.sort();
        let mut expected = vec![tab2.clone(), site_wide.clone()];
        expected.sort();
        assert_eq!(changed, expected);
        assert_eq!(ids(&r(&t, &tab1)), ["5"]);
        assert!(ids(&r(&t, &tab2)).is_empty());
    }

    #[test]
    fn closing_a_circuit_empties_the_display_and_unknown_circuits_ask_for_a_resync() {
        let mut iso = isolator();
        let mut t = CircuitTracker::new();
        let (u, p, key) = creds(&mut iso, "https://example.org/", "firefox-default");
        t.on_event(&stream(1, "SENTCONNECT", 9, &u, &p), &iso);
        assert!(t.resync_due(), "circuit 9 was never announced");
        let status: Vec<CircEvent> = [
            format!("9 BUILT ${G}~g,${M}~m,${X}~x PURPOSE=GENERAL SOCKS_USERNAME=\"{u}\" SOCKS_PASSWORD=\"{p}\""),
            format!("10 EXTENDED ${G}~g PURPOSE=GENERAL"),
        ]
        .iter()
        .map(|l| CircEvent::parse_body(l).expect("status line"))
        .collect();
        t.resync(&status, &iso);
        assert!(!t.resync_due());
        assert_eq!(ids(&t.result(&key, Availability::Available)), ["9"]);
        // The stream that asked for the resync still counts for its site.
        t.on_event(&event("STREAM_BW 1 10 1000"), &iso);
        assert_eq!(
            t.result(&key, Availability::Available)["bytes"],
            json!({"read": 1000, "written": 10})
        );
        t.take_changed(10, true);
        t.on_event(
            &event("CIRC 9 CLOSED $AAAA~g BUILD_FLAGS=NEED_CAPACITY REASON=FINISHED"),
            &iso,
        );
        assert_eq!(t.take_changed(10, true), vec![key.clone()]);
        assert!(ids(&t.result(&key, Availability::Available)).is_empty());
    }

    #[test]
    fn conflux_legs_are_shown_together() {
        let mut iso = isolator();
        let mut t = CircuitTracker::new();
        let (u, p, key) = creds(&mut iso, "https://example.net/", "firefox-default");
        t.on_event(&built(5, X, " CONFLUX_ID=ABCD"), &iso);
        t.on_event(&built(6, X2, " CONFLUX_ID=ABCD"), &iso);
        t.on_event(&built(8, X2, " CONFLUX_ID=EEEE"), &iso);
        t.on_event(&stream(3, "SUCCEEDED", 6, &u, &p), &iso);
        let r = t.result(&key, Availability::Available);
        assert_eq!(ids(&r), ["6", "5"]);
        assert_eq!(r["circuits"][1]["conflux_id"], "ABCD");
        t.take_changed(10, true);
        t.on_event(&event("CIRC 5 CLOSED REASON=FINISHED"), &iso);
        assert_eq!(t.take_changed(10, true), vec![key.clone()]);
        assert_eq!(ids(&t.result(&key, Availability::Available)), ["6"]);
    }

    #[test]
    fn bytes_count_per_site_and_restart_with_new_credentials() {
        let mut iso = isolator();
        let mut t = CircuitTracker::new();
        let (u, p, key) = creds(&mut iso, "https://example.com/", "firefox-default");
        t.on_event(&built(1, X, ""), &iso);
        t.on_event(&stream(40, "SUCCEEDED", 1, &u, &p), &iso);
        t.take_changed(10, true);
        t.on_event(
            &event("STREAM_BW 40 120 5000 2026-11-21T18:00:01.000000"),
            &iso,
        );
        t.on_event(&event("STREAM_BW 40 30 1000"), &iso);
        t.on_event(&event("STREAM_BW 99 7 7"), &iso);
        assert!(
            t.take_changed(10, false).is_empty(),
            "byte counts alone wait for the slower flush"
        );
        assert_eq!(t.take_changed(10, true), vec![key.clone()]);
        assert_eq!(
            t.result(&key, Availability::Available)["bytes"],
            json!({"read": 6000, "written": 150})
        );
        // tor may report a stream's last bytes after closing it.
        t.on_event(&stream(40, "CLOSED", 1, &u, &p), &iso);
        t.on_event(&event("STREAM_BW 40 1 2"), &iso);
        assert_eq!(
            t.result(&key, Availability::Available)["bytes"],
            json!({"read": 6002, "written": 151})
        );
        iso.new_circuit(&key.0);
        t.credentials_changed(&key.0);
        assert_eq!(
            t.result(&key, Availability::Available)["bytes"],
            json!({"read": 0, "written": 0})
        );
    }

    /// Two 1,000,000-byte downloads on one site, a resync (another stream attached to a circuit
    /// not seen yet) in the middle of them, and each stream's last bytes reported around its
    /// `CLOSED`: every byte counts, nothing twice.
    #[test]
    fn bytes_survive_a_resync_and_the_close_of_their_stream() {
        let mut iso = isolator();
        let mut t = CircuitTracker::new();
        let (u, p, key) = creds(&mut iso, "https://download.example/", "firefox-default");
        let (u2, p2, _) = creds(&mut iso, "https://other.example/", "firefox-default");
        t.on_event(&built(1, X, ""), &iso);
        let status = |t: &mut CircuitTracker, iso: &Isolator| {
            let lines = [
                format!("1 BUILT ${G}~g,${M}~m,${X}~x PURPOSE=GENERAL"),
                format!("2 BUILT ${G}~g,${M}~m,${X2}~x PURPOSE=GENERAL"),
            ];
            let status: Vec<CircEvent> = lines
                .iter()
                .map(|l| CircEvent::parse_body(l).expect("status line"))
                .collect();
            t.resync(&status, iso);
        };
        for (id, last_before_close) in [(40, true), (41, false)] {
            t.on_event(&stream(id, "SENTCONNECT", 1, &u, &p), &iso);
            t.on_event(&stream(id, "SUCCEEDED", 1, &u, &p), &iso);
            t.on_event(&event(&format!("STREAM_BW {id} 60 400000")), &iso);
            if id == 40 {
                // Another site's stream on a circuit not announced yet: the caller resyncs.
                t.on_event(&stream(50, "SENTCONNECT", 2, &u2, &p2), &iso);
                assert!(t.resync_due());
                status(&mut t, &iso);
            }
            t.on_event(&event(&format!("STREAM_BW {id} 0 500000")), &iso);
            if last_before_close {
                t.on_event(&event(&format!("STREAM_BW {id} 0 100070")), &iso);
                t.on_event(&stream(id, "CLOSED", 1, &u, &p), &iso);
            } else {
                t.on_event(&stream(id, "CLOSED", 1, &u, &p), &iso);
                t.on_event(&event(&format!("STREAM_BW {id} 0 100070")), &iso);
            }
        }
        assert_eq!(
            t.result(&key, Availability::Available)["bytes"],
            json!({"read": 2_000_140, "written": 120})
        );
    }

    #[test]
    fn new_identity_clears_every_display_once() {
        let mut iso = isolator();
        let mut t = CircuitTracker::new();
        let (u, p, a) = creds(&mut iso, "https://a.example/", "firefox-default");
        t.on_event(&built(1, X, ""), &iso);
        t.on_event(&stream(1, "SUCCEEDED", 1, &u, &p), &iso);
        t.take_changed(10, true);
        iso.new_identity();
        t.new_identity();
        assert_eq!(t.take_changed(10, true), vec![a.clone()]);
        assert!(ids(&t.result(&a, Availability::Available)).is_empty());
        // The forgotten username no longer maps to a site.
        t.on_event(&stream(2, "SUCCEEDED", 1, &u, &p), &iso);
        assert!(t.take_changed(10, true).is_empty());
    }

    #[test]
    fn unavailable_reasons_and_catch_all() {
        let mut iso = isolator();
        let mut t = CircuitTracker::new();
        let (u, p, catch_all) = creds(&mut iso, "about:blank", "firefox-default");
        t.on_event(&built(1, X, ""), &iso);
        t.on_event(&stream(1, "SUCCEEDED", 1, &u, &p), &iso);
        assert!(t.take_changed(10, true).is_empty());
        let r = t.result(&catch_all, Availability::Available);
        assert_eq!(r["available"], false);
        assert_eq!(r["reason"], "no_network_first_party");
        let (_, _, key) = creds(&mut iso, "https://example.com/", "firefox-private");
        let r = t.result(&key, Availability::NoControlPort);
        assert_eq!(
            (r["available"].clone(), r["reason"].clone()),
            (json!(false), json!("no_control_port"))
        );
        assert_eq!(
            t.result(&key, Availability::NotBootstrapped)["reason"],
            "not_bootstrapped"
        );
        let r = t.result(&key, Availability::Available);
        assert_eq!(r["available"], true);
        assert_eq!(r["circuits"], json!([]));
    }

    #[test]
    fn bridges_replace_the_guard_and_onion_paths_have_no_exit() {
        let mut iso = isolator();
        let mut t = CircuitTracker::new();
        let bridge = parse_bridge_line(&format!("obfs4 192.0.2.7:443 {G} cert=abc iat-mode=0"))
            .expect("bridge");
        assert_eq!(bridge.transport, "obfs4");
        assert_eq!(bridge.ip, Some("192.0.2.7".parse().expect("ip")));
        t.set_bridges(vec![bridge]);
        let onion = format!("http://{}.onion/", "a".repeat(56));
        let (u, p, key) = creds(&mut iso, &onion, "firefox-default");
        t.on_event(
            &event(&format!(
                "CIRC 3 BUILT ${G}~b,${M}~m,${X}~rp PURPOSE=HS_CLIENT_REND"
            )),
            &iso,
        );
        t.on_event(&stream(1, "SUCCEEDED", 3, &u, &p), &iso);
        let wanted = t.take_wanted_relays();
        assert!(
            !wanted.contains(&G.to_owned()),
            "bridges are not looked up in the consensus"
        );
        let r = t.result(&key, Availability::Available);
        assert_eq!(r["onion"], true);
        let hops = &r["circuits"][0]["hops"];
        assert_eq!(hops[0]["role"], "bridge");
        assert_eq!(hops[0]["bridge_type"], "obfs4");
        assert_eq!(hops[0]["ip"], "192.0.2.7");
        assert_eq!(hops[0]["country"], Value::Null);
        assert_eq!(
            hops[2]["role"], "middle",
            "a rendezvous point is not an exit"
        );
    }

    #[test]
    fn bridge_lines_parse() {
        let vanilla =
            parse_bridge_line(&format!("198.51.100.1:9001 {}", G.to_lowercase())).expect("vanilla");
        assert_eq!(vanilla.transport, "");
        assert_eq!(vanilla.fingerprint, G);
        let snowflake = parse_bridge_line(&format!(
            "snowflake 192.0.2.3:80 {M} fingerprint={M} url=https://x.example/"
        ))
        .expect("snowflake");
        assert_eq!(snowflake.ip, Some("192.0.2.3".parse().expect("ip")));
        let meek =
            parse_bridge_line(&format!("meek_lite 0.0.2.0:2 {X} url=https://x/")).expect("meek");
        assert_eq!(meek.ip, None, "0.x placeholder addresses are not shown");
        assert_eq!(parse_bridge_line("obfs4 192.0.2.7:443"), None);
        assert_eq!(parse_bridge_line(""), None);
        assert_eq!(parse_bridge_line("[2001:db8::1]:443 nothex"), None);
    }

    #[test]
    fn change_queue_is_bounded_per_take() {
        let mut iso = isolator();
        let mut t = CircuitTracker::new();
        t.on_event(&built(1, X, ""), &iso);
        for i in 0..5 {
            let (u, p, _) = creds(
                &mut iso,
                &format!("https://s{i}.example/"),
                "firefox-default",
            );
            t.on_event(&stream(i, "SUCCEEDED", 1, &u, &p), &iso);
        }
        assert_eq!(t.take_changed(2, true).len(), 2);
        assert_eq!(t.pending_changes(), 3);
        assert_eq!(t.take_changed(10, true).len(), 3);
        assert_eq!(t.tracked_sites(), 5);
    }
}
