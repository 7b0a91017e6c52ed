import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { IDENTITY_DATA_TYPES, closeAllTabs, newCircuitForTab, newIdentity, removeIdentityData } from "../src/actions.js";

/** A controller double recording what the actions ask of it. */
function recordingController({ failNewIdentity = false } = {}) {
  const log = [];
  return {
    log,
    barrier: 0,
    async newCircuit(url, cookieStoreId) {
      log.push(["newCircuit", url, cookieStoreId]);
      return { site: "a.test" };
    },
    async newIdentity() {
      log.push(["newIdentity", this.barrier]);
      if (failNewIdentity) {
        throw new Error("broker unavailable");
      }
      return { epoch: 4 };
    },
    async withBarrier(task) {
      this.barrier += 1;
      try {
        return await task();
      } finally {
        this.barrier -= 1;
      }
    },
  };
}

describe("newCircuitForTab", () => {
  it("asks the broker for the tab's URL and container, then reloads only that tab", async () => {
    const controller = recordingController();
    const calls = [];
    const api = {
      getTab: async (id) => ({ id, url: "https://www.a.test/p", cookieStoreId: "firefox-container-3" }),
      reloadTab: async (id) => calls.push(["reload", id, controller.log.length]),
    };
    assert.deepEqual(await newCircuitForTab(controller, api, 5), { site: "a.test" });
    assert.deepEqual(controller.log, [["newCircuit", "https://www.a.test/p", "firefox-container-3"]]);
    assert.deepEqual(calls, [["reload", 5, 1]], "reloaded after the broker answered");
  });
});

describe("newIdentity", () => {
  function recordingApi({ failType } = {}) {
    const calls = [];
    return {
      calls,
      closeAllTabs: async () => calls.push("closeAllTabs"),
      removeBrowsingData: async (options, types) => {
        calls.push(["remove", options, Object.keys(types)]);
        if (failType && types[failType]) {
          throw new Error(`${failType} unsupported`);
        }
      },
    };
  }

  it("rotates at the broker under the barrier, then closes tabs and removes site data", async () => {
    const controller = recordingController();
    const api = recordingApi();
    assert.deepEqual(await newIdentity(controller, api, { closeTabs: true }), { epoch: 4 });
    assert.deepEqual(controller.log, [["newIdentity", 1]]);
    assert.deepEqual(api.calls, ["closeAllTabs", ["remove", {}, [...IDENTITY_DATA_TYPES]]]);
    assert.equal(controller.barrier, 0, "barrier lifted afterwards");
  });

  it("keeps tabs open when the option is off", async () => {
    const api = recordingApi();
    await newIdentity(recordingController(), api, { closeTabs: false });
    assert.deepEqual(api.calls, [["remove", {}, [...IDENTITY_DATA_TYPES]]]);
  });

  it("changes nothing when the broker refuses", async () => {
    const controller = recordingController({ failNewIdentity: true });
    const api = recordingApi();
    await assert.rejects(newIdentity(controller, api, { closeTabs: true }), /broker unavailable/);
    assert.deepEqual(api.calls, []);
    assert.equal(controller.barrier, 0);
  });

  it("removes the other data types one by one when one is unsupported, and reports it", async () => {
    const api = recordingApi({ failType: "indexedDB" });
    await assert.rejects(newIdentity(recordingController(), api, { closeTabs: false }), /removing indexedDB: indexedDB unsupported/);
    const removed = api.calls.slice(1).map(([, , types]) => types[0]);
    assert.deepEqual(removed, [...IDENTITY_DATA_TYPES]);
  });
});

describe("removeIdentityData", () => {
  it("removes every type in one call when possible", async () => {
    const calls = [];
    assert.deepEqual(await removeIdentityData(async (o, t) => calls.push(t)), []);
    assert.deepEqual(calls, [
      {
        cookies: true,
        cache: true,
        localStorage: true,
        indexedDB: true,
        serviceWorkers: true,
        history: true,
        formData: true,
        downloads: true,
      },
    ]);
  });

  it("keeps saved passwords, as Tor Browser does, and skips the plugin no-op", () => {
    assert.ok(!IDENTITY_DATA_TYPES.includes("passwords"));
    assert.ok(!IDENTITY_DATA_TYPES.includes("pluginData"));
  });
});

describe("closeAllTabs", () => {
  it("opens one fresh tab in the last focused normal window and closes every other tab", async () => {
    const calls = [];
    const api = {
      windows: {
        getLastFocused: async (filter) => {
          calls.push(["getLastFocused", filter]);
          return { id: 2 };
        },
        create: async () => assert.fail("no new window needed"),
      },
      tabs: {
        query: async () => [{ id: 1 }, { id: 4 }, { id: 9 }],
        create: async (props) => {
          calls.push(["create", props]);
          return { id: 10 };
        },
        remove: async (ids) => calls.push(["remove", ids]),
      },
    };
    await closeAllTabs(api);
    assert.deepEqual(calls, [
      ["getLastFocused", { windowTypes: ["normal"] }],
      ["create", { windowId: 2, active: true }],
      ["remove", [1, 4, 9]],
    ]);
  });

  it("opens a new window when there is no normal window", async () => {
    const removed = [];
    const api = {
      windows: {
        getLastFocused: async () => {
          throw new Error("No window matching {windowTypes:normal}");
        },
        create: async () => ({ id: 7, tabs: [{ id: 20 }] }),
      },
      tabs: {
        query: async () => [{ id: 3 }],
        create: async () => assert.fail("unreachable"),
        remove: async (ids) => removed.push(...ids),
      },
    };
    await closeAllTabs(api);
    assert.deepEqual(removed, [3]);
  });
});
