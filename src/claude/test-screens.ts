/**
 * Test support for the screen classifier: the real captures, what each must classify as, and generators for
 * variants (other widths, colour codes, synthetic 1.0.x / 2.0.x / 2.1.x screens).
 */
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { LimitKind, ScreenState } from "./screen.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** The real captures, vendored in the repository (provenance in the folder's README). */
export const FIXTURE_DIR = path.resolve(repoRoot, "test/fixtures/claude-code");

/** Every capture file (`*.txt`, plain and `.ansi.txt`), sorted. */
export function fixtureFiles(): string[] {
  return readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith(".txt"))
    .sort();
}

export function readFixture(file: string): string {
  return readFileSync(path.join(FIXTURE_DIR, file), "utf8");
}

/** The plain file a capture belongs to (`x.ansi.txt` → `x.txt`). */
export function plainName(file: string): string {
  return file.replace(/\.ansi\.txt$/, ".txt");
}

/** The clock the fixture expectations are computed at: 2025-11-27 12:00 UTC, before every reset shown. */
export const FIXTURE_NOW = Date.UTC(2025, 10, 27, 12, 0);

export interface Expected {
  state: ScreenState;
  detail: string;
  limit?: { kind: LimitKind; resetsAt: string; waitOption?: number | null };
  inputText?: string;
}

/**
 * The verdict for each plain capture. Where the fixture README allows two states ("error or idle", "dialog or
 * idle") or says "see name", this is the choice made; the README test checks each choice stays within what it allows.
 */
export const EXPECTED: Record<string, Expected> = {
  "00-firstrun-connectivity-fail.txt": { state: "shell", detail: "connectivity-check-failed" },
  "01-onboarding-theme.txt": { state: "dialog", detail: "theme" },
  "02-onboarding-security-notes.txt": { state: "dialog", detail: "security-notes" },
  "03-trust-folder.txt": { state: "dialog", detail: "trust-folder" },
  "04-idle-first.txt": { state: "idle", detail: "ready" },
  "05-typing.txt": { state: "idle", detail: "input-pending", inputText: "hello there, say something" },
  "06-busy-spinner.txt": { state: "busy", detail: "spinner" },
  "07-reply-done.txt": { state: "idle", detail: "ready" },
  "08-paste-sendkeys-l.txt": {
    state: "idle",
    detail: "input-pending",
    inputText: "line one of pasted text\nline two of pasted text\nline three\nline four\nline five",
  },
  "09-paste-sendkeys-l-after-enter.txt": { state: "busy", detail: "spinner" },
  // "see name": the three alpha lines were submitted and the turn is running.
  "10-sendkeys-text-plus-enter-same-cmd.txt": { state: "busy", detail: "spinner" },
  "11-bigpaste-sendkeys-l-plus-enter-same-cmd.txt": {
    state: "idle",
    detail: "input-pending",
    inputText: "[Pasted text #1 +30 lines]",
  },
  "12-bigpaste-after-separate-enter.txt": { state: "busy", detail: "spinner" },
  // "see name": the bracketed paste sits in the box, not submitted.
  "13-bracketed-paste-small.txt": {
    state: "idle",
    detail: "input-pending",
    inputText: "bracketed one\nbracketed two\nbracketed three",
  },
  // The README's "submitted": the turn is running.
  "14-bracketed-bigpaste-plus-enter-same-cmd.txt": { state: "busy", detail: "spinner" },
  // "see name": every turn finished; the box is empty.
  "15-sendkeys-l-2lines-chained-enter.txt": { state: "idle", detail: "ready" },
  "16-sendkeys-l-64plus-chars-chained-enter-swallowed.txt": {
    state: "idle",
    detail: "input-pending",
    inputText: "MOCK_DELAY=100 this is a line that is longer than sixty-four characters in total, ok",
  },
  "17-bracketed-paste-5-short-lines.txt": {
    state: "idle",
    detail: "input-pending",
    inputText: "[Pasted text #1 +4 lines]",
  },
  "18-after-double-esc-clear-input.txt": { state: "idle", detail: "ready" },
  // "dialog or idle": the rewind picker replaces the input box, so a prompt sent now would not land.
  "19-double-esc-on-empty-input.txt": { state: "dialog", detail: "rewind" },
  "20-idle-seeded-home.txt": { state: "idle", detail: "ready" },
  "21-tool-permission-prompt.txt": { state: "dialog", detail: "permission-prompt" },
  "22-tool-running.txt": { state: "busy", detail: "spinner" },
  "23-tool-done.txt": { state: "idle", detail: "ready" },
  "24-429-busy.txt": { state: "busy", detail: "spinner" },
  // "error or idle": the last turn ended on the error and the box is empty, so the turn failed: error.
  "25-429-final.txt": { state: "error", detail: "request-rejected-429" },
  "26-500-final.txt": { state: "error", detail: "api-500" },
  "28-529-retrying.txt": { state: "busy", detail: "retrying" },
  "29-apikey-MOCK_LIMIT.txt": { state: "error", detail: "request-rejected-429" },
  "30-oauth-usage-limit-5h.txt": {
    state: "limit",
    detail: "limit-banner",
    limit: { kind: "session", resetsAt: "2025-11-28T00:57:00.000Z" },
  },
  "32-oauth-pro-usage-limit-7d.txt": {
    state: "limit",
    detail: "limit-menu",
    limit: { kind: "weekly", resetsAt: "2025-11-30T03:41:00.000Z", waitOption: 1 },
  },
  "33-oauth-pro-limit-after-choose-wait.txt": {
    state: "limit",
    detail: "limit-banner",
    limit: { kind: "weekly", resetsAt: "2025-11-30T03:41:00.000Z" },
  },
  // The turn before ended on a 429 error; the text typed since supersedes it.
  "36-interrupted-by-esc.txt": {
    state: "idle",
    detail: "input-pending",
    inputText: "MOCK_429 MOCK_RETRY rate limited with retries",
  },
  "37-oauth-MOCK_WARN-no-warning-rendered.txt": { state: "idle", detail: "ready" },
  "40-bypass-as-root-refused.txt": { state: "shell", detail: "root-refused" },
  "41-bypass-permissions-dialog.txt": { state: "dialog", detail: "bypass-permissions" },
  "42-idle-bypass-mode.txt": { state: "idle", detail: "ready" },
  "44-bypass-tool-done.txt": { state: "idle", detail: "ready" },
  "45-api-key-confirm-dialog.txt": { state: "dialog", detail: "api-key" },
  "50-typing-slash-exit.txt": { state: "idle", detail: "input-pending", inputText: "/exit" },
  "51-after-exit.txt": { state: "shell", detail: "resume-hint" },
  // The last prompt (sent before the restart) has no output: nothing failed on screen.
  "52-resume-start.txt": { state: "idle", detail: "ready" },
  "54-ctrl-c-twice-exit.txt": { state: "shell", detail: "exit-marker" },
  "60-busy-long-12s.txt": { state: "busy", detail: "spinner" },
  // The box shows the "Press up to edit queued messages" placeholder, not typed text.
  "62-busy-long-25s.txt": { state: "busy", detail: "spinner" },
};

/**
 * Re-renders a capture at another width. "ink": as the CLI itself draws at that width (rules as wide as the pane,
 * long lines word-wrapped with their continuation indented under the text, right-aligned footers pulled in).
 * "hard": as a terminal wraps lines too long for it (cut at the width, continuation at column 0).
 */
export function rewrap(capture: string, width: number, mode: "ink" | "hard"): string {
  const out: string[] = [];
  for (const raw of capture.split("\n")) {
    const line = raw.trimEnd();
    if (mode === "hard") {
      if (line.length <= width) out.push(line);
      for (let i = 0; line.length > width && i < line.length; i += width) out.push(line.slice(i, i + width).trimEnd());
      continue;
    }
    if (/^─+$/.test(line)) {
      out.push("─".repeat(width));
      continue;
    }
    out.push(...wrapWords(line.replace(/(\S) {10,}(\S)/g, "$1  $2"), width));
  }
  return out.join("\n");
}

function wrapWords(line: string, width: number): string[] {
  if (line.length <= width) return [line];
  const lead = /^(\s*(?:[❯●⏺>][\s\u00a0]|⎿[\s\u00a0]+|[·✢✳✶✻✽*] )?)/.exec(line)?.[1] ?? "";
  const indent = " ".repeat(Math.min(lead.length, width - 20));
  const words = line.slice(lead.length).split(" ");
  const lines: string[] = [];
  let current = lead;
  let empty = true;
  for (const word of words) {
    if (!empty && current.length + 1 + word.length > width) {
      lines.push(current);
      current = indent;
      empty = true;
    }
    current += empty ? word : ` ${word}`;
    empty = false;
  }
  lines.push(current);
  return lines.flatMap((l) => (l.length <= width ? [l] : chunk(l, width)));
}

function chunk(line: string, width: number): string[] {
  const parts: string[] = [];
  for (let i = 0; i < line.length; i += width) parts.push(line.slice(i, i + width));
  return parts;
}

/** Colours every word and adds the kinds of escape codes a raw pane stream carries (SGR, cursor, OSC title). */
export function colourize(capture: string): string {
  const lines = capture.split("\n").map((line, i) => {
    const coloured = line.replace(/\S+/g, (w) => `\x1b[38;5;${(i * 7) % 256}m\x1b[1m${w}\x1b[22m\x1b[39m`);
    return `\x1b[?25l${coloured}\x1b[K\x1b[0m`;
  });
  return `\x1b]0;✳ Claude Code\x07\x1b]8;;https://example.com\x1b\\\x1b[H\x1b[2J${lines.join("\n")}\x1b[?25h`;
}

export interface Turn {
  prompt: string;
  /** Lines as the CLI draws them under the prompt, e.g. "● reply" or "  ⎿  You've hit your session limit". */
  output: string[];
  /** The past-tense line closing the turn; omitted when the turn has none. */
  done?: string;
}

export interface ScreenSpec {
  turns: Turn[];
  /** Lines between the transcript and the box, e.g. a spinner "✶ Thinking…". */
  status?: string[];
  input?: string;
  footer?: string;
  width?: number;
  /** "2.1" draws `❯` between rules, "2.0" `>` between rules, "1.0" the `╭─╮ │ > │ ╰─╯` frame. */
  version?: "2.1" | "2.0" | "1.0";
}

/** A synthetic Claude Code screen in the shape of the real captures. */
export function buildScreen(spec: ScreenSpec): string {
  const width = spec.width ?? 200;
  const version = spec.version ?? "2.1";
  const glyph = version === "2.1" ? "❯" : ">";
  const lines = ["╭─── Claude Code ───╮", "│  Welcome back!    │", "╰───────────────────╯", "", ""];
  for (const turn of spec.turns) {
    lines.push(`${glyph} ${turn.prompt}`, "");
    if (turn.output.length > 0) lines.push(...turn.output, "");
    if (turn.done !== undefined) lines.push(turn.done, "");
  }
  if (spec.status !== undefined) lines.push(...spec.status, "");
  const input = spec.input ?? "";
  if (version === "1.0") {
    const inner = Math.max(10, width - 4);
    lines.push(`╭${"─".repeat(inner + 2)}╮`, `│ > ${input.padEnd(inner - 2)} │`, `╰${"─".repeat(inner + 2)}╯`);
  } else {
    lines.push("─".repeat(width), `${glyph}\u00a0${input}`, "─".repeat(width));
  }
  lines.push(spec.footer ?? "  ? for shortcuts");
  return `${lines.join("\n")}\n`;
}

/** Captures of the current CLI (2.1.332), drawn by scripts/capture-screens.ts; provenance in the folder's README. */
export const FIXTURE_DIR_332 = path.join(FIXTURE_DIR, "2.1.332");
/** The clock of the 2.1.332 captures: 2026-12-06 21:58 UTC, before every reset shown. */
export const FIXTURE_NOW_332 = Date.UTC(2026, 11, 6, 21, 58);

export function readFixture332(file: string): string {
  return readFileSync(path.join(FIXTURE_DIR_332, file), "utf8");
}

export function fixtureFiles332(): string[] {
  return readdirSync(FIXTURE_DIR_332).filter((f) => f.endsWith(".txt")).sort();
}

/** What each 2.1.332 capture must classify as. */
export const EXPECTED_332: Record<string, Expected> = {
  "idle.txt": { state: "idle", detail: "ready" },
  // With --dangerously-skip-permissions 2.1.332 asks nothing in an untrusted folder (2.1.197 showed the trust dialog).
  "untrusted-folder.txt": { state: "idle", detail: "ready" },
  // Shown when a running 2.1.332 writes its .claude.json back over the folder's trust entry (160 columns).
  // The options are unnumbered and "No, exit" comes first, under the cursor.
  "trust-folder.txt": { state: "dialog", detail: "trust-folder" },
  "busy.txt": { state: "busy", detail: "spinner" },
  "reply-done.txt": { state: "idle", detail: "ready" },
  // "✻ API error · retrying in 1s · attempt 1/10": the turn goes on.
  "529-retrying.txt": { state: "busy", detail: "esc-to-interrupt" },
  // The box shows the placeholder "Resend your message to try again": not typed text.
  "500-final.txt": { state: "error", detail: "api-500" },
  "paste-in-box.txt": { state: "idle", detail: "input-pending", inputText: "[Pasted text #1 +2 lines]" },
  // Auto-continue on (the CLI's default): "● Usage limit reached · set to continue automatically at 11:57pm".
  "limit-5h.txt": { state: "limit", detail: "limit-banner", limit: { kind: "usage", resetsAt: "2026-12-06T23:57:00.000Z" } },
  "limit-5h-auto-continue-armed.txt": { state: "limit", detail: "limit-banner", limit: { kind: "usage", resetsAt: "2026-12-06T21:53:00.000Z" } },
  // Esc on the auto-continue: "● Automatic continue cancelled · /rate-limit-options to wait again" — still at the limit.
  "limit-5h-after-esc.txt": { state: "limit", detail: "limit-banner", limit: { kind: "usage", resetsAt: "none" } },
  // Auto-continue off (how the daemon runs its agents): the menu, "1. Stop and wait for limit to reset".
  "limit-5h-auto-continue-off.txt": { state: "limit", detail: "limit-menu", limit: { kind: "session", resetsAt: "2026-12-06T23:57:00.000Z", waitOption: 1 } },
  "limit-weekly.txt": { state: "limit", detail: "limit-menu", limit: { kind: "weekly", resetsAt: "2026-12-10T05:57:00.000Z", waitOption: 1 } },
  // "● Usage limit reset · Continuing automatically", then the reply: the CLI continued by itself.
  "auto-continued.txt": { state: "idle", detail: "ready" },
};
