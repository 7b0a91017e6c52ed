//! Arbitrary bytes from the browser, in reads of a fuzzer-chosen size, into the frame decoder;
//! every frame goes on to the host's request check, and to the reply and push checks.
//!
//! Properties: the events do not depend on how the input was split; a stream of whole frames
//! re-encodes to exactly the input; `parse_request` keeps the body unchanged or answers an
//! `invalid_json` error reply with `id: null` that is itself a JSON object.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use persite_native_messaging::codec::{FrameDecoder, Inbound, MAX_FRAME_LEN, encode_frame};
use persite_native_messaging::message::{check_push, check_reply, parse_request};
use serde_json::Value;

/// Every event of `input` fed in pieces of `chunk` bytes, end of input included.
fn decode(input: &[u8], chunk: usize) -> Vec<Inbound> {
    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(event) = decoder.decode(&mut buf) {
            events.push(event);
        }
        // Whatever is buffered belongs to one frame not yet complete (bounded by the limit).
        assert!(
            buf.len() <= MAX_FRAME_LEN + 4,
            "decoder buffered {} bytes",
            buf.len()
        );
    }
    events.extend(decoder.finish(&mut buf));
    events
}

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, input)) = data.split_first() else {
        return;
    };
    let events = decode(input, usize::from(chunk).max(1));
    assert_eq!(
        events,
        decode(input, input.len().max(1)),
        "split changed the events"
    );

    let mut reencoded = BytesMut::new();
    let mut whole = true;
    for event in &events {
        let Inbound::Frame(body) = event else {
            whole = false;
            continue;
        };
        encode_frame(body, &mut reencoded).expect("a decoded frame is within the limit");
        match parse_request(body.clone()) {
            Ok(request) => assert_eq!(&request.body, body),
            Err(reply) => {
                let reply: Value = serde_json::from_slice(&reply).expect("error reply is JSON");
                assert_eq!(reply["id"], Value::Null);
                assert_eq!(reply["error"]["code"], "invalid_json");
            }
        }
        let _ = check_reply(body, &Value::from(7));
        let _ = check_reply(body, &Value::Null);
        let _ = check_push(body);
    }
    if whole {
        assert_eq!(
            &reencoded[..],
            input,
            "frames did not re-encode to the input"
        );
    }
});
