import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { describePromptChanges, sanitizePrompt } from "./prompt-text.js";

// What may never reach a bracketed paste: C0 but TAB and LF, DEL, C1 (CSI U+009B among them).
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const FORBIDDEN = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;
const isOrdinary = (s: string): boolean => !FORBIDDEN.test(s) && !s.includes("\r");

describe("sanitizePrompt", () => {
  test("the end-of-paste sequence and what follows it stay text: ESC[201~ and ESC[200~ go, nothing else", () => {
    const r = sanitizePrompt("before\x1b[201~\n!touch /tmp/x\nafter\x1b[200~ end");
    assert.deepEqual(r, { text: "before\n!touch /tmp/x\nafter end", changes: 2 });
    assert.deepEqual(sanitizePrompt("a\x9b201~b"), { text: "ab", changes: 1 });
  });

  test("other controls are removed, a lone CR is a newline, CRLF becomes LF unnoticed", () => {
    assert.deepEqual(sanitizePrompt("a\x1b[31mred\x07\x00\x7f\x85\x9b"), { text: "a[31mred", changes: 6 });
    assert.deepEqual(sanitizePrompt("one\r\ntwo\rthree"), { text: "one\ntwo\nthree", changes: 1 });
    assert.deepEqual(sanitizePrompt("tab\there\nnext ünïcödé 🚀 — 漢字"), { text: "tab\there\nnext ünïcödé 🚀 — 漢字", changes: 0 });
    // A marker split by another one cannot be put back together by the removal.
    assert.equal(FORBIDDEN.test(sanitizePrompt("\x1b[20\x1b[201~1~").text), false);
    assert.match(describePromptChanges(1), /^1 control sequence or character removed/);
  });

  test("property: the result never holds a control but TAB/LF, nor a paste marker", () => {
    const pieces = fc.oneof(
      fc.string({ unit: "binary" }),
      fc.constantFrom("\x1b[201~", "\x1b[200~", "\x9b201~", "\x1b", "[201~", "\r", "\r\n", "\n", "\t", "\x9b", "\x85", "\x7f", "\x00"),
    );
    fc.assert(fc.property(fc.array(pieces, { maxLength: 30 }), (parts) => {
      const { text } = sanitizePrompt(parts.join(""));
      return !FORBIDDEN.test(text) && !text.includes("\r") && !text.includes("\x1b[201~");
    }), { numRuns: 2000 });
  });

  test("property: ordinary text (unicode, emoji, tabs, newlines) is left exactly as written", () => {
    const ordinary = fc.oneof(fc.string({ unit: "grapheme" }), fc.string({ unit: "binary" }), fc.constantFrom("\t", "\n", "🚀", "é", "漢"));
    fc.assert(fc.property(fc.array(ordinary, { maxLength: 20 }).map((a) => a.join("")).filter(isOrdinary), (s) => {
      const r = sanitizePrompt(s);
      return r.text === s && r.changes === 0;
    }), { numRuns: 2000 });
  });
});
