import { describePromptChanges } from "../claude/prompt-text.js";
import { isAbortError } from "../lib/clock.js";
import { crashPoint } from "../lib/crash-points.js";
import { AppError, describeError } from "../lib/errors.js";
import type { FooterFields } from "./ports.js";
import { taskKey, type TaskRecord } from "./records.js";
import type { WorkLoopDeps } from "./work-loop.js";

export type TaskOutcomeDeps = Pick<WorkLoopDeps, "queue" | "sessions" | "driver" | "ledger" | "clock" | "log" | "record"> & { maxAttempts: number };

/**
 * How a task in flight ends, whoever noticed it (supervision, a failed hand-over, adoption at
 * restart): filed under done/, back to the inbox with its attempt counted, or failed at
 * max_attempts — each step ordered so a crash between two of them loses nothing (crash harness) —
 * and its session's agent ended for the next task.
 */
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

export class TaskOutcomes {
  constructor(private readonly d: TaskOutcomeDeps) {}

  /** Changes a record in place and in the ledger (persisted at the next flush). */
  update(r: TaskRecord, patch: Partial<TaskRecord>): void {
    Object.assign(r, patch);
    this.d.ledger.put({ ...r });
  }

  private footer(r: TaskRecord): FooterFields {
    return {
      session: r.session, account: r.account, attempts: r.attempt,
      startedAt: r.started_at, finishedAt: this.d.clock.now(), provider: "claude-code", claudeSessionId: r.claude_session_id,
      ...(r.prompt_changes !== undefined ? { promptChanged: describePromptChanges(r.prompt_changes) } : {}),
    };
  }

  /** The task is done: file it under done/ with the result, then recycle the session (S7). */
  async finish(r: TaskRecord, result: string | undefined, how: string, signal?: AbortSignal): Promise<void> {
    const key = taskKey(r.project, r.id);
    await settling(key, async () => {
      // The counter goes first: a crash after the file is filed must not leave it behind (crash harness).
      this.d.ledger.setAttempts(key, undefined);
      await this.d.ledger.flush();
      await leavingActive(this.d.queue.complete(r.project, r.id, result ?? "(the agent left no final message)", this.footer(r)));
      crashPoint("after-complete");
      this.d.ledger.remove(key);
      await this.lateFlush(key);
    });
    this.d.record({ type: "task_done", project: r.project, task: r.id, session: r.session, account: r.account, attempts: r.attempt, how });
    this.d.log.info({ task: key, session: r.session, how, attempts: r.attempt }, "task done");
    // Its turn ended (Stop, or an idle prompt held) and nothing was typed since: `/exit` is safe and
    // quicker. A signal file may come while the turn still runs: Ctrl-C cuts it.
    await this.recycle(r.session, signal, { afterTurn: how !== "signal-file" });
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
    if (r.attempt >= this.d.maxAttempts) {
      this.d.ledger.setAttempts(key, undefined);
      await this.d.ledger.flush();
      await leavingActive(this.d.queue.fail(r.project, r.id, reason, this.footer(r)));
      this.d.record({ type: "task_failed", project: r.project, task: r.id, session: r.session, attempts: r.attempt, reason });
      this.d.log.warn({ task: key, attempts: r.attempt, reason }, "task failed");
    } else {
      // Written before the move: a crash between the two must not lose the attempt (crash harness).
      this.d.ledger.setAttempts(key, r.attempt);
      await this.d.ledger.flush();
      const waitsAs = await leavingActive(this.d.queue.requeue(r.project, r.id));
      crashPoint("after-requeue");
      if (waitsAs !== undefined && waitsAs !== r.id) {
        this.d.ledger.setAttempts(key, undefined);
        this.d.ledger.setAttempts(taskKey(r.project, waitsAs), r.attempt);
      }
      this.d.record({ type: "task_requeued", project: r.project, task: r.id, session: r.session, attempts: r.attempt, reason });
      this.d.log.warn({ task: key, attempts: r.attempt, reason }, "task re-queued");
    }
    this.d.ledger.remove(key);
    await this.lateFlush(key);
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

  /** Ends the agent so the next task gets a fresh one; the session itself stays (or the pool recreates it). */
  async recycle(session: string, signal?: AbortSignal, options: { afterTurn?: boolean } = {}): Promise<void> {
    try {
      await this.d.driver.exit(session, signal, options);
    } catch (err) {
      if (isAbortError(err)) throw err;
      this.d.log.warn({ session, err: describeError(err) }, "could not exit the agent; the session is left for the pool to recreate");
    }
    this.d.sessions.markIdle(session);
  }
}
