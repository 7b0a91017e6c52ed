/**
 * First-run and status page: runs the browser-side checks of `persite doctor` live
 * (src/health.js) from the background's status and shows each with its fix. Opened when the
 * extension is installed and from the popup whenever something is wrong. Element ids (a
 * contract with the end-to-end tests): #overall (data-state = unknown | ok | attention |
 * broken), #checks > li.check (data-check = the check's id, data-state = ok | fail | warn |
 * unknown; .title, .detail, .fix), body[data-ready] once the first status is shown.
 */

import { healthChecks } from "../src/health.js";
import { richNodes } from "../src/rich-text.js";
import { MESSAGE } from "../src/messages.js";

const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);

refresh().finally(() => {
  document.body.dataset.ready = "true";
  setInterval(() => refresh(), POLL_MS);
});

async function refresh() {
  let status;
  let error;
  try {
    const reply = await browser.runtime.sendMessage({ type: MESSAGE.status });
    status = reply?.ok ? reply.status : null;
    error = reply?.ok ? null : (reply?.error ?? "no answer");
  } catch (e) {
    error = e.message;
  }
  render(healthChecks(status), error);
}

function render(checks, error) {
  const overall = $("overall");
  const failing = checks.filter((c) => c.state === "fail");
  const warned = checks.filter((c) => c.state === "warn");
  if (error !== null) {
    overall.dataset.state = "broken";
    overall.textContent = `Persite's background page does not answer (${error}). Reload Persite in about:addons, or restart Firefox.`;
  } else if (failing.length > 0) {
    overall.dataset.state = "broken";
    overall.textContent = `${count(failing.length, "problem")} to fix before every site is protected; see below.`;
  } else if (warned.length > 0) {
    overall.dataset.state = "attention";
    overall.textContent = `Nothing is blocked, but ${count(warned.length, "thing")} cannot be confirmed or needs attention; see below.`;
  } else if (checks.some((c) => c.state === "unknown")) {
    overall.dataset.state = "unknown";
    overall.textContent = "Checking…";
  } else {
    overall.dataset.state = "ok";
    overall.textContent = "All set: every site you open gets its own Tor circuit.";
  }
  $("checks").replaceChildren(...checks.map(checkItem));
}

function checkItem(check) {
  const item = document.createElement("li");
  item.className = "check";
  item.dataset.check = check.id;
  item.dataset.state = check.state;
  const mark = document.createElement("span");
  mark.className = "mark";
  mark.setAttribute("aria-hidden", "true");
  mark.textContent = { ok: "✓", fail: "✗", warn: "!", unknown: "…" }[check.state] ?? "?";
  const title = document.createElement("strong");
  title.className = "title";
  title.textContent = check.title;
  const state = document.createElement("span");
  state.className = "visually-hidden";
  state.textContent = { ok: " (done)", fail: " (problem)", warn: " (needs attention)", unknown: " (not known yet)" }[check.state] ?? "";
  const detail = document.createElement("p");
  detail.className = "detail";
  detail.append(...richNodes(document, check.detail));
  item.append(mark, title, state, detail);
  if (check.fix !== "") {
    const fix = document.createElement("p");
    fix.className = "fix";
    fix.append(...richNodes(document, `What to do: ${check.fix}`));
    item.append(fix);
  }
  return item;
}

function count(n, word) {
  return n === 1 ? `One ${word}` : `${n} ${word}s`;
}
