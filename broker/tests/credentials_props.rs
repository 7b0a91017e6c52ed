//! Property tests: credentials are stable per site, distinct across sites and containers,
//! well-formed for any input, and hostile input errors cleanly.

use std::sync::{Arc, LazyLock};

use persite::isolation::{CREDENTIAL_LEN, MAX_SOCKS_CREDENTIAL_LEN};
use persite::{Isolator, Psl};
use proptest::prelude::*;

static PSL: LazyLock<Arc<Psl>> =
    LazyLock::new(|| Arc::new(Psl::vendored().expect("vendored list")));

const T0: u64 = 1_800_000_000_000;

fn isolator(key: [u8; 32]) -> Isolator {
    Isolator::with_key(key, PSL.clone())
}

/// A DNS label (letters, digits, inner hyphens), not a punycode `xn--` A-label.
fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?".prop_filter("not an A-label", |l| !l.starts_with("xn--"))
}

/// Suffixes covering ICANN, multi-level, wildcard-exception, private and onion rules.
fn suffix() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "com",
        "org",
        "co.uk",
        "nakahara.kawasaki.jp",
        "github.io",
        "onion",
        "xn--55qx5d.cn",
        "de",
        "blogspot.com",
        "unlisted-tld",
    ])
}

fn container() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("firefox-default".to_owned()),
        Just("firefox-private".to_owned()),
        (1u32..=u32::MAX).prop_map(|n| format!("firefox-container-{n}")),
    ]
}

/// A URL on `domain` with random subdomains, scheme, case, port, user info, path and query.
fn url_on(domain: String) -> impl Strategy<Value = String> {
    (
        prop::collection::vec(label(), 0..3),
        prop::sample::select(vec!["http", "https", "ws", "wss", "HTTPS"]),
        any::<bool>(),
        prop::option::of(1u16..),
        prop::option::of("[a-z]{1,5}(:[a-z]{1,5})?"),
        "(/[a-zA-Z0-9._~-]{0,12}){0,3}(\\?[a-z=&]{0,10})?",
    )
        .prop_map(move |(subs, scheme, upper, port, user, path)| {
            let mut host = subs.join(".");
            if !host.is_empty() {
                host.push('.');
            }
            host.push_str(&domain);
            if upper {
                host = host.to_uppercase();
            }
            let user = user.map(|u| format!("{u}@")).unwrap_or_default();
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            format!("{scheme}://{user}{host}{port}{path}")
        })
}

fn assert_well_formed(text: &str) {
    assert!(!text.is_empty());
    assert!(text.len() <= MAX_SOCKS_CREDENTIAL_LEN);
    assert_eq!(text.len(), CREDENTIAL_LEN);
    assert!(!text.starts_with('<'));
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
}

proptest! {
    #[test]
    fn same_site_gives_same_credentials(
        (domain, first, second) in (label(), suffix()).prop_flat_map(|(name, suffix)| {
            let domain = format!("{name}.{suffix}");
            (Just(domain.clone()), url_on(domain.clone()), url_on(domain))
        }),
        container in container(),
        key in any::<[u8; 32]>(),
    ) {
        // Random names can hit real private suffixes (`x0.com` is one); skip those.
        prop_assume!(PSL.registrable_domain(&domain) == Some(domain.as_str()));
        let mut iso = isolator(key);
        let a = iso.credentials_at(&first, &container, T0).expect("first");
        let b = iso.credentials_at(&second, &container, T0).expect("second");
        prop_assert_eq!(&a.site, &b.site, "{} vs {}", first, second);
        prop_assert_eq!(a.username, b.username);
        prop_assert_eq!(a.password, b.password);
        // The bare registrable domain names the same site.
        let bare = iso.credentials_at(&domain, &container, T0).expect("bare");
        prop_assert_eq!(bare.site, a.site);
    }

    #[test]
    fn different_sites_or_containers_get_different_usernames(
        a in (label(), suffix()),
        b in (label(), suffix()),
        ca in container(),
        cb in container(),
        key in any::<[u8; 32]>(),
    ) {
        let mut iso = isolator(key);
        let x = iso.credentials_at(&format!("{}.{}", a.0, a.1), &ca, T0).expect("x");
        let y = iso.credentials_at(&format!("{}.{}", b.0, b.1), &cb, T0).expect("y");
        if x.site != y.site || x.container != y.container {
            prop_assert_ne!(&x.username, &y.username);
            prop_assert_ne!(&x.password, &y.password);
        } else {
            prop_assert_eq!(&x, &y);
        }
        prop_assert_eq!(iso.site_for_username(&x.username), Some(&x.site));
    }

    #[test]
    fn new_circuit_changes_only_that_site(
        sites in prop::collection::hash_set((label(), suffix()), 2..6),
        containers in prop::collection::vec(container(), 1..4),
        pick in any::<prop::sample::Index>(),
        key in any::<[u8; 32]>(),
    ) {
        let mut iso = isolator(key);
        let hosts: Vec<String> = sites.iter().map(|(l, s)| format!("{l}.{s}")).collect();
        let before: Vec<_> = hosts.iter()
            .flat_map(|h| containers.iter().map(move |c| (h, c)))
            .map(|(h, c)| iso.credentials_at(h, c, T0).expect("before"))
            .collect();
        let target = iso.site_of(pick.get(&hosts).as_str()).expect("target");
        iso.new_circuit(&target);
        for old in &before {
            let new = iso.issue(old.site.clone(), old.container, T0);
            prop_assert_eq!(&new.username, &old.username);
            if old.site == target {
                prop_assert_ne!(&new.password, &old.password);
            } else {
                prop_assert_eq!(&new.password, &old.password);
            }
        }
    }

    #[test]
    fn any_input_gives_well_formed_credentials_or_a_clean_error(
        input in prop_oneof![
            any::<String>(),
            "[a-zA-Z+.-]{1,8}:[ -~]{0,40}",
            "[ -~]{0,60}",
            "(https?://)?[a-z0-9.\\[\\]:%@-]{0,40}(/.*)?",
        ],
        container in container(),
    ) {
        let mut iso = isolator([9; 32]);
        match iso.credentials_at(&input, &container, T0) {
            Ok(issued) => {
                assert_well_formed(&issued.username);
                assert_well_formed(&issued.password);
                let site = issued.site.as_str();
                prop_assert!(!site.is_empty() && site.len() <= 255, "{:?}", site);
                // No site with a dot, bracket or colon (every name with a registrable domain, every
                // IP) can appear: the credential alphabet has none of them. (A dotless name like
                // `c` may occur by chance in 43 random characters; that reveals nothing.)
                if site.bytes().any(|b| matches!(b, b'.' | b'[' | b':')) {
                    prop_assert!(!issued.username.contains(site) && !issued.password.contains(site));
                }
                prop_assert!(site.bytes().all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase()), "{:?}", site);
                // A site is a fixed point: parsing it again gives itself.
                prop_assert_eq!(&iso.parse_site(site).expect("site parses"), &issued.site);
                if !issued.site.is_catch_all() {
                    prop_assert_eq!(&iso.site_of(site).expect("site is a host"), &issued.site);
                }
            }
            Err(error) => prop_assert_eq!(error.code(), "invalid_url"),
        }
    }

    #[test]
    fn hostile_bytes_and_huge_labels_error_cleanly(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        label_len in 64usize..400,
        prefix in prop::sample::select(vec!["", "http://", "https://", "blob:https://", "view-source:http://"]),
    ) {
        let iso = isolator([5; 32]);
        let lossy = String::from_utf8_lossy(&bytes);
        let _ = iso.site_of(&format!("{prefix}{lossy}"));
        let with_nul = format!("{prefix}exa\0{lossy}mple.com");
        prop_assert!(iso.site_of(&with_nul).is_err());
        let long = format!("{prefix}{}.example.com/", "a".repeat(label_len));
        prop_assert_eq!(iso.site_of(&long).expect_err("long label").code(), "invalid_url");
        let leading_dot = format!("{prefix}.{}.com/", "a".repeat(label_len % 60 + 1));
        prop_assert!(iso.site_of(&leading_dot).is_err());
    }
}
