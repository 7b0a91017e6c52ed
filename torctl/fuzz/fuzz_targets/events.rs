//! Arbitrary asynchronous event messages (`650 …` lines from the control port) into the reply
//! parser and the typed event parser; every line also goes straight to each event body parser
//! and, as a `circuit-status` line, to the CIRC parser.
//!
//! Properties: a parsed event has the type its keyword names; a CIRC path hop's fingerprint is
//! upper case; what the event prints for logs (`Debug`) does not depend on the bytes of its
//! sensitive fields (SOCKS credentials, stream targets, onion addresses).
#![no_main]

use libfuzzer_sys::fuzz_target;
use torctl::events::{CircBwEvent, StatusEvent, StreamBwEvent};
use torctl::{CircEvent, Event, Message, Parsed, ReplyParser, Sensitive, StreamEvent};

/// The same bytes count, other contents.
fn blank(value: &mut Option<Sensitive>) {
    if let Some(Sensitive(bytes)) = value {
        bytes
            .iter_mut()
            .for_each(|b| *b = if *b == b'x' { b'y' } else { b'x' });
    }
}

fn check(event: &Event, keyword: &str) {
    let debug = format!("{event:?}");
    let mut hidden = event.clone();
    match (&mut hidden, keyword) {
        (Event::Circ(circ), "CIRC") => {
            for hop in &circ.path {
                if let Some(fp) = &hop.fingerprint {
                    assert_eq!(fp, &fp.to_ascii_uppercase());
                }
            }
            blank(&mut circ.socks_username);
            blank(&mut circ.socks_password);
            blank(&mut circ.rend_query);
        }
        (Event::Stream(stream), "STREAM") => {
            let mut target = Some(stream.target.clone());
            blank(&mut target);
            stream.target = target.unwrap_or_default();
            blank(&mut stream.socks_username);
            blank(&mut stream.socks_password);
        }
        (Event::StreamBw(_), "STREAM_BW")
        | (Event::CircBw(_), "CIRC_BW")
        | (Event::StatusClient(_), "STATUS_CLIENT") => {}
        (Event::Other { keyword: other, .. }, _) => {
            assert_eq!(other, keyword);
            assert!(
                !["CIRC", "STREAM", "STREAM_BW", "CIRC_BW", "STATUS_CLIENT"].contains(&keyword)
            );
        }
        (event, keyword) => panic!("{keyword} parsed as {event:?}"),
    }
    assert_eq!(
        debug,
        format!("{hidden:?}"),
        "Debug shows a sensitive field"
    );
}

fuzz_target!(|data: &[u8]| {
    let mut parser = ReplyParser::default();
    parser.push(data);
    while let Ok(Parsed::Message(message)) = parser.next_message() {
        if let Message::Event(reply) = message {
            let first = reply.lines.first().map_or("", |l| l.text.as_str());
            let keyword = first.split_once(' ').map_or(first, |(k, _)| k).to_owned();
            if let Ok(event) = Event::parse(&reply) {
                check(&event, &keyword);
            }
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines() {
        let _ = CircEvent::parse_body(line);
        let _ = StreamEvent::parse_body(line);
        let _ = StreamBwEvent::parse_body(line);
        let _ = CircBwEvent::parse_body(line);
        let _ = StatusEvent::parse_body(line);
    }
});
