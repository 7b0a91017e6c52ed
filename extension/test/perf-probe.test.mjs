import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { PERF_CAPACITY, PerfProbe, RingBuffer, classifyAnswer, looksCoarse, summarize } from "../src/perf-probe.js";
import { BLACK_HOLE_HOST, blackHole, socksAnswer } from "../src/proxy-decision.js";

const hit = socksAnswer({ host: "127.0.0.1", port: 9050 }, { username: "u", password: "p" });

describe("classifyAnswer", () => {
  it("tells hits, misses and the black hole apart", () => {
    assert.equal(classifyAnswer(hit), "hit");
    assert.equal(classifyAnswer(blackHole()), "blackHole");
    assert.equal(classifyAnswer(Promise.resolve(hit)), "miss");
    assert.equal(classifyAnswer(socksAnswer({ host: BLACK_HOLE_HOST, port: 9 }, { username: "u", password: "p" })), "blackHole");
    // The old loopback black hole is an ordinary endpoint now.
    assert.equal(classifyAnswer(socksAnswer({ host: "127.0.0.1", port: 9 }, { username: "u", password: "p" })), "hit");
    assert.equal(classifyAnswer(socksAnswer({ host: "10.0.0.1", port: 9 }, { username: "u", password: "p" })), "hit");
  });
});

describe("RingBuffer", () => {
  it("keeps the latest values, oldest first", () => {
    const ring = new RingBuffer(3);
    assert.deepEqual(ring.samples(), []);
    ring.push(1);
    ring.push(2);
    assert.deepEqual(ring.samples(), [1, 2]);
    ring.push(3);
    ring.push(4);
    ring.push(5);
    assert.deepEqual(ring.samples(), [3, 4, 5]);
    assert.equal(ring.recorded, 5);
    ring.clear();
    assert.deepEqual(ring.samples(), []);
  });
});

describe("summarize", () => {
  it("reports nearest-rank percentiles in microseconds", () => {
    const samples = Array.from({ length: 100 }, (_, i) => (i + 1) / 1000); // 1..100 µs
    const summary = summarize(samples.reverse());
    assert.equal(summary.count, 100);
    assert.equal(summary.minUs, 1);
    assert.equal(summary.medianUs, 50);
    assert.equal(summary.p90Us, 90);
    assert.equal(summary.p99Us, 99);
    assert.equal(summary.maxUs, 100);
    assert.ok(Math.abs(summary.meanUs - 50.5) < 1e-9);
  });

  it("is all null without samples", () => {
    assert.deepEqual(summarize([]), { count: 0, minUs: null, medianUs: null, p90Us: null, p99Us: null, maxUs: null, meanUs: null });
  });

  it("flags samples rounded to whole milliseconds", () => {
    assert.equal(looksCoarse([0, 1, 0, 0]), true);
    assert.equal(looksCoarse([0, 0.008, 0]), false);
    assert.equal(looksCoarse([]), false);
  });
});

describe("PerfProbe", () => {
  it("records each call under its kind of answer, bounded", () => {
    const probe = new PerfProbe({ capacity: 2 });
    probe.record(hit, 0.004);
    probe.record(hit, 0.006);
    probe.record(hit, 0.008);
    probe.record(Promise.resolve(hit), 0.02);
    probe.record(blackHole(), 0.003);
    const report = probe.report();
    assert.equal(report.enabled, true);
    assert.equal(report.timerCoarse, false);
    assert.deepEqual(report.hit.samplesMs, [0.006, 0.008]);
    assert.equal(report.hit.recorded, 3);
    assert.equal(report.hit.summary.count, 2);
    assert.deepEqual(report.miss.samplesMs, [0.02]);
    assert.deepEqual(report.blackHole.samplesMs, [0.003]);
    assert.deepEqual(report.missAnswered.samplesMs, []);
    probe.recordMissAnswered(1.25);
    assert.deepEqual(probe.report().missAnswered.samplesMs, [1.25]);
    assert.deepEqual(probe.report().miss.samplesMs, [0.02], "a miss's answer is not a listener call");
    probe.reset();
    assert.equal(probe.report().missAnswered.summary.count, 0);
    assert.equal(probe.report().hit.summary.count, 0);
  });

  it("keeps 10,000 samples per kind by default", () => {
    assert.equal(PERF_CAPACITY, 10_000);
    assert.equal(new PerfProbe().buffers.hit.values.length, 10_000);
  });
});
