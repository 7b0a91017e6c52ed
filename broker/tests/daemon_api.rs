//! The daemon's HTTP API over its real Unix socket: every request type via `/v1/rpc` and the
//! REST routes, pushes on `/v1/events`, malformed input, HTTP/2 prior knowledge.

mod daemon_support;

use daemon_support::{Client, Env, Events, NO_TOR, connect_h2};
use http_body_util::{BodyExt, Full};
use hyper::StatusCode;
use hyper::body::Bytes;
use serde_json::{Value, json};

fn result(reply: &Value) -> &Value {
    assert!(reply.get("error").is_none(), "unexpected error: {reply}");
    &reply["result"]
}

fn error_code(reply: &Value) -> &str {
    reply["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error reply: {reply}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_type_over_rpc() {
    let env = Env::new();
    env.write_config(&format!(
        "[socks]\nhost = \"127.0.0.1\"\nport = 19050\n{NO_TOR}"
    ));
    let _daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;

    let hello = c
        .rpc(json!({"id": 1, "type": "hello", "protocol": 1}))
        .await;
    assert_eq!(hello["id"], 1);
    let h = result(&hello);
    assert_eq!(h["protocol"], 1);
    assert_eq!(h["broker_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(h["socks"], json!({"host": "127.0.0.1", "port": 19050}));
    let instance = h["instance"].as_str().expect("instance").to_owned();
    assert!(instance.len() >= 16, "{instance}");

    let a = c
        .rpc(json!({"id": 2, "type": "credentials", "url": "https://www.example.co.uk/page"}))
        .await;
    assert_eq!(a["id"], 2);
    let a = result(&a).clone();
    assert_eq!(a["site"], "example.co.uk");
    assert_eq!(a["container"], "firefox-default");
    let user = a["username"].as_str().expect("username");
    let pass = a["password"].as_str().expect("password");
    assert!(!user.is_empty() && user.len() <= 255 && !user.starts_with('<'));
    assert!(!pass.is_empty() && pass.len() <= 255 && !pass.starts_with('<'));
    assert!(
        !user.contains("example"),
        "the plain domain must not be the username"
    );
    assert!(a.get("expires_at").is_some(), "{a}");

    // Same site (another host of it) → same credentials; another site or container → different.
    let again = c
        .rpc(json!({"id": 3, "type": "credentials", "url": "http://shop.example.co.uk/x", "container": "firefox-default", "tab": 4}))
        .await;
    assert_eq!(result(&again), &a);
    let other = c
        .rpc(json!({"id": 4, "type": "credentials", "url": "https://example.org/"}))
        .await;
    assert_ne!(result(&other)["username"], a["username"]);
    let private = c
        .rpc(json!({"id": 5, "type": "credentials", "url": "https://example.co.uk/", "container": "firefox-private"}))
        .await;
    assert_eq!(result(&private)["container"], "firefox-private");
    assert_ne!(
        (&result(&private)["username"], &result(&private)["password"]),
        (&a["username"], &a["password"])
    );

    let catch_all = c
        .rpc(json!({"id": 6, "type": "credentials", "url": "about:blank"}))
        .await;
    assert_eq!(result(&catch_all)["site"], "--unknown--");

    // new_circuit by site and by url: new credentials for that site only.
    let nc = c
        .rpc(json!({"id": 7, "type": "new_circuit", "site": "example.co.uk"}))
        .await;
    assert_eq!(result(&nc), &json!({"site": "example.co.uk"}));
    let after = c
        .rpc(json!({"id": 8, "type": "credentials", "url": "https://www.example.co.uk/"}))
        .await;
    assert_ne!(result(&after)["password"], a["password"]);
    let other_after = c
        .rpc(json!({"id": 9, "type": "credentials", "url": "https://example.org/"}))
        .await;
    assert_eq!(result(&other_after), result(&other));
    let nc = c
        .rpc(json!({"id": 10, "type": "new_circuit", "url": "https://a.b.example.org/p"}))
        .await;
    assert_eq!(result(&nc), &json!({"site": "example.org"}));

    let status = c.rpc(json!({"id": 11, "type": "status"})).await;
    let s = result(&status);
    assert_eq!(s["instance"], instance.as_str());
    assert_eq!(s["broker_version"], env!("CARGO_PKG_VERSION"));
    assert!(s["sites"].as_u64().expect("sites") >= 3, "{s}");
    assert!(s["uptime_s"].is_u64(), "{s}");
    assert_eq!(s["socks"]["port"], 19050);
    assert_eq!(s["tor"]["control"], "none", "{s}");
    assert_eq!(s["tor"]["managed"], false, "{s}");

    let circ = c
        .rpc(json!({"id": 14, "type": "circuit", "url": "https://www.example.org/"}))
        .await;
    assert_eq!(
        result(&circ),
        &json!({"site": "example.org", "container": "firefox-default", "available": false,
                "reason": "no_control_port", "onion": false, "circuits": [], "bytes": null})
    );
    let epoch0 = s["epoch"].as_u64().expect("epoch");

    let ni = c.rpc(json!({"id": 12, "type": "new_identity"})).await;
    assert_eq!(result(&ni)["epoch"].as_u64(), Some(epoch0 + 1));
    assert_eq!(result(&ni)["newnym"], "unavailable");
    let other_new = c
        .rpc(json!({"id": 13, "type": "credentials", "url": "https://example.org/"}))
        .await;
    assert_ne!(result(&other_new)["password"], result(&other)["password"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_routes_match_rpc() {
    let env = Env::new();
    let _daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;

    let (st, cred) = c
        .call(
            "POST",
            "/v1/credentials",
            br#"{"url": "https://news.example.com/"}"#,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let via_rpc = c
        .rpc(json!({"id": 1, "type": "credentials", "url": "https://example.com/"}))
        .await;
    assert_eq!(&cred, result(&via_rpc));

    let (st, err) = c
        .call(
            "POST",
            "/v1/credentials",
            br#"{"url": "http://exa mple.com"}"#,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "invalid_url");
    let (st, err) = c
        .call(
            "POST",
            "/v1/credentials",
            br#"{"url": "https://a.example/", "container": "bogus"}"#,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "invalid_container");

    let (st, nc) = c
        .call("POST", "/v1/new-circuit", br#"{"site": "example.com"}"#)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(nc, json!({"site": "example.com"}));
    let (st, err) = c.call("POST", "/v1/new-circuit", b"{}").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "missing_field");

    let (st, status) = c.call("GET", "/v1/status", b"").await;
    assert_eq!(st, StatusCode::OK);
    let epoch = status["epoch"].as_u64().expect("epoch");
    let (st, ni) = c.call("POST", "/v1/new-identity", b"").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(ni["epoch"].as_u64(), Some(epoch + 1));

    let (st, err) = c.call("POST", "/v1/credentials", b"not json").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "invalid_json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_get_invalidate_pushes() {
    let env = Env::new();
    let _daemon = env.start();
    let mut first = Events::subscribe(&env.socket()).await;
    let mut second = Events::subscribe(&env.socket()).await;
    let mut c = Client::connect(&env.socket()).await;

    c.rpc(json!({"id": 1, "type": "new_circuit", "url": "https://www.example.co.uk/"}))
        .await;
    let want = json!({"type": "invalidate", "sites": ["example.co.uk"], "reason": "new_circuit"});
    assert_eq!(first.next().await, want);
    assert_eq!(second.next().await, want);

    let (st, _) = c.call("POST", "/v1/new-identity", b"").await;
    assert_eq!(st, StatusCode::OK);
    let want = json!({"type": "invalidate", "all": true, "reason": "new_identity"});
    assert_eq!(first.next().await, want);
    assert_eq!(second.next().await, want);

    // A failed request changes nothing and pushes nothing: the next push is the next change.
    let bad = c
        .rpc(json!({"id": 2, "type": "new_circuit", "site": "a/b"}))
        .await;
    assert_eq!(error_code(&bad), "invalid_field");
    c.rpc(json!({"id": 3, "type": "new_circuit", "site": "example.org"}))
        .await;
    let want = json!({"type": "invalidate", "sites": ["example.org"], "reason": "new_circuit"});
    assert_eq!(first.next().await, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_errors_and_the_daemon_keeps_serving() {
    let env = Env::new();
    let _daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;

    let cases: &[(&[u8], Value, &str)] = &[
        (b"{not json", Value::Null, "invalid_json"),
        (b"", Value::Null, "invalid_json"),
        (b"[1, 2, 3]", Value::Null, "invalid_json"),
        (b"42", Value::Null, "invalid_json"),
        (
            b"{\"id\": 1, \"type\": \"hel\xfflo\"}",
            Value::Null,
            "invalid_json",
        ),
        (br#"{"type": "status"}"#, Value::Null, "missing_field"),
        (
            br#"{"id": "x", "type": "status"}"#,
            Value::Null,
            "invalid_field",
        ),
        (
            br#"{"id": 3, "type": "teleport"}"#,
            json!(3),
            "unknown_type",
        ),
        (br#"{"id": 4}"#, json!(4), "missing_field"),
        (
            br#"{"id": 5, "type": "credentials"}"#,
            json!(5),
            "missing_field",
        ),
        (
            br#"{"id": 6, "type": "credentials", "url": 17}"#,
            json!(6),
            "invalid_field",
        ),
        (
            br#"{"id": 7, "type": "credentials", "url": "https://a.example/", "tab": "one"}"#,
            json!(7),
            "invalid_field",
        ),
        (
            br#"{"id": 8, "type": "hello", "protocol": 2}"#,
            json!(8),
            "unsupported_protocol",
        ),
        (br#"{"id": 9, "type": "hello"}"#, json!(9), "missing_field"),
        (
            br#"{"id": 10, "type": "credentials", "url": "not a url"}"#,
            json!(10),
            "invalid_url",
        ),
        (
            br#"{"id": 11, "type": "new_circuit", "site": 5}"#,
            json!(11),
            "invalid_field",
        ),
    ];
    for (body, id, code) in cases {
        let (status, reply) = c.call("POST", "/v1/rpc", body).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(
            &reply["id"],
            id,
            "{}: {reply}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(
            error_code(&reply),
            *code,
            "{}: {reply}",
            String::from_utf8_lossy(body)
        );
        assert!(
            reply["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(reply.get("result").is_none());
    }

    // A 2 MiB body: refused without being buffered, on the same keep-alive connection.
    let mut big = br#"{"id": 12, "type": "credentials", "url": "https://a.example/"#.to_vec();
    big.resize(2 * 1024 * 1024, b'a');
    big.extend_from_slice(br#""}"#);
    let (status, reply) = c.call("POST", "/v1/rpc", &big).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply["id"], Value::Null);
    assert_eq!(error_code(&reply), "frame_too_large");
    let (status, reply) = c.call("POST", "/v1/credentials", &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply["error"]["code"], "frame_too_large");

    // Still serving, on the same connection and on a new one.
    let ok = c
        .rpc(json!({"id": 13, "type": "credentials", "url": "https://a.example/"}))
        .await;
    assert_eq!(result(&ok)["site"], "a.example");
    let mut fresh = Client::connect(&env.socket()).await;
    let ok = fresh.rpc(json!({"id": 14, "type": "status"})).await;
    assert!(result(&ok)["sites"].as_u64().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_prior_knowledge_multiplexes_requests() {
    let env = Env::new();
    let _daemon = env.start();
    let sender = connect_h2(&env.socket()).await;
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let mut sender = sender.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({"id": i, "type": "credentials", "url": format!("https://site{}.example/", i % 50)});
            let req = hyper::Request::post("/v1/rpc")
                .header("host", "persite")
                .body(Full::new(Bytes::from(body.to_string())))
                .expect("request");
            sender.ready().await.expect("ready");
            let resp = sender.send_request(req).await.expect("send");
            assert_eq!(resp.version(), hyper::Version::HTTP_2);
            let bytes = resp.into_body().collect().await.expect("body").to_bytes();
            let reply: Value = serde_json::from_slice(&bytes).expect("json");
            assert_eq!(reply["id"], i);
            (i % 50, reply["result"]["username"].as_str().expect("username").to_owned())
        }));
    }
    let mut by_site = std::collections::HashMap::new();
    for t in tasks {
        let (site, user) = tokio::time::timeout(daemon_support::WAIT, t)
            .await
            .expect("timeout")
            .expect("task");
        let seen = by_site.entry(site).or_insert_with(|| user.clone());
        assert_eq!(*seen, user, "same site, same credentials");
    }
    let distinct: std::collections::HashSet<_> = by_site.values().collect();
    assert_eq!(distinct.len(), 50, "different sites, different credentials");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_keep_alive_answers_pipelined_requests_in_order() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = Env::new();
    let _daemon = env.start();
    let mut stream = tokio::net::UnixStream::connect(env.socket())
        .await
        .expect("connect");
    let mut batch = Vec::new();
    for id in 0..20 {
        let body =
            json!({"id": id, "type": "credentials", "url": format!("https://p{id}.example/")})
                .to_string();
        batch.extend_from_slice(
            format!(
                "POST /v1/rpc HTTP/1.1\r\nHost: persite\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    }
    // All twenty requests in one write, before reading any reply.
    stream.write_all(&batch).await.expect("write");
    let mut received = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + daemon_support::WAIT;
    while String::from_utf8_lossy(&received)
        .matches("\"result\"")
        .count()
        < 20
    {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("replies within the wait")
            .expect("read");
        assert!(n > 0, "connection closed early");
        received.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(received).expect("utf-8");
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 20, "{text}");
    let ids: Vec<u64> = text
        .split("\r\n\r\n")
        .filter_map(|part| part.find('{').map(|i| &part[i..]))
        .filter_map(|body| serde_json::from_str::<Value>(body.split("HTTP/1.1").next()?).ok())
        .filter_map(|reply| reply["id"].as_u64())
        .collect();
    assert_eq!(ids, (0..20).collect::<Vec<_>>(), "replies in request order");
}
