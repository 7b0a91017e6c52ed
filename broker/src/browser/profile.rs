//! Persite's own browser profile: where it lives, what `user.js` it gets, and how the packed
//! add-on is installed into it enabled and allowed in private windows.
//!
//! The add-on goes in as Firefox's *profile scope* does it: the file
//! `<profile>/extensions/<id>.xpi`, picked up at start-up. Two preferences make that work for
//! an unsigned add-on without a prompt: `xpinstall.signatures.required = false` and
//! `extensions.autoDisableScopes` without the profile scope's bit (1). Private windows:
//! Firefox keeps the user's "Run in Private Windows" choice as the permission
//! `internal:privateBrowsingAllowed` in `extension-preferences.json` in the profile
//! (gecko's `toolkit/components/extensions/ExtensionPermissions.sys.mjs`: the JSON store on
//! every channel but Nightly, whose key-value store imports that file when it is first
//! created). The toolbar button is pinned by the add-on itself (`action.default_area` in
//! `extension/manifest.json`).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::hardening::{PrefValue, SocksEndpoint, render_user_js};

/// The profile's folder under Persite's data directory.
pub const PROFILE_DIR_NAME: &str = "browser-profile";

/// The packed add-on's file name under Persite's data directory (`scripts/install.sh` puts it
/// there).
pub const XPI_NAME: &str = "persite.xpi";

/// The permission Firefox grants an add-on allowed in private windows.
pub const PRIVATE_BROWSING_PERMISSION: &str = "internal:privateBrowsingAllowed";

/// The file Firefox keeps add-on permissions in (see the module doc).
pub const PERMISSIONS_FILE: &str = "extension-preferences.json";

/// Firefox's cache of installed add-ons; without it Firefox scans the profile's `extensions/`
/// folder again at the next start, so a replaced `.xpi` is taken.
pub const ADDON_STARTUP_CACHE: &str = "addonStartup.json.lz4";

/// The profile folder for a Persite data directory.
pub fn profile_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(PROFILE_DIR_NAME)
}

/// A preference the launcher adds to the hardening, with why.
#[derive(Debug, Clone)]
pub struct LauncherPref {
    /// Its name.
    pub name: &'static str,
    /// Its value.
    pub value: PrefValue,
    /// One sentence for the `user.js` comment.
    pub why: &'static str,
}

/// The preferences `persite browser` adds to the hardening table's (`crate::hardening`).
pub fn launcher_prefs() -> Vec<LauncherPref> {
    let pref = |name, value, why| LauncherPref { name, value, why };
    vec![
        pref(
            "xpinstall.signatures.required",
            PrefValue::Bool(false),
            "Persite's add-on is not signed by Mozilla; ESR, Developer Edition, Nightly and \
             LibreWolf honour this (release Firefox does not).",
        ),
        pref(
            "extensions.autoDisableScopes",
            PrefValue::Int(14),
            "Add-ons in this profile's own extensions folder (scope 1) start enabled; add-ons \
             other programs put elsewhere still need your approval.",
        ),
        pref(
            "browser.shell.checkDefaultBrowser",
            PrefValue::Bool(false),
            "This profile is Persite's; it does not ask to be the default browser.",
        ),
        pref(
            "browser.aboutwelcome.enabled",
            PrefValue::Bool(false),
            "No welcome tour in Persite's profile.",
        ),
        pref(
            "datareporting.policy.firstRunURL",
            PrefValue::Str(String::new()),
            "No privacy-notice tab fetched at the first start.",
        ),
        pref(
            "browser.startup.homepage_override.mstone",
            PrefValue::Str("ignore".to_owned()),
            "No \"what's new\" page after an update.",
        ),
        pref(
            "startup.homepage_welcome_url",
            PrefValue::Str(String::new()),
            "No welcome page at the first start.",
        ),
    ]
}

/// The `user.js` of Persite's profile: the hardening for `socks` plus [`launcher_prefs`].
pub fn user_js(socks: &SocksEndpoint) -> String {
    let mut out = render_user_js(socks);
    out.push_str(
        "\n// Written by `persite browser` for its own profile: the add-on and the first start.\n",
    );
    for pref in launcher_prefs() {
        out.push_str(&format!(
            "\n// {}\nuser_pref(\"{}\", {});\n",
            pref.why, pref.name, pref.value
        ));
    }
    out
}

/// `extension-preferences.json`'s text with `extension_id` allowed in private windows, keeping
/// everything else in `existing` (the file's current text, if any).
pub fn allow_private_browsing(
    existing: Option<&str>,
    extension_id: &str,
) -> Result<String, String> {
    let mut all: Map<String, Value> = match existing.map(str::trim) {
        None | Some("") => Map::new(),
        Some(text) => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Err("it is not a JSON object".to_owned()),
            Err(e) => return Err(e.to_string()),
        },
    };
    let entry = all
        .entry(extension_id.to_owned())
        .or_insert_with(|| json!({"permissions": [], "origins": []}));
    let Value::Object(entry) = entry else {
        return Err(format!("its entry for {extension_id} is not an object"));
    };
    entry.entry("origins").or_insert_with(|| json!([]));
    let permissions = entry.entry("permissions").or_insert_with(|| json!([]));
    let Value::Array(list) = permissions else {
        return Err(format!("its permissions of {extension_id} are not a list"));
    };
    if !list.iter().any(|p| p == PRIVATE_BROWSING_PERMISSION) {
        list.push(json!(PRIVATE_BROWSING_PERMISSION));
    }
    serde_json::to_string_pretty(&Value::Object(all)).map_err(|e| e.to_string())
}

/// What [`prepare`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The profile folder.
    pub dir: PathBuf,
    /// Whether the folder was created now (a first start).
    pub created: bool,
    /// Whether the add-on file was (re)placed now.
    pub addon_replaced: bool,
}

/// Creates (mode 0700) or reuses the profile folder `dir` and writes into it the `user.js` for
/// `socks`, the add-on `xpi` as `extensions/<extension_id>.xpi`, and its private-window
/// permission.
pub fn prepare(
    dir: &Path,
    xpi: &Path,
    socks: &SocksEndpoint,
    extension_id: &str,
) -> Result<Prepared, String> {
    use std::os::unix::fs::DirBuilderExt as _;
    let at = |what: &str, path: &Path, e: std::io::Error| format!("{what} {}: {e}", path.display());
    let created = !dir.exists();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| at("cannot create the profile folder", dir, e))?;
    let user_js_path = dir.join("user.js");
    std::fs::write(&user_js_path, user_js(socks))
        .map_err(|e| at("cannot write", &user_js_path, e))?;

    let addon = xpi_bytes(xpi)?;
    let extensions = dir.join("extensions");
    std::fs::create_dir_all(&extensions).map_err(|e| at("cannot create", &extensions, e))?;
    let target = extensions.join(format!("{extension_id}.xpi"));
    let addon_replaced = std::fs::read(&target).ok().as_deref() != Some(&addon[..]);
    if addon_replaced {
        std::fs::write(&target, &addon).map_err(|e| at("cannot write", &target, e))?;
        // Firefox would otherwise keep starting the add-on it cached.
        match std::fs::remove_file(dir.join(ADDON_STARTUP_CACHE)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(at("cannot remove", &dir.join(ADDON_STARTUP_CACHE), e)),
        }
    }

    let permissions = dir.join(PERMISSIONS_FILE);
    let existing = match std::fs::read_to_string(&permissions) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(at("cannot read", &permissions, e)),
    };
    let text = allow_private_browsing(existing.as_deref(), extension_id).map_err(|why| {
        format!(
            "{} cannot be used ({why}); close the browser and delete that file",
            permissions.display()
        )
    })?;
    std::fs::write(&permissions, text).map_err(|e| at("cannot write", &permissions, e))?;
    Ok(Prepared {
        dir: dir.to_owned(),
        created,
        addon_replaced,
    })
}

/// The packed add-on's bytes, checked to be a zip archive.
fn xpi_bytes(xpi: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(xpi).map_err(|e| {
        format!(
            "cannot read the packed add-on {}: {e}; run ./scripts/install.sh (it packs it there) \
             or pass --xpi PATH",
            xpi.display()
        )
    })?;
    if !bytes.starts_with(b"PK\x03\x04") {
        return Err(format!(
            "{} is not a packed add-on (.xpi, a zip archive); pack one with \
             scripts/pack-xpi.sh OUT.xpi",
            xpi.display()
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardening::parse_prefs;

    const ID: &str = "persite@persite.org";

    #[test]
    fn user_js_has_the_hardening_and_the_addon_switches() {
        let socks = SocksEndpoint::parse("127.0.0.1:19050").unwrap();
        let prefs = parse_prefs(&user_js(&socks)).unwrap();
        assert_eq!(prefs["network.proxy.socks_port"], PrefValue::Int(19050));
        assert_eq!(
            prefs["xpinstall.signatures.required"],
            PrefValue::Bool(false)
        );
        // The profile scope (1) is not auto-disabled.
        let PrefValue::Int(scopes) = prefs["extensions.autoDisableScopes"] else {
            panic!("not an int");
        };
        assert_eq!(scopes & 1, 0);
    }

    #[test]
    fn private_browsing_is_added_once_and_others_are_kept() {
        let fresh = allow_private_browsing(None, ID).unwrap();
        let v: Value = serde_json::from_str(&fresh).unwrap();
        assert_eq!(
            v[ID],
            json!({"permissions": [PRIVATE_BROWSING_PERMISSION], "origins": []})
        );
        let again = allow_private_browsing(Some(&fresh), ID).unwrap();
        assert_eq!(again, fresh);
        let other = r#"{"a@b": {"permissions": ["x"], "origins": ["<all_urls>"]},
                        "persite@persite.org": {"permissions": ["y"], "origins": []}}"#;
        let v: Value =
            serde_json::from_str(&allow_private_browsing(Some(other), ID).unwrap()).unwrap();
        assert_eq!(v["a@b"]["permissions"], json!(["x"]));
        assert_eq!(
            v[ID]["permissions"],
            json!(["y", PRIVATE_BROWSING_PERMISSION])
        );
        assert!(allow_private_browsing(Some("[1]"), ID).is_err());
        assert!(allow_private_browsing(Some("{\"persite@persite.org\": 3}"), ID).is_err());
    }

    #[test]
    fn prepare_writes_and_reuses_the_profile() {
        let tmp = tempfile::tempdir().unwrap();
        let xpi = tmp.path().join("p.xpi");
        std::fs::write(&xpi, b"PK\x03\x04first").unwrap();
        let dir = profile_dir(tmp.path());
        let socks = SocksEndpoint::default();
        let first = prepare(&dir, &xpi, &socks, ID).unwrap();
        assert!(first.created && first.addon_replaced);
        assert!(dir.join("extensions/persite@persite.org.xpi").is_file());
        std::fs::write(dir.join(ADDON_STARTUP_CACHE), b"cache").unwrap();
        let second = prepare(&dir, &xpi, &socks, ID).unwrap();
        assert!(!second.created && !second.addon_replaced);
        assert!(
            dir.join(ADDON_STARTUP_CACHE).exists(),
            "kept when unchanged"
        );
        std::fs::write(&xpi, b"PK\x03\x04second").unwrap();
        assert!(prepare(&dir, &xpi, &socks, ID).unwrap().addon_replaced);
        assert!(
            !dir.join(ADDON_STARTUP_CACHE).exists(),
            "dropped on a new add-on"
        );
        std::fs::write(&xpi, b"not a zip").unwrap();
        assert!(
            prepare(&dir, &xpi, &socks, ID)
                .unwrap_err()
                .contains("pack-xpi.sh")
        );
    }
}
