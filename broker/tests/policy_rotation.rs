//! Circuit-lifetime policies through the isolator (`docs/protocol.md` §2.5): keep-alive,
//! max-age, max-bytes (fed by parsed tor `STREAM`/`STREAM_BW` events), per-tab, combinations,
//! and what they must not touch (other sites, the catch-all, keep-alive credentials).

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use persite::isolation::CATCH_ALL_MAX_AGE_MS;
use persite::policy::{Policy, PolicyTable};
use persite::{Container, Isolator, IssuedCredentials, Psl, Site};
use proptest::prelude::*;
use torctl::Event;
use torctl::events::{StreamBwEvent, StreamEvent};

const T0: u64 = 1_800_000_000_000;

/// Parsed once: the vendored list takes milliseconds to load, and property tests build many
/// isolators.
fn psl() -> Arc<Psl> {
    static PSL: OnceLock<Arc<Psl>> = OnceLock::new();
    PSL.get_or_init(|| Arc::new(Psl::vendored().expect("vendored list")))
        .clone()
}

fn site(name: &str) -> Site {
    Site::parse(name, &psl()).expect("site")
}

fn policy(max_age_s: Option<u64>, max_bytes: Option<u64>, per_tab: bool) -> Policy {
    Policy::new(
        max_age_s.map(Duration::from_secs),
        max_bytes,
        per_tab,
        "policy",
    )
    .expect("valid")
}

/// An isolator where `example.com` has `p` and everything else the default (keep-alive).
fn isolator_with(p: Policy) -> Isolator {
    let mut iso = Isolator::with_key([9; 32], psl());
    let mut table = PolicyTable::default();
    table.set_site(site("example.com"), Some(p)).expect("set");
    iso.set_policies(table);
    iso
}

fn creds(iso: &mut Isolator, url: &str, tab: Option<i64>, now: u64) -> IssuedCredentials {
    iso.credentials_in_tab_at(url, "firefox-default", tab, now)
        .expect("credentials")
}

fn pair(c: &IssuedCredentials) -> (String, String) {
    (c.username.clone(), c.password.clone())
}

/// Feeds tor's `STREAM <id> SUCCEEDED` for `c`, then `STREAM_BW <id> <written> <read>`;
/// returns the site that rotated, if any.
fn carry(iso: &mut Isolator, stream: u32, c: &IssuedCredentials, read: u64) -> Option<Site> {
    let stream_line = format!(
        "{stream} SUCCEEDED 7 example.com:443 SOCKS_USERNAME=\"{}\" SOCKS_PASSWORD=\"{}\"",
        c.username, c.password
    );
    let event = Event::Stream(StreamEvent::parse_body(&stream_line).expect("STREAM"));
    assert_eq!(iso.on_tor_event(&event), None);
    let bw = StreamBwEvent::parse_body(&format!("{stream} 0 {read}")).expect("STREAM_BW");
    iso.on_tor_event(&Event::StreamBw(bw))
}

#[test]
fn keep_alive_credentials_are_those_of_an_isolator_without_policies() {
    let mut plain = Isolator::with_key([9; 32], psl());
    let mut with_table = isolator_with(policy(Some(60), None, true));
    for url in ["https://example.org/", "https://a.example.net/x"] {
        let a = plain.credentials_at(url, "firefox-default", T0).expect("a");
        let b = creds(&mut with_table, url, Some(3), T0);
        assert_eq!(pair(&a), pair(&b), "{url}");
        assert!(!b.per_tab && b.tab.is_none() && b.expires_at_ms.is_none());
    }
}

#[test]
fn max_age_rotates_when_due_and_expiry_matches() {
    let mut iso = isolator_with(policy(Some(600), None, false));
    let first = creds(&mut iso, "https://www.example.com/", None, T0);
    assert_eq!(first.expires_at_ms, Some(T0 + 600_000));
    assert!(!first.rotated);
    assert_eq!(iso.next_rotation_at(), Some(T0 + 600_000));
    let early = creds(&mut iso, "https://example.com/", None, T0 + 599_999);
    assert_eq!(pair(&early), pair(&first));
    assert_eq!(early.expires_at_ms, first.expires_at_ms);
    assert!(iso.rotate_due(T0 + 599_999).is_empty());
    assert_eq!(iso.rotate_due(T0 + 600_000), vec![site("example.com")]);
    let next = creds(&mut iso, "https://example.com/", None, T0 + 601_000);
    assert_eq!(next.username, first.username, "usernames stay stable");
    assert_ne!(next.password, first.password);
    assert_eq!(next.expires_at_ms, Some(T0 + 601_000 + 600_000));
    // No timer: the request itself rotates, and says so for the push.
    let late = creds(&mut iso, "https://example.com/", None, T0 + 1_201_000);
    assert!(late.rotated);
    assert_ne!(late.password, next.password);
    assert_ne!(late.password, first.password);
}

#[test]
fn max_bytes_counts_tor_stream_bytes_of_current_credentials_only() {
    let mut iso = isolator_with(policy(None, Some(10_000), false));
    let first = creds(&mut iso, "https://example.com/", None, T0);
    assert_eq!(first.expires_at_ms, None);
    assert_eq!(
        carry(&mut iso, 1, &first, 9_999),
        None,
        "below the threshold"
    );
    assert_eq!(
        pair(&creds(&mut iso, "https://example.com/", None, T0 + 1)),
        pair(&first)
    );
    assert_eq!(
        carry(&mut iso, 2, &first, 1),
        Some(site("example.com")),
        "reached"
    );
    let second = creds(&mut iso, "https://example.com/", None, T0 + 2);
    assert_ne!(second.password, first.password);
    // The old stream finishing on the old circuit counts for nothing now.
    let bw = StreamBwEvent::parse_body("1 0 1000000").expect("bw");
    assert_eq!(iso.on_tor_event(&Event::StreamBw(bw)), None);
    assert_eq!(
        carry(&mut iso, 3, &first, 1_000_000),
        None,
        "old credentials"
    );
    assert_eq!(iso.rotation().len(), 1);
    // A closed stream's last bytes, reported around its CLOSED event, still count (as the
    // circuit display counts them).
    let closed = StreamEvent::parse_body("4 CLOSED 7 example.com:443").expect("closed");
    assert_eq!(carry(&mut iso, 4, &second, 5_000), None);
    iso.on_tor_event(&Event::Stream(closed));
    let bw = StreamBwEvent::parse_body("4 0 5000").expect("bw");
    assert_eq!(
        iso.on_tor_event(&Event::StreamBw(bw)),
        Some(site("example.com")),
        "the closed stream's last 5,000 bytes reached 10,000"
    );
}

#[test]
fn combined_policies_rotate_on_whichever_comes_first() {
    let both = policy(Some(60), Some(5_000), false);
    // Bytes first.
    let mut iso = isolator_with(both);
    let a = creds(&mut iso, "https://example.com/", None, T0);
    assert_eq!(carry(&mut iso, 1, &a, 5_000), Some(site("example.com")));
    let b = creds(&mut iso, "https://example.com/", None, T0 + 10_000);
    assert_ne!(b.password, a.password);
    assert_eq!(
        b.expires_at_ms,
        Some(T0 + 70_000),
        "a fresh age after a bytes rotation"
    );
    // Age first.
    let mut iso = isolator_with(both);
    let a = creds(&mut iso, "https://example.com/", None, T0);
    assert_eq!(carry(&mut iso, 1, &a, 4_999), None);
    let b = creds(&mut iso, "https://example.com/", None, T0 + 60_000);
    assert!(b.rotated);
    assert_eq!(
        carry(&mut iso, 2, &b, 1),
        None,
        "bytes start over with the new credentials"
    );
}

#[test]
fn per_tab_separates_tabs_and_keeps_each_stable() {
    let mut iso = isolator_with(policy(None, None, true));
    let one = creds(&mut iso, "https://example.com/a", Some(1), T0);
    let two = creds(&mut iso, "https://www.example.com/b", Some(2), T0);
    let one_again = creds(&mut iso, "https://example.com/c", Some(1), T0 + 5_000);
    assert!(one.per_tab && two.per_tab);
    assert_eq!((one.tab, two.tab), (Some(1), Some(2)));
    assert_ne!(one.username, two.username);
    assert_ne!(one.password, two.password);
    assert_eq!(pair(&one), pair(&one_again));
    // No tab (or TAB_ID_NONE) shares the site's tab-less credentials.
    let none = creds(&mut iso, "https://example.com/", None, T0);
    let minus = creds(&mut iso, "https://example.com/", Some(-1), T0);
    assert_eq!(pair(&none), pair(&minus));
    assert!(![pair(&one), pair(&two)].contains(&pair(&none)));
    // The display and byte meter still name the owner of a tab's credentials…
    let (owner, container) = iso.owner_of_username(&two.username).expect("owner");
    assert_eq!(
        (owner.as_str(), container),
        ("example.com", Container::Default)
    );
    assert!(iso.is_current_password(&two.site, &two.container, &two.password));
    // …until "new circuit" changes every tab's password.
    iso.new_circuit(&site("example.com"));
    assert!(!iso.is_current_password(&two.site, &two.container, &two.password));
    let two_after = creds(&mut iso, "https://example.com/", Some(2), T0);
    assert_eq!(two_after.username, two.username);
    assert_ne!(two_after.password, two.password);
}

#[test]
fn closing_a_tab_forgets_it_and_its_id_never_gets_old_credentials_back() {
    let mut iso = isolator_with(policy(Some(60), None, true));
    let one = creds(&mut iso, "https://example.com/", Some(1), T0);
    let two = creds(&mut iso, "https://example.com/", Some(2), T0);
    let other = creds(&mut iso, "https://example.org/", Some(1), T0);
    assert_eq!(iso.rotation().len(), 3);

    assert_eq!(iso.tab_closed(1), vec![site("example.com")]);
    assert_eq!(
        iso.rotation().len(),
        2,
        "tab 1's set is gone, tab 2's and the shared one stay"
    );
    assert_eq!(iso.owner_of_username(&one.username), None);
    assert!(iso.owner_of_username(&two.username).is_some());
    // A late request of the closed tab gets credentials never issued before; tab 2 and the
    // site without a per-tab policy keep theirs.
    let late = creds(&mut iso, "https://example.com/", Some(1), T0 + 1_000);
    assert_eq!(late.username, one.username);
    assert_ne!(late.password, one.password);
    assert_eq!(
        pair(&creds(
            &mut iso,
            "https://example.com/",
            Some(2),
            T0 + 1_000
        )),
        pair(&two)
    );
    assert_eq!(
        pair(&creds(
            &mut iso,
            "https://example.org/",
            Some(1),
            T0 + 1_000
        )),
        pair(&other)
    );
    // A tab that never had per-tab credentials forgets nothing.
    assert_eq!(iso.tab_closed(9), Vec::<Site>::new());
}

#[test]
fn tab_ids_starting_over_change_every_per_tab_password_and_nothing_else() {
    let mut iso = isolator_with(policy(None, None, true));
    let one = creds(&mut iso, "https://example.com/", Some(1), T0);
    let shared = creds(&mut iso, "https://example.org/", Some(1), T0);
    let no_tab = creds(&mut iso, "https://example.com/", None, T0);
    iso.tab_closed(1);
    let closed_once = creds(&mut iso, "https://example.com/", Some(1), T0);

    assert_eq!(iso.reset_tabs(), vec![site("example.com")]);
    // The new session's tab 1 is a new tab: not the old tab 1, in any of its lives.
    let new_one = creds(&mut iso, "https://example.com/", Some(1), T0 + 1);
    assert_eq!(new_one.username, one.username);
    assert!(![one.password.clone(), closed_once.password.clone()].contains(&new_one.password));
    assert_eq!(
        pair(&creds(&mut iso, "https://example.org/", Some(1), T0 + 1)),
        pair(&shared)
    );
    assert_eq!(
        pair(&creds(&mut iso, "https://example.com/", None, T0 + 1)),
        pair(&no_tab)
    );
    // Closing the new tab 1 after the reset also never comes back to an old password.
    iso.tab_closed(1);
    let new_closed = creds(&mut iso, "https://example.com/", Some(1), T0 + 2);
    assert!(![one.password, closed_once.password, new_one.password].contains(&new_closed.password));
}

#[test]
fn per_tab_with_max_age_rotates_each_tab_on_its_own_clock() {
    let mut iso = isolator_with(policy(Some(60), None, true));
    let one = creds(&mut iso, "https://example.com/", Some(1), T0);
    let two = creds(&mut iso, "https://example.com/", Some(2), T0 + 30_000);
    assert_eq!(iso.rotate_due(T0 + 60_000), vec![site("example.com")]);
    assert_eq!(
        pair(&creds(
            &mut iso,
            "https://example.com/",
            Some(2),
            T0 + 60_000
        )),
        pair(&two),
        "tab 2 is not due yet"
    );
    assert_ne!(
        creds(&mut iso, "https://example.com/", Some(1), T0 + 60_000).password,
        one.password
    );
}

#[test]
fn new_circuit_and_new_identity_reset_age_and_bytes() {
    let mut iso = isolator_with(policy(Some(60), Some(10_000), false));
    let a = creds(&mut iso, "https://example.com/", None, T0);
    assert_eq!(carry(&mut iso, 1, &a, 9_000), None);
    iso.new_circuit(&site("example.com"));
    let b = creds(&mut iso, "https://example.com/", None, T0 + 50_000);
    assert_ne!(b.password, a.password);
    assert_eq!(
        b.expires_at_ms,
        Some(T0 + 110_000),
        "age restarts at New circuit"
    );
    assert_eq!(carry(&mut iso, 2, &b, 9_000), None, "bytes restarted too");
    iso.new_identity();
    assert_eq!(iso.next_rotation_at(), None);
    let c = creds(&mut iso, "https://example.com/", None, T0 + 60_000);
    assert_eq!(c.expires_at_ms, Some(T0 + 120_000));
    assert!(![a.password, b.password].contains(&c.password));
}

#[test]
fn catch_all_keeps_its_own_ten_minutes_whatever_the_default() {
    let mut iso = Isolator::with_key([9; 32], psl());
    iso.set_policies(PolicyTable::new(policy(Some(1), Some(1024), true)));
    let a = creds(&mut iso, "about:blank", Some(5), T0);
    assert_eq!(a.expires_at_ms, Some(T0 + CATCH_ALL_MAX_AGE_MS));
    assert!(!a.per_tab && a.tab.is_none());
    assert_eq!(carry(&mut iso, 1, &a, 1 << 20), None, "not metered");
    assert!(iso.rotate_due(T0 + 5_000).is_empty());
    let b = creds(&mut iso, "moz-extension://x/y", Some(6), T0 + 5_000);
    assert_eq!(pair(&a), pair(&b));
    // Ordinary sites follow the default.
    let s = creds(&mut iso, "https://example.org/", Some(5), T0);
    assert!(s.per_tab);
    assert_eq!(s.expires_at_ms, Some(T0 + 1_000));
}

#[test]
fn policy_changes_name_the_affected_sites_and_apply_to_credentials_already_out() {
    let mut iso = Isolator::with_key([9; 32], psl());
    let a = creds(&mut iso, "https://example.com/", Some(1), T0);
    creds(&mut iso, "https://example.org/", Some(1), T0);
    let mut table = PolicyTable::default();
    table
        .set_site(site("example.com"), Some(policy(Some(60), None, false)))
        .expect("set");
    assert_eq!(iso.set_policies(table), vec![site("example.com")]);
    assert_eq!(
        iso.next_rotation_at(),
        Some(T0 + 60_000),
        "age counts from the first grant"
    );
    let b = creds(&mut iso, "https://example.com/", Some(1), T0 + 60_000);
    assert!(b.rotated);
    assert_ne!(b.password, a.password);
}

proptest! {
    #[test]
    fn keep_alive_never_rotates_by_itself(
        steps in prop::collection::vec((0u64..10_000_000_000, 0u64..u64::MAX / 4, any::<bool>()), 1..20),
    ) {
        let mut iso = Isolator::with_key([1; 32], psl());
        let first = creds(&mut iso, "https://example.com/", None, T0);
        for (i, (dt, bytes, tick)) in steps.into_iter().enumerate() {
            let now = T0 + dt;
            if tick {
                prop_assert!(iso.rotate_due(now).is_empty());
            }
            prop_assert_eq!(carry(&mut iso, i as u32 + 1, &first, bytes), None);
            let again = creds(&mut iso, "https://example.com/", None, now);
            prop_assert!(!again.rotated);
            prop_assert_eq!(pair(&again), pair(&first));
        }
        prop_assert_eq!(iso.next_rotation_at(), None);
    }

    #[test]
    fn max_age_rotation_happens_exactly_at_the_advertised_expiry(
        age_s in 1u64..=604_800,
        offsets in prop::collection::vec(0u64..2_000_000_000, 1..12),
    ) {
        let mut iso = isolator_with(policy(Some(age_s), None, false));
        let mut current = creds(&mut iso, "https://example.com/", None, T0);
        let mut now = T0;
        let mut seen = HashSet::from([current.password.clone()]);
        for dt in offsets {
            now += dt;
            let expiry = current.expires_at_ms.expect("max-age credentials expire");
            let next = creds(&mut iso, "https://example.com/", None, now);
            if now >= expiry {
                prop_assert!(next.rotated);
                prop_assert!(seen.insert(next.password.clone()), "a rotation never reuses a password");
                prop_assert_eq!(next.expires_at_ms, Some(now + age_s * 1000));
            } else {
                prop_assert!(!next.rotated);
                prop_assert_eq!(&next.password, &current.password);
                prop_assert_eq!(next.expires_at_ms, Some(expiry));
            }
            prop_assert_eq!(&next.username, &current.username);
            current = next;
        }
    }

    #[test]
    fn max_bytes_rotates_at_the_threshold_never_before(
        max in 1024u64..1_000_000,
        chunks in prop::collection::vec(1u64..300_000, 1..30),
    ) {
        let mut iso = isolator_with(policy(None, Some(max), false));
        let mut current = creds(&mut iso, "https://example.com/", None, T0);
        let mut carried = 0u64;
        for (i, chunk) in chunks.into_iter().enumerate() {
            carried += chunk;
            let rotated = carry(&mut iso, i as u32 + 1, &current, chunk);
            if carried >= max {
                prop_assert_eq!(rotated, Some(site("example.com")));
                let next = creds(&mut iso, "https://example.com/", None, T0);
                prop_assert_ne!(&next.password, &current.password);
                current = next;
                carried = 0;
            } else {
                prop_assert_eq!(rotated, None);
            }
        }
    }

    #[test]
    fn rotation_changes_only_that_site(
        rotations in 1usize..5,
        others in prop::collection::vec("[a-z]{1,10}", 1..6),
        tab in prop::option::of(0i64..1000),
    ) {
        let mut iso = isolator_with(policy(Some(10), None, tab.is_some()));
        let urls: Vec<String> = others.iter().map(|l| format!("https://{l}.example.org/")).collect();
        let before: Vec<_> = urls.iter().map(|u| pair(&creds(&mut iso, u, tab, T0))).collect();
        let mut now = T0;
        creds(&mut iso, "https://example.com/", tab, now);
        for _ in 0..rotations {
            now += 10_000;
            prop_assert_eq!(iso.rotate_due(now), vec![site("example.com")]);
            creds(&mut iso, "https://example.com/", tab, now);
        }
        for (u, b) in urls.iter().zip(before) {
            prop_assert_eq!(pair(&creds(&mut iso, u, tab, now)), b);
        }
    }
}
