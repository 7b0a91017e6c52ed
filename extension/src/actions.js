/**
 * The user's two actions, "New circuit for this site" and "New identity", as sequences of
 * steps over injected browser functions (background.js passes `browser.tabs` /
 * `browser.browsingData` wrappers; tests pass recorders). Mirrors Tor Browser
 * (tor-browser-isolation-facts.md §1.6–1.7).
 */

/**
 * Browsing data New identity removes: every `browsingData.remove` data type of Firefox that
 * holds per-site state, as Tor Browser's New Identity removes it. Left out on purpose:
 * `passwords` (Tor Browser keeps saved logins too) and `pluginData` (a no-op since Firefox
 * dropped plugins). What no extension can remove is listed in docs/architecture.md.
 */
export const IDENTITY_DATA_TYPES = Object.freeze([
  "cookies",
  "cache", // network, image, script and style caches
  "localStorage", // and sessionStorage
  "indexedDB",
  "serviceWorkers",
  "history",
  "formData",
  "downloads", // the list, not the files
]);

/**
 * New circuit for the site of tab `tabId`: the broker gives that site new credentials (all its
 * tabs and containers switch for new connections), then only this tab is reloaded bypassing
 * the cache, as in Tor Browser. Resolves with `{site}`.
 *
 * @param {import("./controller.js").Controller} controller
 * @param {{getTab: Function, reloadTab: Function}} api
 * @param {number} tabId
 */
export async function newCircuitForTab(controller, api, tabId) {
  const tab = await api.getTab(tabId);
  const { site } = await controller.newCircuit(tab.url, tab.cookieStoreId);
  await api.reloadTab(tabId);
  return { site };
}

/**
 * New identity. While it runs every request gets the black hole, so no page can make a
 * request that mixes old cookies with new circuits. Steps:
 * 1. the broker rotates every site's credentials and sends NEWNYM — if that fails, stop:
 *    nothing has been lost and the error is reported;
 * 2. the cache is emptied (done by the controller with step 1);
 * 3. if `closeTabs`, one fresh tab is opened and every other tab closed;
 * 4. the {@link IDENTITY_DATA_TYPES} are removed (cookies, cache, site storage, service
 *    workers, history, form history, the downloads list).
 * Failures of steps 3–4 are collected and thrown together at the end (after all steps ran).
 * Resolves with the broker's result (`{epoch}`).
 *
 * @param {import("./controller.js").Controller} controller
 * @param {{closeAllTabs: Function, removeBrowsingData: Function}} api
 * @param {{closeTabs: boolean}} options
 */
export async function newIdentity(controller, api, { closeTabs }) {
  return controller.withBarrier(async () => {
    const result = await controller.newIdentity();
    const failures = [];
    if (closeTabs) {
      try {
        await api.closeAllTabs();
      } catch (e) {
        failures.push(`closing tabs: ${messageOf(e)}`);
      }
    }
    failures.push(...(await removeIdentityData(api.removeBrowsingData)));
    if (failures.length > 0) {
      throw new Error(`New identity has new circuits, but: ${failures.join("; ")}`);
    }
    return result;
  });
}

/**
 * Removes {@link IDENTITY_DATA_TYPES} everywhere. If the combined call fails (e.g. a data type
 * this Firefox does not support), each type is removed on its own so one unsupported type
 * does not keep the others. Returns the failures as text.
 */
export async function removeIdentityData(removeBrowsingData) {
  const all = Object.fromEntries(IDENTITY_DATA_TYPES.map((type) => [type, true]));
  try {
    await removeBrowsingData({}, all);
    return [];
  } catch {
    const failures = [];
    for (const type of IDENTITY_DATA_TYPES) {
      try {
        await removeBrowsingData({}, { [type]: true });
      } catch (e) {
        failures.push(`removing ${type}: ${messageOf(e)}`);
      }
    }
    return failures;
  }
}

function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Opens one fresh tab in the last focused normal window (or a new window if there is none)
 * and closes every other tab of every window, as Tor Browser's New identity does.
 *
 * @param {{windows: object, tabs: object}} api `browser` or a recorder with the same methods
 */
export async function closeAllTabs(api) {
  const before = await api.tabs.query({});
  let freshTabId;
  try {
    const window = await api.windows.getLastFocused({ windowTypes: ["normal"] });
    freshTabId = (await api.tabs.create({ windowId: window.id, active: true })).id;
  } catch {
    const window = await api.windows.create({});
    freshTabId = window.tabs?.[0]?.id;
  }
  const doomed = before.map((tab) => tab.id).filter((id) => id !== freshTabId);
  if (doomed.length > 0) {
    await api.tabs.remove(doomed);
  }
}
