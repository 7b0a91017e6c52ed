//! Persite broker: decides the Tor isolation key of every first-party site, derives its SOCKS
//! credentials, serves them to the browser and to other programs, and talks to Tor through the `torctl` crate.
//!
//! The public surface is what the `persite` binary, the tests, the benchmarks and the fuzz
//! targets use: one namespace per concern below, each re-exporting its items from private
//! submodules (`daemon::parse_rpc`, not `daemon::rpc::parse_rpc`), and the isolation types at
//! the crate root. Everything else is crate-private.
// A library reports through return values and `tracing`, never by printing (the binaries print).
#![cfg_attr(not(test), warn(clippy::print_stdout, clippy::print_stderr))]

pub mod browser;
pub mod config;
pub mod daemon;
pub mod doctor;
pub mod front;
pub mod hardening;
pub mod isolation;
pub mod paths;
pub mod policy;

pub use isolation::{
    Container, IsolationError, Isolator, IssuedCredentials, Psl, PslError, PslSource, Site,
    UrlProblem,
};
