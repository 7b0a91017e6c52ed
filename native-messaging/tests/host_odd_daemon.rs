//! The real host binary against a scripted daemon (axum over HTTP/2 on the Unix socket) that
//! does what the real daemon never does: a reply above 1 MiB, a non-200 answer, a 200 answer
//! that is not JSON or answers another id, a push that is not a JSON object. Everything the real daemon does is tested in `host_daemon.rs`.

mod common;

use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::{Host, Runtime};
use futures_util::StreamExt;
use serde_json::{Value, json};

async fn rpc(body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).expect("the host relays JSON");
    let id = request["id"].clone();
    match request["type"].as_str() {
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

async fn events() -> Response {
    let first = futures_util::stream::iter([
        Ok::<_, std::convert::Infallible>(Bytes::from_static(b": keep-alive\n\n")),
        Ok(Bytes::from_static(b"data: [1, 2]\n\n")),
        Ok(Bytes::from_static(
            b"data: {\"type\":\"invalidate\",\"all\":true,\"reason\":\"rotation\"}\n\n",
        )),
    ]);
    let body = Body::from_stream(first.chain(futures_util::stream::pending()));
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
    let app = Router::new()
        .route("/v1/rpc", post(rpc))
        .route("/v1/events", get(events));
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
