//! Real-world first-party cases, hostile input, and which Public Suffix List copy wins.

use std::sync::Arc;
use std::time::{Duration, Instant};

use persite::isolation::{SYSTEM_PSL_PATH, choose_source, version_header_date};
use persite::{Isolator, Psl, PslSource};

fn isolator() -> Isolator {
    Isolator::with_key([1; 32], Arc::new(Psl::vendored().expect("vendored list")))
}

#[test]
fn real_world_sites() {
    let isolator = isolator();
    let cases: &[(&str, &str)] = &[
        // Plain and multi-level public suffixes.
        ("https://www.example.com/path?q=1#f", "example.com"),
        ("https://example.com", "example.com"),
        ("https://www.bbc.co.uk/news", "bbc.co.uk"),
        ("https://a.b.c.example.co.uk/", "example.co.uk"),
        ("https://co.uk/", "co.uk"),
        ("com", "com"),
        // Wildcard with exception: *.kawasaki.jp and !city.kawasaki.jp.
        ("https://www.foo.kawasaki.jp/", "www.foo.kawasaki.jp"),
        ("https://a.www.foo.kawasaki.jp/", "www.foo.kawasaki.jp"),
        ("https://foo.kawasaki.jp/", "foo.kawasaki.jp"),
        ("https://city.kawasaki.jp/", "city.kawasaki.jp"),
        ("https://www.city.kawasaki.jp/", "city.kawasaki.jp"),
        ("https://kawasaki.jp/", "kawasaki.jp"),
        // Nested wildcards in the private section: *.futurecms.at and *.ex.futurecms.at.
        ("https://futurecms.at/", "futurecms.at"),
        ("https://ex.futurecms.at/", "ex.futurecms.at"),
        ("https://a.ex.futurecms.at/", "a.ex.futurecms.at"),
        ("https://b.a.ex.futurecms.at/", "b.a.ex.futurecms.at"),
        ("https://c.b.a.ex.futurecms.at/", "b.a.ex.futurecms.at"),
        // Private-section suffixes separate their tenants.
        ("https://alice.github.io/blog", "alice.github.io"),
        ("https://bob.github.io/", "bob.github.io"),
        ("https://www.alice.github.io/", "alice.github.io"),
        ("https://github.io/", "github.io"),
        ("https://github.com/", "github.com"),
        // IDN: Unicode and punycode of the same name are the same site.
        ("https://www.bücher.de/", "xn--bcher-kva.de"),
        ("https://www.xn--bcher-kva.de/", "xn--bcher-kva.de"),
        ("https://WWW.BÜCHER.DE/", "xn--bcher-kva.de"),
        ("https://食狮.公司.cn/", "xn--85x722f.xn--55qx5d.cn"),
        (
            "https://www.xn--85x722f.xn--55qx5d.cn/",
            "xn--85x722f.xn--55qx5d.cn",
        ),
        ("https://shishi.公司.cn/", "shishi.xn--55qx5d.cn"),
        ("https://公司.cn/", "xn--55qx5d.cn"),
        // IP literals are their own site.
        ("http://192.0.2.1:8080/x", "192.0.2.1"),
        ("192.0.2.1", "192.0.2.1"),
        ("http://0x7f.1/", "127.0.0.1"),
        ("http://[2001:DB8::1]/", "[2001:db8::1]"),
        ("http://[2001:db8:0:0:0:0:0:1]:8443/", "[2001:db8::1]"),
        ("[2001:db8::1]", "[2001:db8::1]"),
        ("[2001:db8::1]:80", "[2001:db8::1]"),
        ("2001:db8::1", "[2001:db8::1]"),
        ("http://[fe80::1%25eth0]/", "[fe80::1]"),
        ("http://[fe80::1%eth0]:80/", "[fe80::1]"),
        ("fe80::1%eth0", "[fe80::1]"),
        ("::1", "[::1]"),
        ("http://[::ffff:192.0.2.1]/", "[::ffff:c000:201]"),
        // Onion services: subdomains collapse onto the onion address.
        (
            "http://www.duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion/",
            "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion",
        ),
        ("http://x.y.onion/", "y.onion"),
        ("http://onion/", "onion"),
        // Hosts without a registrable domain are their own site.
        ("http://localhost:3000/", "localhost"),
        ("localhost", "localhost"),
        ("localhost:8080", "localhost"),
        ("http://intranet/", "intranet"),
        ("http://a.b.unlisted-tld/", "b.unlisted-tld"),
        // Trailing dot, case, port, user info.
        ("https://www.example.com./", "example.com"),
        ("example.com.", "example.com"),
        ("HTTPS://WWW.EXAMPLE.COM/", "example.com"),
        ("https://www.example.com:8443/", "example.com"),
        ("https://user:secret@www.example.com/", "example.com"),
        ("https://a@b@www.example.com/", "example.com"),
        ("user:pw@www.example.com", "example.com"),
        ("www.example.com:8080", "example.com"),
        ("www.example.com/path", "example.com"),
        ("wss://chat.example.org/socket", "example.org"),
        ("ftp://ftp.example.net/", "example.net"),
        ("http:www.example.com", "example.com"),
        ("https:\\\\www.example.com\\x", "example.com"),
        ("  https://www.example.com/  ", "example.com"),
        ("https://www.example.com?q", "example.com"),
        ("https://www.example.com#f", "example.com"),
        ("https://ex%61mple.com/", "example.com"),
        // blob: and view-source: use the wrapped URL's site.
        (
            "blob:https://www.example.co.uk/2b9a4c1e-0000-4000-8000-000000000000",
            "example.co.uk",
        ),
        (
            "blob:null/2b9a4c1e-0000-4000-8000-000000000000",
            "--unknown--",
        ),
        ("blob:moz-extension://uuid/x", "--unknown--"),
        ("blob:blob:https://example.com/x", "--unknown--"),
        ("view-source:https://www.example.com/", "example.com"),
        // Non-network schemes select the catch-all.
        ("about:blank", "--unknown--"),
        ("about:newtab", "--unknown--"),
        (
            "moz-extension://0b9d3e3a-0000-4000-8000-000000000000/popup.html",
            "--unknown--",
        ),
        ("file:///home/user/page.html", "--unknown--"),
        ("data:text/html,<p>hi</p>", "--unknown--"),
        ("javascript:alert(1)", "--unknown--"),
        ("chrome://browser/content/browser.xhtml", "--unknown--"),
        ("resource://gre/modules/x.sys.mjs", "--unknown--"),
        ("mailto:someone@example.com", "--unknown--"),
        ("tel:911", "--unknown--"),
        ("web+custom:anything", "--unknown--"),
        ("gopher://example.com/", "--unknown--"),
    ];
    let mut failures = Vec::new();
    for (input, expected) in cases {
        match isolator.site_of(input) {
            Ok(site) if site.as_str() == *expected => {}
            other => failures.push(format!("{input:?}: expected {expected:?}, got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn invalid_and_hostile_inputs_error_cleanly_and_fast() {
    let isolator = isolator();
    let megabyte_host = format!("https://{}.com/", "a".repeat(1_000_000));
    let too_long = format!(
        "https://example.com/{}",
        "a".repeat(persite::isolation::MAX_URL_LEN)
    );
    let long_label = format!("https://{}.com/", "a".repeat(300));
    let long_host = format!("https://{}com/", "abcdefghi.".repeat(30));
    let cases: Vec<&str> = vec![
        "",
        "   ",
        "\0",
        "https://exa\0mple.com/",
        "exa\0mple.com",
        "https://example.com\u{0}/",
        "https://exa\tmple.com/",
        "https://exa mple.com/",
        "http://",
        "http:///",
        "https://:443/",
        "https://user@/",
        "https://.example.com/",
        ".example.com",
        ".com",
        "https://a..b.com/",
        "https://xn--/",
        "https://xn--a.com/",
        "https://xn--zz-.com/",
        "https://[::1/",
        "https://[::g]/",
        "https://[]/",
        "http://999.999.999.999/",
        "https://example.com:99999/",
        "https://example.com:port/",
        "www.example.com:abc",
        "https://exa<mple.com/",
        "blob:https://exa mple.com/x",
        "view-source:http://",
        "http://--unknown--/",
        "http://--UNKNOWN--./",
        "--unknown--:80",
        &megabyte_host,
        &too_long,
        &long_label,
        &long_host,
    ];
    for input in cases {
        let started = Instant::now();
        let outcome = isolator.site_of(input);
        let elapsed = started.elapsed();
        let shown: String = input.chars().take(60).collect();
        match outcome {
            Err(error) => {
                assert_eq!(error.code(), "invalid_url", "{shown:?}: {error}");
                assert!(error.to_string().len() < 400, "{shown:?}: message too long");
            }
            Ok(site) => panic!("{shown:?} should be refused, got {site:?}"),
        }
        // Generous bound against pathological slowness (a catastrophic parse takes seconds);
        // performance itself is measured by the benchmark.
        assert!(
            elapsed < Duration::from_secs(1),
            "{shown:?} took {elapsed:?}"
        );
    }
}

#[test]
fn a_long_path_is_fine() {
    let isolator = isolator();
    let url = format!("https://www.example.com/{}", "p".repeat(1_000_000));
    assert_eq!(
        isolator.site_of(&url).expect("long path").as_str(),
        "example.com"
    );
    let data = format!("data:text/plain,{}", "x".repeat(1_000_000));
    assert!(
        isolator
            .site_of(&data)
            .expect("long data: URL")
            .is_catch_all()
    );
}

#[test]
fn site_fields_parse_to_sites() {
    let isolator = isolator();
    for (input, expected) in [
        ("--unknown--", "--unknown--"),
        ("example.co.uk", "example.co.uk"),
        ("www.example.co.uk", "example.co.uk"),
        ("EXAMPLE.COM", "example.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("[2001:db8::1]", "[2001:db8::1]"),
        ("2001:db8::1", "[2001:db8::1]"),
        ("192.0.2.1", "192.0.2.1"),
        ("localhost", "localhost"),
    ] {
        let site = isolator
            .parse_site(input)
            .unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(site.as_str(), expected, "{input:?}");
    }
    for input in [
        "",
        "https://example.com/",
        "about:blank",
        "example.com:443",
        "example.com/path",
        "user@example.com",
        "[::1]:80",
        ".example.com",
        "--UNKNOWN--",
        "exa mple.com",
    ] {
        let error = isolator.parse_site(input).expect_err(input);
        assert_eq!(error.code(), "invalid_field", "{input:?}");
    }
}

#[test]
fn site_is_displayed_and_serialized_as_a_plain_string() {
    let site = isolator()
        .site_of("https://www.example.co.uk/")
        .expect("site");
    assert_eq!(site.to_string(), "example.co.uk");
    assert_eq!(
        serde_json::to_string(&site).expect("json"),
        "\"example.co.uk\""
    );
    let container = persite::Container::parse("firefox-container-3").expect("container");
    assert_eq!(
        serde_json::to_string(&container).expect("json"),
        "\"firefox-container-3\""
    );
}

// ---- Which copy of the Public Suffix List wins ----

const VENDORED_DATE: i64 = 1_792_658_201; // 2026-10-22_08-36-41_UTC

#[test]
fn newer_system_list_wins_older_or_undated_loses() {
    assert_eq!(
        choose_source(Some(VENDORED_DATE), Some(VENDORED_DATE + 1)),
        PslSource::System
    );
    assert_eq!(
        choose_source(Some(VENDORED_DATE), Some(VENDORED_DATE)),
        PslSource::Vendored
    );
    assert_eq!(
        choose_source(Some(VENDORED_DATE), Some(VENDORED_DATE - 1)),
        PslSource::Vendored
    );
    assert_eq!(
        choose_source(Some(VENDORED_DATE), None),
        PslSource::Vendored
    );
    assert_eq!(choose_source(None, None), PslSource::Vendored);
    assert_eq!(choose_source(None, Some(0)), PslSource::System);
}

#[test]
fn version_headers_are_read() {
    let header =
        "// This Source Code Form…\n\n// VERSION: 2026-10-22_08-36-41_UTC\n// COMMIT: 84\n";
    assert_eq!(version_header_date(header), Some(VENDORED_DATE));
    assert_eq!(version_header_date("// no header here\ncom\n"), None);
    assert_eq!(version_header_date("// VERSION: yesterday\n"), None);
    let vendored = Psl::vendored().expect("vendored list");
    assert_eq!(vendored.date(), Some(VENDORED_DATE));
    assert_eq!(vendored.source(), PslSource::Vendored);
}

fn list_with_version(version: &str, extra_rule: &str) -> String {
    format!(
        "// VERSION: {version}\n// ===BEGIN ICANN DOMAINS===\ncom\nuk\nco.uk\n{extra_rule}\n\
         // ===END ICANN DOMAINS===\n// ===BEGIN PRIVATE DOMAINS===\ngithub.io\n"
    )
}

#[test]
fn load_prefers_a_newer_system_list_and_ignores_older_or_broken_ones() {
    let dir = std::env::temp_dir().join(format!("persite-psl-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("public_suffix_list.dat");

    // Newer, with a rule the vendored list lacks: it is used.
    std::fs::write(
        &path,
        list_with_version("2099-01-01_00-00-00_UTC", "newsuffix.com"),
    )
    .expect("write");
    let psl = Psl::load_preferring(&path).expect("load");
    assert_eq!(psl.source(), PslSource::System);
    assert_eq!(
        psl.registrable_domain("a.b.newsuffix.com"),
        Some("b.newsuffix.com")
    );

    // Older: the vendored list wins.
    std::fs::write(
        &path,
        list_with_version("2020-01-01_00-00-00_UTC", "newsuffix.com"),
    )
    .expect("write");
    let psl = Psl::load_preferring(&path).expect("load");
    assert_eq!(psl.source(), PslSource::Vendored);
    assert_eq!(
        psl.registrable_domain("a.b.newsuffix.com"),
        Some("newsuffix.com")
    );

    // Newer but unparsable: the vendored list wins and loading still succeeds.
    std::fs::write(
        &path,
        "// VERSION: 2099-01-01_00-00-00_UTC\ncom\na.*.broken\n",
    )
    .expect("write");
    assert_eq!(
        Psl::load_preferring(&path).expect("load").source(),
        PslSource::Vendored
    );

    // Missing: the vendored list.
    std::fs::remove_file(&path).expect("remove");
    assert_eq!(
        Psl::load_preferring(&path).expect("load").source(),
        PslSource::Vendored
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn on_this_machine_the_2023_debian_list_loses_to_the_vendored_one() {
    // Debian's list has no VERSION header; its mtime (the package's snapshot date) is used.
    if std::path::Path::new(SYSTEM_PSL_PATH).exists() {
        let psl = Psl::load().expect("load");
        assert_eq!(psl.source(), PslSource::Vendored, "{psl:?}");
    }
}
