import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { stripAnsi } from "./ansi.js";

const cases: { name: string; input: string; expected: string }[] = [
  {
    name: "SGR colours (as tmux capture-pane -e writes them)",
    input: "\x1b[38;5;246m\x1b[49m  ⎿ \x1b[38;5;211mhit\x1b[39m",
    expected: "  ⎿ hit",
  },
  { name: "cursor movement and private modes", input: "\x1b[?25l\x1b[2K\x1b[1G\x1b[Aok\x1b[?2004h", expected: "ok" },
  { name: "8-bit CSI", input: "\x9b31mred\x9b0m", expected: "red" },
  { name: "OSC title ended by BEL", input: "\x1b]0;✳ Claude Code\x07idle", expected: "idle" },
  { name: "OSC hyperlink ended by ST", input: "\x1b]8;;https://x.test\x1b\\link\x1b]8;;\x1b\\", expected: "link" },
  { name: "DCS (tmux passthrough) ended by ST", input: "a\x1bPtmux;\x1b\\b", expected: "ab" },
  { name: "charset selection and two-byte escapes", input: "\x1b(B\x1b7x\x1b8\x1b=", expected: "x" },
  { name: "a CSI cut off at the end", input: "text\x1b[38;5", expected: "text" },
  { name: "an unterminated OSC stops at the line end", input: "\x1b]0;title\nnext", expected: "\nnext" },
  {
    name: "stray control characters go; tab, newline, CR stay",
    input: "a\x00\x07\x08b\tc\r\nd",
    expected: "ab\tc\r\nd",
  },
  { name: "text and box drawing untouched", input: "❯\u00a0hello · ─── ✻ ⎿", expected: "❯\u00a0hello · ─── ✻ ⎿" },
];

for (const c of cases) {
  test(`stripAnsi: ${c.name}`, () => {
    assert.equal(stripAnsi(c.input), c.expected);
  });
}

test("stripAnsi leaves no ESC behind and never grows its input", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 300 }), (text) => {
      const out = stripAnsi(text);
      assert.ok(!out.includes("\x1b") && out.length <= text.length);
    }),
    { numRuns: 1_000 },
  );
});
