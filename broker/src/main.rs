//! `persite`: the Persite command-line tool and broker daemon.

use std::process::ExitCode;

use clap::Parser as _;

mod cli;

use cli::Cli;

fn main() -> ExitCode {
    Cli::parse().command.run()
}
