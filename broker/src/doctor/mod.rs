//! `persite doctor`'s judgement, free of I/O: what was observed ([`Observations`]) goes in,
//! structured [`Finding`]s come out, and [`Report`] renders them as text or JSON.
//!
//! `cli/doctor.rs` does the looking (files, sockets, tor's control port, each wait bounded);
//! everything that decides ✓ / ! / ✗ and what to tell the user lives here and is unit-tested.

pub(crate) mod profile;
pub(crate) mod socks_port;

use std::path::PathBuf;

use persite_native_messaging::install::{ManifestCheck, ManifestState};
use persite_native_messaging::manifest::{Browser, Scope};
use serde::Serialize;

use crate::config::{Config, ControlSetting, TorMode};
use crate::hardening::{self, PrefProblem};
use socks_port::{SocksPortLine, listeners_cover};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Works.
    Ok,
    /// For information; nothing to do.
    Info,
    /// Works, but something is missing or could be better.
    Warning,
    /// Broken: Persite cannot protect the user like this.
    Error,
}

impl Status {
    /// The one-character mark used in text output.
    pub fn mark(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Info => "·",
            Status::Warning => "!",
            Status::Error => "✗",
        }
    }
}

/// Which part of the setup a finding is about (the text output's groups, in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    /// `persite` and `persite-native-host`.
    Binaries,
    /// Native-messaging host manifests.
    Manifests,
    /// The broker daemon.
    Daemon,
    /// The configuration file.
    Config,
    /// Tor's SOCKS endpoint.
    Socks,
    /// Tor's control port and SocksPort flags.
    Tor,
    /// A Firefox profile (`--profile`).
    Profile,
}

impl Section {
    /// The heading in text output.
    pub fn title(self) -> &'static str {
        match self {
            Section::Binaries => "Programs",
            Section::Manifests => "Native messaging (browser ↔ persite-native-host)",
            Section::Daemon => "Broker daemon",
            Section::Config => "Configuration",
            Section::Socks => "SOCKS endpoint",
            Section::Tor => "Tor",
            Section::Profile => "Firefox profile",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable identifier for scripts, e.g. `tor.socksport.isolation`.
    pub id: String,
    /// The group it belongs to.
    pub section: Section,
    /// ✓, ·, ! or ✗.
    pub status: Status,
    /// What was found, in plain words.
    pub message: String,
    /// What to do about it (always present for warnings and errors).
    pub hint: Option<String>,
}

fn finding(
    id: impl Into<String>,
    section: Section,
    status: Status,
    message: impl Into<String>,
    hint: Option<String>,
) -> Finding {
    Finding {
        id: id.into(),
        section,
        status,
        message: message.into(),
        hint,
    }
}

/// The state of an executable file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// A regular file with an execute bit.
    Executable,
    /// A file, but not executable.
    NotExecutable,
    /// Nothing there (or not a regular file).
    Missing,
}

/// Where the programs are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinariesObs {
    /// The running `persite` (or why it cannot be located).
    pub persite: Result<PathBuf, String>,
    /// `persite-native-host` next to it.
    pub host: PathBuf,
    /// The host's state.
    pub host_state: FileState,
}

/// The daemon's own account of itself (`GET /v1/status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonStatus {
    /// `broker_version`.
    pub version: String,
    /// `instance`.
    pub instance: String,
    /// `uptime_s`.
    pub uptime_s: u64,
    /// The SOCKS endpoint it hands the extension.
    pub socks: Option<(String, u16)>,
    /// `tor.control` (`connected`, `connecting`, `none`).
    pub tor_control: Option<String>,
    /// `tor.managed`: the daemon runs its own tor.
    pub tor_managed: bool,
}

/// What came back from the daemon's socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonAnswer {
    /// Nothing accepts connections (no socket, or a stale one).
    NotRunning(String),
    /// Something accepted but did not answer properly in time.
    Failed(String),
    /// It answered.
    Status(DaemonStatus),
}

/// The daemon's socket and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonObs {
    /// The runtime directory.
    pub runtime_dir: PathBuf,
    /// Its permission bits, if it exists.
    pub dir_mode: Option<u32>,
    /// Whether it belongs to the current user (if it exists).
    pub dir_owned: Option<bool>,
    /// The socket path.
    pub socket: PathBuf,
    /// The socket's permission bits, if it exists.
    pub socket_mode: Option<u32>,
    /// The daemon's pid from its lock file, if readable.
    pub pid: Option<u32>,
    /// The answer.
    pub answer: DaemonAnswer,
}

/// The configuration file.
#[derive(Debug, Clone)]
pub struct ConfigObs {
    /// The file consulted (`None`: no `$HOME`/`$XDG_CONFIG_HOME`, defaults used).
    pub path: Option<PathBuf>,
    /// Whether the file exists.
    pub exists: bool,
    /// The parsed configuration, or the error text.
    pub parsed: Result<Config, String>,
}

/// What the SOCKS endpoint answered to the greeting `05 02 00 02` (no auth or user/pass).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocksProbe {
    /// `05 02`: SOCKS5 choosing username/password — what isolation needs.
    UserPass,
    /// `05 00`: SOCKS5 choosing no authentication although username/password was offered.
    NoAuth,
    /// `05 FF`: SOCKS5 accepting neither.
    NoAcceptable,
    /// Some other answer (the first bytes).
    NotSocks5(Vec<u8>),
    /// Nothing within the bound.
    Silent,
    /// Closed without answering.
    Closed,
    /// Reading or writing failed.
    Failed(String),
}

/// The SOCKS endpoint check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocksObs {
    /// TCP connect failed (or timed out).
    Unreachable(String),
    /// Connected; the greeting's outcome.
    Reached(SocksProbe),
}

/// Where doctor looked for tor's control port, and why there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlSource {
    /// `[tor] control` names it.
    Configured,
    /// Not configured: Persite's default guess (Debian's socket, else 127.0.0.1:9051).
    Default,
    /// The daemon's managed tor (its private socket in the runtime directory).
    Managed,
}

/// What tor's control port told doctor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorFacts {
    /// The control address used.
    pub addr: String,
    /// The authentication method that worked (`SAFECOOKIE`, `COOKIE`, …).
    pub method: String,
    /// `GETINFO version` (or PROTOCOLINFO's), or the error.
    pub version: Result<String, String>,
    /// Bootstrap progress and summary, if tor said.
    pub bootstrap: Option<(u8, String)>,
    /// `GETINFO net/listeners/socks`, or the error.
    pub listeners: Result<Vec<String>, String>,
    /// `GETCONF SocksPort` values, or the error.
    pub socks_ports: Result<Vec<String>, String>,
}

/// The control-port check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TorObs {
    /// `[tor] control = "none"`.
    Disabled,
    /// Managed mode but no daemon runs, so no tor either.
    ManagedNotRunning,
    /// The socket could not be opened.
    Unreachable {
        /// Where.
        addr: String,
        /// Why there.
        source: ControlSource,
        /// The error.
        error: String,
    },
    /// Connected, but authentication failed.
    AuthFailed {
        /// Where.
        addr: String,
        /// Why there.
        source: ControlSource,
        /// The error.
        error: String,
    },
    /// Connected and authenticated.
    Connected(TorFacts),
}

/// The contents of one file, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileText {
    /// Not there.
    Missing,
    /// There but unreadable.
    Unreadable(String),
    /// Its text.
    Text(String),
}

/// A Firefox profile folder (`--profile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileObs {
    /// The folder.
    pub dir: PathBuf,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// `prefs.js`.
    pub prefs_js: FileText,
    /// `user.js`.
    pub user_js: FileText,
    /// The enterprise policy file checked, and its contents.
    pub policies_path: PathBuf,
    /// `policies.json`.
    pub policies: FileText,
}

/// Everything doctor looked at.
#[derive(Debug, Clone)]
pub struct Observations {
    /// Programs.
    pub binaries: BinariesObs,
    /// Manifest locations (from `persite_native_messaging::install::doctor`).
    pub manifests: Vec<ManifestCheck>,
    /// The daemon.
    pub daemon: DaemonObs,
    /// The configuration.
    pub config: ConfigObs,
    /// The SOCKS endpoint.
    pub socks: SocksObs,
    /// The control port.
    pub tor: TorObs,
    /// The profile, with `--profile`.
    pub profile: Option<ProfileObs>,
}

/// The findings, in section order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Every finding.
    pub findings: Vec<Finding>,
}

/// Judges everything observed. A configuration that cannot be used stops the judgement after
/// the checks that do not depend on it (programs, manifests): the daemon, SOCKS, tor and
/// profile checks would otherwise reason from the defaults, which are not what the user set
/// (and might send them to start a tor they do not need).
pub fn diagnose(obs: &Observations) -> Report {
    let mut findings = Vec::new();
    findings.extend(binaries(&obs.binaries));
    findings.extend(manifests(&obs.manifests, &obs.binaries.host));
    let Ok(config) = &obs.config.parsed else {
        findings.extend(config_findings(&obs.config));
        return Report { findings };
    };
    findings.extend(daemon(&obs.daemon, config));
    findings.extend(config_findings(&obs.config));
    findings.extend(socks(&obs.socks, config, &obs.daemon.answer));
    findings.extend(tor(&obs.tor, config));
    if let Some(p) = &obs.profile {
        findings.extend(profile_findings(p, config));
    }
    Report { findings }
}

fn endpoint(config: &Config) -> String {
    host_port(&config.socks.host, config.socks.port)
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Checks the programs.
pub fn binaries(b: &BinariesObs) -> Vec<Finding> {
    let s = Section::Binaries;
    let mut out = vec![match &b.persite {
        Ok(path) => finding(
            "binaries.persite",
            s,
            Status::Ok,
            format!(
                "persite {} is {}",
                env!("CARGO_PKG_VERSION"),
                path.display()
            ),
            None,
        ),
        Err(e) => finding(
            "binaries.persite",
            s,
            Status::Warning,
            format!("cannot tell where this persite program is: {e}"),
            Some("run doctor from the installed persite (e.g. ~/.local/bin/persite)".into()),
        ),
    }];
    let host = b.host.display();
    out.push(match b.host_state {
        FileState::Executable => finding(
            "binaries.native_host",
            s,
            Status::Ok,
            format!("persite-native-host is {host}"),
            None,
        ),
        FileState::NotExecutable => finding(
            "binaries.native_host",
            s,
            Status::Error,
            format!("{host} is not executable, so the browser cannot start it"),
            Some(format!("chmod +x {host}")),
        ),
        FileState::Missing => finding(
            "binaries.native_host",
            s,
            Status::Error,
            format!("persite-native-host is missing: nothing at {host} (it must sit next to persite)"),
            Some("install both programs into one folder: ./scripts/install.sh, or cargo build and copy target/*/persite-native-host next to persite".into()),
        ),
    });
    out
}

fn scope_word(scope: Scope) -> &'static str {
    match scope {
        Scope::User => "user",
        Scope::System => "system",
    }
}

fn browser_arg(browser: Browser) -> &'static str {
    match browser {
        Browser::Firefox => "firefox",
        Browser::LibreWolf => "librewolf",
        Browser::TorBrowser => "tor-browser",
    }
}

/// Checks the native-messaging manifests; `expected_host` is the host next to this `persite`.
pub fn manifests(checks: &[ManifestCheck], expected_host: &std::path::Path) -> Vec<Finding> {
    let s = Section::Manifests;
    let any_valid = checks
        .iter()
        .any(|c| matches!(c.state, ManifestState::Valid { .. }));
    let mut out = Vec::new();
    if checks.is_empty() {
        out.push(finding(
            "manifest.none",
            s,
            Status::Error,
            "no place to look for a native-messaging manifest was found (is $HOME set?)",
            Some("set HOME and run `persite install`".into()),
        ));
    }
    for c in checks {
        let who = format!("{} ({})", c.browser.label(), scope_word(c.scope));
        let id = format!(
            "manifest.{}.{}",
            browser_arg(c.browser),
            scope_word(c.scope)
        );
        let install = match c.scope {
            Scope::User => format!("persite install --browser {}", browser_arg(c.browser)),
            Scope::System => format!(
                "sudo persite install --system --browser {}",
                browser_arg(c.browser)
            ),
        };
        let path = c.path.display();
        out.push(match &c.state {
            ManifestState::Valid { host_path } if host_path != expected_host => finding(
                id,
                s,
                Status::Warning,
                format!(
                    "{who}: {path} is valid but starts {}, not the persite-native-host next to this persite ({})",
                    host_path.display(),
                    expected_host.display()
                ),
                Some(format!("if this persite is the one you use, run `{install}` to point the browser at it")),
            ),
            ManifestState::Valid { host_path } => finding(
                id,
                s,
                Status::Ok,
                format!("{who}: {path} allows persite@persite.org and starts {}", host_path.display()),
                None,
            ),
            ManifestState::Invalid { problems } => finding(
                id,
                s,
                Status::Error,
                format!("{who}: {path} is unusable: {}", problems.join("; ")),
                Some(format!("run `{install}` to rewrite it")),
            ),
            ManifestState::Missing => finding(
                id,
                s,
                if any_valid { Status::Warning } else { Status::Error },
                format!(
                    "{who}: no manifest at {path}, so the extension cannot reach Persite{}",
                    if any_valid { " in this browser" } else { "" }
                ),
                Some(format!("run `{install}`{}", if any_valid { " if you use this browser with Persite" } else { "" })),
            ),
        });
    }
    out
}

fn mode_octal(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

/// Checks the daemon's socket and answer.
pub fn daemon(d: &DaemonObs, config: &Config) -> Vec<Finding> {
    let s = Section::Daemon;
    let mut out = Vec::new();
    let dir = d.runtime_dir.display();
    if d.dir_owned == Some(false) {
        out.push(finding(
            "daemon.runtime_dir",
            s,
            Status::Error,
            format!(
                "the runtime directory {dir} belongs to another user; Persite refuses to use it"
            ),
            Some("set PERSITE_RUNTIME_DIR or XDG_RUNTIME_DIR to a directory of your own".into()),
        ));
    } else if let Some(mode) = d.dir_mode.filter(|m| m & 0o077 != 0) {
        out.push(finding(
            "daemon.runtime_dir",
            s,
            Status::Error,
            format!(
                "the runtime directory {dir} has mode {}: other users could reach the daemon",
                mode_octal(mode)
            ),
            Some(format!("chmod 700 {dir}")),
        ));
    }
    if let Some(mode) = d.socket_mode.filter(|m| m & 0o077 != 0) {
        out.push(finding(
            "daemon.socket_mode",
            s,
            Status::Error,
            format!(
                "the socket {} has mode {}: other users could ask for credentials",
                d.socket.display(),
                mode_octal(mode)
            ),
            Some("restart the daemon (it creates the socket with mode 0600)".into()),
        ));
    }
    let perms = match (d.socket_mode, d.dir_mode) {
        (Some(sm), Some(dm)) => format!(" ({}, directory {})", mode_octal(sm), mode_octal(dm)),
        _ => String::new(),
    };
    out.push(match &d.answer {
        DaemonAnswer::NotRunning(why) => finding(
            "daemon.running",
            s,
            Status::Warning,
            format!("no daemon runs: nothing answers on {} ({why})", d.socket.display()),
            Some("the native host starts it when the browser connects; to start it now run `persite serve` (or `persite serve --detach`)".into()),
        ),
        DaemonAnswer::Failed(why) => finding(
            "daemon.running",
            s,
            Status::Error,
            format!("something listens on {} but did not answer properly: {why}", d.socket.display()),
            Some("stop that process and start `persite serve` again; its stderr says what failed".into()),
        ),
        DaemonAnswer::Status(st) => {
            let up = st.uptime_s;
            finding(
                "daemon.running",
                s,
                Status::Ok,
                format!(
                    "daemon {} runs ({}instance {}, up {}h {:02}m {:02}s) on {}{perms}",
                    st.version,
                    d.pid.map_or(String::new(), |p| format!("pid {p}, ")),
                    st.instance,
                    up / 3600,
                    up / 60 % 60,
                    up % 60,
                    d.socket.display()
                ),
                None,
            )
        }
    });
    if let DaemonAnswer::Status(st) = &d.answer {
        if let Some((host, port)) = &st.socks {
            if (host.as_str(), *port) != (config.socks.host.as_str(), config.socks.port) {
                out.push(finding(
                    "daemon.socks",
                    s,
                    Status::Warning,
                    format!(
                        "the daemon hands the extension {} but the configuration now says {}",
                        host_port(host, *port),
                        endpoint(config)
                    ),
                    Some(format!(
                        "the daemon was started with another configuration: stop it (`kill {}`) so the next browser connection starts it with this one (or start it yourself: `persite serve`)",
                        d.pid.map_or("<its pid>".to_owned(), |p| p.to_string())
                    )),
                ));
            }
        }
    }
    out
}

/// Checks the configuration file.
pub fn config_findings(c: &ConfigObs) -> Vec<Finding> {
    let s = Section::Config;
    let path = c
        .path
        .as_ref()
        .map_or("(no config path: HOME is not set)".to_owned(), |p| {
            p.display().to_string()
        });
    match &c.parsed {
        Err(e) => vec![finding(
            "config.file",
            s,
            Status::Error,
            format!("the configuration cannot be used: {e}"),
            Some(format!(
                "fix {path} where the message says, then run `persite doctor` again; the daemon \
                 refuses to start with it, and doctor stops here: the daemon, SOCKS, tor and \
                 profile checks need the configuration you meant"
            )),
        )],
        Ok(config) => {
            let file = if c.exists {
                format!("configuration {path} is valid")
            } else {
                format!("no configuration file at {path}: using the defaults")
            };
            let mode = match config.tor.mode {
                TorMode::System => "system (a tor someone else runs)",
                TorMode::Managed => "managed (the daemon runs its own tor)",
                TorMode::Auto => {
                    "auto (the tor on the SOCKS endpoint if one listens, else the daemon's own)"
                }
            };
            vec![
                finding("config.file", s, Status::Ok, file, None),
                finding(
                    "config.socks",
                    s,
                    Status::Info,
                    format!(
                        "the extension will send each site's traffic to tor at {} (SOCKS5, per-site credentials)",
                        endpoint(config)
                    ),
                    None,
                ),
                finding(
                    "config.tor_mode",
                    s,
                    Status::Info,
                    format!("tor mode: {mode}"),
                    None,
                ),
            ]
        }
    }
}

/// Checks the SOCKS endpoint.
pub fn socks(o: &SocksObs, config: &Config, daemon: &DaemonAnswer) -> Vec<Finding> {
    let s = Section::Socks;
    let ep = endpoint(config);
    let daemon_runs = matches!(daemon, DaemonAnswer::Status(_));
    match o {
        SocksObs::Unreachable(e) => {
            let hint = match config.tor.mode {
                TorMode::Managed | TorMode::Auto if !daemon_runs => format!(
                    "start tor (e.g. `sudo systemctl start tor`) with `SocksPort {ep} KeepAliveIsolateSOCKSAuth`, or let Persite run its own: `persite serve` (tor mode {})",
                    if config.tor.mode == TorMode::Auto { "auto" } else { "managed" }
                ),
                TorMode::Managed | TorMode::Auto => "the daemon's own tor is not listening: see `persite status` and the daemon's stderr (is the tor binary installed?)".to_owned(),
                TorMode::System => format!(
                    "start tor (e.g. `sudo systemctl start tor`), or set [socks] host/port in the configuration to tor's SocksPort (now {ep})"
                ),
            };
            vec![finding(
                "socks.reachable",
                s,
                Status::Error,
                format!(
                    "nothing accepts connections on {ep} ({e}): the browser's traffic cannot reach tor"
                ),
                Some(hint),
            )]
        }
        SocksObs::Reached(probe) => {
            let (status, message, hint) = match probe {
                SocksProbe::UserPass => (
                    Status::Ok,
                    format!("{ep} speaks SOCKS5 and accepts username/password authentication, which carries the per-site credentials"),
                    None,
                ),
                SocksProbe::NoAuth => (
                    Status::Warning,
                    format!("{ep} speaks SOCKS5 but chose \"no authentication\" although username/password was offered: tor does this on a SocksPort with NoIsolateSOCKSAuth or PreferSOCKSNoAuth"),
                    Some("remove NoIsolateSOCKSAuth and PreferSOCKSNoAuth from that SocksPort line in torrc".to_owned()),
                ),
                SocksProbe::NoAcceptable => (
                    Status::Error,
                    format!("{ep} speaks SOCKS5 but accepts neither \"no authentication\" nor username/password"),
                    Some(format!("point [socks] at tor's SocksPort; {ep} is some other SOCKS server")),
                ),
                SocksProbe::NotSocks5(bytes) => (
                    Status::Error,
                    format!("{ep} answered {} to a SOCKS5 greeting: it is not a SOCKS5 server", hex_bytes(bytes)),
                    Some(format!("is {ep} tor's ControlPort or an HTTP port? set [socks] to tor's SocksPort")),
                ),
                SocksProbe::Silent => (
                    Status::Error,
                    format!("{ep} accepted the connection but did not answer the SOCKS5 greeting in time"),
                    Some(format!("check what listens on {ep}; it should be tor's SocksPort")),
                ),
                SocksProbe::Closed => (
                    Status::Error,
                    format!("{ep} closed the connection without answering the SOCKS5 greeting"),
                    Some(format!("check what listens on {ep}; it should be tor's SocksPort")),
                ),
                SocksProbe::Failed(e) => (
                    Status::Error,
                    format!("talking SOCKS5 to {ep} failed: {e}"),
                    Some(format!("check what listens on {ep}; it should be tor's SocksPort")),
                ),
            };
            vec![finding("socks.protocol", s, status, message, hint)]
        }
    }
}

fn hex_bytes(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing".to_owned();
    }
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

const NO_CONTROL_MEANS: &str = "per-site isolation still works (it needs only the SocksPort); unavailable without a control port: the circuit display and tor's NEWNYM on New identity";

fn enable_control_hint(config_addr: &str) -> String {
    format!(
        "to enable them, add to torrc `ControlPort 9051` (or `ControlSocket /run/tor/control`) and `CookieAuthentication 1`, reload tor, make tor's cookie readable for you (Debian: `sudo adduser $USER debian-tor`, then log in again), and set [tor] control = \"{config_addr}\" in the configuration"
    )
}

/// Checks tor's control port and the SocksPort the extension uses.
pub fn tor(o: &TorObs, config: &Config) -> Vec<Finding> {
    let mut out = tor_control(o, config);
    out.extend(socks_vouched(o, config));
    out
}

/// Whether anything vouches that the `[socks]` endpoint is tor when no control link is up:
/// nothing at all without a control port (the daemon serves anyway), and the daemon refuses
/// credentials while a configured one does not answer (`docs/tor.md`, "The SOCKS endpoint must be tor").
fn socks_vouched(o: &TorObs, config: &Config) -> Option<Finding> {
    let s = Section::Tor;
    let ep = endpoint(config);
    let unvouched = || {
        finding(
            "tor.socks_vouched",
            s,
            Status::Warning,
            format!(
                "nothing vouches that the SOCKS endpoint {ep} is tor: without a control port, whatever listens there first (tor, or any other local program) receives all browsing"
            ),
            Some(format!(
                "give the daemon tor's control port, so it checks that {ep} is one of tor's SOCKS listeners: {}",
                enable_control_hint("127.0.0.1:9051")
            )),
        )
    };
    let refused = |addr: &str| {
        finding(
            "tor.socks_vouched",
            s,
            Status::Error,
            format!(
                "web requests are blocked: the daemon hands out no credentials (`socks_unverified`) until the control port {addr} answers and names {ep} among tor's SOCKS listeners"
            ),
            Some(format!(
                "fix the control port (above), or set [tor] control = \"none\" to trust {ep} without proof"
            )),
        )
    };
    match o {
        TorObs::Disabled => Some(unvouched()),
        TorObs::Unreachable { source, addr, .. } | TorObs::AuthFailed { source, addr, .. } => {
            match source {
                ControlSource::Configured => Some(refused(addr)),
                ControlSource::Default => Some(unvouched()),
                ControlSource::Managed => None,
            }
        }
        TorObs::ManagedNotRunning | TorObs::Connected(_) => None,
    }
}

fn tor_control(o: &TorObs, config: &Config) -> Vec<Finding> {
    let s = Section::Tor;
    match o {
        TorObs::Disabled => vec![finding(
            "tor.control",
            s,
            Status::Warning,
            format!("no control port ([tor] control = \"none\"): {NO_CONTROL_MEANS}"),
            Some(enable_control_hint("127.0.0.1:9051")),
        )],
        TorObs::ManagedNotRunning => vec![finding(
            "tor.control",
            s,
            Status::Info,
            "tor is managed by the daemon, which is not running: nothing to check until it starts",
            None,
        )],
        TorObs::Unreachable {
            addr,
            source,
            error,
        } => {
            let (status, what) = match source {
                ControlSource::Configured => (
                    Status::Error,
                    format!("the configured control port {addr} does not answer ({error})"),
                ),
                ControlSource::Default => (
                    Status::Warning,
                    format!("no control port answers at {addr} ({error})"),
                ),
                ControlSource::Managed => (
                    Status::Error,
                    format!("the daemon's own tor does not answer on {addr} ({error})"),
                ),
            };
            let hint = match source {
                ControlSource::Managed => {
                    "see `persite status` and the daemon's stderr; restart the daemon".to_owned()
                }
                _ => enable_control_hint(addr),
            };
            vec![finding(
                "tor.control",
                s,
                status,
                format!("{what}: {NO_CONTROL_MEANS}"),
                Some(hint),
            )]
        }
        TorObs::AuthFailed {
            addr,
            source,
            error,
        } => {
            let status = if *source == ControlSource::Default {
                Status::Warning
            } else {
                Status::Error
            };
            let hint = if error.contains("over TCP only") {
                "enable CookieAuthentication 1 in torrc and reload tor (tor then offers SAFECOOKIE, which never reveals the cookie), or use a ControlSocket; over TCP Persite refuses COOKIE and NULL because any local user can bind the port before tor".to_owned()
            } else if error.contains("cookie") {
                "tor's cookie file must be readable for you: on Debian `sudo adduser $USER debian-tor`, then log in again; if tor runs in another container or VM, set [tor] control_cookie_file to where its cookie is shared; or use HashedControlPassword and set [tor] control_password".to_owned()
            } else {
                "check CookieAuthentication / HashedControlPassword in torrc and [tor] control_password in the configuration".to_owned()
            };
            vec![finding(
                "tor.auth",
                s,
                status,
                format!("control port {addr} refused authentication: {error}; {NO_CONTROL_MEANS}"),
                Some(hint),
            )]
        }
        TorObs::Connected(facts) => connected(facts, config),
    }
}

fn connected(f: &TorFacts, config: &Config) -> Vec<Finding> {
    let s = Section::Tor;
    let mut out = vec![finding(
        "tor.control",
        s,
        Status::Ok,
        format!("control port {}: authenticated with {}", f.addr, f.method),
        None,
    )];
    let over_tcp = f
        .addr
        .parse::<torctl::ControlAddr>()
        .is_ok_and(|a| a.transport() == torctl::Transport::Tcp);
    if over_tcp && f.method.starts_with("HASHEDPASSWORD") {
        out.push(finding(
            "tor.auth",
            s,
            Status::Warning,
            format!(
                "the control password goes in clear over TCP to {}: whoever holds that port \
                 first (any local user can bind it before tor) receives it",
                f.addr
            ),
            Some(
                "prefer CookieAuthentication 1 in torrc (SAFECOOKIE never reveals the cookie) \
                 or a ControlSocket, and remove [tor] control_password"
                    .into(),
            ),
        ));
    }
    out.push(match &f.version {
        Ok(v) => finding("tor.version", s, Status::Ok, format!("tor {v}"), None),
        Err(e) => finding(
            "tor.version",
            s,
            Status::Warning,
            format!("tor did not tell its version: {e}"),
            Some("check that the control port is not filtered (e.g. by onion-grater)".into()),
        ),
    });
    if let Some((progress, summary)) = &f.bootstrap {
        out.push(if *progress >= 100 {
            finding(
                "tor.bootstrap",
                s,
                Status::Ok,
                format!("tor is bootstrapped ({summary})"),
                None,
            )
        } else {
            finding(
                "tor.bootstrap",
                s,
                Status::Warning,
                format!("tor is bootstrapped {progress}% ({summary}): pages will not load yet"),
                Some("wait, or check tor's log: DisableNetwork, bridges, firewall, clock".into()),
            )
        });
    }
    let ep = endpoint(config);
    let (host, port) = (config.socks.host.as_str(), config.socks.port);
    let listens = match &f.listeners {
        Ok(list) => {
            let shown = if list.is_empty() {
                "none".to_owned()
            } else {
                list.join(", ")
            };
            if listeners_cover(list, host, port) {
                out.push(finding(
                    "tor.listener",
                    s,
                    Status::Ok,
                    format!("tor listens on {ep}, the SOCKS endpoint the extension uses (tor's SOCKS listeners: {shown})"),
                    None,
                ));
                true
            } else {
                out.push(finding(
                    "tor.listener",
                    s,
                    Status::Error,
                    format!("the extension uses {ep}, but this tor's SOCKS listeners are: {shown}; something else may be listening on {ep}, so the daemon hands out no credentials (`socks_not_tor`) and web requests are blocked"),
                    Some(format!(
                        "set [socks] host/port in the configuration to one of tor's listeners, or add `SocksPort {ep} KeepAliveIsolateSOCKSAuth` to torrc{}",
                        if host.eq_ignore_ascii_case("localhost") {
                            " (`localhost` needs tor on both 127.0.0.1 and [::1]: the browser may use either; or use an IP literal)"
                        } else {
                            ""
                        }
                    )),
                ));
                false
            }
        }
        Err(e) => {
            out.push(finding(
                "tor.listener",
                s,
                Status::Error,
                format!("cannot ask tor which SOCKS ports it listens on: {e}; without that answer the daemon hands out no credentials (`socks_unverified`) and web requests are blocked"),
                Some("a control-port filter (onion-grater) may refuse GETINFO net/listeners/socks; allow it, or set [tor] control = \"none\" to trust the SOCKS endpoint without proof".into()),
            ));
            true
        }
    };
    if !listens {
        return out;
    }
    match &f.socks_ports {
        Err(e) => out.push(finding(
            "tor.socksport",
            s,
            Status::Warning,
            format!("cannot read tor's SocksPort flags: {e}"),
            Some("a control-port filter may refuse GETCONF SocksPort; make sure torrc has no NoIsolateSOCKSAuth".into()),
        )),
        Ok(values) => out.push(socks_port_finding(values, host, port, &ep)),
    }
    out
}

/// Judges the `SocksPort` line that serves `host:port`.
pub fn socks_port_finding(values: &[String], host: &str, port: u16, ep: &str) -> Finding {
    let s = Section::Tor;
    let lines: Vec<SocksPortLine> = if values.is_empty() {
        vec![SocksPortLine::parse("")]
    } else {
        values.iter().map(|v| SocksPortLine::parse(v)).collect()
    };
    let candidates: Vec<&SocksPortLine> = lines
        .iter()
        .filter(|l| l.may_listen_on(host, port))
        .collect();
    // A line naming the port beats an `auto` line that might be it.
    let exact: Vec<&SocksPortLine> = candidates
        .iter()
        .copied()
        .filter(|l| !matches!(l.addr, socks_port::PortAddr::Tcp { port: None, .. }))
        .collect();
    let chosen = match (exact.as_slice(), candidates.as_slice()) {
        ([one], _) | ([], [one]) => *one,
        _ => {
            let all: Vec<&str> = lines.iter().map(|l| l.raw.as_str()).collect();
            return finding(
                "tor.socksport",
                s,
                Status::Warning,
                format!(
                    "cannot tell which SocksPort line serves {ep} (tor's SocksPort lines: {})",
                    all.join(" | ")
                ),
                Some("make sure none of them has NoIsolateSOCKSAuth, and give the one Persite uses KeepAliveIsolateSOCKSAuth".into()),
            );
        }
    };
    let flags = if chosen.flags.is_empty() {
        "no flags".to_owned()
    } else {
        format!("flags: {}", chosen.flags.join(" "))
    };
    if chosen.has_flag("NoIsolateSOCKSAuth") {
        finding(
            "tor.socksport",
            s,
            Status::Error,
            format!(
                "SocksPort `{}` has NoIsolateSOCKSAuth: tor ignores the per-site credentials, so every site shares circuits",
                chosen.raw
            ),
            Some(format!(
                "in torrc, remove NoIsolateSOCKSAuth from that line (recommended: `SocksPort {ep} KeepAliveIsolateSOCKSAuth`) and reload tor"
            )),
        )
    } else if !chosen.has_flag("KeepAliveIsolateSOCKSAuth") {
        finding(
            "tor.socksport",
            s,
            Status::Warning,
            format!(
                "SocksPort `{}` isolates by SOCKS credentials ({flags}) but lacks KeepAliveIsolateSOCKSAuth: tor retires a site's circuit after MaxCircuitDirtiness (10 min) even while the site uses it",
                chosen.raw
            ),
            Some(format!(
                "in torrc use `SocksPort {ep} KeepAliveIsolateSOCKSAuth` (as Tor Browser does) and reload tor"
            )),
        )
    } else {
        finding(
            "tor.socksport",
            s,
            Status::Ok,
            format!(
                "SocksPort `{}` isolates by SOCKS credentials and keeps a site's circuit while it is used ({flags})",
                chosen.raw
            ),
            None,
        )
    }
}

/// Settings whose absence weakens defence in depth or performance but opens no leak by itself,
/// or lets background traffic that names no site onto the shared catch-all circuit; a wrong or
/// missing value is a warning, every other setting of the table an error.
const ADVISORY_PREFS: &[&str] = &[
    "network.proxy.allow_hijacking_localhost",
    "network.dns.disabled",
    "network.dns.disablePrefetch",
    "network.dns.disablePrefetchFromHTTPS",
    "network.predictor.enabled",
    "network.prefetch-next",
    "network.http.speculative-parallel-limit",
    "browser.urlbar.speculativeConnect.enabled",
    "browser.places.speculativeConnect.enabled",
    "network.http.max-persistent-connections-per-proxy",
    "network.http.connection-retry-timeout",
    // Background traffic that does not name the sites you visit (it still shares one circuit).
    "dom.push.enabled",
    "browser.safebrowsing.downloads.enabled",
    "browser.safebrowsing.provider.google4.updateURL",
    "browser.safebrowsing.provider.google.updateURL",
    "toolkit.telemetry.enabled",
    "toolkit.telemetry.unified",
    "datareporting.healthreport.uploadEnabled",
    "datareporting.policy.dataSubmissionEnabled",
    "datareporting.usage.uploadEnabled",
    "toolkit.telemetry.server",
    "browser.crashReports.unsubmittedCheck.autoSubmit2",
    "network.captive-portal-service.enabled",
    "network.connectivity-service.enabled",
    "browser.send_pings",
    "beacon.enabled",
    "geo.provider.network.url",
    "browser.region.network.url",
    "browser.region.update.enabled",
    "browser.urlbar.dnsResolveSingleWordsAfterSearch",
    "browser.newtabpage.activity-stream.feeds.section.topstories",
    "browser.newtabpage.activity-stream.showSponsored",
    "browser.newtabpage.activity-stream.showSponsoredTopSites",
    "extensions.getAddons.cache.enabled",
];

fn parse_file(text: &FileText, name: &str, out: &mut Vec<Finding>) -> Option<profile::Prefs> {
    let s = Section::Profile;
    let id = format!("profile.{}", name.replace('.', "_"));
    match text {
        FileText::Missing => Some(profile::Prefs::new()),
        FileText::Unreadable(e) => {
            out.push(finding(
                id,
                s,
                Status::Error,
                format!("cannot read {name}: {e}"),
                Some(format!("make {name} readable for you")),
            ));
            None
        }
        FileText::Text(t) => match hardening::parse_prefs(t) {
            Ok(p) => Some(p),
            Err(e) => {
                out.push(finding(
                    id,
                    s,
                    Status::Error,
                    format!("{name} cannot be read at {e}; Firefox skips what it cannot parse"),
                    Some(format!("fix that line of {name}")),
                ));
                None
            }
        },
    }
}

/// Checks a profile's effective preferences against the table in [`crate::hardening`].
pub fn profile_findings(p: &ProfileObs, config: &Config) -> Vec<Finding> {
    let s = Section::Profile;
    let dir = p.dir.display();
    if !p.is_dir {
        return vec![finding(
            "profile.dir",
            s,
            Status::Error,
            format!("{dir} is not a folder"),
            Some("give the profile folder about:profiles shows (Root Directory)".into()),
        )];
    }
    let mut out = Vec::new();
    let socks = hardening::SocksEndpoint {
        host: config.socks.host.clone(),
        port: config.socks.port,
    };
    let user_js_hint = format!(
        "persite firefox-config user-js --socks {} > {}/user.js",
        endpoint(config),
        dir
    );
    if p.prefs_js == FileText::Missing && p.user_js == FileText::Missing {
        out.push(finding(
            "profile.files",
            s,
            Status::Error,
            format!("{dir} has neither prefs.js nor user.js: not a Firefox profile that has run, and nothing sets Persite's settings"),
            Some(format!("check the folder in about:profiles, then `{user_js_hint}`")),
        ));
    }
    let prefs_js = parse_file(&p.prefs_js, "prefs.js", &mut out);
    let user_js = parse_file(&p.user_js, "user.js", &mut out);
    let policy = match &p.policies {
        FileText::Missing => {
            out.push(finding(
                "profile.policies",
                s,
                Status::Info,
                format!(
                    "no enterprise policy at {} (optional: it locks these settings for every profile; see `persite firefox-config policies`)",
                    p.policies_path.display()
                ),
                None,
            ));
            None
        }
        FileText::Unreadable(e) => {
            out.push(finding(
                "profile.policies",
                s,
                Status::Warning,
                format!("cannot read {}: {e}", p.policies_path.display()),
                Some("make it readable (Firefox reads it as you)".into()),
            ));
            None
        }
        FileText::Text(t) => match profile::policy_prefs(t) {
            Ok(pp) => {
                out.push(finding(
                    "profile.policies",
                    s,
                    Status::Info,
                    format!(
                        "{} parses and sets {} preferences (counted below; only browsers that read this file get them)",
                        p.policies_path.display(),
                        pp.len()
                    ),
                    None,
                ));
                Some(pp)
            }
            Err(e) => {
                out.push(finding(
                    "profile.policies",
                    s,
                    Status::Warning,
                    format!(
                        "{} is not a valid policies file: {e}; Firefox ignores it",
                        p.policies_path.display()
                    ),
                    Some("regenerate it with `persite firefox-config policies`".into()),
                ));
                None
            }
        },
    };
    let (Some(prefs_js), Some(user_js)) = (prefs_js, user_js) else {
        return out;
    };
    let effective = profile::effective_prefs(&prefs_js, &user_js, policy.as_ref());
    let problems = hardening::check_prefs(&effective, &socks);
    if problems.is_empty() {
        out.push(finding(
            "profile.prefs",
            s,
            Status::Ok,
            format!(
                "{dir}: all {} settings Persite relies on are right (prefs.js, then user.js{})",
                hardening::required_prefs(&socks).len(),
                if policy.is_some() {
                    ", then policies.json"
                } else {
                    ""
                }
            ),
            None,
        ));
    }
    for problem in &problems {
        out.push(pref_finding(problem, &user_js_hint));
    }
    out
}

fn pref_finding(problem: &PrefProblem, user_js_hint: &str) -> Finding {
    let status = if ADVISORY_PREFS.contains(&problem.name) {
        Status::Warning
    } else {
        Status::Error
    };
    finding(
        format!("profile.pref.{}", problem.name),
        Section::Profile,
        status,
        problem.to_string(),
        Some(format!(
            "add `user_pref(\"{}\", {});` to user.js, or write the whole file: `{user_js_hint}` (Firefox applies it at the next start)",
            problem.name, problem.expected
        )),
    )
}

impl Report {
    /// Number of findings with this status.
    pub fn count(&self, status: Status) -> usize {
        self.findings.iter().filter(|f| f.status == status).count()
    }

    /// True when any finding is an error (doctor then exits with status 1).
    pub fn has_errors(&self) -> bool {
        self.count(Status::Error) > 0
    }

    /// The report as JSON: `{"ok", "errors", "warnings", "findings": [{id, section, status,
    /// message, hint}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": !self.has_errors(),
            "errors": self.count(Status::Error),
            "warnings": self.count(Status::Warning),
            "findings": self.findings,
        })
    }

    /// The report as text for people, grouped by section; ANSI colours when `colour`.
    pub fn to_text(&self, colour: bool) -> String {
        let paint = |status: Status, text: &str| -> String {
            let code = match status {
                Status::Ok => "32",
                Status::Info => "2",
                Status::Warning => "33",
                Status::Error => "31",
            };
            if colour {
                format!("\x1b[{code}m{text}\x1b[0m")
            } else {
                text.to_owned()
            }
        };
        let mut out = String::new();
        let mut current = None;
        for f in &self.findings {
            if current != Some(f.section) {
                if current.is_some() {
                    out.push('\n');
                }
                let title = f.section.title();
                out.push_str(&if colour {
                    format!("\x1b[1m{title}\x1b[0m\n")
                } else {
                    format!("{title}\n")
                });
                current = Some(f.section);
            }
            out.push_str(&format!(
                "  {} {}\n",
                paint(f.status, f.status.mark()),
                f.message
            ));
            if let Some(hint) = &f.hint {
                out.push_str(&format!("      → {hint}\n"));
            }
        }
        let (errors, warnings) = (self.count(Status::Error), self.count(Status::Warning));
        out.push('\n');
        out.push_str(&match (errors, warnings) {
            (0, 0) => paint(Status::Ok, "All checks passed."),
            (0, w) => paint(Status::Warning, &format!("No errors, {w} warning(s).")),
            (e, w) => paint(
                Status::Error,
                &format!("{e} error(s), {w} warning(s): Persite cannot protect you like this."),
            ),
        });
        out.push('\n');
        out
    }
}

/// Which control port to try for `config`, given whether the daemon runs a managed tor.
/// `None` when the control port is disabled. `managed_socket` is the daemon's private socket.
pub fn control_target(
    config: &Config,
    daemon_runs_managed_tor: Option<bool>,
    managed_socket: &std::path::Path,
    debian_socket_exists: bool,
) -> ControlTarget {
    let managed = match config.tor.mode {
        TorMode::Managed => true,
        TorMode::System => false,
        TorMode::Auto => daemon_runs_managed_tor == Some(true),
    };
    if managed {
        return if daemon_runs_managed_tor == Some(true) {
            ControlTarget::Try(
                format!("unix:{}", managed_socket.display()),
                ControlSource::Managed,
            )
        } else {
            ControlTarget::ManagedNotRunning
        };
    }
    match &config.tor.control {
        ControlSetting::Disabled => ControlTarget::Disabled,
        ControlSetting::Addr(addr) => {
            ControlTarget::Try(addr.to_string(), ControlSource::Configured)
        }
        ControlSetting::Default => ControlTarget::Try(
            if debian_socket_exists {
                "unix:/run/tor/control".to_owned()
            } else {
                "127.0.0.1:9051".to_owned()
            },
            ControlSource::Default,
        ),
    }
}

/// The outcome of [`control_target`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlTarget {
    /// `[tor] control = "none"`.
    Disabled,
    /// Managed tor, but no daemon runs it.
    ManagedNotRunning,
    /// Connect to this address (`unix:/path` or `host:port`).
    Try(String, ControlSource),
}
