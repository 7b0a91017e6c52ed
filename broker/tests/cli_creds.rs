//! `persite creds` run as a real binary.

use std::process::{Command, Output};

fn persite(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_persite"))
        .args(args)
        .output()
        .expect("run persite")
}

fn stdout_lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(output.stdout.clone())
        .expect("UTF-8 stdout")
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

#[test]
fn prints_one_json_object_per_url_in_order_with_one_key() {
    let output = persite(&[
        "creds",
        "https://www.example.co.uk/page",
        "about:blank",
        "https://alice.github.io/",
        "mail.example.co.uk",
    ]);
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    assert_eq!(lines.len(), 4);
    let sites: Vec<&str> = lines
        .iter()
        .map(|l| l["site"].as_str().expect("site"))
        .collect();
    assert_eq!(
        sites,
        [
            "example.co.uk",
            "--unknown--",
            "alice.github.io",
            "example.co.uk"
        ]
    );
    for line in &lines {
        let object = line.as_object().expect("object");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["container", "password", "site", "username"]);
        assert_eq!(line["container"], "firefox-default");
        for field in ["username", "password"] {
            let value = line[field].as_str().expect("string");
            assert!(!value.is_empty() && value.len() <= 255 && !value.starts_with('<'));
        }
    }
    // Same site, same run: same credentials; different sites: different usernames.
    assert_eq!(lines[0]["username"], lines[3]["username"]);
    assert_eq!(lines[0]["password"], lines[3]["password"]);
    assert_ne!(lines[0]["username"], lines[2]["username"]);
}

#[test]
fn each_run_has_a_fresh_key() {
    let first = stdout_lines(&persite(&["creds", "example.com"]));
    let second = stdout_lines(&persite(&["creds", "example.com"]));
    assert_eq!(first[0]["site"], second[0]["site"]);
    assert_ne!(first[0]["username"], second[0]["username"]);
}

#[test]
fn container_option_changes_credentials() {
    let output = persite(&[
        "creds",
        "--container",
        "firefox-container-3",
        "https://example.com/",
    ]);
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    assert_eq!(lines[0]["container"], "firefox-container-3");
}

#[test]
fn an_invalid_url_is_named_on_stderr_and_fails_without_stdout() {
    let output = persite(&[
        "creds",
        "https://example.com/",
        "http://exa mple.com",
        "https://.bad/",
    ]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "no partial output: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("http://exa mple.com"), "{stderr}");
    assert!(stderr.contains("https://.bad/"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn hostile_arguments_fail_cleanly() {
    // One argument may not exceed 128 KiB on Linux; 100 kB is still far beyond any host.
    let huge = format!("https://{}.com/", "a".repeat(100_000));
    for bad in [huge.as_str(), "", "https://xn--/", "http://[::1"] {
        let output = persite(&["creds", bad]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{:?}",
            &bad[..bad.len().min(40)]
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("not a valid URL") && !stderr.contains("panicked"),
            "{stderr}"
        );
        assert!(stderr.len() < 1000, "error output stays short");
    }
}

#[test]
fn an_invalid_container_is_a_usage_error() {
    let output = persite(&["creds", "--container", "firefox-container-0", "example.com"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("firefox-container-0"));
}

#[test]
fn missing_urls_is_a_usage_error() {
    let output = persite(&["creds"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

#[test]
fn help_is_available_everywhere() {
    for args in [
        &["--help"][..],
        &["creds", "--help"][..],
        &["help", "creds"][..],
    ] {
        let output = persite(args);
        assert!(output.status.success(), "{args:?}: {output:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("Usage:"), "{args:?}: {text}");
    }
    let creds_help = String::from_utf8_lossy(&persite(&["creds", "--help"]).stdout).into_owned();
    assert!(
        creds_help.contains("--container") && creds_help.contains("--unknown--"),
        "{creds_help}"
    );
}
