import { timedMs, type TaskLedger } from "../dispatch/records.js";
import type { Clock } from "../lib/clock.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { PeriodicLoop } from "../lib/loop.js";
import type { TaskQueue } from "../queue/queue.js";
import { FINISHED_LISTED_MS, type QueueCounts, type TaskBoard, type TaskStatusInput } from "../queue/status.js";

export const STATUS_INTERVAL_MS = 10_000;
/**
 * An unchanged status.json is rewritten this often all the same, so its `updated_at` stays a
 * heartbeat for the operators' watchdogs; changes are written at the next pass (≤ 10 s, or at once
 * after a poke).
 */
export const STATUS_REFRESH_MS = 60_000;
/** A task waiting in an inbox longer than this is reported stale. */
export const STALE_INBOX_MS = 3_600_000;

export interface StaleTask {
  project: string;
  id: string;
  state: "inbox" | "active";
  since: string;
  age_s: number;
  session?: string;
}

/**
 * Keeps every project's status.json (contract §4) up to date, written when it changes and at least every
 * minute, the counts /status shows and the dashboard's task list, so an HTTP request never walks the queue folders. Finished tasks
 * are remembered for 24 h: from the work loop's events, and at start from the mtimes in done/ and failed/.
 */
export class StatusPublisher {
  private readonly loop: PeriodicLoop;
  private readonly finished = new Map<string, Map<string, TaskStatusInput>>();
  private counts: Record<string, QueueCounts> = {};
  private stale: StaleTask[] = [];
  private readonly counters = { done: 0, failed: 0 };
  /** What each project's status.json last said (counts and tasks), and when it was written. */
  private readonly written = new Map<string, { said: string; at: number }>();

  constructor(
    private readonly d: {
      queue: TaskQueue; projects: readonly string[]; ledger: TaskLedger; clock: Clock; log: Logger;
      /** Tasks with the remote job service (never stale). */
      delegated?: () => { project: string; id: string; since: number }[];
      /** The dashboard's task list, refreshed from each pass's inbox scan. */
      board?: TaskBoard;
    },
  ) {
    this.loop = new PeriodicLoop({ name: "status", intervalMs: STATUS_INTERVAL_MS, clock: d.clock, log: d.log, tick: () => this.publish() });
  }

  /** Seeds the finished tasks of the last 24 h from the folders, then starts the loop. */
  async start(): Promise<void> {
    const since = this.d.clock.now() - FINISHED_LISTED_MS;
    for (const project of this.d.projects) {
      try {
        for (const f of await this.d.queue.finishedSince(project, since)) this.noteFinished(project, f.id, f.folder, { attempts: 0, since: f.mtimeMs });
      } catch (err) {
        // Only the 24 h list in status.json misses them; the daemon runs on.
        this.d.log.warn({ project, err: describeError(err) }, "finished tasks not read at start");
      }
    }
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** Runs a publish soon (a task moved). */
  poke(): void {
    this.loop.poke();
  }

  /** Tasks waiting or running too long (contract §7 /watchdog/status); delegated ones never are. */
  watchdog(): { stale: StaleTask[]; counters: { done_since_start: number; failed_since_start: number }; stale_inbox_after_s: number } {
    return { stale: this.stale, counters: { done_since_start: this.counters.done, failed_since_start: this.counters.failed }, stale_inbox_after_s: STALE_INBOX_MS / 1000 };
  }

  /** A task finished through the work loop (counted, and listed in status.json for 24 h). */
  countFinished(project: string, id: string, state: "done" | "failed", extra: Omit<TaskStatusInput, "state">): void {
    this.counters[state]++;
    this.noteFinished(project, id, state, extra);
  }

  noteFinished(project: string, id: string, state: "done" | "failed", extra: Omit<TaskStatusInput, "state">): void {
    let m = this.finished.get(project);
    if (!m) this.finished.set(project, (m = new Map<string, TaskStatusInput>()));
    m.set(id, { state, ...extra });
  }

  countsByProject(): Record<string, QueueCounts> {
    return this.counts;
  }

  async publish(): Promise<void> {
    const now = this.d.clock.now();
    const next: Record<string, QueueCounts> = {};
    const stale: StaleTask[] = [];
    for (const project of this.d.projects) {
      try {
        const tasks: Record<string, TaskStatusInput> = {};
        const finished = this.finished.get(project);
        for (const [id, t] of finished ?? []) {
          if (now - t.since > FINISHED_LISTED_MS) finished!.delete(id);
          else tasks[id] = t;
        }
        const scan = await this.d.queue.scanInbox(project);
        for (const t of scan.tasks) {
          tasks[t.id] = { state: "queued", attempts: this.d.ledger.attempts(`${project}/${t.id}`), since: t.mtimeMs };
          if (now - t.mtimeMs > STALE_INBOX_MS) stale.push({ project, id: t.id, state: "inbox", since: new Date(t.mtimeMs).toISOString(), age_s: Math.round((now - t.mtimeMs) / 1000) });
        }
        for (const j of (this.d.delegated?.() ?? []).filter((x) => x.project === project)) {
          tasks[j.id] = { state: "delegated_to_secutools", attempts: 1, since: j.since };
        }
        for (const r of this.d.ledger.records().filter((r) => r.project === project)) {
          tasks[r.id] = { state: "dispatched", session: r.session, account: r.account, attempts: r.attempt, since: r.started_at };
          if (timedMs(r, now) > r.timeout_ms) stale.push({ project, id: r.id, state: "active", since: new Date(r.started_at).toISOString(), age_s: Math.round((now - r.started_at) / 1000), session: r.session });
        }
        const counts = await this.d.queue.counts(project);
        next[project] = counts;
        // The dashboard's list only: a failure there must not keep status.json from being written.
        await this.d.board?.refresh(project, scan.tasks).catch((err: unknown) => this.d.log.warn({ project, err: describeError(err) }, "dashboard task list not refreshed"));
        // A deep queue made every pass rewrite every file durably (temp, fsync, rename, fsync the
        // folder) for nothing: write what changed, and the rest once a minute.
        const said = JSON.stringify([counts, tasks]);
        const last = this.written.get(project);
        if (last && last.said === said && now - last.at < STATUS_REFRESH_MS) continue;
        await this.d.queue.writeStatusJson(project, tasks, counts);
        this.written.set(project, { said, at: now });
      } catch (err) {
        this.d.log.warn({ project, err: describeError(err) }, "status.json not written");
      }
    }
    this.counts = next;
    this.stale = stale;
  }
}
