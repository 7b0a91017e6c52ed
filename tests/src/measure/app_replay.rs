//! Replays the application trace ([`super::app_trace`]) on the private network through one
//! isolation scheme: every entry is a real SOCKS5 connection (and, where the program resolves
//! first, tor's RESOLVE before it) carrying an HTTP GET to the loopback origin, one at a time,
//! each tied to its circuit by the client's `STREAM` events.
//!
//! Every name leads to the origin (the exits' DNS answers 127.0.0.1 for all of them), so an
//! entry's port is the origin's, not the trace's 80/443/22: no two trace entries differ only by
//! port, so `IsolateDestPort` keys the same streams apart either way.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use super::app_trace::{Carried, TraceStream};
use super::events::EventLog;
use crate::tornet::fetch::{SocksAuth, http_get_via_socks_blocking};

/// Longest single fetch or lookup.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for a stream's events after its fetch returned.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and with which SOCKS credentials one trace entry reaches tor (or the SOCKS front).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The SOCKS endpoint.
    pub socks: SocketAddr,
    /// RFC 1929 username and password, if any.
    pub auth: Option<(String, String)>,
}

/// Replays `trace` through `route_of` (the route of each entry) to the origin on
/// `origin_port`, with `EventLog` on the client tor; returns the streams tor carried. With
/// `resolve_all`, every entry resolves its name first and connects to the answer (what
/// torsocks does for every program); otherwise only entries whose program does that.
pub fn replay(
    trace: &[TraceStream],
    route_of: &dyn Fn(&TraceStream) -> Route,
    origin_port: u16,
    events: &EventLog,
    resolve_all: bool,
) -> Result<Vec<Carried>, String> {
    let mut carried = Vec::new();
    for (entry, stream) in trace.iter().enumerate() {
        let route = route_of(stream);
        let auth = route.auth.as_ref().map(|(u, p)| SocksAuth {
            username: u,
            password: p,
        });
        let mut host = stream.name.to_owned();
        if resolve_all || stream.resolves_first() {
            let since = events.mark();
            let answer = socks_resolve(route.socks, stream.name, auth)?;
            let attach = events.stream_to(stream.name, true, since, EVENT_TIMEOUT)?;
            carried.push(Carried {
                entry,
                resolve: true,
                circuit: attach.circuit_id,
            });
            host = answer.to_string();
        }
        let since = events.mark();
        let fetch =
            http_get_via_socks_blocking(route.socks, &host, origin_port, "/", auth, STEP_TIMEOUT)?;
        if fetch.status != 200 {
            return Err(format!(
                "entry {entry} ({host}): HTTP {} {:?}",
                fetch.status, fetch.body
            ));
        }
        let attach = events.stream_to(&host, false, since, EVENT_TIMEOUT)?;
        carried.push(Carried {
            entry,
            resolve: false,
            circuit: attach.circuit_id,
        });
    }
    Ok(carried)
}

/// tor's SOCKS5 RESOLVE extension (command `0xF0`, as torsocks and tor-resolve send it) for
/// `name` through `socks`; the IPv4 answer.
///
/// Written by hand: `tokio-socks` has it only behind its `tor` feature and async, and this is
/// ten lines of bytes.
pub fn socks_resolve(
    socks: SocketAddr,
    name: &str,
    auth: Option<SocksAuth<'_>>,
) -> Result<Ipv4Addr, String> {
    let fail = |what: &str, e: std::io::Error| format!("RESOLVE {name} via {socks}: {what}: {e}");
    let mut s = TcpStream::connect_timeout(&socks, STEP_TIMEOUT).map_err(|e| fail("connect", e))?;
    s.set_read_timeout(Some(STEP_TIMEOUT))
        .map_err(|e| fail("timeout", e))?;
    let method = if auth.is_some() { 2 } else { 0 };
    s.write_all(&[5, 1, method])
        .map_err(|e| fail("greeting", e))?;
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply).map_err(|e| fail("greeting", e))?;
    if reply != [5, method] {
        return Err(format!("RESOLVE {name}: method refused: {reply:?}"));
    }
    if let Some(a) = auth {
        let mut m = vec![1, len_u8(a.username)?];
        m.extend(a.username.as_bytes());
        m.push(len_u8(a.password)?);
        m.extend(a.password.as_bytes());
        s.write_all(&m).map_err(|e| fail("auth", e))?;
        s.read_exact(&mut reply).map_err(|e| fail("auth", e))?;
        if reply != [1, 0] {
            return Err(format!("RESOLVE {name}: credentials refused: {reply:?}"));
        }
    }
    let mut request = vec![5, 0xF0, 0, 3, len_u8(name)?];
    request.extend(name.as_bytes());
    request.extend([0, 0]);
    s.write_all(&request).map_err(|e| fail("request", e))?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).map_err(|e| fail("reply", e))?;
    if head[1] != 0 || head[3] != 1 {
        return Err(format!(
            "RESOLVE {name}: reply {head:?} (not an IPv4 answer)"
        ));
    }
    let mut addr = [0u8; 6];
    s.read_exact(&mut addr).map_err(|e| fail("reply", e))?;
    Ok(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]))
}

fn len_u8(text: &str) -> Result<u8, String> {
    u8::try_from(text.len()).map_err(|_| format!("{text:?} is longer than 255 bytes"))
}
