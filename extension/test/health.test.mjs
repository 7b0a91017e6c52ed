import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { CHECK, codeParts, healthChecks, needsAttention, verdict } from "../src/health.js";
import { parseTorStatus } from "../src/protocol.js";

const SOCKS = { host: "127.0.0.1", port: 9050 };
const TOR_PROXY = { proxyType: "manual", socks: "127.0.0.1:9050", socksVersion: 5, proxyDNS: true };

/** A status (Controller#status) where everything is in place; `patch` changes parts. */
function status(patch = {}) {
  return {
    connection: "ready",
    lastErrorCode: null,
    brokerUp: true,
    brokerVersion: "0.1.0",
    socks: SOCKS,
    socksSource: "broker",
    warnings: [],
    tor: parseTorStatus({
      control: "connected",
      managed: false,
      version: "0.4.9.11",
      bootstrap: { progress: 100, summary: "Done" },
      socks_listeners: ["127.0.0.1:9050"],
      socks_vouched: true,
      socks_problem: null,
    }),
    paths: { privateAllowed: true, proxySettings: TOR_PROXY, tablessWorkers: false },
    ...patch,
  };
}

const byId = (checks) => Object.fromEntries(checks.map((c) => [c.id, c]));
const SITE = { host: "www.example.com", site: "example.com" };

describe("healthChecks", () => {
  it("passes every check when everything is in place, in the documented order", () => {
    const checks = healthChecks(status());
    assert.deepEqual(
      checks.map((c) => [c.id, c.state]),
      Object.values(CHECK).map((id) => [id, "ok"]),
    );
    assert.match(byId(checks)[CHECK.daemon].detail, /version 0\.1\.0/);
    assert.match(byId(checks)[CHECK.tor].detail, /tor 0\.4\.9\.11/);
    assert.equal(needsAttention(checks), false);
  });

  it("knows nothing before the first status", () => {
    for (const c of healthChecks(null)) {
      assert.notEqual(c.state, "ok", c.id);
    }
  });

  it("fails the native host when Firefox cannot start it, and leaves the rest unknown", () => {
    const checks = byId(healthChecks(status({ connection: "waiting", brokerUp: false, lastErrorCode: null, tor: null })));
    assert.equal(checks[CHECK.nativeHost].state, "fail");
    assert.match(checks[CHECK.nativeHost].fix, /persite install/);
    assert.equal(checks[CHECK.daemon].state, "unknown");
    assert.equal(checks[CHECK.tor].state, "unknown");
    const retrying = byId(healthChecks(status({ connection: "connecting", lastError: "No such native application persite", brokerUp: false, tor: null })));
    assert.equal(retrying[CHECK.nativeHost].state, "fail", "still failed while it tries again");
    const first = byId(healthChecks(status({ connection: "connecting", lastError: null, brokerUp: false, tor: null })));
    assert.equal(first[CHECK.nativeHost].state, "unknown", "the first attempt is not a failure");
  });

  it("fails the daemon, not the host, when the host answers that the daemon is unreachable", () => {
    const checks = byId(healthChecks(status({ connection: "waiting", brokerUp: false, lastErrorCode: "broker_unavailable", tor: null })));
    assert.equal(checks[CHECK.nativeHost].state, "ok");
    assert.equal(checks[CHECK.daemon].state, "fail");
    assert.match(checks[CHECK.daemon].fix, /persite serve/);
  });

  it("fails tor when its control port does not answer, naming the daemon's reason", () => {
    const tor = parseTorStatus({ control: "connecting", error: "tor exited with status 1" });
    const check = byId(healthChecks(status({ tor })))[CHECK.tor];
    assert.equal(check.state, "fail");
    assert.match(check.detail, /not reachable/);
    assert.match(check.detail, /Tor exited with status 1\./);
    assert.match(check.fix, /systemctl start tor/);
  });

  it("fails tor while it bootstraps, with the percentage", () => {
    const tor = parseTorStatus({ control: "connected", bootstrap: { progress: 45, summary: "Loading relay descriptors" }, socks_vouched: true });
    const check = byId(healthChecks(status({ tor })))[CHECK.tor];
    assert.equal(check.state, "fail");
    assert.match(check.detail, /45% \(Loading relay descriptors\)/);
  });

  it("warns, not fails, when there is no control port to ask", () => {
    const tor = parseTorStatus({ control: "none" });
    const checks = byId(healthChecks(status({ tor })));
    assert.equal(checks[CHECK.tor].state, "warn");
    assert.equal(checks[CHECK.socks].state, "warn");
    assert.match(checks[CHECK.socks].detail, /nothing confirms/);
  });

  it("fails the SOCKS check with the daemon's socks_not_tor / socks_unverified words", () => {
    const problem = "the SOCKS endpoint 127.0.0.1:9050 is not one of tor's SOCKS listeners (127.0.0.1:9150): set [socks]";
    const tor = parseTorStatus({ control: "connected", bootstrap: { progress: 100 }, socks_vouched: false, socks_problem: problem });
    const check = byId(healthChecks(status({ tor })))[CHECK.socks];
    assert.equal(check.state, "fail");
    assert.equal(check.detail, `Web requests are blocked: The SOCKS endpoint 127.0.0.1:9050 is not one of tor's SOCKS listeners (127.0.0.1:9150): set [socks].`);
    assert.match(check.fix, /persite doctor/);
  });

  it("does not vouch for a SOCKS endpoint typed in the options", () => {
    const check = byId(healthChecks(status({ socksSource: "options" })))[CHECK.socks];
    assert.equal(check.state, "warn");
    assert.match(check.detail, /set in Persite's options/);
  });

  it("fails private windows when not allowed, with the about:addons fix", () => {
    const check = byId(healthChecks(status({ paths: { privateAllowed: false, proxySettings: TOR_PROXY } })))[CHECK.privateWindows];
    assert.equal(check.state, "fail");
    assert.match(check.fix, /Run in Private Windows/);
  });

  it("fails the default proxy when Firefox would go direct or elsewhere", () => {
    const direct = byId(healthChecks(status({ paths: { privateAllowed: true, proxySettings: { proxyType: "none" } } })))[CHECK.defaultProxy];
    assert.equal(direct.state, "fail");
    assert.match(direct.detail, /directly to websites/);
    assert.match(direct.fix, /SOCKS v5 127\.0\.0\.1:9050/);
    const other = byId(healthChecks(status({ paths: { privateAllowed: true, proxySettings: { ...TOR_PROXY, socks: "127.0.0.1:1080" } } })))[CHECK.defaultProxy];
    assert.match(other.detail, /not tor's SOCKS port/);
  });

  it("warns once sites ran workers without a tab", () => {
    const check = byId(healthChecks(status({ paths: { privateAllowed: true, proxySettings: TOR_PROXY, tablessWorkers: true } })))[CHECK.serviceWorkers];
    assert.equal(check.state, "warn");
    assert.match(check.fix, /dom\.serviceWorkers\.enabled/);
  });
});

describe("verdict", () => {
  it("says Protected only when every check passes and the site has its credentials", () => {
    const said = verdict(healthChecks(status()), SITE);
    assert.equal(said.state, "protected");
    assert.match(said.headline, /^Protected/);
  });

  it("is not Protected for a site without credentials yet", () => {
    const said = verdict(healthChecks(status()), { host: "example.com", site: null });
    assert.equal(said.state, "at-risk");
    assert.match(said.fix, /Reload/);
  });

  it("is idle on a page with no website", () => {
    assert.equal(verdict(healthChecks(status()), { host: null, site: null }).state, "idle");
  });

  it("is broken, with the first failing check's words, whatever the site", () => {
    for (const [patch, problem] of [
      [{ connection: "waiting", brokerUp: false, tor: null }, CHECK.nativeHost],
      [{ connection: "waiting", brokerUp: false, lastErrorCode: "broker_unavailable", tor: null }, CHECK.daemon],
      [{ tor: parseTorStatus({ control: "connecting" }) }, CHECK.tor],
      [{ tor: parseTorStatus({ control: "connected", bootstrap: { progress: 100 }, socks_problem: "not tor" }) }, CHECK.socks],
    ]) {
      const said = verdict(healthChecks(status(patch)), SITE);
      assert.equal(said.state, "broken", problem);
      assert.equal(said.problem, problem);
      assert.match(said.headline, /^Not protected/);
      assert.notEqual(said.fix, "", problem);
    }
  });

  it("is at risk with a gap or an unverified tor, never Protected", () => {
    for (const [patch, problem] of [
      [{ paths: { privateAllowed: false, proxySettings: TOR_PROXY } }, CHECK.privateWindows],
      [{ paths: { privateAllowed: true, proxySettings: { proxyType: "none" } } }, CHECK.defaultProxy],
      [{ tor: parseTorStatus({ control: "none" }) }, CHECK.tor],
    ]) {
      const said = verdict(healthChecks(status(patch)), SITE);
      assert.equal(said.state, "at-risk", problem);
      assert.equal(said.problem, problem);
    }
  });

  it("is unknown while the host is still starting", () => {
    assert.equal(verdict(healthChecks(status({ connection: "connecting", brokerUp: false, tor: null })), SITE).state, "unknown");
  });
});

describe("codeParts", () => {
  it("marks backquoted parts as code", () => {
    assert.deepEqual(codeParts("Run `persite serve` now"), [
      { text: "Run ", code: false },
      { text: "persite serve", code: true },
      { text: " now", code: false },
    ]);
    assert.deepEqual(codeParts("plain"), [{ text: "plain", code: false }]);
  });
});
