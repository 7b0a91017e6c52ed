//! The effective preferences of a Firefox profile, without I/O: `prefs.js`, then `user.js`
//! (Firefox applies it over `prefs.js` at every start), then an enterprise `policies.json`.
//!
//! Policies are mapped to the preferences they set: `Preferences` entries directly, and the
//! `Proxy` policy to the `network.proxy.*` preferences it controls (the mapping follows the
//! Firefox policy documentation for `Proxy`: `Mode`, `SOCKSProxy`, `SOCKSVersion`,
//! `UseProxyForDNS`, `Passthrough`). Locked (and plain-valued) entries win over the profile;
//! `"Status": "default"` entries apply only where the profile sets nothing.

use std::collections::HashMap;

use serde_json::Value;

use crate::hardening::PrefValue;

/// Preferences by name.
pub(crate) type Prefs = HashMap<String, PrefValue>;

/// What a `policies.json` contributes: values that override the profile, and defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PolicyPrefs {
    /// Locked or user-level values: they win over `prefs.js` and `user.js`.
    pub forced: Prefs,
    /// Default values: used only where the profile sets nothing.
    pub defaults: Prefs,
}

impl PolicyPrefs {
    /// How many preferences the policy sets.
    pub(crate) fn len(&self) -> usize {
        self.forced.len() + self.defaults.len()
    }
}

/// Reads the preferences a `policies.json` text sets; `Err` when it is not a policies file.
pub(crate) fn policy_prefs(text: &str) -> Result<PolicyPrefs, String> {
    let root: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let policies = root
        .get("policies")
        .and_then(Value::as_object)
        .ok_or("it has no \"policies\" object")?;
    let mut out = PolicyPrefs::default();
    if let Some(prefs) = policies.get("Preferences").and_then(Value::as_object) {
        for (name, entry) in prefs {
            let (value, status) = match entry {
                Value::Object(o) => (
                    o.get("Value"),
                    o.get("Status").and_then(Value::as_str).unwrap_or("default"),
                ),
                plain => (Some(plain), "locked"),
            };
            let Some(value) = value.and_then(json_pref) else {
                continue;
            };
            match status {
                "default" => out.defaults.insert(name.clone(), value),
                "clear" => None,
                _ => out.forced.insert(name.clone(), value),
            };
        }
    }
    // Dedicated policies that lock preferences of the table (`Policies.sys.mjs`).
    // `DisableFirefoxStudies` blocks studies as a feature and sets none of them.
    let enabled = |name: &str| policies.get(name).and_then(Value::as_bool) == Some(true);
    if enabled("DisableTelemetry") {
        for name in [
            "datareporting.healthreport.uploadEnabled",
            "datareporting.policy.dataSubmissionEnabled",
            "datareporting.usage.uploadEnabled",
        ] {
            out.forced.insert(name.into(), PrefValue::Bool(false));
        }
    }
    if enabled("DisableFirefoxAccounts") {
        out.forced
            .insert("identity.fxaccounts.enabled".into(), PrefValue::Bool(false));
    }
    if let Some(proxy) = policies.get("Proxy").and_then(Value::as_object) {
        let locked = proxy.get("Locked").and_then(Value::as_bool) == Some(true);
        let target = if locked {
            &mut out.forced
        } else {
            &mut out.defaults
        };
        let mode = proxy
            .get("Mode")
            .and_then(Value::as_str)
            .and_then(|m| match m {
                "none" => Some(0),
                "manual" => Some(1),
                "autoConfig" => Some(2),
                "autoDetect" => Some(4),
                "system" => Some(5),
                _ => None,
            });
        if let Some(mode) = mode {
            target.insert("network.proxy.type".into(), PrefValue::Int(mode));
        }
        if let Some(socks) = proxy.get("SOCKSProxy").and_then(Value::as_str) {
            let (host, port) = match socks.rsplit_once(':') {
                Some((h, p)) if p.parse::<u16>().is_ok() => (h, p.parse::<i64>().ok()),
                _ => (socks, None),
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            target.insert(
                "network.proxy.socks".into(),
                PrefValue::Str(host.to_owned()),
            );
            if let Some(port) = port {
                target.insert("network.proxy.socks_port".into(), PrefValue::Int(port));
            }
        }
        if let Some(v) = proxy.get("SOCKSVersion").and_then(Value::as_i64) {
            target.insert("network.proxy.socks_version".into(), PrefValue::Int(v));
        }
        if let Some(dns) = proxy.get("UseProxyForDNS").and_then(Value::as_bool) {
            for name in [
                "network.proxy.socks_remote_dns",
                "network.proxy.socks5_remote_dns",
            ] {
                target.insert(name.into(), PrefValue::Bool(dns));
            }
        }
        if let Some(pass) = proxy.get("Passthrough").and_then(Value::as_str) {
            target.insert(
                "network.proxy.no_proxies_on".into(),
                PrefValue::Str(pass.to_owned()),
            );
        }
    }
    Ok(out)
}

fn json_pref(value: &Value) -> Option<PrefValue> {
    match value {
        Value::Bool(b) => Some(PrefValue::Bool(*b)),
        Value::Number(n) => n.as_i64().map(PrefValue::Int),
        Value::String(s) => Some(PrefValue::Str(s.clone())),
        _ => None,
    }
}

/// The preferences Firefox ends up with: `prefs_js`, overridden by `user_js`, then the policy.
pub(crate) fn effective_prefs(
    prefs_js: &Prefs,
    user_js: &Prefs,
    policy: Option<&PolicyPrefs>,
) -> Prefs {
    let mut out = prefs_js.clone();
    out.extend(user_js.iter().map(|(k, v)| (k.clone(), v.clone())));
    if let Some(policy) = policy {
        for (k, v) in &policy.defaults {
            out.entry(k.clone()).or_insert_with(|| v.clone());
        }
        out.extend(policy.forced.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardening::{SocksEndpoint, check_prefs, render_policies_json};

    fn prefs(pairs: &[(&str, PrefValue)]) -> Prefs {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn user_js_overrides_prefs_js_and_locked_policy_overrides_both() {
        let base = prefs(&[
            ("network.proxy.failover_direct", PrefValue::Bool(true)),
            ("a", PrefValue::Int(1)),
        ]);
        let user = prefs(&[("network.proxy.failover_direct", PrefValue::Bool(false))]);
        let eff = effective_prefs(&base, &user, None);
        assert_eq!(eff["network.proxy.failover_direct"], PrefValue::Bool(false));
        assert_eq!(eff["a"], PrefValue::Int(1));
        let policy = policy_prefs(
            r#"{"policies": {"Preferences": {
                "a": {"Value": 2, "Status": "locked"},
                "b": {"Value": true, "Status": "default"},
                "network.proxy.failover_direct": {"Value": true, "Status": "default"}}}}"#,
        )
        .unwrap();
        let eff = effective_prefs(&base, &user, Some(&policy));
        assert_eq!(eff["a"], PrefValue::Int(2));
        assert_eq!(eff["b"], PrefValue::Bool(true));
        // A default does not override what the profile sets.
        assert_eq!(eff["network.proxy.failover_direct"], PrefValue::Bool(false));
    }

    #[test]
    fn the_shipped_policy_locks_all_firefox_lets_it_and_user_js_the_rest() {
        let socks = SocksEndpoint {
            host: "127.0.0.1".into(),
            port: 9150,
        };
        let policy = policy_prefs(&render_policies_json(&socks, "persite@persite.org")).unwrap();
        let eff = effective_prefs(&Prefs::new(), &Prefs::new(), Some(&policy));
        // Alone, the policy leaves exactly what Firefox's `Preferences` policy refuses and no
        // dedicated policy sets.
        let left: Vec<_> = check_prefs(&eff, &socks)
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(
            left,
            [
                "privacy.partition.network_state.connection_with_proxy",
                "toolkit.telemetry.enabled",
                "toolkit.telemetry.unified",
                "toolkit.telemetry.server",
                "app.normandy.enabled",
                "app.shield.optoutstudies.enabled",
                "messaging-system.rsexperimentloader.enabled",
                "beacon.enabled",
            ]
        );
        // With the shipped user.js as well, nothing is missing.
        let user_js =
            crate::hardening::parse_prefs(&crate::hardening::render_user_js(&socks)).unwrap();
        let eff = effective_prefs(&Prefs::new(), &user_js, Some(&policy));
        assert!(check_prefs(&eff, &socks).is_empty());
        // Against another SocksPort the proxy policy is wrong.
        let names: Vec<_> = check_prefs(&eff, &SocksEndpoint::default())
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["network.proxy.socks_port"]);
    }

    #[test]
    fn rejects_files_that_are_not_policies() {
        assert!(policy_prefs("{").unwrap_err().contains("JSON"));
        assert!(policy_prefs("{\"x\": 1}").unwrap_err().contains("policies"));
        assert_eq!(policy_prefs("{\"policies\": {}}").unwrap().len(), 0);
    }
}
