#![doc = include_str!("../README.md")]

pub mod auth;
pub mod client;
pub mod command;
pub mod events;
pub mod info;
pub mod kv;
pub mod reply;

pub use auth::{AuthError, AuthMethod, ProtocolInfo, Transport};
pub use client::{
    Connection, ConnectionState, ControlAddr, ControlConfig, ControlError, LostReason,
    Notification, TorControl,
};
pub use command::{Command, CommandError, Signal};
pub use events::{
    CircBwEvent, CircEvent, CircStatus, Event, EventError, EventKind, PathHop, Sensitive,
    StatusEvent, StreamBwEvent, StreamEvent, StreamStatus,
};
pub use info::{InfoError, RouterStatus, TorVersion};
pub use reply::{Limits, Message, ParseError, Parsed, Reply, ReplyLine, ReplyParser};
