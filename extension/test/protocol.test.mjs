import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  BrokerError,
  ProtocolError,
  credentialsRequest,
  helloRequest,
  newCircuitRequest,
  newIdentityRequest,
  parseCredentialsResult,
  parseHelloResult,
  parseMessage,
  parseNewCircuitResult,
  parsePush,
  statusRequest,
} from "../src/protocol.js";

const goodCredentials = {
  site: "example.co.uk",
  container: "firefox-default",
  username: "u-3f1c",
  password: "p-9a7e",
  expires_at: null,
};

describe("request builders", () => {
  it("build the protocol's request objects", () => {
    assert.deepEqual(helloRequest(1), { id: 1, type: "hello", protocol: 1 });
    assert.deepEqual(credentialsRequest(7, "https://www.example.co.uk/", "firefox-default"), {
      id: 7,
      type: "credentials",
      url: "https://www.example.co.uk/",
      container: "firefox-default",
    });
    assert.deepEqual(newCircuitRequest(8, { url: "https://a.test/" }), { id: 8, type: "new_circuit", url: "https://a.test/" });
    assert.deepEqual(newCircuitRequest(9, { site: "a.test" }), { id: 9, type: "new_circuit", site: "a.test" });
    assert.deepEqual(newIdentityRequest(10), { id: 10, type: "new_identity" });
    assert.deepEqual(statusRequest(11), { id: 11, type: "status" });
  });

  it("refuse a new_circuit without a target", () => {
    assert.throws(() => newCircuitRequest(1, {}), TypeError);
  });
});

describe("parseMessage", () => {
  it("classifies results, errors and pushes", () => {
    assert.deepEqual(parseMessage({ id: 7, result: { a: 1 } }), { kind: "result", id: 7, result: { a: 1 } });
    const error = parseMessage({ id: 7, error: { code: "invalid_url", message: "not a valid URL" } });
    assert.equal(error.kind, "error");
    assert.equal(error.id, 7);
    assert.ok(error.error instanceof BrokerError);
    assert.equal(error.error.code, "invalid_url");
    const nullId = parseMessage({ id: null, error: { code: "invalid_json", message: "x" } });
    assert.equal(nullId.kind, "error");
    assert.equal(nullId.id, null);
    assert.deepEqual(parseMessage({ type: "broker_disconnected" }), { kind: "push", push: { type: "broker_disconnected" } });
  });

  it("marks malformed messages invalid instead of throwing", () => {
    for (const bad of [null, 3, "x", [], { id: "7", result: {} }, { id: 1 }, { id: 1, result: 1, error: {} }, { id: null, result: {} }, { id: 1.5, result: {} }, { foo: 1 }]) {
      assert.equal(parseMessage(bad).kind, "invalid", JSON.stringify(bad));
    }
  });

  it("keeps an error reply with a malformed error object as an error", () => {
    const parsed = parseMessage({ id: 3, error: "boom" });
    assert.equal(parsed.kind, "error");
    assert.equal(parsed.error.code, "invalid_error");
  });
});

describe("parsePush", () => {
  it("parses invalidate by sites and all", () => {
    assert.deepEqual(parsePush({ type: "invalidate", sites: ["a.test", "b.test"], reason: "new_circuit" }), {
      type: "invalidate",
      sites: ["a.test", "b.test"],
      reason: "new_circuit",
    });
    assert.deepEqual(parsePush({ type: "invalidate", all: true, reason: "new_identity" }), {
      type: "invalidate",
      all: true,
      reason: "new_identity",
    });
  });

  it("treats an invalidate without a usable site list as all", () => {
    for (const push of [{ type: "invalidate" }, { type: "invalidate", sites: "a.test" }, { type: "invalidate", sites: [1] }, { type: "invalidate", sites: [""] }]) {
      assert.equal(parsePush(push).all, true, JSON.stringify(push));
    }
  });

  it("parses broker_connected and refuses one without instance", () => {
    assert.deepEqual(parsePush({ type: "broker_connected", instance: "i2" }), { type: "broker_connected", instance: "i2" });
    assert.throws(() => parsePush({ type: "broker_connected" }), ProtocolError);
  });

  it("reports unknown push types without failing", () => {
    assert.deepEqual(parsePush({ type: "circuit_changed" }), { type: "unknown", name: "circuit_changed" });
  });
});

describe("parseHelloResult", () => {
  it("accepts the protocol's hello result", () => {
    assert.deepEqual(
      parseHelloResult({ protocol: 1, broker_version: "0.1.0", instance: "abc", socks: { host: "127.0.0.1", port: 9050 } }),
      { protocol: 1, brokerVersion: "0.1.0", instance: "abc", socks: { host: "127.0.0.1", port: 9050 } },
    );
  });

  it("refuses another protocol version, a missing instance and unusable SOCKS endpoints", () => {
    const base = { protocol: 1, broker_version: "0.1.0", instance: "abc", socks: { host: "127.0.0.1", port: 9050 } };
    for (const bad of [
      { ...base, protocol: 2 },
      { ...base, instance: "" },
      { ...base, socks: null },
      { ...base, socks: { host: "", port: 9050 } },
      { ...base, socks: { host: "127.0.0.1 ", port: 9050 } },
      { ...base, socks: { host: "127.0.0.1", port: 0 } },
      { ...base, socks: { host: "127.0.0.1", port: 65536 } },
      { ...base, socks: { host: "127.0.0.1", port: "9050" } },
      null,
    ]) {
      assert.throws(() => parseHelloResult(bad), ProtocolError, JSON.stringify(bad));
    }
  });
});

describe("parseCredentialsResult", () => {
  it("accepts credentials with and without expiry", () => {
    assert.deepEqual(parseCredentialsResult(goodCredentials), {
      site: "example.co.uk",
      container: "firefox-default",
      username: "u-3f1c",
      password: "p-9a7e",
      expiresAt: null,
    });
    assert.equal(parseCredentialsResult({ ...goodCredentials, expires_at: 1700000600000 }).expiresAt, 1700000600000);
  });

  it("refuses credentials Firefox or Tor would mishandle", () => {
    for (const bad of [
      { ...goodCredentials, username: "" },
      { ...goodCredentials, password: "" },
      { ...goodCredentials, username: 5 },
      { ...goodCredentials, username: "x".repeat(256) },
      { ...goodCredentials, password: "é".repeat(128) },
      { ...goodCredentials, username: "<torS0X>0" },
      { ...goodCredentials, site: "" },
      { ...goodCredentials, container: undefined },
      { ...goodCredentials, expires_at: "soon" },
      [],
    ]) {
      assert.throws(() => parseCredentialsResult(bad), ProtocolError, JSON.stringify(bad).slice(0, 80));
    }
  });

  it("accepts credentials of exactly 255 bytes", () => {
    assert.equal(parseCredentialsResult({ ...goodCredentials, username: "x".repeat(255) }).username.length, 255);
  });
});

describe("parseNewCircuitResult", () => {
  it("returns the site and refuses anything else", () => {
    assert.equal(parseNewCircuitResult({ site: "a.test" }), "a.test");
    assert.throws(() => parseNewCircuitResult({}), ProtocolError);
  });
});
