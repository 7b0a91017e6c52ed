//! The user's configuration file, `~/.config/persite/config.toml`.
//!
//! Parsing ([`Config::parse`]) is a pure function from text to a validated [`Config`], so every
//! rule is unit-tested without touching the file system; [`Config::load`] adds the file lookup.
//! A missing file at the default location means "all defaults"; a file named explicitly with
//! `--config` must exist, because a typo there would otherwise silently drop the user's settings.
//!
//! ```toml
//! [socks]
//! host = "127.0.0.1"   # IP literal or "localhost"
//! port = 9050          # 1–65535
//!
//! [tor]
//! mode = "auto"        # "system" | "managed" | "auto": system if something listens on [socks]
//! control = "unix:/run/tor/control"   # or "127.0.0.1:9051", or "none"; system mode only
//! control_password = "…"              # for HashedControlPassword
//! control_cookie_file = "/shared/tor/control_auth_cookie"   # system mode: tor's cookie, when
//!                                     # it is not where tor says (tor in another container/VM)
//! tor_binary = "tor"                  # managed mode, looked up on PATH
//! data_dir = "/home/u/.local/share/persite/tor"   # managed mode
//! torrc_extra = ["UseBridges 1"]      # managed mode: extra torrc lines
//!
//! [front]                  # the SOCKS front for programs (src/front/, docs/apps.md)
//! listen = "127.0.0.1:9250"   # or "unix:/path/front.sock", or "none"
//!
//! [policy]                 # circuit-lifetime default (docs/protocol.md §2.5); keep-alive if empty
//! max_age = "10m"          # or seconds (600), or "none"
//! max_bytes = "50MiB"      # or bytes, or "none"
//! per_tab = false
//! [policy.sites."example.com"]   # a site's whole policy (absent keys are off)
//! per_tab = true
//! ```
//!
//! `docs/tor.md` explains the modes and every control-port command Persite sends.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::front::FrontAddr;
use crate::policy::{PolicyError, PolicySection};
use torctl::ControlAddr;

/// Name of the configuration file inside the `persite` config directory.
pub const CONFIG_FILE_NAME: &str = "config.toml";

/// Validated broker configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The Tor SOCKS endpoint the browser extension should send its traffic to.
    pub socks: SocksEndpoint,
    /// How the daemon finds (or runs) tor and its control port.
    pub tor: TorConfig,
    /// Circuit-lifetime default and admin overrides (`[policy]`); sites are reduced to their
    /// first-party site when the daemon starts.
    pub policy: PolicySection,
    /// Where the SOCKS front listens (`[front] listen`); `None` when turned off.
    pub front: Option<FrontAddr>,
}

/// The front's default address: loopback, beside tor's usual ports.
pub const DEFAULT_FRONT: &str = "127.0.0.1:9250";

/// Parses `[front] listen`: `host:port` with an IP literal host, `unix:/absolute/path`, or
/// `none`.
pub fn parse_front_addr(text: &str) -> Result<Option<FrontAddr>, String> {
    if text == "none" {
        return Ok(None);
    }
    if let Some(path) = text.strip_prefix("unix:") {
        let path = PathBuf::from(path);
        if !path.is_absolute() {
            return Err(format!("is {text:?}; a unix: path must be absolute"));
        }
        return Ok(Some(FrontAddr::Unix(path)));
    }
    text.parse::<std::net::SocketAddr>()
        .map(|addr| Some(FrontAddr::Tcp(addr)))
        .map_err(|_| {
            format!(
                "is {text:?}; it must be an IP address and port (e.g. \"127.0.0.1:9250\"), \
                 \"unix:/absolute/path\" or \"none\""
            )
        })
}

impl Default for Config {
    fn default() -> Self {
        Self {
            socks: SocksEndpoint::default(),
            tor: TorConfig::default(),
            policy: PolicySection::default(),
            front: parse_front_addr(DEFAULT_FRONT).ok().flatten(),
        }
    }
}

/// Whether Persite uses a tor someone else runs or starts its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TorMode {
    /// A tor the system runs (Debian's `tor` service, Whonix, Tails); Persite only talks to it.
    System,
    /// Persite starts and supervises its own tor listening on `[socks]`.
    Managed,
    /// `System` when something already listens on `[socks]` at start-up, else `Managed`.
    #[default]
    Auto,
}

/// Which control port to use with a system tor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ControlSetting {
    /// Not configured: try `unix:/run/tor/control` (Debian), then `127.0.0.1:9051`.
    #[default]
    Default,
    /// `"none"`: no control port; isolation still works, tor features are unavailable.
    Disabled,
    /// An explicit `unix:/path` or `host:port`.
    Addr(ControlAddr),
}

/// The `[tor]` section, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorConfig {
    /// System, managed or auto.
    pub mode: TorMode,
    /// The system tor's control port (ignored for managed tor, whose socket Persite chooses).
    pub control: ControlSetting,
    /// Password for `HashedControlPassword`, if any.
    pub control_password: Option<String>,
    /// The control cookie to read instead of the path tor names (system mode only).
    pub control_cookie_file: Option<PathBuf>,
    /// Managed mode: the tor executable (a bare name is looked up on `PATH`).
    pub tor_binary: PathBuf,
    /// Managed mode: tor's DataDirectory; `None` means `$XDG_DATA_HOME/persite/tor`.
    pub data_dir: Option<PathBuf>,
    /// Managed mode: extra torrc lines, appended after Persite's own.
    pub torrc_extra: Vec<String>,
}

impl Default for TorConfig {
    fn default() -> Self {
        Self {
            mode: TorMode::Auto,
            control: ControlSetting::Default,
            control_password: None,
            control_cookie_file: None,
            tor_binary: PathBuf::from("tor"),
            data_dir: None,
            torrc_extra: Vec::new(),
        }
    }
}

/// Where Tor's SOCKS port listens, as handed to the extension in `hello` and `status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SocksEndpoint {
    /// An IP literal or `localhost` (Firefox resolves no names when `network.dns.disabled`).
    pub host: String,
    /// TCP port, 1–65535.
    pub port: u16,
}

impl SocksEndpoint {
    /// Checks a SOCKS host: an IP literal (IPv6 with or without brackets) or `localhost`,
    /// returned without brackets; anything else is refused, because the browser resolves no
    /// host names.
    pub fn parse_host(host: &str) -> Result<String, String> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host == "localhost" || bare.parse::<IpAddr>().is_ok() {
            Ok(bare.to_owned())
        } else {
            Err(
                "it must be an IP address (e.g. \"127.0.0.1\" or \"::1\") or \"localhost\", \
                 because the browser resolves no host names"
                    .to_owned(),
            )
        }
    }

    /// Parses `HOST:PORT` as [`Self::parse_host`] accepts the host (IPv6 as `[::1]:9050`),
    /// with a port from 1 to 65535.
    pub fn parse(text: &str) -> Result<SocksEndpoint, String> {
        let shape = || format!("expected HOST:PORT such as 127.0.0.1:9050, got {text:?}");
        let (host, port) = text.rsplit_once(':').ok_or_else(shape)?;
        if host.contains(':') && !host.starts_with('[') {
            return Err(shape());
        }
        let host = Self::parse_host(host).map_err(|why| format!("{text:?}: {why}"))?;
        match port.parse::<u16>() {
            Ok(port) if port != 0 => Ok(SocksEndpoint { host, port }),
            _ => Err(format!("{text:?}: the port must be between 1 and 65535")),
        }
    }
}

impl Default for SocksEndpoint {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 9050,
        }
    }
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read (or was named with `--config` and is missing).
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has keys or types this version does not know.
    #[error("config file {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The TOML parser's explanation, with line and column.
        message: String,
    },
    /// A key has a value outside what is allowed.
    #[error("config file {path}{}: `{key}` {message}", line_text(*.line))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line the key is set on (1-based), when it can be found.
        line: Option<usize>,
        /// Dotted key, e.g. `socks.port`.
        key: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A `[policy]` value is invalid (the error names the dotted key).
    #[error("config file {path}: {source}")]
    Policy {
        /// The file.
        path: PathBuf,
        /// The bad key and why.
        source: PolicyError,
    },
}

/// The file as written, before validation; unknown keys are rejected so typos are caught.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    socks: RawSocks,
    #[serde(default)]
    tor: RawTor,
    /// Validated by [`PolicySection::from_toml`], which names bad keys with their full path.
    policy: Option<toml::Table>,
    #[serde(default)]
    front: RawFront,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFront {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTor {
    mode: Option<String>,
    control: Option<String>,
    control_password: Option<String>,
    control_cookie_file: Option<String>,
    tor_binary: Option<String>,
    data_dir: Option<String>,
    torrc_extra: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSocks {
    host: Option<String>,
    // Wider than u16 so an out-of-range port gets our message naming the range.
    port: Option<i64>,
}

impl Config {
    /// Parses and validates configuration text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let invalid = |key, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            line: key_line(text, key),
            key,
            message,
        };
        let defaults = SocksEndpoint::default();
        let host = match raw.socks.host {
            None => defaults.host,
            Some(host) => match SocksEndpoint::parse_host(&host) {
                Ok(host) => host,
                Err(why) => return Err(invalid("socks.host", format!("is {host:?}; {why}"))),
            },
        };
        let port = match raw.socks.port {
            None => defaults.port,
            Some(port) => match u16::try_from(port) {
                Ok(p) if p != 0 => p,
                _ => {
                    return Err(invalid(
                        "socks.port",
                        format!("is {port}; it must be a TCP port from 1 to 65535"),
                    ));
                }
            },
        };
        let policy = match &raw.policy {
            None => PolicySection::default(),
            Some(table) => {
                PolicySection::from_toml(table, "policy").map_err(|source| ConfigError::Policy {
                    path: path.to_owned(),
                    source,
                })?
            }
        };
        let front = parse_front_addr(raw.front.listen.as_deref().unwrap_or(DEFAULT_FRONT))
            .map_err(|message| invalid("front.listen", message))?;
        Ok(Config {
            socks: SocksEndpoint { host, port },
            tor: parse_tor(raw.tor, &invalid)?,
            policy,
            front,
        })
    }

    /// Loads `explicit` (which must exist) or else the default file (absent = defaults).
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let (path, must_exist) = match explicit {
            Some(p) => (p.to_owned(), true),
            None => match default_config_path() {
                Some(p) => (p, false),
                None => return Ok(Config::default()),
            },
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Config::parse(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
                Ok(Config::default())
            }
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }
}

/// ", line N" for an error's location, or nothing.
fn line_text(line: Option<usize>) -> String {
    line.map(|n| format!(", line {n}")).unwrap_or_default()
}

/// The 1-based line of `text` that sets the dotted `key` (`socks.port`): `port = …` inside
/// `[socks]`, or `socks.port = …` before any table header. `None` when not found (the value may
/// be written some other way TOML allows; the error still names the key).
fn key_line(text: &str, key: &str) -> Option<usize> {
    let (table, name) = key.rsplit_once('.')?;
    let sets = |line: &str, name: &str| {
        line.strip_prefix(name)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    let mut current = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(header) = line.strip_prefix('[') {
            current = header
                .split(']')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
        } else if (current == table && sets(line, name)) || (current.is_empty() && sets(line, key))
        {
            return Some(i + 1);
        }
    }
    None
}

fn parse_tor(
    raw: RawTor,
    invalid: &impl Fn(&'static str, String) -> ConfigError,
) -> Result<TorConfig, ConfigError> {
    let defaults = TorConfig::default();
    let mode = match raw.mode.as_deref() {
        None | Some("auto") => TorMode::Auto,
        Some("system") => TorMode::System,
        Some("managed") => TorMode::Managed,
        Some(other) => {
            return Err(invalid(
                "tor.mode",
                format!("is {other:?}; it must be \"system\", \"managed\" or \"auto\""),
            ));
        }
    };
    let control = match raw.control.as_deref() {
        None => ControlSetting::Default,
        Some("none") => ControlSetting::Disabled,
        Some(text) => ControlSetting::Addr(parse_control_addr(text).map_err(|why| {
            invalid(
                "tor.control",
                format!(
                    "is {text:?}; {why} (examples: \"unix:/run/tor/control\", \"127.0.0.1:9051\", \"none\")"
                ),
            )
        })?),
    };
    if mode == TorMode::Managed && control != ControlSetting::Default {
        return Err(invalid(
            "tor.control",
            "cannot be set with mode = \"managed\": Persite gives its own tor a private control \
             socket in the runtime directory"
                .to_owned(),
        ));
    }
    let control_cookie_file = match raw.control_cookie_file {
        None => None,
        Some(_) if mode == TorMode::Managed => {
            return Err(invalid(
                "tor.control_cookie_file",
                "cannot be set with mode = \"managed\": Persite's own tor keeps its cookie in \
                 the runtime directory"
                    .to_owned(),
            ));
        }
        Some(f) if Path::new(&f).is_absolute() => Some(PathBuf::from(f)),
        Some(f) => {
            return Err(invalid(
                "tor.control_cookie_file",
                format!("is {f:?}; it must be an absolute path"),
            ));
        }
    };
    let tor_binary = match raw.tor_binary {
        None => defaults.tor_binary,
        Some(b) if b.trim().is_empty() => {
            return Err(invalid(
                "tor.tor_binary",
                "is empty; give a program name on PATH (\"tor\") or an absolute path".to_owned(),
            ));
        }
        Some(b) => PathBuf::from(b),
    };
    let data_dir = match raw.data_dir {
        None => None,
        Some(d) if Path::new(&d).is_absolute() => Some(PathBuf::from(d)),
        Some(d) => {
            return Err(invalid(
                "tor.data_dir",
                format!("is {d:?}; it must be an absolute path"),
            ));
        }
    };
    let torrc_extra = raw.torrc_extra.unwrap_or_default();
    if let Some(bad) = torrc_extra
        .iter()
        .find(|l| l.contains(['\n', '\r', '\0']) || l.trim().is_empty())
    {
        return Err(invalid(
            "tor.torrc_extra",
            format!("has the entry {bad:?}; each entry must be one non-empty torrc line"),
        ));
    }
    if let Some(pw) = &raw.control_password
        && (pw.is_empty() || pw.contains(['\n', '\r']))
    {
        return Err(invalid(
            "tor.control_password",
            "must be non-empty and on one line".to_owned(),
        ));
    }
    Ok(TorConfig {
        mode,
        control,
        control_password: raw.control_password,
        control_cookie_file,
        tor_binary,
        data_dir,
        torrc_extra,
    })
}

/// `unix:/absolute/path` or `host:port` with a numeric port from 1 to 65535.
fn parse_control_addr(text: &str) -> Result<ControlAddr, &'static str> {
    if let Some(path) = text.strip_prefix("unix:") {
        return if Path::new(path).is_absolute() {
            Ok(ControlAddr::Unix(PathBuf::from(path)))
        } else {
            Err("a unix: control socket needs an absolute path")
        };
    }
    let (host, port) = text
        .rsplit_once(':')
        .ok_or("expected unix:/path or host:port")?;
    match port.parse::<u16>() {
        Ok(p) if p != 0 && !host.is_empty() => Ok(ControlAddr::Tcp(text.to_owned())),
        _ => Err("expected unix:/path or host:port with a port from 1 to 65535"),
    }
}

/// `$XDG_DATA_HOME/persite/tor`, else `$HOME/.local/share/persite/tor`: managed tor's default
/// DataDirectory (guard state and consensus cache, no browsing data).
pub fn default_tor_data_dir() -> Option<PathBuf> {
    crate::paths::persite_dir(crate::paths::Base::Data).map(|dir| dir.join("tor"))
}

/// `$XDG_CONFIG_HOME/persite/config.toml`, else `$HOME/.config/persite/config.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    crate::paths::persite_dir(crate::paths::Base::Config).map(|dir| dir.join(CONFIG_FILE_NAME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_listen_forms() {
        assert_eq!(
            parse("").unwrap().front,
            Some(FrontAddr::Tcp("127.0.0.1:9250".parse().unwrap()))
        );
        assert_eq!(parse("[front]\nlisten = \"none\"").unwrap().front, None);
        assert_eq!(
            parse("[front]\nlisten = \"unix:/run/user/1000/persite/front.sock\"")
                .unwrap()
                .front,
            Some(FrontAddr::Unix("/run/user/1000/persite/front.sock".into()))
        );
        assert_eq!(
            parse("[front]\nlisten = \"[::1]:9250\"").unwrap().front,
            Some(FrontAddr::Tcp("[::1]:9250".parse().unwrap()))
        );
        for bad in ["localhost:9250", "unix:relative", "9250", ""] {
            let e = parse(&format!("[front]\nlisten = {bad:?}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("front.listen"), "{bad}: {e}");
        }
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/c/config.toml"))
    }

    fn err(text: &str) -> String {
        parse(text).expect_err("should be rejected").to_string()
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.socks.host, "127.0.0.1");
        assert_eq!(c.socks.port, 9050);
        assert_eq!(parse("[socks]\n").unwrap(), c);
    }

    #[test]
    fn reads_socks_endpoint() {
        let c = parse("[socks]\nhost = \"10.152.152.10\"\nport = 9150\n").unwrap();
        assert_eq!(
            c.socks,
            SocksEndpoint {
                host: "10.152.152.10".into(),
                port: 9150
            }
        );
        assert_eq!(parse("[socks]\nhost = \"::1\"").unwrap().socks.host, "::1");
        assert_eq!(
            parse("[socks]\nhost = \"[::1]\"").unwrap().socks.host,
            "::1"
        );
        assert_eq!(
            parse("[socks]\nhost = \"localhost\"").unwrap().socks.host,
            "localhost"
        );
        assert_eq!(parse("[socks]\nport = 65535").unwrap().socks.port, 65535);
    }

    #[test]
    fn rejects_host_names() {
        let e = err("[socks]\nhost = \"tor.example\"");
        assert!(e.contains("/c/config.toml"), "{e}");
        assert!(e.contains("socks.host"), "{e}");
        assert!(e.contains("IP address"), "{e}");
        assert!(err("[socks]\nhost = \"\"").contains("socks.host"));
        assert!(err("[socks]\nhost = \"[::1\"").contains("socks.host"));
    }

    #[test]
    fn rejects_ports_out_of_range() {
        for bad in ["0", "65536", "-1", "99999999999"] {
            let e = err(&format!("[socks]\nport = {bad}"));
            assert!(e.contains("socks.port") && e.contains("1 to 65535"), "{e}");
        }
    }

    #[test]
    fn invalid_values_name_their_line() {
        let e =
            err("# mine\n[tor]\nmode = \"system\"\n\n[socks]\nhost = \"127.0.0.1\"\nport = 0\n");
        assert!(
            e.starts_with("config file /c/config.toml, line 7: `socks.port`"),
            "{e}"
        );
        let e = err("tor.mode = \"sometimes\"\n");
        assert!(e.contains(", line 1: `tor.mode`"), "{e}");
        // TOML's own errors carry line and column already.
        let e = err("[socks]\nport = \n");
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn rejects_unknown_keys_and_wrong_types() {
        let e = err("[socks]\nhots = \"127.0.0.1\"");
        assert!(e.contains("hots") && e.contains("host"), "{e}");
        assert!(e.contains("/c/config.toml"), "{e}");
        let e = err("[tor]\ncontrol_port = 9051");
        assert!(e.contains("control_port"), "{e}");
        let e = err("[socks]\nport = \"9050\"");
        assert!(e.contains("port"), "{e}");
        let e = err("socks = 3");
        assert!(e.contains("socks"), "{e}");
        assert!(err("[socks\n").contains("/c/config.toml"));
    }

    #[test]
    fn tor_section_defaults_to_auto() {
        let c = parse("").unwrap();
        assert_eq!(c.tor, TorConfig::default());
        assert_eq!(c.tor.mode, TorMode::Auto);
        assert_eq!(c.tor.control, ControlSetting::Default);
        assert_eq!(c.tor.tor_binary, PathBuf::from("tor"));
    }

    #[test]
    fn reads_the_tor_section() {
        let c = parse(
            "[tor]\nmode = \"system\"\ncontrol = \"127.0.0.1:9051\"\ncontrol_password = \"pw\"\n",
        )
        .unwrap();
        assert_eq!(c.tor.mode, TorMode::System);
        assert_eq!(
            c.tor.control,
            ControlSetting::Addr(ControlAddr::Tcp("127.0.0.1:9051".into()))
        );
        assert_eq!(c.tor.control_password.as_deref(), Some("pw"));
        assert_eq!(c.tor.control_cookie_file, None);
        let c = parse("[tor]\ncontrol_cookie_file = \"/shared/tor/control_auth_cookie\"").unwrap();
        assert_eq!(
            c.tor.control_cookie_file,
            Some(PathBuf::from("/shared/tor/control_auth_cookie"))
        );
        let c = parse("[tor]\ncontrol = \"unix:/run/tor/control\"").unwrap();
        assert_eq!(
            c.tor.control,
            ControlSetting::Addr(ControlAddr::Unix("/run/tor/control".into()))
        );
        assert_eq!(
            parse("[tor]\ncontrol = \"none\"").unwrap().tor.control,
            ControlSetting::Disabled
        );
        let c = parse(
            "[tor]\nmode = \"managed\"\ntor_binary = \"/usr/sbin/tor\"\ndata_dir = \"/d/tor\"\n\
             torrc_extra = [\"DisableNetwork 1\", \"UseBridges 1\"]\n",
        )
        .unwrap();
        assert_eq!(c.tor.mode, TorMode::Managed);
        assert_eq!(c.tor.tor_binary, PathBuf::from("/usr/sbin/tor"));
        assert_eq!(c.tor.data_dir, Some(PathBuf::from("/d/tor")));
        assert_eq!(c.tor.torrc_extra, ["DisableNetwork 1", "UseBridges 1"]);
    }

    #[test]
    fn rejects_bad_tor_values() {
        for (text, key) in [
            ("[tor]\nmode = \"sytem\"", "tor.mode"),
            ("[tor]\ncontrol = \"9051\"", "tor.control"),
            ("[tor]\ncontrol = \"unix:run/tor\"", "tor.control"),
            ("[tor]\ncontrol = \"127.0.0.1:0\"", "tor.control"),
            (
                "[tor]\ncontrol_cookie_file = \"tor/cookie\"",
                "tor.control_cookie_file",
            ),
            (
                "[tor]\nmode = \"managed\"\ncontrol_cookie_file = \"/c\"",
                "tor.control_cookie_file",
            ),
            (
                "[tor]\nmode = \"managed\"\ncontrol = \"127.0.0.1:9051\"",
                "tor.control",
            ),
            ("[tor]\ntor_binary = \" \"", "tor.tor_binary"),
            ("[tor]\ndata_dir = \"rel/dir\"", "tor.data_dir"),
            ("[tor]\ntorrc_extra = [\"A 1\\nB 2\"]", "tor.torrc_extra"),
            ("[tor]\ntorrc_extra = [\"\"]", "tor.torrc_extra"),
            ("[tor]\ncontrol_password = \"\"", "tor.control_password"),
        ] {
            let e = err(text);
            assert!(e.contains(key), "{text:?}: {e}");
        }
        let e = err("[tor]\ntorrc_extra = \"DisableNetwork 1\"");
        assert!(e.contains("torrc_extra"), "{e}");
        let e = err("[tor]\ncookie = \"/x\"");
        assert!(e.contains("cookie"), "{e}");
    }

    #[test]
    fn reads_the_policy_section_and_names_bad_keys() {
        let c = parse(
            "[policy]\nmax_age = \"10m\"\n[policy.sites.\"www.example.com\"]\nper_tab = true\n",
        )
        .expect("valid");
        assert_eq!(
            c.policy.default.max_age,
            Some(std::time::Duration::from_secs(600))
        );
        assert_eq!(c.policy.sites.len(), 1);
        assert!(c.policy.sites[0].1.per_tab);
        assert_eq!(parse("").expect("empty").policy, PolicySection::default());
        let e = err("[policy.sites.\"example.com\"]\nmax_bytes = 12\n");
        assert!(e.contains("policy.sites.\"example.com\".max_bytes"), "{e}");
        let e = err("[policy]\nmax_age = \"soon\"\n");
        assert!(e.contains("`policy.max_age`"), "{e}");
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let missing = Path::new("/nonexistent/persite/config.toml");
        let e = Config::load(Some(missing)).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/persite/config.toml"), "{e}");
    }
}
