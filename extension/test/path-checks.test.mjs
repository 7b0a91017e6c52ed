import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { defaultProxyKind, PATH, unprotectedPaths } from "../src/path-checks.js";

const tor = { host: "127.0.0.1", port: 9050 };
// `browser.proxy.settings.get()` values as Firefox reports them.
const torProxy = { proxyType: "manual", socks: "127.0.0.1:9050", socksVersion: 5, proxyDNS: true, http: "", ssl: "" };

describe("defaultProxyKind", () => {
  it("recognises tor's SOCKS port with remote DNS", () => {
    assert.equal(defaultProxyKind(torProxy, tor), "tor");
    assert.equal(defaultProxyKind({ ...torProxy, socks: "localhost:9050" }, tor), "tor");
  });

  it("calls no proxy, the system's and automatic configuration direct", () => {
    for (const proxyType of ["none", "system", "autoDetect", "autoConfig"]) {
      assert.equal(defaultProxyKind({ ...torProxy, proxyType }, tor), "direct", proxyType);
    }
  });

  it("calls anything short of tor with remote DNS another proxy", () => {
    assert.equal(defaultProxyKind({ ...torProxy, socks: "127.0.0.1:9150" }, tor), "other");
    assert.equal(defaultProxyKind({ ...torProxy, proxyDNS: false }, tor), "other", "local DNS");
    assert.equal(defaultProxyKind({ ...torProxy, socksVersion: 4 }, tor), "other");
    assert.equal(defaultProxyKind({ ...torProxy, http: "proxy.example:3128" }, tor), "other", "an HTTP proxy takes http");
    assert.equal(defaultProxyKind({ ...torProxy, socks: "garbage" }, tor), "other");
  });

  it("does not guess without settings", () => {
    assert.equal(defaultProxyKind(null, tor), "unknown");
    assert.equal(defaultProxyKind({}, tor), "unknown");
  });
});

describe("unprotectedPaths", () => {
  it("finds nothing when every path is covered", () => {
    assert.deepEqual(unprotectedPaths({ privateAllowed: true, proxySettings: torProxy, socks: tor, tablessWorkers: false }), []);
  });

  it("says nothing about what it does not know", () => {
    assert.deepEqual(unprotectedPaths({}), []);
    assert.deepEqual(unprotectedPaths({ proxySettings: { proxyType: "none" } }), [], "no endpoint known yet");
  });

  it("reports each bypass with what to do", () => {
    const found = unprotectedPaths({ privateAllowed: false, proxySettings: { proxyType: "none" }, socks: tor, tablessWorkers: true });
    assert.deepEqual(found.map((f) => f.code), [PATH.privateWindows, PATH.defaultProxy, PATH.serviceWorkers]);
    assert.match(found[0].text, /Run in Private Windows/);
    assert.match(found[1].text, /directly to websites/);
    assert.match(found[1].text, /127\.0\.0\.1:9050/);
    assert.match(found[2].text, /dom\.serviceWorkers\.enabled/);
  });

  it("tells another proxy from none", () => {
    const [finding] = unprotectedPaths({ proxySettings: { ...torProxy, socks: "127.0.0.1:1" }, socks: tor });
    assert.equal(finding.code, PATH.defaultProxy);
    assert.match(finding.text, /not Tor's SOCKS port/);
  });
});
