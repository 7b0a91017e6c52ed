//! Protocol v1 messages (`docs/protocol.md` §2): request parsing, reply and push encoding.
//!
//! Sans-IO: bytes in, typed [`Request`] or [`RpcError`] out, and JSON values back. No sockets,
//! no state, so every malformed input is unit-tested here. Parsing is hand-written over
//! `serde_json::Value` rather than `#[derive(Deserialize)]` because the protocol needs to tell
//! apart *missing* field, *wrong type* and *unknown type*, and to recover the `id` of a request
//! whose other fields are bad, which serde's derived errors do not expose.

use persite_protocol::ErrorBody;
use serde_json::{Map, Number, Value, json};

use crate::isolation::session::Session;

pub(crate) use persite_protocol::InvalidateReason;
pub(crate) use persite_protocol::limits::{DEFAULT_CONTAINER, PROTOCOL_VERSION};
pub use persite_protocol::{ErrorCode, RequestType};

/// Which site a `new_circuit` request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteRef {
    /// A site as the broker writes it (`example.co.uk`, `--unknown--`).
    Site(String),
    /// A URL whose first party is the site.
    Url(String),
}

/// A parsed, well-typed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `hello`; the protocol number has been checked to be [`PROTOCOL_VERSION`].
    Hello {
        /// The sender's tab ids start over (a new browser session): forget every per-tab
        /// credential set and change per-tab passwords.
        tabs_reset: bool,
    },
    /// `credentials` for a first-party URL in a container.
    Credentials {
        /// First party's URL.
        url: String,
        /// Cookie store id; [`DEFAULT_CONTAINER`] when absent.
        container: String,
        /// Tab id, for per-tab policies.
        tab: Option<i64>,
        /// The browser session the request comes from (its own credentials), if named.
        session: Option<Session>,
    },
    /// `new_circuit` for one site.
    NewCircuit(SiteRef),
    /// `app_credentials`: credentials of application context `app` for `site` (a host or
    /// site), or for the whole application when `site` is absent.
    AppCredentials {
        /// The application context's name.
        app: String,
        /// The destination's host or site; `None` for the whole application.
        site: Option<String>,
    },
    /// `new_identity`.
    NewIdentity,
    /// `status`.
    Status,
    /// `circuit` for a site in a container.
    Circuit {
        /// The site.
        target: SiteRef,
        /// Cookie store id; [`DEFAULT_CONTAINER`] when absent.
        container: String,
        /// Tab whose circuit to show (used only for sites with a per-tab policy).
        tab: Option<i64>,
    },
    /// `policy_get`.
    PolicyGet,
    /// `policy_set`: `site` `None` changes the default; `policy` is the wire object or `null`
    /// (checked by [`crate::policy::Policy::from_json`] in the dispatcher).
    PolicySet {
        /// The site (any host; reduced to its first-party site), or `None` for the default.
        site: Option<String>,
        /// The policy object, or `Value::Null` to remove the site's override.
        policy: Value,
    },
    /// `tab_closed`: the tab's per-tab credential sets are forgotten.
    TabClosed {
        /// The closed tab's id.
        tab: i64,
        /// The browser session the tab belonged to, if named.
        session: Option<Session>,
    },
    /// `session_ended`: the session's credential sets are forgotten.
    SessionEnded {
        /// The session that ended.
        session: Session,
    },
}

/// A protocol error (§2.3): a snake_case code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// One of the codes of §2.3.
    pub code: ErrorCode,
    /// Explanation for people.
    pub message: String,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn missing(field: &str) -> Self {
        Self::new(ErrorCode::MissingField, format!("missing field `{field}`"))
    }

    fn wrong_type(field: &str, expected: &str) -> Self {
        Self::new(
            ErrorCode::InvalidField,
            format!("field `{field}` must be {expected}"),
        )
    }

    /// The `{"code", "message"}` object.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(ErrorBody::new(self.code, self.message.clone())).unwrap_or(Value::Null)
    }
}

/// Parses a `POST /v1/rpc` body: a request object with an integer `id` and a `type`.
///
/// Returns the `id` whenever it could be read, so even a bad request gets a reply with its id.
pub fn parse_rpc(body: &[u8]) -> (Option<Number>, Result<Request, RpcError>) {
    let obj = match parse_object(body) {
        Ok(obj) => obj,
        Err(e) => return (None, Err(e)),
    };
    // Only integers that fit 64 bits: any other number (a fraction, or an integer too long for
    // 64 bits, which JSON parsing can only approximate) could not be echoed exactly, and a
    // reply with an id the sender never used would be matched to no request or the wrong one.
    let id = match obj.get("id") {
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.clone(),
        None | Some(Value::Null) => return (None, Err(RpcError::missing("id"))),
        Some(_) => {
            return (
                None,
                Err(RpcError::wrong_type(
                    "id",
                    "an integer (of at most 64 bits)",
                )),
            );
        }
    };
    let kind = match obj.get("type") {
        Some(Value::String(s)) => match RequestType::from_wire(s) {
            Some(kind) => kind,
            None => {
                return (
                    Some(id),
                    Err(RpcError::new(
                        ErrorCode::UnknownType,
                        format!(
                            "unknown request type {:?}; expected one of {}",
                            truncate(s, 64),
                            RequestType::ALL.map(RequestType::as_str).join(", ")
                        ),
                    )),
                );
            }
        },
        None | Some(Value::Null) => return (Some(id), Err(RpcError::missing("type"))),
        Some(_) => return (Some(id), Err(RpcError::wrong_type("type", "a string"))),
    };
    (Some(id), parse_fields(kind, &obj))
}

/// Parses the body of a REST endpoint whose path already says the request type.
///
/// An empty body counts as `{}` so `curl -X POST …/v1/new-identity` works; `id` and `type`
/// in the body are ignored.
pub fn parse_typed(kind: RequestType, body: &[u8]) -> Result<Request, RpcError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return parse_fields(kind, &Map::new());
    }
    parse_fields(kind, &parse_object(body)?)
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, RpcError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) => Err(RpcError::new(
            ErrorCode::InvalidJson,
            "the request must be a JSON object",
        )),
        Err(e) => Err(RpcError::new(
            ErrorCode::InvalidJson,
            format!("not valid JSON: {e}"),
        )),
    }
}

fn parse_fields(kind: RequestType, obj: &Map<String, Value>) -> Result<Request, RpcError> {
    match kind {
        RequestType::Hello => match obj.get("protocol") {
            None | Some(Value::Null) => Err(RpcError::missing("protocol")),
            Some(Value::Number(n)) if n.as_u64() == Some(PROTOCOL_VERSION) => Ok(Request::Hello {
                tabs_reset: optional_bool(obj, "tabs_reset")?.unwrap_or(false),
            }),
            Some(Value::Number(n)) => Err(RpcError::new(
                ErrorCode::UnsupportedProtocol,
                format!("this broker speaks protocol {PROTOCOL_VERSION}, not {n}"),
            )),
            Some(_) => Err(RpcError::wrong_type("protocol", "a number")),
        },
        RequestType::Credentials => {
            let url = required_string(obj, "url")?;
            let container =
                optional_string(obj, "container")?.unwrap_or_else(|| DEFAULT_CONTAINER.to_owned());
            Ok(Request::Credentials {
                url,
                container,
                tab: optional_tab(obj)?,
                session: optional_session(obj)?,
            })
        }
        RequestType::NewCircuit => site_ref(obj).map(Request::NewCircuit),
        RequestType::Circuit => Ok(Request::Circuit {
            target: site_ref(obj)?,
            container: optional_string(obj, "container")?
                .unwrap_or_else(|| DEFAULT_CONTAINER.to_owned()),
            tab: optional_tab(obj)?,
        }),
        RequestType::NewIdentity => Ok(Request::NewIdentity),
        RequestType::AppCredentials => Ok(Request::AppCredentials {
            app: required_string(obj, "app")?,
            site: optional_string(obj, "site")?,
        }),
        RequestType::Status => Ok(Request::Status),
        RequestType::PolicyGet => Ok(Request::PolicyGet),
        RequestType::PolicySet => Ok(Request::PolicySet {
            site: optional_string(obj, "site")?,
            policy: obj
                .get("policy")
                .cloned()
                .ok_or_else(|| RpcError::missing("policy"))?,
        }),
        RequestType::TabClosed => match optional_tab(obj)? {
            Some(tab) => Ok(Request::TabClosed {
                tab,
                session: optional_session(obj)?,
            }),
            None => Err(RpcError::missing("tab")),
        },
        RequestType::SessionEnded => match optional_session(obj)? {
            Some(session) => Ok(Request::SessionEnded { session }),
            None => Err(RpcError::missing("session")),
        },
    }
}

fn site_ref(obj: &Map<String, Value>) -> Result<SiteRef, RpcError> {
    match (optional_string(obj, "site")?, optional_string(obj, "url")?) {
        (Some(site), None) => Ok(SiteRef::Site(site)),
        (None, Some(url)) => Ok(SiteRef::Url(url)),
        (None, None) => Err(RpcError::new(
            ErrorCode::MissingField,
            "missing field `site` (or `url`)",
        )),
        (Some(_), Some(_)) => Err(RpcError::new(
            ErrorCode::InvalidField,
            "give either `site` or `url`, not both",
        )),
    }
}

fn required_string(obj: &Map<String, Value>, field: &str) -> Result<String, RpcError> {
    optional_string(obj, field)?.ok_or_else(|| RpcError::missing(field))
}

fn optional_string(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, RpcError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(RpcError::wrong_type(field, "a string")),
    }
}

fn optional_bool(obj: &Map<String, Value>, field: &str) -> Result<Option<bool>, RpcError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(RpcError::wrong_type(field, "true or false")),
    }
}

/// The integer `tab` of `credentials`, `circuit` and `tab_closed`.
fn optional_tab(obj: &Map<String, Value>) -> Result<Option<i64>, RpcError> {
    match obj.get("tab") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| RpcError::wrong_type("tab", "an integer")),
        Some(_) => Err(RpcError::wrong_type("tab", "a number")),
    }
}

/// The `session` of `credentials` and `tab_closed`; a bad value is an `invalid_field` error
/// that does not repeat it.
fn optional_session(obj: &Map<String, Value>) -> Result<Option<Session>, RpcError> {
    match obj.get("session") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Session::parse(s)
            .map(Some)
            .map_err(|e| RpcError::new(ErrorCode::InvalidField, e.to_string())),
        Some(_) => Err(RpcError::wrong_type("session", "a string")),
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// The reply object of §2: `{"id", "result"}` or `{"id", "error"}`.
pub fn reply(id: Option<Number>, outcome: &Result<Value, RpcError>) -> Value {
    let id = id.map_or(Value::Null, Value::Number);
    match outcome {
        Ok(result) => json!({"id": id, "result": result}),
        Err(e) => json!({"id": id, "error": e.to_json()}),
    }
}

/// An unsolicited message from the broker (§2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Push {
    /// Drop the cached credentials of these sites.
    InvalidateSites {
        /// The sites.
        sites: Vec<String>,
        /// Why.
        reason: InvalidateReason,
    },
    /// Drop every cached credential.
    InvalidateAll {
        /// Why.
        reason: InvalidateReason,
    },
    /// A site's circuit display changed: the fields of a circuit result (§2.4).
    Circuit(Value),
    /// Tor's control connection or bootstrap progress changed: a tor status (§2.4).
    TorStatus(Value),
}

impl Push {
    /// The push object, without `id`.
    pub(crate) fn to_json(&self) -> Value {
        match self {
            Push::InvalidateSites { sites, reason } => wire(&persite_protocol::Push::Invalidate(
                persite_protocol::Invalidate::Sites {
                    sites: sites.clone(),
                    reason: *reason,
                },
            )),
            Push::InvalidateAll { reason } => wire(&persite_protocol::Push::Invalidate(
                persite_protocol::Invalidate::All {
                    all: persite_protocol::True,
                    reason: *reason,
                },
            )),
            Push::Circuit(result) => with_type("circuit", result),
            Push::TorStatus(status) => with_type("tor_status", status),
        }
    }
}

fn wire(push: &persite_protocol::Push) -> Value {
    serde_json::to_value(push).unwrap_or(Value::Null)
}

/// `{"type": kind, …fields of body}`.
fn with_type(kind: &str, body: &Value) -> Value {
    let mut obj = Map::new();
    obj.insert("type".into(), json!(kind));
    if let Value::Object(fields) = body {
        for (k, v) in fields {
            obj.insert(k.clone(), v.clone());
        }
    }
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpc(s: &str) -> (Option<Number>, Result<Request, RpcError>) {
        parse_rpc(s.as_bytes())
    }

    fn code(s: &str) -> (Option<i64>, &'static str) {
        let (id, r) = rpc(s);
        (
            id.and_then(|n| n.as_i64()),
            r.expect_err("should be an error").code.as_str(),
        )
    }

    #[test]
    fn parses_every_request_type() {
        assert_eq!(
            rpc(r#"{"id":1,"type":"hello","protocol":1}"#).1,
            Ok(Request::Hello { tabs_reset: false })
        );
        assert_eq!(
            rpc(r#"{"id":1,"type":"hello","protocol":1,"tabs_reset":true}"#).1,
            Ok(Request::Hello { tabs_reset: true })
        );
        assert_eq!(
            rpc(r#"{"id":8,"type":"tab_closed","tab":12}"#).1,
            Ok(Request::TabClosed {
                tab: 12,
                session: None
            })
        );
        assert_eq!(
            rpc(r#"{"id":2,"type":"credentials","url":"https://a.example/"}"#).1,
            Ok(Request::Credentials {
                url: "https://a.example/".into(),
                container: DEFAULT_CONTAINER.into(),
                tab: None,
                session: None
            })
        );
        assert_eq!(
            rpc(r#"{"id":2,"type":"credentials","url":"u","container":"firefox-container-3","tab":-1}"#).1,
            Ok(Request::Credentials {
                url: "u".into(),
                container: "firefox-container-3".into(),
                tab: Some(-1),
                session: None
            })
        );
        assert_eq!(
            rpc(r#"{"id":3,"type":"new_circuit","site":"example.com"}"#).1,
            Ok(Request::NewCircuit(SiteRef::Site("example.com".into())))
        );
        assert_eq!(
            rpc(r#"{"id":3,"type":"new_circuit","url":"https://x.example/"}"#).1,
            Ok(Request::NewCircuit(SiteRef::Url(
                "https://x.example/".into()
            )))
        );
        assert_eq!(
            rpc(r#"{"id":4,"type":"new_identity"}"#).1,
            Ok(Request::NewIdentity)
        );
        assert_eq!(rpc(r#"{"type":"status","id":5}"#).1, Ok(Request::Status));
        assert_eq!(
            rpc(r#"{"id":6,"type":"circuit","site":"example.com"}"#).1,
            Ok(Request::Circuit {
                target: SiteRef::Site("example.com".into()),
                container: DEFAULT_CONTAINER.into(),
                tab: None
            })
        );
        assert_eq!(
            rpc(r#"{"id":6,"type":"circuit","url":"https://a.example/","container":"firefox-private"}"#).1,
            Ok(Request::Circuit {
                target: SiteRef::Url("https://a.example/".into()),
                container: "firefox-private".into(),
                tab: None
            })
        );
        assert_eq!(
            rpc(r#"{"id":6,"type":"circuit","site":"a.example","tab":7}"#).1,
            Ok(Request::Circuit {
                target: SiteRef::Site("a.example".into()),
                container: DEFAULT_CONTAINER.into(),
                tab: Some(7)
            })
        );
        assert_eq!(
            code(r#"{"id":6,"type":"circuit","site":"a.example","tab":"7"}"#),
            (Some(6), "invalid_field")
        );
        assert_eq!(
            code(r#"{"id":6,"type":"circuit","site":"a.example","tab":7.5}"#),
            (Some(6), "invalid_field")
        );
        assert_eq!(
            code(r#"{"id":6,"type":"circuit"}"#),
            (Some(6), "missing_field")
        );
        assert_eq!(
            code(r#"{"id":6,"type":"circuit","site":"a","container":1}"#),
            (Some(6), "invalid_field")
        );
    }

    #[test]
    fn parses_sessions_and_refuses_bad_ones_without_repeating_them() {
        let session = Session::parse("AbCdEfGhIjKlMnOpQrSt_-").expect("valid");
        assert_eq!(
            rpc(r#"{"id":2,"type":"credentials","url":"u","session":"AbCdEfGhIjKlMnOpQrSt_-"}"#).1,
            Ok(Request::Credentials {
                url: "u".into(),
                container: DEFAULT_CONTAINER.into(),
                tab: None,
                session: Some(session)
            })
        );
        assert_eq!(
            rpc(r#"{"id":8,"type":"tab_closed","tab":3,"session":"AbCdEfGhIjKlMnOpQrSt_-"}"#).1,
            Ok(Request::TabClosed {
                tab: 3,
                session: Some(session)
            })
        );
        assert_eq!(
            rpc(r#"{"id":8,"type":"session_ended","session":"AbCdEfGhIjKlMnOpQrSt_-"}"#).1,
            Ok(Request::SessionEnded { session })
        );
        assert_eq!(
            code(r#"{"id":8,"type":"session_ended"}"#),
            (Some(8), "missing_field")
        );
        for bad in [
            r#""short""#,
            r#""AbCdEfGhIjKlMnOpQrSt.example""#,
            r#""AbCdEfGhIjKlMnOpQrSt=""#,
            "42",
            "true",
        ] {
            for kind in [
                r#""credentials","url":"u""#,
                r#""tab_closed","tab":1"#,
                r#""session_ended""#,
            ] {
                let body = format!(r#"{{"id":9,"type":{kind},"session":{bad}}}"#);
                let (id, result) = rpc(&body);
                let e = result.expect_err("refused");
                assert_eq!(
                    (id.and_then(|n| n.as_i64()), e.code.as_str()),
                    (Some(9), "invalid_field")
                );
                assert!(e.message.contains("`session`"), "{}", e.message);
                assert!(!e.message.contains("example") && !e.message.contains("short"));
            }
        }
    }

    #[test]
    fn parses_policy_requests() {
        assert_eq!(
            rpc(r#"{"id":7,"type":"policy_get"}"#).1,
            Ok(Request::PolicyGet)
        );
        assert_eq!(
            rpc(
                r#"{"id":8,"type":"policy_set","site":"www.example.com","policy":{"per_tab":true}}"#
            )
            .1,
            Ok(Request::PolicySet {
                site: Some("www.example.com".into()),
                policy: json!({"per_tab": true})
            })
        );
        assert_eq!(
            rpc(r#"{"id":9,"type":"policy_set","site":"example.com","policy":null}"#).1,
            Ok(Request::PolicySet {
                site: Some("example.com".into()),
                policy: Value::Null
            })
        );
        assert_eq!(
            rpc(r#"{"id":10,"type":"policy_set","policy":{"max_age_s":600}}"#).1,
            Ok(Request::PolicySet {
                site: None,
                policy: json!({"max_age_s": 600})
            })
        );
        assert_eq!(
            code(r#"{"id":11,"type":"policy_set","site":"example.com"}"#),
            (Some(11), "missing_field")
        );
        assert_eq!(
            code(r#"{"id":12,"type":"policy_set","site":5,"policy":null}"#),
            (Some(12), "invalid_field")
        );
    }

    #[test]
    fn echoes_integer_ids_and_refuses_ids_it_could_not_echo_exactly() {
        let (id, _) = rpc(r#"{"id":18446744073709551615,"type":"status"}"#);
        assert_eq!(id.and_then(|n| n.as_u64()), Some(u64::MAX));
        let (id, _) = rpc(r#"{"id":-3,"type":"status"}"#);
        assert_eq!(id.and_then(|n| n.as_i64()), Some(-3));
        // Found by the rpc fuzz target: an integer longer than 64 bits parses to a float that
        // is written back as another number.
        for bad in [
            r#"{"id":1.5,"type":"status"}"#,
            r#"{"id":5555555555555555555555555555555555555555555555555555,"type":"status"}"#,
        ] {
            assert_eq!(code(bad), (None, "invalid_field"), "{bad}");
        }
    }

    #[test]
    fn classifies_malformed_requests() {
        assert_eq!(code("{"), (None, "invalid_json"));
        assert_eq!(code(""), (None, "invalid_json"));
        assert_eq!(code("[1,2]"), (None, "invalid_json"));
        assert_eq!(code("\"hello\""), (None, "invalid_json"));
        assert_eq!(
            parse_rpc(b"{\"id\":1,\"type\":\"st\xffatus\"}")
                .1
                .unwrap_err()
                .code
                .as_str(),
            "invalid_json"
        );
        assert_eq!(code(r#"{"type":"status"}"#), (None, "missing_field"));
        assert_eq!(
            code(r#"{"id":"7","type":"status"}"#),
            (None, "invalid_field")
        );
        assert_eq!(code(r#"{"id":7}"#), (Some(7), "missing_field"));
        assert_eq!(code(r#"{"id":7,"type":3}"#), (Some(7), "invalid_field"));
        assert_eq!(code(r#"{"id":7,"type":"fly"}"#), (Some(7), "unknown_type"));
        assert_eq!(
            code(r#"{"id":7,"type":"hello"}"#),
            (Some(7), "missing_field")
        );
        assert_eq!(
            code(r#"{"id":7,"type":"hello","protocol":"1"}"#),
            (Some(7), "invalid_field")
        );
        assert_eq!(
            code(r#"{"id":7,"type":"hello","protocol":2}"#),
            (Some(7), "unsupported_protocol")
        );
        assert_eq!(
            code(r#"{"id":7,"type":"credentials"}"#),
            (Some(7), "missing_field")
        );
        assert_eq!(
            code(r#"{"id":7,"type":"credentials","url":5}"#),
            (Some(7), "invalid_field")
        );
        assert_eq!(
            code(r#"{"id":7,"type":"credentials","url":"u","container":[]}"#),
            (Some(7), "invalid_field")
        );
        assert_eq!(
            code(r#"{"id":7,"type":"credentials","url":"u","tab":"1"}"#),
            (Some(7), "invalid_field")
        );
        assert_eq!(
            code(r#"{"id":7,"type":"credentials","url":"u","tab":1.5}"#),
            (Some(7), "invalid_field")
        );
        assert_eq!(
            code(r#"{"id":7,"type":"new_circuit"}"#),
            (Some(7), "missing_field")
        );
        assert_eq!(
            code(r#"{"id":7,"type":"new_circuit","site":"a","url":"b"}"#),
            (Some(7), "invalid_field")
        );
        assert_eq!(
            code(r#"{"id":7,"type":"new_circuit","site":1}"#),
            (Some(7), "invalid_field")
        );
        assert_eq!(
            code(r#"{"id":7,"type":"hello","protocol":1,"tabs_reset":"yes"}"#),
            (Some(7), "invalid_field")
        );
        assert_eq!(
            code(r#"{"id":7,"type":"tab_closed"}"#),
            (Some(7), "missing_field")
        );
        assert_eq!(
            code(r#"{"id":7,"type":"tab_closed","tab":2.5}"#),
            (Some(7), "invalid_field")
        );
    }

    #[test]
    fn error_messages_name_the_field() {
        let e = rpc(r#"{"id":7,"type":"credentials"}"#).1.unwrap_err();
        assert!(e.message.contains("`url`"), "{}", e.message);
        let e = rpc(r#"{"id":7,"type":"credentials","url":"u","tab":"x"}"#)
            .1
            .unwrap_err();
        assert!(e.message.contains("`tab`"), "{}", e.message);
    }

    #[test]
    fn rest_bodies_take_the_type_from_the_path() {
        assert_eq!(
            parse_typed(RequestType::NewIdentity, b""),
            Ok(Request::NewIdentity)
        );
        assert_eq!(
            parse_typed(RequestType::Status, b" \n"),
            Ok(Request::Status)
        );
        assert_eq!(
            parse_typed(RequestType::Credentials, br#"{"url":"u"}"#),
            Ok(Request::Credentials {
                url: "u".into(),
                container: DEFAULT_CONTAINER.into(),
                tab: None,
                session: None
            })
        );
        assert_eq!(
            parse_typed(RequestType::Credentials, b"")
                .unwrap_err()
                .code
                .as_str(),
            "missing_field"
        );
        assert_eq!(
            parse_typed(RequestType::NewCircuit, b"nope")
                .unwrap_err()
                .code
                .as_str(),
            "invalid_json"
        );
    }

    #[test]
    fn encodes_replies_and_pushes() {
        let ok = reply(Some(Number::from(7)), &Ok(json!({"epoch": 2})));
        assert_eq!(ok, json!({"id": 7, "result": {"epoch": 2}}));
        let err = reply(None, &Err(RpcError::new(ErrorCode::InvalidJson, "bad")));
        assert_eq!(
            err,
            json!({"id": null, "error": {"code": "invalid_json", "message": "bad"}})
        );
        let p = Push::InvalidateSites {
            sites: vec!["example.co.uk".into()],
            reason: InvalidateReason::NewCircuit,
        };
        assert_eq!(
            p.to_json(),
            json!({"type": "invalidate", "sites": ["example.co.uk"], "reason": "new_circuit"})
        );
        let p = Push::InvalidateAll {
            reason: InvalidateReason::NewIdentity,
        };
        assert_eq!(
            p.to_json(),
            json!({"type": "invalidate", "all": true, "reason": "new_identity"})
        );
        let p = Push::TorStatus(json!({"control": "connected", "managed": false}));
        assert_eq!(
            p.to_json(),
            json!({"type": "tor_status", "control": "connected", "managed": false})
        );
        let p = Push::Circuit(json!({"site": "a.example", "circuits": []}));
        assert_eq!(
            p.to_json(),
            json!({"type": "circuit", "site": "a.example", "circuits": []})
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let (id, parsed) = parse_rpc(&body);
            let reply = reply(id, &parsed.map(|_| Value::Null));
            proptest::prop_assert!(reply.get("id").is_some());
        }

        #[test]
        fn objects_with_any_fields_get_a_request_or_a_known_error(
            id in proptest::option::of(-5i64..5),
            kind in proptest::sample::select(vec!["hello", "credentials", "new_circuit", "new_identity", "status", "x"]),
            url in proptest::option::of(proptest::prop_oneof![
                proptest::strategy::Just(json!("https://a.example/")), proptest::strategy::Just(json!(3)),
                proptest::strategy::Just(json!(null)), proptest::strategy::Just(json!([]))]),
            protocol in proptest::option::of(0u64..3),
        ) {
            let mut obj = Map::new();
            if let Some(id) = id { obj.insert("id".into(), json!(id)); }
            obj.insert("type".into(), json!(kind));
            if let Some(url) = url { obj.insert("url".into(), url); }
            if let Some(p) = protocol { obj.insert("protocol".into(), json!(p)); }
            let (got_id, parsed) = parse_rpc(Value::Object(obj).to_string().as_bytes());
            proptest::prop_assert_eq!(got_id.and_then(|n| n.as_i64()), id);
            if let Err(e) = parsed {
                proptest::prop_assert!([
                    "missing_field", "invalid_field", "unknown_type", "unsupported_protocol"
                ].contains(&e.code.as_str()), "{}", e.code);
            }
        }
    }
}
