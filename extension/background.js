/**
 * Background event page: connects the pure modules in src/ to `browser.*`.
 *
 * The `proxy.onRequest` listener is registered first, synchronously, at the top level: Firefox
 * then holds requests until this page has started (also after the page was suspended), and if
 * anything further down fails, the listener still answers the black hole.
 */

import { closeAllTabs, newCircuitForTab, newIdentity } from "./src/actions.js";
import { Controller, SESSION_KEY } from "./src/controller.js";
import { NATIVE_HOST_NAME, MESSAGE } from "./src/messages.js";
import { OPTIONS_KEY } from "./src/options.js";
import { blackHole } from "./src/proxy-decision.js";

browser.proxy.onRequest.addListener(onProxyRequest, { urls: ["<all_urls>"] });

/** Never throws: a throwing proxy listener makes Firefox go DIRECT. */
function onProxyRequest(details) {
  try {
    return controller.onRequest(details);
  } catch {
    return blackHole();
  }
}

const controller = new Controller({
  connect: () => browser.runtime.connectNative(NATIVE_HOST_NAME),
  loadSession: async () => (await browser.storage.session.get(SESSION_KEY))[SESSION_KEY],
  saveSession: (state) => browser.storage.session.set({ [SESSION_KEY]: state }),
  loadOptions: async () => (await browser.storage.local.get(OPTIONS_KEY))[OPTIONS_KEY],
  onStatus: showStatus,
  log: (message) => console.warn(`persite: ${message}`),
});

browser.proxy.onError.addListener((error) => {
  console.warn(`persite: proxy error: ${error?.message ?? error}`);
});

controller.ensureReady().catch((e) => console.error(`persite: cannot load state: ${e.message}`));
hardenPrivacySettings();

browser.storage.onChanged.addListener((changes, area) => {
  if (area === "local" && OPTIONS_KEY in changes) {
    controller.setOptions(changes[OPTIONS_KEY].newValue);
  }
});

browser.runtime.onMessage.addListener((message, sender) => {
  if (sender.id !== browser.runtime.id || typeof message?.type !== "string") {
    return undefined;
  }
  return handleMessage(message).then(
    (value) => ({ ok: true, ...value }),
    (error) => ({ ok: false, error: error?.message ?? String(error), code: error?.code ?? null }),
  );
});

browser.commands.onCommand.addListener((command, tab) => {
  runCommand(command, tab).catch((e) => console.warn(`persite: ${command} failed: ${e.message}`));
});

/** Answers the popup (see src/messages.js for the message types). */
async function handleMessage(message) {
  switch (message.type) {
    case MESSAGE.status:
      return { status: controller.status() };
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
      return runNewIdentity();
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

function checkTabId(tabId) {
  if (!Number.isSafeInteger(tabId) || tabId < 0) {
    throw new Error("no valid tab id");
  }
  return tabId;
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

/** Red "!" on the toolbar button while protection is broken; nothing while it works. */
function showStatus(status) {
  const text = status.protected ? "" : "!";
  const title = status.protected
    ? "Persite: every site has its own Tor circuit"
    : `Persite: protection broken (${status.problem}); web requests are blocked`;
  const key = `${text}\n${title}`;
  if (key === shownStatus) {
    return;
  }
  shownStatus = key;
  const failed = (e) => console.warn(`persite: cannot update the toolbar button: ${e.message}`);
  browser.action.setBadgeText({ text }).catch(failed);
  browser.action.setTitle({ title }).catch(failed);
  if (!status.protected) {
    browser.action.setBadgeBackgroundColor({ color: "#d70022" }).catch(failed);
  }
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
