/**
 * The one persistent native-messaging port to `persite-native-host`: request/reply matching by
 * `id` with a bounded timeout per request, the `hello` handshake, pushes, and reconnecting with
 * exponential backoff. The port factory and the timers are injected, so this module has no
 * `browser.*` and runs under `node --test` with a scripted port.
 *
 * States: `connecting` (port open, `hello` not answered yet; requests wait for it, still
 * bounded by their timeout) → `ready` → on any disconnect, a failed or timed-out `hello`:
 * `waiting` (requests fail at once until the next attempt) → `connecting` … `stopped` is final.
 *
 * Firefox reports a missing or refused host only through `onDisconnect` with `port.error`, and
 * an exiting host with `port.error === null`; both are handled the same way.
 */

import { Backoff } from "./backoff.js";
import { BrokerError, helloRequest, parseHelloResult, parseMessage } from "./protocol.js";

/** Longest wait for one reply, in ms. Long enough for the host to start the daemon. */
export const REQUEST_TIMEOUT_MS = 10_000;

/** Client side of the native messaging conversation. */
export class BrokerClient {
  /**
   * @param {object} options
   * @param {() => object} options.connect opens a port (`browser.runtime.connectNative`)
   * @param {(id: number) => object} [options.buildHello] builds the handshake's `hello` request
   * @param {(info: object) => void} [options.onHello] a handshake succeeded: parsed `hello` result
   * @param {(push: object) => void} [options.onPush] a push arrived (protocol.parsePush shape)
   * @param {(state: string, lastError: string|null) => void} [options.onStateChange]
   * @param {(message: string) => void} [options.log] diagnostics, never with domain names
   * @param {number} [options.requestTimeoutMs]
   * @param {Backoff} [options.backoff]
   * @param {Function} [options.setTimer] `setTimeout`
   * @param {Function} [options.clearTimer] `clearTimeout`
   */
  constructor({
    connect,
    buildHello = helloRequest,
    onHello = () => {},
    onPush = () => {},
    onStateChange = () => {},
    log = () => {},
    requestTimeoutMs = REQUEST_TIMEOUT_MS,
    backoff = new Backoff(),
    // Called through wrappers: Firefox's timer functions throw when called as a method of
    // another object ("'setTimeout' called on an object that does not implement Window").
    setTimer = (callback, ms) => setTimeout(callback, ms),
    clearTimer = (id) => clearTimeout(id),
  }) {
    this.connect = connect;
    this.buildHello = buildHello;
    this.onHello = onHello;
    this.onPush = onPush;
    this.onStateChange = onStateChange;
    this.log = log;
    this.requestTimeoutMs = requestTimeoutMs;
    this.backoff = backoff;
    this.setTimer = setTimer;
    this.clearTimer = clearTimer;
    /** One of `idle`, `connecting`, `ready`, `waiting`, `stopped`. */
    this.state = "idle";
    /** Why the last connection failed, or `null`. */
    this.lastError = null;
    /**
     * The error code of the last failed `hello` (`broker_unavailable`: the host runs but cannot
     * reach the daemon), or `null` (no failure, or the host itself was lost).
     */
    this.lastErrorCode = null;
    this.port = null;
    this.nextId = 1;
    this.reconnectTimer = null;
    /** Sent requests by id. */
    this.pending = new Map();
    /** Requests made while `connecting`, sent once `hello` succeeds. */
    this.queue = [];
  }

  /** Opens the port (once; later connections happen by themselves). */
  start() {
    if (this.state === "idle") {
      this.open();
    }
  }

  /** Closes the port for good and fails every outstanding request. */
  stop() {
    if (this.reconnectTimer !== null) {
      this.clearTimer(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    const port = this.port;
    this.port = null;
    if (port !== null) {
      try {
        port.disconnect();
      } catch {
        // Already gone; nothing to release.
      }
    }
    this.failAll(new BrokerError("disconnected", "the extension stopped the connection"));
    this.setState("stopped", this.lastError);
  }

  /**
   * Sends a request and resolves with its `result`, or rejects with a {@link BrokerError}
   * (`error` reply, `timeout`, `disconnected`, `not_connected`).
   *
   * @param {(id: number) => object} build makes the message for an id (protocol.js builders)
   */
  request(build) {
    return new Promise((resolve, reject) => {
      if (this.state !== "ready" && this.state !== "connecting") {
        reject(new BrokerError("not_connected", this.lastError ?? "not connected to the native host"));
        return;
      }
      const request = { build, resolve, reject, id: null, timer: null };
      request.timer = this.setTimer(() => this.expire(request), this.requestTimeoutMs);
      if (this.state === "ready") {
        this.send(request);
      } else {
        this.queue.push(request);
      }
    });
  }

  open() {
    this.reconnectTimer = null;
    this.setState("connecting", this.lastError);
    let port;
    try {
      port = this.connect();
    } catch (e) {
      this.lost(`cannot start the native host: ${errorText(e)}`);
      return;
    }
    this.port = port;
    port.onMessage.addListener((message) => {
      if (this.port === port) {
        this.receive(message);
      }
    });
    port.onDisconnect.addListener((closed) => {
      if (this.port === port) {
        this.port = null;
        const reason = closed?.error?.message ?? port.error?.message ?? "the native host exited";
        this.lastErrorCode = null;
        this.lost(reason);
      }
    });
    const hello = {
      build: (id) => this.buildHello(id),
      id: null,
      timer: null,
      resolve: (result) => {
        if (this.port !== port) {
          return;
        }
        let info;
        try {
          info = parseHelloResult(result);
        } catch (e) {
          this.drop(port, `unusable hello reply: ${errorText(e)}`);
          return;
        }
        this.backoff.reset();
        this.lastError = null;
        this.lastErrorCode = null;
        this.setState("ready", null);
        this.onHello(info);
        const queued = this.queue;
        this.queue = [];
        for (const request of queued) {
          if (this.port === port) {
            this.send(request);
          } else {
            this.settle(request, new BrokerError("disconnected", this.lastError ?? "disconnected"));
          }
        }
      },
      reject: (error) => {
        if (this.port === port) {
          this.lastErrorCode = typeof error?.code === "string" ? error.code : null;
          this.drop(port, `hello failed: ${errorText(error)}`);
        }
      },
    };
    hello.timer = this.setTimer(() => this.expire(hello), this.requestTimeoutMs);
    this.send(hello);
  }

  send(request) {
    const port = this.port;
    if (port === null) {
      this.settle(request, new BrokerError("disconnected", this.lastError ?? "disconnected"));
      return;
    }
    request.id = this.nextId;
    this.nextId += 1;
    let message;
    try {
      message = request.build(request.id);
    } catch (e) {
      this.settle(request, new BrokerError("invalid_request", errorText(e)));
      return;
    }
    this.pending.set(request.id, request);
    try {
      port.postMessage(message);
    } catch (e) {
      // Firefox throws here once the port is gone; the pending map fails the request.
      this.drop(port, `cannot write to the native host: ${errorText(e)}`);
    }
  }

  receive(raw) {
    const message = parseMessage(raw);
    switch (message.kind) {
      case "result":
      case "error": {
        const request = message.id === null ? undefined : this.pending.get(message.id);
        if (request === undefined) {
          // A late answer (its request timed out) or a forged one: never taken for another
          // request's answer. Logged without its contents.
          if (message.kind === "error") {
            this.log(`native host error without a matching request: ${message.error.code}`);
          } else {
            this.log("ignoring a native host reply without a matching request");
          }
          return;
        }
        this.pending.delete(message.id);
        if (message.kind === "result") {
          this.clearTimer(request.timer);
          request.resolve(message.result);
        } else {
          this.settle(request, message.error);
        }
        return;
      }
      case "push":
        this.onPush(message.push);
        return;
      default:
        this.log(`ignoring a message from the native host: ${message.reason}`);
    }
  }

  expire(request) {
    const queued = this.queue.indexOf(request);
    if (queued !== -1) {
      this.queue.splice(queued, 1);
    } else if (request.id !== null && this.pending.get(request.id) === request) {
      this.pending.delete(request.id);
    } else {
      return;
    }
    request.reject(new BrokerError("timeout", `no reply within ${this.requestTimeoutMs} ms`));
  }

  settle(request, error) {
    this.clearTimer(request.timer);
    request.reject(error);
  }

  /** Closes `port` ourselves (Firefox fires no onDisconnect for that) and plans a retry. */
  drop(port, reason) {
    if (this.port === port) {
      this.port = null;
    }
    try {
      port.disconnect();
    } catch {
      // Already closed.
    }
    this.lost(reason);
  }

  lost(reason) {
    this.port = null;
    this.lastError = reason;
    this.failAll(new BrokerError("disconnected", reason));
    if (this.state === "stopped") {
      return;
    }
    this.setState("waiting", reason);
    if (this.reconnectTimer === null) {
      const delay = this.backoff.next();
      this.log(`native host unavailable (${reason}); retrying in ${delay} ms`);
      this.reconnectTimer = this.setTimer(() => this.open(), delay);
    }
  }

  failAll(error) {
    const requests = [...this.pending.values(), ...this.queue];
    this.pending.clear();
    this.queue = [];
    for (const request of requests) {
      this.settle(request, error);
    }
  }

  setState(state, lastError) {
    const changed = this.state !== state || this.lastError !== lastError;
    this.state = state;
    if (changed) {
      this.onStateChange(state, lastError);
    }
  }
}

function errorText(error) {
  return error instanceof Error ? error.message : String(error);
}
