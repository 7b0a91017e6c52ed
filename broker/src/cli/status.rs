//! `persite status`: ask the running daemon how it is doing.

use std::process::ExitCode;

use persite_native_messaging::runtime::{SOCKET_NAME, runtime_dir_path};
use serde_json::Value;

use crate::daemon::client;

/// Arguments of `persite status`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = "\
Exit status: 0 when the daemon answered, 1 when none runs or it failed to answer.

Example:
  persite status
  persite status --json | jq .sites")]
pub struct StatusArgs {
    /// Print the daemon's `GET /v1/status` answer as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Queries the daemon and prints its status.
pub fn run(args: &StatusArgs) -> ExitCode {
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

/// The status object as text for people.
fn describe(s: &Value) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "?".to_owned(),
        other => other.to_string(),
    };
    let uptime = s["uptime_s"].as_u64().unwrap_or(0);
    let tor = if s["tor"].is_null() {
        "not connected".to_owned()
    } else {
        s["tor"].to_string()
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
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
             Tor control: not connected\n"
        );
    }
}
