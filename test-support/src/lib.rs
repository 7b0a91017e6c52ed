//! Helpers shared by Persite's test suites (`broker/tests`, `tests/`): a private user
//! environment in which the real `persite` binaries run ([`UserEnv`]), a guard that stops a
//! started process on drop ([`Spawned`]), and bounded waits.
//!
//! It depends on no Persite crate, so every suite (including the broker's own integration
//! tests) can use it without a dependency cycle.

mod env;
mod process;

pub use env::{NO_TOR, UserEnv, system_tor_config};
pub use process::{Spawned, StopBy, free_port, run_within};
