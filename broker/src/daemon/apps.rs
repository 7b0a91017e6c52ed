//! The application contexts the daemon has served (the SOCKS front's and `persite run`'s), for
//! `persite status`: each with the sites it reached. In memory only, bounded, never logged.

use std::collections::{BTreeMap, BTreeSet};

use crate::isolation::site::Site;

/// Most contexts remembered (oldest by name go first past it).
pub(crate) const MAX_APPS: usize = 256;
/// Most sites remembered per context.
pub(crate) const MAX_SITES_PER_APP: usize = 4096;

/// The site that stands for a whole application (`persite run` without `--per-site`): a name
/// under `.invalid` (RFC 2606, never a real destination), one per application so that its New
/// circuit moves that application only.
pub fn whole_app_host(app: &str) -> String {
    let digest = blake3::hash(format!("persite whole application\0{app}").as_bytes());
    format!("{}.invalid", hex::encode(&digest.as_bytes()[..8]))
}

/// Application contexts and their sites.
#[derive(Debug, Default)]
pub(crate) struct Apps {
    apps: BTreeMap<String, BTreeSet<Site>>,
}

impl Apps {
    /// Notes that `app` reached `site`.
    pub(crate) fn note(&mut self, app: &str, site: &Site) {
        if !self.apps.contains_key(app) && self.apps.len() >= MAX_APPS {
            return;
        }
        let sites = self.apps.entry(app.to_owned()).or_default();
        if sites.len() < MAX_SITES_PER_APP {
            sites.insert(site.clone());
        }
    }

    /// Every context with its sites.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &BTreeSet<Site>)> {
        self.apps.iter().map(|(name, sites)| (name.as_str(), sites))
    }

    /// Forgets everything (New identity).
    pub(crate) fn clear(&mut self) {
        self.apps.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_app_hosts_are_per_app_and_never_real() {
        let git = whole_app_host("git");
        assert!(git.ends_with(".invalid"));
        assert_eq!(git.len(), 16 + ".invalid".len());
        assert_eq!(git, whole_app_host("git"));
        assert_ne!(git, whole_app_host("curl"));
    }

    #[test]
    fn bounded() {
        let mut apps = Apps::default();
        let site = Site::catch_all();
        for n in 0..(MAX_APPS + 5) {
            apps.note(&format!("a{n}"), &site);
        }
        assert_eq!(apps.iter().count(), MAX_APPS);
    }
}
