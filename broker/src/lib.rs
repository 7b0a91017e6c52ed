//! Persite broker: decides the Tor isolation key of every first-party site, derives its SOCKS
//! credentials, serves them to the browser and to other programs, and talks to Tor through the `torctl` crate.

pub mod config;
pub mod daemon;
pub mod doctor;
pub mod front;
pub mod hardening;

pub mod circuits;
pub mod cli;
pub mod container;
pub mod credentials;
pub mod isolation_error;
pub mod isolator;
pub mod managed_tor;
pub mod policy;
pub mod policy_store;
pub mod psl;
pub mod rotation;
pub mod session;
pub mod site;

pub use container::Container;
pub use isolation_error::{IsolationError, UrlProblem};
pub use isolator::{Isolator, IssuedCredentials};
pub use psl::{Psl, PslError, PslSource};
pub use site::Site;
