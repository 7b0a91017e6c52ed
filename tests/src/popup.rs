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

/// The popup's verdict as shown: `#status`'s `data-state`, `data-problem` and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopupStatus {
    /// `unknown` | `protected` | `idle` | `at-risk` | `broken`.
    pub state: String,
    /// The check the words are about (`extension/src/health.js` ids), or "".
    pub problem: String,
    /// The headline.
    pub headline: String,
    /// What to do (`#status-fix`), or "".
    pub fix: String,
}

/// Waits (up to `bound`) until the popup in the current tab shows the verdict `state`; fails
/// with the last verdict shown.
pub async fn wait_popup_state(
    ff: &Firefox,
    state: &str,
    bound: Duration,
) -> anyhow::Result<PopupStatus> {
    let started = Instant::now();
    loop {
        let shown = popup_status(ff).await?;
        if shown.state == state {
            return Ok(shown);
        }
        ensure!(
            started.elapsed() < bound,
            "the popup never showed {state} within {bound:?}; last {shown:?}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The popup's verdict in the current tab.
pub async fn popup_status(ff: &Firefox) -> anyhow::Result<PopupStatus> {
    let value = ff
        .client()
        .execute(
            r#"const s = document.getElementById('status');
               const fix = document.getElementById('status-fix');
               return [s.dataset.state || '', s.dataset.problem || '', s.textContent,
                       fix.hidden ? '' : fix.textContent];"#,
            vec![],
        )
        .await?;
    let text = |i: usize| value[i].as_str().unwrap_or_default().to_owned();
    Ok(PopupStatus {
        state: text(0),
        problem: text(1),
        headline: text(2),
        fix: text(3),
    })
}

/// Opens the status page in the current tab and waits until it has shown a status.
pub async fn show_status_page(ff: &Firefox) -> anyhow::Result<()> {
    ff.goto(&format!(
        "moz-extension://{PERSITE_EXTENSION_UUID}/status/status.html"
    ))
    .await?;
    wait_for_script(
        ff,
        "return document.body.dataset.ready === 'true';",
        "the status page to be ready",
        PAGE_TIMEOUT,
    )
    .await
}

/// The status page's checks in the current tab: `(data-check, data-state)` in order.
pub async fn status_checks(ff: &Firefox) -> anyhow::Result<Vec<(String, String)>> {
    let value = ff
        .client()
        .execute(
            "return [...document.querySelectorAll('#checks > li.check')].map((li) => [li.dataset.check, li.dataset.state]);",
            vec![],
        )
        .await?;
    Ok(value
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        r[0].as_str().unwrap_or_default().to_owned(),
                        r[1].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Waits (up to `bound`) until every check named in `expected` shows its state on the status
/// page in the current tab; returns all checks.
pub async fn wait_status_checks(
    ff: &Firefox,
    expected: &[(&str, &str)],
    bound: Duration,
) -> anyhow::Result<Vec<(String, String)>> {
    let started = Instant::now();
    loop {
        let checks = status_checks(ff).await?;
        let matches = expected.iter().all(|(id, state)| {
            checks
                .iter()
                .any(|(i, s)| i.as_str() == *id && s.as_str() == *state)
        });
        if matches {
            return Ok(checks);
        }
        ensure!(
            started.elapsed() < bound,
            "the status page never showed {expected:?} within {bound:?}; it shows {checks:?}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
