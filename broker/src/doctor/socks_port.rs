//! Reading tor's `SocksPort` configuration lines and listener addresses, without I/O.
//!
//! `GETCONF SocksPort` gives one value per configured port, e.g.
//! `127.0.0.1:9050 KeepAliveIsolateSOCKSAuth`, `9150`, `auto`, `unix:/run/tor/socks
//! WorldWritable` or `0`; an empty value means the option is at its default (`9050`).
//! `GETINFO net/listeners/socks` gives the addresses tor actually bound, e.g. `127.0.0.1:9050`,
//! `[::1]:9050`, `unix:/run/tor/socks`. Tor's own parser is not reusable from Rust, so this
//! small reader follows the man page's `[address:]port|unix:path|auto [flags]` syntax.

use std::net::IpAddr;

/// Where one `SocksPort` line listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PortAddr {
    /// A TCP listener; `host` is `None` for a bare port (tor binds 127.0.0.1), `port` is
    /// `None` for `auto` (tor picks one).
    Tcp {
        /// The address part, brackets removed.
        host: Option<String>,
        /// The port, or `None` for `auto`.
        port: Option<u16>,
    },
    /// A Unix socket listener (the browser cannot use it through `[socks]`).
    Unix(String),
    /// `0`: SOCKS disabled.
    Disabled,
    /// Something this reader does not understand (kept for the report).
    Unknown(String),
}

/// One `SocksPort` value: address and flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SocksPortLine {
    /// The whole value as tor reported it.
    pub raw: String,
    /// Where it listens.
    pub addr: PortAddr,
    /// Isolation and other flags, as written (`KeepAliveIsolateSOCKSAuth`, `SessionGroup=3`).
    pub flags: Vec<String>,
}

impl SocksPortLine {
    /// Parses one `GETCONF SocksPort` value (empty = tor's default, `9050`).
    pub(crate) fn parse(value: &str) -> SocksPortLine {
        let value = value.trim();
        let mut words = value.split_whitespace();
        let first = words.next().unwrap_or("9050");
        let flags: Vec<String> = words.map(str::to_owned).collect();
        let addr = parse_addr(first);
        SocksPortLine {
            raw: if value.is_empty() {
                "9050 (default)".to_owned()
            } else {
                value.to_owned()
            },
            addr,
            flags,
        }
    }

    /// True when `flag` is set (tor compares flag names case-insensitively).
    pub(crate) fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }

    /// True when this line's configured address can be the endpoint `host:port`.
    pub(crate) fn may_listen_on(&self, host: &str, port: u16) -> bool {
        match &self.addr {
            PortAddr::Tcp {
                host: line_host,
                port: line_port,
            } => {
                line_port.is_none_or(|p| p == port)
                    && hosts_match(line_host.as_deref().unwrap_or("127.0.0.1"), host)
            }
            _ => false,
        }
    }
}

fn parse_addr(text: &str) -> PortAddr {
    if text == "0" {
        return PortAddr::Disabled;
    }
    if let Some(path) = text.strip_prefix("unix:") {
        return PortAddr::Unix(path.trim_matches('"').to_owned());
    }
    let port = |p: &str| match p {
        "auto" => Some(None),
        p => p.parse::<u16>().ok().filter(|&p| p != 0).map(Some),
    };
    if let Some(p) = port(text) {
        return PortAddr::Tcp {
            host: None,
            port: p,
        };
    }
    let (host, p) = match text.strip_prefix('[') {
        Some(rest) => match rest.split_once("]:") {
            Some((h, p)) => (h, p),
            None => return PortAddr::Unknown(text.to_owned()),
        },
        None => match text.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, p),
            // A bare IPv4 address or host: tor uses the default port.
            None => (text, "9050"),
            Some(_) => return PortAddr::Unknown(text.to_owned()),
        },
    };
    match port(p) {
        Some(port) => PortAddr::Tcp {
            host: Some(host.to_owned()),
            port,
        },
        None => PortAddr::Unknown(text.to_owned()),
    }
}

/// True when a listener address (`127.0.0.1:9050`, `[::1]:9050`, `0.0.0.0:9050`) accepts
/// connections to the endpoint `host:port`.
pub(crate) fn listener_matches(listener: &str, host: &str, port: u16) -> bool {
    let listener = listener.trim().trim_matches('"');
    if listener.starts_with("unix:") {
        return false;
    }
    let (l_host, l_port) = match listener.strip_prefix('[') {
        Some(rest) => match rest.split_once("]:") {
            Some(parts) => parts,
            None => return false,
        },
        None => match listener.rsplit_once(':') {
            Some(parts) => parts,
            None => return false,
        },
    };
    l_port.parse::<u16>() == Ok(port) && hosts_match(l_host, host)
}

/// True when tor's SOCKS `listeners` (`GETINFO net/listeners/socks`) take every connection the
/// browser may make to the endpoint `host:port`: for an IP literal, one listener serves it; for
/// `localhost`, which the browser may resolve to either loopback address, both `127.0.0.1` and
/// `::1` must be served, or another local user could listen on the one tor leaves free.
pub(crate) fn listeners_cover(listeners: &[String], host: &str, port: u16) -> bool {
    let wanted: Vec<String> = if host.eq_ignore_ascii_case("localhost") {
        vec!["127.0.0.1".to_owned(), "::1".to_owned()]
    } else {
        vec![host.to_owned()]
    };
    wanted
        .iter()
        .all(|w| listeners.iter().any(|l| listener_matches(l, w, port)))
}

/// True when a listening address `bound` serves connections to `wanted` (the `[socks]` host):
/// equal addresses, `localhost` for either loopback, or a wildcard bind (`0.0.0.0`, `::`) of
/// the same address family (tor sets `IPV6_V6ONLY` on its IPv6 listeners, so `::` does not
/// take IPv4 connections, and `0.0.0.0` never takes IPv6 ones).
fn hosts_match(bound: &str, wanted: &str) -> bool {
    let wanted_ips: Vec<IpAddr> = if wanted.eq_ignore_ascii_case("localhost") {
        vec![
            IpAddr::from([127, 0, 0, 1]),
            IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ]
    } else {
        match wanted.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => return bound.eq_ignore_ascii_case(wanted),
        }
    };
    let bound_ip = if bound.eq_ignore_ascii_case("localhost") {
        IpAddr::from([127, 0, 0, 1])
    } else {
        match bound.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => return false,
        }
    };
    if bound_ip.is_unspecified() {
        return wanted_ips.iter().any(|w| w.is_ipv4() == bound_ip.is_ipv4());
    }
    wanted_ips.contains(&bound_ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_socks_port_values() {
        let l = SocksPortLine::parse("127.0.0.1:9050 KeepAliveIsolateSOCKSAuth IPv6Traffic");
        assert_eq!(
            l.addr,
            PortAddr::Tcp {
                host: Some("127.0.0.1".into()),
                port: Some(9050)
            }
        );
        assert!(l.has_flag("keepaliveisolatesocksauth"));
        assert!(!l.has_flag("NoIsolateSOCKSAuth"));
        assert_eq!(
            SocksPortLine::parse("9150").addr,
            PortAddr::Tcp {
                host: None,
                port: Some(9150)
            }
        );
        assert_eq!(
            SocksPortLine::parse("").addr,
            PortAddr::Tcp {
                host: None,
                port: Some(9050)
            }
        );
        assert_eq!(SocksPortLine::parse("").raw, "9050 (default)");
        assert_eq!(
            SocksPortLine::parse("auto").addr,
            PortAddr::Tcp {
                host: None,
                port: None
            }
        );
        assert_eq!(
            SocksPortLine::parse("[::1]:9050 NoIsolateSOCKSAuth").addr,
            PortAddr::Tcp {
                host: Some("::1".into()),
                port: Some(9050)
            }
        );
        assert_eq!(
            SocksPortLine::parse("unix:/run/tor/socks WorldWritable").addr,
            PortAddr::Unix("/run/tor/socks".into())
        );
        assert_eq!(SocksPortLine::parse("0").addr, PortAddr::Disabled);
        assert!(matches!(
            SocksPortLine::parse("1.2.3.4:x").addr,
            PortAddr::Unknown(_)
        ));
    }

    #[test]
    fn matches_lines_to_the_endpoint() {
        assert!(SocksPortLine::parse("9050").may_listen_on("127.0.0.1", 9050));
        assert!(SocksPortLine::parse("9050").may_listen_on("localhost", 9050));
        assert!(!SocksPortLine::parse("9050").may_listen_on("127.0.0.1", 9150));
        assert!(SocksPortLine::parse("auto").may_listen_on("127.0.0.1", 41234));
        assert!(SocksPortLine::parse("0.0.0.0:9050").may_listen_on("10.0.0.2", 9050));
        assert!(!SocksPortLine::parse("10.152.152.10:9050").may_listen_on("127.0.0.1", 9050));
        assert!(!SocksPortLine::parse("unix:/x").may_listen_on("127.0.0.1", 9050));
    }

    #[test]
    fn localhost_needs_both_loopbacks() {
        let v4 = vec!["127.0.0.1:9050".to_owned()];
        let both = vec!["127.0.0.1:9050".to_owned(), "[::1]:9050".to_owned()];
        assert!(listeners_cover(&v4, "127.0.0.1", 9050));
        assert!(!listeners_cover(&v4, "localhost", 9050));
        assert!(listeners_cover(&both, "localhost", 9050));
        assert!(!listeners_cover(&both, "localhost", 9150));
        assert!(!listeners_cover(&[], "127.0.0.1", 9050));
        assert!(!listeners_cover(
            &["unix:/run/tor/socks".to_owned()],
            "127.0.0.1",
            9050
        ));
    }

    #[test]
    fn matches_listeners_to_the_endpoint() {
        assert!(listener_matches("127.0.0.1:9050", "127.0.0.1", 9050));
        assert!(listener_matches("\"127.0.0.1:9050\"", "localhost", 9050));
        assert!(listener_matches("[::1]:9050", "::1", 9050));
        assert!(listener_matches("[::1]:9050", "localhost", 9050));
        assert!(listener_matches("0.0.0.0:9050", "127.0.0.1", 9050));
        assert!(!listener_matches("127.0.0.1:9050", "127.0.0.1", 9150));
        assert!(!listener_matches("127.0.0.1:9050", "127.0.0.2", 9050));
        assert!(!listener_matches("unix:/run/tor/socks", "127.0.0.1", 9050));
        assert!(!listener_matches("garbage", "127.0.0.1", 9050));
        // A wildcard covers its own family only: another user may hold the other one.
        assert!(listener_matches("[::]:9050", "::1", 9050));
        assert!(listener_matches("[::]:9050", "localhost", 9050));
        assert!(!listener_matches("[::]:9050", "127.0.0.1", 9050));
        assert!(!listener_matches("0.0.0.0:9050", "::1", 9050));
    }
}
