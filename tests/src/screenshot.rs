//! Screenshots of extension pages for the documentation: a trial takes one after its checks
//! passed, and writes it under `docs/screenshots/` only when `PERSITE_SCREENSHOTS=1` is set (so
//! an ordinary test run leaves the work tree alone).

use std::path::PathBuf;

use anyhow::Context as _;

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
