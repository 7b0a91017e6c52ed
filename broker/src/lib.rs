//! Persite broker: decides the Tor isolation key of every first-party site, derives its SOCKS
//! credentials, serves them to the browser and to other programs, and talks to Tor through the `torctl` crate.
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

pub use isolation::container::Container;
pub use isolation::error::{IsolationError, UrlProblem};
pub use isolation::isolator::{Isolator, IssuedCredentials};
pub use isolation::psl::{Psl, PslError, PslSource};
pub use isolation::site::Site;
