import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { CredentialsCache, MAX_ENTRIES, NO_TAB, SNAPSHOT_VERSION, tabOf } from "../src/credentials-cache.js";
import { cacheKey } from "../src/first-party.js";
import { ManualClock } from "./support/fakes.mjs";

const WWW = cacheKey("www.example.co.uk", "firefox-default");
const MAIL = cacheKey("mail.example.co.uk", "firefox-default");
const WWW_CONTAINER = cacheKey("www.example.co.uk", "firefox-container-1");
const OTHER = cacheKey("other.test", "firefox-default");

function entry(site, username, expiresAt = null, container = "firefox-default") {
  return { site, container, username, password: `pw-${username}`, expiresAt, perTab: false };
}

function tabEntry(site, username, expiresAt = null) {
  return { ...entry(site, username, expiresAt), perTab: true };
}

/** A loader whose answers the test releases by hand. */
function deferredLoader() {
  const calls = [];
  const load = () =>
    new Promise((resolve, reject) => {
      calls.push({ resolve, reject });
    });
  return { calls, load };
}

describe("CredentialsCache", () => {
  it("misses, loads once, then hits synchronously", async () => {
    const cache = new CredentialsCache();
    assert.equal(cache.get(WWW), undefined);
    let loads = 0;
    const got = await cache.fetch(WWW, async () => {
      loads += 1;
      return entry("example.co.uk", "u1");
    });
    assert.equal(got.username, "u1");
    assert.equal(cache.get(WWW).username, "u1");
    await cache.fetch(WWW, async () => {
      loads += 1;
      return entry("example.co.uk", "u2");
    });
    assert.equal(loads, 1);
  });

  it("shares one load between concurrent misses of the same key", async () => {
    const cache = new CredentialsCache();
    const loader = deferredLoader();
    const waiters = [cache.fetch(WWW, loader.load), cache.fetch(WWW, loader.load), cache.fetch(WWW, loader.load)];
    const other = cache.fetch(OTHER, loader.load);
    assert.equal(loader.calls.length, 2, "one load per key");
    loader.calls[0].resolve(entry("example.co.uk", "u1"));
    loader.calls[1].resolve(entry("other.test", "o1"));
    const results = await Promise.all(waiters);
    assert.ok(results.every((r) => r.username === "u1"));
    assert.equal((await other).username, "o1");
  });

  it("rejects every waiter of a failed load and retries on the next miss", async () => {
    const cache = new CredentialsCache();
    const loader = deferredLoader();
    const a = cache.fetch(WWW, loader.load);
    const b = cache.fetch(WWW, loader.load);
    loader.calls[0].reject(new Error("broker down"));
    await assert.rejects(a, /broker down/);
    await assert.rejects(b, /broker down/);
    assert.equal(cache.get(WWW), undefined);
    const c = cache.fetch(WWW, loader.load);
    assert.equal(loader.calls.length, 2);
    loader.calls[1].resolve(entry("example.co.uk", "u1"));
    assert.equal((await c).username, "u1");
  });

  it("drops every host of an invalidated site, in every container, and nothing else", async () => {
    const cache = new CredentialsCache();
    cache.set(WWW, entry("example.co.uk", "u1"));
    cache.set(MAIL, entry("example.co.uk", "u1"));
    cache.set(WWW_CONTAINER, entry("example.co.uk", "c1", null, "firefox-container-1"));
    cache.set(OTHER, entry("other.test", "o1"));
    cache.invalidateSites(["example.co.uk", "not-cached.test"]);
    assert.equal(cache.get(WWW), undefined);
    assert.equal(cache.get(MAIL), undefined);
    assert.equal(cache.get(WWW_CONTAINER), undefined);
    assert.equal(cache.get(OTHER).username, "o1");
  });

  it("drops everything on clear", () => {
    const cache = new CredentialsCache();
    cache.set(WWW, entry("example.co.uk", "u1"));
    cache.set(OTHER, entry("other.test", "o1"));
    cache.clear();
    assert.equal(cache.size, 0);
    assert.equal(cache.get(OTHER), undefined);
  });

  it("does not store an answer requested before an invalidation, but still hands it to its waiters", async () => {
    const cache = new CredentialsCache();
    const loader = deferredLoader();
    const before = cache.fetch(WWW, loader.load);
    cache.invalidateSites(["example.co.uk"]);
    const after = cache.fetch(WWW, loader.load);
    assert.equal(loader.calls.length, 2, "a miss after the invalidation asks again");
    loader.calls[0].resolve(entry("example.co.uk", "old"));
    assert.equal((await before).username, "old");
    assert.equal(cache.get(WWW), undefined, "the pre-invalidation answer is not cached");
    loader.calls[1].resolve(entry("example.co.uk", "new"));
    assert.equal((await after).username, "new");
    assert.equal(cache.get(WWW).username, "new");
  });

  it("treats expired entries as misses", async () => {
    const clock = new ManualClock();
    const cache = new CredentialsCache({ now: clock.now });
    cache.set(WWW, entry("example.co.uk", "u1", clock.time + 1000));
    assert.equal(cache.get(WWW).username, "u1");
    clock.advance(999);
    assert.equal(cache.get(WWW).username, "u1");
    clock.advance(1);
    assert.equal(cache.get(WWW), undefined);
    const refreshed = await cache.fetch(WWW, async () => entry("example.co.uk", "u2", clock.time + 1000));
    assert.equal(refreshed.username, "u2");
  });

  it("hands out but does not store an answer that is already expired", async () => {
    const clock = new ManualClock();
    const cache = new CredentialsCache({ now: clock.now });
    const got = await cache.fetch(WWW, async () => entry("example.co.uk", "u1", clock.time - 1));
    assert.equal(got.username, "u1");
    assert.equal(cache.size, 0);
  });

  it("reports changes so the session mirror can follow", async () => {
    const changes = [];
    const cache = new CredentialsCache({ onChange: (kind) => changes.push(kind) });
    await cache.fetch(WWW, async () => entry("example.co.uk", "u1"));
    assert.deepEqual(changes, ["added"]);
    cache.invalidateSites(["unrelated.test"]);
    assert.deepEqual(changes, ["added"], "no change, no write");
    cache.invalidateSites(["example.co.uk"]);
    assert.deepEqual(changes, ["added", "removed"]);
  });

  it("keeps at most maxEntries, dropping the oldest", () => {
    assert.ok(MAX_ENTRIES >= 1000);
    const cache = new CredentialsCache({ maxEntries: 2 });
    cache.set(WWW, entry("example.co.uk", "u1"));
    cache.set(OTHER, entry("other.test", "o1"));
    cache.set(WWW, entry("example.co.uk", "u2"));
    cache.set(MAIL, entry("example.co.uk", "m1"));
    assert.equal(cache.size, 2);
    assert.equal(cache.get(OTHER), undefined, "the least recently stored entry went");
    assert.equal(cache.get(WWW).username, "u2");
    assert.equal(cache.get(MAIL).username, "m1");
  });

  it("survives a snapshot and restore (event-page suspension) without expired or malformed entries", () => {
    const clock = new ManualClock();
    const cache = new CredentialsCache({ now: clock.now });
    cache.set(WWW, entry("example.co.uk", "u1"));
    cache.set(MAIL, entry("example.co.uk", "u1", clock.time + 500));
    cache.set(OTHER, entry("other.test", "o1", clock.time + 5000));
    const stored = JSON.parse(JSON.stringify(cache.snapshot()));
    assert.equal(stored.version, SNAPSHOT_VERSION);
    clock.advance(1000);
    stored.entries.push(["broken", { site: "x", username: "" }], "garbage", [1, 2]);
    const woken = new CredentialsCache({ now: clock.now });
    woken.restore(stored);
    assert.equal(woken.get(WWW).username, "u1");
    assert.equal(woken.get(MAIL), undefined, "expired while suspended");
    assert.equal(woken.get(OTHER).username, "o1");
    assert.equal(woken.get("broken"), undefined);
    assert.equal(woken.size, 2);
    woken.invalidateSites(["other.test"]);
    assert.equal(woken.get(OTHER), undefined, "restored entries keep their site");
  });

  it("starts empty from an unusable snapshot", () => {
    const cache = new CredentialsCache();
    cache.set(WWW, entry("example.co.uk", "u1"));
    for (const snapshot of [
      undefined,
      null,
      { version: 99, entries: [] },
      { version: SNAPSHOT_VERSION, entries: "x", perTabSites: [], tabEntries: [] },
      { version: 1, entries: [[WWW, entry("example.co.uk", "u1")]] },
    ]) {
      cache.restore(snapshot);
      assert.equal(cache.size, 0);
    }
  });
});

describe("CredentialsCache pair owners", () => {
  it("claims pairs per (site, container, tab), a per-tab answer outside any tab as shared", () => {
    const cache = new CredentialsCache();
    assert.equal(cache.claim(entry("example.co.uk", "u"), 1), true, "shared: the tab does not matter");
    assert.equal(cache.claim(entry("example.co.uk", "u"), 2), true);
    assert.equal(cache.claim(entry("other.test", "u")), false);
    assert.equal(cache.claim(entry("example.co.uk", "u", null, "firefox-container-1")), false);
    assert.equal(cache.claim(tabEntry("example.co.uk", "t"), 5), true);
    assert.equal(cache.claim(tabEntry("example.co.uk", "t"), 6), false);
    assert.equal(cache.claim(tabEntry("example.co.uk", "u"), NO_TAB), true, "derived like the shared pair");
    assert.equal(cache.claim(tabEntry("example.co.uk", "u"), 5), false);
  });

  it("forgets the owners on clear and restore, keeps them on a site's invalidation", () => {
    const cache = new CredentialsCache();
    cache.claim(entry("example.co.uk", "u"));
    cache.invalidateSites(["example.co.uk"]);
    assert.equal(cache.claim(entry("other.test", "u")), false, "the retired pair still belongs to its site");
    assert.equal(cache.claim(entry("example.co.uk", "u")), true);
    cache.clear();
    assert.equal(cache.claim(entry("other.test", "u")), true);
    cache.restore(null);
    assert.equal(cache.owners.size, 0);
  });

  it("claims the pairs of a restored snapshot, dropping an entry whose pair another holds", () => {
    const cache = new CredentialsCache();
    const snapshot = {
      version: SNAPSHOT_VERSION,
      entries: [
        [WWW, entry("example.co.uk", "u")],
        [OTHER, entry("other.test", "u")],
      ],
      perTabSites: [[MAIL, "example.co.uk"]],
      tabEntries: [[`${MAIL}\n4`, { ...tabEntry("example.co.uk", "t"), tab: 4 }]],
    };
    cache.restore(snapshot);
    assert.equal(cache.get(WWW).username, "u");
    assert.equal(cache.get(OTHER), undefined, "one pair, one site");
    assert.equal(cache.get(MAIL, 4).username, "t");
    assert.equal(cache.claim(entry("other.test", "u")), false);
    assert.equal(cache.claim(tabEntry("example.co.uk", "t"), 9), false);
  });

  it("bounds the owners at twice the entry bound", () => {
    const cache = new CredentialsCache({ maxEntries: 2 });
    for (const name of ["1", "2", "3", "4", "5"]) {
      assert.equal(cache.claim(entry(`s${name}.test`, name)), true);
    }
    assert.equal(cache.owners.size, 4);
    assert.equal(cache.claim(entry("other.test", "1")), true, "the oldest went");
    assert.equal(cache.claim(entry("other.test", "5")), false);
  });
});

describe("CredentialsCache per-tab credentials", () => {
  it("keeps per-tab credentials for their tab only", async () => {
    const cache = new CredentialsCache();
    const got = await cache.fetch(WWW, async () => tabEntry("example.co.uk", "t5"), 5);
    assert.equal(got.username, "t5");
    assert.equal(got.tab, 5);
    assert.equal(cache.get(WWW, 5).username, "t5");
    assert.equal(cache.get(WWW, 6), undefined, "another tab misses");
    assert.equal(cache.get(WWW), undefined, "a tabless request misses");
    const six = await cache.fetch(WWW, async () => tabEntry("example.co.uk", "t6"), 6);
    assert.equal(six.username, "t6");
    assert.equal(cache.get(WWW, 5).username, "t5");
    assert.equal(cache.get(WWW, 6).username, "t6");
    assert.equal(cache.siteOf(WWW), "example.co.uk");
    assert.equal(cache.size, 2);
  });

  it("shares ordinary credentials between tabs", async () => {
    const cache = new CredentialsCache();
    await cache.fetch(WWW, async () => entry("example.co.uk", "shared"), 5);
    assert.equal(cache.get(WWW, 6).username, "shared");
    assert.equal(cache.get(WWW, NO_TAB).username, "shared");
  });

  it("does not hand a concurrent miss from another tab the per-tab answer of the first tab", async () => {
    const cache = new CredentialsCache();
    const loads = { 5: deferredLoader(), 6: deferredLoader() };
    const fromFive = cache.fetch(WWW, loads[5].load, 5);
    const fromFiveAgain = cache.fetch(WWW, loads[5].load, 5);
    const fromSix = cache.fetch(WWW, loads[6].load, 6);
    assert.equal(loads[5].calls.length, 1, "one shared load while the policy is unknown");
    assert.equal(loads[6].calls.length, 0);
    loads[5].calls[0].resolve(tabEntry("example.co.uk", "t5"));
    assert.equal((await fromFive).username, "t5");
    assert.equal((await fromFiveAgain).username, "t5");
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(loads[6].calls.length, 1, "tab 6 asks for its own");
    loads[6].calls[0].resolve(tabEntry("example.co.uk", "t6"));
    assert.equal((await fromSix).username, "t6");
  });

  it("shares concurrent misses per tab once a key is known to be per-tab", async () => {
    const cache = new CredentialsCache();
    cache.set(WWW, tabEntry("example.co.uk", "t5"), 5);
    const loads = { 6: deferredLoader(), 7: deferredLoader() };
    const six = [cache.fetch(WWW, loads[6].load, 6), cache.fetch(WWW, loads[6].load, 6)];
    const seven = cache.fetch(WWW, loads[7].load, 7);
    assert.equal(loads[6].calls.length, 1);
    assert.equal(loads[7].calls.length, 1, "tab 7 does not wait for tab 6");
    loads[7].calls[0].resolve(tabEntry("example.co.uk", "t7"));
    loads[6].calls[0].resolve(tabEntry("example.co.uk", "t6"));
    assert.deepEqual((await Promise.all(six)).map((e) => e.username), ["t6", "t6"]);
    assert.equal((await seven).username, "t7");
  });

  it("follows a policy change in either direction", async () => {
    const cache = new CredentialsCache();
    cache.set(WWW, entry("example.co.uk", "shared"));
    cache.set(WWW, tabEntry("example.co.uk", "t5"), 5);
    assert.equal(cache.get(WWW, 6), undefined, "the shared entry no longer answers");
    cache.set(WWW, entry("example.co.uk", "shared2"));
    assert.equal(cache.get(WWW, 6).username, "shared2");
    assert.equal(cache.get(WWW, 5).username, "shared2");
  });

  it("drops a closed tab's entries and nothing else", () => {
    const changes = [];
    const cache = new CredentialsCache({ onChange: (kind) => changes.push(kind) });
    cache.set(WWW, tabEntry("example.co.uk", "t5"), 5);
    cache.set(OTHER, tabEntry("other.test", "o5"), 5);
    cache.set(WWW, tabEntry("example.co.uk", "t6"), 6);
    cache.set(MAIL, entry("example.co.uk", "shared"));
    cache.dropTab(5);
    assert.equal(changes.at(-1), "removed");
    assert.equal(cache.get(WWW, 5), undefined);
    assert.equal(cache.get(OTHER, 5), undefined);
    assert.equal(cache.get(WWW, 6).username, "t6");
    assert.equal(cache.get(MAIL, 5).username, "shared");
  });

  it("does not store what a closed tab's load brings back", async () => {
    const cache = new CredentialsCache();
    cache.set(WWW, tabEntry("example.co.uk", "t6"), 6);
    const loader = deferredLoader();
    const pending = cache.fetch(WWW, loader.load, 5);
    cache.dropTab(5);
    loader.calls[0].resolve(tabEntry("example.co.uk", "late"));
    assert.equal((await pending).username, "late", "the waiter still gets an answer");
    assert.equal(cache.get(WWW, 5), undefined, "but it is not kept");
  });

  it("drops a tab's entries of other sites when it navigates", () => {
    const cache = new CredentialsCache();
    cache.set(WWW, tabEntry("example.co.uk", "t5"), 5);
    cache.set(MAIL, tabEntry("example.co.uk", "m5"), 5);
    cache.set(OTHER, tabEntry("other.test", "o5"), 5);
    cache.set(OTHER, tabEntry("other.test", "o6"), 6);
    cache.dropTabExceptSite(5, "example.co.uk");
    assert.equal(cache.get(WWW, 5).username, "t5", "same site stays");
    assert.equal(cache.get(MAIL, 5).username, "m5");
    assert.equal(cache.get(OTHER, 5), undefined);
    assert.equal(cache.get(OTHER, 6).username, "o6", "other tabs are untouched");
    cache.dropTabExceptSite(5, null);
    assert.equal(cache.get(WWW, 5), undefined);
  });

  it("drops every per-tab entry of an invalidated site, and all of them on clear", () => {
    const cache = new CredentialsCache();
    cache.set(WWW, tabEntry("example.co.uk", "t5"), 5);
    cache.set(WWW, tabEntry("example.co.uk", "t6"), 6);
    cache.set(OTHER, tabEntry("other.test", "o5"), 5);
    cache.invalidateSites(["example.co.uk"]);
    assert.equal(cache.get(WWW, 5), undefined);
    assert.equal(cache.get(WWW, 6), undefined);
    assert.equal(cache.siteOf(WWW), undefined, "the marker went too");
    assert.equal(cache.get(OTHER, 5).username, "o5");
    cache.clear();
    assert.equal(cache.size, 0);
    assert.equal(cache.get(OTHER, 5), undefined);
  });

  it("expires per-tab entries", () => {
    const clock = new ManualClock();
    const cache = new CredentialsCache({ now: clock.now });
    cache.set(WWW, tabEntry("example.co.uk", "t5", clock.time + 1000), 5);
    assert.equal(cache.get(WWW, 5).username, "t5");
    clock.advance(1000);
    assert.equal(cache.get(WWW, 5), undefined);
  });

  it("caches tabless requests of a per-tab site apart from every tab", async () => {
    const cache = new CredentialsCache();
    await cache.fetch(WWW, async () => tabEntry("example.co.uk", "none"), -1);
    assert.equal(cache.get(WWW, -1).username, "none");
    assert.equal(cache.get(WWW, undefined).username, "none");
    assert.equal(cache.get(WWW, 0), undefined);
    assert.equal(tabOf(-1), NO_TAB);
    assert.equal(tabOf(0), 0);
    assert.equal(tabOf("3"), NO_TAB);
  });

  it("keeps per-tab entries across a snapshot and restore", () => {
    const cache = new CredentialsCache();
    cache.set(WWW, tabEntry("example.co.uk", "t5"), 5);
    cache.set(OTHER, entry("other.test", "o"));
    const stored = JSON.parse(JSON.stringify(cache.snapshot()));
    stored.tabEntries.push(["forged\n9", { ...tabEntry("x.test", "f"), tab: 8 }]);
    const woken = new CredentialsCache();
    woken.restore(stored);
    assert.equal(woken.get(WWW, 5).username, "t5");
    assert.equal(woken.get(WWW, 6), undefined);
    assert.equal(woken.get(OTHER, 6).username, "o");
    assert.equal(woken.size, 2, "an entry whose key names another tab is skipped");
  });
});
