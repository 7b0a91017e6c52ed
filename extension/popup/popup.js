/**
 * Popup: says whether this tab's site is protected (src/health.js verdict) and, if not, what is
 * wrong and what to do; shows the site's Tor circuit as Tor Browser does (src/circuit-view.js);
 * runs New circuit / New identity through the background page (which owns the native port).
 *
 * Element ids are a contract with the end-to-end tests: #status (data-state = unknown |
 * protected | idle | at-risk | broken), #status-detail, #status-fix, #warnings (li[data-code]),
 * #socks, #tor-bootstrap, #open-status, #site, #site-key, #container, #circuit-display
 * (data-state), #circuit-hops (li.hop with data-role, data-fingerprint), #new-circuit,
 * #new-circuit-reason, #new-identity, #new-identity-reason, #confirm, #confirm-dont-ask,
 * #confirm-yes, #confirm-no, #message (data-kind, data-path), #open-options, #open-sites,
 * body[data-ready].
 *
 * The circuit is asked once (persite:circuit) and then follows the background's events on a
 * runtime.connect port (messages.js POPUP_PORT_NAME).
 */

import { bootstrapView, circuitPushApplies, circuitView, newnymText, pathFingerprints, pathText } from "../src/circuit-view.js";
import { CHECK, healthChecks, needsAttention, verdict } from "../src/health.js";
import { setRich } from "../src/rich-text.js";
import { MESSAGE, POPUP_PORT_NAME, STATUS_PAGE } from "../src/messages.js";
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

/** Short words for the gaps the status lists (path-checks.js codes); the fix is on the status page. */
const GAP_TEXT = {
  private_windows: "Private windows are not covered.",
  default_proxy: "Firefox's own proxy is not tor.",
  service_workers: "Sites ran service workers in the background.",
};

const query = parsePopupQuery(location.search);
const $ = (id) => document.getElementById(id);

let tabId = null;

/** What the circuit display shows: the tab's host, and the site and container of its circuit. */
const shown = { host: null, site: null, container: null, reason: null, view: null, circuitId: null };

/** The tab as last asked: `{host, site}` (tabInfo), `null` before the first answer. */
let tab = null;

/** The last status from the background, `null` before the first answer. */
let lastStatus = null;

/**
 * While New circuit waits for the new path: `{site, oldId, oldPath}` (the circuit shown before,
 * and its relay fingerprints).
 */
let awaitingNewPath = null;

/** A button action is running. */
let busyNow = false;

/** Increases with every circuit request, so that a late answer does not replace a newer one. */
let circuitAsked = 0;

main().catch((e) => say("error", e.message));

async function main() {
  $("new-circuit").addEventListener("click", () => newCircuit());
  $("new-identity").addEventListener("click", () => askNewIdentity());
  $("confirm-yes").addEventListener("click", () => confirmNewIdentity());
  $("confirm-no").addEventListener("click", () => cancelNewIdentity());
  $("open-options").addEventListener("click", () => browser.runtime.openOptionsPage());
  $("open-status").addEventListener("click", () => {
    browser.tabs.create({ url: browser.runtime.getURL(STATUS_PAGE) }).then(() => window.close());
  });
  $("open-sites").addEventListener("click", () =>
    browser.tabs.create({ url: browser.runtime.getURL("sites/sites.html") }).then(() => window.close()),
  );

  listenForTorData();
  if (query.error !== null) {
    throw new Error(query.error);
  }
  tabId = query.tabId ?? (await activeTabId());
  if (tabId !== null) {
    followTab(tabId);
    await showTab(tabId).catch((e) => say("error", e.message));
  } else {
    renderCircuit(circuitView({ host: null }));
  }
  await refreshStatus().catch((e) => say("error", e.message));
  setInterval(() => refreshStatus().catch(() => {}), STATUS_POLL_MS);
  if (tabId !== null) {
    await refreshCircuit();
  }
  if (query.confirmNewIdentity) {
    showConfirm();
  }
  document.body.dataset.ready = "true";
}

async function send(type, fields = {}) {
  const reply = await browser.runtime.sendMessage({ type, ...fields });
  if (!reply?.ok) {
    const error = new Error(reply?.error ?? "Persite's background page did not answer");
    error.code = reply?.code ?? null;
    throw error;
  }
  return reply;
}

async function activeTabId() {
  const window = await browser.windows.getLastFocused({ windowTypes: ["normal"] });
  const [active] = await browser.tabs.query({ active: true, windowId: window.id });
  return active?.id ?? null;
}

async function refreshStatus() {
  const { status } = await send(MESSAGE.status);
  lastStatus = status;
  if (tabId !== null && tab !== null && tab.host !== null && tab.site === null) {
    // The site's credentials may have arrived since (a page load): ask again.
    await showTab(tabId).catch(() => {});
  }
  renderStatus();
}

/** The headline, what to do, and the buttons, from the last status and tab. */
function renderStatus() {
  const checks = healthChecks(lastStatus);
  const said = verdict(checks, tab ?? { host: null, site: null });
  const element = $("status");
  element.dataset.state = said.state;
  element.dataset.problem = said.problem ?? "";
  element.textContent = said.headline;
  setText("status-detail", said.detail);
  setRich($("status-fix"), said.fix === "" ? "" : `What to do: ${said.fix}`);
  $("status-fix").hidden = said.fix === "";
  renderWarnings(lastStatus?.warnings ?? []);
  $("open-status").hidden = !(needsAttention(checks) || said.state === "broken");
  setText(
    "socks",
    lastStatus?.socks && lastStatus.socksSource === "options"
      ? `Using the SOCKS port set in Persite's options: ${formatEndpoint(lastStatus.socks)}`
      : "",
  );
  const bootstrap = bootstrapView(lastStatus?.tor ?? null);
  renderBootstrap(said.problem === CHECK.tor || said.problem === CHECK.socks ? { ...bootstrap, hidden: true } : bootstrap);
  updateButtons(checks);
}

/** Gaps by which traffic can bypass the per-site circuits (path-checks.js codes). */
function renderWarnings(warnings) {
  const list = $("warnings");
  list.replaceChildren(
    ...warnings.map((warning) => {
      const item = document.createElement("li");
      item.dataset.code = warning.code;
      item.textContent = GAP_TEXT[warning.code] ?? warning.text;
      item.title = warning.text;
      return item;
    }),
  );
  list.hidden = warnings.length === 0;
}

/** Enables the buttons that can act, and says why the others cannot. */
function updateButtons(checks = healthChecks(lastStatus)) {
  const serviceDown = checks.some((c) => (c.id === CHECK.nativeHost || c.id === CHECK.daemon) && c.state === "fail");
  const starting = lastStatus === null || checks.find((c) => c.id === CHECK.daemon)?.state === "unknown";
  let circuitWhy = "";
  if (tabId === null) {
    circuitWhy = "No tab to act on.";
  } else if (tab === null) {
    circuitWhy = "Looking at this tab…";
  } else if (tab.host === null) {
    circuitWhy = "This page is not a website, so it has no circuit to change.";
  } else if (serviceDown) {
    circuitWhy = "Needs the Persite service, which is not running.";
  } else if (starting) {
    circuitWhy = "Waiting for the Persite service…";
  }
  const identityWhy = serviceDown ? "Needs the Persite service, which is not running." : starting ? "Waiting for the Persite service…" : "";
  setButton("new-circuit", "new-circuit-reason", circuitWhy);
  setButton("new-identity", "new-identity-reason", identityWhy);
}

function setButton(id, reasonId, why) {
  $(id).disabled = busyNow || why !== "";
  setText(reasonId, why);
  if (why === "") {
    $(id).removeAttribute("aria-describedby");
  } else {
    $(id).setAttribute("aria-describedby", reasonId);
  }
}

/** Tor data from the background as it arrives: circuit changes and tor status. */
function listenForTorData() {
  const port = browser.runtime.connect({ name: POPUP_PORT_NAME });
  port.onMessage.addListener((event) => {
    if (event?.type === "circuit") {
      onCircuitPush(event.circuit);
    } else if (event?.type === "tor_status") {
      if (lastStatus !== null) {
        lastStatus = { ...lastStatus, tor: event.tor };
        renderStatus();
      }
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
  shown.circuitId = source.circuit?.circuits?.find((c) => c.hops.length > 0)?.id ?? null;
  renderCircuit(circuitView(source));
}

/** Copies a circuit view (src/circuit-view.js) into #circuit-display. */
function renderCircuit(view) {
  shown.view = view;
  const section = $("circuit-display");
  section.dataset.state = view.state;
  section.hidden = view.state === "hidden";
  $("circuit-heading").textContent = view.heading || "Circuit";
  $("circuit-heading").title = view.heading;
  setText("circuit-reason", view.reason);
  setText("circuit-bytes", view.bytes);
  setText("circuit-note", view.note);
  const list = $("circuit-hops");
  list.replaceChildren(...view.rows.map(hopItem));
  list.hidden = view.rows.length === 0;
  reportNewPath(view);
}

/** After New circuit: once the display shows another circuit than before, name its path. */
function reportNewPath(view) {
  if (awaitingNewPath === null || view.state !== "shown" || shown.circuitId === null) {
    return;
  }
  const path = pathFingerprints(view);
  if (path.length === 0 || shown.circuitId === awaitingNewPath.oldId) {
    return;
  }
  const same = path.join() === awaitingNewPath.oldPath.join() ? " (the same relays as before, on a new circuit)" : "";
  const { site } = awaitingNewPath;
  awaitingNewPath = null;
  say("ok", `New circuit for ${site}: now through ${pathText(view)}${same}.`);
  $("message").dataset.path = path.join(",");
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

function renderBootstrap(view) {
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
  tab = { host: info.host, site: info.site };
  const site = $("site");
  site.textContent = info.host ?? "No website on this page";
  site.title = info.host ?? "";
  const key = $("site-key");
  key.textContent = info.site ?? (info.host === null ? "—" : "not yet: reload the page");
  key.title = info.site ?? "";
  $("container").textContent = containerLabel(info.container);
  $("container").dataset.container = info.container;
  renderStatus();
}

async function newCircuit() {
  const oldId = shown.circuitId;
  const oldPath = pathFingerprints(shown.view);
  await busy(async () => {
    const { site } = await send(MESSAGE.newCircuit, { tabId });
    awaitingNewPath = { site, oldId, oldPath };
    say("ok", `New circuit for ${site}: reloading the page on it…`);
    delete $("message").dataset.path;
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
    ? "Every site gets a new circuit. Cookies, site data, cache, history, form history and the downloads list are removed, and all tabs and windows are closed. Saved passwords stay."
    : "Every site gets a new circuit. Cookies, site data, cache, history, form history and the downloads list are removed. Open tabs stay open. Saved passwords stay.";
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
  const options = await loadOptions();
  await busy(async () => {
    say("ok", options.closeTabsOnNewIdentity ? "New identity: closing every tab…" : "New identity: removing site data…");
    const result = await send(MESSAGE.newIdentity);
    say("ok", `New identity done: every site gets a new circuit; cookies, site data and history are removed. ${newnymText(result)}`.trim());
    if (tabId !== null) {
      await showTab(tabId).catch(() => {});
      await refreshCircuit();
    }
  });
}

async function busy(task) {
  busyNow = true;
  updateButtons();
  say("", "");
  try {
    await task();
  } catch (e) {
    awaitingNewPath = null;
    say("error", e.message);
  } finally {
    busyNow = false;
    updateButtons();
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

/** Sets an element's text and hides it while the text is empty. */
function setText(id, text) {
  const element = $(id);
  element.textContent = text;
  element.hidden = text === "";
}

function formatEndpoint({ host, port }) {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
