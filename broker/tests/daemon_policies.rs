//! Circuit-lifetime policies through the real daemon (`docs/protocol.md` §2.5): `policy_get` /
//! `policy_set`, per-tab credentials, max-age rotation pushed on the event stream, invalid
//! policies, the overrides file surviving a restart, and `config.toml`'s `[policy]` section.

mod daemon_support;

use std::time::{Duration, Instant};

use daemon_support::{Client, Env, Events, NO_TOR};
use hyper::StatusCode;
use serde_json::{Value, json};

fn result(reply: &Value) -> &Value {
    assert!(reply.get("error").is_none(), "unexpected error: {reply}");
    &reply["result"]
}

async fn credentials(c: &mut Client, url: &str, tab: Option<i64>) -> Value {
    let mut request = json!({"id": 1, "type": "credentials", "url": url});
    if let Some(tab) = tab {
        request["tab"] = json!(tab);
    }
    result(&c.rpc(request).await).clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_tab_policy_gives_tabs_their_own_credentials() {
    let env = Env::new();
    let _daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;
    let got = c.rpc(json!({"id": 1, "type": "policy_get"})).await;
    assert_eq!(
        result(&got),
        &json!({"default": {"max_age_s": null, "max_bytes": null, "per_tab": false}, "sites": {}})
    );
    let shared = credentials(&mut c, "https://example.com/", Some(1)).await;
    assert_eq!(shared["per_tab"], false);
    let mut events = Events::subscribe(&env.socket()).await;

    let set = c
        .rpc(
            json!({"id": 2, "type": "policy_set", "site": "www.example.com",
                    "policy": {"max_age_s": null, "max_bytes": null, "per_tab": true}}),
        )
        .await;
    assert_eq!(result(&set)["sites"]["example.com"]["per_tab"], true);
    assert_eq!(
        events.next().await,
        json!({"type": "invalidate", "sites": ["example.com"], "reason": "rotation"})
    );
    let one = credentials(&mut c, "https://example.com/a", Some(1)).await;
    let two = credentials(&mut c, "https://www.example.com/b", Some(2)).await;
    let one_again = credentials(&mut c, "https://example.com/c", Some(1)).await;
    assert_eq!(one["per_tab"], true);
    assert_ne!(one["username"], two["username"]);
    assert_ne!(one["password"], two["password"]);
    assert_ne!(one["username"], shared["username"]);
    assert_eq!(one, one_again);
    // Other sites are untouched.
    let other = credentials(&mut c, "https://example.org/", Some(1)).await;
    assert_eq!(other["per_tab"], false);
    assert_eq!(
        other,
        credentials(&mut c, "https://example.org/", Some(2)).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_tabs_and_a_new_browser_session_never_get_old_per_tab_credentials() {
    let env = Env::new();
    let _daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;
    c.rpc(json!({"id": 1, "type": "policy_set", "site": "example.com",
                 "policy": {"per_tab": true}}))
        .await;
    let shared = credentials(&mut c, "https://example.org/", Some(1)).await;
    let one = credentials(&mut c, "https://example.com/", Some(1)).await;
    let two = credentials(&mut c, "https://example.com/", Some(2)).await;

    let closed = c
        .rpc(json!({"id": 2, "type": "tab_closed", "tab": 1}))
        .await;
    assert_eq!(result(&closed), &json!({"sites": 1}));
    let late = credentials(&mut c, "https://example.com/", Some(1)).await;
    assert_eq!(late["username"], one["username"]);
    assert_ne!(
        late["password"], one["password"],
        "a closed tab's credentials never come back"
    );
    assert_eq!(
        credentials(&mut c, "https://example.com/", Some(2)).await,
        two
    );
    let refused = c
        .rpc(json!({"id": 3, "type": "tab_closed", "tab": "1"}))
        .await;
    assert_eq!(refused["error"]["code"], "invalid_field", "{refused}");

    // The browser restarted: its first hello says tab ids start over.
    let mut events = Events::subscribe(&env.socket()).await;
    let hello = c
        .rpc(json!({"id": 4, "type": "hello", "protocol": 1, "tabs_reset": true}))
        .await;
    assert_eq!(result(&hello)["protocol"], 1);
    assert_eq!(
        events.next().await,
        json!({"type": "invalidate", "sites": ["example.com"], "reason": "rotation"})
    );
    let new_two = credentials(&mut c, "https://example.com/", Some(2)).await;
    assert_eq!(new_two["username"], two["username"]);
    assert_ne!(
        new_two["password"], two["password"],
        "the new session's tab 2 is a new tab"
    );
    assert_eq!(
        credentials(&mut c, "https://example.org/", Some(1)).await,
        shared
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_rotation_is_pushed_and_changes_credentials() {
    let env = Env::new();
    let _daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;
    let mut events = Events::subscribe(&env.socket()).await;
    c.rpc(json!({"id": 1, "type": "policy_set", "site": "example.com",
                 "policy": {"max_age_s": 2}}))
        .await;
    let asked = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let started = Instant::now();
    let first = credentials(&mut c, "https://example.com/", None).await;
    let expires = first["expires_at"].as_u64().expect("expires_at");
    assert!(
        (asked..=asked + 5_000).contains(&(expires - 2_000)),
        "expires_at {expires} should be about 2 s after {asked}"
    );
    // The rotation push comes from the daemon's timer, with no request in between.
    let push = events.next_matching(|p| p["reason"] == "rotation").await;
    assert_eq!(
        push,
        json!({"type": "invalidate", "sites": ["example.com"], "reason": "rotation"})
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1_900),
        "pushed after {:?}, before the 2 s were up",
        started.elapsed()
    );
    let second = credentials(&mut c, "https://example.com/", None).await;
    assert_eq!(second["username"], first["username"]);
    assert_ne!(second["password"], first["password"]);
    assert!(second["expires_at"].as_u64().expect("expires_at") > expires);
    // Keep-alive sites never expire.
    assert!(credentials(&mut c, "https://example.org/", None).await["expires_at"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_policies_are_refused_and_the_daemon_keeps_serving() {
    let env = Env::new();
    let _daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;
    for (policy, field) in [
        (json!({"max_age_s": 0}), "policy.max_age_s"),
        (json!({"max_age_s": 604_801}), "policy.max_age_s"),
        (json!({"max_bytes": 100}), "policy.max_bytes"),
        (json!({"per_tab": 1}), "policy.per_tab"),
        (json!("10m"), "policy"),
    ] {
        let reply = c
            .rpc(json!({"id": 5, "type": "policy_set", "site": "example.com", "policy": policy}))
            .await;
        assert_eq!(reply["id"], 5);
        assert_eq!(reply["error"]["code"], "invalid_field", "{reply}");
        let message = reply["error"]["message"].as_str().expect("message");
        assert!(message.contains(&format!("`{field}`")), "{message}");
    }
    let reply = c
        .rpc(json!({"id": 6, "type": "policy_set", "site": "--unknown--", "policy": {"per_tab": true}}))
        .await;
    assert_eq!(reply["error"]["code"], "invalid_field");
    let reply = c
        .rpc(json!({"id": 7, "type": "policy_set", "site": "example.com"}))
        .await;
    assert_eq!(reply["error"]["code"], "missing_field");
    // REST: the same errors with a 400.
    let (status, body) = c
        .call("PUT", "/v1/policies", br#"{"policy": {"max_bytes": -1}}"#)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_field");
    // Nothing changed.
    let (status, body) = c.call("GET", "/v1/policies", b"").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sites"], json!({}));
    assert!(
        !env.config_home()
            .join("persite/site-policies.toml")
            .exists()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_are_kept_across_restarts_over_the_config_defaults() {
    let env = Env::new();
    env.write_config(&format!(
        "{NO_TOR}\n[policy]\nmax_age = \"10m\"\n[policy.sites.\"example.org\"]\nmax_bytes = \"50MiB\"\n"
    ));
    let mut daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;
    let got = c.rpc(json!({"id": 1, "type": "policy_get"})).await;
    assert_eq!(result(&got)["default"]["max_age_s"], 600);
    assert_eq!(
        result(&got)["sites"]["example.org"]["max_bytes"],
        52_428_800
    );
    let (status, _) = c
        .call(
            "PUT",
            "/v1/policies",
            br#"{"site": "a.example.net", "policy": {"per_tab": true}}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    c.rpc(json!({"id": 2, "type": "policy_set", "site": "example.org", "policy": null}))
        .await;
    let file = env.config_home().join("persite/site-policies.toml");
    let text = std::fs::read_to_string(&file).expect("overrides file");
    assert!(text.contains("[policy.sites.\"example.net\"]"), "{text}");
    assert!(!text.contains("max_age"), "only the API's changes: {text}");
    drop(c);
    daemon.signal(rustix::process::Signal::TERM);
    assert!(daemon.wait_exit().success());

    let _daemon = env.start();
    let mut c = Client::connect(&env.socket()).await;
    let got = c.rpc(json!({"id": 3, "type": "policy_get"})).await;
    assert_eq!(
        result(&got),
        &json!({"default": {"max_age_s": 600, "max_bytes": null, "per_tab": false},
                "sites": {"example.net": {"max_age_s": null, "max_bytes": null, "per_tab": true}}})
    );
    let creds = credentials(&mut c, "https://example.org/", Some(4)).await;
    assert!(
        creds["expires_at"].is_u64(),
        "example.org follows the default again"
    );
}

#[test]
fn bad_policy_config_fails_with_the_key_named() {
    let env = Env::new();
    for (text, key) in [
        ("[policy]\nmax_age = \"8 days\"\n", "policy.max_age"),
        (
            "[policy.sites.\"example.com\"]\nmax_bytes = 3\n",
            "policy.sites.\"example.com\".max_bytes",
        ),
        (
            "[policy.sites.\"a/b\"]\nper_tab = true\n",
            "policy.sites.\"a/b\"",
        ),
    ] {
        env.write_config(&format!("{NO_TOR}{text}"));
        let mut daemon = env.spawn(&["serve"]);
        assert!(!daemon.wait_exit().success(), "{text}");
        let stderr = daemon.stderr();
        assert!(stderr.contains(key), "{text}: {stderr}");
    }
}
