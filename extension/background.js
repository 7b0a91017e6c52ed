/**
 * Background event page: connects the pure modules in src/ to `browser.*`.
 *
 * The `proxy.onRequest` listener is registered first, synchronously, at the top level: Firefox
 * then holds requests until this page has started (also after the page was suspended), and if
 * anything further down fails, the listener still answers the black hole.
 */

import { closeAllTabs, newCircuitForTab, newIdentity } from "./src/actions.js";
import { BlockedNavigations, blockedPagePath } from "./src/blocked.js";
import { healthChecks, verdict } from "./src/health.js";
import { Controller, SESSION_KEY } from "./src/controller.js";
import { NATIVE_HOST_NAME, MESSAGE, POPUP_PORT_NAME, STATUS_PAGE } from "./src/messages.js";
import { OPTIONS_KEY } from "./src/options.js";
import { PERF_PROBE_KEY, PerfProbe } from "./src/perf-probe.js";
import { blackHole } from "./src/proxy-decision.js";

browser.proxy.onRequest.addListener(onProxyRequest, { urls: ["<all_urls>"] });

/** The listener timing probe while `storage.local` `perfProbe` is true, else `null`. */
let perfProbe = null;

/** Black-holed top-level navigations, to show the blocked page instead of Firefox's error. */
const blocked = new BlockedNavigations();

/** Never throws: a throwing proxy listener makes Firefox go DIRECT. */
function onProxyRequest(details) {
  let answer;
  if (perfProbe !== null) {
    answer = timedProxyRequest(details);
  } else {
    try {
      answer = controller.onRequest(details);
    } catch {
      answer = blackHole();
    }
  }
  if (details.type === "main_frame") {
    noteNavigation(details, answer);
  }
  return answer;
}

/**
 * Remembers a black-holed navigation (src/blocked.js). A side branch: the answer returned to
 * Firefox is the listener's own, untouched, and nothing here can throw into the listener.
 */
function noteNavigation(details, answer) {
  try {
    if (answer instanceof Promise) {
      answer.then(
        (settled) => blocked.noteAnswer(details, settled),
        () => {},
      );
    } else {
      blocked.noteAnswer(details, answer);
    }
  } catch (e) {
    console.warn(`persite: cannot note a blocked navigation: ${e.message}`);
  }
}

/** {@link onProxyRequest} timed for the probe; recording happens after the clock stops. */
function timedProxyRequest(details) {
  const start = performance.now();
  let answer;
  try {
    answer = controller.onRequest(details);
  } catch {
    answer = blackHole();
  }
  const elapsed = performance.now() - start;
  perfProbe?.record(answer, elapsed);
  if (answer instanceof Promise) {
    // A side branch: the listener still returns the promise itself, and it never rejects.
    answer.then(
      () => perfProbe?.recordMissAnswered(performance.now() - start),
      () => {},
    );
  }
  return answer;
}

const controller = new Controller({
  connect: () => browser.runtime.connectNative(NATIVE_HOST_NAME),
  loadSession: async () => (await browser.storage.session.get(SESSION_KEY))[SESSION_KEY],
  saveSession: (state) => browser.storage.session.set({ [SESSION_KEY]: state }),
  loadOptions: async () => (await browser.storage.local.get(OPTIONS_KEY))[OPTIONS_KEY],
  tabUrl: async (tabId) => {
    try {
      return (await browser.tabs.get(tabId)).url ?? null;
    } catch {
      return null;
    }
  },
  onStatus: showStatus,
  onEvent: (event) => {
    for (const port of popupPorts) {
      try {
        port.postMessage(event);
      } catch {
        popupPorts.delete(port);
      }
    }
  },
  log: (message) => console.warn(`persite: ${message}`),
});

/** Open popups' ports, which get tor data as it arrives (messages.js POPUP_PORT_NAME). */
const popupPorts = new Set();

browser.runtime.onConnect.addListener((port) => {
  if (port.name !== POPUP_PORT_NAME || port.sender?.id !== browser.runtime.id) {
    return;
  }
  popupPorts.add(port);
  port.onDisconnect.addListener(() => popupPorts.delete(port));
});

/**
 * A navigation Persite black-holed failed: the tab shows Persite's blocked page (why, the fix,
 * a retry) in place of Firefox's "proxy server is refusing connections" error. The page's
 * address carries a token only; the URL stays in this page's memory.
 */
browser.webRequest.onErrorOccurred.addListener(
  (details) => {
    const hit = blocked.failed(details);
    if (hit !== null) {
      browser.tabs
        .update(hit.tabId, { url: browser.runtime.getURL(blockedPagePath(hit.token)), loadReplace: true })
        .catch((e) => console.warn(`persite: cannot show the blocked page: ${e.message}`));
    }
  },
  { urls: ["<all_urls>"], types: ["main_frame"] },
);
browser.webRequest.onCompleted.addListener((details) => blocked.completed(details.requestId), {
  urls: ["<all_urls>"],
  types: ["main_frame"],
});

/**
 * First run: the status page says whether the setup is complete and what is missing. Not for a
 * temporary install (about:debugging, WebDriver): a developer or a test harness loading the
 * extension is not served by a tab opening on its own.
 */
browser.runtime.onInstalled.addListener((details) => {
  if (details.reason === "install" && details.temporary !== true) {
    browser.tabs
      .create({ url: browser.runtime.getURL(STATUS_PAGE) })
      .catch((e) => console.warn(`persite: cannot open the status page: ${e.message}`));
  }
});

browser.proxy.onError.addListener((error) => {
  console.warn(`persite: proxy error: ${error?.message ?? error}`);
});

controller.ensureReady().catch((e) => console.error(`persite: cannot load state: ${e.message}`));
hardenPrivacySettings();
refreshPathFacts();
browser.proxy.settings.onChange?.addListener(() => refreshPathFacts());

browser.storage.local.get(PERF_PROBE_KEY).then(
  (stored) => setPerfProbe(stored[PERF_PROBE_KEY]),
  (e) => console.warn(`persite: cannot read ${PERF_PROBE_KEY}: ${e.message}`),
);

browser.storage.onChanged.addListener((changes, area) => {
  if (area === "local" && OPTIONS_KEY in changes) {
    controller.setOptions(changes[OPTIONS_KEY].newValue);
  }
  if (area === "local" && PERF_PROBE_KEY in changes) {
    setPerfProbe(changes[PERF_PROBE_KEY].newValue);
  }
});

/** Per-tab credentials live as long as their tab shows their site. */
browser.tabs.onRemoved.addListener((tabId) => {
  controller.tabRemoved(tabId).catch((e) => console.warn(`persite: tab cleanup failed: ${e.message}`));
});
browser.tabs.onUpdated.addListener(
  (tabId, changeInfo, tab) => {
    if (typeof changeInfo.url === "string") {
      controller
        .tabNavigated(tabId, changeInfo.url, tab?.cookieStoreId)
        .catch((e) => console.warn(`persite: tab cleanup failed: ${e.message}`));
    }
  },
  { properties: ["url"] },
);

/**
 * A private browsing session ends with its last private window: its secret and cached
 * credentials go, so the next private window gets new credentials for every site. Checked on
 * every window close and once at start (a close missed while the extension was not running).
 */
browser.windows.onRemoved.addListener((windowId) => {
  endPrivateSessionIfNoPrivateWindow(windowId);
});
endPrivateSessionIfNoPrivateWindow(null);

function endPrivateSessionIfNoPrivateWindow(closedWindowId) {
  browser.windows
    .getAll()
    .then((windows) => {
      if (!windows.some((w) => w.incognito && w.id !== closedWindowId)) {
        return controller.privateSessionEnded();
      }
      return undefined;
    })
    .catch((e) => console.warn(`persite: private session check failed: ${e.message}`));
}

/** Switches the listener timing probe on (`true`) or off (anything else). */
function setPerfProbe(enabled) {
  if (enabled === true) {
    perfProbe ??= new PerfProbe();
  } else {
    perfProbe = null;
  }
}

browser.runtime.onMessage.addListener((message, sender) => {
  if (sender.id !== browser.runtime.id || typeof message?.type !== "string") {
    return undefined;
  }
  return handleMessage(message).then(
    (value) => ({ ok: true, ...value }),
    (error) => ({ ok: false, error: error?.message ?? String(error), code: errorCode(error) }),
  );
});

browser.commands.onCommand.addListener((command, tab) => {
  runCommand(command, tab).catch((e) => console.warn(`persite: ${command} failed: ${e.message}`));
});

/** Answers the popup (see src/messages.js for the message types). */
async function handleMessage(message) {
  switch (message.type) {
    case MESSAGE.status: {
      // The facts can change without an event (a pref set in about:config): check each time.
      await refreshPathFacts();
      const status = controller.status();
      // Pushes keep tor's status current; while tor is not ready (or its status unknown) the
      // popup's polling also asks, which covers a broker that sends no pushes.
      if (status.brokerUp && torNotReady(status.tor)) {
        controller.refreshTorStatus();
      }
      return { status };
    }
    case MESSAGE.circuit: {
      const tab = await browser.tabs.get(checkTabId(message.tabId));
      return controller.circuit(tab.url, tab.cookieStoreId, tab.id);
    }
    case MESSAGE.perf:
      return perfProbe?.report() ?? { enabled: false };
    case MESSAGE.perfReset:
      perfProbe?.reset();
      return { enabled: perfProbe !== null };
    case MESSAGE.tabInfo: {
      const tab = await browser.tabs.get(checkTabId(message.tabId));
      return {
        tabId: tab.id,
        incognito: tab.incognito === true,
        ...controller.tabInfo(tab.url, tab.cookieStoreId),
      };
    }
    case MESSAGE.newCircuit:
      return newCircuitForTab(controller, tabsApi, checkTabId(message.tabId));
    case MESSAGE.newIdentity:
      blocked.clear();
      return runNewIdentity();
    case MESSAGE.blockedInfo: {
      // The status too: the page says why requests are blocked now.
      await refreshPathFacts();
      return { blocked: blocked.info(message.token), status: controller.status() };
    }
    case MESSAGE.blockedRetry: {
      const target = blocked.retry(message.token);
      if (target === null) {
        throw new Error("this blocked page is too old to retry: go back and load the page again");
      }
      await browser.tabs.update(target.tabId, { url: target.url, loadReplace: true });
      return {};
    }
    case MESSAGE.policyGet:
      return { policies: await controller.policies() };
    case MESSAGE.policySet:
      return { policies: await controller.setPolicy(message.site ?? null, message.policy ?? null) };
    case MESSAGE.sites:
      return controller.siteList();
    case MESSAGE.siteNewCircuit:
      return controller.newCircuitForSite(checkText(message.site, "site"));
    case MESSAGE.siteForget:
      return controller.forgetSite(checkText(message.site, "site"), checkText(message.container, "container"));
    default:
      throw new Error(`unknown message type ${message.type}`);
  }
}

let identityRun = null;

/** New identity; a second request while one runs joins it instead of starting another. */
function runNewIdentity() {
  if (identityRun === null) {
    identityRun = newIdentity(controller, identityApi, {
      closeTabs: controller.options.closeTabsOnNewIdentity,
    }).finally(() => {
      identityRun = null;
    });
  }
  return identityRun;
}

async function runCommand(command, tab) {
  await controller.ensureReady();
  const tabId = tab?.id ?? (await activeTabId());
  if (command === "new-circuit") {
    await newCircuitForTab(controller, tabsApi, tabId);
  } else if (command === "new-identity") {
    if (controller.options.confirmNewIdentity) {
      // Confirmation needs a page: open the popup page in a small window, already asking.
      const query = new URLSearchParams({ confirm: "new-identity" });
      if (tabId !== undefined) {
        query.set("tab", String(tabId));
      }
      await browser.windows.create({
        type: "popup",
        url: browser.runtime.getURL(`popup/popup.html?${query}`),
        width: 380,
        height: 360,
      });
    } else {
      await runNewIdentity();
    }
  }
}

async function activeTabId() {
  const window = await browser.windows.getLastFocused({ windowTypes: ["normal"] });
  const [tab] = await browser.tabs.query({ active: true, windowId: window.id });
  return tab?.id;
}

/** Tor's status is unknown, its control port not reached yet, or it is still bootstrapping. */
function torNotReady(tor) {
  if (tor === null || tor.control === "connecting") {
    return true;
  }
  return tor.control === "connected" && (tor.bootstrap?.progress ?? 0) < 100;
}

/** The `code` of an error reply (messages.js). */
function errorCode(error) {
  if (typeof error?.code === "string") {
    return error.code;
  }
  return error?.name === "ProtocolError" ? "protocol" : null;
}

function checkTabId(tabId) {
  if (!Number.isSafeInteger(tabId) || tabId < 0) {
    throw new Error("no valid tab id");
  }
  return tabId;
}

/** `value` when it is a non-empty string, else an error naming `what`. */
function checkText(value, what) {
  if (typeof value !== "string" || value.length === 0) {
    throw new Error(`no ${what} given`);
  }
  return value;
}

const tabsApi = {
  getTab: (tabId) => browser.tabs.get(tabId),
  reloadTab: (tabId) => browser.tabs.reload(tabId, { bypassCache: true }),
};

const identityApi = {
  closeAllTabs: () => closeAllTabs(browser),
  removeBrowsingData: (options, dataTypes) => browser.browsingData.remove(options, dataTypes),
};

let shownStatus = null;

/**
 * Red "!" on the toolbar button while web requests are blocked or cannot reach tor (health.js
 * verdict `broken`), amber while a gap lets traffic bypass the per-site circuits; nothing while
 * it works.
 */
function showStatus(status) {
  const said = verdict(healthChecks(status), { host: null, site: null });
  const broken = !status.protected || said.state === "broken";
  const warned = !broken && status.warnings.length > 0;
  const text = broken || warned ? "!" : "";
  let title = broken
    ? `Persite: not protected (${said.state === "broken" ? said.detail : status.problem}); open Persite to see what to do`
    : "Persite: every site has its own Tor circuit";
  if (warned) {
    title += `, but ${status.warnings.length === 1 ? "one gap" : `${status.warnings.length} gaps`} — open Persite to see what to do`;
  }
  const key = `${text}\n${title}`;
  if (key === shownStatus) {
    return;
  }
  shownStatus = key;
  const failed = (e) => console.warn(`persite: cannot update the toolbar button: ${e.message}`);
  browser.action.setBadgeText({ text }).catch(failed);
  browser.action.setTitle({ title }).catch(failed);
  if (text !== "") {
    browser.action.setBadgeBackgroundColor({ color: broken ? "#d70022" : "#ffa436" }).catch(failed);
  }
}

/**
 * Gathers what path-checks.js needs from the browser: private-window access and Firefox's
 * default proxy (the controller itself notes tab-less workers). Never rejects; a fact that
 * cannot be read stays unknown.
 */
async function refreshPathFacts() {
  const facts = {};
  try {
    facts.privateAllowed = await browser.extension.isAllowedIncognitoAccess();
  } catch (e) {
    console.warn(`persite: cannot read private-window access: ${e.message}`);
  }
  try {
    facts.proxySettings = (await browser.proxy.settings.get({})).value ?? null;
  } catch (e) {
    console.warn(`persite: cannot read Firefox's proxy settings: ${e.message}`);
  }
  controller.setPathFacts(facts);
}

/**
 * Switches off what would bypass `proxy.onRequest`: DNS and link prefetching, and WebRTC
 * (its UDP is not proxied). Settings revert by themselves when the extension is disabled.
 */
async function hardenPrivacySettings() {
  const wanted = [
    ["networkPredictionEnabled", false],
    ["peerConnectionEnabled", false],
    ["webRTCIPHandlingPolicy", "disable_non_proxied_udp"],
  ];
  for (const [name, value] of wanted) {
    try {
      const applied = await browser.privacy.network[name].set({ value });
      if (!applied) {
        console.warn(`persite: privacy.network.${name} is controlled elsewhere; left unchanged`);
      }
    } catch (e) {
      console.warn(`persite: cannot set privacy.network.${name}: ${e.message}`);
    }
  }
}
