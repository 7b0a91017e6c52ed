//! What a client asked the front for, read from a completed SOCKS handshake. Pure: no I/O, so
//! every case is unit-tested and the fuzz target (`broker/fuzz`) drives it with the handshake.

use std::net::IpAddr;

use tor_socksproto::{SocksAddr, SocksAuth, SocksCmd, SocksRequest, SocksStatus};

/// Longest application context name (the SOCKS username or SOCKS4 user id), in bytes.
pub(crate) const MAX_CONTEXT_LEN: usize = 64;

/// The context of clients that send no username (programs that cannot set SOCKS credentials).
pub(crate) const DEFAULT_CONTEXT: &str = "default";

/// Where a stream goes: a host name (never resolved here) or an IP literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A host name, passed on to tor as it is (tor resolves it at the exit).
    Name(String),
    /// An IP address the client already had.
    Ip(IpAddr),
}

/// What the client wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Open a stream to `destination:port`.
    Connect {
        /// Where to.
        destination: Destination,
        /// Which port.
        port: u16,
    },
    /// tor's RESOLVE extension: the addresses of a name.
    Resolve {
        /// The name.
        name: String,
    },
    /// tor's RESOLVE_PTR extension: the name of an address.
    ResolvePtr {
        /// The address.
        ip: IpAddr,
    },
}

/// A request the front accepts: the application context and the intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    /// The application context: the client's SOCKS username (SOCKS4: user id), or
    /// [`DEFAULT_CONTEXT`] when it sent none.
    pub context: String,
    /// What to do.
    pub intent: Intent,
}

/// Why a request is refused, with the SOCKS status to answer and a log line's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The status the client gets.
    pub status: SocksStatus,
    /// What to log (no host names: the log is at the default level).
    pub reason: &'static str,
}

/// Reads what the client asked for. BIND and UDP ASSOCIATE, names or contexts tor cannot
/// carry, and a RESOLVE_PTR of a name are refused with the proper SOCKS status.
pub(crate) fn interpret(request: &SocksRequest) -> Result<ClientRequest, Refusal> {
    let context = context_of(request.auth())?;
    let intent = match request.command() {
        SocksCmd::CONNECT => Intent::Connect {
            destination: destination_of(request.addr())?,
            port: request.port(),
        },
        SocksCmd::RESOLVE => match destination_of(request.addr())? {
            Destination::Name(name) => Intent::Resolve { name },
            // A RESOLVE of an address answers itself; tor does the same.
            Destination::Ip(ip) => Intent::Resolve {
                name: ip.to_string(),
            },
        },
        SocksCmd::RESOLVE_PTR => match destination_of(request.addr())? {
            Destination::Ip(ip) => Intent::ResolvePtr { ip },
            Destination::Name(_) => {
                return Err(Refusal {
                    status: SocksStatus::ADDRTYPE_NOT_SUPPORTED,
                    reason: "RESOLVE_PTR of a name instead of an address",
                });
            }
        },
        SocksCmd::BIND => {
            return Err(Refusal {
                status: SocksStatus::COMMAND_NOT_SUPPORTED,
                reason: "BIND is not supported: tor carries outgoing TCP streams only",
            });
        }
        SocksCmd::UDP_ASSOCIATE => {
            return Err(Refusal {
                status: SocksStatus::COMMAND_NOT_SUPPORTED,
                reason: "UDP ASSOCIATE is not supported: tor carries no UDP",
            });
        }
        _ => {
            return Err(Refusal {
                status: SocksStatus::COMMAND_NOT_SUPPORTED,
                reason: "unknown SOCKS command",
            });
        }
    };
    Ok(ClientRequest { context, intent })
}

/// The reply for a handshake the parser gave up on, by the version the client spoke (its
/// first byte): "command not supported" for BIND, UDP ASSOCIATE and unknown commands (which
/// the parser refuses itself), "general failure" otherwise; `None` when the client did not
/// speak SOCKS at all. Also returns the words to log.
pub(crate) fn handshake_failure_reply(
    first_byte: Option<u8>,
    error: &tor_socksproto::Error,
) -> Option<(Vec<u8>, &'static str)> {
    let unsupported = matches!(error, tor_socksproto::Error::NotImplemented(what) if what.starts_with("SOCKS command"));
    let reason = if unsupported {
        "command not supported (BIND and UDP ASSOCIATE cannot go through tor)"
    } else {
        "malformed SOCKS handshake"
    };
    match first_byte? {
        5 => {
            let status = if unsupported { 7 } else { 1 };
            Some((vec![5, status, 0, 1, 0, 0, 0, 0, 0, 0], reason))
        }
        // SOCKS4: 91 = request rejected or failed.
        4 => Some((vec![0, 91, 0, 0, 0, 0, 0, 0], reason)),
        _ => None,
    }
}

fn context_of(auth: &SocksAuth) -> Result<String, Refusal> {
    let raw: &[u8] = match auth {
        SocksAuth::Username(user, _) | SocksAuth::Socks4(user) => user,
        _ => return Ok(DEFAULT_CONTEXT.to_owned()),
    };
    if raw.is_empty() {
        return Ok(DEFAULT_CONTEXT.to_owned());
    }
    let name = std::str::from_utf8(raw)
        .ok()
        .filter(|name| name.len() <= MAX_CONTEXT_LEN && name.chars().all(|c| c.is_ascii_graphic()));
    name.map(str::to_owned).ok_or(Refusal {
        status: SocksStatus::NOT_ALLOWED,
        reason: "application context (SOCKS username) is not 1–64 printable ASCII characters",
    })
}

fn destination_of(addr: &SocksAddr) -> Result<Destination, Refusal> {
    match addr {
        SocksAddr::Ip(ip) => Ok(Destination::Ip(*ip)),
        SocksAddr::Hostname(name) => {
            let name: &str = name.as_ref();
            // A name that is an address literal is treated as the address.
            if let Ok(ip) = name
                .trim_matches(|c| c == '[' || c == ']')
                .parse::<IpAddr>()
            {
                return Ok(Destination::Ip(ip));
            }
            if name.is_empty() || name.len() > 253 || !name.bytes().all(is_name_byte) {
                return Err(Refusal {
                    status: SocksStatus::HOST_UNREACHABLE,
                    reason: "destination is not a valid host name",
                });
            }
            Ok(Destination::Name(name.to_ascii_lowercase()))
        }
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use tor_socksproto::SocksVersion;

    fn request(cmd: SocksCmd, addr: SocksAddr, auth: SocksAuth) -> SocksRequest {
        SocksRequest::new(SocksVersion::V5, cmd, addr, 443, auth).expect("valid request")
    }

    fn name(n: &str) -> SocksAddr {
        SocksAddr::Hostname(n.to_owned().try_into().expect("hostname"))
    }

    fn user(u: &str) -> SocksAuth {
        SocksAuth::Username(u.as_bytes().to_vec(), b"x".to_vec())
    }

    #[test]
    fn connect_to_a_name_keeps_the_name_and_the_context() {
        let r = interpret(&request(
            SocksCmd::CONNECT,
            name("WWW.Example.com"),
            user("git"),
        ));
        assert_eq!(
            r,
            Ok(ClientRequest {
                context: "git".into(),
                intent: Intent::Connect {
                    destination: Destination::Name("www.example.com".into()),
                    port: 443
                }
            })
        );
    }

    #[test]
    fn no_username_is_the_default_context() {
        for auth in [SocksAuth::NoAuth, user("")] {
            let r = interpret(&request(SocksCmd::CONNECT, name("a.test"), auth)).expect("ok");
            assert_eq!(r.context, DEFAULT_CONTEXT);
        }
    }

    #[test]
    fn address_literals_given_as_names_are_addresses() {
        let r = interpret(&request(SocksCmd::CONNECT, name("192.0.2.7"), user("a"))).expect("ok");
        assert_eq!(
            r.intent,
            Intent::Connect {
                destination: Destination::Ip("192.0.2.7".parse().expect("ip")),
                port: 443
            }
        );
        let r = interpret(&request(
            SocksCmd::CONNECT,
            name("[2001:db8::1]"),
            user("a"),
        ))
        .expect("ok");
        assert!(matches!(
            r.intent,
            Intent::Connect {
                destination: Destination::Ip(IpAddr::V6(_)),
                ..
            }
        ));
    }

    #[test]
    fn failed_handshakes_get_the_reply_of_their_version() {
        let bind = tor_socksproto::Error::NotImplemented("SOCKS command BIND".into());
        let (bytes, reason) = handshake_failure_reply(Some(5), &bind).expect("a reply");
        assert_eq!(bytes, [5, 7, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert!(reason.contains("not supported"));
        let (bytes, _) = handshake_failure_reply(Some(4), &bind).expect("a reply");
        assert_eq!(bytes, [0, 91, 0, 0, 0, 0, 0, 0]);
        let (bytes, _) =
            handshake_failure_reply(Some(5), &tor_socksproto::Error::Syntax).expect("a reply");
        assert_eq!(bytes[1], 1, "general failure");
        assert!(handshake_failure_reply(None, &bind).is_none());
        assert!(
            handshake_failure_reply(Some(0x47), &bind).is_none(),
            "not SOCKS (an HTTP GET)"
        );
    }

    #[test]
    fn resolve_and_resolve_ptr() {
        let r = interpret(&request(SocksCmd::RESOLVE, name("a.test"), user("a"))).expect("ok");
        assert_eq!(
            r.intent,
            Intent::Resolve {
                name: "a.test".into()
            }
        );
        let ip: IpAddr = "198.51.100.1".parse().expect("ip");
        let r = interpret(&request(
            SocksCmd::RESOLVE_PTR,
            SocksAddr::Ip(ip),
            user("a"),
        ))
        .expect("ok");
        assert_eq!(r.intent, Intent::ResolvePtr { ip });
        let refusal = interpret(&request(SocksCmd::RESOLVE_PTR, name("a.test"), user("a")))
            .expect_err("refused");
        assert_eq!(refusal.status, SocksStatus::ADDRTYPE_NOT_SUPPORTED);
    }

    #[test]
    fn hostile_contexts_and_names_are_refused() {
        let long = "x".repeat(MAX_CONTEXT_LEN + 1);
        for bad in [long.as_str(), "a b", "tab\there", "ünï"] {
            let refusal =
                interpret(&request(SocksCmd::CONNECT, name("a.test"), user(bad))).expect_err(bad);
            assert_eq!(refusal.status, SocksStatus::NOT_ALLOWED);
        }
        for bad in ["a b.test", "a/b", "evil\u{0}.test", ""] {
            let Ok(host) = bad.to_owned().try_into() else {
                continue;
            };
            let refusal = interpret(&request(
                SocksCmd::CONNECT,
                SocksAddr::Hostname(host),
                user("a"),
            ))
            .expect_err(bad);
            assert_eq!(refusal.status, SocksStatus::HOST_UNREACHABLE);
        }
    }
}

/// What the front makes of a client's bytes, without I/O ([`replay_handshake`]).
#[derive(Debug)]
pub struct Replayed {
    /// Every byte the front would have sent back, in order.
    pub sent: Vec<u8>,
    /// The outcome: the request and its meaning (or refusal); the bytes of a failure reply
    /// (`None` when the client did not speak SOCKS); or `Pending` when more input is needed.
    pub outcome: ReplayOutcome,
}

/// See [`Replayed::outcome`].
#[derive(Debug)]
pub enum ReplayOutcome {
    /// The handshake completed; the request was interpreted.
    Request(Result<ClientRequest, Refusal>),
    /// The parser gave up; the reply the client gets, if any.
    Failed(Option<Vec<u8>>),
    /// The input ended before the handshake did.
    Pending,
}

/// Runs the front's side of the handshake over `input` delivered in reads of `chunk` bytes
/// (at least 1), exactly as the server does on a socket, but without one: the front's parser
/// for property tests and the fuzz target (`broker/fuzz/fuzz_targets/socks_front.rs`).
pub fn replay_handshake(input: &[u8], chunk: usize) -> Replayed {
    use tor_socksproto::{Buffer, Handshake as _, NextStep, SocksProxyHandshake};
    let mut handshake = SocksProxyHandshake::new();
    let mut buffer = Buffer::new();
    let mut sent = Vec::new();
    let mut rest = input;
    let first_byte = input.first().copied();
    loop {
        let step = match handshake.step(&mut buffer) {
            Ok(step) => step,
            Err(error) => {
                let reply = handshake_failure_reply(first_byte, &error).map(|(bytes, _)| bytes);
                return Replayed {
                    sent,
                    outcome: ReplayOutcome::Failed(reply),
                };
            }
        };
        match step {
            NextStep::Send(data) => sent.extend_from_slice(&data),
            NextStep::Recv(mut recv) => {
                if rest.is_empty() {
                    return Replayed {
                        sent,
                        outcome: ReplayOutcome::Pending,
                    };
                }
                let room = recv.buf();
                let n = room.len().min(chunk.max(1)).min(rest.len());
                room[..n].copy_from_slice(&rest[..n]);
                rest = &rest[n..];
                if let Err(error) = recv.note_received(n) {
                    let reply = handshake_failure_reply(first_byte, &error).map(|(bytes, _)| bytes);
                    return Replayed {
                        sent,
                        outcome: ReplayOutcome::Failed(reply),
                    };
                }
            }
            NextStep::Finished(done) => {
                let (request, _read_ahead) = done.into_output_and_vec();
                return Replayed {
                    sent,
                    outcome: ReplayOutcome::Request(interpret(&request)),
                };
            }
        }
    }
}
