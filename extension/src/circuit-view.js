/**
 * View model of the popup's circuit display and tor status line, modelled on Tor Browser's
 * circuit panel (tor-browser-isolation-facts.md §2.3): "This browser" → guard → middle → exit
 * → the site, each relay with its country flag, region name and IP addresses; bridges as
 * "Bridge: <type>" without a country; an "Onion site relays" step for .onion sites; the note
 * "Your guard node may not change". Pure: data in, labels out; popup.js only copies them into
 * the DOM.
 *
 * The states (`data-state` of `#circuit-display`):
 * - `hidden`: the page has no network first party (about:, moz-extension:, file:, …);
 * - `unavailable`: the broker cannot or will not say (reason in plain words);
 * - `pending`: asked and waiting, or the site has no circuit yet (no connection since its
 *   credentials were issued);
 * - `shown`: the relays.
 */

/** Text when the broker has no circuit for the site yet. */
export const NO_CIRCUIT_YET = "No circuit yet: this site has not connected since it got its own circuit. Load or reload the page.";

/** Text while the broker is being asked. */
export const ASKING = "Asking Persite for this site's circuit…";

/**
 * The circuit display for one source:
 * - `{pending: true}` — the request is on its way;
 * - `{host, circuit}` — the background's answer (`host` `null`: no network first party);
 * - `{error: {code, message}}` — the request failed (`code` from the broker or the popup).
 *
 * Returns `{state, heading, reason, rows, note, bytes}`; `rows` are `{role, label, detail,
 * flag, fingerprint, title}` from "This browser" to the site, `role` being `browser`, `guard`,
 * `bridge`, `middle`, `exit`, `conflux` (a conflux set's other legs, folded into one line),
 * `onion-relays` or `site`.
 *
 * @param {object} source
 * @param {{locale?: string}} [options] locale for region names (default: the runtime's)
 */
export function circuitView(source, { locale } = {}) {
  const empty = { heading: "", reason: "", rows: [], note: "", bytes: "" };
  if (source?.error) {
    return { ...empty, state: "unavailable", reason: unavailableText(source.error.code) };
  }
  if (!source || source.pending) {
    return { ...empty, state: "pending", reason: ASKING };
  }
  if (source.host === null || source.circuit?.reason === "no_network_first_party") {
    return { ...empty, state: "hidden" };
  }
  const { circuit } = source;
  const host = source.host ?? circuit.site;
  const heading = `Circuit for ${shortenHost(host)}`;
  if (!circuit.available) {
    return { ...empty, state: "unavailable", heading, reason: unavailableText(circuit.reason) };
  }
  const circuits = circuit.circuits.filter((c) => c.hops.length > 0);
  if (circuits.length === 0) {
    return { ...empty, state: "pending", heading, reason: NO_CIRCUIT_YET };
  }
  const names = regionNamer(locale);
  const rows = [{ role: "browser", label: "This browser", detail: "", flag: "", fingerprint: "", title: "" }];
  // One path, as Tor Browser shows it; a conflux set's other legs fold into one line.
  const [first, ...others] = circuits;
  first.hops.forEach((hop, position) => rows.push(hopRow(hop, position === 0, names)));
  if (others.length > 0) {
    rows.push(parallelRow(others, names));
  }
  if (circuit.onion) {
    rows.push({ role: "onion-relays", label: "Onion site relays", detail: "", flag: "", fingerprint: "", title: "" });
  }
  rows.push({ role: "site", label: shortenHost(host), detail: "", flag: "", fingerprint: "", title: host });
  const bridged = circuits.some((c) => c.hops[0].role === "bridge");
  return {
    state: "shown",
    heading,
    reason: "",
    rows,
    note: bridged ? "Your bridge may not change" : "Your guard node may not change",
    bytes: bytesText(circuit.bytes),
  };
}

/**
 * The line standing for a conflux set's other legs: "+1 parallel path", its title naming their
 * relays (tor sends the site's traffic over all legs; they share the exit).
 */
function parallelRow(legs, names) {
  const count = legs.length;
  const relays = legs.map((leg) => leg.hops.map((hop) => (hop.country ? names(hop.country) : hop.nickname || "relay")).join(" → "));
  return {
    role: "conflux",
    label: `+${count} parallel path${count === 1 ? "" : "s"}`,
    detail: "",
    flag: "",
    fingerprint: "",
    title: `Tor also carries this site's traffic over ${count === 1 ? "another circuit" : `${count} other circuits`} (conflux): ${relays.join("; ")}`,
  };
}

/**
 * The relays of a shown circuit view in words, guard first ("Germany → France → Netherlands"),
 * for the message after New circuit; "" when no path is shown.
 */
export function pathText(view) {
  const relays = (view?.rows ?? []).filter((r) => ["guard", "bridge", "middle", "exit"].includes(r.role));
  return relays.map((r) => r.label.replace(/ \(guard\)$/, "")).join(" → ");
}

/** The relay fingerprints of a shown view, guard first (to tell a new path from the old). */
export function pathFingerprints(view) {
  return (view?.rows ?? []).filter((r) => r.fingerprint !== "").map((r) => r.fingerprint);
}

/** One relay row; `first` marks the circuit's entry (labelled "(guard)" as in Tor Browser). */
function hopRow(hop, first, names) {
  const title = hop.nickname ? `Relay ${hop.nickname}` : "";
  const detail = [hop.ip, hop.ipv6].filter((a) => typeof a === "string" && a.length > 0).join(", ");
  if (hop.role === "bridge") {
    return { role: "bridge", label: bridgeLabel(hop.bridgeType), detail, flag: "", fingerprint: hop.fingerprint, title };
  }
  const region = hop.country ? names(hop.country) : "Unknown region";
  return {
    role: hop.role,
    label: first || hop.role === "guard" ? `${region} (guard)` : region,
    detail,
    flag: hop.country ? flagEmoji(hop.country) : "",
    fingerprint: hop.fingerprint,
    title,
  };
}

/** "Bridge: obfs4", "Bridge: meek" for `meek_lite`, plain "Bridge" for a vanilla bridge. */
export function bridgeLabel(type) {
  if (!type || type === "vanilla") {
    return "Bridge";
  }
  return `Bridge: ${type === "meek_lite" ? "meek" : type}`;
}

/** The flag emoji of a two-letter country code (regional indicator symbols), or "". */
export function flagEmoji(country) {
  if (typeof country !== "string" || !/^[A-Za-z]{2}$/.test(country)) {
    return "";
  }
  const base = 0x1f1e6 - "A".charCodeAt(0);
  return String.fromCodePoint(...[...country.toUpperCase()].map((c) => base + c.charCodeAt(0)));
}

/** A function naming regions by country code, falling back to the upper-case code. */
export function regionNamer(locale) {
  let displayNames = null;
  try {
    displayNames = new Intl.DisplayNames(locale ? [locale] : undefined, { type: "region" });
  } catch {
    // No Intl region data: the code itself is still informative.
  }
  return (country) => {
    const code = country.toUpperCase();
    try {
      return displayNames?.of(code) ?? code;
    } catch {
      return code;
    }
  };
}

/** The reason a circuit cannot be shown, in plain words, for a broker reason or error code. */
export function unavailableText(code) {
  const prefix = "Circuit information unavailable";
  switch (code) {
    case "no_control_port":
      return `${prefix}: Persite has no connection to tor's control port, so it cannot see circuits.`;
    case "not_bootstrapped":
      return `${prefix}: tor has not finished connecting to the Tor network.`;
    case "unknown_type":
      return `${prefix}: this version of the Persite service cannot show circuits.`;
    case "not_connected":
    case "disconnected":
    case "broker_unavailable":
      return `${prefix}: the Persite service is not running.`;
    case "timeout":
      return `${prefix}: the Persite service did not answer in time.`;
    case "protocol":
      return `${prefix}: the Persite service's answer could not be read.`;
    default:
      return `${prefix}${typeof code === "string" && code.length > 0 ? ` (${code})` : ""}.`;
  }
}

/**
 * Whether a `circuit` push concerns the circuit on display: same site, container and tab (a
 * push with a `tab` is one tab's display of a per-tab site; the popup shows the site-wide one,
 * whose pushes have no tab). When the site is not known yet (no answer so far), any push for the
 * container may be it, so the popup asks again.
 *
 * @param {{site: string|null, container: string, tab?: number|null}} shown
 * @param {{site: string, container: string, tab?: number|null}} pushed
 */
export function circuitPushApplies(shown, pushed) {
  if (pushed.container !== shown.container || (pushed.tab ?? null) !== (shown.tab ?? null)) {
    return false;
  }
  return shown.site === null || shown.site === pushed.site;
}

/**
 * The tor status line while tor is not ready, from a tor status (protocol.parseTorStatus) or
 * `null`. Returns `{hidden, text, progress}`; hidden once bootstrapped (100 %) or when unknown.
 * When the broker refuses credentials because nothing shows its SOCKS endpoint is tor, the
 * line says so and what to do, whatever else is known.
 */
export function bootstrapView(tor) {
  const hidden = { hidden: true, text: "", progress: null };
  if (typeof tor?.socksProblem === "string" && tor.socksProblem !== "") {
    return { hidden: false, text: `Web requests are blocked: ${tor.socksProblem}`, progress: null };
  }
  if (tor === null || tor === undefined || tor.control === "none") {
    return hidden;
  }
  if (tor.control === "connecting") {
    return { hidden: false, text: "Tor: waiting for tor's control port…", progress: null };
  }
  const progress = tor.bootstrap?.progress;
  if (typeof progress !== "number" || progress >= 100) {
    return hidden;
  }
  const summary = tor.bootstrap.summary ? ` (${tor.bootstrap.summary})` : "";
  return { hidden: false, text: `Tor is connecting to the Tor network: ${Math.floor(progress)}%${summary}`, progress };
}

/**
 * What happened to tor's NEWNYM during New identity, from a parsed `new_identity` result
 * (`{newnym, newnymDelayS}`); "" when the broker does not say.
 */
export function newnymText({ newnym, newnymDelayS } = {}) {
  switch (newnym) {
    case "sent":
      return "Tor builds new circuits now.";
    case "delayed":
      return `Tor builds new circuits in ${Math.ceil(newnymDelayS ?? 0)} s (it allows this once every 10 seconds).`;
    case "unavailable":
      return "Persite cannot reach tor's control port, but every site still gets a new circuit.";
    default:
      return "";
  }
}

/** "1.2 MB received, 7.9 kB sent" for a circuit result's `bytes`, or "" without them. */
export function bytesText(bytes) {
  if (!bytes) {
    return "";
  }
  return `Carried for this site: ${formatBytes(bytes.read)} received, ${formatBytes(bytes.written)} sent`;
}

/** Bytes in SI units, one decimal above 1 kB. */
export function formatBytes(count) {
  const units = ["kB", "MB", "GB", "TB"];
  if (count < 1000) {
    return `${count} B`;
  }
  let value = count;
  let unit = "B";
  for (const next of units) {
    if (value < 1000) {
      break;
    }
    value /= 1000;
    unit = next;
  }
  return `${value.toFixed(1)} ${unit}`;
}

/**
 * A host for display: a v3 onion address (56 characters) is shortened to its first six and
 * last four characters, as Tor Browser shortens them; other hosts are returned as they are.
 */
export function shortenHost(host) {
  const match = /^(?:(.*)\.)?([a-z2-7]{56})\.onion$/i.exec(host ?? "");
  if (!match) {
    return host ?? "";
  }
  const onion = match[2];
  const prefix = match[1] ? `${match[1]}.` : "";
  return `${prefix}${onion.slice(0, 6)}…${onion.slice(-4)}.onion`;
}
