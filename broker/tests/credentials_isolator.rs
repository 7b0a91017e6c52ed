//! Isolator behaviour: stability, new circuit, new identity, catch-all rotation, username map.

use std::collections::HashSet;
use std::sync::Arc;

use persite::isolation::CATCH_ALL_MAX_AGE_MS;
use persite::{Isolator, Psl};

const T0: u64 = 1_800_000_000_000;

fn isolator() -> Isolator {
    Isolator::with_key([3; 32], Arc::new(Psl::vendored().expect("vendored list")))
}

#[test]
fn same_site_same_credentials_across_urls_and_time() {
    let mut iso = isolator();
    let a = iso
        .credentials_at("https://www.example.co.uk/a", "firefox-default", T0)
        .expect("a");
    let b = iso
        .credentials_at(
            "http://mail.EXAMPLE.co.uk:8080/b?c",
            "firefox-default",
            T0 + 86_400_000,
        )
        .expect("b");
    assert_eq!(
        (a.username.as_str(), a.password.as_str()),
        (b.username.as_str(), b.password.as_str())
    );
    assert_eq!(a.site.as_str(), "example.co.uk");
    assert_eq!(a.expires_at_ms, None);
    assert!(!a.rotated && !b.rotated);
}

#[test]
fn same_key_gives_same_credentials_in_a_new_isolator_and_another_key_does_not() {
    let one = isolator()
        .credentials("https://example.com/", "firefox-default")
        .expect("one");
    let two = isolator()
        .credentials("https://example.com/", "firefox-default")
        .expect("two");
    assert_eq!(one, two);
    let psl = Arc::new(Psl::vendored().expect("vendored list"));
    let other = Isolator::with_key([4; 32], psl.clone())
        .credentials("https://example.com/", "firefox-default")
        .expect("other");
    assert_ne!(one.username, other.username);
    assert_ne!(one.password, other.password);
    let random = Isolator::new(psl)
        .credentials("https://example.com/", "firefox-default")
        .expect("random");
    assert_ne!(one.username, random.username);
}

#[test]
fn containers_and_sites_separate_usernames() {
    let mut iso = isolator();
    let mut usernames = HashSet::new();
    let mut passwords = HashSet::new();
    for url in [
        "https://alice.github.io/",
        "https://bob.github.io/",
        "https://github.com/",
        "about:blank",
        "http://[::1]/",
    ] {
        for container in [
            "firefox-default",
            "firefox-private",
            "firefox-container-1",
            "firefox-container-2",
        ] {
            let issued = iso.credentials_at(url, container, T0).expect("credentials");
            assert_eq!(issued.container.to_string(), container);
            assert!(usernames.insert(issued.username), "{url} {container}");
            assert!(passwords.insert(issued.password), "{url} {container}");
        }
    }
}

#[test]
fn new_circuit_changes_only_that_sites_passwords_in_every_container() {
    let mut iso = isolator();
    let containers = ["firefox-default", "firefox-private", "firefox-container-7"];
    let urls = ["https://www.example.com/", "https://other.org/"];
    let before: Vec<_> = urls
        .iter()
        .flat_map(|u| containers.iter().map(move |c| (u, c)))
        .map(|(u, c)| iso.credentials_at(u, c, T0).expect("before"))
        .collect();
    let site = iso.parse_site("www.example.com").expect("site");
    assert_eq!(site.as_str(), "example.com");
    iso.new_circuit(&site);
    for old in &before {
        let new = iso
            .credentials_at(old.site.as_str(), &old.container.to_string(), T0)
            .expect("after");
        assert_eq!(new.username, old.username, "usernames never change");
        if old.site == site {
            assert_ne!(new.password, old.password, "{} must change", old.site);
        } else {
            assert_eq!(new.password, old.password, "{} must not change", old.site);
        }
    }
    // A second new circuit gives yet another password, never a previous one.
    let second = iso
        .credentials_at("example.com", "firefox-default", T0)
        .expect("second");
    iso.new_circuit(&site);
    let third = iso
        .credentials_at("example.com", "firefox-default", T0)
        .expect("third");
    assert_ne!(second.password, third.password);
    assert_ne!(before[0].password, third.password);
}

#[test]
fn new_identity_changes_every_password_and_forgets_the_map() {
    let mut iso = isolator();
    let urls = ["https://example.com/", "https://other.org/", "about:blank"];
    let before: Vec<_> = urls
        .iter()
        .map(|u| {
            iso.credentials_at(u, "firefox-default", T0)
                .expect("before")
        })
        .collect();
    assert_eq!(iso.sites_seen(), 3);
    assert_eq!(iso.epoch(), 0);
    assert!(iso.site_for_username(&before[0].username).is_some());
    assert_eq!(iso.new_identity(), 1);
    assert_eq!(iso.epoch(), 1);
    assert_eq!(iso.sites_seen(), 0);
    assert_eq!(iso.site_for_username(&before[0].username), None);
    for old in &before {
        let new = iso.issue(old.site.clone(), old.container, T0);
        assert_ne!(new.password, old.password, "{}", old.site);
        assert_eq!(new.username, old.username, "{}", old.site);
    }
    // A new circuit before the new identity cannot make a password repeat after it.
    let site = iso.parse_site("example.com").expect("site");
    iso.new_circuit(&site);
    let bumped = iso
        .credentials_at("example.com", "firefox-default", T0)
        .expect("bumped");
    assert_eq!(iso.new_identity(), 2);
    let fresh = iso
        .credentials_at("example.com", "firefox-default", T0)
        .expect("fresh");
    assert!(
        ![before[0].password.as_str(), bumped.password.as_str()].contains(&fresh.password.as_str())
    );
}

#[test]
fn catch_all_rotates_on_use_once_ten_minutes_old() {
    let mut iso = isolator();
    let first = iso
        .credentials_at("about:blank", "firefox-default", T0)
        .expect("first");
    assert!(first.site.is_catch_all());
    assert!(!first.rotated);
    assert_eq!(first.expires_at_ms, Some(T0 + CATCH_ALL_MAX_AGE_MS));
    let other_container = iso
        .credentials_at("moz-extension://x/", "firefox-container-1", T0)
        .expect("c1");

    // Just before the deadline: same credentials, same expiry.
    let early = iso
        .credentials_at(
            "moz-extension://abc/x",
            "firefox-default",
            T0 + CATCH_ALL_MAX_AGE_MS - 1,
        )
        .expect("early");
    assert_eq!(
        (
            early.username.as_str(),
            early.password.as_str(),
            early.rotated
        ),
        (first.username.as_str(), first.password.as_str(), false)
    );
    assert_eq!(early.expires_at_ms, first.expires_at_ms);

    // Regular sites never rotate by time.
    let site_before = iso
        .credentials_at("https://example.com/", "firefox-default", T0)
        .expect("site");
    let later = T0 + 3 * CATCH_ALL_MAX_AGE_MS;
    let site_after = iso
        .credentials_at("https://example.com/", "firefox-default", later)
        .expect("site");
    assert_eq!(site_before, site_after);

    // First use after ten minutes: rotated, flagged, new expiry from now.
    let rotated = iso
        .credentials_at("about:blank", "firefox-default", later)
        .expect("rotated");
    assert!(rotated.rotated);
    assert_eq!(rotated.username, first.username);
    assert_ne!(rotated.password, first.password);
    assert_eq!(rotated.expires_at_ms, Some(later + CATCH_ALL_MAX_AGE_MS));
    // The rotation covers every container of the catch-all.
    let other_after = iso
        .credentials_at("about:blank", "firefox-container-1", later)
        .expect("c1 after");
    assert!(
        !other_after.rotated,
        "only one request reports the rotation"
    );
    assert_ne!(other_after.password, other_container.password);
    // And is reported once.
    let again = iso
        .credentials_at("about:blank", "firefox-default", later + 1)
        .expect("again");
    assert!(!again.rotated);
    assert_eq!(again.password, rotated.password);
}

#[test]
fn manual_new_circuit_and_new_identity_restart_the_catch_all_clock() {
    let mut iso = isolator();
    let catch_all = iso.parse_site("--unknown--").expect("catch-all");
    let first = iso
        .credentials_at("about:blank", "firefox-default", T0)
        .expect("first");
    iso.new_circuit(&catch_all);
    let late = T0 + 2 * CATCH_ALL_MAX_AGE_MS;
    let fresh = iso
        .credentials_at("about:blank", "firefox-default", late)
        .expect("fresh");
    assert!(
        !fresh.rotated,
        "fresh credentials start their clock at first use"
    );
    assert_ne!(fresh.password, first.password);
    assert_eq!(fresh.expires_at_ms, Some(late + CATCH_ALL_MAX_AGE_MS));
    iso.new_identity();
    let after = iso
        .credentials_at(
            "about:blank",
            "firefox-default",
            late + 3 * CATCH_ALL_MAX_AGE_MS,
        )
        .expect("after");
    assert!(!after.rotated);
}

#[test]
fn usernames_map_back_to_their_site_for_display() {
    let mut iso = isolator();
    let a = iso
        .credentials_at("https://www.example.com/", "firefox-default", T0)
        .expect("a");
    let b = iso
        .credentials_at("https://example.com/", "firefox-container-4", T0)
        .expect("b");
    assert_eq!(
        iso.site_for_username(&a.username).map(|s| s.as_str()),
        Some("example.com")
    );
    assert_eq!(
        iso.site_for_username(&b.username).map(|s| s.as_str()),
        Some("example.com")
    );
    assert_eq!(iso.site_for_username(&a.password), None);
    assert_eq!(iso.site_for_username("example.com"), None);
    assert_eq!(iso.site_for_username(""), None);
    assert_eq!(iso.sites_seen(), 1);
}

#[test]
fn bad_input_is_reported_with_protocol_codes_and_changes_nothing() {
    let mut iso = isolator();
    let url = iso
        .credentials_at("http://exa mple.com", "firefox-default", T0)
        .expect_err("url");
    assert_eq!(url.code(), "invalid_url");
    assert!(url.to_string().contains("http://exa mple.com"), "{url}");
    let container = iso
        .credentials_at("https://example.com/", "firefox-container-x", T0)
        .expect_err("container");
    assert_eq!(container.code(), "invalid_container");
    let site = iso.parse_site("https://example.com/").expect_err("site");
    assert_eq!(site.code(), "invalid_field");
    assert_eq!(iso.sites_seen(), 0);
}

#[test]
fn debug_output_never_shows_the_key() {
    let iso = Isolator::with_key(
        [0xab; 32],
        Arc::new(Psl::vendored().expect("vendored list")),
    );
    let shown = format!("{iso:?}");
    assert!(!shown.to_lowercase().contains("abab"), "{shown}");
    assert!(!shown.contains("171"), "{shown}");
}
