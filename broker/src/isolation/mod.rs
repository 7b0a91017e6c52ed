//! Isolation: from a URL (or a program's destination) to the SOCKS credentials of its site.
//!
//! [`site`] and [`psl`] find the first-party site, [`container`] names the browser container,
//! private window or application context, [`session`] the browser session, [`credentials`]
//! derives the keyed username and password, [`sets`] owns the state of every credential set
//! (the counters its password folds in: new circuit, new identity, policy rotation, tab era and
//! tab life, and the policies that rotate it), and [`isolator`] holds the key and issues
//! credentials from that state.
//! [`error`] says why an input was refused.

pub mod container;
pub mod credentials;
pub(crate) mod error;
pub mod isolator;
pub mod psl;
pub(crate) mod session;
pub(crate) mod sets;
pub mod site;
