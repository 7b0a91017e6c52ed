/**
 * Text with `backquoted` commands shown as code, for the extension's pages (popup, status and
 * blocked pages). Builds DOM nodes with the document it is given, never HTML, so no text can
 * become markup.
 */

import { codeParts } from "./health.js";

/** The nodes for `text` in `doc`: text nodes, and <code> elements for backquoted parts. */
export function richNodes(doc, text) {
  return codeParts(text).map((part) => {
    if (!part.code) {
      return doc.createTextNode(part.text);
    }
    const code = doc.createElement("code");
    code.textContent = part.text;
    return code;
  });
}

/** Replaces `element`'s content with `text`, backquoted parts as <code>. */
export function setRich(element, text) {
  element.replaceChildren(...richNodes(element.ownerDocument, text));
}
