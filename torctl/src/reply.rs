//! Sans-IO parser for the control port's reply stream (control-spec §2.3, §4.1).
//!
//! Bytes go in with [`ReplyParser::push`]; complete messages come out of
//! [`ReplyParser::next_message`]. A message is either the reply to the oldest outstanding
//! command or an asynchronous event (status 650). A short read yields [`Parsed::NeedMore`];
//! only real protocol violations are errors, and after one the byte stream cannot be re-framed,
//! so the caller must drop the connection.
//!
//! Grammar handled: `NNN-text` (mid line), `NNN+keyword=` followed by data lines ending with a
//! lone `.` (leading dots unstuffed), `NNN text` (end line). Lines end in CRLF; a bare LF is
//! accepted as well. Every dimension is bounded by [`Limits`], so a hostile control port cannot
//! make us allocate without bound.

use thiserror::Error;

/// Bounds on what one control connection may make us buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted line, in bytes, excluding the line ending.
    pub max_line_len: usize,
    /// Largest accepted message (all lines and data of one reply or event), in bytes.
    pub max_message_len: usize,
    /// Most lines (reply lines plus data lines) in one message.
    pub max_lines: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_len: 64 * 1024,
            max_message_len: 8 * 1024 * 1024,
            max_lines: 200_000,
        }
    }
}

/// A protocol violation on the control connection.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// A line exceeded [`Limits::max_line_len`].
    #[error("control-port line longer than {limit} bytes")]
    LineTooLong {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A message exceeded [`Limits::max_message_len`].
    #[error("control-port reply larger than {limit} bytes")]
    MessageTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A message had more than [`Limits::max_lines`] lines.
    #[error("control-port reply has more than {limit} lines")]
    TooManyLines {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A line did not start with three digits and one of `-`, `+`, space.
    #[error("malformed control-port reply line (expected NNN followed by '-', '+' or ' ')")]
    MalformedLine,
    /// Lines of one message carried different status codes.
    #[error("status code changed from {first} to {found} within one reply")]
    MixedStatus {
        /// Status of the message's first line.
        first: u16,
        /// The differing status.
        found: u16,
    },
    /// A NUL byte appeared in a line (never sent by tor).
    #[error("NUL byte in control-port reply")]
    NulByte,
}

/// How a reply line continues the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// `NNN-`: more lines follow.
    Mid,
    /// `NNN+`: a data block followed this line (see [`ReplyLine::data`]).
    Data,
    /// `NNN `: the last line of the message.
    End,
}

/// One line of a reply, with its data block if it was a `NNN+` line.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplyLine {
    /// Three-digit status code.
    pub status: u16,
    /// Whether this was a mid, data or end line.
    pub kind: LineKind,
    /// The text after the separator (invalid UTF-8 replaced).
    pub text: String,
    /// The dot-unstuffed data block, lines joined by `\n` (only for [`LineKind::Data`]).
    pub data: Option<String>,
}

impl std::fmt::Debug for ReplyLine {
    // Reply text can carry SOCKS credentials and destinations; print only its shape.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyLine")
            .field("status", &self.status)
            .field("kind", &self.kind)
            .field("text_len", &self.text.len())
            .field("data_len", &self.data.as_ref().map(String::len))
            .finish()
    }
}

/// A complete reply or event: one or more lines sharing a status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The lines in order; the last one is always a [`LineKind::End`] line.
    pub lines: Vec<ReplyLine>,
}

impl Reply {
    /// The status code shared by all lines.
    pub fn status(&self) -> u16 {
        self.lines.first().map_or(0, |l| l.status)
    }

    /// True for 2xx replies.
    pub fn is_ok(&self) -> bool {
        (200..300).contains(&self.status())
    }

    /// True for asynchronous events (status 650).
    pub fn is_event(&self) -> bool {
        self.status() == 650
    }

    /// The text of the final line (e.g. `OK` or the error message).
    pub fn end_text(&self) -> &str {
        self.lines.last().map_or("", |l| l.text.as_str())
    }
}

/// One complete message read from the control port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// The reply to the oldest command still waiting for one.
    Reply(Reply),
    /// An asynchronous event (status 650), not tied to any command.
    Event(Reply),
}

/// What [`ReplyParser::next_message`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A message is complete.
    Message(Message),
    /// The buffered bytes end inside a message: push more.
    NeedMore,
}

/// A data block being collected after a `NNN+` line.
#[derive(Debug)]
struct OpenData {
    line: ReplyLine,
    data: String,
}

/// Incremental, I/O-free parser for one control connection.
#[derive(Debug)]
pub struct ReplyParser {
    limits: Limits,
    buf: Vec<u8>,
    /// Start of the unconsumed part of `buf` (compacted lazily).
    pos: usize,
    lines: Vec<ReplyLine>,
    open_data: Option<OpenData>,
    message_bytes: usize,
    line_count: usize,
}

impl Default for ReplyParser {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl ReplyParser {
    /// A parser enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        ReplyParser {
            limits,
            buf: Vec::new(),
            pos: 0,
            lines: Vec::new(),
            open_data: None,
            message_bytes: 0,
            line_count: 0,
        }
    }

    /// The limits this parser enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Appends bytes read from the connection.
    ///
    /// Call [`next_message`](Self::next_message) until it returns [`Parsed::NeedMore`] before
    /// pushing again; the buffer then holds at most one partial line.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 4096 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes pushed but not yet consumed as complete lines.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when a message has started but is not complete (useful to report truncation at EOF).
    pub fn in_message(&self) -> bool {
        !self.lines.is_empty() || self.open_data.is_some() || self.buffered() > 0
    }

    /// Returns the next complete message, or [`Parsed::NeedMore`].
    pub fn next_message(&mut self) -> Result<Parsed, ParseError> {
        loop {
            let Some(line) = self.take_line()? else {
                return Ok(Parsed::NeedMore);
            };
            if let Some(message) = self.handle_line(&line)? {
                return Ok(Parsed::Message(message));
            }
        }
    }

    /// Takes one complete line (without its ending) from the buffer, enforcing limits.
    fn take_line(&mut self) -> Result<Option<Vec<u8>>, ParseError> {
        let pending = &self.buf[self.pos..];
        let Some(nl) = pending.iter().position(|&b| b == b'\n') else {
            if pending.len() > self.limits.max_line_len + 1 {
                return Err(ParseError::LineTooLong {
                    limit: self.limits.max_line_len,
                });
            }
            return Ok(None);
        };
        let mut line = &pending[..nl];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if line.len() > self.limits.max_line_len {
            return Err(ParseError::LineTooLong {
                limit: self.limits.max_line_len,
            });
        }
        if line.contains(&0) {
            return Err(ParseError::NulByte);
        }
        let line = line.to_vec();
        self.pos += nl + 1;
        self.message_bytes += line.len() + 1;
        self.line_count += 1;
        if self.message_bytes > self.limits.max_message_len {
            return Err(ParseError::MessageTooLarge {
                limit: self.limits.max_message_len,
            });
        }
        if self.line_count > self.limits.max_lines {
            return Err(ParseError::TooManyLines {
                limit: self.limits.max_lines,
            });
        }
        Ok(Some(line))
    }

    fn handle_line(&mut self, line: &[u8]) -> Result<Option<Message>, ParseError> {
        if let Some(open) = self.open_data.as_mut() {
            if line == b"." {
                let OpenData { mut line, data } =
                    self.open_data.take().ok_or(ParseError::MalformedLine)?;
                line.data = Some(data);
                self.lines.push(line);
                return Ok(None);
            }
            let unstuffed = line.strip_prefix(b".").unwrap_or(line);
            if !open.data.is_empty() {
                open.data.push('\n');
            }
            open.data.push_str(&String::from_utf8_lossy(unstuffed));
            return Ok(None);
        }

        let (status, kind, text) = split_status_line(line)?;
        if let Some(first) = self.lines.first()
            && first.status != status
        {
            return Err(ParseError::MixedStatus {
                first: first.status,
                found: status,
            });
        }
        let reply_line = ReplyLine {
            status,
            kind,
            text,
            data: None,
        };
        match kind {
            LineKind::Mid => {
                self.lines.push(reply_line);
                Ok(None)
            }
            LineKind::Data => {
                self.open_data = Some(OpenData {
                    line: reply_line,
                    data: String::new(),
                });
                Ok(None)
            }
            LineKind::End => {
                self.lines.push(reply_line);
                let reply = Reply {
                    lines: std::mem::take(&mut self.lines),
                };
                self.message_bytes = 0;
                self.line_count = 0;
                Ok(Some(if reply.is_event() {
                    Message::Event(reply)
                } else {
                    Message::Reply(reply)
                }))
            }
        }
    }
}

fn split_status_line(line: &[u8]) -> Result<(u16, LineKind, String), ParseError> {
    if line.len() < 4 || !line[..3].iter().all(u8::is_ascii_digit) {
        return Err(ParseError::MalformedLine);
    }
    let status = line[..3]
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    let kind = match line[3] {
        b'-' => LineKind::Mid,
        b'+' => LineKind::Data,
        b' ' => LineKind::End,
        _ => return Err(ParseError::MalformedLine),
    };
    Ok((
        status,
        kind,
        String::from_utf8_lossy(&line[4..]).into_owned(),
    ))
}

/// The one reply in `text` (test helper shared by the parsers' unit tests).
#[cfg(test)]
pub(crate) fn reply_of(text: &str) -> Reply {
    let mut p = ReplyParser::default();
    p.push(text.as_bytes());
    match p.next_message() {
        Ok(Parsed::Message(Message::Reply(r))) => r,
        other => panic!("not a reply: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(input: &[u8]) -> Result<(Vec<Message>, bool), ParseError> {
        let mut p = ReplyParser::default();
        p.push(input);
        let mut out = Vec::new();
        while let Parsed::Message(m) = p.next_message()? {
            out.push(m);
        }
        Ok((out, p.in_message()))
    }

    /// A realistic exchange: PROTOCOLINFO, a GETINFO with a data block, an event in between,
    /// a multi-line event, and an error reply.
    const TRANSCRIPT: &[u8] = b"250-PROTOCOLINFO 1\r\n\
250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE=\"/var/run/tor/control.authcookie\"\r\n\
250-VERSION Tor=\"0.4.9.11\"\r\n\
250 OK\r\n\
650 CIRC 7 LAUNCHED BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL TIME_CREATED=2026-11-21T17:58:43.123456\r\n\
250+circuit-status=\r\n\
7 BUILT $AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA~alpha,$BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB~beta PURPOSE=GENERAL\r\n\
..leading dot line\r\n\
\r\n\
.\r\n\
250-version=0.4.9.11\r\n\
250 OK\r\n\
650-NS\r\n\
650+\r\n\
r alpha qg4Hu0F9pC0Wb1rFzH2VgA4gT8Q 2026-11-21 17:00:00 127.0.0.1 5001 0\r\n\
s Fast Running\r\n\
.\r\n\
650 OK\r\n\
552 Unrecognized key \"bogus\"\r\n";

    #[test]
    fn transcript_parses_into_replies_and_events() {
        let (msgs, partial) = parse_all(TRANSCRIPT).unwrap();
        assert!(!partial);
        assert_eq!(msgs.len(), 5);
        let Message::Reply(pi) = &msgs[0] else {
            panic!("expected reply")
        };
        assert_eq!(pi.lines.len(), 4);
        assert_eq!(
            pi.lines[1].text,
            "AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE=\"/var/run/tor/control.authcookie\""
        );
        assert!(pi.is_ok());
        let Message::Event(circ) = &msgs[1] else {
            panic!("expected event")
        };
        assert!(circ.lines[0].text.starts_with("CIRC 7 LAUNCHED"));
        let Message::Reply(gi) = &msgs[2] else {
            panic!("expected reply")
        };
        assert_eq!(gi.lines[0].kind, LineKind::Data);
        assert_eq!(gi.lines[0].text, "circuit-status=");
        assert_eq!(
            gi.lines[0].data.as_deref(),
            Some(
                "7 BUILT $AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA~alpha,$BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB~beta PURPOSE=GENERAL\n.leading dot line\n"
            )
        );
        assert_eq!(gi.lines[1].text, "version=0.4.9.11");
        assert_eq!(gi.end_text(), "OK");
        let Message::Event(ns) = &msgs[3] else {
            panic!("expected event")
        };
        assert_eq!(ns.lines.len(), 3);
        assert_eq!(
            ns.lines[1].data.as_deref(),
            Some(
                "r alpha qg4Hu0F9pC0Wb1rFzH2VgA4gT8Q 2026-11-21 17:00:00 127.0.0.1 5001 0\ns Fast Running"
            )
        );
        let Message::Reply(err) = &msgs[4] else {
            panic!("expected reply")
        };
        assert_eq!(err.status(), 552);
        assert!(!err.is_ok());
    }

    #[test]
    fn bare_lf_is_accepted() {
        let (msgs, _) = parse_all(b"250-a=1\n250 OK\n").unwrap();
        assert_eq!(msgs.len(), 1);
    }

    #[test]
    fn every_split_point_gives_the_same_messages() {
        let (whole, _) = parse_all(TRANSCRIPT).unwrap();
        for split in 0..=TRANSCRIPT.len() {
            let mut p = ReplyParser::default();
            let mut got = Vec::new();
            for chunk in [&TRANSCRIPT[..split], &TRANSCRIPT[split..]] {
                p.push(chunk);
                while let Parsed::Message(m) = p.next_message().unwrap() {
                    got.push(m);
                }
            }
            assert_eq!(got, whole, "split at {split}");
        }
    }

    #[test]
    fn truncated_input_is_need_more_not_error() {
        let mut p = ReplyParser::default();
        p.push(b"250-version=0.4.9.11\r\n250+circuit-status=\r\n1 BUILT");
        assert_eq!(p.next_message(), Ok(Parsed::NeedMore));
        assert!(p.in_message());
    }

    #[test]
    fn malformed_lines_are_typed_errors() {
        assert_eq!(
            parse_all(b"25 OK\r\n").unwrap_err(),
            ParseError::MalformedLine
        );
        assert_eq!(
            parse_all(b"2x0 OK\r\n").unwrap_err(),
            ParseError::MalformedLine
        );
        assert_eq!(
            parse_all(b"250*OK\r\n").unwrap_err(),
            ParseError::MalformedLine
        );
        assert_eq!(
            parse_all(b"250\r\n").unwrap_err(),
            ParseError::MalformedLine
        );
        assert_eq!(parse_all(b"250 a\0b\r\n").unwrap_err(), ParseError::NulByte);
        assert_eq!(
            parse_all(b"250-a\r\n251 OK\r\n").unwrap_err(),
            ParseError::MixedStatus {
                first: 250,
                found: 251
            }
        );
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_line_len: 16,
            max_message_len: 64,
            max_lines: 4,
        };
        let mut p = ReplyParser::new(limits);
        p.push(&[b'2'; 100]);
        assert_eq!(p.next_message(), Err(ParseError::LineTooLong { limit: 16 }));

        let mut p = ReplyParser::new(limits);
        p.push(b"250-aaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        assert_eq!(p.next_message(), Err(ParseError::LineTooLong { limit: 16 }));

        let mut p = ReplyParser::new(limits);
        p.push(b"250-a\r\n250-a\r\n250-a\r\n250-a\r\n250 OK\r\n");
        assert_eq!(p.next_message(), Err(ParseError::TooManyLines { limit: 4 }));

        let mut p = ReplyParser::new(Limits {
            max_lines: 1000,
            ..limits
        });
        p.push(b"250+x=\r\n");
        for _ in 0..10 {
            p.push(b"0123456789\r\n");
        }
        assert_eq!(
            p.next_message(),
            Err(ParseError::MessageTooLarge { limit: 64 })
        );
    }

    #[test]
    fn limits_reset_between_messages() {
        let limits = Limits {
            max_line_len: 16,
            max_message_len: 64,
            max_lines: 3,
        };
        let mut p = ReplyParser::new(limits);
        for _ in 0..100 {
            p.push(b"250-a\r\n250 OK\r\n");
            assert!(matches!(p.next_message(), Ok(Parsed::Message(_))));
        }
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_messages(cuts in proptest::collection::vec(0usize..TRANSCRIPT.len(), 0..12)) {
            let (whole, _) = parse_all(TRANSCRIPT).unwrap();
            let mut cuts = cuts;
            cuts.sort_unstable();
            let mut p = ReplyParser::default();
            let mut got = Vec::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([TRANSCRIPT.len()]) {
                p.push(&TRANSCRIPT[start..cut]);
                start = cut;
                while let Parsed::Message(m) = p.next_message().unwrap() {
                    got.push(m);
                }
            }
            prop_assert_eq!(got, whole);
        }

        #[test]
        fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16)) {
            let mut p = ReplyParser::new(Limits { max_line_len: 40, max_message_len: 200, max_lines: 10 });
            'feed: for chunk in chunks {
                p.push(&chunk);
                loop {
                    match p.next_message() {
                        Ok(Parsed::Message(_)) => {}
                        Ok(Parsed::NeedMore) => break,
                        // The caller drops the connection after an error.
                        Err(_) => break 'feed,
                    }
                }
                prop_assert!(p.buffered() <= 41);
            }
        }

        #[test]
        fn structured_noise_never_panics(lines in proptest::collection::vec("(250|650|552|2x0)[-+ .]?[ -~]{0,20}|\\.{1,2}[a-z]{0,3}", 0..30)) {
            let mut input = lines.join("\r\n");
            input.push_str("\r\n");
            let _ = parse_all(input.as_bytes());
        }
    }
}
