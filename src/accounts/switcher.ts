/**
 * The swap (contract §6 "A swap") as an explicit state machine. Each step is logged and the journal persisted
 * *before* the step's side effect, so after a crash `recoverSwap` knows how far it got:
 *
 *   recording → stopping-pool → flipping → ensuring-links → recording-swap → recreating → done
 *                                   └──────────┴─→ rolling-back → recreating → failed
 *                                                        └─→ partial-swap (the link could not be put back)
 *
 * Every side effect sits behind a port; the daemon wires tmux, the real link functions and its state store.
 */
import { randomUUID } from "node:crypto";
import type { TaskRecord } from "../dispatch/records.js";
import type { Clock } from "../lib/clock.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { formatLinkProblem, type LinkProblem } from "./shared-links.js";
import {
  SwapError,
  TERMINAL_STEPS,
  pickResumableTasks,
  resumableId,
  type SwapJournal,
  type SwapResult,
  type SwapStep,
} from "./swap-journal.js";

export { SwapError, swapJournalSchema, type SwapJournal, type SwapResult, type SwapStep } from "./swap-journal.js";

/** Sessions: step 1's capture, step 2's kill, step 6's recreation. */
export interface SwapSessionsPort {
  /** The pool's tasks in flight and every dedicated session with its claude session id (null when unknown). */
  capture(): Promise<{ poolTasks: TaskRecord[]; dedicated: { session: string; uuid: string | null }[] }>;
  /** Kills the pool's tmux sessions (the range only, S1). */
  killPoolSessions(): Promise<void>;
  /** Brings the pool back (fresh sessions) for agents on `home`. Called again after a crash: must be idempotent. */
  recreatePool(home: string): Promise<void>;
  /**
   * Stops the agent in a dedicated session and launches `CLAUDE_CONFIG_DIR=<home> claude … --resume <uuid>`;
   * with uuid null it launches nothing and leaves the session at the shell (never a blind attempt).
   */
  relaunchDedicated(session: string, home: string, uuid: string | null): Promise<void>;
  /** Launches `--resume <record.claude_session_id>` on `home` in record.cwd, sends "continue", updates the record. */
  resumePoolTask(session: string, record: TaskRecord, home: string): Promise<void>;
}

export interface SwapLinksPort {
  /** Points the claude link at `home` atomically; returns the previous target (flipLink). */
  flipLink(link: string, home: string): Promise<string | null>;
  /** Ensures `home`'s shared links; returns the problems left (ensureSharedLinks(...).problems). */
  ensureLinks(home: string): Promise<readonly LinkProblem[]>;
}

export interface SwapAccountsPort {
  active(): string | null;
  /** The account an unspecified swap goes to (AccountLedger.nextAccount). */
  nextAccount(): string | null;
  isBroken(name: string): boolean;
  setActive(account: string): void | Promise<void>;
  recordSwap(swap: { from: string; to: string; at: number; reason: string }): void | Promise<void>;
}

export type SwapNotice =
  | { kind: "swap-done"; from: string; to: string; reason: string; warnings: readonly string[] }
  | { kind: "swap-failed"; from: string; to: string; reason: string; error: string; problems: readonly string[] }
  | { kind: "partial-swap"; from: string; to: string; error: string; problems: readonly string[] };

export interface SwitcherDeps {
  /** Config order. */
  accounts: readonly { name: string; home: string }[];
  /** claude.link. */
  link: string;
  sessions: SwapSessionsPort;
  links: SwapLinksPort;
  accountsState: SwapAccountsPort;
  /** Makes the journal durable (state.json); resolves once it is. */
  persist: (journal: SwapJournal) => Promise<void>;
  clock: Clock;
  log: Logger;
  notify: (notice: SwapNotice) => void;
  newId?: () => string;
}

export interface SwapRequest {
  /** The account to swap to; default the ledger's next account. */
  to?: string;
  reason: string;
  trigger: "auto" | "manual";
  /**
   * Called once the pool is recreated and its interrupted tasks are resumed (or have failed to):
   * the work loop may supervise them again while dedicated sessions are still coming back.
   */
  onPoolBack?: () => void;
}

/** How a run of the machine ends: a live swap throws on a failed end; a recovery at start-up does not. */
interface DriveOptions {
  throwOnFailure: boolean;
  onPoolBack?: (() => void) | undefined;
}

export type SwitcherState = "idle" | "swapping" | "partial-swap";

/** Runs swaps one at a time; after a partial swap it refuses every further one until the daemon restarts. */
export class AccountSwitcher {
  private running: Promise<SwapResult> | null = null;
  private partial: { since: number; detail: string } | null = null;
  private last: SwapJournal | null = null;

  constructor(private readonly d: SwitcherDeps) {}

  get state(): SwitcherState {
    if (this.partial !== null) return "partial-swap";
    return this.running === null ? "idle" : "swapping";
  }

  /** Set while a partial swap holds: /health answers 503 with `detail`. */
  get partialSwap(): { since: number; detail: string } | null {
    return this.partial;
  }

  /** The running swap's journal, or the last one's (a copy). */
  get journal(): SwapJournal | null {
    return this.last === null ? null : structuredClone(this.last);
  }

  /** Validates, then runs the swap. Resolves on `done`; throws SwapError when refused, rolled back or partial. */
  async swap(request: SwapRequest): Promise<SwapResult> {
    // Runs before the first await: two calls in the same tick cannot both pass the in-progress check.
    const j = this.plan(request);
    return this.exclusive(async () => {
      this.last = j;
      // Nothing changes before stopping-pool: a journal that cannot be written stops the swap right there.
      await advance(j, this.d, "recording", true);
      let captured: Awaited<ReturnType<SwapSessionsPort["capture"]>>;
      try {
        captured = await this.d.sessions.capture();
      } catch (err) {
        j.error = `could not record the sessions: ${describeError(err)}`;
        await advance(j, this.d, "failed", false);
        throw new SwapError("SWAP_CAPTURE_FAILED", `swap ${j.from} → ${j.to} not started: ${j.error}`, { rolledBack: true, cause: err });
      }
      j.pool_tasks = captured.poolTasks.map((r) => ({ ...r }));
      j.dedicated = captured.dedicated.map((x) => ({ ...x }));
      return drive(j, this.d, "stopping-pool", { throwOnFailure: true, onPoolBack: request.onPoolBack });
    });
  }

  /** At start-up, with the journal state.json held: finishes or undoes that swap (see recoverSwap). */
  recover(journal: SwapJournal): Promise<SwapResult> {
    return this.exclusive(() => recoverSwap(journal, this.d));
  }

  private plan(request: SwapRequest): SwapJournal {
    if (this.partial !== null) {
      throw new SwapError("SWAP_PARTIAL_STATE", `swap refused: a previous swap left the claude link inconsistent (${this.partial.detail}); fix it and restart the daemon`, { rolledBack: true });
    }
    if (this.running !== null) throw new SwapError("SWAP_IN_PROGRESS", "swap refused: another swap is running", { rolledBack: true });
    const state = this.d.accountsState;
    const from = state.active();
    if (from === null) throw new SwapError("SWAP_NO_ACTIVE", "swap refused: no account is active", { rolledBack: true });
    const to = request.to ?? state.nextAccount();
    if (to === null) throw new SwapError("SWAP_NO_TARGET", `swap refused: no other account is available (active: ${from})`, { rolledBack: true });
    const target = this.d.accounts.find((a) => a.name === to);
    const source = this.d.accounts.find((a) => a.name === from);
    if (target === undefined || source === undefined) {
      const names = this.d.accounts.map((a) => a.name).join(", ");
      throw new SwapError("SWAP_UNKNOWN_ACCOUNT", `swap refused: unknown account ${JSON.stringify(target === undefined ? to : from)} (configured: ${names})`, { rolledBack: true });
    }
    if (to === from) throw new SwapError("SWAP_SAME_ACCOUNT", `swap refused: ${to} is already the active account`, { rolledBack: true });
    if (state.isBroken(to)) throw new SwapError("SWAP_TARGET_BROKEN", `swap refused: account ${to} is broken (see /status)`, { rolledBack: true });
    const now = this.d.clock.now();
    return {
      id: this.d.newId?.() ?? randomUUID(), step: "recording", trigger: request.trigger, from, to,
      from_home: source.home, to_home: target.home, link: this.d.link, reason: request.reason.slice(0, 300),
      requested_at: now, updated_at: now, dedicated: [], pool_tasks: [], rolled_back: false, started: [],
      error: null, failed_at: null, problems: [], warnings: [],
    };
  }

  private exclusive(run: () => Promise<SwapResult>): Promise<SwapResult> {
    if (this.running !== null) return Promise.reject(new SwapError("SWAP_IN_PROGRESS", "swap refused: another swap is running", { rolledBack: true }));
    const p = run().then(
      (result) => this.settle(result),
      (err: unknown) => {
        if (err instanceof SwapError && err.code === "SWAP_PARTIAL") this.partial = { since: this.d.clock.now(), detail: err.message };
        throw err;
      },
    );
    this.running = p.finally(() => {
      this.running = null;
    });
    this.running.catch(() => undefined);
    return p;
  }

  private settle(result: SwapResult): SwapResult {
    this.last = structuredClone(result.journal);
    if (result.outcome === "partial-swap") this.partial = { since: this.d.clock.now(), detail: result.journal.error ?? "partial swap" };
    return result;
  }
}

/**
 * Finishes or undoes a swap a crash interrupted, from the journal persisted before the step that was running:
 * - recording: nothing had changed (the capture only reads) → failed, nothing to undo.
 * - stopping-pool, flipping, ensuring-links, recording-swap: forward. The pool's work was already cut, and each of
 *   these steps is safe to repeat (kill, flip to the same home, ensure, set the same account). Forward still rolls
 *   back when the target's links are broken.
 * - rolling-back: the rollback again (flip to the previous home), then the previous home's pool.
 * - recreating: forward; a relaunch or resume already started is not repeated (typing a launch line into a running
 *   Claude is worse than a session left at the shell, which the work loop and the operator see).
 * - partial-swap: a restart is the operator saying "fixed": the rollback is tried once more; failing, still partial.
 * - done, failed: nothing to do.
 * Never throws for a failed or partial outcome: it reports them in the result (and through notify).
 */
export async function recoverSwap(journal: SwapJournal, deps: SwitcherDeps): Promise<SwapResult> {
  const j: SwapJournal = structuredClone(journal);
  if (j.step === "done" || j.step === "failed") return result(j, j.step, []);
  deps.log.warn({ swap: j.id, step: j.step, from: j.from, to: j.to }, "recovering a swap interrupted by a restart");
  let start: SwapStep = j.step;
  if (j.step === "recording") {
    j.error = "interrupted before any change (daemon restarted)";
    await advance(j, deps, "failed", false);
    return result(j, "failed", []);
  }
  if (j.step === "partial-swap") start = "rolling-back";
  return drive(j, deps, start, { throwOnFailure: false });
}

// Points the claude link at `home`: undefined when done, else what went wrong.
async function flipTo(d: SwitcherDeps, link: string, home: string): Promise<string | undefined> {
  try {
    await d.links.flipLink(link, home);
    return undefined;
  } catch (err) {
    return describeError(err);
  }
}

/** Runs the machine from `start` to an end. Throws SwapError for failed and partial ends when `throwOnFailure`. */
async function drive(j: SwapJournal, d: SwitcherDeps, start: SwapStep, how: DriveOptions): Promise<SwapResult> {
  let step = start;
  for (;;) {
    switch (step) {
      case "stopping-pool":
        await advance(j, d, "stopping-pool", true);
        // Agents run with CLAUDE_CONFIG_DIR of their own home: one left alive is recreated in step 6, not a reason to stop.
        await d.sessions.killPoolSessions().catch((err: unknown) => warn(j, d, `killing the pool failed: ${describeError(err)}`));
        step = "flipping";
        break;
      case "flipping": {
        await advance(j, d, "flipping", false);
        const failed = await flipTo(d, j.link, j.to_home);
        if (failed === undefined) {
          step = "ensuring-links";
        } else {
          // The rename may have happened before a later failure (fsync): put the link back to be sure.
          j.error = `flipping ${j.link} to ${j.to_home} failed: ${failed}`;
          j.failed_at = "flipping";
          step = "rolling-back";
        }
        break;
      }
      case "ensuring-links": {
        await advance(j, d, "ensuring-links", false);
        let problems: string[];
        try {
          problems = (await d.links.ensureLinks(j.to_home)).map(formatLinkProblem);
        } catch (err) {
          problems = [`ensuring the shared links of ${j.to_home} failed: ${describeError(err)}`];
        }
        if (problems.length === 0) {
          step = "recording-swap";
        } else {
          // Continuing would declare an account active whose transcripts go to a private folder (resume broken).
          j.problems = problems;
          j.error = `account ${j.to}'s shared links are not right (${problems.length} problem(s))`;
          j.failed_at = "ensuring-links";
          step = "rolling-back";
        }
        break;
      }
      case "rolling-back": {
        await advance(j, d, "rolling-back", false);
        const failed = await flipTo(d, j.link, j.from_home);
        if (failed !== undefined) {
          j.error = `${j.error ?? "swap failed"}; putting ${j.link} back to ${j.from_home} failed too: ${failed}`;
          await advance(j, d, "partial-swap", false);
          d.log.error({ swap: j.id, error: j.error, problems: j.problems }, "partial swap: every further swap is refused until restart");
          d.notify({ kind: "partial-swap", from: j.from, to: j.to, error: j.error, problems: j.problems });
          const out = result(j, "partial-swap", []);
          if (how.throwOnFailure) throw new SwapError("SWAP_PARTIAL", `swap ${j.from} → ${j.to}: ${j.error}`, { rolledBack: false, problems: j.problems, result: out });
          return out;
        }
        j.rolled_back = true;
        // Harmless when never changed; needed when recording-swap failed half-way.
        await Promise.resolve(d.accountsState.setActive(j.from)).catch((err: unknown) => warn(j, d, `setting ${j.from} active again failed: ${describeError(err)}`));
        step = "recreating";
        break;
      }
      case "recording-swap":
        await advance(j, d, "recording-swap", false);
        try {
          await d.accountsState.setActive(j.to);
          await d.accountsState.recordSwap({ from: j.from, to: j.to, at: j.requested_at, reason: j.reason });
          step = "recreating";
        } catch (err) {
          j.error = `recording the swap failed: ${describeError(err)}`;
          j.failed_at = "recording-swap";
          step = "rolling-back";
        }
        break;
      case "recreating":
        return finish(j, d, how);
      default:
        throw new Error(`swap ${j.id}: cannot drive from step ${step}`);
    }
  }
}

/** Step 6 on the home that ends up active: the target when done, the previous one when rolled back. */
async function finish(j: SwapJournal, d: SwitcherDeps, how: DriveOptions): Promise<SwapResult> {
  await advance(j, d, "recreating", false);
  const home = j.rolled_back ? j.from_home : j.to_home;
  await d.sessions.recreatePool(home).catch((err: unknown) => warn(j, d, `recreating the pool failed: ${describeError(err)}`));
  // All at once, as dispatch hands tasks over (one after another, the agents' start-ups add up). Each is journalled
  // as started before its side effect, so a crash repeats none; adoption at restart retries those cut short.
  // Resolves to the session's or task's label, or undefined when it failed (a warning says why).
  const bringBack = async (key: string, what: string, run: () => Promise<string | undefined>): Promise<string | undefined> => {
    await markStarted(j, d, key);
    try {
      return await run();
    } catch (err) {
      warn(j, d, `${what} failed: ${describeError(err)}`);
      return undefined;
    }
  };
  const relaunching: Promise<string | undefined>[] = [];
  // Rolled back: dedicated sessions were never touched (they are only stopped by their relaunch).
  if (!j.rolled_back) {
    for (const x of j.dedicated) {
      const key = `dedicated:${x.session}`;
      if (j.started.includes(key)) continue;
      const uuid = resumableId(x.uuid);
      if (uuid === null && x.uuid !== null) warn(j, d, `dedicated ${x.session}: ${JSON.stringify(x.uuid.slice(0, 60))} is not a session id; left at the shell`);
      relaunching.push(bringBack(key, `relaunching dedicated ${x.session}`, async () => {
        await d.sessions.relaunchDedicated(x.session, home, uuid);
        return uuid === null ? undefined : x.session;
      }));
    }
  }
  // Rolled back, the tasks continue where they were; a manual swap's previous account may well have room left.
  const pick = pickResumableTasks(j.pool_tasks);
  const resuming: Promise<string | undefined>[] = [];
  for (const r of pick.resume) {
    const key = `task:${r.project}/${r.id}`;
    if (j.started.includes(key)) continue;
    resuming.push(bringBack(key, `resuming ${r.project}/${r.id} in ${r.session}`, async () => {
      await d.sessions.resumePoolTask(r.session, r, home);
      return `${r.project}/${r.id}`;
    }));
  }
  const done = (xs: (string | undefined)[]): string[] => xs.filter((x): x is string => x !== undefined);
  const poolBack = Promise.all(resuming).then((xs) => {
    how.onPoolBack?.();
    return done(xs);
  });
  const [relaunched, resumed] = await Promise.all([Promise.all(relaunching).then(done), poolBack]);
  const end = j.rolled_back ? "failed" : "done";
  await advance(j, d, end, false);
  const out = { ...result(j, end, pick.skipped), relaunched, resumed };
  if (end === "done") {
    d.log.info({ swap: j.id, from: j.from, to: j.to, relaunched, resumed, skipped: pick.skipped, warnings: j.warnings }, "swap done");
    d.notify({ kind: "swap-done", from: j.from, to: j.to, reason: j.reason, warnings: j.warnings });
    return out;
  }
  d.log.error({ swap: j.id, from: j.from, to: j.to, error: j.error, problems: j.problems }, "swap failed and rolled back");
  d.notify({ kind: "swap-failed", from: j.from, to: j.to, reason: j.reason, error: j.error ?? "swap failed", problems: j.problems });
  if (how.throwOnFailure) {
    const code = j.failed_at === "ensuring-links" ? "SWAP_LINKS_BROKEN" : j.failed_at === "recording-swap" ? "SWAP_RECORD_FAILED" : "SWAP_FLIP_FAILED";
    throw new SwapError(code, `swap ${j.from} → ${j.to} rolled back: ${j.error ?? "failed"}`, { rolledBack: true, problems: j.problems, result: out });
  }
  return out;
}

/** Moves to `step`, logs it, and persists the journal before the step's side effect. */
async function advance(j: SwapJournal, d: SwitcherDeps, step: SwapStep, critical: boolean): Promise<void> {
  j.step = step;
  j.updated_at = d.clock.now();
  d.log.info({ swap: j.id, step, from: j.from, to: j.to, trigger: j.trigger }, `swap step: ${step}`);
  if (critical) {
    await persistOrAbort(d, j);
    return;
  }
  // Half-way through, stopping would leave things worse than going on without a crash record.
  await d.persist(structuredClone(j)).catch((err: unknown) => d.log.error({ swap: j.id, step, err: describeError(err) }, "swap journal not persisted; going on"));
}

async function persistOrAbort(d: SwitcherDeps, j: SwapJournal): Promise<void> {
  try {
    await d.persist(structuredClone(j));
  } catch (err) {
    throw new SwapError("SWAP_JOURNAL_FAILED", `swap ${j.from} → ${j.to} not started: its journal could not be saved: ${describeError(err)}`, { rolledBack: true, cause: err });
  }
}

async function markStarted(j: SwapJournal, d: SwitcherDeps, key: string): Promise<void> {
  j.started.push(key);
  await advance(j, d, "recreating", false);
}

function warn(j: SwapJournal, d: SwitcherDeps, text: string): void {
  j.warnings.push(text.slice(0, 300));
  d.log.warn({ swap: j.id, step: j.step }, text);
}

function result(j: SwapJournal, outcome: SwapResult["outcome"], skipped: SwapResult["skipped"]): SwapResult {
  if (!TERMINAL_STEPS.includes(j.step)) throw new Error(`swap ${j.id}: result at non-terminal step ${j.step}`);
  return { outcome, journal: structuredClone(j), relaunched: [], resumed: [], skipped, warnings: [...j.warnings] };
}
