//! A minimal, blocking Tor control-port client for the harness's own assertions.
//!
//! Written by hand on purpose: the product's control-port client lives in `torctl`, and the
//! tests must not check that client with itself. This probe understands only what the harness
//! needs (cookie authentication, `GETINFO`, `SETEVENTS`, single-line `650` events) and keeps the
//! line parsing ([`parse_reply_line`], [`parse_fields`]) free of I/O.

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// Longest time a single control-port read may block.
const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// A failure talking to a control port.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The socket or the cookie file failed.
    #[error("control port I/O: {0}")]
    Io(#[from] io::Error),
    /// Tor answered with a non-2xx status.
    #[error("tor refused {command:?}: {reply}")]
    Refused {
        /// The command that was sent.
        command: String,
        /// Tor's reply lines, joined.
        reply: String,
    },
    /// Tor sent something this probe cannot read.
    #[error("unreadable control reply: {0:?}")]
    Malformed(String),
}

/// One line of a control-port reply, split per control-spec §2.3 (`code`, separator, text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyLine {
    /// Three-digit status code (`250`, `650`, `515`, …).
    pub code: u16,
    /// `' '` for the last line, `'-'` for a middle line, `'+'` when a data block follows.
    pub separator: char,
    /// Everything after the separator.
    pub text: String,
}

/// Splits one raw reply line (without CRLF) into its parts.
pub fn parse_reply_line(line: &str) -> Result<ReplyLine, ProbeError> {
    let malformed = || ProbeError::Malformed(line.to_owned());
    let code = line.get(..3).ok_or_else(malformed)?;
    let code: u16 = code.parse().map_err(|_| malformed())?;
    let separator = line[3..].chars().next().ok_or_else(malformed)?;
    if !matches!(separator, ' ' | '-' | '+') {
        return Err(malformed());
    }
    Ok(ReplyLine {
        code,
        separator,
        text: line[4..].to_owned(),
    })
}

/// Parses the `KEY=VALUE` / `KEY="quoted value"` fields of a line, ignoring bare words.
///
/// Quoted values are unescaped (`\"`, `\\`, `\n`, `\t`, `\r` and three-digit octal escapes).
pub fn parse_fields(text: &str) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    for (word, value) in tokens(text) {
        if let Some(value) = value {
            fields.insert(word, value);
        }
    }
    fields
}

/// Splits `text` into space-separated tokens: `(word, None)` for bare words, `(key, Some(value))`
/// for `KEY=VALUE` pairs.
fn tokens(text: &str) -> Vec<(String, Option<String>)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b' ' && bytes[i] != b'=' {
            i += 1;
        }
        let word = text[start..i].to_owned();
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            if i < bytes.len() && bytes[i] == b'"' {
                let (value, next) = unquote(&bytes[i..]);
                out.push((word, Some(value)));
                i += next;
            } else {
                let vstart = i;
                while i < bytes.len() && bytes[i] != b' ' {
                    i += 1;
                }
                out.push((word, Some(text[vstart..i].to_owned())));
            }
        } else {
            out.push((word, None));
        }
    }
    out
}

/// Reads a quoted string starting at `bytes[0] == b'"'`; returns the value and bytes consumed.
fn unquote(bytes: &[u8]) -> (String, usize) {
    let mut value = Vec::new();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return (String::from_utf8_lossy(&value).into_owned(), i + 1),
            b'\\' if i + 1 < bytes.len() => {
                let next = bytes[i + 1];
                let octal = bytes
                    .get(i + 1..i + 4)
                    .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
                if let Some(digits) = octal {
                    let n = digits
                        .iter()
                        .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                    value.push(u8::try_from(n).unwrap_or(b'?'));
                    i += 4;
                    continue;
                }
                value.push(match next {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    other => other,
                });
                i += 2;
            }
            other => {
                value.push(other);
                i += 1;
            }
        }
    }
    (String::from_utf8_lossy(&value).into_owned(), i)
}

/// A parsed `650 STREAM` event (control-spec §4.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent {
    /// Tor's stream id.
    pub stream_id: String,
    /// `NEW`, `SENTCONNECT`, `SUCCEEDED`, `CLOSED`, …
    pub status: String,
    /// Circuit id, `"0"` while unattached.
    pub circuit_id: String,
    /// `host:port` the stream asked for.
    pub target: String,
    /// Keyword fields (`SOURCE_ADDR`, `SOCKS_USERNAME`, `SOCKS_PASSWORD`, `REASON`, …).
    pub fields: HashMap<String, String>,
}

impl StreamEvent {
    /// Parses the text of a `650 STREAM …` line (after `650 `); `None` for other events.
    pub fn parse(text: &str) -> Option<Self> {
        let mut words = text.splitn(5, ' ');
        if words.next()? != "STREAM" {
            return None;
        }
        let stream_id = words.next()?.to_owned();
        let status = words.next()?.to_owned();
        let circuit_id = words.next()?.to_owned();
        let rest = words.next().unwrap_or("");
        let (target, fields) = rest.split_once(' ').unwrap_or((rest, ""));
        Some(Self {
            stream_id,
            status,
            circuit_id,
            target: target.to_owned(),
            fields: parse_fields(fields),
        })
    }
}

/// One entry of `GETINFO circuit-status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitInfo {
    /// Tor's circuit id.
    pub id: String,
    /// `BUILT`, `EXTENDED`, …
    pub status: String,
    /// Relay identity fingerprints (without `$`), first hop first.
    pub path: Vec<String>,
    /// Keyword fields (`PURPOSE`, `SOCKS_USERNAME`, `SOCKS_PASSWORD`, `CONFLUX_ID`, …).
    pub fields: HashMap<String, String>,
}

impl CircuitInfo {
    /// Parses one `circuit-status` line: `<id> <status> [<path>] KEY=VALUE…`.
    pub fn parse(line: &str) -> Option<Self> {
        let mut words = line.splitn(3, ' ');
        let id = words.next()?.to_owned();
        let status = words.next()?.to_owned();
        let rest = words.next().unwrap_or("");
        let (path_word, fields) = match rest.split_once(' ') {
            Some((first, others)) if !first.contains('=') => (first, others),
            _ if !rest.contains('=') => (rest, ""),
            _ => ("", rest),
        };
        let path = path_word
            .split(',')
            .filter(|hop| !hop.is_empty())
            .map(|hop| {
                hop.trim_start_matches('$')
                    .split(['~', '='])
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        Some(Self {
            id,
            status,
            path,
            fields: parse_fields(fields),
        })
    }
}

/// An authenticated control-port connection.
#[derive(Debug)]
pub struct ControlProbe {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    pending_events: VecDeque<String>,
}

impl ControlProbe {
    /// Connects to `addr` and authenticates with the cookie file at `cookie_path`.
    pub fn connect(addr: SocketAddr, cookie_path: &Path) -> Result<Self, ProbeError> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_write_timeout(Some(READ_TIMEOUT))?;
        let mut probe = Self {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            pending_events: VecDeque::new(),
        };
        let cookie = std::fs::read(cookie_path)?;
        let hex: String = cookie.iter().map(|b| format!("{b:02X}")).collect();
        probe.command(&format!("AUTHENTICATE {hex}"))?;
        Ok(probe)
    }

    /// Sends one command line and returns the reply's lines (data blocks inlined, one entry per
    /// line), buffering any asynchronous events that arrive first.
    pub fn command(&mut self, command: &str) -> Result<Vec<ReplyLine>, ProbeError> {
        self.writer.write_all(command.as_bytes())?;
        self.writer.write_all(b"\r\n")?;
        let verb = command.split(' ').next().unwrap_or(command);
        let reply = loop {
            let reply = self.read_reply()?;
            if reply.first().is_some_and(|l| l.code == 650) {
                self.pending_events
                    .extend(reply.into_iter().map(|l| l.text));
                continue;
            }
            break reply;
        };
        if reply.iter().any(|l| !(200..300).contains(&l.code)) {
            let joined = reply
                .iter()
                .map(|l| format!("{} {}", l.code, l.text))
                .collect::<Vec<_>>()
                .join(" | ");
            return Err(ProbeError::Refused {
                command: verb.to_owned(),
                reply: joined,
            });
        }
        Ok(reply)
    }

    /// Returns the value of one `GETINFO` key (multi-line values joined with `\n`).
    pub fn getinfo(&mut self, key: &str) -> Result<String, ProbeError> {
        let reply = self.command(&format!("GETINFO {key}"))?;
        let mut value = Vec::new();
        let mut inside = false;
        for line in reply {
            if let Some(rest) = line.text.strip_prefix(&format!("{key}=")) {
                inside = true;
                if !rest.is_empty() {
                    value.push(rest.to_owned());
                }
            } else if inside && line.code == 250 && line.separator == '\0' {
                value.push(line.text);
            }
        }
        if !inside {
            return Err(ProbeError::Malformed(format!(
                "GETINFO {key}: key missing from reply"
            )));
        }
        Ok(value.join("\n"))
    }

    /// Returns the bootstrap percentage from `GETINFO status/bootstrap-phase`.
    pub fn bootstrap_progress(&mut self) -> Result<u8, ProbeError> {
        let phase = self.getinfo("status/bootstrap-phase")?;
        parse_fields(&phase)
            .get("PROGRESS")
            .and_then(|p| p.parse().ok())
            .ok_or(ProbeError::Malformed(phase))
    }

    /// Returns the client's current circuits from `GETINFO circuit-status`.
    pub fn circuits(&mut self) -> Result<Vec<CircuitInfo>, ProbeError> {
        let text = self.getinfo("circuit-status")?;
        Ok(text.lines().filter_map(CircuitInfo::parse).collect())
    }

    /// Waits up to `timeout` for the next asynchronous event line; `None` on timeout.
    pub fn next_event(&mut self, timeout: Duration) -> Result<Option<String>, ProbeError> {
        if let Some(event) = self.pending_events.pop_front() {
            return Ok(Some(event));
        }
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let result = match self.read_reply() {
            Ok(reply) => {
                self.pending_events
                    .extend(reply.into_iter().map(|l| l.text));
                Ok(self.pending_events.pop_front())
            }
            Err(ProbeError::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        };
        self.reader.get_ref().set_read_timeout(Some(READ_TIMEOUT))?;
        result
    }

    /// Collects `STREAM` events until `done` returns true for the collected list or `timeout`
    /// passes; returns what was collected either way.
    pub fn collect_stream_events(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[StreamEvent]) -> bool,
    ) -> Result<Vec<StreamEvent>, ProbeError> {
        let deadline = Instant::now() + timeout;
        let mut events = Vec::new();
        while !done(&events) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.next_event(left)? {
                Some(line) => events.extend(StreamEvent::parse(&line)),
                None => break,
            }
        }
        Ok(events)
    }

    /// Reads one complete reply (until a line with the `' '` separator), inlining data blocks
    /// as lines with separator `'\0'`.
    fn read_reply(&mut self) -> Result<Vec<ReplyLine>, ProbeError> {
        let mut lines = Vec::new();
        loop {
            let raw = self.read_line()?;
            let line = parse_reply_line(&raw)?;
            let last = line.separator == ' ';
            let data = line.separator == '+';
            let code = line.code;
            lines.push(line);
            if data {
                loop {
                    let raw = self.read_line()?;
                    if raw == "." {
                        break;
                    }
                    let text = raw.strip_prefix('.').map(str::to_owned).unwrap_or(raw);
                    lines.push(ReplyLine {
                        code,
                        separator: '\0',
                        text,
                    });
                }
            }
            if last {
                return Ok(lines);
            }
        }
    }

    fn read_line(&mut self) -> Result<String, ProbeError> {
        let mut raw = String::new();
        if self.reader.read_line(&mut raw)? == 0 {
            return Err(ProbeError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "control port closed",
            )));
        }
        Ok(raw.trim_end_matches(['\r', '\n']).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_event_fields_are_unescaped() {
        let line = r#"STREAM 12 SUCCEEDED 7 site-a.test:8080 SOCKS_USERNAME="a\"b\\c" SOCKS_PASSWORD="p\303\251" PURPOSE=USER"#;
        let event = StreamEvent::parse(line).expect("a stream event");
        assert_eq!(event.stream_id, "12");
        assert_eq!(event.status, "SUCCEEDED");
        assert_eq!(event.circuit_id, "7");
        assert_eq!(event.target, "site-a.test:8080");
        assert_eq!(event.fields["SOCKS_USERNAME"], "a\"b\\c");
        assert_eq!(event.fields["SOCKS_PASSWORD"], "pé");
        assert_eq!(event.fields["PURPOSE"], "USER");
        assert_eq!(StreamEvent::parse("CIRC 1 BUILT"), None);
    }

    #[test]
    fn circuit_lines_give_path_and_fields() {
        let line =
            "5 BUILT $AAAA~relay0,$BBBB~exit1 BUILD_FLAGS=NEED_CAPACITY SOCKS_USERNAME=\"u\"";
        let circ = CircuitInfo::parse(line).expect("a circuit");
        assert_eq!(circ.path, ["AAAA", "BBBB"]);
        assert_eq!(circ.fields["SOCKS_USERNAME"], "u");
        let launched = CircuitInfo::parse("6 LAUNCHED PURPOSE=GENERAL").expect("a circuit");
        assert!(launched.path.is_empty());
        assert_eq!(launched.fields["PURPOSE"], "GENERAL");
    }

    #[test]
    fn reply_lines_split_code_and_separator() {
        let line = parse_reply_line("250-status/bootstrap-phase=NOTICE BOOTSTRAP PROGRESS=100")
            .expect("valid");
        assert_eq!((line.code, line.separator), (250, '-'));
        assert_eq!(parse_fields(&line.text)["PROGRESS"], "100");
        assert!(parse_reply_line("25").is_err());
        assert!(parse_reply_line("250x").is_err());
    }
}
