/**
 * The sites page's data (extension/sites/): which sites this browser session has used, in
 * which container or private window, and how each row reads for people. Pure: no I/O, no
 * `browser.*`.
 *
 * Where the list comes from: the extension itself. Every credentials answer the broker gives
 * this browser passes through the controller, which records its (site, container) here
 * ({@link SiteLog#record}); the circuit, bytes and policy of each row are then asked from the
 * broker (`circuit`, `policy_get`) when the page opens. The broker keeps no list of the sites a
 * browser session used, so no new protocol request is needed, and the names stay in this page's
 * memory (never on disk, never in logs). A private window's sites go when its session ends, and
 * New identity empties the list, as it empties the cache.
 */

import { formatBytes } from "./circuit-view.js";
import { describePolicy } from "./policy-form.js";
import { containerLabel } from "./popup-query.js";

/**
 * The broker's key for requests no web page made (first-party.js's catch-all): not a site the
 * user visited, so not listed.
 */
export const CATCH_ALL_SITE = "--unknown--";

/** Most rows kept; beyond it the row used least recently goes. */
export const MAX_SITES = 1000;

/** Key of one row. */
export function siteKey(site, container) {
  return `${container}\n${site}`;
}

/**
 * The sites this browser session used, by (site, container): `{site, container, since,
 * lastUsed}` where `since` is when the credentials in use (so the circuit) were first seen, or
 * `null` after New circuit until the site connects again.
 */
export class SiteLog {
  /** @param {{now?: () => number, maxSites?: number}} [options] */
  constructor({ now = Date.now, maxSites = MAX_SITES } = {}) {
    this.now = now;
    this.maxSites = maxSites;
    /** Rows by {@link siteKey}, least recently used first. @type {Map<string, object>} */
    this.rows = new Map();
    /** The username of each row's credentials, to tell a new circuit from the same one. */
    this.usernames = new Map();
  }

  /** Number of rows. */
  get size() {
    return this.rows.size;
  }

  /**
   * Records a credentials answer `{site, container, username}` for a request of this browser.
   * A username not seen before for the row starts its age again. The catch-all is not listed.
   */
  record({ site, container, username }) {
    if (site === CATCH_ALL_SITE) {
      return;
    }
    const key = siteKey(site, container);
    const now = this.now();
    const row = this.rows.get(key) ?? { site, container, since: null, lastUsed: now };
    if (this.usernames.get(key) !== username || row.since === null) {
      row.since = now;
      this.usernames.set(key, username);
    }
    row.lastUsed = now;
    this.rows.delete(key);
    this.rows.set(key, row);
    while (this.rows.size > this.maxSites) {
      const oldest = this.rows.keys().next().value;
      this.rows.delete(oldest);
      this.usernames.delete(oldest);
    }
  }

  /** The site got new credentials (New circuit, rotation): its age restarts at its next use. */
  renewed(site) {
    for (const [key, row] of this.rows) {
      if (row.site === site) {
        row.since = null;
        this.usernames.delete(key);
      }
    }
  }

  /** Removes one row; returns whether it was there. */
  forget(site, container) {
    const key = siteKey(site, container);
    this.usernames.delete(key);
    return this.rows.delete(key);
  }

  /** Removes every row of `container` (a private browsing session ended). */
  dropContainer(container) {
    for (const [key, row] of this.rows) {
      if (row.container === container) {
        this.rows.delete(key);
        this.usernames.delete(key);
      }
    }
  }

  /** Removes every row (New identity). */
  clear() {
    this.rows.clear();
    this.usernames.clear();
  }

  /** The rows and their usernames, for the `storage.session` mirror (memory only). */
  snapshot() {
    return [...this.rows].map(([key, row]) => ({ ...row, username: this.usernames.get(key) ?? null }));
  }

  /** Restores a {@link SiteLog#snapshot}; anything malformed is skipped. */
  restore(snapshot) {
    this.clear();
    for (const row of Array.isArray(snapshot) ? snapshot : []) {
      const { site, container, since, lastUsed, username } = row ?? {};
      if (typeof site !== "string" || typeof container !== "string") {
        continue;
      }
      const key = siteKey(site, container);
      this.rows.set(key, {
        site,
        container,
        since: Number.isFinite(since) ? since : null,
        lastUsed: Number.isFinite(lastUsed) ? lastUsed : 0,
      });
      if (typeof username === "string") {
        this.usernames.set(key, username);
      }
    }
  }

  /** The rows, sorted by site, then container (copies). */
  list() {
    return [...this.rows.values()]
      .map((row) => ({ ...row }))
      .sort((a, b) => a.site.localeCompare(b.site) || a.container.localeCompare(b.container));
  }
}

/**
 * The circuit of a circuit result as Tor Browser shows it: one path of relay names (guard,
 * middle, exit), and conflux legs beyond the first folded into "+N parallel path(s)". Returns
 * `{state, path, parallel, fingerprints, id}`: `state` is `shown`, `none` (no connection since
 * the credentials were issued) or `unavailable`; `path` is text ("" unless shown); `id` is tor's
 * id of the path shown ("" unless shown).
 */
export function circuitSummary(circuit) {
  if (!circuit || !circuit.available) {
    return { state: "unavailable", path: "", parallel: "", fingerprints: [], id: "" };
  }
  const legs = circuit.circuits.filter((c) => c.hops.length > 0);
  if (legs.length === 0) {
    return { state: "none", path: "", parallel: "", fingerprints: [], id: "" };
  }
  const [first] = legs;
  const names = first.hops.map((hop) => relayName(hop));
  const extra = legs.length - 1;
  return {
    state: "shown",
    path: names.join(" → "),
    parallel: extra === 0 ? "" : `+${extra} parallel path${extra === 1 ? "" : "s"}`,
    fingerprints: first.hops.map((hop) => hop.fingerprint),
    id: first.id,
  };
}

/** A relay for people: its nickname (or a short fingerprint) and country code. */
function relayName(hop) {
  const name = hop.nickname || hop.fingerprint.slice(0, 8);
  if (hop.role === "bridge") {
    return `${name} (bridge)`;
  }
  return hop.country ? `${name} (${hop.country.toUpperCase()})` : name;
}

/** "just now", "3 min", "2 h 5 min", "1 day 3 h" for a duration in ms. */
export function ageText(ms) {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) {
    return "less than a minute";
  }
  if (minutes < 60) {
    return `${minutes} min`;
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 24) {
    return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  }
  const days = Math.floor(hours / 24);
  return `${days} day${days === 1 ? "" : "s"}${hours % 24 === 0 ? "" : ` ${hours % 24} h`}`;
}

/**
 * The page's rows: for each logged `{site, container, since}` with its `circuit` (the broker's
 * circuit result, or `{error}` when it could not be asked), and the policy table `{default,
 * sites: [{site, policy}]}` (or `null` when the broker could not say).
 *
 * Returns `[{site, container, where, circuit: circuitSummary, circuitNote, bytes, age, policy,
 * override}]`, text for people except `override` (the site's own policy, or `null`).
 */
export function siteRows(entries, policies, now) {
  const overrides = new Map((policies?.sites ?? []).map(({ site, policy }) => [site, policy]));
  return entries.map(({ site, container, since, circuit }) => {
    const summary = circuit?.error ? circuitSummary(null) : circuitSummary(circuit);
    let circuitNote = "";
    if (circuit?.error) {
      circuitNote = `Cannot ask Persite's service: ${circuit.error}`;
    } else if (summary.state === "none") {
      circuitNote = "New circuit on its next connection";
    } else if (summary.state === "unavailable") {
      circuitNote = "Circuit details unavailable (Persite cannot read tor's circuits)";
    }
    const bytes = circuit && !circuit.error && circuit.bytes
      ? `${formatBytes(circuit.bytes.read)} received, ${formatBytes(circuit.bytes.written)} sent`
      : "—";
    const override = overrides.get(site);
    let policy = "unknown";
    if (override) {
      policy = describePolicy(override);
    } else if (policies) {
      policy = `${describePolicy(policies.default)} (default)`;
    }
    return {
      site,
      container,
      where: containerLabel(container),
      circuit: summary,
      circuitNote,
      bytes,
      age: since === null ? "—" : ageText(Math.max(0, now - since)),
      policy,
      override: override ?? null,
    };
  });
}

/**
 * Policy choices offered on each row: `value` → `{label, policy}` (`policy` `null` = use the
 * default, i.e. remove the site's own policy).
 */
export const POLICY_CHOICES = Object.freeze({
  default: { label: "Use the default", policy: null },
  "keep-alive": { label: "Keep while in use", policy: { max_age_s: null, max_bytes: null, per_tab: false } },
  "every-10-min": { label: "New circuit every 10 minutes", policy: { max_age_s: 600, max_bytes: null, per_tab: false } },
  "per-tab": { label: "A circuit per tab", policy: { max_age_s: null, max_bytes: null, per_tab: true } },
});

/** The choice value of a row's policy, or `custom` when it is none of {@link POLICY_CHOICES}. */
export function policyChoice(policy) {
  if (policy === undefined || policy === null) {
    return "default";
  }
  for (const [value, choice] of Object.entries(POLICY_CHOICES)) {
    const p = choice.policy;
    if (p && p.max_age_s === policy.max_age_s && p.max_bytes === policy.max_bytes && p.per_tab === policy.per_tab) {
      return value;
    }
  }
  return "custom";
}
