//! A background reader of one client tor's `STREAM` and `CIRC` control events, each stamped
//! with the instant it arrived, so a measurement can tie a fetch to its circuit and tell whether
//! that circuit was launched for it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::control_probe::StreamEvent;
use crate::tornet::TorClient;

/// How long the reader blocks on the socket before checking whether it should stop.
const READ_SLICE: Duration = Duration::from_millis(100);
/// How often a lookup re-checks the log.
const LOOKUP_POLL: Duration = Duration::from_millis(2);

/// Where one stream went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamAttach {
    /// Tor's stream id.
    pub stream_id: String,
    /// Tor's circuit id (never `"0"`).
    pub circuit_id: String,
    /// The SOCKS username tor saw on the stream, if any.
    pub username: Option<String>,
    /// The SOCKS password tor saw on the stream, if any.
    pub password: Option<String>,
}

type Log = Arc<Mutex<Vec<(Instant, String)>>>;

/// Control events of one client, read by a thread until dropped.
#[derive(Debug)]
pub struct EventLog {
    lines: Log,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<Result<(), String>>>,
}

impl EventLog {
    /// Connects to `client`'s control port and subscribes to `STREAM` and `CIRC` events.
    pub fn start(client: &TorClient) -> Result<Self, String> {
        let mut probe = client.control().map_err(|e| e.to_string())?;
        probe
            .command("SETEVENTS STREAM CIRC")
            .map_err(|e| e.to_string())?;
        let lines: Log = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (log, flag) = (Arc::clone(&lines), Arc::clone(&stop));
        let reader = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match probe.next_event(READ_SLICE) {
                    Ok(Some(line)) => lock(&log).push((Instant::now(), line)),
                    Ok(None) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
            Ok(())
        });
        Ok(Self {
            lines,
            stop,
            reader: Some(reader),
        })
    }

    /// A position in the log: events from here on arrived after this call. Take it before
    /// opening a stream, because the kernel reuses local ports, so an older stream may have had
    /// the same `SOURCE_ADDR`.
    pub fn mark(&self) -> usize {
        lock(&self.lines).len()
    }

    /// Waits up to `timeout` for the stream opened from `source` (its `NEW` event's
    /// `SOURCE_ADDR`, at or after `since`) to succeed, and returns its circuit.
    pub fn stream_of(
        &self,
        source: SocketAddr,
        since: usize,
        timeout: Duration,
    ) -> Result<StreamAttach, String> {
        let source = source.to_string();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self.find_stream(&source, since) {
                return Ok(found);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no SUCCEEDED stream event for SOURCE_ADDR={source} within {timeout:?}"
                ));
            }
            std::thread::sleep(LOOKUP_POLL);
        }
    }

    fn find_stream(&self, source: &str, since: usize) -> Option<StreamAttach> {
        let lines = lock(&self.lines);
        let events = lines
            .iter()
            .skip(since)
            .filter_map(|(_, l)| StreamEvent::parse(l));
        let mut new: Option<StreamEvent> = None;
        for event in events {
            match &new {
                None if event.status == "NEW"
                    && event.fields.get("SOURCE_ADDR").map(String::as_str) == Some(source) =>
                {
                    new = Some(event);
                }
                Some(first)
                    if event.stream_id == first.stream_id && event.status == "SUCCEEDED" =>
                {
                    return Some(StreamAttach {
                        stream_id: event.stream_id,
                        circuit_id: event.circuit_id,
                        username: first.fields.get("SOCKS_USERNAME").cloned(),
                        password: first.fields.get("SOCKS_PASSWORD").cloned(),
                    });
                }
                _ => {}
            }
        }
        None
    }

    /// Waits up to `timeout` for the first stream to `host` (a CONNECT, or with `resolve` a
    /// RESOLVE) whose `NEW`/`NEWRESOLVE` event arrived at or after `since`, to finish, and
    /// returns its circuit: the `SUCCEEDED` one of a connection, the one a lookup was sent on.
    /// For streams that reach tor through a proxy (the SOCKS front), whose `SOURCE_ADDR` is the
    /// proxy's; the caller opens one stream at a time.
    pub fn stream_to(
        &self,
        host: &str,
        resolve: bool,
        since: usize,
        timeout: Duration,
    ) -> Result<StreamAttach, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = {
                let lines = lock(&self.lines);
                let events: Vec<StreamEvent> = lines
                    .iter()
                    .skip(since)
                    .filter_map(|(_, l)| StreamEvent::parse(l))
                    .collect();
                find_stream_to(&events, host, resolve)
            };
            if let Some(found) = found {
                return Ok(found);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no finished stream to {host} (resolve: {resolve}) within {timeout:?}"
                ));
            }
            std::thread::sleep(LOOKUP_POLL);
        }
    }

    /// When the `CIRC <id> LAUNCHED` event of circuit `id` arrived, if it did.
    pub fn launched_at(&self, id: &str) -> Option<Instant> {
        self.circuit_event_at(id, "LAUNCHED")
    }

    /// When the `CIRC <id> BUILT` event of circuit `id` arrived, if it did.
    pub fn built_at(&self, id: &str) -> Option<Instant> {
        self.circuit_event_at(id, "BUILT")
    }

    fn circuit_event_at(&self, id: &str, status: &str) -> Option<Instant> {
        lock(&self.lines)
            .iter()
            .find(|(_, line)| circ_words(line) == Some((id, status)))
            .map(|(at, _)| *at)
    }

    /// Circuits that reached `BUILT` since the log started (all purposes, including the ones
    /// tor builds ahead of need and its timeout measurements).
    pub fn circuits_built(&self) -> usize {
        lock(&self.lines)
            .iter()
            .filter(|(_, line)| circ_words(line).is_some_and(|(_, status)| status == "BUILT"))
            .count()
    }

    /// Stops the reader; returns its error if the control connection failed.
    pub fn finish(mut self) -> Result<(), String> {
        self.stop_reader()
    }

    fn stop_reader(&mut self) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        match self.reader.take() {
            Some(handle) => handle
                .join()
                .map_err(|_| "event reader panicked".to_owned())?,
            None => Ok(()),
        }
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        let _ = self.stop_reader();
    }
}

/// The first stream to `host` in `events` (see [`EventLog::stream_to`]), once finished.
fn find_stream_to(events: &[StreamEvent], host: &str, resolve: bool) -> Option<StreamAttach> {
    let new_status = if resolve { "NEWRESOLVE" } else { "NEW" };
    let first = events.iter().find(|e| {
        e.status == new_status
            && e.target.rsplit_once(':').map(|(h, _)| h) == Some(host)
            && !e
                .fields
                .get("PURPOSE")
                .is_some_and(|p| p.starts_with("DIR_"))
    })?;
    let mine = || events.iter().filter(|e| e.stream_id == first.stream_id);
    let circuit = if resolve {
        // Answered lookups end with CLOSED; the circuit is the one it was sent on.
        mine().find(|e| e.status == "CLOSED" || e.status == "FAILED")?;
        mine().rfind(|e| e.circuit_id != "0")?.circuit_id.clone()
    } else {
        mine().find(|e| e.status == "SUCCEEDED")?.circuit_id.clone()
    };
    Some(StreamAttach {
        stream_id: first.stream_id.clone(),
        circuit_id: circuit,
        username: first.fields.get("SOCKS_USERNAME").cloned(),
        password: first.fields.get("SOCKS_PASSWORD").cloned(),
    })
}

/// `(id, status)` of a `CIRC <id> <status> …` event line.
fn circ_words(line: &str) -> Option<(&str, &str)> {
    let mut words = line.split(' ');
    (words.next()? == "CIRC").then_some(())?;
    Some((words.next()?, words.next()?))
}

fn lock(log: &Log) -> std::sync::MutexGuard<'_, Vec<(Instant, String)>> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(lines: &[&str]) -> Vec<StreamEvent> {
        lines.iter().filter_map(|l| StreamEvent::parse(l)).collect()
    }

    #[test]
    fn streams_to_a_host_finish_on_their_circuit() {
        let log = events(&[
            "STREAM 1 NEW 0 other.test:80 SOURCE_ADDR=127.0.0.1:1",
            "STREAM 2 NEWRESOLVE 0 pypi.org:0 SOCKS_USERNAME=\"u\" SOCKS_PASSWORD=\"p\"",
            "STREAM 2 SENTRESOLVE 5 pypi.org:0",
            "STREAM 3 NEW 0 127.0.0.1:80",
            "STREAM 3 SENTCONNECT 6 127.0.0.1:80",
            "STREAM 3 DETACHED 6 127.0.0.1:80",
            "STREAM 3 SENTCONNECT 7 127.0.0.1:80",
        ]);
        // The lookup is not finished yet, nor the connection.
        assert_eq!(find_stream_to(&log, "pypi.org", true), None);
        assert_eq!(find_stream_to(&log, "127.0.0.1", false), None);
        let mut log = log;
        log.extend(events(&[
            "STREAM 2 CLOSED 5 pypi.org:0 REASON=DONE",
            "STREAM 3 SUCCEEDED 7 127.0.0.1:80",
        ]));
        let lookup = find_stream_to(&log, "pypi.org", true).expect("lookup");
        assert_eq!(
            (lookup.stream_id.as_str(), lookup.circuit_id.as_str()),
            ("2", "5")
        );
        assert_eq!(lookup.username.as_deref(), Some("u"));
        let connect = find_stream_to(&log, "127.0.0.1", false).expect("connect");
        assert_eq!(connect.circuit_id, "7");
        // A lookup is not a connection, nor the reverse.
        assert_eq!(find_stream_to(&log, "pypi.org", false), None);
        assert_eq!(find_stream_to(&log, "127.0.0.1", true), None);
    }

    #[test]
    fn circ_lines_give_id_and_status() {
        assert_eq!(
            circ_words("CIRC 7 BUILT $AA~a,$BB~b PURPOSE=GENERAL"),
            Some(("7", "BUILT"))
        );
        assert_eq!(circ_words("CIRC 8 LAUNCHED"), Some(("8", "LAUNCHED")));
        assert_eq!(circ_words("STREAM 1 NEW 0 a.test:80"), None);
        assert_eq!(circ_words("CIRC"), None);
    }
}
