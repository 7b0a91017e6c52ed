import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { SiteLog, ageText, circuitSummary, policyChoice, siteRows } from "../src/site-list.js";

const hop = (role, nickname, fp, country = null) => ({
  role,
  fingerprint: fp.repeat(40).slice(0, 40),
  nickname,
  ip: null,
  ipv6: null,
  country,
  bridgeType: null,
});
const leg = (id, ...hops) => ({ id, confluxId: "c1", hops });
const circuitOf = (circuits, bytes = null) => ({
  site: "a.test",
  container: "firefox-default",
  available: true,
  reason: null,
  onion: false,
  circuits,
  bytes,
  tab: null,
});

describe("SiteLog", () => {
  it("keeps one row per site and container, with the age of its current credentials", () => {
    let now = 1000;
    const log = new SiteLog({ now: () => now });
    log.record({ site: "a.test", container: "firefox-default", username: "u1" });
    now = 5000;
    log.record({ site: "a.test", container: "firefox-default", username: "u1" });
    log.record({ site: "a.test", container: "firefox-container-1", username: "u2" });
    log.record({ site: "b.test", container: "firefox-default", username: "u3" });
    log.record({ site: "--unknown--", container: "firefox-default", username: "u4" });
    assert.deepEqual(
      log.list().map((r) => [r.site, r.container, r.since]),
      [
        ["a.test", "firefox-container-1", 5000],
        ["a.test", "firefox-default", 1000],
        ["b.test", "firefox-default", 5000],
      ],
    );
    now = 9000;
    log.record({ site: "a.test", container: "firefox-default", username: "u9" });
    assert.equal(log.list()[1].since, 9000, "new credentials start the age again");
  });

  it("renewed sites show no age until used again; forget, dropContainer and clear remove rows", () => {
    let now = 1;
    const log = new SiteLog({ now: () => now });
    log.record({ site: "a.test", container: "firefox-default", username: "u1" });
    log.record({ site: "a.test", container: "firefox-private", username: "u2" });
    log.record({ site: "b.test", container: "firefox-default", username: "u3" });
    log.renewed("a.test");
    assert.deepEqual(log.list().map((r) => r.since), [null, null, 1]);
    now = 7;
    log.record({ site: "a.test", container: "firefox-default", username: "u1" });
    assert.equal(log.list()[0].since, 7);
    log.dropContainer("firefox-private");
    assert.equal(log.size, 2);
    assert.equal(log.forget("b.test", "firefox-default"), true);
    assert.equal(log.forget("b.test", "firefox-default"), false);
    log.clear();
    assert.equal(log.size, 0);
  });

  it("drops the least recently used row beyond its bound, and survives a snapshot", () => {
    const log = new SiteLog({ now: () => 1, maxSites: 2 });
    log.record({ site: "a.test", container: "c", username: "1" });
    log.record({ site: "b.test", container: "c", username: "2" });
    log.record({ site: "a.test", container: "c", username: "1" });
    log.record({ site: "c.test", container: "c", username: "3" });
    assert.deepEqual(log.list().map((r) => r.site), ["a.test", "c.test"]);
    const copy = new SiteLog({ now: () => 50 });
    copy.restore(JSON.parse(JSON.stringify(log.snapshot())));
    assert.deepEqual(copy.list(), log.list());
    copy.record({ site: "a.test", container: "c", username: "1" });
    assert.equal(copy.list()[0].since, 1, "the restored username keeps the age");
    copy.restore([{ site: 3 }, null, "x"]);
    assert.equal(copy.size, 0);
  });
});

describe("circuitSummary", () => {
  it("shows one path and folds conflux legs into '+1 parallel path'", () => {
    const summary = circuitSummary(
      circuitOf([
        leg("1", hop("guard", "g", "A", "de"), hop("middle", "m", "B"), hop("exit", "e", "C", "nl")),
        leg("2", hop("guard", "g2", "D"), hop("middle", "m2", "E"), hop("exit", "e", "C", "nl")),
      ]),
    );
    assert.equal(summary.state, "shown");
    assert.equal(summary.path, "g (DE) → m → e (NL)");
    assert.equal(summary.parallel, "+1 parallel path");
    assert.equal(summary.fingerprints.length, 3);
    assert.equal(summary.id, "1");
    const one = circuitSummary(circuitOf([leg("1", hop("guard", "", "A"), hop("middle", "m", "B"), hop("exit", "e", "C"))]));
    assert.equal(one.parallel, "");
    assert.equal(one.path, "AAAAAAAA → m → e");
  });

  it("says when there is no circuit yet or no information", () => {
    assert.equal(circuitSummary(circuitOf([])).state, "none");
    assert.equal(circuitSummary({ ...circuitOf([]), available: false, reason: "no_control_port" }).state, "unavailable");
    assert.equal(circuitSummary(null).state, "unavailable");
  });
});

describe("siteRows", () => {
  const policies = {
    default: { max_age_s: null, max_bytes: null, per_tab: false },
    sites: [{ site: "b.test", policy: { max_age_s: 600, max_bytes: null, per_tab: true } }],
  };

  it("words every column for people", () => {
    const rows = siteRows(
      [
        {
          site: "a.test",
          container: "firefox-container-2",
          since: 0,
          circuit: circuitOf([leg("1", hop("guard", "g", "A"), hop("middle", "m", "B"), hop("exit", "e", "C"))], {
            read: 2_000_000,
            written: 900,
          }),
        },
        { site: "b.test", container: "firefox-private", since: null, circuit: { error: "timed out" } },
      ],
      policies,
      3_720_000,
    );
    assert.equal(rows[0].where, "Container 2");
    assert.equal(rows[0].bytes, "2.0 MB received, 900 B sent");
    assert.equal(rows[0].age, "1 h 2 min");
    assert.equal(rows[0].policy, "keep-alive (default)");
    assert.equal(rows[0].override, null);
    assert.equal(rows[1].where, "Private window");
    assert.equal(rows[1].circuit.state, "unavailable");
    assert.match(rows[1].circuitNote, /timed out/);
    assert.equal(rows[1].age, "—");
    assert.equal(rows[1].policy, "every 10 min, per tab");
    assert.equal(siteRows([{ site: "c.test", container: "firefox-default", since: 0, circuit: circuitOf([]) }], null, 0)[0].policy, "unknown");
  });
});

describe("ageText and policyChoice", () => {
  it("reads ages", () => {
    assert.equal(ageText(59_000), "less than a minute");
    assert.equal(ageText(180_000), "3 min");
    assert.equal(ageText(7_200_000), "2 h");
    assert.equal(ageText(97_200_000), "1 day 3 h");
  });

  it("maps policies to the page's choices", () => {
    assert.equal(policyChoice(null), "default");
    assert.equal(policyChoice({ max_age_s: 600, max_bytes: null, per_tab: false }), "every-10-min");
    assert.equal(policyChoice({ max_age_s: null, max_bytes: null, per_tab: true }), "per-tab");
    assert.equal(policyChoice({ max_age_s: 60, max_bytes: null, per_tab: true }), "custom");
  });
});
