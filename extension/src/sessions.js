/**
 * Browser-session secrets: the value every `credentials` request carries so that the broker
 * gives this browser session — and, apart from it, this private browsing session — credentials
 * of its own for every site (docs/protocol.md §2.1, "Sessions"). Tor Browser keeps a random
 * nonce per site for the browser session; this is the same idea with one secret per session.
 *
 * - The browser session's secret is made when the extension starts without saved session state
 *   and kept only in memory and in `storage.session` (in memory, cleared when the browser
 *   exits), so it survives the event page being suspended and woken, and a restarted browser
 *   gets a new one. Another profile, or another browser sharing the daemon, has its own.
 * - The private browsing session's secret is made on the first private request and forgotten
 *   when the last private window closes ({@link Sessions#endPrivate}); the next private window
 *   gets a new one.
 *
 * Nothing here is written to `storage.local` or disk, and the values are never logged. Pure:
 * the random source is passed in.
 */

/** Cookie store id of private browsing requests. */
export const PRIVATE_CONTAINER = "firefox-private";

/** Random bytes per secret (128 bits; 22 base64url characters). */
export const SECRET_BYTES = 16;

const SECRET_PATTERN = /^[A-Za-z0-9_-]{22}$/;

/** A new secret from `fillRandom` (crypto.getRandomValues), as base64url without padding. */
export function newSecret(fillRandom = (bytes) => crypto.getRandomValues(bytes)) {
  const bytes = new Uint8Array(SECRET_BYTES);
  fillRandom(bytes);
  let binary = "";
  for (const b of bytes) {
    binary += String.fromCharCode(b);
  }
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The browser session's and the private browsing session's secrets. */
export class Sessions {
  /** @param {{fillRandom?: (bytes: Uint8Array) => void}} [options] */
  constructor({ fillRandom } = {}) {
    this.fillRandom = fillRandom;
    /** @type {string|null} */
    this.browser = null;
    /** @type {string|null} */
    this.private = null;
  }

  /** The secret for a request in `container`, made on first use. */
  secretFor(container) {
    if (container === PRIVATE_CONTAINER) {
      this.private ??= newSecret(this.fillRandom);
      return this.private;
    }
    this.browser ??= newSecret(this.fillRandom);
    return this.browser;
  }

  /**
   * The private browsing session ended (its last window closed): its secret is forgotten, so
   * the next private window's requests get credentials never issued before. Returns whether
   * there was one.
   */
  endPrivate() {
    const had = this.private !== null;
    this.private = null;
    return had;
  }

  /** The secrets for the `storage.session` mirror. */
  snapshot() {
    return { browser: this.browser, private: this.private };
  }

  /**
   * Takes the secrets back from the mirror (event-page wake); a missing or malformed value is
   * replaced by a new one on first use, which only costs new credentials.
   */
  restore(snapshot) {
    const valid = (value) => (typeof value === "string" && SECRET_PATTERN.test(value) ? value : null);
    this.browser = valid(snapshot?.browser);
    this.private = valid(snapshot?.private);
  }
}
