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
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Name of the configuration file inside the `persite` config directory.
pub const CONFIG_FILE_NAME: &str = "config.toml";

/// Validated broker configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// The Tor SOCKS endpoint the browser extension should send its traffic to.
    pub socks: SocksEndpoint,
}

/// Where Tor's SOCKS port listens, as handed to the extension in `hello` and `status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SocksEndpoint {
    /// An IP literal or `localhost` (Firefox resolves no names when `network.dns.disabled`).
    pub host: String,
    /// TCP port, 1–65535.
    pub port: u16,
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
    #[error("config file {path}: `{key}` {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Dotted key, e.g. `socks.port`.
        key: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
}

/// The file as written, before validation; unknown keys are rejected so typos are caught.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    socks: RawSocks,
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
            key,
            message,
        };
        let defaults = SocksEndpoint::default();
        let host = match raw.socks.host {
            None => defaults.host,
            Some(host) => {
                let bare = host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(&host);
                if host == "localhost" || bare.parse::<IpAddr>().is_ok() {
                    bare.to_owned()
                } else {
                    return Err(invalid(
                        "socks.host",
                        format!(
                            "is {host:?}; it must be an IP address (e.g. \"127.0.0.1\" or \"::1\") \
                             or \"localhost\", because the browser resolves no host names"
                        ),
                    ));
                }
            }
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
        Ok(Config {
            socks: SocksEndpoint { host, port },
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

/// `$XDG_CONFIG_HOME/persite/config.toml`, else `$HOME/.config/persite/config.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    config_path_from(
        std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

/// Pure lookup rule; the XDG spec says a relative `XDG_CONFIG_HOME` is invalid and ignored.
fn config_path_from(xdg: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    let base = match (xdg, home) {
        (Some(x), _) if x.is_absolute() => x,
        (_, Some(h)) if h.is_absolute() => h.join(".config"),
        _ => return None,
    };
    Some(base.join("persite").join(CONFIG_FILE_NAME))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rejects_unknown_keys_and_wrong_types() {
        let e = err("[socks]\nhots = \"127.0.0.1\"");
        assert!(e.contains("hots") && e.contains("host"), "{e}");
        assert!(e.contains("/c/config.toml"), "{e}");
        let e = err("[tor]\ncontrol_port = 9051");
        assert!(e.contains("tor"), "{e}");
        let e = err("[socks]\nport = \"9050\"");
        assert!(e.contains("port"), "{e}");
        let e = err("socks = 3");
        assert!(e.contains("socks"), "{e}");
        assert!(err("[socks\n").contains("/c/config.toml"));
    }

    #[test]
    fn config_path_follows_xdg() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(
            config_path_from(p("/x"), p("/home/u")),
            p("/x/persite/config.toml")
        );
        assert_eq!(
            config_path_from(p("rel"), p("/home/u")),
            p("/home/u/.config/persite/config.toml")
        );
        assert_eq!(
            config_path_from(None, p("/home/u")),
            p("/home/u/.config/persite/config.toml")
        );
        assert_eq!(config_path_from(None, None), None);
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let missing = Path::new("/nonexistent/persite/config.toml");
        let e = Config::load(Some(missing)).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/persite/config.toml"), "{e}");
    }
}
