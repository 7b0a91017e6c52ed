import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { Backoff, INITIAL_DELAY_MS, MAX_DELAY_MS } from "../src/backoff.js";

describe("Backoff", () => {
  it("doubles from 250 ms and stays at 10 s", () => {
    const backoff = new Backoff();
    const delays = Array.from({ length: 9 }, () => backoff.next());
    assert.deepEqual(delays, [250, 500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
    assert.equal(INITIAL_DELAY_MS, 250);
    assert.equal(MAX_DELAY_MS, 10000);
  });

  it("starts over after reset", () => {
    const backoff = new Backoff();
    backoff.next();
    backoff.next();
    backoff.reset();
    assert.equal(backoff.next(), 250);
  });

  it("refuses nonsensical settings", () => {
    assert.throws(() => new Backoff({ initial: 0 }), RangeError);
    assert.throws(() => new Backoff({ initial: 100, max: 50 }), RangeError);
    assert.throws(() => new Backoff({ factor: 0.5 }), RangeError);
  });
});
