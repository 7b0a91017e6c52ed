//! `persite creds`: show the site and SOCKS credentials of URLs, all under one fresh key.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use persite::{Container, Isolator, Psl};

/// Arguments of `persite creds`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = "\
Each URL gets one line on stdout holding one JSON object: \
{\"site\": …, \"container\": …, \"username\": …, \"password\": …}, in the order given. \
All lines come from one fresh random key held only in memory, so the same site always gets the \
same username within one run, and a new run prints different credentials (as a restarted \
broker would).

A URL may be a full URL (https://www.example.co.uk/page), a bare host (www.example.co.uk, \
[2001:db8::1], localhost:8080) or a non-network URL (about:blank, moz-extension://…), which \
selects the catch-all site --unknown--.

If any URL is invalid, nothing is printed on stdout, every invalid URL is named on stderr and \
the exit status is 1.

Examples:
  persite creds https://www.example.co.uk/ https://mail.example.co.uk/
  persite creds --container firefox-container-2 https://alice.github.io/")]
pub(crate) struct CredsArgs {
    /// Firefox cookie store id: firefox-default, firefox-private or firefox-container-N.
    #[arg(long, value_name = "ID", default_value = "firefox-default", value_parser = parse_container)]
    pub container: Container,
    /// URLs or hosts whose first-party credentials to print.
    #[arg(value_name = "URL", required = true)]
    pub urls: Vec<String>,
}

fn parse_container(id: &str) -> Result<Container, String> {
    Container::parse(id).map_err(|error| error.to_string())
}

/// One output line.
#[derive(serde::Serialize)]
struct CredsLine<'a> {
    site: &'a str,
    container: String,
    username: &'a str,
    password: &'a str,
}

/// Runs `persite creds`.
pub(crate) fn run(args: &CredsArgs) -> ExitCode {
    let psl = match Psl::load() {
        Ok(psl) => Arc::new(psl),
        Err(error) => {
            eprintln!("persite creds: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut isolator = match Isolator::try_new(psl) {
        Ok(isolator) => isolator,
        Err(error) => {
            eprintln!("persite creds: cannot get a random key from the OS: {error}");
            return ExitCode::FAILURE;
        }
    };
    let container = args.container.to_string();
    let mut lines = Vec::with_capacity(args.urls.len());
    let mut failed = false;
    for url in &args.urls {
        match isolator.credentials(url, &container) {
            Ok(issued) => {
                let line = CredsLine {
                    site: issued.site.as_str(),
                    container: issued.container.to_string(),
                    username: &issued.username,
                    password: &issued.password,
                };
                match serde_json::to_string(&line) {
                    Ok(json) => lines.push(json),
                    Err(error) => {
                        eprintln!("persite creds: cannot encode the result for {url:?}: {error}");
                        failed = true;
                    }
                }
            }
            Err(error) => {
                eprintln!("persite creds: {error}");
                failed = true;
            }
        }
    }
    if failed {
        return ExitCode::FAILURE;
    }
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        if let Err(error) = writeln!(stdout, "{line}") {
            eprintln!("persite creds: cannot write to stdout: {error}");
            return ExitCode::FAILURE;
        }
    }
    match stdout.flush() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("persite creds: cannot write to stdout: {error}");
            ExitCode::FAILURE
        }
    }
}
