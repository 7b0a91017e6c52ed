/**
 * Names shared by the background page and the popup: the native host and the
 * `runtime.sendMessage` message types. Every reply is `{ok: true, …}` or
 * `{ok: false, error, code}`.
 */

/** Native messaging host name (protocol.md §4). */
export const NATIVE_HOST_NAME = "persite";

/** `runtime.sendMessage` types the background page answers. */
export const MESSAGE = Object.freeze({
  /** `{}` → `{status}` (Controller#status). */
  status: "persite:status",
  /** `{tabId}` → `{tabId, incognito, host, container, site}`. */
  tabInfo: "persite:tab-info",
  /** `{tabId}` → `{site}`; the tab is reloaded bypassing the cache. */
  newCircuit: "persite:new-circuit",
  /** `{}` → `{epoch}`; see actions.js newIdentity. */
  newIdentity: "persite:new-identity",
});
