//! `persite firefox-config`: prints the `user.js` or `policies.json` that keeps Firefox's own
//! traffic on Tor and stops the leaks an extension cannot stop (see `docs/install.md`).

use std::process::ExitCode;

use persite::hardening::{SocksEndpoint, render_policies_json, render_user_js};

/// The extension id the policy allows in private windows (`docs/protocol.md` §4).
use persite_native_messaging::manifest::EXTENSION_ID;

/// Which file to print.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum ConfigKind {
    /// A `user.js` for one profile folder.
    UserJs,
    /// A `policies.json` for all profiles, with the settings locked.
    Policies,
}

/// Arguments of `persite firefox-config`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:\n  \
    persite firefox-config user-js > ~/.mozilla/firefox/<profile>/user.js\n  \
    persite firefox-config policies --socks 127.0.0.1:9150 | sudo tee /etc/firefox/policies/policies.json")]
pub(crate) struct FirefoxConfigArgs {
    /// The file to print.
    #[arg(value_enum)]
    pub kind: ConfigKind,
    /// Tor's SocksPort, as HOST:PORT with HOST an IP literal or `localhost` (the settings disable
    /// local DNS), exactly as `config.toml`'s `[socks]` accepts it.
    #[arg(long, default_value = "127.0.0.1:9050", value_parser = parse_socks)]
    pub socks: SocksEndpoint,
}

/// Parses `HOST:PORT` exactly as `config.toml`'s `[socks]` accepts it.
fn parse_socks(text: &str) -> Result<SocksEndpoint, String> {
    SocksEndpoint::parse(text)
}

/// Prints the requested file to stdout.
pub(crate) fn run(args: &FirefoxConfigArgs) -> ExitCode {
    let text = match args.kind {
        ConfigKind::UserJs => render_user_js(&args.socks),
        ConfigKind::Policies => render_policies_json(&args.socks, EXTENSION_ID),
    };
    #[allow(clippy::print_stdout)] // this subcommand's output is the file
    {
        print!("{text}");
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socks_endpoint_parsing() {
        assert_eq!(parse_socks("127.0.0.1:9150").unwrap().port, 9150);
        assert_eq!(parse_socks("[::1]:9050").unwrap().host, "::1");
        // The same hosts as config.toml's [socks] (they had drifted: this refused localhost).
        assert_eq!(parse_socks("localhost:9050").unwrap().host, "localhost");
        assert!(parse_socks("tor.example:9050").is_err());
        assert!(parse_socks("::1:9050").is_err());
        assert!(parse_socks("127.0.0.1:0").is_err());
        assert!(parse_socks("127.0.0.1").is_err());
    }
}
