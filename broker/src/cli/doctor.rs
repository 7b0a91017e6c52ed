//! `persite doctor`: looks at the installation (files, the daemon's socket, the SOCKS endpoint,
//! tor's control port, optionally a Firefox profile) and prints what works and what to fix.
//!
//! This file only observes; [`persite::doctor`] judges. Every network or socket wait is bounded
//! by [`WAIT`], so doctor never hangs on a silent peer.

use std::io::IsTerminal;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use persite_native_messaging::install;
use persite_native_messaging::manifest::{HOST_BINARY, Os};
use persite_native_messaging::runtime::{SOCKET_NAME, runtime_dir_path};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use persite::config::{Config, default_config_path};
use persite::daemon::client::{self, ClientError};
use persite::doctor::{
    self, BinariesObs, ConfigObs, ControlTarget, DaemonAnswer, DaemonObs, DaemonStatus, FileState,
    FileText, Observations, ProfileObs, SocksObs, SocksProbe, TorFacts, TorObs,
};
use torctl::auth::{self, Plan};
use torctl::{Connection, ControlAddr, ControlConfig, ControlError};

/// Bound on every single wait (connect, greeting, each control-port reply).
pub(crate) const WAIT: Duration = Duration::from_secs(2);

/// Where Debian's `firefox-esr` reads its enterprise policy.
const DEFAULT_POLICIES: &str = "/etc/firefox/policies/policies.json";

/// Arguments of `persite doctor`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = "\
Checks, in order: the persite and persite-native-host programs; the native-messaging manifests \
of Firefox, LibreWolf and Tor Browser; the broker daemon; the configuration; the SOCKS \
endpoint (connect and a SOCKS5 greeting, no stream is opened); tor's control port (version, \
SOCKS listeners, the SocksPort's isolation flags); and with --profile a Firefox profile's \
prefs.js and user.js. Each wait is bounded (2 s).

Exit status: 0 when nothing is an error (warnings allowed), 1 when something is.

Examples:
  persite doctor
  persite doctor --profile ~/.mozilla/firefox/abcd1234.default-esr
  persite doctor --json | jq '.findings[] | select(.status == \"error\")'")]
pub(crate) struct DoctorArgs {
    /// Print the findings as JSON ({ok, errors, warnings, findings: [{id, section, status,
    /// message, hint}]}).
    #[arg(long)]
    pub json: bool,
    /// Also check this Firefox profile folder's prefs.js and user.js.
    #[arg(long, value_name = "DIR")]
    pub profile: Option<PathBuf>,
    /// With --profile: the enterprise policy file whose settings count too (locked values win).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_POLICIES)]
    pub policies: PathBuf,
    /// Config file (default: $XDG_CONFIG_HOME/persite/config.toml or
    /// ~/.config/persite/config.toml).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// A Tor Browser bundle directory whose manifest to check; repeatable.
    #[arg(long, value_name = "PATH")]
    pub tor_browser_dir: Vec<PathBuf>,
}

/// Runs every check and prints the report.
pub(crate) fn run(args: &DoctorArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("persite doctor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let observations = runtime.block_on(observe(args));
    let report = doctor::diagnose(&observations);
    if args.json {
        println!("{}", report.to_json());
    } else {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        print!("{}", report.to_text(colour));
    }
    if report.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Gathers everything [`doctor::diagnose`] needs.
pub(crate) async fn observe(args: &DoctorArgs) -> Observations {
    let binaries = binaries();
    let manifests = match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => install::doctor(Path::new(&home), Os::current(), &args.tor_browser_dir),
        None => Vec::new(),
    };
    let config = config(args.config.as_deref());
    let daemon = daemon().await;
    let (socks, tor) = match &config.parsed {
        Ok(effective) => {
            let socks = socks_probe(effective).await;
            let managed = match &daemon.answer {
                DaemonAnswer::Status(st) => Some(st.tor_managed),
                _ => None,
            };
            let target = doctor::control_target(
                effective,
                managed,
                &daemon
                    .runtime_dir
                    .join(persite::daemon::CONTROL_SOCKET_NAME),
                Path::new("/run/tor/control").exists(),
            );
            (socks, tor(target, effective).await)
        }
        // Nothing is probed at the defaults: `doctor::diagnose` stops at the broken
        // configuration and never reads these.
        Err(_) => (
            SocksObs::Unreachable("not checked: the configuration cannot be used".to_owned()),
            TorObs::Disabled,
        ),
    };
    let profile = args
        .profile
        .as_deref()
        .map(|dir| profile(dir, &args.policies));
    Observations {
        binaries,
        manifests,
        daemon,
        config,
        socks,
        tor,
        profile,
    }
}

fn binaries() -> BinariesObs {
    let persite = std::env::current_exe().map_err(|e| e.to_string());
    let host = match &persite {
        Ok(exe) => exe.with_file_name(HOST_BINARY),
        Err(_) => PathBuf::from(HOST_BINARY),
    };
    let host_state = match std::fs::metadata(&host) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => FileState::Executable,
        Ok(m) if m.is_file() => FileState::NotExecutable,
        _ => FileState::Missing,
    };
    BinariesObs {
        persite,
        host,
        host_state,
    }
}

fn config(explicit: Option<&Path>) -> ConfigObs {
    let path = explicit.map(Path::to_owned).or_else(default_config_path);
    ConfigObs {
        exists: path.as_deref().is_some_and(Path::exists),
        parsed: Config::load(explicit).map_err(|e| e.to_string()),
        path,
    }
}

async fn daemon() -> DaemonObs {
    // Only looks: doctor must not create the runtime directory.
    let runtime_dir = runtime_dir_path();
    let socket = runtime_dir.join(SOCKET_NAME);
    let me = rustix::process::getuid().as_raw();
    let dir_meta = std::fs::symlink_metadata(&runtime_dir).ok();
    let socket_mode = std::fs::symlink_metadata(&socket)
        .ok()
        .map(|m| m.permissions().mode());
    let answer = match tokio::time::timeout(
        WAIT,
        client::request(&socket, "GET", "/v1/status", Vec::new()),
    )
    .await
    {
        Err(_) => DaemonAnswer::Failed(format!("no answer within {WAIT:?}")),
        Ok(Err(ClientError::NotRunning { source, .. })) => {
            DaemonAnswer::NotRunning(source.to_string())
        }
        Ok(Err(e)) => DaemonAnswer::Failed(e.to_string()),
        Ok(Ok((200, status))) => DaemonAnswer::Status(daemon_status(&status)),
        Ok(Ok((code, body))) => DaemonAnswer::Failed(format!("HTTP {code}: {body}")),
    };
    let pid = std::fs::read_to_string(runtime_dir.join(persite::daemon::LOCK_NAME))
        .ok()
        .and_then(|t| t.trim().parse().ok());
    DaemonObs {
        pid,
        dir_mode: dir_meta.as_ref().map(|m| m.permissions().mode()),
        dir_owned: dir_meta.as_ref().map(|m| m.uid() == me),
        runtime_dir,
        socket,
        socket_mode,
        answer,
    }
}

fn daemon_status(s: &serde_json::Value) -> DaemonStatus {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_owned();
    DaemonStatus {
        version: text(&s["broker_version"]),
        instance: text(&s["instance"]),
        uptime_s: s["uptime_s"].as_u64().unwrap_or(0),
        socks: match (s["socks"]["host"].as_str(), s["socks"]["port"].as_u64()) {
            (Some(h), Some(p)) => u16::try_from(p).ok().map(|p| (h.to_owned(), p)),
            _ => None,
        },
        tor_control: s["tor"]["control"].as_str().map(str::to_owned),
        tor_managed: s["tor"]["managed"].as_bool() == Some(true),
    }
}

/// Connects to the SOCKS endpoint and offers "no auth" and "username/password"; reads the
/// method choice and hangs up without opening a stream.
async fn socks_probe(config: &Config) -> SocksObs {
    let host = if config.socks.host == "localhost" {
        "127.0.0.1"
    } else {
        config.socks.host.as_str()
    };
    let Ok(ip) = host.parse::<std::net::IpAddr>() else {
        return SocksObs::Unreachable(format!("{host:?} is not an IP address"));
    };
    let addr = std::net::SocketAddr::new(ip, config.socks.port);
    let mut stream = match tokio::time::timeout(WAIT, tokio::net::TcpStream::connect(addr)).await {
        Err(_) => return SocksObs::Unreachable(format!("no connection within {WAIT:?}")),
        Ok(Err(e)) => return SocksObs::Unreachable(e.to_string()),
        Ok(Ok(s)) => s,
    };
    let exchange = async {
        stream.write_all(&[0x05, 0x02, 0x00, 0x02]).await?;
        let mut reply = [0u8; 2];
        let mut got = 0;
        while got < reply.len() {
            let n = stream.read(&mut reply[got..]).await?;
            if n == 0 {
                break;
            }
            got += n;
        }
        Ok::<Vec<u8>, std::io::Error>(reply[..got].to_vec())
    };
    let probe = match tokio::time::timeout(WAIT, exchange).await {
        Err(_) => SocksProbe::Silent,
        Ok(Err(e)) => SocksProbe::Failed(e.to_string()),
        Ok(Ok(bytes)) => match bytes.as_slice() {
            [] => SocksProbe::Closed,
            [0x05, 0x02] => SocksProbe::UserPass,
            [0x05, 0x00] => SocksProbe::NoAuth,
            [0x05, 0xff] => SocksProbe::NoAcceptable,
            other => SocksProbe::NotSocks5(other.to_vec()),
        },
    };
    SocksObs::Reached(probe)
}

async fn tor(target: ControlTarget, config: &Config) -> TorObs {
    let (addr, source) = match target {
        ControlTarget::Disabled => return TorObs::Disabled,
        ControlTarget::ManagedNotRunning => return TorObs::ManagedNotRunning,
        ControlTarget::Try(addr, source) => (addr, source),
    };
    let parsed: ControlAddr = match addr.parse() {
        Ok(a) => a,
        Err(never) => match never {},
    };
    let mut cc = ControlConfig::new(parsed);
    cc.connect_timeout = WAIT;
    cc.auth_timeout = WAIT;
    cc.reply_timeout = WAIT;
    cc.events = Vec::new();
    cc.password = config
        .tor
        .control_password
        .as_ref()
        .map(|p| p.as_bytes().to_vec());
    cc.cookie_file = config.tor.control_cookie_file.clone();
    let (notify, _) = tokio::sync::broadcast::channel(16);
    let conn = match Connection::open(&cc, notify).await {
        Ok(conn) => conn,
        Err(e @ (ControlError::Connect { .. } | ControlError::Timeout { .. })) => {
            return TorObs::Unreachable {
                addr,
                source,
                error: e.to_string(),
            };
        }
        Err(e) => {
            return TorObs::AuthFailed {
                addr,
                source,
                error: e.to_string(),
            };
        }
    };
    TorObs::Connected(tor_facts(&conn, addr, cc.addr.transport(), cc.password.is_some()).await)
}

async fn tor_facts(
    conn: &Connection,
    addr: String,
    transport: torctl::Transport,
    have_password: bool,
) -> TorFacts {
    let info = conn.protocol_info();
    // The client picks deterministically from PROTOCOLINFO; repeat the choice to name it.
    let method = match auth::choose_method(info, transport, have_password, |p| {
        std::fs::File::open(p).is_ok()
    }) {
        Ok(Plan::SafeCookie(p)) => format!("SAFECOOKIE (cookie {})", p.display()),
        Ok(Plan::Cookie(p)) => format!("COOKIE (cookie {})", p.display()),
        Ok(Plan::HashedPassword) => "HASHEDPASSWORD".to_owned(),
        Ok(Plan::Null) => {
            "no authentication (NULL: any local program can control this tor)".to_owned()
        }
        Err(_) => "an accepted method".to_owned(),
    };
    let version = match conn.version().await {
        Ok(v) => Ok(v.raw),
        Err(e) => info.tor_version.clone().ok_or(e.to_string()),
    };
    let bootstrap = conn.bootstrap_phase().await.ok().and_then(|ev| {
        let arg = |key: &str| {
            ev.args
                .iter()
                .find(|kv| kv.key == key)
                .map(|kv| kv.value_lossy())
        };
        let progress = arg("PROGRESS")?.parse::<u8>().ok()?;
        Some((progress, arg("SUMMARY").unwrap_or_default()))
    });
    let listeners = conn.socks_listeners().await.map_err(|e| e.to_string());
    let socks_ports = conn
        .getconf(&["SocksPort"])
        .await
        .map(|pairs| {
            pairs
                .into_iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("SocksPort"))
                .map(|(_, v)| v)
                .collect()
        })
        .map_err(|e| e.to_string());
    TorFacts {
        addr,
        method,
        version,
        bootstrap,
        listeners,
        socks_ports,
    }
}

fn read_text(path: &Path) -> FileText {
    match std::fs::read_to_string(path) {
        Ok(t) => FileText::Text(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileText::Missing,
        Err(e) => FileText::Unreadable(e.to_string()),
    }
}

fn profile(dir: &Path, policies: &Path) -> ProfileObs {
    ProfileObs {
        dir: dir.to_owned(),
        is_dir: dir.is_dir(),
        prefs_js: read_text(&dir.join("prefs.js")),
        user_js: read_text(&dir.join("user.js")),
        policies_path: policies.to_owned(),
        policies: read_text(policies),
    }
}
