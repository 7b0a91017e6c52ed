//! Arbitrary first-party URLs and containers (as the extension or any local client sends them in
//! `credentials`) into the site function and the isolator, with the vendored Public Suffix List.
//!
//! Input: `container\nurl` (no newline: the whole input is the URL, in `firefox-default`).
//!
//! Properties: a site is the catch-all or a host: never a path, query, fragment, user info,
//! port, whitespace or control character of the input, at most 253 bytes (an IPv6 literal is
//! bracketed); it is canonical (`Site::parse` of it gives it back); the same input gives the
//! same site; credentials are non-empty, at most 255 bytes (SOCKS5 RFC 1929) and never start
//! with `<` (tor reads `<torS0X>` as its own extended SOCKS fields).
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use persite::{Isolator, Psl, Site};

fn psl() -> &'static Arc<Psl> {
    static PSL: OnceLock<Arc<Psl>> = OnceLock::new();
    PSL.get_or_init(|| Arc::new(Psl::vendored().expect("the vendored list parses")))
}

fn check_site(site: &Site) {
    let text = site.as_str();
    if site.is_catch_all() {
        return;
    }
    assert!(!text.is_empty());
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner.strip_suffix(']').expect("a bracketed IPv6 literal");
        assert!(inner.parse::<std::net::Ipv6Addr>().is_ok(), "{text:?}");
    } else {
        assert!(text.len() <= 253, "{} bytes", text.len());
        assert!(
            !text.bytes().any(|b| b.is_ascii_control()
                || b.is_ascii_whitespace()
                || b"/\\?#@:[]".contains(&b)
                || !b.is_ascii()),
            "{text:?}"
        );
        assert_eq!(text, text.to_ascii_lowercase());
    }
    let again = Site::parse(text, psl()).expect("a site parses as a site");
    assert_eq!(&again, site, "not canonical");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (container, url) = text.split_once('\n').unwrap_or(("firefox-default", text));
    let psl = psl();
    if let Ok(site) = Site::of(url, psl) {
        check_site(&site);
        assert_eq!(Site::of(url, psl).ok(), Some(site), "not deterministic");
    }
    if let Ok(site) = Site::parse(url, psl) {
        check_site(&site);
    }
    let mut isolator = Isolator::with_key([7; 32], psl.clone());
    match isolator.credentials_at(url, container, 1_000) {
        Ok(issued) => {
            check_site(&issued.site);
            for credential in [&issued.username, &issued.password] {
                assert!(!credential.is_empty() && credential.len() <= 255);
                assert!(!credential.starts_with('<'));
            }
            let again = isolator
                .credentials_at(url, container, 1_000)
                .expect("the same request succeeds again");
            assert_eq!(again.username, issued.username);
            assert_eq!(again.password, issued.password);
        }
        Err(e) => assert!(
            ["invalid_url", "invalid_container"].contains(&e.code().as_str()),
            "{e:?}"
        ),
    }
});
