//! Parser for the daemon's `GET /v1/events` stream (`text/event-stream`, `docs/protocol.md` §3).
//!
//! Hand-written (about 50 lines) rather than pulling in an SSE client crate: the host needs only
//! `data:` fields of a trusted local stream, and a sans-IO parser fed byte chunks is what the
//! relay and its tests want (the crates on crates.io wrap a `Stream` and bring their own
//! reconnection logic, which the host does differently). Follows the WHATWG rules the daemon can
//! produce: lines end in `\n`, `\r\n` or `\r`; `data:` lines of one event are joined with `\n`;
//! a blank line ends the event; comment lines (`:` keep-alives) and other fields are ignored.

use bytes::{Bytes, BytesMut};

/// Events longer than this are dropped (they could not be relayed as a frame anyway).
const MAX_EVENT_LEN: usize = 1024 * 1024 + 4096;

/// Incremental `text/event-stream` parser yielding each event's data.
#[derive(Debug, Default)]
pub struct SseParser {
    line: BytesMut,
    data: BytesMut,
    has_data: bool,
    skip_lf: bool,
    overflow: bool,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk of the stream and returns the data of every event it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Bytes> {
        let mut events = Vec::new();
        for &byte in chunk {
            if std::mem::take(&mut self.skip_lf) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\n' | b'\r' => {
                    self.skip_lf = byte == b'\r';
                    if let Some(event) = self.end_line() {
                        events.push(event);
                    }
                }
                _ if self.line.len() < MAX_EVENT_LEN => self.line.extend_from_slice(&[byte]),
                _ => self.overflow = true,
            }
        }
        events
    }

    fn end_line(&mut self) -> Option<Bytes> {
        let line = self.line.split();
        if line.is_empty() {
            let event = std::mem::take(&mut self.data).freeze();
            let had = std::mem::take(&mut self.has_data);
            // Both flags end with the event, whether or not it had data.
            let overflow = std::mem::take(&mut self.overflow);
            return (had && !overflow).then_some(event);
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (&line[..], &b""[..]),
        };
        if field == b"data" {
            let value = value.strip_prefix(b" ").unwrap_or(value);
            if self.has_data {
                self.data.extend_from_slice(b"\n");
            }
            if self.data.len() + value.len() > MAX_EVENT_LEN {
                self.overflow = true;
            } else {
                self.data.extend_from_slice(value);
            }
            self.has_data = true;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<Bytes> {
        let mut p = SseParser::new();
        chunks.iter().flat_map(|c| p.feed(c)).collect()
    }

    #[test]
    fn data_events_comments_and_line_endings() {
        let stream: &[u8] =
            b": keep-alive\n\ndata: {\"a\":1}\n\nevent: x\ndata:{\"b\":2}\r\n\r\ndata: a\rdata: b\r\r";
        let expected = vec![
            Bytes::from_static(b"{\"a\":1}"),
            Bytes::from_static(b"{\"b\":2}"),
            Bytes::from_static(b"a\nb"),
        ];
        assert_eq!(all(&[stream]), expected);
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(all(&bytewise), expected);
    }

    #[test]
    fn an_oversized_line_without_data_does_not_drop_the_next_event() {
        let comment = [&b":"[..], &vec![b'x'; MAX_EVENT_LEN + 1]].concat();
        assert_eq!(
            all(&[&comment, b"\n\n", b"data: {}\n\n"]),
            vec![Bytes::from_static(b"{}")]
        );
        let field = [&b"event: "[..], &vec![b'x'; MAX_EVENT_LEN]].concat();
        assert_eq!(
            all(&[&field, b"\n\ndata: 1\n\n"]),
            vec![Bytes::from_static(b"1")]
        );
    }

    #[test]
    fn an_oversized_event_is_dropped_and_the_next_one_kept() {
        let data = [&b"data: "[..], &vec![b'x'; MAX_EVENT_LEN + 1]].concat();
        assert_eq!(
            all(&[&data, b"\n\ndata: 2\n\n"]),
            vec![Bytes::from_static(b"2")]
        );
    }

    #[test]
    fn incomplete_event_is_not_emitted() {
        assert_eq!(all(&[b"data: {}\n"]), Vec::<Bytes>::new());
    }
}
