import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Clock } from "../lib/clock.js";

/**
 * An InstantClock that remembers every sleep: a retry's wait passes at once and the test asserts its exact
 * length. Time moves only through sleeps and `advance`.
 */
export class RecordingClock implements Clock {
  readonly sleeps: number[] = [];
  constructor(private current = Date.UTC(2026, 3, 17, 2, 17, 19)) {}

  now(): number {
    return this.current;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw new DOMException("aborted", "AbortError");
    this.sleeps.push(ms);
    this.current += Math.max(0, ms);
    await new Promise<void>((r) => setImmediate(r));
    if (signal?.aborted) throw new DOMException("aborted", "AbortError");
  }

  advance(ms: number): void {
    this.current += ms;
  }
}

/**
 * Request deadlines the test fires by hand (`fire()` aborts every pending one), so a "server never answers"
 * case ends when the test says, not after a real timeout.
 */
export function manualDeadlines(): { timeoutSignal: (ms: number) => AbortSignal; fire(): void; readonly issued: number[] } {
  const pending: AbortController[] = [];
  const issued: number[] = [];
  return {
    issued,
    timeoutSignal(ms) {
      issued.push(ms);
      const c = new AbortController();
      pending.push(c);
      return c.signal;
    },
    fire() {
      for (const c of pending.splice(0)) c.abort(new DOMException("request timed out", "TimeoutError"));
    },
  };
}

/** A queue root with projects (each with its four folders and a working directory) and a state dir. */
export async function makeDelegationSandbox(projects: string[] = ["alpha", "beta"]) {
  const base = await mkdtemp(path.join(os.tmpdir(), "cf-deleg-"));
  const root = path.join(base, "queue");
  const stateDir = path.join(base, "state");
  const dirs: Record<string, string> = {};
  for (const p of projects) {
    dirs[p] = path.join(base, "work", p);
    await mkdir(dirs[p], { recursive: true });
    for (const f of ["inbox", "active", "done", "failed"]) await mkdir(path.join(root, p, f), { recursive: true });
  }
  await mkdir(stateDir, { recursive: true });
  return {
    base,
    root,
    stateDir,
    projects: dirs,
    dir: (project: string, folder: string) => path.join(root, project, folder),
    list: async (project: string, folder: string) => (await readdir(path.join(root, project, folder))).sort(),
    cleanup: () => rm(base, { recursive: true, force: true }),
  };
}

/** Task texts the manager tests share. */
export const TASKS = {
  gpu: "---\ntitle: Summarise\nallow_delegation: true\npreferred_ai: gpu\ncomplexity_hint: low\n---\nSummarise the logs.\n",
  gemini: "---\nallow_delegation: yes\npreferred_ai: gemini\n---\nTranslate the README.\n",
  local: "---\ntitle: Local work\n---\nRun the build.\n",
  needsClaude: "---\nneeds_claude_code: true\nallow_delegation: true\npreferred_ai: gpu\n---\nEdit files.\n",
  broken: "---\ntitle: [unclosed\nallow_delegation: true\n---\nbody\n",
} as const;
