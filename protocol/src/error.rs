//! Error codes (`docs/protocol.md` §2.3): one snake_case word each, and a message for people.

use serde::{Deserialize, Serialize};

/// An error code of §2.3. The wire form is the snake_case name (`invalid_json`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame or body is not a JSON object, or not UTF-8.
    InvalidJson,
    /// A frame (browser → host) or request body above [`crate::limits::MAX_FRAME_BYTES`].
    FrameTooLarge,
    /// The reply would exceed [`crate::limits::MAX_FRAME_BYTES`].
    ReplyTooLarge,
    /// A required field is absent (the message names it).
    MissingField,
    /// A field has the wrong type or value.
    InvalidField,
    /// `type` is not a known request.
    UnknownType,
    /// `hello` asked for a protocol this broker does not speak.
    UnsupportedProtocol,
    /// `url` cannot be parsed or has no usable host.
    InvalidUrl,
    /// `container` is not a Firefox cookie store id or an application context.
    InvalidContainer,
    /// The host cannot reach the daemon (it restarts it on the next request).
    BrokerUnavailable,
    /// The SOCKS endpoint is not one of tor's SOCKS listeners: no credentials (fail closed).
    SocksNotTor,
    /// Nothing could check yet that the SOCKS endpoint is tor (the control port is not
    /// answering): no credentials (fail closed).
    SocksUnverified,
    /// A bug; the message says what failed.
    Internal,
}

impl ErrorCode {
    /// Every code, in the order of §2.3.
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::InvalidJson,
        ErrorCode::FrameTooLarge,
        ErrorCode::ReplyTooLarge,
        ErrorCode::MissingField,
        ErrorCode::InvalidField,
        ErrorCode::UnknownType,
        ErrorCode::UnsupportedProtocol,
        ErrorCode::InvalidUrl,
        ErrorCode::InvalidContainer,
        ErrorCode::BrokerUnavailable,
        ErrorCode::SocksNotTor,
        ErrorCode::SocksUnverified,
        ErrorCode::Internal,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::ReplyTooLarge => "reply_too_large",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::UnsupportedProtocol => "unsupported_protocol",
            ErrorCode::InvalidUrl => "invalid_url",
            ErrorCode::InvalidContainer => "invalid_container",
            ErrorCode::BrokerUnavailable => "broker_unavailable",
            ErrorCode::SocksNotTor => "socks_not_tor",
            ErrorCode::SocksUnverified => "socks_unverified",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The `error` member of a reply: `{"code", "message"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// What went wrong, for programs.
    pub code: ErrorCode,
    /// What went wrong and what to do, for people.
    pub message: String,
}

impl ErrorBody {
    /// An error body.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_the_serde_names() {
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).expect("serialises"),
                serde_json::Value::String(code.as_str().to_owned())
            );
            let back: ErrorCode =
                serde_json::from_value(code.as_str().into()).expect("deserialises");
            assert_eq!(back, code);
        }
    }
}
