import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { CredentialsCache, MAX_ENTRIES, SNAPSHOT_VERSION } from "../src/credentials-cache.js";
import { cacheKey } from "../src/first-party.js";
import { ManualClock } from "./support/fakes.mjs";

const WWW = cacheKey("www.example.co.uk", "firefox-default");
const MAIL = cacheKey("mail.example.co.uk", "firefox-default");
const WWW_CONTAINER = cacheKey("www.example.co.uk", "firefox-container-1");
const OTHER = cacheKey("other.test", "firefox-default");

function entry(site, username, expiresAt = null, container = "firefox-default") {
  return { site, container, username, password: `pw-${username}`, expiresAt };
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
    for (const snapshot of [undefined, null, { version: 99, entries: [] }, { version: SNAPSHOT_VERSION, entries: "x" }]) {
      cache.restore(snapshot);
      assert.equal(cache.size, 0);
    }
  });
});
