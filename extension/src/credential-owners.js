/**
 * Who each SOCKS credential pair was handed out for, so that one pair never serves two first
 * parties. Tor isolates streams by username and password only: a broker (or an impersonator)
 * that answered two sites — each reply naming its own site correctly — with the same pair would
 * put both on one circuit. Pure: no I/O.
 *
 * The owner of a pair is (site, container, tab): `tab` is the tab of a per-tab answer, and
 * `null` for shared credentials and for per-tab answers outside any tab. That is exactly what the
 * broker's derivation takes as input (credentials.rs: site, container, tab only for per-tab
 * sites that were given one), so an honest broker never hands one pair to two owners and a
 * refusal never hits it. A per-tab answer outside any tab is derived like the shared pair of
 * the same site, hence the same owner.
 *
 * Claims are checked once per broker reply, never on the cache-hit path. They stay when a site
 * is invalidated (New circuit, rotation, a policy change): the old pair's circuit may still be
 * alive, and an honest broker never gives it to anyone else, so keeping it costs nothing but
 * memory. They go with the whole cache (new broker instance, New identity, `invalidate` all,
 * port lost): a new key or epoch makes new pairs. The map is bounded; beyond the bound the
 * pair claimed (or re-claimed) longest ago is forgotten.
 */

/** Map of credential pair → owner, see the module comment. */
export class CredentialOwners {
  /** @param {number} maxPairs most pairs remembered */
  constructor(maxPairs) {
    this.maxPairs = maxPairs;
    /** Pair key → `{site, container, tab}`. @type {Map<string, object>} */
    this.owners = new Map();
  }

  /** Number of pairs remembered. */
  get size() {
    return this.owners.size;
  }

  /**
   * Records that `entry` (`{site, container, username, password}`) was handed out for
   * `ownerTab` (the tab of a per-tab answer, else `null`). Returns `false`, recording nothing,
   * when the pair already belongs to another owner.
   */
  claim(entry, ownerTab) {
    const key = pairKey(entry.username, entry.password);
    const held = this.owners.get(key);
    if (held !== undefined) {
      if (held.site !== entry.site || held.container !== entry.container || held.tab !== ownerTab) {
        return false;
      }
      // Re-claimed: now the newest, so the bound forgets pairs in use last.
      this.owners.delete(key);
    }
    this.owners.set(key, { site: entry.site, container: entry.container, tab: ownerTab });
    if (this.owners.size > this.maxPairs) {
      // Maps iterate in insertion order: the first key is the oldest claim.
      this.owners.delete(this.owners.keys().next().value);
    }
    return true;
  }

  /** Forgets every pair. */
  clear() {
    this.owners.clear();
  }
}

/** An unambiguous key for (username, password): the length prefix splits them. */
function pairKey(username, password) {
  return `${username.length}:${username}${password}`;
}
