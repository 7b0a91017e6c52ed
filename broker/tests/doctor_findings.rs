//! `persite doctor`'s judgement on its own: observations in, findings out (no I/O).

use std::path::{Path, PathBuf};

use persite::config::{Config, ControlSetting, TorMode};
use persite::doctor::{
    self, BinariesObs, ConfigObs, ControlSource, ControlTarget, DaemonAnswer, DaemonObs,
    DaemonStatus, FileState, FileText, Finding, Observations, ProfileObs, Report, Section,
    SocksObs, SocksProbe, Status, TorFacts, TorObs,
};
use persite::hardening::{SocksEndpoint, render_user_js};
use persite_native_messaging::install::{ManifestCheck, ManifestState};
use persite_native_messaging::manifest::{Browser, Scope};
use torctl::ControlAddr;

const HOST: &str = "/opt/persite/persite-native-host";

/// A healthy setup: every check passes.
fn healthy() -> Observations {
    Observations {
        binaries: BinariesObs {
            persite: Ok(PathBuf::from("/opt/persite/persite")),
            host: PathBuf::from(HOST),
            host_state: FileState::Executable,
        },
        manifests: vec![ManifestCheck {
            browser: Browser::Firefox,
            scope: Scope::User,
            path: PathBuf::from("/home/u/.mozilla/native-messaging-hosts/persite.json"),
            state: ManifestState::Valid {
                host_path: PathBuf::from(HOST),
            },
        }],
        daemon: DaemonObs {
            runtime_dir: PathBuf::from("/run/user/1000/persite"),
            dir_mode: Some(0o40700),
            dir_owned: Some(true),
            socket: PathBuf::from("/run/user/1000/persite/broker.sock"),
            socket_mode: Some(0o140600),
            pid: Some(4242),
            answer: DaemonAnswer::Status(DaemonStatus {
                version: "0.1.0".into(),
                instance: "abc".into(),
                uptime_s: 3725,
                socks: Some(("127.0.0.1".into(), 9050)),
                tor_control: Some("connected".into()),
                tor_managed: false,
            }),
        },
        config: ConfigObs {
            path: Some(PathBuf::from("/home/u/.config/persite/config.toml")),
            exists: false,
            parsed: Ok(Config::default()),
        },
        socks: SocksObs::Reached(SocksProbe::UserPass),
        tor: TorObs::Connected(facts(&["127.0.0.1:9050 KeepAliveIsolateSOCKSAuth"])),
        profile: None,
    }
}

fn facts(socks_ports: &[&str]) -> TorFacts {
    TorFacts {
        addr: "unix:/run/tor/control".into(),
        method: "SAFECOOKIE (cookie /run/tor/control.authcookie)".into(),
        version: Ok("0.4.9.11".into()),
        bootstrap: Some((100, "Done".into())),
        listeners: Ok(vec!["127.0.0.1:9050".into()]),
        socks_ports: Ok(socks_ports.iter().map(|s| (*s).to_owned()).collect()),
    }
}

fn get<'a>(report: &'a Report, id: &str) -> &'a Finding {
    report
        .findings
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no finding {id}: {:#?}", report.findings))
}

fn status(report: &Report, id: &str) -> Status {
    get(report, id).status
}

fn hint(report: &Report, id: &str) -> String {
    get(report, id).hint.clone().unwrap_or_default()
}

#[test]
fn a_healthy_setup_has_no_warnings_or_errors() {
    let report = doctor::diagnose(&healthy());
    let bad: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.status >= Status::Warning)
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    assert!(!report.has_errors());
    for f in &report.findings {
        if f.status == Status::Ok {
            assert!(f.hint.is_none(), "{f:?}");
        }
    }
    // Sections come out in order, so the text groups are contiguous.
    let sections: Vec<Section> = report.findings.iter().map(|f| f.section).collect();
    assert!(sections.windows(2).all(|w| w[0] <= w[1]), "{sections:?}");
    assert!(
        get(&report, "daemon.running")
            .message
            .contains("up 1h 02m 05s")
    );
    assert!(get(&report, "tor.version").message.contains("0.4.9.11"));
}

#[test]
fn every_warning_and_error_says_what_to_do() {
    let mut obs = healthy();
    obs.binaries.host_state = FileState::Missing;
    obs.manifests[0].state = ManifestState::Missing;
    obs.daemon.answer = DaemonAnswer::NotRunning("connection refused".into());
    obs.socks = SocksObs::Unreachable("connection refused".into());
    obs.tor = TorObs::Disabled;
    let report = doctor::diagnose(&obs);
    for f in &report.findings {
        if f.status >= Status::Warning {
            assert!(f.hint.as_deref().is_some_and(|h| !h.is_empty()), "{f:?}");
        }
    }
    assert_eq!(status(&report, "binaries.native_host"), Status::Error);
    assert_eq!(status(&report, "manifest.firefox.user"), Status::Error);
    assert_eq!(status(&report, "daemon.running"), Status::Warning);
    assert_eq!(status(&report, "socks.reachable"), Status::Error);
    assert_eq!(status(&report, "tor.control"), Status::Warning);
    assert!(report.has_errors());
}

#[test]
fn manifests_missing_invalid_or_pointing_elsewhere() {
    let user = |browser, state| ManifestCheck {
        browser,
        scope: Scope::User,
        path: PathBuf::from("/m/persite.json"),
        state,
    };
    let valid = ManifestState::Valid {
        host_path: PathBuf::from(HOST),
    };
    // One browser set up, another found but not: a warning, not an error.
    let f = doctor::manifests(
        &[
            user(Browser::Firefox, valid.clone()),
            user(Browser::LibreWolf, ManifestState::Missing),
        ],
        Path::new(HOST),
    );
    assert_eq!(f[1].status, Status::Warning);
    assert!(
        f[1].hint
            .as_deref()
            .unwrap()
            .contains("persite install --browser librewolf")
    );
    // None set up anywhere: an error.
    let f = doctor::manifests(
        &[user(Browser::Firefox, ManifestState::Missing)],
        Path::new(HOST),
    );
    assert_eq!(f[0].status, Status::Error);
    let f = doctor::manifests(
        &[user(
            Browser::Firefox,
            ManifestState::Invalid {
                problems: vec!["its type is \"x\" but must be \"stdio\"".into()],
            },
        )],
        Path::new(HOST),
    );
    assert_eq!(f[0].status, Status::Error);
    assert!(f[0].message.contains("must be \"stdio\""));
    let f = doctor::manifests(
        &[user(
            Browser::Firefox,
            ManifestState::Valid {
                host_path: PathBuf::from("/old/persite-native-host"),
            },
        )],
        Path::new(HOST),
    );
    assert_eq!(f[0].status, Status::Warning);
    assert!(f[0].message.contains("/old/persite-native-host"));
    let system = ManifestCheck {
        browser: Browser::Firefox,
        scope: Scope::System,
        path: PathBuf::from("/usr/lib/mozilla/native-messaging-hosts/persite.json"),
        state: ManifestState::Invalid {
            problems: vec!["bad".into()],
        },
    };
    let f = doctor::manifests(&[system], Path::new(HOST));
    assert_eq!(f[0].id, "manifest.firefox.system");
    assert!(
        f[0].hint
            .as_deref()
            .unwrap()
            .contains("sudo persite install --system")
    );
    assert_eq!(
        doctor::manifests(&[], Path::new(HOST))[0].status,
        Status::Error
    );
}

#[test]
fn daemon_permissions_and_a_stale_configuration() {
    let mut obs = healthy();
    obs.daemon.socket_mode = Some(0o140666);
    obs.daemon.dir_mode = Some(0o40755);
    let report = doctor::diagnose(&obs);
    assert_eq!(status(&report, "daemon.socket_mode"), Status::Error);
    assert_eq!(status(&report, "daemon.runtime_dir"), Status::Error);
    assert!(hint(&report, "daemon.runtime_dir").contains("chmod 700"));

    let mut obs = healthy();
    obs.daemon.dir_owned = Some(false);
    let report = doctor::diagnose(&obs);
    assert!(
        get(&report, "daemon.runtime_dir")
            .message
            .contains("another user")
    );

    let mut obs = healthy();
    obs.config.parsed = Ok(Config {
        socks: persite::config::SocksEndpoint {
            host: "127.0.0.1".into(),
            port: 9150,
        },
        ..Config::default()
    });
    obs.tor = TorObs::Disabled;
    let report = doctor::diagnose(&obs);
    assert_eq!(status(&report, "daemon.socks"), Status::Warning);
    assert!(
        get(&report, "daemon.socks")
            .message
            .contains("127.0.0.1:9150")
    );

    let mut obs = healthy();
    obs.daemon.answer = DaemonAnswer::Failed("no answer within 2s".into());
    assert_eq!(
        status(&doctor::diagnose(&obs), "daemon.running"),
        Status::Error
    );
}

#[test]
fn a_broken_config_stops_doctor_instead_of_checking_the_defaults() {
    let mut obs = healthy();
    obs.config.exists = true;
    obs.config.parsed =
        Err("config file /c, line 3: `socks.port` is 0; it must be a TCP port".into());
    let report = doctor::diagnose(&obs);
    assert_eq!(status(&report, "config.file"), Status::Error);
    let broken = get(&report, "config.file");
    assert!(
        broken.message.contains("line 3: `socks.port`"),
        "{broken:?}"
    );
    assert!(
        broken
            .hint
            .as_deref()
            .unwrap()
            .contains("doctor stops here")
    );
    // Programs and manifests do not depend on the configuration: still checked.
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.section == Section::Binaries)
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.section == Section::Manifests)
    );
    // Nothing is judged from the defaults (no "tor listens on 127.0.0.1:9050", no "start tor").
    let after: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| {
            !matches!(
                f.section,
                Section::Binaries | Section::Manifests | Section::Config
            )
        })
        .map(|f| f.id.as_str())
        .collect();
    assert!(after.is_empty(), "judged from the defaults: {after:?}");
    assert_eq!(
        report
            .findings
            .iter()
            .filter(|f| f.section == Section::Config)
            .count(),
        1
    );
}

#[test]
fn socks_greeting_answers() {
    let c = Config::default();
    let run = |probe| {
        doctor::socks(
            &SocksObs::Reached(probe),
            &c,
            &DaemonAnswer::NotRunning(String::new()),
        )[0]
        .clone()
    };
    assert_eq!(run(SocksProbe::UserPass).status, Status::Ok);
    let no_auth = run(SocksProbe::NoAuth);
    assert_eq!(no_auth.status, Status::Warning);
    assert!(no_auth.message.contains("NoIsolateSOCKSAuth"));
    assert_eq!(run(SocksProbe::NoAcceptable).status, Status::Error);
    let http = run(SocksProbe::NotSocks5(b"HT".to_vec()));
    assert_eq!(http.status, Status::Error);
    assert!(http.message.contains("48 54"), "{}", http.message);
    assert_eq!(run(SocksProbe::Silent).status, Status::Error);
    assert_eq!(run(SocksProbe::Closed).status, Status::Error);
    let unreachable = doctor::socks(
        &SocksObs::Unreachable("refused".into()),
        &c,
        &DaemonAnswer::NotRunning(String::new()),
    );
    assert!(
        unreachable[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("persite serve")
    );
    let mut system = Config::default();
    system.tor.mode = TorMode::System;
    let unreachable = doctor::socks(
        &SocksObs::Unreachable("refused".into()),
        &system,
        &DaemonAnswer::NotRunning(String::new()),
    );
    assert!(
        unreachable[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("systemctl start tor")
    );
}

#[test]
fn socks_port_flags() {
    let c = Config::default();
    let judge = |lines: &[&str]| doctor::tor(&TorObs::Connected(facts(lines)), &c);
    let pick = |f: &[Finding]| {
        f.iter()
            .find(|f| f.id == "tor.socksport")
            .cloned()
            .expect("tor.socksport")
    };
    let f = pick(&judge(&["127.0.0.1:9050 NoIsolateSOCKSAuth"]));
    assert_eq!(f.status, Status::Error);
    assert!(f.message.contains("NoIsolateSOCKSAuth"));
    let f = pick(&judge(&["9050 IsolateDestAddr"]));
    assert_eq!(f.status, Status::Warning);
    assert!(f.message.contains("IsolateDestAddr"));
    assert!(f.hint.unwrap().contains("KeepAliveIsolateSOCKSAuth"));
    // GETCONF's empty value: the default port 9050 without flags.
    let f = pick(&judge(&[]));
    assert_eq!(f.status, Status::Warning);
    let f = pick(&judge(&[""]));
    assert_eq!(f.status, Status::Warning);
    // The line for our port is judged, not the others.
    let f = pick(&judge(&[
        "127.0.0.1:9150 NoIsolateSOCKSAuth",
        "127.0.0.1:9050 KeepAliveIsolateSOCKSAuth",
    ]));
    assert_eq!(f.status, Status::Ok);
    // Two `auto` ports: cannot tell which one the listener is.
    let f = pick(&judge(&["auto", "auto NoIsolateSOCKSAuth"]));
    assert_eq!(f.status, Status::Warning);
    assert!(f.message.contains("cannot tell"));
    // Lowercase flags count the same (tor's flag names are case-insensitive).
    let f = pick(&judge(&["9050 keepaliveisolatesocksauth"]));
    assert_eq!(f.status, Status::Ok);
}

#[test]
fn listeners_that_do_not_include_the_endpoint() {
    let mut fx = facts(&["127.0.0.1:9150 KeepAliveIsolateSOCKSAuth"]);
    fx.listeners = Ok(vec!["127.0.0.1:9150".into()]);
    let f = doctor::tor(&TorObs::Connected(fx), &Config::default());
    let listener = f.iter().find(|f| f.id == "tor.listener").unwrap();
    assert_eq!(listener.status, Status::Error);
    assert!(listener.message.contains("127.0.0.1:9150"));
    assert!(listener.message.contains("127.0.0.1:9050"));
    assert!(f.iter().all(|f| f.id != "tor.socksport"));

    assert!(
        listener.message.contains("socks_not_tor"),
        "{}",
        listener.message
    );

    // A filtered control port (onion-grater): the daemon cannot check the endpoint, so it
    // refuses credentials (an error saying so); the flags are still judged.
    let mut fx = facts(&["9050 NoIsolateSOCKSAuth"]);
    fx.listeners = Err("tor refused GETINFO: 552 Unrecognized key".into());
    let f = doctor::tor(&TorObs::Connected(fx), &Config::default());
    let listener = f.iter().find(|f| f.id == "tor.listener").unwrap();
    assert_eq!(listener.status, Status::Error);
    assert!(
        listener.message.contains("socks_unverified"),
        "{}",
        listener.message
    );
    assert_eq!(
        f.iter().find(|f| f.id == "tor.socksport").unwrap().status,
        Status::Error
    );
}

#[test]
fn control_port_problems() {
    let c = Config::default();
    let one = |obs: TorObs| doctor::tor(&obs, &c)[0].clone();
    let f = one(TorObs::Unreachable {
        addr: "127.0.0.1:9051".into(),
        source: ControlSource::Default,
        error: "refused".into(),
    });
    assert_eq!(f.status, Status::Warning);
    assert!(f.message.contains("isolation still works"));
    let f = one(TorObs::Unreachable {
        addr: "127.0.0.1:9051".into(),
        source: ControlSource::Configured,
        error: "refused".into(),
    });
    assert_eq!(f.status, Status::Error);
    let f = one(TorObs::AuthFailed {
        addr: "unix:/run/tor/control".into(),
        source: ControlSource::Default,
        error: "SAFECOOKIE: cannot read cookie file /run/tor/control.authcookie: Permission denied"
            .into(),
    });
    assert_eq!(f.status, Status::Warning);
    assert!(f.hint.unwrap().contains("debian-tor"));
    let f = one(TorObs::Disabled);
    assert_eq!(f.status, Status::Warning);
    assert!(f.message.contains("NEWNYM") && f.message.contains("circuit display"));
    assert_eq!(one(TorObs::ManagedNotRunning).status, Status::Info);
    let mut fx = facts(&["9050 KeepAliveIsolateSOCKSAuth"]);
    fx.bootstrap = Some((10, "Finishing handshake with directory server".into()));
    fx.version = Err("refused".into());
    let f = doctor::tor(&TorObs::Connected(fx), &c);
    for id in ["tor.bootstrap", "tor.version"] {
        assert_eq!(
            f.iter().find(|f| f.id == id).unwrap().status,
            Status::Warning,
            "{id}"
        );
    }
}

#[test]
fn which_control_port_to_try() {
    let managed_sock = Path::new("/run/user/1000/persite/tor-control.sock");
    let mut c = Config::default();
    assert_eq!(
        doctor::control_target(&c, None, managed_sock, false),
        ControlTarget::Try("127.0.0.1:9051".into(), ControlSource::Default)
    );
    assert_eq!(
        doctor::control_target(&c, Some(false), managed_sock, true),
        ControlTarget::Try("unix:/run/tor/control".into(), ControlSource::Default)
    );
    assert_eq!(
        doctor::control_target(&c, Some(true), managed_sock, true),
        ControlTarget::Try(
            "unix:/run/user/1000/persite/tor-control.sock".into(),
            ControlSource::Managed
        )
    );
    c.tor.mode = TorMode::Managed;
    assert_eq!(
        doctor::control_target(&c, None, managed_sock, false),
        ControlTarget::ManagedNotRunning
    );
    c.tor.mode = TorMode::System;
    c.tor.control = ControlSetting::Disabled;
    assert_eq!(
        doctor::control_target(&c, Some(true), managed_sock, true),
        ControlTarget::Disabled
    );
    c.tor.control = ControlSetting::Addr(ControlAddr::Tcp("10.152.152.10:9051".into()));
    assert_eq!(
        doctor::control_target(&c, None, managed_sock, true),
        ControlTarget::Try("10.152.152.10:9051".into(), ControlSource::Configured)
    );
}

fn profile(prefs_js: FileText, user_js: FileText) -> ProfileObs {
    ProfileObs {
        dir: PathBuf::from("/home/u/.mozilla/firefox/x.default"),
        is_dir: true,
        prefs_js,
        user_js,
        policies_path: PathBuf::from("/etc/firefox/policies/policies.json"),
        policies: FileText::Missing,
    }
}

#[test]
fn profile_checks() {
    let c = Config::default();
    let good = render_user_js(&SocksEndpoint::default());
    let f = doctor::profile_findings(
        &profile(FileText::Missing, FileText::Text(good.clone())),
        &c,
    );
    assert!(
        f.iter()
            .any(|f| f.id == "profile.prefs" && f.status == Status::Ok),
        "{f:#?}"
    );

    // A safety setting wrong is an error; a defence-in-depth one is a warning.
    let text = format!(
        "{good}user_pref(\"network.proxy.no_proxies_on\", \"localhost\");\n\
         user_pref(\"network.prefetch-next\", true);\n"
    );
    let f = doctor::profile_findings(&profile(FileText::Missing, FileText::Text(text)), &c);
    let st = |id: &str| f.iter().find(|f| f.id == id).map(|f| f.status);
    assert_eq!(
        st("profile.pref.network.proxy.no_proxies_on"),
        Some(Status::Error)
    );
    assert_eq!(
        st("profile.pref.network.prefetch-next"),
        Some(Status::Warning)
    );
    assert_eq!(st("profile.prefs"), None);

    // Background traffic: what names the sites you visit (or changes settings remotely) is an
    // error, what only shares the catch-all circuit a warning; a setting left to Firefox's
    // default counts as missing.
    let text = format!(
        "{good}user_pref(\"dom.serviceWorkers.enabled\", true);\n\
         user_pref(\"security.OCSP.enabled\", 1);\n\
         user_pref(\"app.normandy.enabled\", true);\n\
         user_pref(\"network.captive-portal-service.enabled\", true);\n"
    )
    .replace(
        "user_pref(\"browser.search.suggest.enabled\", false);\n",
        "",
    );
    let f = doctor::profile_findings(&profile(FileText::Missing, FileText::Text(text)), &c);
    let st = |id: &str| f.iter().find(|f| f.id == id).map(|f| f.status);
    for (id, status) in [
        ("dom.serviceWorkers.enabled", Status::Error),
        ("security.OCSP.enabled", Status::Error),
        ("app.normandy.enabled", Status::Error),
        ("browser.search.suggest.enabled", Status::Error),
        ("network.captive-portal-service.enabled", Status::Warning),
    ] {
        assert_eq!(st(&format!("profile.pref.{id}")), Some(status), "{id}");
    }
    let ocsp = f
        .iter()
        .find(|f| f.id == "profile.pref.security.OCSP.enabled")
        .unwrap();
    assert!(ocsp.message.contains("catch-all"), "{}", ocsp.message);
    assert!(
        ocsp.hint
            .as_deref()
            .unwrap_or_default()
            .contains("user_pref(\"security.OCSP.enabled\", 0);"),
        "{:?}",
        ocsp.hint
    );

    // An unreadable line is named with its number.
    let f = doctor::profile_findings(
        &profile(
            FileText::Text("user_pref(\"a\", ;\n".into()),
            FileText::Missing,
        ),
        &c,
    );
    let bad = f.iter().find(|f| f.id == "profile.prefs_js").unwrap();
    assert_eq!(bad.status, Status::Error);
    assert!(bad.message.contains("line 1"), "{}", bad.message);

    // Neither file: not a profile that ever ran.
    let f = doctor::profile_findings(&profile(FileText::Missing, FileText::Missing), &c);
    assert!(
        f.iter()
            .any(|f| f.id == "profile.files" && f.status == Status::Error)
    );

    let mut p = profile(FileText::Missing, FileText::Missing);
    p.is_dir = false;
    assert_eq!(doctor::profile_findings(&p, &c)[0].id, "profile.dir");

    let mut p = profile(FileText::Missing, FileText::Text(good));
    p.policies = FileText::Text("{not json".into());
    let f = doctor::profile_findings(&p, &c);
    assert!(
        f.iter()
            .any(|f| f.id == "profile.policies" && f.status == Status::Warning)
    );
}

#[test]
fn text_and_json_rendering() {
    let mut obs = healthy();
    obs.tor = TorObs::Disabled;
    let report = doctor::diagnose(&obs);
    let plain = report.to_text(false);
    assert!(plain.starts_with("Programs\n  ✓ persite"), "{plain}");
    assert!(plain.contains("\nTor\n  ! no control port"), "{plain}");
    assert!(plain.contains("      → to enable them"), "{plain}");
    assert!(
        plain.trim_end().ends_with("No errors, 2 warning(s)."),
        "{plain}"
    );
    assert!(!plain.contains('\x1b'));
    let coloured = report.to_text(true);
    assert!(coloured.contains("\x1b[33m!\x1b[0m"), "{coloured}");
    let json = report.to_json();
    assert_eq!(json["ok"], true);
    assert_eq!(json["warnings"], 2);
    assert!(
        plain.contains("nothing vouches that the SOCKS endpoint"),
        "{plain}"
    );
    let first = &json["findings"][0];
    assert_eq!(first["id"], "binaries.persite");
    assert_eq!(first["section"], "binaries");
    assert_eq!(first["status"], "ok");
    assert!(first["hint"].is_null());
}

#[test]
fn a_control_password_over_tcp_is_warned_about() {
    let mut obs = healthy();
    let mut f = facts(&["127.0.0.1:9050 KeepAliveIsolateSOCKSAuth"]);
    f.method = "HASHEDPASSWORD".into();
    obs.tor = TorObs::Connected(f.clone());
    // Over the Unix socket the password reaches only who can open the socket: no warning.
    let report = doctor::diagnose(&obs);
    assert!(
        report.findings.iter().all(|f| f.id != "tor.auth"),
        "{report:#?}"
    );
    f.addr = "127.0.0.1:9051".into();
    obs.tor = TorObs::Connected(f);
    let report = doctor::diagnose(&obs);
    assert_eq!(status(&report, "tor.auth"), Status::Warning);
    let msg = &get(&report, "tor.auth").message;
    assert!(
        msg.contains("in clear") && msg.contains("127.0.0.1:9051"),
        "{msg}"
    );
    assert!(hint(&report, "tor.auth").contains("CookieAuthentication 1"));
}

#[test]
fn tcp_refusal_of_cookie_and_null_says_to_enable_cookie_authentication() {
    let mut obs = healthy();
    obs.tor = TorObs::AuthFailed {
        addr: "127.0.0.1:9051".into(),
        source: ControlSource::Default,
        error: "no usable control-port authentication method: tor offers [COOKIE]; over TCP only SAFECOOKIE is used".into(),
    };
    let report = doctor::diagnose(&obs);
    let h = hint(&report, "tor.auth");
    assert!(
        h.contains("CookieAuthentication 1") && h.contains("ControlSocket"),
        "{h}"
    );
}
