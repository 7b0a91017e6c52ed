//! `persite-native-host`: started by the browser as `<path> <manifest path> <extension id>`;
//! relays native-messaging frames on stdin/stdout to the broker daemon (see `relay`).
//! stdout carries only frames; logs go to stderr (Firefox shows them in the Browser Console).

use std::os::fd::AsFd;
use std::process::ExitCode;

use persite_native_messaging::broker_client::BrokerConfig;
use persite_native_messaging::relay;
use tokio::io::{AsyncRead, AsyncWrite};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PERSITE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("persite-native-host: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let (input, output) = stdio();
        relay::run(input, output, BrokerConfig::from_env()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

type Input = Box<dyn AsyncRead + Unpin + Send>;
type Output = Box<dyn AsyncWrite + Unpin + Send>;

/// stdin/stdout as non-blocking pipes driven by the reactor when they are pipes (as the browser
/// gives them): `tokio::io::stdin` would hand every read to a blocking thread, adding a thread
/// hop to each message. Anything else (a file, a terminal) falls back to tokio's stdio.
fn stdio() -> (Input, Output) {
    use tokio::net::unix::pipe;
    let input: Input = match std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .and_then(pipe::Receiver::from_owned_fd)
    {
        Ok(pipe) => Box::new(pipe),
        Err(_) => Box::new(tokio::io::stdin()),
    };
    let output: Output = match std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .and_then(pipe::Sender::from_owned_fd)
    {
        Ok(pipe) => Box::new(pipe),
        Err(_) => Box::new(tokio::io::stdout()),
    };
    (input, output)
}
