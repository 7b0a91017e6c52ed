//! Reads the Persite extension's `storage.session` mirror (`extension/src/controller.js`
//! `SESSION_KEY`) from Firefox's parent process, for trials that must talk to the daemon as the
//! browser does (with its browser-session secret) or check that a secret was forgotten.
//!
//! `storage.session` lives in the parent process's memory (`extensionStorageSession` in
//! Firefox's `toolkit/components/extensions/ExtensionStorage.sys.mjs`); values may be held as
//! `StructuredCloneHolder`s, which are deserialized here.

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::binaries::EXTENSION_ID;
use crate::firefox::Firefox;

/// `storage.session` key of the extension's mirror.
pub const SESSION_KEY: &str = "persite-state";

/// The extension's mirrored state (`{instance, brokerSocks, cache, sessions}`), or `null`
/// before its first write.
pub async fn mirror(ff: &Firefox) -> anyhow::Result<Value> {
    ff.chrome_execute(
        r#"const [id, key] = arguments;
           const { ExtensionParent } = ChromeUtils.importESModule(
             "resource://gre/modules/ExtensionParent.sys.mjs");
           const { extensionStorageSession } = ChromeUtils.importESModule(
             "resource://gre/modules/ExtensionStorage.sys.mjs");
           const extension = ExtensionParent.GlobalManager.getExtension(id);
           if (!extension) { throw new Error(`extension ${id} is not running`); }
           let value = extensionStorageSession.get(extension, [key])[key];
           if (value && typeof value.deserialize === "function") {
             value = value.deserialize(globalThis, true);
           }
           return value === undefined ? null : JSON.parse(JSON.stringify(value));"#,
        vec![json!(EXTENSION_ID), json!(SESSION_KEY)],
    )
    .await
    .context("reading the extension's storage.session")
}

/// The browser session's and the private browsing session's secrets (`sessions.js`), as
/// mirrored now.
pub async fn session_secrets(ff: &Firefox) -> anyhow::Result<(Option<String>, Option<String>)> {
    let state = mirror(ff).await?;
    let secret = |which: &str| state["sessions"][which].as_str().map(str::to_owned);
    Ok((secret("browser"), secret("private")))
}

/// The browser-session secret once the extension has mirrored it (bounded wait: it writes the
/// mirror within ~100 ms of starting).
pub async fn wait_browser_secret(
    ff: &Firefox,
    bound: std::time::Duration,
) -> anyhow::Result<String> {
    let started = std::time::Instant::now();
    loop {
        if let (Some(secret), _) = session_secrets(ff).await? {
            return Ok(secret);
        }
        anyhow::ensure!(
            started.elapsed() < bound,
            "the extension mirrored no browser-session secret within {bound:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
