/**
 * Popup: shows the tab's site, container, Tor circuit and the protection status, and runs New
 * circuit / New identity through the background page (which owns the native port). Element ids
 * are a contract with the end-to-end tests: #status (data-state), #socks, #tor-bootstrap,
 * #site, #site-key, #container, #circuit-display (data-state), #circuit-hops (li.hop with
 * data-role, data-fingerprint), #new-circuit, #new-identity, #confirm, #confirm-dont-ask,
 * #confirm-yes, #confirm-no, #message (data-kind), body[data-ready].
 *
 * The circuit is asked once (persite:circuit) and then follows the background's events on a
 * runtime.connect port (messages.js POPUP_PORT_NAME); src/circuit-view.js decides what to show.
 */

import { bootstrapView, circuitPushApplies, circuitView, newnymText } from "../src/circuit-view.js";
import { MESSAGE, POPUP_PORT_NAME } from "../src/messages.js";
import { OPTIONS_KEY, normalizeOptions } from "../src/options.js";
import { containerLabel, parsePopupQuery } from "../src/popup-query.js";

const STATUS_POLL_MS = 1000;

/**
 * Reasons for "unavailable" that a change of tor's status may end (a reconnected, possibly
 * upgraded broker also reports tor's status): ask again when it changes.
 */
const TOR_DEPENDENT = new Set([
  "no_control_port",
  "not_bootstrapped",
  "unknown_type",
  "not_connected",
  "disconnected",
  "broker_unavailable",
  "timeout",
]);

const query = parsePopupQuery(location.search);
const $ = (id) => document.getElementById(id);

let tabId = null;

/** What the circuit display shows: the tab's host, and the site and container of its circuit. */
const shown = { host: null, site: null, container: null, reason: null };

/** Increases with every circuit request, so that a late answer does not replace a newer one. */
let circuitAsked = 0;

main().catch((e) => say("error", e.message));

async function main() {
  $("new-circuit").addEventListener("click", () => newCircuit());
  $("new-identity").addEventListener("click", () => askNewIdentity());
  $("confirm-yes").addEventListener("click", () => confirmNewIdentity());
  $("confirm-no").addEventListener("click", () => cancelNewIdentity());
  $("open-options").addEventListener("click", () => browser.runtime.openOptionsPage());
  $("open-sites").addEventListener("click", () =>
    browser.tabs.create({ url: browser.runtime.getURL("sites/sites.html") }).then(() => window.close()),
  );

  listenForTorData();
  await refreshStatus().catch((e) => say("error", e.message));
  setInterval(() => refreshStatus().catch(() => {}), STATUS_POLL_MS);

  if (query.error !== null) {
    throw new Error(query.error);
  }
  tabId = query.tabId ?? (await activeTabId());
  if (tabId !== null) {
    followTab(tabId);
    await showTab(tabId);
    await refreshCircuit();
    $("new-circuit").disabled = false;
  } else {
    renderCircuit(circuitView({ host: null }));
    say("error", "No tab to act on.");
  }
  $("new-identity").disabled = false;
  if (query.confirmNewIdentity) {
    showConfirm();
  }
  document.body.dataset.ready = "true";
}

async function send(type, fields = {}) {
  const reply = await browser.runtime.sendMessage({ type, ...fields });
  if (!reply?.ok) {
    const error = new Error(reply?.error ?? "the background page did not answer");
    error.code = reply?.code ?? null;
    throw error;
  }
  return reply;
}

async function activeTabId() {
  const window = await browser.windows.getLastFocused({ windowTypes: ["normal"] });
  const [tab] = await browser.tabs.query({ active: true, windowId: window.id });
  return tab?.id ?? null;
}

async function refreshStatus() {
  const { status } = await send(MESSAGE.status);
  const element = $("status");
  element.dataset.state = status.protected ? "protected" : "broken";
  element.textContent = status.protected
    ? "Protected: connected to the broker"
    : `Not protected: ${status.problem}. Web requests are blocked.`;
  renderWarnings(status.warnings ?? []);
  $("socks").textContent = status.socks
    ? `Tor SOCKS ${formatEndpoint(status.socks)} (from ${status.socksSource === "options" ? "options" : "the broker"})`
    : "Tor SOCKS endpoint unknown";
  renderBootstrap(status.tor ?? null);
}

/** Gaps by which traffic can bypass the per-site circuits (path-checks.js), with the fix. */
function renderWarnings(warnings) {
  const list = $("warnings");
  list.replaceChildren(
    ...warnings.map((warning) => {
      const item = document.createElement("li");
      item.dataset.code = warning.code;
      item.textContent = warning.text;
      return item;
    }),
  );
  list.hidden = warnings.length === 0;
}

/** Tor data from the background as it arrives: circuit changes and tor status. */
function listenForTorData() {
  const port = browser.runtime.connect({ name: POPUP_PORT_NAME });
  port.onMessage.addListener((event) => {
    if (event?.type === "circuit") {
      onCircuitPush(event.circuit);
    } else if (event?.type === "tor_status") {
      renderBootstrap(event.tor);
      if (TOR_DEPENDENT.has(shown.reason)) {
        refreshCircuit().catch(() => {});
      }
    }
  });
}

function onCircuitPush(circuit) {
  if (tabId === null || shown.host === null || shown.container === null) {
    return;
  }
  if (!circuitPushApplies(shown, circuit)) {
    return;
  }
  if (shown.site === null) {
    // Not known which site this tab's circuit belongs to yet: ask rather than guess.
    refreshCircuit().catch(() => {});
    return;
  }
  circuitAsked += 1;
  showCircuit({ host: shown.host, circuit });
}

/** Asks the background for the tab's circuit and shows the answer (or why there is none). */
async function refreshCircuit() {
  const asked = ++circuitAsked;
  if (shown.host === null && shown.container === null) {
    renderCircuit(circuitView({ pending: true }));
  }
  let source;
  try {
    const reply = await send(MESSAGE.circuit, { tabId });
    source = { host: reply.host, circuit: reply.circuit, container: reply.container };
  } catch (e) {
    source = { error: { code: e.code ?? null, message: e.message } };
  }
  if (asked === circuitAsked) {
    showCircuit(source);
  }
}

function showCircuit(source) {
  if (!source.error) {
    shown.host = source.host;
    shown.container = source.circuit?.container ?? source.container ?? shown.container;
    shown.site = source.circuit?.site ?? null;
  }
  shown.reason = source.error?.code ?? (source.circuit?.available === false ? source.circuit.reason : null);
  renderCircuit(circuitView(source));
}

/** Copies a circuit view (src/circuit-view.js) into #circuit-display. */
function renderCircuit(view) {
  const section = $("circuit-display");
  section.dataset.state = view.state;
  section.hidden = view.state === "hidden";
  $("circuit-heading").textContent = view.heading || "Circuit";
  $("circuit-reason").textContent = view.reason;
  $("circuit-reason").hidden = view.reason === "";
  $("circuit-bytes").textContent = view.bytes;
  $("circuit-bytes").hidden = view.bytes === "";
  $("circuit-note").textContent = view.note;
  $("circuit-note").hidden = view.note === "";
  const list = $("circuit-hops");
  list.replaceChildren(...view.rows.map(hopItem));
  list.hidden = view.rows.length === 0;
}

function hopItem(row) {
  const item = document.createElement("li");
  item.className = "hop";
  item.dataset.role = row.role;
  item.dataset.fingerprint = row.fingerprint;
  if (row.title) {
    item.title = row.title;
  }
  if (row.flag) {
    const flag = document.createElement("span");
    flag.className = "flag";
    flag.setAttribute("aria-hidden", "true");
    flag.textContent = row.flag;
    item.append(flag);
  }
  const label = document.createElement("span");
  label.className = "label";
  label.textContent = row.label;
  item.append(label);
  if (row.detail) {
    const detail = document.createElement("code");
    detail.textContent = row.detail;
    item.append(detail);
  }
  return item;
}

function renderBootstrap(tor) {
  const view = bootstrapView(tor);
  const element = $("tor-bootstrap");
  element.hidden = view.hidden;
  element.textContent = view.text;
  if (view.progress === null) {
    delete element.dataset.progress;
  } else {
    element.dataset.progress = String(view.progress);
  }
}

/** Shows the tab again when it navigates while the popup is open. */
function followTab(id) {
  browser.tabs.onUpdated.addListener(
    (updatedId, changeInfo) => {
      if (updatedId === id && typeof changeInfo.url === "string") {
        shown.site = null;
        showTab(id)
          .then(() => refreshCircuit())
          .catch((e) => say("error", e.message));
      }
    },
    { tabId: id, properties: ["url"] },
  );
}

async function showTab(id) {
  const info = await send(MESSAGE.tabInfo, { tabId: id });
  $("site").textContent = info.host ?? "none (shared catch-all circuit)";
  $("site-key").textContent = info.site ?? (info.host === null ? "--unknown--" : "not used yet");
  $("container").textContent = containerLabel(info.container);
  $("container").dataset.container = info.container;
}

async function newCircuit() {
  await busy(async () => {
    const { site } = await send(MESSAGE.newCircuit, { tabId });
    say("ok", `New circuit for ${site}; reloading the tab.`);
    await showTab(tabId);
    await refreshCircuit();
  });
}

async function askNewIdentity() {
  const options = await loadOptions();
  if (options.confirmNewIdentity) {
    showConfirm();
  } else {
    await runNewIdentity();
  }
}

async function showConfirm() {
  const options = await loadOptions();
  $("confirm-text").textContent = options.closeTabsOnNewIdentity
    ? "Every site gets a new circuit; cookies, site data, cache, history, form history and the downloads list are removed, and all tabs and windows are closed. Saved passwords stay."
    : "Every site gets a new circuit; cookies, site data, cache, history, form history and the downloads list are removed. Open tabs stay open. Saved passwords stay.";
  $("confirm").hidden = false;
  $("confirm-yes").focus();
}

async function confirmNewIdentity() {
  $("confirm").hidden = true;
  if ($("confirm-dont-ask").checked) {
    const stored = (await browser.storage.local.get(OPTIONS_KEY))[OPTIONS_KEY] ?? {};
    await browser.storage.local.set({ [OPTIONS_KEY]: { ...stored, confirmNewIdentity: false } });
  }
  await runNewIdentity();
  if (query.confirmNewIdentity) {
    window.close();
  }
}

function cancelNewIdentity() {
  $("confirm").hidden = true;
  if (query.confirmNewIdentity) {
    window.close();
  }
}

async function runNewIdentity() {
  await busy(async () => {
    const result = await send(MESSAGE.newIdentity);
    say("ok", `New identity: new circuits for every site, site data removed. ${newnymText(result)}`.trim());
  });
}

async function busy(task) {
  const buttons = [$("new-circuit"), $("new-identity")];
  const wasDisabled = buttons.map((b) => b.disabled);
  buttons.forEach((b) => {
    b.disabled = true;
  });
  say("", "");
  try {
    await task();
  } catch (e) {
    say("error", e.message);
  } finally {
    buttons.forEach((b, i) => {
      b.disabled = wasDisabled[i];
    });
  }
}

async function loadOptions() {
  return normalizeOptions((await browser.storage.local.get(OPTIONS_KEY))[OPTIONS_KEY]);
}

function say(kind, text) {
  const element = $("message");
  element.dataset.kind = kind;
  element.textContent = text;
}

function formatEndpoint({ host, port }) {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
