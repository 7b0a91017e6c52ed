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
 *
 * Per-tab credentials (the broker answers `perTab: true` when a site's policy gives each tab
 * its own circuit) live in a second map keyed by (host, container, tab); a per-tab marker for
 * (host, container) says where to look. So an ordinary hit stays one Map lookup, and a per-tab
 * hit costs two more. A shared miss is answered for the tab that started it; when the answer
 * turns out to be per-tab, waiters from other tabs ask again for their own tab, so no tab ever
 * uses another tab's per-tab credentials. Tabs are numbers; `-1` stands for "no tab" (Firefox's
 * own requests), which gets its own per-tab entry like any tab.
 *
 * The cache also keeps the owners of the credential pairs the broker handed out
 * (credential-owners.js, checked through {@link CredentialsCache#claim} once per broker reply),
 * cleared with the cache and rebuilt from a restored snapshot.
 */

import { CredentialOwners } from "./credential-owners.js";

/** Version tag of {@link CredentialsCache#snapshot}; a snapshot of another version is ignored. */
export const SNAPSHOT_VERSION = 2;

/**
 * Most entries kept (per map: shared entries, per-tab markers, per-tab entries); beyond it the
 * oldest entry goes. Bounds memory and the size of the `storage.session` mirror on long
 * sessions; an evicted host only costs one broker round trip.
 */
export const MAX_ENTRIES = 4096;

/** Tab number used for requests that belong to no tab. */
export const NO_TAB = -1;

/** The tab number a request's `tabId` is cached under: itself when ≥ 0, else {@link NO_TAB}. */
export function tabOf(tabId) {
  return Number.isSafeInteger(tabId) && tabId >= 0 ? tabId : NO_TAB;
}

/** Key of a per-tab entry. */
export function tabEntryKey(key, tab) {
  return `${key}\n${tab}`;
}

/**
 * Cache of credentials entries `{site, container, username, password, expiresAt, perTab}`;
 * per-tab entries also carry their `tab`.
 */
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
    /** Credentials shared by every tab, by (host, container) key. @type {Map<string, object>} */
    this.entries = new Map();
    /** Per-tab markers: (host, container) key → the site. @type {Map<string, string>} */
    this.perTabSites = new Map();
    /** Per-tab credentials by {@link tabEntryKey}. @type {Map<string, object>} */
    this.tabEntries = new Map();
    /** Running loads by flight key, each `{promise, tab}`. @type {Map<string, object>} */
    this.inFlight = new Map();
    /** Increases on every invalidation; see the module comment. */
    this.generation = 0;
    /** Owner of every credential pair handed out since the last clear. */
    this.owners = new CredentialOwners(2 * maxEntries);
  }

  /**
   * Records that the broker answered `entry` for `tab` (the request's `tabId`); `false` when
   * its username and password were already handed out for another site, container or tab —
   * the caller must then refuse the answer. Runs once per broker reply, not on hits.
   */
  claim(entry, tab = NO_TAB) {
    return this.owners.claim(entry, ownerTabOf(entry, tab));
  }

  /** Number of stored credentials (shared and per-tab; expired ones until looked up). */
  get size() {
    return this.entries.size + this.tabEntries.size;
  }

  /**
   * The live entry for `key` as seen from `tab`, or `undefined`. Synchronous: the proxy
   * listener's fast path. An ordinary hit is one Map lookup.
   *
   * @param {string} key (host, container) key
   * @param {number} [tab] the request's `tabId` (anything but a tab id means no tab)
   */
  get(key, tab = NO_TAB) {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      if (entry.expiresAt !== null && entry.expiresAt <= this.now()) {
        this.entries.delete(key);
        this.onChange("removed");
        return undefined;
      }
      return entry;
    }
    if (this.perTabSites.size === 0 || !this.perTabSites.has(key)) {
      return undefined;
    }
    const tabKey = tabEntryKey(key, tabOf(tab));
    const perTab = this.tabEntries.get(tabKey);
    if (perTab === undefined) {
      return undefined;
    }
    if (perTab.expiresAt !== null && perTab.expiresAt <= this.now()) {
      this.tabEntries.delete(tabKey);
      this.onChange("removed");
      return undefined;
    }
    return perTab;
  }

  /**
   * The entry for `key` as seen from `tab`, asking `load()` on a miss. Concurrent calls for the
   * same key share one load (per tab once the key is known to be per-tab). A failed load
   * rejects every waiter and is not remembered.
   *
   * @param {string} key
   * @param {() => Promise<object>} load asks the broker for this caller's tab
   * @param {number} [tab] the request's `tabId`
   */
  fetch(key, load, tab = NO_TAB) {
    const ownTab = tabOf(tab);
    const hit = this.get(key, ownTab);
    if (hit !== undefined) {
      return Promise.resolve(hit);
    }
    if (this.perTabSites.has(key)) {
      return this.fly(tabEntryKey(key, ownTab), key, ownTab, load);
    }
    return this.fly(key, key, ownTab, load).then((entry) => {
      if (!entry.perTab || entry.tab === ownTab) {
        return entry;
      }
      // A shared miss was answered for another tab with per-tab credentials: ask for ours.
      const again = this.get(key, ownTab);
      return again ?? this.fly(tabEntryKey(key, ownTab), key, ownTab, load);
    });
  }

  /** Joins or starts the load under `flightKey`; the answer is stored under (`key`, `tab`). */
  fly(flightKey, key, tab, load) {
    const pending = this.inFlight.get(flightKey);
    if (pending !== undefined) {
      return pending.promise;
    }
    const generation = this.generation;
    const flight = { tab, promise: null };
    flight.promise = (async () => {
      try {
        const loaded = await load();
        const entry = loaded.perTab ? { ...loaded, tab } : loaded;
        // Not stored when invalidated meanwhile, or when the tab closed (dropTab removed it).
        if (this.generation === generation && this.inFlight.get(flightKey) === flight) {
          this.set(key, entry, tab);
        }
        return entry;
      } finally {
        if (this.inFlight.get(flightKey) === flight) {
          this.inFlight.delete(flightKey);
        }
      }
    })();
    this.inFlight.set(flightKey, flight);
    return flight.promise;
  }

  /**
   * Stores an entry unless it has already expired: per-tab entries (`perTab: true`) for `tab`
   * only, others for every tab.
   */
  set(key, entry, tab = NO_TAB) {
    if (entry.expiresAt !== null && entry.expiresAt <= this.now()) {
      return;
    }
    if (entry.perTab) {
      const ownTab = tabOf(tab);
      // The site's policy may have changed: a shared entry must no longer answer.
      this.entries.delete(key);
      putBounded(this.perTabSites, key, entry.site, this.maxEntries);
      putBounded(this.tabEntries, tabEntryKey(key, ownTab), { ...entry, tab: ownTab }, this.maxEntries);
    } else {
      this.perTabSites.delete(key);
      putBounded(this.entries, key, entry, this.maxEntries);
    }
    this.onChange("added");
  }

  /** Drops every entry (shared and per-tab) whose site is one of `sites`. */
  invalidateSites(sites) {
    const doomed = new Set(sites);
    this.generation += 1;
    this.inFlight.clear();
    let changed = deleteWhere(this.entries, (entry) => doomed.has(entry.site));
    changed = deleteWhere(this.tabEntries, (entry) => doomed.has(entry.site)) || changed;
    deleteWhere(this.perTabSites, (site) => doomed.has(site));
    if (changed) {
      this.onChange("removed");
    }
  }

  /**
   * Forgets tab `tab` (it was closed): drops its per-tab entries, and lets no load it started
   * store anything.
   */
  dropTab(tab) {
    for (const [flightKey, flight] of this.inFlight) {
      if (flight.tab === tab) {
        this.inFlight.delete(flightKey);
      }
    }
    if (deleteWhere(this.tabEntries, (entry) => entry.tab === tab)) {
      this.onChange("removed");
    }
  }

  /**
   * Tab `tab` now shows site `keepSite` (`null`: no site, or one not known yet): drops the
   * tab's per-tab entries of every other site.
   */
  dropTabExceptSite(tab, keepSite) {
    if (deleteWhere(this.tabEntries, (entry) => entry.tab === tab && entry.site !== keepSite)) {
      this.onChange("removed");
    }
  }

  /**
   * Drops every entry of `container` (a private browsing session ended) and lets no running
   * load store anything. Their pairs stay claimed: they are never handed out again.
   */
  dropContainer(container) {
    this.generation += 1;
    this.inFlight.clear();
    let changed = deleteWhere(this.entries, (entry) => entry.container === container);
    changed = deleteWhere(this.tabEntries, (entry) => entry.container === container) || changed;
    const suffix = `\n${container}`;
    for (const key of this.perTabSites.keys()) {
      if (key.endsWith(suffix)) {
        this.perTabSites.delete(key);
      }
    }
    if (changed) {
      this.onChange("removed");
    }
  }

  /** Drops every entry, and every pair's owner (a new key or epoch makes new pairs). */
  clear() {
    this.generation += 1;
    this.inFlight.clear();
    this.perTabSites.clear();
    this.owners.clear();
    if (this.size > 0) {
      this.entries.clear();
      this.tabEntries.clear();
      this.onChange("removed");
    }
  }

  /** The site recorded for `key`, if an entry or per-tab marker is stored (for the popup). */
  siteOf(key) {
    return this.perTabSites.get(key) ?? this.get(key)?.site;
  }

  /** A JSON-safe copy of the live entries, for `storage.session`. */
  snapshot() {
    const now = this.now();
    const live = (entries) => {
      const out = [];
      for (const [key, entry] of entries) {
        if (entry.expiresAt === null || entry.expiresAt > now) {
          out.push([key, { ...entry }]);
        }
      }
      return out;
    };
    return {
      version: SNAPSHOT_VERSION,
      entries: live(this.entries),
      perTabSites: [...this.perTabSites],
      tabEntries: live(this.tabEntries),
    };
  }

  /**
   * Replaces the contents with a snapshot (event-page wake). Malformed entries are skipped;
   * an unusable snapshot leaves the cache empty, which only costs broker round trips.
   */
  restore(snapshot) {
    this.entries.clear();
    this.perTabSites.clear();
    this.tabEntries.clear();
    this.inFlight.clear();
    this.owners.clear();
    this.generation += 1;
    if (
      snapshot?.version !== SNAPSHOT_VERSION ||
      !Array.isArray(snapshot.entries) ||
      !Array.isArray(snapshot.perTabSites) ||
      !Array.isArray(snapshot.tabEntries)
    ) {
      return;
    }
    const now = this.now();
    const isLive = (entry) => entry.expiresAt === null || entry.expiresAt > now;
    // Restored entries claim their pairs again, so a broker cannot hand them to another site
    // after an event-page wake; an entry whose pair another restored entry holds is dropped.
    for (const [key, entry] of pairs(snapshot.entries)) {
      if (
        isEntry(entry) &&
        !entry.perTab &&
        isLive(entry) &&
        this.entries.size < this.maxEntries &&
        this.claim(entry)
      ) {
        this.entries.set(key, { ...entry });
      }
    }
    for (const [key, site] of pairs(snapshot.perTabSites)) {
      if (typeof site === "string" && site.length > 0 && !this.entries.has(key) && this.perTabSites.size < this.maxEntries) {
        this.perTabSites.set(key, site);
      }
    }
    for (const [key, entry] of pairs(snapshot.tabEntries)) {
      if (
        isEntry(entry) &&
        entry.perTab === true &&
        Number.isSafeInteger(entry.tab) &&
        key.endsWith(`\n${entry.tab}`) &&
        isLive(entry) &&
        this.tabEntries.size < this.maxEntries &&
        this.claim(entry, entry.tab)
      ) {
        this.tabEntries.set(key, { ...entry });
      }
    }
  }
}

/**
 * The tab a pair is handed out for: a per-tab answer's tab, `null` for shared credentials and
 * for per-tab answers outside any tab (the broker derives those like the site's shared pair).
 */
function ownerTabOf(entry, tab) {
  const ownTab = tabOf(tab);
  return entry.perTab && ownTab !== NO_TAB ? ownTab : null;
}

/** Sets `map[key] = value` as the newest entry, dropping the oldest beyond `max`. */
function putBounded(map, key, value, max) {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) {
    // Maps iterate in insertion order: the first key is the oldest.
    map.delete(map.keys().next().value);
  }
}

/** Deletes the entries whose value matches; returns whether any was deleted. */
function deleteWhere(map, matches) {
  let deleted = false;
  for (const [key, value] of map) {
    if (matches(value)) {
      map.delete(key);
      deleted = true;
    }
  }
  return deleted;
}

/** The well-formed `[string, value]` pairs of a snapshot list. */
function* pairs(list) {
  for (const item of list) {
    if (Array.isArray(item) && item.length === 2 && typeof item[0] === "string") {
      yield item;
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
