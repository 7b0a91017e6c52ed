//! The `persite` command line: one [`Command`] variant and one file per subcommand.
//!
//! To add a subcommand `foo`: create `cli/foo.rs` with a `FooArgs` (`clap::Args`) and
//! `pub fn run(args: &FooArgs) -> ExitCode`, then add `pub mod foo;`, a `Foo(foo::FooArgs)`
//! variant and its arm in [`Command::run`].

use std::process::ExitCode;

pub(crate) mod browser;
pub(crate) mod creds;
pub(crate) mod doctor;
pub(crate) mod firefox_config;
pub(crate) mod install;
pub(crate) mod new_circuit;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod status;
pub(crate) mod uninstall;

/// Per-site Tor circuits for Firefox: the Persite broker and its tools.
#[derive(Debug, clap::Parser)]
#[command(name = "persite", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `persite`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Start a Firefox-family browser in Persite's own profile, protected (tor, daemon, add-on).
    Browser(browser::BrowserArgs),
    /// Print the SOCKS credentials the broker would give some URLs (one JSON object per line).
    Creds(creds::CredsArgs),
    /// Check the installation, the daemon, tor and (optionally) a Firefox profile; say what to fix.
    Doctor(doctor::DoctorArgs),
    /// Print the user.js or policies.json that keeps Firefox's own traffic on Tor.
    FirefoxConfig(firefox_config::FirefoxConfigArgs),
    /// New credentials, so new circuits, for a site or an application.
    NewCircuit(new_circuit::NewCircuitArgs),
    /// Run a program with SOCKS credentials of its own (one circuit per application or per site).
    Run(run::RunArgs),
    /// Run the broker daemon for this user (HTTP/JSON API on a Unix socket).
    Serve(serve::ServeArgs),
    /// Show whether the broker daemon runs and what it has done.
    Status(status::StatusArgs),
    /// Register the native-messaging host with Firefox, LibreWolf and Tor Browser.
    Install(install::InstallArgs),
    /// Remove the native-messaging host manifests `persite install` wrote.
    Uninstall(uninstall::UninstallArgs),
}

impl Command {
    /// Runs the subcommand; its exit code is the process's.
    pub(crate) fn run(&self) -> ExitCode {
        match self {
            Command::Browser(args) => browser::run(args),
            Command::Creds(args) => creds::run(args),
            Command::Doctor(args) => doctor::run(args),
            Command::FirefoxConfig(args) => firefox_config::run(args),
            Command::NewCircuit(args) => new_circuit::run(args),
            Command::Run(args) => run::run(args),
            Command::Serve(args) => serve::run(args),
            Command::Status(args) => status::run(args),
            Command::Install(args) => install::run(args),
            Command::Uninstall(args) => uninstall::run(args),
        }
    }
}
