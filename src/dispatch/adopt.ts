import type { ScreenVerdict } from "../claude/screen.js";
import { isAbortError } from "../lib/clock.js";
import { TmuxError } from "../tmux/client.js";
import { taskKey, type TaskRecord } from "./records.js";
import type { TaskOutcomes } from "./task-outcomes.js";
import type { WorkLoopDeps } from "./work-loop.js";

export interface AdoptionReport {
  adopted: string[];
  requeued: string[];
  failed: string[];
  /** Could not be put back now (a queue or state write failed): handed to the work loop, which retries every pass. */
  stuck: string[];
}

/** Where adoption hands a task it could not put back: the work loop's per-pass retries. */
export interface Stranding {
  record(r: TaskRecord, reason: string, err: unknown): void;
  claim(project: string, id: string, err: unknown): void;
}

/**
 * Q4, at start-up, before the loop runs: every task in active/ is re-adopted when its session is
 * alive with its agent, else re-queued (attempts+1) or failed at max_attempts. A hand-over cut short
 * before the prompt got through is re-queued without counting an attempt: nothing was delivered.
 */
export async function adoptAfterRestart(d: WorkLoopDeps, outcomes: TaskOutcomes, strand: Stranding, signal?: AbortSignal): Promise<AdoptionReport> {
  const out = { adopted: [] as string[], requeued: [] as string[], failed: [] as string[], stuck: [] as string[] };
  // One task's fault must not stop the start (and the others): it is retried at every pass instead.
  const orStrand = async (key: string, step: () => Promise<void>, onFault: (err: unknown) => void): Promise<boolean> => {
    try {
      await step();
      return true;
    } catch (err) {
      if (isAbortError(err)) throw err;
      onFault(err);
      out.stuck.push(key);
      return false;
    }
  };
  const active = await d.queue.active();
  const onDisk = new Set(active.map((t) => taskKey(t.project, t.id)));
  for (const r of d.ledger.records()) {
    // Filed under done/ or failed/ just before the crash: only the record was left behind.
    if (!onDisk.has(taskKey(r.project, r.id))) {
      // Its agent may still be in the session: end it, or the next task's launch finds it there.
      await outcomes.recycle(r.session, signal);
      // Its branch was saved before the filing; the worktree goes once its agent is gone.
      if (r.worktree && d.worktrees) await outcomes.saveAndRemoveWorktree(r);
      d.ledger.remove(taskKey(r.project, r.id));
    }
  }
  for (const t of active) {
    const key = taskKey(t.project, t.id);
    const r = d.ledger.get(key);
    if (!r) {
      // Renamed into active/ but never recorded: the crash came before any hand-over began.
      if (await orStrand(key, async () => void (await d.queue.requeue(t.project, t.id)), (err) => strand.claim(t.project, t.id, err))) out.requeued.push(key);
      continue;
    }
    let screen: ScreenVerdict | undefined;
    try {
      screen = await d.driver.screen(r.session, signal);
    } catch (err) {
      if (!(err instanceof TmuxError && err.code === "TMUX_NO_SESSION")) throw err;
    }
    // The driver reports "shell" whenever a shell holds the pane's foreground; anything else
    // (an unknown frame included, e.g. a redraw in progress) is the agent still running.
    const agentAlive = screen !== undefined && screen.state !== "shell";
    let delivered = r.phase === "working";
    if (r.phase === "submitting") {
      const seen = d.hooks.promptSeen(r.claude_session_id, r.started_at) || screen?.state === "busy" ||
        (await d.promptDelivered(r.account, r.cwd, r.claude_session_id));
      // An unreadable transcript is no proof of "not delivered": taken as delivered, so a re-run counts an attempt.
      if (seen === "unknown") d.log.warn({ task: key }, "hand-over cut short, transcript unreadable: taken as delivered");
      delivered = seen !== false;
    }
    if (delivered && agentAlive) {
      outcomes.update(r, { phase: "working", submitted_at: r.submitted_at ?? r.started_at, idle_polls: 0 });
      d.sessions.markBusy(r.session, key, r.account);
      out.adopted.push(key);
      d.log.info({ task: key, session: r.session }, "re-adopted a task after restart");
      continue;
    }
    if (!delivered) {
      if (screen !== undefined) await outcomes.recycle(r.session, signal);
      // A worktree whose creation was cut short, or whose agent never got the prompt: removed.
      await outcomes.rollbackWorktree(r);
      const put = await orStrand(key, async () => {
        await outcomes.requeueCounted(r, r.attempt - 1);
        d.ledger.remove(key);
      }, (err) => strand.record({ ...r, attempt: r.attempt - 1 }, "hand-over cut short by a restart", err));
      if (!put) continue;
      out.requeued.push(key);
      d.log.info({ task: key, phase: r.phase }, "hand-over cut short by a restart: re-queued, no attempt counted");
      continue;
    }
    const reason = `session ${r.session} lost its agent while the daemon was down`;
    if (await orStrand(key, () => outcomes.retry(r, reason, signal), (err) => strand.record(r, reason, err))) {
      (r.attempt >= d.settings.maxAttempts ? out.failed : out.requeued).push(key);
    }
  }
  await d.ledger.flush();
  return out;
}
