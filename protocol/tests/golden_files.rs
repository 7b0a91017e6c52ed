//! The committed fixtures (`protocol/fixtures/`) and the extension's constants module are
//! exactly what the Rust definitions produce; `PERSITE_BLESS=1` rewrites them.

use std::path::{Path, PathBuf};

use persite_protocol::{golden, limits};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the repository")
        .to_owned()
}

fn bless() -> bool {
    std::env::var_os("PERSITE_BLESS").is_some_and(|v| v == "1")
}

fn check(path: &Path, want: &str, stale: &mut Vec<String>) {
    if bless() {
        std::fs::write(path, want).expect("write the generated file");
        return;
    }
    match std::fs::read_to_string(path) {
        Ok(have) if have == want => {}
        _ => stale.push(
            path.strip_prefix(repo())
                .unwrap_or(path)
                .display()
                .to_string(),
        ),
    }
}

#[test]
fn generated_files_match_the_definitions() {
    let root = repo();
    let mut stale = Vec::new();
    let dir = root.join(golden::FIXTURES_DIR);
    for (name, value) in golden::files() {
        let text = serde_json::to_string_pretty(&value).expect("serialise") + "\n";
        check(&dir.join(name), &text, &mut stale);
    }
    // No fixture file that the definitions no longer write.
    let names = golden::files();
    for entry in std::fs::read_dir(&dir).expect("fixtures dir") {
        let name = entry.expect("entry").file_name();
        let name = name.to_string_lossy();
        if !names.contains_key(name.as_ref()) {
            stale.push(format!(
                "{}/{name} (not written by golden::files: delete it)",
                golden::FIXTURES_DIR
            ));
        }
    }
    check(
        &root.join(limits::JS_MODULE_PATH),
        &limits::js_module(),
        &mut stale,
    );
    assert!(
        stale.is_empty(),
        "out of date: {stale:?}; run `PERSITE_BLESS=1 cargo test -p persite-protocol` and commit"
    );
}

#[test]
fn every_result_fixture_reads_back_into_its_type() {
    for (name, file) in golden::files() {
        let Some(kind) = golden::kind_of(name) else {
            continue;
        };
        for result in file["results"].as_array().expect("results") {
            persite_protocol::check_result(kind, result)
                .unwrap_or_else(|e| panic!("{name}: {result}: {e}"));
        }
    }
    for push in golden::files()["pushes.json"]["pushes"]
        .as_array()
        .expect("pushes")
    {
        serde_json::from_value::<persite_protocol::Push>(push.clone())
            .unwrap_or_else(|e| panic!("{push}: {e}"));
    }
}
