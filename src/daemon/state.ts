import { z } from "zod";
import type { Clock } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { ledgerSnapshotSchema } from "../accounts/ledger.js";
import { swapJournalSchema } from "../accounts/switcher.js";
import { taskRecordSchema, type TaskLedger, type TaskRecord } from "../dispatch/records.js";
import { StateStore, type LoadResult } from "../state/store.js";

/** What the daemon keeps across restarts. Internals: free to grow with a version bump and a migration. */
export const daemonStateSchema = z.object({
  active_account: z.string().nullable(),
  started_at: z.string().nullable(),
  last_swap: z.object({ from: z.string(), to: z.string(), at: z.string(), reason: z.string() }).nullable(),
  /** Tasks in flight, by "project/id". */
  tasks: z.record(z.string(), taskRecordSchema).default({}),
  /** Attempts made by tasks waiting for a retry, by "project/id". */
  attempts: z.record(z.string(), z.number().int().min(0)).default({}),
  /** The last swaps, newest first (at most SWAP_HISTORY). */
  swaps: z.array(z.object({ from: z.string(), to: z.string(), at: z.string(), reason: z.string() })).default([]),
  /** The account ledger: exhausted until …, broken. */
  accounts: ledgerSnapshotSchema.prefault({}),
  /** The last (or running) swap, step by step: a restart finishes or undoes it. */
  swap_journal: swapJournalSchema.nullable().default(null),
  /** The operator's pause of dispatch (dashboard), with its reason: it outlives a restart. */
  operator_hold: z.string().max(500).nullable().default(null),
});
export type DaemonState = z.infer<typeof daemonStateSchema>;

export const DAEMON_STATE_VERSION = 1;
/** Swaps kept in state.json for /status. */
export const SWAP_HISTORY = 20;

export function openDaemonStateStore(
  dir: string, clock: Clock, options: { resetCorrupt?: boolean; writeFile?: (file: string, data: string, mode: number) => Promise<void> } = {},
): StateStore<DaemonState> {
  return new StateStore<DaemonState>({
    dir, clock, schema: daemonStateSchema, version: DAEMON_STATE_VERSION, resetCorrupt: options.resetCorrupt === true,
    resetHint: "start with `claude-failover run --reset-state`", ...(options.writeFile ? { writeFile: options.writeFile } : {}),
    defaults: () => ({ active_account: null, started_at: null, last_swap: null, swaps: [], tasks: {}, attempts: {}, accounts: { accounts: {} }, swap_journal: null, operator_hold: null }),
  });
}

export type { LoadResult };

/** The work loop's ledger over the daemon's state store. */
export function ledgerOf(store: StateStore<DaemonState>): TaskLedger {
  return {
    records: () => Object.values(store.get().tasks),
    get: (key) => store.get().tasks[key],
    put: (record: TaskRecord) => void store.update((s) => void (s.tasks[`${record.project}/${record.id}`] = record)),
    remove: (key) => void store.update((s) => void delete s.tasks[key]),
    attempts: (key) => store.get().attempts[key] ?? 0,
    setAttempts: (key, n) =>
      void store.update((s) => {
        if (n === undefined) delete s.attempts[key];
        else s.attempts[key] = n;
      }),
    flush: () => store.flush(),
  };
}

/**
 * Drops the attempt counts whose task is no longer anywhere a retry could come from (waiting in an inbox, as a
 * task or a delegation marker, or in active/): it was finished by another route or deleted by hand, and a later
 * task given its id would otherwise start at the count it left. Run at start, after adoption. Returns what it dropped.
 */
export async function pruneAttempts(store: StateStore<DaemonState>, stillQueued: (key: string) => Promise<boolean>, log: Logger): Promise<Record<string, number>> {
  const dropped: Record<string, number> = {};
  for (const [key, n] of Object.entries(store.get().attempts)) {
    if (!(await stillQueued(key))) dropped[key] = n;
  }
  if (Object.keys(dropped).length === 0) return dropped;
  store.update((s) => {
    for (const key of Object.keys(dropped)) delete s.attempts[key];
  });
  for (const [key, n] of Object.entries(dropped)) log.info({ task: key, attempts: n }, "attempt count dropped: the task is no longer queued");
  return dropped;
}
