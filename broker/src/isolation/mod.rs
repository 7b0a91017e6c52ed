//! Isolation: from a URL (or a program's destination) to the SOCKS credentials of its site.
//!
//! [`site`] and [`psl`] find the first-party site, [`container`] names the browser container,
//! private window or application context, [`session`] the browser session, [`credentials`]
//! derives the keyed username and password, and [`isolator`] owns the run's isolation state
//! (key, epochs, per-site counters, each credential set's rotation) and issues credentials.
//! [`error`] says why an input was refused.

pub mod container;
pub mod credentials;
pub mod error;
pub mod isolator;
pub mod psl;
pub mod session;
pub mod site;
