//! `persite serve`: run the broker daemon for this user.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use persite::daemon::{self, ServeOptions, ServeOutcome};

/// Arguments of `persite serve`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = "\
The daemon listens on <runtime dir>/broker.sock (mode 0600), where the runtime dir is \
$PERSITE_RUNTIME_DIR, else $XDG_RUNTIME_DIR/persite, else /tmp/persite-<uid>. Only one daemon \
runs per user: a second `persite serve` notices the first, says so and exits with status 0.

Tor: with `[tor] mode = \"auto\"` (the default) the daemon uses the tor listening on the \
[socks] endpoint, or starts and supervises its own tor there when nothing listens; `mode = \
\"system\"` / `\"managed\"` force one or the other (see docs/tor.md for the config keys and \
every control-port command sent).

Logs go to stderr; set PERSITE_LOG (e.g. `debug`, `persite=trace`) to change the level \
(default `info`; site names appear only at debug and below).

Example:
  persite serve
  curl --unix-socket \"$XDG_RUNTIME_DIR/persite/broker.sock\" http://persite/v1/status")]
pub(crate) struct ServeArgs {
    /// Config file (default: $XDG_CONFIG_HOME/persite/config.toml or
    /// ~/.config/persite/config.toml; a missing default file means all defaults).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Leave the starting process's session so the daemon outlives it (used by the native host).
    #[arg(long)]
    pub detach: bool,
}

/// Runs the daemon; returns once it stops.
pub(crate) fn run(args: &ServeArgs) -> ExitCode {
    init_logging();
    let options = ServeOptions {
        config: args.config.clone(),
        detach: args.detach,
    };
    match daemon::run(&options) {
        Ok(ServeOutcome::Stopped) => ExitCode::SUCCESS,
        Ok(ServeOutcome::AlreadyRunning { socket, pid }) => {
            let pid = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            eprintln!(
                "persite serve: a daemon is already running{pid} on {}; nothing to do",
                socket.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("persite serve: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, filtered by `PERSITE_LOG` (default `info`).
fn init_logging() {
    let filter = match std::env::var("PERSITE_LOG") {
        Ok(spec) if !spec.trim().is_empty() => tracing_subscriber::EnvFilter::try_new(&spec)
            .unwrap_or_else(|e| {
                eprintln!("persite serve: ignoring PERSITE_LOG={spec:?} ({e}); using `info`");
                tracing_subscriber::EnvFilter::new("info")
            }),
        _ => tracing_subscriber::EnvFilter::new("info"),
    };
    // Fails only if a subscriber is already installed, which is then used instead.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
