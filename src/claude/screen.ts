/**
 * The screen classifier: what a Claude Code pane capture says about the session right now.
 *
 * It reads the screen from the bottom up: first whether Claude Code is still there (shell), then the input box
 * (none → a dialog or the limit menu), then the spinner (busy), and last the final line of the last turn (a usage
 * limit, an error, or idle). Only that last turn counts: a banner above later work is history.
 */
import { parseResetTime } from "./reset-time.js";
import { classifyBanner } from "./screen-banners.js";
import { detectDialog, detectExit } from "./screen-dialogs.js";
import {
  bottomBlock,
  findInputBox,
  isRule,
  screenLines,
  transcriptEntries,
  type Entry,
  type InputBox,
} from "./screen-layout.js";

export type ScreenState = "idle" | "busy" | "limit" | "error" | "dialog" | "shell" | "unknown";
export type LimitKind = "session" | "weekly" | "opus" | "sonnet" | "usage" | "extra";

export interface LimitMenu {
  options: { number: number; label: string }[];
  /** The number shown for "Stop and wait for limit to reset"; null when the menu has no such option. */
  waitOption: number | null;
}

export interface LimitInfo {
  kind: LimitKind;
  /** Epoch ms; null when the screen shows no reset time. */
  resetsAt: number | null;
  /** The matched banner, at most 120 characters. */
  text: string;
  menu: LimitMenu | null;
}

export interface ScreenVerdict {
  state: ScreenState;
  /**
   * Short kebab-case reason. idle: ready, input-pending, usage-warning, interrupted. busy: spinner, retrying,
   * esc-to-interrupt. limit: limit-banner, limit-menu. error: api-500, overloaded-529, request-rejected-429,
   * server-limiting, connection, timeout, auth, api-error. dialog: theme, security-notes, trust-folder,
   * bypass-permissions, permission-prompt, api-key, rewind, other. shell: root-refused, connectivity-check-failed,
   * resume-hint, pane-dead, exit-marker, shell-prompt. unknown: empty, no-input-box.
   */
  detail: string;
  limit: LimitInfo | null;
  /** What sits in the input box, if anything (e.g. "[Pasted text #1 +4 lines]"). */
  inputText?: string;
}

export interface ClassifyOptions {
  /** Epoch ms a reset time without a date is counted from. */
  now: number;
  /** IANA zone for a reset time printed without one; default: this process's zone. */
  hostZone?: string;
}

/** Classifies a pane capture (plain or with ANSI codes, any width). Never throws; reads a bounded tail of the input. */
export function classifyScreen(capture: string, options: ClassifyOptions): ScreenVerdict {
  const lines = screenLines(capture);
  if (lines.length === 0) return { state: "unknown", detail: "empty", limit: null };
  const box = findInputBox(lines);
  if (box === null) return classifyWithoutBox(lines, options);
  const tail = lines.slice(box.bottom + 1);
  // Transcript or a dialog under the box: the box is a stale frame (a redraw's, or an earlier agent's in this pane),
  // read before the exit message below it, which is the earlier agent's (else a new agent's limit menu reads as a shell).
  if (tail.some(startsLaterScreen)) return classifyWithoutBox(tail, options);
  const exit = detectExit(tail, false);
  if (exit !== null) return { state: "shell", detail: exit, limit: null };
  return classifyAtBox(lines, box, tail, options);
}

function startsLaterScreen(line: string): boolean {
  return isRule(line) || /^[❯●⏺>](?:\s|$)|^╭─|^[·✢✳✶✻✽*]\s\S/.test(line);
}

function classifyWithoutBox(lines: string[], options: ClassifyOptions): ScreenVerdict {
  const { start, block } = bottomBlock(lines);
  const exit = detectExit(block, true);
  if (exit !== null) return { state: "shell", detail: exit, limit: null };
  const dialog = detectDialog(block);
  if (dialog === null) return { state: "unknown", detail: "no-input-box", limit: null };
  if (dialog.menu === null) return { state: "dialog", detail: dialog.detail, limit: null };
  // The open limit menu is itself the proof; the banner above it (if still on screen) gives kind and reset time.
  const banner = nearestLimitBanner(transcriptEntries(lines, 0, start));
  const limit =
    banner === null
      ? { kind: "usage" as const, resetsAt: null, text: "What do you want to do?", menu: dialog.menu }
      : limitInfo(banner.kind, banner.text, options, dialog.menu);
  return { state: "limit", detail: "limit-menu", limit };
}

function classifyAtBox(lines: string[], box: InputBox, tail: string[], options: ClassifyOptions): ScreenVerdict {
  const input = box.text === "" ? {} : { inputText: box.text };
  const entries = transcriptEntries(lines, 0, box.top);
  const spinner = activeSpinner(entries);
  if (spinner !== null) {
    return {
      state: "busy",
      detail: /Retrying in \d/i.test(spinner.text) ? "retrying" : "spinner",
      limit: null,
      ...input,
    };
  }
  if (tail.some((l) => /esc to interrupt/i.test(l))) {
    return { state: "busy", detail: "esc-to-interrupt", limit: null, ...input };
  }

  const result = lastTurnResult(entries);
  const banner = result === null ? null : classifyBanner(result.text);
  if (result !== null && banner?.type === "limit") {
    return {
      state: "limit",
      detail: "limit-banner",
      limit: limitInfo(banner.kind, result.text, options, null),
      ...input,
    };
  }
  if (banner?.type === "retrying") return { state: "busy", detail: "retrying", limit: null, ...input };
  // A transient error is superseded once a new prompt is being typed; an auth problem stays until fixed.
  if (banner?.type === "error" && (banner.detail === "auth" || box.text === "")) {
    return { state: "error", detail: banner.detail, limit: null, ...input };
  }
  let detail = "ready";
  if (box.text !== "") detail = "input-pending";
  else if (banner?.type === "warning") detail = "usage-warning";
  else if (banner?.type === "interrupted") detail = "interrupted";
  return { state: "idle", detail, limit: null, ...input };
}

/** The spinner line when it is the last thing the transcript shows (tips and queued messages sit below it). */
function activeSpinner(entries: Entry[]): Entry | null {
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i];
    if (entry === undefined || entry.kind === "queued" || entry.kind === "result") continue;
    return entry.kind === "spinner" ? entry : null;
  }
  return null;
}

// Hints the CLI prints under a banner ("/upgrade to increase your usage limit.", "/login to switch …").
const HINT = /^(?:\/[a-z][\w-]*\b|Tip:|Switch models)/i;

/**
 * The entry that ended the last turn: the final reply or `⎿` result after the last prompt, skipping the
 * past-tense "✻ Worked for 3s" line and hints. Null when the last prompt has no output yet.
 */
function lastTurnResult(entries: Entry[]): Entry | null {
  let end = entries.length;
  let prompt = lastPromptBefore(entries, end);
  // /rate-limit-options is the CLI's own limit menu (opened for the user); it is not later work.
  while (prompt >= 0 && /^\/rate-limit-options\b/.test(entries[prompt]?.text ?? "")) {
    end = prompt;
    prompt = lastPromptBefore(entries, end);
  }
  for (let i = end - 1; i > prompt; i--) {
    const entry = entries[i];
    if (entry === undefined || entry.kind === "done" || entry.kind === "queued" || entry.kind === "spinner") continue;
    if (entry.kind === "result" && HINT.test(entry.text)) continue;
    return entry;
  }
  return null;
}

function lastPromptBefore(entries: Entry[], end: number): number {
  for (let i = end - 1; i >= 0; i--) if (entries[i]?.kind === "prompt") return i;
  return -1;
}

function nearestLimitBanner(entries: Entry[]): { kind: LimitKind; text: string } | null {
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i];
    if (entry === undefined || entry.kind === "prompt") continue;
    const banner = classifyBanner(entry.text);
    if (banner?.type === "limit") return { kind: banner.kind, text: entry.text };
  }
  return null;
}

function limitInfo(kind: LimitKind, text: string, options: ClassifyOptions, menu: LimitMenu | null): LimitInfo {
  const resetsAt = parseResetTime(text, { now: options.now, hostZone: options.hostZone });
  // The banner without the hint line joined under it ("/login to switch …"); a "· /upgrade …" on the line stays.
  const banner = text.replace(/(?<![·∙])\s+\/[a-z][\w-]*\b.*$/i, "");
  return { kind, resetsAt, text: banner.slice(0, 120), menu };
}
