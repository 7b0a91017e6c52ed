/**
 * What `proxy.onRequest` answers. Pure. Every answer is an array ending in `null`: Firefox
 * then never falls back to the browser's default proxy or DIRECT (firefox-extension-facts.md
 * §0, §1.3). When the right answer is not known, the answer is the black hole: a SOCKS proxy
 * no one can listen on, so the request fails visibly with `proxyConnectFailure`.
 */

/**
 * Host of the black-hole proxy: a Unix socket path under `/proc`. Firefox (on Unix) takes a
 * SOCKS proxy host starting with `file:` as a Unix domain socket (nsSOCKSIOLayer
 * `IsHostDomainSocket`), and no one, root included, can create a socket under `/proc`, so the
 * connection fails with no listener possible. A loopback TCP port (the old `127.0.0.1:9`) can
 * be bound by any user where `net.ipv4.ip_unprivileged_port_start` is lowered, who would then
 * read the host names of the requests sent to it.
 */
export const BLACK_HOLE_HOST = "file:///proc/persite-black-hole";

/** Port of the black-hole proxy: unused for a Unix socket, but Firefox requires 1–65535. */
export const BLACK_HOLE_PORT = 9;

/** A fresh black-hole answer: `[{socks file:///proc/persite-black-hole, failoverTimeout 1}, null]`. */
export function blackHole() {
  return [
    {
      type: "socks",
      host: BLACK_HOLE_HOST,
      port: BLACK_HOLE_PORT,
      proxyDNS: true,
      failoverTimeout: 1,
    },
    null,
  ];
}

/**
 * The answer that sends a request to Tor with the given credentials:
 * `[{type: "socks", host, port, username, password, proxyDNS: true}, null]`.
 * Throws if the endpoint or the credentials are unusable (callers answer the black hole).
 *
 * @param {{host: string, port: number} | null | undefined} endpoint Tor's SOCKS port
 * @param {{username: string, password: string} | null | undefined} credentials
 */
export function socksAnswer(endpoint, credentials) {
  if (
    endpoint === null ||
    typeof endpoint !== "object" ||
    typeof endpoint.host !== "string" ||
    endpoint.host.length === 0 ||
    !Number.isInteger(endpoint.port) ||
    endpoint.port < 1 ||
    endpoint.port > 65535
  ) {
    throw new TypeError("no usable SOCKS endpoint");
  }
  if (
    credentials === null ||
    typeof credentials !== "object" ||
    typeof credentials.username !== "string" ||
    credentials.username.length === 0 ||
    typeof credentials.password !== "string" ||
    credentials.password.length === 0
  ) {
    throw new TypeError("no usable credentials");
  }
  return [
    {
      type: "socks",
      host: endpoint.host,
      port: endpoint.port,
      username: credentials.username,
      password: credentials.password,
      proxyDNS: true,
    },
    null,
  ];
}

/** {@link socksAnswer}, or the black hole if that throws. Never throws. */
export function decide(endpoint, credentials) {
  try {
    return socksAnswer(endpoint, credentials);
  } catch {
    return blackHole();
  }
}

/**
 * A credential pair used for one request only: 128 random bits each, in hex (tor's
 * IsolateSOCKSAuth then gives the request a circuit shared with nothing else). For requests
 * whose first party Firefox does not reveal (first-party.js rule 6).
 *
 * @param {(bytes: Uint8Array) => Uint8Array} [random] fills an array with random bytes
 */
export function oneOffCredentials(random = (bytes) => crypto.getRandomValues(bytes)) {
  const hex = () => Array.from(random(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  return { username: `one-off-${hex()}`, password: hex() };
}
