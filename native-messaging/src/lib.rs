//! Persite native messaging: the browser frame codec, the relay to the broker daemon and the
//! host-manifest installer.
// A library reports through return values and `tracing`, never by printing (the binaries print).
#![cfg_attr(not(test), warn(clippy::print_stdout, clippy::print_stderr))]

pub mod broker_client;
pub mod codec;
pub mod install;
pub mod manifest;
pub mod message;
pub mod relay;
pub mod runtime;
pub mod spawn;
pub mod sse;
pub mod trusted_path;
