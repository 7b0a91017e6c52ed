import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { BLACK_HOLE_HOST, BLACK_HOLE_PORT, blackHole, decide, socksAnswer } from "../src/proxy-decision.js";

const endpoint = { host: "127.0.0.1", port: 9050 };
const credentials = { site: "a.test", container: "firefox-default", username: "u1", password: "p1", expiresAt: null };

function assertBlackHole(answer) {
  assert.deepEqual(answer, [
    { type: "socks", host: BLACK_HOLE_HOST, port: BLACK_HOLE_PORT, proxyDNS: true, failoverTimeout: 1 },
    null,
  ]);
}

describe("the black hole", () => {
  it("is a Unix socket path under /proc, where no one can listen", () => {
    // Firefox takes a `file:` SOCKS host as a Unix domain socket; no process, root included,
    // can create one under /proc. A TCP port could be bound by another local user.
    assert.match(BLACK_HOLE_HOST, /^file:\/\/\/proc\/[^/]+$/);
    assert.ok(!BLACK_HOLE_HOST.startsWith("file:///proc/self"));
    assert.ok(Number.isInteger(BLACK_HOLE_PORT) && BLACK_HOLE_PORT >= 1 && BLACK_HOLE_PORT <= 65535);
  });
});

describe("socksAnswer", () => {
  it("returns the SOCKS proxy with credentials and remote DNS, ending the chain with null", () => {
    assert.deepEqual(socksAnswer(endpoint, credentials), [
      { type: "socks", host: "127.0.0.1", port: 9050, username: "u1", password: "p1", proxyDNS: true },
      null,
    ]);
  });

  it("throws for a missing or unusable endpoint or credentials", () => {
    for (const [e, c] of [
      [null, credentials],
      [undefined, credentials],
      [{ host: "", port: 9050 }, credentials],
      [{ host: "127.0.0.1", port: 0 }, credentials],
      [{ host: "127.0.0.1", port: 9050.5 }, credentials],
      [endpoint, null],
      [endpoint, { username: "", password: "p" }],
      [endpoint, { username: "u", password: "" }],
      [endpoint, { username: "u" }],
    ]) {
      assert.throws(() => socksAnswer(e, c), TypeError);
    }
  });
});

describe("decide", () => {
  it("answers the credentials when everything is usable", () => {
    assert.equal(decide(endpoint, credentials)[0].username, "u1");
  });

  it("answers the black hole instead of throwing", () => {
    assertBlackHole(decide(null, credentials));
    assertBlackHole(decide(endpoint, undefined));
    const hostile = {
      get username() {
        throw new Error("getter throws");
      },
    };
    assertBlackHole(decide(endpoint, hostile));
  });

  it("never answers direct, null or undefined", () => {
    for (const answer of [decide(null, null), blackHole(), decide(endpoint, credentials)]) {
      assert.ok(Array.isArray(answer));
      assert.equal(answer.length, 2);
      assert.equal(answer[1], null);
      assert.equal(answer[0].type, "socks");
      assert.equal(answer[0].proxyDNS, true);
    }
  });

  it("returns a fresh black hole each time (Firefox may keep what it gets)", () => {
    const first = blackHole();
    first[0].port = 1;
    assertBlackHole(blackHole());
  });
});
