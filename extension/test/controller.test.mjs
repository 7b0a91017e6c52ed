import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { Controller, PERSIST_DELAY_MS, READY_TIMEOUT_MS, TAB_LOOKUP_TIMEOUT_MS } from "../src/controller.js";
import { parsedUrlCount } from "../src/first-party.js";
import { BLACK_HOLE_PORT } from "../src/proxy-decision.js";
import { ManualClock, portFactory, settle } from "./support/fakes.mjs";

const pageA = { type: "main_frame", url: "https://www.a.test/x", tabId: 1, cookieStoreId: "firefox-default", frameAncestors: [] };
const imageOfA = { type: "image", url: "https://cdn.test/i.png", tabId: 1, frameId: 0, documentId: "doc-a", cookieStoreId: "firefox-default", documentUrl: "https://www.a.test/x", frameAncestors: [] };
const mailOfA = { type: "main_frame", url: "https://mail.a.test/", tabId: 2, cookieStoreId: "firefox-default", frameAncestors: [] };
const pageB = { type: "main_frame", url: "https://b.test/", tabId: 3, cookieStoreId: "firefox-default", frameAncestors: [] };
const system = { type: "xmlhttprequest", url: "https://update.test/", tabId: -1 };

function setup({ session, options, loadOptions, loadSession, saveSession, tabUrl } = {}) {
  const clock = new ManualClock();
  const factory = portFactory();
  const saved = [];
  const statuses = [];
  const events = [];
  const logs = [];
  const controller = new Controller({
    connect: factory.connect,
    loadSession: loadSession ?? (async () => session),
    saveSession: saveSession ?? (async (state) => saved.push(JSON.parse(JSON.stringify(state)))),
    loadOptions: loadOptions ?? (async () => options),
    tabUrl: tabUrl ?? (async () => null),
    onStatus: (status) => statuses.push(status),
    onEvent: (event) => events.push(event),
    log: (message) => logs.push(message),
    now: clock.now,
    setTimer: clock.setTimer,
    clearTimer: clock.clearTimer,
    requestTimeoutMs: 2000,
  });
  return { clock, factory, controller, saved, statuses, events, logs };
}

/** Plays a broker on the fake port: answers credentials requests from a table. */
function answerCredentials(port, { username = (url) => `user-${url}`, site = siteOf, expiresAt = null, perTab = () => false } = {}) {
  const answered = new Set();
  return () => {
    for (const message of port.sent) {
      if (message.type === "credentials" && !answered.has(message.id)) {
        answered.add(message.id);
        port.deliver({
          id: message.id,
          result: {
            site: site(message.url),
            container: message.container,
            username: perTab(message.url) ? `${username(message.url)}@${message.tab ?? "none"}` : username(message.url),
            // Like the broker, a private session's pairs differ from the browser session's.
            password: message.container === "firefox-private" ? `secret-${message.session}` : "secret",
            expires_at: expiresAt,
            per_tab: perTab(message.url),
          },
        });
      }
    }
  };
}

function siteOf(url) {
  if (url === "about:blank") {
    return "--unknown--";
  }
  const host = new URL(url).hostname;
  return host.split(".").slice(-2).join(".");
}

async function ready(options = {}) {
  const ctx = setup(options);
  await ctx.controller.ensureReady();
  ctx.factory.last.answerHello(options.instance ?? "inst-1");
  ctx.broker = answerCredentials(ctx.factory.last);
  return ctx;
}

/** Calls the listener and resolves its answer, playing the broker meanwhile. */
async function ask(ctx, details) {
  const answer = ctx.controller.onRequest(details);
  await settle();
  ctx.broker?.();
  return answer;
}

function assertBlackHole(answer) {
  assert.ok(Array.isArray(answer), "an array");
  assert.equal(answer[0].port, BLACK_HOLE_PORT);
  assert.equal(answer[0].username, undefined);
  assert.equal(answer[1], null);
}

describe("Controller.onRequest", () => {
  it("asks the broker on a miss with the first party's scheme and host only", async () => {
    const ctx = await ready();
    const answer = await ask(ctx, pageA);
    assert.deepEqual(answer, [
      { type: "socks", host: "127.0.0.1", port: 9050, username: "user-https://www.a.test/", password: "secret", proxyDNS: true },
      null,
    ]);
    const request = ctx.factory.last.lastOf("credentials");
    assert.deepEqual(request, {
      id: request.id,
      type: "credentials",
      url: "https://www.a.test/",
      container: "firefox-default",
      tab: 1,
      session: ctx.controller.sessions.browser,
    });
    assert.match(request.session, /^[A-Za-z0-9_-]{22}$/);
  });

  it("answers cache hits synchronously, without a broker round trip", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    const sentBefore = ctx.factory.last.sent.length;
    const answer = ctx.controller.onRequest(imageOfA);
    assert.ok(Array.isArray(answer), "not a promise");
    assert.equal(answer[0].username, "user-https://www.a.test/");
    assert.equal(ctx.factory.last.sent.length, sentBefore);
  });

  it("shares one broker request between concurrent misses of the same first party", async () => {
    const ctx = await ready();
    const answers = [pageA, imageOfA, pageA].map((d) => ctx.controller.onRequest(d));
    await settle();
    assert.equal(ctx.factory.last.sent.filter((m) => m.type === "credentials").length, 1);
    ctx.broker();
    for (const answer of await Promise.all(answers)) {
      assert.equal(answer[0].username, "user-https://www.a.test/");
    }
  });

  it("never gives one site another site's credentials", async () => {
    const ctx = await ready();
    const [a, b, s] = await Promise.all([ask(ctx, pageA), ask(ctx, pageB), ask(ctx, system)]);
    ctx.broker();
    assert.equal((await a)[0].username, "user-https://www.a.test/");
    assert.equal((await b)[0].username, "user-https://b.test/");
    assert.equal((await s)[0].username, "user-about:blank");
  });

  it("answers the black hole when the broker answers an error", async () => {
    const ctx = await ready();
    const answer = ctx.controller.onRequest(pageA);
    await settle();
    const request = ctx.factory.last.lastOf("credentials");
    ctx.factory.last.deliver({ id: request.id, error: { code: "internal", message: "boom" } });
    assertBlackHole(await answer);
  });

  it("answers the black hole when the broker sends unusable credentials", async () => {
    const ctx = await ready();
    ctx.broker = answerCredentials(ctx.factory.last, { username: () => "<torS0X>0" });
    assertBlackHole(await ask(ctx, pageA));
    ctx.broker = null;
    const answer = ctx.controller.onRequest(pageB);
    await settle();
    const request = ctx.factory.last.lastOf("credentials");
    ctx.factory.last.deliver({ id: request.id, result: { site: "b.test", container: "firefox-container-9", username: "u", password: "p", expires_at: null } });
    assertBlackHole(await answer);
  });

  it("answers the black hole when the broker does not answer in time", async () => {
    const ctx = await ready();
    const answer = ctx.controller.onRequest(pageA);
    await settle();
    ctx.clock.advance(2000);
    assertBlackHole(await answer);
  });

  it("answers the black hole when the native host is missing", async () => {
    const ctx = setup();
    await ctx.controller.ensureReady();
    ctx.factory.last.die("No such native application persite");
    assertBlackHole(await ctx.controller.onRequest(pageA));
    assert.equal(ctx.statuses.at(-1).protected, false);
    assert.match(ctx.statuses.at(-1).problem, /No such native application/);
  });

  it("answers the black hole when the state cannot be restored in time", async () => {
    const ctx = setup({ loadOptions: () => new Promise(() => {}) });
    const answer = ctx.controller.onRequest(pageA);
    await settle();
    ctx.clock.advance(READY_TIMEOUT_MS);
    assertBlackHole(await answer);
  });

  it("answers the black hole when loading options fails, and retries on the next request", async () => {
    let fail = true;
    const ctx = setup({
      loadOptions: async () => {
        if (fail) {
          throw new Error("storage broken");
        }
        return undefined;
      },
    });
    assertBlackHole(await ctx.controller.onRequest(pageA));
    fail = false;
    const answer = ctx.controller.onRequest(pageA);
    await settle();
    ctx.factory.last.answerHello();
    await settle();
    answerCredentials(ctx.factory.last)();
    assert.equal((await answer)[0].username, "user-https://www.a.test/");
  });

  it("answers the black hole when anything in the listener throws", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    const hostile = {
      get type() {
        throw new Error("details getter throws");
      },
    };
    assertBlackHole(await ctx.controller.onRequest(hostile));
    ctx.controller.cache.get = () => {
      throw new Error("cache exploded");
    };
    assertBlackHole(await ctx.controller.onRequest(pageA));
  });

  it("answers the black hole without a usable SOCKS endpoint", async () => {
    const ctx = await ready({ options: { socksOverride: { host: "not an ip", port: 9050 } } });
    assertBlackHole(await ask(ctx, pageA));
  });

  it("uses the SOCKS override from the options", async () => {
    const ctx = await ready({ options: { socksOverride: { host: "127.0.0.2", port: 9150 } } });
    const answer = await ask(ctx, pageA);
    assert.equal(answer[0].host, "127.0.0.2");
    assert.equal(answer[0].port, 9150);
    ctx.controller.setOptions({});
    assert.equal(ctx.controller.onRequest(pageA)[0].port, 9050, "options changes apply at once");
  });

  it("does not answer before the state is restored", async () => {
    let release;
    const ctx = setup({ loadSession: () => new Promise((resolve) => (release = resolve)) });
    const answer = ctx.controller.onRequest(pageA);
    await settle();
    assert.equal(ctx.factory.ports.length, 0, "no connection before the restore");
    release({
      instance: "inst-1",
      brokerSocks: { host: "127.0.0.1", port: 9050 },
      cache: { version: 2, entries: [[`www.a.test\nfirefox-default`, { site: "a.test", container: "firefox-default", username: "restored", password: "p", expiresAt: null }]], perTabSites: [], tabEntries: [] },
    });
    await settle();
    ctx.factory.last.answerHello("inst-1", { host: "127.0.0.1", port: 9150 });
    const [proxy] = await answer;
    assert.equal(proxy.username, "restored");
    assert.equal(proxy.port, 9150, "the endpoint of this page's hello, not one from the mirror");
  });
});

describe("Controller refuses replies for another first party", () => {
  /** Plays a broker that answers every credentials request with `lie(url)` as the site. */
  function lyingReady(lie) {
    return ready().then((ctx) => {
      ctx.broker = answerCredentials(ctx.factory.last, { site: lie });
      return ctx;
    });
  }
  const credentialsRequests = (ctx) => ctx.factory.last.sent.filter((m) => m.type === "credentials").length;

  it("black-holes, does not cache, and logs no domain for another site's credentials", async () => {
    const ctx = await ready();
    assert.equal((await ask(ctx, pageA))[0].username, "user-https://www.a.test/");
    // The broker now answers b.test's request with a.test's complete result.
    ctx.broker = answerCredentials(ctx.factory.last, { site: () => "a.test", username: () => "user-https://www.a.test/" });
    assertBlackHole(await ask(ctx, pageB));
    const before = credentialsRequests(ctx);
    const again = ctx.controller.onRequest(pageB);
    assert.ok(again instanceof Promise, "nothing was cached for b.test");
    await settle();
    assert.equal(credentialsRequests(ctx), before + 1, "asked again");
    ctx.broker();
    assertBlackHole(await again);
    assert.equal(ctx.controller.onRequest(pageA)[0].username, "user-https://www.a.test/", "a.test's own entry stays");
    assert.ok(ctx.logs.some((line) => /another site/.test(line)), "the refusal is logged");
    for (const line of ctx.logs) {
      assert.doesNotMatch(line, /[ab]\.test/);
    }
  });

  it("accepts the first party's parent domain, refuses a look-alike suffix", async () => {
    const ctx = await lyingReady(() => "a.test");
    assert.equal((await ask(ctx, mailOfA))[0].username, "user-https://mail.a.test/");
    const lookAlike = { ...pageB, url: "https://evila.test/" };
    assertBlackHole(await ask(ctx, lookAlike));
  });

  it("gives the catch-all only --unknown--, and a site never --unknown--", async () => {
    const liar = await lyingReady(() => "--unknown--");
    assertBlackHole(await ask(liar, pageB));
    assert.equal((await ask(liar, system))[0].username, "user-about:blank");
    const other = await lyingReady(() => "b.test");
    assertBlackHole(await ask(other, system));
    assert.equal((await ask(other, pageB))[0].username, "user-https://b.test/");
  });

  it("checks per-tab credentials the same way", async () => {
    const ctx = await ready();
    ctx.broker = answerCredentials(ctx.factory.last, { perTab: () => true, site: () => "b.test" });
    assertBlackHole(await ask(ctx, pageA));
    assert.equal(ctx.controller.cache.size, 0);
    assert.equal((await ask(ctx, pageB))[0].username, "user-https://b.test/@3");
  });

  it("checks IPv6 and trailing-dot first parties against the broker's site form", async () => {
    const ctx = await lyingReady((url) => (url.includes("[") ? "[2001:db8::1]" : "example.com"));
    const v6 = { ...pageB, url: "http://[2001:DB8::1]:8080/x" };
    const dotted = { ...pageB, url: "https://www.example.com./" };
    assert.equal((await ask(ctx, v6))[0].username, "user-http://[2001:db8::1]/");
    assert.equal((await ask(ctx, dotted))[0].username, "user-https://www.example.com./");
  });

  it("does not show another site's circuit", async () => {
    const ctx = await ready();
    const pending = ctx.controller.circuit("https://www.b.test/", "firefox-default");
    await settle();
    const request = ctx.factory.last.lastOf("circuit");
    ctx.factory.last.deliver({ id: request.id, result: { site: "a.test", container: "firefox-default", available: false, reason: "not_bootstrapped" } });
    await assert.rejects(pending, (e) => e.name === "ProtocolError" && /another site/.test(e.message));
  });

  it("asks for the tab's own circuit and refuses another tab's", async () => {
    const ctx = await ready();
    const pending = ctx.controller.circuit("https://www.b.test/", "firefox-default", 4);
    await settle();
    const request = ctx.factory.last.lastOf("circuit");
    assert.equal(request.tab, 4);
    ctx.factory.last.deliver({ id: request.id, result: { site: "b.test", container: "firefox-default", tab: 5, available: false, reason: "not_bootstrapped" } });
    await assert.rejects(pending, (e) => e.name === "ProtocolError" && /another tab/.test(e.message));

    const again = ctx.controller.circuit("https://www.b.test/", "firefox-default", 4);
    await settle();
    const second = ctx.factory.last.lastOf("circuit");
    ctx.factory.last.deliver({ id: second.id, result: { site: "b.test", container: "firefox-default", tab: 4, available: false, reason: "not_bootstrapped" } });
    assert.equal((await again).circuit.tab, 4);
  });

  it("does not show another container's circuit", async () => {
    const ctx = await ready();
    const pending = ctx.controller.circuit("https://www.b.test/", "firefox-container-2");
    await settle();
    const request = ctx.factory.last.lastOf("circuit");
    ctx.factory.last.deliver({ id: request.id, result: { site: "b.test", container: "firefox-default", available: false, reason: "not_bootstrapped" } });
    await assert.rejects(pending, /another container/);
  });

  it("New circuit answered for another site fails and still drops the tab's site", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    await ask(ctx, pageB);
    const done = ctx.controller.newCircuit("https://www.a.test/", "firefox-default");
    await settle();
    ctx.factory.last.deliver({ id: ctx.factory.last.lastOf("new_circuit").id, result: { site: "b.test" } });
    await assert.rejects(done, /another site/);
    assert.ok(ctx.controller.onRequest(pageA) instanceof Promise, "a.test dropped");
    assert.ok(Array.isArray(ctx.controller.onRequest(pageB)), "b.test untouched");
  });
});

describe("Controller refuses one credential pair for two first parties", () => {
  /** Plays a broker that gives every site, container and tab the same username and password. */
  async function samePairReady(options) {
    const ctx = await ready();
    ctx.broker = answerCredentials(ctx.factory.last, { username: () => "one-pair", ...options });
    return ctx;
  }
  const inContainer = (details, cookieStoreId) => ({ ...details, cookieStoreId });

  it("black-holes, does not cache, and logs no domain when another site's pair comes back", async () => {
    const ctx = await samePairReady();
    assert.equal((await ask(ctx, pageA))[0].username, "one-pair");
    assertBlackHole(await ask(ctx, pageB));
    const again = ctx.controller.onRequest(pageB);
    assert.ok(again instanceof Promise, "nothing was cached for b.test");
    await settle();
    ctx.broker();
    assertBlackHole(await again);
    assert.equal(ctx.controller.onRequest(pageA)[0].username, "one-pair", "a.test keeps its entry");
    assert.ok(ctx.logs.some((line) => /already given to another site/.test(line)), ctx.logs.join("\n"));
    for (const line of ctx.logs) {
      assert.doesNotMatch(line, /[ab]\.test|one-pair|secret/);
    }
  });

  it("refuses one site's pair in another container", async () => {
    const ctx = await samePairReady();
    await ask(ctx, pageA);
    assertBlackHole(await ask(ctx, inContainer(pageA, "firefox-container-1")));
  });

  it("refuses one tab's per-tab pair in another tab", async () => {
    const ctx = await ready();
    const answered = new Set();
    // A per-tab answer that ignores the tab: every tab gets the same pair.
    ctx.broker = () => {
      for (const message of ctx.factory.last.sent) {
        if (message.type === "credentials" && !answered.has(message.id)) {
          answered.add(message.id);
          const result = { site: "a.test", container: message.container, username: "tab-pair", password: "secret", expires_at: null, per_tab: true };
          ctx.factory.last.deliver({ id: message.id, result });
        }
      }
    };
    assert.equal((await ask(ctx, pageA))[0].username, "tab-pair");
    assertBlackHole(await ask(ctx, { ...pageA, tabId: 7 }));
    assert.equal(ctx.controller.onRequest(pageA)[0].username, "tab-pair", "tab 1 keeps its entry");
  });

  it("accepts the same site's pair again, for another host, and after the site is invalidated", async () => {
    const ctx = await samePairReady();
    await ask(ctx, pageA);
    assert.equal((await ask(ctx, mailOfA))[0].username, "one-pair", "mail.a.test is the same site");
    ctx.factory.last.deliver({ type: "invalidate", sites: ["a.test"], reason: "new_circuit" });
    assert.equal((await ask(ctx, pageA))[0].username, "one-pair");
    assertBlackHole(await ask(ctx, pageB), "the invalidated site still owns its pair");
  });

  it("forgets the owners with the cache: invalidate all, New identity, a new instance, a lost port", async () => {
    const newIdentity = async (ctx) => {
      const done = ctx.controller.newIdentity();
      await settle();
      ctx.factory.last.deliver({ id: ctx.factory.last.lastOf("new_identity").id, result: { epoch: 2, newnym: "sent" } });
      await done;
    };
    for (const event of [
      async (ctx) => ctx.factory.last.deliver({ type: "invalidate", all: true, reason: "new_identity" }),
      newIdentity,
      async (ctx) => {
        ctx.factory.last.deliver({ type: "broker_connected", instance: "inst-2" });
        ctx.factory.last.answerHello("inst-2");
      },
      async (ctx) => {
        ctx.factory.last.die(null);
        ctx.clock.advance(10_000);
        ctx.factory.last.answerHello("inst-1");
        ctx.broker = answerCredentials(ctx.factory.last, { username: () => "one-pair" });
      },
    ]) {
      const ctx = await samePairReady();
      await ask(ctx, pageA);
      await event(ctx);
      assert.equal(ctx.controller.cache.owners.size, 0);
      assert.equal((await ask(ctx, pageB))[0].username, "one-pair");
    }
  });
});

describe("Controller invalidation", () => {
  it("drops a site's entries on an invalidate push, leaving other sites", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    await ask(ctx, mailOfA);
    await ask(ctx, pageB);
    ctx.factory.last.deliver({ type: "invalidate", sites: ["a.test"], reason: "new_circuit" });
    assert.ok(ctx.controller.onRequest(pageA) instanceof Promise, "a.test is a miss again");
    assert.ok(ctx.controller.onRequest(mailOfA) instanceof Promise);
    assert.ok(Array.isArray(ctx.controller.onRequest(pageB)), "b.test still hits");
  });

  it("drops everything on invalidate all, a new broker instance, or a lost port", async () => {
    for (const event of [
      (ctx) => ctx.factory.last.deliver({ type: "invalidate", all: true, reason: "new_identity" }),
      (ctx) => ctx.factory.last.deliver({ type: "broker_connected", instance: "inst-2" }),
      (ctx) => ctx.factory.last.die(null),
    ]) {
      const ctx = await ready();
      await ask(ctx, pageA);
      await ask(ctx, pageB);
      event(ctx);
      assert.equal(ctx.controller.cache.size, 0);
    }
  });

  it("keeps the cache on broker_connected with the same instance", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    ctx.factory.last.deliver({ type: "broker_connected", instance: "inst-1" });
    assert.equal(ctx.controller.cache.size, 1);
  });

  it("tells the broker that tab ids start over on its first handshake of a new session only", async () => {
    const ctx = setup();
    const reconnect = () => {
      const before = ctx.factory.ports.length;
      ctx.factory.last.die(null);
      while (ctx.factory.ports.length === before) {
        ctx.clock.advance(100);
      }
    };
    await ctx.controller.ensureReady();
    assert.equal(ctx.factory.last.lastOf("hello").tabs_reset, true, "no session mirror: a new session");
    reconnect();
    assert.equal(ctx.factory.last.lastOf("hello").tabs_reset, true, "the first handshake failed: asked again");
    ctx.factory.last.answerHello("inst-1");
    reconnect();
    assert.equal(ctx.factory.last.lastOf("hello").tabs_reset, undefined, "done once: a reconnect keeps the tabs");
    ctx.factory.last.answerHello("inst-1");
    ctx.factory.last.deliver({ type: "broker_connected", instance: "inst-2" });
    assert.equal(ctx.factory.last.lastOf("hello").tabs_reset, undefined, "a restarted daemon has a new key anyway");
  });

  it("keeps the tabs when it wakes with its session mirror", async () => {
    const ctx = setup({ session: { instance: "inst-1", brokerSocks: { host: "127.0.0.1", port: 9050 }, cache: null } });
    await ctx.controller.ensureReady();
    assert.deepEqual(Object.keys(ctx.factory.last.lastOf("hello")).sort(), ["id", "protocol", "type"]);
  });

  it("drops a restored cache when the broker turns out to be a new instance", async () => {
    const ctx = setup({
      session: {
        instance: "inst-old",
        brokerSocks: { host: "127.0.0.1", port: 9050 },
        cache: { version: 2, entries: [[`b.test\nfirefox-default`, { site: "b.test", container: "firefox-default", username: "old", password: "p", expiresAt: null }]], perTabSites: [], tabEntries: [] },
      },
    });
    await ctx.controller.ensureReady();
    assert.equal(ctx.controller.cache.size, 1);
    ctx.factory.last.answerHello("inst-new");
    assert.equal(ctx.controller.cache.size, 0);
  });

  it("does not answer with credentials fetched across a New identity", async () => {
    const ctx = await ready();
    const answer = ctx.controller.onRequest(pageA);
    await settle();
    const stale = ctx.factory.last.lastOf("credentials");
    ctx.factory.last.deliver({ type: "invalidate", all: true, reason: "new_identity" });
    ctx.factory.last.deliver({ id: stale.id, result: { site: "a.test", container: "firefox-default", username: "stale", password: "p", expires_at: null } });
    await settle();
    const retry = ctx.factory.last.lastOf("credentials");
    assert.notEqual(retry.id, stale.id, "asked again");
    ctx.factory.last.deliver({ id: retry.id, result: { site: "a.test", container: "firefox-default", username: "fresh", password: "p", expires_at: null } });
    assert.equal((await answer)[0].username, "fresh");
  });

  it("asks again once an entry has expired", async () => {
    const ctx = await ready();
    ctx.broker = answerCredentials(ctx.factory.last, { expiresAt: ctx.clock.time + 600_000 });
    await ask(ctx, system);
    assert.ok(Array.isArray(ctx.controller.onRequest(system)));
    ctx.clock.advance(600_000);
    assert.ok(ctx.controller.onRequest(system) instanceof Promise);
  });

  it("mirrors the cache into the session store", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    await settle();
    assert.equal(ctx.saved.filter((s) => s.cache.entries.length > 0).length, 0, "additions are grouped");
    ctx.clock.advance(PERSIST_DELAY_MS);
    await settle();
    const last = ctx.saved.at(-1);
    assert.equal(last.instance, "inst-1");
    assert.equal(last.brokerSocks, undefined, "the endpoint is never taken from the mirror");
    assert.equal(last.cache.entries.length, 1);
    assert.equal(last.cache.entries[0][1].site, "a.test");
    ctx.factory.last.die(null);
    await settle();
    assert.equal(ctx.saved.at(-1).cache.entries.length, 0, "a lost port empties the mirror at once");
  });

  it("writes invalidations to the mirror at once", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    await ask(ctx, pageB);
    ctx.clock.advance(PERSIST_DELAY_MS);
    await settle();
    assert.equal(ctx.saved.at(-1).cache.entries.length, 2);
    ctx.factory.last.deliver({ type: "invalidate", sites: ["a.test"], reason: "new_circuit" });
    await settle();
    assert.deepEqual(ctx.saved.at(-1).cache.entries.map(([, e]) => e.site), ["b.test"]);
  });
});

describe("Controller actions", () => {
  it("New circuit asks with the tab's first-party URL and drops the site at once", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    await ask(ctx, pageB);
    const done = ctx.controller.newCircuit("https://www.a.test/some/page?secret=1", "firefox-default");
    await settle();
    const request = ctx.factory.last.lastOf("new_circuit");
    assert.deepEqual(request, { id: request.id, type: "new_circuit", url: "https://www.a.test/" });
    ctx.factory.last.deliver({ id: request.id, result: { site: "a.test" } });
    assert.deepEqual(await done, { site: "a.test" });
    assert.ok(ctx.controller.onRequest(pageA) instanceof Promise);
    assert.ok(Array.isArray(ctx.controller.onRequest(pageB)));
  });

  it("policies are read and set through the broker, and the rotation push drops the site", async () => {
    const ctx = await ready();
    const reading = ctx.controller.policies();
    await settle();
    const get = ctx.factory.last.lastOf("policy_get");
    assert.deepEqual(get, { id: get.id, type: "policy_get" });
    const keepAlive = { max_age_s: null, max_bytes: null, per_tab: false };
    ctx.factory.last.deliver({ id: get.id, result: { default: keepAlive, sites: {} } });
    assert.deepEqual(await reading, { default: keepAlive, sites: [] });

    await ask(ctx, pageA);
    const policy = { max_age_s: 600, max_bytes: null, per_tab: true };
    const setting = ctx.controller.setPolicy("a.test", policy);
    await settle();
    const set = ctx.factory.last.lastOf("policy_set");
    assert.deepEqual(set, { id: set.id, type: "policy_set", site: "a.test", policy });
    ctx.factory.last.deliver({ id: set.id, result: { default: keepAlive, sites: { "a.test": policy } } });
    assert.deepEqual(await setting, { default: keepAlive, sites: [{ site: "a.test", policy }] });
    ctx.factory.last.deliver({ type: "invalidate", sites: ["a.test"], reason: "rotation" });
    assert.ok(ctx.controller.onRequest(pageA) instanceof Promise, "a.test must be asked again");

    const refused = ctx.controller.setPolicy(null, null);
    await settle();
    ctx.factory.last.deliver({
      id: ctx.factory.last.lastOf("policy_set").id,
      error: { code: "invalid_field", message: "`policy` is null" },
    });
    await assert.rejects(refused, (e) => e.code === "invalid_field");
  });

  it("New identity clears the cache only when the broker agreed", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    const failing = ctx.controller.newIdentity();
    await settle();
    ctx.factory.last.deliver({ id: ctx.factory.last.lastOf("new_identity").id, error: { code: "internal", message: "tor down" } });
    await assert.rejects(failing);
    assert.equal(ctx.controller.cache.size, 1, "nothing lost on failure");
    const working = ctx.controller.newIdentity();
    await settle();
    ctx.factory.last.deliver({ id: ctx.factory.last.lastOf("new_identity").id, result: { epoch: 2, newnym: "delayed", newnym_delay_s: 6 } });
    assert.deepEqual(await working, { epoch: 2, newnym: "delayed", newnymDelayS: 6 });
    assert.equal(ctx.controller.cache.size, 0);
    assert.equal(parsedUrlCount(), 0, "no parsed page URL outlives New identity");
  });

  it("black-holes every request while the barrier is up, hits included", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    let inside;
    await ctx.controller.withBarrier(async () => {
      inside = await ctx.controller.onRequest(pageA);
    });
    assertBlackHole(inside);
    assert.equal(ctx.controller.onRequest(pageA)[0].username, "user-https://www.a.test/");
  });

  it("reports protection status for the badge", async () => {
    const ctx = await ready();
    assert.equal(ctx.statuses.at(-1).protected, true);
    ctx.factory.last.deliver({ type: "broker_disconnected" });
    assert.equal(ctx.statuses.at(-1).protected, false);
    assert.match(ctx.statuses.at(-1).problem, /cannot reach the broker/);
    ctx.factory.last.deliver({ type: "broker_connected", instance: "inst-1" });
    assert.equal(ctx.statuses.at(-1).protected, false, "until the daemon's hello names its endpoint");
    assert.match(ctx.statuses.at(-1).problem, /waiting for the broker daemon's SOCKS endpoint/);
    ctx.factory.last.answerHello("inst-1");
    await settle();
    assert.equal(ctx.statuses.at(-1).protected, true);
  });

  it("never logs a domain name", async () => {
    const ctx = await ready();
    const answer = ctx.controller.onRequest(pageA);
    await settle();
    ctx.factory.last.deliver({ id: ctx.factory.last.lastOf("credentials").id, error: { code: "invalid_url", message: "not a valid URL: \"https://www.a.test/\"" } });
    await answer;
    assert.ok(ctx.logs.length > 0);
    for (const line of ctx.logs) {
      assert.doesNotMatch(line, /a\.test/);
    }
  });
});

describe("Controller per-tab credentials", () => {
  const perTabA = (url) => url === "https://www.a.test/";
  const inTab = (details, tabId) => ({ ...details, tabId });

  async function perTabReady() {
    const ctx = await ready();
    ctx.broker = answerCredentials(ctx.factory.last, { perTab: perTabA });
    return ctx;
  }

  it("sends the request's tab, and none for Firefox's own requests", async () => {
    const ctx = await ready();
    await ask(ctx, pageB);
    assert.equal(ctx.factory.last.lastOf("credentials").tab, 3);
    await ask(ctx, system);
    assert.equal("tab" in ctx.factory.last.lastOf("credentials"), false);
  });

  it("uses per-tab credentials only in their tab", async () => {
    const ctx = await perTabReady();
    assert.equal((await ask(ctx, pageA))[0].username, "user-https://www.a.test/@1");
    assert.equal(ctx.controller.onRequest(imageOfA)[0].username, "user-https://www.a.test/@1", "a hit in tab 1");
    const other = ctx.controller.onRequest(inTab(pageA, 7));
    assert.ok(other instanceof Promise, "a miss in tab 7");
    await settle();
    ctx.broker();
    assert.equal((await other)[0].username, "user-https://www.a.test/@7");
    assert.equal(ctx.factory.last.lastOf("credentials").tab, 7);
    assert.equal(ctx.controller.onRequest(pageA)[0].username, "user-https://www.a.test/@1");
  });

  it("keeps ordinary credentials shared by every tab", async () => {
    const ctx = await perTabReady();
    await ask(ctx, pageB);
    assert.equal(ctx.controller.onRequest(inTab(pageB, 9))[0].username, "user-https://b.test/");
  });

  it("never shares one tab's per-tab answer with a concurrent miss from another tab", async () => {
    const ctx = await perTabReady();
    const one = ctx.controller.onRequest(pageA);
    const seven = ctx.controller.onRequest(inTab(pageA, 7));
    await settle();
    assert.equal(ctx.factory.last.sent.filter((m) => m.type === "credentials").length, 1, "policy unknown: one request");
    ctx.broker();
    await settle();
    ctx.broker();
    assert.equal((await one)[0].username, "user-https://www.a.test/@1");
    assert.equal((await seven)[0].username, "user-https://www.a.test/@7");
  });

  it("drops a tab's per-tab credentials when it closes or leaves the site", async () => {
    const ctx = await perTabReady();
    await ask(ctx, pageA);
    await ask(ctx, inTab(pageA, 7));
    await ctx.controller.tabNavigated(1, "https://www.a.test/other", "firefox-default");
    assert.ok(Array.isArray(ctx.controller.onRequest(pageA)), "same site: kept");
    await ctx.controller.tabNavigated(1, "https://b.test/", "firefox-default");
    assert.ok(ctx.controller.onRequest(pageA) instanceof Promise, "another site: dropped");
    assert.ok(Array.isArray(ctx.controller.onRequest(inTab(pageA, 7))), "tab 7 untouched");
    const removed = ctx.controller.tabRemoved(7);
    await settle();
    assert.ok(ctx.controller.onRequest(inTab(pageA, 7)) instanceof Promise, "closed tab: dropped at once");
    const closed = ctx.factory.last.lastOf("tab_closed");
    assert.deepEqual(closed, { id: closed.id, type: "tab_closed", tab: 7, session: ctx.controller.sessions.browser });
    ctx.factory.last.deliver({ id: closed.id, result: { sites: 1 } });
    await removed;
  });

  it("tells the broker of every closed tab, and reports when it cannot", async () => {
    const ctx = await ready();
    const removed = ctx.controller.tabRemoved(4);
    await settle();
    const closed = ctx.factory.last.lastOf("tab_closed");
    assert.equal(closed.tab, 4, "even a tab without per-tab credentials here: the broker may have some");
    ctx.factory.last.deliver({ id: closed.id, error: { code: "internal", message: "boom" } });
    await assert.rejects(removed, /boom/);
    const sent = ctx.factory.last.sent.length;
    await ctx.controller.tabRemoved(-1);
    assert.equal(ctx.factory.last.sent.length, sent, "TAB_ID_NONE is no tab");
  });

  it("drops every tab's per-tab credentials of an invalidated site", async () => {
    const ctx = await perTabReady();
    await ask(ctx, pageA);
    await ask(ctx, inTab(pageA, 7));
    ctx.factory.last.deliver({ type: "invalidate", sites: ["a.test"], reason: "new_circuit" });
    assert.ok(ctx.controller.onRequest(pageA) instanceof Promise);
    assert.ok(ctx.controller.onRequest(inTab(pageA, 7)) instanceof Promise);
  });
});

describe("Controller tor data", () => {
  const torStatus = (progress) => ({ control: "connected", managed: false, version: "0.4.9.11", bootstrap: { progress, summary: "x" }, socks_listeners: null });
  const circuitResult = {
    site: "a.test",
    container: "firefox-default",
    available: true,
    reason: null,
    onion: false,
    circuits: [{ id: "1", conflux_id: null, hops: [{ role: "guard", fingerprint: "A".repeat(40), nickname: "g", ip: "203.0.113.1", ipv6: null, country: "de", bridge_type: null }] }],
    bytes: null,
  };

  it("asks tor's status after hello and reports it with the status", async () => {
    const ctx = await ready();
    const request = ctx.factory.last.lastOf("status");
    assert.ok(request, "a status request after hello");
    ctx.factory.last.deliver({ id: request.id, result: { broker_version: "0.1.0", tor: torStatus(40) } });
    await settle();
    assert.equal(ctx.controller.status().tor.bootstrap.progress, 40);
    assert.deepEqual(ctx.events.at(-1), { type: "tor_status", tor: ctx.controller.status().tor });
  });

  it("follows tor_status pushes and forgets tor's status when the broker goes", async () => {
    const ctx = await ready();
    ctx.factory.last.deliver({ type: "tor_status", ...torStatus(80) });
    assert.equal(ctx.controller.status().tor.bootstrap.progress, 80);
    assert.equal(ctx.events.at(-1).tor.bootstrap.progress, 80);
    ctx.factory.last.deliver({ type: "broker_disconnected" });
    assert.equal(ctx.controller.status().tor, null);
    assert.deepEqual(ctx.events.at(-1), { type: "tor_status", tor: null });
  });

  it("does not pile up status requests", async () => {
    const ctx = await ready();
    ctx.controller.refreshTorStatus();
    ctx.controller.refreshTorStatus();
    assert.equal(ctx.factory.last.sent.filter((m) => m.type === "status").length, 1);
  });

  it("forwards circuit pushes", async () => {
    const ctx = await ready();
    ctx.factory.last.deliver({ type: "circuit", ...circuitResult });
    assert.equal(ctx.events.at(-1).type, "circuit");
    assert.equal(ctx.events.at(-1).circuit.circuits[0].hops[0].fingerprint, "A".repeat(40));
  });

  it("asks the circuit of a tab's first party, with its container", async () => {
    const ctx = await ready({ options: { isolateContainers: false } });
    const pending = ctx.controller.circuit("https://www.a.test/page?q=1", "firefox-container-3");
    await settle();
    const request = ctx.factory.last.lastOf("circuit");
    assert.deepEqual(request, { id: request.id, type: "circuit", url: "https://www.a.test/", container: "firefox-default" });
    ctx.factory.last.deliver({ id: request.id, result: circuitResult });
    const answer = await pending;
    assert.equal(answer.host, "www.a.test");
    assert.equal(answer.container, "firefox-default");
    assert.equal(answer.circuit.site, "a.test");
  });

  it("does not ask the broker for a page with no network first party", async () => {
    const ctx = await ready();
    assert.deepEqual(await ctx.controller.circuit("about:preferences", "firefox-default"), { host: null, container: "firefox-default", circuit: null });
    assert.equal(ctx.factory.last.lastOf("circuit"), undefined);
  });

  it("passes on a broker that does not know the circuit request", async () => {
    const ctx = await ready();
    const pending = ctx.controller.circuit("https://a.test/", "firefox-default");
    await settle();
    ctx.factory.last.deliver({ id: ctx.factory.last.lastOf("circuit").id, error: { code: "unknown_type", message: "unknown request type" } });
    await assert.rejects(pending, (e) => e.code === "unknown_type");
  });
});

describe("Controller attribution through the tab (workers, opaque origins)", () => {
  // A dedicated worker's fetch in a tracker.test frame: Firefox names the worker script as its
  // document (tests/tests/e2e_attribution.rs, details probe).
  const workerFetch = {
    type: "xmlhttprequest",
    url: "https://tracker.test/data",
    tabId: 1,
    frameId: 42,
    frameAncestors: [],
    documentUrl: "https://tracker.test/worker.js",
    cookieStoreId: "firefox-default",
  };
  const sharedWorkerFetch = { ...workerFetch, tabId: -1, frameId: 0, frameAncestors: undefined };

  it("looks the tab up once and asks the broker for the tab's site", async () => {
    const lookups = [];
    const ctx = await ready({ tabUrl: async (tabId) => { lookups.push(tabId); return "https://www.a.test/x"; } });
    const answer = await ask(ctx, workerFetch);
    assert.equal(answer[0].username, "user-https://www.a.test/");
    assert.equal(ctx.factory.last.lastOf("credentials").url, "https://www.a.test/");
    assert.equal(ctx.controller.onRequest(workerFetch)[0].username, "user-https://www.a.test/", "a synchronous hit");
    assert.deepEqual(lookups, [1]);
  });

  it("follows the tab to its new page and forgets it with the tab", async () => {
    const ctx = await ready({ tabUrl: async () => null });
    await ctx.controller.tabNavigated(1, "https://b.test/", "firefox-default");
    assert.equal((await ask(ctx, workerFetch))[0].username, "user-https://b.test/");
    // The broker's tab_closed answer does not matter here: the tab's URL goes at once.
    ctx.controller.tabRemoved(1).catch(() => {});
    await settle();
    const answer = await ask(ctx, workerFetch);
    assert.match(answer[0].username, /^one-off-[0-9a-f]{32}$/, "the tab is gone: one-off");
  });

  it("answers one-off credentials for shared workers at once, new ones each time, without the broker", async () => {
    const ctx = await ready();
    const sent = ctx.factory.last.sent.length;
    const one = ctx.controller.onRequest(sharedWorkerFetch);
    const two = ctx.controller.onRequest(sharedWorkerFetch);
    assert.ok(Array.isArray(one) && Array.isArray(two), "answered synchronously");
    assert.match(one[0].username, /^one-off-[0-9a-f]{32}$/);
    assert.match(one[0].password, /^[0-9a-f]{32}$/);
    assert.notEqual(one[0].username, two[0].username);
    assert.notEqual(one[0].password, two[0].password);
    assert.equal(one[0].proxyDNS, true);
    assert.equal(one[1], null);
    assert.equal(ctx.factory.last.sent.length, sent);
  });

  it("answers the black hole, not one-off credentials, during New identity", async () => {
    const ctx = await ready();
    let release;
    const task = ctx.controller.withBarrier(() => new Promise((resolve) => { release = resolve; }));
    assertBlackHole(await ctx.controller.onRequest(sharedWorkerFetch));
    release();
    await task;
  });

  it("gives one-off credentials when the tab lookup fails or hangs", async () => {
    const ctx = await ready({ tabUrl: async () => { throw new Error("no tab"); } });
    assert.match((await ask(ctx, workerFetch))[0].username, /^one-off-/);
    const hanging = await ready({ tabUrl: () => new Promise(() => {}) });
    const answer = hanging.controller.onRequest(workerFetch);
    await settle();
    hanging.clock.advance(TAB_LOOKUP_TIMEOUT_MS);
    await settle();
    assert.match((await answer)[0].username, /^one-off-/);
  });
});

describe("Controller status: paths that bypass Persite", () => {
  it("reports the gaps the background found, against the SOCKS endpoint in use", async () => {
    const ctx = await ready();
    assert.deepEqual(ctx.controller.status().warnings, [], "nothing known yet");
    ctx.controller.setPathFacts({
      privateAllowed: false,
      proxySettings: { proxyType: "manual", socks: "127.0.0.1:9050", socksVersion: 5, proxyDNS: true },
    });
    ctx.controller.onRequest({ type: "script", url: "https://w.test/sw.js", tabId: -1, documentUrl: "https://w.test/", cookieStoreId: "firefox-default" });
    const status = ctx.controller.status();
    assert.equal(status.protected, true, "a gap does not make the current traffic unprotected");
    assert.deepEqual(status.warnings.map((w) => w.code), ["private_windows", "service_workers"], "a tab-less worker was seen");
    assert.deepEqual(ctx.statuses.at(-1).warnings.map((w) => w.code), ["private_windows", "service_workers"], "pushed to the badge");
    ctx.controller.setOptions({ socksOverride: { host: "127.0.0.1", port: 9150 } });
    assert.deepEqual(ctx.controller.status().warnings.map((w) => w.code), ["private_windows", "default_proxy", "service_workers"]);
  });
});

describe("Controller follows a restarted daemon's SOCKS endpoint", () => {
  const oldSocks = { host: "127.0.0.1", port: 9050 };
  const newSocks = { host: "127.0.0.1", port: 9999 };

  it("answers a cached site only with the reconnected daemon's endpoint", async () => {
    const ctx = await ready();
    assert.equal((await ask(ctx, pageA))[0].port, oldSocks.port);
    ctx.factory.last.deliver({ type: "broker_disconnected" });
    const answer = ctx.controller.onRequest(pageA);
    assert.ok(answer instanceof Promise, "no synchronous answer with the old endpoint");
    await settle();
    const refresh = ctx.factory.last.lastOf("hello");
    assert.ok(refresh, "asks the daemon's hello (which makes the host reconnect)");
    ctx.factory.last.deliver({ type: "broker_connected", instance: "inst-1" });
    ctx.factory.last.deliver({ id: refresh.id, result: { protocol: 1, broker_version: "0.1.0", instance: "inst-1", socks: newSocks } });
    await settle();
    const [proxy] = await answer;
    assert.equal(proxy.port, newSocks.port);
    assert.equal(ctx.controller.onRequest(pageA)[0].port, newSocks.port, "later hits too");
  });

  it("does not use the old endpoint for credentials answered before the new hello", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    ctx.factory.last.deliver({ type: "broker_connected", instance: "inst-2" });
    const answer = ctx.controller.onRequest(pageB);
    await settle();
    ctx.broker();
    await settle();
    ctx.factory.last.answerHello("inst-2", newSocks);
    await settle();
    ctx.broker();
    const [proxy] = await answer;
    assert.equal(proxy.port, newSocks.port);
    assert.equal(proxy.username, "user-https://b.test/");
  });

  it("answers the black hole when the reconnected daemon's hello fails", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    ctx.factory.last.deliver({ type: "broker_connected", instance: "inst-1" });
    const answer = ctx.controller.onRequest(pageA);
    await settle();
    const refresh = ctx.factory.last.lastOf("hello");
    ctx.factory.last.deliver({ id: refresh.id, error: { code: "internal", message: "x" } });
    assertBlackHole(await answer);
  });

  it("answers the black hole when no hello comes in time", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    ctx.factory.last.deliver({ type: "broker_disconnected" });
    const answer = ctx.controller.onRequest(pageA);
    await settle();
    ctx.clock.advance(READY_TIMEOUT_MS);
    assertBlackHole(await answer);
  });
});

describe("Controller sessions", () => {
  const privateA = { ...pageA, cookieStoreId: "firefox-private", tabId: 9 };
  const sessionOf = (ctx, container) =>
    ctx.factory.last.sent.filter((m) => m.type === "credentials" && m.container === container).at(-1).session;

  it("sends one browser-session secret, another for private windows, and mirrors both", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    await ask(ctx, privateA);
    const normal = sessionOf(ctx, "firefox-default");
    const priv = sessionOf(ctx, "firefox-private");
    assert.match(normal, /^[A-Za-z0-9_-]{22}$/);
    assert.match(priv, /^[A-Za-z0-9_-]{22}$/);
    assert.notEqual(normal, priv);
    await settle();
    ctx.clock.advance(1000);
    await settle();
    assert.deepEqual(ctx.saved.at(-1).sessions, { browser: normal, private: priv });
  });

  it("keeps the secrets across an event-page wake, makes new ones in a new browser session", async () => {
    const first = await ready();
    await ask(first, pageA);
    await ask(first, privateA);
    await settle();
    first.clock.advance(1000);
    await settle();
    const mirror = first.saved.at(-1);
    const woken = await ready({ session: mirror });
    assert.deepEqual(woken.controller.sessions.snapshot(), mirror.sessions);
    const restarted = await ready();
    assert.notEqual(restarted.controller.sessions.browser, mirror.sessions.browser);
    assert.equal(restarted.controller.sessions.private, null);
  });

  it("forgets the private secret and its cached credentials when the private session ends", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    await ask(ctx, privateA);
    const before = sessionOf(ctx, "firefox-private");
    assert.ok(Array.isArray(ctx.controller.onRequest(privateA)), "cached");
    const ending = ctx.controller.privateSessionEnded();
    await settle();
    const ended = ctx.factory.last.lastOf("session_ended");
    assert.deepEqual(ended, { id: ended.id, type: "session_ended", session: before });
    ctx.factory.last.deliver({ id: ended.id, result: { sets: 1 } });
    assert.equal(await ending, true);
    assert.equal(await ctx.controller.privateSessionEnded(), false, "nothing left to end");
    await settle();
    assert.equal(ctx.saved.at(-1).sessions.private, null, "gone from the mirror");
    assert.ok(
      ctx.saved.at(-1).cache.entries.every(([, entry]) => entry.container !== "firefox-private"),
      "no private credentials mirrored",
    );
    assert.ok(Array.isArray(ctx.controller.onRequest(pageA)), "normal window untouched");
    assert.ok(ctx.controller.onRequest(privateA) instanceof Promise, "private entry dropped");
    await ask(ctx, privateA);
    const after = sessionOf(ctx, "firefox-private");
    assert.notEqual(after, before, "a new private session");
    assert.notEqual(after, ctx.controller.sessions.browser);
  });
});

describe("Controller sites list (the sites page)", () => {
  const pageAInContainer = { ...pageA, cookieStoreId: "firefox-container-1", tabId: 7 };
  const privateB = { ...pageB, cookieStoreId: "firefox-private", tabId: 8, incognito: true };

  /** Answers every `circuit` and `policy_get` request on the port. */
  function answerSitesRequests(port) {
    const answered = new Set();
    for (const message of port.sent) {
      if (answered.has(message.id)) {
        continue;
      }
      if (message.type === "circuit") {
        answered.add(message.id);
        port.deliver({
          id: message.id,
          result: {
            site: message.site,
            container: message.container,
            available: true,
            circuits: [],
            bytes: { read: 10, written: 2 },
          },
        });
      } else if (message.type === "policy_get") {
        answered.add(message.id);
        port.deliver({ id: message.id, result: { default: { max_age_s: null, max_bytes: null, per_tab: false }, sites: {} } });
      }
    }
  }

  async function list(ctx) {
    const pending = ctx.controller.siteList();
    for (let i = 0; i < 3; i += 1) {
      await settle();
      answerSitesRequests(ctx.factory.last);
    }
    return pending;
  }

  it("lists each site and container this browser used, with the broker's circuit by site and container", async () => {
    const ctx = await ready();
    // Like the broker, one site gets another pair in another container.
    const port = ctx.factory.last;
    const answered = new Set();
    ctx.broker = () => {
      for (const m of port.sent.filter((m) => m.type === "credentials" && !answered.has(m.id))) {
        answered.add(m.id);
        const result = { site: siteOf(m.url), container: m.container, username: `${m.url}|${m.container}`, password: "p", expires_at: null, per_tab: false };
        port.deliver({ id: m.id, result });
      }
    };
    await ask(ctx, pageA);
    await ask(ctx, imageOfA);
    await ask(ctx, pageAInContainer);
    await ask(ctx, pageB);
    const { sites, policies } = await list(ctx);
    assert.deepEqual(
      sites.map((s) => [s.site, s.container, s.circuit.bytes?.read]),
      [
        ["a.test", "firefox-container-1", 10],
        ["a.test", "firefox-default", 10],
        ["b.test", "firefox-default", 10],
      ],
    );
    assert.deepEqual(policies.sites, []);
    const asked = ctx.factory.last.sent.filter((m) => m.type === "circuit").map((m) => [m.site, m.container, m.url]);
    assert.deepEqual(asked, [
      ["a.test", "firefox-container-1", undefined],
      ["a.test", "firefox-default", undefined],
      ["b.test", "firefox-default", undefined],
    ]);
  });

  it("shows another site's circuit answer as an error, not as the row's circuit", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    const pending = ctx.controller.siteList();
    await settle();
    const request = ctx.factory.last.lastOf("circuit");
    ctx.factory.last.deliver({ id: request.id, result: { site: "b.test", container: "firefox-default", available: true, circuits: [] } });
    await settle();
    answerSitesRequests(ctx.factory.last);
    const { sites } = await pending;
    assert.match(sites[0].circuit.error, /another site/);
  });

  it("empties the list on New identity and drops private rows when the private session ends", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    await ask(ctx, privateB);
    assert.equal(ctx.controller.sites.size, 2);
    const ending = ctx.controller.privateSessionEnded();
    await settle();
    ctx.factory.last.deliver({ id: ctx.factory.last.lastOf("session_ended").id, result: { sets: 1 } });
    await ending;
    assert.deepEqual(ctx.controller.sites.list().map((s) => s.container), ["firefox-default"]);
    const done = ctx.controller.newIdentity();
    await settle();
    ctx.factory.last.deliver({ id: ctx.factory.last.lastOf("new_identity").id, result: { epoch: 2, newnym: "sent" } });
    await done;
    assert.equal(ctx.controller.sites.size, 0);
  });

  it("New circuit for a site asks the broker by site and drops only that site's cached credentials", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    await ask(ctx, pageB);
    const pending = ctx.controller.newCircuitForSite("a.test");
    await settle();
    const request = ctx.factory.last.lastOf("new_circuit");
    assert.deepEqual(request, { id: request.id, type: "new_circuit", site: "a.test" });
    ctx.factory.last.deliver({ id: request.id, result: { site: "a.test" } });
    assert.deepEqual(await pending, { site: "a.test" });
    assert.ok(ctx.controller.onRequest(pageA) instanceof Promise, "a.test is a miss again");
    assert.ok(Array.isArray(ctx.controller.onRequest(pageB)), "b.test still hits");
    assert.equal(ctx.controller.sites.list()[0].since, null, "a.test's age restarts at its next use");
  });

  it("keeps the list across a suspended event page (the storage.session mirror)", async () => {
    const ctx = await ready();
    await ask(ctx, pageA);
    ctx.clock.advance(PERSIST_DELAY_MS + 1);
    await settle();
    const mirror = ctx.saved.at(-1);
    assert.deepEqual(mirror.sites.map((s) => s.site), ["a.test"]);
    const woken = setup({ session: mirror });
    await woken.controller.ensureReady();
    assert.deepEqual(woken.controller.sites.list().map((s) => [s.site, s.container]), [["a.test", "firefox-default"]]);
  });
});
