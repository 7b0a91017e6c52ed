//! `persite status`: ask the running daemon how it is doing; with `--wait-bootstrap`, follow
//! tor's bootstrap on a progress bar until it is done or the timeout passes.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use persite_native_messaging::runtime::{SOCKET_NAME, runtime_dir_path};
use serde_json::Value;

use persite::daemon::client;

/// Arguments of `persite status`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = "\
Exit status: 0 when the daemon answered (and, with --wait-bootstrap, tor reached 100 %), \
1 when none runs, it failed to answer, or tor did not finish bootstrapping in time.

Example:
  persite status
  persite status --json | jq .sites
  persite status --wait-bootstrap --timeout 120")]
pub(crate) struct StatusArgs {
    /// Print the daemon's `GET /v1/status` answer as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Show tor's bootstrap progress on a bar until it reaches 100 % (or --timeout passes).
    #[arg(long)]
    pub wait_bootstrap: bool,
    /// Longest wait for --wait-bootstrap, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
}

/// How often `--wait-bootstrap` asks the daemon.
const POLL: Duration = Duration::from_millis(500);

/// Queries the daemon and prints its status.
pub(crate) fn run(args: &StatusArgs) -> ExitCode {
    // Only looks: a status query must not create the runtime directory.
    let socket = runtime_dir_path().join(SOCKET_NAME);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("persite status: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.wait_bootstrap {
        return runtime.block_on(wait_bootstrap(
            &socket,
            Duration::from_secs(args.timeout),
            "persite status",
        ));
    }
    match runtime.block_on(client::request(&socket, "GET", "/v1/status", Vec::new())) {
        Ok((200, status)) => {
            if args.json {
                println!("{status}");
            } else {
                print!("{}", describe(&status));
            }
            ExitCode::SUCCESS
        }
        Ok((code, answer)) => {
            eprintln!("persite status: the daemon answered HTTP {code}: {answer}");
            ExitCode::FAILURE
        }
        Err(client::ClientError::NotRunning { socket, .. }) => {
            eprintln!(
                "persite status: no persite daemon is running (nothing answers on {socket}); \
                 start one with `persite serve`"
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("persite status: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What `--wait-bootstrap` learns from one status answer.
#[derive(Debug, PartialEq, Eq)]
enum Bootstrap {
    /// The daemon has no control port: progress cannot be known.
    NoControl,
    /// Not connected to tor's control port yet.
    Connecting,
    /// Progress in percent and tor's summary.
    Progress(u8, String),
}

fn bootstrap_of(status: &Value) -> Bootstrap {
    let tor = &status["tor"];
    match tor["control"].as_str() {
        Some("connected") => Bootstrap::Progress(
            tor["bootstrap"]["progress"]
                .as_u64()
                .map_or(0, |p| p.min(100) as u8),
            tor["bootstrap"]["summary"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ),
        Some("connecting") => Bootstrap::Connecting,
        _ => Bootstrap::NoControl,
    }
}

/// Follows tor's bootstrap on a progress bar (one line per change without a terminal) until it
/// reaches 100 % or `timeout` passes; `who` starts every error line (`persite status`).
pub(crate) async fn wait_bootstrap(
    socket: &std::path::Path,
    timeout: Duration,
    who: &str,
) -> ExitCode {
    let bar = indicatif::ProgressBar::new(100);
    bar.set_style(
        indicatif::ProgressStyle::with_template("tor bootstrap [{bar:40}] {pos:>3}% {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let deadline = Instant::now() + timeout;
    let mut last = None;
    loop {
        let state = match client::request(socket, "GET", "/v1/status", Vec::new()).await {
            Ok((200, status)) => bootstrap_of(&status),
            Ok((code, answer)) => {
                bar.abandon();
                eprintln!("{who}: the daemon answered HTTP {code}: {answer}");
                return ExitCode::FAILURE;
            }
            Err(e) => {
                bar.abandon();
                eprintln!("{who}: {e}");
                return ExitCode::FAILURE;
            }
        };
        match &state {
            Bootstrap::NoControl => {
                bar.abandon();
                eprintln!(
                    "{who}: the daemon has no tor control port ([tor] control = \"none\"), \
                     so bootstrap progress is unknown"
                );
                return ExitCode::FAILURE;
            }
            Bootstrap::Connecting => bar.set_message("connecting to tor's control port"),
            Bootstrap::Progress(p, summary) => {
                bar.set_position(u64::from(*p));
                bar.set_message(summary.clone());
                if *p >= 100 {
                    bar.finish();
                    if bar.is_hidden() {
                        println!("tor bootstrap: 100% {summary}");
                    }
                    return ExitCode::SUCCESS;
                }
            }
        }
        if bar.is_hidden() && last.as_ref() != Some(&state) {
            // No terminal: one line per change instead of a bar.
            match &state {
                Bootstrap::Progress(p, s) => println!("tor bootstrap: {p}% {s}"),
                _ => println!("tor bootstrap: connecting to tor's control port"),
            }
        }
        last = Some(state);
        if Instant::now() >= deadline {
            bar.abandon();
            eprintln!(
                "{who}: tor did not finish bootstrapping within {}s",
                timeout.as_secs()
            );
            return ExitCode::FAILURE;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The tor part of the status, for people.
fn describe_tor(tor: &Value) -> String {
    let control = tor["control"].as_str().unwrap_or("?");
    let mut text = match control {
        "none" => "no control port configured".to_owned(),
        "connecting" => "not connected to the control port (yet)".to_owned(),
        "connected" => format!(
            "connected, tor {}",
            tor["version"].as_str().unwrap_or("(version unknown)")
        ),
        other => other.to_owned(),
    };
    if tor["managed"] == true {
        text.push_str(", managed by persite");
    }
    if let Some(p) = tor["bootstrap"]["progress"].as_u64() {
        text.push_str(&format!(
            ", bootstrap {p}% ({})",
            tor["bootstrap"]["summary"].as_str().unwrap_or("")
        ));
    }
    if let Some(listeners) = tor["socks_listeners"].as_array()
        && !listeners.is_empty()
    {
        let list: Vec<&str> = listeners.iter().filter_map(Value::as_str).collect();
        text.push_str(&format!(", SOCKS on {}", list.join(" ")));
    }
    if let Some(error) = tor["error"].as_str() {
        text.push_str(&format!("\n  problem: {error}"));
    }
    if let Some(problem) = tor["socks_problem"].as_str() {
        text.push_str(&format!(
            "\n  web requests are blocked (the SOCKS endpoint is not vouched for): {problem}"
        ));
    } else if tor["socks_vouched"] == false && tor["control"] == "none" {
        text.push_str(
            "\n  note: no control port, so nothing vouches that the SOCKS endpoint is tor (see `persite doctor`)",
        );
    }
    text
}

/// The status object as text for people.
fn describe(s: &Value) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "?".to_owned(),
        other => other.to_string(),
    };
    let uptime = s["uptime_s"].as_u64().unwrap_or(0);
    let tor = if s["tor"].is_null() {
        "unknown".to_owned()
    } else {
        describe_tor(&s["tor"])
    };
    format!(
        "persite daemon {} (instance {}), up {}h {:02}m {:02}s\n\
         sites seen: {}, identity epoch: {}\n\
         SOCKS endpoint for the browser: {}:{}\n\
         Tor control: {}\n",
        text(&s["broker_version"]),
        text(&s["instance"]),
        uptime / 3600,
        uptime / 60 % 60,
        uptime % 60,
        text(&s["sites"]),
        text(&s["epoch"]),
        text(&s["socks"]["host"]),
        text(&s["socks"]["port"]),
        tor,
    ) + &describe_apps(s)
}

/// The SOCKS front and the application contexts (no site names: only counts).
fn describe_apps(s: &Value) -> String {
    let mut out = match s["front"].as_str() {
        Some(front) => format!("SOCKS front for programs: {front}\n"),
        None => "SOCKS front for programs: off\n".to_owned(),
    };
    let apps = s["apps"].as_array().map(Vec::as_slice).unwrap_or_default();
    if apps.is_empty() {
        return out;
    }
    out.push_str("Applications:\n");
    for app in apps {
        out.push_str(&format!(
            "  {}: {} site(s), {} circuit(s) in use\n",
            app["name"].as_str().unwrap_or("?"),
            app["sites"].as_u64().unwrap_or(0),
            app["circuits"].as_u64().unwrap_or(0)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_the_front_and_applications_without_sites() {
        let s = serde_json::json!({
            "front": "127.0.0.1:9250",
            "apps": [{"name": "git", "sites": 2, "circuits": 2}]
        });
        let text = describe_apps(&s);
        assert!(text.contains("SOCKS front for programs: 127.0.0.1:9250"));
        assert!(text.contains("git: 2 site(s), 2 circuit(s) in use"));
        assert!(describe_apps(&serde_json::json!({})).contains("off"));
    }

    #[test]
    fn describes_a_status_object() {
        let s = serde_json::json!({
            "broker_version": "0.1.0", "instance": "abc", "uptime_s": 3725, "sites": 12,
            "epoch": 2, "socks": {"host": "127.0.0.1", "port": 9050}, "tor": null
        });
        assert_eq!(
            describe(&s),
            "persite daemon 0.1.0 (instance abc), up 1h 02m 05s\n\
             sites seen: 12, identity epoch: 2\n\
             SOCKS endpoint for the browser: 127.0.0.1:9050\n\
             Tor control: unknown\n\
             SOCKS front for programs: off\n"
        );
    }

    #[test]
    fn describes_tor() {
        let tor = serde_json::json!({
            "control": "connected", "managed": true, "version": "0.4.9.11",
            "bootstrap": {"progress": 45, "summary": "Loading relay descriptors"},
            "socks_listeners": ["127.0.0.1:9050"], "error": null
        });
        assert_eq!(
            describe_tor(&tor),
            "connected, tor 0.4.9.11, managed by persite, bootstrap 45% (Loading relay \
             descriptors), SOCKS on 127.0.0.1:9050"
        );
        let tor = serde_json::json!({"control": "connecting", "managed": true,
            "error": "cannot start tor: No such file"});
        assert_eq!(
            describe_tor(&tor),
            "not connected to the control port (yet), managed by persite\n  problem: cannot start tor: No such file"
        );
        assert_eq!(
            describe_tor(&serde_json::json!({"control": "none", "managed": false})),
            "no control port configured"
        );
        let tor = serde_json::json!({"control": "connected", "version": "0.4.9.11",
            "socks_listeners": ["127.0.0.1:9150"], "socks_vouched": false,
            "socks_problem": "the SOCKS endpoint 127.0.0.1:9050 is not one of tor's SOCKS listeners"});
        assert!(
            describe_tor(&tor).ends_with(
                "\n  web requests are blocked (the SOCKS endpoint is not vouched for): the SOCKS \
                 endpoint 127.0.0.1:9050 is not one of tor's SOCKS listeners"
            ),
            "{}",
            describe_tor(&tor)
        );
        let tor =
            serde_json::json!({"control": "none", "socks_vouched": false, "socks_problem": null});
        assert!(describe_tor(&tor).contains("nothing vouches that the SOCKS endpoint is tor"));
    }

    #[test]
    fn reads_bootstrap_states() {
        let st = |tor: Value| bootstrap_of(&serde_json::json!({ "tor": tor }));
        assert_eq!(
            st(serde_json::json!({"control": "none"})),
            Bootstrap::NoControl
        );
        assert_eq!(st(Value::Null), Bootstrap::NoControl);
        assert_eq!(
            st(serde_json::json!({"control": "connecting"})),
            Bootstrap::Connecting
        );
        assert_eq!(
            st(serde_json::json!({"control": "connected",
                "bootstrap": {"progress": 100, "summary": "Done"}})),
            Bootstrap::Progress(100, "Done".into())
        );
        assert_eq!(
            st(serde_json::json!({"control": "connected", "bootstrap": null})),
            Bootstrap::Progress(0, String::new())
        );
    }
}
