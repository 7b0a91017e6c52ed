/**
 * The extension's state and decisions, wired to injected I/O so it runs under `node --test`:
 * the proxy answer for each request, the credentials cache and its `storage.session` mirror,
 * the broker connection, the broker side of New circuit / New identity, tor's status and the
 * circuit display's requests.
 * `background.js` supplies `browser.*` adapters; nothing here touches `browser` directly.
 *
 * Fail closed: {@link Controller#onRequest} never throws and never returns a rejected promise
 * (Firefox would go DIRECT); whenever the right credentials are not known it answers the
 * black hole (proxy-decision.js).
 */

import { BrokerClient } from "./broker-client.js";
import { CredentialsCache } from "./credentials-cache.js";
import { firstPartyOfRequest, firstPartyOfTab, forgetParsedUrls, ONE_OFF } from "./first-party.js";
import { DEFAULT_OPTIONS, effectiveSocks, normalizeOptions } from "./options.js";
import { parsePolicyTable, policyGetRequest, policySetRequest } from "./policy-form.js";
import {
  BrokerError,
  checkReplyFor,
  circuitRequest,
  credentialsRequest,
  helloRequest,
  newCircuitRequest,
  newIdentityRequest,
  parseCircuitResult,
  parseCredentialsResult,
  parseHelloResult,
  parseNewCircuitResult,
  parseNewIdentityResult,
  parseStatusResult,
  ProtocolError,
  sessionEndedRequest,
  statusRequest,
  tabClosedRequest,
} from "./protocol.js";
import { unprotectedPaths } from "./path-checks.js";
import { blackHole, decide, oneOffCredentials } from "./proxy-decision.js";
import { PRIVATE_CONTAINER, Sessions } from "./sessions.js";
import { SiteLog } from "./site-list.js";

/** Longest wait for a tab's URL (first-party.js rule 5), in ms; then one-off credentials. */
export const TAB_LOOKUP_TIMEOUT_MS = 2_000;

/** Longest wait for the state restore on an event-page wake, in ms. */
export const READY_TIMEOUT_MS = 5_000;

/** Delay that groups changes of the cache into one `storage.session` write, in ms. */
export const PERSIST_DELAY_MS = 100;

/** `storage.session` key of the mirrored state. */
export const SESSION_KEY = "persite-state";

/**
 * How often a request retries when an invalidation raced with its broker round trip before it
 * gives up with the black hole.
 */
const MAX_RACED_ATTEMPTS = 3;

/** Owns the cache, the broker connection and the options; answers `proxy.onRequest`. */
export class Controller {
  /**
   * @param {object} io
   * @param {() => object} io.connect opens the native port
   * @param {() => Promise<object|undefined>} io.loadSession reads the `storage.session` mirror
   * @param {(state: object) => Promise<void>} io.saveSession writes it
   * @param {() => Promise<object|undefined>} io.loadOptions reads the stored options
   * @param {(tabId: number) => Promise<string|null>} [io.tabUrl] the URL a tab shows, `null`
   *   when there is no such tab (first-party.js rule 5)
   * @param {(status: object) => void} [io.onStatus] protection status changed (badge)
   * @param {(event: object) => void} [io.onEvent] tor data for open popups:
   *   `{type: "circuit", circuit}` (a `circuit` push) or `{type: "tor_status", tor}` (the tor
   *   status changed, by push or by a `status` answer)
   * @param {(message: string) => void} [io.log] diagnostics, never with domain names
   * @param {() => number} [io.now]
   * @param {Function} [io.setTimer]
   * @param {Function} [io.clearTimer]
   * @param {number} [io.requestTimeoutMs]
   * @param {object} [io.backoff]
   */
  constructor({
    connect,
    loadSession,
    saveSession,
    loadOptions,
    tabUrl = async () => null,
    onStatus = () => {},
    onEvent = () => {},
    log = () => {},
    now = Date.now,
    // Called through wrappers: Firefox's timer functions throw when called as a method of
    // another object ("'setTimeout' called on an object that does not implement Window").
    setTimer = (callback, ms) => setTimeout(callback, ms),
    clearTimer = (id) => clearTimeout(id),
    requestTimeoutMs,
    backoff,
  }) {
    this.loadSession = loadSession;
    this.now = now;
    this.saveSession = saveSession;
    this.loadOptions = loadOptions;
    this.tabUrl = tabUrl;
    /**
     * The URL each tab shows, from `tabs.onUpdated` or a lookup: the first party of a tab's
     * requests that name none themselves (workers, opaque-origin documents). In memory only;
     * a tab's entry goes with the tab.
     */
    this.tabUrls = new Map();
    /** What the background page found about paths that bypass Persite (path-checks.js). */
    this.pathFacts = { privateAllowed: null, proxySettings: null, tablessWorkers: false };
    this.onStatus = onStatus;
    this.onEvent = onEvent;
    this.log = log;
    this.setTimer = setTimer;
    this.clearTimer = clearTimer;
    this.options = { ...DEFAULT_OPTIONS };
    /** `instance` of the daemon the cached credentials came from. */
    this.instance = null;
    /**
     * SOCKS endpoint from the connected daemon's last `hello`; `null` while not known: before
     * the first `hello` of this page's life, and from the loss of the daemon (or of the port)
     * until the reconnected daemon's `hello` (it may listen elsewhere now). Requests wait for
     * it (see {@link Controller#endpoint}); none is answered with a stale one.
     */
    this.brokerSocks = null;
    /** The running `hello` refresh (refreshHello), so that waiting requests share one. */
    this.helloRefresh = null;
    /** Requests waiting for the daemon's endpoint: called after each `hello` (or its failure). */
    this.endpointWaiters = [];
    /** The host reached the daemon (cleared by `broker_disconnected`). */
    this.brokerUp = false;
    /** Tor's status from the broker (protocol.parseTorStatus), or `null` while unknown. */
    this.torStatus = null;
    /** The daemon's version from its last `hello`, or `null`. */
    this.brokerVersion = null;
    /** The running `status` request, so that refreshes do not pile up. */
    this.torStatusRequest = null;
    /** While > 0 (New identity running) every request gets the black hole. */
    this.barrier = 0;
    /** True once options and the session mirror are loaded. */
    this.isReady = false;
    /** True once the session mirror has been read, so writing it cannot erase it. */
    this.restored = false;
    /**
     * True from a start without a session mirror (a new browser session, or the extension
     * (re)installed) until a handshake told the broker that tab ids start over.
     */
    this.tabsResetPending = false;
    this.readyPromise = null;
    this.persistQueued = false;
    /** This browser session's and private browsing session's secrets (sessions.js). */
    this.sessions = new Sessions();
    this.cache = new CredentialsCache({ now, onChange: (kind) => this.schedulePersist(kind === "removed") });
    /** The sites this browser session used, for the sites page (site-list.js; memory only). */
    this.sites = new SiteLog({ now });
    this.client = new BrokerClient({
      connect,
      log,
      setTimer,
      clearTimer,
      requestTimeoutMs,
      backoff,
      buildHello: (id) => helloRequest(id, { tabsReset: this.tabsResetPending }),
      onHello: (info) => {
        this.tabsResetPending = false;
        this.handleHello(info);
      },
      onPush: (push) => this.handlePush(push),
      onStateChange: (state) => this.handleClientState(state),
    });
    this.onRequest = this.onRequest.bind(this);
  }

  /** Loads the state (once; retried by the next caller if it failed). */
  ensureReady() {
    if (this.readyPromise === null) {
      this.readyPromise = this.init().catch((e) => {
        this.readyPromise = null;
        throw e;
      });
    }
    return this.readyPromise;
  }

  async init() {
    if (!this.restored) {
      let session;
      try {
        session = await this.loadSession();
      } catch (e) {
        this.log(`cannot read the session mirror, starting empty: ${errorText(e)}`);
      }
      this.restore(session);
      this.restored = true;
      this.client.start();
    }
    this.options = normalizeOptions(await this.loadOptions());
    this.isReady = true;
    this.schedulePersist();
    this.emitStatus();
  }

  /**
   * The `proxy.onRequest` listener. Cache hits answer synchronously; misses return a promise
   * that always resolves (see the module comment).
   */
  onRequest(details) {
    try {
      const socks = this.knownEndpoint();
      if (this.isReady && this.barrier === 0 && socks !== undefined) {
        const firstParty = this.firstPartyOf(details);
        if (firstParty === ONE_OFF) {
          return this.oneOffAnswer(details, socks);
        }
        const hit = firstParty === undefined ? undefined : this.cache.get(firstParty.key, details.tabId);
        if (hit !== undefined) {
          return decide(socks, hit);
        }
      }
      return this.answerSlowly(details);
    } catch (e) {
      this.log(`proxy listener failed, blocking the request: ${errorText(e)}`);
      return blackHole();
    }
  }

  async answerSlowly(details) {
    try {
      await this.withTimeout(this.ensureReady(), READY_TIMEOUT_MS, "state restore");
      for (let attempt = 0; attempt < MAX_RACED_ATTEMPTS; attempt += 1) {
        if (this.barrier > 0) {
          return blackHole();
        }
        const firstParty = await this.resolveFirstParty(details);
        // Before the cache lookup: the `hello` that makes the endpoint known also drops the
        // cache when the daemon turns out to be another instance.
        const socks = await this.endpoint();
        if (this.barrier > 0 || socks === null) {
          return blackHole();
        }
        if (firstParty === ONE_OFF) {
          return this.oneOffAnswer(details, socks);
        }
        const generation = this.cache.generation;
        const credentials = await this.cache.fetch(
          firstParty.key,
          () => this.fetchCredentials(firstParty, details.tabId),
          details.tabId,
        );
        if (this.barrier > 0) {
          return blackHole();
        }
        // The daemon may have been lost (or replaced) during the round trip.
        if (this.cache.generation === generation && sameEndpoint(this.knownEndpoint(), socks)) {
          return decide(socks, credentials);
        }
      }
      this.log("credentials kept being invalidated during the request; blocking it");
      return blackHole();
    } catch (e) {
      this.log(`no credentials, blocking the request: ${errorText(e)}`);
      return blackHole();
    }
  }

  /**
   * The SOCKS endpoint requests go to now: the options' override (`null` when it is invalid),
   * else the daemon's; `undefined` while the daemon's is not known (then wait with
   * {@link Controller#endpoint}).
   */
  knownEndpoint() {
    if (this.options.socksOverride === null && this.brokerSocks === null) {
      return undefined;
    }
    return effectiveSocks(this.options, this.brokerSocks);
  }

  /**
   * The SOCKS endpoint for a request, asking the daemon's `hello` first when its endpoint is
   * not known; `null` when there is none (the request gets the black hole). Rejects when the
   * `hello` does not come within {@link READY_TIMEOUT_MS}.
   */
  async endpoint() {
    const state = this.client.state;
    if (this.knownEndpoint() === undefined && (state === "ready" || state === "connecting")) {
      const answered = new Promise((resolve) => this.endpointWaiters.push(resolve));
      // While (re)connecting, the handshake's own `hello` will tell.
      if (state === "ready" && this.helloRefresh === null) {
        this.refreshHello();
      }
      await this.withTimeout(answered, READY_TIMEOUT_MS, "the broker's hello");
    }
    return this.knownEndpoint() ?? null;
  }

  /** Wakes the requests waiting for the daemon's endpoint (they look again). */
  wakeEndpointWaiters() {
    const waiters = this.endpointWaiters;
    this.endpointWaiters = [];
    for (const wake of waiters) {
      wake();
    }
  }

  /** The request's first party if it is known without waiting (first-party.js). */
  firstPartyOf(details) {
    return firstPartyOfRequest(details, this.options, (tabId) => this.tabUrls.get(tabId));
  }

  /** The request's first party, looking its tab up when its URL is not known yet. */
  async resolveFirstParty(details) {
    const known = this.firstPartyOf(details);
    if (known !== undefined) {
      return known;
    }
    const url = await this.lookUpTab(details.tabId);
    return firstPartyOfRequest(details, this.options, () => url);
  }

  /**
   * The URL tab `tabId` shows, asked of the browser; `null` when there is no such tab or the
   * answer did not come in time (the request then gets one-off credentials, never another
   * site's). A URL that `tabs.onUpdated` reported meanwhile is newer and wins.
   */
  async lookUpTab(tabId) {
    let url = null;
    try {
      url = await this.withTimeout(this.tabUrl(tabId), TAB_LOOKUP_TIMEOUT_MS, "tab lookup");
    } catch (e) {
      this.log(`tab lookup failed: ${errorText(e)}`);
    }
    const known = this.tabUrls.get(tabId);
    if (known !== undefined) {
      return known;
    }
    if (typeof url !== "string") {
      return null;
    }
    this.tabUrls.set(tabId, url);
    return url;
  }

  /** The answer for a request that gets credentials of its own (first-party.js rule 6). */
  oneOffAnswer(details, socks) {
    if (!this.pathFacts.tablessWorkers && !(details.tabId >= 0)) {
      this.setPathFacts({ tablessWorkers: true });
    }
    return decide(socks, oneOffCredentials());
  }

  async fetchCredentials(firstParty, tabId) {
    const session = this.sessionFor(firstParty.container);
    const result = await this.client.request((id) =>
      credentialsRequest(id, firstParty.url, firstParty.container, tabId, session),
    );
    // Checked here, once per reply, so the cache only ever holds credentials of the first
    // party they are stored under: a broker mixing up two sites' answers gets the black hole.
    const credentials = checkReplyFor(parseCredentialsResult(result), firstParty, "credentials");
    // Tor isolates by username and password alone: a pair already handed out for another
    // site, container or tab would merge the two onto one circuit.
    if (!this.cache.claim(credentials, tabId)) {
      throw new ProtocolError("the broker answered credentials already given to another site, container or tab");
    }
    this.sites.record(credentials);
    this.schedulePersist();
    return credentials;
  }

  /**
   * The session secret for requests in `container`; a newly made one is mirrored at once, so
   * a suspended event page wakes up in the same session.
   */
  sessionFor(container) {
    const before = this.sessions.snapshot();
    const secret = this.sessions.secretFor(container);
    const after = this.sessions.snapshot();
    if (before.browser !== after.browser || before.private !== after.private) {
      this.schedulePersist(true);
    }
    return secret;
  }

  /**
   * The last private window closed: the private session's secret and every cached private
   * credential go (also from the `storage.session` mirror), and loads still running are not
   * stored, so the next private window gets credentials never issued before; the broker is
   * told (`session_ended`). Resolves with whether a private session was running.
   */
  async privateSessionEnded() {
    await this.ensureReady();
    const ended = this.sessions.private;
    this.sessions.endPrivate();
    this.cache.dropContainer(PRIVATE_CONTAINER);
    this.sites.dropContainer(PRIVATE_CONTAINER);
    this.schedulePersist(true);
    if (ended === null) {
      return false;
    }
    // The broker forgets the session's state too; its credentials are unreachable anyway
    // (the secret is gone), so a failure here is only logged.
    try {
      await this.client.request((id) => sessionEndedRequest(id, ended));
    } catch (e) {
      this.log(`session_ended failed: ${errorText(e)}`);
    }
    return true;
  }

  /**
   * Broker side of "New circuit for this site" for a tab showing `url` in `cookieStoreId`:
   * asks for new credentials and drops the cached ones at once (not waiting for the push).
   * Resolves with `{site}`.
   */
  async newCircuit(url, cookieStoreId) {
    await this.ensureReady();
    const firstParty = firstPartyOfTab(url, cookieStoreId, this.options);
    const result = await this.client.request((id) => newCircuitRequest(id, { url: firstParty.url }));
    const site = parseNewCircuitResult(result);
    try {
      checkReplyFor({ site, container: firstParty.container }, firstParty, "new_circuit");
    } catch (e) {
      // A reply naming another site would keep this site's old circuit: drop what is cached
      // for this first party anyway (one broker round trip) and report the error.
      const known = this.cache.siteOf(firstParty.key);
      if (known !== undefined) {
        this.cache.invalidateSites([known]);
      }
      throw e;
    }
    this.cache.invalidateSites([site]);
    this.sites.renewed(site);
    return { site };
  }

  /**
   * "New circuit" for one site of the sites page: new credentials for `site` in every container
   * (broker `new_circuit` by site). Resolves with `{site}`.
   */
  async newCircuitForSite(site) {
    await this.ensureReady();
    const result = await this.client.request((id) => newCircuitRequest(id, { site }));
    const renewed = parseNewCircuitResult(result);
    if (renewed !== site) {
      throw new ProtocolError("the broker answered new_circuit for another site");
    }
    this.cache.invalidateSites([site]);
    this.sites.renewed(site);
    return { site };
  }

  /** Removes one row of the sites page; resolves with `{forgotten}` (whether it was listed). */
  async forgetSite(site, container) {
    await this.ensureReady();
    const forgotten = this.sites.forget(site, container);
    this.schedulePersist(true);
    return { forgotten };
  }

  /**
   * The sites page's data: every site this browser session used (site-list.js SiteLog#list)
   * with its circuit result from the broker (or `{error}` when it could not be asked), and the
   * policy table (`null` when the broker could not say). Resolves with `{sites, policies,
   * now}`.
   */
  async siteList() {
    await this.ensureReady();
    const rows = this.sites.list();
    const circuits = await Promise.all(
      rows.map(({ site, container }) =>
        this.client
          .request((id) => circuitRequest(id, { site }, container))
          .then((result) => {
            const circuit = parseCircuitResult(result);
            if (circuit.site !== site || circuit.container !== container) {
              throw new ProtocolError("the broker answered circuit for another site or container");
            }
            return circuit;
          })
          .catch((e) => ({ error: errorText(e) })),
      ),
    );
    const policies = await this.policies().catch(() => null);
    return {
      sites: rows.map((row, i) => ({ ...row, circuit: circuits[i] })),
      policies,
      now: this.now(),
    };
  }

  /**
   * Broker side of "New identity": new credentials for every site and NEWNYM, then drops the
   * whole cache. Resolves with `{epoch, newnym, newnymDelayS}` (protocol.parseNewIdentityResult);
   * on failure nothing changed. A result the extension cannot read still clears the cache: the
   * broker has rotated every site's credentials by then.
   */
  async newIdentity() {
    await this.ensureReady();
    const result = await this.client.request(newIdentityRequest);
    this.cache.clear();
    this.sites.clear();
    forgetParsedUrls();
    return parseNewIdentityResult(result);
  }

  /**
   * The circuit display of a tab showing `url` in `cookieStoreId`. Resolves with `{host,
   * container, circuit}`: `host` is `null` (and `circuit` too, the broker is not asked) for a
   * page with no network first party; otherwise `circuit` is the broker's circuit result
   * (protocol.parseCircuitResult). Rejects with the broker's error (e.g. `unknown_type` from a
   * broker that has no circuit display).
   */
  async circuit(url, cookieStoreId, tabId = null) {
    await this.ensureReady();
    const firstParty = firstPartyOfTab(url, cookieStoreId, this.options);
    if (firstParty.host === null) {
      return { host: null, container: firstParty.container, circuit: null };
    }
    const result = await this.client.request((id) =>
      circuitRequest(id, { url: firstParty.url }, firstParty.container, tabId),
    );
    // The popup must never show another site's (or container's, or tab's) relays as this tab's.
    const circuit = checkReplyFor(parseCircuitResult(result), firstParty, "circuit");
    if (circuit.tab !== null && circuit.tab !== tabId) {
      throw new ProtocolError("the broker answered circuit with another tab's circuit");
    }
    return { host: firstParty.host, container: firstParty.container, circuit };
  }

  /**
   * The broker's circuit-lifetime policies (protocol §2.5): resolves with `{default, sites}`
   * (policy-form.parsePolicyTable). Rejects with the broker's error (`unknown_type` from a
   * broker without policies).
   */
  async policies() {
    await this.ensureReady();
    return parsePolicyTable(await this.client.request(policyGetRequest));
  }

  /**
   * Sets a site's policy (`site` `null`: the default; `policy` `null`: remove the site's
   * override) and resolves with the policies after the change. The broker pushes `invalidate`
   * for the affected sites, which drops their cached credentials.
   */
  async setPolicy(site, policy) {
    await this.ensureReady();
    const result = await this.client.request((id) => policySetRequest(id, site, policy));
    return parsePolicyTable(result);
  }

  /**
   * Asks the broker for tor's status (`status.tor`) unless a request is already running;
   * resolves when the answer (or failure) has been handled. Never rejects.
   */
  refreshTorStatus() {
    if (this.torStatusRequest === null) {
      this.torStatusRequest = this.client
        .request(statusRequest)
        .then((result) => this.setTorStatus(parseStatusResult(result).tor))
        .catch((e) => this.log(`status request failed: ${errorText(e)}`))
        .finally(() => {
          this.torStatusRequest = null;
        });
    }
    return this.torStatusRequest;
  }

  /**
   * A tab was closed: its per-tab credentials go, here and in the broker (`tab_closed`).
   * Rejects when the broker could not be told (it then keeps the tab's state until the next
   * New identity or browser session; the tab id is never used again in this session).
   */
  async tabRemoved(tabId) {
    this.tabUrls.delete(tabId);
    // Before the restore, dropping would be undone by it.
    await this.ensureReady();
    this.cache.dropTab(tabId);
    if (Number.isSafeInteger(tabId) && tabId >= 0) {
      // The tab may have been private or not (tab ids are unique across both): tell the
      // broker for each session there is; the other one has no sets of that tab.
      const { browser, private: privateSession } = this.sessions.snapshot();
      await this.client.request((id) => tabClosedRequest(id, tabId, browser));
      if (privateSession !== null) {
        await this.client.request((id) => tabClosedRequest(id, tabId, privateSession));
      }
    }
  }

  /**
   * Tab `tabId` now shows `url`: its per-tab credentials of other sites go. The new page's site
   * is known from the cache when its main request went through the listener; when it is not
   * known, every per-tab entry of the tab goes (one broker round trip at worst).
   */
  async tabNavigated(tabId, url, cookieStoreId) {
    // At once, before any await: the tab's next worker request must see the new page.
    if (typeof url === "string") {
      this.tabUrls.set(tabId, url);
    }
    await this.ensureReady();
    const firstParty = firstPartyOfTab(url, cookieStoreId, this.options);
    const site = firstParty.host === null ? null : (this.cache.siteOf(firstParty.key) ?? null);
    this.cache.dropTabExceptSite(tabId, site);
  }

  /** Runs `task` while every request is answered with the black hole. */
  async withBarrier(task) {
    this.barrier += 1;
    try {
      return await task();
    } finally {
      this.barrier -= 1;
    }
  }

  /** What the popup shows about a tab: its first-party host, container and known site. */
  tabInfo(url, cookieStoreId) {
    const firstParty = firstPartyOfTab(url, cookieStoreId, this.options);
    return {
      host: firstParty.host,
      container: firstParty.container,
      site: this.cache.siteOf(firstParty.key) ?? null,
    };
  }

  /**
   * Records what the background page found about bypasses (path-checks.js
   * `unprotectedPaths` arguments other than `socks`); the status shows them as `warnings`.
   */
  setPathFacts(facts) {
    this.pathFacts = { ...this.pathFacts, ...facts };
    this.emitStatus();
  }

  /** Replaces the options (storage.onChanged). */
  setOptions(stored) {
    this.options = normalizeOptions(stored);
    this.emitStatus();
  }

  /** Connection and protection status for the badge and the popup. */
  status() {
    const socks = effectiveSocks(this.options, this.brokerSocks);
    let problem = null;
    if (!this.isReady) {
      problem = "starting";
    } else if (this.client.state !== "ready") {
      problem = `not connected to the native host${this.client.lastError ? `: ${this.client.lastError}` : ""}`;
    } else if (!this.brokerUp) {
      problem = "the native host cannot reach the broker daemon";
    } else if (this.knownEndpoint() === undefined) {
      problem = "waiting for the broker daemon's SOCKS endpoint";
    } else if (socks === null) {
      problem = "no usable SOCKS endpoint (check the options)";
    }
    return {
      protected: problem === null,
      problem,
      // Paths by which traffic can bypass the per-site circuits even while Persite works.
      warnings: unprotectedPaths({ ...this.pathFacts, socks }),
      connection: this.client.state,
      // Why the last connection failed (kept while reconnecting), and the code when the host
      // answered but could not reach the daemon (its `hello` failed with `broker_unavailable`).
      lastError: this.client.lastError ?? null,
      lastErrorCode: this.client.lastErrorCode ?? null,
      brokerUp: this.brokerUp,
      brokerVersion: this.brokerVersion,
      // The facts behind `warnings`, for the status page's checks (health.js).
      paths: { ...this.pathFacts },
      socks,
      // The daemon's own endpoint (what empty SOCKS options mean), `null` while unknown.
      brokerSocks: this.brokerSocks,
      socksSource: this.options.socksOverride !== null ? "options" : "broker",
      cachedEntries: this.cache.size,
      tor: this.torStatus,
    };
  }

  handleHello(info) {
    // With no known instance the cache is already empty (see restore and handleClientState),
    // and requests waiting for this handshake will be answered by this instance.
    if (this.instance !== null && info.instance !== this.instance) {
      this.cache.clear();
    }
    this.instance = info.instance;
    this.brokerVersion = info.brokerVersion ?? null;
    this.brokerSocks = info.socks;
    this.brokerUp = true;
    this.wakeEndpointWaiters();
    this.schedulePersist();
    this.emitStatus();
    this.refreshTorStatus();
  }

  setTorStatus(tor) {
    this.torStatus = tor;
    this.emitEvent({ type: "tor_status", tor });
    // The badge says when tor is down or the SOCKS endpoint is refused (health.js).
    this.emitStatus();
  }

  handlePush(push) {
    switch (push.type) {
      case "invalidate":
        if (push.all) {
          this.cache.clear();
          this.sites.clear();
        } else {
          this.cache.invalidateSites(push.sites);
          push.sites.forEach((site) => this.sites.renewed(site));
        }
        return;
      case "broker_connected":
        if (push.instance !== this.instance) {
          this.cache.clear();
          this.instance = push.instance;
        }
        // A restarted daemon may listen on another SOCKS endpoint: requests wait for its hello.
        this.brokerSocks = null;
        this.brokerUp = true;
        this.schedulePersist();
        this.emitStatus();
        this.refreshHello();
        return;
      case "broker_disconnected":
        this.brokerUp = false;
        this.brokerSocks = null;
        this.setTorStatus(null);
        this.emitStatus();
        return;
      case "circuit":
        this.emitEvent({ type: "circuit", circuit: push.circuit });
        return;
      case "tor_status":
        this.setTorStatus(push.tor);
        return;
      default:
        this.log(`ignoring unknown push type ${push.name}`);
    }
  }

  /**
   * Asks the daemon's `hello` again (its SOCKS endpoint and instance); resolves when the answer
   * (or failure) has been handled. Never rejects.
   */
  refreshHello() {
    const refresh = this.client
      .request(helloRequest)
      .then(
        (result) => this.handleHello(parseHelloResult(result)),
        (e) => this.log(`hello failed: ${errorText(e)}`),
      )
      .catch((e) => this.log(`unusable hello: ${errorText(e)}`))
      .finally(() => {
        if (this.helloRefresh === refresh) {
          this.helloRefresh = null;
        }
        // A failed hello leaves the endpoint unknown: the waiting requests get the black hole.
        this.wakeEndpointWaiters();
      });
    this.helloRefresh = refresh;
    return refresh;
  }

  handleClientState(state) {
    if (state !== "ready" && state !== "connecting") {
      // The broker's key may change behind a lost port: nothing cached can be trusted.
      this.cache.clear();
      this.instance = null;
      this.brokerUp = false;
      this.brokerSocks = null;
      if (this.torStatus !== null) {
        this.setTorStatus(null);
      }
      this.schedulePersist(true);
    }
    this.emitStatus();
  }

  restore(session) {
    // Without a mirror this is a new browser session: a new secret, mirrored by init.
    this.sessions.restore(session?.sessions);
    this.sessions.secretFor("firefox-default");
    if (typeof session !== "object" || session === null || typeof session.instance !== "string") {
      this.cache.restore(null);
      // Firefox may give this session's tabs ids that the broker knows from another session.
      this.tabsResetPending = true;
      return;
    }
    this.cache.restore(session.cache);
    this.sites.restore(session.sites);
    this.instance = session.instance;
    // No SOCKS endpoint from the mirror: the daemon may have restarted elsewhere while this
    // page slept. Requests wait for this page's first `hello`.
  }

  /**
   * Writes the mirror soon. Removals are written at once (next microtask), so a suspended
   * and woken event page never brings back credentials that were invalidated; additions are
   * grouped, since losing one only costs a broker round trip.
   */
  schedulePersist(urgent = false) {
    if (!this.restored) {
      return;
    }
    if (urgent) {
      queueMicrotask(() => this.persistNow());
      return;
    }
    if (this.persistQueued) {
      return;
    }
    this.persistQueued = true;
    this.setTimer(() => {
      this.persistQueued = false;
      this.persistNow();
    }, PERSIST_DELAY_MS);
  }

  persistNow() {
    const state = {
      instance: this.instance,
      cache: this.cache.snapshot(),
      sessions: this.sessions.snapshot(),
      sites: this.sites.snapshot(),
    };
    this.saveSession(state).catch((e) => this.log(`cannot write the session mirror: ${errorText(e)}`));
  }

  emitStatus() {
    try {
      this.onStatus(this.status());
    } catch (e) {
      this.log(`status listener failed: ${errorText(e)}`);
    }
  }

  emitEvent(event) {
    try {
      this.onEvent(event);
    } catch (e) {
      this.log(`event listener failed: ${errorText(e)}`);
    }
  }

  withTimeout(promise, ms, what) {
    return new Promise((resolve, reject) => {
      const timer = this.setTimer(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
      promise.then(
        (value) => {
          this.clearTimer(timer);
          resolve(value);
        },
        (error) => {
          this.clearTimer(timer);
          reject(error);
        },
      );
    });
  }
}

/** Whether two SOCKS endpoints (or `null`/`undefined`) are the same. */
function sameEndpoint(a, b) {
  return a === b || (a != null && b != null && a.host === b.host && a.port === b.port);
}

/** Log text of an error; broker messages may quote a URL, so only their code is logged. */
function errorText(error) {
  if (error instanceof BrokerError) {
    return `broker error ${error.code}`;
  }
  return error instanceof Error ? error.message : String(error);
}
