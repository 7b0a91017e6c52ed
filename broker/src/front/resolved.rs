//! The IP-literal rule: which site a stream to a bare address belongs to.
//!
//! A program that resolved a name through the front (tor's RESOLVE, as torsocks does) and then
//! connects to the address it got is talking to that name's site: the stream rides that site's
//! credentials in the same context. An address nobody resolved in the context is its own site.
//! The memory is per application context (one program's lookups never decide another's keys),
//! bounded (oldest answers go first) and in memory only.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// How many (context, address) answers are remembered.
pub(crate) const RESOLVED_CAPACITY: usize = 4096;

/// Remembered RESOLVE answers; see the module doc.
#[derive(Debug, Default)]
pub struct ResolvedAddresses {
    sites: HashMap<(String, IpAddr), String>,
    order: VecDeque<(String, IpAddr)>,
}

impl ResolvedAddresses {
    /// Notes that resolving a name of `site` in `context` answered `ip`.
    pub fn remember(&mut self, context: &str, ip: IpAddr, site: &str) {
        let key = (context.to_owned(), ip);
        if self.sites.insert(key.clone(), site.to_owned()).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > RESOLVED_CAPACITY {
            if let Some(oldest) = self.order.pop_front() {
                self.sites.remove(&oldest);
            }
        }
    }

    /// The site whose name resolved to `ip` in `context`, if one did.
    pub fn site_of(&self, context: &str, ip: IpAddr) -> Option<&str> {
        self.sites
            .get(&(context.to_owned(), ip))
            .map(String::as_str)
    }

    /// Forgets everything (New identity).
    pub fn clear(&mut self) {
        self.sites.clear();
        self.order.clear();
    }

    /// How many answers are remembered.
    pub fn len(&self) -> usize {
        self.sites.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(n.into())
    }

    #[test]
    fn answers_are_per_context() {
        let mut r = ResolvedAddresses::default();
        r.remember("git", ip(1), "example.com");
        assert_eq!(r.site_of("git", ip(1)), Some("example.com"));
        assert_eq!(r.site_of("curl", ip(1)), None);
        r.remember("git", ip(1), "example.net");
        assert_eq!(
            r.site_of("git", ip(1)),
            Some("example.net"),
            "the latest answer wins"
        );
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn memory_is_bounded_oldest_first() {
        let mut r = ResolvedAddresses::default();
        for n in 0..(RESOLVED_CAPACITY as u32 + 10) {
            r.remember("a", ip(n), "s.test");
        }
        assert_eq!(r.len(), RESOLVED_CAPACITY);
        assert_eq!(r.site_of("a", ip(0)), None);
        assert_eq!(
            r.site_of("a", ip(RESOLVED_CAPACITY as u32 + 9)),
            Some("s.test")
        );
        r.clear();
        assert!(r.is_empty());
    }
}
