/**
 * The pure part of `claude-failover classify [FILE|-] [--json] [--now ISO]`: classify a pane capture and print
 * the verdict. Reading the file or stdin and parsing `--now` belong to the CLI.
 */
import { classifyScreen, type LimitKind, type ScreenState, type ScreenVerdict } from "./screen.js";
import { clipText } from "../lib/clip.js";

/** The `--json` shape (contract §7); `resets_at` is ISO-8601 UTC or null when the screen shows no reset time. */
export interface VerdictJson {
  state: ScreenState;
  detail: string;
  limit: { kind: LimitKind; resets_at: string | null } | null;
}

/** Classifies a capture as the daemon would at `nowMs`; `hostZone` stands for the machine's zone in tests. */
export function classifyText(text: string, nowMs: number, hostZone?: string): ScreenVerdict {
  return classifyScreen(text, { now: nowMs, hostZone });
}

export function toVerdictJson(verdict: ScreenVerdict): VerdictJson {
  const limit =
    verdict.limit === null ? null : { kind: verdict.limit.kind, resets_at: isoOrNull(verdict.limit.resetsAt) };
  return { state: verdict.state, detail: verdict.detail, limit };
}

/** One JSON line with `json`; otherwise a short human line, and a second one for a limit's banner or pending input. */
export function formatVerdict(verdict: ScreenVerdict, options: { json: boolean }): string {
  if (options.json) return JSON.stringify(toVerdictJson(verdict));
  const limit = verdict.limit;
  if (limit !== null) {
    const resets = isoOrNull(limit.resetsAt);
    const head = `${verdict.state} (${verdict.detail}): ${limit.kind} limit, ${resets === null ? "reset time not shown" : `resets ${resets}`}`;
    const menu =
      limit.menu === null
        ? ""
        : ` · menu: ${limit.menu.options.map((o) => `${o.number}. ${o.label}`).join(", ")}; wait = ${limit.menu.waitOption ?? "none"}`;
    return `${head}\n  ${JSON.stringify(limit.text)}${menu}`;
  }
  const head = `${verdict.state} (${verdict.detail})`;
  if (verdict.inputText === undefined) return head;
  const input = clipText(verdict.inputText, 60);
  return `${head}\n  input: ${JSON.stringify(input)}`;
}

// Date's range is ±8.64e15 ms; outside it toISOString throws.
function isoOrNull(ms: number | null): string | null {
  return ms === null || !(Math.abs(ms) <= 8.64e15) ? null : new Date(ms).toISOString();
}
