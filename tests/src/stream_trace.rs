//! Tor's view of a load: STREAM events (collected with `control_probe`) grouped per stream,
//! with the circuit each one succeeded on and the SOCKS credentials it carried.

use crate::control_probe::StreamEvent;

/// SOCKS credentials as tor reports them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Creds {
    /// `SOCKS_USERNAME`.
    pub username: String,
    /// `SOCKS_PASSWORD`.
    pub password: String,
}

/// A stream as tor reported it over its events.
#[derive(Debug, Clone)]
pub struct TracedStream {
    /// Tor's stream id.
    pub id: String,
    /// Host name the stream asked for (from its first event: later ones may show the exit's
    /// resolved address instead).
    pub host: String,
    /// The circuit of its `SUCCEEDED` event.
    pub circuit: Option<String>,
    /// The credentials its events carried.
    pub creds: Option<Creds>,
    /// `status circuit target` of each event, for failure messages.
    pub log: Vec<String>,
}

/// Groups stream events by stream id, in order of first appearance.
pub fn traced_streams(events: &[StreamEvent]) -> Vec<TracedStream> {
    let mut out: Vec<TracedStream> = Vec::new();
    for e in events {
        let index = match out.iter().position(|s| s.id == e.stream_id) {
            Some(i) => i,
            None => {
                let host = e
                    .target
                    .rsplit_once(':')
                    .map_or(e.target.as_str(), |(h, _)| h)
                    .to_owned();
                out.push(TracedStream {
                    id: e.stream_id.clone(),
                    host,
                    circuit: None,
                    creds: None,
                    log: Vec::new(),
                });
                out.len() - 1
            }
        };
        let stream = &mut out[index];
        stream
            .log
            .push(format!("{} {} {}", e.status, e.circuit_id, e.target));
        if e.status == "SUCCEEDED" {
            stream.circuit = Some(e.circuit_id.clone());
        }
        if let (Some(u), Some(p)) = (
            e.fields.get("SOCKS_USERNAME"),
            e.fields.get("SOCKS_PASSWORD"),
        ) {
            stream.creds = Some(Creds {
                username: u.clone(),
                password: p.clone(),
            });
        }
    }
    out
}
