//! The front's SOCKS5 client towards tor's SocksPort.
//!
//! Written here rather than taken from tor-socksproto's client handshake because that one also
//! offers "no authentication", and a SOCKS server that picked it would get the stream without
//! the credentials — on a shared circuit. This client offers username/password only and fails
//! otherwise. The reply parser is pure ([`parse_reply`]) and unit-tested; the rest is the
//! exchange on a socket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::request::Destination;

/// The SOCKS5 commands the front sends to tor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TorCommand {
    /// CONNECT.
    Connect,
    /// tor's RESOLVE (0xF0).
    Resolve,
    /// tor's RESOLVE_PTR (0xF1).
    ResolvePtr,
}

impl TorCommand {
    fn code(self) -> u8 {
        match self {
            TorCommand::Connect => 1,
            TorCommand::Resolve => 0xF0,
            TorCommand::ResolvePtr => 0xF1,
        }
    }
}

/// The address in tor's reply: an IP (RESOLVE), a name (RESOLVE_PTR) or the bound address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyAddr {
    /// An address.
    Ip(IpAddr),
    /// A host name.
    Name(String),
}

/// tor's final SOCKS5 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorReply {
    /// The status byte (0 = succeeded).
    pub status: u8,
    /// The address it carries.
    pub addr: ReplyAddr,
}

/// Why talking to tor failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The socket failed or closed.
    #[error("tor's SOCKS port: {0}")]
    Io(#[from] std::io::Error),
    /// The server did not accept username/password authentication.
    #[error("tor's SOCKS port did not accept username/password authentication")]
    NoAuth,
    /// The server refused the credentials.
    #[error("tor's SOCKS port refused the credentials")]
    AuthRejected,
    /// The server's reply is not SOCKS5.
    #[error("tor's SOCKS port answered something that is not SOCKS5")]
    Protocol,
    /// The credentials or the name do not fit SOCKS5's one-byte lengths.
    #[error("credentials or host name longer than 255 bytes")]
    TooLong,
    /// No answer in time.
    #[error("tor's SOCKS port did not answer within {0:?}")]
    Timeout(Duration),
}

/// Runs the SOCKS5 exchange with tor on `stream`: username/password, then `command` for
/// `destination:port`; returns tor's reply (a failure status is a reply, not an error). On
/// success of a CONNECT the stream then carries the client's data.
pub(crate) async fn ask_tor(
    stream: &mut TcpStream,
    username: &str,
    password: &str,
    command: TorCommand,
    destination: &Destination,
    port: u16,
) -> Result<TorReply, UpstreamError> {
    stream.write_all(&[5, 1, 2]).await?;
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice).await?;
    if choice[0] != 5 {
        return Err(UpstreamError::Protocol);
    }
    if choice[1] != 2 {
        return Err(UpstreamError::NoAuth);
    }
    stream.write_all(&auth_message(username, password)?).await?;
    let mut ack = [0u8; 2];
    stream.read_exact(&mut ack).await?;
    if ack[0] != 1 {
        return Err(UpstreamError::Protocol);
    }
    if ack[1] != 0 {
        return Err(UpstreamError::AuthRejected);
    }
    stream
        .write_all(&command_message(command, destination, port)?)
        .await?;
    // Read exactly the reply: what follows it (a server's greeting, say) belongs to the client.
    let mut reply = vec![0u8; 5];
    stream.read_exact(&mut reply).await?;
    let rest = match reply[3] {
        1 => 4 + 2 - 1,
        4 => 16 + 2 - 1,
        3 => usize::from(reply[4]) + 2,
        _ => return Err(UpstreamError::Protocol),
    };
    let start = reply.len();
    reply.resize(start + rest, 0);
    stream.read_exact(&mut reply[start..]).await?;
    match parse_reply(&reply)? {
        Some((parsed, used)) if used == reply.len() => Ok(parsed),
        _ => Err(UpstreamError::Protocol),
    }
}

/// RFC 1929 username/password message.
pub(crate) fn auth_message(username: &str, password: &str) -> Result<Vec<u8>, UpstreamError> {
    let (user, pass) = (username.as_bytes(), password.as_bytes());
    let user_len = u8::try_from(user.len()).map_err(|_| UpstreamError::TooLong)?;
    let pass_len = u8::try_from(pass.len()).map_err(|_| UpstreamError::TooLong)?;
    let mut msg = Vec::with_capacity(3 + user.len() + pass.len());
    msg.extend_from_slice(&[1, user_len]);
    msg.extend_from_slice(user);
    msg.push(pass_len);
    msg.extend_from_slice(pass);
    Ok(msg)
}

/// The SOCKS5 request for `command` on `destination:port` (names are sent as names: ATYP 3).
pub(crate) fn command_message(
    command: TorCommand,
    destination: &Destination,
    port: u16,
) -> Result<Vec<u8>, UpstreamError> {
    let mut msg = vec![5, command.code(), 0];
    match destination {
        Destination::Ip(IpAddr::V4(ip)) => {
            msg.push(1);
            msg.extend_from_slice(&ip.octets());
        }
        Destination::Ip(IpAddr::V6(ip)) => {
            msg.push(4);
            msg.extend_from_slice(&ip.octets());
        }
        Destination::Name(name) => {
            let len = u8::try_from(name.len()).map_err(|_| UpstreamError::TooLong)?;
            msg.extend_from_slice(&[3, len]);
            msg.extend_from_slice(name.as_bytes());
        }
    }
    msg.extend_from_slice(&port.to_be_bytes());
    Ok(msg)
}

/// Parses a SOCKS5 reply from the start of `buf`: `Ok(None)` while incomplete, else the reply
/// and how many bytes it took.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(TorReply, usize)>, UpstreamError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    if buf[0] != 5 || buf[2] != 0 {
        return Err(UpstreamError::Protocol);
    }
    let status = buf[1];
    let (addr, end) = match buf[3] {
        1 => {
            let end = 4 + 4;
            let Some(octets) = buf.get(4..end) else {
                return Ok(None);
            };
            let octets: [u8; 4] = octets.try_into().map_err(|_| UpstreamError::Protocol)?;
            (ReplyAddr::Ip(IpAddr::V4(Ipv4Addr::from(octets))), end)
        }
        4 => {
            let end = 4 + 16;
            let Some(octets) = buf.get(4..end) else {
                return Ok(None);
            };
            let octets: [u8; 16] = octets.try_into().map_err(|_| UpstreamError::Protocol)?;
            (ReplyAddr::Ip(IpAddr::V6(Ipv6Addr::from(octets))), end)
        }
        3 => {
            let Some(&len) = buf.get(4) else {
                return Ok(None);
            };
            let end = 5 + usize::from(len);
            let Some(name) = buf.get(5..end) else {
                return Ok(None);
            };
            let name = std::str::from_utf8(name).map_err(|_| UpstreamError::Protocol)?;
            (ReplyAddr::Name(name.to_owned()), end)
        }
        _ => return Err(UpstreamError::Protocol),
    };
    if buf.len() < end + 2 {
        return Ok(None);
    }
    Ok(Some((TorReply { status, addr }, end + 2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_send_names_as_names() {
        let msg = command_message(
            TorCommand::Connect,
            &Destination::Name("a.test".into()),
            443,
        )
        .expect("fits");
        assert_eq!(msg, [&[5, 1, 0, 3, 6][..], b"a.test", &[1, 187]].concat());
        let msg = command_message(
            TorCommand::ResolvePtr,
            &Destination::Ip("192.0.2.1".parse().expect("ip")),
            0,
        )
        .expect("fits");
        assert_eq!(msg, [5, 0xF1, 0, 1, 192, 0, 2, 1, 0, 0]);
        let long = Destination::Name("a".repeat(256));
        assert!(matches!(
            command_message(TorCommand::Resolve, &long, 0),
            Err(UpstreamError::TooLong)
        ));
        assert!(matches!(
            auth_message(&"u".repeat(256), "p"),
            Err(UpstreamError::TooLong)
        ));
    }

    #[test]
    fn replies_parse_whole_or_wait() {
        let v4 = [5, 0, 0, 1, 198, 51, 100, 7, 0, 0];
        for cut in 0..v4.len() {
            assert!(parse_reply(&v4[..cut]).expect("prefix").is_none(), "{cut}");
        }
        let (reply, used) = parse_reply(&v4).expect("ok").expect("whole");
        assert_eq!(used, 10);
        assert_eq!(reply.status, 0);
        assert_eq!(
            reply.addr,
            ReplyAddr::Ip("198.51.100.7".parse().expect("ip"))
        );
        let name = [&[5, 0, 0, 3, 6][..], b"a.test", &[0, 0]].concat();
        let (reply, _) = parse_reply(&name).expect("ok").expect("whole");
        assert_eq!(reply.addr, ReplyAddr::Name("a.test".into()));
        let v6 = [&[5, 4, 0, 4][..], &[0; 16], &[0, 0]].concat();
        let (reply, _) = parse_reply(&v6).expect("ok").expect("whole");
        assert_eq!(reply.status, 4);
    }

    #[test]
    fn garbage_replies_are_errors() {
        for bad in [&[4u8, 0, 0, 1][..], &[5, 0, 1, 1], &[5, 0, 0, 9]] {
            assert!(parse_reply(bad).is_err(), "{bad:?}");
        }
    }
}
