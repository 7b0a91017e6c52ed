/**
 * Circuit-lifetime policies (docs/protocol.md §2.5) for the options page: the `policy_get` /
 * `policy_set` requests, a validating parser of the broker's answer, and the conversion between
 * the form's text fields (max age in minutes, max data in MiB, per-tab checkbox) and the wire
 * policy `{max_age_s, max_bytes, per_tab}`. Pure: no I/O, no `browser.*`.
 *
 * The limits are the broker's (generated from the same definition; the broker checks again and
 * has the last word), so the page can name the bad field before a round trip.
 */

import { MAX_MAX_AGE_S, MAX_MAX_BYTES, MIN_MAX_AGE_S, MIN_MAX_BYTES } from "./protocol-constants.js";
import { ProtocolError } from "./protocol.js";

// The policy ranges are the protocol's, generated from protocol/src/limits.rs.
export { MAX_MAX_AGE_S, MAX_MAX_BYTES, MIN_MAX_AGE_S, MIN_MAX_BYTES };
/** Bytes in the form's unit, MiB. */
export const BYTES_PER_MIB = 1_048_576;

/** Keep-alive: credentials change only on New circuit / New identity. */
export const KEEP_ALIVE = Object.freeze({ max_age_s: null, max_bytes: null, per_tab: false });

/** Builds a `policy_get` request. */
export function policyGetRequest(id) {
  return { id, type: "policy_get" };
}

/**
 * Builds a `policy_set` request: `site` `null` changes the default; `policy` `null` removes the
 * site's override.
 */
export function policySetRequest(id, site, policy) {
  return site === null ? { id, type: "policy_set", policy } : { id, type: "policy_set", site, policy };
}

/** Validates one wire policy object from the broker. */
export function parsePolicy(value, what = "policy") {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ProtocolError(`${what} is not an object`);
  }
  const maxAge = value.max_age_s ?? null;
  const maxBytes = value.max_bytes ?? null;
  const perTab = value.per_tab ?? false;
  if (maxAge !== null && !Number.isSafeInteger(maxAge)) {
    throw new ProtocolError(`${what}.max_age_s is neither a whole number nor null`);
  }
  if (maxBytes !== null && !Number.isSafeInteger(maxBytes)) {
    throw new ProtocolError(`${what}.max_bytes is neither a whole number nor null`);
  }
  if (typeof perTab !== "boolean") {
    throw new ProtocolError(`${what}.per_tab is not a boolean`);
  }
  return { max_age_s: maxAge, max_bytes: maxBytes, per_tab: perTab };
}

/**
 * Validates a `policy_get` / `policy_set` result `{default, sites}`. Returns `{default, sites}`
 * with `sites` an array of `{site, policy}` sorted by site.
 */
export function parsePolicyTable(result) {
  if (result === null || typeof result !== "object" || Array.isArray(result)) {
    throw new ProtocolError("policy result is not an object");
  }
  const defaultPolicy = parsePolicy(result.default, "policy default");
  const sites = result.sites ?? {};
  if (sites === null || typeof sites !== "object" || Array.isArray(sites)) {
    throw new ProtocolError("policy sites is not an object");
  }
  const rows = Object.keys(sites)
    .sort()
    .map((site) => ({ site, policy: parsePolicy(sites[site], "a site's policy") }));
  return { default: defaultPolicy, sites: rows };
}

/**
 * The form fields of a policy: `{maxAgeMin, maxMiB, perTab}`, the numbers as text ("" when off).
 */
export function policyToForm(policy) {
  return {
    maxAgeMin: policy.max_age_s === null ? "" : trimNumber(policy.max_age_s, 60),
    maxMiB: policy.max_bytes === null ? "" : trimNumber(policy.max_bytes, BYTES_PER_MIB),
    perTab: policy.per_tab === true,
  };
}

/**
 * A wire policy from the form's fields. Empty fields are off. Returns `{ok: true, value}` or
 * `{ok: false, field, error}` with `field` one of `maxAgeMin`, `maxMiB`.
 */
export function policyFromForm({ maxAgeMin = "", maxMiB = "", perTab = false }) {
  const age = parseDecimal(maxAgeMin);
  if (age === undefined) {
    return { ok: false, field: "maxAgeMin", error: "Max age must be a number of minutes, or empty." };
  }
  let maxAgeS = null;
  if (age !== null) {
    maxAgeS = age * 60;
    if (!Number.isSafeInteger(Math.round(maxAgeS)) || Math.abs(maxAgeS - Math.round(maxAgeS)) > 1e-3) {
      return { ok: false, field: "maxAgeMin", error: "Max age must come to whole seconds (e.g. 0.5 = 30 s)." };
    }
    maxAgeS = Math.round(maxAgeS);
    if (maxAgeS < MIN_MAX_AGE_S || maxAgeS > MAX_MAX_AGE_S) {
      return {
        ok: false,
        field: "maxAgeMin",
        error: `Max age must be from 1 second to ${MAX_MAX_AGE_S / 60} minutes (a week).`,
      };
    }
  }
  const mib = parseDecimal(maxMiB);
  if (mib === undefined) {
    return { ok: false, field: "maxMiB", error: "Max data must be a number of MiB, or empty." };
  }
  let maxBytes = null;
  if (mib !== null) {
    maxBytes = Math.round(mib * BYTES_PER_MIB);
    if (!Number.isSafeInteger(maxBytes) || maxBytes < MIN_MAX_BYTES || maxBytes > MAX_MAX_BYTES) {
      return {
        ok: false,
        field: "maxMiB",
        error: `Max data must be from ${MIN_MAX_BYTES / BYTES_PER_MIB} MiB (1 KiB) to ${MAX_MAX_BYTES / BYTES_PER_MIB} MiB (1 PiB).`,
      };
    }
  }
  return { ok: true, value: { max_age_s: maxAgeS, max_bytes: maxBytes, per_tab: perTab === true } };
}

/**
 * The host the user typed for a site row: accepts a bare host or a URL (`https://www.a.com/x`
 * → `www.a.com`; the broker reduces it to its site). Returns `{ok, value}` or `{ok: false,
 * error}`.
 */
export function siteFromInput(text) {
  let host = String(text ?? "").trim().toLowerCase();
  if (host.length === 0) {
    return { ok: false, error: "Enter a site, e.g. example.com." };
  }
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//.exec(host);
  if (scheme) {
    host = host.slice(scheme[0].length);
  }
  host = host.split(/[/?#]/, 1)[0];
  if (host.includes("@")) {
    return { ok: false, error: "A site is a host name, without user name or password." };
  }
  if (!host.startsWith("[")) {
    host = host.replace(/:\d+$/, "");
  }
  host = host.replace(/\.$/, "");
  const name = /^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;
  const ipv6 = /^\[[0-9a-f:.]+\]$/;
  if (host === "--unknown--") {
    return { ok: false, error: "Pages without a site always rotate every 10 minutes; they take no policy." };
  }
  if (!name.test(host) && !ipv6.test(host)) {
    return { ok: false, error: `"${host}" is not a host name or IP address.` };
  }
  return { ok: true, value: host };
}

/** A short description of a policy for people ("keep-alive", "every 10 min, per tab", …). */
export function describePolicy(policy) {
  const parts = [];
  if (policy.max_age_s !== null) {
    parts.push(`every ${trimNumber(policy.max_age_s, 60)} min`);
  }
  if (policy.max_bytes !== null) {
    parts.push(`after ${trimNumber(policy.max_bytes, BYTES_PER_MIB)} MiB`);
  }
  if (parts.length === 0) {
    parts.push("keep-alive");
  }
  if (policy.per_tab) {
    parts.push("per tab");
  }
  return parts.join(", ");
}

/** `""` → null, a finite non-negative decimal → number, anything else → undefined. */
function parseDecimal(text) {
  const t = String(text ?? "").trim();
  if (t === "") {
    return null;
  }
  if (!/^\d+(\.\d+)?$|^\.\d+$/.test(t)) {
    return undefined;
  }
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * `whole / unit` as short text (12 significant digits, no trailing zeros) when that converts
 * back to `whole`, else JavaScript's shortest exact representation.
 */
function trimNumber(whole, unit = 1) {
  const short = Number((whole / unit).toPrecision(12));
  return Math.round(short * unit) === whole ? String(short) : String(whole / unit);
}
