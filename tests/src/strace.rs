//! Reading `strace -f` logs of a browser run: which process connected or sent datagrams where.
//!
//! The leak test runs Firefox under
//! `strace -f -qq -e trace=connect,sendto,sendmsg,sendmmsg,execve,clone,clone3,fork,vfork`
//! (see [`crate::wrappers`]); this module turns the log into [`NetEvent`]s, each attributed to
//! the program its process was running (from `execve` lines, inherited through `clone`/`fork`),
//! so the test can tell Firefox's own sockets from the Persite native host's and daemon's.
//!
//! Parsing is free of I/O ([`parse_log`] takes the text). Hand-written because no maintained
//! crate parses strace's text output; only the few syscalls above are needed.

use std::collections::HashMap;
use std::net::IpAddr;

/// Where a socket call pointed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// An IPv4/IPv6 address and port.
    Inet(IpAddr, u16),
    /// A Unix socket path (`@name` for the abstract namespace).
    Unix(String),
    /// `AF_UNSPEC` (disconnecting a datagram socket) or another family.
    Other(String),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Inet(ip, port) => write!(f, "{}", std::net::SocketAddr::new(*ip, *port)),
            Endpoint::Unix(path) => write!(f, "unix:{path}"),
            Endpoint::Other(family) => write!(f, "{family}"),
        }
    }
}

/// One `connect`/`sendto`/`sendmsg`/`sendmmsg` call that named a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetEvent {
    /// Thread/process id as strace printed it.
    pub pid: u32,
    /// The program the process was running (path from `execve`), if known.
    pub program: Option<String>,
    /// `connect`, `sendto`, `sendmsg` or `sendmmsg`.
    pub syscall: String,
    /// The destination.
    pub endpoint: Endpoint,
    /// The log line, for messages.
    pub line: String,
}

impl NetEvent {
    /// True for anything aimed at port 53 (classic DNS) or at a local resolver's Unix socket
    /// (nscd, systemd-resolved).
    pub fn is_dns(&self) -> bool {
        match &self.endpoint {
            Endpoint::Inet(_, port) => *port == 53 || *port == 853 || *port == 5353,
            Endpoint::Unix(path) => {
                path.contains("nscd") || path.contains("resolve") || path.contains("resolv")
            }
            Endpoint::Other(_) => false,
        }
    }

    /// glibc's NSS client trying nscd's socket (for passwd, group or hosts lookups) where there
    /// is none (`ENOENT`): nothing can be resolved through it, and a hosts lookup then goes to
    /// port 53, which [`Self::is_dns`] catches. A *successful* nscd connect could carry a hosts
    /// query, so it is not this.
    pub fn is_failed_nss_cache_probe(&self) -> bool {
        matches!(&self.endpoint, Endpoint::Unix(path) if path.ends_with("nscd/socket"))
            && self.line.contains("ENOENT")
    }

    /// The program's file name (`firefox-esr`, `persite-native-host`, …), or `?`.
    pub fn program_name(&self) -> &str {
        self.program
            .as_deref()
            .and_then(|p| p.rsplit('/').next())
            .unwrap_or("?")
    }
}

/// Split `12345 rest` (strace `-f` prefix) into pid and the rest.
fn split_pid(line: &str) -> Option<(u32, &str)> {
    let line = line.strip_prefix("[pid ").unwrap_or(line);
    let (pid, rest) = line.split_once([' ', ']'])?;
    Some((
        pid.trim().parse().ok()?,
        rest.trim_start_matches(']').trim_start(),
    ))
}

/// The syscall name at the start of `rest` (`connect(…` or `<... connect resumed>…`).
fn syscall_name(rest: &str) -> Option<&str> {
    let name = rest.split('(').next()?;
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(name)
}

/// The destination inside a syscall's arguments, if any.
pub fn parse_endpoint(args: &str) -> Option<Endpoint> {
    let family_at = args.find("sa_family=")?;
    let family_text = &args[family_at + "sa_family=".len()..];
    let family: String = family_text
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    match family.as_str() {
        "AF_INET" | "AF_INET6" => {
            let port = between(family_text, "sin_port=htons(", ")")
                .or_else(|| between(family_text, "sin6_port=htons(", ")"))?
                .parse()
                .ok()?;
            let ip = between(family_text, "inet_addr(\"", "\")")
                .or_else(|| between(family_text, "inet_pton(AF_INET6, \"", "\""))?
                .parse()
                .ok()?;
            Some(Endpoint::Inet(ip, port))
        }
        "AF_UNIX" => {
            let path = if let Some(abstract_name) = between(family_text, "sun_path=@\"", "\"") {
                format!("@{abstract_name}")
            } else {
                between(family_text, "sun_path=\"", "\"")?.to_owned()
            };
            Some(Endpoint::Unix(path))
        }
        other => Some(Endpoint::Other(other.to_owned())),
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

/// What a log line says about a thread's program.
#[derive(Debug, Clone)]
enum Origin {
    /// It ran `execve` of this path.
    Exec(String),
    /// It was created by this thread (clone/fork).
    Spawned(u32),
}

/// Per thread id, the `(line number, origin)` records in log order. Thread ids are reused over
/// a long run, so a lookup takes the record in force at a given line.
type Origins = HashMap<u32, Vec<(usize, Origin)>>;

fn program_at(origins: &Origins, pid: u32, line: usize, depth: usize) -> Option<String> {
    if depth > 64 {
        return None;
    }
    let records = origins.get(&pid)?;
    // The last record at or before `line`; a child's own lines can precede the parent's
    // `clone(…) = child` line (strace prints the return late), so fall back to the first one.
    let (at, origin) = records
        .iter()
        .rev()
        .find(|(at, _)| *at <= line)
        .or_else(|| records.first())?;
    match origin {
        Origin::Exec(path) => Some(path.clone()),
        Origin::Spawned(parent) => program_at(origins, *parent, *at, depth + 1),
    }
}

/// Every network event in an `strace -f` log, attributed to its program.
pub fn parse_log(text: &str) -> Vec<NetEvent> {
    // Pass 1: who started whom, and who ran what, with line numbers.
    let mut origins: Origins = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        let Some((pid, rest)) = split_pid(line) else {
            continue;
        };
        let is_spawn = ["clone", "clone3", "fork", "vfork"].iter().any(|s| {
            rest.starts_with(&format!("{s}(")) || rest.starts_with(&format!("<... {s} resumed>"))
        });
        if is_spawn {
            if let Some(child) = rest
                .rsplit_once(" = ")
                .and_then(|(_, ret)| ret.split_whitespace().next())
                .and_then(|r| r.parse::<u32>().ok())
            {
                origins
                    .entry(child)
                    .or_default()
                    .push((number, Origin::Spawned(pid)));
            }
        } else if rest.starts_with("execve(") && rest.trim_end().ends_with("= 0") {
            if let Some(path) = between(rest, "execve(\"", "\"") {
                origins
                    .entry(pid)
                    .or_default()
                    .push((number, Origin::Exec(path.to_owned())));
            }
        }
    }
    // Pass 2: the network calls. A call another thread interrupted is split in two lines
    // (`connect(… <unfinished ...>` and later `<... connect resumed>) = -1 ENOENT …`); its
    // event line is both joined, so the result is there to read.
    let lines: Vec<&str> = text.lines().collect();
    let mut events = Vec::new();
    for (number, line) in lines.iter().copied().enumerate() {
        let Some((pid, rest)) = split_pid(line) else {
            continue;
        };
        let Some(name) = syscall_name(rest) else {
            continue;
        };
        if !matches!(name, "connect" | "sendto" | "sendmsg" | "sendmmsg") {
            continue;
        }
        let Some(endpoint) = parse_endpoint(rest) else {
            continue;
        };
        let mut joined = line.to_owned();
        if let Some(head) = line.trim_end().strip_suffix("<unfinished ...>") {
            let resumed = format!("<... {name} resumed>");
            if let Some(tail) = lines[number + 1..].iter().find_map(|later| {
                let (later_pid, later_rest) = split_pid(later)?;
                (later_pid == pid)
                    .then(|| later_rest.strip_prefix(resumed.as_str()))
                    .flatten()
            }) {
                joined = format!("{}{}", head.trim_end(), tail);
            }
        }
        events.push(NetEvent {
            pid,
            program: program_at(&origins, pid, number, 0),
            syscall: name.to_owned(),
            endpoint,
            line: joined,
        });
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = r#"100 execve("/usr/lib/firefox-esr/firefox-esr", ["firefox-esr", "-headless"], 0x7ff /* 30 vars */) = 0
100 clone3({flags=CLONE_VM, exit_signal=0, stack=0x7f, stack_size=0x7ff}, 88 <unfinished ...>
101 connect(45, {sa_family=AF_INET, sin_port=htons(40123), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EINPROGRESS (Operation now in progress)
100 <... clone3 resumed> => {parent_tid=[101]}, 88) = 101
100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD) = 102
102 execve("/opt/persite/persite-native-host", ["persite-native-host"], 0x7 /* 3 vars */) = 0
102 connect(3, {sa_family=AF_UNIX, sun_path="/tmp/rt/broker.sock"}, 110) = 0
101 sendto(50, "\x12\x34", 30, MSG_NOSIGNAL, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.2")}, 16) = 30
101 sendmmsg(50, [{msg_hdr={msg_name={sa_family=AF_INET6, sin6_port=htons(53), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, msg_namelen=28}}], 2, MSG_NOSIGNAL) = 2
100 connect(7, {sa_family=AF_UNIX, sun_path=@"/tmp/.X11-unix/X0"}, 20) = -1 ENOENT
100 connect(9, {sa_family=AF_UNSPEC, sa_data="\0\0"}, 16) = 0
102 clone3({flags=CLONE_VM}, 88) = 103
103 connect(4, {sa_family=AF_UNIX, sun_path="/tmp/rt/broker.sock"}, 110) = 0
100 clone3({flags=CLONE_VM}, 88) = 103
103 connect(5, {sa_family=AF_INET, sin_port=htons(40123), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
104 connect(14, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110 <unfinished ...>
100 connect(9, {sa_family=AF_UNSPEC, sa_data="\0\0"}, 16) = 0
104 <... connect resumed>) = -1 ENOENT (No such file or directory)
"#;

    #[test]
    fn attributes_events_to_programs() {
        let events = parse_log(LOG);
        assert_eq!(events.len(), 10, "{events:#?}");
        assert_eq!(events[0].program_name(), "firefox-esr");
        assert_eq!(
            events[0].endpoint,
            Endpoint::Inet("127.0.0.1".parse().unwrap(), 40123)
        );
        assert!(!events[0].is_dns());
        assert_eq!(events[1].program_name(), "persite-native-host");
        assert_eq!(
            events[1].endpoint,
            Endpoint::Unix("/tmp/rt/broker.sock".into())
        );
        assert!(events[2].is_dns() && events[2].syscall == "sendto");
        assert!(events[3].is_dns() && events[3].syscall == "sendmmsg");
        assert_eq!(
            events[3].endpoint,
            Endpoint::Inet("::1".parse().unwrap(), 53)
        );
        assert_eq!(
            events[4].endpoint,
            Endpoint::Unix("@/tmp/.X11-unix/X0".into())
        );
        assert_eq!(events[5].endpoint, Endpoint::Other("AF_UNSPEC".into()));
        // Thread id 103 first belongs to the host, later (reused) to Firefox.
        assert_eq!(events[6].program_name(), "persite-native-host");
        assert_eq!(events[7].program_name(), "firefox-esr");
        // An interrupted call carries its result from the resumed line.
        assert!(
            events[8]
                .line
                .ends_with("110) = -1 ENOENT (No such file or directory)"),
            "{}",
            events[8].line
        );
    }
}
