// Terminal escape sequences, as tmux `capture-pane -e` and raw pane logs carry them.
// One alternation, each branch linear (disjoint classes, no nested quantifiers), so any input is O(n).
const ESCAPES = new RegExp(
  [
    // CSI (7-bit and 8-bit): params, intermediates, final byte; the final is optional so a sequence cut off at the end goes too
    "(?:\\x1b\\[|\\x9b)[0-?]*[ -/]*[@-~]?",
    // OSC, DCS, SOS, PM, APC: a string ended by BEL or ST; unterminated, it ends at the line's end
    "(?:\\x1b[\\]PX^_]|[\\x90\\x98\\x9d\\x9e\\x9f])[^\\x07\\x1b\\x9c\\n]*(?:\\x07|\\x1b\\\\|\\x9c)?",
    // nF escapes (charset selection such as ESC ( B)
    "\\x1b[ -/]+[0-~]?",
    // two-byte escapes (ESC 7, ESC =, ESC M …) and a lone ESC
    "\\x1b[0-~]?",
    // remaining C0/C1 controls except tab, newline and carriage return
    "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1a\\x1c-\\x1f\\x7f-\\x9f]",
  ].join("|"),
  "g",
);

/** Removes ANSI/VT escape sequences (CSI, OSC, DCS, …) and stray control characters; keeps `\t`, `\n`, `\r`. */
export function stripAnsi(text: string): string {
  return text.replace(ESCAPES, "");
}
