//! The little the host must understand of a message (`docs/protocol.md` §2): that a frame is a
//! JSON object, its `id`, and the replies and pushes the host writes on its own.
//!
//! Business validation (unknown `type`, missing fields) is the daemon's job; the host parses a
//! frame only far enough to echo its `id` in an error reply. No I/O here.

use bytes::Bytes;
use serde::Deserialize as _;
use serde_json::{Value, json};

pub use persite_protocol::ErrorCode;
use persite_protocol::{ErrorBody, Push};

/// A request frame that is a JSON object, with the `id` to echo (`null` when absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The request's `id` as sent, or `Value::Null`.
    pub id: Value,
    /// The frame body, relayed to the daemon unchanged.
    pub body: Bytes,
}

/// Checks that `frame` is a UTF-8 JSON object and extracts its `id`; otherwise returns the
/// `invalid_json` reply (with `id: null`) to send back.
pub fn parse_request(frame: Bytes) -> Result<Request, Bytes> {
    let text = match std::str::from_utf8(&frame) {
        Ok(text) => text,
        Err(e) => {
            return Err(error_reply(
                &Value::Null,
                ErrorCode::InvalidJson,
                &format!("the message is not UTF-8 ({e})"),
            ));
        }
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(mut map)) => Ok(Request {
            id: map.remove("id").unwrap_or(Value::Null),
            body: frame,
        }),
        Ok(other) => Err(error_reply(
            &Value::Null,
            ErrorCode::InvalidJson,
            &format!(
                "the message is JSON but not an object (found {})",
                kind(&other)
            ),
        )),
        Err(e) => Err(error_reply(
            &Value::Null,
            ErrorCode::InvalidJson,
            &format!("the message is not valid JSON ({e})"),
        )),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Serialises `{"id": id, "error": {"code": code, "message": message}}`.
pub fn error_reply(id: &Value, code: ErrorCode, message: &str) -> Bytes {
    let reply = json!({"id": id, "error": ErrorBody::new(code, message)});
    Bytes::from(reply.to_string())
}

/// The `broker_connected` push, sent when the host (re)connects to a daemon.
pub fn broker_connected(instance: &str) -> Bytes {
    push(&Push::BrokerConnected {
        instance: instance.to_owned(),
    })
}

/// The `broker_disconnected` push, sent when the host loses the daemon.
pub fn broker_disconnected() -> Bytes {
    push(&Push::BrokerDisconnected)
}

fn push(push: &Push) -> Bytes {
    Bytes::from(serde_json::to_vec(push).unwrap_or_default())
}

/// Extracts `result.instance` from the daemon's reply to `hello`.
pub fn hello_instance(reply: &[u8]) -> Result<String, String> {
    let value: Value = serde_json::from_slice(reply)
        .map_err(|e| format!("the daemon's hello reply is not JSON ({e})"))?;
    if let Some(error) = value.get("error") {
        return Err(format!("the daemon refused hello: {error}"));
    }
    value
        .pointer("/result/instance")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "the daemon's hello reply has no result.instance".to_owned())
}

/// The `hello` request the host sends to each daemon it connects to.
pub fn hello_request() -> Bytes {
    Bytes::from_static(br#"{"id":0,"type":"hello","protocol":1}"#)
}

/// Why a daemon reply cannot be relayed as the answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyProblem {
    /// Not a UTF-8 JSON object: Firefox would fail to parse the frame and close the port,
    /// failing every request in flight on it.
    Unreadable,
    /// A reply object whose `id` is not the request's: the browser would match it to another
    /// request, or to none.
    WrongId,
}

impl ReplyProblem {
    /// The `internal` error message the host answers instead.
    pub fn message(self) -> &'static str {
        match self {
            Self::Unreadable => "the broker sent an unreadable reply",
            Self::WrongId => "the broker answered with another request's id",
        }
    }
}

/// The part of a reply the host checks; every other field is only checked for syntax.
#[derive(serde::Deserialize)]
struct ReplyHead {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

/// Checks that `reply` can be relayed as the answer to the request with id `request_id`: a
/// UTF-8 JSON object (well-formed throughout, so the browser can parse it) whose `id` equals
/// the request's. One exception: an error reply with `id: null` to a request whose `id` is not
/// a number is the daemon saying it could not read that id (`docs/protocol.md` §2), and is
/// relayed.
///
/// Only `id` is materialised (the rest is skipped with `IgnoredAny`), so this costs one syntax
/// pass over the body, not a `Value` tree.
pub fn check_reply(reply: &[u8], request_id: &Value) -> Result<(), ReplyProblem> {
    let text = std::str::from_utf8(reply).map_err(|_| ReplyProblem::Unreadable)?;
    // A struct also deserialises from a JSON array; only an object is a reply.
    if !text.trim_start().starts_with('{') {
        return Err(ReplyProblem::Unreadable);
    }
    let head: ReplyHead = serde_json::from_str(text).map_err(|_| ReplyProblem::Unreadable)?;
    let same_id = ids_equal(&head.id, request_id)
        || (head.id.is_null() && head.error.is_some() && !request_id.is_number());
    if same_id {
        Ok(())
    } else {
        Err(ReplyProblem::WrongId)
    }
}

/// JSON equality of two ids; numbers compare by value (`7` and `7.0` are one id).
fn ids_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(x), Some(y)) if x == y)
        }
        _ => a == b,
    }
}

/// True when `data` is a JSON object (a non-200 `/v1/rpc` body is relayed only if it is one).
pub fn is_json_object(data: &[u8]) -> bool {
    matches!(serde_json::from_slice::<Value>(data), Ok(Value::Object(_)))
}

/// Why a daemon event cannot be relayed to the browser as a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushProblem {
    /// Not a UTF-8 JSON object (well-formed throughout).
    Unreadable,
    /// No `type`, or a `type` that is not a string.
    NoType,
    /// An `id` key (even `null`): the browser matches messages with an `id` to its requests, so
    /// such an event could pass for the answer to one of them.
    HasId,
}

impl PushProblem {
    /// A short description for the log (never the event's contents).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreadable => "not a JSON object",
            Self::NoType => "no string type",
            Self::HasId => "carries an id",
        }
    }
}

/// The part of an event the host checks; every other field is only checked for syntax.
#[derive(serde::Deserialize)]
struct PushHead {
    #[serde(rename = "type", default)]
    kind: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    id: bool,
}

/// Deserialises any value as `true`: with `#[serde(default)]`, says whether the key was there.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// Checks that a daemon event can be relayed as a push (`docs/protocol.md` §2): a UTF-8 JSON
/// object with a string `type` and no `id` key. Duplicate `type` or `id` keys are unreadable
/// (the browser's `JSON.parse` would keep the last one, unseen here).
pub fn check_push(data: &[u8]) -> Result<(), PushProblem> {
    let text = std::str::from_utf8(data).map_err(|_| PushProblem::Unreadable)?;
    // A struct also deserialises from a JSON array; only an object is a push.
    if !text.trim_start().starts_with('{') {
        return Err(PushProblem::Unreadable);
    }
    let head: PushHead = serde_json::from_str(text).map_err(|_| PushProblem::Unreadable)?;
    if head.id {
        return Err(PushProblem::HasId);
    }
    match head.kind {
        Some(Value::String(_)) => Ok(()),
        _ => Err(PushProblem::NoType),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(reply: &Bytes) -> (Value, String) {
        let v: Value = serde_json::from_slice(reply).unwrap();
        (
            v["id"].clone(),
            v["error"]["code"].as_str().unwrap().to_owned(),
        )
    }

    #[test]
    fn object_with_id_is_accepted_unchanged() {
        let body = Bytes::from_static(br#"{"id": 7, "type": "credentials"}"#);
        let req = parse_request(body.clone()).unwrap();
        assert_eq!(req.id, json!(7));
        assert_eq!(req.body, body);
    }

    #[test]
    fn object_without_id_echoes_null() {
        let req = parse_request(Bytes::from_static(br#"{"type":"status"}"#)).unwrap();
        assert_eq!(req.id, Value::Null);
    }

    #[test]
    fn invalid_utf8_json_and_non_objects_are_invalid_json_with_null_id() {
        for input in [
            &b"\xff\xfe{}"[..],
            b"",
            b"{\"id\": 1",
            b"[1,2]",
            b"42",
            b"\"id\"",
            b"null",
        ] {
            let reply = parse_request(Bytes::copy_from_slice(input)).unwrap_err();
            assert_eq!(
                error_of(&reply),
                (Value::Null, "invalid_json".to_owned()),
                "{input:?}"
            );
        }
    }

    #[test]
    fn error_reply_shape() {
        let v: Value = serde_json::from_slice(&error_reply(
            &json!(3),
            ErrorCode::BrokerUnavailable,
            "down",
        ))
        .unwrap();
        assert_eq!(
            v,
            json!({"id": 3, "error": {"code": "broker_unavailable", "message": "down"}})
        );
    }

    #[test]
    fn hello_instance_is_extracted_or_explained() {
        assert_eq!(
            hello_instance(br#"{"id":0,"result":{"protocol":1,"instance":"abc"}}"#),
            Ok("abc".to_owned())
        );
        assert!(hello_instance(br#"{"id":0,"error":{"code":"x"}}"#).is_err());
        assert!(hello_instance(b"nope").is_err());
    }

    #[test]
    fn replies_must_be_json_objects() {
        let id = json!(7);
        for body in [
            &b"}{ this is not JSON \x01"[..],
            b"",
            b"[1, 2]",
            b"[{\"id\": 7}]",
            b"\"id\"",
            b"null",
            b"{\"id\": 7, \"result\": 1",
            b"{\"id\": 7, \"result\": 1} trailing",
            b"{\"id\": 7, \"result\": [1,]}",
            b"{\"id\": 7, \"result\": \"\xff\"}",
            b"{\"id\": 7, \"id\": 7, \"result\": 1}",
        ] {
            assert_eq!(
                check_reply(body, &id),
                Err(ReplyProblem::Unreadable),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            check_reply(b" \n{\"id\": 7, \"result\": {\"a\": [1, \"x\"]}}\n", &id),
            Ok(())
        );
    }

    #[test]
    fn replies_must_carry_the_request_id() {
        let reply = br#"{"id":8,"result":{"site":"a.test"}}"#;
        assert_eq!(check_reply(reply, &json!(8)), Ok(()));
        assert_eq!(check_reply(reply, &json!(7)), Err(ReplyProblem::WrongId));
        assert_eq!(check_reply(reply, &json!("8")), Err(ReplyProblem::WrongId));
        assert_eq!(
            check_reply(br#"{"result":1}"#, &json!(8)),
            Err(ReplyProblem::WrongId)
        );
        assert_eq!(check_reply(br#"{"id":8.0,"result":1}"#, &json!(8)), Ok(()));
        assert_eq!(
            check_reply(br#"{"id":"x-3","result":1}"#, &json!("x-3")),
            Ok(())
        );
        // The daemon could not read a non-numeric id: its null-id error is relayed.
        let unread = br#"{"id":null,"error":{"code":"invalid_field","message":"id"}}"#;
        assert_eq!(check_reply(unread, &json!("x-3")), Ok(()));
        assert_eq!(check_reply(unread, &Value::Null), Ok(()));
        // A numeric id is always readable: a null id then is another request's answer.
        assert_eq!(check_reply(unread, &json!(8)), Err(ReplyProblem::WrongId));
        assert_eq!(
            check_reply(br#"{"id":null,"result":1}"#, &json!("x")),
            Err(ReplyProblem::WrongId)
        );
    }

    #[test]
    fn pushes_are_objects() {
        assert!(is_json_object(&broker_connected("i")));
        assert!(is_json_object(&broker_disconnected()));
        assert!(!is_json_object(b"[]"));
    }

    #[test]
    fn pushes_have_a_string_type_and_no_id() {
        assert_eq!(check_push(&broker_connected("i")), Ok(()));
        assert_eq!(check_push(&broker_disconnected()), Ok(()));
        assert_eq!(
            check_push(
                br#" {"type":"invalidate","all":true,"reason":"rotation","extra":[1,{"id":2}]}"#
            ),
            Ok(())
        );
        for forged in [
            &br#"{"id":7,"result":{"site":"a.test"}}"#[..],
            br#"{"id":7,"type":"invalidate","all":true}"#,
            br#"{"type":"invalidate","all":true,"id":null}"#,
            br#"{"type":"invalidate","id":"x"}"#,
        ] {
            assert_eq!(
                check_push(forged),
                Err(PushProblem::HasId),
                "{}",
                String::from_utf8_lossy(forged)
            );
        }
        for untyped in [
            &b"{}"[..],
            br#"{"type":3}"#,
            br#"{"type":null}"#,
            br#"{"sites":[]}"#,
        ] {
            assert_eq!(check_push(untyped), Err(PushProblem::NoType));
        }
        for unreadable in [
            &b"[1, 2]"[..],
            b"[{\"type\":\"x\"}]",
            b"",
            b"\"type\"",
            b"{\"type\":\"x\"",
            b"{\"type\":\"x\"} trailing",
            b"{\"type\":\"\xff\"}",
            b"{\"type\":\"x\",\"type\":\"y\"}",
            b"{\"type\":\"x\",\"id\":1,\"id\":2}",
        ] {
            assert_eq!(
                check_push(unreadable),
                Err(PushProblem::Unreadable),
                "{}",
                String::from_utf8_lossy(unreadable)
            );
        }
    }
}
