//! Every JSON example in `docs/protocol.md` read by the broker: requests by its request parser,
//! replies, pushes, circuit results, tor statuses and policies by the protocol's types (strict,
//! so a field the document adds, drops or mistypes fails here). The extension's suite reads the
//! same examples with its parsers (`extension/test/protocol-fixtures.test.mjs`).

use std::collections::HashMap;
use std::path::Path;

use persite::daemon::parse_rpc;
use persite_protocol::{CircuitResult, Policies, Policy, Push, Reply, RequestType, TorStatus};
use serde_json::Value;

/// The values of the document's ```json blocks: a block is one value, or one per line.
fn examples() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol.md");
    let text = std::fs::read_to_string(path).expect("docs/protocol.md");
    let mut out = Vec::new();
    for block in text.split("```json\n").skip(1) {
        let body = block.split("```").next().unwrap_or_default();
        match serde_json::from_str::<Value>(body) {
            Ok(v) => out.push(v),
            Err(_) => {
                for line in body.lines().filter(|l| !l.trim().is_empty()) {
                    out.push(
                        serde_json::from_str(line)
                            .unwrap_or_else(|e| panic!("not JSON: {line}: {e}")),
                    );
                }
            }
        }
    }
    out
}

fn read<T: serde::de::DeserializeOwned>(example: &Value) {
    serde_json::from_value::<T>(example.clone()).unwrap_or_else(|e| panic!("{example}: {e}"));
}

#[test]
fn every_example_in_the_protocol_doc_reads_as_its_message() {
    let examples = examples();
    assert!(examples.len() >= 8, "{} examples", examples.len());
    let mut kinds: HashMap<String, RequestType> = HashMap::new();
    for example in &examples {
        let has = |k: &str| example.get(k).is_some();
        if has("id") && has("type") {
            let (id, parsed) = parse_rpc(example.to_string().as_bytes());
            parsed.unwrap_or_else(|e| panic!("{example}: {e:?}"));
            let kind = RequestType::from_wire(example["type"].as_str().expect("type"))
                .expect("known type");
            kinds.insert(id.expect("id").to_string(), kind);
        } else if has("id") {
            let reply: Reply = serde_json::from_value(example.clone())
                .unwrap_or_else(|e| panic!("{example}: {e}"));
            assert!(reply.is_well_formed(), "{example}");
            if let Some(result) = &reply.result {
                let id = reply.id.as_ref().expect("a result has an id").to_string();
                let kind = kinds
                    .get(&id)
                    .unwrap_or_else(|| panic!("no request with id {id} before {example}"));
                persite_protocol::check_result(*kind, result)
                    .unwrap_or_else(|e| panic!("{example}: {e}"));
            }
        } else if has("type") {
            read::<Push>(example);
        } else if has("circuits") {
            read::<CircuitResult>(example);
        } else if has("control") {
            read::<TorStatus>(example);
        } else if has("default") {
            read::<Policies>(example);
        } else if has("per_tab") {
            read::<Policy>(example);
        } else {
            panic!("an example of no known shape: {example}");
        }
    }
}
