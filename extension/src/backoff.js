/**
 * Exponential reconnect delays for the native port: 250 ms, 500 ms, 1 s, … capped at 10 s,
 * back to 250 ms after a successful handshake. Pure and deterministic (no jitter: there is one
 * client per browser profile, so there is no herd to spread).
 */

/** First delay in ms. */
export const INITIAL_DELAY_MS = 250;

/** Largest delay in ms. */
export const MAX_DELAY_MS = 10_000;

/** Delay sequence for reconnect attempts. */
export class Backoff {
  /** @param {{initial?: number, max?: number, factor?: number}} [options] */
  constructor({ initial = INITIAL_DELAY_MS, max = MAX_DELAY_MS, factor = 2 } = {}) {
    if (!(initial > 0) || !(max >= initial) || !(factor >= 1)) {
      throw new RangeError("backoff needs 0 < initial <= max and factor >= 1");
    }
    this.initial = initial;
    this.max = max;
    this.factor = factor;
    this.attempt = 0;
  }

  /** The delay before the next attempt; each call lengthens the following one. */
  next() {
    const delay = Math.min(this.max, this.initial * this.factor ** this.attempt);
    if (delay < this.max) {
      this.attempt += 1;
    }
    return delay;
  }

  /** Starts over at the initial delay (after a successful connection). */
  reset() {
    this.attempt = 0;
  }
}
