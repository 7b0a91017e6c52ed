/**
 * The popup page's query string. Pure.
 *
 * - `?tab=<tabId>`: act on that tab instead of the active tab (the end-to-end tests open the
 *   popup page as a normal tab and point it at the tab under test).
 * - `?confirm=new-identity`: open with the New identity confirmation showing (the keyboard
 *   shortcut opens the popup page this way).
 */

/**
 * Parses `location.search`. Returns `{tabId, confirmNewIdentity, error}`: `tabId` is `null`
 * when no tab is named (use the active tab); `error` is text when `tab` is present but not a
 * tab id, in which case the popup must not act on any tab.
 */
export function parsePopupQuery(search) {
  const params = new URLSearchParams(search);
  const confirmNewIdentity = params.get("confirm") === "new-identity";
  if (!params.has("tab")) {
    return { tabId: null, confirmNewIdentity, error: null };
  }
  const text = params.get("tab");
  if (!/^[0-9]{1,15}$/.test(text)) {
    return { tabId: null, confirmNewIdentity, error: "the ?tab= parameter is not a tab id" };
  }
  return { tabId: Number(text), confirmNewIdentity, error: null };
}

/** A readable name for a cookie store id. */
export function containerLabel(cookieStoreId) {
  if (cookieStoreId === "firefox-default") {
    return "Default";
  }
  if (cookieStoreId === "firefox-private") {
    return "Private window";
  }
  const match = /^firefox-container-([0-9]+)$/.exec(cookieStoreId ?? "");
  return match ? `Container ${match[1]}` : String(cookieStoreId);
}
