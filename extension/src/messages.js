/**
 * Names shared by the background page and the popup: the native host, the
 * `runtime.sendMessage` message types and the popup's event port. Every reply is
 * `{ok: true, …}` or `{ok: false, error, code}` (`code`: the broker's error code, `protocol`
 * for an answer the extension cannot read, or `null`).
 */

/** Native messaging host name (protocol.md §4), from the generated protocol constants. */
export { NATIVE_HOST_NAME } from "./protocol-constants.js";

/** `runtime.sendMessage` types the background page answers. */
export const MESSAGE = Object.freeze({
  /** `{}` → `{status}` (Controller#status). */
  status: "persite:status",
  /** `{tabId}` → `{tabId, incognito, host, container, site}`. */
  tabInfo: "persite:tab-info",
  /** `{tabId}` → `{site}`; the tab is reloaded bypassing the cache. */
  newCircuit: "persite:new-circuit",
  /** `{}` → `{epoch, newnym, newnymDelayS}`; see actions.js newIdentity. */
  newIdentity: "persite:new-identity",
  /**
   * `{tabId}` → `{host, container, circuit}`: the circuit display of the tab's first party
   * (Controller#circuit; `host` and `circuit` are `null` for a page with no network first party).
   */
  circuit: "persite:circuit",
  /**
   * `{}` → the listener timings (perf-probe.js PerfProbe#report), or `{enabled: false}` while
   * `storage.local` `perfProbe` is not `true`.
   */
  perf: "persite:perf",
  /** `{}` → `{enabled}`; forgets the recorded timings. */
  perfReset: "persite:perf-reset",
  /** `{}` → `{policies}`: the broker's circuit-lifetime policies (policy-form.parsePolicyTable). */
  policyGet: "persite:policy-get",
  /**
   * `{site, policy}` → `{policies}` after the change; `site` `null` sets the default, `policy`
   * `null` removes the site's override (broker `policy_set`).
   */
  policySet: "persite:policy-set",
  /**
   * `{token}` → `{blocked: {host, tabId} | null, status}`: what the blocked page shows
   * (blocked.js; `null` for an unknown token) and the status (Controller#status).
   */
  blockedInfo: "persite:blocked-info",
  /** `{token}` → `{}`: loads the blocked page's URL again in its tab. */
  blockedRetry: "persite:blocked-retry",
  /**
   * `{}` → `{sites, policies, now}`: every site this browser session used with its circuit
   * (Controller#siteList; the sites page).
   */
  sites: "persite:sites",
  /** `{site}` → `{site}`: new credentials for that site in every container (the sites page). */
  siteNewCircuit: "persite:site-new-circuit",
  /** `{site, container}` → `{forgotten}`: removes the row from the sites page's list. */
  siteForget: "persite:site-forget",
});

/** Path of the first-run and status page inside the extension. */
export const STATUS_PAGE = "status/status.html";

/**
 * `runtime.connect` name of the popup's port. The background posts tor data on it as it
 * arrives: `{type: "circuit", circuit}` (a `circuit` push, protocol.parseCircuitResult) and
 * `{type: "tor_status", tor}` (protocol.parseTorStatus, or `null` when unknown).
 */
export const POPUP_PORT_NAME = "persite:popup";
