//! The real `persite-native-host` binary on real pipes, without a working daemon: malformed
//! input, an unreachable daemon, and end of input.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Host, Runtime, frame};
use serde_json::{Value, json};

fn assert_error(reply: &Value, id: Value, code: &str) {
    assert_eq!(reply["id"], id, "{reply}");
    assert_eq!(reply["error"]["code"], code, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{reply}"
    );
    assert!(reply.get("result").is_none(), "{reply}");
}

#[test]
fn malformed_input_gets_error_replies_and_the_host_keeps_serving() {
    let runtime = Runtime::new();
    let mut host = Host::start(runtime.path(), Path::new("/nonexistent/persite"));

    host.send_raw(&frame(b"\xff\xfe{\"id\":1}"));
    assert_error(&host.recv(), Value::Null, "invalid_json");

    host.send_raw(&frame(b"{\"id\": 2, \"type\": "));
    assert_error(&host.recv(), Value::Null, "invalid_json");

    host.send_raw(&frame(b"[1, 2, 3]"));
    assert_error(&host.recv(), Value::Null, "invalid_json");

    host.send_raw(&frame(b""));
    assert_error(&host.recv(), Value::Null, "invalid_json");

    // 2 MiB: skipped, answered, and the next frame is read normally.
    host.send_raw(&frame(&vec![b' '; 2 * 1024 * 1024]));
    assert_error(&host.recv(), Value::Null, "frame_too_large");

    // A well-formed request (its validation is the daemon's job) reaches the relay.
    host.send(&json!({"id": 6, "type": "no_such_type"}));
    assert_error(&host.recv(), json!(6), "broker_unavailable");

    // Input ending inside a frame: answered, then a clean exit.
    let mut partial = frame(br#"{"id": 7, "type": "status"}"#);
    partial.truncate(10);
    host.send_raw(&partial);
    host.close_stdin();
    assert_error(&host.recv(), Value::Null, "invalid_json");
    assert!(host.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn no_daemon_and_no_broker_binary_gives_broker_unavailable_and_keeps_serving() {
    let runtime = Runtime::new();
    let mut host = Host::start(runtime.path(), Path::new("/nonexistent/persite"));
    for id in 1..=3 {
        host.send(&json!({"id": id, "type": "credentials", "url": "https://example.org/"}));
        let reply = host.recv();
        assert_error(&reply, json!(id), "broker_unavailable");
        assert!(host.is_running());
    }
    // No push claims a connection that never happened.
    assert_eq!(host.try_recv(Duration::from_millis(200)), None);
    host.close_stdin();
    assert!(host.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn a_daemon_that_never_listens_costs_one_bounded_attempt_per_burst() {
    let runtime = Runtime::new();
    // Starts "successfully" but never opens the socket.
    let fake = runtime.path().join("silent-broker");
    std::fs::write(&fake, "#!/bin/sh\nexec sleep 12\n").expect("write script");
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mut host = Host::start(runtime.path(), &fake);
    // The burst arrives while the start-up attempt is under way and shares its outcome.
    let sent = Instant::now();
    for id in 1..=5 {
        host.send(&json!({"id": id, "type": "status"}));
    }
    let mut ids = Vec::new();
    for _ in 1..=5 {
        let reply = host.recv();
        assert_eq!(reply["error"]["code"], "broker_unavailable", "{reply}");
        ids.push(reply["id"].as_i64().expect("numeric id"));
    }
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    // One 5 s attempt, not one per request (nor a second one after the first failed).
    let elapsed = sent.elapsed();
    assert!(
        elapsed < Duration::from_secs(9),
        "took {elapsed:?}: requests retried one by one"
    );
    assert!(host.is_running());
    host.close_stdin();
    assert!(host.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn stdin_eof_exits_cleanly() {
    let runtime = Runtime::new();
    let mut host = Host::start(runtime.path(), Path::new("/nonexistent/persite"));
    host.close_stdin();
    assert!(host.wait_exit(Duration::from_secs(10)).success());
    assert_eq!(host.try_recv(Duration::from_millis(100)), None);
}
