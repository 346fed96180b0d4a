/**
 * The geometry of a Claude Code screen: lines, horizontal rules, the input box, and the transcript cut into entries.
 */
import { stripAnsi } from "./ansi.js";

// The classifier runs every few seconds per session: it reads at most this much of the capture's end, whatever
// it is given (a 200×50 pane with 50 lines of scrollback and colour codes is ~40 KB).
const MAX_CAPTURE_CHARS = 256 * 1024;
const MAX_LINES = 200;
const MAX_LINE_CHARS = 1_000;
// An input box holding an un-collapsed paste can be tall, but never taller than a pane.
const MAX_BOX_LINES = 80;

/** The capture's last lines: escape codes gone, line ends normalised, trailing blanks and blank lines dropped. */
export function screenLines(capture: string): string[] {
  if (typeof capture !== "string" || capture.length === 0) return [];
  const raw = capture.length > MAX_CAPTURE_CHARS ? capture.slice(capture.length - MAX_CAPTURE_CHARS) : capture;
  const text = stripAnsi(raw).replace(/\r\n?/g, "\n").replace(/\t/g, " ");
  const all = text.split("\n");
  const lines = all.slice(Math.max(0, all.length - MAX_LINES)).map((l) => l.slice(0, MAX_LINE_CHARS).trimEnd());
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** A full-width `────` rule at column 0, as above and below the 2.x input box and on top of dialogs. */
export function isRule(line: string): boolean {
  if (line.length < 10 || !line.startsWith("───") || !line.endsWith("─")) return false;
  let dashes = 0;
  for (let i = 0; i < line.length; i++) if (line.charCodeAt(i) === 0x2500) dashes++;
  // A rule may carry a short label ("──── plan ──"), but is mostly dashes.
  return dashes >= line.length * 0.6;
}

export interface InputBox {
  /** Index of the box's first line (its top rule or `╭` edge). */
  top: number;
  /** Index of the box's last line (its bottom rule or `╰` edge). */
  bottom: number;
  /** What the box holds, prompt glyph and indentation removed; "" when empty. */
  text: string;
}

/** The lowest input box on screen: 2.x `❯` between two rules, or the 1.0.x `╭─╮ │ > │ ╰─╯` frame. */
export function findInputBox(lines: string[]): InputBox | null {
  const ruled = findRuledBox(lines);
  const framed = findFramedBox(lines);
  if (ruled === null) return framed;
  if (framed === null) return ruled;
  return ruled.bottom >= framed.bottom ? ruled : framed;
}

// Placeholders the CLI shows in an empty box; plain captures cannot tell them from typed text by colour.
// 2.1.332 after a failed turn: "Resend your message to try again" (a placeholder, not typed text).
const PLACEHOLDER = /^(?:Press up to edit queued messages|Try "[^"\n]*"|Resend your message to try again)$/;

function boxText(parts: string[]): string {
  const text = parts.join("\n").trim();
  return PLACEHOLDER.test(text) ? "" : text;
}

function findRuledBox(lines: string[]): InputBox | null {
  for (let b = lines.length - 1; b > 0; b--) {
    if (!isRule(lines[b] ?? "")) continue;
    // Consecutive rule lines are one rule (a rule wider than the pane wraps into several).
    let bottomRuleTop = b;
    while (bottomRuleTop > 0 && isRule(lines[bottomRuleTop - 1] ?? "")) bottomRuleTop--;
    let t = bottomRuleTop - 1;
    while (t >= 0 && bottomRuleTop - t <= MAX_BOX_LINES && !isRule(lines[t] ?? "")) t--;
    const first = lines[t + 1] ?? "";
    if (t >= 0 && isRule(lines[t] ?? "") && t + 1 < bottomRuleTop && /^[❯>!](?:\s|$)/.test(first)) {
      let top = t;
      while (top > 0 && isRule(lines[top - 1] ?? "")) top--;
      const content = lines.slice(t + 1, bottomRuleTop);
      const parts = content.map((l, i) => (i === 0 ? l.replace(/^[❯>!]\s?/, "") : l.replace(/^ {1,2}/, "")));
      return { top, bottom: b, text: boxText(parts) };
    }
    b = bottomRuleTop;
  }
  return null;
}

function findFramedBox(lines: string[]): InputBox | null {
  for (let b = lines.length - 1; b > 0; b--) {
    if (!/^\s*╰─+╯$/.test(lines[b] ?? "")) continue;
    let t = b - 1;
    while (t >= 0 && b - t <= MAX_BOX_LINES && /^\s*│.*│$/.test(lines[t] ?? "")) t--;
    if (t < 0 || t === b - 1 || !/^\s*╭─+╮$/.test(lines[t] ?? "")) continue;
    const content = lines.slice(t + 1, b).map((l) => l.replace(/^\s*│ ?/, "").replace(/ ?│$/, ""));
    if (!/^>(?:\s|$)/.test(content[0] ?? "")) continue;
    const parts = content.map((l, i) => (i === 0 ? l.replace(/^>\s?/, "") : l.replace(/^ {1,2}/, "")).trimEnd());
    return { top: t, bottom: b, text: boxText(parts) };
  }
  return null;
}

/**
 * The block a dialog occupies when there is no input box: everything under the lowest rule near the bottom
 * (dialogs draw one on top), else the last lines. `start` is where it begins; above it is transcript.
 */
export function bottomBlock(lines: string[]): { start: number; block: string[] } {
  const floor = Math.max(0, lines.length - 60);
  for (let i = lines.length - 1; i >= floor; i--) {
    if (isRule(lines[i] ?? "")) {
      let top = i;
      while (top > 0 && isRule(lines[top - 1] ?? "")) top--;
      return { start: top, block: lines.slice(i + 1) };
    }
  }
  const start = Math.max(0, lines.length - 30);
  return { start, block: lines.slice(start) };
}

export type EntryKind = "prompt" | "reply" | "result" | "spinner" | "done" | "queued" | "other";

/** One item of the transcript: a user prompt, a `●` reply, a `⎿` result, a spinner/status line, … */
export interface Entry {
  kind: EntryKind;
  /** The entry's text without its glyph, continuation lines joined. */
  text: string;
}

const MAX_ENTRY_CHARS = 2_000;

// Busy is a shape, not a word list: a spinner glyph, any verb (users can customise them), and an ellipsis.
const SPINNER_GLYPH = /^[·✢✳✶✻✽*]\s/;
const SPINNER_ACTIVE = /^[·✢✳✶✻✽*]\s+[^\n…]{1,80}…|Retrying in \d/;

function entryKind(line: string): { kind: EntryKind; body: string } | null {
  if (/^[❯>](?:\s|$)/.test(line)) return { kind: "prompt", body: line.slice(1) };
  if (/^[●⏺](?:\s|$)/.test(line)) return { kind: "reply", body: line.slice(1) };
  if (/^\s{1,6}⎿/.test(line)) return { kind: "result", body: line.replace(/^\s*⎿/, "") };
  // A queued follow-up sits indented under the spinner.
  if (/^ {1,4}❯\s/.test(line)) return { kind: "queued", body: line.replace(/^\s*❯/, "") };
  if (SPINNER_GLYPH.test(line)) return { kind: SPINNER_ACTIVE.test(line) ? "spinner" : "done", body: line.slice(1) };
  return null;
}

/** Cuts lines [from, to) into transcript entries, each starting at its glyph. */
export function transcriptEntries(lines: string[], from: number, to: number): Entry[] {
  const entries: Entry[] = [];
  let current: Entry | null = null;
  let previousBlank = true;
  for (let i = Math.max(0, from); i < Math.min(to, lines.length); i++) {
    const line = lines[i] ?? "";
    if (line.trim() === "") {
      previousBlank = true;
      continue;
    }
    const start = entryKind(line);
    if (start !== null) {
      current = { kind: start.kind, text: start.body.trim() };
      entries.push(current);
    } else if (current === null || (previousBlank && !/^\s/.test(line))) {
      current = { kind: "other", text: line.trim() };
      entries.push(current);
    } else if (current.text.length < MAX_ENTRY_CHARS) {
      // An indented line is the CLI's own wrap (a word boundary); one at column 0 is the terminal's hard wrap.
      current.text += /^\s/.test(line) ? ` ${line.trim()}` : line;
    }
    previousBlank = false;
  }
  return entries;
}
