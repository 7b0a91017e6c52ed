// The protocol's golden fixtures (protocol/fixtures/, written from the Rust types) and every
// JSON example of docs/protocol.md, run through the extension's builders and parsers: what the
// broker sends, the extension reads, and the other way round. The Rust side checks the same
// files (protocol/tests/golden_files.rs, broker/tests/protocol_fixtures.rs).

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { describe, it } from "node:test";

import {
  ERROR_CODES,
  INVALIDATE_REASONS,
  REQUEST_TYPES,
} from "../src/protocol-constants.js";
import { parsePolicyTable, policyGetRequest, policySetRequest } from "../src/policy-form.js";
import {
  circuitRequest,
  credentialsRequest,
  helloRequest,
  newCircuitRequest,
  newIdentityRequest,
  parseCircuitResult,
  parseCredentialsResult,
  parseHelloResult,
  parseMessage,
  parseNewCircuitResult,
  parseNewIdentityResult,
  parsePush,
  parseStatusResult,
  parseTorStatus,
  sessionEndedRequest,
  statusRequest,
  tabClosedRequest,
} from "../src/protocol.js";

const fixturesDir = new URL("../../protocol/fixtures/", import.meta.url);
const docsUrl = new URL("../../docs/protocol.md", import.meta.url);

function fixture(name) {
  return JSON.parse(readFileSync(new URL(name, fixturesDir), "utf8"));
}

/** Drops `undefined` members, as JSON serialisation (and so the wire) does. */
function wire(value) {
  return JSON.parse(JSON.stringify(value));
}

/** The extension's builder for each request it sends, fed from a fixture request's fields. */
const BUILDERS = {
  hello: (r) => helloRequest(r.id, { tabsReset: r.tabs_reset === true }),
  credentials: (r) => credentialsRequest(r.id, r.url, r.container, r.tab ?? null, r.session ?? null),
  new_circuit: (r) => newCircuitRequest(r.id, "url" in r ? { url: r.url } : { site: r.site }),
  new_identity: (r) => newIdentityRequest(r.id),
  status: (r) => statusRequest(r.id),
  circuit: (r) => circuitRequest(r.id, "url" in r ? { url: r.url } : { site: r.site }, r.container, r.tab ?? null),
  policy_get: (r) => policyGetRequest(r.id),
  policy_set: (r) => policySetRequest(r.id, r.site ?? null, r.policy),
  tab_closed: (r) => tabClosedRequest(r.id, r.tab, r.session ?? null),
  session_ended: (r) => sessionEndedRequest(r.id, r.session),
};

/** The extension's parser for each result it reads. */
const PARSERS = {
  hello: parseHelloResult,
  credentials: parseCredentialsResult,
  new_circuit: parseNewCircuitResult,
  new_identity: parseNewIdentityResult,
  status: parseStatusResult,
  circuit: parseCircuitResult,
  policy_get: parsePolicyTable,
  policy_set: parsePolicyTable,
};

describe("golden fixtures", () => {
  const files = readdirSync(fixturesDir).filter((f) => f.endsWith(".json"));

  it("cover every request type, and nothing else", () => {
    const kinds = files.map((f) => f.replace(/\.json$/, "")).filter((k) => REQUEST_TYPES.includes(k));
    assert.deepEqual([...kinds].sort(), [...REQUEST_TYPES].sort());
  });

  for (const kind of REQUEST_TYPES) {
    const file = fixture(`${kind}.json`);
    const build = BUILDERS[kind];
    if (build) {
      it(`${kind}: the extension builds exactly the fixture requests`, () => {
        for (const request of file.requests) {
          assert.deepEqual(wire(build(request)), request);
        }
      });
    }
    const parse = PARSERS[kind];
    if (parse) {
      it(`${kind}: the extension accepts every fixture result`, () => {
        assert.ok(file.results.length > 0);
        for (const result of file.results) {
          assert.doesNotThrow(() => parse(result), JSON.stringify(result));
          const reply = parseMessage({ id: 1, result });
          assert.equal(reply.kind, "result");
        }
      });
      it(`${kind}: the extension refuses every invalid fixture result`, () => {
        for (const { result, why } of file.invalid_results) {
          assert.throws(() => parse(result), undefined, why);
        }
      });
    }
    it(`${kind}: invalid requests name a known error code`, () => {
      for (const { code } of file.invalid_requests) {
        assert.ok(ERROR_CODES.includes(code), code);
      }
    });
  }

  it("pushes: every fixture push is understood, unknown types are ignored", () => {
    const { pushes, unknown_pushes: unknown } = fixture("pushes.json");
    const seen = new Set();
    for (const push of pushes) {
      const message = parseMessage(push);
      assert.equal(message.kind, "push", JSON.stringify(push));
      assert.notEqual(message.push.type, "unknown");
      seen.add(message.push.type);
      if (push.type === "invalidate") {
        assert.ok(INVALIDATE_REASONS.includes(push.reason));
        assert.equal(message.push.reason, push.reason);
        if (push.all) {
          assert.equal(message.push.all, true);
        } else {
          assert.deepEqual(message.push.sites, push.sites);
        }
      }
    }
    assert.deepEqual(
      [...seen].sort(),
      ["broker_connected", "broker_disconnected", "circuit", "invalidate", "tor_status"],
    );
    for (const push of unknown) {
      assert.equal(parsePush(push).type, "unknown");
    }
  });

  it("errors: every code reaches the caller as a BrokerError with that code", () => {
    const { replies } = fixture("errors.json");
    assert.deepEqual(
      replies.map((r) => r.error.code),
      ERROR_CODES,
    );
    for (const reply of replies) {
      const message = parseMessage(reply);
      assert.equal(message.kind, "error");
      assert.equal(message.error.code, reply.error.code);
      assert.equal(message.error.message, reply.error.message);
    }
  });
});

/**
 * Every JSON value in docs/protocol.md's ```json blocks: a block is one value, or one value per
 * line.
 */
function docExamples() {
  const text = readFileSync(docsUrl, "utf8");
  const examples = [];
  for (const [, body] of text.matchAll(/```json\n([\s\S]*?)```/g)) {
    try {
      examples.push(JSON.parse(body));
    } catch {
      for (const line of body.split("\n").filter((l) => l.trim() !== "")) {
        examples.push(JSON.parse(line));
      }
    }
  }
  return examples;
}

describe("docs/protocol.md examples", () => {
  const examples = docExamples();

  it("are many, and each is valid JSON", () => {
    assert.ok(examples.length >= 8, `${examples.length} examples`);
  });

  it("each reads with the extension's parser for its shape", () => {
    const requestKinds = new Map();
    for (const example of examples) {
      const shown = JSON.stringify(example);
      if ("id" in example && "type" in example) {
        assert.ok(REQUEST_TYPES.includes(example.type), shown);
        requestKinds.set(example.id, example.type);
        const build = BUILDERS[example.type];
        if (build) {
          assert.deepEqual(wire(build(example)), example, shown);
        }
      } else if ("id" in example) {
        const message = parseMessage(example);
        assert.ok(message.kind === "result" || message.kind === "error", shown);
        if (message.kind === "error") {
          assert.ok(ERROR_CODES.includes(message.error.code), shown);
        } else {
          const parse = PARSERS[requestKinds.get(example.id)];
          assert.ok(parse, `no request with id ${example.id} before ${shown}`);
          parse(example.result);
        }
      } else if ("type" in example) {
        assert.notEqual(parsePush(example).type, "unknown", shown);
      } else if ("circuits" in example) {
        parseCircuitResult(example);
      } else if ("control" in example) {
        parseTorStatus(example);
      } else if ("default" in example) {
        parsePolicyTable(example);
      } else if ("per_tab" in example) {
        parsePolicyTable({ default: example, sites: {} });
      } else {
        assert.fail(`an example of no known shape: ${shown}`);
      }
    }
  });
});
