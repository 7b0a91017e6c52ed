//! `persite install` / `persite uninstall` and the manifest checks of `persite doctor`.
//!
//! Install writes `persite.json` (see [`crate::manifest`]) into every applicable location of the
//! chosen browsers. With `--browser all`, Firefox is always installed and the other browsers only
//! where they appear to be installed; naming a browser installs it regardless. Uninstall removes
//! `persite.json` from every location of the chosen browsers, but only files that are Persite
//! manifests. Both are atomic per file (write to a temporary file, then rename).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::manifest::{self, Browser, Condition, HOST_BINARY, HostManifest, Location, Os, Scope};

/// Which browsers an operation covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Every supported browser that appears installed (Firefox always).
    All,
    /// This browser, whether or not it appears installed.
    Only(Browser),
}

/// What `persite install`/`uninstall` is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Browsers to cover.
    pub selection: Selection,
    /// User or system scope.
    pub scope: Scope,
    /// Print what would happen, change nothing.
    pub dry_run: bool,
    /// Tor Browser bundle directories given on the command line (`--tor-browser-dir`).
    pub tor_browser_dirs: Vec<PathBuf>,
    /// The host executable; `None` means `persite-native-host` next to the running program.
    pub host_path: Option<PathBuf>,
    /// The home directory (Firefox reads `$HOME`).
    pub home: PathBuf,
    /// The operating system whose layout to use.
    pub os: Os,
}

impl Options {
    /// Options for this machine: `$HOME`, the current OS, no extra bundles, default host path.
    pub fn for_this_machine(selection: Selection, scope: Scope) -> Result<Options, InstallError> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .ok_or(InstallError::NoHome)?;
        Ok(Options {
            selection,
            scope,
            dry_run: false,
            tor_browser_dirs: Vec::new(),
            host_path: None,
            home,
            os: Os::current(),
        })
    }

    fn browsers(&self) -> Vec<Browser> {
        match self.selection {
            Selection::All => Browser::ALL.to_vec(),
            Selection::Only(browser) => vec![browser],
        }
    }

    /// Tor Browser bundles: those given, plus (user scope) torbrowser-launcher's under `home`.
    fn tor_bundles(&self) -> Vec<PathBuf> {
        let mut bundles: Vec<PathBuf> = self
            .tor_browser_dirs
            .iter()
            .map(|d| normalise_bundle_dir(d))
            .collect();
        if self.scope == Scope::User {
            bundles.extend(manifest::find_tor_browser_bundles(&self.home));
        }
        bundles.sort();
        bundles.dedup();
        bundles
    }

    fn all_locations(&self, browser: Browser) -> Vec<Location> {
        manifest::locations(
            browser,
            self.scope,
            self.os,
            &self.home,
            &self.tor_bundles(),
        )
    }
}

/// Accepts a bundle root, or its `Browser` subdirectory.
fn normalise_bundle_dir(dir: &Path) -> PathBuf {
    if !dir.join("Browser").is_dir() && dir.join("TorBrowser").is_dir() {
        if let Some(parent) = dir.parent() {
            return parent.to_owned();
        }
    }
    dir.to_owned()
}

/// Why an install or uninstall failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// `$HOME` is not set.
    #[error("HOME is not set; Firefox looks for per-user manifests under $HOME")]
    NoHome,
    /// The host executable is unusable.
    #[error("{0}")]
    Host(String),
    /// Tor Browser was asked for but none was found.
    #[error(
        "no Tor Browser found (looked under ~/.local/share/torbrowser/tbb); pass --tor-browser-dir <bundle directory>"
    )]
    NoTorBrowser,
    /// The browser has no location for this scope on this OS.
    #[error("{browser} has no {scope} manifest location on this system")]
    NoLocation {
        /// The browser.
        browser: &'static str,
        /// `user` or `system`.
        scope: &'static str,
    },
    /// A `persite.json` that Persite did not write is in the way.
    #[error("{0} exists but is not a Persite manifest; remove it yourself if it is stale")]
    Foreign(PathBuf),
    /// Writing or removing a file failed.
    #[error("cannot {action} {path}: {source}{hint}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
        /// Advice (e.g. run as root for `--system`).
        hint: &'static str,
    },
}

/// One file acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The browser it is for.
    pub browser: Browser,
    /// The manifest file.
    pub path: PathBuf,
}

/// What an install or uninstall did (or, in a dry run, would do).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// True for `--dry-run`.
    pub dry_run: bool,
    /// `true` for install, `false` for uninstall.
    pub install: bool,
    /// Files written or removed.
    pub changed: Vec<Entry>,
    /// Browsers or locations left alone, and why.
    pub skipped: Vec<String>,
    /// The manifest written (install only).
    pub manifest: Option<String>,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match (self.install, self.dry_run) {
            (true, true) => "would write",
            (true, false) => "wrote",
            (false, true) => "would remove",
            (false, false) => "removed",
        };
        for entry in &self.changed {
            writeln!(
                f,
                "{verb} {} ({})",
                entry.path.display(),
                entry.browser.label()
            )?;
        }
        if self.changed.is_empty() {
            writeln!(
                f,
                "nothing to {}",
                if self.install { "write" } else { "remove" }
            )?;
        }
        for why in &self.skipped {
            writeln!(f, "skipped: {why}")?;
        }
        if let (Some(manifest), true) = (&self.manifest, self.dry_run) {
            write!(f, "manifest:\n{manifest}")?;
        }
        Ok(())
    }
}

/// A system-scope manifest runs its host for every user, and the host starts the daemon
/// (`persite`) from its own directory: refuses either when a non-root user could replace it
/// ([`crate::trusted_path`]). Returns the host's resolved path, for the manifest.
fn root_only_programs(host: &Path) -> Result<PathBuf, InstallError> {
    let (resolved, daemon, problems) = replaceable_programs(host).map_err(InstallError::Host)?;
    if problems.is_empty() {
        return Ok(resolved);
    }
    Err(InstallError::Host(format!(
        "refusing a system-wide install: every user's browser would run {} (and the daemon {}), but a user other than root could replace them: {}. Install both binaries under a root-owned directory that only root can write, such as /usr/local/bin, and run `sudo /usr/local/bin/persite install --system` from there",
        resolved.display(),
        daemon.display(),
        problems.join("; ")
    )))
}

/// The resolved host, the daemon next to it, and every reason a non-root user could replace
/// either ([`crate::trusted_path`]).
fn replaceable_programs(host: &Path) -> Result<(PathBuf, PathBuf, Vec<String>), String> {
    let (resolved, mut problems) = crate::trusted_path::replaceable_by_non_root(host)?;
    let daemon = resolved.with_file_name(DAEMON_BINARY);
    // A daemon not there (yet) sits in the host's directory, already checked: only root can
    // put one there.
    if daemon.symlink_metadata().is_ok() {
        let (_, more) = crate::trusted_path::replaceable_by_non_root(&daemon)?;
        problems.extend(more);
    }
    problems.dedup();
    Ok((resolved, daemon, problems))
}

/// [`check_manifest`] for a system-scope manifest, which every user's browser runs: a valid
/// one whose host (or the daemon next to it) a non-root user could replace is invalid.
pub fn check_system_manifest(path: &Path) -> ManifestState {
    let state = check_manifest(path);
    let ManifestState::Valid { host_path } = &state else {
        return state;
    };
    match replaceable_programs(host_path) {
        Ok((_, _, problems)) if problems.is_empty() => state,
        Ok((_, _, problems)) => ManifestState::Invalid {
            problems: vec![format!(
                "it makes every user's browser run {}, which a user other than root could replace ({}); reinstall the binaries under a root-owned directory such as /usr/local/bin and run `sudo /usr/local/bin/persite install --system`",
                host_path.display(),
                problems.join("; ")
            )],
        },
        Err(e) => ManifestState::Invalid { problems: vec![e] },
    }
}

/// The daemon's file name, which the host starts from its own directory (`crate::spawn`).
const DAEMON_BINARY: &str = "persite";

/// `persite-native-host` next to the running executable.
pub fn default_host_path() -> Result<PathBuf, InstallError> {
    let exe = std::env::current_exe()
        .map_err(|e| InstallError::Host(format!("cannot find this program's location: {e}")))?;
    Ok(exe.with_file_name(HOST_BINARY))
}

fn io_error(
    action: &'static str,
    path: &Path,
    scope: Scope,
) -> impl FnOnce(std::io::Error) -> InstallError {
    let path = path.to_owned();
    move |source| {
        let hint =
            if scope == Scope::System && source.kind() == std::io::ErrorKind::PermissionDenied {
                " (system-wide installation needs root: run it with sudo)"
            } else {
                ""
            };
        InstallError::Io {
            action,
            path,
            source,
            hint,
        }
    }
}

fn applies(condition: &Condition) -> bool {
    match condition {
        Condition::Always => true,
        Condition::IfExists(path) => path.exists(),
        Condition::UnlessExists(path) => !path.exists(),
    }
}

fn scope_word(scope: Scope) -> &'static str {
    match scope {
        Scope::User => "user",
        Scope::System => "system",
    }
}

/// Writes the Persite manifest for the chosen browsers (or, in a dry run, reports it).
pub fn install(options: &Options) -> Result<Outcome, InstallError> {
    let host_path = match &options.host_path {
        Some(path) => std::path::absolute(path)
            .map_err(|e| InstallError::Host(format!("{}: {e}", path.display())))?,
        None => default_host_path()?,
    };
    manifest::check_host_path(&host_path).map_err(InstallError::Host)?;
    let host_path = match options.scope {
        Scope::System => root_only_programs(&host_path)?,
        Scope::User => host_path,
    };
    let text = HostManifest::persite(&host_path).to_json();
    let mut outcome = Outcome {
        dry_run: options.dry_run,
        install: true,
        changed: Vec::new(),
        skipped: Vec::new(),
        manifest: Some(text.clone()),
    };
    for browser in options.browsers() {
        let locations = options.all_locations(browser);
        if locations.is_empty() {
            match (options.selection, browser, options.os) {
                (Selection::Only(_), Browser::TorBrowser, Os::Linux) => {
                    return Err(InstallError::NoTorBrowser);
                }
                (Selection::Only(_), _, _) => {
                    return Err(InstallError::NoLocation {
                        browser: browser.label(),
                        scope: scope_word(options.scope),
                    });
                }
                (Selection::All, _, _) => {
                    outcome
                        .skipped
                        .push(format!("{}: not found", browser.label()));
                    continue;
                }
            }
        }
        for location in locations {
            if !applies(&location.condition) {
                continue;
            }
            let detected = location.detect.as_ref().is_none_or(|d| d.exists());
            if options.selection == Selection::All && !detected {
                outcome.skipped.push(format!(
                    "{}: not found ({} does not exist)",
                    browser.label(),
                    location
                        .detect
                        .as_ref()
                        .map_or(String::new(), |d| d.display().to_string())
                ));
                continue;
            }
            let path = location.manifest_path();
            if let Ok(existing) = std::fs::read_to_string(&path) {
                if !manifest::is_persite_manifest(&existing) {
                    return Err(InstallError::Foreign(path));
                }
            }
            if !options.dry_run {
                write_atomically(&location.dir, &path, &text, options.scope)?;
            }
            outcome.changed.push(Entry { browser, path });
        }
    }
    Ok(outcome)
}

fn write_atomically(dir: &Path, path: &Path, text: &str, scope: Scope) -> Result<(), InstallError> {
    std::fs::create_dir_all(dir).map_err(io_error("create", dir, scope))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        manifest::MANIFEST_FILE,
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error("write", path, scope)(e)
    })
}

/// Removes the Persite manifest from every location of the chosen browsers; files that are not
/// Persite manifests are left alone (and reported).
pub fn uninstall(options: &Options) -> Result<Outcome, InstallError> {
    let mut outcome = Outcome {
        dry_run: options.dry_run,
        install: false,
        changed: Vec::new(),
        skipped: Vec::new(),
        manifest: None,
    };
    for browser in options.browsers() {
        for location in options.all_locations(browser) {
            let path = location.manifest_path();
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if !manifest::is_persite_manifest(&text) {
                outcome.skipped.push(format!(
                    "{} is not a Persite manifest; left alone",
                    path.display()
                ));
                continue;
            }
            if !options.dry_run {
                std::fs::remove_file(&path).map_err(io_error("remove", &path, options.scope))?;
            }
            outcome.changed.push(Entry { browser, path });
        }
    }
    Ok(outcome)
}

/// The state of one manifest location, for `persite doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestState {
    /// No `persite.json` there.
    Missing,
    /// A valid Persite manifest pointing at an existing executable.
    Valid {
        /// The host executable it names.
        host_path: PathBuf,
    },
    /// A manifest with problems, in plain words.
    Invalid {
        /// What is wrong, one sentence each.
        problems: Vec<String>,
    },
}

/// One manifest location checked by [`doctor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestCheck {
    /// The browser reading it.
    pub browser: Browser,
    /// User or system.
    pub scope: Scope,
    /// The manifest file.
    pub path: PathBuf,
    /// What was found.
    pub state: ManifestState,
}

impl fmt::Display for ManifestCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = format!("{} ({})", self.browser.label(), scope_word(self.scope));
        match &self.state {
            ManifestState::Missing => {
                write!(
                    f,
                    "{who}: no manifest at {}; run `persite install`",
                    self.path.display()
                )
            }
            ManifestState::Valid { host_path } => write!(
                f,
                "{who}: {} is valid and starts {}",
                self.path.display(),
                host_path.display()
            ),
            ManifestState::Invalid { problems } => {
                write!(
                    f,
                    "{who}: {} has problems: {}",
                    self.path.display(),
                    problems.join("; ")
                )
            }
        }
    }
}

/// Checks, for every browser and both scopes, the manifest locations that apply on this machine
/// (for browsers other than Firefox: only where the browser appears installed or a manifest
/// exists). `tor_browser_dirs` adds Tor Browser bundles to those found under `home`.
pub fn doctor(home: &Path, os: Os, tor_browser_dirs: &[PathBuf]) -> Vec<ManifestCheck> {
    let mut checks = Vec::new();
    for scope in [Scope::User, Scope::System] {
        let options = Options {
            selection: Selection::All,
            scope,
            dry_run: true,
            tor_browser_dirs: tor_browser_dirs.to_vec(),
            host_path: None,
            home: home.to_owned(),
            os,
        };
        for browser in Browser::ALL {
            for location in options.all_locations(browser) {
                let path = location.manifest_path();
                let state = match scope {
                    Scope::User => check_manifest(&path),
                    Scope::System => check_system_manifest(&path),
                };
                let relevant = applies(&location.condition)
                    && location.detect.as_ref().is_none_or(|d| d.exists());
                // System locations only matter when something is there.
                let report =
                    state != ManifestState::Missing || (relevant && (scope == Scope::User));
                if report {
                    checks.push(ManifestCheck {
                        browser,
                        scope,
                        path,
                        state,
                    });
                }
            }
        }
    }
    checks
}

/// The state of the manifest file at `path`.
pub fn check_manifest(path: &Path) -> ManifestState {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return ManifestState::Missing,
        Err(e) => {
            return ManifestState::Invalid {
                problems: vec![format!("the file cannot be read ({e})")],
            };
        }
    };
    let problems = manifest::problems(&text);
    if problems.is_empty() {
        let host_path = serde_json::from_str::<HostManifest>(&text)
            .map(|m| PathBuf::from(m.path))
            .unwrap_or_default();
        ManifestState::Valid { host_path }
    } else {
        ManifestState::Invalid { problems }
    }
}
