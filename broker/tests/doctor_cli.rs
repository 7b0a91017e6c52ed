//! `persite doctor` as a user runs it: the real binary in a private HOME / config / runtime
//! directory, a real `persite serve`, and a real Debian `tor` (loopback only, never bootstrapped).
//! Fails (never skips) when `tor` is not installed. Every process started here is killed on
//! drop and every wait is bounded.

use std::ops::Deref;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use persite_test_support::{Spawned, StopBy, UserEnv, free_port, run_within};
use serde_json::Value;

/// Upper bound for any single wait in these tests (doctor itself bounds each wait to 2 s).
const BOUND: Duration = Duration::from_secs(60);
/// Bound on building the native host when this suite runs alone (a cold build on a small,
/// shared machine takes minutes; `cargo test --workspace` has built it already).
const BUILD_BOUND: Duration = Duration::from_secs(900);

/// Runs `cmd` to completion within [`BOUND`], killing it if it overstays.
fn run_bounded(cmd: Command) -> (i32, String, String) {
    run_within(cmd, BOUND)
}

/// A private HOME, config, data and runtime directory, with no `config.toml` (doctor's
/// defaults are under test).
struct Env {
    user: UserEnv,
}

impl Deref for Env {
    type Target = UserEnv;

    fn deref(&self) -> &UserEnv {
        &self.user
    }
}

impl Env {
    fn new() -> Env {
        Env {
            user: UserEnv::new("persite-doctor-test-"),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self
            .user
            .command(Path::new(env!("CARGO_BIN_EXE_persite")), args);
        cmd.env("PERSITE_LOG", "info");
        cmd
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        run_bounded(self.command(args))
    }

    /// `persite doctor --json <extra>`: exit code and parsed findings.
    fn doctor(&self, extra: &[&str]) -> Doctor {
        let mut args = vec!["doctor", "--json"];
        args.extend_from_slice(extra);
        let (code, out, err) = self.run(&args);
        let json: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("doctor --json printed no JSON ({e}): {out}\n{err}"));
        Doctor { code, json }
    }

    /// `persite install --browser firefox` into this HOME.
    fn install_firefox(&self) {
        ensure_native_host();
        let (code, out, err) = self.run(&["install", "--browser", "firefox"]);
        assert_eq!(code, 0, "persite install failed: {out}{err}");
    }

    /// Starts `persite serve` and waits (bounded) for its socket; SIGTERM on drop, so it stops
    /// its managed tor.
    fn serve(&self) -> Spawned {
        let mut daemon = self.user.spawn(self.command(&["serve"]), StopBy::Terminate);
        daemon
            .wait_for_socket(&self.socket(), BOUND)
            .unwrap_or_else(|e| panic!("persite serve: {e}"));
        daemon
    }
}

/// `persite install` needs `persite-native-host` next to `persite`; `cargo test -p persite`
/// does not build the other package's binary, so build it once if it is missing.
fn ensure_native_host() {
    let persite = Path::new(env!("CARGO_BIN_EXE_persite"));
    let host = persite.with_file_name("persite-native-host");
    if host.exists() {
        return;
    }
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args([
        "build",
        "-p",
        "persite-native-messaging",
        "--bin",
        "persite-native-host",
    ])
    .current_dir(env!("CARGO_MANIFEST_DIR"));
    let (code, _, err) = run_within(cmd, BUILD_BOUND);
    assert!(
        code == 0 && host.exists(),
        "cannot build persite-native-host: {err}"
    );
}

/// Doctor's exit code and JSON report.
struct Doctor {
    code: i32,
    json: Value,
}

impl Doctor {
    fn finding(&self, id: &str) -> &Value {
        self.json["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["id"] == id)
            .unwrap_or_else(|| panic!("no finding {id} in {:#}", self.json))
    }

    fn status(&self, id: &str) -> &str {
        self.finding(id)["status"].as_str().expect("status")
    }

    fn message(&self, id: &str) -> &str {
        self.finding(id)["message"].as_str().expect("message")
    }

    fn hint(&self, id: &str) -> &str {
        self.finding(id)["hint"].as_str().unwrap_or("")
    }

    fn assert_status(&self, id: &str, status: &str) {
        assert_eq!(
            self.status(id),
            status,
            "{id}: {}\n{:#}",
            self.message(id),
            self.json
        );
    }
}

/// A real tor with the given SocksPort lines and a cookie-authenticated ControlPort (or none),
/// all on 127.0.0.1; killed on drop. Its only bridge is a closed loopback port, so it never
/// contacts anything beyond 127.0.0.1. (`DisableNetwork 1` would be simpler, but then tor does
/// not open its SocksPorts at all: "Tor will not make or accept non-control network
/// connections".)
struct Tor {
    dir: tempfile::TempDir,
    process: Option<Spawned>,
    control_port: Option<u16>,
}

impl Tor {
    fn start(socks_lines: &[String], control: bool) -> Tor {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .expect("chmod 700");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("data dir");
        let control_port = control.then(free_port);
        let mut torrc = format!(
            "DataDirectory {}\nUseBridges 1\nBridge 127.0.0.1:{}\nAvoidDiskWrites 1\n\
             ClientOnly 1\nLog notice file {}\n",
            data.display(),
            free_port(),
            dir.path().join("tor.log").display()
        );
        for line in socks_lines {
            torrc.push_str(&format!("SocksPort {line}\n"));
        }
        if let Some(port) = control_port {
            torrc.push_str(&format!(
                "ControlPort 127.0.0.1:{port}\nCookieAuthentication 1\n"
            ));
        }
        let torrc_path = dir.path().join("torrc");
        std::fs::write(&torrc_path, torrc).expect("torrc");
        let log = dir.path().join("tor.out");
        let mut cmd = Command::new("tor");
        cmd.arg("-f")
            .arg(&torrc_path)
            .arg("--defaults-torrc")
            .arg("/dev/null")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("tor.out"))
            .stderr(Stdio::null());
        let process = Spawned::spawn(cmd, log, StopBy::Terminate)
            .expect("cannot start `tor`: install Debian's tor package (this test never skips)");
        let mut tor = Tor {
            dir,
            process: Some(process),
            control_port,
        };
        tor.wait_ready(socks_lines);
        tor
    }

    /// Waits until every TCP SocksPort and the control port accept connections.
    fn wait_ready(&mut self, socks_lines: &[String]) {
        let mut ports: Vec<u16> = socks_lines
            .iter()
            .filter_map(|l| {
                l.split_whitespace()
                    .next()?
                    .rsplit_once(':')?
                    .1
                    .parse()
                    .ok()
            })
            .collect();
        ports.extend(self.control_port);
        let deadline = Instant::now() + BOUND;
        loop {
            let process = self.process.as_mut().expect("tor");
            if let Some(status) = process.wait_exit(Duration::ZERO) {
                panic!("tor exited early with {status}: {}", self.log());
            }
            if ports
                .iter()
                .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
            {
                return;
            }
            assert!(Instant::now() < deadline, "tor not ready: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("tor.out"), read("tor.log"))
    }
}

impl Drop for Tor {
    fn drop(&mut self) {
        self.process.take();
    }
}

/// `tor --version` → `0.4.9.11` (the version doctor must show).
fn installed_tor_version() -> String {
    let (code, out, _) = run_bounded({
        let mut c = Command::new("tor");
        c.arg("--version");
        c
    });
    assert_eq!(
        code, 0,
        "tor --version failed: install Debian's tor package"
    );
    out.split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .map(|v| v.trim_end_matches('.').to_owned())
        .expect("a version in `tor --version`")
}

#[test]
fn nothing_installed_names_every_missing_piece_and_fails() {
    let env = Env::new();
    let socks = free_port();
    env.write_config(&format!(
        "[socks]\nport = {socks}\n[tor]\nmode = \"system\"\ncontrol = \"none\"\n"
    ));
    let d = env.doctor(&[]);
    assert_eq!(d.code, 1, "{:#}", d.json);
    assert_eq!(d.json["ok"], false);
    d.assert_status("manifest.firefox.user", "error");
    assert!(
        d.message("manifest.firefox.user")
            .contains(".mozilla/native-messaging-hosts/persite.json")
    );
    assert!(d.hint("manifest.firefox.user").contains("persite install"));
    d.assert_status("daemon.running", "warning");
    assert!(d.hint("daemon.running").contains("persite serve"));
    d.assert_status("socks.reachable", "error");
    assert!(
        d.message("socks.reachable")
            .contains(&format!("127.0.0.1:{socks}"))
    );
    d.assert_status("tor.control", "warning");
    assert!(d.json["errors"].as_u64().unwrap() >= 2);

    // The text form says the same for people, grouped, without colour when not a terminal.
    let (code, text, _) = env.run(&["doctor"]);
    assert_eq!(code, 1);
    assert!(text.contains("Native messaging"), "{text}");
    assert!(text.contains("✗ Firefox (user): no manifest"), "{text}");
    assert!(
        text.contains("→ run `persite install --browser firefox`"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "✗ nothing accepts connections on 127.0.0.1:{socks}"
        )),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "colour codes on a pipe: {text}");
    assert!(text.contains("error(s)"), "{text}");
}

#[test]
fn installed_manifest_and_running_daemon_are_checked_ok() {
    let env = Env::new();
    env.write_config(&format!(
        "[socks]\nport = {}\n[tor]\nmode = \"system\"\ncontrol = \"none\"\n",
        free_port()
    ));
    env.install_firefox();
    let daemon = env.serve();
    let d = env.doctor(&[]);
    d.assert_status("binaries.persite", "ok");
    d.assert_status("binaries.native_host", "ok");
    d.assert_status("manifest.firefox.user", "ok");
    assert!(
        d.message("manifest.firefox.user")
            .contains("persite@persite.org")
    );
    d.assert_status("config.file", "ok");
    d.assert_status("daemon.running", "ok");
    let (code, status, err) = env.run(&["status", "--json"]);
    assert_eq!(code, 0, "{err}");
    let status: Value = serde_json::from_str(&status).expect("status JSON");
    let instance = status["instance"].as_str().expect("instance");
    let running = d.message("daemon.running");
    assert!(running.contains(instance), "{running} vs {instance}");
    assert!(running.contains("(0600, directory 0700)"), "{running}");
    assert!(
        running.contains(&format!("pid {}", daemon.pid())),
        "{running}"
    );
    // Nothing listens on the SOCKS port here, so doctor still fails, for that reason alone.
    assert_eq!(d.code, 1);
    d.assert_status("socks.reachable", "error");
    let errors: Vec<&Value> = d.json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    drop(daemon);
}

#[test]
fn real_tor_socks_ports_are_checked_for_listener_and_isolation_flags() {
    let (keep, plain, noiso, elsewhere) = (free_port(), free_port(), free_port(), free_port());
    let tor = Tor::start(
        &[
            format!("127.0.0.1:{keep} KeepAliveIsolateSOCKSAuth"),
            format!("127.0.0.1:{plain}"),
            format!("127.0.0.1:{noiso} NoIsolateSOCKSAuth"),
        ],
        true,
    );
    let control = tor.control_port.expect("control port");
    let env = Env::new();
    env.install_firefox();
    let config = |socks: u16| {
        format!(
            "[socks]\nhost = \"127.0.0.1\"\nport = {socks}\n\
             [tor]\nmode = \"system\"\ncontrol = \"127.0.0.1:{control}\"\n"
        )
    };

    // The recommended SocksPort: every tor line is ✓ and doctor succeeds.
    env.write_config(&config(keep));
    let d = env.doctor(&[]);
    assert_eq!(d.code, 0, "{:#}\ntor log: {}", d.json, tor.log());
    d.assert_status("tor.control", "ok");
    assert!(
        d.message("tor.control").contains("SAFECOOKIE"),
        "{}",
        d.message("tor.control")
    );
    d.assert_status("tor.version", "ok");
    let version = installed_tor_version();
    assert!(
        d.message("tor.version").contains(&version),
        "{} vs {version}",
        d.message("tor.version")
    );
    d.assert_status("tor.listener", "ok");
    assert!(
        d.message("tor.listener")
            .contains(&format!("127.0.0.1:{keep}"))
    );
    d.assert_status("tor.socksport", "ok");
    assert!(
        d.message("tor.socksport")
            .contains("KeepAliveIsolateSOCKSAuth")
    );
    d.assert_status("socks.protocol", "ok");
    // Tor cannot reach its (closed) bridge, so it is not bootstrapped: a warning only.
    d.assert_status("tor.bootstrap", "warning");

    // NoIsolateSOCKSAuth: an error naming the flag, and a failing exit status.
    env.write_config(&config(noiso));
    let d = env.doctor(&[]);
    assert_eq!(d.code, 1, "{:#}", d.json);
    d.assert_status("tor.socksport", "error");
    assert!(d.message("tor.socksport").contains("NoIsolateSOCKSAuth"));
    assert!(
        d.hint("tor.socksport")
            .contains("remove NoIsolateSOCKSAuth")
    );
    // Tor prefers "no authentication" on such a port, which the SOCKS probe notices by itself.
    d.assert_status("socks.protocol", "warning");

    // Isolating, but without KeepAliveIsolateSOCKSAuth: a warning advising it.
    env.write_config(&config(plain));
    let d = env.doctor(&[]);
    assert_eq!(d.code, 0, "{:#}", d.json);
    d.assert_status("tor.socksport", "warning");
    assert!(
        d.hint("tor.socksport")
            .contains("KeepAliveIsolateSOCKSAuth")
    );
    d.assert_status("socks.protocol", "ok");

    // A [socks] port that is not one of tor's listeners: an error listing the real ones.
    env.write_config(&config(elsewhere));
    let d = env.doctor(&[]);
    assert_eq!(d.code, 1, "{:#}", d.json);
    d.assert_status("tor.listener", "error");
    let msg = d.message("tor.listener");
    assert!(msg.contains(&format!("127.0.0.1:{elsewhere}")), "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{keep}")), "{msg}");
    drop(tor);
}

#[test]
fn without_a_control_port_isolation_still_works_and_doctor_says_what_is_missing() {
    let socks = free_port();
    let tor = Tor::start(
        &[format!("127.0.0.1:{socks} KeepAliveIsolateSOCKSAuth")],
        false,
    );
    let env = Env::new();
    env.install_firefox();
    env.write_config(&format!(
        "[socks]\nport = {socks}\n[tor]\nmode = \"system\"\ncontrol = \"none\"\n"
    ));
    let d = env.doctor(&[]);
    assert_eq!(d.code, 0, "{:#}\n{}", d.json, tor.log());
    d.assert_status("socks.protocol", "ok");
    d.assert_status("tor.control", "warning");
    let msg = d.message("tor.control");
    assert!(msg.contains("isolation still works"), "{msg}");
    assert!(
        msg.contains("circuit display") && msg.contains("NEWNYM"),
        "{msg}"
    );
    let hint = d.hint("tor.control");
    assert!(
        hint.contains("ControlPort") && hint.contains("CookieAuthentication"),
        "{hint}"
    );
    assert!(hint.contains("debian-tor"), "{hint}");
    drop(tor);
}

#[test]
fn profile_prefs_are_checked_against_the_table() {
    let env = Env::new();
    let socks = free_port();
    env.write_config(&format!(
        "[socks]\nport = {socks}\n[tor]\nmode = \"system\"\ncontrol = \"none\"\n"
    ));
    let (code, user_js, err) = env.run(&[
        "firefox-config",
        "user-js",
        "--socks",
        &format!("127.0.0.1:{socks}"),
    ]);
    assert_eq!(code, 0, "{err}");
    let profile = env.root().join("profile");
    std::fs::create_dir(&profile).expect("profile dir");
    // prefs.js says otherwise, but user.js wins at start-up.
    std::fs::write(
        profile.join("prefs.js"),
        "user_pref(\"network.proxy.failover_direct\", true);\nuser_pref(\"browser.startup.page\", 3);\n",
    )
    .expect("prefs.js");
    std::fs::write(profile.join("user.js"), &user_js).expect("user.js");
    let no_policies = env.root().join("no-policies.json");
    let profile_arg = profile.to_str().expect("utf-8 path");
    let policies_arg = no_policies.to_str().expect("utf-8 path");
    let args = ["--profile", profile_arg, "--policies", policies_arg];
    let d = env.doctor(&args);
    d.assert_status("profile.prefs", "ok");
    d.assert_status("profile.policies", "info");

    // failover_direct switched on in user.js: an error naming it and why.
    std::fs::write(
        profile.join("user.js"),
        format!("{user_js}user_pref(\"network.proxy.failover_direct\", true);\n"),
    )
    .expect("user.js");
    let d = env.doctor(&args);
    assert_eq!(d.code, 1);
    let id = "profile.pref.network.proxy.failover_direct";
    d.assert_status(id, "error");
    assert!(
        d.message(id)
            .contains("network.proxy.failover_direct is true, needs false"),
        "{}",
        d.message(id)
    );
    assert!(d.hint(id).contains("user.js"));
    assert!(
        d.json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["id"] != "profile.prefs")
    );

    // A user.js for another SocksPort: the proxy port is wrong for this configuration.
    let (_, other_js, _) = env.run(&["firefox-config", "user-js", "--socks", "127.0.0.1:9150"]);
    std::fs::write(profile.join("user.js"), other_js).expect("user.js");
    let d = env.doctor(&args);
    d.assert_status("profile.pref.network.proxy.socks_port", "error");

    // A locked policy file that sets everything fixes the profile for browsers reading it.
    let (_, policies, _) = env.run(&[
        "firefox-config",
        "policies",
        "--socks",
        &format!("127.0.0.1:{socks}"),
    ]);
    std::fs::write(&no_policies, policies).expect("policies.json");
    let d = env.doctor(&args);
    d.assert_status("profile.prefs", "ok");
    d.assert_status("profile.policies", "info");
    assert!(d.message("profile.policies").contains("parses"));

    // Not a folder at all.
    let missing = env.root().join("no-such-profile");
    let d = env.doctor(&[
        "--profile",
        missing.to_str().unwrap(),
        "--policies",
        policies_arg,
    ]);
    d.assert_status("profile.dir", "error");
}

#[test]
fn the_daemons_managed_tor_is_found_through_its_private_control_socket() {
    let env = Env::new();
    env.install_firefox();
    let socks = free_port();
    let data = env.root().join("tor-data");
    env.write_config(&format!(
        "[socks]\nport = {socks}\n[tor]\nmode = \"managed\"\ndata_dir = \"{}\"\n\
         torrc_extra = [\"UseBridges 1\", \"Bridge 127.0.0.1:{}\", \"ClientOnly 1\", \"AvoidDiskWrites 1\"]\n",
        data.display(),
        free_port()
    ));
    // Before the daemon runs there is no tor to check: information, not an error.
    let d = env.doctor(&[]);
    d.assert_status("tor.control", "info");
    let daemon = env.serve();
    let deadline = Instant::now() + BOUND;
    while std::net::TcpStream::connect(("127.0.0.1", socks)).is_err() {
        assert!(
            Instant::now() < deadline,
            "managed tor did not open its SocksPort: {}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The daemon reports `managed` once it has planned tor; its control link may lag behind.
    let d = env.doctor(&[]);
    assert_eq!(d.code, 0, "{:#}\n{}", d.json, daemon.log());
    d.assert_status("tor.control", "ok");
    assert!(
        d.message("tor.control").contains("tor-control.sock"),
        "{}",
        d.message("tor.control")
    );
    d.assert_status("tor.listener", "ok");
    d.assert_status("tor.socksport", "ok");
    d.assert_status("socks.protocol", "ok");
    drop(daemon);
}

/// A broken `config.toml` stops doctor at the configuration: the error names the file, the
/// line and the key, and nothing is checked (or suggested) from the defaults — no "start tor",
/// no probe of 127.0.0.1:9050.
#[test]
fn a_broken_config_stops_doctor_at_the_file_and_line() {
    let env = Env::new();
    env.write_config("# my settings\n[socks]\nhost = \"127.0.0.1\"\nport = 0\n");
    let d = env.doctor(&[]);
    assert_eq!(d.code, 1, "{:#}", d.json);
    d.assert_status("config.file", "error");
    let message = d.message("config.file");
    assert!(
        message.contains("config/persite/config.toml, line 4: `socks.port`"),
        "{message}"
    );
    assert!(message.contains("1 to 65535"), "{message}");
    let findings = d.json["findings"].as_array().expect("findings");
    let judged: Vec<&str> = findings
        .iter()
        .filter(|f| {
            !matches!(
                f["section"].as_str(),
                Some("binaries" | "manifests" | "config")
            )
        })
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(judged.is_empty(), "judged from the defaults: {judged:?}");

    // A TOML syntax error: the parser's line and column.
    env.write_config("[socks]\nport = 9050\n[tor\nmode = \"system\"\n");
    let (code, text, _) = env.run(&["doctor"]);
    assert_eq!(code, 1);
    assert!(text.contains("config.toml"), "{text}");
    assert!(text.contains("line 3"), "{text}");
    assert!(text.contains("doctor stops here"), "{text}");
    assert!(!text.contains("systemctl start tor"), "{text}");
    assert!(!text.contains("9050"), "reasoned from the defaults: {text}");
}
