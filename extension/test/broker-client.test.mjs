import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { BrokerClient } from "../src/broker-client.js";
import { BrokerError, credentialsRequest, newIdentityRequest } from "../src/protocol.js";
import { ManualClock, portFactory, settle } from "./support/fakes.mjs";

function setup({ requestTimeoutMs = 1000 } = {}) {
  const clock = new ManualClock();
  const factory = portFactory();
  const events = { hellos: [], pushes: [], states: [] };
  const client = new BrokerClient({
    connect: factory.connect,
    setTimer: clock.setTimer,
    clearTimer: clock.clearTimer,
    requestTimeoutMs,
    onHello: (info) => events.hellos.push(info),
    onPush: (push) => events.pushes.push(push),
    onStateChange: (state) => events.states.push(state),
  });
  return { clock, factory, events, client };
}

const credentialsFor = (url) => (id) => credentialsRequest(id, url, "firefox-default");

describe("BrokerClient handshake", () => {
  it("sends hello first and becomes ready on a protocol-1 answer", () => {
    const { factory, client, events } = setup();
    client.start();
    assert.equal(client.state, "connecting");
    assert.deepEqual(factory.last.sent, [{ id: 1, type: "hello", protocol: 1 }]);
    factory.last.answerHello("inst-1");
    assert.equal(client.state, "ready");
    assert.equal(events.hellos[0].instance, "inst-1");
    assert.deepEqual(events.hellos[0].socks, { host: "127.0.0.1", port: 9050 });
  });

  it("queues requests made while connecting and sends them after hello", async () => {
    const { factory, client } = setup();
    client.start();
    const reply = client.request(credentialsFor("https://a.test/"));
    assert.equal(factory.last.sent.length, 1, "nothing but hello before the handshake");
    factory.last.answerHello();
    const sent = factory.last.lastOf("credentials");
    assert.deepEqual(sent, { id: 2, type: "credentials", url: "https://a.test/", container: "firefox-default" });
    factory.last.deliver({ id: sent.id, result: { ok: 1 } });
    assert.deepEqual(await reply, { ok: 1 });
  });

  it("drops the port and retries when hello is refused, times out or is unusable", async () => {
    for (const failHello of [
      (port) => port.deliver({ id: 1, error: { code: "unsupported_protocol", message: "no" } }),
      (port, clock) => clock.advance(1000),
      (port) => port.deliver({ id: 1, result: { protocol: 2, instance: "x", socks: { host: "127.0.0.1", port: 9050 } } }),
    ]) {
      const { factory, client, clock } = setup();
      client.start();
      const port = factory.last;
      const waiting = client.request(newIdentityRequest);
      failHello(port, clock);
      await assert.rejects(waiting, (e) => e instanceof BrokerError);
      assert.equal(client.state, "waiting");
      assert.ok(port.disconnectedByExtension, "the port we gave up on is closed");
      clock.advance(250);
      assert.equal(factory.ports.length, 2, "reconnected after the first backoff delay");
      assert.equal(client.state, "connecting");
    }
  });
});

describe("BrokerClient requests", () => {
  function ready(options) {
    const ctx = setup(options);
    ctx.client.start();
    ctx.factory.last.answerHello();
    return ctx;
  }

  it("matches replies to requests by id, whatever their order", async () => {
    const { factory, client } = ready();
    const a = client.request(credentialsFor("https://a.test/"));
    const b = client.request(credentialsFor("https://b.test/"));
    const [sentA, sentB] = factory.last.sent.slice(1);
    factory.last.deliver({ id: sentB.id, result: "for-b" });
    factory.last.deliver({ id: sentA.id, result: "for-a" });
    assert.equal(await a, "for-a");
    assert.equal(await b, "for-b");
  });

  it("rejects with the broker's error code", async () => {
    const { factory, client } = ready();
    const reply = client.request(credentialsFor("http://exa mple.com/"));
    factory.last.deliver({ id: factory.last.lastOf("credentials").id, error: { code: "invalid_url", message: "bad" } });
    await assert.rejects(reply, (e) => e instanceof BrokerError && e.code === "invalid_url");
    assert.equal(client.state, "ready", "an error reply does not end the conversation");
  });

  it("times out a request without a reply and ignores the late reply", async () => {
    const { factory, client, clock } = ready();
    const reply = client.request(credentialsFor("https://a.test/"));
    clock.advance(999);
    await settle();
    clock.advance(1);
    await assert.rejects(reply, (e) => e.code === "timeout");
    factory.last.deliver({ id: factory.last.lastOf("credentials").id, result: "late" });
    assert.equal(client.state, "ready");
    assert.equal(client.pending.size, 0);
  });

  it("forwards pushes and ignores garbage", () => {
    const { factory, client, events } = ready();
    factory.last.deliver({ type: "invalidate", sites: ["a.test"], reason: "new_circuit" });
    factory.last.deliver("garbage");
    factory.last.deliver({ id: 999, result: "nobody asked" });
    factory.last.deliver({ id: null, error: { code: "invalid_json", message: "x" } });
    assert.deepEqual(events.pushes, [{ type: "invalidate", sites: ["a.test"], reason: "new_circuit" }]);
    assert.equal(client.state, "ready");
  });

  it("never takes a reply to no pending request, or a push with an id, for an answer", async () => {
    const logs = [];
    const clock = new ManualClock();
    const factory = portFactory();
    const pushes = [];
    const client = new BrokerClient({
      connect: factory.connect,
      setTimer: clock.setTimer,
      clearTimer: clock.clearTimer,
      requestTimeoutMs: 1000,
      onPush: (push) => pushes.push(push),
      log: (message) => logs.push(message),
    });
    client.start();
    factory.last.answerHello();
    let settled = null;
    const reply = client.request(credentialsFor("https://a.test/"));
    reply.then((value) => (settled = value), () => (settled = "rejected"));
    const { id } = factory.last.lastOf("credentials");
    // Forged: a push that carries the request's id, and a reply to an id nobody asked for.
    factory.last.deliver({ id, type: "invalidate", all: true, reason: "rotation" });
    factory.last.deliver({ id, type: "credentials", result: "forged" });
    factory.last.deliver({ id: id + 1, result: "forged" });
    await settle();
    assert.equal(settled, null, "no forged message answered the request");
    assert.deepEqual(pushes, [], "a push with an id is not a push either");
    assert.equal(client.pending.size, 1);
    factory.last.deliver({ id, result: "real" });
    assert.equal(await reply, "real");
    assert.equal(client.state, "ready");
    for (const line of logs) {
      assert.ok(!line.includes("a.test") && !line.includes("forged"), line);
    }
    assert.ok(logs.some((line) => line.includes("without a matching request")), logs.join("\n"));
    assert.ok(logs.some((line) => line.includes("both an id and a type")), logs.join("\n"));
    client.stop();
  });

  it("fails every outstanding request at once when the host dies", async () => {
    const { factory, client } = ready();
    const a = client.request(credentialsFor("https://a.test/"));
    const b = client.request(credentialsFor("https://b.test/"));
    factory.last.die(null);
    await assert.rejects(a, (e) => e.code === "disconnected");
    await assert.rejects(b, (e) => e.code === "disconnected");
    assert.equal(client.state, "waiting");
  });

  it("fails requests at once while waiting to reconnect", async () => {
    const { factory, client } = ready();
    factory.last.die("No such native application persite");
    await assert.rejects(client.request(newIdentityRequest), (e) => e.code === "not_connected" && /No such native application/.test(e.message));
  });

  it("treats a throwing postMessage as a lost port", async () => {
    const { factory, client } = ready();
    factory.last.closed = true;
    await assert.rejects(client.request(newIdentityRequest), (e) => e.code === "disconnected");
    assert.equal(client.state, "waiting");
  });
});

describe("BrokerClient reconnect", () => {
  it("backs off 250 ms, 500 ms, 1 s … up to 10 s while the host is missing, and resets after success", () => {
    const { factory, client, clock } = setup();
    client.start();
    const delays = [];
    for (let attempt = 0; attempt < 8; attempt += 1) {
      factory.last.die("No such native application persite");
      delays.push(clock.pendingDelays()[0]);
      clock.advance(delays.at(-1));
    }
    assert.deepEqual(delays, [250, 500, 1000, 2000, 4000, 8000, 10000, 10000]);
    assert.equal(factory.ports.length, 9);
    factory.last.answerHello();
    factory.last.die(null);
    assert.equal(clock.pendingDelays()[0], 250, "a good handshake resets the backoff");
  });

  it("reconnects when connectNative itself throws", () => {
    const clock = new ManualClock();
    let attempts = 0;
    const client = new BrokerClient({
      connect: () => {
        attempts += 1;
        throw new Error("nativeMessaging permission missing");
      },
      setTimer: clock.setTimer,
      clearTimer: clock.clearTimer,
    });
    client.start();
    assert.equal(client.state, "waiting");
    assert.match(client.lastError, /permission missing/);
    clock.advance(250);
    assert.equal(attempts, 2);
  });

  it("ignores events of a port it has replaced", () => {
    const { factory, client, clock, events } = setup();
    client.start();
    const old = factory.last;
    old.die("gone");
    clock.advance(250);
    factory.last.answerHello("inst-2");
    old.deliver({ type: "invalidate", all: true });
    old.onDisconnect.emit(old);
    assert.equal(events.pushes.length, 0);
    assert.equal(client.state, "ready");
  });

  it("stops for good", async () => {
    const { factory, client, clock } = setup();
    client.start();
    factory.last.answerHello();
    const reply = client.request(newIdentityRequest);
    client.stop();
    await assert.rejects(reply, (e) => e.code === "disconnected");
    clock.advance(60_000);
    assert.equal(factory.ports.length, 1);
    assert.equal(client.state, "stopped");
  });
});

describe("BrokerClient default timers", () => {
  it("call the global timer functions without a receiver, as Firefox requires", async () => {
    const realSet = globalThis.setTimeout;
    const realClear = globalThis.clearTimeout;
    const strict = (real) =>
      function (...args) {
        if (this !== undefined && this !== globalThis) {
          throw new TypeError("'setTimeout' called on an object that does not implement interface Window.");
        }
        return real(...args);
      };
    globalThis.setTimeout = strict(realSet);
    globalThis.clearTimeout = strict(realClear);
    try {
      const factory = portFactory();
      const client = new BrokerClient({ connect: factory.connect, requestTimeoutMs: 50 });
      client.start();
      factory.last.answerHello();
      const reply = client.request(newIdentityRequest);
      factory.last.deliver({ id: factory.last.lastOf("new_identity").id, result: { epoch: 1 } });
      assert.deepEqual(await reply, { epoch: 1 });
      client.stop();
    } finally {
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    }
  });
});
