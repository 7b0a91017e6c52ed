//! Circuit-lifetime policies: their values and JSON/TOML forms (`value.rs`, re-exported here)
//! and the API overrides file ([`store`]). When a credential set rotates under them is part of
//! the credential sets' state (`crate::isolation::sets`).

pub(crate) mod store;

pub use store::{parse as parse_site_policies, render as render_site_policies};
mod value;

pub use value::*;
