//! Tor's view of a soak: a watcher thread that keeps a `STREAM` subscription on the client's
//! control port for the whole run (reconnecting after tor restarts), and the pure audit of what
//! it collected: every user stream carries SOCKS credentials, and no credential pair is seen on
//! streams of two first parties.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::control_probe::{ControlProbe, StreamEvent};
use crate::stream_trace::{Creds, traced_streams};

/// The host → first party map of a soak (hosts not listed are their own first party).
#[derive(Debug, Clone, Default)]
pub struct FirstParties {
    owner: BTreeMap<String, String>,
}

impl FirstParties {
    /// Records that `host` belongs to first party `site`.
    pub fn add(&mut self, site: &str, host: &str) {
        self.owner.insert(host.to_owned(), site.to_owned());
    }

    /// The first party of `host`.
    pub fn of<'a>(&'a self, host: &'a str) -> &'a str {
        self.owner.get(host).map_or(host, String::as_str)
    }
}

/// What the stream audit found.
#[derive(Debug, Clone, Default)]
pub struct StreamAudit {
    /// Streams opened by SOCKS clients (tor's `PURPOSE=USER`, or no purpose given).
    pub user_streams: usize,
    /// Of those, the ones that succeeded.
    pub succeeded: usize,
    /// Tor's own streams (directory fetches), not judged.
    pub internal_streams: usize,
    /// Distinct credential pairs seen.
    pub pairs: usize,
    /// User streams without SOCKS credentials: `stream id → host`.
    pub unauthenticated: Vec<String>,
    /// Credential pairs seen for more than one first party: `username → first parties`.
    pub cross_party: Vec<String>,
}

impl StreamAudit {
    /// Whether the run is clean (no unauthenticated stream, no pair shared by first parties).
    pub fn is_clean(&self) -> bool {
        self.unauthenticated.is_empty() && self.cross_party.is_empty()
    }
}

impl std::fmt::Display for StreamAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} user streams ({} succeeded, {} tor-internal not judged), {} credential pairs, \
             {} unauthenticated, {} pairs on two first parties",
            self.user_streams,
            self.succeeded,
            self.internal_streams,
            self.pairs,
            self.unauthenticated.len(),
            self.cross_party.len()
        )
    }
}

/// Audits `events` (stream ids must be unique over the run, see [`StreamWatcher`]).
pub fn audit_streams(events: &[StreamEvent], parties: &FirstParties) -> StreamAudit {
    let purposes: BTreeMap<&str, &str> = events
        .iter()
        .filter_map(|e| Some((e.stream_id.as_str(), e.fields.get("PURPOSE")?.as_str())))
        .collect();
    let mut audit = StreamAudit::default();
    let mut seen: BTreeMap<Creds, BTreeSet<String>> = BTreeMap::new();
    for stream in traced_streams(events) {
        let purpose = purposes.get(stream.id.as_str()).copied().unwrap_or("USER");
        if purpose != "USER" {
            audit.internal_streams += 1;
            continue;
        }
        audit.user_streams += 1;
        if stream.circuit.is_some() {
            audit.succeeded += 1;
        }
        match stream.creds {
            Some(creds) => {
                seen.entry(creds)
                    .or_default()
                    .insert(parties.of(&stream.host).to_owned());
            }
            None => audit
                .unauthenticated
                .push(format!("stream {} to {}", stream.id, stream.host)),
        }
    }
    audit.pairs = seen.len();
    audit.cross_party = seen
        .into_iter()
        .filter(|(_, parties)| parties.len() > 1)
        .map(|(creds, parties)| format!("{} → {parties:?}", creds.username))
        .collect();
    audit
}

/// A thread holding a `SETEVENTS STREAM` subscription on a tor control port for the whole run.
/// Each connection is a generation; stream ids are stored as `<generation>/<id>` because tor
/// numbers streams from 1 again after a restart.
pub struct StreamWatcher {
    events: Arc<Mutex<Vec<StreamEvent>>>,
    generation: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StreamWatcher {
    /// Subscribes (the first connection must succeed) and starts the thread.
    pub fn start(addr: SocketAddr, cookie: PathBuf) -> anyhow::Result<Self> {
        let first = subscribe(addr, &cookie)?;
        let events = Arc::new(Mutex::new(Vec::new()));
        let generation = Arc::new(AtomicU64::new(1));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (events, generation, stop) = (
                Arc::clone(&events),
                Arc::clone(&generation),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || watch(first, addr, &cookie, &events, &generation, &stop))
        };
        Ok(Self {
            events,
            generation,
            stop,
            thread: Some(thread),
        })
    }

    /// The connection count so far (grows by one on each reconnect).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until the watcher has resubscribed after `generation`.
    pub fn wait_past(&self, generation: u64, bound: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        while self.generation() <= generation {
            anyhow::ensure!(
                started.elapsed() < bound,
                "the STREAM watcher did not resubscribe within {bound:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<StreamEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for StreamWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn subscribe(addr: SocketAddr, cookie: &std::path::Path) -> anyhow::Result<ControlProbe> {
    let mut probe = ControlProbe::connect(addr, cookie)?;
    probe.command("SETEVENTS STREAM")?;
    Ok(probe)
}

fn watch(
    first: ControlProbe,
    addr: SocketAddr,
    cookie: &std::path::Path,
    events: &Mutex<Vec<StreamEvent>>,
    generation: &AtomicU64,
    stop: &AtomicBool,
) {
    let mut probe = Some(first);
    while !stop.load(Ordering::SeqCst) {
        let Some(current) = probe.as_mut() else {
            // Tor is restarting: resubscribe as soon as its control port answers.
            if let Ok(fresh) = subscribe(addr, cookie) {
                probe = Some(fresh);
                generation.fetch_add(1, Ordering::SeqCst);
            } else {
                std::thread::sleep(Duration::from_millis(50));
            }
            continue;
        };
        match current.next_event(Duration::from_millis(200)) {
            Ok(Some(line)) => {
                if let Some(mut event) = StreamEvent::parse(&line) {
                    event.stream_id =
                        format!("{}/{}", generation.load(Ordering::SeqCst), event.stream_id);
                    events
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(event);
                }
            }
            Ok(None) => {}
            Err(_) => probe = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, status: &str, target: &str, creds: Option<(&str, &str)>) -> StreamEvent {
        let mut text = format!("STREAM {id} {status} 0 {target} PURPOSE=USER");
        if let Some((u, p)) = creds {
            text.push_str(&format!(" SOCKS_USERNAME=\"{u}\" SOCKS_PASSWORD=\"{p}\""));
        }
        StreamEvent::parse(&text).expect("parses")
    }

    fn parties() -> FirstParties {
        let mut p = FirstParties::default();
        for site in ["s1.test", "s2.test"] {
            p.add(site, site);
            p.add(site, &format!("cdn-{site}"));
        }
        p
    }

    #[test]
    fn clean_run_passes() {
        let events = [
            event("1/1", "NEW", "s1.test:80", Some(("a", "x"))),
            event("1/2", "NEW", "cdn-s1.test:80", Some(("a", "x"))),
            event("1/3", "NEW", "s2.test:80", Some(("b", "y"))),
            // Same stream number after a restart: another stream.
            event("2/1", "NEW", "s2.test:80", Some(("b", "y"))),
        ];
        let audit = audit_streams(&events, &parties());
        assert!(audit.is_clean(), "{audit:?}");
        assert_eq!((audit.user_streams, audit.pairs), (4, 2));
    }

    #[test]
    fn a_pair_on_two_first_parties_fails() {
        let events = [
            event("1/1", "NEW", "s1.test:80", Some(("a", "x"))),
            event("1/2", "NEW", "cdn-s2.test:80", Some(("a", "x"))),
        ];
        let audit = audit_streams(&events, &parties());
        assert_eq!(audit.cross_party.len(), 1, "{audit:?}");
        assert!(!audit.is_clean());
    }

    #[test]
    fn a_stream_without_credentials_fails_but_tor_internal_ones_are_not_judged() {
        let mut events = vec![event("1/1", "NEW", "s1.test:80", None)];
        events.push(
            StreamEvent::parse("STREAM 1/9 NEW 0 127.0.0.1:0 PURPOSE=DIR_FETCH").expect("parses"),
        );
        let audit = audit_streams(&events, &parties());
        assert_eq!(audit.unauthenticated.len(), 1, "{audit:?}");
        assert_eq!(audit.internal_streams, 1);
    }
}
