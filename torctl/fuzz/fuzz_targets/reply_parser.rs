//! Arbitrary bytes, split at fuzzer-chosen points, into the control-port reply parser; every
//! complete event goes on to the typed event parser and every reply to the GETINFO parsers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use torctl::{Event, Limits, Message, Parsed, ReplyParser, info};

fuzz_target!(|data: &[u8]| {
    // The first byte picks a chunk size so that partial input is exercised too.
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut parser = ReplyParser::new(Limits {
        max_line_len: 512,
        max_message_len: 16 * 1024,
        max_lines: 256,
    });
    for piece in rest.chunks(chunk) {
        parser.push(piece);
        loop {
            match parser.next_message() {
                Ok(Parsed::NeedMore) => break,
                Ok(Parsed::Message(Message::Event(reply))) => {
                    let _ = Event::parse(&reply);
                }
                Ok(Parsed::Message(Message::Reply(reply))) => {
                    if let Ok(pairs) = info::parse_key_values(&reply) {
                        for (_, value) in &pairs {
                            let _ = info::parse_circuit_status(value);
                            let _ = info::parse_router_status(value);
                            let _ = info::parse_listeners(value);
                            let _ = info::parse_version(value);
                        }
                    }
                    let _ = torctl::auth::parse_protocolinfo(&reply);
                }
                Err(_) => return,
            }
        }
        assert!(parser.buffered() <= 513, "buffer must stay bounded");
    }
});
