//! The shipped `docs/firefox/user.js` and `policies.json` must be exactly what
//! `persite firefox-config` renders from the hardening table, so they cannot drift apart.

use std::path::Path;
use std::process::Command;

fn rendered(kind: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_persite"))
        .args(["firefox-config", kind])
        .output()
        .expect("run persite firefox-config");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn shipped(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/firefox")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn shipped_user_js_matches_the_table() {
    assert_eq!(
        shipped("user.js"),
        rendered("user-js"),
        "docs/firefox/user.js is stale: regenerate it with `persite firefox-config user-js`"
    );
}

#[test]
fn shipped_policies_json_matches_the_table() {
    assert_eq!(
        shipped("policies.json"),
        rendered("policies"),
        "docs/firefox/policies.json is stale: regenerate it with `persite firefox-config policies`"
    );
}

#[test]
fn a_hostname_socks_endpoint_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_persite"))
        .args(["firefox-config", "user-js", "--socks", "tor.example:9050"])
        .output()
        .expect("run persite");
    assert!(!out.status.success());
    // The same rule and words as config.toml's [socks] (config.rs `SocksEndpoint::parse`).
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("it must be an IP address") && stderr.contains("localhost"),
        "{stderr}"
    );
}
