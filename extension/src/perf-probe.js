/**
 * Opt-in measurement of the extension's own time inside `proxy.onRequest` (issue 7.4: goal
 * median ≤ 10 µs on cache hits), for the end-to-end harness to read out of a real Firefox.
 * background.js times each listener call with `performance.now()` while `storage.local`
 * `perfProbe` is `true`, and hands the delta to {@link PerfProbe#record}; when the probe is off
 * the listener pays one null check. Samples go into fixed-size ring buffers, one per kind of
 * answer, so a long session cannot grow memory. Pure: the clock is the caller's.
 *
 * Firefox rounds `performance.now()` to 1 ms in extension pages unless the profile sets
 * `privacy.reduceTimerPrecision=false` and `privacy.reduceTimerPrecision.unconditional=false`;
 * {@link PerfProbe#report} flags samples that all look rounded (`timerCoarse`).
 */

import { BLACK_HOLE_HOST, BLACK_HOLE_PORT } from "./proxy-decision.js";

/** `storage.local` key that switches the probe on (`true`) or off. */
export const PERF_PROBE_KEY = "perfProbe";

/** Samples kept per kind of answer; older ones are overwritten. */
export const PERF_CAPACITY = 10_000;

/** Kinds of listener answers the probe tells apart. */
export const ANSWER_KINDS = Object.freeze(["hit", "miss", "blackHole"]);

/**
 * Kinds the probe reports: the listener kinds, and `missAnswered`: for a miss, the time from
 * the listener call until its promise settled (the broker round trip as the extension sees it;
 * what Firefox adds to hand the request in and the answer back is the rest of a miss's cost).
 */
export const REPORTED_KINDS = Object.freeze([...ANSWER_KINDS, "missAnswered"]);

/**
 * What kind of answer the listener gave: `blackHole` (answered synchronously with the black
 * hole), `hit` (answered synchronously with credentials, a cache hit) or `miss` (a promise: the
 * slow path, whose synchronous part is what the probe times).
 */
export function classifyAnswer(answer) {
  if (!Array.isArray(answer)) {
    return "miss";
  }
  const first = answer[0];
  return first?.port === BLACK_HOLE_PORT && first?.host === BLACK_HOLE_HOST ? "blackHole" : "hit";
}

/** A fixed-capacity buffer of numbers keeping the latest `capacity` values. */
export class RingBuffer {
  /** @param {number} capacity */
  constructor(capacity) {
    this.values = new Float64Array(capacity);
    /** Values ever pushed (including overwritten ones). */
    this.recorded = 0;
  }

  /** Adds a value, overwriting the oldest once full. */
  push(value) {
    this.values[this.recorded % this.values.length] = value;
    this.recorded += 1;
  }

  /** The kept values, oldest first. */
  samples() {
    const capacity = this.values.length;
    if (this.recorded <= capacity) {
      return Array.from(this.values.subarray(0, this.recorded));
    }
    const start = this.recorded % capacity;
    return [...this.values.subarray(start), ...this.values.subarray(0, start)];
  }

  /** Forgets every value. */
  clear() {
    this.recorded = 0;
  }
}

/**
 * Summary of durations in milliseconds, reported in microseconds: `{count, minUs, medianUs,
 * p90Us, p99Us, maxUs, meanUs}` (nearest-rank percentiles), all `null` without samples.
 */
export function summarize(samplesMs) {
  const count = samplesMs.length;
  if (count === 0) {
    return { count, minUs: null, medianUs: null, p90Us: null, p99Us: null, maxUs: null, meanUs: null };
  }
  const sorted = Float64Array.from(samplesMs).sort();
  const rank = (p) => sorted[Math.min(count - 1, Math.max(0, Math.ceil(p * count) - 1))] * 1000;
  let total = 0;
  for (const value of sorted) {
    total += value;
  }
  return {
    count,
    minUs: sorted[0] * 1000,
    medianUs: rank(0.5),
    p90Us: rank(0.9),
    p99Us: rank(0.99),
    maxUs: sorted[count - 1] * 1000,
    meanUs: (total / count) * 1000,
  };
}

/**
 * Whether every sample is a whole number of milliseconds: the sign of Firefox's reduced timer
 * precision (a real listener call is a few microseconds).
 */
export function looksCoarse(samplesMs) {
  return samplesMs.length > 0 && samplesMs.every((value) => Number.isInteger(value));
}

/** Ring buffers of listener durations by kind of answer. */
export class PerfProbe {
  /** @param {{capacity?: number}} [options] */
  constructor({ capacity = PERF_CAPACITY } = {}) {
    this.capacity = capacity;
    this.buffers = Object.fromEntries(REPORTED_KINDS.map((kind) => [kind, new RingBuffer(capacity)]));
  }

  /** Records one listener call that answered `answer` and took `elapsedMs`. */
  record(answer, elapsedMs) {
    this.buffers[classifyAnswer(answer)].push(elapsedMs);
  }

  /** Records that a miss's promise settled `elapsedMs` after its listener call began. */
  recordMissAnswered(elapsedMs) {
    this.buffers.missAnswered.push(elapsedMs);
  }

  /** Forgets every sample. */
  reset() {
    for (const buffer of Object.values(this.buffers)) {
      buffer.clear();
    }
  }

  /**
   * `{enabled: true, capacity, timerCoarse, hit, miss, blackHole, missAnswered}`, each kind
   * being `{recorded, summary, samplesMs}` (raw samples in ms, oldest first).
   */
  report() {
    const kinds = {};
    const all = [];
    for (const kind of REPORTED_KINDS) {
      const buffer = this.buffers[kind];
      const samplesMs = buffer.samples();
      all.push(...samplesMs);
      kinds[kind] = { recorded: buffer.recorded, summary: summarize(samplesMs), samplesMs };
    }
    return { enabled: true, capacity: this.capacity, timerCoarse: looksCoarse(all), ...kinds };
  }
}
