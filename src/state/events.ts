/**
 * What the daemon writes to `events.jsonl` (contract §7), one member per `type`. The field names are
 * the file's: operators' scripts read them, so a rename here is a contract change. `EventLog` adds `ts`.
 */
import type { SwapResult } from "../accounts/switcher.js";
import type { HookEvent, StopFailureError } from "../claude/hooks.js";
import type { DelegatedProvider } from "../delegation/router.js";
import type { QuotaSource, SuppressReason } from "../quota/decisions.js";
import type { ResetFrom } from "../quota/reset-reckoner.js";

/** Who asked for an operator's action, as events.jsonl records it. */
export interface Origin {
  /** "dashboard" when the page sent it (it says so in a header), else "api". */
  via: "dashboard" | "api";
  remote: string;
}

/** What ended a task's turn, as `task_done` says: its Stop hook, its signal file, or an idle prompt held. */
export type TaskDoneHow = "stop-hook" | "signal-file" | "idle-screen";

export type TaskDispatchedEvent = {
  type: "task_dispatched"; project: string; task: string; session: string; account: string; attempt: number; claude_session_id: string;
};
export type TaskDoneEvent = {
  type: "task_done"; project: string; task: string; session: string; account: string; attempts: number; how: TaskDoneHow;
};
export type TaskFailedEvent = { type: "task_failed"; project: string; task: string; session: string; attempts: number; reason: string };
export type TaskRequeuedEvent = { type: "task_requeued"; project: string; task: string; session: string; attempts: number; reason: string };
/** Resumed with `--resume` on another account after a swap. */
export type TaskResumedEvent = {
  type: "task_resumed"; project: string; task: string; session: string; account: string; claude_session_id: string;
};
/** Sent "continue" after every account was out and one came back. */
export type TaskContinuedEvent = { type: "task_continued"; project: string; task: string; session: string };
export type TaskTimedOutEvent = { type: "task_timed_out"; project: string; task: string; session: string; after_ms: number };
export type SessionStalledEvent = { type: "session_stalled"; project: string; task: string; session: string; still_ms: number };

/** The forensic line every quota sighting that reaches a decision point leaves (U4), suppressed ones included. */
export type QuotaDecisionEvent = {
  type: "quota_decision";
  /** Epoch ms (the line's `ts` says the same in ISO). */
  at: number;
  outcome: "swap" | "exhausted" | "resume" | "pending" | "suppressed";
  why?: SuppressReason;
  detail?: string;
  account: string;
  session: string | null;
  source: QuotaSource | "ledger";
  /** At most 120 characters. */
  matchedText: string;
  resetsAt: number | null;
  /** Where `resetsAt` came from: exact, a minute-printed time taken to its end, the usage API, a backoff. */
  resetFrom?: ResetFrom;
  to?: string;
};
/** A swap that ran, automatic or manual, whatever its outcome. */
export type SwapEvent = {
  type: "swap"; outcome: SwapResult["outcome"]; from: string; to: string; reason: string; resumed: string[]; relaunched: string[];
};
/** Work resumed after every account was out (null: no account named by the plan). */
export type ResumedEvent = { type: "resumed"; account: string | null };

/** A hook delivery, live or from the spool: `event` is the name Claude Code sent, `kind` how the daemon read it. */
export type HookLogEvent = { type: "hook"; event: string; kind: HookEvent["kind"]; claude_session_id: string; error?: StopFailureError };

export type DaemonStartedEvent = { type: "daemon_started"; version: string; active_account: string };
export type DaemonStoppingEvent = { type: "daemon_stopping" };

/**
 * An operator's action from the dashboard or the API. Which fields are there depends on `action`: the
 * task it names (`project`, `task`), what it did (`id`, `file`, `paused`; for a swap `outcome`, `from`,
 * `to`), or on a refusal `code`.
 */
export type OperatorActionEvent = {
  type: "operator_action";
  action: "swap" | "submit" | "retry" | "cancel" | "pause" | "resume";
  origin: Origin;
  ok: boolean;
  /** The error code when refused or failed. */
  code?: string;
  project?: string;
  task?: string;
  /** The task's id as filed (submit, retry). */
  id?: string;
  /** Where a cancelled task was filed. */
  file?: string;
  paused?: boolean;
  outcome?: SwapResult["outcome"];
  from?: string;
  to?: string;
};

export type DelegationSubmittedEvent = { type: "delegation_submitted"; project: string; task: string; job_id: string; provider: DelegatedProvider };
/** The job service refused or could not be reached: the task runs locally. */
export type DelegationSubmitFailedEvent = {
  type: "delegation_submit_failed"; project: string; task: string; provider: DelegatedProvider; code: string; error: string;
};
export type DelegationCompletedEvent = {
  type: "delegation_completed"; project: string; task: string; job_id: string; provider: DelegatedProvider; file: string; cost_usd?: number;
};
/** Job and provider are absent when the task failed at start-up (its marker could not be adopted). */
export type DelegationFailedEvent = {
  type: "delegation_failed"; project: string; task: string; job_id?: string; provider?: DelegatedProvider; file: string; cost_usd?: number; reason?: string;
};
export type DelegationMarkerMissingEvent = { type: "delegation_marker_missing"; project: string; task: string; job_id: string };
export type DelegationFinishRecoveredEvent = { type: "delegation_finish_recovered"; project: string; task: string; outcome: "done" | "failed"; file: string };
export type DelegationReadoptedEvent = { type: "delegation_readopted"; project: string; task: string; job_id: string; provider: DelegatedProvider };
export type DelegationMarkerDiscardedEvent = { type: "delegation_marker_discarded"; project: string; task: string };
export type DelegationBudgetReachedEvent = { type: "delegation_budget_reached"; day: string; spent_usd: number; daily_budget_usd: number };

/** Every line of `events.jsonl`, before the log adds `ts`. */
export type DaemonEvent =
  | TaskDispatchedEvent
  | TaskDoneEvent
  | TaskFailedEvent
  | TaskRequeuedEvent
  | TaskResumedEvent
  | TaskContinuedEvent
  | TaskTimedOutEvent
  | SessionStalledEvent
  | QuotaDecisionEvent
  | SwapEvent
  | ResumedEvent
  | HookLogEvent
  | DaemonStartedEvent
  | DaemonStoppingEvent
  | OperatorActionEvent
  | DelegationSubmittedEvent
  | DelegationSubmitFailedEvent
  | DelegationCompletedEvent
  | DelegationFailedEvent
  | DelegationMarkerMissingEvent
  | DelegationFinishRecoveredEvent
  | DelegationReadoptedEvent
  | DelegationMarkerDiscardedEvent
  | DelegationBudgetReachedEvent;

export type DaemonEventType = DaemonEvent["type"];

/** What the work loop reports: task outcomes and the supervision's verdicts. */
export type TaskEvent = Extract<DaemonEvent, { type: `task_${string}` | "session_stalled" }>;
/** What the failover reports: the quota monitor's decisions, swaps, the resume after every account was out. */
export type FailoverEvent = Extract<DaemonEvent, { type: "quota_decision" | "swap" | "resumed" }>;
/** What the delegation manager reports. */
export type DelegationEvent = Extract<DaemonEvent, { type: `delegation_${string}` }>;

/**
 * Every `type`, for code that meets events as data (a line read back, the contract's list). The
 * object's keys must be exactly the union's: a type added to one and not the other fails to compile.
 */
const TYPES: { [T in DaemonEventType]: true } = {
  task_dispatched: true, task_done: true, task_failed: true, task_requeued: true, task_resumed: true, task_continued: true,
  task_timed_out: true, session_stalled: true, quota_decision: true, swap: true, resumed: true, hook: true,
  daemon_started: true, daemon_stopping: true, operator_action: true,
  delegation_submitted: true, delegation_submit_failed: true, delegation_completed: true, delegation_failed: true,
  delegation_marker_missing: true, delegation_finish_recovered: true, delegation_readopted: true, delegation_marker_discarded: true,
  delegation_budget_reached: true,
};
export const DAEMON_EVENT_TYPES: readonly DaemonEventType[] = Object.keys(TYPES) as DaemonEventType[];
