//! An arbitrary Public Suffix List (a system copy the broker may prefer over its own) and
//! lookups in it.
//!
//! Input: the list's text, a line `=====`, then one host per line (without the separator, the
//! hosts are looked up in the vendored list and the input is only parsed as a list).
//!
//! Properties: a list that parses holds at least one suffix; the public suffix of a host is a
//! whole-label suffix of it; the registrable domain is that suffix plus exactly one label, or
//! none when the suffix is the whole host; lookups agree with each other.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use persite::Psl;
use persite::isolation::version_header_date;

fn vendored() -> &'static Psl {
    static PSL: OnceLock<Psl> = OnceLock::new();
    PSL.get_or_init(|| Psl::vendored().expect("the vendored list parses"))
}

/// The lookups' precondition: lowercase, no empty label, no trailing dot.
fn is_lookup_host(host: &str) -> bool {
    !host.is_empty()
        && host.split('.').all(|label| !label.is_empty())
        && host == host.to_ascii_lowercase()
}

fn check_lookups(psl: &Psl, host: &str) {
    let suffix = psl.public_suffix(host);
    assert!(!suffix.is_empty(), "{host:?}");
    assert!(host.ends_with(suffix));
    let head = &host[..host.len() - suffix.len()];
    assert!(
        head.is_empty() || head.ends_with('.'),
        "{host:?} → {suffix:?}"
    );
    match psl.registrable_domain(host) {
        None => assert_eq!(suffix, host),
        Some(domain) => {
            assert!(host.ends_with(domain));
            let label = domain
                .strip_suffix(suffix)
                .and_then(|d| d.strip_suffix('.'))
                .expect("registrable domain = label + suffix");
            assert!(
                !label.is_empty() && !label.contains('.'),
                "{host:?} → {domain:?}"
            );
            let rest = &host[..host.len() - domain.len()];
            assert!(rest.is_empty() || rest.ends_with('.'));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = version_header_date(text);
    let (list, hosts) = match text.split_once("\n=====\n") {
        Some((list, hosts)) => (Some(list), hosts),
        None => (None, text),
    };
    let custom = match list {
        Some(list) => match Psl::from_text(list) {
            Ok(psl) => {
                assert!(!psl.is_empty());
                Some(psl)
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                None
            }
        },
        None => {
            if let Ok(psl) = Psl::from_text(text) {
                assert!(!psl.is_empty());
            }
            None
        }
    };
    let psl = custom.as_ref().unwrap_or_else(|| vendored());
    for host in hosts.lines().filter(|h| is_lookup_host(h)) {
        check_lookups(psl, host);
    }
});
