//! Measures the daemon's per-event cost of the circuit display: tor's event lines are framed
//! and parsed by the control client's sans-IO parser and fed into `CircuitTracker` with the
//! real isolator (a keyed hash per STREAM event), then every changed display is rendered.
//!
//! `cargo run --release -p persite --example circuit_events -- [SITES] [ROUNDS]`
//! (defaults 1000 sites, 20 rounds). Each round: every site gets a CIRC BUILT, STREAM
//! SENTCONNECT + SUCCEEDED, two STREAM_BW and a STREAM CLOSED, and half the circuits close.

use std::sync::Arc;
use std::time::Instant;

use persite::daemon::{Availability, CircuitTracker};
use persite::{Isolator, Psl};
use torctl::Event;
use torctl::reply::{Message, Parsed, ReplyParser};

fn main() {
    let mut args = std::env::args().skip(1);
    let sites: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let rounds: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let mut iso = Isolator::with_key([9; 32], Arc::new(Psl::vendored().expect("vendored PSL")));
    let creds: Vec<(String, String)> = (0..sites)
        .map(|i| {
            let c = iso
                .credentials_at(
                    &format!("https://www.site-{i}.example/"),
                    "firefox-default",
                    0,
                )
                .expect("credentials");
            (c.username, c.password)
        })
        .collect();
    let fp = |n: u32| format!("{n:040X}");
    let mut text = String::new();
    let mut circ = 1u32;
    let mut stream = 1u32;
    for round in 0..rounds {
        for (i, (user, pass)) in creds.iter().enumerate() {
            let i = i as u32;
            text.push_str(&format!(
                "650 CIRC {circ} BUILT ${}~g,${}~m,${}~x BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL TIME_CREATED=2026-11-21T18:00:00.000000\r\n",
                fp(i % 50),
                fp(100 + i % 50),
                fp(200 + (i + round) % 50)
            ));
            for status in ["SENTCONNECT", "SUCCEEDED"] {
                text.push_str(&format!(
                    "650 STREAM {stream} {status} {circ} www.site-{i}.example:443 SOCKS_USERNAME=\"{user}\" SOCKS_PASSWORD=\"{pass}\" CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=0 SESSION_GROUP=-6 ISO_FIELDS=SOCKS_USERNAME,SOCKS_PASSWORD,CLIENTADDR,SESSION_GROUP,NYM_EPOCH\r\n"
                ));
            }
            text.push_str(&format!(
                "650 STREAM_BW {stream} 512 16384 2026-11-21T18:00:01.000000\r\n"
            ));
            text.push_str(&format!(
                "650 STREAM_BW {stream} 0 4096 2026-11-21T18:00:02.000000\r\n"
            ));
            text.push_str(&format!(
                "650 STREAM {stream} CLOSED {circ} www.site-{i}.example:443 REASON=DONE\r\n"
            ));
            if i % 2 == 0 {
                text.push_str(&format!("650 CIRC {circ} CLOSED REASON=FINISHED\r\n"));
            }
            circ += 1;
            stream += 1;
        }
    }
    let mut tracker = CircuitTracker::new();
    let mut parser = ReplyParser::default();
    let started = Instant::now();
    parser.push(text.as_bytes());
    let mut events = 0u64;
    let mut rendered = 0u64;
    loop {
        match parser.next_message() {
            Ok(Parsed::Message(Message::Event(reply))) => {
                let event = Event::parse(&reply).expect("event");
                tracker.on_event(&event, &iso);
                events += 1;
                if events % 4096 == 0 {
                    for key in tracker.take_changed(usize::MAX, true) {
                        std::hint::black_box(tracker.result(&key, Availability::Available));
                        rendered += 1;
                    }
                }
            }
            Ok(Parsed::NeedMore) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    for key in tracker.take_changed(usize::MAX, true) {
        std::hint::black_box(tracker.result(&key, Availability::Available));
        rendered += 1;
    }
    let elapsed = started.elapsed();
    println!(
        "{sites} sites x {rounds} rounds: {events} events ({} MiB of event text) in {elapsed:.2?} = \
         {:.0} events/s, {:.2} µs/event; {rendered} circuit results rendered",
        text.len() / (1024 * 1024),
        events as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / events as f64,
    );
}
