/**
 * Which first party (top-level site and container) a request belongs to. Pure: works on the
 * `details` object of `proxy.onRequest` and on tab URLs, no `browser.*`.
 *
 * The rules (docs in ../README.md, verified in Firefox 153, see
 * shared/reference/firefox-extension-facts.md §0 and §1.4):
 *
 * 1. `type === "speculative"` → catch-all (speculative connections carry no tab information).
 * 2. `type === "main_frame"` → the request's own URL (each redirect hop is a new request).
 * 3. a non-empty `frameAncestors` → its last entry, the top-level document.
 * 4. `documentUrl` → the document that made the request (subresources of the top document).
 * 5. `tabId === -1` with no document → catch-all (Firefox's own requests, workers).
 * 6. `originUrl` → whatever triggered the load.
 * 7. otherwise → catch-all.
 *
 * The URL chosen must be a network URL (http, https, ws, wss, or a blob: URL of one); any other
 * URL (about:, moz-extension:, file:, data:) selects the catch-all too, which the broker keys
 * as `--unknown--`.
 */

/** URL sent to the broker to select its catch-all key (any non-network URL would do). */
export const CATCH_ALL_URL = "about:blank";

/** Cookie store of normal tabs. */
export const DEFAULT_CONTAINER = "firefox-default";

/** Cookie store of private windows. */
export const PRIVATE_CONTAINER = "firefox-private";

// A space cannot occur in a URL host, so this never collides with a real site.
const CATCH_ALL_HOST = " catch-all";

const NETWORK_SCHEMES = new Map([
  ["http:", "http:"],
  ["https:", "https:"],
  ["ws:", "http:"],
  ["wss:", "https:"],
]);

/**
 * The first party of a `proxy.onRequest` request.
 *
 * Returns `{host, url, container, key}`:
 * - `host`: the first party's host name, or `null` for the catch-all;
 * - `url`: what to send to the broker (`scheme://host/`, nothing else of the page's URL);
 * - `container`: the cookie store id the credentials are for;
 * - `key`: the cache key, one per (host, container).
 *
 * @param {object} details the `details` of `proxy.onRequest`
 * @param {{isolateContainers?: boolean}} [options]
 */
export function firstPartyOfRequest(details, options = {}) {
  const container = containerOf(details, options);
  return firstPartyOfUrl(firstPartyUrlOfRequest(details), container);
}

/**
 * The first party of a tab showing `url` in cookie store `cookieStoreId` (for the popup's
 * "New circuit for this site"). Understands `about:reader?url=…` and `view-source:…`.
 */
export function firstPartyOfTab(url, cookieStoreId, options = {}) {
  const container = effectiveContainer(cookieStoreId, false, options);
  return firstPartyOfUrl(unwrapTabUrl(url), container);
}

/** The document URL whose site is the request's first party, or `undefined` for none. */
export function firstPartyUrlOfRequest(details) {
  if (details.type === "speculative") {
    return undefined;
  }
  if (details.type === "main_frame") {
    return details.url;
  }
  const ancestors = details.frameAncestors;
  if (Array.isArray(ancestors) && ancestors.length > 0) {
    return ancestors.at(-1)?.url;
  }
  if (details.documentUrl) {
    return details.documentUrl;
  }
  if (details.tabId === -1) {
    return undefined;
  }
  return details.originUrl || undefined;
}

/** The cookie store id the request's credentials are keyed by. */
export function containerOf(details, options = {}) {
  return effectiveContainer(details.cookieStoreId, details.incognito === true, options);
}

/**
 * The container used for the key. With `isolateContainers: false` every normal container
 * shares `firefox-default`, but private windows stay separate: their cookies are separate
 * from normal browsing, so sharing circuits would link the two sessions at the exit.
 */
export function effectiveContainer(cookieStoreId, incognito, options = {}) {
  const isolate = options.isolateContainers !== false;
  const store = typeof cookieStoreId === "string" && cookieStoreId.length > 0 ? cookieStoreId : null;
  if (store === PRIVATE_CONTAINER || (store === null && incognito)) {
    return PRIVATE_CONTAINER;
  }
  if (store === null || !isolate) {
    return DEFAULT_CONTAINER;
  }
  return store;
}

/** Cache key of a (host, container) pair; `host === null` is the catch-all. */
export function cacheKey(host, container) {
  return `${host ?? CATCH_ALL_HOST}\n${container}`;
}

/**
 * Most URLs {@link networkOrigin} remembers. Parsing a URL costs ~11 µs in a Firefox
 * extension page (measured in Firefox ESR, `new URL` of a moz-extension: document URL), more
 * than everything else on the listener's cache-hit path together, while the subresources of a
 * page all name the same document URL. The memo lives in memory only and is emptied when full
 * and on New identity ({@link forgetParsedUrls}).
 */
export const ORIGIN_MEMO_SIZE = 1024;

const originMemo = new Map();

/**
 * Reduces a document URL to `{host, url}` of its site, or `null` (the catch-all) for
 * non-network URLs. The result is frozen and shared between callers.
 */
export function networkOrigin(url) {
  if (typeof url !== "string" || url.length === 0) {
    return null;
  }
  const known = originMemo.get(url);
  if (known !== undefined) {
    return known;
  }
  const origin = parseNetworkOrigin(url);
  if (originMemo.size >= ORIGIN_MEMO_SIZE) {
    originMemo.clear();
  }
  originMemo.set(url, origin);
  return origin;
}

/** Empties the memo of parsed URLs (New identity: no trace of earlier pages stays). */
export function forgetParsedUrls() {
  originMemo.clear();
}

/** Number of URLs in the memo (tests). */
export function parsedUrlCount() {
  return originMemo.size;
}

function parseNetworkOrigin(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol === "blob:") {
    return parseNetworkOrigin(parsed.pathname);
  }
  const scheme = NETWORK_SCHEMES.get(parsed.protocol);
  if (scheme === undefined || parsed.hostname.length === 0) {
    return null;
  }
  return Object.freeze({ host: parsed.hostname, url: `${scheme}//${parsed.hostname}/` });
}

function firstPartyOfUrl(url, container) {
  const origin = networkOrigin(url);
  if (origin === null) {
    return { host: null, url: CATCH_ALL_URL, container, key: cacheKey(null, container) };
  }
  return { host: origin.host, url: origin.url, container, key: cacheKey(origin.host, container) };
}

function unwrapTabUrl(url) {
  if (typeof url !== "string") {
    return url;
  }
  if (url.startsWith("view-source:")) {
    return url.slice("view-source:".length);
  }
  if (url.startsWith("about:reader?")) {
    try {
      return new URL(url).searchParams.get("url") ?? url;
    } catch {
      return url;
    }
  }
  return url;
}
