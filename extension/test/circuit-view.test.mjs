import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  ASKING,
  NO_CIRCUIT_YET,
  bootstrapView,
  bridgeLabel,
  bytesText,
  circuitPushApplies,
  circuitView,
  flagEmoji,
  formatBytes,
  newnymText,
  pathFingerprints,
  pathText,
  shortenHost,
  unavailableText,
} from "../src/circuit-view.js";
import { parseCircuitResult, parseTorStatus } from "../src/protocol.js";

const FP = (c) => c.repeat(40);

/** A circuit result as the broker sends it, parsed like the background does. */
function circuit(overrides = {}, hops = null) {
  return parseCircuitResult({
    site: "example.com",
    container: "firefox-default",
    available: true,
    reason: null,
    onion: false,
    circuits: [
      {
        id: "42",
        conflux_id: null,
        hops: hops ?? [
          { role: "guard", fingerprint: FP("A"), nickname: "relay0", ip: "203.0.113.5", ipv6: "2001:db8::5", country: "de", bridge_type: null },
          { role: "middle", fingerprint: FP("B"), nickname: "relay1", ip: "198.51.100.7", ipv6: null, country: null, bridge_type: null },
          { role: "exit", fingerprint: FP("C"), nickname: "relay2", ip: "192.0.2.9", ipv6: null, country: "nl", bridge_type: null },
        ],
      },
    ],
    bytes: { read: 123456, written: 789 },
    ...overrides,
  });
}

describe("circuitView", () => {
  it("shows This browser → guard → middle → exit → the site, like Tor Browser", () => {
    const view = circuitView({ host: "www.example.com", circuit: circuit() }, { locale: "en" });
    assert.equal(view.state, "shown");
    assert.equal(view.heading, "Circuit for www.example.com");
    assert.deepEqual(
      view.rows.map((r) => [r.role, r.label, r.detail, r.flag, r.fingerprint]),
      [
        ["browser", "This browser", "", "", ""],
        ["guard", "Germany (guard)", "203.0.113.5, 2001:db8::5", "🇩🇪", FP("A")],
        ["middle", "Unknown region", "198.51.100.7", "", FP("B")],
        ["exit", "Netherlands", "192.0.2.9", "🇳🇱", FP("C")],
        ["site", "www.example.com", "", "", ""],
      ],
    );
    assert.equal(view.note, "Your guard node may not change");
    assert.equal(view.bytes, "Carried for this site: 123.5 kB received, 789 B sent");
  });

  it("shows a bridge by its transport, without a country", () => {
    const view = circuitView(
      {
        host: "example.com",
        circuit: circuit({}, [
          { role: "bridge", fingerprint: FP("D"), nickname: null, ip: "192.0.2.1", ipv6: null, country: null, bridge_type: "obfs4" },
          { role: "middle", fingerprint: FP("B"), nickname: null, ip: null, ipv6: null, country: "se", bridge_type: null },
          { role: "exit", fingerprint: FP("C"), nickname: null, ip: null, ipv6: null, country: "nl", bridge_type: null },
        ]),
      },
      { locale: "en" },
    );
    assert.deepEqual(view.rows[1], { role: "bridge", label: "Bridge: obfs4", detail: "192.0.2.1", flag: "", fingerprint: FP("D"), title: "" });
    assert.equal(view.rows[2].label, "Sweden", "only the first hop is the guard");
    assert.equal(view.note, "Your bridge may not change");
  });

  it("labels onion sites and shortens their address", () => {
    const onion = `${"a".repeat(50)}bcdefg.onion`;
    const view = circuitView({ host: onion, circuit: circuit({ onion: true, site: onion }) });
    assert.deepEqual(view.rows.slice(-2).map((r) => [r.role, r.label]), [
      ["onion-relays", "Onion site relays"],
      ["site", "aaaaaa…defg.onion"],
    ]);
    assert.equal(view.rows.at(-1).title, onion, "the full address stays in the tooltip");
  });

  it("shows one path of a conflux set and folds the other leg into one line", () => {
    const result = circuit();
    const other = { ...result.circuits[0], id: "43", confluxId: "X", hops: result.circuits[0].hops.map((h) => ({ ...h, fingerprint: h.fingerprint.replace(/^./, "9") })) };
    result.circuits.push(other);
    const view = circuitView({ host: "example.com", circuit: result }, { locale: "en" });
    assert.deepEqual(
      view.rows.map((r) => r.role),
      ["browser", "guard", "middle", "exit", "conflux", "site"],
    );
    const line = view.rows.find((r) => r.role === "conflux");
    assert.equal(line.label, "+1 parallel path");
    assert.equal(line.fingerprint, "");
    assert.match(line.title, /another circuit \(conflux\)/);
    assert.deepEqual(pathFingerprints(view), result.circuits[0].hops.map((h) => h.fingerprint), "the first leg is the path shown");
    result.circuits.push({ ...other, id: "44" });
    assert.equal(circuitView({ host: "example.com", circuit: result }).rows.find((r) => r.role === "conflux").label, "+2 parallel paths");
  });

  it("words the path for the New circuit message", () => {
    const view = circuitView({ host: "example.com", circuit: circuit() }, { locale: "en" });
    assert.equal(pathText(view), view.rows.filter((r) => ["guard", "middle", "exit"].includes(r.role)).map((r) => r.label.replace(" (guard)", "")).join(" → "));
    assert.doesNotMatch(pathText(view), /guard/);
    assert.equal(pathText(circuitView({ pending: true })), "");
  });

  it("is hidden for a page with no network first party", () => {
    assert.equal(circuitView({ host: null, circuit: null }).state, "hidden");
    const catchAll = parseCircuitResult({ site: "--unknown--", container: "firefox-default", available: false, reason: "no_network_first_party" });
    assert.equal(circuitView({ host: "x.test", circuit: catchAll }).state, "hidden");
  });

  it("says why circuit information is unavailable", () => {
    const unavailable = (reason) =>
      circuitView({ host: "example.com", circuit: parseCircuitResult({ site: "example.com", container: "firefox-default", available: false, reason }) });
    const noPort = unavailable("no_control_port");
    assert.equal(noPort.state, "unavailable");
    assert.equal(noPort.rows.length, 0);
    assert.match(noPort.reason, /^Circuit information unavailable: .*control port/);
    assert.match(unavailable("not_bootstrapped").reason, /not finished connecting/);
    assert.match(unavailable("something_new").reason, /unavailable \(something_new\)/);
  });

  it("is unavailable, not made up, when the broker cannot answer", () => {
    const view = circuitView({ error: { code: "unknown_type", message: "unknown request type circuit" } });
    assert.equal(view.state, "unavailable");
    assert.deepEqual(view.rows, []);
    assert.match(view.reason, /cannot show circuits/);
    assert.match(circuitView({ error: { code: "not_connected" } }).reason, /Persite service is not running/);
    assert.match(circuitView({ error: {} }).reason, /^Circuit information unavailable\.$/);
  });

  it("is pending while asking and while the site has no circuit yet", () => {
    assert.deepEqual(circuitView({ pending: true }), { state: "pending", heading: "", reason: ASKING, rows: [], note: "", bytes: "" });
    const empty = circuitView({ host: "example.com", circuit: circuit({ circuits: [] }) });
    assert.equal(empty.state, "pending");
    assert.equal(empty.reason, NO_CIRCUIT_YET);
  });
});

describe("circuit display helpers", () => {
  it("names bridge transports as Tor Browser does", () => {
    assert.equal(bridgeLabel(""), "Bridge");
    assert.equal(bridgeLabel("vanilla"), "Bridge");
    assert.equal(bridgeLabel("meek_lite"), "Bridge: meek");
    assert.equal(bridgeLabel("snowflake"), "Bridge: snowflake");
  });

  it("makes flag emoji from country codes", () => {
    assert.equal(flagEmoji("de"), "🇩🇪");
    assert.equal(flagEmoji("US"), "🇺🇸");
    assert.equal(flagEmoji("??"), "");
    assert.equal(flagEmoji(null), "");
  });

  it("matches circuit pushes to the displayed site and container", () => {
    const shown = { site: "a.test", container: "firefox-default" };
    assert.equal(circuitPushApplies(shown, { site: "a.test", container: "firefox-default" }), true);
    assert.equal(circuitPushApplies(shown, { site: "b.test", container: "firefox-default" }), false);
    assert.equal(circuitPushApplies(shown, { site: "a.test", container: "firefox-container-1" }), false);
    assert.equal(circuitPushApplies({ site: null, container: "firefox-default" }, { site: "b.test", container: "firefox-default" }), true);
  });

  it("ignores another tab's circuit push for a per-tab site", () => {
    const shown = { site: "a.test", container: "firefox-default" };
    assert.equal(circuitPushApplies(shown, { site: "a.test", container: "firefox-default", tab: 2 }), false);
    assert.equal(circuitPushApplies(shown, { site: "a.test", container: "firefox-default", tab: null }), true);
    assert.equal(circuitPushApplies({ site: null, container: "firefox-default" }, { site: "a.test", container: "firefox-default", tab: 1 }), false);
    assert.equal(circuitPushApplies({ ...shown, tab: 1 }, { site: "a.test", container: "firefox-default", tab: 1 }), true);
    assert.equal(circuitPushApplies({ ...shown, tab: 1 }, { site: "a.test", container: "firefox-default", tab: 2 }), false);
  });

  it("formats byte counts and leaves them out when unknown", () => {
    assert.equal(formatBytes(0), "0 B");
    assert.equal(formatBytes(999), "999 B");
    assert.equal(formatBytes(1000), "1.0 kB");
    assert.equal(formatBytes(2_500_000), "2.5 MB");
    assert.equal(bytesText(null), "");
  });

  it("shortens only v3 onion addresses", () => {
    assert.equal(shortenHost("www.example.com"), "www.example.com");
    assert.equal(shortenHost(`www.${"b".repeat(56)}.onion`), "www.bbbbbb…bbbb.onion");
    assert.equal(shortenHost("short.onion"), "short.onion");
  });

  it("words every unavailable reason", () => {
    for (const code of ["no_control_port", "not_bootstrapped", "unknown_type", "timeout", "protocol", "broker_unavailable"]) {
      assert.match(unavailableText(code), /^Circuit information unavailable: /, code);
    }
  });
});

describe("bootstrapView", () => {
  const tor = (progress, control = "connected") =>
    parseTorStatus({ control, managed: false, version: null, bootstrap: progress === null ? null : { progress, summary: "Loading relay descriptors" }, socks_listeners: null });

  it("shows the bootstrap percentage while below 100", () => {
    assert.deepEqual(bootstrapView(tor(45)), {
      hidden: false,
      text: "Tor is connecting to the Tor network: 45% (Loading relay descriptors)",
      progress: 45,
    });
  });

  it("says why web requests are blocked when the SOCKS endpoint is not tor's", () => {
    const problem = "the SOCKS endpoint 127.0.0.1:9050 is not one of tor's SOCKS listeners (127.0.0.1:9150)";
    const status = parseTorStatus({ control: "connected", bootstrap: { progress: 100 }, socks_listeners: ["127.0.0.1:9150"], socks_problem: problem });
    assert.deepEqual(bootstrapView(status), { hidden: false, text: `Web requests are blocked: ${problem}`, progress: null });
  });

  it("is hidden once bootstrapped, when unknown, or without a control port", () => {
    assert.equal(bootstrapView(tor(100)).hidden, true);
    assert.equal(bootstrapView(null).hidden, true);
    assert.equal(bootstrapView(tor(null)).hidden, true);
    assert.equal(bootstrapView(tor(null, "none")).hidden, true);
  });

  it("says when the control port is not reachable yet", () => {
    assert.match(bootstrapView(tor(null, "connecting")).text, /control port/);
  });
});

describe("newnymText", () => {
  it("reports what tor did with NEWNYM", () => {
    assert.match(newnymText({ newnym: "sent", newnymDelayS: null }), /new circuits now/);
    const delayed = newnymText({ newnym: "delayed", newnymDelayS: 6.2 });
    assert.match(delayed, /once every 10 seconds/);
    assert.match(delayed, /in 7 s/);
    assert.match(newnymText({ newnym: "unavailable", newnymDelayS: null }), /cannot reach tor's control port/);
    assert.equal(newnymText({ newnym: null }), "");
    assert.equal(newnymText(), "");
  });
});
