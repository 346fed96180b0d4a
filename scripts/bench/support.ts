// Small pieces the benchmark phases share: statistics, formatting, CPU and memory readings, a tmux
// client that records what the daemon asks of tmux, and polling with a deadline.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import v8 from "node:v8";
import vm from "node:vm";
import type { Key, NewSessionOptions, PaneInfo, SessionInfo, TmuxClient } from "../../src/tmux/client.js";

export const now = (): number => performance.now();
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every `everyMs` until it returns a value; throws after `timeoutMs` naming `what`. */
export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, everyMs = 20): Promise<T> {
  const deadline = now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface Summary {
  n: number;
  median: number;
  p90: number;
  max: number;
  min: number;
}

function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Median and p90 interpolate between samples (n = 10: p90 lies between the 9th and 10th). */
export function summarize(samples: readonly number[]): Summary | undefined {
  const s = samples.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  return { n: s.length, median: quantile(s, 0.5), p90: quantile(s, 0.9), max: s.at(-1)!, min: s[0]! };
}

export function fmtMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms < 0) return `−${fmtMs(-ms)}`;
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

export const fmtMiB = (bytes: number | undefined): string => (bytes === undefined ? "–" : `${(bytes / 2 ** 20).toFixed(1)} MiB`);
export const fmtKiB = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
export const fmtDeltaMiB = (bytes: number): string => `${bytes < 0 ? "−" : "+"}${fmtMiB(Math.abs(bytes))}`;
export const fmtPct = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? "–" : `${x < 1 ? x.toFixed(3) : x.toFixed(2)} %`);

/** CPU read from /proc in clock ticks (10 ms): a reading of 0 means "less than one tick over the window". */
export const fmtTickPct = (x: number | undefined, windowS: number): string =>
  x === 0 ? `< ${((0.01 / windowS) * 100).toFixed(3)} %` : fmtPct(x);

let gc: (() => void) | undefined;
/** A full garbage collection, so memory readings taken in a row compare what is live, not what awaits collection. */
export function forceGc(): void {
  if (!gc) {
    v8.setFlagsFromString("--expose-gc");
    gc = vm.runInNewContext("gc") as () => void;
  }
  gc();
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  try {
    clockTicks ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    clockTicks = 100;
  }
  return clockTicks;
}

/** CPU ms from /proc/<pid>/stat: the process itself, and its children it has waited for (the tmux clients it ran). */
export function procCpuMs(pid: number | "self"): { self: number; children: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // Fields after "(comm)": state is field 3, utime 14, stime 15, cutime 16, cstime 17.
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const ms = 1000 / ticksPerSecond();
  return { self: (Number(f[11]) + Number(f[12])) * ms, children: (Number(f[13]) + Number(f[14])) * ms };
}

export interface TmuxCall {
  op: string;
  session: string;
  text?: string;
  start: number;
  end: number;
}

/**
 * Passes every call through to the real client and notes when it started and ended, so a dispatch
 * can be cut into its steps without touching the daemon. The cost is one performance.now() per call.
 */
export class RecordingTmux implements TmuxClient {
  /** tmux processes run (a paste is two: load-buffer and paste-buffer). */
  execs = 0;
  recording = false;
  readonly calls: TmuxCall[] = [];

  constructor(private readonly inner: TmuxClient) {}

  private async rec<T>(op: string, session: string, execs: number, fn: () => Promise<T>, text?: string): Promise<T> {
    const start = now();
    try {
      return await fn();
    } finally {
      this.execs += execs;
      if (this.recording) this.calls.push({ op, session, start, end: now(), ...(text === undefined ? {} : { text }) });
    }
  }

  hasSession(name: string, signal?: AbortSignal): Promise<boolean> {
    return this.rec("has-session", name, 1, () => this.inner.hasSession(name, signal));
  }
  newSession(o: NewSessionOptions, signal?: AbortSignal): Promise<void> {
    return this.rec("new-session", o.name, 1, () => this.inner.newSession(o, signal));
  }
  killSession(name: string, signal?: AbortSignal): Promise<void> {
    return this.rec("kill-session", name, 1, () => this.inner.killSession(name, signal));
  }
  listSessions(signal?: AbortSignal): Promise<SessionInfo[]> {
    return this.rec("list-sessions", "", 1, () => this.inner.listSessions(signal));
  }
  sendText(name: string, text: string, signal?: AbortSignal): Promise<void> {
    return this.rec("send-text", name, 1, () => this.inner.sendText(name, text, signal), text);
  }
  sendKey(name: string, key: Key, signal?: AbortSignal): Promise<void> {
    return this.rec("send-key", name, 1, () => this.inner.sendKey(name, key, signal), key);
  }
  paste(name: string, text: string, signal?: AbortSignal): Promise<void> {
    return this.rec("paste", name, 2, () => this.inner.paste(name, text, signal));
  }
  capturePane(name: string, options?: { history?: number; ansi?: boolean }, signal?: AbortSignal): Promise<string> {
    return this.rec("capture-pane", name, 1, () => this.inner.capturePane(name, options, signal));
  }
  paneInfo(name: string, signal?: AbortSignal): Promise<PaneInfo> {
    return this.rec("display-message", name, 1, () => this.inner.paneInfo(name, signal));
  }
  unsetGlobalEnv(names: readonly string[], signal?: AbortSignal): Promise<string[]> {
    return this.rec("set-environment", "", 1, () => this.inner.unsetGlobalEnv(names, signal));
  }
}

export function markdownTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}
