//! One fixed application trace and the isolation key each approach gives every stream of it
//! (pure): how many isolation keys — circuits tor must build at least, since streams of one
//! key share a circuit while it lives — and how many keys carry more than one site (cross-site
//! sharing an exit can see); and [`measured`], the same counts over the circuits tor reported
//! when the trace was replayed on the private network (`super::app_replay`).
//! `cargo bench -p persite-tests --bench app_isolation` prints both; docs/performance.md
//! records them.
//!
//! The trace: a package manager refreshing from several mirrors and CDN hosts (each download in
//! a helper process of its own, as apt's methods are), a git fetch (git runs its transport as a
//! child process), and a chat client talking to its server, its media host and a push service.
//! Programs that resolve through torsocks connect to IP literals; two unrelated sites sit behind
//! one CDN address.

use std::collections::{BTreeMap, BTreeSet};

/// One TCP stream of the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceStream {
    /// The program (its name: what `persite run` and Whonix's ports key by).
    pub program: &'static str,
    /// The process that opened it (exec'd children are new processes).
    pub process: u32,
    /// The destination as the program asks for it: a host name, or an IP literal when the
    /// program resolved first (torsocks' RESOLVE, then CONNECT to the address).
    pub requested: &'static str,
    /// The host name the program looked up (equal to `requested` unless that is a literal).
    pub name: &'static str,
    /// The destination port.
    pub port: u16,
    /// The destination's site (eTLD+1 of the name the program looked up).
    pub site: &'static str,
}

const fn s(
    program: &'static str,
    process: u32,
    requested: &'static str,
    port: u16,
    site: &'static str,
) -> TraceStream {
    TraceStream {
        program,
        process,
        requested,
        name: requested,
        port,
        site,
    }
}

/// A stream the program opens to `literal` after resolving `name` itself.
const fn r(
    program: &'static str,
    process: u32,
    name: &'static str,
    literal: &'static str,
    port: u16,
    site: &'static str,
) -> TraceStream {
    TraceStream {
        program,
        process,
        requested: literal,
        name,
        port,
        site,
    }
}

impl TraceStream {
    /// Whether the program resolves the name itself and connects to the address.
    pub fn resolves_first(&self) -> bool {
        self.requested != self.name
    }
}

/// The fixed trace (see the module doc).
pub fn application_trace() -> Vec<TraceStream> {
    vec![
        // apt update + upgrade: one method process per source and per download batch.
        s("apt", 101, "deb.debian.org", 80, "debian.org"),
        s("apt", 102, "security.debian.org", 80, "debian.org"),
        s("apt", 103, "deb.debian.org", 80, "debian.org"),
        s("apt", 104, "cdn-fastly.deb.debian.org", 80, "debian.org"),
        s("apt", 105, "mirror.netcologne.de", 80, "netcologne.de"),
        s("apt", 106, "mirror.netcologne.de", 80, "netcologne.de"),
        s("apt", 107, "packages.microsoft.com", 443, "microsoft.com"),
        s("apt", 108, "dl.google.com", 443, "google.com"),
        s("apt", 109, "dl.google.com", 443, "google.com"),
        // pip under torsocks: resolved first, then the CDN address both sites share.
        r("pip", 201, "pypi.org", "151.101.0.223", 443, "pypi.org"),
        r(
            "pip",
            201,
            "files.pythonhosted.org",
            "151.101.0.223",
            443,
            "pythonhosted.org",
        ),
        r(
            "pip",
            201,
            "files.pythonhosted.org",
            "151.101.0.223",
            443,
            "pythonhosted.org",
        ),
        // git fetch: git and its transport child.
        s("git", 301, "github.com", 443, "github.com"),
        s("git", 302, "github.com", 443, "github.com"),
        s("git", 302, "codeload.github.com", 443, "github.com"),
        s("git", 303, "gitlab.example.org", 22, "example.org"),
        // chat client: one long-lived process.
        s("chat", 401, "chat.example.net", 443, "example.net"),
        s("chat", 401, "media.example.net", 443, "example.net"),
        s("chat", 401, "media.example.net", 443, "example.net"),
        s("chat", 401, "push.chatcdn.com", 443, "chatcdn.com"),
        s("chat", 401, "chat.example.net", 443, "example.net"),
    ]
}

/// The approaches compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approach {
    /// Tails: `IsolateDestAddr IsolateDestPort` on the one SocksPort.
    TailsDestAddr,
    /// Whonix: a SocksPort per program, some with `IsolateDestAddr IsolateDestPort`.
    WhonixPorts,
    /// `torsocks --isolate`: credentials per process (`torsocks-<pid>:<time>`).
    TorsocksIsolate,
    /// `persite run`: credentials per application.
    PersiteApp,
    /// The SOCKS front / `persite run --per-site`: credentials per (application, site); IP
    /// literals ride the site their RESOLVE answered.
    PersiteSite,
}

impl Approach {
    /// Every approach, in table order.
    pub const ALL: [Approach; 5] = [
        Approach::TailsDestAddr,
        Approach::WhonixPorts,
        Approach::TorsocksIsolate,
        Approach::PersiteApp,
        Approach::PersiteSite,
    ];

    /// The table label.
    pub fn label(self) -> &'static str {
        match self {
            Approach::TailsDestAddr => "Tails: IsolateDestAddr IsolateDestPort",
            Approach::WhonixPorts => "Whonix: a SocksPort per program",
            Approach::TorsocksIsolate => "torsocks --isolate",
            Approach::PersiteApp => "Persite: persite run (per application)",
            Approach::PersiteSite => "Persite: front / --per-site",
        }
    }

    /// The isolation key of `stream` (streams with equal keys may share a circuit).
    pub fn key(self, stream: &TraceStream) -> String {
        match self {
            Approach::TailsDestAddr => format!("{}:{}", stream.requested, stream.port),
            Approach::WhonixPorts => {
                // Whonix's torrc: per-program ports; destination isolation on git's, not apt's.
                let (port, by_destination) = match stream.program {
                    "apt" => (9104, false),
                    "git" => (9107, true),
                    "chat" => (9103, true),
                    // pip has no port of its own: the shared 9050.
                    _ => (9050, false),
                };
                if by_destination {
                    format!("{port}/{}:{}", stream.requested, stream.port)
                } else {
                    port.to_string()
                }
            }
            Approach::TorsocksIsolate => format!("pid {}", stream.process),
            Approach::PersiteApp => stream.program.to_owned(),
            Approach::PersiteSite => format!("{}/{}", stream.program, stream.site),
        }
    }
}

/// What one approach does with the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Distinct isolation keys: circuits needed at least.
    pub keys: usize,
    /// Keys that carry more than one site.
    pub shared_keys: usize,
    /// Most sites on one key.
    pub most_sites_on_a_key: usize,
    /// Sites whose streams (within one program) are spread over more than one key.
    pub split_sites: usize,
}

/// Applies `approach` to `trace`.
pub fn evaluate(approach: Approach, trace: &[TraceStream]) -> Outcome {
    let mut sites_of_key: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mut keys_of_site: BTreeMap<(&str, &str), BTreeSet<String>> = BTreeMap::new();
    for stream in trace {
        let key = approach.key(stream);
        sites_of_key
            .entry(key.clone())
            .or_default()
            .insert(stream.site);
        keys_of_site
            .entry((stream.program, stream.site))
            .or_default()
            .insert(key);
    }
    Outcome {
        keys: sites_of_key.len(),
        shared_keys: sites_of_key.values().filter(|s| s.len() > 1).count(),
        most_sites_on_a_key: sites_of_key.values().map(BTreeSet::len).max().unwrap_or(0),
        split_sites: keys_of_site.values().filter(|k| k.len() > 1).count(),
    }
}

/// One stream tor carried during a replay of the trace: which trace entry it served and the
/// circuit its `STREAM` events put it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    /// Index of the trace entry (a RESOLVE and the CONNECT after it share one).
    pub entry: usize,
    /// Whether this was the name lookup (tor's RESOLVE) rather than the connection.
    pub resolve: bool,
    /// Tor's circuit id.
    pub circuit: String,
}

/// What tor did with one replay, from its control events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    /// Streams tor carried (connections and name lookups).
    pub streams: usize,
    /// Distinct circuits those streams rode.
    pub circuits_used: usize,
    /// `CIRC … BUILT` events during the replay (every purpose, including circuits tor builds
    /// ahead of need).
    pub circuits_built: usize,
    /// Circuits that carried more than one site.
    pub shared_circuits: usize,
    /// Most sites on one circuit.
    pub most_sites_on_a_circuit: usize,
    /// Sites (within one program) whose streams rode more than one circuit.
    pub split_sites: usize,
    /// Those sites, as `program/site: circuits` (`R` marks a name lookup's circuit).
    pub split_detail: Vec<String>,
}

/// Summarises the streams of one replay of `trace` (`circuits_built` counted aside).
pub fn measured(trace: &[TraceStream], carried: &[Carried], circuits_built: usize) -> Measured {
    let mut sites_of_circuit: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut circuits_of_site: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    let mut detail: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    for c in carried {
        let Some(stream) = trace.get(c.entry) else {
            continue;
        };
        sites_of_circuit
            .entry(&c.circuit)
            .or_default()
            .insert(stream.site);
        circuits_of_site
            .entry((stream.program, stream.site))
            .or_default()
            .insert(&c.circuit);
        detail
            .entry((stream.program, stream.site))
            .or_default()
            .push(format!("{}{}", if c.resolve { "R" } else { "" }, c.circuit));
    }
    Measured {
        streams: carried.len(),
        circuits_used: sites_of_circuit.len(),
        circuits_built,
        shared_circuits: sites_of_circuit.values().filter(|s| s.len() > 1).count(),
        most_sites_on_a_circuit: sites_of_circuit
            .values()
            .map(BTreeSet::len)
            .max()
            .unwrap_or(0),
        split_sites: circuits_of_site.values().filter(|c| c.len() > 1).count(),
        split_detail: circuits_of_site
            .iter()
            .filter(|(_, c)| c.len() > 1)
            .map(|((program, site), _)| {
                let on = detail.get(&(*program, *site)).cloned().unwrap_or_default();
                format!("{program}/{site}: {}", on.join(" "))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persite_per_site_never_shares_a_key_between_sites() {
        let out = evaluate(Approach::PersiteSite, &application_trace());
        assert_eq!(out.shared_keys, 0);
        assert_eq!(out.most_sites_on_a_key, 1);
        assert_eq!(out.split_sites, 0);
    }

    #[test]
    fn destination_isolation_shares_the_cdn_address_and_splits_hosts() {
        let out = evaluate(Approach::TailsDestAddr, &application_trace());
        assert!(
            out.shared_keys >= 1,
            "pypi.org and pythonhosted.org behind one address"
        );
        assert!(
            out.split_sites >= 2,
            "www and cdn hosts of one site on two circuits"
        );
    }

    #[test]
    fn measured_counts_circuits_sites_and_splits() {
        let trace = application_trace();
        let on = |entry: usize, circuit: &str| Carried {
            entry,
            resolve: false,
            circuit: circuit.to_owned(),
        };
        // deb.debian.org and security.debian.org on two circuits (debian.org split), and
        // netcologne.de on the first one with it (one circuit, two sites).
        let out = measured(&trace, &[on(0, "1"), on(1, "2"), on(4, "1")], 7);
        assert_eq!(out.streams, 3);
        assert_eq!(out.circuits_used, 2);
        assert_eq!(out.circuits_built, 7);
        assert_eq!(out.shared_circuits, 1);
        assert_eq!(out.most_sites_on_a_circuit, 2);
        assert_eq!(out.split_sites, 1);
    }

    #[test]
    fn only_pip_resolves_first() {
        let trace = application_trace();
        assert!(
            trace
                .iter()
                .all(|s| s.resolves_first() == (s.program == "pip"))
        );
    }

    #[test]
    fn per_application_keys_count_programs() {
        let out = evaluate(Approach::PersiteApp, &application_trace());
        assert_eq!(out.keys, 4);
    }
}
