import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { containerLabel, parsePopupQuery } from "../src/popup-query.js";

describe("parsePopupQuery", () => {
  it("uses the active tab without ?tab=", () => {
    assert.deepEqual(parsePopupQuery(""), { tabId: null, confirmNewIdentity: false, error: null });
  });

  it("reads ?tab=<id>", () => {
    assert.deepEqual(parsePopupQuery("?tab=42"), { tabId: 42, confirmNewIdentity: false, error: null });
    assert.equal(parsePopupQuery("?tab=0").tabId, 0);
  });

  it("refuses a ?tab= that is not a tab id rather than acting on another tab", () => {
    for (const bad of ["?tab=", "?tab=-1", "?tab=1.5", "?tab=abc", "?tab=1e3", "?tab=9999999999999999"]) {
      const parsed = parsePopupQuery(bad);
      assert.equal(parsed.tabId, null, bad);
      assert.ok(parsed.error, bad);
    }
  });

  it("reads ?confirm=new-identity", () => {
    assert.equal(parsePopupQuery("?confirm=new-identity&tab=3").confirmNewIdentity, true);
    assert.equal(parsePopupQuery("?confirm=yes").confirmNewIdentity, false);
  });
});

describe("containerLabel", () => {
  it("names the cookie stores", () => {
    assert.equal(containerLabel("firefox-default"), "Default");
    assert.equal(containerLabel("firefox-private"), "Private window");
    assert.equal(containerLabel("firefox-container-4"), "Container 4");
  });
});
