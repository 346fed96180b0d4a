import type { TaskLedger } from "../dispatch/records.js";
import { taskKey } from "../dispatch/records.js";
import type { ActionResult, DashboardApi, Origin } from "../http/dashboard/routes.js";
import type { TaskDetail } from "../http/dashboard/detail.js";
import type { DashboardSnapshot, EventRow, TaskRow } from "../http/dashboard/view.js";
import type { Clock } from "../lib/clock.js";
import { AppError, describeError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { PeriodicLoop } from "../lib/loop.js";
import type { TaskQueue } from "../queue/queue.js";
import type { TaskBoard } from "../queue/status.js";
import { submitTask } from "../queue/submit.js";
import { readTaskForView } from "../queue/task-view.js";
import type { EventLog } from "../state/event-log.js";
import type { DaemonEventType, OperatorActionEvent } from "../state/events.js";

/** Sessions change state without an event (the registry): a redraw is offered this often while a page is open. */
const DASHBOARD_TICK_MS = 2_000;
/** Snapshots are shared by every open page for this long after one is built: N pages cost one build. */
const SNAPSHOT_TTL_MS = 1_000;
const RECENT_EVENTS = 40;
/** Waiting tasks listed per project (dispatch order); the page says how many more wait. */
export const WAITING_SHOWN = 50;
/** The most recent done and failed tasks listed per project. */
export const FINISHED_SHOWN = 5;
const CANCEL_REASON = "cancelled by operator";

type Action = OperatorActionEvent["action"];
/** The task an action names. */
type ActionTarget = Pick<OperatorActionEvent, "project" | "task">;
/** What an action did, as its answer and its event say. */
type ActionDone = Pick<OperatorActionEvent, "id" | "file" | "paused">;

/** The daemon's /status view, as much of it as the dashboard shows. */
export type StatusView = Pick<DashboardSnapshot, "active_account" | "sessions" | "accounts" | "queue" | "swaps">;

export interface DashboardFeedDeps {
  clock: Clock;
  log: Logger;
  events: EventLog;
  queueRoot: string;
  status(): StatusView;
  queue(): TaskQueue | undefined;
  /** The task list the status pass keeps (bounded per project): a snapshot never walks the queue folders. */
  board(): TaskBoard | undefined;
  ledger(): TaskLedger | undefined;
  /** Why no task is handed out now (operator hold, swap, no account), or null. */
  paused(): string | null;
  hold(reason: string | undefined): void;
  /** Told after an action moved a task: the queue counts (status publisher) are refreshed at once. */
  changed(): void;
  delegation(): DashboardSnapshot["delegation"];
  /** A capture of a session the daemon holds, undefined for any other name. */
  capture(session: string): Promise<string | undefined>;
  /** Values that must never be shown (agent env, every secret variable's value): masked in screen captures. */
  secrets(): string[];
}

/**
 * The daemon's side of the dashboard: snapshots for the page, change notifications for its event
 * stream, and the operator's actions, each recorded in events.jsonl as `operator_action` with its origin.
 */
export class DashboardFeed implements DashboardApi {
  private readonly listeners = new Set<(change: { event?: EventRow }) => void>();
  private readonly tick: PeriodicLoop;
  private readonly offEvents: () => void;
  /** The last snapshot and when its build ended (undefined while it is in flight: every caller shares it). */
  private cached: { at: number | undefined; snapshot: Promise<DashboardSnapshot> } | undefined;

  constructor(private readonly d: DashboardFeedDeps) {
    this.offEvents = d.events.subscribe((event) => {
      this.cached = undefined;
      this.notify({ event });
    });
    this.tick = new PeriodicLoop({ name: "dashboard", intervalMs: DASHBOARD_TICK_MS, clock: d.clock, log: d.log, tick: async () => {
      if (this.listeners.size > 0) this.notify({});
    } });
  }

  start(): void {
    this.tick.start();
  }

  async stop(): Promise<void> {
    this.offEvents();
    await this.tick.stop();
  }

  subscribe(listener: (change: { event?: EventRow }) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  snapshot(): Promise<DashboardSnapshot> {
    const c = this.cached;
    if (c && (c.at === undefined || this.d.clock.now() - c.at < SNAPSHOT_TTL_MS)) return c.snapshot;
    const entry: { at: number | undefined; snapshot: Promise<DashboardSnapshot> } = { at: undefined, snapshot: this.build() };
    this.cached = entry;
    entry.snapshot.then(
      () => void (entry.at = this.d.clock.now()),
      () => {
        if (this.cached === entry) this.cached = undefined;
      },
    );
    return entry.snapshot;
  }

  async submit(project: string, text: string, origin: Origin): Promise<ActionResult> {
    const queue = this.d.queue();
    if (!queue) return notRunning();
    if (!queue.projectNames.includes(project)) return this.refused("submit", { project }, origin, 400, "QUEUE_UNKNOWN_PROJECT", `unknown project ${project}`);
    return this.act("submit", { project }, origin, async () => {
      const id = await submitTask(this.d.queueRoot, project, text, { clock: this.d.clock });
      return { id };
    });
  }

  async retry(project: string, id: string, origin: Origin): Promise<ActionResult> {
    const queue = this.d.queue();
    if (!queue) return notRunning();
    return this.act("retry", { project, task: id }, origin, async () => {
      const newId = await queue.retryFailed(project, id);
      // A fresh run: the attempts an earlier run used up do not count against it.
      this.d.ledger()?.setAttempts(taskKey(project, newId), undefined);
      return { id: newId };
    });
  }

  async cancel(project: string, id: string, origin: Origin): Promise<ActionResult> {
    const queue = this.d.queue();
    if (!queue) return notRunning();
    return this.act("cancel", { project, task: id }, origin, async () => {
      const r = await queue.cancelWaiting(project, id, CANCEL_REASON);
      this.d.ledger()?.setAttempts(taskKey(project, id), undefined);
      return { file: r.file };
    });
  }

  async setPaused(paused: boolean, origin: Origin): Promise<ActionResult> {
    return this.act(paused ? "pause" : "resume", {}, origin, async () => {
      this.d.hold(paused ? `paused by operator (${origin.via})` : undefined);
      return { paused };
    });
  }

  async task(project: string, id: string): Promise<TaskDetail | undefined> {
    // Only configured projects: any other folder under the queue root is nobody's to show.
    if (!this.d.queue()?.projectNames.includes(project)) return undefined;
    let found;
    try {
      found = await readTaskForView(this.d.queueRoot, project, id);
    } catch (err) {
      if (err instanceof AppError && err.code === "QUEUE_INVALID_NAME") return undefined;
      throw err;
    }
    if (!found) return undefined;
    const key = taskKey(project, id);
    const record = this.d.ledger()?.get(key);
    const attempts = record ? record.attempt : (this.d.ledger()?.attempts(key) ?? null);
    return { project, id, ...found, attempts, session: record?.session ?? null, account: record?.account ?? null };
  }

  async screen(session: string): Promise<string | undefined> {
    const text = await this.d.capture(session);
    if (text === undefined) return undefined;
    return maskSecrets(text, this.d.secrets());
  }

  private notify(change: { event?: EventRow }): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (err) {
        this.d.log.warn({ err: describeError(err) }, "dashboard listener failed");
      }
    }
  }

  private record(event: OperatorActionEvent): void {
    void this.d.events.append(event);
  }

  private refused(action: Action, fields: ActionTarget, origin: Origin, status: number, code: string, error: string): ActionResult {
    this.record({ type: "operator_action", action, ...fields, origin, ok: false, code });
    return { status, body: { ok: false, code, error } };
  }

  private async act(action: Action, fields: ActionTarget, origin: Origin, run: () => Promise<ActionDone>): Promise<ActionResult> {
    try {
      const out = await run();
      this.d.changed();
      this.record({ type: "operator_action", action, ...fields, ...out, origin, ok: true });
      return { status: 200, body: { ok: true, ...out } };
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      const status = err.code === "QUEUE_NOT_FOUND" ? 409 : err.code === "QUEUE_IO" ? 500 : 400;
      return this.refused(action, fields, origin, status, err.code, err.message);
    }
  }

  private async build(): Promise<DashboardSnapshot> {
    const status = this.d.status();
    const queue = this.d.queue();
    const board = this.d.board();
    const now = this.d.clock.now();
    const tasks: TaskRow[] = [];
    for (const project of board ? (queue?.projectNames ?? []) : []) {
      for (const t of board!.list(project)) {
        tasks.push({ project, id: t.id, state: t.state, priority: t.priority, ageMs: Math.max(0, now - t.mtimeMs), ...(t.title !== undefined ? { title: t.title } : {}) });
      }
    }
    const tail = await this.d.events.readTail(RECENT_EVENTS * 5).catch((err: unknown) => {
      this.d.log.warn({ err: describeError(err) }, "events.jsonl not read for the dashboard");
      return { events: [] };
    });
    // Hook deliveries are most of the log and say little to an operator: the rest is shown.
    const events = tail.events.filter((e) => e.type !== ("hook" satisfies DaemonEventType)).slice(-RECENT_EVENTS);
    return { ...status, paused: this.d.paused(), tasks, events, delegation: this.d.delegation() };
  }
}

function notRunning(): ActionResult {
  return { status: 503, body: { ok: false, error: "the daemon is not running its loops" } };
}

/** Replaces every occurrence of each secret value (6 characters or more: shorter ones would mask ordinary words). */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 6) out = out.split(s).join("[redacted]");
  return out;
}
