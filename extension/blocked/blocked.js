/**
 * The page a tab shows when Persite black-holed its navigation (src/blocked.js): names
 * Persite, says why from the live checks (src/health.js) and what to do, and retries. The
 * address carries a token only; the background answers the host to show and reloads the URL
 * itself. Element ids (a contract with the end-to-end tests): #blocked-site, #blocked-reason
 * (data-problem = a check id or "none"), #blocked-fix, #retry, #open-status, #retry-message,
 * body[data-ready].
 */

import { tokenOf } from "../src/blocked.js";
import { healthChecks, verdict } from "../src/health.js";
import { setRich } from "../src/rich-text.js";
import { MESSAGE, STATUS_PAGE } from "../src/messages.js";

const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);
const token = tokenOf(location.search);

$("retry").addEventListener("click", () => retry());
$("open-status").addEventListener("click", () => {
  browser.tabs.create({ url: browser.runtime.getURL(STATUS_PAGE) });
});

refresh().finally(() => {
  document.body.dataset.ready = "true";
  setInterval(() => refresh(), POLL_MS);
});

async function refresh() {
  let reply;
  try {
    reply = await browser.runtime.sendMessage({ type: MESSAGE.blockedInfo, token });
  } catch (e) {
    reply = { ok: false, error: e.message };
  }
  const host = reply?.blocked?.host ?? null;
  $("blocked-site").textContent = host
    ? `The page on ${host} was not loaded, so nothing was sent without Tor.`
    : "The page was not loaded, so nothing was sent without Tor.";
  $("retry").disabled = reply?.blocked === null || reply?.blocked === undefined;
  if (!reply?.ok) {
    show("none", "Persite's background page does not answer.", "Reload Persite in about:addons, or restart Firefox.");
    return;
  }
  const checks = healthChecks(reply.status);
  const failing = checks.find((c) => c.state === "fail" && ["native-host", "daemon", "tor", "socks"].includes(c.id));
  if (failing) {
    show(failing.id, failing.detail, failing.fix);
    return;
  }
  const said = verdict(checks, { host: null, site: null });
  if (said.state === "unknown") {
    show("none", "Persite is still starting.", "Wait a moment, then try again.");
  } else {
    show(
      "none",
      "Persite could not get this site its own Tor circuit in time; it works again now.",
      "Try again. If it keeps happening, run `persite doctor` in a terminal.",
    );
  }
}

function show(problem, reason, fix) {
  $("blocked-reason").dataset.problem = problem;
  $("blocked-reason").textContent = reason;
  setRich($("blocked-fix"), fix === "" ? "" : `What to do: ${fix}`);
}

async function retry() {
  $("retry-message").textContent = "";
  try {
    const reply = await browser.runtime.sendMessage({ type: MESSAGE.blockedRetry, token });
    if (!reply?.ok) {
      $("retry-message").textContent = reply?.error ?? "Persite did not answer.";
    }
  } catch (e) {
    $("retry-message").textContent = e.message;
  }
}
