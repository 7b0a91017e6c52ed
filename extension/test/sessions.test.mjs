import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { newSecret, PRIVATE_CONTAINER, Sessions } from "../src/sessions.js";

/** A random source that fills every byte with `value`. */
const constant = (value) => (bytes) => bytes.fill(value);

describe("newSecret", () => {
  it("is 22 base64url characters of 16 random bytes", () => {
    assert.equal(newSecret(constant(0xff)), "_____________________w");
    assert.equal(newSecret(constant(0xfb)), "-_v7-_v7-_v7-_v7-_v7-w");
    for (let i = 0; i < 50; i += 1) {
      assert.match(newSecret(), /^[A-Za-z0-9_-]{22}$/);
    }
    assert.notEqual(newSecret(), newSecret());
  });
});

describe("Sessions", () => {
  it("keeps one browser secret, and a separate private secret until the private session ends", () => {
    const sessions = new Sessions();
    const browser = sessions.secretFor("firefox-default");
    assert.equal(sessions.secretFor("firefox-container-3"), browser, "containers share the browser session");
    assert.equal(sessions.private, null, "no private secret before a private request");
    const first = sessions.secretFor(PRIVATE_CONTAINER);
    assert.notEqual(first, browser);
    assert.equal(sessions.secretFor(PRIVATE_CONTAINER), first, "stable within the private session");
    assert.equal(sessions.endPrivate(), true);
    assert.equal(sessions.endPrivate(), false, "nothing left to end");
    const second = sessions.secretFor(PRIVATE_CONTAINER);
    assert.notEqual(second, first, "a new private session");
    assert.equal(sessions.secretFor("firefox-default"), browser, "the browser session goes on");
  });

  it("restores well-formed secrets only", () => {
    const sessions = new Sessions();
    const good = newSecret();
    sessions.restore({ browser: good, private: "not a secret" });
    assert.deepEqual(sessions.snapshot(), { browser: good, private: null });
    for (const bad of [undefined, null, 42, {}, { browser: "x".repeat(23) }, { browser: `${good.slice(1)}=` }]) {
      sessions.restore(bad);
      assert.deepEqual(sessions.snapshot(), { browser: null, private: null });
    }
  });
});
