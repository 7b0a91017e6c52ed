//! Golden JSON fixtures: one file per message kind under `protocol/fixtures/`, written from the
//! types of [`crate::message`] and [`crate::error`].
//!
//! Each request kind's file (`hello.json`, `credentials.json`, …) holds
//! `{"requests": [...], "invalid_requests": [{"request", "code"}], "results": [...],
//! "invalid_results": [{"result", "why"}]}`; `pushes.json` holds `{"pushes": [...],
//! "unknown_pushes": [...]}`; `errors.json` holds one error reply per code. The broker's tests
//! parse every request and check its answers against the same types; the extension's
//! `node --test` suite (`extension/test/protocol-fixtures.test.mjs`) runs its builders and
//! parsers over the same files. A test here fails when a file differs from [`files`];
//! `PERSITE_BLESS=1 cargo test -p persite-protocol` rewrites them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::{ErrorBody, ErrorCode};
use crate::limits::{CATCH_ALL_SITE, MAX_CREDENTIAL_BYTES, PROTOCOL_VERSION};
use crate::message::*;

/// Where the fixtures live, relative to the repository.
pub const FIXTURES_DIR: &str = "protocol/fixtures";

const SESSION: &str = "q1w2e3r4t5y6u7i8o9p0aa";
const USERNAME: &str = "ps1-4T5eL0f9yJx2mB7hN3kQ8rW1vC6zA0sD9gF2hJ4kL7p";
const PASSWORD: &str = "Zb8xN2mQ4vR6tY1uI3oP5aS7dF9gH0jK2lW4eE6rT8yU0iO";
const FINGERPRINTS: [&str; 3] = [
    "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344",
    "0F1E2D3C4B5A69788796A5B4C3D2E1F000112233",
    "FFEEDDCCBBAA99887766554433221100AABBCCDD",
];

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn socks() -> SocksEndpoint {
    SocksEndpoint {
        host: "127.0.0.1".into(),
        port: 9050,
    }
}

fn hop(role: HopRole, i: usize, country: Option<&str>) -> Hop {
    Hop {
        role,
        fingerprint: FINGERPRINTS[i].into(),
        nickname: Some(format!("relay{i}")),
        ip: Some(format!("203.0.113.{}", i + 5)),
        ipv6: None,
        country: country.map(str::to_owned),
        bridge_type: None,
    }
}

fn path(id: &str, conflux: Option<&str>) -> CircuitPath {
    CircuitPath {
        id: id.into(),
        conflux_id: conflux.map(str::to_owned),
        hops: vec![
            hop(HopRole::Guard, 0, Some("de")),
            hop(HopRole::Middle, 1, None),
            hop(HopRole::Exit, 2, Some("nl")),
        ],
    }
}

fn circuit_result() -> CircuitResult {
    CircuitResult {
        site: "example.com".into(),
        container: "firefox-default".into(),
        tab: None,
        available: true,
        reason: None,
        onion: false,
        circuits: vec![path("42", None)],
        bytes: Some(ByteCounts {
            read: 123_456,
            written: 7_890,
        }),
    }
}

fn tor_status() -> TorStatus {
    TorStatus {
        control: ControlState::Connected,
        managed: false,
        version: Some("0.4.9.11".into()),
        bootstrap: Some(Bootstrap {
            progress: 100,
            summary: Some("Done".into()),
        }),
        socks_listeners: Some(vec!["127.0.0.1:9050".into()]),
        error: None,
        socks_vouched: true,
        socks_problem: None,
    }
}

fn keep_alive() -> Policy {
    Policy {
        max_age_s: None,
        max_bytes: None,
        per_tab: false,
    }
}

fn invalid(request: Value, code: ErrorCode) -> Value {
    json!({"request": request, "code": code})
}

fn bad_result(result: Value, why: &str) -> Value {
    json!({"result": result, "why": why})
}

fn kind_file(requests: Vec<Value>, invalid_requests: Vec<Value>, results: Vec<Value>) -> Value {
    kind_file_with(requests, invalid_requests, results, Vec::new())
}

fn kind_file_with(
    requests: Vec<Value>,
    invalid_requests: Vec<Value>,
    results: Vec<Value>,
    invalid_results: Vec<Value>,
) -> Value {
    json!({
        "requests": requests,
        "invalid_requests": invalid_requests,
        "results": results,
        "invalid_results": invalid_results,
    })
}

fn credentials(site: &str, container: &str, expires_at: Option<u64>, per_tab: bool) -> Value {
    to_value(&CredentialsResult {
        site: site.into(),
        container: container.into(),
        username: USERNAME.into(),
        password: PASSWORD.into(),
        expires_at,
        per_tab,
    })
}

/// Every fixture file: its name under [`FIXTURES_DIR`] and its contents.
pub fn files() -> BTreeMap<&'static str, Value> {
    let mut files = BTreeMap::new();
    let hello = HelloResult {
        protocol: PROTOCOL_VERSION,
        broker_version: "0.1.0".into(),
        instance: "Qm9rZXJJbnN0YW5jZQ".into(),
        socks: socks(),
    };
    let mut bad_port = to_value(&hello);
    bad_port["socks"]["port"] = json!(0);
    let mut other_protocol = to_value(&hello);
    other_protocol["protocol"] = json!(2);
    files.insert(
        "hello.json",
        kind_file_with(
            vec![
                json!({"id": 1, "type": "hello", "protocol": 1}),
                json!({"id": 2, "type": "hello", "protocol": 1, "tabs_reset": true}),
            ],
            vec![
                invalid(json!({"id": 3, "type": "hello"}), ErrorCode::MissingField),
                invalid(
                    json!({"id": 4, "type": "hello", "protocol": 2}),
                    ErrorCode::UnsupportedProtocol,
                ),
                invalid(
                    json!({"id": 5, "type": "hello", "protocol": 1, "tabs_reset": "yes"}),
                    ErrorCode::InvalidField,
                ),
            ],
            vec![to_value(&hello)],
            vec![
                bad_result(bad_port, "SOCKS port 0"),
                bad_result(other_protocol, "another protocol version"),
            ],
        ),
    );
    let long = "x".repeat(MAX_CREDENTIAL_BYTES + 1);
    let mut too_long = credentials("example.com", "firefox-default", None, false);
    too_long["password"] = json!(long);
    let mut empty = credentials("example.com", "firefox-default", None, false);
    empty["username"] = json!("");
    let mut angle = credentials("example.com", "firefox-default", None, false);
    angle["username"] = json!("<script>");
    files.insert(
        "credentials.json",
        kind_file_with(
            vec![
                json!({"id": 7, "type": "credentials", "url": "https://www.example.co.uk/page",
                       "container": "firefox-default"}),
                json!({"id": 8, "type": "credentials", "url": "https://example.com/",
                       "container": "firefox-container-3", "tab": 12, "session": SESSION}),
                json!({"id": 9, "type": "credentials", "url": "about:blank"}),
            ],
            vec![
                invalid(
                    json!({"id": 10, "type": "credentials"}),
                    ErrorCode::MissingField,
                ),
                invalid(
                    json!({"id": 11, "type": "credentials", "url": "http://exa mple.com"}),
                    ErrorCode::InvalidUrl,
                ),
                invalid(
                    json!({"id": 12, "type": "credentials", "url": "https://example.com/",
                           "container": "not a container"}),
                    ErrorCode::InvalidContainer,
                ),
                invalid(
                    json!({"id": 13, "type": "credentials", "url": "https://example.com/",
                           "session": "example.com"}),
                    ErrorCode::InvalidField,
                ),
                invalid(
                    json!({"id": 14, "type": "credentials", "url": 42}),
                    ErrorCode::InvalidField,
                ),
            ],
            vec![
                credentials("example.co.uk", "firefox-default", None, false),
                credentials(
                    "example.com",
                    "firefox-container-3",
                    Some(1_765_000_000_000),
                    true,
                ),
                credentials(
                    CATCH_ALL_SITE,
                    "firefox-default",
                    Some(1_765_000_600_000),
                    false,
                ),
            ],
            vec![
                bad_result(too_long, "a password above 255 bytes"),
                bad_result(empty, "an empty username"),
                bad_result(angle, "a username starting with <"),
            ],
        ),
    );
    files.insert(
        "new_circuit.json",
        kind_file(
            vec![
                json!({"id": 20, "type": "new_circuit", "site": "example.com"}),
                json!({"id": 21, "type": "new_circuit", "url": "https://www.example.com/a"}),
            ],
            vec![invalid(
                json!({"id": 22, "type": "new_circuit"}),
                ErrorCode::MissingField,
            )],
            vec![to_value(&NewCircuitResult {
                site: "example.com".into(),
            })],
        ),
    );
    files.insert(
        "new_identity.json",
        kind_file(
            vec![json!({"id": 30, "type": "new_identity"})],
            Vec::new(),
            vec![
                to_value(&NewIdentityResult {
                    epoch: 2,
                    newnym: Newnym::Sent,
                    newnym_delay_s: None,
                }),
                to_value(&NewIdentityResult {
                    epoch: 3,
                    newnym: Newnym::Delayed,
                    newnym_delay_s: Some(7),
                }),
                to_value(&NewIdentityResult {
                    epoch: 4,
                    newnym: Newnym::Unavailable,
                    newnym_delay_s: None,
                }),
            ],
        ),
    );
    files.insert(
        "status.json",
        kind_file(
            vec![json!({"id": 40, "type": "status"})],
            Vec::new(),
            vec![to_value(&StatusResult {
                broker_version: "0.1.0".into(),
                instance: "Qm9rZXJJbnN0YW5jZQ".into(),
                uptime_s: 3600,
                sites: 12,
                epoch: 0,
                socks: socks(),
                tor: tor_status(),
                front: Some("127.0.0.1:9250".into()),
                apps: vec![AppStatus {
                    name: "git".into(),
                    sites: 2,
                    circuits: 2,
                }],
            })],
        ),
    );
    let mut sites = BTreeMap::new();
    sites.insert(
        "example.com".to_owned(),
        Policy {
            max_age_s: Some(600),
            max_bytes: None,
            per_tab: true,
        },
    );
    let policies = to_value(&Policies {
        default: keep_alive(),
        sites,
    });
    files.insert(
        "policy_get.json",
        kind_file(
            vec![json!({"id": 50, "type": "policy_get"})],
            Vec::new(),
            vec![policies.clone()],
        ),
    );
    files.insert(
        "policy_set.json",
        kind_file(
            vec![
                json!({"id": 51, "type": "policy_set", "site": "example.com",
                       "policy": {"max_age_s": 600, "max_bytes": null, "per_tab": true}}),
                json!({"id": 52, "type": "policy_set",
                       "policy": {"max_age_s": null, "max_bytes": 52_428_800, "per_tab": false}}),
                json!({"id": 53, "type": "policy_set", "site": "example.com", "policy": null}),
            ],
            vec![
                invalid(
                    json!({"id": 54, "type": "policy_set",
                           "policy": {"max_age_s": 0, "max_bytes": null, "per_tab": false}}),
                    ErrorCode::InvalidField,
                ),
                invalid(
                    json!({"id": 55, "type": "policy_set",
                           "policy": {"max_age_s": null, "max_bytes": 1023, "per_tab": false}}),
                    ErrorCode::InvalidField,
                ),
                invalid(
                    json!({"id": 56, "type": "policy_set", "policy": {"ttl": 5}}),
                    ErrorCode::InvalidField,
                ),
            ],
            vec![policies],
        ),
    );
    let mut conflux = circuit_result();
    conflux.circuits = vec![path("42", Some("C0FFEE")), path("43", Some("C0FFEE"))];
    let mut per_tab = circuit_result();
    per_tab.tab = Some(12);
    let unavailable = CircuitResult {
        site: CATCH_ALL_SITE.into(),
        container: "firefox-default".into(),
        tab: None,
        available: false,
        reason: Some(UnavailableReason::NoNetworkFirstParty),
        onion: false,
        circuits: Vec::new(),
        bytes: None,
    };
    let mut bad_fingerprint = to_value(&circuit_result());
    bad_fingerprint["circuits"][0]["hops"][0]["fingerprint"] = json!("not hex");
    files.insert(
        "circuit.json",
        kind_file_with(
            vec![
                json!({"id": 60, "type": "circuit", "site": "example.com"}),
                json!({"id": 61, "type": "circuit", "url": "https://www.example.com/",
                       "container": "firefox-container-3", "tab": 12}),
            ],
            vec![invalid(
                json!({"id": 62, "type": "circuit", "container": "firefox-default"}),
                ErrorCode::MissingField,
            )],
            vec![
                to_value(&circuit_result()),
                to_value(&conflux),
                to_value(&per_tab),
                to_value(&unavailable),
            ],
            vec![bad_result(
                bad_fingerprint,
                "a fingerprint that is not 40 hex digits",
            )],
        ),
    );
    files.insert(
        "app_credentials.json",
        kind_file(
            vec![
                json!({"id": 70, "type": "app_credentials", "app": "git"}),
                json!({"id": 71, "type": "app_credentials", "app": "git",
                       "site": "mirror.example.org"}),
            ],
            vec![invalid(
                json!({"id": 72, "type": "app_credentials"}),
                ErrorCode::MissingField,
            )],
            vec![to_value(&AppCredentialsResult {
                app: "git".into(),
                site: "example.org".into(),
                container: "app:git".into(),
                username: USERNAME.into(),
                password: PASSWORD.into(),
                socks: socks(),
                front: None,
            })],
        ),
    );
    files.insert(
        "tab_closed.json",
        kind_file(
            vec![
                json!({"id": 80, "type": "tab_closed", "tab": 12}),
                json!({"id": 81, "type": "tab_closed", "tab": 12, "session": SESSION}),
            ],
            vec![invalid(
                json!({"id": 82, "type": "tab_closed"}),
                ErrorCode::MissingField,
            )],
            vec![to_value(&TabClosedResult { sites: 1 })],
        ),
    );
    files.insert(
        "session_ended.json",
        kind_file(
            vec![json!({"id": 90, "type": "session_ended", "session": SESSION})],
            vec![
                invalid(
                    json!({"id": 91, "type": "session_ended"}),
                    ErrorCode::MissingField,
                ),
                invalid(
                    json!({"id": 92, "type": "session_ended", "session": "short"}),
                    ErrorCode::InvalidField,
                ),
            ],
            vec![to_value(&SessionEndedResult { sets: 3 })],
        ),
    );
    files.insert(
        "requests.json",
        json!({
            "invalid_requests": [
                invalid(json!({"type": "status"}), ErrorCode::MissingField),
                invalid(json!({"id": 100}), ErrorCode::MissingField),
                invalid(json!({"id": 101, "type": "fly"}), ErrorCode::UnknownType),
                invalid(json!({"id": "1", "type": "status"}), ErrorCode::InvalidField),
                invalid(json!({"id": 1.5, "type": "status"}), ErrorCode::InvalidField),
                invalid(json!([1, 2]), ErrorCode::InvalidJson),
            ],
        }),
    );
    let pushes = [
        Push::Invalidate(Invalidate::Sites {
            sites: vec!["example.co.uk".into()],
            reason: InvalidateReason::NewCircuit,
        }),
        Push::Invalidate(Invalidate::All {
            all: True,
            reason: InvalidateReason::NewIdentity,
        }),
        Push::Invalidate(Invalidate::All {
            all: True,
            reason: InvalidateReason::EventsLost,
        }),
        Push::Invalidate(Invalidate::Sites {
            sites: vec!["example.com".into(), CATCH_ALL_SITE.into()],
            reason: InvalidateReason::Rotation,
        }),
        Push::BrokerConnected {
            instance: "Qm9rZXJJbnN0YW5jZQ".into(),
        },
        Push::BrokerDisconnected,
        Push::Circuit(circuit_result()),
        Push::TorStatus(tor_status()),
    ];
    files.insert(
        "pushes.json",
        json!({
            "pushes": pushes.iter().map(to_value).collect::<Vec<_>>(),
            "unknown_pushes": [{"type": "from_the_future", "x": 1}],
        }),
    );
    let replies: Vec<Value> = ErrorCode::ALL
        .iter()
        .enumerate()
        .map(|(i, code)| {
            let id = if matches!(code, ErrorCode::InvalidJson | ErrorCode::FrameTooLarge) {
                None
            } else {
                Some(serde_json::Number::from(i))
            };
            to_value(&Reply::err(
                id,
                ErrorBody::new(*code, format!("what went wrong ({code}) and what to do")),
            ))
        })
        .collect();
    files.insert("errors.json", json!({"replies": replies}));
    files
}

/// The request kind a fixture file describes (`None` for `pushes.json`, `errors.json`,
/// `requests.json`).
pub fn kind_of(file: &str) -> Option<RequestType> {
    RequestType::from_wire(file.strip_suffix(".json")?)
}
