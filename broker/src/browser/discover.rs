//! Finding a Firefox-family browser and telling which kind it is.
//!
//! Release and Beta Firefox are built to refuse unsigned add-ons (`MOZ_REQUIRE_SIGNING`): for
//! them `xpinstall.signatures.required = false` has no effect. Firefox ESR, Developer Edition,
//! Nightly, unbranded builds and LibreWolf honour it. The kind is read, in this order, from
//! `defaults/pref/channel-prefs.js` next to the real binary (`app.update.channel`: Debian's
//! `firefox-esr` ships `"esr"` there), from `application.ini` (`Name=LibreWolf`), and last from
//! the `--version` line (`153.8.0esr`, `130.0a1`).

use std::path::{Path, PathBuf};

/// Program names tried on `PATH`, in order of preference (the first found wins).
pub const CANDIDATES: &[&str] = &[
    "firefox-esr",
    "librewolf",
    "firefox-developer-edition",
    "firefox-nightly",
    "firefox",
];

/// The kind of browser, as far as add-on signing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// Firefox ESR (update channel `esr`).
    Esr,
    /// Firefox Developer Edition (channel `aurora`).
    DeveloperEdition,
    /// Firefox Nightly (channel `nightly`).
    Nightly,
    /// LibreWolf.
    LibreWolf,
    /// A build without an official channel (`default`): a distribution or self-built Firefox.
    Unbranded,
    /// Release Firefox (channel `release`): refuses unsigned add-ons.
    Release,
    /// Beta Firefox (channel `beta`): refuses unsigned add-ons.
    Beta,
}

impl Flavour {
    /// Whether the browser installs the unpacked-and-unsigned Persite add-on once
    /// `xpinstall.signatures.required` is false.
    pub fn runs_unsigned_addons(self) -> bool {
        !matches!(self, Flavour::Release | Flavour::Beta)
    }

    /// The browser's name for people.
    pub fn label(self) -> &'static str {
        match self {
            Flavour::Esr => "Firefox ESR",
            Flavour::DeveloperEdition => "Firefox Developer Edition",
            Flavour::Nightly => "Firefox Nightly",
            Flavour::LibreWolf => "LibreWolf",
            Flavour::Unbranded => "Firefox (unbranded build)",
            Flavour::Release => "Firefox",
            Flavour::Beta => "Firefox Beta",
        }
    }
}

/// The update channel named in a `channel-prefs.js` text (`pref("app.update.channel", "esr");`).
pub fn channel_of(channel_prefs: &str) -> Option<String> {
    channel_prefs.lines().find_map(|line| {
        let line = line.trim();
        let rest = line.strip_prefix("pref(")?;
        let (name, value) = rest.split_once(',')?;
        if name.trim().trim_matches('"') != "app.update.channel" {
            return None;
        }
        let value = value.trim().trim_end_matches(';').trim_end_matches(')');
        Some(value.trim().trim_matches('"').to_owned())
    })
}

/// The `Name=` of `application.ini`'s `[App]` section.
pub fn app_name_of(application_ini: &str) -> Option<String> {
    let mut in_app = false;
    for line in application_ini.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_app = line == "[App]";
        } else if let Some(name) = line.strip_prefix("Name=").filter(|_| in_app) {
            return Some(name.trim().to_owned());
        }
    }
    None
}

/// Judges the kind from what was found next to the binary; `None` when nothing tells.
pub fn classify(
    channel_prefs: Option<&str>,
    application_ini: Option<&str>,
    version_line: Option<&str>,
) -> Option<Flavour> {
    if application_ini
        .and_then(app_name_of)
        .is_some_and(|n| n.eq_ignore_ascii_case("librewolf"))
        || version_line.is_some_and(|v| v.to_ascii_lowercase().contains("librewolf"))
    {
        return Some(Flavour::LibreWolf);
    }
    if let Some(channel) = channel_prefs.and_then(channel_of) {
        return Some(match channel.as_str() {
            "esr" => Flavour::Esr,
            "aurora" => Flavour::DeveloperEdition,
            "nightly" | "nightly-try" => Flavour::Nightly,
            "release" => Flavour::Release,
            "beta" => Flavour::Beta,
            _ => Flavour::Unbranded,
        });
    }
    // `Mozilla Firefox 153.8.0esr`, `Mozilla Firefox 130.0a1`, `Mozilla Firefox 129.0.2`.
    let version = version_line?.split_whitespace().last()?;
    if version.ends_with("esr") {
        Some(Flavour::Esr)
    } else if version.contains('a') {
        Some(Flavour::Nightly)
    } else if version.contains('b') {
        // Beta and Developer Edition share `b` versions; only the channel tells them apart.
        None
    } else if version.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        Some(Flavour::Release)
    } else {
        None
    }
}

/// A browser found on this machine.
#[derive(Debug, Clone)]
pub struct Found {
    /// What to run (as found: a wrapper script or a symlink is fine).
    pub program: PathBuf,
    /// Its kind; `None` when nothing next to it told.
    pub flavour: Option<Flavour>,
    /// Its `--version` line, if it answered.
    pub version: Option<String>,
}

/// The first of [`CANDIDATES`] on `path` (a `PATH`-like list).
pub fn find_on_path(path: &std::ffi::OsStr) -> Option<PathBuf> {
    CANDIDATES.iter().find_map(|name| {
        std::env::split_paths(path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Looks at `program`: reads `channel-prefs.js` and `application.ini` next to the file it
/// resolves to, and runs `program --version` (bounded by the browser itself: it prints and
/// exits without starting).
pub fn inspect(program: &Path) -> Found {
    let real = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_owned());
    let dir = real.parent().map(Path::to_owned).unwrap_or_default();
    let read = |relative: &str| std::fs::read_to_string(dir.join(relative)).ok();
    let channel = read("defaults/pref/channel-prefs.js");
    let ini = read("application.ini");
    let version = std::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    Found {
        program: program.to_owned(),
        flavour: classify(channel.as_deref(), ini.as_deref(), version.as_deref()),
        version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_ESR_CHANNEL: &str = "// comment\n//\npref(\"app.update.channel\", \"esr\");\n";

    #[test]
    fn reads_the_update_channel() {
        assert_eq!(channel_of(DEBIAN_ESR_CHANNEL).as_deref(), Some("esr"));
        assert_eq!(
            channel_of("pref(\"app.update.channel\",\"release\");").as_deref(),
            Some("release")
        );
        assert_eq!(channel_of("pref(\"other\", \"x\");"), None);
    }

    #[test]
    fn classifies_by_channel_first() {
        assert_eq!(
            classify(Some(DEBIAN_ESR_CHANNEL), None, None),
            Some(Flavour::Esr)
        );
        let release = "pref(\"app.update.channel\", \"release\");";
        assert_eq!(
            classify(Some(release), None, Some("Mozilla Firefox 153.0")),
            Some(Flavour::Release)
        );
        let aurora = "pref(\"app.update.channel\", \"aurora\");";
        assert_eq!(
            classify(Some(aurora), None, Some("Mozilla Firefox 154.0b3")),
            Some(Flavour::DeveloperEdition)
        );
        let beta = "pref(\"app.update.channel\", \"beta\");";
        assert_eq!(classify(Some(beta), None, None), Some(Flavour::Beta));
        let default = "pref(\"app.update.channel\", \"default\");";
        assert_eq!(
            classify(Some(default), None, None),
            Some(Flavour::Unbranded)
        );
    }

    #[test]
    fn librewolf_by_name_whatever_its_channel() {
        let ini = "[App]\nVendor=LibreWolf\nName=LibreWolf\nVersion=130.0\n";
        let release = "pref(\"app.update.channel\", \"release\");";
        assert_eq!(
            classify(Some(release), Some(ini), None),
            Some(Flavour::LibreWolf)
        );
        assert_eq!(
            app_name_of("[Gecko]\nName=x\n[App]\nName=Firefox\n").as_deref(),
            Some("Firefox")
        );
    }

    #[test]
    fn falls_back_to_the_version_line() {
        let v = |line| classify(None, None, Some(line));
        assert_eq!(v("Mozilla Firefox 153.8.0esr"), Some(Flavour::Esr));
        assert_eq!(v("Mozilla Firefox 155.0a1"), Some(Flavour::Nightly));
        assert_eq!(v("Mozilla Firefox 153.0.2"), Some(Flavour::Release));
        assert_eq!(v("Mozilla Firefox 154.0b3"), None);
        assert_eq!(classify(None, None, None), None);
    }

    #[test]
    fn only_release_and_beta_refuse_unsigned_addons() {
        assert!(!Flavour::Release.runs_unsigned_addons());
        assert!(!Flavour::Beta.runs_unsigned_addons());
        for f in [
            Flavour::Esr,
            Flavour::DeveloperEdition,
            Flavour::Nightly,
            Flavour::LibreWolf,
            Flavour::Unbranded,
        ] {
            assert!(f.runs_unsigned_addons(), "{f:?}");
        }
    }
}
