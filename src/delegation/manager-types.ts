/** The delegation manager's dependencies and its views (what the daemon and the HTTP API see). */
import type { Clock } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import type { DelegationEvent } from "../state/events.js";
import type { BudgetSnapshot } from "./budget.js";
import type { JobService, JobStatus } from "./client.js";
import type { DelegatedProvider } from "./router.js";
import type { DelegationSettings } from "./settings.js";

export type { DelegationEvent };

/** Where the queue is: `queue.root` and `queue.projects` (project → working directory). */
export interface DelegationQueueLayout {
  root: string;
  projects: Readonly<Record<string, string>>;
}

/** What an operator is told (contract §7: "delegation failed", "budget reached"). */
export type DelegationNotice =
  | { kind: "delegation_failed"; project: string; task: string; job_id?: string; provider?: string; reason: string; message: string }
  | { kind: "budget_reached"; day: string; spent_usd: number; daily_budget_usd: number; message: string };

export interface DelegationManagerDeps {
  queue: DelegationQueueLayout;
  client: JobService;
  clock: Clock;
  log: Logger;
  /** Where the day's spend is kept (`delegation-budget.json`). */
  stateDir: string;
  settings: DelegationSettings;
  notify(notice: DelegationNotice): void;
  /** Every submission, re-adoption and outcome (events.jsonl). */
  record(event: DelegationEvent): void;
}

/** What an offer did with a waiting task: took it, left it to the local claim, or left it waiting. */
export type OfferAnswer = "delegated" | "local" | "held";

export type DelegationState = "idle" | "starting" | "running" | "stopping" | "stopped";

export interface DelegatedJobView {
  project: string;
  id: string;
  job_id: string;
  provider: DelegatedProvider;
  submitted_at: string;
  last_status?: JobStatus;
  last_error?: string;
}

export interface DelegationCounters {
  active: number;
  completed_total: number;
  failed_total: number;
}

/** `GET /api/delegated/status`. */
export interface DelegationStatus {
  active: DelegatedJobView[];
  counters: DelegationCounters;
  budget: BudgetSnapshot;
}
