import type { AccountView } from "../accounts/ledger.js";
import { AccountSwitcher, SwapError, type SwapLinksPort, type SwapResult, type SwitcherState } from "../accounts/switcher.js";
import type { Clock } from "../lib/clock.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { PeriodicLoop } from "../lib/loop.js";
import { planResume, type ResumeSession } from "../quota/limit-menu.js";
import type { QuotaDecision } from "../quota/monitor.js";
import type { TaskRecord } from "../dispatch/records.js";
import { DedicatedSessions } from "./dedicated.js";
import type { AccountsPort, AgentPort, NotifierPort, PanePort, PoolPort, RecordEvent, SwapStatePort, WorkControlPort } from "./ports.js";
import type { LimitWatch } from "./watch.js";

export interface FailoverSettings {
  /** claude.link. */
  link: string;
  /** quota.poll_interval. */
  pollIntervalMs: number;
  /** pool.dedicated. */
  dedicated: readonly { name: string; cwd: string }[];
  /** The pool's cwd: a dedicated agent's when neither its process nor the config names one. */
  poolCwd: string;
}

export interface FailoverDeps {
  settings: FailoverSettings;
  clock: Clock;
  log: Logger;
  /** The sightings and decisions (built first: the work loop's supervision reports to it). */
  watch: LimitWatch;
  work: WorkControlPort;
  agent: AgentPort;
  pool: PoolPort;
  panes: PanePort;
  links: SwapLinksPort;
  accounts: AccountsPort;
  state: SwapStatePort;
  notifier: NotifierPort;
  record: RecordEvent;
}

type SwapAsk = { to?: string; reason: string; trigger: "auto" | "manual" };

/**
 * The acting half of the failover (contract §6): a loop that takes the watch's decisions and carries them out —
 * swap (pausing the work loop, then the journaled switcher), pause dispatch when every account is out, resume at
 * the reset by answering the limit menu and sending "continue" — commanding the work loop through its port.
 */
export class Failover {
  private readonly switcher: AccountSwitcher;
  private readonly dedicated: DedicatedSessions;
  private readonly loop: PeriodicLoop;
  /** waiting: every account was out, the reset is awaited; continuing: work resumed, continuations still owed. */
  private resume: "off" | "waiting" | "continuing" = "off";
  /** Why each owed continuation was not sent, as last logged (logged again only when it changes). */
  private readonly owedWhy = new Map<string, string>();
  /** From a swap's request to its end: a second request is refused before it touches the work loop. */
  private swapping = false;

  constructor(private readonly d: FailoverDeps) {
    const { settings, clock, log, watch, work, state } = d;
    const ledger = watch.ledger;
    this.dedicated = new DedicatedSessions({
      sessions: settings.dedicated, defaultCwd: settings.poolCwd, agent: d.agent, panes: d.panes, accounts: d.accounts, log,
      onResumed: (session, uuid) => watch.monitor.noteResumed(session, uuid),
    });
    this.switcher = new AccountSwitcher({
      accounts: d.accounts.list, link: settings.link, clock, log: log.child({ component: "switcher" }),
      sessions: {
        capture: async () => ({ poolTasks: work.records().filter((r) => r.phase === "working"), dedicated: await this.dedicated.capture() }),
        killPoolSessions: () => d.pool.killPoolSessions(),
        recreatePool: () => d.pool.recreatePool(),
        relaunchDedicated: (session, home, uuid) => this.dedicated.relaunch(session, home, uuid),
        resumePoolTask: async (session, record, home) => {
          await work.resumeOn(record, d.accounts.byHome(home));
          watch.monitor.noteResumed(session, record.claude_session_id);
        },
      },
      links: d.links,
      accountsState: {
        active: () => ledger.active(),
        nextAccount: () => ledger.nextAccount(),
        isBroken: (n) => ledger.isBroken(n),
        setActive: (n) => {
          ledger.setActive(n);
          state.setActiveAccount(n);
        },
        recordSwap: (swap) => state.recordSwap(swap),
      },
      persist: (journal) => state.persistJournal(journal),
      notify: (n) => {
        const text = n.kind === "swap-done" ? `swapped ${n.from} → ${n.to}: ${n.reason}` : `${n.kind} ${n.from} → ${n.to}: ${n.error}${n.problems.length ? ` (${n.problems.join("; ")})` : ""}`;
        void d.notifier.notify({ kind: n.kind, key: `${n.from}>${n.to}`, text });
      },
    });
    this.loop = new PeriodicLoop({ name: "quota", intervalMs: settings.pollIntervalMs, clock, log: log.child({ component: "quota" }), tick: (signal) => this.tick(signal) });
    watch.onDecision(() => this.loop.poke());
  }

  /** Finishes or undoes a swap a crash cut short, then starts polling (the watch hears hooks since it was built). */
  async start(): Promise<void> {
    const journal = this.d.state.journal();
    if (journal && journal.step !== "done" && journal.step !== "failed") {
      this.d.log.warn({ swap: journal.id, step: journal.step }, "a swap was cut short by a restart: recovering it");
      const r = await this.switcher.recover(journal);
      this.d.log.info({ outcome: r.outcome }, "swap recovered");
    }
    this.loop.start();
  }

  async stop(): Promise<void> {
    this.d.watch.stop();
    await this.loop.stop();
    await this.d.watch.settled();
  }

  /** The account new work starts on; undefined pauses dispatch (every account out, a swap running, partial swap). */
  activeAccount(): string | undefined {
    const { ledger, monitor } = this.d.watch;
    if (this.switcher.state !== "idle" || ledger.allExhausted() || monitor.waitingForReset) return undefined;
    return ledger.active() ?? undefined;
  }

  health(): { ok: true } | { ok: false; reason: string } {
    const p = this.switcher.partialSwap;
    return p ? { ok: false, reason: `partial-swap since ${new Date(p.since).toISOString()}: ${p.detail}` } : { ok: true };
  }

  /** For /status: whether a swap runs, or a partial one refuses every further swap. */
  swapStatus(): { state: SwitcherState; partial: boolean } {
    return { state: this.switcher.state, partial: this.switcher.partialSwap !== null };
  }

  view(): AccountView[] {
    return this.d.watch.ledger.view();
  }

  /** `claude-failover swap [ACCOUNT]` / POST /api/swap: the same machine as an automatic swap. */
  async manualSwap(to: string | undefined): Promise<SwapResult> {
    return this.runSwap({ ...(to ? { to } : {}), reason: "manual swap", trigger: "manual" });
  }

  /** One quota poll (what the loop runs): the watch's poll, every decision acted on, then a resume step while one is under way. */
  async tick(signal: AbortSignal): Promise<void> {
    await this.d.watch.poll(signal);
    for (let next = this.d.watch.nextDecision(); next !== undefined; next = this.d.watch.nextDecision()) await this.act(next);
    // A swap under way (a manual one runs beside this loop) brings the work back itself: its sessions are not to be touched.
    if (this.resume !== "off" && !this.swapping) await this.resumeStep();
  }

  private async act(d: QuotaDecision): Promise<void> {
    this.d.log.warn({ decision: d }, "quota decision");
    if (d.kind === "swap") {
      // Decided before a swap that ran since (same poll, no cooldown): its account is no longer the active one.
      if (d.from !== this.d.watch.ledger.active()) return this.d.log.info({ decision: d }, "swap decision dropped: the account it swaps from is no longer active");
      await this.runSwap({ to: d.to, reason: `${d.reason} (${d.source}: ${d.matchedText})`, trigger: "auto" }).catch(() => undefined);
    } else if (d.kind === "exhausted") {
      const at = d.resetsAt ? new Date(d.resetsAt).toISOString() : "unknown";
      void this.d.notifier.notify({ kind: "all-exhausted", text: `every account is at its usage limit; dispatch paused until the earliest reset (${at})` });
      this.resume = "waiting";
    } else {
      this.resume = "waiting";
    }
  }

  private async runSwap(req: SwapAsk): Promise<SwapResult> {
    const { work, watch } = this.d;
    // Refused before the pause: this request's resume() would un-pause the loop under the swap that runs.
    if (this.swapping || this.switcher.state === "swapping") {
      this.d.log.warn({ to: req.to, trigger: req.trigger }, "swap refused: another swap is running");
      throw new SwapError("SWAP_IN_PROGRESS", "swap refused: another swap is running", { rolledBack: true });
    }
    this.swapping = true;
    try {
      await work.pause("swap");
      // Tasks resumed on the new account are supervised again (their Stop hooks, their timeouts) while
      // dedicated sessions still come back; dispatch waits for the swap's end (activeAccount).
      const r = await this.switcher.swap({ ...req, onPoolBack: () => work.resume() });
      this.recordSwap(r, req);
      if (req.trigger === "manual" && r.outcome === "done") watch.ledger.markAvailable(r.journal.to);
      return r;
    } catch (err) {
      // A swap that ran and failed (rolled back, or partial) is a swap event too; a refusal is not.
      const ended = err instanceof SwapError ? err.result : undefined;
      if (ended) this.recordSwap(ended, req);
      // The journal names the target even when the request did not (a manual swap to the next account).
      if (err instanceof SwapError && err.code === "SWAP_LINKS_BROKEN" && ended) watch.ledger.markBroken(ended.journal.to, "links-broken", err.problems.join("; "));
      this.d.log.error({ err: describeError(err), to: ended?.journal.to ?? req.to }, "swap not done");
      throw err;
    } finally {
      this.swapping = false;
      work.resume();
    }
  }

  private recordSwap(r: SwapResult, req: SwapAsk): void {
    this.d.record({ type: "swap", outcome: r.outcome, from: r.journal.from, to: r.journal.to, reason: req.reason, resumed: r.resumed, relaunched: r.relaunched });
  }

  /**
   * After every account was out: act on the resume plan each poll until work goes on and every interrupted task got
   * its continuation (one whose screen could not be read, whose "continue" failed or that was left alone is tried
   * again at the next poll: until then the monitor holds it, and supervision leaves it to this step).
   */
  private async resumeStep(): Promise<void> {
    const { work, watch } = this.d;
    const plan = planResume({ ledger: watch.ledger, sessions: await this.resumeSessions() });
    // Owed continuations go only to the account that is back; out again, the monitor's next decision takes over.
    if (this.resume === "continuing" && plan.mode !== "continue") {
      this.resume = "off";
      return;
    }
    if (plan.mode === "wait") return;
    if (plan.mode === "swap" && plan.account) {
      this.resume = "off";
      await this.runSwap({ to: plan.account, reason: `${plan.account} is available again`, trigger: "auto" }).catch(() => undefined);
      return;
    }
    for (const a of plan.actions) {
      const record = work.records().find((r) => r.session === a.session);
      try {
        // Never a bare Enter on the limit menu: the key is the option's number as shown (U5).
        if (a.do === "press") await this.d.panes.sendKey(a.session, a.key);
        else if (a.do === "continue" && record) {
          await work.continueTask(record);
          // A limit met by this continuation is a new hit (the wall again), not the old episode.
          watch.monitor.noteSubmitted(record.session, record.claude_session_id);
        }
      } catch (err) {
        this.d.log.warn({ session: a.session, action: a.do, err: describeError(err) }, "resume action failed");
      }
    }
    if (plan.actions.some((a) => a.do === "press")) return;
    if (this.resume === "waiting") {
      this.d.record({ type: "resumed", account: plan.account });
      void this.d.notifier.notify({ kind: "resumed", text: `usage limit reset: work resumed on ${plan.account ?? "?"}` });
      // Dispatch now, not at the next poll. Not resume(): the loop was not paused for this, and only a swap pauses it.
      work.poke();
    }
    const owed = this.owedContinuations();
    this.resume = owed.length > 0 ? "continuing" : "off";
    for (const session of this.owedWhy.keys()) if (!owed.some((r) => r.session === session)) this.owedWhy.delete(session);
    for (const r of owed) {
      const why = plan.actions.find((a) => a.session === r.session)?.why ?? "its screen could not be read";
      if (this.owedWhy.get(r.session) === why) continue;
      this.owedWhy.set(r.session, why);
      this.d.log.warn({ task: `${r.project}/${r.id}`, session: r.session, why }, "continuation still owed: tried again at the next poll");
    }
  }

  /** Working tasks the monitor still lists as interrupted: their continuation has not gone out. */
  private owedContinuations(): TaskRecord[] {
    const open = this.d.watch.monitor.interrupted();
    return this.d.work.records().filter((r) => r.phase === "working" && open.some((x) => x.session === r.session && (x.agent === null || x.agent === r.claude_session_id)));
  }

  /** The working sessions as the resume planner sees them (the ledger's reset already carries the grace). */
  private async resumeSessions(): Promise<ResumeSession[]> {
    const sessions: ResumeSession[] = [];
    // Interrupted: the monitor's word alone (its agent met the limit and did no new work since), whatever the screen
    // shows now: a banner it calls history (replayed by --resume) or has not confirmed earns no "continue".
    const owed = this.owedContinuations();
    for (const r of this.d.work.records().filter((x) => x.phase === "working")) {
      const verdict = await this.d.agent.screen(r.session).catch((err: unknown) => {
        this.d.log.warn({ session: r.session, err: describeError(err) }, "resume: screen not read; the session is looked at again at the next poll");
        return undefined;
      });
      // Pool agents run with Claude Code's own auto-continue off (the daemon's settings file): the daemon continues them.
      if (verdict) sessions.push({ session: r.session, verdict, account: r.account, interrupted: owed.some((o) => o.session === r.session && o.claude_session_id === r.claude_session_id) });
    }
    return sessions;
  }
}
