import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { BlockedNavigations, MAX_TOKENS, blockedPagePath, isBlackHole, tokenOf } from "../src/blocked.js";
import { blackHole, socksAnswer } from "../src/proxy-decision.js";

const counter = () => {
  let n = 0;
  return (bytes) => {
    n += 1;
    bytes.fill(n % 256);
    return bytes;
  };
};

const nav = (requestId, patch = {}) => ({ requestId, type: "main_frame", tabId: 4, url: "http://www.example.com/a/path?q=1", ...patch });

describe("BlockedNavigations", () => {
  it("turns a black-holed navigation that failed into a token for the blocked page", () => {
    const blocked = new BlockedNavigations(counter());
    blocked.noteAnswer(nav("1"), blackHole());
    const hit = blocked.failed({ requestId: "1", tabId: 4, error: "NS_ERROR_PROXY_CONNECTION_REFUSED" });
    assert.equal(hit.tabId, 4);
    assert.equal(tokenOf(`?id=${hit.token}`), hit.token);
    assert.equal(blockedPagePath(hit.token), `blocked/blocked.html?id=${hit.token}`);
    assert.doesNotMatch(blockedPagePath(hit.token), /example/, "the page's address does not carry the URL");
    assert.deepEqual(blocked.info(hit.token), { host: "www.example.com", tabId: 4 }, "the page gets the host, not the URL");
    assert.deepEqual(blocked.retry(hit.token), { tabId: 4, url: "http://www.example.com/a/path?q=1" });
    assert.equal(blocked.failed({ requestId: "1", tabId: 4, error: "x" }), null, "reported once");
  });

  it("ignores requests that were proxied, subresources, tabless requests and aborted loads", () => {
    const blocked = new BlockedNavigations(counter());
    blocked.noteAnswer(nav("1"), socksAnswer({ host: "127.0.0.1", port: 9050 }, { username: "u", password: "p" }));
    blocked.noteAnswer(nav("2", { type: "image" }), blackHole());
    blocked.noteAnswer(nav("3", { tabId: -1 }), blackHole());
    blocked.noteAnswer(nav("4"), blackHole());
    for (const requestId of ["1", "2", "3"]) {
      assert.equal(blocked.failed({ requestId, tabId: 4, error: "NS_ERROR_PROXY_CONNECTION_REFUSED" }), null, requestId);
    }
    assert.equal(blocked.failed({ requestId: "4", tabId: 4, error: "NS_BINDING_ABORTED" }), null);
  });

  it("forgets completed requests, old tokens and everything on clear", () => {
    const blocked = new BlockedNavigations(counter());
    blocked.noteAnswer(nav("1"), blackHole());
    blocked.completed("1");
    assert.equal(blocked.failed({ requestId: "1", tabId: 4, error: "e" }), null);
    const tokens = [];
    for (let i = 0; i <= MAX_TOKENS; i += 1) {
      blocked.noteAnswer(nav(`r${i}`), blackHole());
      tokens.push(blocked.failed({ requestId: `r${i}`, tabId: 4, error: "e" }).token);
    }
    assert.equal(blocked.info(tokens[0]), null, "the oldest token went first");
    assert.notEqual(blocked.info(tokens.at(-1)), null);
    blocked.clear();
    assert.equal(blocked.retry(tokens.at(-1)), null);
  });

  it("recognises only the black hole", () => {
    assert.equal(isBlackHole(blackHole()), true);
    assert.equal(isBlackHole([{ type: "socks", host: "127.0.0.1", port: 9 }, null]), false);
    assert.equal(isBlackHole(null), false);
    assert.equal(tokenOf("?id=../../etc"), null);
  });
});
