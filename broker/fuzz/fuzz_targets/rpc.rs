//! Arbitrary request bodies (from the native host or any local client of the daemon's socket)
//! into the RPC parser, as `POST /v1/rpc` and as the body of every REST endpoint; a
//! `policy_set`'s policy goes on to the policy parser. No I/O: bytes in, typed request or
//! protocol error out.
//!
//! Properties: a body that is not a JSON object is an `invalid_json` error without an id; a
//! parsed request always has its numeric id; every error carries one of the protocol's codes
//! (`docs/protocol.md` §2.3) and its reply serialises to a JSON object echoing the id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use persite::daemon::{ErrorCode, Request, RequestType, parse_rpc, parse_typed, reply};
use persite::policy::Policy;
use serde_json::Value;

/// Every code the parser may return.
const CODES: &[ErrorCode] = &[
    ErrorCode::InvalidJson,
    ErrorCode::MissingField,
    ErrorCode::InvalidField,
    ErrorCode::UnknownType,
    ErrorCode::UnsupportedProtocol,
];

fn check(outcome: &Result<Request, persite::daemon::RpcError>) {
    match outcome {
        Err(e) => assert!(CODES.contains(&e.code), "unexpected code {:?}", e.code),
        Ok(Request::PolicySet { policy, .. }) if !policy.is_null() => {
            if let Err(e) = Policy::from_json(policy, "policy") {
                assert!(!e.to_string().is_empty());
            }
        }
        Ok(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let is_object = matches!(serde_json::from_slice::<Value>(data), Ok(Value::Object(_)));
    let (id, outcome) = parse_rpc(data);
    check(&outcome);
    if !is_object {
        assert!(id.is_none());
        assert_eq!(
            outcome.as_ref().map_err(|e| e.code).err(),
            Some(ErrorCode::InvalidJson)
        );
    }
    if outcome.is_ok() {
        assert!(id.is_some(), "a request was accepted without its id");
    }
    let answer = reply(id.clone(), &outcome.map(|_| Value::Null));
    let text = answer.to_string();
    let back: Value = serde_json::from_str(&text).expect("a reply is JSON");
    assert_eq!(back["id"], id.map_or(Value::Null, Value::Number));

    for kind in RequestType::ALL {
        check(&parse_typed(kind, data));
    }
});
