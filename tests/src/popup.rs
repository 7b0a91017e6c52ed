//! Driving the Persite popup page in a WebDriver session: open it as a tab acting on another tab,
//! wait for page scripts, press its buttons and read its result message.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use fantoccini::Locator;
use fantoccini::wd::WindowHandle;
use serde_json::json;

use crate::firefox::{Firefox, PAGE_TIMEOUT, PERSITE_EXTENSION_UUID};

/// How often a condition in the page is asked again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Opens the popup in a new tab acting on extension tab `tab_id`; waits until it is ready.
pub async fn open_popup(ff: &Firefox, tab_id: u64) -> anyhow::Result<WindowHandle> {
    let handle = ff.open_tab().await?;
    show_popup_for(ff, tab_id).await?;
    Ok(handle)
}

/// Points the current tab at the popup acting on `tab_id`; waits (up to [`PAGE_TIMEOUT`]) until
/// it is ready.
pub async fn show_popup_for(ff: &Firefox, tab_id: u64) -> anyhow::Result<()> {
    let url = format!("moz-extension://{PERSITE_EXTENSION_UUID}/popup/popup.html?tab={tab_id}");
    ff.goto(&url).await?;
    wait_for_script(
        ff,
        "return document.body.dataset.ready === 'true';",
        "the popup to be ready",
        PAGE_TIMEOUT,
    )
    .await
}

/// Polls `script` in the current tab until it returns `true`; fails naming `what` after `bound`.
pub async fn wait_for_script(
    ff: &Firefox,
    script: &str,
    what: &str,
    bound: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let value = ff.client().execute(script, vec![]).await?;
        if value == json!(true) {
            return Ok(());
        }
        ensure!(
            started.elapsed() < bound,
            "timed out waiting for {what} (last answer {value})"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Clicks the element with id `id` in the current tab.
pub async fn click(ff: &Firefox, id: &str) -> anyhow::Result<()> {
    ff.client()
        .find(Locator::Id(id))
        .await
        .with_context(|| format!("finding #{id}"))?
        .click()
        .await
        .with_context(|| format!("clicking #{id}"))?;
    Ok(())
}

/// Waits until the popup's `#message` reports success; fails with its text on error, or after
/// `bound`.
pub async fn wait_popup_ok(ff: &Firefox, bound: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let state = ff
            .client()
            .execute(
                "const m = document.getElementById('message'); return [m.dataset.kind || '', m.textContent];",
                vec![],
            )
            .await?;
        match state[0].as_str() {
            Some("ok") => return Ok(()),
            Some("error") => bail!("the popup reported an error: {}", state[1]),
            _ => {}
        }
        ensure!(
            started.elapsed() < bound,
            "the popup reported nothing within {bound:?}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
