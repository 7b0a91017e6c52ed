//! Parsing `GETINFO` replies (control-spec §3.9) and the values Persite asks for:
//! `circuit-status`, `ns/id/<fp>`, `ip-to-country/<ip>`, `net/listeners/socks`, `version`,
//! `status/bootstrap-phase`.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use base64::Engine as _;
use thiserror::Error;

use super::events::{CircEvent, EventError, StatusEvent};
use super::kv::{Fields, KvError};
use super::reply::{LineKind, Reply};

/// Why a GETINFO reply or value could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InfoError {
    /// Tor answered with an error status (e.g. 552 unrecognized key).
    #[error("tor refused GETINFO/GETCONF: {status} {message}")]
    Refused {
        /// Status code.
        status: u16,
        /// Tor's message.
        message: String,
    },
    /// A reply line was not `key=value`.
    #[error("malformed GETINFO/GETCONF reply line")]
    NotKeyValue,
    /// A requested key was not in the reply.
    #[error("GETINFO reply lacks key {0}")]
    MissingKey(String),
    /// A value was not in the documented format.
    #[error("malformed {key} value: {why}")]
    BadValue {
        /// The GETINFO key.
        key: &'static str,
        /// What was wrong.
        why: String,
    },
    /// A circuit-status line did not parse.
    #[error("circuit-status: {0}")]
    Circuit(#[from] EventError),
    /// A quoted value was malformed.
    #[error("{0}")]
    Fields(#[from] KvError),
}

/// Splits a `GETINFO`/`GETCONF` reply into `(key, value)` pairs, in order.
///
/// Single-line values are taken verbatim; `250+key=` values are the data block. A GETCONF
/// line without `=` (option at its default) gives an empty value.
pub fn parse_key_values(reply: &Reply) -> Result<Vec<(String, String)>, InfoError> {
    if !reply.is_ok() {
        return Err(InfoError::Refused {
            status: reply.status(),
            message: reply.end_text().to_owned(),
        });
    }
    let mut out = Vec::new();
    for line in &reply.lines {
        if line.kind == LineKind::End && line.text == "OK" {
            continue;
        }
        let (key, value) = match line.text.split_once('=') {
            Some((k, v)) => (k, v),
            None if line.kind != LineKind::Data => (line.text.as_str(), ""),
            None => return Err(InfoError::NotKeyValue),
        };
        if key.is_empty() {
            return Err(InfoError::NotKeyValue);
        }
        let value = match &line.data {
            Some(data) => data.clone(),
            None => value.to_owned(),
        };
        out.push((key.to_owned(), value));
    }
    Ok(out)
}

/// Finds `key` in parsed GETINFO pairs.
pub fn value_of<'a>(pairs: &'a [(String, String)], key: &str) -> Result<&'a str, InfoError> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| InfoError::MissingKey(key.to_owned()))
}

/// Parses `circuit-status`: one circuit per line, same format as a CIRC event body.
pub fn parse_circuit_status(value: &str) -> Result<Vec<CircEvent>, InfoError> {
    value
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| CircEvent::parse_body(l).map_err(InfoError::from))
        .collect()
}

/// A relay's entry in the consensus, from `ns/id/<fingerprint>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterStatus {
    /// Nickname.
    pub nickname: String,
    /// Upper-case hex identity fingerprint (decoded from the `r` line).
    pub fingerprint: String,
    /// IPv4 address from the `r` line.
    pub ipv4: Ipv4Addr,
    /// OR port from the `r` line.
    pub or_port: u16,
    /// First IPv6 OR address from an `a` line.
    pub ipv6: Option<(Ipv6Addr, u16)>,
    /// Flags from the `s` line (`Guard`, `Exit`, `Fast`, …).
    pub flags: Vec<String>,
}

/// Parses a router status entry (`r`, `a`, `s`, … lines).
///
/// The `r` line has a descriptor digest in the ns flavour and none in the microdesc flavour;
/// the publication date anchors the parse so both work.
pub fn parse_router_status(value: &str) -> Result<RouterStatus, InfoError> {
    const K: &str = "ns/id";
    let bad = |why: &str| InfoError::BadValue {
        key: K,
        why: why.to_owned(),
    };
    let r_line = value
        .lines()
        .find_map(|l| l.strip_prefix("r "))
        .ok_or_else(|| bad("no r line"))?;
    let words: Vec<&str> = r_line.split(' ').filter(|w| !w.is_empty()).collect();
    let date = words
        .iter()
        .position(|w| {
            w.len() == 10
                && w.as_bytes().get(4) == Some(&b'-')
                && w.as_bytes().get(7) == Some(&b'-')
        })
        .ok_or_else(|| bad("no publication date in r line"))?;
    if date < 2 || words.len() < date + 4 {
        return Err(bad("r line too short"));
    }
    let identity = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(words[1].trim_end_matches('='))
        .map_err(|_| bad("identity is not base64"))?;
    if identity.len() != 20 {
        return Err(bad("identity is not 20 bytes"));
    }
    let ipv4 = words[date + 2]
        .parse()
        .map_err(|_| bad("bad IPv4 address in r line"))?;
    let or_port = words[date + 3]
        .parse()
        .map_err(|_| bad("bad OR port in r line"))?;
    let ipv6 = value
        .lines()
        .filter_map(|l| l.strip_prefix("a "))
        .filter_map(|a| a.trim().parse::<SocketAddr>().ok())
        .find_map(|sa| match sa {
            SocketAddr::V6(v6) => Some((*v6.ip(), v6.port())),
            SocketAddr::V4(_) => None,
        });
    let flags = value
        .lines()
        .find_map(|l| l.strip_prefix("s "))
        .map(|s| {
            s.split(' ')
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(RouterStatus {
        nickname: words[0].to_owned(),
        fingerprint: hex::encode_upper(identity),
        ipv4,
        or_port,
        ipv6,
        flags,
    })
}

/// Parses `ip-to-country/<ip>`: upper-case ISO 3166 code, `None` for unknown (`??`, empty).
pub fn parse_country(value: &str) -> Option<String> {
    let code = value.trim();
    (code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| code.to_ascii_uppercase())
}

/// Parses `net/listeners/socks`: a list of (usually quoted) listener addresses.
pub fn parse_listeners(value: &str) -> Result<Vec<String>, InfoError> {
    Ok(Fields::new(value)
        .values()?
        .into_iter()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .collect())
}

/// A tor version like `0.4.9.11` or `0.4.9.1-alpha (git-…)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorVersion {
    /// Major, minor, micro, patch level.
    pub numbers: [u32; 4],
    /// Status tag such as `alpha`, `rc`, `dev` (empty for stable).
    pub status: String,
    /// The full string as tor sent it.
    pub raw: String,
}

impl TorVersion {
    /// True when this version is at least `major.minor.micro.patch`.
    pub fn at_least(&self, numbers: [u32; 4]) -> bool {
        self.numbers >= numbers
    }
}

/// Parses `version`.
pub fn parse_version(value: &str) -> Result<TorVersion, InfoError> {
    let raw = value.trim().to_owned();
    let main = raw.split(' ').next().unwrap_or_default();
    let (nums, status) = main.split_once('-').unwrap_or((main, ""));
    let parts: Vec<&str> = nums.split('.').collect();
    if parts.len() < 3 || parts.len() > 4 {
        return Err(InfoError::BadValue {
            key: "version",
            why: "expected a.b.c[.d]".to_owned(),
        });
    }
    let mut numbers = [0u32; 4];
    for (slot, part) in numbers.iter_mut().zip(&parts) {
        *slot = part.parse().map_err(|_| InfoError::BadValue {
            key: "version",
            why: "non-numeric component".to_owned(),
        })?;
    }
    Ok(TorVersion {
        numbers,
        status: status.to_owned(),
        raw,
    })
}

/// Parses `status/bootstrap-phase` (same shape as a STATUS_CLIENT BOOTSTRAP event).
pub fn parse_bootstrap_phase(value: &str) -> Result<StatusEvent, InfoError> {
    Ok(StatusEvent::parse_body(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{CircStatus, Sensitive};

    use crate::reply::reply_of as reply;

    #[test]
    fn getinfo_single_and_data_values() {
        let r = reply(
            "250-version=0.4.9.11\r\n250-net/listeners/socks=\"127.0.0.1:9050\" \"[::1]:9150\"\r\n250+circuit-status=\r\n1 BUILT $1E1B7C2A9E5FB8E4A14E0A1C1B9A4B0D7D5E2F11~a,$2A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D~b PURPOSE=GENERAL SOCKS_USERNAME=\"u\" SOCKS_PASSWORD=\"p\" CONFLUX_ID=C1\r\n2 LAUNCHED BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL\r\n.\r\n250-status/bootstrap-phase=NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done\"\r\n250-ip-to-country/1.2.3.4=de\r\n250-ip-to-country/127.0.0.1=??\r\n250 OK\r\n",
        );
        let kv = parse_key_values(&r).unwrap();
        assert_eq!(kv.len(), 6);
        let v = parse_version(value_of(&kv, "version").unwrap()).unwrap();
        assert_eq!(v.numbers, [0, 4, 9, 11]);
        assert!(v.at_least([0, 4, 9, 1]));
        assert_eq!(
            parse_listeners(value_of(&kv, "net/listeners/socks").unwrap()).unwrap(),
            vec!["127.0.0.1:9050", "[::1]:9150"]
        );
        let circs = parse_circuit_status(value_of(&kv, "circuit-status").unwrap()).unwrap();
        assert_eq!(circs.len(), 2);
        assert_eq!(circs[0].status, CircStatus::Built);
        assert_eq!(circs[0].socks_username, Some(Sensitive(b"u".to_vec())));
        assert_eq!(circs[0].conflux_id.as_deref(), Some("C1"));
        assert_eq!(circs[1].path.len(), 0);
        let b = parse_bootstrap_phase(value_of(&kv, "status/bootstrap-phase").unwrap()).unwrap();
        assert_eq!(b.bootstrap_progress(), Some(100));
        assert_eq!(
            parse_country(value_of(&kv, "ip-to-country/1.2.3.4").unwrap()).as_deref(),
            Some("DE")
        );
        assert_eq!(
            parse_country(value_of(&kv, "ip-to-country/127.0.0.1").unwrap()),
            None
        );
        assert!(matches!(
            value_of(&kv, "nope"),
            Err(InfoError::MissingKey(_))
        ));
    }

    #[test]
    fn empty_circuit_status_and_errors() {
        let r = reply("250-circuit-status=\r\n250 OK\r\n");
        let kv = parse_key_values(&r).unwrap();
        assert!(
            parse_circuit_status(value_of(&kv, "circuit-status").unwrap())
                .unwrap()
                .is_empty()
        );
        let r = reply("552 Unrecognized key \"bogus\"\r\n");
        assert!(matches!(
            parse_key_values(&r),
            Err(InfoError::Refused { status: 552, .. })
        ));
        let r = reply("250-=x\r\n250 OK\r\n");
        assert_eq!(parse_key_values(&r), Err(InfoError::NotKeyValue));
    }

    #[test]
    fn getconf_default_value_has_no_equals() {
        let r = reply("250-SocksPort=9050\r\n250 Bridge\r\n");
        let kv = parse_key_values(&r).unwrap();
        assert_eq!(
            kv,
            vec![
                ("SocksPort".into(), "9050".into()),
                ("Bridge".into(), String::new())
            ]
        );
    }

    #[test]
    fn router_status_both_flavours_with_ipv6() {
        // ns flavour: nickname identity digest date time IP ORPort DirPort.
        let ns = "r relayA HhtsKp5fuOShTgocG5pLDX1eLxE 5lTFmvUp6cHd4C2fKaGDeXDwV1M 2026-11-21 17:00:00 10.0.0.5 9001 0\na [2001:db8::5]:9001\ns Exit Fast Guard Running Stable Valid\nw Bandwidth=1000";
        let rs = parse_router_status(ns).unwrap();
        assert_eq!(rs.nickname, "relayA");
        assert_eq!(rs.fingerprint, "1E1B6C2A9E5FB8E4A14E0A1C1B9A4B0D7D5E2F11");
        assert_eq!(rs.ipv4, Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(rs.or_port, 9001);
        assert_eq!(rs.ipv6, Some(("2001:db8::5".parse().unwrap(), 9001)));
        assert!(rs.flags.contains(&"Guard".to_owned()));
        // microdesc flavour: no digest.
        let md = "r relayB HhtsKp5fuOShTgocG5pLDX1eLxE 2026-11-21 17:00:00 127.0.0.1 5002 0\nm abc\ns Fast";
        let rs = parse_router_status(md).unwrap();
        assert_eq!(rs.ipv4, Ipv4Addr::LOCALHOST);
        assert_eq!(rs.or_port, 5002);
        assert_eq!(rs.ipv6, None);
        assert!(parse_router_status("s Fast").is_err());
        assert!(parse_router_status("r x !!!! 2026-11-21 17:00:00 1.2.3.4 1 0").is_err());
        assert!(
            parse_router_status(
                "r x HhtsKp5fuOShTgocG5pLDX1eLxE 2026-11-21 17:00:00 999.2.3.4 1 0"
            )
            .is_err()
        );
    }

    #[test]
    fn versions() {
        let v = parse_version("0.4.9.1-alpha (git-abcdef)").unwrap();
        assert_eq!(v.numbers, [0, 4, 9, 1]);
        assert_eq!(v.status, "alpha");
        assert!(parse_version("banana").is_err());
        assert!(parse_version("0.4.x").is_err());
    }
}
