/**
 * Popup: shows the tab's site, container and the protection status, and runs New circuit /
 * New identity through the background page (which owns the native port). Element ids are a
 * contract with the end-to-end tests: #status (data-state), #socks, #site, #site-key,
 * #container, #new-circuit, #new-identity, #confirm, #confirm-dont-ask, #confirm-yes,
 * #confirm-no, #message (data-kind), body[data-ready].
 */

import { MESSAGE } from "../src/messages.js";
import { OPTIONS_KEY, normalizeOptions } from "../src/options.js";
import { containerLabel, parsePopupQuery } from "../src/popup-query.js";

const STATUS_POLL_MS = 1000;

const query = parsePopupQuery(location.search);
const $ = (id) => document.getElementById(id);

let tabId = null;

main().catch((e) => say("error", e.message));

async function main() {
  $("new-circuit").addEventListener("click", () => newCircuit());
  $("new-identity").addEventListener("click", () => askNewIdentity());
  $("confirm-yes").addEventListener("click", () => confirmNewIdentity());
  $("confirm-no").addEventListener("click", () => cancelNewIdentity());
  $("open-options").addEventListener("click", () => browser.runtime.openOptionsPage());

  await refreshStatus().catch((e) => say("error", e.message));
  setInterval(() => refreshStatus().catch(() => {}), STATUS_POLL_MS);

  if (query.error !== null) {
    throw new Error(query.error);
  }
  tabId = query.tabId ?? (await activeTabId());
  if (tabId !== null) {
    await showTab(tabId);
    $("new-circuit").disabled = false;
  } else {
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
    throw new Error(reply?.error ?? "the background page did not answer");
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
  $("socks").textContent = status.socks
    ? `Tor SOCKS ${formatEndpoint(status.socks)} (from ${status.socksSource === "options" ? "options" : "the broker"})`
    : "Tor SOCKS endpoint unknown";
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
    ? "Every site gets a new circuit, cookies and site data are removed, and all tabs and windows are closed."
    : "Every site gets a new circuit and cookies and site data are removed. Open tabs stay open.";
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
    await send(MESSAGE.newIdentity);
    say("ok", "New identity: new circuits for every site, site data removed.");
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
