import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  BYTES_PER_MIB,
  KEEP_ALIVE,
  describePolicy,
  parsePolicyTable,
  policyFromForm,
  policyGetRequest,
  policySetRequest,
  policyToForm,
  siteFromInput,
} from "../src/policy-form.js";
import { ProtocolError } from "../src/protocol.js";

describe("policyFromForm", () => {
  it("turns empty fields into keep-alive", () => {
    assert.deepEqual(policyFromForm({ maxAgeMin: " ", maxMiB: "", perTab: false }), { ok: true, value: KEEP_ALIVE });
  });

  it("converts minutes to seconds and MiB to bytes", () => {
    assert.deepEqual(policyFromForm({ maxAgeMin: "10", maxMiB: "50", perTab: true }), {
      ok: true,
      value: { max_age_s: 600, max_bytes: 52_428_800, per_tab: true },
    });
    assert.deepEqual(policyFromForm({ maxAgeMin: "0.5", maxMiB: "0.0009765625" }).value, {
      max_age_s: 30,
      max_bytes: 1024,
      per_tab: false,
    });
  });

  it("accepts the broker's limits and refuses what lies beyond, naming the field", () => {
    assert.equal(policyFromForm({ maxAgeMin: "10080" }).value.max_age_s, 604_800);
    assert.equal(policyFromForm({ maxMiB: String(2 ** 30) }).value.max_bytes, 2 ** 50);
    for (const [fields, field] of [
      [{ maxAgeMin: "10081" }, "maxAgeMin"],
      [{ maxAgeMin: "0" }, "maxAgeMin"],
      [{ maxAgeMin: "0.001" }, "maxAgeMin"],
      [{ maxAgeMin: "-5" }, "maxAgeMin"],
      [{ maxAgeMin: "ten" }, "maxAgeMin"],
      [{ maxAgeMin: "1e3" }, "maxAgeMin"],
      [{ maxMiB: "0.0001" }, "maxMiB"],
      [{ maxMiB: String(2 ** 30 + 1) }, "maxMiB"],
      [{ maxMiB: "5 MB" }, "maxMiB"],
      [{ maxAgeMin: "10", maxMiB: "x" }, "maxMiB"],
    ]) {
      const result = policyFromForm(fields);
      assert.equal(result.ok, false, JSON.stringify(fields));
      assert.equal(result.field, field, JSON.stringify(fields));
      assert.ok(result.error.length > 0);
    }
  });

  it("round-trips through the form fields", () => {
    for (const policy of [
      KEEP_ALIVE,
      { max_age_s: 600, max_bytes: 50 * BYTES_PER_MIB, per_tab: true },
      { max_age_s: 90, max_bytes: null, per_tab: false },
      { max_age_s: null, max_bytes: 1024, per_tab: true },
    ]) {
      assert.deepEqual(policyFromForm(policyToForm(policy)), { ok: true, value: policy });
    }
    // Every whole second and byte count survives the trip through minutes and MiB.
    let seed = 12345;
    const next = (max) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % max;
    };
    for (let i = 0; i < 5000; i += 1) {
      const policy = { max_age_s: 1 + next(604_800), max_bytes: 1024 + next(2 ** 31) * 1000, per_tab: i % 2 === 0 };
      assert.deepEqual(policyFromForm(policyToForm(policy)), { ok: true, value: policy }, JSON.stringify(policy));
    }
    assert.deepEqual(policyToForm({ max_age_s: 90, max_bytes: null, per_tab: false }), {
      maxAgeMin: "1.5",
      maxMiB: "",
      perTab: false,
    });
  });
});

describe("requests and the broker's answer", () => {
  it("builds policy_get and policy_set", () => {
    assert.deepEqual(policyGetRequest(3), { id: 3, type: "policy_get" });
    assert.deepEqual(policySetRequest(4, null, KEEP_ALIVE), { id: 4, type: "policy_set", policy: KEEP_ALIVE });
    assert.deepEqual(policySetRequest(5, "example.com", null), {
      id: 5,
      type: "policy_set",
      site: "example.com",
      policy: null,
    });
  });

  it("parses the §2.5 answer, sorting sites", () => {
    const table = parsePolicyTable({
      default: { max_age_s: null, max_bytes: null, per_tab: false },
      sites: {
        "b.example": { max_age_s: 600, max_bytes: null, per_tab: true },
        "a.example": { max_age_s: null, max_bytes: 2048, per_tab: false },
      },
    });
    assert.deepEqual(table.default, KEEP_ALIVE);
    assert.deepEqual(
      table.sites.map((r) => r.site),
      ["a.example", "b.example"],
    );
    assert.equal(table.sites[1].policy.max_age_s, 600);
  });

  it("refuses malformed answers", () => {
    for (const bad of [
      null,
      [],
      { default: null, sites: {} },
      { default: KEEP_ALIVE, sites: [] },
      { default: { ...KEEP_ALIVE, max_age_s: "600" }, sites: {} },
      { default: KEEP_ALIVE, sites: { "a.example": { per_tab: "yes" } } },
      { default: KEEP_ALIVE, sites: { "a.example": { max_bytes: 1.5 } } },
    ]) {
      assert.throws(() => parsePolicyTable(bad), ProtocolError, JSON.stringify(bad));
    }
  });
});

describe("siteFromInput", () => {
  it("accepts hosts and URLs, lowercased, without port or path", () => {
    for (const [input, host] of [
      ["Example.COM", "example.com"],
      [" https://www.example.co.uk/path?q#f ", "www.example.co.uk"],
      ["example.com:8443", "example.com"],
      ["example.com.", "example.com"],
      ["192.0.2.1", "192.0.2.1"],
      ["[2001:db8::1]", "[2001:db8::1]"],
    ]) {
      assert.deepEqual(siteFromInput(input), { ok: true, value: host }, input);
    }
  });

  it("refuses empty input, the catch-all, user info and non-hosts", () => {
    for (const input of ["", "  ", "--unknown--", "user@example.com", "exa mple.com", "a..b", "-a.com", "a".repeat(64) + ".com"]) {
      const result = siteFromInput(input);
      assert.equal(result.ok, false, input);
      assert.ok(result.error.length > 0);
    }
  });
});

describe("describePolicy", () => {
  it("says what the policy does", () => {
    assert.equal(describePolicy(KEEP_ALIVE), "keep-alive");
    assert.equal(describePolicy({ max_age_s: 600, max_bytes: 50 * BYTES_PER_MIB, per_tab: true }), "every 10 min, after 50 MiB, per tab");
    assert.equal(describePolicy({ max_age_s: null, max_bytes: null, per_tab: true }), "keep-alive, per tab");
  });
});
