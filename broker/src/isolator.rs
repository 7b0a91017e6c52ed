//! The isolation state of one broker run: the secret key, the per-site "new circuit" counters,
//! the "new identity" epoch, the catch-all's rotation clock and the username → site map used
//! for display.
//!
//! Nothing here touches disk: a restarted broker has a new key, so every credential changes.
//! Time is passed in (`*_at` methods take Unix milliseconds) so rotation is testable without
//! sleeping; the plain methods read the system clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::container::Container;
use crate::credentials::{self, DerivationKey, Digest};
use crate::isolation_error::IsolationError;
use crate::psl::Psl;
use crate::site::Site;

/// Age after which the catch-all credentials rotate on their next use (Tor Browser's
/// `CATCHALL_MAX_LIFETIME`).
pub const CATCH_ALL_MAX_AGE_MS: u64 = 10 * 60 * 1000;

/// SOCKS credentials issued for one (site, container).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IssuedCredentials {
    /// The first-party site the credentials isolate.
    pub site: Site,
    /// The container they belong to.
    pub container: Container,
    /// SOCKS username: stable for (site, container) for the life of the key.
    pub username: String,
    /// SOCKS password: changes with "new circuit" for the site and with "new identity".
    pub password: String,
    /// Unix time in ms after which the extension must ask again (catch-all only), else `None`.
    pub expires_at_ms: Option<u64>,
    /// Set when issuing these credentials rotated the catch-all key: the daemon must push
    /// `invalidate {sites: ["--unknown--"], reason: "rotation"}`.
    pub rotated: bool,
}

/// Owns the key and all isolation state; see the module doc.
pub struct Isolator {
    key: DerivationKey,
    psl: Arc<Psl>,
    epoch: u64,
    /// "New circuit" counter of every site seen since the last new identity.
    generations: HashMap<Site, u64>,
    /// Username hash → (site, container), so circuit displays can name the owner of a SOCKS
    /// username.
    usernames: HashMap<Digest, (Site, Container)>,
    /// When the current catch-all credentials were first used (Unix ms).
    catch_all_since_ms: Option<u64>,
}

impl std::fmt::Debug for Isolator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Isolator")
            .field("epoch", &self.epoch)
            .field("sites_seen", &self.generations.len())
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
            epoch: 0,
            generations: HashMap::new(),
            usernames: HashMap::new(),
            catch_all_since_ms: None,
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

    /// Credentials for an already-parsed site and container at `now_ms` (Unix ms).
    pub fn issue(&mut self, site: Site, container: Container, now_ms: u64) -> IssuedCredentials {
        let (rotated, expires_at_ms) = if site.is_catch_all() {
            self.touch_catch_all(&site, now_ms)
        } else {
            (false, None)
        };
        let generation = match self.generations.get(&site) {
            Some(generation) => *generation,
            None => {
                self.generations.insert(site.clone(), 0);
                0
            }
        };
        let username = credentials::username_digest(&self.key, &site, &container);
        let password =
            credentials::password_digest(&self.key, &site, &container, generation, self.epoch);
        self.usernames
            .entry(username)
            .or_insert_with(|| (site.clone(), container));
        IssuedCredentials {
            site,
            container,
            username: credentials::encode(&username),
            password: credentials::encode(&password),
            expires_at_ms,
            rotated,
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
        *self.generations.entry(site.clone()).or_insert(0) += 1;
        if site.is_catch_all() {
            // The fresh catch-all credentials get their full 10 minutes from their first use.
            self.catch_all_since_ms = None;
        }
    }

    /// "New identity": every password of every site changes, and what was seen is forgotten.
    /// Returns the new epoch.
    pub fn new_identity(&mut self) -> u64 {
        self.epoch += 1;
        self.generations = HashMap::new();
        self.usernames = HashMap::new();
        self.catch_all_since_ms = None;
        self.epoch
    }

    /// The current "new identity" counter (0 until the first new identity).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// How many sites got credentials or a new circuit since the last new identity.
    pub fn sites_seen(&self) -> usize {
        self.generations.len()
    }

    /// The site a SOCKS username was issued for (for display), if this isolator issued it.
    pub fn site_for_username(&self, username: &str) -> Option<&Site> {
        self.owner_of_username(username).map(|(site, _)| site)
    }

    /// The (site, container) a SOCKS username was issued for, if this isolator issued it since
    /// the last new identity.
    pub fn owner_of_username(&self, username: &str) -> Option<(&Site, Container)> {
        let (site, container) = self.usernames.get(&credentials::decode(username)?)?;
        Some((site, *container))
    }

    /// Whether `password` is the password (site, container) would get now, i.e. credentials
    /// issued before a later "new circuit", rotation or "new identity" answer `false`.
    pub fn is_current_password(&self, site: &Site, container: &Container, password: &str) -> bool {
        let generation = self.generations.get(site).copied().unwrap_or(0);
        let current =
            credentials::password_digest(&self.key, site, container, generation, self.epoch);
        credentials::decode(password) == Some(current)
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
