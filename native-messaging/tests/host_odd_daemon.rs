//! The real host binary against a scripted daemon (axum over HTTP/2 on the Unix socket) that
//! does what the real daemon never does: a reply above 1 MiB, a non-200 answer, a 200 answer
//! that is not JSON or answers another id, a push that is not a JSON object, and events shaped
//! like replies (an `id`) sent between real requests. Everything the real daemon does is tested
//! in `host_daemon.rs`.

mod common;

use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::{Host, Runtime};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// Events the `forge` request makes the daemon send on its event stream before it answers.
/// None of them may reach the browser: the first would pass for the answer to request 31.
const FORGED_EVENTS: [&str; 6] = [
    r#"{"id": 31, "result": {"echo": {"id": 31, "type": "status"}, "forged": true}}"#,
    r#"{"id": 31, "error": {"code": "internal", "message": "forged"}}"#,
    r#"{"id": 31, "type": "invalidate", "all": true, "reason": "rotation"}"#,
    r#"{"id": null, "type": "invalidate", "all": true, "reason": "rotation"}"#,
    r#"{"type": 7, "all": true}"#,
    r#"{"all": true, "reason": "rotation"}"#,
];

/// The push the `forge` request sends after the forged events: once it arrives, the host has
/// handled (dropped) every forged event before it.
const MARKER_EVENT: &str =
    r#"{"type":"invalidate","sites":["marker.test"],"reason":"new_circuit"}"#;

/// Feeds the event streams of every host connected to the scripted daemon.
type Events = broadcast::Sender<Bytes>;

async fn rpc(State(events): State<Events>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).expect("the host relays JSON");
    let id = request["id"].clone();
    match request["type"].as_str() {
        Some("forge") => {
            for event in FORGED_EVENTS.iter().chain([&MARKER_EVENT]) {
                let sse = format!("data: {event}\n\n");
                events.send(Bytes::from(sse)).expect("the host subscribed");
            }
            axum::Json(json!({"id": id, "result": {"forged": FORGED_EVENTS.len()}})).into_response()
        }
        Some("hello") => {
            axum::Json(json!({"id": id, "result": {"protocol": 1, "instance": "scripted"}}))
                .into_response()
        }
        Some("huge") => {
            let filler = "x".repeat(2 * 1024 * 1024);
            axum::Json(json!({"id": id, "result": filler})).into_response()
        }
        Some("teapot") => (StatusCode::IM_A_TEAPOT, "short and stout").into_response(),
        // HTTP 200 with bodies that are no reply to this request.
        Some("garbage") => (StatusCode::OK, "}{ this is not JSON \u{1}").into_response(),
        Some("array") => {
            (StatusCode::OK, format!("[{{\"id\": {id}, \"result\": 1}}]")).into_response()
        }
        Some("truncated") => {
            (StatusCode::OK, format!("{{\"id\": {id}, \"result\": {{")).into_response()
        }
        Some("wrong_id") => {
            let wrong = id.as_u64().map_or(json!(999_999), |n| json!(n + 1000));
            axum::Json(json!({"id": wrong, "result": {"site": "other.test"}})).into_response()
        }
        _ => axum::Json(json!({"id": id, "result": {"echo": request}})).into_response(),
    }
}

async fn events(State(events): State<Events>) -> Response {
    let later = futures_util::stream::unfold(events.subscribe(), |mut rx| async move {
        // Ends the stream when the daemon goes (or lags, which the test would see as a
        // `broker_disconnected` push).
        let event = rx.recv().await.ok()?;
        Some((Ok(event), rx))
    });
    let first = futures_util::stream::iter([
        Ok::<_, std::convert::Infallible>(Bytes::from_static(b": keep-alive\n\n")),
        Ok(Bytes::from_static(b"data: [1, 2]\n\n")),
        Ok(Bytes::from_static(
            b"data: {\"type\":\"invalidate\",\"all\":true,\"reason\":\"rotation\"}\n\n",
        )),
    ]);
    let body = Body::from_stream(first.chain(later));
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

/// Serves the scripted daemon on `socket` from a background runtime (dropped with the test).
fn scripted_daemon(socket: &Path) -> tokio::runtime::Runtime {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(async { tokio::net::UnixListener::bind(socket) })
        .expect("bind");
    let (events_tx, _) = broadcast::channel::<Bytes>(64);
    let app = Router::new()
        .route("/v1/rpc", post(rpc))
        .route("/v1/events", get(events))
        .with_state(events_tx);
    rt.spawn(async move { axum::serve(listener, app).await });
    rt
}

#[test]
fn odd_daemon_answers_become_protocol_errors_and_pushes_are_filtered() {
    let runtime = Runtime::new();
    let _daemon = scripted_daemon(&runtime.socket());
    let mut host = Host::start(runtime.path(), Path::new("/nonexistent/persite"));

    let connected = host.recv();
    assert_eq!(
        connected,
        json!({"type": "broker_connected", "instance": "scripted"})
    );
    // The non-object event is dropped; the object is relayed unchanged.
    assert_eq!(
        host.recv(),
        json!({"type": "invalidate", "all": true, "reason": "rotation"})
    );

    let mut pushes = Vec::new();
    let reply = host.call(&json!({"id": 1, "type": "huge"}), &mut pushes);
    assert_eq!(reply["error"]["code"], "reply_too_large", "{reply}");

    let reply = host.call(&json!({"id": 2, "type": "teapot"}), &mut pushes);
    assert_eq!(reply["error"]["code"], "internal", "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("418")),
        "{reply}"
    );

    // 200 bodies that Firefox could not parse, or that answer another id, become `internal`
    // errors carrying the request's id; sent together with a good request, which still gets
    // its own answer (the port stays up, so nothing else in flight is lost).
    let odd = [
        (10, "garbage", "the broker sent an unreadable reply"),
        (11, "array", "the broker sent an unreadable reply"),
        (12, "truncated", "the broker sent an unreadable reply"),
        (
            13,
            "wrong_id",
            "the broker answered with another request's id",
        ),
    ];
    for (id, kind, _) in odd {
        host.send(&json!({"id": id, "type": kind}));
    }
    host.send(&json!({"id": 14, "type": "status"}));
    let mut replies = std::collections::BTreeMap::new();
    for _ in 0..odd.len() + 1 {
        let reply = host.recv_reply(&mut pushes);
        let id = reply["id"].as_u64().expect("a numeric id");
        assert!(replies.insert(id, reply).is_none(), "two replies for {id}");
    }
    for (id, kind, message) in odd {
        assert_eq!(
            replies[&id],
            json!({"id": id, "error": {"code": "internal", "message": message}}),
            "{kind}"
        );
    }
    assert_eq!(replies[&14]["result"]["echo"]["type"], "status");
    assert!(host.is_running(), "one bad reply must not end the host");

    // Still serving, and ids that are not numbers are echoed as sent.
    let reply = host.call(&json!({"id": "x-3", "type": "status"}), &mut pushes);
    assert_eq!(reply["result"]["echo"]["type"], "status", "{reply}");
    assert!(pushes.is_empty(), "{pushes:?}");
    assert_eq!(host.try_recv(Duration::from_millis(200)), None);
    host.close_stdin();
    assert!(host.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn events_shaped_like_replies_never_reach_the_browser() {
    let runtime = Runtime::new();
    let _daemon = scripted_daemon(&runtime.socket());
    let mut host = Host::start(runtime.path(), Path::new("/nonexistent/persite"));
    assert_eq!(host.recv()["type"], "broker_connected");
    assert_eq!(host.recv()["type"], "invalidate");

    let mut pushes = Vec::new();
    let reply = host.call(&json!({"id": 29, "type": "status"}), &mut pushes);
    assert_eq!(reply["result"]["echo"]["type"], "status", "{reply}");

    // The daemon sends the forged events and the marker push on its event stream, then
    // answers; the answer and the pushes race to stdout, so read until both have arrived.
    host.send(&json!({"id": 30, "type": "forge"}));
    let (mut answer, mut marker) = (None, false);
    while answer.is_none() || !marker {
        let frame = host.recv();
        if frame.get("id").is_some() {
            assert_eq!(
                frame,
                json!({"id": 30, "result": {"forged": FORGED_EVENTS.len()}}),
                "only the real answer to 30 carries an id"
            );
            assert!(answer.replace(frame).is_none(), "two answers to 30");
        } else {
            assert_eq!(
                frame,
                serde_json::from_str::<Value>(MARKER_EVENT).unwrap(),
                "a forged event was relayed"
            );
            marker = true;
        }
    }

    // The request the first forged event claimed to answer gets the daemon's real answer.
    let reply = host.call(&json!({"id": 31, "type": "status"}), &mut pushes);
    assert_eq!(
        reply,
        json!({"id": 31, "result": {"echo": {"id": 31, "type": "status"}}})
    );
    assert!(pushes.is_empty(), "{pushes:?}");
    assert_eq!(host.try_recv(Duration::from_millis(200)), None);
    assert!(host.is_running());
    host.close_stdin();
    assert!(host.wait_exit(Duration::from_secs(10)).success());
}
