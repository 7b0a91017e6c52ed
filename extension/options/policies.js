/**
 * Options page: the circuit-lifetime policy editor (docs/protocol.md §2.5). Reads and saves
 * through the background page (`persite:policy-get` / `persite:policy-set`), which owns the
 * native port; validation and conversion live in src/policy-form.js.
 *
 * Element ids (contract with the end-to-end tests): #policies (data-state = loading | ready |
 * unavailable), #policy-default-age, #policy-default-mib, #policy-default-per-tab,
 * #policy-default-save, #policy-sites (tbody rows `tr[data-site]` with `.age`, `.mib`,
 * `.per-tab`, `.save`, `.remove`), #policy-new-site, #policy-new-age, #policy-new-mib,
 * #policy-new-per-tab, #policy-add, #policy-status (data-kind = ok | error).
 */

import { MESSAGE } from "../src/messages.js";
import { policyFromForm, policyToForm, siteFromInput } from "../src/policy-form.js";

const $ = (id) => document.getElementById(id);

load();

$("policy-default-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const fields = {
    maxAgeMin: $("policy-default-age").value,
    maxMiB: $("policy-default-mib").value,
    perTab: $("policy-default-per-tab").checked,
  };
  const inputs = { maxAgeMin: $("policy-default-age"), maxMiB: $("policy-default-mib") };
  submit(null, fields, inputs, "Default saved.");
});

$("policy-add").addEventListener("click", () => {
  const site = siteFromInput($("policy-new-site").value);
  $("policy-new-site").setAttribute("aria-invalid", String(!site.ok));
  if (!site.ok) {
    report("error", site.error);
    return;
  }
  const fields = {
    maxAgeMin: $("policy-new-age").value,
    maxMiB: $("policy-new-mib").value,
    perTab: $("policy-new-per-tab").checked,
  };
  const inputs = { maxAgeMin: $("policy-new-age"), maxMiB: $("policy-new-mib") };
  submit(site.value, fields, inputs, `Policy for ${site.value} saved.`).then((saved) => {
    if (saved) {
      for (const id of ["policy-new-site", "policy-new-age", "policy-new-mib"]) {
        $(id).value = "";
      }
      $("policy-new-per-tab").checked = false;
    }
  });
});

async function load() {
  try {
    render(await send({ type: MESSAGE.policyGet }));
    $("policies").dataset.state = "ready";
  } catch (e) {
    $("policies").dataset.state = "unavailable";
    report("error", `Cannot read the policies from the broker: ${e.message}`);
  }
}

/**
 * Validates `fields`, marks the bad input, sends `policy_set` and re-renders; resolves with
 * whether it was saved.
 */
async function submit(site, fields, inputs, done) {
  const policy = policyFromForm(fields);
  for (const [field, input] of Object.entries(inputs)) {
    input.setAttribute("aria-invalid", String(!policy.ok && policy.field === field));
  }
  if (!policy.ok) {
    report("error", policy.error);
    return false;
  }
  return save(site, policy.value, done);
}

async function save(site, policy, done) {
  try {
    render(await send({ type: MESSAGE.policySet, site, policy }));
    report("ok", done);
    return true;
  } catch (e) {
    report("error", `Not saved: ${e.message}`);
    return false;
  }
}

/**
 * Sends a message to the background and returns its policy table, which the background has
 * already checked (`{default, sites: [{site, policy}]}`, policy-form.parsePolicyTable's shape:
 * parsing it again as a broker reply would refuse its `sites` array).
 */
async function send(message) {
  const reply = await browser.runtime.sendMessage(message);
  if (!reply?.ok) {
    throw new Error(reply?.error ?? "no answer from the background page");
  }
  const table = reply.policies;
  if (typeof table?.default !== "object" || table.default === null || !Array.isArray(table.sites)) {
    throw new Error("the background page answered no policy table");
  }
  return table;
}

function render(table) {
  const form = policyToForm(table.default);
  $("policy-default-age").value = form.maxAgeMin;
  $("policy-default-mib").value = form.maxMiB;
  $("policy-default-per-tab").checked = form.perTab;
  const body = $("policy-sites").tBodies[0];
  body.replaceChildren(...table.sites.map(({ site, policy }) => siteRow(site, policy)));
}

function siteRow(site, policy) {
  const form = policyToForm(policy);
  const row = document.createElement("tr");
  row.dataset.site = site;
  const cell = (child) => {
    const td = document.createElement("td");
    td.append(child);
    row.append(td);
    return td;
  };
  cell(document.createTextNode(site)).className = "site";
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
  const actions = document.createElement("td");
  const saveButton = button("save", "Save", () =>
    submit(site, { maxAgeMin: age.value, maxMiB: mib.value, perTab: perTab.checked }, { maxAgeMin: age, maxMiB: mib }, `Policy for ${site} saved.`),
  );
  const removeButton = button("remove", "Use default", () => save(site, null, `${site} uses the default now.`));
  actions.append(saveButton, " ", removeButton);
  row.append(actions);
  return row;
}

function input(className, value, label) {
  const el = document.createElement("input");
  el.type = "text";
  el.inputMode = "decimal";
  el.autocomplete = "off";
  el.className = className;
  el.value = value;
  el.setAttribute("aria-label", label);
  return el;
}

function button(className, text, onClick) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = className;
  el.textContent = text;
  el.addEventListener("click", onClick);
  return el;
}

function report(kind, text) {
  $("policy-status").dataset.kind = kind;
  $("policy-status").textContent = text;
}
