import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { CredentialOwners } from "../src/credential-owners.js";

function pair(site, username, { container = "firefox-default", password = "pw" } = {}) {
  return { site, container, username, password };
}

describe("CredentialOwners", () => {
  it("refuses a pair already held by another site, container or tab", () => {
    const owners = new CredentialOwners(16);
    assert.equal(owners.claim(pair("a.test", "u"), null), true);
    assert.equal(owners.claim(pair("b.test", "u"), null), false, "another site");
    assert.equal(owners.claim(pair("a.test", "u", { container: "firefox-container-1" }), null), false, "another container");
    assert.equal(owners.claim(pair("a.test", "u"), 3), false, "a tab of its own");
    assert.equal(owners.size, 1, "a refusal records nothing");
    assert.equal(owners.claim(pair("b.test", "u"), null), false, "still refused");

    assert.equal(owners.claim(pair("a.test", "t"), 3), true);
    assert.equal(owners.claim(pair("a.test", "t"), 4), false, "another tab");
    assert.equal(owners.claim(pair("a.test", "t"), null), false, "shared");
  });

  it("accepts the same owner again", () => {
    const owners = new CredentialOwners(16);
    assert.equal(owners.claim(pair("a.test", "u"), null), true);
    assert.equal(owners.claim(pair("a.test", "u"), null), true);
    assert.equal(owners.claim(pair("a.test", "t"), 3), true);
    assert.equal(owners.claim(pair("a.test", "t"), 3), true);
    assert.equal(owners.size, 2);
  });

  it("tells pairs apart only by username and password together", () => {
    const owners = new CredentialOwners(16);
    assert.equal(owners.claim(pair("a.test", "ab", { password: "c" }), null), true);
    assert.equal(owners.claim(pair("b.test", "a", { password: "bc" }), null), true, "same concatenation, other pair");
    assert.equal(owners.claim(pair("c.test", "ab", { password: "d" }), null), true, "same username, other password");
    assert.equal(owners.claim(pair("d.test", "x", { password: "c" }), null), true, "same password, other username");
  });

  it("forgets everything on clear", () => {
    const owners = new CredentialOwners(16);
    owners.claim(pair("a.test", "u"), null);
    owners.clear();
    assert.equal(owners.size, 0);
    assert.equal(owners.claim(pair("b.test", "u"), null), true);
  });

  it("remembers at most maxPairs, forgetting the claim made or renewed longest ago", () => {
    const owners = new CredentialOwners(3);
    for (const name of ["1", "2", "3"]) {
      assert.equal(owners.claim(pair(`s${name}.test`, name), null), true);
    }
    assert.equal(owners.claim(pair("s1.test", "1"), null), true, "renewed: now the newest");
    assert.equal(owners.claim(pair("s4.test", "4"), null), true);
    assert.equal(owners.size, 3);
    assert.equal(owners.claim(pair("other.test", "2"), null), true, "the oldest claim was forgotten");
    assert.equal(owners.claim(pair("other.test", "1"), null), false, "the renewed one was kept");
    assert.equal(owners.claim(pair("other.test", "4"), null), false);
    assert.equal(owners.size, 3);
  });
});
