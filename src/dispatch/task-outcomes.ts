import { describePromptChanges } from "../claude/prompt-text.js";
import { isAbortError } from "../lib/clock.js";
import { crashPoint } from "../lib/crash-points.js";
import { AppError, describeError } from "../lib/errors.js";
import type { WorktreeFinish } from "../git/worktrees.js";
import type { TaskDoneHow } from "../state/events.js";
import type { FooterFields } from "./ports.js";
import { taskKey, type TaskRecord } from "./records.js";
import type { WorkLoopDeps } from "./work-loop.js";

export type TaskOutcomeDeps = Pick<WorkLoopDeps, "queue" | "sessions" | "driver" | "ledger" | "clock" | "log" | "record" | "worktrees"> & { maxAttempts: number };

/** A task's file or record could not be moved or written (a full disk, an I/O error): the task is stuck until it can. */
export class TaskNotSettledError extends AppError {
  constructor(task: string, cause: unknown) {
    super("TASK_NOT_SETTLED", `${task}: ${describeError(cause)}`, { cause });
  }
}

/**
 * A move out of active/ that finds nothing there: an earlier try went through before it threw (or the
 * file was taken away). Either way the task has left active/; only its record is left to settle.
 */
async function leavingActive<T>(move: Promise<T>): Promise<T | undefined> {
  try {
    return await move;
  } catch (err) {
    if (err instanceof AppError && err.code === "QUEUE_NOT_FOUND") return undefined;
    throw err;
  }
}

async function settling(task: string, step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (err) {
    if (isAbortError(err) || err instanceof TaskNotSettledError) throw err;
    throw new TaskNotSettledError(task, err);
  }
}

/**
 * How a task in flight ends, whoever noticed it (supervision, a failed hand-over, adoption at
 * restart): filed under done/, back to the inbox with its attempt counted, or failed at
 * max_attempts — each step ordered so a crash between two of them loses nothing (crash harness) —
 * and its session's agent ended for the next task.
 */
export class TaskOutcomes {
  constructor(private readonly d: TaskOutcomeDeps) {}

  /**
   * Changes a record in place and merges the change into the ledger's current record (persisted at the
   * next flush): a copy taken earlier never writes back fields changed since. A record that left the
   * ledger, or was replaced by another attempt's, is not brought back.
   */
  update(r: TaskRecord, patch: Partial<TaskRecord>): void {
    const current = this.d.ledger.get(taskKey(r.project, r.id));
    if (current === undefined || current.claude_session_id !== r.claude_session_id) {
      Object.assign(r, patch);
      return;
    }
    Object.assign(r, current, patch);
    this.d.ledger.put({ ...r });
  }

  private footer(r: TaskRecord, wt?: WorktreeFinish): FooterFields {
    return {
      session: r.session, account: r.account, attempts: r.attempt,
      startedAt: r.started_at, finishedAt: this.d.clock.now(), provider: "claude-code", claudeSessionId: r.claude_session_id,
      ...(r.prompt_changes !== undefined ? { promptChanged: describePromptChanges(r.prompt_changes) } : {}),
      ...(wt ? { branch: wt.branch, commit: wt.commit, base: wt.base, diffstat: wt.diffstat, ...(wt.keptAt ? { worktree: wt.keptAt } : {}) } : {}),
    };
  }

  /**
   * Commits what the agent left in the task's worktree to its branch (before the task is filed, so
   * the footer names the commit). Never throws: a task is filed even when git fails (logged, and the
   * worktree is then kept with its work).
   */
  private async saveWorktree(r: TaskRecord): Promise<WorktreeFinish | undefined> {
    const wt = this.d.worktrees;
    if (!wt || r.worktree?.state !== "ready") return undefined;
    const key = taskKey(r.project, r.id);
    try {
      const saved = await wt.save(r.worktree, { project: r.project, id: r.id, title: r.title ?? `task ${r.id}` });
      crashPoint("worktree-committed");
      if (saved.keptAt) this.d.log.warn({ task: key, worktree: saved.keptAt, branch: saved.branch }, "task worktree kept: it holds changes that could not be committed");
      this.d.log.info({ task: key, branch: saved.branch, commit: saved.commit, committed: saved.committed, diffstat: saved.diffstat }, "task branch saved");
      return saved;
    } catch (err) {
      this.d.log.error({ task: key, worktree: r.worktree.dir, branch: r.worktree.branch, err: describeError(err) }, "could not commit the task's worktree: it is kept as it is");
      return { branch: r.worktree.branch, commit: "", base: r.worktree.base, diffstat: "", committed: false, keptAt: r.worktree.dir };
    }
  }

  /** A finished task's leftover worktree (a crash after the filing): saved again (idempotent), removed when clean. */
  async saveAndRemoveWorktree(r: TaskRecord): Promise<void> {
    await this.removeWorktree(r, await this.saveWorktree(r));
  }

  /** Undoes a worktree whose task never got anything done (logged, never thrown). */
  async rollbackWorktree(r: TaskRecord): Promise<void> {
    if (!this.d.worktrees || r.worktree === undefined) return;
    await this.d.worktrees.rollback(r.worktree).catch((err: unknown) =>
      this.d.log.warn({ task: taskKey(r.project, r.id), worktree: r.worktree?.dir, err: describeError(err) }, "could not roll back a task worktree"));
  }

  /** Removes the task's worktree once its agent has exited, when it is clean; a log line says where one is kept. */
  private async removeWorktree(r: TaskRecord, saved: WorktreeFinish | undefined): Promise<void> {
    const wt = this.d.worktrees;
    if (!wt || r.worktree === undefined || saved?.keptAt) return;
    const kept = await wt.remove(r.worktree).catch((err: unknown) => describeError(err));
    if (kept) this.d.log.warn({ task: taskKey(r.project, r.id), worktree: r.worktree.dir, branch: r.worktree.branch, reason: kept }, "task worktree kept");
  }

  /** The task is done: file it under done/ with the result, then recycle the session (S7). */
  async finish(r: TaskRecord, result: string | undefined, how: TaskDoneHow, signal?: AbortSignal): Promise<void> {
    const key = taskKey(r.project, r.id);
    const saved = await this.saveWorktree(r);
    await settling(key, async () => {
      // The counter goes first: a crash after the file is filed must not leave it behind (crash harness).
      this.d.ledger.setAttempts(key, undefined);
      await this.d.ledger.flush();
      await leavingActive(this.d.queue.complete(r.project, r.id, result ?? "(the agent left no final message)", this.footer(r, saved)));
      crashPoint("after-complete");
      // A worktree task's record stays until its worktree is gone: a stop or crash while its agent
      // exits leaves the record, and the next start (adopt.ts) ends the agent and removes the worktree.
      if (!r.worktree) {
        this.d.ledger.remove(key);
        await this.lateFlush(key);
      }
    });
    this.d.record({ type: "task_done", project: r.project, task: r.id, session: r.session, account: r.account, attempts: r.attempt, how });
    this.d.log.info({ task: key, session: r.session, how, attempts: r.attempt }, "task done");
    // Its turn ended (Stop, or an idle prompt held) and nothing was typed since: `/exit` is safe and
    // quicker. A signal file may come while the turn still runs: Ctrl-C cuts it.
    await this.recycle(r.session, signal, { afterTurn: how !== "signal-file" });
    if (r.worktree) {
      await this.removeWorktree(r, saved);
      this.d.ledger.remove(key);
      await this.lateFlush(key);
    }
  }

  /** Q4: back to the inbox with attempts+1, or into failed/ once max_attempts is reached. */
  async retry(r: TaskRecord, reason: string, signal?: AbortSignal): Promise<void> {
    await this.recycle(r.session, signal);
    await this.putBack(r, reason);
  }

  /**
   * The file half of retry (the agent already ended): back to the inbox, or failed/. Safe to run again
   * after it threw part-way (a stuck task is retried every pass).
   */
  putBack(r: TaskRecord, reason: string): Promise<void> {
    return settling(taskKey(r.project, r.id), () => this.putBackSteps(r, reason));
  }

  private async putBackSteps(r: TaskRecord, reason: string): Promise<void> {
    const key = taskKey(r.project, r.id);
    // Partial work is kept on the task's branch, whatever comes next (a retry runs on a new branch).
    const saved = await this.saveWorktree(r);
    await this.removeWorktree(r, saved);
    if (r.attempt >= this.d.maxAttempts) {
      this.d.ledger.setAttempts(key, undefined);
      await this.d.ledger.flush();
      await leavingActive(this.d.queue.fail(r.project, r.id, reason, this.footer(r, saved)));
      this.d.record({ type: "task_failed", project: r.project, task: r.id, session: r.session, attempts: r.attempt, reason });
      this.d.log.warn({ task: key, attempts: r.attempt, reason }, "task failed");
    } else {
      // A branch with nothing on it is no one's work: the next attempt starts a new one.
      if (saved && !saved.keptAt && saved.commit === saved.base && r.worktree) await this.rollbackWorktree(r);
      await this.requeueCounted(r, r.attempt);
      crashPoint("after-requeue");
      this.d.record({ type: "task_requeued", project: r.project, task: r.id, session: r.session, attempts: r.attempt, reason });
      this.d.log.warn({ task: key, attempts: r.attempt, reason }, "task re-queued");
    }
    this.d.ledger.remove(key);
    await this.lateFlush(key);
  }

  /**
   * Back to the inbox with `attempts` as its count (retry, and adoption after a restart): the count
   * follows the task when the inbox gives it another id. Returns that id; undefined when it had left active/.
   */
  async requeueCounted(r: TaskRecord, attempts: number): Promise<string | undefined> {
    const key = taskKey(r.project, r.id);
    // Written before the move: a crash between the two must not lose the attempt (crash harness).
    this.d.ledger.setAttempts(key, attempts);
    await this.d.ledger.flush();
    const waitsAs = await leavingActive(this.d.queue.requeue(r.project, r.id));
    if (waitsAs !== undefined && waitsAs !== r.id) {
      this.d.ledger.setAttempts(key, undefined);
      this.d.ledger.setAttempts(taskKey(r.project, waitsAs), attempts);
    }
    return waitsAs;
  }

  /**
   * The flush after the file has moved: the task is settled, so a failed write must not make it look
   * stuck (its session would never be recycled). The store writes again at its next flush; a stale
   * record left in state.json is dropped at the next start (adopt: not in active/).
   */
  private async lateFlush(key: string): Promise<void> {
    await this.d.ledger.flush().catch((err: unknown) =>
      this.d.log.warn({ task: key, err: describeError(err) }, "state not written after the task was filed; written at the next flush"));
  }

  /**
   * Ends the agent so the next task gets a fresh one. A session whose agent would not end is killed
   * instead: handed the next task, it would fail that task's launch.
   */
  async recycle(session: string, signal?: AbortSignal, options: { afterTurn?: boolean } = {}): Promise<void> {
    try {
      await this.d.driver.exit(session, signal, options);
    } catch (err) {
      if (isAbortError(err)) throw err;
      this.d.log.warn({ session, err: describeError(err) }, "could not exit the agent: the session is killed for the pool to recreate");
      await this.retire(session);
      return;
    }
    this.d.sessions.markIdle(session);
  }

  /** Takes a session out of service (killed; the pool recreates it). Never throws: a kill that fails is logged. */
  async retire(session: string): Promise<void> {
    await this.d.sessions.retire(session).catch((err: unknown) =>
      this.d.log.error({ session, err: describeError(err) }, "could not kill a session whose agent would not end"));
  }

  /**
   * Back to the inbox with no attempt counted: the hand-over stopped before its prompt was pasted,
   * through no fault of the task (its session still held an earlier agent).
   */
  async putBackUndelivered(r: TaskRecord, reason: string): Promise<void> {
    const key = taskKey(r.project, r.id);
    await settling(key, async () => {
      await this.rollbackWorktree(r);
      await this.requeueCounted(r, r.attempt - 1);
      this.d.ledger.remove(key);
      await this.lateFlush(key);
    });
    this.d.record({ type: "task_requeued", project: r.project, task: r.id, session: r.session, attempts: r.attempt - 1, reason });
    this.d.log.warn({ task: key, attempts: r.attempt - 1, reason }, "task re-queued, no attempt counted");
  }
}
