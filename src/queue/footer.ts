import { clipText } from "../lib/clip.js";

/** The line that opens the footer of a done/ or failed/ file (contract §4). */
export const FOOTER_MARKER = "<!-- claude-failover -->";

export type Outcome = "done" | "failed";

/** What the footer records besides status and reason. Times are epoch milliseconds. */
export interface FooterFields {
  session?: string;
  account?: string;
  attempts: number;
  startedAt?: number;
  /** Defaults to the queue's clock when the file is written. */
  finishedAt?: number;
  provider?: string;
  /** Only when known. */
  costUsd?: number;
  /** For local tasks. */
  claudeSessionId?: string;
  /** Set when the task text had to change before pasting (control sequences removed, S5). */
  promptChanged?: string;
  /** A worktree task's branch, its head, the commit it started from, and `git diff --shortstat` between them. */
  branch?: string;
  commit?: string;
  base?: string;
  diffstat?: string;
  /** Where a worktree that could not be cleaned is kept. */
  worktree?: string;
}

// Longest footer reason; the full text sits in the Failure section above it.
/** A failure reason in a footer (and wherever one is quoted), at most this long. */
export const MAX_REASON_CHARS = 300;

/**
 * The footer block: the marker line, then `key: value` lines in the contract's order. Values are forced onto one line so
 * a script reading `key: value` can never be fooled by a newline inside a value.
 */
export function formatFooter(status: Outcome, fields: FooterFields & { finishedAt: number }, reason?: string): string {
  const lines = [FOOTER_MARKER, `status: ${status}`];
  const add = (key: string, value: string | number | undefined): void => {
    if (value !== undefined && value !== "") lines.push(`${key}: ${oneLine(String(value))}`);
  };
  if (status === "failed") add("reason", clipText(oneLine(reason ?? "unknown"), MAX_REASON_CHARS));
  add("session", fields.session);
  add("account", fields.account);
  add("attempts", fields.attempts);
  add("started", fields.startedAt === undefined ? undefined : formatIso(fields.startedAt));
  add("finished", formatIso(fields.finishedAt));
  add("provider", fields.provider);
  if (fields.costUsd !== undefined && Number.isFinite(fields.costUsd)) add("cost_usd", Number(fields.costUsd.toFixed(6)));
  add("claude_session_id", fields.claudeSessionId);
  add("prompt_changed", fields.promptChanged);
  // After the contract's §4 keys, in this order: a script reading the footer finds the old keys where they were.
  add("branch", fields.branch);
  add("commit", fields.commit);
  add("base", fields.base);
  add("diffstat", fields.diffstat);
  add("worktree", fields.worktree);
  return lines.join("\n") + "\n";
}

/**
 * What is appended to the original text: a `## Result` (done) or `## Failure` (failed) section, then the footer.
 * `endsWithNewline` says whether the original text already ends a line.
 */
export function formatAppendix(
  status: Outcome,
  body: string,
  fields: FooterFields & { finishedAt: number },
  endsWithNewline: boolean,
  reason?: string,
): string {
  const heading = status === "done" ? "## Result" : "## Failure";
  const text = body.trim() === "" ? (status === "done" ? "(no result text)" : "(no reason given)") : body.trimEnd();
  return `${endsWithNewline ? "" : "\n"}\n${heading}\n\n${text}\n\n${formatFooter(status, fields, reason)}`;
}

/** The fields of the last footer in a done/ or failed/ file, or undefined when it has none. */
export function parseFooter(text: string): Record<string, string> | undefined {
  const lines = text.split(/\r?\n/);
  let at = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i]!.trim() === FOOTER_MARKER) {
      at = i;
      break;
    }
  }
  if (at === -1) return undefined;
  const fields: Record<string, string> = {};
  for (const line of lines.slice(at + 1)) {
    const m = /^([a-z_]+): ?(.*)$/.exec(line);
    if (m) fields[m[1]!] = m[2]!;
  }
  return fields;
}

/** ISO-8601 UTC to the second, as the footer and status.json show it: 2026-04-17T02:17:19Z. */
export function formatIso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, " ").trim();
}

