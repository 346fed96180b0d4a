import { test } from "node:test";
import assert from "node:assert/strict";
import type { TaskRecord } from "../dispatch/records.js";
import type { DaemonState } from "./state.js";
import { statusViewOf, type StatusInputs } from "./status-view.js";

const T0 = Date.UTC(2026, 11, 6, 12);
const iso = (ms: number): string => new Date(ms).toISOString();

function running(state: DaemonState): StatusInputs {
  return {
    version: "9.9.9", lifecycle: "running", startedAt: T0, state,
    accounts: [
      { name: "main", status: "exhausted", active: false, until: T0 + 3_600_000, resetKnown: false, reason: "screen: limit", headroom: null },
      { name: "backup", status: "active", active: true, headroom: 42 },
    ],
    homes: [{ name: "main", home: "/h/main" }, { name: "backup", home: "/h/backup" }],
    dispatchPaused: false,
    sessions: [
      { name: "cf-pool-1", kind: "pool", state: "busy", since: T0 + 1000, cwd: "/w", task: "web/t1", account: "backup" },
      { name: "cf-pool-2", kind: "pool", state: "busy", since: T0 + 2000, cwd: "/w", task: "web/t2", account: "backup" },
      { name: "ops", kind: "dedicated", state: "error", since: T0, cwd: "/w", error: "no pane" },
    ],
    pool: { held: ["cf-pool-1", "cf-pool-2"], min: 1, max: 4 },
    queue: { web: { inbox: 3, active: 2, delegated: 0, done: 7, failed: 1 } },
    swap: { state: "idle", partial: false },
  };
}

test("/status: accounts with their reset (a guessed one says so), sessions with a worktree task's branch, the swaps from state.json", () => {
  const inWorktree = { worktree: { dir: "/s/wt/web/t1", branch: "cf/web/t1", base: "abc", repo: "/w", prefix: "", state: "ready" } } as Partial<TaskRecord>;
  const swap = { from: "main", to: "backup", at: iso(T0 + 500), reason: "usage limit on main" };
  const state = {
    active_account: "backup", started_at: iso(T0), last_swap: swap, swaps: [swap], attempts: {}, accounts: { accounts: {} }, swap_journal: null, operator_hold: null,
    tasks: { "web/t1": inWorktree as TaskRecord, "web/t2": {} as TaskRecord },
  } satisfies DaemonState;
  const view = statusViewOf(running(state));
  assert.deepEqual(view, {
    version: "9.9.9", lifecycle: "running", started_at: iso(T0), active_account: "backup",
    accounts: [
      { name: "main", home: "/h/main", state: "exhausted", until: iso(T0 + 3_600_000), reset_known: false, reason: "screen: limit", headroom: null },
      { name: "backup", home: "/h/backup", state: "active", headroom: 42 },
    ],
    dispatch: "running",
    sessions: [
      { name: "cf-pool-1", kind: "pool", state: "busy", task: "web/t1", account: "backup", branch: "cf/web/t1", since: iso(T0 + 1000) },
      { name: "cf-pool-2", kind: "pool", state: "busy", task: "web/t2", account: "backup", since: iso(T0 + 2000) },
      { name: "ops", kind: "dedicated", state: "error", task: null, account: null, since: iso(T0), error: "no pane" },
    ],
    pool: { held: ["cf-pool-1", "cf-pool-2"], min: 1, max: 4 },
    queue: { web: { inbox: 3, active: 2, delegated: 0, done: 7, failed: 1 } },
    last_swap: swap, swaps: [swap], partial_swap: false, swap_state: "idle",
  });
  // Key order is part of what operators see (`curl | jq` keeps it): sessions list branch before since.
  assert.deepEqual(Object.keys(view.sessions[0]!), ["name", "kind", "state", "task", "account", "branch", "since"]);
});

test("/status before the daemon ran or once it stopped: nothing from state.json, no start time; a paused dispatch and a partial swap say so", () => {
  const view = statusViewOf({ ...running({} as DaemonState), lifecycle: "stopped", startedAt: 0, state: undefined, dispatchPaused: true, swap: { state: "partial-swap", partial: true } });
  assert.equal(view.started_at, null);
  assert.equal(view.active_account, null);
  assert.equal(view.last_swap, null);
  assert.deepEqual(view.swaps, []);
  assert.equal(view.dispatch, "paused");
  assert.equal(view.partial_swap, true);
  assert.equal(view.swap_state, "partial-swap");
  assert.equal(view.sessions[0]!.branch, undefined);
});
