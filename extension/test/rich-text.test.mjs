import assert from "node:assert/strict";
import { test } from "node:test";

import { richNodes } from "../src/rich-text.js";

/** Just enough of a document to see which nodes are built. */
const fakeDocument = {
  createTextNode: (text) => ({ kind: "text", text }),
  createElement: (tag) => ({ kind: tag, textContent: "" }),
};

test("backquoted parts become <code>, the rest text, and nothing becomes markup", () => {
  const nodes = richNodes(fakeDocument, "Run `persite doctor` then <b>reload</b>");
  assert.deepEqual(
    nodes.map((n) => [n.kind, n.text ?? n.textContent]),
    [
      ["text", "Run "],
      ["code", "persite doctor"],
      ["text", " then <b>reload</b>"],
    ],
  );
});

test("an unmatched backquote leaves the tail as code, and empty parts are dropped", () => {
  const nodes = richNodes(fakeDocument, "`a``b` c `d");
  assert.deepEqual(
    nodes.map((n) => [n.kind, n.text ?? n.textContent]),
    [
      ["code", "a"],
      ["code", "b"],
      ["text", " c "],
      ["code", "d"],
    ],
  );
});
