//! The real host binary relaying to the real daemon (`target/debug/persite`, started by the host
//! itself through `PERSITE_BROKER_BIN`). Build the daemon first: `cargo build -p persite`.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Host, Runtime, broker_bin};
use serde_json::{Value, json};

fn credentials(id: i64, url: &str) -> Value {
    json!({"id": id, "type": "credentials", "url": url, "container": "firefox-default"})
}

/// The `broker_connected` push the host sends when it (re)connects; returns its instance.
fn connected_instance(host: &Host) -> String {
    let push = host.recv_push("broker_connected");
    push["instance"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| panic!("broker_connected without instance: {push}"))
        .to_owned()
}

fn result_of(reply: &Value) -> &Value {
    assert!(reply.get("error").is_none(), "unexpected error: {reply}");
    &reply["result"]
}

#[test]
fn hello_and_credentials_reach_an_autostarted_daemon() {
    let runtime = Runtime::new();
    assert!(!runtime.socket().exists());
    let mut host = Host::start(runtime.path(), &broker_bin());
    let instance = connected_instance(&host);
    assert!(runtime.daemon_pid().is_some(), "the host started no daemon");

    let mut pushes = Vec::new();
    let hello = host.call(
        &json!({"id": 1, "type": "hello", "protocol": 1}),
        &mut pushes,
    );
    assert_eq!(result_of(&hello)["protocol"], 1);
    assert_eq!(result_of(&hello)["instance"], instance.as_str());

    let reply = host.call(
        &credentials(2, "https://www.example.co.uk/page"),
        &mut pushes,
    );
    let result = result_of(&reply);
    assert_eq!(result["site"], "example.co.uk");
    assert_eq!(result["container"], "firefox-default");
    let username = result["username"].as_str().expect("username");
    assert!(!username.is_empty() && username.len() <= 255 && !username.starts_with('<'));

    // The daemon's own validation errors are relayed unchanged.
    let bad = host.call(&json!({"id": 3, "type": "no_such_type"}), &mut pushes);
    assert_eq!(bad["error"]["code"], "unknown_type", "{bad}");
    let bad_url = host.call(&credentials(4, "http://exa mple.com"), &mut pushes);
    assert_eq!(bad_url["error"]["code"], "invalid_url", "{bad_url}");
    assert!(pushes.is_empty(), "unexpected pushes: {pushes:?}");

    host.close_stdin();
    assert!(host.wait_exit(Duration::from_secs(10)).success());
    // The daemon outlives the host (it is detached).
    assert!(
        runtime.daemon_pid().is_some(),
        "the daemon died with the host"
    );
}

#[test]
fn pipelined_requests_are_all_answered_by_id() {
    let runtime = Runtime::new();
    let mut host = Host::start(runtime.path(), &broker_bin());
    connected_instance(&host);
    let n = 300;
    let mut batch = Vec::new();
    for id in 0..n {
        let url = format!("https://site{}.example/", id % 37);
        batch.extend(common::frame(credentials(id, &url).to_string().as_bytes()));
    }
    host.send_raw(&batch);
    let mut seen = vec![None; n as usize];
    let mut pushes = Vec::new();
    for _ in 0..n {
        let reply = host.recv_reply(&mut pushes);
        let id = reply["id"].as_i64().expect("reply id") as usize;
        let result = result_of(&reply);
        assert_eq!(result["site"], format!("site{}.example", id % 37));
        assert!(seen[id].is_none(), "two replies for id {id}");
        seen[id] = Some(result["username"].as_str().expect("username").to_owned());
    }
    // Same site, same credentials; different sites, different ones.
    assert_eq!(seen[0], seen[37]);
    assert_ne!(seen[0], seen[1]);
}

#[test]
fn two_hosts_share_one_daemon_and_see_each_others_invalidations() {
    let runtime = Runtime::new();
    let mut a = Host::start(runtime.path(), &broker_bin());
    let mut b = Host::start(runtime.path(), &broker_bin());
    let instance_a = connected_instance(&a);
    let instance_b = connected_instance(&b);
    assert_eq!(instance_a, instance_b, "two daemons were started");

    let mut pushes = Vec::new();
    let url = "https://news.example.org/article";
    let ra = a.call(&credentials(1, url), &mut pushes);
    let rb = b.call(&credentials(1, url), &mut pushes);
    assert_eq!(result_of(&ra)["username"], result_of(&rb)["username"]);
    assert_eq!(result_of(&ra)["password"], result_of(&rb)["password"]);

    let reply = a.call(&json!({"id": 2, "type": "new_identity"}), &mut pushes);
    assert!(result_of(&reply)["epoch"].is_number(), "{reply}");
    let push = b.recv_push("invalidate");
    assert_eq!(push["all"], true, "{push}");
    assert_eq!(push["reason"], "new_identity", "{push}");
    assert!(push.get("id").is_none(), "pushes carry no id: {push}");
    // The requester is told too (before or after its reply: pushes and replies are not ordered).
    let push_a = match pushes.iter().find(|p| p["type"] == "invalidate") {
        Some(push) => push.clone(),
        None => a.recv_push("invalidate"),
    };
    assert_eq!(push_a["all"], true, "{push_a}");

    let after = b.call(&credentials(3, url), &mut pushes);
    // The password carries the identity epoch (docs/architecture.md).
    assert_ne!(
        result_of(&after)["password"],
        result_of(&rb)["password"],
        "new identity kept the old credentials"
    );
}

/// A broker launcher that refuses to start while `<runtime>/refuse` exists, else runs the real
/// daemon: lets a test make a restart fail on purpose.
fn gated_broker(runtime: &Runtime) -> PathBuf {
    let script = runtime.path().join("gated-broker");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ -e '{}' ] && exit 1\nexec '{}' \"$@\"\n",
            runtime.path().join("refuse").display(),
            broker_bin().display()
        ),
    )
    .expect("write script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    script
}

fn set_refuse(runtime: &Runtime, refuse: bool) {
    let flag: &Path = &runtime.path().join("refuse");
    if refuse {
        std::fs::write(flag, b"").expect("flag");
    } else {
        std::fs::remove_file(flag).expect("unflag");
    }
}

#[test]
fn daemon_killed_mid_conversation_then_restarted_on_the_next_request() {
    let runtime = Runtime::new();
    let mut host = Host::start(runtime.path(), &gated_broker(&runtime));
    let first = connected_instance(&host);
    let mut pushes = Vec::new();
    result_of(&host.call(&credentials(1, "https://a.example/"), &mut pushes));

    // SIGKILL: the host notices and tells the browser; a request while no daemon can start
    // gets broker_unavailable, and the host keeps serving.
    set_refuse(&runtime, true);
    let killed = runtime.kill_daemon();
    host.recv_push("broker_disconnected");
    let reply = host.call(&credentials(2, "https://a.example/"), &mut pushes);
    assert_eq!(reply["error"]["code"], "broker_unavailable", "{reply}");

    // The next request restarts the daemon: a new instance, announced before the reply.
    set_refuse(&runtime, false);
    let reply = host.call(&credentials(3, "https://a.example/"), &mut pushes);
    result_of(&reply);
    let reconnect: Vec<&Value> = pushes
        .iter()
        .filter(|p| p["type"] == "broker_connected")
        .collect();
    assert_eq!(reconnect.len(), 1, "pushes: {pushes:?}");
    assert_ne!(
        reconnect[0]["instance"],
        first.as_str(),
        "same daemon instance"
    );
    let pid = runtime.daemon_pid().expect("restarted daemon");
    assert_ne!(pid, killed);
}

#[test]
fn daemon_killed_with_requests_in_flight_answers_each_once_and_recovers() {
    let runtime = Runtime::new();
    let mut host = Host::start(runtime.path(), &broker_bin());
    connected_instance(&host);
    let n = 400;
    let mut batch = Vec::new();
    for id in 0..n {
        let url = format!("https://s{id}.example/");
        batch.extend(common::frame(credentials(id, &url).to_string().as_bytes()));
    }
    host.send_raw(&batch);
    runtime.kill_daemon();
    let mut answered = vec![false; n as usize];
    let mut codes = std::collections::BTreeMap::new();
    let mut got = 0;
    while got < n {
        let frame = host.recv();
        let Some(id) = frame.get("id") else {
            continue; // broker_disconnected / broker_connected pushes
        };
        let id = id.as_i64().expect("numeric id") as usize;
        assert!(!answered[id], "two replies for id {id}");
        answered[id] = true;
        got += 1;
        let code = frame["error"]["code"].as_str().unwrap_or("ok").to_owned();
        assert!(
            code == "ok" || code == "broker_unavailable",
            "unexpected reply {frame}"
        );
        *codes.entry(code).or_insert(0) += 1;
    }
    eprintln!("replies after SIGKILL: {codes:?}");
    let mut pushes = Vec::new();
    let reply = host.call(&credentials(10_000, "https://after.example/"), &mut pushes);
    assert_eq!(result_of(&reply)["site"], "after.example");
}
