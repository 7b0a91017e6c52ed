import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  checkForm,
  checkSocks,
  policyChanges,
  saveResult,
  socksPlaceholders,
  storedAsNote,
} from "../src/options-form.js";

const KEEP = { max_age_s: null, max_bytes: null, per_tab: false };
const base = {
  socksHost: "",
  socksPort: "",
  isolateContainers: true,
  confirmNewIdentity: true,
  closeTabs: false,
  policies: {
    default: { maxAgeMin: "", maxMiB: "", perTab: false },
    sites: [],
    added: { site: "", maxAgeMin: "", maxMiB: "", perTab: false },
  },
};

describe("checkSocks", () => {
  it("names each bad field", () => {
    assert.deepEqual(checkSocks("", "").value, null);
    assert.deepEqual(checkSocks("example.com", "99999").errors.map((e) => e.field), ["socks-host", "socks-port"]);
    assert.deepEqual(checkSocks("", "9050").errors.map((e) => e.field), ["socks-host"]);
    assert.deepEqual(checkSocks("127.0.0.1", "").errors.map((e) => e.field), ["socks-port"]);
  });

  it("says how a host was stored", () => {
    const checked = checkSocks("[::1]", "9150");
    assert.deepEqual(checked.value, { host: "::1", port: 9150 });
    assert.match(checked.note, /"\[::1\]" is stored as ::1/);
    assert.equal(checkSocks("127.0.0.1", "9050").note, "");
  });
});

describe("checkForm", () => {
  it("reports every invalid field at once, each once", () => {
    const checked = checkForm({
      ...base,
      socksHost: "tor.example",
      socksPort: "0",
      policies: {
        default: { maxAgeMin: "soon", maxMiB: "-1", perTab: false },
        sites: [{ site: "a.test", maxAgeMin: "0", maxMiB: "", perTab: false, remove: false }],
        added: { site: "not a host!", maxAgeMin: "1", maxMiB: "x", perTab: false },
      },
    });
    assert.equal(checked.ok, false);
    assert.deepEqual(
      checked.errors.map((e) => e.field),
      [
        "socks-host",
        "socks-port",
        "policy-default-age",
        "policy-default-mib",
        "site-age:a.test",
        "policy-new-site",
        "policy-new-mib",
      ],
    );
  });

  it("asks for the site of a new row with numbers but no site", () => {
    const checked = checkForm({ ...base, policies: { ...base.policies, added: { site: "", maxAgeMin: "5" } } });
    assert.deepEqual(checked.errors.map((e) => e.field), ["policy-new-site"]);
  });

  it("accepts a valid page and gives options and policies", () => {
    const checked = checkForm({
      ...base,
      socksHost: "127.0.0.1",
      socksPort: "9150",
      policies: {
        default: { maxAgeMin: "10", maxMiB: "", perTab: false },
        sites: [{ site: "a.test", maxAgeMin: "", maxMiB: "", perTab: true, remove: true }],
        added: { site: "https://www.b.test/x", maxAgeMin: "1.5", maxMiB: "", perTab: true },
      },
    });
    assert.equal(checked.ok, true, JSON.stringify(checked.errors));
    assert.deepEqual(checked.options, {
      socksOverride: { host: "127.0.0.1", port: 9150 },
      isolateContainers: true,
      confirmNewIdentity: true,
      closeTabsOnNewIdentity: false,
    });
    assert.deepEqual(checked.policy.default, { max_age_s: 600, max_bytes: null, per_tab: false });
    assert.deepEqual(checked.policy.added, {
      typed: "https://www.b.test/x",
      site: "www.b.test",
      policy: { max_age_s: 90, max_bytes: null, per_tab: true },
    });
    assert.equal(checkForm({ ...base, policies: null }).policy, null);
  });
});

describe("policyChanges", () => {
  it("sends only what changed: the default, removals, edits, the new site", () => {
    const table = {
      default: KEEP,
      sites: [
        { site: "a.test", policy: { ...KEEP, per_tab: true } },
        { site: "b.test", policy: { ...KEEP, max_age_s: 60 } },
        { site: "c.test", policy: KEEP },
      ],
    };
    const policy = {
      default: KEEP,
      sites: [
        { site: "a.test", remove: true, policy: null },
        { site: "b.test", remove: false, policy: { ...KEEP, max_age_s: 120 } },
        { site: "c.test", remove: false, policy: KEEP },
      ],
      added: { typed: "www.d.test", site: "www.d.test", policy: KEEP },
    };
    assert.deepEqual(policyChanges(table, policy), [
      { site: "a.test", policy: null },
      { site: "b.test", policy: { ...KEEP, max_age_s: 120 } },
      { site: "www.d.test", policy: KEEP, typed: "www.d.test" },
    ]);
    assert.deepEqual(policyChanges(table, { ...policy, default: { ...KEEP, per_tab: true }, sites: [], added: null }), [
      { site: null, policy: { ...KEEP, per_tab: true } },
    ]);
    assert.deepEqual(policyChanges(null, policy), []);
  });
});

describe("storedAsNote, saveResult and socksPlaceholders", () => {
  it("tells the user how the service stored a site", () => {
    const before = { default: KEEP, sites: [] };
    const after = { default: KEEP, sites: [{ site: "example.com", policy: KEEP }] };
    assert.equal(storedAsNote("www.example.com", before, after), "www.example.com is stored as example.com, the site it belongs to.");
    assert.equal(storedAsNote("example.com", before, after), "");
  });

  it("gives one result", () => {
    assert.deepEqual(saveResult({ browserSaved: true }), { kind: "ok", text: "Saved." });
    assert.equal(saveResult({ browserSaved: true, changes: 1, notes: ["x."] }).text, "Saved, circuit lifetimes included. x.");
    const failed = saveResult({ browserSaved: true, policyError: "no answer", changes: 1 });
    assert.equal(failed.kind, "error");
    assert.match(failed.text, /^Browser settings saved, but the circuit lifetimes were not: no answer\. .*persite doctor/);
    assert.equal(saveResult({ browserSaved: false }).kind, "error");
  });

  it("shows the service's endpoint as placeholders", () => {
    assert.deepEqual(socksPlaceholders({ host: "127.0.0.1", port: 19050 }), { host: "127.0.0.1", port: "19050" });
    assert.match(socksPlaceholders(null).host, /service/);
  });
});
