//! `persite install` / `uninstall` / doctor checks under a temporary HOME, for each browser.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use persite_native_messaging::install::{
    self, InstallError, ManifestState, Options, Selection, doctor,
};
use persite_native_messaging::manifest::{Browser, Os, Scope};
use serde_json::{Value, json};

fn host() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_persite-native-host"))
}

/// A program in a system directory that only root can write (`/bin/sh`, resolved).
fn root_owned_program() -> PathBuf {
    std::fs::canonicalize("/bin/sh").expect("/bin/sh")
}

fn options(home: &Path, selection: Selection) -> Options {
    Options {
        selection,
        scope: Scope::User,
        dry_run: false,
        tor_browser_dirs: Vec::new(),
        host_path: Some(host()),
        home: home.to_owned(),
        os: Os::Linux,
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("manifest written"))
        .expect("manifest is JSON")
}

fn expected_manifest() -> Value {
    json!({
        "name": "persite",
        "description": persite_native_messaging::manifest::DESCRIPTION,
        "path": host().to_str().expect("utf-8 path"),
        "type": "stdio",
        "allowed_extensions": ["persite@persite.org"],
    })
}

fn written(outcome: &install::Outcome) -> Vec<(Browser, PathBuf)> {
    outcome
        .changed
        .iter()
        .map(|e| (e.browser, e.path.clone()))
        .collect()
}

#[test]
fn firefox_user_install_doctor_and_uninstall() {
    let home = tempfile::tempdir().expect("home");
    let outcome = install::install(&options(home.path(), Selection::Only(Browser::Firefox)))
        .expect("install");
    let path = home
        .path()
        .join(".mozilla/native-messaging-hosts/persite.json");
    assert_eq!(written(&outcome), vec![(Browser::Firefox, path.clone())]);
    assert_eq!(read_json(&path), expected_manifest());
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    assert!(outcome.to_string().contains(&path.display().to_string()));

    let checks = doctor(home.path(), Os::Linux, &[]);
    let firefox: Vec<_> = checks
        .iter()
        .filter(|c| c.browser == Browser::Firefox && c.scope == Scope::User)
        .collect();
    assert_eq!(firefox.len(), 1, "{checks:?}");
    assert_eq!(firefox[0].state, ManifestState::Valid { host_path: host() });

    // Installing again over our own manifest is fine.
    install::install(&options(home.path(), Selection::Only(Browser::Firefox))).expect("again");

    let removed = install::uninstall(&options(home.path(), Selection::All)).expect("uninstall");
    assert_eq!(written(&removed), vec![(Browser::Firefox, path.clone())]);
    assert!(!path.exists());
    let checks = doctor(home.path(), Os::Linux, &[]);
    assert!(
        checks
            .iter()
            .any(|c| c.browser == Browser::Firefox && c.state == ManifestState::Missing)
    );
}

#[test]
fn all_installs_firefox_and_only_the_other_browsers_that_are_present() {
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    let outcome = install::install(&options(h, Selection::All)).expect("install");
    assert_eq!(
        written(&outcome),
        vec![(
            Browser::Firefox,
            h.join(".mozilla/native-messaging-hosts/persite.json")
        )]
    );
    assert!(
        !h.join(".librewolf").exists(),
        "created a LibreWolf dir for nothing"
    );
    assert_eq!(outcome.skipped.len(), 2, "{:?}", outcome.skipped);
    assert!(outcome.skipped[0].starts_with("LibreWolf: not found"));
    assert!(outcome.skipped[1].starts_with("Tor Browser: not found"));

    // LibreWolf (native and Flatpak) and a torbrowser-launcher bundle appear.
    std::fs::create_dir_all(h.join(".librewolf")).expect("mkdir");
    std::fs::create_dir_all(h.join(".var/app/io.gitlab.librewolf-community")).expect("mkdir");
    let bundle = h.join(".local/share/torbrowser/tbb/x86_64/tor-browser_en-US");
    std::fs::create_dir_all(bundle.join("Browser/TorBrowser/Data")).expect("mkdir");
    let outcome = install::install(&options(h, Selection::All)).expect("install");
    let expected = vec![
        (Browser::Firefox, h.join(".mozilla/native-messaging-hosts/persite.json")),
        (Browser::LibreWolf, h.join(".librewolf/native-messaging-hosts/persite.json")),
        (
            Browser::LibreWolf,
            h.join(".var/app/io.gitlab.librewolf-community/.librewolf/native-messaging-hosts/persite.json"),
        ),
        (
            Browser::TorBrowser,
            bundle.join("Browser/TorBrowser/Data/Browser/.mozilla/native-messaging-hosts/persite.json"),
        ),
    ];
    assert_eq!(written(&outcome), expected);
    for (_, path) in &expected {
        assert_eq!(read_json(path), expected_manifest(), "{}", path.display());
    }
    let checks = doctor(h, Os::Linux, &[]);
    let valid = checks
        .iter()
        .filter(|c| matches!(c.state, ManifestState::Valid { .. }))
        .count();
    assert_eq!(valid, 4, "{checks:?}");

    let removed = install::uninstall(&options(h, Selection::All)).expect("uninstall");
    assert_eq!(written(&removed), expected);
    for (_, path) in &expected {
        assert!(!path.exists());
    }
}

#[test]
fn naming_a_browser_installs_it_even_if_absent() {
    let home = tempfile::tempdir().expect("home");
    let outcome = install::install(&options(home.path(), Selection::Only(Browser::LibreWolf)))
        .expect("install");
    let path = home
        .path()
        .join(".librewolf/native-messaging-hosts/persite.json");
    assert_eq!(written(&outcome), vec![(Browser::LibreWolf, path.clone())]);
    assert_eq!(read_json(&path), expected_manifest());
}

#[test]
fn tor_browser_needs_a_bundle_and_accepts_an_explicit_one() {
    let home = tempfile::tempdir().expect("home");
    let err = install::install(&options(home.path(), Selection::Only(Browser::TorBrowser)))
        .expect_err("no bundle");
    assert!(matches!(err, InstallError::NoTorBrowser), "{err}");
    assert!(err.to_string().contains("--tor-browser-dir"));

    let bundle = home.path().join("tor-browser");
    std::fs::create_dir_all(bundle.join("Browser/TorBrowser")).expect("mkdir");
    // Given as the bundle's Browser/ directory: normalised to the bundle.
    let mut opts = options(home.path(), Selection::Only(Browser::TorBrowser));
    opts.tor_browser_dirs = vec![bundle.join("Browser")];
    let outcome = install::install(&opts).expect("install");
    let path =
        bundle.join("Browser/TorBrowser/Data/Browser/.mozilla/native-messaging-hosts/persite.json");
    assert_eq!(written(&outcome), vec![(Browser::TorBrowser, path.clone())]);
    assert_eq!(read_json(&path), expected_manifest());
    let checks = doctor(home.path(), Os::Linux, std::slice::from_ref(&bundle));
    assert!(
        checks
            .iter()
            .any(|c| c.path == path && c.state == ManifestState::Valid { host_path: host() })
    );
}

#[test]
fn dry_run_writes_nothing() {
    let home = tempfile::tempdir().expect("home");
    let mut opts = options(home.path(), Selection::All);
    opts.dry_run = true;
    let outcome = install::install(&opts).expect("dry run");
    let path = home
        .path()
        .join(".mozilla/native-messaging-hosts/persite.json");
    assert_eq!(written(&outcome), vec![(Browser::Firefox, path.clone())]);
    assert!(!home.path().join(".mozilla").exists());
    let text = outcome.to_string();
    assert!(text.contains("would write"), "{text}");
    assert!(text.contains("persite@persite.org"), "{text}");

    // System scope, dry run: the location this machine's Firefox reads.
    // (The host must be a program only root can replace: the build tree may not be.)
    opts.scope = Scope::System;
    opts.selection = Selection::Only(Browser::Firefox);
    opts.host_path = Some(root_owned_program());
    let outcome = install::install(&opts).expect("dry run");
    let dir = if Path::new("/usr/lib64/mozilla").exists() {
        "/usr/lib64/mozilla/native-messaging-hosts/persite.json"
    } else {
        "/usr/lib/mozilla/native-messaging-hosts/persite.json"
    };
    assert_eq!(
        written(&outcome),
        vec![(Browser::Firefox, PathBuf::from(dir))]
    );

    // Uninstall dry run leaves the file.
    install::install(&options(home.path(), Selection::All)).expect("install");
    let mut opts = options(home.path(), Selection::All);
    opts.dry_run = true;
    let outcome = install::uninstall(&opts).expect("dry run");
    assert_eq!(written(&outcome), vec![(Browser::Firefox, path.clone())]);
    assert!(path.exists());
}

#[test]
fn foreign_manifests_are_never_overwritten_or_removed() {
    let home = tempfile::tempdir().expect("home");
    let dir = home.path().join(".mozilla/native-messaging-hosts");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join("persite.json");
    let foreign = r#"{"name":"persite","path":"/x","type":"stdio","allowed_extensions":["other@example.org"]}"#;
    std::fs::write(&path, foreign).expect("write");
    let err = install::install(&options(home.path(), Selection::All)).expect_err("foreign");
    assert!(matches!(err, InstallError::Foreign(_)), "{err}");
    let outcome = install::uninstall(&options(home.path(), Selection::All)).expect("uninstall");
    assert!(outcome.changed.is_empty());
    assert_eq!(std::fs::read_to_string(&path).expect("kept"), foreign);
    // Doctor explains what is wrong with it.
    let checks = doctor(home.path(), Os::Linux, &[]);
    let check = checks.iter().find(|c| c.path == path).expect("checked");
    let ManifestState::Invalid { problems } = &check.state else {
        panic!("{check:?}");
    };
    assert!(
        problems
            .iter()
            .any(|p| p.contains("does not allow the Persite extension"))
    );
    assert!(problems.iter().any(|p| p.contains("/x")));
    assert!(problems.iter().any(|p| p.contains("description")));
}

#[test]
fn host_path_must_be_an_executable_file() {
    let home = tempfile::tempdir().expect("home");
    let not_exec = home.path().join("host");
    std::fs::write(&not_exec, "#!/bin/sh\n").expect("write");
    let mut opts = options(home.path(), Selection::All);
    opts.host_path = Some(not_exec);
    let err = install::install(&opts).expect_err("not executable");
    assert!(err.to_string().contains("not executable"), "{err}");
    opts.host_path = Some(home.path().join("missing"));
    let err = install::install(&opts).expect_err("missing");
    assert!(err.to_string().contains("cannot be found"), "{err}");
    assert!(!home.path().join(".mozilla").exists());
}

#[test]
fn macos_layout_under_a_temporary_home() {
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    std::fs::create_dir_all(h.join("Library/Application Support/LibreWolf")).expect("mkdir");
    let mut opts = options(h, Selection::All);
    opts.os = Os::MacOs;
    let outcome = install::install(&opts).expect("install");
    let support = h.join("Library/Application Support");
    assert_eq!(
        written(&outcome),
        vec![
            (
                Browser::Firefox,
                support.join("Mozilla/NativeMessagingHosts/persite.json")
            ),
            (
                Browser::LibreWolf,
                support.join("LibreWolf/NativeMessagingHosts/persite.json")
            ),
        ]
    );
    opts.selection = Selection::Only(Browser::TorBrowser);
    let outcome = install::install(&opts).expect("install");
    let path = support.join("TorBrowser-Data/Browser/Mozilla/NativeMessagingHosts/persite.json");
    assert_eq!(written(&outcome), vec![(Browser::TorBrowser, path.clone())]);
    assert_eq!(read_json(&path), expected_manifest());
}

/// A tree for the system-scope checks: `<tmp>/a/b/bin/persite-native-host` (and `persite`),
/// everything root-owned and 0755 unless a test changes it. Its parents include the temporary
/// directory itself (world-writable), so tests look for their own entry in the message.
struct Tree {
    _dir: tempfile::TempDir,
    bin: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = dir.path().join("a/b/bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        for name in ["persite-native-host", "persite"] {
            std::fs::copy(host(), bin.join(name)).expect("copy");
        }
        for p in [dir.path().join("a"), dir.path().join("a/b"), bin.clone()] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        Tree { _dir: dir, bin }
    }

    fn host(&self) -> PathBuf {
        self.bin.join("persite-native-host")
    }

    fn refusal(&self) -> String {
        let home = tempfile::tempdir().expect("home");
        let mut opts = options(home.path(), Selection::Only(Browser::Firefox));
        opts.scope = Scope::System;
        opts.dry_run = true;
        opts.host_path = Some(self.host());
        match install::install(&opts) {
            Err(InstallError::Host(text)) => text,
            other => panic!(
                "system install of {} was not refused: {other:?}",
                self.host().display()
            ),
        }
    }
}

#[test]
fn system_install_refuses_programs_a_user_can_replace() {
    use std::os::unix::fs::chown;
    // A directory above the host owned by another user (65534: nobody).
    let t = Tree::new();
    let b = t.bin.parent().expect("b").to_owned();
    chown(&b, Some(65534), None).expect("chown (these tests run as root)");
    let text = t.refusal();
    assert!(
        text.contains(&format!("{} is owned by uid 65534", b.display())),
        "{text}"
    );
    assert!(text.contains("/usr/local/bin"), "{text}");

    // The host itself group-writable by a non-root group.
    let t = Tree::new();
    chown(t.host(), None, Some(65534)).expect("chgrp");
    std::fs::set_permissions(t.host(), std::fs::Permissions::from_mode(0o775)).expect("chmod");
    let text = t.refusal();
    assert!(text.contains("writable by group 65534"), "{text}");

    // The daemon next to it world-writable.
    let t = Tree::new();
    let daemon = t.bin.join("persite");
    std::fs::set_permissions(&daemon, std::fs::Permissions::from_mode(0o757)).expect("chmod");
    let text = t.refusal();
    assert!(
        text.contains(&format!("{} is writable by every user", daemon.display())),
        "{text}"
    );

    // A symlink is resolved: a root-owned link into a user's directory is refused for it.
    let t = Tree::new();
    let user_dir = t.bin.parent().expect("b").join("user");
    std::fs::create_dir(&user_dir).expect("mkdir");
    std::fs::copy(host(), user_dir.join("persite-native-host")).expect("copy");
    chown(&user_dir, Some(65534), None).expect("chown");
    std::fs::remove_file(t.host()).expect("rm");
    std::os::unix::fs::symlink(user_dir.join("persite-native-host"), t.host()).expect("symlink");
    let text = t.refusal();
    assert!(
        text.contains(&format!("{} is owned by uid 65534", user_dir.display())),
        "{text}"
    );
}

#[test]
fn system_install_accepts_a_root_only_program_and_names_its_resolved_path() {
    let home = tempfile::tempdir().expect("home");
    let mut opts = options(home.path(), Selection::Only(Browser::Firefox));
    opts.scope = Scope::System;
    opts.dry_run = true;
    opts.host_path = Some(PathBuf::from("/bin/sh"));
    let outcome = install::install(&opts).expect("a root-owned 0755 tree is accepted");
    let manifest: Value =
        serde_json::from_str(outcome.manifest.as_deref().expect("manifest")).expect("json");
    assert_eq!(
        manifest["path"],
        json!(root_owned_program().to_str().expect("utf-8"))
    );
}

#[test]
fn doctor_flags_a_system_manifest_whose_host_a_user_can_replace() {
    use persite_native_messaging::install::check_system_manifest;
    use std::os::unix::fs::chown;
    let t = Tree::new();
    let manifest_dir = tempfile::tempdir().expect("dir");
    let manifest = manifest_dir.path().join("persite.json");
    let text = persite_native_messaging::manifest::HostManifest::persite(&t.host()).to_json();
    std::fs::write(&manifest, text).expect("write");
    chown(t.bin.parent().expect("b"), Some(65534), None).expect("chown");
    match check_system_manifest(&manifest) {
        ManifestState::Invalid { problems } => {
            let text = problems.join(" ");
            assert!(text.contains("owned by uid 65534"), "{text}");
            assert!(text.contains("/usr/local/bin"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    // A manifest naming a root-only program stays valid.
    let text =
        persite_native_messaging::manifest::HostManifest::persite(&root_owned_program()).to_json();
    std::fs::write(&manifest, text).expect("write");
    assert!(matches!(
        check_system_manifest(&manifest),
        ManifestState::Valid { .. }
    ));
}
