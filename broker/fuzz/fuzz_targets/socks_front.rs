//! Arbitrary bytes, delivered in reads of a fuzzer-chosen size, into the SOCKS front's side of
//! the handshake and the meaning of the request; and into the reply parser of its client to tor.
#![no_main]

use libfuzzer_sys::fuzz_target;
use persite::front::parse_reply;
use persite::front::{ReplayOutcome, replay_handshake};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let replayed = replay_handshake(rest, usize::from(chunk).max(1));
    if let ReplayOutcome::Request(Ok(request)) = replayed.outcome {
        assert!(!request.context.is_empty() && request.context.len() <= 64);
    }
    let _ = parse_reply(rest);
});
