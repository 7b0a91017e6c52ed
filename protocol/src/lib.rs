//! Persite protocol v1 (`docs/protocol.md`): the one definition of what the extension, the
//! native host and the broker daemon say to each other.
//!
//! - [`error`]: the error codes of §2.3 as an enum, and the `{"code", "message"}` body.
//! - [`message`]: typed results (§2.1, §2.4, §2.5) and pushes (§2.2), serialised with serde.
//! - [`limits`]: numbers both sides must agree on (frame size, policy ranges, session and
//!   application-name lengths); the extension gets them from the generated
//!   `extension/src/protocol-constants.js` ([`limits::js_module`]), which a test keeps in step.
//! - [`golden`]: the golden JSON fixtures under `protocol/fixtures/`, written from these types
//!   and read by the Rust tests and by the extension's `node --test` suite.
//!
//! Requests are parsed by the broker (`broker/src/daemon/rpc.rs`) by hand over
//! `serde_json::Value`, because the protocol tells a *missing* field from a *mistyped* one and
//! recovers the `id` of a request whose other fields are bad; the request kinds and their wire
//! names live here ([`message::RequestType`]). No I/O in this crate.
// A library reports through return values and `tracing`, never by printing (the binaries print).
#![cfg_attr(not(test), warn(clippy::print_stdout, clippy::print_stderr))]

pub mod error;
pub mod golden;
pub mod limits;
pub mod message;

pub use error::{ErrorBody, ErrorCode};
pub use message::*;
