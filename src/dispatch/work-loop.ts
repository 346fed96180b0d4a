import { randomUUID } from "node:crypto";
import type { LaunchCommand } from "../claude/launch.js";
import { sanitizePrompt } from "../claude/prompt-text.js";
import type { Clock } from "../lib/clock.js";
import { isAbortError } from "../lib/clock.js";
import { AppError, describeError } from "../lib/errors.js";
import { crashPoint } from "../lib/crash-points.js";
import type { Logger } from "../lib/logger.js";
import { PeriodicLoop } from "../lib/loop.js";
import type { TaskEvent } from "../state/events.js";
import { adoptAfterRestart, type AdoptionReport } from "./adopt.js";
import type { AgentDriver } from "./agent-driver.js";
import type { HookHub } from "./hook-hub.js";
import type { AccountPort, AgentAccount, ClaimedTask, LimitPort, QueuePort, SessionPort, StuckRejection, WorktreePort } from "./ports.js";
import { taskKey, type TaskLedger, type TaskRecord } from "./records.js";
import { supervise } from "./supervise.js";
import { TaskNotSettledError, TaskOutcomes } from "./task-outcomes.js";
import { FaultBook, type TaskFault } from "./faults.js";

export interface WorkLoopSettings {
  pollIntervalMs: number;
  idleConfirm: number;
  stallTimeoutMs: number;
  taskTimeoutMs: number;
  maxAttempts: number;
}

/** A transcript's word on a prompt: "unknown" when it could not be read (not the same as "not there"). */
export type PromptEvidence = boolean | "unknown";

export interface WorkLoopDeps {
  queue: QueuePort;
  sessions: SessionPort;
  accounts: AccountPort;
  driver: AgentDriver;
  hooks: HookHub;
  ledger: TaskLedger;
  clock: Clock;
  log: Logger;
  settings: WorkLoopSettings;
  /** Builds the agent's launch line for an account, a claude session id and a working dir. */
  launchFor(account: AgentAccount, claudeSessionId: string, cwd: string, resume?: boolean): Promise<LaunchCommand>;
  /** The agent's last message from its transcript, when no Stop hook carried it. */
  lastMessage(account: string, cwd: string, claudeSessionId: string): Promise<string | undefined>;
  /** Whether the agent's transcript holds a prompt: evidence that a hand-over cut short by a crash got through. */
  promptDelivered(account: string, cwd: string, claudeSessionId: string): Promise<PromptEvidence>;
  /** Told about every task outcome (events.jsonl, notifications). */
  record(event: TaskEvent): void;
  /** Where supervision reports screens and asks about usage limits (the failover's watch); absent: none watched. */
  limits?: LimitPort;
  /** Delegation (when on): offered each waiting task before a local claim; "delegated" takes it off the inbox, "held" leaves it waiting. */
  offer?(project: string, id: string): Promise<"delegated" | "local" | "held">;
  /** Told once when a task gets stuck (it could not be handed over, put back or filed); it is retried every pass. */
  onFault?(fault: TaskFault): void;
  /** Worktrees and per-project caps; absent: tasks run in the project's checkout, no cap. */
  worktrees?: WorktreePort;
}

/** A claim or a rejection that threw part-way; `reject`: the file is to be filed under failed/ with this. */
interface BrokenClaim {
  project: string;
  id: string;
  reject?: { reason: string; detail?: string };
}

/**
 * The heart of the daemon: hands waiting tasks to free pool sessions and watches them to the end.
 * Every poll (and whenever poked by the watcher or a hook) it first supervises what runs — Stop hook,
 * idle screen, signal file, dead agent, timeout, stall — then dispatches. A task is claimed (moved to
 * active/ and recorded) before a single key is typed (S5), so a crash never runs it twice unseen.
 */
export class WorkLoop {
  private readonly loop: PeriodicLoop;
  /**
   * Sessions being handed a task, or their task a continuation or a resume, right now (these run beside
   * the loop): supervision and dispatch leave them alone meanwhile.
   */
  private readonly handing = new Map<string, Promise<void>>();
  /** Sessions a pass is supervising right now: a continuation or a resume waits for theirs. */
  private readonly supervising = new Map<string, Promise<unknown>>();
  private stopping = false;
  private pausedFor: string | undefined;
  /** The operator's hold on dispatch (dashboard): separate from pause(), which a swap ends with resume(). */
  private heldFor: string | undefined;
  /** The pass in progress, if any: pause() waits for it. */
  private ticking: Promise<void> | undefined;
  private readonly outcomes: TaskOutcomes;
  private readonly faultBook: FaultBook;
  /** Hand-overs that failed and could not be put back either, with why: put back again every pass. */
  private readonly stranded = new Map<string, { record: TaskRecord; reason: string }>();
  /**
   * Claims that threw part-way: the file may sit in active/ with no record, or staged, unpublished; moved
   * back (or filed, for a rejection: `reject`) every pass.
   */
  private readonly brokenClaims = new Map<string, BrokenClaim>();

  constructor(private readonly d: WorkLoopDeps) {
    this.outcomes = new TaskOutcomes({
      queue: d.queue, sessions: d.sessions, driver: d.driver, ledger: d.ledger, clock: d.clock, log: d.log,
      record: (event) => d.record(event), maxAttempts: d.settings.maxAttempts, ...(d.worktrees ? { worktrees: d.worktrees } : {}),
    });
    this.faultBook = new FaultBook({ clock: d.clock, log: d.log, onFault: (f) => d.onFault?.(f) });
    this.loop = new PeriodicLoop({
      name: "work", intervalMs: d.settings.pollIntervalMs, clock: d.clock, log: d.log,
      tick: (signal) => this.tick(signal),
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Runs a pass now: a new task arrived, or a hook said something. */
  poke(): void {
    this.loop.poke();
  }

  get lastTickAt(): number | undefined {
    return this.loop.lastTickAt;
  }

  get status(): PeriodicLoop["status"] {
    return this.loop.status;
  }

  /** Tasks stuck on a fault (a failed state write, a queue move that failed): /health reports them. */
  faults(): TaskFault[] {
    return this.faultBook.list();
  }

  /** The tasks in flight. */
  records(): TaskRecord[] {
    return this.d.ledger.records();
  }

  /** The launch line this loop would use (for relaunching a dedicated session after a swap). */
  launchLine(account: AgentAccount, claudeSessionId: string, cwd: string, resume: boolean): Promise<LaunchCommand> {
    return this.d.launchFor(account, claudeSessionId, cwd, resume);
  }

  /** Resolves once the hand-overs in progress have ended (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.handing.size > 0) await Promise.allSettled([...this.handing.values()]);
  }

  /** Stops the loop and waits for hand-overs in progress; agents keep running in tmux. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop.stop();
    await Promise.allSettled([...this.handing.values()]);
  }

  /**
   * Holds supervision and dispatch (a swap is killing and recreating the pool: a vanished session then
   * is not a failed task). Hand-overs already running finish first.
   */
  async pause(reason: string): Promise<void> {
    this.pausedFor = reason;
    // A pass under way would file as lost the tasks of sessions the swap is killing: wait for it. Its
    // supervisions run side by side to their end, and it dispatches only if it got there before the
    // pause (those hand-overs are waited for too); later passes do nothing until resume().
    await this.ticking?.catch(() => undefined);
    await this.settled();
  }

  resume(): void {
    this.pausedFor = undefined;
    this.loop.poke();
  }

  get paused(): string | undefined {
    return this.pausedFor;
  }

  /** Holds (reason) or releases (undefined) dispatch of new tasks; tasks in flight are still supervised and filed. */
  hold(reason: string | undefined): void {
    this.heldFor = reason;
    if (reason === undefined) this.loop.poke();
  }

  get held(): string | undefined {
    return this.heldFor;
  }

  /**
   * Carries a task over to another account after a swap: `--resume <its claude session id>` in its
   * cwd (transcripts are shared, so the conversation is there), then "continue". Same task, same
   * claude session id, one attempt.
   */
  async resumeOn(record: TaskRecord, account: AgentAccount, signal?: AbortSignal): Promise<void> {
    await this.exclusive(record.session, async () => {
      // Never bring back a task that left the ledger meanwhile (filed, or back in the inbox): its
      // record would come back with it and wait for a file that is no longer in active/.
      const r = this.stillInFlight(record, "resumed");
      const launch = await this.d.launchFor(account, r.claude_session_id, r.cwd, true);
      await this.d.driver.launch(r.session, r.cwd, launch, signal);
      const since = this.d.clock.now();
      await this.d.driver.submit(r.session, "continue", r.claude_session_id, signal);
      this.outcomes.update(r, { account: account.name, phase: "working", submitted_at: since, screen_changed_at: this.d.clock.now(), idle_polls: 0 });
      await this.d.ledger.flush();
      this.d.sessions.markBusy(r.session, taskKey(r.project, r.id), account.name);
      this.d.record({ type: "task_resumed", project: r.project, task: r.id, session: r.session, account: account.name, claude_session_id: r.claude_session_id });
    });
  }

  /** Sends "continue" to a task's agent that stopped at a usage limit which has now reset. */
  async continueTask(record: TaskRecord, signal?: AbortSignal): Promise<void> {
    await this.exclusive(record.session, async () => {
      // A pass may have filed or re-queued the task meanwhile: "continue" would reach an agent being ended.
      const r = this.stillInFlight(record, "continued");
      if (r.phase !== "working") throw new AppError("TASK_NOT_IN_FLIGHT", `${taskKey(r.project, r.id)} is not working: not continued`);
      const since = this.d.clock.now();
      await this.d.driver.submit(r.session, "continue", r.claude_session_id, signal);
      this.outcomes.update(r, { submitted_at: since, screen_changed_at: this.d.clock.now(), idle_polls: 0 });
      await this.d.ledger.flush();
      this.d.record({ type: "task_continued", project: r.project, task: r.id, session: r.session });
    });
  }

  /** The ledger's current record of this task, when it is still the same agent in the same session. */
  private stillInFlight(record: TaskRecord, what: string): TaskRecord {
    const key = taskKey(record.project, record.id);
    const r = this.d.ledger.get(key);
    if (r === undefined || r.session !== record.session || r.claude_session_id !== record.claude_session_id) {
      throw new AppError("TASK_NOT_IN_FLIGHT", `${key} is no longer in flight: not ${what}`);
    }
    return r;
  }

  /**
   * Runs `work` on a session once no hand-over, continuation or supervision is under way there, and
   * keeps supervision and dispatch off it until it ends.
   */
  private async exclusive<T>(session: string, work: () => Promise<T>): Promise<T> {
    for (;;) {
      const busy = this.handing.get(session) ?? this.supervising.get(session);
      if (busy === undefined) break;
      await busy.catch(() => undefined);
    }
    let release!: () => void;
    const slot = new Promise<void>((r) => (release = r));
    this.handing.set(session, slot);
    try {
      return await work();
    } finally {
      if (this.handing.get(session) === slot) this.handing.delete(session);
      release();
    }
  }

  /** One pass: supervise every task in flight, then dispatch to free sessions. */
  tick(signal: AbortSignal): Promise<void> {
    const pass = this.pass(signal);
    this.ticking = pass;
    return pass.finally(() => {
      if (this.ticking === pass) this.ticking = undefined;
    });
  }

  private async pass(signal: AbortSignal): Promise<void> {
    if (this.pausedFor !== undefined) return;
    await this.unstick(signal);
    // Tasks are looked at side by side: finishing one (~0.35 s) must not hold up the others. pause()
    // waits for the whole pass, so a swap never runs beside a supervision.
    const inFlight = this.d.ledger.records().filter((r) => r.phase === "working" && !this.handing.has(r.session));
    const results = await Promise.allSettled(inFlight.map((r) => {
      const look = supervise(r, this.d, this.outcomes, signal);
      this.supervising.set(r.session, look);
      return look.finally(() => {
        if (this.supervising.get(r.session) === look) this.supervising.delete(r.session);
      });
    }));
    for (const [i, res] of results.entries()) {
      const r = inFlight[i]!;
      const key = taskKey(r.project, r.id);
      if (res.status === "fulfilled") {
        this.faultBook.clear(key);
        continue;
      }
      if (isAbortError(res.reason)) throw res.reason;
      this.d.log.error({ task: key, session: r.session, err: describeError(res.reason) }, "supervising a task failed");
      // The record stays "working": the next pass looks again and files it once the fault clears.
      if (res.reason instanceof TaskNotSettledError) this.faultBook.raise(key, `could not be filed or put back: ${describeError(res.reason.cause)}`);
    }
    if (this.pausedFor === undefined && this.heldFor === undefined) await this.dispatch(signal);
  }

  /**
   * Q4, at start-up, before the loop runs: every task in active/ is re-adopted, re-queued or failed
   * (see adopt.ts).
   */
  adopt(signal?: AbortSignal): Promise<AdoptionReport> {
    return adoptAfterRestart(this.d, this.outcomes, {
      record: (record, reason, err) => {
        this.stranded.set(taskKey(record.project, record.id), { record, reason });
        this.faultBook.raise(taskKey(record.project, record.id), `could not be put back at start-up: ${describeError(err)}`);
      },
      claim: (project, id, err) => {
        this.brokenClaims.set(taskKey(project, id), { project, id });
        this.faultBook.raise(taskKey(project, id), `claim cut short by a restart could not be put back: ${describeError(err)}`);
      },
    }, signal);
  }

  // ---------------------------------------------------------------------------------------------
  // Dispatch

  private async dispatch(signal: AbortSignal): Promise<void> {
    if (this.stopping) return;
    const account = this.d.accounts.activeAccount();
    if (!account) return;
    const taken = new Set(this.d.ledger.records().map((r) => r.session));
    const free = this.d.sessions.freePoolSessions().filter((s) => !this.handing.has(s) && !taken.has(s));
    // Nothing could take a task: do not read the inboxes (10,000 waiting tasks cost a scan). Delegated
    // tasks need no session, so with delegation on the inboxes are read anyway.
    if (free.length === 0 && !this.d.sessions.canGrow() && !this.d.offer) return;
    const claimed = new Set(this.d.ledger.records().map((r) => taskKey(r.project, r.id)));
    // Round-robin across projects so one busy inbox does not starve the others.
    const queues = new Map<string, string[]>();
    for (const p of this.d.queue.projects()) {
      // max_parallel: the project's tasks past its cap wait in the inbox (not even offered elsewhere).
      const room = this.roomIn(p);
      if (room <= 0) continue;
      let ids = (await this.d.queue.waiting(p, (stuck) => this.strandRejection(p, stuck))).filter((id) => !claimed.has(taskKey(p, id)));
      if (this.d.offer) {
        const local: string[] = [];
        for (const id of ids) if ((await this.d.offer(p, id)) === "local") local.push(id);
        ids = local;
      }
      if (ids.length > 0) queues.set(p, ids.slice(0, room));
    }
    if (free.length === 0 && !this.d.sessions.canGrow()) return;
    let waiting = [...queues.values()].reduce((n, ids) => n + ids.length, 0);
    while (waiting > 0 && free.length > 0) {
      for (const [project, ids] of queues) {
        const id = ids.shift();
        if (id === undefined) continue;
        waiting--;
        const session = free.shift();
        if (session === undefined) break;
        let claim: Awaited<ReturnType<QueuePort["claim"]>>;
        try {
          claim = await this.d.queue.claim(project, id);
        } catch (err) {
          if (isAbortError(err)) throw err;
          // The rename may have happened: the file would wait in active/ with no record until a restart.
          free.unshift(session);
          const key = taskKey(project, id);
          this.brokenClaims.set(key, { project, id });
          this.faultBook.raise(key, `claim failed: ${describeError(err)}`);
          continue;
        }
        crashPoint("after-claim");
        if (!claim.ok) {
          free.unshift(session);
          this.d.log.info({ project, task: id, reason: claim.reason }, "task not claimed");
          continue;
        }
        this.startHandover(session, claim.task, account, signal);
        if (free.length === 0) break;
      }
    }
    // Work left and no free session: ask the pool for one more (it appears at the next reconcile).
    if (waiting > 0 && (await this.d.sessions.grow())) this.d.log.info({ waiting }, "pool grows for waiting tasks");
  }

  /**
   * Puts back what an earlier pass could not: hand-overs that failed and could not be re-queued, claims
   * that threw part-way.
   */
  private async unstick(signal: AbortSignal): Promise<void> {
    for (const [key, { record, reason }] of this.stranded) {
      if (signal.aborted) return;
      try {
        await this.outcomes.putBack(record, reason);
        this.stranded.delete(key);
        this.faultBook.clear(key);
      } catch (err) {
        this.faultBook.raise(key, `could not be put back (${reason}): ${describeError(err)}`);
      }
    }
    for (const [key, broken] of this.brokenClaims) {
      if (signal.aborted) return;
      try {
        if (this.d.ledger.get(key) === undefined) await this.settleBrokenClaim(key, broken);
        this.brokenClaims.delete(key);
        this.faultBook.clear(key);
      } catch (err) {
        this.faultBook.raise(key, broken.reject
          ? `could not be filed under failed/ (${broken.reject.reason}): ${describeError(err)}`
          : `claim failed part-way and the task could not be put back: ${describeError(err)}`);
      }
    }
    // A supervision fault whose task has left the ledger (filed, or resumed elsewhere) is over.
    for (const f of this.faultBook.list()) {
      if (!this.stranded.has(f.task) && !this.brokenClaims.has(f.task) && this.d.ledger.get(f.task) === undefined) this.faultBook.clear(f.task);
    }
  }

  /** A bad inbox entry left in active/ by a filing that failed: filed at the next passes, reported meanwhile. */
  private strandRejection(project: string, stuck: StuckRejection): void {
    const key = taskKey(project, stuck.id);
    this.brokenClaims.set(key, { project, id: stuck.id, reject: { reason: stuck.reason, ...(stuck.detail !== undefined ? { detail: stuck.detail } : {}) } });
    this.faultBook.raise(key, `could not be filed under failed/ (${stuck.reason}): ${describeError(stuck.error)}`);
  }

  // A claim (or a rejection) that failed part-way, its task not in flight: finish what it left.
  private async settleBrokenClaim(key: string, { project, id, reject }: BrokenClaim): Promise<void> {
    // Staged before the publish failed: the staged file holds the outcome (Q1), and blocks the id until published.
    if (await this.d.queue.finishStaged(project, id)) {
      this.d.log.info({ task: key }, "a finish that failed part-way: published");
      return;
    }
    if (!(await this.d.queue.active()).some((t) => t.project === project && t.id === id)) return;
    if (reject) {
      await this.d.queue.fail(project, id, reject.reason, { attempts: 0 }, reject.detail);
      this.d.log.info({ task: key, reason: reject.reason }, "a rejection that failed part-way: filed under failed/");
      return;
    }
    const waitsAs = await this.d.queue.requeue(project, id);
    this.d.log.info({ task: key, as: waitsAs }, "a claim that failed part-way: back to the inbox, no attempt counted");
  }

  /** How many more tasks of a project may start now (max_parallel minus those in flight). */
  private roomIn(project: string): number {
    const cap = this.d.worktrees?.maxParallel(project);
    if (cap === undefined) return Number.POSITIVE_INFINITY;
    return cap - this.d.ledger.records().filter((r) => r.project === project).length;
  }

  private startHandover(session: string, task: ClaimedTask, account: AgentAccount, signal: AbortSignal): void {
    const key = taskKey(task.project, task.id);
    const now = this.d.clock.now();
    // S5: nothing in the text may end the bracketed paste; the done/failed file says when it changed.
    const prompt = sanitizePrompt(task.prompt);
    const record: TaskRecord = {
      project: task.project, id: task.id, session, account: account.name, claude_session_id: randomUUID(),
      attempt: this.d.ledger.attempts(key) + 1, phase: "claimed", cwd: task.cwd,
      started_at: now, submitted_at: null, timeout_ms: task.timeoutMs ?? this.d.settings.taskTimeoutMs,
      screen_changed_at: now, screen_hash: "", idle_polls: 0, ...(prompt.changes > 0 ? { prompt_changes: prompt.changes } : {}),
      ...(task.title !== undefined ? { title: task.title } : {}),
    };
    this.d.ledger.put(record);
    this.d.sessions.markBusy(session, key, account.name);
    const run = this.handover(record, { ...task, prompt: prompt.text }, account, signal)
      .catch(async (err: unknown) => {
        if (isAbortError(err)) return;
        this.d.log.error({ task: key, session, err: describeError(err) }, "hand-over failed");
        const reason = `hand-over failed: ${describeError(err)}`;
        if (err instanceof AppError && err.code === "AGENT_LEFT_BEHIND") {
          // The session was not clean, the prompt never pasted: the session goes, the task waits uncharged.
          await this.outcomes.retire(session);
          await this.outcomes.putBackUndelivered(record, reason).catch((e: unknown) => {
            const uncharged = { ...record, attempt: record.attempt - 1 };
            this.stranded.set(key, { record: uncharged, reason });
            this.faultBook.raise(key, `could not be put back after a failed hand-over: ${describeError(e)}`);
          });
          return;
        }
        await this.outcomes.retry(record, reason).catch((e: unknown) => {
          // Left as it is, the task would sit in active/ with no agent until a restart: every pass tries again.
          this.stranded.set(key, { record, reason });
          this.faultBook.raise(key, `could not be put back after a failed hand-over: ${describeError(e)}`);
        });
      })
      .finally(() => this.handing.delete(session));
    this.handing.set(session, run);
  }

  private async handover(record: TaskRecord, task: ClaimedTask, account: AgentAccount, signal: AbortSignal): Promise<void> {
    const key = taskKey(record.project, record.id);
    // The claim is on disk and recorded before anything reaches the session.
    await this.d.ledger.flush();
    crashPoint("after-record");
    if (this.d.worktrees?.wanted(task)) await this.makeWorktree(this.d.worktrees, record, task);
    const launch = await this.d.launchFor(account, record.claude_session_id, record.cwd);
    this.outcomes.update(record, { phase: "launching" });
    await this.d.ledger.flush();
    await this.d.driver.launch(record.session, record.cwd, launch, signal);
    crashPoint("after-launch");
    this.outcomes.update(record, { phase: "submitting" });
    await this.d.ledger.flush();
    const since = this.d.clock.now();
    await this.d.driver.submit(record.session, task.prompt, record.claude_session_id, signal);
    crashPoint("after-submit");
    this.outcomes.update(record, { phase: "working", submitted_at: since, screen_changed_at: this.d.clock.now() });
    await this.d.ledger.flush();
    this.d.record({ type: "task_dispatched", project: record.project, task: record.id, session: record.session, account: record.account, attempt: record.attempt, claude_session_id: record.claude_session_id });
    this.d.log.info({ task: key, session: record.session, account: record.account, attempt: record.attempt }, "task dispatched");
  }

  /**
   * The task's own worktree, journaled like every step: `creating` is durable before `git worktree
   * add` runs, `ready` (with the cwd inside it) once it exists. A restart that finds `creating`, or a
   * hand-over that fails here, removes what the add left (adopt.ts).
   */
  private async makeWorktree(wt: WorktreePort, record: TaskRecord, task: ClaimedTask): Promise<void> {
    const planned = await wt.plan(task);
    this.outcomes.update(record, { worktree: planned });
    await this.d.ledger.flush();
    try {
      const cwd = await wt.create(planned, task);
      crashPoint("worktree-created");
      this.outcomes.update(record, { worktree: { ...planned, state: "ready" }, cwd });
      await this.d.ledger.flush();
      this.d.log.info({ task: taskKey(record.project, record.id), branch: planned.branch, worktree: planned.dir, base: planned.base }, "task worktree created");
    } catch (err) {
      await wt.rollback(planned).catch((e: unknown) => this.d.log.warn({ worktree: planned.dir, err: describeError(e) }, "could not roll back a worktree"));
      delete record.worktree;
      this.d.ledger.put({ ...record });
      await this.d.ledger.flush();
      throw err;
    }
  }
}
