import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  CATCH_ALL_URL,
  cacheKey,
  effectiveContainer,
  firstPartyOfRequest,
  firstPartyOfTab,
  ONE_OFF,
  ORIGIN_MEMO_SIZE,
  requestSource,
  forgetParsedUrls,
  networkOrigin,
  parsedUrlCount,
} from "../src/first-party.js";

// `details` shaped as Firefox 153 delivers them to proxy.onRequest
// (firefox-extension-facts.md §0: keys observed in the probe run).
function details(fields) {
  return {
    requestId: "101",
    method: "GET",
    frameId: 0,
    parentFrameId: -1,
    tabId: 3,
    incognito: false,
    cookieStoreId: "firefox-default",
    fromCache: false,
    thirdParty: false,
    timeStamp: 1700000000000,
    urlClassification: { firstParty: [], thirdParty: [] },
    ...fields,
  };
}

const mainFrame = details({
  type: "main_frame",
  url: "https://www.Example.co.uk/page?q=secret#frag",
  originUrl: "https://search.test/results",
  documentUrl: undefined,
  frameAncestors: [],
});

const nestedIframe = details({
  type: "sub_frame",
  url: "https://e.test/inner.html",
  frameId: 12,
  parentFrameId: 11,
  documentUrl: "https://b.test/frame.html",
  originUrl: "https://b.test/frame.html",
  frameAncestors: [
    { url: "https://b.test/frame.html", frameId: 11 },
    { url: "https://a.test/index.html", frameId: 0 },
  ],
  thirdParty: true,
});

const imageInIframe = details({
  type: "image",
  url: "https://f.test/pixel.png",
  frameId: 11,
  parentFrameId: 0,
  documentUrl: "https://b.test/frame.html",
  originUrl: "https://b.test/frame.html",
  frameAncestors: [{ url: "https://a.test/index.html", frameId: 0 }],
  thirdParty: true,
});

const subresourceOfTop = details({
  type: "script",
  documentId: "doc-top",
  url: "https://cdn.test/lib.js",
  documentUrl: "https://a.test/index.html",
  originUrl: "https://a.test/index.html",
  frameAncestors: [],
  thirdParty: true,
});

const favicon = details({
  type: "image",
  url: "https://a.test/favicon.ico",
  documentUrl: "https://a.test/index.html",
  originUrl: "https://a.test/index.html",
  frameAncestors: undefined,
});

const systemRequest = details({
  type: "xmlhttprequest",
  url: "https://firefox.settings.services.mozilla.com/v1/buckets/monitor/collections/changes/changeset",
  tabId: -1,
  frameId: -1,
  documentUrl: undefined,
  originUrl: undefined,
  frameAncestors: undefined,
});

const systemRequestWithOrigin = details({
  type: "xmlhttprequest",
  url: "https://sw-target.test/api",
  tabId: -1,
  documentUrl: undefined,
  originUrl: "https://a.test/sw.js",
  frameAncestors: undefined,
});

const speculative = details({
  type: "speculative",
  url: "https://a.test/",
  tabId: -1,
  documentUrl: undefined,
  originUrl: undefined,
  frameAncestors: undefined,
});

const fromOtherExtension = details({
  type: "xmlhttprequest",
  url: "https://api.test/data",
  tabId: -1,
  documentUrl: "moz-extension://0b1c6cb4-9d83-4a0a-8e0f-6f2c1e8e9a11/_generated_background_page.html",
  originUrl: "moz-extension://0b1c6cb4-9d83-4a0a-8e0f-6f2c1e8e9a11/_generated_background_page.html",
  frameAncestors: [],
});

const containerTab = details({
  type: "main_frame",
  url: "https://a.test/",
  cookieStoreId: "firefox-container-2",
  frameAncestors: [],
});

const privateWindow = details({
  type: "main_frame",
  url: "https://a.test/",
  incognito: true,
  cookieStoreId: "firefox-private",
  frameAncestors: [],
});

describe("firstPartyOfRequest", () => {
  it("uses a main frame's own URL, reduced to scheme and host", () => {
    const fp = firstPartyOfRequest(mainFrame);
    assert.equal(fp.host, "www.example.co.uk");
    assert.equal(fp.url, "https://www.example.co.uk/");
    assert.equal(fp.container, "firefox-default");
    assert.equal(fp.key, cacheKey("www.example.co.uk", "firefox-default"));
  });

  it("uses the top of frameAncestors for nested iframes and their subresources", () => {
    assert.equal(firstPartyOfRequest(nestedIframe).host, "a.test");
    assert.equal(firstPartyOfRequest(imageInIframe).host, "a.test");
  });

  it("uses documentUrl for loads of the top document itself (frameAncestors empty, a documentId)", () => {
    assert.equal(firstPartyOfRequest(subresourceOfTop).host, "a.test");
  });

  it("uses the tab's URL for tab requests that name no top document (favicons, workers)", () => {
    const tabUrl = (tabId) => (tabId === 3 ? "https://www.a.test/page" : undefined);
    assert.equal(firstPartyOfRequest(favicon, {}, tabUrl).host, "www.a.test");
    const other = details({ type: "other", url: "https://x.test/", originUrl: "https://o.test/style.css" });
    assert.equal(firstPartyOfRequest(other, {}, tabUrl).host, "www.a.test");
  });

  it("sends Firefox's own requests (tabId -1, no web document) to the catch-all", () => {
    const fp = firstPartyOfRequest(systemRequest);
    assert.equal(fp.host, null);
    assert.equal(fp.url, CATCH_ALL_URL);
    assert.equal(fp.key, cacheKey(null, "firefox-default"));
  });

  it("gives one-off credentials to web requests without a tab (shared and service workers)", () => {
    assert.equal(firstPartyOfRequest(systemRequestWithOrigin), ONE_OFF);
  });

  it("sends speculative connections to the catch-all even when they name a page", () => {
    const fp = firstPartyOfRequest(speculative);
    assert.equal(fp.host, null);
    assert.equal(fp.url, "about:blank");
  });

  it("sends requests initiated by moz-extension pages to the catch-all", () => {
    const fp = firstPartyOfRequest(fromOtherExtension);
    assert.equal(fp.host, null);
    assert.equal(fp.url, "about:blank");
  });

  it("keys container tabs by their container", () => {
    const fp = firstPartyOfRequest(containerTab);
    assert.equal(fp.container, "firefox-container-2");
    assert.notEqual(fp.key, firstPartyOfRequest({ ...containerTab, cookieStoreId: "firefox-default" }).key);
  });

  it("keeps private windows separate", () => {
    const fp = firstPartyOfRequest(privateWindow);
    assert.equal(fp.container, "firefox-private");
    assert.notEqual(fp.key, firstPartyOfRequest({ ...privateWindow, incognito: false, cookieStoreId: "firefox-default" }).key);
  });

  it("shares the default container when container isolation is off, but never with private windows", () => {
    const options = { isolateContainers: false };
    assert.equal(firstPartyOfRequest(containerTab, options).container, "firefox-default");
    assert.equal(firstPartyOfRequest(privateWindow, options).container, "firefox-private");
    assert.equal(firstPartyOfRequest({ ...privateWindow, cookieStoreId: undefined }, options).container, "firefox-private");
  });

  it("defaults a missing cookieStoreId to firefox-default", () => {
    assert.equal(firstPartyOfRequest({ ...mainFrame, cookieStoreId: undefined }).container, "firefox-default");
  });

  it("gives every host its own key and the catch-all a key no host can have", () => {
    const keys = new Set(
      [mainFrame, nestedIframe, containerTab, privateWindow, systemRequest].map((d) => firstPartyOfRequest(d).key),
    );
    assert.equal(keys.size, 5);
    const spoof = firstPartyOfRequest(details({ type: "main_frame", url: "http://--unknown--/", frameAncestors: [] }));
    assert.notEqual(spoof.key, firstPartyOfRequest(systemRequest).key);
  });

  it("never throws on odd details", () => {
    for (const odd of [{}, { type: "main_frame" }, { type: "main_frame", url: "not a url" }, { frameAncestors: [{}] }, { frameAncestors: [null] }]) {
      assert.equal(firstPartyOfRequest(odd).url, "about:blank");
    }
  });
});

describe("networkOrigin", () => {
  it("keeps network schemes and maps websockets to http(s)", () => {
    assert.deepEqual(networkOrigin("http://a.test:8080/x"), { host: "a.test", url: "http://a.test/" });
    assert.deepEqual(networkOrigin("wss://a.test/socket"), { host: "a.test", url: "https://a.test/" });
    assert.deepEqual(networkOrigin("https://user:pw@[::1]:443/"), { host: "[::1]", url: "https://[::1]/" });
  });

  it("normalises IDN hosts to punycode and drops a trailing path", () => {
    assert.deepEqual(networkOrigin("https://bücher.example/a"), { host: "xn--bcher-kva.example", url: "https://xn--bcher-kva.example/" });
  });

  it("looks inside blob: URLs", () => {
    assert.equal(networkOrigin("blob:https://a.test/7b9c0c3e-0000-4000-8000-000000000000").host, "a.test");
  });

  it("rejects non-network URLs", () => {
    for (const url of ["about:blank", "about:srcdoc", "moz-extension://x/y.html", "file:///etc/passwd", "data:text/html,hi", "blob:null/abc", "", undefined, "::"]) {
      assert.equal(networkOrigin(url), null, String(url));
      assert.equal(networkOrigin(url), null, `${String(url)} (remembered)`);
    }
  });

  it("remembers parsed URLs, bounded, and forgets them on request", () => {
    forgetParsedUrls();
    const first = networkOrigin("https://memo.test/page?x=1");
    assert.equal(networkOrigin("https://memo.test/page?x=1"), first, "the same frozen answer");
    assert.ok(Object.isFrozen(first));
    assert.notEqual(networkOrigin("https://other.test/page?x=1").host, first.host);
    for (let i = 0; i < ORIGIN_MEMO_SIZE + 10; i += 1) {
      networkOrigin(`https://h${i}.test/`);
    }
    assert.ok(parsedUrlCount() <= ORIGIN_MEMO_SIZE);
    assert.equal(networkOrigin(`https://h${ORIGIN_MEMO_SIZE + 9}.test/`).host, `h${ORIGIN_MEMO_SIZE + 9}.test`);
    forgetParsedUrls();
    assert.equal(parsedUrlCount(), 0);
  });
});

describe("firstPartyOfTab", () => {
  it("uses the tab URL", () => {
    assert.equal(firstPartyOfTab("https://a.test/page", "firefox-container-1").host, "a.test");
    assert.equal(firstPartyOfTab("https://a.test/page", "firefox-container-1").container, "firefox-container-1");
  });

  it("unwraps reader view and view-source", () => {
    assert.equal(firstPartyOfTab("about:reader?url=https%3A%2F%2Fnews.test%2Fstory", "firefox-default").host, "news.test");
    assert.equal(firstPartyOfTab("view-source:https://a.test/", "firefox-default").host, "a.test");
  });

  it("maps about: pages to the catch-all", () => {
    assert.equal(firstPartyOfTab("about:newtab", "firefox-default").url, "about:blank");
  });
});

describe("effectiveContainer", () => {
  it("passes container ids through when isolating", () => {
    assert.equal(effectiveContainer("firefox-container-7", false), "firefox-container-7");
    assert.equal(effectiveContainer(undefined, true), "firefox-private");
    assert.equal(effectiveContainer("", false), "firefox-default");
  });
});

// Workers, opaque-origin documents: `details` as the details probe of
// tests/tests/e2e_attribution.rs recorded them in Firefox ESR 153 (page on alpha.test, a frame
// from tracker.test).
describe("attribution of requests that name no top document", () => {
  const tabUrl = (tabId) => ({ 1: "http://alpha.test/c/page/workers", 2: "about:blank", 4: "view-source:http://gamma.test/x" })[tabId] ?? (tabId === 9 ? null : undefined);
  const workerFetchInThirdPartyFrame = details({
    type: "xmlhttprequest",
    url: "http://tracker.test/c/res/data.json",
    tabId: 1,
    frameId: 15032385544,
    parentFrameId: 0,
    frameAncestors: [],
    documentUrl: "http://tracker.test/c/w/dedicated.js",
    originUrl: "http://tracker.test/c/w/dedicated.js",
    thirdParty: true,
  });
  const importScriptsInThirdPartyFrame = details({
    type: "script",
    url: "http://tp2.test/c/w/imported.js",
    tabId: 1,
    frameAncestors: undefined,
    documentUrl: "http://tracker.test/c/w/dedicated.js",
    originUrl: "http://tracker.test/c/w/dedicated.js",
    thirdParty: true,
  });
  const workerFetchOfTopDocument = details({
    type: "xmlhttprequest",
    url: "http://tracker.test/c/res/data.json",
    tabId: 1,
    frameAncestors: [],
    documentUrl: "http://alpha.test/c/w/dedicated.js",
    thirdParty: true,
  });
  const sharedWorkerFetch = details({
    type: "xmlhttprequest",
    url: "http://tracker.test/c/res/data.json",
    tabId: -1,
    frameAncestors: undefined,
    documentUrl: "http://tracker.test/c/w/shared.js",
    originUrl: "http://tracker.test/c/w/shared.js",
  });
  const serviceWorkerScript = details({
    type: "script",
    url: "http://tracker.test/c/w/sw.js",
    tabId: -1,
    frameAncestors: undefined,
    documentUrl: "http://tracker.test/c/frame/workers",
    originUrl: "http://tracker.test/c/frame/workers",
  });
  const subresourceOfSandboxedTop = details({
    type: "image",
    url: "http://tp1.test/c/res/img.gif",
    tabId: 1,
    frameAncestors: [],
    documentId: "doc-sandboxed",
    documentUrl: undefined,
    originUrl: undefined,
  });
  const frameOfSandboxedTop = details({
    type: "sub_frame",
    url: "http://nest-b.test/c/frame/img",
    tabId: 1,
    frameId: 15032385545,
    parentFrameId: 0,
    frameAncestors: [{ url: "", frameId: 0 }],
  });
  const imageInFrameOfSandboxedTop = details({
    type: "image",
    url: "http://tp1.test/c/res/img.gif",
    tabId: 1,
    frameId: 15032385545,
    parentFrameId: 0,
    frameAncestors: [{ url: "moz-nullprincipal:{0d6eb3a0-0000-4000-8000-000000000000}", frameId: 0 }],
  });

  it("keys a third-party frame's worker requests by the tab's site, never the third party's", () => {
    for (const request of [workerFetchInThirdPartyFrame, importScriptsInThirdPartyFrame, workerFetchOfTopDocument]) {
      assert.deepEqual(requestSource(request), { kind: "tab", tabId: 1 });
      assert.equal(firstPartyOfRequest(request, {}, tabUrl).host, "alpha.test");
    }
  });

  it("keys an opaque-origin (CSP sandbox) top document's requests by the tab's site", () => {
    for (const request of [subresourceOfSandboxedTop, frameOfSandboxedTop, imageInFrameOfSandboxedTop]) {
      assert.equal(firstPartyOfRequest(request, {}, tabUrl).host, "alpha.test");
    }
  });

  it("gives shared and service workers' requests one-off credentials", () => {
    assert.equal(firstPartyOfRequest(sharedWorkerFetch, {}, tabUrl), ONE_OFF);
    assert.equal(firstPartyOfRequest(serviceWorkerScript, {}, tabUrl), ONE_OFF);
  });

  it("asks for the tab when its URL is not known, and gives one-off credentials when there is no tab", () => {
    assert.equal(firstPartyOfRequest({ ...workerFetchInThirdPartyFrame, tabId: 5 }, {}, tabUrl), undefined);
    assert.equal(firstPartyOfRequest({ ...workerFetchInThirdPartyFrame, tabId: 9 }, {}, tabUrl), ONE_OFF);
  });

  it("gives one-off credentials, not the catch-all, to web requests of a tab showing no network page", () => {
    assert.equal(firstPartyOfRequest({ ...workerFetchInThirdPartyFrame, tabId: 2 }, {}, tabUrl), ONE_OFF);
  });

  it("reads view-source and reader tab URLs as the page they show", () => {
    assert.equal(firstPartyOfRequest({ ...workerFetchInThirdPartyFrame, tabId: 4 }, {}, tabUrl).host, "gamma.test");
  });

  it("keeps the container of the request, not of the tab", () => {
    const fp = firstPartyOfRequest({ ...importScriptsInThirdPartyFrame, cookieStoreId: "firefox-container-1" }, {}, tabUrl);
    assert.equal(fp.container, "firefox-container-1");
  });

  it("never uses a worker's own document URL without a documentId", () => {
    // The rule that makes the difference: a request without a documentId (a worker's) names
    // the worker script, whose site is a third party's when a third-party frame started it.
    const withoutTab = { ...workerFetchOfTopDocument, tabId: -1 };
    assert.equal(firstPartyOfRequest(withoutTab, {}, tabUrl), ONE_OFF);
  });
});
