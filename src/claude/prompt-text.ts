/**
 * Task text is pasted into Claude Code inside a bracketed paste (contract S5): an `ESC [ 201 ~` in it
 * would end the paste early and the rest would arrive as typed keys (a `!cmd` line is then bash mode).
 * Before pasting, every such sequence and every other C0/C1 control except newline and tab is
 * removed; a lone CR becomes a newline (CRLF line ends become LF without counting as a change).
 */

// The paste delimiters, in their 7-bit (ESC [) and 8-bit (CSI, U+009B) forms: removed whole.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const PASTE_MARKERS = /(?:\x1b\[|\x9b)20[01]~/g;
// C0 controls but TAB and LF, DEL, and the C1 block (U+0080–U+009F).
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROLS = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/g;

export interface SanitizedPrompt {
  text: string;
  /** How many sequences and characters were removed or replaced (0: the text is pasted as written). */
  changes: number;
}

/** The text as it may be pasted, and how much of it had to change. */
export function sanitizePrompt(input: string): SanitizedPrompt {
  let changes = 0;
  const text = input
    .replace(/\r\n/g, "\n")
    .replace(PASTE_MARKERS, () => {
      changes++;
      return "";
    })
    .replace(/\r/g, () => {
      changes++;
      return "\n";
    })
    .replace(CONTROLS, () => {
      changes++;
      return "";
    });
  return { text, changes };
}

/** What the footer says of a prompt that had to change (the `prompt_changed` key). */
export function describePromptChanges(changes: number): string {
  return `${changes} control sequence${changes === 1 ? "" : "s"} or character${changes === 1 ? "" : "s"} removed before pasting`;
}
