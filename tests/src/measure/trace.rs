//! The scripted browsing trace replayed by `benches/tor_measure.rs` (pure data, no I/O).
//!
//! Eight first-party sites, ten shared third parties, 60 simulated minutes in eight tabs: some
//! sites are revisited all the time (mail every 5 minutes, news every 9), one is heavy (video,
//! 2 MiB per resource), one is open in two tabs at once (shop), some are visited once (bank).
//! Written out by hand rather than generated at random so the numbers of every run describe the
//! same browsing, and a reader can check a count against the schedule.

/// Shared third-party hosts (CDNs, analytics, fonts, …) embedded by several sites.
pub const THIRD_PARTIES: [&str; 10] = [
    "cdn-one.test",
    "cdn-two.test",
    "analytics.test",
    "ads.test",
    "fonts.test",
    "tags.test",
    "widgets.test",
    "media-cdn.test",
    "maps.test",
    "captcha.test",
];

/// One first-party site of the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteSpec {
    /// Registrable domain (the first party); pages live on `www.<site>`.
    pub site: &'static str,
    /// Indices into [`THIRD_PARTIES`] that its pages embed.
    pub third_parties: &'static [usize],
    /// Subresources per page view (besides the document).
    pub resources: usize,
    /// Simulated size of each subresource in bytes (the loopback origin's real bodies are
    /// ~100 bytes; these sizes feed the max-bytes meter).
    pub resource_bytes: u64,
}

/// The eight first parties.
pub const SITES: [SiteSpec; 8] = [
    site("news.test", &[0, 1, 2, 3, 4, 5], 14, 150 * KIB),
    site("mail.test", &[0, 4, 9], 6, 40 * KIB),
    site("video.test", &[1, 2, 3, 7], 12, 2 * MIB),
    site("shop.test", &[0, 2, 3, 5, 8, 9], 12, 120 * KIB),
    site("social.test", &[1, 2, 6], 10, 80 * KIB),
    site("wiki.test", &[0, 4], 5, 50 * KIB),
    site("bank.test", &[4, 9], 6, 60 * KIB),
    site("blog.test", &[1, 2, 3, 4, 6], 9, 70 * KIB),
];

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
/// Simulated size of a page's HTML document.
const DOCUMENT_BYTES: u64 = 60 * KIB;

const fn site(
    site: &'static str,
    third_parties: &'static [usize],
    resources: usize,
    resource_bytes: u64,
) -> SiteSpec {
    SiteSpec {
        site,
        third_parties,
        resources,
        resource_bytes,
    }
}

/// (simulated minute, tab, index into [`SITES`]) of every page view, in time order.
const SCHEDULE: &[(u32, i64, usize)] = &[
    (0, 1, 0),
    (1, 2, 1),
    (2, 6, 4),
    (3, 3, 2),
    (4, 3, 2),
    (5, 3, 2),
    (6, 2, 1),
    (7, 3, 2),
    (8, 3, 2),
    (9, 1, 0),
    (10, 6, 4),
    (11, 2, 1),
    (12, 4, 3),
    (13, 5, 3),
    (14, 4, 3),
    (15, 5, 3),
    (16, 2, 1),
    (18, 1, 0),
    (20, 6, 4),
    (21, 2, 1),
    (24, 7, 5),
    (25, 7, 5),
    (26, 2, 1),
    (27, 1, 0),
    (30, 6, 4),
    (31, 2, 1),
    (33, 8, 6),
    (36, 1, 0),
    (36, 2, 1),
    (40, 3, 2),
    (41, 2, 1),
    (42, 3, 2),
    (45, 1, 0),
    (46, 2, 1),
    (47, 1, 7),
    (48, 1, 7),
    (50, 6, 4),
    (51, 2, 1),
    (54, 1, 0),
    (56, 2, 1),
];

/// Length of the trace in simulated minutes (the last view starts at minute 56).
pub const TRACE_MINUTES: u32 = 60;

/// One HTTP request of a page view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Host the request goes to (first party's own hosts or a third party).
    pub host: String,
    /// Request path (unique per view, for the origin's log).
    pub path: String,
    /// Simulated response size in bytes.
    pub bytes: u64,
}

/// One page view: a document and its subresources, all with the same first party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    /// Simulated minute the view starts.
    pub at_min: u32,
    /// Browser tab id.
    pub tab: i64,
    /// The first party.
    pub site: &'static str,
    /// Document first, then subresources.
    pub resources: Vec<Resource>,
}

/// The whole trace, in time order.
pub fn browsing_trace() -> Vec<Visit> {
    SCHEDULE
        .iter()
        .enumerate()
        .map(|(view, &(at_min, tab, index))| page_view(view, at_min, tab, &SITES[index]))
        .collect()
}

/// The requests of one view: the document on `www.`, every third subresource on `static.` of
/// the same site, the others spread over the site's third parties in turn.
fn page_view(view: usize, at_min: u32, tab: i64, spec: &SiteSpec) -> Visit {
    let mut resources = vec![Resource {
        host: format!("www.{}", spec.site),
        path: format!("/view{view}/index.html"),
        bytes: DOCUMENT_BYTES,
    }];
    for i in 0..spec.resources {
        let host = if i % 3 == 0 || spec.third_parties.is_empty() {
            format!("static.{}", spec.site)
        } else {
            THIRD_PARTIES[spec.third_parties[i % spec.third_parties.len()]].to_owned()
        };
        resources.push(Resource {
            host,
            path: format!("/view{view}/r{i}"),
            bytes: spec.resource_bytes,
        });
    }
    Visit {
        at_min,
        tab,
        site: spec.site,
        resources,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn schedule_is_in_time_order_and_within_the_trace() {
        let trace = browsing_trace();
        assert_eq!(trace.len(), SCHEDULE.len());
        assert!(trace.windows(2).all(|w| w[0].at_min <= w[1].at_min));
        assert!(trace.iter().all(|v| v.at_min < TRACE_MINUTES));
    }

    #[test]
    fn pages_have_5_to_15_resources_and_use_all_third_parties() {
        let trace = browsing_trace();
        for visit in &trace {
            let subresources = visit.resources.len() - 1;
            assert!((5..=15).contains(&subresources), "{visit:?}");
            assert_eq!(visit.resources[0].host, format!("www.{}", visit.site));
        }
        let hosts: BTreeSet<&str> = trace
            .iter()
            .flat_map(|v| v.resources.iter().map(|r| r.host.as_str()))
            .collect();
        for third in THIRD_PARTIES {
            assert!(hosts.contains(third), "{third} unused");
        }
        // 8 sites × (www + static) + 10 third parties.
        assert_eq!(hosts.len(), 26);
    }

    #[test]
    fn every_site_is_visited_and_shop_is_open_in_two_tabs() {
        let trace = browsing_trace();
        let sites: BTreeSet<&str> = trace.iter().map(|v| v.site).collect();
        assert_eq!(sites.len(), SITES.len());
        let shop_tabs: BTreeSet<i64> = trace
            .iter()
            .filter(|v| v.site == "shop.test")
            .map(|v| v.tab)
            .collect();
        assert_eq!(shop_tabs.len(), 2);
    }
}
