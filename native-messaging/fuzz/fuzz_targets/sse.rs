//! Arbitrary bytes of the daemon's `text/event-stream`, in reads of a fuzzer-chosen size, into
//! the host's SSE parser; every event goes on to the push check.
//!
//! Properties: the events do not depend on how the stream was split; an event's data holds no
//! carriage return (it ends lines) and stays within the parser's event limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use persite_native_messaging::message::check_push;
use persite_native_messaging::sse::SseParser;

/// The parser's `MAX_EVENT_LEN` (1 MiB + 4 KiB).
const MAX_EVENT_LEN: usize = 1024 * 1024 + 4096;

fn events(input: &[u8], chunk: usize) -> Vec<bytes::Bytes> {
    let mut parser = SseParser::new();
    input
        .chunks(chunk)
        .flat_map(|piece| parser.feed(piece))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, input)) = data.split_first() else {
        return;
    };
    let split = events(input, usize::from(chunk).max(1));
    assert_eq!(
        split,
        events(input, input.len().max(1)),
        "split changed the events"
    );
    for event in &split {
        assert!(!event.contains(&b'\r'), "an event kept a line ending");
        assert!(event.len() <= MAX_EVENT_LEN);
        let _ = check_push(event);
    }
});
