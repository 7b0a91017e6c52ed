//! Arbitrary `site-policies.toml` text (the API overrides file the daemon rewrites, which the
//! user may also edit) into its parser, with the vendored Public Suffix List.
//!
//! Properties: an error is an error with a non-empty message; an accepted file renders back to
//! text that parses to the same overrides (what the daemon writes, it can read).
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use persite::Psl;
use persite::policy::{parse_site_policies as parse, render_site_policies as render};

fn psl() -> &'static Psl {
    static PSL: OnceLock<Psl> = OnceLock::new();
    PSL.get_or_init(|| Psl::vendored().expect("the vendored list parses"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("site-policies.toml");
    match parse(text, path, psl()) {
        Ok(layer) => {
            let rendered = render(&layer);
            let again = parse(&rendered, path, psl())
                .unwrap_or_else(|e| panic!("rendered file does not parse: {e}\n{rendered}"));
            assert_eq!(again, layer, "render/parse changed the overrides");
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
