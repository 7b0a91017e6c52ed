//! torrc text for each role of the private network (pure functions, no I/O).
//!
//! The settings follow `shared/reference/testing-facts.md` ("A private Tor network on loopback"):
//! fast voting, reachability assumed, exits that can reach only 127.0.0.0/8 but still accept
//! hostname streams, exit DNS sent to the harness's own responder, and memory savers.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

/// What every node needs to know about one directory authority.
#[derive(Debug, Clone)]
pub(crate) struct AuthorityLine {
    /// Authority nickname (`auth0`…).
    pub(crate) nickname: String,
    /// ORPort on 127.0.0.1.
    pub(crate) or_port: u16,
    /// DirPort on 127.0.0.1.
    pub(crate) dir_port: u16,
    /// v3 authority identity (from `tor-gencert`'s certificate).
    pub(crate) v3ident: String,
    /// Relay RSA identity fingerprint (from `tor --list-fingerprint`).
    pub(crate) fingerprint: String,
}

/// The role-specific part of a node's torrc.
#[derive(Debug, Clone)]
pub(crate) enum Role {
    /// A v3 directory authority.
    Authority { or_port: u16, dir_port: u16 },
    /// A middle relay (no exit, no directory cache).
    Middle { or_port: u16 },
    /// An exit that reaches only 127.0.0.0/8.
    Exit { or_port: u16 },
    /// The client the tests talk to.
    Client {
        socks_port: u16,
        socks_flags: Vec<String>,
        control_port: u16,
        control_socket: Option<String>,
        conflux: bool,
        extra: Vec<String>,
    },
}

/// Paths shared by all nodes of one network.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NetworkFiles<'a> {
    /// `resolv.conf` naming the harness's DNS responder.
    pub(crate) resolv_conf: &'a Path,
    /// An empty file used as GeoIP database.
    pub(crate) geoip_empty: &'a Path,
    /// The authorities' `V3BandwidthsFile`: one equal weight per relay (see [`bandwidth_file`]).
    pub(crate) bandwidths: &'a Path,
}

/// Renders a complete torrc for one node.
pub(crate) fn render(
    nickname: &str,
    data_dir: &Path,
    role: &Role,
    files: NetworkFiles<'_>,
    authorities: &[AuthorityLine],
    owner_pid: u32,
) -> String {
    let mut t = String::new();
    let dir = data_dir.display();
    let line = |t: &mut String, s: &str| {
        t.push_str(s);
        t.push('\n');
    };
    // `writeln!` into a String cannot fail.
    macro_rules! w { ($($arg:tt)*) => { let _ = writeln!(t, $($arg)*); } }
    w!("TestingTorNetwork 1");
    w!("DataDirectory {dir}");
    w!("Nickname {nickname}");
    line(&mut t, "RunAsDaemon 0");
    // Safety net for a harness that dies without running Drop: tor exits once this PID is gone.
    w!("__OwningControllerProcess {owner_pid}");
    w!("Log notice file {dir}/notice.log");
    for s in [
        "SafeLogging 0",
        "LogTimeGranularity 1",
        "ShutdownWaitLength 0",
        "DisableDebuggerAttachment 0",
        "AssumeReachable 1",
        "PathsNeededToBuildCircuits 0.67",
        "TestingDirAuthVoteExit *",
        "TestingDirAuthVoteGuard *",
        "TestingDirAuthVoteHSDir *",
        "TestingMinExitFlagThreshold 0",
        "V3AuthNIntervalsValid 2",
        "ServerDNSDetectHijacking 0",
    ] {
        line(&mut t, s);
    }
    w!("ServerDNSResolvConfFile {}", files.resolv_conf.display());
    w!("GeoIPFile {}", files.geoip_empty.display());
    w!("GeoIPv6File {}", files.geoip_empty.display());
    for a in authorities {
        w!(
            "DirAuthority {} orport={} no-v2 v3ident={} 127.0.0.1:{} {}",
            a.nickname,
            a.or_port,
            a.v3ident,
            a.dir_port,
            a.fingerprint
        );
    }
    match role {
        Role::Authority { or_port, dir_port } => {
            relay_common(&mut t, *or_port);
            w!("DirPort 127.0.0.1:{dir_port}");
            for s in [
                "AuthoritativeDirectory 1",
                "V3AuthoritativeDirectory 1",
                "ExitRelay 0",
                "ExitPolicy reject *:*",
                "TestingV3AuthInitialVotingInterval 5",
                "TestingV3AuthInitialVoteDelay 2",
                "TestingV3AuthInitialDistDelay 2",
                "V3AuthVotingInterval 10",
                "V3AuthVoteDelay 2",
                "V3AuthDistDelay 2",
            ] {
                line(&mut t, s);
            }
            w!("V3BandwidthsFile {}", files.bandwidths.display());
            w!("ContactInfo {nickname}@test.invalid");
        }
        Role::Middle { or_port } => {
            relay_common(&mut t, *or_port);
            for s in ["ExitRelay 0", "ExitPolicy reject *:*", "DirCache 0"] {
                line(&mut t, s);
            }
        }
        Role::Exit { or_port } => {
            relay_common(&mut t, *or_port);
            // Not `reject *:*` at the end: a final `accept *:*` (which matches nothing real, IPv6
            // exit being off) makes clients try hostname streams instead of refusing them.
            for s in [
                "ExitRelay 1",
                "ExitPolicyRejectPrivate 0",
                "ExitPolicyRejectLocalInterfaces 0",
                "ExitPolicy accept 127.0.0.0/8:*",
                "ExitPolicy reject 0.0.0.0/1:*",
                "ExitPolicy reject 128.0.0.0/1:*",
                "ExitPolicy accept *:*",
                "DirCache 0",
            ] {
                line(&mut t, s);
            }
        }
        Role::Client {
            socks_port,
            socks_flags,
            control_port,
            control_socket,
            conflux,
            extra,
        } => {
            let flags = socks_flags.join(" ");
            w!("SocksPort 127.0.0.1:{socks_port} {flags}");
            w!("ControlPort 127.0.0.1:{control_port}");
            if let Some(path) = control_socket {
                w!("ControlPort unix:{path}");
            }
            line(&mut t, "CookieAuthentication 1");
            // Exits reaching only 127.0.0.0/8 get the microdescriptor summary "reject 1-65535";
            // full descriptors carry the real policy.
            line(&mut t, "UseMicrodescriptors 0");
            w!("ConfluxEnabled {}", u8::from(*conflux));
            for s in extra {
                line(&mut t, s);
            }
        }
    }
    t
}

/// Lines shared by every relay role.
fn relay_common(t: &mut String, or_port: u16) {
    let _ = writeln!(t, "SocksPort 0");
    let _ = writeln!(t, "Address 127.0.0.1");
    let _ = writeln!(t, "ORPort 127.0.0.1:{or_port}");
}

/// The authorities' bandwidth file (bandwidth-file-spec v1.0.0: a timestamp line, then one
/// `node_id=$<fingerprint> bw=<KB/s>` line per relay) giving every relay the same weight.
///
/// Without it the consensus weights are the relays' self-measured bandwidths, which diverge as
/// soon as one relay carried a test's traffic: path selection then picks the same middle and
/// exit nearly every time, and a test that needs a fresh circuit on other relays fails at random.
/// With three authorities voting the same measurement, tor uses it for every relay except the
/// authorities themselves (observed with tor 0.4.9: they keep their self-measured few KB/s, so
/// circuits seldom use them; middles and exits, which carry the tests, all weigh the same).
pub(crate) fn bandwidth_file(now_unix: u64, fingerprints: &[String]) -> String {
    let mut text = format!("{now_unix}\n");
    for fingerprint in fingerprints {
        let _ = writeln!(text, "node_id=${fingerprint} bw={EQUAL_BANDWIDTH_KB}");
    }
    text
}

/// The weight every relay gets in the consensus, in KB/s.
pub const EQUAL_BANDWIDTH_KB: u32 = 1000;

/// `resolv.conf` for the exits: only the harness's DNS responder.
pub(crate) fn resolv_conf(dns: SocketAddr) -> String {
    format!("nameserver {dns}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The torrc of node `nickname` in role `role`, with the network's files under `/n`.
    fn render_node(
        nickname: &str,
        role: &Role,
        authorities: &[AuthorityLine],
        owner: u32,
    ) -> String {
        render(
            nickname,
            &Path::new("/n").join(nickname),
            role,
            NetworkFiles {
                resolv_conf: Path::new("/n/resolv.conf"),
                geoip_empty: Path::new("/n/geoip"),
                bandwidths: Path::new("/n/bw"),
            },
            authorities,
            owner,
        )
    }

    #[test]
    fn exit_policy_reaches_loopback_only_but_accepts_hostnames() {
        let text = render_node("exit0", &Role::Exit { or_port: 5000 }, &[], 1);
        let policies: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("ExitPolicy "))
            .collect();
        assert_eq!(
            policies,
            [
                "ExitPolicy accept 127.0.0.0/8:*",
                "ExitPolicy reject 0.0.0.0/1:*",
                "ExitPolicy reject 128.0.0.0/1:*",
                "ExitPolicy accept *:*"
            ]
        );
        assert!(text.contains("ServerDNSResolvConfFile /n/resolv.conf\n"));
        assert!(text.contains("DirCache 0\n"));
    }

    #[test]
    fn authorities_read_one_equal_weight_per_relay() {
        let authority = Role::Authority {
            or_port: 1,
            dir_port: 2,
        };
        let text = render_node("auth0", &authority, &[], 1);
        assert!(text.contains("V3BandwidthsFile /n/bw\n"));
        let exit = render_node("exit0", &Role::Exit { or_port: 5000 }, &[], 1);
        assert!(!exit.contains("V3BandwidthsFile"));
        assert_eq!(
            bandwidth_file(1_800_000_000, &["AA".repeat(20), "BB".repeat(20)]),
            format!(
                "1800000000\nnode_id=${} bw=1000\nnode_id=${} bw=1000\n",
                "AA".repeat(20),
                "BB".repeat(20)
            )
        );
    }

    #[test]
    fn client_gets_flags_control_ports_and_conflux_switch() {
        let auth = AuthorityLine {
            nickname: "auth0".into(),
            or_port: 1,
            dir_port: 2,
            v3ident: "V3".into(),
            fingerprint: "FP".into(),
        };
        let role = Role::Client {
            socks_port: 9050,
            socks_flags: vec!["KeepAliveIsolateSOCKSAuth".into()],
            control_port: 9051,
            control_socket: Some("/n/client/control.sock".into()),
            conflux: false,
            extra: vec!["MaxCircuitDirtiness 600".into()],
        };
        let text = render_node("client", &role, &[auth], 42);
        for expected in [
            "SocksPort 127.0.0.1:9050 KeepAliveIsolateSOCKSAuth\n",
            "ControlPort 127.0.0.1:9051\n",
            "ControlPort unix:/n/client/control.sock\n",
            "ConfluxEnabled 0\n",
            "UseMicrodescriptors 0\n",
            "MaxCircuitDirtiness 600\n",
            "__OwningControllerProcess 42\n",
            "DirAuthority auth0 orport=1 no-v2 v3ident=V3 127.0.0.1:2 FP\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }
}
