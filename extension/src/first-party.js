/**
 * Which first party (top-level site and container) a request belongs to. Pure: works on the
 * `details` object of `proxy.onRequest` and on tab URLs, no `browser.*`.
 *
 * The rules (the whole table, request kind by request kind, is in docs/architecture.md
 * "Attribution"; what Firefox gives for each kind was recorded by the details probe of
 * tests/tests/e2e_attribution.rs):
 *
 * 1. `type === "speculative"` → catch-all (speculative connections carry no tab information).
 * 2. `type === "main_frame"` → the request's own URL (each redirect hop is a new request).
 * 3. a non-empty `frameAncestors` whose last entry is a network URL → that entry, the
 *    top-level document.
 * 4. a load by the top-level document itself (`frameAncestors` `[]`, `frameId` 0, a
 *    `documentId`) with a network `documentUrl` → `documentUrl`.
 * 5. any other request of a tab → the URL the tab shows. This covers worker loads, whose
 *    `documentUrl` is the worker script's URL (a third party's, for a worker that a third-party
 *    frame started) and which carry no `documentId`, and documents with an opaque origin
 *    (`Content-Security-Policy: sandbox`), for which Firefox gives no document URL at all.
 * 6. no tab, but made by web content (a network `documentUrl` or `originUrl`: shared and
 *    service workers) → one-off credentials: Firefox does not say which first party such a
 *    worker belongs to, and any key shared between requests could link the sites that use it.
 * 7. otherwise → catch-all (Firefox's own requests, other extensions).
 *
 * A network URL is http, https, ws, wss, or a blob: URL of one. A tab that shows anything else
 * (about:, moz-extension:) gives its web requests one-off credentials too; the catch-all, which
 * the broker keys as `--unknown--`, only ever carries requests that no web page made.
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
 * - `key`: the cache key, one per (host, container);
 *
 * or {@link ONE_OFF} when the request must get credentials of its own (rule 6, or a tab that
 * shows no network page), or `undefined` when the URL of the request's tab is not known yet
 * (`tabUrl` answered `undefined`: look the tab up and ask again).
 *
 * @param {object} details the `details` of `proxy.onRequest`
 * @param {{isolateContainers?: boolean}} [options]
 * @param {(tabId: number) => string | null | undefined} [tabUrl] the URL a tab shows: a string,
 *   `null` for a tab that does not exist (any more), `undefined` while not known
 */
export function firstPartyOfRequest(details, options = {}, tabUrl = () => undefined) {
  const source = requestSource(details);
  switch (source.kind) {
    case "url":
      return firstPartyOfUrl(source.url, containerOf(details, options));
    case "tab": {
      const url = tabUrl(source.tabId);
      if (url === undefined) {
        return undefined;
      }
      const firstParty = firstPartyOfUrl(unwrapTabUrl(url), containerOf(details, options));
      return firstParty.host === null ? ONE_OFF : firstParty;
    }
    case "one-off":
      return ONE_OFF;
    default:
      return firstPartyOfUrl(undefined, containerOf(details, options));
  }
}

/** What {@link firstPartyOfRequest} answers for a request that gets one-off credentials. */
export const ONE_OFF = Object.freeze({ oneOff: true });

/**
 * Where a request's first party comes from (rules 1–7 of this module's comment):
 * `{kind: "url", url}`, `{kind: "tab", tabId}`, `{kind: "one-off"}` or `{kind: "catch-all"}`.
 */
export function requestSource(details) {
  if (details.type === "speculative") {
    return CATCH_ALL_SOURCE;
  }
  if (details.type === "main_frame") {
    return { kind: "url", url: details.url };
  }
  const ancestors = details.frameAncestors;
  if (Array.isArray(ancestors)) {
    if (ancestors.length > 0) {
      const top = ancestors.at(-1)?.url;
      if (networkOrigin(top) !== null) {
        return { kind: "url", url: top };
      }
    } else if (
      details.frameId === 0 &&
      details.documentId !== undefined &&
      networkOrigin(details.documentUrl) !== null
    ) {
      return { kind: "url", url: details.documentUrl };
    }
  }
  if (Number.isSafeInteger(details.tabId) && details.tabId >= 0) {
    return { kind: "tab", tabId: details.tabId };
  }
  if (networkOrigin(details.documentUrl) !== null || networkOrigin(details.originUrl) !== null) {
    return ONE_OFF_SOURCE;
  }
  return CATCH_ALL_SOURCE;
}

const CATCH_ALL_SOURCE = Object.freeze({ kind: "catch-all" });
const ONE_OFF_SOURCE = Object.freeze({ kind: "one-off" });

/**
 * The first party of a tab showing `url` in cookie store `cookieStoreId` (for the popup's
 * "New circuit for this site"). Understands `about:reader?url=…` and `view-source:…`.
 */
export function firstPartyOfTab(url, cookieStoreId, options = {}) {
  const container = effectiveContainer(cookieStoreId, false, options);
  return firstPartyOfUrl(unwrapTabUrl(url), container);
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
