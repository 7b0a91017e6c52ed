//! `persite new-circuit`: new credentials, so new circuits, for a site or an application.

use std::process::ExitCode;

use persite_native_messaging::runtime::{SOCKET_NAME, runtime_dir_path};
use serde_json::json;

use persite::daemon::client;
use persite::daemon::whole_app_host;

/// Arguments of `persite new-circuit`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = "\
With --site, every context using that site (browser containers and applications alike, as the \
browser's New circuit does) gets new credentials for it. With only --app, the application's \
own credentials (`persite run` without --per-site) change. Streams already open keep their \
circuit; new ones take a new circuit.

Examples:
  persite new-circuit --site example.com
  persite new-circuit --app git")]
pub(crate) struct NewCircuitArgs {
    /// The application whose credentials change (its `persite run --as` name).
    #[arg(long, value_name = "NAME", required_unless_present = "site")]
    pub app: Option<String>,
    /// The site (or a host of it) whose credentials change.
    #[arg(long, value_name = "SITE")]
    pub site: Option<String>,
}

/// Runs `persite new-circuit`.
pub(crate) fn run(args: &NewCircuitArgs) -> ExitCode {
    let target = match (&args.site, &args.app) {
        (Some(site), _) => json!({"url": site}),
        (None, Some(app)) => json!({"site": whole_app_host(app)}),
        (None, None) => {
            eprintln!("persite new-circuit: name --site SITE or --app NAME");
            return ExitCode::FAILURE;
        }
    };
    let mut body = json!({"id": 1, "type": "new_circuit"});
    if let (Some(obj), Some(fields)) = (body.as_object_mut(), target.as_object()) {
        obj.extend(fields.clone());
    }
    let socket = runtime_dir_path().join(SOCKET_NAME);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("persite new-circuit: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(client::request(
        &socket,
        "POST",
        "/v1/rpc",
        body.to_string().into_bytes(),
    )) {
        Ok((200, reply)) if reply.get("result").is_some() => {
            match (&args.site, &args.app) {
                (Some(_), _) => println!(
                    "new circuit for {}",
                    reply["result"]["site"].as_str().unwrap_or("the site")
                ),
                (None, Some(app)) => println!("new circuit for application {app}"),
                (None, None) => {}
            }
            ExitCode::SUCCESS
        }
        Ok((_, reply)) => {
            eprintln!(
                "persite new-circuit: the daemon refused: {}",
                reply["error"]["message"].as_str().unwrap_or("(no message)")
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("persite new-circuit: {e}");
            ExitCode::FAILURE
        }
    }
}
