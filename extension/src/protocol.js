/**
 * Persite protocol v1 (docs/protocol.md): builders for the requests the extension sends and
 * validating parsers for what the native host sends back. Pure: no I/O, no `browser.*`.
 *
 * Written by hand because the protocol is small JSON objects; a schema library would be a
 * bigger dependency than the code it replaces.
 */

/** Protocol version this extension speaks (`hello.protocol`). */
export const PROTOCOL_VERSION = 1;

/** Firefox SOCKS usernames and passwords are limited to 255 bytes (nsSOCKSIOLayer.cpp). */
export const MAX_CREDENTIAL_BYTES = 255;

/** Error raised when a message from the host does not match the protocol. */
export class ProtocolError extends Error {
  /** @param {string} message what was wrong, without any domain names */
  constructor(message) {
    super(message);
    this.name = "ProtocolError";
  }
}

/** Error carried by an `error` reply, or raised locally (timeout, disconnect). */
export class BrokerError extends Error {
  /**
   * @param {string} code one snake_case word (protocol §2.3, or a local code such as `timeout`)
   * @param {string} message text for people
   */
  constructor(code, message) {
    super(message);
    this.name = "BrokerError";
    this.code = code;
  }
}

/** Builds a `hello` request. */
export function helloRequest(id) {
  return { id, type: "hello", protocol: PROTOCOL_VERSION };
}

/** Builds a `credentials` request for a first-party URL and container. */
export function credentialsRequest(id, url, container) {
  return { id, type: "credentials", url, container };
}

/** Builds a `new_circuit` request; `target` is `{url}` or `{site}`. */
export function newCircuitRequest(id, target) {
  if (typeof target?.url === "string") {
    return { id, type: "new_circuit", url: target.url };
  }
  if (typeof target?.site === "string") {
    return { id, type: "new_circuit", site: target.site };
  }
  throw new TypeError("new_circuit needs a url or a site");
}

/** Builds a `new_identity` request. */
export function newIdentityRequest(id) {
  return { id, type: "new_identity" };
}

/** Builds a `status` request. */
export function statusRequest(id) {
  return { id, type: "status" };
}

/**
 * Classifies one message received from the host.
 *
 * Returns one of:
 * - `{kind: "result", id, result}` — a successful reply;
 * - `{kind: "error", id, error: BrokerError}` — an error reply (`id` may be `null`);
 * - `{kind: "push", push}` — a push, see {@link parsePush};
 * - `{kind: "invalid", reason}` — anything else.
 */
export function parseMessage(message) {
  if (!isPlainObject(message)) {
    return { kind: "invalid", reason: "message is not a JSON object" };
  }
  if (!("id" in message)) {
    try {
      return { kind: "push", push: parsePush(message) };
    } catch (e) {
      return { kind: "invalid", reason: e.message };
    }
  }
  const { id } = message;
  if (id !== null && !Number.isSafeInteger(id)) {
    return { kind: "invalid", reason: "reply id is neither a number nor null" };
  }
  const hasResult = "result" in message;
  const hasError = "error" in message;
  if (hasResult === hasError) {
    return { kind: "invalid", reason: "reply must carry exactly one of result and error" };
  }
  if (hasError) {
    const error = message.error;
    const code = isPlainObject(error) && typeof error.code === "string" ? error.code : "invalid_error";
    const text = isPlainObject(error) && typeof error.message === "string" ? error.message : "";
    return { kind: "error", id, error: new BrokerError(code, text) };
  }
  if (id === null) {
    return { kind: "invalid", reason: "a result reply has a null id" };
  }
  return { kind: "result", id, result: message.result };
}

/**
 * Validates a push (protocol §2.2).
 *
 * Returns `{type: "invalidate", all: true, reason}`, `{type: "invalidate", sites, reason}`,
 * `{type: "broker_connected", instance}`, `{type: "broker_disconnected"}` or
 * `{type: "unknown", name}` for a push type this version does not know (ignored by callers).
 * An `invalidate` that names neither `all` nor a usable `sites` list is reported as
 * `all: true`: dropping too much costs one broker round trip, dropping too little reuses a
 * circuit the user asked to leave.
 */
export function parsePush(message) {
  if (!isPlainObject(message) || typeof message.type !== "string") {
    throw new ProtocolError("push without a type");
  }
  const reason = typeof message.reason === "string" ? message.reason : null;
  switch (message.type) {
    case "invalidate": {
      const sites = message.sites;
      if (
        message.all !== true &&
        Array.isArray(sites) &&
        sites.every((s) => typeof s === "string" && s.length > 0)
      ) {
        return { type: "invalidate", sites: [...sites], reason };
      }
      return { type: "invalidate", all: true, reason };
    }
    case "broker_connected":
      if (typeof message.instance !== "string" || message.instance.length === 0) {
        throw new ProtocolError("broker_connected without an instance");
      }
      return { type: "broker_connected", instance: message.instance };
    case "broker_disconnected":
      return { type: "broker_disconnected" };
    default:
      return { type: "unknown", name: message.type };
  }
}

/**
 * Validates a `hello` result: `{protocol, broker_version, instance, socks: {host, port}}`.
 * Returns `{protocol, brokerVersion, instance, socks: {host, port}}`.
 */
export function parseHelloResult(result) {
  if (!isPlainObject(result)) {
    throw new ProtocolError("hello result is not an object");
  }
  if (result.protocol !== PROTOCOL_VERSION) {
    throw new ProtocolError(`broker speaks protocol ${String(result.protocol)}, expected ${PROTOCOL_VERSION}`);
  }
  if (typeof result.instance !== "string" || result.instance.length === 0) {
    throw new ProtocolError("hello result has no instance");
  }
  const socks = parseSocksEndpoint(result.socks);
  const brokerVersion = typeof result.broker_version === "string" ? result.broker_version : "";
  return { protocol: result.protocol, brokerVersion, instance: result.instance, socks };
}

/**
 * Validates a `credentials` result. Returns `{site, container, username, password, expiresAt}`
 * where `expiresAt` is milliseconds since the epoch or `null`.
 */
export function parseCredentialsResult(result) {
  if (!isPlainObject(result)) {
    throw new ProtocolError("credentials result is not an object");
  }
  const { site, container, username, password } = result;
  if (typeof site !== "string" || site.length === 0) {
    throw new ProtocolError("credentials result has no site");
  }
  if (typeof container !== "string" || container.length === 0) {
    throw new ProtocolError("credentials result has no container");
  }
  checkCredential("username", username);
  checkCredential("password", password);
  const expires = result.expires_at;
  if (expires !== null && expires !== undefined && !Number.isFinite(expires)) {
    throw new ProtocolError("credentials expires_at is neither a number nor null");
  }
  return { site, container, username, password, expiresAt: expires ?? null };
}

/** Validates a `new_circuit` result `{site}` and returns the site. */
export function parseNewCircuitResult(result) {
  if (!isPlainObject(result) || typeof result.site !== "string" || result.site.length === 0) {
    throw new ProtocolError("new_circuit result has no site");
  }
  return result.site;
}

/**
 * Validates a SOCKS endpoint `{host, port}` as Firefox's ProxyInfo will need it: a non-empty
 * host without whitespace and an integer port 1–65535.
 */
export function parseSocksEndpoint(value) {
  if (!isPlainObject(value)) {
    throw new ProtocolError("SOCKS endpoint is not an object");
  }
  const { host, port } = value;
  if (typeof host !== "string" || host.length === 0 || /\s/.test(host)) {
    throw new ProtocolError("SOCKS endpoint host is not usable");
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ProtocolError("SOCKS endpoint port is not 1-65535");
  }
  return { host, port };
}

/** Checks that a SOCKS username or password is one Firefox and Tor will accept as ours. */
function checkCredential(name, value) {
  if (typeof value !== "string" || value.length === 0) {
    throw new ProtocolError(`credentials ${name} is empty or not a string`);
  }
  if (utf8Length(value) > MAX_CREDENTIAL_BYTES) {
    throw new ProtocolError(`credentials ${name} is longer than ${MAX_CREDENTIAL_BYTES} bytes`);
  }
  // Tor reads a username starting with "<" as a proposal-351 extended SOCKS request.
  if (value.startsWith("<")) {
    throw new ProtocolError(`credentials ${name} starts with "<"`);
  }
}

const encoder = new TextEncoder();

function utf8Length(text) {
  return encoder.encode(text).length;
}

function isPlainObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
