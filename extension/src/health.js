/**
 * Is this browser protected, and if not, what to do: the browser-side checks of `persite
 * doctor`, run live from the background page's status (Controller#status), and the verdict the
 * popup shows for one tab. Pure: status in, words out; the status page (status/status.js) and
 * the popup (popup/popup.js) only copy them into the DOM.
 *
 * Checks, in the order a request depends on them:
 * - `native-host`: Firefox can start Persite's helper (the native messaging host);
 * - `daemon`: the helper reaches the Persite service (the broker daemon), and its version;
 * - `tor`: tor is reachable (its control port answers) and connected to the Tor network;
 * - `socks`: the SOCKS endpoint the browser uses is tor's (the daemon's `socks_vouched`, or its
 *   `socks_not_tor` / `socks_unverified` verdict);
 * - `private-windows`, `default-proxy`, `service-workers`: gaps through which traffic bypasses
 *   the per-site circuits (path-checks.js).
 *
 * Each check is `{id, state, title, detail, fix}`: `state` is `ok`, `fail` (traffic is blocked
 * or leaves the per-site circuits), `warn` (cannot be confirmed) or `unknown` (not known yet,
 * usually because an earlier check failed); `fix` is "" when there is nothing to do.
 */

import { PATH, defaultProxyKind } from "./path-checks.js";

/** Check ids, in display order. */
export const CHECK = Object.freeze({
  nativeHost: "native-host",
  daemon: "daemon",
  tor: "tor",
  socks: "socks",
  privateWindows: "private-windows",
  defaultProxy: "default-proxy",
  serviceWorkers: "service-workers",
});

/** Checks whose failure blocks every web request (or every page load). */
const BLOCKING = new Set([CHECK.nativeHost, CHECK.daemon, CHECK.tor, CHECK.socks]);

const DOCTOR = "Then run `persite doctor` in a terminal to check the whole setup.";
/** The fix when the detail already names the cause and only doctor can say more. */
const DOCTOR_ALONE = "Run `persite doctor` in a terminal: it checks the whole setup and says what to change.";

/**
 * The checks for a status (Controller#status): `{connection, lastError, lastErrorCode, brokerUp,
 * brokerVersion, socks, tor, paths: {privateAllowed, proxySettings, tablessWorkers}}`.
 * A `null` or missing status gives every check `unknown`.
 */
export function healthChecks(status) {
  const s = status ?? {};
  return [
    nativeHostCheck(s),
    daemonCheck(s),
    torCheck(s),
    socksCheck(s),
    privateWindowsCheck(s),
    defaultProxyCheck(s),
    serviceWorkersCheck(s),
  ];
}

function check(id, state, title, detail, fix = "") {
  return { id, state, title, detail, fix };
}

/** The host runs: it answered `hello`, or failed it only because the daemon is unreachable. */
function hostAnswers(s) {
  return s.connection === "ready" || s.lastErrorCode === "broker_unavailable";
}

function nativeHostCheck(s) {
  const title = "Firefox can start Persite";
  if (hostAnswers(s)) {
    return check(CHECK.nativeHost, "ok", title, "Firefox talks to Persite's helper program.");
  }
  const retrying = typeof s.lastError === "string" && s.lastError !== "";
  if (s.connection === undefined || s.connection === "idle" || (s.connection === "connecting" && !retrying)) {
    return check(CHECK.nativeHost, "unknown", title, "Starting Persite's helper program…");
  }
  return check(
    CHECK.nativeHost,
    "fail",
    title,
    "Firefox cannot start Persite's helper program, so every web request is blocked.",
    `Run \`persite install\` in a terminal (it registers the helper with Firefox), then restart Firefox. ${DOCTOR}`,
  );
}

function daemonCheck(s) {
  const title = "The Persite service answers";
  if (!hostAnswers(s)) {
    return check(CHECK.daemon, "unknown", title, "Not known until Firefox can start Persite.");
  }
  if (s.connection === "ready" && s.brokerUp === true) {
    const version = typeof s.brokerVersion === "string" && s.brokerVersion !== "" ? ` (version ${s.brokerVersion})` : "";
    return check(CHECK.daemon, "ok", title, `The Persite service is running${version}.`);
  }
  return check(
    CHECK.daemon,
    "fail",
    title,
    "The Persite service is not running or does not answer, so every web request is blocked.",
    `Start it: run \`persite serve\` in a terminal (or \`persite browser\`). ${DOCTOR}`,
  );
}

function torCheck(s) {
  const title = "Tor is connected";
  if (s.brokerUp !== true) {
    return check(CHECK.tor, "unknown", title, "Not known until the Persite service answers.");
  }
  const tor = s.tor ?? null;
  if (tor === null) {
    return check(CHECK.tor, "unknown", title, "Asking the Persite service about tor…");
  }
  const why = typeof tor.error === "string" && tor.error !== "" ? ` ${sentence(tor.error)}` : "";
  if (tor.control === "none") {
    return check(
      CHECK.tor,
      "warn",
      title,
      "Persite has no connection to tor's control port, so it cannot tell whether tor is running.",
      `Give Persite tor's control port (\`[tor] control\` in config.toml, see docs/tor.md). ${DOCTOR}`,
    );
  }
  if (tor.control === "connecting") {
    return check(
      CHECK.tor,
      "fail",
      title,
      `Tor is not reachable: its control port does not answer.${why}`,
      `Start tor (for example \`sudo systemctl start tor\`), or let Persite run its own (\`[tor] mode = "managed"\`). ${DOCTOR}`,
    );
  }
  const progress = tor.bootstrap?.progress;
  if (typeof progress !== "number") {
    return check(CHECK.tor, "unknown", title, "Tor has not said how far it is connected to the Tor network.");
  }
  if (progress < 100) {
    const summary = tor.bootstrap.summary ? ` (${tor.bootstrap.summary})` : "";
    return check(
      CHECK.tor,
      "fail",
      title,
      `Tor is still connecting to the Tor network: ${Math.floor(progress)}%${summary}. Pages do not load until it is done.${why}`,
      "Wait a minute. If it stays stuck, check this computer's network connection, or set up bridges (docs/tor.md).",
    );
  }
  const version = typeof tor.version === "string" && tor.version !== "" ? ` (tor ${tor.version})` : "";
  return check(CHECK.tor, "ok", title, `Tor is connected to the Tor network${version}.`);
}

function socksCheck(s) {
  const title = "Traffic goes to tor";
  if (s.brokerUp !== true) {
    return check(CHECK.socks, "unknown", title, "Not known until the Persite service answers.");
  }
  const endpoint = s.socks ? formatEndpoint(s.socks) : null;
  if (endpoint === null) {
    return check(
      CHECK.socks,
      "fail",
      title,
      "No usable SOCKS endpoint, so every web request is blocked.",
      "Clear the SOCKS host and port in Persite's options to use the service's.",
    );
  }
  const tor = s.tor ?? null;
  if (typeof tor?.socksProblem === "string" && tor.socksProblem !== "") {
    return check(
      CHECK.socks,
      "fail",
      title,
      `Web requests are blocked: ${sentence(tor.socksProblem)}`,
      DOCTOR_ALONE,
    );
  }
  if (tor?.socksVouched === true && s.socksSource !== "options") {
    return check(CHECK.socks, "ok", title, `Tor listens on ${endpoint}, where Persite sends every site.`);
  }
  if (tor === null) {
    return check(CHECK.socks, "unknown", title, "Asking the Persite service about tor…");
  }
  const mine = s.socksSource === "options" ? " (set in Persite's options)" : "";
  return check(
    CHECK.socks,
    "warn",
    title,
    `Persite sends every site to ${endpoint}${mine}, but nothing confirms that tor listens there.`,
    `Give Persite tor's control port so it can check (docs/tor.md). ${DOCTOR}`,
  );
}

function privateWindowsCheck(s) {
  const title = "Private windows are covered";
  const allowed = s.paths?.privateAllowed ?? null;
  if (allowed === true) {
    return check(CHECK.privateWindows, "ok", title, "Persite runs in private windows too.");
  }
  if (allowed === false) {
    return check(
      CHECK.privateWindows,
      "fail",
      title,
      "Persite is not allowed to run in private windows: their traffic goes to Firefox's default proxy, without per-site circuits.",
      "Open about:addons → Persite → Details and set “Run in Private Windows” to Allow.",
    );
  }
  return check(CHECK.privateWindows, "unknown", title, "Firefox has not said whether Persite may run in private windows.");
}

function defaultProxyCheck(s) {
  const title = "Firefox's own proxy is tor";
  const socks = s.socks ?? null;
  if (socks === null) {
    return check(CHECK.defaultProxy, "unknown", title, "Not known until the SOCKS endpoint is known.");
  }
  const kind = defaultProxyKind(s.paths?.proxySettings ?? null, socks);
  if (kind === "tor") {
    return check(CHECK.defaultProxy, "ok", title, `Firefox's default proxy is tor's SOCKS port ${formatEndpoint(socks)}.`);
  }
  if (kind === "unknown") {
    return check(CHECK.defaultProxy, "unknown", title, "Firefox has not shown its proxy settings.");
  }
  const where = kind === "direct" ? "directly to websites, without Tor" : "to a proxy that is not tor's SOCKS port";
  return check(
    CHECK.defaultProxy,
    "fail",
    title,
    `While Persite is not running (browser start, update or crash), Firefox sends traffic ${where}.`,
    `Set Firefox's proxy to SOCKS v5 ${formatEndpoint(socks)} with “Proxy DNS when using SOCKS v5” (Settings → Network Settings), or use \`persite browser\`, whose profile does it.`,
  );
}

function serviceWorkersCheck(s) {
  const title = "No site runs in the background";
  if (s.paths === undefined || s.paths === null) {
    return check(CHECK.serviceWorkers, "unknown", title, "Not known yet.");
  }
  if (s.paths.tablessWorkers === true) {
    return check(
      CHECK.serviceWorkers,
      "warn",
      title,
      "Sites ran service or shared workers, which can keep connecting with no tab open; each of their requests gets a circuit of its own.",
      "Set dom.serviceWorkers.enabled to false in about:config, as Tor Browser does (the user.js that comes with Persite does this).",
    );
  }
  return check(CHECK.serviceWorkers, "ok", title, "No site has run service or shared workers so far.");
}

/**
 * The popup's verdict for one tab, from the checks and what the tab shows: `tab` is
 * `{host, site}` (tabInfo: `host` `null` for a page with no website, `site` `null` while no
 * credentials are known for it). Returns `{state, headline, detail, fix, problem}`:
 * - `protected`: every check passes and the site has its own credentials;
 * - `idle`: every check passes; the page has no website;
 * - `unknown`: still finding out;
 * - `at-risk`: web requests work, but something is missing or cannot be confirmed (a gap, an
 *   unverified tor, a site without credentials yet);
 * - `broken`: web requests are blocked or cannot reach the Tor network.
 * `problem` is the id of the check the words are about (or `null`).
 */
export function verdict(checks, tab = { host: null, site: null }) {
  const failing = checks.find((c) => BLOCKING.has(c.id) && c.state === "fail");
  if (failing) {
    return {
      state: "broken",
      headline: failing.id === CHECK.tor ? "Not protected: pages cannot reach Tor" : "Not protected: web requests are blocked",
      detail: failing.detail,
      fix: failing.fix,
      problem: failing.id,
    };
  }
  const waiting = checks.find((c) => BLOCKING.has(c.id) && c.state === "unknown");
  if (waiting) {
    return { state: "unknown", headline: "Checking…", detail: waiting.detail, fix: "", problem: waiting.id };
  }
  const gap = checks.find((c) => c.state === "fail" || c.state === "warn");
  if (gap) {
    const headline = BLOCKING.has(gap.id) ? "Not verified: Persite cannot check tor" : "Not fully protected";
    return { state: "at-risk", headline, detail: gap.detail, fix: gap.fix, problem: gap.id };
  }
  if (tab.host === null || tab.host === undefined) {
    return {
      state: "idle",
      headline: "Ready: every site gets its own Tor circuit",
      detail: "This page is not a website, so it has no circuit.",
      fix: "",
      problem: null,
    };
  }
  if (tab.site === null || tab.site === undefined) {
    return {
      state: "at-risk",
      headline: "Not protected yet: this page has not gone through Persite",
      detail: `Persite has not given ${tab.host} its own circuit yet (the page was loaded before Persite was ready, or its load failed).`,
      fix: "Reload the page.",
      problem: "site",
    };
  }
  return {
    state: "protected",
    headline: "Protected: this site has its own Tor circuit",
    detail: "",
    fix: "",
    problem: null,
  };
}

/** Whether any check needs the user's attention (the popup then offers the status page). */
export function needsAttention(checks) {
  return checks.some((c) => c.state === "fail" || c.state === "warn");
}

/** The path-checks code a gap check stands for (the popup's `#warnings li[data-code]`). */
export const GAP_CODE = Object.freeze({
  [CHECK.privateWindows]: PATH.privateWindows,
  [CHECK.defaultProxy]: PATH.defaultProxy,
  [CHECK.serviceWorkers]: PATH.serviceWorkers,
});

/**
 * Splits text at backquotes into parts to show, `{text, code}` (`code` true for a command or
 * name to show as code): `Run \`persite serve\`` → "Run ", then "persite serve" as code.
 */
export function codeParts(text) {
  return String(text)
    .split("`")
    .map((part, index) => ({ text: part, code: index % 2 === 1 }))
    .filter((part) => part.text !== "");
}

function formatEndpoint({ host, port }) {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Text ending in one full stop. */
function sentence(text) {
  const trimmed = String(text).trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}
