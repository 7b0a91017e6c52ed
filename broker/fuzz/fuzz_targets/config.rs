//! Arbitrary `config.toml` text (the user's file, also written by tools and packagers) into the
//! configuration parser, and its `[policy]` section on to site resolution with the vendored
//! Public Suffix List.
//!
//! Properties: parsing is deterministic; an error is an error (never a panic) with a non-empty
//! message; an accepted SOCKS port is never 0.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use persite::Psl;
use persite::config::Config;

fn psl() -> &'static Psl {
    static PSL: OnceLock<Psl> = OnceLock::new();
    PSL.get_or_init(|| Psl::vendored().expect("the vendored list parses"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("config.toml");
    match Config::parse(text, path) {
        Ok(config) => {
            assert_ne!(config.socks.port, 0);
            assert_eq!(Config::parse(text, path).ok(), Some(config.clone()));
            if let Err(e) = config.policy.resolve(psl(), "policy") {
                assert!(!e.to_string().is_empty());
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
