/**
 * User options (kept in `storage.local` under {@link OPTIONS_KEY}; no browsing data there):
 * their defaults, validation of what the options page submits, and normalisation of what is
 * read back. Pure.
 */

/** `storage.local` key of the options object. */
export const OPTIONS_KEY = "options";

/** Options used when nothing is stored. */
export const DEFAULT_OPTIONS = Object.freeze({
  /** `{host, port}` that replaces the broker's SOCKS endpoint, or `null`. */
  socksOverride: null,
  /** Separate credentials per container (off: every normal container shares the default). */
  isolateContainers: true,
  /** Ask before New identity. */
  confirmNewIdentity: true,
  /** New identity closes every tab and opens one fresh tab, as Tor Browser does. */
  closeTabsOnNewIdentity: true,
});

/**
 * Validates the SOCKS override fields of the options page. Both empty means "use the
 * broker's endpoint". Returns `{ok: true, value: {host, port} | null}` or `{ok: false, error}`.
 * The host must be an IP address or `localhost`: the proxy host is contacted before any DNS
 * and Tor-style profiles disable DNS (`network.dns.disabled`).
 */
export function validateSocksOverride(hostText, portText) {
  const host = String(hostText ?? "").trim();
  const port = String(portText ?? "").trim();
  if (host === "" && port === "") {
    return { ok: true, value: null };
  }
  if (host === "" || port === "") {
    return { ok: false, error: "Give both a host and a port, or leave both empty." };
  }
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (!isIpv4(bare) && !isIpv6(bare) && bare.toLowerCase() !== "localhost") {
    return { ok: false, error: "The host must be an IP address (e.g. 127.0.0.1 or ::1) or localhost." };
  }
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    return { ok: false, error: "The port must be a whole number from 1 to 65535." };
  }
  return { ok: true, value: { host: bare.toLowerCase(), port: Number(port) } };
}

/** Options read from storage, with defaults for anything missing or malformed. */
export function normalizeOptions(stored) {
  const raw = typeof stored === "object" && stored !== null ? stored : {};
  const options = { ...DEFAULT_OPTIONS };
  for (const name of ["isolateContainers", "confirmNewIdentity", "closeTabsOnNewIdentity"]) {
    if (typeof raw[name] === "boolean") {
      options[name] = raw[name];
    }
  }
  const override = raw.socksOverride;
  if (override !== null && override !== undefined) {
    const checked = validateSocksOverride(override.host, override.port);
    // A stored override that no longer validates must not silently fall back to another
    // endpoint: keep it, so the decision layer refuses it and answers the black hole.
    options.socksOverride = checked.ok && checked.value !== null ? checked.value : { invalid: true };
  }
  return options;
}

/** The SOCKS endpoint to use: the override if set, else the broker's, else `null`. */
export function effectiveSocks(options, brokerSocks) {
  if (options.socksOverride !== null) {
    return options.socksOverride.invalid ? null : options.socksOverride;
  }
  return brokerSocks ?? null;
}

function isIpv4(text) {
  const parts = text.split(".");
  return (
    parts.length === 4 &&
    parts.every((p) => /^[0-9]{1,3}$/.test(p) && Number(p) <= 255 && (p === "0" || !p.startsWith("0")))
  );
}

function isIpv6(text) {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(":")) {
    return false;
  }
  try {
    return new URL(`http://[${text}]/`).hostname.length > 2;
  } catch {
    return false;
  }
}
