//! Circuit-lifetime policies (`docs/protocol.md` §2.5): when a site's credentials — and so its
//! circuit — change by themselves.
//!
//! A [`Policy`] is keep-alive (the default: only New circuit and New identity change
//! credentials), or rotates after an age (`max_age`), after the bytes carried (`max_bytes`), or
//! both (whichever comes first), and may give each tab its own credentials (`per_tab`). A
//! [`PolicyTable`] holds the default and per-site overrides; the catch-all `--unknown--` never
//! takes a policy (the isolator rotates it every 10 minutes regardless).
//!
//! Two spellings are read, both validated against the same limits and naming the bad field:
//! - JSON, the wire shape: `{"max_age_s": 600, "max_bytes": 52428800, "per_tab": false}`
//!   ([`Policy::from_json`], [`Policy::to_json`], [`PolicyTable::to_json`]);
//! - TOML, for `config.toml`'s `[policy]` section and the API overrides file
//!   (`site-policies.toml`): `max_age = "10m"` (a `humantime` duration, or whole seconds as an
//!   integer, or `"none"`), `max_bytes = "50MiB"` (a `bytesize` size — `MB` is 10^6, `MiB` is
//!   2^20 — or an integer, or `"none"`), `per_tab = true`. A site's table is a whole policy:
//!   keys left out are off, they are not inherited from the default.
//!
//! Nothing here does I/O; [`crate::policy::store`] reads and writes the overrides file.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::isolation::psl::Psl;
use crate::isolation::site::Site;

// The allowed ranges are the protocol's (shared with the extension): `max_age` from
// MIN_MAX_AGE_S to MAX_MAX_AGE_S seconds (a week); `max_bytes` from MIN_MAX_BYTES (below it a
// single page would rotate mid-load) to MAX_MAX_BYTES (2^50, a pebibyte).
pub use persite_protocol::limits::{MAX_MAX_AGE_S, MAX_MAX_BYTES, MIN_MAX_AGE_S, MIN_MAX_BYTES};

/// When one site's credentials change by themselves; see the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// New streams get new credentials once the current ones are this old (whole seconds).
    pub max_age: Option<Duration>,
    /// New streams get new credentials once the current ones carried this many bytes.
    pub max_bytes: Option<u64>,
    /// Each tab of the site gets its own credentials, so its own circuit.
    pub per_tab: bool,
}

/// A policy value outside the allowed range or of the wrong type; maps to `invalid_field`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {message}")]
pub struct PolicyError {
    /// The field, dotted from the request or file root, e.g. `policy.max_age_s`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl PolicyError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The protocol error code (`docs/protocol.md` §2.3).
    pub fn code(&self) -> persite_protocol::ErrorCode {
        persite_protocol::ErrorCode::InvalidField
    }
}

impl Policy {
    /// Keep-alive: credentials change only on New circuit or New identity.
    pub const KEEP_ALIVE: Policy = Policy {
        max_age: None,
        max_bytes: None,
        per_tab: false,
    };

    /// A validated policy; `prefix` names the policy object in errors (e.g. `policy`).
    pub fn new(
        max_age: Option<Duration>,
        max_bytes: Option<u64>,
        per_tab: bool,
        prefix: &str,
    ) -> Result<Policy, PolicyError> {
        if let Some(age) = max_age {
            check_age(age, &join(prefix, "max_age"))?;
        }
        if let Some(bytes) = max_bytes {
            check_bytes(bytes, &join(prefix, "max_bytes"))?;
        }
        Ok(Policy {
            max_age,
            max_bytes,
            per_tab,
        })
    }

    /// Whether credentials change only on New circuit / New identity and tabs share them.
    pub fn is_keep_alive(&self) -> bool {
        *self == Policy::KEEP_ALIVE
    }

    /// Whether the policy rotates credentials by itself (by age or bytes).
    pub fn rotates(&self) -> bool {
        self.max_age.is_some() || self.max_bytes.is_some()
    }

    /// `max_age` in milliseconds, for deadlines on the isolator's Unix-ms clock.
    pub fn max_age_ms(&self) -> Option<u64> {
        self.max_age
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// The wire object of §2.5.
    pub fn to_json(&self) -> Value {
        json!({
            "max_age_s": self.max_age.map(|d| d.as_secs()),
            "max_bytes": self.max_bytes,
            "per_tab": self.per_tab,
        })
    }

    /// Reads the wire object of §2.5. Missing keys are off; unknown keys, wrong types and
    /// out-of-range values are errors naming `prefix.<key>`.
    pub fn from_json(value: &Value, prefix: &str) -> Result<Policy, PolicyError> {
        let Value::Object(obj) = value else {
            return Err(PolicyError::new(
                prefix,
                "must be a policy object {\"max_age_s\", \"max_bytes\", \"per_tab\"} (or null to remove a site's override)",
            ));
        };
        if let Some(unknown) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "max_age_s" | "max_bytes" | "per_tab"))
        {
            return Err(PolicyError::new(
                join(prefix, unknown),
                "is not a policy field (known: max_age_s, max_bytes, per_tab)",
            ));
        }
        let max_age = match obj.get("max_age_s") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let field = join(prefix, "max_age_s");
                let secs = v.as_u64().ok_or_else(|| {
                    PolicyError::new(
                        &field,
                        format!(
                            "is {v}; it must be a whole number of seconds from {MIN_MAX_AGE_S} to {MAX_MAX_AGE_S}, or null"
                        ),
                    )
                })?;
                Some(check_age(Duration::from_secs(secs), &field)?)
            }
        };
        let max_bytes = match obj.get("max_bytes") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let field = join(prefix, "max_bytes");
                let bytes = v.as_u64().ok_or_else(|| {
                    PolicyError::new(
                        &field,
                        format!(
                            "is {v}; it must be a whole number of bytes from {MIN_MAX_BYTES} to {MAX_MAX_BYTES}, or null"
                        ),
                    )
                })?;
                Some(check_bytes(bytes, &field)?)
            }
        };
        let per_tab = match obj.get("per_tab") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                return Err(PolicyError::new(
                    join(prefix, "per_tab"),
                    format!("is {v}; it must be true or false"),
                ));
            }
        };
        Ok(Policy {
            max_age,
            max_bytes,
            per_tab,
        })
    }

    /// Reads a TOML policy table (see the module doc); `prefix` names it in errors, e.g.
    /// `policy.sites."example.com"`. Keys in `extra` are skipped (the caller reads them).
    pub fn from_toml(
        table: &toml::Table,
        prefix: &str,
        extra: &[&str],
    ) -> Result<Policy, PolicyError> {
        if let Some(unknown) = table.keys().find(|k| {
            !matches!(k.as_str(), "max_age" | "max_bytes" | "per_tab")
                && !extra.contains(&k.as_str())
        }) {
            return Err(PolicyError::new(
                join(prefix, unknown),
                "is not a policy key (known: max_age, max_bytes, per_tab)",
            ));
        }
        let max_age = match table.get("max_age") {
            None => None,
            Some(v) => parse_age(v, &join(prefix, "max_age"))?,
        };
        let max_bytes = match table.get("max_bytes") {
            None => None,
            Some(v) => parse_bytes(v, &join(prefix, "max_bytes"))?,
        };
        let per_tab = match table.get("per_tab") {
            None => false,
            Some(toml::Value::Boolean(b)) => *b,
            Some(v) => {
                return Err(PolicyError::new(
                    join(prefix, "per_tab"),
                    format!("is {v}; it must be true or false"),
                ));
            }
        };
        Ok(Policy {
            max_age,
            max_bytes,
            per_tab,
        })
    }

    /// The TOML table of this policy (only the keys that are on).
    pub fn to_toml(&self) -> toml::Table {
        let mut table = toml::Table::new();
        if let Some(age) = self.max_age {
            table.insert(
                "max_age".into(),
                humantime::format_duration(age).to_string().into(),
            );
        }
        if let Some(bytes) = self.max_bytes {
            // Every allowed value (≤ 2^50) fits TOML's i64.
            table.insert(
                "max_bytes".into(),
                toml::Value::Integer(i64::try_from(bytes).unwrap_or(i64::MAX)),
            );
        }
        if self.per_tab {
            table.insert("per_tab".into(), true.into());
        }
        table
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn check_age(age: Duration, field: &str) -> Result<Duration, PolicyError> {
    let range = format!("from {MIN_MAX_AGE_S} s to {MAX_MAX_AGE_S} s (a week)");
    if age.subsec_nanos() != 0 {
        return Err(PolicyError::new(
            field,
            format!("is {age:?}; it must be whole seconds, {range}"),
        ));
    }
    if !(MIN_MAX_AGE_S..=MAX_MAX_AGE_S).contains(&age.as_secs()) {
        return Err(PolicyError::new(
            field,
            format!("is {} s; it must be {range}", age.as_secs()),
        ));
    }
    Ok(age)
}

fn check_bytes(bytes: u64, field: &str) -> Result<u64, PolicyError> {
    if !(MIN_MAX_BYTES..=MAX_MAX_BYTES).contains(&bytes) {
        return Err(PolicyError::new(
            field,
            format!(
                "is {bytes} bytes; it must be from {MIN_MAX_BYTES} (1 KiB) to {MAX_MAX_BYTES} (2^50)"
            ),
        ));
    }
    Ok(bytes)
}

/// `"10m"`, `"1h 30m"`, `"90s"`, an integer of seconds, or `"none"`.
fn parse_age(value: &toml::Value, field: &str) -> Result<Option<Duration>, PolicyError> {
    let age = match value {
        toml::Value::Integer(secs) => Duration::from_secs(u64::try_from(*secs).map_err(|_| {
            PolicyError::new(field, format!("is {secs}; it must be a positive duration"))
        })?),
        toml::Value::String(s) if s.trim() == "none" => return Ok(None),
        toml::Value::String(s) => humantime::parse_duration(s.trim()).map_err(|e| {
            PolicyError::new(
                field,
                format!("is {s:?}: {e}; write e.g. \"10m\", \"90s\", \"1h 30m\", 600 or \"none\""),
            )
        })?,
        other => {
            return Err(PolicyError::new(
                field,
                format!("is {other}; it must be a duration such as \"10m\", seconds, or \"none\""),
            ));
        }
    };
    check_age(age, field).map(Some)
}

/// `"50MiB"`, `"1GB"`, an integer of bytes, or `"none"`.
fn parse_bytes(value: &toml::Value, field: &str) -> Result<Option<u64>, PolicyError> {
    let bytes = match value {
        toml::Value::Integer(n) => u64::try_from(*n)
            .map_err(|_| PolicyError::new(field, format!("is {n}; it must be a positive size")))?,
        toml::Value::String(s) if s.trim() == "none" => return Ok(None),
        toml::Value::String(s) => s
            .trim()
            .parse::<bytesize::ByteSize>()
            .map_err(|e| {
                PolicyError::new(
                    field,
                    format!("is {s:?}: {e}; write e.g. \"50MiB\", \"1GB\", 52428800 or \"none\""),
                )
            })?
            .as_u64(),
        other => {
            return Err(PolicyError::new(
                field,
                format!("is {other}; it must be a size such as \"50MiB\", bytes, or \"none\""),
            ));
        }
    };
    check_bytes(bytes, field).map(Some)
}

/// The default policy and per-site overrides; see the module doc.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyTable {
    default: Policy,
    sites: BTreeMap<Site, Policy>,
}

impl PolicyTable {
    /// A table with `default` and no overrides.
    pub fn new(default: Policy) -> Self {
        Self {
            default,
            sites: BTreeMap::new(),
        }
    }

    /// The policy for `site`: its override, else the default; the catch-all is always
    /// keep-alive here (the isolator rotates it on its own 10-minute clock).
    pub fn policy_for(&self, site: &Site) -> Policy {
        if site.is_catch_all() {
            return Policy::KEEP_ALIVE;
        }
        self.sites.get(site).copied().unwrap_or(self.default)
    }

    /// The default policy.
    pub fn default_policy(&self) -> Policy {
        self.default
    }

    /// Replaces the default policy.
    pub fn set_default(&mut self, policy: Policy) {
        self.default = policy;
    }

    /// The per-site overrides.
    pub fn sites(&self) -> &BTreeMap<Site, Policy> {
        &self.sites
    }

    /// Sets (`Some`) or removes (`None`) `site`'s override. The catch-all takes no policy.
    pub fn set_site(&mut self, site: Site, policy: Option<Policy>) -> Result<(), PolicyError> {
        if site.is_catch_all() {
            return Err(PolicyError::new(
                "site",
                "is --unknown--, which takes no policy: its credentials rotate every 10 minutes",
            ));
        }
        match policy {
            Some(p) => self.sites.insert(site, p),
            None => self.sites.remove(&site),
        };
        Ok(())
    }

    /// The `policy_get` / `policy_set` answer of §2.5.
    pub fn to_json(&self) -> Value {
        let sites: Map<String, Value> = self
            .sites
            .iter()
            .map(|(site, p)| (site.as_str().to_owned(), p.to_json()))
            .collect();
        json!({"default": self.default.to_json(), "sites": sites})
    }

    /// Reads the §2.5 answer shape back (sites reduced to their first-party site).
    pub fn from_json(value: &Value, psl: &Psl) -> Result<PolicyTable, PolicyError> {
        let Value::Object(obj) = value else {
            return Err(PolicyError::new(
                "",
                "must be an object {\"default\", \"sites\"}",
            ));
        };
        let default = match obj.get("default") {
            None | Some(Value::Null) => Policy::KEEP_ALIVE,
            Some(v) => Policy::from_json(v, "default")?,
        };
        let mut table = PolicyTable::new(default);
        match obj.get("sites") {
            None | Some(Value::Null) => {}
            Some(Value::Object(sites)) => {
                for (name, v) in sites {
                    let prefix = format!("sites.{name:?}");
                    let site = parse_site(name, psl, &prefix)?;
                    table.set_site(site, Some(Policy::from_json(v, &prefix)?))?;
                }
            }
            Some(v) => {
                return Err(PolicyError::new(
                    "sites",
                    format!("is {v}; it must be an object of site → policy"),
                ));
            }
        }
        Ok(table)
    }

    /// Reads a `[policy]` section (already parsed as TOML): its keys are the default policy,
    /// its `sites` sub-table the overrides. `prefix` names the section in errors (`policy`).
    pub fn from_toml(
        section: &toml::Table,
        psl: &Psl,
        prefix: &str,
    ) -> Result<PolicyTable, PolicyError> {
        let layer = PolicyLayer::from_toml(section, psl, prefix)?;
        if let Some((site, _)) = layer.sites.iter().find(|(_, p)| p.is_none()) {
            return Err(PolicyError::new(
                format!("{prefix}.sites.{:?}.use_default", site.as_str()),
                "is only meaningful in site-policies.toml",
            ));
        }
        let mut table = PolicyTable::new(layer.default.unwrap_or_default());
        for (site, p) in layer.sites {
            table.set_site(site, p)?;
        }
        Ok(table)
    }

    /// The table as a `[policy]` section (parse it back with [`PolicyTable::from_toml`]).
    pub fn to_toml(&self) -> toml::Table {
        PolicyLayer {
            default: Some(self.default),
            sites: self
                .sites
                .iter()
                .map(|(s, p)| (s.clone(), Some(*p)))
                .collect(),
        }
        .to_toml()
    }
}

/// `config.toml`'s `[policy]` section, validated but with site names as written: the config
/// is parsed before the Public Suffix List is loaded, so sites are reduced by
/// [`PolicySection::resolve`] when the daemon starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicySection {
    /// The default policy (keep-alive when the section sets none).
    pub default: Policy,
    /// Site overrides, names as written, in file order.
    pub sites: Vec<(String, Policy)>,
}

impl PolicySection {
    /// Validates a `[policy]` table (`prefix` names it in errors, e.g. `policy`).
    pub fn from_toml(section: &toml::Table, prefix: &str) -> Result<PolicySection, PolicyError> {
        let default = Policy::from_toml(section, prefix, &["sites"])?;
        let mut sites = Vec::new();
        match section.get("sites") {
            None => {}
            Some(toml::Value::Table(t)) => {
                for (name, v) in t {
                    let site_prefix = format!("{}.{name:?}", join(prefix, "sites"));
                    let toml::Value::Table(st) = v else {
                        return Err(PolicyError::new(
                            site_prefix,
                            format!("is {v}; it must be a table of policy keys"),
                        ));
                    };
                    sites.push((name.clone(), Policy::from_toml(st, &site_prefix, &[])?));
                }
            }
            Some(v) => {
                return Err(PolicyError::new(
                    join(prefix, "sites"),
                    format!("is {v}; it must be a table of site tables"),
                ));
            }
        }
        Ok(PolicySection { default, sites })
    }

    /// The table, with every site reduced to its first-party site; a site named twice (e.g.
    /// `www.example.com` and `example.com`) or `--unknown--` is an error naming it.
    pub fn resolve(&self, psl: &Psl, prefix: &str) -> Result<PolicyTable, PolicyError> {
        let mut table = PolicyTable::new(self.default);
        for (name, policy) in &self.sites {
            let field = format!("{}.{name:?}", join(prefix, "sites"));
            let site = parse_site(name, psl, &field)?;
            if table.sites.insert(site.clone(), *policy).is_some() {
                return Err(PolicyError::new(
                    field,
                    format!("names the site {} a second time", site.as_str()),
                ));
            }
        }
        Ok(table)
    }
}

/// Reduces a `site` key to its first-party site (`www.example.com` → `example.com`).
pub fn parse_site(name: &str, psl: &Psl, field: &str) -> Result<Site, PolicyError> {
    let site = Site::parse(name, psl).map_err(|e| PolicyError::new(field, e.to_string()))?;
    if site.is_catch_all() {
        return Err(PolicyError::new(
            field,
            "is --unknown--, which takes no policy: its credentials rotate every 10 minutes",
        ));
    }
    Ok(site)
}

/// Changes made on top of another table: an optional new default and per-site entries, where
/// `None` means "this site uses the default" (it removes a lower layer's override). The API
/// overrides file holds one layer over `config.toml`'s `[policy]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyLayer {
    /// A default replacing the lower layer's, if set.
    pub default: Option<Policy>,
    /// Site overrides (`Some`) and removals of lower overrides (`None`).
    pub sites: BTreeMap<Site, Option<Policy>>,
}

impl PolicyLayer {
    /// `base` with this layer applied.
    pub fn apply(&self, base: &PolicyTable) -> PolicyTable {
        let mut table = base.clone();
        if let Some(d) = self.default {
            table.default = d;
        }
        for (site, p) in &self.sites {
            match p {
                Some(p) => table.sites.insert(site.clone(), *p),
                None => table.sites.remove(site),
            };
        }
        table
    }

    /// Records a `policy_set`: `site` `None` changes the default (a `None` policy there is an
    /// error: the default cannot be removed, only replaced).
    pub fn record(
        &mut self,
        site: Option<Site>,
        policy: Option<Policy>,
    ) -> Result<(), PolicyError> {
        match site {
            None => {
                let policy = policy.ok_or_else(|| {
                    PolicyError::new(
                        "policy",
                        "is null; null removes a site's override, the default can only be replaced by a policy object",
                    )
                })?;
                self.default = Some(policy);
            }
            Some(site) if site.is_catch_all() => {
                return Err(PolicyError::new(
                    "site",
                    "is --unknown--, which takes no policy: its credentials rotate every 10 minutes",
                ));
            }
            Some(site) => {
                self.sites.insert(site, policy);
            }
        }
        Ok(())
    }

    /// Reads a `[policy]` section: default keys, `sites."name"` tables, where a site table may
    /// be `{use_default = true}` to remove a lower override.
    pub fn from_toml(
        section: &toml::Table,
        psl: &Psl,
        prefix: &str,
    ) -> Result<PolicyLayer, PolicyError> {
        let default_keys = ["max_age", "max_bytes", "per_tab"];
        let has_default = section.keys().any(|k| default_keys.contains(&k.as_str()));
        let default = if has_default {
            Some(Policy::from_toml(section, prefix, &["sites"])?)
        } else {
            Policy::from_toml(section, prefix, &["sites"])?;
            None
        };
        let mut sites = BTreeMap::new();
        match section.get("sites") {
            None => {}
            Some(toml::Value::Table(t)) => {
                for (name, v) in t {
                    let site_prefix = format!("{}.{name:?}", join(prefix, "sites"));
                    let site = parse_site(name, psl, &site_prefix)?;
                    let toml::Value::Table(st) = v else {
                        return Err(PolicyError::new(
                            site_prefix,
                            format!("is {v}; it must be a table of policy keys"),
                        ));
                    };
                    let use_default = match st.get("use_default") {
                        None => false,
                        Some(toml::Value::Boolean(b)) => *b,
                        Some(v) => {
                            return Err(PolicyError::new(
                                join(&site_prefix, "use_default"),
                                format!("is {v}; it must be true or false"),
                            ));
                        }
                    };
                    let policy = Policy::from_toml(st, &site_prefix, &["use_default"])?;
                    if use_default && st.len() > 1 {
                        return Err(PolicyError::new(
                            join(&site_prefix, "use_default"),
                            "cannot be combined with other policy keys",
                        ));
                    }
                    if sites
                        .insert(site.clone(), (!use_default).then_some(policy))
                        .is_some()
                    {
                        return Err(PolicyError::new(
                            site_prefix,
                            format!("names the site {} a second time", site.as_str()),
                        ));
                    }
                }
            }
            Some(v) => {
                return Err(PolicyError::new(
                    join(prefix, "sites"),
                    format!("is {v}; it must be a table of site tables"),
                ));
            }
        }
        Ok(PolicyLayer { default, sites })
    }

    /// The layer as a `[policy]` section's table.
    pub fn to_toml(&self) -> toml::Table {
        let mut section = self.default.map(|d| d.to_toml()).unwrap_or_default();
        if !self.sites.is_empty() {
            let mut sites = toml::Table::new();
            for (site, p) in &self.sites {
                let table = match p {
                    Some(p) => p.to_toml(),
                    None => {
                        let mut t = toml::Table::new();
                        t.insert("use_default".into(), true.into());
                        t
                    }
                };
                sites.insert(site.as_str().to_owned(), toml::Value::Table(table));
            }
            section.insert("sites".into(), toml::Value::Table(sites));
        }
        section
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn psl() -> Psl {
        Psl::vendored().expect("vendored PSL")
    }

    fn section(text: &str) -> toml::Table {
        let doc: toml::Table = toml::from_str(text).expect("toml");
        match doc.get("policy") {
            Some(toml::Value::Table(t)) => t.clone(),
            _ => toml::Table::new(),
        }
    }

    #[test]
    fn json_shape_round_trips() {
        let p = Policy::from_json(
            &json!({"max_age_s": 600, "max_bytes": 52428800, "per_tab": true}),
            "policy",
        )
        .expect("valid");
        assert_eq!(p.max_age, Some(Duration::from_secs(600)));
        assert_eq!(p.max_bytes, Some(52_428_800));
        assert!(p.per_tab);
        assert_eq!(Policy::from_json(&p.to_json(), "policy"), Ok(p));
        assert_eq!(
            Policy::KEEP_ALIVE.to_json(),
            json!({"max_age_s": null, "max_bytes": null, "per_tab": false})
        );
        assert_eq!(
            Policy::from_json(&json!({}), "policy"),
            Ok(Policy::KEEP_ALIVE)
        );
    }

    #[test]
    fn json_errors_name_the_field() {
        let err = |v: Value| Policy::from_json(&v, "policy").expect_err("invalid");
        let e = err(json!({"max_age_s": 0}));
        assert_eq!(e.field, "policy.max_age_s");
        assert_eq!(e.code(), "invalid_field");
        assert!(e.to_string().contains("from 1 s to 604800 s"), "{e}");
        assert_eq!(err(json!({"max_age_s": 604_801})).field, "policy.max_age_s");
        assert_eq!(err(json!({"max_age_s": 1.5})).field, "policy.max_age_s");
        assert_eq!(err(json!({"max_age_s": "10m"})).field, "policy.max_age_s");
        assert_eq!(err(json!({"max_age_s": -5})).field, "policy.max_age_s");
        assert_eq!(err(json!({"max_bytes": 1023})).field, "policy.max_bytes");
        assert_eq!(
            err(json!({"max_bytes": (1u64 << 50) + 1})).field,
            "policy.max_bytes"
        );
        assert_eq!(err(json!({"per_tab": 1})).field, "policy.per_tab");
        assert_eq!(err(json!({"max_age": 600})).field, "policy.max_age");
        assert_eq!(err(json!([1])).field, "policy");
        // Limits themselves are allowed.
        for ok in [
            json!({"max_age_s": 1}),
            json!({"max_age_s": 604_800}),
            json!({"max_bytes": 1024}),
            json!({"max_bytes": 1u64 << 50}),
        ] {
            Policy::from_json(&ok, "policy").expect("limit allowed");
        }
    }

    #[test]
    fn toml_accepts_durations_sizes_and_integers() {
        let t = section(
            r#"
            [policy]
            max_age = "10m"
            [policy.sites."www.example.com"]
            max_age = "90s"
            max_bytes = "50MiB"
            per_tab = true
            [policy.sites."example.org"]
            max_age = 30
            max_bytes = 2048
            [policy.sites."bank.example.net"]
            max_bytes = "1MB"
            max_age = "none"
            "#,
        );
        let psl = psl();
        let table = PolicyTable::from_toml(&t, &psl, "policy").expect("valid");
        assert_eq!(
            table.default_policy().max_age,
            Some(Duration::from_secs(600))
        );
        let site = |s: &str| Site::parse(s, &psl).expect("site");
        let ex = table.policy_for(&site("example.com"));
        assert_eq!(ex.max_age, Some(Duration::from_secs(90)));
        assert_eq!(ex.max_bytes, Some(50 * 1024 * 1024));
        assert!(ex.per_tab);
        let org = table.policy_for(&site("example.org"));
        assert_eq!(
            (org.max_age, org.max_bytes),
            (Some(Duration::from_secs(30)), Some(2048))
        );
        let net = table.policy_for(&site("example.net"));
        assert_eq!((net.max_age, net.max_bytes), (None, Some(1_000_000)));
        // Unlisted sites get the default; the catch-all is always keep-alive.
        assert_eq!(
            table.policy_for(&site("other.test")).max_age,
            Some(Duration::from_secs(600))
        );
        assert_eq!(table.policy_for(&Site::catch_all()), Policy::KEEP_ALIVE);
        // TOML and JSON round trips.
        assert_eq!(
            PolicyTable::from_toml(&table.to_toml(), &psl, "policy"),
            Ok(table.clone())
        );
        assert_eq!(
            PolicyTable::from_json(&table.to_json(), &psl),
            Ok(table.clone())
        );
        let text = toml::to_string(&table.to_toml()).expect("serialise");
        let reparsed: toml::Table = toml::from_str(&text).expect("reparse");
        assert_eq!(PolicyTable::from_toml(&reparsed, &psl, "policy"), Ok(table));
    }

    #[test]
    fn toml_errors_name_the_field() {
        let psl = psl();
        let err = |text: &str| {
            PolicyTable::from_toml(&section(text), &psl, "policy").expect_err("invalid")
        };
        let e = err("[policy]\nmax_age = \"10 parsecs\"");
        assert_eq!(e.field, "policy.max_age");
        assert!(e.message.contains("10m"), "{e}");
        assert_eq!(err("[policy]\nmax_age = \"8d\"").field, "policy.max_age");
        assert_eq!(
            err("[policy]\nmax_age = \"1500ms\"").field,
            "policy.max_age"
        );
        assert_eq!(err("[policy]\nmax_age = -1").field, "policy.max_age");
        assert_eq!(
            err("[policy]\nmax_bytes = \"12 bananas\"").field,
            "policy.max_bytes"
        );
        assert_eq!(err("[policy]\nmax_bytes = 10").field, "policy.max_bytes");
        assert_eq!(err("[policy]\nper_tab = \"yes\"").field, "policy.per_tab");
        assert_eq!(err("[policy]\nmaxage = 5").field, "policy.maxage");
        let e = err("[policy.sites.\"example.com\"]\nmax_bytes = 1");
        assert_eq!(e.field, "policy.sites.\"example.com\".max_bytes");
        let e = err("[policy.sites.\"a/b\"]\nper_tab = true");
        assert_eq!(e.field, "policy.sites.\"a/b\"");
        let e = err("[policy.sites.\"--unknown--\"]\nper_tab = true");
        assert!(e.message.contains("10 minutes"), "{e}");
        let e = err(
            "[policy.sites.\"www.example.com\"]\nper_tab = true\n[policy.sites.\"example.com\"]\nper_tab = false",
        );
        assert!(e.message.contains("second time"), "{e}");
    }

    #[test]
    fn config_section_validates_without_a_psl_and_resolves_later() {
        let t = section(
            "[policy]\nmax_age = \"10m\"\n[policy.sites.\"www.example.com\"]\nper_tab = true",
        );
        let parsed = PolicySection::from_toml(&t, "policy").expect("valid");
        assert_eq!(parsed.sites[0].0, "www.example.com");
        let psl = psl();
        let table = parsed.resolve(&psl, "policy").expect("resolve");
        assert_eq!(
            table,
            PolicyTable::from_toml(&t, &psl, "policy").expect("same")
        );
        let e = PolicySection::from_toml(&section("[policy]\nmax_bytes = 5"), "policy")
            .expect_err("range");
        assert_eq!(e.field, "policy.max_bytes");
        let twice = section(
            "[policy.sites.\"a.example.com\"]\nper_tab = true\n[policy.sites.\"example.com\"]\nper_tab = true",
        );
        let e = PolicySection::from_toml(&twice, "policy")
            .expect("values are fine")
            .resolve(&psl, "policy")
            .expect_err("same site twice");
        assert!(e.message.contains("second time"), "{e}");
        assert_eq!(
            PolicySection::default().resolve(&psl, "policy"),
            Ok(PolicyTable::default())
        );
    }

    #[test]
    fn layers_override_and_remove() {
        let psl = psl();
        let site = |s: &str| Site::parse(s, &psl).expect("site");
        let base = PolicyTable::from_toml(
            &section("[policy.sites.\"example.com\"]\nmax_age = 60\n[policy.sites.\"example.org\"]\nper_tab = true"),
            &psl,
            "policy",
        )
        .expect("base");
        let mut layer = PolicyLayer::default();
        layer
            .record(Some(site("example.com")), None)
            .expect("remove");
        let tab = Policy::new(None, Some(4096), true, "policy").expect("valid");
        layer
            .record(Some(site("example.net")), Some(tab))
            .expect("add");
        let every_minute =
            Policy::new(Some(Duration::from_secs(60)), None, false, "p").expect("ok");
        layer.record(None, Some(every_minute)).expect("default");
        assert_eq!(
            layer.record(None, None).expect_err("null default").field,
            "policy"
        );
        assert_eq!(
            layer
                .record(Some(Site::catch_all()), Some(tab))
                .expect_err("catch-all")
                .field,
            "site"
        );
        let table = layer.apply(&base);
        assert_eq!(table.default_policy(), every_minute);
        assert_eq!(
            table.policy_for(&site("example.com")),
            every_minute,
            "override removed"
        );
        assert!(table.policy_for(&site("example.org")).per_tab, "base kept");
        assert_eq!(table.policy_for(&site("example.net")), tab);
        // The layer survives a TOML round trip, removals included.
        let again = PolicyLayer::from_toml(&layer.to_toml(), &psl, "policy").expect("reparse");
        assert_eq!(again, layer);
        // `use_default` belongs in the overrides file only.
        let e = PolicyTable::from_toml(&layer.to_toml(), &psl, "policy").expect_err("config");
        assert!(e.field.ends_with("use_default"), "{e}");
    }
}
