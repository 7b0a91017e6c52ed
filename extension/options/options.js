/**
 * Options page: one form, one Save, one result (src/options-form.js). The browser settings go
 * to `storage.local` (the background page picks them up at once); the circuit lifetimes go to
 * Persite's service through the background page (`persite:policy-get` / `persite:policy-set`).
 *
 * Element ids (contract with the end-to-end tests): #socks-host, #socks-port (their
 * placeholders show the endpoint in use when empty), #isolate-containers,
 * #confirm-new-identity, #close-tabs, #policies (data-state = loading | ready | unavailable),
 * #policy-default-age, #policy-default-mib, #policy-default-per-tab, #policy-sites (tbody rows
 * `tr[data-site]` with `.age`, `.mib`, `.per-tab`, `.remove`, data-remove), #policy-new-site,
 * #policy-new-age, #policy-new-mib, #policy-new-per-tab, #save, #options-status (data-kind =
 * ok | error), #options-errors (`li[data-field]`), body[data-ready]. Invalid inputs carry
 * aria-invalid="true".
 */

import { MESSAGE } from "../src/messages.js";
import {
  checkForm,
  errorSummary,
  policyChanges,
  removedRowText,
  saveResult,
  socksPlaceholders,
  storedAsNote,
} from "../src/options-form.js";
import { OPTIONS_KEY, normalizeOptions } from "../src/options.js";
import { policyToForm } from "../src/policy-form.js";

const $ = (id) => document.getElementById(id);

/** The service's policy table as last read, or `null` when it could not be read. */
let table = null;

main().catch((e) => report("error", `Cannot read the options: ${e.message}`));

$("options-form").addEventListener("submit", (event) => {
  event.preventDefault();
  save().catch((e) => report("error", `Not saved: ${e.message}`));
});

async function main() {
  const options = normalizeOptions((await browser.storage.local.get(OPTIONS_KEY))[OPTIONS_KEY]);
  const override = options.socksOverride;
  $("socks-host").value = override && !override.invalid ? override.host : "";
  $("socks-port").value = override && !override.invalid ? String(override.port) : "";
  $("isolate-containers").checked = options.isolateContainers;
  $("confirm-new-identity").checked = options.confirmNewIdentity;
  $("close-tabs").checked = options.closeTabsOnNewIdentity;
  await Promise.all([showEndpointInUse(), loadPolicies()]);
  if (override?.invalid) {
    report("error", "The stored SOCKS endpoint is invalid; web requests are blocked until you fix or empty it and Save.");
  }
  document.body.dataset.ready = "true";
}

/** Placeholders: what empty SOCKS fields mean, i.e. the service's endpoint. */
async function showEndpointInUse() {
  let brokerSocks = null;
  try {
    const reply = await browser.runtime.sendMessage({ type: MESSAGE.status });
    brokerSocks = reply?.ok ? (reply.status.brokerSocks ?? null) : null;
  } catch {
    // The placeholders then say where the endpoint comes from instead.
  }
  const shown = socksPlaceholders(brokerSocks);
  $("socks-host").placeholder = shown.host;
  $("socks-port").placeholder = shown.port;
  $("socks-hint").textContent = brokerSocks
    ? `Leave both empty to use the endpoint Persite’s service reports: ${brokerSocks.host}:${brokerSocks.port}.`
    : "Leave both empty to use the endpoint Persite’s service reports (not known now: the service does not answer).";
}

async function loadPolicies() {
  try {
    render(await sendPolicies({ type: MESSAGE.policyGet }));
    $("policies").dataset.state = "ready";
  } catch (e) {
    table = null;
    $("policies").dataset.state = "unavailable";
    $("policies-unavailable").hidden = false;
    $("policies-unavailable").textContent =
      `Cannot read the circuit lifetimes from Persite’s service: ${e.message}. Run persite doctor, then reopen this page.`;
    for (const input of $("policies").querySelectorAll("input")) {
      input.disabled = true;
    }
  }
}

/** The whole page's fields, as options-form.checkForm takes them. */
function readForm() {
  const rows = [...$("policy-sites").tBodies[0].rows];
  return {
    socksHost: $("socks-host").value,
    socksPort: $("socks-port").value,
    isolateContainers: $("isolate-containers").checked,
    confirmNewIdentity: $("confirm-new-identity").checked,
    closeTabs: $("close-tabs").checked,
    policies:
      table === null
        ? null
        : {
            default: {
              maxAgeMin: $("policy-default-age").value,
              maxMiB: $("policy-default-mib").value,
              perTab: $("policy-default-per-tab").checked,
            },
            sites: rows.map((row) => ({
              site: row.dataset.site,
              maxAgeMin: row.querySelector(".age").value,
              maxMiB: row.querySelector(".mib").value,
              perTab: row.querySelector(".per-tab").checked,
              remove: row.dataset.remove === "true",
            })),
            added: {
              site: $("policy-new-site").value,
              maxAgeMin: $("policy-new-age").value,
              maxMiB: $("policy-new-mib").value,
              perTab: $("policy-new-per-tab").checked,
            },
          },
  };
}

/** The input a field key of options-form.js names. */
function inputOf(field) {
  const row = /^site-(age|mib):(.*)$/s.exec(field);
  if (row) {
    const tr = [...$("policy-sites").tBodies[0].rows].find((r) => r.dataset.site === row[2]);
    return tr?.querySelector(`.${row[1]}`) ?? null;
  }
  return $(field);
}

async function save() {
  for (const input of document.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
  }
  const checked = checkForm(readForm());
  showErrors(checked.errors);
  if (!checked.ok) {
    report("error", errorSummary(checked.errors));
    inputOf(checked.errors[0].field)?.focus();
    return;
  }
  report("", "Saving…");
  let browserSaved = false;
  try {
    await browser.storage.local.set({ [OPTIONS_KEY]: checked.options });
    browserSaved = true;
  } catch {
    // Reported below.
  }
  const notes = [...checked.notes];
  let policyError = null;
  const changes = policyChanges(table, checked.policy);
  if (browserSaved) {
    for (const change of changes) {
      try {
        const before = table;
        render(await sendPolicies({ type: MESSAGE.policySet, site: change.site, policy: change.policy }));
        if (change.typed !== undefined) {
          const note = storedAsNote(change.typed, before, table);
          if (note) {
            notes.push(note);
          }
          clearNewRow();
        }
      } catch (e) {
        policyError = e.message;
        break;
      }
    }
  }
  const result = saveResult({ browserSaved, policyError, policiesUnavailable: table === null, changes: changes.length, notes });
  report(result.kind, result.text);
}

function clearNewRow() {
  for (const id of ["policy-new-site", "policy-new-age", "policy-new-mib"]) {
    $(id).value = "";
  }
  $("policy-new-per-tab").checked = false;
}

function showErrors(errors) {
  const list = $("options-errors");
  list.replaceChildren(
    ...errors.map(({ field, message }) => {
      inputOf(field)?.setAttribute("aria-invalid", "true");
      const item = document.createElement("li");
      item.dataset.field = field;
      item.textContent = message;
      return item;
    }),
  );
  list.hidden = errors.length === 0;
}

/**
 * Sends a policy message to the background and returns its policy table, which the background
 * has already checked (`{default, sites: [{site, policy}]}`, policy-form.parsePolicyTable).
 */
async function sendPolicies(message) {
  const reply = await browser.runtime.sendMessage(message);
  if (!reply?.ok) {
    throw new Error(reply?.error ?? "no answer from Persite's background page");
  }
  const policies = reply.policies;
  if (typeof policies?.default !== "object" || policies.default === null || !Array.isArray(policies.sites)) {
    throw new Error("the background page answered no policy table");
  }
  return policies;
}

/** Shows the service's table (the rows the user has not saved yet are replaced). */
function render(policies) {
  table = policies;
  const form = policyToForm(policies.default);
  $("policy-default-age").value = form.maxAgeMin;
  $("policy-default-mib").value = form.maxMiB;
  $("policy-default-per-tab").checked = form.perTab;
  const body = $("policy-sites").tBodies[0];
  body.replaceChildren(...policies.sites.map(({ site, policy }) => siteRow(site, policy)));
}

function siteRow(site, policy) {
  const form = policyToForm(policy);
  const row = document.createElement("tr");
  row.dataset.site = site;
  row.dataset.remove = "false";
  const cell = (...children) => {
    const td = document.createElement("td");
    td.append(...children);
    row.append(td);
    return td;
  };
  const name = document.createElement("span");
  name.className = "site";
  name.textContent = site;
  const removed = document.createElement("span");
  removed.className = "removed-note";
  removed.hidden = true;
  removed.textContent = removedRowText(table.default);
  cell(name, removed);
  const age = input("age", form.maxAgeMin, `Max age in minutes for ${site}`);
  const mib = input("mib", form.maxMiB, `Max data in MiB for ${site}`);
  cell(age);
  cell(mib);
  const perTab = document.createElement("input");
  perTab.type = "checkbox";
  perTab.className = "per-tab";
  perTab.checked = form.perTab;
  perTab.setAttribute("aria-label", `Per tab for ${site}`);
  cell(perTab);
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "remove";
  remove.textContent = "Remove";
  remove.title = `Remove ${site}'s own circuit lifetime; it uses the default after Save`;
  remove.addEventListener("click", () => {
    const removing = row.dataset.remove !== "true";
    row.dataset.remove = String(removing);
    removed.hidden = !removing;
    remove.textContent = removing ? "Keep" : "Remove";
    for (const el of [age, mib, perTab]) {
      el.disabled = removing;
    }
  });
  cell(remove);
  return row;
}

function input(className, value, label) {
  const el = document.createElement("input");
  el.type = "text";
  el.inputMode = "decimal";
  el.autocomplete = "off";
  el.className = className;
  el.value = value;
  el.placeholder = "none";
  el.setAttribute("aria-label", label);
  return el;
}

function report(kind, text) {
  $("options-status").dataset.kind = kind;
  $("options-status").textContent = text;
}
