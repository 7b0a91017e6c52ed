//! Persite native messaging: the browser frame codec, the relay to the broker daemon and the
//! host-manifest installer.

pub mod runtime;
