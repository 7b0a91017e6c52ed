import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import { EXTENSION_ID } from "../src/protocol-constants.js";

const manifest = JSON.parse(readFileSync(new URL("../manifest.json", import.meta.url), "utf8"));
const background = readFileSync(new URL("../background.js", import.meta.url), "utf8");

describe("manifest.json", () => {
  it("is an MV3 Firefox extension with the fixed id (protocol.md §4) and ESR 128 minimum", () => {
    assert.equal(manifest.manifest_version, 3);
    assert.equal(manifest.browser_specific_settings.gecko.id, EXTENSION_ID);
    assert.equal(manifest.browser_specific_settings.gecko.strict_min_version, "128.0");
  });

  it("runs the background as a module event page", () => {
    assert.deepEqual(manifest.background, { scripts: ["background.js"], type: "module" });
  });

  it("has the permissions the code uses and all hosts", () => {
    for (const permission of ["proxy", "nativeMessaging", "storage", "tabs", "browsingData", "privacy", "cookies"]) {
      assert.ok(manifest.permissions.includes(permission), permission);
    }
    assert.deepEqual(manifest.host_permissions, ["<all_urls>"]);
  });

  it("declares both keyboard shortcuts", () => {
    assert.ok(manifest.commands["new-circuit"]);
    assert.ok(manifest.commands["new-identity"]);
  });
});

describe("background.js", () => {
  it("registers proxy.onRequest for <all_urls> before any other statement that could throw", () => {
    const firstStatement = background
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line.length > 0 && !line.startsWith("import ") && !line.startsWith("//"))[0];
    assert.equal(firstStatement, 'browser.proxy.onRequest.addListener(onProxyRequest, { urls: ["<all_urls>"] });');
  });

  it("connects to the native host named in protocol.md", () => {
    assert.match(background, /connectNative\(NATIVE_HOST_NAME\)/);
  });
});
