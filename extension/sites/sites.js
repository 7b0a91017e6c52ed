/**
 * The sites page: every site this browser session used (src/site-list.js), with its container,
 * circuit, bytes, age and circuit-lifetime policy, and per-site actions (New circuit, change
 * the policy, remove from the list). Asks the background page, which owns the native port.
 *
 * Element ids (contract with the end-to-end tests): #sites (data-state = loading | empty |
 * shown | unavailable), #sites-table (tbody rows `tr[data-site][data-container]` with `.where`,
 * `.circuit` (data-state, data-fingerprints: the path's relays, comma-separated, data-circuit:
 * tor's circuit id), `.bytes`,
 * `.age`, `select.policy`, `button.new-circuit`, `button.forget`), #sites-refresh,
 * #sites-status (data-kind = ok | error), body[data-ready].
 */

import { MESSAGE } from "../src/messages.js";
import { POLICY_CHOICES, policyChoice, siteRows } from "../src/site-list.js";

const REFRESH_MS = 5000;

const $ = (id) => document.getElementById(id);

/** The running load, shared by concurrent refreshes. */
let loading = null;

$("sites-refresh").addEventListener("click", () => refresh());
refresh().finally(() => {
  document.body.dataset.ready = "true";
});
setInterval(() => {
  // Not while the user is choosing a policy: the row would be rebuilt under the pointer.
  if (document.activeElement?.tagName !== "SELECT") {
    refresh();
  }
}, REFRESH_MS);

async function send(type, fields = {}) {
  const reply = await browser.runtime.sendMessage({ type, ...fields });
  if (!reply?.ok) {
    throw new Error(reply?.error ?? "Persite's background page did not answer; reload the extension.");
  }
  return reply;
}

/** Asks the background for the list and shows it; concurrent calls share one request. */
function refresh() {
  loading ??= load().finally(() => {
    loading = null;
  });
  return loading;
}

async function load() {
  let data;
  try {
    data = await send(MESSAGE.sites);
  } catch (e) {
    $("sites").dataset.state = "unavailable";
    report("error", `Cannot list the sites: ${e.message}`);
    return;
  }
  const rows = siteRows(data.sites, data.policies, data.now);
  $("sites-table").tBodies[0].replaceChildren(...rows.map(siteRow));
  $("sites-table").hidden = rows.length === 0;
  $("sites-empty").hidden = rows.length !== 0;
  $("sites").dataset.state = rows.length === 0 ? "empty" : "shown";
}

function siteRow(row) {
  const tr = document.createElement("tr");
  tr.dataset.site = row.site;
  tr.dataset.container = row.container;
  const cell = (className, ...children) => {
    const td = document.createElement("td");
    td.className = className;
    td.append(...children);
    tr.append(td);
    return td;
  };
  cell("site", row.site);
  cell("where", row.where);
  const circuit = cell("circuit");
  circuit.dataset.state = row.circuit.state;
  circuit.dataset.fingerprints = row.circuit.fingerprints.join(",");
  circuit.dataset.circuit = row.circuit.id;
  if (row.circuit.state === "shown") {
    circuit.append(row.circuit.path);
    if (row.circuit.parallel) {
      const parallel = document.createElement("span");
      parallel.className = "parallel";
      parallel.title = "Tor sends this site's traffic over more than one path at once (conflux)";
      parallel.textContent = row.circuit.parallel;
      circuit.append(parallel);
    }
  } else {
    const note = document.createElement("span");
    note.className = "note";
    note.textContent = row.circuitNote;
    circuit.append(note);
  }
  cell("bytes", row.bytes);
  cell("age", row.age);
  cell("policy-cell", policySelect(row));
  const actions = cell("actions");
  actions.append(
    button("new-circuit", "New circuit", `New circuit for ${row.site} (every container)`, () => newCircuit(row.site)),
    button("forget", "Remove from list", `Remove ${row.site} in ${row.where} from this list`, () =>
      forget(row.site, row.container, row.where),
    ),
  );
  return tr;
}

function policySelect(row) {
  const select = document.createElement("select");
  select.className = "policy";
  select.setAttribute("aria-label", `Circuit lifetime for ${row.site}`);
  const current = policyChoice(row.override);
  for (const [value, choice] of Object.entries(POLICY_CHOICES)) {
    const label = value === "default" ? `Default (${row.override ? "as in Options" : row.policy.replace(/ \(default\)$/, "")})` : choice.label;
    select.append(new Option(label, value, false, value === current));
  }
  if (current === "custom") {
    // Set in Options with other numbers: shown as it is, changed there.
    select.append(new Option(`${row.policy} (set in Options)`, "custom", false, true));
  }
  select.addEventListener("change", () => setPolicy(row.site, select.value));
  return select;
}

function button(className, text, title, onClick) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = className;
  el.textContent = text;
  el.title = title;
  el.addEventListener("click", onClick);
  return el;
}

async function newCircuit(site) {
  try {
    await send(MESSAGE.siteNewCircuit, { site });
    report("ok", `New circuit for ${site}: its next connection uses a new path.`);
  } catch (e) {
    report("error", `No new circuit for ${site}: ${e.message}`);
  }
  await refresh();
}

async function setPolicy(site, value) {
  const choice = POLICY_CHOICES[value];
  if (!choice) {
    return;
  }
  try {
    await send(MESSAGE.policySet, { site, policy: choice.policy });
    report("ok", `${site}: ${choice.policy === null ? "uses the default circuit lifetime now" : choice.label.toLowerCase()}.`);
  } catch (e) {
    report("error", `Not changed for ${site}: ${e.message}`);
  }
  await refresh();
}

async function forget(site, container, where) {
  try {
    await send(MESSAGE.siteForget, { site, container });
    report("ok", `${site} (${where}) removed from this list; it comes back when the site is used again.`);
  } catch (e) {
    report("error", `Not removed: ${e.message}`);
  }
  await refresh();
}

function report(kind, text) {
  $("sites-status").dataset.kind = kind;
  $("sites-status").textContent = text;
}
