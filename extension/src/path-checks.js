/**
 * Ways traffic can bypass Persite's per-site circuits even while Persite itself works, found
 * from facts the background page gathers (`browser.*` stays in background.js). Pure.
 *
 * - **Private windows**: an extension not allowed in private windows never sees their
 *   requests; they go to Firefox's default proxy.
 * - **Firefox's default proxy**: it carries everything the extension does not answer — the
 *   start of the browser before the extension runs, an extension being updated or crashed. If
 *   it is not tor's SOCKS port with remote DNS, that traffic goes direct (or elsewhere).
 * - **Service workers**: sites can run and connect with no tab open; Firefox does not say
 *   which site such a worker belongs to, so each of its requests gets a circuit of its own
 *   (first-party.js rule 6). Tor Browser turns them off. An extension cannot read the pref
 *   (`navigator.serviceWorker` is missing from extension pages whether or not they are on), so
 *   this is reported once the listener has answered a web request that came without a tab —
 *   a service worker's, or a shared worker's.
 *
 * Each finding has a stable `code` and a sentence for people that says what to do.
 */

/** Codes of {@link unprotectedPaths} findings. */
export const PATH = Object.freeze({
  privateWindows: "private_windows",
  defaultProxy: "default_proxy",
  serviceWorkers: "service_workers",
});

/**
 * What Firefox's default proxy does with traffic, from `browser.proxy.settings.get()`'s
 * `value` and tor's SOCKS endpoint `{host, port}`: `"tor"` (manual SOCKS v5 to that endpoint
 * with remote DNS), `"direct"` (no proxy, the system's, or automatic configuration: nothing
 * guarantees tor), `"other"` (another proxy) or `"unknown"`.
 */
export function defaultProxyKind(value, socks) {
  if (value === null || typeof value !== "object" || typeof value.proxyType !== "string") {
    return "unknown";
  }
  if (value.proxyType !== "manual") {
    return "direct";
  }
  const endpoint = parseHostPort(value.socks);
  if (
    endpoint !== null &&
    socks !== null &&
    typeof socks === "object" &&
    sameHost(endpoint.host, socks.host) &&
    endpoint.port === socks.port &&
    value.socksVersion === 5 &&
    value.proxyDNS === true &&
    !hasOtherProxy(value)
  ) {
    return "tor";
  }
  return "other";
}

/**
 * The bypasses present, from what the background page found:
 * - `privateAllowed`: `browser.extension.isAllowedIncognitoAccess()` (or `null`: unknown);
 * - `proxySettings`: `browser.proxy.settings.get()`'s `value` (or `null`);
 * - `socks`: tor's SOCKS endpoint in use, `{host, port}` (or `null`: not known yet);
 * - `tablessWorkers`: whether a web request without a tab was seen (service or shared worker).
 * Returns `[{code, text}]`, empty when no bypass was found.
 */
export function unprotectedPaths({ privateAllowed = null, proxySettings = null, socks = null, tablessWorkers = false } = {}) {
  const found = [];
  if (privateAllowed === false) {
    found.push({
      code: PATH.privateWindows,
      text:
        "Private windows do not get per-site circuits: Persite is not allowed to run in them. " +
        "Open about:addons → Persite → Details and set “Run in Private Windows” to Allow.",
    });
  }
  if (socks !== null) {
    const kind = defaultProxyKind(proxySettings, socks);
    if (kind !== "tor" && kind !== "unknown") {
      const where = kind === "direct" ? "directly to websites, without Tor" : "to a proxy that is not Tor's SOCKS port";
      found.push({
        code: PATH.defaultProxy,
        text:
          `While Persite is not running (browser start, update or crash), Firefox sends traffic ${where}. ` +
          `Set Firefox's proxy to SOCKS v5 ${socks.host}:${socks.port} with “Proxy DNS when using SOCKS v5” ` +
          "(the user.js that comes with Persite does this; see docs/install.md).",
      });
    }
  }
  if (tablessWorkers === true) {
    found.push({
      code: PATH.serviceWorkers,
      text:
        "Sites ran service or shared workers, which can keep connecting with no tab open. Persite cannot " +
        "tell which site they belong to, so each of their requests gets a circuit of its own. Tor Browser " +
        "turns service workers off: set dom.serviceWorkers.enabled to false in about:config (the user.js " +
        "that comes with Persite does this).",
    });
  }
  return found;
}

function parseHostPort(text) {
  if (typeof text !== "string" || text.length === 0) {
    return null;
  }
  const match = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(text.trim());
  if (match === null) {
    return null;
  }
  const port = Number(match[2]);
  return port >= 1 && port <= 65535 ? { host: match[1], port } : null;
}

function sameHost(a, b) {
  const normal = (h) => (h === "localhost" ? "127.0.0.1" : String(h).toLowerCase());
  return normal(a) === normal(b);
}

/** An HTTP(S) proxy set beside SOCKS would take http and https traffic away from tor. */
function hasOtherProxy(value) {
  return [value.http, value.ssl].some((p) => typeof p === "string" && p.length > 0);
}
