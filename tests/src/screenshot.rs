//! Screenshots of extension pages for the documentation: a trial takes one after its checks
//! passed, and writes it under `docs/screenshots/` only when `PERSITE_SCREENSHOTS=1` is set (so
//! an ordinary test run leaves the work tree alone).

use std::path::PathBuf;

use anyhow::{Context as _, ensure};
use fantoccini::Locator;

use crate::firefox::Firefox;

/// Whether this run should write screenshots into `docs/screenshots/`.
pub fn enabled() -> bool {
    std::env::var("PERSITE_SCREENSHOTS").is_ok_and(|v| v == "1")
}

/// `docs/screenshots/<name>` in this repository.
pub fn docs_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs")
        .join("screenshots")
        .join(name)
}

/// Sizes the window to `width` × `height`, screenshots the current tab and, when [`enabled`],
/// writes the PNG to `docs/screenshots/<name>`. Returns the path written, if any.
pub async fn save_for_docs(
    ff: &Firefox,
    name: &str,
    width: u32,
    height: u32,
) -> anyhow::Result<Option<PathBuf>> {
    ff.client()
        .set_window_size(width, height)
        .await
        .context("sizing the window for a screenshot")?;
    let png = ff
        .client()
        .screenshot()
        .await
        .context("taking a screenshot")?;
    anyhow::ensure!(
        png.starts_with(b"\x89PNG"),
        "the screenshot is not a PNG ({} bytes)",
        png.len()
    );
    if !enabled() {
        return Ok(None);
    }
    let path = docs_path(name);
    std::fs::create_dir_all(path.parent().context("docs/screenshots has a parent")?)?;
    std::fs::write(&path, &png).with_context(|| format!("writing {}", path.display()))?;
    Ok(Some(path))
}

/// Takes a screenshot of the element matching `css` in the current tab and writes it to
/// `<target>/screenshots/<name>`; when `publish` and `PERSITE_SCREENSHOTS=1`, also to
/// `docs/screenshots/<name>` (the README's figures). Returns the path under the target directory.
pub async fn element(
    ff: &Firefox,
    css: &str,
    name: &str,
    publish: bool,
) -> anyhow::Result<std::path::PathBuf> {
    // An element screenshot is clipped to the viewport: grow the window to the page's height
    // (headless Firefox may refuse beyond its screen; then the top of the page is what shows).
    let sizes = ff
        .client()
        .execute(
            "window.scrollTo(0, 0); return [document.documentElement.scrollHeight, \
             window.outerHeight - window.innerHeight];",
            vec![],
        )
        .await
        .context("measuring the page for the screenshot")?;
    let (width, height) = ff.client().get_window_size().await?;
    let (width, height) = (
        u32::try_from(width).unwrap_or(u32::MAX),
        u32::try_from(height).unwrap_or(u32::MAX),
    );
    let mut resized = false;
    if let (Some(page), Some(chrome)) = (sizes[0].as_u64(), sizes[1].as_u64()) {
        let wanted = u32::try_from((page + chrome).min(4000)).unwrap_or(4000);
        if wanted > height {
            resized = ff.client().set_window_size(width, wanted).await.is_ok();
        }
    }
    let png = ff
        .client()
        .find(Locator::Css(css))
        .await
        .with_context(|| format!("finding {css} for the screenshot"))?
        .screenshot()
        .await
        .with_context(|| format!("screenshot of {css}"));
    if resized {
        // Later trials in this browser expect the window they had.
        let _ = ff.client().set_window_size(width, height).await;
    }
    let png = png?;
    ensure!(
        png.starts_with(b"\x89PNG"),
        "the screenshot of {css} is not a PNG"
    );
    let dir = crate::binaries::target_dir().join("screenshots");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    std::fs::write(&path, &png)?;
    if publish && enabled() {
        let docs = docs_path(name);
        std::fs::create_dir_all(docs.parent().context("docs/screenshots has a parent")?)?;
        std::fs::write(&docs, &png).with_context(|| format!("writing {}", docs.display()))?;
    }
    Ok(path)
}
