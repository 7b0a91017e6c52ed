/**
 * The options page's one save model: every field of the page (the browser settings kept in
 * `storage.local` and the circuit lifetimes kept by Persite's service) is checked at once, every
 * invalid field is named, and one Save writes both and gives one result, telling the user how
 * an input was stored when it was normalised (`www.example.com` → `example.com`). Pure: the
 * page (extension/options/options.js) reads the fields and does the I/O.
 *
 * Field keys (also the `data-field` of the page's error list): `socks-host`, `socks-port`,
 * `policy-default-age`, `policy-default-mib`, `policy-new-site`, `policy-new-age`,
 * `policy-new-mib`, and `site-age:<site>` / `site-mib:<site>` for a listed site's row.
 */

import { validateSocksOverride } from "./options.js";
import { describePolicy, policyFromForm, siteFromInput } from "./policy-form.js";

/**
 * The SOCKS fields' errors, one per field (both empty means "use the service's endpoint").
 * Returns `{value, errors: [{field, message}], note}`: `value` is `{host, port}` or `null`;
 * `note` says how the host was stored when it differs from what was typed.
 */
export function checkSocks(hostText, portText) {
  const host = String(hostText ?? "").trim();
  const port = String(portText ?? "").trim();
  const errors = [];
  if (host === "" && port !== "") {
    errors.push({ field: "socks-host", message: "SOCKS host: give an IP address too, or empty both fields to use the service's endpoint." });
  }
  if (port === "" && host !== "") {
    errors.push({ field: "socks-port", message: "SOCKS port: give a port too, or empty both fields to use the service's endpoint." });
  }
  if (host !== "") {
    const alone = validateSocksOverride(host, "1");
    if (!alone.ok) {
      errors.push({ field: "socks-host", message: `SOCKS host: ${alone.error}` });
    }
  }
  if (port !== "") {
    const alone = validateSocksOverride("127.0.0.1", port);
    if (!alone.ok) {
      errors.push({ field: "socks-port", message: `SOCKS port: ${alone.error}` });
    }
  }
  if (errors.length > 0) {
    return { value: null, errors, note: "" };
  }
  const checked = validateSocksOverride(host, port);
  const value = checked.value;
  const note = value !== null && value.host !== host ? `SOCKS host "${host}" is stored as ${value.host}.` : "";
  return { value, errors, note };
}

/**
 * Checks the whole page. `form` is `{socksHost, socksPort, isolateContainers,
 * confirmNewIdentity, closeTabs, policies}`; `policies` is `null` when the service's policies
 * could not be read, else `{default: {maxAgeMin, maxMiB, perTab}, sites: [{site, maxAgeMin,
 * maxMiB, perTab, remove}], added: {site, maxAgeMin, maxMiB, perTab}}` (`added.site` empty: no
 * new row).
 *
 * Returns `{ok, errors: [{field, message}], options, policy: {default, sites: [{site, policy,
 * remove}], added: {typed, site, policy} | null} | null, notes: [text]}`.
 */
export function checkForm(form) {
  const errors = [];
  const notes = [];
  const socks = checkSocks(form.socksHost, form.socksPort);
  errors.push(...socks.errors);
  if (socks.note) {
    notes.push(socks.note);
  }
  const options = {
    socksOverride: socks.value,
    isolateContainers: form.isolateContainers === true,
    confirmNewIdentity: form.confirmNewIdentity === true,
    closeTabsOnNewIdentity: form.closeTabs === true,
  };
  let policy = null;
  if (form.policies) {
    const fieldsOf = (prefix, fields) => {
      const checked = policyFromForm(fields);
      if (!checked.ok) {
        const suffix = checked.field === "maxAgeMin" ? "age" : "mib";
        errors.push({ field: prefix(suffix), message: checked.error, detail: checked.field });
        // The other field may be wrong too: check it alone so every bad field is named.
        const other = checked.field === "maxAgeMin" ? { maxMiB: fields.maxMiB } : { maxAgeMin: fields.maxAgeMin };
        const again = policyFromForm(other);
        if (!again.ok) {
          errors.push({ field: prefix(again.field === "maxAgeMin" ? "age" : "mib"), message: again.error });
        }
        return null;
      }
      return checked.value;
    };
    const def = fieldsOf((s) => `policy-default-${s}`, form.policies.default);
    const sites = form.policies.sites.map((row) => ({
      site: row.site,
      remove: row.remove === true,
      policy: row.remove === true ? null : fieldsOf((s) => `site-${s}:${row.site}`, row),
    }));
    let added = null;
    const typed = String(form.policies.added?.site ?? "").trim();
    const addedFields = form.policies.added ?? {};
    if (typed !== "") {
      const site = siteFromInput(typed);
      if (!site.ok) {
        errors.push({ field: "policy-new-site", message: `New site: ${site.error}` });
      }
      const value = fieldsOf((s) => `policy-new-${s}`, addedFields);
      if (site.ok && value !== null) {
        added = { typed, site: site.value, policy: value };
      }
    } else if (String(addedFields.maxAgeMin ?? "").trim() !== "" || String(addedFields.maxMiB ?? "").trim() !== "") {
      errors.push({ field: "policy-new-site", message: "New site: enter the site the new circuit lifetime is for, e.g. example.com." });
    }
    policy = { default: def, sites, added };
  }
  // Keep each field once, in page order, naming it with its first problem.
  const seen = new Set();
  const unique = errors.filter((e) => !seen.has(e.field) && seen.add(e.field));
  return { ok: unique.length === 0, errors: unique.map(({ field, message }) => ({ field, message })), options, policy, notes };
}

/**
 * The `policy_set` changes that turn the service's `table` (policy-form.parsePolicyTable) into
 * the checked `policy` of {@link checkForm}: `[{site | null, policy | null, typed?}]`, the
 * default first, then removals and changes, then the new site.
 */
export function policyChanges(table, policy) {
  if (policy === null || table === null) {
    return [];
  }
  const changes = [];
  if (!samePolicy(table.default, policy.default)) {
    changes.push({ site: null, policy: policy.default });
  }
  const stored = new Map(table.sites.map(({ site, policy: p }) => [site, p]));
  for (const row of policy.sites) {
    if (!stored.has(row.site)) {
      continue;
    }
    if (row.remove) {
      changes.push({ site: row.site, policy: null });
    } else if (!samePolicy(stored.get(row.site), row.policy)) {
      changes.push({ site: row.site, policy: row.policy });
    }
  }
  if (policy.added !== null) {
    changes.push({ site: policy.added.site, policy: policy.added.policy, typed: policy.added.typed });
  }
  return changes;
}

/**
 * How the service stored a new site, for the user: `""` when it kept what was typed, else e.g.
 * `"www.example.com is stored as example.com, the site it belongs to."`. `before` and `after`
 * are the policy tables around the change.
 */
export function storedAsNote(typed, before, after) {
  const known = new Set(before.sites.map(({ site }) => site));
  const added = after.sites.map(({ site }) => site).filter((site) => !known.has(site));
  const site = added[0] ?? siteFromInput(typed).value;
  if (site === undefined || site === typed.trim().toLowerCase()) {
    return "";
  }
  return `${typed.trim()} is stored as ${site}, the site it belongs to.`;
}

/**
 * One result line for people from what Save did: `{kind: "ok" | "error", text}`.
 * `browserSaved` whether storage.local was written; `policyError` the service's error text (or
 * `null`); `policiesUnavailable` whether the policies could not be read at all; `changes` the
 * number of policy changes sent; `notes` normalisations to mention.
 */
export function saveResult({ browserSaved, policyError = null, policiesUnavailable = false, changes = 0, notes = [] }) {
  const tail = notes.length > 0 ? ` ${notes.join(" ")}` : "";
  if (!browserSaved) {
    return { kind: "error", text: "Nothing was saved: the browser did not store the settings. Try again." };
  }
  if (policyError !== null) {
    return {
      kind: "error",
      text: `Browser settings saved, but the circuit lifetimes were not: ${policyError}. Check that Persite's service runs (persite doctor), then Save again.${tail}`,
    };
  }
  if (policiesUnavailable) {
    return {
      kind: "ok",
      text: `Saved. The circuit lifetimes cannot be changed now: Persite's service does not answer (run persite doctor).${tail}`,
    };
  }
  return { kind: "ok", text: `Saved${changes > 0 ? ", circuit lifetimes included" : ""}.${tail}` };
}

/** The summary for the error list: how many fields need fixing. */
export function errorSummary(errors) {
  return `Nothing was saved: ${errors.length === 1 ? "one field needs" : `${errors.length} fields need`} fixing.`;
}

/** Placeholder text of the SOCKS fields: the endpoint in use when they are empty. */
export function socksPlaceholders(brokerSocks) {
  if (!brokerSocks) {
    return { host: "from Persite's service", port: "from the service" };
  }
  return { host: brokerSocks.host, port: String(brokerSocks.port) };
}

/** Text saying what a removed row falls back to. */
export function removedRowText(defaultPolicy) {
  return `Uses the default (${describePolicy(defaultPolicy)}) after Save`;
}

function samePolicy(a, b) {
  return (
    b !== null && a.max_age_s === b.max_age_s && a.max_bytes === b.max_bytes && a.per_tab === b.per_tab
  );
}
