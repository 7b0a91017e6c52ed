/**
 * Persite protocol v1 (docs/protocol.md): builders for the requests the extension sends and
 * validating parsers for what the native host sends back. Pure: no I/O, no `browser.*`.
 *
 * Written by hand because the protocol is small JSON objects; a schema library would be a
 * bigger dependency than the code it replaces.
 */

import {
  CATCH_ALL_SITE,
  CIRCUIT_UNAVAILABLE_REASONS,
  HOP_ROLES,
  MAX_CREDENTIAL_BYTES,
  NEWNYM_OUTCOMES,
  PROTOCOL_VERSION,
  TOR_CONTROL_STATES,
} from "./protocol-constants.js";

// The protocol's constants and enumerations are generated from the Rust definitions
// (protocol/src/limits.rs); re-exported here so callers import the protocol from one module.
export {
  CATCH_ALL_SITE,
  CIRCUIT_UNAVAILABLE_REASONS,
  HOP_ROLES,
  MAX_CREDENTIAL_BYTES,
  NEWNYM_OUTCOMES,
  PROTOCOL_VERSION,
  TOR_CONTROL_STATES,
};

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

/**
 * Builds a `hello` request. With `tabsReset`, it tells the broker that this browser's tab ids
 * start over (a new browser session: protocol §2.1 "Tabs end"), so per-tab credentials of the
 * last session's tabs are never handed to this session's tabs.
 */
export function helloRequest(id, { tabsReset = false } = {}) {
  if (tabsReset === true) {
    return { id, type: "hello", protocol: PROTOCOL_VERSION, tabs_reset: true };
  }
  return { id, type: "hello", protocol: PROTOCOL_VERSION };
}

/** Builds a `tab_closed` request: the broker forgets the tab's per-tab credentials. */
export function tabClosedRequest(id, tab, session = null) {
  if (!Number.isSafeInteger(tab) || tab < 0) {
    throw new TypeError("tab_closed needs a tab id");
  }
  return withSession({ id, type: "tab_closed", tab }, session);
}

/**
 * Builds a `session_ended` request: the broker forgets the credential state of `session` (a
 * private browsing session whose last window closed).
 */
export function sessionEndedRequest(id, session) {
  if (session === null || session === undefined) {
    throw new TypeError("session_ended needs a session");
  }
  return withSession({ id, type: "session_ended" }, session);
}

/**
 * Adds the browser session value (sessions.js) to a request when there is one; the broker
 * folds it into the credentials, so every browser session, profile and private browsing
 * session has its own.
 */
function withSession(request, session) {
  if (session === null || session === undefined) {
    return request;
  }
  if (typeof session !== "string" || !/^[A-Za-z0-9_-]{16,64}$/.test(session)) {
    throw new TypeError("a session value is 16 to 64 characters of A-Z a-z 0-9 - _");
  }
  return { ...request, session };
}

/**
 * Builds a `credentials` request for a first-party URL and container. `tab` is the browser tab
 * the request belongs to; it is sent only when it is a tab id (≥ 0), never for Firefox's own
 * tabless requests (`tabId === -1`). `session` (sessions.js) is sent when given.
 */
export function credentialsRequest(id, url, container, tab = null, session = null) {
  if (Number.isSafeInteger(tab) && tab >= 0) {
    return withSession({ id, type: "credentials", url, container, tab }, session);
  }
  return withSession({ id, type: "credentials", url, container }, session);
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
 * Builds a `circuit` request; `target` is `{url}` or `{site}`, `container` a cookie store id,
 * `tab` the browser tab whose circuit to show (sent when it is a tab id ≥ 0: for sites with a
 * per-tab policy each tab has its own circuit; the broker ignores it for other sites).
 */
export function circuitRequest(id, target, container, tab = null) {
  const withTab = Number.isInteger(tab) && tab >= 0 ? { tab } : {};
  if (typeof target?.url === "string") {
    return { id, type: "circuit", url: target.url, container, ...withTab };
  }
  if (typeof target?.site === "string") {
    return { id, type: "circuit", site: target.site, container, ...withTab };
  }
  throw new TypeError("circuit needs a url or a site");
}

/**
 * Classifies one message received from the host.
 *
 * Returns one of:
 * - `{kind: "result", id, result}` — a successful reply;
 * - `{kind: "error", id, error: BrokerError}` — an error reply (`id` may be `null`);
 * - `{kind: "push", push}` — a push, see {@link parsePush};
 * - `{kind: "invalid", reason}` — anything else, including a message with both an `id` and a
 *   `type`: replies never carry a `type` and pushes never an `id` (protocol §2), so it is
 *   neither, and must not be matched to a request.
 */
export function parseMessage(message) {
  if (!isPlainObject(message)) {
    return { kind: "invalid", reason: "message is not a JSON object" };
  }
  if ("id" in message && "type" in message) {
    return { kind: "invalid", reason: "message carries both an id and a type" };
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
 * `{type: "broker_connected", instance}`, `{type: "broker_disconnected"}`,
 * `{type: "circuit", circuit}` ({@link parseCircuitResult}), `{type: "tor_status", tor}`
 * ({@link parseTorStatus}) or `{type: "unknown", name}` for a push type this version does not
 * know (ignored by callers). A malformed `circuit` or `tor_status` push throws.
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
    case "circuit":
      return { type: "circuit", circuit: parseCircuitResult(message) };
    case "tor_status":
      return { type: "tor_status", tor: parseTorStatus(message) };
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
 * Validates a `credentials` result. Returns `{site, container, username, password, expiresAt,
 * perTab}` where `expiresAt` is milliseconds since the epoch or `null`, and `perTab` is true
 * when the credentials belong to the requesting tab only (`per_tab`; absent means false).
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
  const perTab = result.per_tab ?? false;
  if (typeof perTab !== "boolean") {
    throw new ProtocolError("credentials per_tab is not a boolean");
  }
  return { site, container, username, password, expiresAt: expires ?? null, perTab };
}


/**
 * Whether the broker's `site` can be the site of the first-party host `host` (`null`: the
 * catch-all). The broker writes sites lowercase, in punycode, without a trailing dot, IPv6
 * bracketed — as the URL API writes `hostname`, except for the trailing dot, which is removed
 * here. A host belongs to its own name or to a parent domain at a label boundary
 * (`www.example.com` to `example.com`, never `evilexample.com`); an IP literal only to itself;
 * the catch-all only to `--unknown--`, and no host to `--unknown--`.
 *
 * Which parent is the registrable domain is the broker's call (it has the Public Suffix List):
 * this check only guarantees that a reply names a site the host is part of, so that one site's
 * credentials are never taken for another's.
 */
export function siteMatchesHost(site, host) {
  if (typeof site !== "string" || site.length === 0) {
    return false;
  }
  if (host === null) {
    return site === CATCH_ALL_SITE;
  }
  if (typeof host !== "string" || site === CATCH_ALL_SITE) {
    return false;
  }
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  if (name === site) {
    return true;
  }
  if (isIpLiteral(name) || site.startsWith(".")) {
    return false;
  }
  return name.endsWith(`.${site}`);
}

/**
 * Checks that a parsed reply (`{site, container}` of a credentials or circuit result) was
 * given for `firstParty` (`{host, container}`, first-party.js) and returns it; throws a
 * {@link ProtocolError} (without domain names) for another site or container. Runs once per
 * broker reply, never on the cache-hit path.
 */
export function checkReplyFor(reply, firstParty, what) {
  if (reply.container !== firstParty.container) {
    throw new ProtocolError(`the broker answered a ${what} request for another container`);
  }
  if (!siteMatchesHost(reply.site, firstParty.host)) {
    throw new ProtocolError(`the broker answered a ${what} request for another site`);
  }
  return reply;
}

/**
 * A WHATWG-serialised IP literal: bracketed IPv6, or IPv4 (the URL API turns every host whose
 * last label is a number into dotted decimal, or refuses it).
 */
function isIpLiteral(host) {
  return host.startsWith("[") || /(^|\.)[0-9]+$/.test(host);
}

/** Validates a `new_circuit` result `{site}` and returns the site. */
export function parseNewCircuitResult(result) {
  if (!isPlainObject(result) || typeof result.site !== "string" || result.site.length === 0) {
    throw new ProtocolError("new_circuit result has no site");
  }
  return result.site;
}


/**
 * Validates a `new_identity` result. Returns `{epoch, newnym, newnymDelayS}`: `newnym` is one
 * of {@link NEWNYM_OUTCOMES}, or `null` from a broker that does not report it; `newnymDelayS`
 * is the delay in seconds when `delayed`, else `null`.
 */
export function parseNewIdentityResult(result) {
  if (!isPlainObject(result) || !Number.isFinite(result.epoch)) {
    throw new ProtocolError("new_identity result has no epoch");
  }
  const newnym = result.newnym ?? null;
  if (newnym !== null && !NEWNYM_OUTCOMES.includes(newnym)) {
    throw new ProtocolError("new_identity newnym is not sent, delayed or unavailable");
  }
  let newnymDelayS = null;
  if (newnym === "delayed") {
    const delay = result.newnym_delay_s;
    if (!Number.isFinite(delay) || delay < 0) {
      throw new ProtocolError("new_identity newnym_delay_s is not a number of seconds");
    }
    newnymDelayS = delay;
  }
  return { epoch: result.epoch, newnym, newnymDelayS };
}



/**
 * Validates a circuit result (answer to `circuit`, body of a `circuit` push, protocol §2.4).
 * Returns `{site, container, available, reason, onion, circuits: [{id, confluxId, hops:
 * [{role, fingerprint, nickname, ip, ipv6, country, bridgeType}]}], bytes: {read, written} |
 * null}`. An unknown `reason` is kept as given (the popup words it generically); fingerprints
 * are upper-cased, countries lower-cased.
 */
export function parseCircuitResult(result) {
  if (!isPlainObject(result)) {
    throw new ProtocolError("circuit result is not an object");
  }
  const { site, container, available } = result;
  if (typeof site !== "string" || site.length === 0) {
    throw new ProtocolError("circuit result has no site");
  }
  if (typeof container !== "string" || container.length === 0) {
    throw new ProtocolError("circuit result has no container");
  }
  if (typeof available !== "boolean") {
    throw new ProtocolError("circuit result has no available flag");
  }
  const reason = result.reason ?? null;
  if (reason !== null && typeof reason !== "string") {
    throw new ProtocolError("circuit reason is not a string");
  }
  const circuits = result.circuits ?? [];
  if (!Array.isArray(circuits)) {
    throw new ProtocolError("circuit circuits is not an array");
  }
  return {
    site,
    container,
    available,
    reason: available ? null : (reason ?? "unknown"),
    onion: result.onion === true,
    circuits: available ? circuits.map(parseCircuit) : [],
    bytes: parseBytes(result.bytes),
    // Only a per-tab site's per-tab display carries its tab; `null` for the site-wide one.
    tab: Number.isSafeInteger(result.tab) ? result.tab : null,
  };
}

function parseCircuit(circuit) {
  if (!isPlainObject(circuit) || !Array.isArray(circuit.hops)) {
    throw new ProtocolError("circuit entry has no hops");
  }
  const id = circuit.id;
  if (typeof id !== "string" && !Number.isSafeInteger(id)) {
    throw new ProtocolError("circuit id is neither a string nor a number");
  }
  const confluxId = circuit.conflux_id ?? null;
  if (confluxId !== null && typeof confluxId !== "string") {
    throw new ProtocolError("circuit conflux_id is not a string");
  }
  return { id: String(id), confluxId, hops: circuit.hops.map(parseHop) };
}

function parseHop(hop) {
  if (!isPlainObject(hop)) {
    throw new ProtocolError("circuit hop is not an object");
  }
  if (!HOP_ROLES.includes(hop.role)) {
    throw new ProtocolError("circuit hop role is not guard, middle, exit or bridge");
  }
  if (typeof hop.fingerprint !== "string" || !/^[0-9A-Fa-f]{40}$/.test(hop.fingerprint)) {
    throw new ProtocolError("circuit hop fingerprint is not 40 hex digits");
  }
  const country = optionalString(hop.country, "country");
  if (country !== null && !/^[A-Za-z]{2}$/.test(country)) {
    throw new ProtocolError("circuit hop country is not a two-letter code");
  }
  const bridgeType = optionalString(hop.bridge_type, "bridge_type");
  return {
    role: hop.role,
    fingerprint: hop.fingerprint.toUpperCase(),
    nickname: optionalString(hop.nickname, "nickname"),
    ip: optionalString(hop.ip, "ip"),
    ipv6: optionalString(hop.ipv6, "ipv6"),
    country: country === null ? null : country.toLowerCase(),
    bridgeType: hop.role === "bridge" ? (bridgeType ?? "") : bridgeType,
  };
}

function parseBytes(bytes) {
  if (bytes === null || bytes === undefined) {
    return null;
  }
  if (!isPlainObject(bytes) || !isCount(bytes.read) || !isCount(bytes.written)) {
    throw new ProtocolError("circuit bytes is not {read, written}");
  }
  return { read: bytes.read, written: bytes.written };
}


/**
 * Validates a tor status (`status.tor`, body of a `tor_status` push, protocol §2.4). Returns
 * `{control, managed, version, bootstrap: {progress, summary} | null, socksListeners,
 * socksProblem, socksVouched, error}`; unknown fields are `null` (`socksVouched` false). `socksProblem` (additive) says, for people, why the
 * broker refuses credentials: nothing shows that its SOCKS endpoint is tor.
 */
export function parseTorStatus(value) {
  if (!isPlainObject(value)) {
    throw new ProtocolError("tor status is not an object");
  }
  if (!TOR_CONTROL_STATES.includes(value.control)) {
    throw new ProtocolError("tor status control is not connected, connecting or none");
  }
  const managed = value.managed ?? null;
  if (managed !== null && typeof managed !== "boolean") {
    throw new ProtocolError("tor status managed is not a boolean");
  }
  let bootstrap = null;
  if (value.bootstrap !== null && value.bootstrap !== undefined) {
    const { progress, summary } = isPlainObject(value.bootstrap) ? value.bootstrap : {};
    if (!Number.isFinite(progress) || progress < 0 || progress > 100) {
      throw new ProtocolError("tor status bootstrap progress is not 0-100");
    }
    bootstrap = { progress, summary: optionalString(summary, "bootstrap summary") };
  }
  let socksListeners = null;
  if (value.socks_listeners !== null && value.socks_listeners !== undefined) {
    if (!Array.isArray(value.socks_listeners) || !value.socks_listeners.every((l) => typeof l === "string")) {
      throw new ProtocolError("tor status socks_listeners is not a list of strings");
    }
    socksListeners = [...value.socks_listeners];
  }
  return {
    control: value.control,
    managed,
    version: optionalString(value.version, "version"),
    bootstrap,
    socksListeners,
    socksProblem: optionalString(value.socks_problem, "socks_problem"),
    socksVouched: value.socks_vouched === true,
    error: optionalString(value.error, "error"),
  };
}

/**
 * Validates a `status` result far enough for the extension: returns `{tor}` (a parsed tor
 * status, or `null` from a broker that does not report one).
 */
export function parseStatusResult(result) {
  if (!isPlainObject(result)) {
    throw new ProtocolError("status result is not an object");
  }
  const tor = result.tor === null || result.tor === undefined ? null : parseTorStatus(result.tor);
  return { tor };
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

function optionalString(value, name) {
  if (value === null || value === undefined) {
    return null;
  }
  if (typeof value !== "string") {
    throw new ProtocolError(`${name} is not a string`);
  }
  return value;
}

function isCount(value) {
  return Number.isSafeInteger(value) && value >= 0;
}

function isPlainObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
