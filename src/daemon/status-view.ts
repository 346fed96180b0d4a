import type { AccountStatus, AccountView } from "../accounts/ledger.js";
import type { SwitcherState } from "../accounts/switcher.js";
import type { SessionKind, SessionRecord, SessionState } from "../pool/registry.js";
import type { QueueCounts } from "../queue/status.js";
import type { DaemonState } from "./state.js";

export type DaemonLifecycle = "idle" | "starting" | "running" | "stopping" | "stopped";

type SwapLine = DaemonState["last_swap"] & {};

/** An account as /status shows it. */
export interface AccountStatusView {
  name: string;
  home: string | undefined;
  state: AccountStatus;
  /** Exhausted: when it comes back (ISO); `reset_known` false when that is a guess. */
  until?: string;
  reset_known?: boolean;
  reason?: string;
  headroom: number | null;
}

/** A session the daemon is responsible for, as /status shows it. */
export interface SessionStatusView {
  name: string;
  kind: SessionKind;
  state: SessionState;
  task: string | null;
  account: string | null;
  /** The task's worktree branch, when it runs in one. */
  branch?: string;
  since: string;
  error?: string;
}

/** The body of GET /status (contract §7), which `claude-failover status` and the dashboard read. */
export interface DaemonStatus {
  version: string;
  lifecycle: DaemonLifecycle;
  started_at: string | null;
  active_account: string | null;
  accounts: AccountStatusView[];
  dispatch: "paused" | "running";
  sessions: SessionStatusView[];
  pool: { held: string[]; min: number; max: number };
  queue: Record<string, QueueCounts>;
  last_swap: SwapLine | null;
  swaps: SwapLine[];
  partial_swap: boolean;
  swap_state: SwitcherState;
}

export interface StatusInputs {
  version: string;
  lifecycle: DaemonLifecycle;
  /** Epoch ms; 0 before the daemon ran. */
  startedAt: number;
  /** state.json, while the daemon runs (undefined before and after: nothing in it is current). */
  state: DaemonState | undefined;
  accounts: AccountView[];
  homes: readonly { name: string; home: string }[];
  dispatchPaused: boolean;
  sessions: SessionRecord[];
  pool: { held: string[]; min: number; max: number };
  queue: Record<string, QueueCounts>;
  swap: { state: SwitcherState; partial: boolean };
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Builds /status from the daemon's parts; pure, so its shape is tested without a daemon. */
export function statusViewOf(i: StatusInputs): DaemonStatus {
  const s = i.state;
  return {
    version: i.version,
    lifecycle: i.lifecycle,
    started_at: i.startedAt ? iso(i.startedAt) : null,
    active_account: s?.active_account ?? null,
    accounts: i.accounts.map((a) => ({
      name: a.name, home: i.homes.find((c) => c.name === a.name)?.home, state: a.status,
      ...(a.until !== undefined ? { until: iso(a.until), reset_known: a.resetKnown ?? true } : {}),
      ...(a.reason ? { reason: a.reason } : {}), headroom: a.headroom,
    })),
    dispatch: i.dispatchPaused ? "paused" : "running",
    sessions: i.sessions.map((r) => {
      const branch = r.task ? s?.tasks[r.task]?.worktree?.branch : undefined;
      return {
        name: r.name, kind: r.kind, state: r.state, task: r.task ?? null, account: r.account ?? null,
        ...(branch ? { branch } : {}), since: iso(r.since), ...(r.error ? { error: r.error } : {}),
      };
    }),
    pool: i.pool,
    queue: i.queue,
    last_swap: s?.last_swap ?? null,
    swaps: s?.swaps ?? [],
    partial_swap: i.swap.partial,
    swap_state: i.swap.state,
  };
}
