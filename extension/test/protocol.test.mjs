import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  BrokerError,
  CATCH_ALL_SITE,
  ProtocolError,
  checkReplyFor,
  circuitRequest,
  credentialsRequest,
  helloRequest,
  newCircuitRequest,
  newIdentityRequest,
  parseCredentialsResult,
  parseHelloResult,
  parseMessage,
  parseCircuitResult,
  parseNewCircuitResult,
  parseNewIdentityResult,
  parsePush,
  parseStatusResult,
  parseTorStatus,
  siteMatchesHost,
  statusRequest,
  sessionEndedRequest,
  tabClosedRequest,
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
    assert.deepEqual(helloRequest(1, { tabsReset: false }), { id: 1, type: "hello", protocol: 1 });
    assert.deepEqual(helloRequest(2, { tabsReset: true }), { id: 2, type: "hello", protocol: 1, tabs_reset: true });
    assert.deepEqual(tabClosedRequest(3, 12), { id: 3, type: "tab_closed", tab: 12 });
    for (const notATab of [-1, 1.5, "3", null]) {
      assert.throws(() => tabClosedRequest(4, notATab), TypeError);
    }
    const session = "AbCdEfGhIjKlMnOpQrSt_-";
    assert.deepEqual(tabClosedRequest(3, 12, session), { id: 3, type: "tab_closed", tab: 12, session });
    assert.deepEqual(credentialsRequest(5, "https://a.test/", "firefox-private", 4, session), {
      id: 5,
      type: "credentials",
      url: "https://a.test/",
      container: "firefox-private",
      tab: 4,
      session,
    });
    assert.deepEqual(sessionEndedRequest(6, session), { id: 6, type: "session_ended", session });
    assert.throws(() => sessionEndedRequest(6, null), TypeError);
    for (const bad of ["short", `${session}.x`, "a b".repeat(8), 42]) {
      assert.throws(() => sessionEndedRequest(6, bad), TypeError);
      assert.throws(() => credentialsRequest(5, "https://a.test/", "firefox-default", 4, bad), TypeError);
      assert.throws(() => tabClosedRequest(3, 12, bad), TypeError);
    }
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
    assert.deepEqual(circuitRequest(12, { url: "https://a.test/" }, "firefox-container-2"), {
      id: 12,
      type: "circuit",
      url: "https://a.test/",
      container: "firefox-container-2",
    });
    assert.deepEqual(circuitRequest(13, { site: "a.test" }, "firefox-default"), { id: 13, type: "circuit", site: "a.test", container: "firefox-default" });
    assert.throws(() => circuitRequest(14, {}, "firefox-default"), TypeError);
    assert.deepEqual(circuitRequest(15, { url: "https://a.test/" }, "firefox-default", 7), { id: 15, type: "circuit", url: "https://a.test/", container: "firefox-default", tab: 7 });
    assert.equal("tab" in circuitRequest(16, { url: "https://a.test/" }, "firefox-default", -1), false, "no tab id, no tab field");
    assert.equal("tab" in circuitRequest(17, { url: "https://a.test/" }, "firefox-default", null), false);
  });

  it("sends the tab of a credentials request only when it is a tab id", () => {
    assert.deepEqual(credentialsRequest(7, "https://a.test/", "firefox-default", 12), {
      id: 7,
      type: "credentials",
      url: "https://a.test/",
      container: "firefox-default",
      tab: 12,
    });
    assert.equal(credentialsRequest(7, "https://a.test/", "firefox-default", 0).tab, 0);
    for (const none of [-1, null, undefined, 1.5, "3"]) {
      assert.equal("tab" in credentialsRequest(7, "https://a.test/", "firefox-default", none), false, String(none));
    }
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

  it("takes a message with both an id and a type for neither a reply nor a push", () => {
    for (const forged of [
      { id: 7, type: "invalidate", all: true, reason: "rotation" },
      { id: 7, type: "credentials", result: { site: "a.test" } },
      { id: null, type: "broker_disconnected" },
      { id: 7, type: "x", error: { code: "internal", message: "" } },
    ]) {
      assert.deepEqual(
        parseMessage(forged),
        { kind: "invalid", reason: "message carries both an id and a type" },
        JSON.stringify(forged),
      );
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

  it("parses circuit and tor_status pushes and refuses malformed ones", () => {
    const push = parsePush({ type: "circuit", ...circuitResult });
    assert.equal(push.type, "circuit");
    assert.equal(push.circuit.site, "example.com");
    assert.equal(push.circuit.circuits[0].hops.length, 3);
    assert.deepEqual(parsePush({ type: "tor_status", ...torStatus }).tor.bootstrap, { progress: 45, summary: "Loading relay descriptors" });
    assert.throws(() => parsePush({ type: "circuit", site: "a.test" }), ProtocolError);
    assert.throws(() => parsePush({ type: "tor_status", control: "maybe" }), ProtocolError);
    assert.equal(parseMessage({ type: "circuit" }).kind, "invalid");
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
      perTab: false,
    });
    assert.equal(parseCredentialsResult({ ...goodCredentials, expires_at: 1700000600000 }).expiresAt, 1700000600000);
  });

  it("reads per_tab, absent meaning shared by all tabs", () => {
    assert.equal(parseCredentialsResult({ ...goodCredentials, per_tab: true }).perTab, true);
    assert.equal(parseCredentialsResult({ ...goodCredentials, per_tab: false }).perTab, false);
    assert.equal(parseCredentialsResult({ ...goodCredentials, per_tab: null }).perTab, false);
    assert.throws(() => parseCredentialsResult({ ...goodCredentials, per_tab: "yes" }), ProtocolError);
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

const hop = (role, n, extra = {}) => ({
  role,
  fingerprint: String(n).repeat(40),
  nickname: `relay${n}`,
  ip: `203.0.113.${n}`,
  ipv6: null,
  country: "de",
  bridge_type: null,
  ...extra,
});

const circuitResult = {
  site: "example.com",
  container: "firefox-default",
  available: true,
  reason: null,
  onion: false,
  circuits: [{ id: "42", conflux_id: null, hops: [hop("guard", 1), hop("middle", 2, { country: null }), hop("exit", 3, { country: "NL" })] }],
  bytes: { read: 123456, written: 7890 },
};

const torStatus = {
  control: "connected",
  managed: false,
  version: "0.4.9.11",
  bootstrap: { progress: 45, summary: "Loading relay descriptors" },
  socks_listeners: ["127.0.0.1:9050"],
};

describe("parseCircuitResult", () => {
  it("accepts the protocol's example and normalises codes", () => {
    const parsed = parseCircuitResult(circuitResult);
    assert.equal(parsed.available, true);
    assert.equal(parsed.reason, null);
    assert.equal(parsed.onion, false);
    assert.deepEqual(parsed.bytes, { read: 123456, written: 7890 });
    assert.deepEqual(parsed.circuits[0].hops[0], {
      role: "guard",
      fingerprint: "1".repeat(40),
      nickname: "relay1",
      ip: "203.0.113.1",
      ipv6: null,
      country: "de",
      bridgeType: null,
    });
    assert.equal(parsed.circuits[0].hops[2].country, "nl");
    assert.equal(parsed.tab, null);
    assert.equal(parseCircuitResult({ ...circuitResult, tab: 4 }).tab, 4);
    assert.equal(parseCircuitResult({ ...circuitResult, tab: "4" }).tab, null);
    assert.equal(parseCircuitResult({ ...circuitResult, circuits: [{ id: 7, hops: [hop("guard", "a")] }] }).circuits[0].hops[0].fingerprint, "A".repeat(40));
  });

  it("keeps an unavailable result's reason and drops its circuits", () => {
    const parsed = parseCircuitResult({ site: "a.test", container: "firefox-default", available: false, reason: "no_control_port", circuits: [] });
    assert.equal(parsed.available, false);
    assert.equal(parsed.reason, "no_control_port");
    assert.deepEqual(parsed.circuits, []);
    assert.equal(parsed.bytes, null);
    assert.equal(parseCircuitResult({ site: "a.test", container: "firefox-default", available: false }).reason, "unknown");
  });

  it("gives a bridge hop a bridge type, empty for a vanilla bridge", () => {
    const bridge = parseCircuitResult({ ...circuitResult, circuits: [{ id: "1", hops: [hop("bridge", 4, { country: null })] }] });
    assert.equal(bridge.circuits[0].hops[0].bridgeType, "");
    const obfs4 = parseCircuitResult({ ...circuitResult, circuits: [{ id: "1", hops: [hop("bridge", 4, { country: null, bridge_type: "obfs4" })] }] });
    assert.equal(obfs4.circuits[0].hops[0].bridgeType, "obfs4");
  });

  it("refuses malformed circuit data", () => {
    const withHop = (h) => ({ ...circuitResult, circuits: [{ id: "1", hops: [h] }] });
    for (const bad of [
      null,
      { ...circuitResult, site: "" },
      { ...circuitResult, container: 3 },
      { ...circuitResult, available: "yes" },
      { ...circuitResult, circuits: {} },
      { ...circuitResult, circuits: [{ id: "1" }] },
      { ...circuitResult, circuits: [{ id: null, hops: [] }] },
      { ...circuitResult, bytes: { read: -1, written: 0 } },
      withHop({ ...hop("guard", 1), role: "entry" }),
      withHop({ ...hop("guard", 1), fingerprint: "ABC" }),
      withHop({ ...hop("guard", 1), fingerprint: "G".repeat(40) }),
      withHop({ ...hop("guard", 1), country: "deu" }),
      withHop({ ...hop("guard", 1), ip: 5 }),
      withHop("guard"),
    ]) {
      assert.throws(() => parseCircuitResult(bad), ProtocolError, JSON.stringify(bad)?.slice(0, 80));
    }
  });
});

describe("parseTorStatus and parseStatusResult", () => {
  it("accepts the protocol's example", () => {
    assert.deepEqual(parseTorStatus(torStatus), {
      control: "connected",
      managed: false,
      version: "0.4.9.11",
      bootstrap: { progress: 45, summary: "Loading relay descriptors" },
      socksListeners: ["127.0.0.1:9050"],
      socksProblem: null,
      socksVouched: false,
      error: null,
    });
  });

  it("keeps unknown fields null", () => {
    assert.deepEqual(parseTorStatus({ control: "none", managed: null, version: null, bootstrap: null, socks_listeners: null }), {
      control: "none",
      managed: null,
      version: null,
      bootstrap: null,
      socksListeners: null,
      socksProblem: null,
      socksVouched: false,
      error: null,
    });
    assert.equal(parseTorStatus({ control: "connected", socks_problem: "not tor" }).socksProblem, "not tor");
    assert.equal(parseTorStatus({ control: "connected", socks_vouched: true }).socksVouched, true);
    assert.equal(parseTorStatus({ control: "connecting", error: "tor exited" }).error, "tor exited");
    assert.throws(() => parseTorStatus({ control: "connected", error: 1 }), ProtocolError);
    assert.throws(() => parseTorStatus({ control: "connected", socks_problem: 1 }), ProtocolError);
  });

  it("refuses malformed tor status", () => {
    for (const bad of [null, {}, { control: "up" }, { ...torStatus, bootstrap: { progress: 101 } }, { ...torStatus, bootstrap: 50 }, { ...torStatus, managed: "no" }, { ...torStatus, socks_listeners: [1] }]) {
      assert.throws(() => parseTorStatus(bad), ProtocolError, JSON.stringify(bad));
    }
  });

  it("reads the tor status of a status result, null from an older broker", () => {
    assert.equal(parseStatusResult({ broker_version: "0.1.0", tor: torStatus }).tor.bootstrap.progress, 45);
    assert.equal(parseStatusResult({ broker_version: "0.1.0" }).tor, null);
    assert.throws(() => parseStatusResult(null), ProtocolError);
  });
});

describe("parseNewIdentityResult", () => {
  it("reads the NEWNYM outcome", () => {
    assert.deepEqual(parseNewIdentityResult({ epoch: 3, newnym: "sent" }), { epoch: 3, newnym: "sent", newnymDelayS: null });
    assert.deepEqual(parseNewIdentityResult({ epoch: 3, newnym: "delayed", newnym_delay_s: 7 }), { epoch: 3, newnym: "delayed", newnymDelayS: 7 });
    assert.deepEqual(parseNewIdentityResult({ epoch: 3, newnym: "unavailable" }), { epoch: 3, newnym: "unavailable", newnymDelayS: null });
    assert.deepEqual(parseNewIdentityResult({ epoch: 3 }), { epoch: 3, newnym: null, newnymDelayS: null });
  });

  it("refuses a result without epoch, an unknown outcome, or a delay without seconds", () => {
    for (const bad of [null, {}, { epoch: "3" }, { epoch: 3, newnym: "maybe" }, { epoch: 3, newnym: "delayed" }, { epoch: 3, newnym: "delayed", newnym_delay_s: -1 }]) {
      assert.throws(() => parseNewIdentityResult(bad), ProtocolError, JSON.stringify(bad));
    }
  });
});

describe("siteMatchesHost", () => {
  /** The host as first-party.js gets it: the URL API's `hostname`. */
  const hostOf = (url) => new URL(url).hostname;

  it("accepts the host itself and its parent domains at a label boundary", () => {
    assert.equal(siteMatchesHost("example.com", "example.com"), true);
    assert.equal(siteMatchesHost("example.com", "www.example.com"), true);
    assert.equal(siteMatchesHost("example.co.uk", "a.b.example.co.uk"), true);
  });

  it("refuses another site", () => {
    assert.equal(siteMatchesHost("l1.test", "l2.test"), false);
    assert.equal(siteMatchesHost("www.example.com", "example.com"), false, "a subdomain is not the site of its parent");
    assert.equal(siteMatchesHost("other.example.com", "www.example.com"), false);
  });

  it("refuses a suffix that is not at a label boundary", () => {
    assert.equal(siteMatchesHost("example.com", "evilexample.com"), false);
    assert.equal(siteMatchesHost("example.com", "www.evilexample.com"), false);
    assert.equal(siteMatchesHost("ample.com", "example.com"), false);
    assert.equal(siteMatchesHost(".example.com", "www.example.com"), false, "not a site");
  });

  it("compares internationalised names in punycode, as both sides write them", () => {
    const host = hostOf("https://www.bücher.de/");
    assert.equal(host, "www.xn--bcher-kva.de");
    assert.equal(siteMatchesHost("xn--bcher-kva.de", host), true);
    assert.equal(siteMatchesHost("bücher.de", host), false, "the broker never writes Unicode");
    assert.equal(siteMatchesHost("xn--bcher-kva.de", hostOf("https://xn--fcher-kva.de/")), false);
  });

  it("matches IP literals exactly, IPv6 bracketed on both sides", () => {
    const v6 = hostOf("http://[2001:DB8::1]/");
    assert.equal(v6, "[2001:db8::1]");
    assert.equal(siteMatchesHost("[2001:db8::1]", v6), true);
    assert.equal(siteMatchesHost("2001:db8::1", v6), false);
    assert.equal(siteMatchesHost("[2001:db8::2]", v6), false);
    const v4 = hostOf("http://0x7f.1/");
    assert.equal(v4, "127.0.0.1");
    assert.equal(siteMatchesHost("127.0.0.1", v4), true);
    assert.equal(siteMatchesHost("0.0.1", v4), false, "no parent domains for an address");
    assert.equal(siteMatchesHost("1", v4), false);
  });

  it("ignores the host's trailing dot, never the site's", () => {
    const host = hostOf("https://www.example.com./");
    assert.equal(host, "www.example.com.");
    assert.equal(siteMatchesHost("example.com", host), true);
    assert.equal(siteMatchesHost("example.com", "example.com."), true);
    assert.equal(siteMatchesHost("example.com.", "www.example.com"), false);
  });

  it("gives the catch-all exactly --unknown--, and no host --unknown--", () => {
    assert.equal(CATCH_ALL_SITE, "--unknown--");
    assert.equal(siteMatchesHost("--unknown--", null), true);
    assert.equal(siteMatchesHost("example.com", null), false);
    assert.equal(siteMatchesHost("--unknown--", "example.com"), false);
    assert.equal(siteMatchesHost("--unknown--", "--unknown--"), false, "not even a host spelled so");
    assert.equal(siteMatchesHost("", "example.com"), false);
    assert.equal(siteMatchesHost(undefined, "example.com"), false);
  });

  it("refuses a site in another case (the broker writes sites lowercase)", () => {
    assert.equal(siteMatchesHost("Example.com", "www.example.com"), false);
  });
});

describe("checkReplyFor", () => {
  const credentials = (site, container = "firefox-default", perTab = false) =>
    parseCredentialsResult({ site, container, username: "u", password: "p", expires_at: null, per_tab: perTab });
  const firstParty = { host: "www.l2.test", container: "firefox-default" };

  it("returns a reply for the first party", () => {
    const reply = credentials("l2.test");
    assert.equal(checkReplyFor(reply, firstParty, "credentials"), reply);
  });

  it("refuses another site's reply without naming either site", () => {
    assert.throws(
      () => checkReplyFor(credentials("l1.test"), firstParty, "credentials"),
      (e) => e instanceof ProtocolError && /another site/.test(e.message) && !/l[12]\.test/.test(e.message),
    );
  });

  it("refuses another container's reply", () => {
    assert.throws(() => checkReplyFor(credentials("l2.test", "firefox-private"), firstParty, "credentials"), /another container/);
  });

  it("checks per-tab results the same way", () => {
    assert.equal(checkReplyFor(credentials("l2.test", "firefox-default", true), firstParty, "credentials").perTab, true);
    assert.throws(() => checkReplyFor(credentials("l1.test", "firefox-default", true), firstParty, "credentials"), ProtocolError);
  });

  it("checks the catch-all both ways", () => {
    const catchAll = { host: null, container: "firefox-default" };
    assert.equal(checkReplyFor(credentials("--unknown--"), catchAll, "credentials").site, "--unknown--");
    assert.throws(() => checkReplyFor(credentials("l2.test"), catchAll, "credentials"), ProtocolError);
    assert.throws(() => checkReplyFor(credentials("--unknown--"), firstParty, "credentials"), ProtocolError);
  });

  it("checks circuit results", () => {
    const circuit = (site) => parseCircuitResult({ site, container: "firefox-default", available: false, reason: "not_bootstrapped" });
    assert.equal(checkReplyFor(circuit("l2.test"), firstParty, "circuit").site, "l2.test");
    assert.throws(() => checkReplyFor(circuit("l1.test"), firstParty, "circuit"), /circuit request for another site/);
  });
});
