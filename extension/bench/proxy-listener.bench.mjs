/**
 * Cost of the proxy listener's cache-hit path (ordinary and per-tab credentials), against a
 * bare Map lookup (the cheapest possible listener). Run: `npm run bench`. Node only measures our
 * JavaScript; in Firefox each call also pays a parent↔extension IPC (~8 µs for a trivial
 * listener). For the listener's own time in Firefox use the perf probe (README).
 */

import { Controller } from "../src/controller.js";
import { portFactory } from "../test/support/fakes.mjs";

const ITERATIONS = 200_000;
const hosts = Array.from({ length: 50 }, (_, i) => `site-${i}.example`);
const requests = hosts.flatMap((host) => [
  { type: "main_frame", url: `https://${host}/`, tabId: 1, cookieStoreId: "firefox-default", frameAncestors: [] },
  { type: "image", url: `https://cdn.example/${host}.png`, tabId: 1, cookieStoreId: "firefox-default", documentUrl: `https://${host}/page`, frameAncestors: [] },
  { type: "sub_frame", url: "https://ads.example/frame", tabId: 1, cookieStoreId: "firefox-default", documentUrl: `https://${host}/page`, frameAncestors: [{ url: `https://${host}/page`, frameId: 0 }] },
]);

const factory = portFactory();
const controller = new Controller({
  connect: factory.connect,
  loadSession: async () => undefined,
  saveSession: async () => {},
  loadOptions: async () => undefined,
});
await controller.ensureReady();
factory.last.answerHello();
for (const host of hosts) {
  controller.cache.set(`${host}\nfirefox-default`, { site: host, container: "firefox-default", username: `u-${host}`, password: "p", expiresAt: null });
}

const baseline = new Map(hosts.map((h) => [h, [{ type: "socks", host: "127.0.0.1", port: 9050 }, null]]));

function measure(name, fn) {
  for (let i = 0; i < 20_000; i += 1) {
    fn(requests[i % requests.length]);
  }
  const start = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < ITERATIONS; i += 1) {
    const answer = fn(requests[i % requests.length]);
    if (!Array.isArray(answer)) {
      throw new Error(`${name}: not a synchronous hit`);
    }
    sink += answer.length;
  }
  const ns = Number(process.hrtime.bigint() - start) / ITERATIONS;
  console.log(`${name.padEnd(32)} ${(ns / 1000).toFixed(3)} µs/call (${sink > 0 ? "ok" : "?"})`);
}

measure("baseline Map lookup", (d) => baseline.get(d.url.length > 0 ? hosts[0] : ""));
measure("controller.onRequest (cache hit)", controller.onRequest);

// The same sites with per-tab credentials (the broker answered `per_tab: true`).
for (const host of hosts) {
  controller.cache.set(`${host}\nfirefox-default`, { site: host, container: "firefox-default", username: `t-${host}`, password: "p", expiresAt: null, perTab: true }, 1);
}
measure("controller.onRequest (per-tab hit)", controller.onRequest);
controller.client.stop();
