//! Persite native messaging: the browser frame codec, the relay to the broker daemon and the
//! host-manifest installer.

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
