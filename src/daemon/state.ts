import { z } from "zod";
import type { Clock } from "../lib/clock.js";
import { StateStore, type LoadResult } from "../state/store.js";

/** What the daemon keeps across restarts. Internals: free to grow with a version bump and a migration. */
export const daemonStateSchema = z.object({
  active_account: z.string().nullable(),
  started_at: z.string().nullable(),
  last_swap: z.object({ from: z.string(), to: z.string(), at: z.string(), reason: z.string() }).nullable(),
});
export type DaemonState = z.infer<typeof daemonStateSchema>;

export const DAEMON_STATE_VERSION = 1;

export function openDaemonStateStore(dir: string, clock: Clock): StateStore<DaemonState> {
  return new StateStore<DaemonState>({
    dir, clock, schema: daemonStateSchema, version: DAEMON_STATE_VERSION,
    defaults: () => ({ active_account: null, started_at: null, last_swap: null }),
  });
}

export type { LoadResult };
