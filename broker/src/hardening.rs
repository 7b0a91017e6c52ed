//! The Firefox settings Persite depends on but an extension cannot set, in one table.
//!
//! The table renders the shipped `user.js` and `policies.json` (`persite firefox-config`) and is
//! what `persite doctor --profile` checks a profile against, so the three never drift apart.
//! Why each setting matters is in `why`, and `docs/install.md` explains them for people.
//!
//! Reading a profile is kept free of I/O: [`parse_prefs`] takes the text of `prefs.js` or
//! `user.js`, [`check_prefs`] compares parsed values with the table.

use std::collections::HashMap;
use std::fmt;

/// A preference value as Firefox stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefValue {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
}

impl fmt::Display for PrefValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrefValue::Bool(b) => write!(f, "{b}"),
            PrefValue::Int(i) => write!(f, "{i}"),
            PrefValue::Str(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
        }
    }
}

impl PrefValue {
    fn to_json(&self) -> serde_json::Value {
        match self {
            PrefValue::Bool(b) => (*b).into(),
            PrefValue::Int(i) => (*i).into(),
            PrefValue::Str(s) => s.clone().into(),
        }
    }
}

/// One required preference: its name, the value Persite needs, and why.
#[derive(Debug, Clone)]
pub struct RequiredPref {
    /// Preference name, e.g. `network.proxy.failover_direct`.
    pub name: &'static str,
    /// The value Persite needs.
    pub value: PrefValue,
    /// One sentence: what goes wrong without it.
    pub why: &'static str,
}

/// The SOCKS endpoint the browser's own (default) proxy must point at: tor's SocksPort, the
/// same type (and the same accepted hosts) as `config.toml`'s `[socks]`.
pub use crate::config::SocksEndpoint;

/// Every preference Persite requires, for a browser whose default proxy is `socks`.
pub fn required_prefs(socks: &SocksEndpoint) -> Vec<RequiredPref> {
    use PrefValue::{Bool, Int, Str};
    let p = |name, value, why| RequiredPref { name, value, why };
    vec![
        p(
            "network.proxy.type",
            Int(1),
            "The browser's default proxy (manual) catches everything the extension never sees: start-up before extensions load, a disabled or crashed extension, listener errors.",
        ),
        p(
            "network.proxy.socks",
            Str(socks.host.clone()),
            "The default proxy is tor's SocksPort, so traffic outside the extension is still on Tor (unisolated, never direct).",
        ),
        p(
            "network.proxy.socks_port",
            Int(i64::from(socks.port)),
            "See network.proxy.socks.",
        ),
        p(
            "network.proxy.socks_version",
            Int(5),
            "SOCKS5 carries the per-site username/password that tor isolates on.",
        ),
        p(
            "network.proxy.socks_remote_dns",
            Bool(true),
            "Host names are resolved by tor's exit, not by the local resolver.",
        ),
        p(
            "network.proxy.socks5_remote_dns",
            Bool(true),
            "Newer Firefox splits remote DNS per SOCKS version; same reason.",
        ),
        p(
            "network.proxy.no_proxies_on",
            Str(String::new()),
            "No host bypasses the proxy.",
        ),
        p(
            "network.proxy.allow_hijacking_localhost",
            Bool(true),
            "localhost is proxied too (tor refuses it), as in Tor Browser.",
        ),
        p(
            "network.proxy.failover_direct",
            Bool(false),
            "When a proxy fails, Firefox must not retry system requests directly.",
        ),
        p(
            "network.proxy.allow_bypass",
            Bool(false),
            "Firefox's own services may not bypass a failing proxy.",
        ),
        p(
            "network.dns.disabled",
            Bool(true),
            "No local DNS at all: a leak fails loudly instead of silently.",
        ),
        p(
            "network.trr.mode",
            Int(5),
            "DNS over HTTPS off: it would resolve names outside Tor.",
        ),
        p(
            "network.dns.native_https_query",
            Bool(false),
            "Stops HTTPS-record (type 65) DNS queries that Firefox otherwise sends to the system resolver even with remote DNS.",
        ),
        p(
            "network.dns.disablePrefetch",
            Bool(true),
            "No DNS prefetch before the first proxied request.",
        ),
        p(
            "network.dns.disablePrefetchFromHTTPS",
            Bool(true),
            "Same, for HTTPS pages.",
        ),
        p(
            "network.predictor.enabled",
            Bool(false),
            "No speculative connections: they carry no first party and would use the catch-all circuit.",
        ),
        p(
            "network.prefetch-next",
            Bool(false),
            "No link prefetching (same reason).",
        ),
        p(
            "network.http.speculative-parallel-limit",
            Int(0),
            "No speculative pre-connections (same reason).",
        ),
        p(
            "browser.urlbar.speculativeConnect.enabled",
            Bool(false),
            "The URL bar must not pre-connect to a site before you choose it.",
        ),
        p(
            "browser.places.speculativeConnect.enabled",
            Bool(false),
            "Bookmarks and history must not pre-connect either.",
        ),
        p(
            "network.http.http3.enable",
            Bool(false),
            "HTTP/3 is UDP, which SOCKS over Tor cannot carry.",
        ),
        p(
            "media.peerconnection.enabled",
            Bool(false),
            "WebRTC is not proxied and can reveal local addresses.",
        ),
        p(
            "privacy.partition.network_state.connection_with_proxy",
            Bool(true),
            "Partitions TLS session resumption and Alt-Svc by site even behind a proxy, so a server cannot link two sites' circuits through resumption.",
        ),
        p(
            "network.http.originextension",
            Bool(false),
            "Without first-party isolation, HTTP/2 ORIGIN-frame coalescing is keyed without proxy credentials and could let one site's request ride another site's connection.",
        ),
        p(
            "network.http.max-persistent-connections-per-proxy",
            Int(256),
            "Every site has its own connections to the one proxy; the stock limit would queue them (Tor Browser's value).",
        ),
        p(
            "network.http.connection-retry-timeout",
            Int(0),
            "No second, backup connection when the SOCKS handshake is slow: tor builds the stream, a duplicate only adds a stream (Tor Browser: same).",
        ),
        // Background traffic. What these turn off would otherwise run on the catch-all circuit
        // (or, before the extension loads, the default proxy): never direct, but shared by all
        // sites, and some of it names the sites you visit.
        p(
            "dom.serviceWorkers.enabled",
            Bool(false),
            "A service worker fetches with no tab (update checks, push, background sync), so its requests cannot be tied to the site's circuit for sure (Tor Browser: same).",
        ),
        p(
            "dom.push.enabled",
            Bool(false),
            "Web Push keeps one connection to Mozilla's push server for all sites and wakes sites' service workers with no page open (Tor Browser: same).",
        ),
        p(
            "security.OCSP.enabled",
            Int(0),
            "An OCSP query names the certificate of the site you open but carries no first party, so every site's query would share the catch-all circuit; OCSP responses stapled by the server are still checked (Tor Browser keeps OCSP on because first-party isolation puts it on the site's circuit, which an extension cannot do).",
        ),
        p(
            "browser.safebrowsing.malware.enabled",
            Bool(false),
            "Safe Browsing sends hash prefixes of the pages you open to Google on the shared circuit (Tor Browser: same).",
        ),
        p(
            "browser.safebrowsing.phishing.enabled",
            Bool(false),
            "See browser.safebrowsing.malware.enabled (Tor Browser: same).",
        ),
        p(
            "browser.safebrowsing.blockedURIs.enabled",
            Bool(false),
            "See browser.safebrowsing.malware.enabled (Tor Browser: same).",
        ),
        p(
            "browser.safebrowsing.downloads.enabled",
            Bool(false),
            "Checks every download against Safe Browsing lists (Tor Browser: same).",
        ),
        p(
            "browser.safebrowsing.downloads.remote.enabled",
            Bool(false),
            "Sends the name, size and source of downloads to Google (Tor Browser: same).",
        ),
        p(
            "browser.safebrowsing.provider.google4.updateURL",
            Str(String::new()),
            "No periodic Safe Browsing list downloads (Tor Browser: same).",
        ),
        p(
            "browser.safebrowsing.provider.google4.gethashURL",
            Str(String::new()),
            "No full-hash lookups for pages you open (Tor Browser: same).",
        ),
        p(
            "browser.safebrowsing.provider.google.updateURL",
            Str(String::new()),
            "Same, for the older Safe Browsing protocol (Tor Browser: same).",
        ),
        p(
            "browser.safebrowsing.provider.google.gethashURL",
            Str(String::new()),
            "Same, for the older Safe Browsing protocol (Tor Browser: same).",
        ),
        p(
            "toolkit.telemetry.enabled",
            Bool(false),
            "Telemetry reports browser use to Mozilla under one client id that links sessions (Tor Browser: same).",
        ),
        p(
            "toolkit.telemetry.unified",
            Bool(false),
            "See toolkit.telemetry.enabled (Tor Browser: same).",
        ),
        p(
            "datareporting.healthreport.uploadEnabled",
            Bool(false),
            "No telemetry upload (Tor Browser: same).",
        ),
        p(
            "datareporting.usage.uploadEnabled",
            Bool(false),
            "No usage-reporting ping (newer Firefox; the DisableTelemetry policy sets it too).",
        ),
        p(
            "toolkit.telemetry.server",
            Str("data:,".to_owned()),
            "Telemetry has nowhere to send pings even if something turns it back on (Tor Browser: same).",
        ),
        p(
            "datareporting.policy.dataSubmissionEnabled",
            Bool(false),
            "No data submission of any kind to Mozilla (Tor Browser: same).",
        ),
        p(
            "browser.tabs.crashReporting.sendReport",
            Bool(false),
            "A tab crash report can name the page that crashed (Tor Browser: same).",
        ),
        p(
            "browser.crashReports.unsubmittedCheck.autoSubmit2",
            Bool(false),
            "No automatic sending of stored crash reports (Tor Browser: same).",
        ),
        p(
            "app.normandy.enabled",
            Bool(false),
            "Studies (Normandy) change preferences remotely, including ones in this file (Tor Browser: same).",
        ),
        p(
            "app.shield.optoutstudies.enabled",
            Bool(false),
            "No enrolment in studies (Tor Browser: same).",
        ),
        p(
            "messaging-system.rsexperimentloader.enabled",
            Bool(false),
            "No Nimbus experiments, which also change preferences remotely (Tor Browser: same).",
        ),
        p(
            "network.captive-portal-service.enabled",
            Bool(false),
            "No captive-portal checks to detectportal.firefox.com on a timer and on every network change (Tor Browser: same).",
        ),
        p(
            "network.connectivity-service.enabled",
            Bool(false),
            "No connectivity checks, which resolve names with the local resolver (Tor Browser: same).",
        ),
        p(
            "browser.send_pings",
            Bool(false),
            "No hyperlink-auditing pings: a tracking-only request to any URL, sent as you leave the page (Tor Browser: same).",
        ),
        p(
            "beacon.enabled",
            Bool(false),
            "No navigator.sendBeacon: analytics requests meant to outlive the page that sent them (Tor Browser: same).",
        ),
        p(
            "geo.enabled",
            Bool(false),
            "No geolocation: it locates you by nearby Wi-Fi networks whatever circuit carries it (Tor Browser: same).",
        ),
        p(
            "geo.provider.network.url",
            Str(String::new()),
            "No network location service to ask (Tor Browser: same).",
        ),
        p(
            "browser.region.network.url",
            Str(String::new()),
            "No region lookup by IP address (Tor Browser: same).",
        ),
        p(
            "browser.region.update.enabled",
            Bool(false),
            "See browser.region.network.url (Tor Browser: same).",
        ),
        p(
            "browser.search.suggest.enabled",
            Bool(false),
            "Search suggestions send what you type in the address bar to the search engine, before you choose a site, on the shared circuit (Tor Browser: same).",
        ),
        p(
            "browser.urlbar.suggest.searches",
            Bool(false),
            "See browser.search.suggest.enabled (Tor Browser: same).",
        ),
        p(
            "browser.urlbar.suggest.quicksuggest.sponsored",
            Bool(false),
            "Firefox Suggest: no sponsored suggestions for what you type (Tor Browser: same).",
        ),
        p(
            "browser.urlbar.suggest.quicksuggest.nonsponsored",
            Bool(false),
            "Firefox Suggest: no other suggestions for what you type (Tor Browser: same).",
        ),
        p(
            "browser.urlbar.dnsResolveSingleWordsAfterSearch",
            Int(0),
            "A single word typed in the address bar is not looked up as a host name (Tor Browser: same).",
        ),
        p(
            "browser.newtabpage.activity-stream.feeds.section.topstories",
            Bool(false),
            "The new tab page fetches no stories (Tor Browser: same).",
        ),
        p(
            "browser.newtabpage.activity-stream.showSponsored",
            Bool(false),
            "The new tab page fetches no sponsored content (Tor Browser: same).",
        ),
        p(
            "browser.newtabpage.activity-stream.showSponsoredTopSites",
            Bool(false),
            "No sponsored shortcuts, fetched from a Mozilla server (Tor Browser: same).",
        ),
        p(
            "identity.fxaccounts.enabled",
            Bool(false),
            "No Firefox account and Sync, which would upload history and open tabs (Tor Browser: same).",
        ),
        p(
            "extensions.getAddons.cache.enabled",
            Bool(false),
            "No daily upload of the list of installed add-ons to fetch their metadata (Tor Browser: same).",
        ),
    ]
}

/// Renders the shipped `user.js` for `socks`.
pub fn render_user_js(socks: &SocksEndpoint) -> String {
    let mut out = String::from(
        "// Persite: Firefox settings that keep traffic on Tor when the extension is not running,\n\
         // and stop the leaks an extension cannot stop. Copy into your profile folder as user.js.\n\
         // Generated by `persite firefox-config user-js`; docs/install.md explains each one.\n",
    );
    for pref in required_prefs(socks) {
        out.push_str(&format!(
            "\n// {}\nuser_pref(\"{}\", {});\n",
            pref.why, pref.name, pref.value
        ));
    }
    out
}

/// Renders the shipped `policies.json` for `socks`: the default proxy locked to tor's
/// SocksPort, the other preferences locked, and the extension allowed in private windows.
pub fn render_policies_json(socks: &SocksEndpoint, extension_id: &str) -> String {
    let mut prefs = serde_json::Map::new();
    for pref in required_prefs(socks) {
        if pref.name.starts_with("network.proxy.") && PROXY_POLICY_PREFS.contains(&pref.name) {
            continue; // set through the dedicated Proxy policy below
        }
        if !policy_may_set(pref.name) {
            continue; // Firefox refuses it in `Preferences`; user.js sets it
        }
        prefs.insert(
            pref.name.to_owned(),
            serde_json::json!({"Value": pref.value.to_json(), "Status": "locked"}),
        );
    }
    let policies = serde_json::json!({
        "policies": {
            "Proxy": {
                "Mode": "manual",
                "Locked": true,
                "SOCKSProxy": format!("{}:{}", socks.host, socks.port),
                "SOCKSVersion": 5,
                "UseProxyForDNS": true,
                "Passthrough": ""
            },
            "ExtensionSettings": {
                extension_id: {"private_browsing": true}
            },
            // Dedicated policies for what `Preferences` may not lock: telemetry upload, studies
            // (Normandy and Nimbus), Firefox accounts and Sync.
            "DisableTelemetry": true,
            "DisableFirefoxStudies": true,
            "DisableFirefoxAccounts": true,
            "Preferences": prefs
        }
    });
    let mut text = serde_json::to_string_pretty(&policies).unwrap_or_default();
    text.push('\n');
    text
}

/// Whether Firefox's `Preferences` policy accepts `name`. Firefox ignores (and logs) any other
/// name, so the shipped `policies.json` leaves those to `user.js`. Mirrors `allowedPrefixes` and
/// `allowedSecurityPrefs` of `Policies.sys.mjs` (Firefox ESR 153), for the names in the table.
pub fn policy_may_set(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "app.update.",
        "browser.",
        "datareporting.policy.",
        "dom.",
        "extensions.",
        "geo.",
        "media.",
        "network.",
    ];
    const SECURITY: &[&str] = &["security.OCSP.enabled"];
    PREFIXES.iter().any(|p| name.starts_with(p)) || SECURITY.contains(&name)
}

/// Preferences the `Proxy` policy sets itself (so `Preferences` does not repeat them).
const PROXY_POLICY_PREFS: &[&str] = &[
    "network.proxy.type",
    "network.proxy.socks",
    "network.proxy.socks_port",
    "network.proxy.socks_version",
    "network.proxy.socks_remote_dns",
    "network.proxy.socks5_remote_dns",
    "network.proxy.no_proxies_on",
];

/// Why a line of `prefs.js` / `user.js` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct PrefsParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Parses the `user_pref("name", value);` / `pref(...)` lines of a `prefs.js` or `user.js`.
/// Later lines win, as in Firefox. Comments and blank lines are skipped; any other line that
/// starts like a pref call but cannot be read is an error.
pub fn parse_prefs(text: &str) -> Result<HashMap<String, PrefValue>, PrefsParseError> {
    let mut prefs = HashMap::new();
    let mut in_block_comment = false;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if in_block_comment {
            if line.contains("*/") {
                in_block_comment = false;
            }
            continue;
        }
        if line.starts_with("/*") {
            in_block_comment = !line.contains("*/");
            continue;
        }
        if line.is_empty() || line.starts_with("//") || line.starts_with('#') {
            continue;
        }
        let err = |reason: &str| PrefsParseError {
            line: index + 1,
            reason: reason.to_owned(),
        };
        let args = ["user_pref(", "pref(", "sticky_pref(", "lock_pref("]
            .iter()
            .find_map(|call| line.strip_prefix(call))
            .ok_or_else(|| err("not a pref(…) call"))?;
        let args = args
            .trim_end()
            .strip_suffix(';')
            .unwrap_or(args)
            .trim_end()
            .strip_suffix(')')
            .ok_or_else(|| err("missing closing parenthesis"))?;
        // A JSON array parser reads the quoted name and value with their escapes.
        let parsed: Vec<serde_json::Value> = serde_json::from_str(&format!("[{args}]"))
            .map_err(|e| err(&format!("cannot read the arguments: {e}")))?;
        let [name, value] = parsed.as_slice() else {
            return Err(err("expected a name and a value"));
        };
        let name = name
            .as_str()
            .ok_or_else(|| err("the name is not a string"))?;
        let value = match value {
            serde_json::Value::Bool(b) => PrefValue::Bool(*b),
            serde_json::Value::Number(n) => {
                PrefValue::Int(n.as_i64().ok_or_else(|| err("not an integer"))?)
            }
            serde_json::Value::String(s) => PrefValue::Str(s.clone()),
            _ => return Err(err("the value is not a boolean, integer or string")),
        };
        prefs.insert(name.to_owned(), value);
    }
    Ok(prefs)
}

/// A required preference that a profile does not have right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefProblem {
    /// The preference.
    pub name: &'static str,
    /// What Persite needs.
    pub expected: PrefValue,
    /// What the profile has (`None`: not set, so Firefox's default applies).
    pub found: Option<PrefValue>,
    /// Why it matters.
    pub why: &'static str,
}

impl fmt::Display for PrefProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.found {
            Some(found) => write!(
                f,
                "{} is {found}, needs {}: {}",
                self.name, self.expected, self.why
            ),
            None => write!(
                f,
                "{} is not set, needs {}: {}",
                self.name, self.expected, self.why
            ),
        }
    }
}

/// Compares a profile's preferences with the table. Firefox's built-in defaults are not known
/// here, so a preference that is not set counts as a problem unless the table's value is
/// Firefox's default for every supported version (none are assumed).
pub fn check_prefs(prefs: &HashMap<String, PrefValue>, socks: &SocksEndpoint) -> Vec<PrefProblem> {
    required_prefs(socks)
        .into_iter()
        .filter_map(|req| {
            let found = prefs.get(req.name).cloned();
            (found.as_ref() != Some(&req.value)).then_some(PrefProblem {
                name: req.name,
                expected: req.value,
                found,
                why: req.why,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_user_js_parses_back_and_passes_its_own_check() {
        let socks = SocksEndpoint {
            host: "127.0.0.1".into(),
            port: 9150,
        };
        let prefs = parse_prefs(&render_user_js(&socks)).unwrap();
        assert_eq!(prefs.len(), required_prefs(&socks).len());
        assert_eq!(prefs["network.proxy.socks_port"], PrefValue::Int(9150));
        assert!(check_prefs(&prefs, &socks).is_empty());
    }

    #[test]
    fn check_reports_wrong_and_missing_prefs() {
        let socks = SocksEndpoint::default();
        let mut prefs = parse_prefs(&render_user_js(&socks)).unwrap();
        prefs.insert(
            "network.proxy.failover_direct".into(),
            PrefValue::Bool(true),
        );
        prefs.remove("network.dns.native_https_query");
        let problems = check_prefs(&prefs, &socks);
        let names: Vec<_> = problems.iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "network.proxy.failover_direct",
                "network.dns.native_https_query"
            ]
        );
        assert_eq!(problems[0].found, Some(PrefValue::Bool(true)));
        assert_eq!(problems[1].found, None);
        assert!(problems[0].to_string().contains("needs false"));
    }

    #[test]
    fn parses_firefox_prefs_js_syntax() {
        let text = r#"// Mozilla User Preferences
/* a block
   comment */
user_pref("a.bool", true);
user_pref("a.int", -3);
user_pref("a.str", "quote \" and \\ backslash");
pref("b", false);
user_pref("a.int", 4);
"#;
        let prefs = parse_prefs(text).unwrap();
        assert_eq!(prefs["a.bool"], PrefValue::Bool(true));
        assert_eq!(prefs["a.int"], PrefValue::Int(4), "later lines win");
        assert_eq!(
            prefs["a.str"],
            PrefValue::Str("quote \" and \\ backslash".into())
        );
        assert_eq!(prefs["b"], PrefValue::Bool(false));
    }

    #[test]
    fn malformed_lines_are_errors_with_line_numbers() {
        for (text, line) in [
            ("user_pref(\"a\", true", 1),
            ("\nuser_pref(\"a\");", 2),
            ("user_pref(a, true);", 1),
            ("user_pref(\"a\", [1]);", 1),
            ("garbage", 1),
        ] {
            assert_eq!(parse_prefs(text).unwrap_err().line, line, "{text:?}");
        }
    }

    #[test]
    fn policies_lock_the_default_proxy_and_allow_private_windows() {
        let socks = SocksEndpoint::default();
        let json: serde_json::Value =
            serde_json::from_str(&render_policies_json(&socks, "persite@persite.org")).unwrap();
        let p = &json["policies"];
        assert_eq!(p["Proxy"]["SOCKSProxy"], "127.0.0.1:9050");
        assert_eq!(p["Proxy"]["Locked"], true);
        assert_eq!(
            p["ExtensionSettings"]["persite@persite.org"]["private_browsing"],
            true
        );
        assert_eq!(
            p["Preferences"]["network.proxy.failover_direct"]["Value"],
            false
        );
        assert_eq!(
            p["Preferences"]["network.proxy.failover_direct"]["Status"],
            "locked"
        );
        assert!(p["Preferences"].get("network.proxy.socks").is_none());
        // Firefox refuses these names in `Preferences`; dedicated policies and user.js cover them.
        assert!(p["Preferences"].get("toolkit.telemetry.enabled").is_none());
        assert!(p["Preferences"].get("beacon.enabled").is_none());
        assert_eq!(p["Preferences"]["security.OCSP.enabled"]["Value"], 0);
        assert_eq!(p["DisableTelemetry"], true);
        assert_eq!(p["DisableFirefoxStudies"], true);
        assert_eq!(p["DisableFirefoxAccounts"], true);
    }

    #[test]
    fn every_setting_is_listed_once_with_a_reason() {
        let prefs = required_prefs(&SocksEndpoint::default());
        let mut names = std::collections::BTreeSet::new();
        for pref in &prefs {
            assert!(names.insert(pref.name), "{} is listed twice", pref.name);
            assert!(pref.why.ends_with('.'), "{}: {:?}", pref.name, pref.why);
        }
    }
}
