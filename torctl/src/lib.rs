#![doc = include_str!("../README.md")]
// A library reports through return values and `tracing`, never by printing (the binaries print).
#![cfg_attr(not(test), warn(clippy::print_stdout, clippy::print_stderr))]

pub mod auth;
pub mod command;
pub mod config;
pub mod connection;
pub mod events;
pub mod info;
pub mod kv;
pub mod reply;
pub mod supervisor;

pub use auth::{AuthError, AuthMethod, ProtocolInfo, Transport};
pub use command::{Command, CommandError, Signal};
pub use config::{ControlAddr, ControlConfig};
pub use connection::{Connection, ControlError, LostReason, Notification};
pub use events::{
    CircBwEvent, CircEvent, CircStatus, Event, EventError, EventKind, PathHop, Sensitive,
    StatusEvent, StreamBwEvent, StreamEvent, StreamStatus,
};
pub use info::{InfoError, RouterStatus, TorVersion};
pub use reply::{Limits, Message, ParseError, Parsed, Reply, ReplyLine, ReplyParser};
pub use supervisor::{ConnectionState, TorControl};
