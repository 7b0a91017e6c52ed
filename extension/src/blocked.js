/**
 * Pages Persite blocked: a top-level navigation answered with the black hole
 * (proxy-decision.js) ends on Firefox's "The proxy server is refusing connections" page, which
 * names neither Persite nor the fix. The background notes every black-holed main-frame request
 * here; when Firefox reports that request failed, the tab is sent to the extension's own page
 * `blocked/blocked.html?id=<token>`, which says why and offers a retry.
 *
 * Privacy: the blocked URL stays in this object, in the background page's memory: the page's
 * address carries only a random token, and the page asks the background for the host (never
 * for the URL) to show. Nothing here changes a proxy answer. Pure (the random source is
 * injected).
 */

import { BLACK_HOLE_HOST } from "./proxy-decision.js";

/** Path of the blocked page inside the extension. */
export const BLOCKED_PAGE = "blocked/blocked.html";

/** At most this many black-holed navigations are remembered until Firefox reports on them. */
export const MAX_PENDING = 64;

/** At most this many blocked pages can still retry (the oldest is forgotten first). */
export const MAX_TOKENS = 32;

/** Whether a `proxy.onRequest` answer (an array of ProxyInfo) is the black hole. */
export function isBlackHole(answer) {
  return Array.isArray(answer) && answer[0]?.host === BLACK_HOLE_HOST;
}

/** Firefox errors that are not a failed connection: the user stopped or left the load. */
const NOT_A_FAILURE = new Set(["NS_BINDING_ABORTED", "NS_ERROR_ABORT"]);

/** Black-holed top-level navigations, and the blocked pages shown for them. */
export class BlockedNavigations {
  /** @param {(bytes: Uint8Array) => Uint8Array} [random] fills an array with random bytes */
  constructor(random = (bytes) => crypto.getRandomValues(bytes)) {
    this.random = random;
    /** requestId → {tabId, url}, for black-holed main-frame requests not yet failed. */
    this.pending = new Map();
    /** token → {tabId, url}, for blocked pages shown. */
    this.tokens = new Map();
  }

  /**
   * Notes the listener's `answer` to `details` (`proxy.onRequest` details); only black-holed
   * main-frame requests of a tab are kept.
   */
  noteAnswer(details, answer) {
    if (details?.type !== "main_frame" || !(details.tabId >= 0) || !isBlackHole(answer)) {
      return;
    }
    remember(this.pending, String(details.requestId), { tabId: details.tabId, url: details.url }, MAX_PENDING);
  }

  /**
   * Firefox reports that a request failed (`webRequest.onErrorOccurred` details). Returns
   * `{tabId, token}` when it was a navigation Persite black-holed (the tab should then show
   * {@link blockedPagePath}`(token)`), else `null`.
   */
  failed(details) {
    const key = String(details?.requestId);
    const entry = this.pending.get(key);
    if (entry === undefined) {
      return null;
    }
    this.pending.delete(key);
    if (NOT_A_FAILURE.has(details.error) || details.tabId !== entry.tabId) {
      return null;
    }
    const token = Array.from(this.random(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
    remember(this.tokens, token, entry, MAX_TOKENS);
    return { tabId: entry.tabId, token };
  }

  /** A request that finished (`webRequest.onCompleted`) is no longer watched. */
  completed(requestId) {
    this.pending.delete(String(requestId));
  }

  /** What the blocked page may show for `token`: `{host, tabId}`, or `null` when unknown. */
  info(token) {
    const entry = this.tokens.get(String(token));
    if (entry === undefined) {
      return null;
    }
    return { host: hostOf(entry.url), tabId: entry.tabId };
  }

  /** The URL to load again for `token` in its tab: `{tabId, url}`, or `null` when unknown. */
  retry(token) {
    const entry = this.tokens.get(String(token));
    return entry === undefined ? null : { ...entry };
  }

  /** Forgets everything (New identity). */
  clear() {
    this.pending.clear();
    this.tokens.clear();
  }
}

/** The blocked page's path (relative to the extension root) for `token`. */
export function blockedPagePath(token) {
  return `${BLOCKED_PAGE}?id=${encodeURIComponent(token)}`;
}

/** The token in the blocked page's `location.search`, or `null`. */
export function tokenOf(search) {
  const token = new URLSearchParams(search).get("id");
  return token !== null && /^[0-9a-f]{32}$/.test(token) ? token : null;
}

function hostOf(url) {
  try {
    return new URL(url).hostname || null;
  } catch {
    return null;
  }
}

function remember(map, key, value, bound) {
  map.delete(key);
  map.set(key, value);
  while (map.size > bound) {
    map.delete(map.keys().next().value);
  }
}
