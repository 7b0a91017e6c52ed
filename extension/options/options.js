/**
 * Options page. Element ids (contract with the end-to-end tests): #socks-host, #socks-port,
 * #isolate-containers, #confirm-new-identity, #close-tabs, #save, #options-status (data-kind),
 * body[data-ready]. Saves to `storage.local` (the background page picks changes up at once).
 */

import { OPTIONS_KEY, normalizeOptions, validateSocksOverride } from "../src/options.js";

const $ = (id) => document.getElementById(id);

load().catch((e) => report("error", `Cannot read the options: ${e.message}`));
$("options-form").addEventListener("submit", (event) => {
  event.preventDefault();
  save().catch((e) => report("error", `Cannot save: ${e.message}`));
});

async function load() {
  const options = normalizeOptions((await browser.storage.local.get(OPTIONS_KEY))[OPTIONS_KEY]);
  const override = options.socksOverride;
  $("socks-host").value = override && !override.invalid ? override.host : "";
  $("socks-port").value = override && !override.invalid ? String(override.port) : "";
  $("isolate-containers").checked = options.isolateContainers;
  $("confirm-new-identity").checked = options.confirmNewIdentity;
  $("close-tabs").checked = options.closeTabsOnNewIdentity;
  if (override?.invalid) {
    report("error", "The stored SOCKS endpoint is invalid; web requests are blocked until it is fixed or cleared.");
  }
  document.body.dataset.ready = "true";
}

async function save() {
  const socks = validateSocksOverride($("socks-host").value, $("socks-port").value);
  $("socks-host").setAttribute("aria-invalid", String(!socks.ok));
  $("socks-port").setAttribute("aria-invalid", String(!socks.ok));
  if (!socks.ok) {
    report("error", socks.error);
    return;
  }
  const options = {
    socksOverride: socks.value,
    isolateContainers: $("isolate-containers").checked,
    confirmNewIdentity: $("confirm-new-identity").checked,
    closeTabsOnNewIdentity: $("close-tabs").checked,
  };
  await browser.storage.local.set({ [OPTIONS_KEY]: options });
  report("ok", "Saved.");
}

function report(kind, text) {
  $("options-status").dataset.kind = kind;
  $("options-status").textContent = text;
}
