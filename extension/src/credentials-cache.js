/**
 * In-memory cache of SOCKS credentials per (first-party host, container), so that a
 * `proxy.onRequest` hit costs a Map lookup instead of a 3–7 ms native messaging round trip.
 * Pure: storage and the broker are passed in.
 *
 * - Entries remember the broker's `site` (eTLD+1), so an `invalidate` for a site drops every
 *   host of that site.
 * - Concurrent misses for one key share one broker request.
 * - Every invalidation bumps `generation`; a broker answer that was requested before an
 *   invalidation is handed to its waiters but never stored, because it may carry the
 *   credentials the invalidation was meant to retire.
 * - Entries whose `expiresAt` (ms since the epoch) has passed are misses.
 */

/** Version tag of {@link CredentialsCache#snapshot}; a snapshot of another version is ignored. */
export const SNAPSHOT_VERSION = 1;

/**
 * Most entries kept; beyond it the oldest entry goes. Bounds memory and the size of the
 * `storage.session` mirror on long sessions; an evicted host only costs one broker round trip.
 */
export const MAX_ENTRIES = 4096;

/** Cache of credentials entries `{site, container, username, password, expiresAt}`. */
export class CredentialsCache {
  /**
   * @param {{now?: () => number, onChange?: () => void, maxEntries?: number}} [options] `now`
   *   gives the time in ms (tests pass a fake clock); `onChange(kind)` is called after every
   *   change of the stored entries, `kind` being `"added"` or `"removed"` (the background
   *   mirrors them into `storage.session`, removals at once).
   */
  constructor({ now = Date.now, onChange = () => {}, maxEntries = MAX_ENTRIES } = {}) {
    this.now = now;
    this.maxEntries = maxEntries;
    this.onChange = onChange;
    /** @type {Map<string, object>} */
    this.entries = new Map();
    /** @type {Map<string, Promise<object>>} */
    this.inFlight = new Map();
    /** Increases on every invalidation; see the module comment. */
    this.generation = 0;
  }

  /** Number of stored entries (expired ones included until looked up). */
  get size() {
    return this.entries.size;
  }

  /** The live entry for `key`, or `undefined`. Synchronous: the proxy listener's fast path. */
  get(key) {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      return undefined;
    }
    if (entry.expiresAt !== null && entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      this.onChange("removed");
      return undefined;
    }
    return entry;
  }

  /**
   * The entry for `key`, asking `load()` on a miss. Concurrent calls for the same key while a
   * load runs share it. A failed load rejects every waiter and is not remembered.
   *
   * @param {string} key
   * @param {() => Promise<object>} load asks the broker
   */
  fetch(key, load) {
    const hit = this.get(key);
    if (hit !== undefined) {
      return Promise.resolve(hit);
    }
    const pending = this.inFlight.get(key);
    if (pending !== undefined) {
      return pending;
    }
    const generation = this.generation;
    const request = (async () => {
      try {
        const entry = await load();
        if (this.generation === generation) {
          this.set(key, entry);
        }
        return entry;
      } finally {
        if (this.inFlight.get(key) === request) {
          this.inFlight.delete(key);
        }
      }
    })();
    this.inFlight.set(key, request);
    return request;
  }

  /** Stores an entry unless it has already expired. */
  set(key, entry) {
    if (entry.expiresAt !== null && entry.expiresAt <= this.now()) {
      return;
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size > this.maxEntries) {
      // Maps iterate in insertion order: the first key is the oldest.
      this.entries.delete(this.entries.keys().next().value);
    }
    this.onChange("added");
  }

  /** Drops every entry whose site is one of `sites`. */
  invalidateSites(sites) {
    const doomed = new Set(sites);
    this.generation += 1;
    this.inFlight.clear();
    let changed = false;
    for (const [key, entry] of this.entries) {
      if (doomed.has(entry.site)) {
        this.entries.delete(key);
        changed = true;
      }
    }
    if (changed) {
      this.onChange("removed");
    }
  }

  /** Drops every entry. */
  clear() {
    this.generation += 1;
    this.inFlight.clear();
    if (this.entries.size > 0) {
      this.entries.clear();
      this.onChange("removed");
    }
  }

  /** The site recorded for `key`, if an entry is stored (for the popup). */
  siteOf(key) {
    return this.get(key)?.site;
  }

  /** A JSON-safe copy of the live entries, for `storage.session`. */
  snapshot() {
    const now = this.now();
    const entries = [];
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt === null || entry.expiresAt > now) {
        entries.push([key, { ...entry }]);
      }
    }
    return { version: SNAPSHOT_VERSION, entries };
  }

  /**
   * Replaces the contents with a snapshot (event-page wake). Malformed entries are skipped;
   * an unusable snapshot leaves the cache empty, which only costs broker round trips.
   */
  restore(snapshot) {
    this.entries.clear();
    this.inFlight.clear();
    this.generation += 1;
    if (snapshot?.version !== SNAPSHOT_VERSION || !Array.isArray(snapshot.entries)) {
      return;
    }
    const now = this.now();
    for (const item of snapshot.entries) {
      if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== "string") {
        continue;
      }
      const [key, entry] = item;
      if (isEntry(entry) && (entry.expiresAt === null || entry.expiresAt > now) && this.entries.size < this.maxEntries) {
        this.entries.set(key, { ...entry });
      }
    }
  }
}

function isEntry(entry) {
  return (
    typeof entry === "object" &&
    entry !== null &&
    typeof entry.site === "string" &&
    typeof entry.container === "string" &&
    typeof entry.username === "string" &&
    entry.username.length > 0 &&
    typeof entry.password === "string" &&
    entry.password.length > 0 &&
    (entry.expiresAt === null || Number.isFinite(entry.expiresAt))
  );
}
