//! Circuit-lifetime policies: their values and JSON/TOML forms (`value.rs`, re-exported here),
//! the API overrides file ([`store`]) and when a credential set rotates under them
//! ([`rotation`]).

pub mod rotation;
pub mod store;
mod value;

pub use value::*;
