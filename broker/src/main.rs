//! `persite`: the Persite command-line tool and broker daemon.

use std::process::ExitCode;

use clap::Parser as _;
use persite::cli::Cli;

fn main() -> ExitCode {
    Cli::parse().command.run()
}
