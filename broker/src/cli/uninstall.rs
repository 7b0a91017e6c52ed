//! `persite uninstall`: remove the `persite.json` manifests `persite install` wrote (only files
//! that are Persite manifests). The work is in `persite_native_messaging::install`.

use std::path::PathBuf;
use std::process::ExitCode;

use persite_native_messaging::install::{self, Options};
use persite_native_messaging::manifest::Scope;

use super::install::BrowserArg;

/// Arguments of `persite uninstall`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct UninstallArgs {
    /// Which browser to uninstall from.
    #[arg(long, value_enum, default_value_t = BrowserArg::All)]
    pub browser: BrowserArg,
    /// Remove the system-wide manifests (needs root).
    #[arg(long)]
    pub system: bool,
    /// Print what would be removed and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// A Tor Browser bundle directory (the one containing `Browser/`); repeatable.
    #[arg(long, value_name = "PATH")]
    pub tor_browser_dir: Vec<PathBuf>,
}

/// Runs `persite uninstall`.
pub(crate) fn run(args: &UninstallArgs) -> ExitCode {
    let scope = if args.system {
        Scope::System
    } else {
        Scope::User
    };
    let result = Options::for_this_machine(args.browser.selection(), scope).and_then(|mut o| {
        o.dry_run = args.dry_run;
        o.tor_browser_dirs = args.tor_browser_dir.clone();
        install::uninstall(&o)
    });
    match result {
        Ok(outcome) => {
            print!("{outcome}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("persite uninstall: {e}");
            ExitCode::FAILURE
        }
    }
}
