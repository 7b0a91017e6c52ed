/**
 * Test doubles for the injected I/O of the extension modules: a manual clock with timers, and
 * a scripted native-messaging port shaped like Firefox's `runtime.Port`.
 */

/** A clock whose time moves only when the test says so. */
export class ManualClock {
  constructor(start = 1_700_000_000_000) {
    this.time = start;
    this.timers = new Map();
    this.nextTimer = 1;
    this.now = () => this.time;
    this.setTimer = (callback, ms) => {
      const id = this.nextTimer++;
      this.timers.set(id, { at: this.time + ms, callback });
      return id;
    };
    this.clearTimer = (id) => {
      this.timers.delete(id);
    };
  }

  /** Delays of the pending timers, soonest first. */
  pendingDelays() {
    return [...this.timers.values()].map((t) => t.at - this.time).sort((a, b) => a - b);
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms) {
    const end = this.time + ms;
    for (;;) {
      let due = null;
      for (const [id, timer] of this.timers) {
        if (timer.at <= end && (due === null || timer.at < due[1].at)) {
          due = [id, timer];
        }
      }
      if (due === null) {
        break;
      }
      this.timers.delete(due[0]);
      this.time = Math.max(this.time, due[1].at);
      due[1].callback();
    }
    this.time = end;
  }
}

/** An event like `port.onMessage`. */
class FakeEvent {
  constructor() {
    this.listeners = [];
  }

  addListener(listener) {
    this.listeners.push(listener);
  }

  emit(...args) {
    for (const listener of [...this.listeners]) {
      listener(...args);
    }
  }
}

/** A native port: records what the extension posts; the test plays the host. */
export class FakePort {
  constructor() {
    this.sent = [];
    this.onMessage = new FakeEvent();
    this.onDisconnect = new FakeEvent();
    this.error = null;
    this.closed = false;
    this.disconnectedByExtension = false;
  }

  postMessage(message) {
    if (this.closed) {
      throw new Error("Attempt to postMessage on disconnected port");
    }
    // Firefox serialises to JSON; a message that does not survive that is a bug.
    this.sent.push(JSON.parse(JSON.stringify(message)));
  }

  disconnect() {
    this.closed = true;
    this.disconnectedByExtension = true;
  }

  /** The host sends a message. */
  deliver(message) {
    this.onMessage.emit(message);
  }

  /** The host goes away (exit, crash, missing host), as Firefox reports it. */
  die(errorMessage = null) {
    this.closed = true;
    this.error = errorMessage === null ? null : { message: errorMessage };
    this.onDisconnect.emit(this);
  }

  /** The last request of `type` the extension sent. */
  lastOf(type) {
    return this.sent.filter((m) => m.type === type).at(-1);
  }

  /** Answers the last `hello` like a broker with the given instance. */
  answerHello(instance = "instance-1", socks = { host: "127.0.0.1", port: 9050 }) {
    const hello = this.lastOf("hello");
    this.deliver({
      id: hello.id,
      result: { protocol: 1, broker_version: "0.1.0", instance, socks },
    });
  }
}

/** A `connect()` that hands out fresh FakePorts and remembers them. */
export function portFactory() {
  const ports = [];
  const connect = () => {
    const port = new FakePort();
    ports.push(port);
    return port;
  };
  return { ports, connect, get last() { return ports.at(-1); } };
}

/** Lets pending promise callbacks run. */
export async function settle(rounds = 5) {
  for (let i = 0; i < rounds; i += 1) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}
