//! The Public Suffix List project's own test vectors (`tests/test_psl.txt` upstream), read from
//! `broker/tests/data/psl-test-vectors.txt` at test time, all of which must pass against the
//! vendored list. That file is upstream's, taken from the same `publicsuffixlist` package as the
//! list (see its header for why not the team's reference copy).
//!
//! Mapping from `checkPublicSuffix(host, expected)` to Persite's site function:
//! - `expected` is a domain → our site is that domain. Unicode expectations are compared after
//!   converting to punycode (IDNA `domain_to_ascii`), since sites are always punycode.
//! - `expected` is `null` because the host is itself a public suffix or an unlisted TLD
//!   (`com`, `c.mm`, `example`) → our site is the host itself, lowercased and punycoded
//!   ("a bare public suffix is its own site").
//! - `expected` is `null` because the input is malformed (a `null` host, a leading dot) → we
//!   return a typed `invalid_url` error. A `null` host is passed as the empty string.

use std::sync::Arc;

use persite::{Isolator, Psl};

#[derive(Debug)]
struct Vector {
    line: usize,
    host: Option<String>,
    expected: Option<String>,
}

fn parse_argument(text: &str) -> Option<String> {
    let text = text.trim();
    if text == "null" {
        return None;
    }
    let unquoted = text
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .unwrap_or_else(|| panic!("unexpected argument {text:?}"));
    Some(unquoted.to_owned())
}

fn vectors() -> Vec<Vector> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/psl-test-vectors.txt"
    );
    let text = std::fs::read_to_string(path).expect("read the PSL test vectors");
    let mut vectors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let Some(call) = line.trim().strip_prefix("checkPublicSuffix(") else {
            continue;
        };
        let arguments = call.strip_suffix(");").expect("vector line ends with );");
        let (host, expected) = arguments.split_once(',').expect("two arguments");
        vectors.push(Vector {
            line: index + 1,
            host: parse_argument(host),
            expected: parse_argument(expected),
        });
    }
    vectors
}

fn to_ascii(domain: &str) -> String {
    url::Host::parse(domain)
        .map(|host| host.to_string())
        .unwrap_or_else(|error| panic!("{domain:?} is not a valid host: {error}"))
}

#[test]
fn all_psl_project_vectors_pass() {
    let isolator = Isolator::with_key([0; 32], Arc::new(Psl::vendored().expect("vendored list")));
    let vectors = vectors();
    assert!(vectors.len() == 78, "only {} vectors read", vectors.len());
    let mut failures = Vec::new();
    for vector in &vectors {
        let input = vector.host.clone().unwrap_or_default();
        let malformed = vector.host.is_none() || input.starts_with('.');
        let outcome = isolator.site_of(&input);
        let ok = match (&vector.expected, malformed, &outcome) {
            (_, true, Err(error)) => error.code() == "invalid_url",
            (Some(expected), false, Ok(site)) => site.as_str() == to_ascii(expected),
            (None, false, Ok(site)) => site.as_str() == to_ascii(&input),
            _ => false,
        };
        if !ok {
            failures.push(format!("line {}: {:?} → {outcome:?}", vector.line, vector));
        }
    }
    assert!(
        failures.is_empty(),
        "failing vectors:\n{}",
        failures.join("\n")
    );
}
