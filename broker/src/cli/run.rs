//! `persite run`: run a program with SOCKS credentials of its own (one circuit per application,
//! or with `--per-site` one per destination site through the SOCKS front).

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, ExitCode};

use persite_native_messaging::runtime::{SOCKET_NAME, runtime_dir_path};
use serde_json::{Value, json};

use persite::daemon::client;
use persite::isolation::AppName;

/// Arguments of `persite run`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = "\
The program gets credentials derived by the running broker daemon for the application \
identity NAME (default: the program's file name). They stay the same while the daemon runs, \
so every run of the same NAME, and every process it starts, uses the same circuit; two names \
never share one. With --per-site the program is pointed at the SOCKS front instead, with NAME \
as its SOCKS username, so each destination site it talks to gets a circuit of its own too.

Set for the program: ALL_PROXY, HTTPS_PROXY, HTTP_PROXY (and their lower-case forms) as \
socks5h://USER:PASS@HOST:PORT for curl, Go, Python and others; TORSOCKS_USERNAME, \
TORSOCKS_PASSWORD, TORSOCKS_TOR_ADDRESS and TORSOCKS_TOR_PORT for torsocks. NO_PROXY and \
no_proxy are removed, so nothing is exempted. Programs that ignore these variables (static \
binaries, most Go programs' plain sockets) need --torsocks, which runs the program under \
torsocks (it must be installed).

Needs the daemon (`persite serve --detach`, or the browser's first request starts it).

Examples:
  persite run -- git fetch
  persite run --as apt-mirrors --per-site -- curl -sO https://deb.debian.org/debian/README
  persite run --torsocks -- ssh user@example.onion")]
pub(crate) struct RunArgs {
    /// The application identity; default: the program's file name.
    #[arg(long = "as", value_name = "NAME")]
    pub name: Option<String>,
    /// Through the SOCKS front: a circuit per destination site, not one for the whole program.
    #[arg(long)]
    pub per_site: bool,
    /// Run the program under torsocks (for programs that ignore proxy variables).
    #[arg(long)]
    pub torsocks: bool,
    /// Print the environment it would set (credentials included) instead of running.
    #[arg(long)]
    pub print_env: bool,
    /// The program and its arguments.
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

/// The identity of a run: `--as`, else the program's file name.
pub(crate) fn identity(args: &RunArgs) -> Result<String, String> {
    let name = match &args.name {
        Some(name) => name.clone(),
        None => Path::new(args.command.first().map_or("", String::as_str))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    AppName::parse(&name)
        .map(|n| n.as_str().to_owned())
        .map_err(|_| {
            format!(
                "the application name {name:?} is not 1 to 64 printable ASCII characters \
                 without spaces; choose one with --as NAME"
            )
        })
}

/// The variables to set for a program whose SOCKS endpoint is `host:port` with `username`
/// and `password`.
pub(crate) fn proxy_environment(
    host: &str,
    port: u16,
    username: &str,
    password: &str,
) -> BTreeMap<&'static str, String> {
    let bracketed = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let url = format!(
        "socks5h://{}:{}@{bracketed}:{port}",
        percent(username),
        percent(password)
    );
    let mut env = BTreeMap::new();
    for key in [
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
    ] {
        env.insert(key, url.clone());
    }
    env.insert("TORSOCKS_USERNAME", username.to_owned());
    env.insert("TORSOCKS_PASSWORD", password.to_owned());
    env.insert("TORSOCKS_TOR_ADDRESS", host.to_owned());
    env.insert("TORSOCKS_TOR_PORT", port.to_string());
    env
}

/// Percent-encodes everything but unreserved characters (RFC 3986) for a URL's user info.
fn percent(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The SOCKS endpoint and credentials a run uses, from the daemon's `app_credentials` answer.
pub(crate) fn endpoint_of(
    answer: &Value,
    name: &str,
    per_site: bool,
) -> Result<(String, u16, String, String), String> {
    if per_site {
        let front = answer["front"].as_str().ok_or(
            "the daemon runs no SOCKS front ([front] listen in config.toml is \"none\", or its \
             address was taken; see `persite status`); leave out --per-site or fix the front",
        )?;
        let (host, port) = split_host_port(front).ok_or_else(|| {
            format!("the SOCKS front listens on {front}, which programs cannot reach by TCP; use a TCP [front] listen address for --per-site")
        })?;
        // The front reads the username as the application context; the password is unused.
        return Ok((host, port, name.to_owned(), "persite".to_owned()));
    }
    let host = answer["socks"]["host"]
        .as_str()
        .ok_or("the daemon sent no SOCKS host")?;
    let port = answer["socks"]["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or("the daemon sent no SOCKS port")?;
    let username = answer["username"]
        .as_str()
        .ok_or("the daemon sent no username")?;
    let password = answer["password"]
        .as_str()
        .ok_or("the daemon sent no password")?;
    Ok((
        host.to_owned(),
        port,
        username.to_owned(),
        password.to_owned(),
    ))
}

fn split_host_port(addr: &str) -> Option<(String, u16)> {
    let parsed: std::net::SocketAddr = addr.parse().ok()?;
    Some((parsed.ip().to_string(), parsed.port()))
}

/// Runs `persite run`: on success it does not return (the program replaces this process).
pub(crate) fn run(args: &RunArgs) -> ExitCode {
    let fail = |message: String| {
        eprintln!("persite run: {message}");
        ExitCode::FAILURE
    };
    let name = match identity(args) {
        Ok(name) => name,
        Err(e) => return fail(e),
    };
    let socket = runtime_dir_path().join(SOCKET_NAME);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    let body = json!({"id": 1, "type": "app_credentials", "app": name}).to_string();
    let answer = match runtime.block_on(client::request(
        &socket,
        "POST",
        "/v1/rpc",
        body.into_bytes(),
    )) {
        Ok((200, reply)) if reply.get("result").is_some() => reply["result"].clone(),
        Ok((_, reply)) => {
            return fail(format!(
                "the daemon refused: {}",
                reply["error"]["message"].as_str().unwrap_or("(no message)")
            ));
        }
        Err(client::ClientError::NotRunning { .. }) => {
            return fail(
                "no persite daemon runs; start it with `persite serve --detach` and run this again"
                    .to_owned(),
            );
        }
        Err(e) => return fail(e.to_string()),
    };
    let (host, port, username, password) = match endpoint_of(&answer, &name, args.per_site) {
        Ok(endpoint) => endpoint,
        Err(e) => return fail(e),
    };
    let env = proxy_environment(&host, port, &username, &password);
    if args.print_env {
        for (key, value) in &env {
            println!("{key}={value}");
        }
        return ExitCode::SUCCESS;
    }
    let mut command = if args.torsocks {
        let mut c = Command::new("torsocks");
        c.args(&args.command);
        c
    } else {
        let mut c = Command::new(&args.command[0]);
        c.args(&args.command[1..]);
        c
    };
    command.env_remove("NO_PROXY").env_remove("no_proxy");
    command.envs(&env);
    let error = command.exec();
    if args.torsocks && error.kind() == std::io::ErrorKind::NotFound {
        return fail(
            "torsocks is not installed (Debian: apt install torsocks); or leave out --torsocks"
                .to_owned(),
        );
    }
    fail(format!("cannot run {}: {error}", args.command[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(name: Option<&str>, command: &[&str]) -> RunArgs {
        RunArgs {
            name: name.map(str::to_owned),
            per_site: false,
            torsocks: false,
            print_env: false,
            command: command.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn identity_is_the_program_name_unless_given() {
        assert_eq!(
            identity(&args(None, &["/usr/bin/git", "fetch"])),
            Ok("git".into())
        );
        assert_eq!(
            identity(&args(Some("mirrors"), &["curl"])),
            Ok("mirrors".into())
        );
        assert!(identity(&args(Some("two words"), &["curl"])).is_err());
    }

    #[test]
    fn environment_for_every_kind_of_client() {
        let env = proxy_environment("127.0.0.1", 9050, "u/+=", "p w");
        assert_eq!(
            env["ALL_PROXY"],
            "socks5h://u%2F%2B%3D:p%20w@127.0.0.1:9050"
        );
        assert_eq!(env["http_proxy"], env["HTTPS_PROXY"]);
        assert_eq!(env["TORSOCKS_USERNAME"], "u/+=");
        assert_eq!(env["TORSOCKS_TOR_PORT"], "9050");
        let v6 = proxy_environment("::1", 9250, "a", "b");
        assert_eq!(v6["all_proxy"], "socks5h://a:b@[::1]:9250");
    }

    #[test]
    fn per_site_needs_a_tcp_front() {
        let answer = json!({"socks": {"host": "127.0.0.1", "port": 9050}, "username": "u", "password": "p", "front": "127.0.0.1:9250"});
        assert_eq!(
            endpoint_of(&answer, "git", true),
            Ok(("127.0.0.1".into(), 9250, "git".into(), "persite".into()))
        );
        assert_eq!(
            endpoint_of(&answer, "git", false),
            Ok(("127.0.0.1".into(), 9050, "u".into(), "p".into()))
        );
        let no_front = json!({"front": null});
        assert!(
            endpoint_of(&no_front, "git", true)
                .unwrap_err()
                .contains("no SOCKS front")
        );
        let unix = json!({"front": "unix:/run/front.sock"});
        assert!(endpoint_of(&unix, "git", true).is_err());
    }
}
