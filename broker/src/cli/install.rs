//! `persite install`: write the native-messaging host manifest (`persite.json`) where Firefox,
//! LibreWolf and Tor Browser look for it. The work is in `persite_native_messaging::install`.

use std::path::PathBuf;
use std::process::ExitCode;

use persite_native_messaging::install::{self, Options, Selection};
use persite_native_messaging::manifest::{Browser, Scope};

/// A browser choice on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BrowserArg {
    /// Firefox (and forks that keep its paths).
    Firefox,
    /// LibreWolf.
    Librewolf,
    /// Tor Browser (each bundle gets its own manifest on Linux).
    TorBrowser,
    /// Firefox, plus LibreWolf and Tor Browser where they are found.
    All,
}

impl BrowserArg {
    /// The library's selection for this choice.
    pub(crate) fn selection(self) -> Selection {
        match self {
            BrowserArg::Firefox => Selection::Only(Browser::Firefox),
            BrowserArg::Librewolf => Selection::Only(Browser::LibreWolf),
            BrowserArg::TorBrowser => Selection::Only(Browser::TorBrowser),
            BrowserArg::All => Selection::All,
        }
    }
}

/// Arguments of `persite install`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = "\
Writes persite.json, which lets the Persite extension (persite@persite.org) start \
persite-native-host, into:
  Firefox      ~/.mozilla/native-messaging-hosts/ (system: /usr/lib64/mozilla/… if \
/usr/lib64/mozilla exists, else /usr/lib/mozilla/…)
  LibreWolf    ~/.librewolf/native-messaging-hosts/ (+ the Flatpak's; system: \
/usr/lib/librewolf/native-messaging-hosts/)
  Tor Browser  <bundle>/Browser/TorBrowser/Data/Browser/.mozilla/native-messaging-hosts/ for \
each bundle found under ~/.local/share/torbrowser/tbb or given with --tor-browser-dir
On macOS the ~/Library/Application Support/…/NativeMessagingHosts/ folders are used.
With --browser all (the default), LibreWolf and Tor Browser are skipped when not found.

Examples:
  persite install --dry-run
  persite install --browser tor-browser --tor-browser-dir ~/tor-browser
  sudo persite install --system")]
pub(crate) struct InstallArgs {
    /// Which browser to install for.
    #[arg(long, value_enum, default_value_t = BrowserArg::All)]
    pub browser: BrowserArg,
    /// Install for every user of this machine (needs root).
    #[arg(long)]
    pub system: bool,
    /// Print what would be written and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// A Tor Browser bundle directory (the one containing `Browser/`); repeatable.
    #[arg(long, value_name = "PATH")]
    pub tor_browser_dir: Vec<PathBuf>,
    /// The host program to register (default: persite-native-host next to this program).
    #[arg(long, value_name = "PATH")]
    pub host_path: Option<PathBuf>,
}

impl InstallArgs {
    /// The library options for these arguments on this machine.
    pub(crate) fn options(&self) -> Result<Options, install::InstallError> {
        let scope = if self.system {
            Scope::System
        } else {
            Scope::User
        };
        let mut options = Options::for_this_machine(self.browser.selection(), scope)?;
        options.dry_run = self.dry_run;
        options.tor_browser_dirs = self.tor_browser_dir.clone();
        options.host_path = self.host_path.clone();
        Ok(options)
    }
}

/// Runs `persite install`.
pub(crate) fn run(args: &InstallArgs) -> ExitCode {
    match args
        .options()
        .and_then(|options| install::install(&options))
    {
        Ok(outcome) => {
            print!("{outcome}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("persite install: {e}");
            ExitCode::FAILURE
        }
    }
}
