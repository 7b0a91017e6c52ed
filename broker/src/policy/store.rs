//! The API overrides file, `$XDG_CONFIG_HOME/persite/site-policies.toml` (else
//! `~/.config/persite/site-policies.toml`): the [`PolicyLayer`] that `policy_set` builds on top
//! of `config.toml`'s `[policy]` section, read at start and rewritten atomically on every change.
//!
//! It names only the sites the user chose to configure (never browsing history). Writes go to a
//! temporary file in the same directory, are synced, then renamed over the old file, so a crash
//! leaves either the old or the new file, never a torn one; the file is 0600 in a 0700 directory
//! created when missing.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use crate::isolation::psl::Psl;
use crate::isolation::site::Site;
use crate::policy::{Policy, PolicyError, PolicyLayer, PolicyTable};

/// Name of the overrides file inside the `persite` config directory.
pub(crate) const POLICY_FILE_NAME: &str = "site-policies.toml";

/// Why the overrides file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PolicyStoreError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's explanation, with line and column.
        message: String,
    },
    /// A value in the file is invalid.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The bad field.
        source: PolicyError,
    },
}

/// `$XDG_CONFIG_HOME/persite/site-policies.toml`, else `$HOME/.config/persite/…`; `None` when
/// neither is an absolute path.
pub(crate) fn default_policy_path() -> Option<PathBuf> {
    crate::paths::persite_dir(crate::paths::Base::Config).map(|dir| dir.join(POLICY_FILE_NAME))
}

/// Reads the overrides at `path`; a missing file is an empty layer.
pub(crate) fn load(path: &Path, psl: &Psl) -> Result<PolicyLayer, PolicyStoreError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(PolicyLayer::default()),
        Err(source) => {
            return Err(PolicyStoreError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    parse(&text, path, psl)
}

/// Parses the file's text (`path` only names it in errors).
pub fn parse(text: &str, path: &Path, psl: &Psl) -> Result<PolicyLayer, PolicyStoreError> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| PolicyStoreError::Syntax {
        path: path.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    let invalid = |source| PolicyStoreError::Invalid {
        path: path.to_owned(),
        source,
    };
    if let Some(other) = doc.keys().find(|k| k.as_str() != "policy") {
        return Err(invalid(PolicyError {
            field: other.clone(),
            message: "is not known here; the file holds only a [policy] section".into(),
        }));
    }
    match doc.get("policy") {
        None => Ok(PolicyLayer::default()),
        Some(toml::Value::Table(section)) => {
            PolicyLayer::from_toml(section, psl, "policy").map_err(invalid)
        }
        Some(other) => Err(invalid(PolicyError {
            field: "policy".into(),
            message: format!("is {other}; it must be a table"),
        })),
    }
}

/// The file's text for `layer`.
pub fn render(layer: &PolicyLayer) -> String {
    let mut doc = toml::Table::new();
    doc.insert("policy".into(), toml::Value::Table(layer.to_toml()));
    let body = toml::to_string(&doc).unwrap_or_default();
    format!(
        "# Circuit-lifetime overrides set from the Persite options page or API (policy_set).\n\
         # Rewritten by the broker; config.toml's [policy] section holds the defaults below these.\n\
         {body}"
    )
}

/// Writes `layer` to `path` atomically (temporary file, fsync, rename), creating the directory
/// with mode 0700 when missing.
pub(crate) fn save(path: &Path, layer: &PolicyLayer) -> Result<(), PolicyStoreError> {
    let io = |source| PolicyStoreError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| POLICY_FILE_NAME.to_owned());
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(render(layer).as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// The daemon's policy settings: `config.toml`'s table, the API layer over it, and where the
/// layer is kept (`None`: not persisted, e.g. no home directory).
#[derive(Debug, Clone, Default)]
pub(crate) struct PolicyStore {
    base: PolicyTable,
    layer: PolicyLayer,
    path: Option<PathBuf>,
}

/// Why a `policy_set` was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PolicySetError {
    /// The request was invalid (`invalid_field`); nothing changed.
    #[error(transparent)]
    Invalid(#[from] PolicyError),
    /// The overrides file could not be written (`internal`); nothing changed.
    #[error("cannot save the policy overrides: {0}")]
    Save(#[from] PolicyStoreError),
}

impl PolicyStore {
    /// Settings from `config.toml`'s `base` table and the overrides file at `path` (read now).
    pub(crate) fn open(
        base: PolicyTable,
        path: Option<PathBuf>,
        psl: &Psl,
    ) -> Result<Self, PolicyStoreError> {
        let layer = match &path {
            Some(p) => load(p, psl)?,
            None => PolicyLayer::default(),
        };
        Ok(Self { base, layer, path })
    }

    /// The policies in force: the base with the API layer applied.
    pub(crate) fn effective(&self) -> PolicyTable {
        self.layer.apply(&self.base)
    }

    /// Applies a `policy_set` (`site` `None`: the default; `policy` `None`: remove the site's
    /// override), saves the layer, and returns the new effective table. On any error nothing
    /// changes, in memory or on disk.
    pub(crate) fn set(
        &mut self,
        site: Option<Site>,
        policy: Option<Policy>,
    ) -> Result<PolicyTable, PolicySetError> {
        let mut layer = self.layer.clone();
        layer.record(site, policy)?;
        if let Some(path) = &self.path {
            save(path, &layer)?;
        }
        self.layer = layer;
        Ok(self.effective())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::Duration;

    use super::*;
    use crate::isolation::site::Site;
    use crate::policy::Policy;

    #[test]
    fn save_then_load_round_trips_with_private_modes() {
        let psl = Psl::vendored().expect("psl");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("persite").join(POLICY_FILE_NAME);
        assert_eq!(
            load(&path, &psl).expect("missing is empty"),
            PolicyLayer::default()
        );
        let mut layer = PolicyLayer::default();
        let site = Site::parse("www.example.com", &psl).expect("site");
        let p = Policy::new(Some(Duration::from_secs(600)), Some(50 << 20), true, "p").expect("ok");
        layer.record(Some(site), Some(p)).expect("record");
        layer
            .record(Some(Site::parse("example.org", &psl).expect("site")), None)
            .expect("record");
        save(&path, &layer).expect("save");
        assert_eq!(load(&path, &psl).expect("load"), layer);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("[policy.sites.\"example.com\"]"), "{text}");
        assert!(text.contains("max_age = \"10m\""), "{text}");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().expect("dir")), 0o700);
        // Overwriting leaves no temporary file behind.
        save(&path, &PolicyLayer::default()).expect("save again");
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(POLICY_FILE_NAME)]);
    }

    #[test]
    fn store_applies_persists_and_refuses_without_changing_anything() {
        let psl = Psl::vendored().expect("psl");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("persite").join(POLICY_FILE_NAME);
        let site = |s: &str| Site::parse(s, &psl).expect("site");
        let mut base = PolicyTable::default();
        let tab = Policy::new(None, None, true, "p").expect("ok");
        base.set_site(site("example.org"), Some(tab)).expect("base");
        let mut store = PolicyStore::open(base.clone(), Some(path.clone()), &psl).expect("open");
        assert_eq!(store.effective(), base);
        let age = Policy::new(Some(Duration::from_secs(600)), None, false, "p").expect("ok");
        let table = store
            .set(Some(site("www.example.com")), Some(age))
            .expect("set");
        assert_eq!(table.policy_for(&site("example.com")), age);
        let table = store.set(Some(site("example.org")), None).expect("remove");
        assert_eq!(table.policy_for(&site("example.org")), Policy::KEEP_ALIVE);
        let e = store.set(None, None).expect_err("null default");
        assert!(matches!(e, PolicySetError::Invalid(_)), "{e}");
        // A fresh daemon reads the same effective table back.
        let reopened = PolicyStore::open(base.clone(), Some(path.clone()), &psl).expect("reopen");
        assert_eq!(reopened.effective(), store.effective());
        // An unwritable location refuses the change and keeps the old table.
        let blocked = dir.path().join("blocked");
        let mut stuck = PolicyStore::open(base.clone(), Some(blocked.join(POLICY_FILE_NAME)), &psl)
            .expect("open");
        std::fs::write(&blocked, "").expect("a file where the directory should be");
        let e = stuck
            .set(Some(site("example.net")), Some(age))
            .expect_err("cannot save");
        assert!(matches!(e, PolicySetError::Save(_)), "{e}");
        assert_eq!(stuck.effective(), base);
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let psl = Psl::vendored().expect("psl");
        let p = Path::new("/cfg/site-policies.toml");
        let e = parse("[policy\n", p, &psl).expect_err("syntax");
        assert!(matches!(e, PolicyStoreError::Syntax { .. }), "{e}");
        let e = parse("[policy.sites.\"example.com\"]\nmax_age = 0\n", p, &psl).expect_err("range");
        assert!(
            e.to_string()
                .contains("policy.sites.\"example.com\".max_age"),
            "{e}"
        );
        let e = parse("[socks]\nport = 1\n", p, &psl).expect_err("other section");
        assert!(e.to_string().contains("socks"), "{e}");
    }
}
