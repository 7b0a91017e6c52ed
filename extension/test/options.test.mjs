import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { DEFAULT_OPTIONS, effectiveSocks, normalizeOptions, validateSocksOverride } from "../src/options.js";

describe("validateSocksOverride", () => {
  it("accepts both empty as 'use the broker's endpoint'", () => {
    assert.deepEqual(validateSocksOverride("", " "), { ok: true, value: null });
  });

  it("accepts IP addresses and localhost with a port", () => {
    assert.deepEqual(validateSocksOverride(" 127.0.0.1 ", "9050"), { ok: true, value: { host: "127.0.0.1", port: 9050 } });
    assert.deepEqual(validateSocksOverride("[::1]", "9150"), { ok: true, value: { host: "::1", port: 9150 } });
    assert.deepEqual(validateSocksOverride("fd00::2", "1"), { ok: true, value: { host: "fd00::2", port: 1 } });
    assert.deepEqual(validateSocksOverride("LocalHost", "65535"), { ok: true, value: { host: "localhost", port: 65535 } });
  });

  it("refuses half-filled, names, bad addresses and bad ports", () => {
    for (const [host, port] of [
      ["127.0.0.1", ""],
      ["", "9050"],
      ["tor.example", "9050"],
      ["256.0.0.1", "9050"],
      ["127.0.0.01", "9050"],
      ["1.2.3", "9050"],
      ["::g", "9050"],
      ["127.0.0.1", "0"],
      ["127.0.0.1", "65536"],
      ["127.0.0.1", "90 50"],
      ["127.0.0.1", "-1"],
      ["127.0.0.1", "9050.0"],
    ]) {
      const result = validateSocksOverride(host, port);
      assert.equal(result.ok, false, `${host}:${port}`);
      assert.ok(result.error.length > 0);
    }
  });
});

describe("normalizeOptions", () => {
  it("gives defaults for nothing stored", () => {
    assert.deepEqual(normalizeOptions(undefined), { ...DEFAULT_OPTIONS });
    assert.deepEqual(normalizeOptions("junk"), { ...DEFAULT_OPTIONS });
  });

  it("keeps valid stored values and ignores wrongly typed ones", () => {
    const options = normalizeOptions({ isolateContainers: false, confirmNewIdentity: "no", closeTabsOnNewIdentity: false, socksOverride: { host: "127.0.0.1", port: 9150 } });
    assert.equal(options.isolateContainers, false);
    assert.equal(options.confirmNewIdentity, true);
    assert.equal(options.closeTabsOnNewIdentity, false);
    assert.deepEqual(options.socksOverride, { host: "127.0.0.1", port: 9150 });
  });

  it("keeps a broken stored override as invalid instead of falling back to the broker's endpoint", () => {
    const options = normalizeOptions({ socksOverride: { host: "evil name", port: 9050 } });
    assert.equal(effectiveSocks(options, { host: "127.0.0.1", port: 9050 }), null);
  });
});

describe("effectiveSocks", () => {
  it("prefers the override, else the broker's endpoint, else nothing", () => {
    const broker = { host: "127.0.0.1", port: 9050 };
    assert.deepEqual(effectiveSocks({ socksOverride: { host: "::1", port: 9150 } }, broker), { host: "::1", port: 9150 });
    assert.deepEqual(effectiveSocks({ socksOverride: null }, broker), broker);
    assert.equal(effectiveSocks({ socksOverride: null }, null), null);
  });
});
