//! The first-party **site** of a URL or host: the key every isolation decision hangs on.
//!
//! Rules (they follow Firefox's first-party isolation, `OriginAttributes::PopulateTopLevelInfoFromURI`,
//! except where noted):
//! - Network URLs (`http`, `https`, `ws`, `wss`, `ftp`) and bare hosts: the registrable domain
//!   (eTLD+1) of the host by the Public Suffix List, private section included; lowercase, IDNA
//!   to punycode (the `url` crate's WHATWG host parser), one trailing dot removed, port and user
//!   info ignored. A host with no registrable domain (`localhost`, a public suffix such as `com`
//!   or `co.uk`, an unlisted single label) is its own site.
//! - IP literals are their own site: `192.0.2.1`, `[2001:db8::1]` (brackets always; an IPv6 zone
//!   id such as `%25eth0` is dropped, so all zones of one address are one site).
//! - `blob:` and `view-source:` wrap another URL: the site of the wrapped network URL (one level
//!   of wrapping; `blob:null/…` and other opaque origins go to the catch-all).
//! - Every other scheme is not a network first party and maps to the one catch-all key
//!   [`CATCH_ALL`] = `--unknown--` (as Tor Browser): `about:`, `moz-extension:`, `file:`,
//!   `data:`, `javascript:`, `chrome:`, `resource:`, `mailto:`, unknown schemes…
//!   Firefox gives `about:` pages a private constant first party; Persite folds them into the
//!   catch-all, which Tor Browser also uses for traffic without a first party.
//! - Without a scheme the input is a bare host, optionally with port, user info or path
//!   (`example.com`, `example.com:8080`, `[::1]:80`, `2001:db8::1`). Since `name:rest` is also
//!   URL syntax, an unknown scheme is read as `host:port` when it contains a dot
//!   (`example.com:8080`), when `rest` is a port number (`localhost:8080`) or when `rest` holds
//!   user info (`user:pw@host`); otherwise it is an unknown scheme (catch-all).
//!
//! Refused with a typed error, never a panic: the host `--unknown--` (it would share the
//! catch-all's credentials), inputs over [`MAX_URL_LEN`] (Firefox's own URL
//! limit, `network.standard-url.max-length`), control characters in scheme or host, hosts over
//! 253 bytes or with labels over 63 bytes or empty labels (`.example.com`), invalid punycode,
//! network URLs without a host. Only the scheme and authority are ever parsed, so a long path
//! costs one byte scan.
//!
//! Scheme detection and the authority split (user info, host, port) are hand-written (a few
//! lines each) because `url::Url::parse` parses and copies the whole URL, which was a large
//! share of the per-request cost (`docs/performance.md`); the host itself still goes through
//! `url::Host::parse`, so percent-decoding, IDNA and IPv4/IPv6 forms follow WHATWG exactly.

use std::fmt;
use std::net::Ipv6Addr;
use std::sync::Arc;

use url::Host;

use crate::isolation::error::{IsolationError, UrlProblem};
use crate::isolation::psl::Psl;

/// The catch-all site for requests without a network first party.
pub(crate) const CATCH_ALL: &str = persite_protocol::limits::CATCH_ALL_SITE;
/// Longest accepted input, in bytes (Firefox's default `network.standard-url.max-length`).
pub const MAX_URL_LEN: usize = 1024 * 1024;
/// Longest accepted user info + host + port, in bytes.
pub(crate) const MAX_AUTHORITY_LEN: usize = 2048;
/// Longest accepted host name, in bytes (DNS limit, without the trailing dot).
pub(crate) const MAX_HOST_LEN: usize = 253;
/// Longest accepted host label, in bytes (DNS limit).
pub(crate) const MAX_LABEL_LEN: usize = 63;
/// Longest string recognised as a URL scheme.
const MAX_SCHEME_LEN: usize = 64;

/// Schemes whose URLs name a host we connect to.
const NETWORK_SCHEMES: &[&str] = &["http", "https", "ws", "wss", "ftp"];
/// Schemes whose URL wraps another URL that determines the site.
const WRAPPING_SCHEMES: &[&str] = &["blob", "view-source"];
/// Schemes known not to name a network host; they select the catch-all. Listed so that
/// `tel:911` is not mistaken for host `tel` port 911; any other unknown scheme is also
/// catch-all unless it looks like `host:port`.
const NON_NETWORK_SCHEMES: &[&str] = &[
    "about",
    "chrome",
    "data",
    "file",
    "jar",
    "javascript",
    "mailto",
    "moz-extension",
    "moz-icon",
    "moz-nullprincipal",
    "moz-page-thumb",
    "moz-safe-about",
    "moz-src",
    "page-icon",
    "resource",
    "sms",
    "tel",
    "wyciwyg",
];

/// A first-party site: a registrable domain, a host without one, an IP literal, or the
/// catch-all `--unknown--`. Only produced by parsing, so always canonical.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Site(Arc<str>);

impl Site {
    /// The catch-all site `--unknown--`.
    pub fn catch_all() -> Site {
        Site(Arc::from(CATCH_ALL))
    }

    /// The site as text, e.g. `example.co.uk`, `[2001:db8::1]`, `--unknown--`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the catch-all site.
    pub fn is_catch_all(&self) -> bool {
        &*self.0 == CATCH_ALL
    }

    /// The site of a URL or bare host (see the module doc for the rules).
    pub fn of(url_or_host: &str, psl: &Psl) -> Result<Site, IsolationError> {
        site_of(url_or_host, psl, false)
            .map_err(|problem| IsolationError::invalid_url(url_or_host, problem))
    }

    /// Parses a `site` field: `--unknown--` or a host (name or IP literal, no scheme, port, user
    /// info or path). A host that is not itself a site is widened to its site, so
    /// `www.example.com` names `example.com`.
    pub fn parse(site: &str, psl: &Psl) -> Result<Site, IsolationError> {
        if site == CATCH_ALL {
            return Ok(Site::catch_all());
        }
        let host = site.trim_matches(|c: char| c <= ' ');
        let looks_like_host = !host.contains(['/', '\\', '?', '#', '@'])
            && ((host.starts_with('[') && host.ends_with(']'))
                || !host.contains(':')
                || is_bare_ipv6(host));
        if !looks_like_host {
            return Err(IsolationError::invalid_site(site, UrlProblem::NotAHost));
        }
        site_of(host, psl, false).map_err(|problem| IsolationError::invalid_site(site, problem))
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Site({:?})", &*self.0)
    }
}

impl AsRef<str> for Site {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for Site {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// The site of `input`; `wrapped` is set inside `blob:`/`view-source:` (no second wrapping).
fn site_of(input: &str, psl: &Psl, wrapped: bool) -> Result<Site, UrlProblem> {
    if input.len() > MAX_URL_LEN {
        return Err(UrlProblem::TooLong);
    }
    // WHATWG URL parsing ignores leading and trailing C0 controls and spaces.
    let input = input.trim_matches(|c: char| c <= ' ');
    if input.is_empty() {
        return Err(UrlProblem::Empty);
    }
    if !wrapped && is_bare_ipv6(input) {
        return ipv6_site(input);
    }
    let Some((scheme, rest)) = split_scheme(input) else {
        return network_site(input, psl);
    };
    let scheme_is = |list: &[&str]| list.iter().any(|s| s.eq_ignore_ascii_case(scheme));
    if scheme_is(NETWORK_SCHEMES) {
        return network_site(rest, psl);
    }
    if scheme_is(WRAPPING_SCHEMES) {
        if wrapped {
            return Ok(Site::catch_all());
        }
        return match split_scheme(rest) {
            Some((inner, inner_rest))
                if NETWORK_SCHEMES
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(inner)) =>
            {
                network_site(inner_rest, psl)
            }
            // `blob:null/…` (opaque origin), `blob:moz-extension://…`, …
            _ => Ok(Site::catch_all()),
        };
    }
    if !wrapped && !scheme_is(NON_NETWORK_SCHEMES) && looks_like_host_and_port(scheme, rest) {
        return network_site(input, psl);
    }
    Ok(Site::catch_all())
}

/// Splits `scheme:rest` when `input` starts with a syntactically valid scheme.
fn split_scheme(input: &str) -> Option<(&str, &str)> {
    let bytes = input.as_bytes();
    if !bytes.first()?.is_ascii_alphabetic() {
        return None;
    }
    let end = bytes
        .iter()
        .take(MAX_SCHEME_LEN + 1)
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))?;
    (bytes[end] == b':').then(|| (&input[..end], &input[end + 1..]))
}

/// Whether `scheme:rest` is better read as a bare `host:port` (see the module doc).
fn looks_like_host_and_port(scheme: &str, rest: &str) -> bool {
    let authority = &rest[..authority_end(rest)];
    scheme.contains('.')
        || authority.contains('@')
        || (!authority.is_empty() && authority.bytes().all(|b| b.is_ascii_digit()))
}

/// An unbracketed IPv6 address, optionally with a zone id (`2001:db8::1`, `fe80::1%eth0`).
fn is_bare_ipv6(input: &str) -> bool {
    input.len() <= 128
        && input.bytes().filter(|&b| b == b':').count() >= 2
        && !input.contains(['[', '/', '@'])
        && strip_zone(input).parse::<Ipv6Addr>().is_ok()
}

fn strip_zone(address: &str) -> &str {
    address
        .split_once('%')
        .map_or(address, |(address, _zone)| address)
}

fn ipv6_site(address: &str) -> Result<Site, UrlProblem> {
    let address: Ipv6Addr = strip_zone(address)
        .parse()
        .map_err(|_| UrlProblem::Parse(url::ParseError::InvalidIpv6Address))?;
    Ok(ipv6_literal_site(address))
}

/// IPv6 sites use the WHATWG serialisation, bracketed (`[::ffff:c000:201]`), as Firefox does.
fn ipv6_literal_site(address: Ipv6Addr) -> Site {
    Site(Arc::from(Host::<&str>::Ipv6(address).to_string()))
}

/// Byte offset where the authority of `rest` ends (WHATWG: at `/`, `\`, `?` or `#`).
fn authority_end(rest: &str) -> usize {
    rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len())
}

/// The site of the host in `rest`, the part of a network URL after `scheme:` (or a bare host).
fn network_site(rest: &str, psl: &Psl) -> Result<Site, UrlProblem> {
    // WHATWG special schemes accept any number of slashes or backslashes before the authority.
    let rest = rest.trim_start_matches(['/', '\\']);
    let authority = &rest[..authority_end(rest)];
    if authority.len() > MAX_AUTHORITY_LEN {
        return Err(UrlProblem::AuthorityTooLong);
    }
    if authority.bytes().any(|b| b.is_ascii_control()) {
        return Err(UrlProblem::ControlCharacter);
    }
    if authority.is_empty() {
        return Err(UrlProblem::NoHost);
    }
    // The host follows the last `@` (WHATWG); user info may hold anything.
    let host_and_port = &authority[authority.rfind('@').map_or(0, |at| at + 1)..];
    let host_text = strip_port(host_and_port)?;
    let host = match strip_zone_id(host_text) {
        Some(without_zone) => Host::parse(&without_zone),
        None => Host::parse(host_text),
    }
    .map_err(UrlProblem::Parse)?;
    match host {
        Host::Domain(domain) => domain_site(&domain, psl),
        Host::Ipv4(address) => Ok(Site(Arc::from(address.to_string()))),
        Host::Ipv6(address) => Ok(ipv6_literal_site(address)),
    }
}

/// The host of `host[:port]`, checking the port as WHATWG does (digits, at most 65535, may be
/// empty).
fn strip_port(host_and_port: &str) -> Result<&str, UrlProblem> {
    let (host, port) = if host_and_port.starts_with('[') {
        match host_and_port.find(']') {
            Some(close) => {
                let (host, rest) = host_and_port.split_at(close + 1);
                match rest.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None if rest.is_empty() => (host, None),
                    None => return Err(UrlProblem::Parse(url::ParseError::InvalidPort)),
                }
            }
            None => return Err(UrlProblem::Parse(url::ParseError::InvalidIpv6Address)),
        }
    } else {
        match host_and_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_and_port, None),
        }
    };
    if let Some(port) = port {
        let digits_only = port.bytes().all(|b| b.is_ascii_digit());
        let value = port.trim_start_matches('0');
        if !digits_only || value.len() > 5 || value.parse::<u32>().unwrap_or(0) > 65_535 {
            return Err(UrlProblem::Parse(url::ParseError::InvalidPort));
        }
    }
    if host.is_empty() {
        return Err(UrlProblem::Parse(url::ParseError::EmptyHost));
    }
    Ok(host)
}

/// `[fe80::1]` for `[fe80::1%25eth0]` or `[fe80::1%eth0]`: the WHATWG parser refuses zone ids,
/// which only matter on the local link. `None` when there is no zone id.
fn strip_zone_id(host: &str) -> Option<String> {
    let inner = host.strip_prefix('[')?.strip_suffix(']')?;
    let (address, _zone) = inner.split_once('%')?;
    Some(format!("[{address}]"))
}

/// The site of a lowercase, punycoded domain as the `url` crate serialises it.
fn domain_site(domain: &str, psl: &Psl) -> Result<Site, UrlProblem> {
    let host = domain.strip_suffix('.').unwrap_or(domain);
    if host.is_empty() {
        return Err(UrlProblem::NoHost);
    }
    if host.len() > MAX_HOST_LEN {
        return Err(UrlProblem::HostTooLong);
    }
    for label in host.split('.') {
        if label.is_empty() {
            return Err(UrlProblem::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(UrlProblem::LabelTooLong);
        }
    }
    let site = psl.registrable_domain(host).unwrap_or(host);
    if site == CATCH_ALL {
        // `http://--unknown--/` is a valid URL; it must not share the catch-all's credentials.
        return Err(UrlProblem::ReservedName);
    }
    Ok(Site(Arc::from(site)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_split() {
        assert_eq!(split_scheme("https://x"), Some(("https", "//x")));
        assert_eq!(
            split_scheme("view-source:https://x"),
            Some(("view-source", "https://x"))
        );
        assert_eq!(split_scheme("example.com:80"), Some(("example.com", "80")));
        assert_eq!(split_scheme("1.2.3.4:80"), None);
        assert_eq!(split_scheme("[::1]:80"), None);
        assert_eq!(split_scheme("example.com"), None);
        assert_eq!(split_scheme(&format!("{}:x", "a".repeat(100))), None);
    }

    #[test]
    fn zone_ids_are_dropped() {
        assert_eq!(
            strip_zone_id("[fe80::1%25eth0]").as_deref(),
            Some("[fe80::1]")
        );
        assert_eq!(
            strip_zone_id("[fe80::1%eth0]").as_deref(),
            Some("[fe80::1]")
        );
        assert_eq!(strip_zone_id("[fe80::1]"), None);
        assert_eq!(strip_zone_id("example.com"), None);
        for odd in ["]x[%", "7][y@.[-%[s", "[%", "]%[", "[%]"] {
            let _ = strip_zone_id(odd);
        }
    }

    #[test]
    fn ports_are_checked_and_stripped() {
        assert_eq!(strip_port("example.com:8080"), Ok("example.com"));
        assert_eq!(strip_port("example.com:"), Ok("example.com"));
        assert_eq!(strip_port("example.com:00080"), Ok("example.com"));
        assert_eq!(strip_port("example.com:65535"), Ok("example.com"));
        assert_eq!(strip_port("[::1]:80"), Ok("[::1]"));
        assert_eq!(strip_port("[::1]"), Ok("[::1]"));
        for bad in [
            "example.com:65536",
            "example.com:-1",
            "example.com:8o",
            "[::1]x",
            "[::1",
            ":80",
            "",
        ] {
            assert!(strip_port(bad).is_err(), "{bad:?}");
        }
    }
}
