/**
 * Named crash points for the crash harness: with CLAUDE_FAILOVER_CRASH_AT=<name>[:<n>] in the
 * environment, the process kills itself with SIGKILL the n-th time (default the first) it passes
 * that point — the same abrupt end as a power cut or `kill -9`, at a chosen instant. Without the
 * variable this is one map lookup.
 */
const spec = parse(process.env.CLAUDE_FAILOVER_CRASH_AT);
const hits = new Map<string, number>();

function parse(value: string | undefined): { name: string; nth: number } | undefined {
  if (!value) return undefined;
  const m = /^([a-z0-9-]+)(?::(\d+))?$/.exec(value);
  return m ? { name: m[1]!, nth: Number(m[2] ?? 1) } : undefined;
}

/** Every point in the code, so the harness can go through them all. */
export const CRASH_POINTS = [
  "after-claim", "after-record", "after-launch", "after-paste", "after-submit",
  "after-complete", "after-requeue", "finish-staged", "finish-unlinked",
  // Worktree tasks only: the worktree exists but the journal still says "creating"; the
  // agent's work is committed to its branch but the task not yet filed.
  "worktree-created", "worktree-committed",
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export function crashPoint(name: CrashPoint): void {
  if (spec?.name !== name) return;
  const n = (hits.get(name) ?? 0) + 1;
  hits.set(name, n);
  if (n === spec.nth) process.kill(process.pid, "SIGKILL");
}
