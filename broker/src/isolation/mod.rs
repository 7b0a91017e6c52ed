//! Isolation: from a URL (or a program's destination) to the SOCKS credentials of its site.
//!
//! [`site`] and [`psl`] find the first-party site, [`container`] names the browser container,
//! private window or application context, [`session`] the browser session, [`credentials`]
//! derives the keyed username and password, [`sets`] owns the state of every credential set
//! (the counters its password folds in: new circuit, new identity, policy rotation, tab era and
//! tab life, and the policies that rotate it), and [`isolator`] holds the key and issues
//! credentials from that state.
//! [`error`] says why an input was refused.

pub(crate) mod container;
pub(crate) mod credentials;
pub(crate) mod error;
pub(crate) mod isolator;
pub(crate) mod psl;
pub(crate) mod session;
pub(crate) mod sets;
pub(crate) mod site;

pub use container::{AppName, Container};
pub use credentials::{CREDENTIAL_LEN, MAX_SOCKS_CREDENTIAL_LEN};
pub use error::{IsolationError, UrlProblem};
pub use isolator::{CATCH_ALL_MAX_AGE_MS, Isolator, IssuedCredentials};
pub use psl::{Psl, PslError, PslSource, SYSTEM_PSL_PATH, choose_source, version_header_date};
pub use site::{MAX_URL_LEN, Site};
