//! Native-messaging frames (`docs/protocol.md` §1): a 32-bit native-endian length, then that
//! many bytes of UTF-8 JSON.
//!
//! Written by hand instead of using `tokio_util::codec::LengthDelimitedCodec` because the
//! protocol needs what that codec cannot do: an inbound frame above [`MAX_FRAME_LEN`] must be
//! *skipped* (its bytes counted down as they arrive, never buffered) and reading must then go on
//! with the next frame, whereas `LengthDelimitedCodec` fails and a `FramedRead` stops after an
//! error. The state machine does no I/O ([`FrameDecoder::decode`] works on a `BytesMut`), so it is
//! tested alone; it also implements `tokio_util`'s [`Decoder`] so the host can drive it with a
//! `FramedRead`.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Largest frame body accepted or written, in bytes (1 MiB: Firefox's host → browser limit).
pub const MAX_FRAME_LEN: usize = persite_protocol::limits::MAX_FRAME_BYTES;

/// Size of the length prefix.
const HEADER_LEN: usize = 4;

/// What the decoder found in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A complete frame body (not yet checked to be UTF-8 or JSON).
    Frame(Bytes),
    /// A frame whose declared length exceeded [`MAX_FRAME_LEN`]; its bytes were skipped.
    Oversized {
        /// The length the frame declared.
        declared_len: u32,
    },
    /// The input ended inside a frame.
    Truncated {
        /// The length the frame declared, or `None` when the input ended inside the length itself.
        declared_len: Option<u32>,
        /// How many bytes of the frame (header or body) had arrived.
        received: usize,
    },
}

/// Where the decoder is inside the current frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum State {
    /// Waiting for the 4-byte length.
    #[default]
    Header,
    /// Waiting for a body of this many bytes.
    Body(usize),
    /// Discarding an oversized body; `remaining` bytes still to come.
    Skip { declared_len: u32, remaining: usize },
}

/// Incremental decoder of inbound frames; feed it any split of the input.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    state: State,
}

impl FrameDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes what it can from `src` and returns the next event, or `None` when more bytes are
    /// needed. Call it again after an event: `src` may hold further frames.
    pub fn decode(&mut self, src: &mut BytesMut) -> Option<Inbound> {
        loop {
            match self.state {
                State::Header => {
                    if src.len() < HEADER_LEN {
                        return None;
                    }
                    let declared_len = src.get_u32_ne();
                    let len = declared_len as usize;
                    if len > MAX_FRAME_LEN {
                        self.state = State::Skip {
                            declared_len,
                            remaining: len,
                        };
                    } else {
                        src.reserve(len.saturating_sub(src.len()));
                        self.state = State::Body(len);
                    }
                }
                State::Body(len) => {
                    if src.len() < len {
                        return None;
                    }
                    self.state = State::Header;
                    return Some(Inbound::Frame(src.split_to(len).freeze()));
                }
                State::Skip {
                    declared_len,
                    remaining,
                } => {
                    let n = remaining.min(src.len());
                    src.advance(n);
                    let remaining = remaining - n;
                    if remaining == 0 {
                        self.state = State::Header;
                        return Some(Inbound::Oversized { declared_len });
                    }
                    self.state = State::Skip {
                        declared_len,
                        remaining,
                    };
                    return None;
                }
            }
        }
    }

    /// Call at end of input once [`decode`](Self::decode) returned `None`: reports a frame cut
    /// short (and resets the decoder), or `None` when the input ended between frames.
    pub fn finish(&mut self, src: &mut BytesMut) -> Option<Inbound> {
        let state = std::mem::take(&mut self.state);
        let buffered = src.len();
        src.clear();
        match state {
            State::Header if buffered == 0 => None,
            State::Header => Some(Inbound::Truncated {
                declared_len: None,
                received: buffered,
            }),
            State::Body(len) => Some(Inbound::Truncated {
                declared_len: Some(len as u32),
                received: HEADER_LEN + buffered,
            }),
            State::Skip {
                declared_len,
                remaining,
            } => Some(Inbound::Truncated {
                declared_len: Some(declared_len),
                received: HEADER_LEN + declared_len as usize - remaining,
            }),
        }
    }
}

impl Decoder for FrameDecoder {
    type Item = Inbound;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, std::io::Error> {
        Ok(FrameDecoder::decode(self, src))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, std::io::Error> {
        match FrameDecoder::decode(self, src) {
            Some(event) => Ok(Some(event)),
            None => Ok(self.finish(src)),
        }
    }
}

/// An outbound frame body above [`MAX_FRAME_LEN`] (Firefox would close the port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame of {len} bytes exceeds the 1 MiB native-messaging limit")]
pub struct FrameTooLarge {
    /// The body's length.
    pub len: usize,
}

/// Appends `body` to `dst` as one frame, or refuses a body above [`MAX_FRAME_LEN`].
pub fn encode_frame(body: &[u8], dst: &mut BytesMut) -> Result<(), FrameTooLarge> {
    if body.len() > MAX_FRAME_LEN {
        return Err(FrameTooLarge { len: body.len() });
    }
    dst.reserve(HEADER_LEN + body.len());
    dst.put_u32_ne(body.len() as u32);
    dst.put_slice(body);
    Ok(())
}

/// `tokio_util` encoder writing frames with [`encode_frame`].
#[derive(Debug, Default, Clone, Copy)]
pub struct FrameEncoder;

impl Encoder<Bytes> for FrameEncoder {
    type Error = std::io::Error;

    fn encode(&mut self, body: Bytes, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        encode_frame(&body, dst).map_err(std::io::Error::other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as u32).to_ne_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    /// Feeds `input` in the given chunk sizes and collects every event, EOF included.
    fn decode_chunked(input: &[u8], chunks: &[usize]) -> Vec<Inbound> {
        let mut dec = FrameDecoder::new();
        let mut buf = BytesMut::new();
        let mut events = Vec::new();
        let mut rest = input;
        let mut sizes = chunks.iter().copied().cycle();
        while !rest.is_empty() {
            let n = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            while let Some(ev) = dec.decode(&mut buf) {
                events.push(ev);
            }
        }
        events.extend(dec.finish(&mut buf));
        events
    }

    #[test]
    fn decodes_back_to_back_frames() {
        let mut input = frame(br#"{"id":1}"#);
        input.extend(frame(br#"{"id":2}"#));
        assert_eq!(
            decode_chunked(&input, &[input.len()]),
            vec![
                Inbound::Frame(Bytes::from_static(br#"{"id":1}"#)),
                Inbound::Frame(Bytes::from_static(br#"{"id":2}"#)),
            ]
        );
    }

    #[test]
    fn zero_length_frame_is_an_empty_frame() {
        let mut input = frame(b"");
        input.extend(frame(b"{}"));
        assert_eq!(
            decode_chunked(&input, &[1]),
            vec![
                Inbound::Frame(Bytes::new()),
                Inbound::Frame(Bytes::from_static(b"{}"))
            ]
        );
    }

    #[test]
    fn frame_of_exactly_the_limit_is_accepted() {
        let body = vec![b'x'; MAX_FRAME_LEN];
        let events = decode_chunked(&frame(&body), &[65536]);
        assert_eq!(events, vec![Inbound::Frame(Bytes::from(body))]);
    }

    #[test]
    fn oversized_frame_is_skipped_without_buffering_and_reading_goes_on() {
        let declared = MAX_FRAME_LEN + 1;
        let mut dec = FrameDecoder::new();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&(declared as u32).to_ne_bytes());
        assert_eq!(dec.decode(&mut buf), None);
        let chunk = vec![b'a'; 4096];
        let mut sent = 0;
        while sent + chunk.len() < declared {
            buf.extend_from_slice(&chunk);
            sent += chunk.len();
            assert_eq!(dec.decode(&mut buf), None);
            // Every skipped byte is consumed at once: nothing accumulates.
            assert!(buf.is_empty(), "skipped bytes were buffered");
        }
        buf.extend_from_slice(&vec![b'a'; declared - sent]);
        buf.extend_from_slice(&frame(br#"{"id":3}"#));
        assert_eq!(
            dec.decode(&mut buf),
            Some(Inbound::Oversized {
                declared_len: declared as u32
            })
        );
        assert_eq!(
            dec.decode(&mut buf),
            Some(Inbound::Frame(Bytes::from_static(br#"{"id":3}"#)))
        );
        assert_eq!(dec.finish(&mut buf), None);
    }

    #[test]
    fn truncated_header_and_body_are_reported_at_eof() {
        assert_eq!(
            decode_chunked(&[5, 0], &[1]),
            vec![Inbound::Truncated {
                declared_len: None,
                received: 2
            }]
        );
        let mut input = frame(b"{\"id\":1}");
        input.truncate(7);
        assert_eq!(
            decode_chunked(&input, &[3]),
            vec![Inbound::Truncated {
                declared_len: Some(8),
                received: 7
            }]
        );
        let mut oversized = ((MAX_FRAME_LEN + 10) as u32).to_ne_bytes().to_vec();
        oversized.extend_from_slice(&[0; 100]);
        assert_eq!(
            decode_chunked(&oversized, &[50]),
            vec![Inbound::Truncated {
                declared_len: Some((MAX_FRAME_LEN + 10) as u32),
                received: 104
            }]
        );
    }

    #[test]
    fn empty_input_has_no_events() {
        assert_eq!(decode_chunked(&[], &[1]), vec![]);
    }

    #[test]
    fn encoder_refuses_frames_above_the_limit() {
        let mut dst = BytesMut::new();
        assert_eq!(
            encode_frame(&vec![b' '; MAX_FRAME_LEN + 1], &mut dst),
            Err(FrameTooLarge {
                len: MAX_FRAME_LEN + 1
            })
        );
        assert!(dst.is_empty());
        encode_frame(&vec![b' '; MAX_FRAME_LEN], &mut dst).unwrap();
        assert_eq!(dst.len(), MAX_FRAME_LEN + 4);
    }

    #[test]
    fn encoder_writes_native_endian_length() {
        let mut dst = BytesMut::new();
        encode_frame(b"{}", &mut dst).unwrap();
        assert_eq!(&dst[..], &frame(b"{}")[..]);
        assert_eq!(&dst[..4], &2u32.to_ne_bytes());
    }

    /// A mix of small frames and (declared) oversized ones.
    fn body_strategy() -> impl Strategy<Value = Option<Vec<u8>>> {
        prop_oneof![
            8 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Some),
            1 => Just(None),
        ]
    }

    fn build_input(bodies: &[Option<Vec<u8>>]) -> (Vec<u8>, Vec<Inbound>) {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for body in bodies {
            match body {
                Some(b) => {
                    let mut dst = BytesMut::new();
                    encode_frame(b, &mut dst).unwrap();
                    input.extend_from_slice(&dst);
                    expected.push(Inbound::Frame(Bytes::from(b.clone())));
                }
                None => {
                    let len = MAX_FRAME_LEN + 7;
                    input.extend_from_slice(&(len as u32).to_ne_bytes());
                    input.resize(input.len() + len, 0xAB);
                    expected.push(Inbound::Oversized {
                        declared_len: len as u32,
                    });
                }
            }
        }
        (input, expected)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn round_trip_and_chunking_invariance(
            bodies in proptest::collection::vec(body_strategy(), 0..6),
            chunks in proptest::collection::vec(1usize..5000, 1..8),
        ) {
            let (input, expected) = build_input(&bodies);
            prop_assert_eq!(decode_chunked(&input, &[input.len().max(1)]), expected.clone());
            prop_assert_eq!(decode_chunked(&input, &chunks), expected);
        }

        #[test]
        fn any_cut_of_the_input_reports_truncation_or_whole_frames(
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..50), 1..5),
            cut in any::<proptest::sample::Index>(),
        ) {
            let (input, _) = build_input(&bodies.iter().cloned().map(Some).collect::<Vec<_>>());
            let cut = cut.index(input.len() + 1);
            let events = decode_chunked(&input[..cut], &[3]);
            // Every event but the last is a complete frame; the last is a frame or a truncation.
            let frames = events.iter().filter(|e| matches!(e, Inbound::Frame(_))).count();
            let truncated = events.iter().filter(|e| matches!(e, Inbound::Truncated { .. })).count();
            prop_assert!(truncated <= 1);
            prop_assert_eq!(frames + truncated, events.len());
            if truncated == 1 {
                let is_last_truncated = matches!(events.last(), Some(Inbound::Truncated { .. }));
                prop_assert!(is_last_truncated);
            }
            for (ev, body) in events.iter().zip(&bodies) {
                if let Inbound::Frame(f) = ev {
                    prop_assert_eq!(&f[..], &body[..]);
                }
            }
        }
    }
}
