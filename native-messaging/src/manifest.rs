//! The native-messaging host manifest (`persite.json`) and where each Firefox-family browser
//! looks for it (`firefox-extension-facts.md` §3.2–§3.3).
//!
//! [`locations`] is a pure function of (browser, scope, OS, home directory, Tor Browser bundles)
//! so the table is tested without touching the real `HOME`; whether a candidate applies on this
//! machine is expressed as a [`Condition`] that the installer evaluates.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The host name: manifest `name`, file stem, and `runtime.connectNative("persite")`.
pub const HOST_NAME: &str = persite_protocol::limits::NATIVE_HOST_NAME;
/// The manifest's file name.
pub const MANIFEST_FILE: &str = "persite.json";
/// The Persite extension's id (`browser_specific_settings.gecko.id`).
pub const EXTENSION_ID: &str = persite_protocol::limits::EXTENSION_ID;
/// The host binary's file name, installed next to `persite`.
pub const HOST_BINARY: &str = "persite-native-host";
/// The manifest's `description`.
pub const DESCRIPTION: &str = "Persite: per-site Tor circuits (relay to the persite broker)";

/// A Firefox native-messaging host manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostManifest {
    /// Host name; must equal the file stem.
    pub name: String,
    /// Text for people.
    pub description: String,
    /// Absolute path of the host executable.
    pub path: String,
    /// Always `stdio`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Extension ids allowed to connect.
    pub allowed_extensions: Vec<String>,
}

impl HostManifest {
    /// The Persite manifest for the host executable at `host_path`.
    pub fn persite(host_path: &Path) -> Self {
        Self {
            name: HOST_NAME.to_owned(),
            description: DESCRIPTION.to_owned(),
            path: host_path.to_string_lossy().into_owned(),
            kind: "stdio".to_owned(),
            allowed_extensions: vec![EXTENSION_ID.to_owned()],
        }
    }

    /// Pretty JSON with a final newline, as written to disk.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// True when `name` matches Firefox's `^\w+(\.\w+)*$` (ASCII word characters and single dots).
pub fn is_valid_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

/// Checks that `path` is an absolute path to an executable regular file.
pub fn check_host_path(path: &Path) -> Result<(), String> {
    if !path.is_absolute() {
        return Err(format!("{} is not an absolute path", path.display()));
    }
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("the host program {} cannot be found ({e})", path.display()))?;
    if !meta.is_file() {
        return Err(format!("the host program {} is not a file", path.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!(
            "the host program {} is not executable",
            path.display()
        ));
    }
    Ok(())
}

/// True when `text` is a manifest Persite wrote (name `persite`, allowing the Persite extension):
/// the only files `persite uninstall` removes or `persite install` overwrites.
pub fn is_persite_manifest(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| {
        v["name"] == HOST_NAME
            && v["allowed_extensions"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|id| id == EXTENSION_ID))
    })
}

/// Everything wrong with a manifest's text, in plain words (empty when it is valid for Persite).
pub fn problems(text: &str) -> Vec<String> {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(value @ serde_json::Value::Object(_)) => value,
        Ok(_) => return vec!["the file is JSON but not an object".to_owned()],
        Err(e) => {
            return vec![format!(
                "the file is not valid JSON ({e}); run `persite install` again"
            )];
        }
    };
    let text_field = |field: &str| value[field].as_str();
    let mut problems = Vec::new();
    match text_field("name") {
        None => problems.push("it has no \"name\"".to_owned()),
        Some(name) if !is_valid_host_name(name) => problems.push(format!(
            "its name {name:?} is not a valid host name (letters, digits, _ and dots)"
        )),
        Some(name) if name != HOST_NAME => problems.push(format!(
            "its name is {name:?} but must be {HOST_NAME:?}, like the file name"
        )),
        Some(_) => {}
    }
    if text_field("description").is_none() {
        problems.push("it has no \"description\" (Firefox requires one)".to_owned());
    }
    if text_field("type") != Some("stdio") {
        problems.push(format!(
            "its type is {} but must be \"stdio\"",
            value["type"]
        ));
    }
    match text_field("path") {
        None => problems.push("it has no \"path\" to the host program".to_owned()),
        Some(path) => {
            if let Err(e) = check_host_path(Path::new(path)) {
                problems.push(e);
            }
        }
    }
    let allows_us = value["allowed_extensions"]
        .as_array()
        .is_some_and(|ids| ids.iter().any(|id| id == EXTENSION_ID));
    if !allows_us {
        problems.push(format!(
            "it does not allow the Persite extension ({EXTENSION_ID}) to connect"
        ));
    }
    problems
}

/// A Firefox-family browser Persite can be installed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Browser {
    /// Mozilla Firefox (and forks that keep its paths, e.g. Floorp).
    Firefox,
    /// LibreWolf.
    LibreWolf,
    /// Tor Browser (manifests live inside each bundle on Linux).
    TorBrowser,
}

impl Browser {
    /// Every supported browser.
    pub const ALL: [Browser; 3] = [Browser::Firefox, Browser::LibreWolf, Browser::TorBrowser];

    /// The browser's name for people.
    pub fn label(self) -> &'static str {
        match self {
            Browser::Firefox => "Firefox",
            Browser::LibreWolf => "LibreWolf",
            Browser::TorBrowser => "Tor Browser",
        }
    }
}

/// Per-user or system-wide installation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// In the user's home directory.
    User,
    /// For every user (needs root).
    System,
}

/// Operating systems with file-based manifest locations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    /// Linux and other freedesktop systems.
    Linux,
    /// macOS.
    MacOs,
}

impl Os {
    /// The OS this program runs on.
    pub fn current() -> Os {
        if cfg!(target_os = "macos") {
            Os::MacOs
        } else {
            Os::Linux
        }
    }
}

/// When a candidate directory applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Always.
    Always,
    /// Only if this path exists (a build or packaging variant).
    IfExists(PathBuf),
    /// Only if this path does not exist (the default of a variant pair).
    UnlessExists(PathBuf),
}

/// One directory a browser reads manifests from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The browser reading it.
    pub browser: Browser,
    /// User or system.
    pub scope: Scope,
    /// The directory holding `persite.json`.
    pub dir: PathBuf,
    /// When the directory applies on a given machine.
    pub condition: Condition,
    /// A path whose existence shows the browser is installed (consulted for `--browser all`);
    /// `None` when the location is always written.
    pub detect: Option<PathBuf>,
}

impl Location {
    /// The manifest file in this location.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(MANIFEST_FILE)
    }
}

/// `<bundle>/Browser/TorBrowser/Data/Browser/.mozilla/native-messaging-hosts`.
pub fn tor_browser_manifest_dir(bundle: &Path) -> PathBuf {
    bundle.join("Browser/TorBrowser/Data/Browser/.mozilla/native-messaging-hosts")
}

/// Where `browser` reads manifests for `scope` on `os`, given the home directory and (Tor
/// Browser on Linux) the bundle directories. Pure: nothing is read from the file system.
///
/// Choices where the browsers differ by build (`firefox-extension-facts.md` §3.3):
/// - Linux system Firefox reads exactly one of `/usr/lib/mozilla` and `/usr/lib64/mozilla`,
///   chosen at build time (lib64 on Fedora-style builds). Persite picks lib64 when
///   `/usr/lib64/mozilla` exists (those distributions create it), else lib.
/// - LibreWolf: `~/.librewolf`, plus the Flatpak's `~/.var/app/io.gitlab.librewolf-community`
///   when that exists; system-wide `/usr/lib/librewolf/native-messaging-hosts` (reported by
///   users, unconfirmed). No system location on macOS.
/// - Tor Browser on Linux keeps its data inside each bundle, so each bundle gets its own
///   manifest; on macOS it uses `TorBrowser-Data` in Application Support. No system location.
pub fn locations(
    browser: Browser,
    scope: Scope,
    os: Os,
    home: &Path,
    tor_bundles: &[PathBuf],
) -> Vec<Location> {
    let loc = |dir: PathBuf, condition: Condition, detect: Option<PathBuf>| Location {
        browser,
        scope,
        dir,
        condition,
        detect,
    };
    let app_support = home.join("Library/Application Support");
    match (browser, scope, os) {
        (Browser::Firefox, Scope::User, Os::Linux) => vec![loc(
            home.join(".mozilla/native-messaging-hosts"),
            Condition::Always,
            None,
        )],
        (Browser::Firefox, Scope::System, Os::Linux) => {
            let lib64 = PathBuf::from("/usr/lib64/mozilla");
            vec![
                loc(
                    lib64.join("native-messaging-hosts"),
                    Condition::IfExists(lib64.clone()),
                    None,
                ),
                loc(
                    PathBuf::from("/usr/lib/mozilla/native-messaging-hosts"),
                    Condition::UnlessExists(lib64),
                    None,
                ),
            ]
        }
        (Browser::Firefox, Scope::User, Os::MacOs) => vec![loc(
            app_support.join("Mozilla/NativeMessagingHosts"),
            Condition::Always,
            None,
        )],
        (Browser::Firefox, Scope::System, Os::MacOs) => vec![loc(
            PathBuf::from("/Library/Application Support/Mozilla/NativeMessagingHosts"),
            Condition::Always,
            None,
        )],
        (Browser::LibreWolf, Scope::User, Os::Linux) => {
            let flatpak = home.join(".var/app/io.gitlab.librewolf-community");
            vec![
                loc(
                    home.join(".librewolf/native-messaging-hosts"),
                    Condition::Always,
                    Some(home.join(".librewolf")),
                ),
                loc(
                    flatpak.join(".librewolf/native-messaging-hosts"),
                    Condition::IfExists(flatpak.clone()),
                    Some(flatpak),
                ),
            ]
        }
        (Browser::LibreWolf, Scope::System, Os::Linux) => vec![loc(
            PathBuf::from("/usr/lib/librewolf/native-messaging-hosts"),
            Condition::Always,
            Some(PathBuf::from("/usr/lib/librewolf")),
        )],
        (Browser::LibreWolf, Scope::User, Os::MacOs) => vec![loc(
            app_support.join("LibreWolf/NativeMessagingHosts"),
            Condition::Always,
            Some(app_support.join("LibreWolf")),
        )],
        (Browser::TorBrowser, _, Os::Linux) => tor_bundles
            .iter()
            .map(|bundle| {
                loc(
                    tor_browser_manifest_dir(bundle),
                    Condition::Always,
                    Some(bundle.join("Browser")),
                )
            })
            .collect(),
        (Browser::TorBrowser, Scope::User, Os::MacOs) => vec![loc(
            app_support.join("TorBrowser-Data/Browser/Mozilla/NativeMessagingHosts"),
            Condition::Always,
            Some(app_support.join("TorBrowser-Data")),
        )],
        (Browser::LibreWolf | Browser::TorBrowser, Scope::System, Os::MacOs) => Vec::new(),
    }
}

/// Tor Browser bundles installed by torbrowser-launcher:
/// `<home>/.local/share/torbrowser/tbb/<arch>/tor-browser*/` that contain `Browser/`.
pub fn find_tor_browser_bundles(home: &Path) -> Vec<PathBuf> {
    let tbb = home.join(".local/share/torbrowser/tbb");
    let mut bundles = Vec::new();
    for arch in read_dirs(&tbb) {
        for bundle in read_dirs(&arch) {
            let is_bundle = bundle
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("tor-browser"));
            if is_bundle && bundle.join("Browser").is_dir() {
                bundles.push(bundle);
            }
        }
    }
    bundles.sort();
    bundles
}

fn read_dirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(browser: Browser, scope: Scope, os: Os) -> Vec<PathBuf> {
        locations(
            browser,
            scope,
            os,
            Path::new("/home/u"),
            &[PathBuf::from("/opt/tb")],
        )
        .into_iter()
        .map(|l| l.dir)
        .collect()
    }

    #[test]
    fn location_table() {
        use {Browser::*, Os::*, Scope::*};
        let p = PathBuf::from;
        assert_eq!(
            dirs(Firefox, User, Linux),
            [p("/home/u/.mozilla/native-messaging-hosts")]
        );
        assert_eq!(
            dirs(Firefox, System, Linux),
            [
                p("/usr/lib64/mozilla/native-messaging-hosts"),
                p("/usr/lib/mozilla/native-messaging-hosts")
            ]
        );
        assert_eq!(
            dirs(Firefox, User, MacOs),
            [p(
                "/home/u/Library/Application Support/Mozilla/NativeMessagingHosts"
            )]
        );
        assert_eq!(
            dirs(Firefox, System, MacOs),
            [p(
                "/Library/Application Support/Mozilla/NativeMessagingHosts"
            )]
        );
        assert_eq!(
            dirs(LibreWolf, User, Linux),
            [
                p("/home/u/.librewolf/native-messaging-hosts"),
                p(
                    "/home/u/.var/app/io.gitlab.librewolf-community/.librewolf/native-messaging-hosts"
                )
            ]
        );
        assert_eq!(
            dirs(LibreWolf, System, Linux),
            [p("/usr/lib/librewolf/native-messaging-hosts")]
        );
        assert_eq!(
            dirs(LibreWolf, User, MacOs),
            [p(
                "/home/u/Library/Application Support/LibreWolf/NativeMessagingHosts"
            )]
        );
        assert_eq!(
            dirs(TorBrowser, User, Linux),
            [p(
                "/opt/tb/Browser/TorBrowser/Data/Browser/.mozilla/native-messaging-hosts"
            )]
        );
        assert_eq!(
            dirs(TorBrowser, User, MacOs),
            [p(
                "/home/u/Library/Application Support/TorBrowser-Data/Browser/Mozilla/NativeMessagingHosts"
            )]
        );
        assert!(dirs(TorBrowser, System, MacOs).is_empty());
        assert!(dirs(LibreWolf, System, MacOs).is_empty());
    }

    #[test]
    fn system_firefox_picks_lib64_only_when_it_exists() {
        let locs = locations(
            Browser::Firefox,
            Scope::System,
            Os::Linux,
            Path::new("/h"),
            &[],
        );
        let lib64 = PathBuf::from("/usr/lib64/mozilla");
        assert_eq!(locs[0].condition, Condition::IfExists(lib64.clone()));
        assert_eq!(locs[1].condition, Condition::UnlessExists(lib64));
    }

    #[test]
    fn host_names() {
        for ok in ["persite", "org.persite", "a_b.c1"] {
            assert!(is_valid_host_name(ok), "{ok}");
        }
        for bad in ["", ".a", "a.", "a..b", "per-site", "a b", "é"] {
            assert!(!is_valid_host_name(bad), "{bad}");
        }
    }

    #[test]
    fn manifest_json_and_recognition() {
        let m = HostManifest::persite(Path::new("/usr/bin/persite-native-host"));
        let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "name": "persite",
                "description": DESCRIPTION,
                "path": "/usr/bin/persite-native-host",
                "type": "stdio",
                "allowed_extensions": ["persite@persite.org"],
            })
        );
        assert!(is_persite_manifest(&m.to_json()));
        assert!(!is_persite_manifest(
            r#"{"name":"other","allowed_extensions":["persite@persite.org"]}"#
        ));
        assert!(!is_persite_manifest(
            r#"{"name":"persite","allowed_extensions":["x@y"]}"#
        ));
        assert!(!is_persite_manifest("not json"));
    }

    #[test]
    fn problems_in_plain_words() {
        let sh = Path::new("/bin/sh");
        assert!(problems(&HostManifest::persite(sh).to_json()).is_empty());
        let mut m = HostManifest::persite(Path::new("relative/host"));
        m.kind = "pipe".into();
        m.allowed_extensions = vec!["other@example.org".into()];
        m.name = "per-site".into();
        let found = problems(&m.to_json());
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found.iter().any(|p| p.contains("not an absolute path")));
        assert!(found.iter().any(|p| p.contains("persite@persite.org")));
        assert!(problems("{").iter().any(|p| p.contains("not valid JSON")));
        let missing = HostManifest::persite(Path::new("/nonexistent/persite-native-host"));
        assert!(problems(&missing.to_json())[0].contains("cannot be found"));
    }
}
