//! `persite browser` refuses, with what to do, before it starts anything: a release Firefox
//! (which runs only Mozilla-signed add-ons), and a missing tor when Persite's own tor (public
//! network) was not asked for. With `--managed-tor` the same home does start Persite's own tor,
//! so the refusal is the launcher's decision, not an accident of the set-up.
//!
//! No network, no real browser: a stand-in browser folder (a script plus the
//! `defaults/pref/channel-prefs.js` Firefox ships next to its binary) and a stand-in tor (a
//! script that records its start and exits). Run: `cargo test -p persite-tests --test
//! launcher_refusals`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::ensure;
use persite_tests::binaries;
use persite_tests::launcher::LauncherHome;

/// Bound on one refused run (it starts nothing, so it ends quickly).
const RUN_BOUND: Duration = Duration::from_secs(30);
/// Bound on the stand-in tor being started when it is allowed.
const TOR_START_WAIT: Duration = Duration::from_secs(20);

/// A stand-in browser folder: `firefox` answering `--version` with `version`, and the update
/// channel `channel` in `defaults/pref/channel-prefs.js`.
fn fake_browser(dir: &Path, channel: &str, version: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir.join("defaults/pref"))?;
    std::fs::write(
        dir.join("defaults/pref/channel-prefs.js"),
        format!("pref(\"app.update.channel\", \"{channel}\");\n"),
    )?;
    let program = dir.join("firefox");
    std::fs::write(
        &program,
        format!("#!/bin/sh\necho 'Mozilla Firefox {version}'\n"),
    )?;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))?;
    Ok(program)
}

/// A stand-in tor that appends a line to `record` whenever it is started, then exits.
fn fake_tor(dir: &Path, record: &Path) -> anyhow::Result<PathBuf> {
    let program = dir.join("tor");
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\necho started >> '{}'\nexit 1\n",
            record.display()
        ),
    )?;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))?;
    Ok(program)
}

/// A loopback port nothing listens on.
fn closed_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[test]
fn release_firefox_is_refused_with_what_to_install() -> anyhow::Result<()> {
    let binaries = binaries::ensure_built()?;
    let mut home = LauncherHome::new(None)?;
    let xpi = home.pack_xpi()?;
    let esr = fake_browser(&home.home().join("esr"), "esr", "153.8.0esr")?;
    let release = fake_browser(&home.home().join("release"), "release", "153.0")?;
    // The same home with an ESR passes the browser check and stops later, at tor: the config
    // points at a closed port, as 9050 may be a real tor on this machine.
    let config_dir = home.home().join(".config/persite");
    std::fs::create_dir_all(&config_dir)?;
    std::fs::write(
        config_dir.join("config.toml"),
        format!("[socks]\nport = {}\n", closed_port()?),
    )?;

    let xpi_arg = xpi.to_string_lossy().into_owned();
    let refused = home.run(
        &binaries.broker,
        &["--browser", &release.to_string_lossy(), "--xpi", &xpi_arg],
        RUN_BOUND,
    )?;
    ensure!(
        !refused.status.success(),
        "release Firefox was accepted: {refused:?}"
    );
    for words in [
        "signed by Mozilla",
        "Firefox ESR",
        "apt install firefox-esr",
        "LibreWolf",
    ] {
        ensure!(
            refused.stderr.contains(words),
            "the refusal does not say {words:?}: {}",
            refused.stderr
        );
    }
    ensure!(
        !home.profile_dir().exists(),
        "a profile was prepared for a refused browser"
    );
    ensure!(
        home.leftovers().is_empty(),
        "something was started: {:?}",
        home.leftovers()
    );

    let passed = home.run(
        &binaries.broker,
        &["--browser", &esr.to_string_lossy(), "--xpi", &xpi_arg],
        RUN_BOUND,
    )?;
    ensure!(
        !passed.stderr.contains("signed by Mozilla"),
        "Firefox ESR was refused as unsigned-only: {}",
        passed.stderr
    );
    Ok(())
}

#[test]
fn no_tor_and_no_consent_starts_no_tor() -> anyhow::Result<()> {
    let binaries = binaries::ensure_built()?;
    let scratch = tempfile::tempdir()?;
    let record = scratch.path().join("tor-starts");
    let tor = fake_tor(scratch.path(), &record)?;
    let port = closed_port()?;
    // `auto` (the default): a daemon started now would run its own tor, as nothing listens.
    let config = format!(
        "[socks]\nhost = \"127.0.0.1\"\nport = {port}\n\n[tor]\ntor_binary = \"{}\"\n",
        tor.display()
    );
    let mut home = LauncherHome::new(Some(&config))?;
    let xpi = home.pack_xpi()?;
    let browser = fake_browser(&home.home().join("esr"), "esr", "153.8.0esr")?;
    let browser = browser.to_string_lossy().into_owned();
    let xpi = xpi.to_string_lossy().into_owned();

    let refused = home.run(
        &binaries.broker,
        &["--browser", &browser, "--xpi", &xpi],
        RUN_BOUND,
    )?;
    ensure!(
        !refused.status.success(),
        "it went on without tor: {refused:?}"
    );
    let expected = [
        format!("no tor answers on 127.0.0.1:{port}"),
        "apt install tor".to_owned(),
        "--managed-tor".to_owned(),
        "public Tor network".to_owned(),
        "Nothing was started".to_owned(),
    ];
    for words in &expected {
        ensure!(
            refused.stderr.contains(words.as_str()),
            "the refusal does not say {words:?}: {}",
            refused.stderr
        );
    }
    ensure!(!record.exists(), "a tor was started without consent");
    ensure!(
        !home.runtime_dir().join("broker.sock").exists() && home.leftovers().is_empty(),
        "a daemon was started without tor: {:?}",
        home.leftovers()
    );
    ensure!(!home.profile_dir().exists(), "a profile was prepared");

    // With consent the same home starts Persite's own tor (here the stand-in, which exits, so
    // the launcher then reports that tor is not ready).
    let allowed = home.run(
        &binaries.broker,
        &[
            "--browser",
            &browser,
            "--xpi",
            &xpi,
            "--managed-tor",
            "--bootstrap-timeout",
            "1",
        ],
        RUN_BOUND,
    )?;
    let started = Instant::now();
    while !record.exists() && started.elapsed() < TOR_START_WAIT {
        std::thread::sleep(Duration::from_millis(100));
    }
    ensure!(
        record.exists(),
        "--managed-tor did not start Persite's own tor: {allowed:?}"
    );
    home.kill_all();
    Ok(())
}
