import { access } from "node:fs/promises";
import { ensureSharedLinks, flipLink } from "../accounts/shared-links.js";
import { AccountLedger, type AccountView } from "../accounts/ledger.js";
import { AccountSwitcher, SwapError, type SwapResult } from "../accounts/switcher.js";
import type { HookEvent } from "../claude/hooks.js";
import { fetchAccountUsage } from "../claude/usage-api.js";
import { runningSession } from "../claude/running-session.js";
import { transcriptPath } from "../claude/transcripts.js";
import type { ScreenVerdict } from "../claude/screen.js";
import type { Config } from "../config/schema.js";
import { poolSessionNames } from "../config/schema.js";
import { isShell, type AgentDriver } from "../dispatch/agent-driver.js";
import type { HookHub } from "../dispatch/hook-hub.js";
import type { AgentAccount } from "../dispatch/ports.js";
import type { TaskRecord } from "../dispatch/records.js";
import type { WorkLoop } from "../dispatch/work-loop.js";
import type { Clock } from "../lib/clock.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { PeriodicLoop } from "../lib/loop.js";
import type { Notifier } from "../notify/notifier.js";
import type { PoolManager } from "../pool/pool.js";
import { planResume, type ResumeSession } from "../quota/limit-menu.js";
import { QuotaMonitor, type QuotaDecision } from "../quota/monitor.js";
import { TranscriptWatch } from "../quota/transcript-watch.js";
import type { FailoverEvent } from "../state/events.js";
import type { StateStore } from "../state/store.js";
import type { Key, TmuxClient } from "../tmux/client.js";
import { SWAP_HISTORY, type DaemonState } from "./state.js";
import { accountOrFirst } from "./account-lookup.js";
import { bringBackDedicated } from "./dedicated.js";
import { agentEnv } from "./work-wiring.js";

export interface FailoverDeps {
  config: Config;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  log: Logger;
  store: StateStore<DaemonState>;
  tmux: TmuxClient;
  pool: PoolManager;
  work: WorkLoop;
  driver: AgentDriver;
  hooks: HookHub;
  notifier: Notifier;
  record: (event: FailoverEvent) => void;
  /** Wait this long past a reset before resuming (default 60 s; the e2e tier shortens it). */
  resumeGraceMs?: number;
}

/** Polls of quota.poll_interval between two reads of the OAuth usage endpoint. */
const USAGE_EVERY_POLLS = 6;

/**
 * Usage limits and failover (contract §6), wired: the ledger of accounts, the quota monitor fed by hooks
 * and screens, the switcher that swaps, and the loop that acts on decisions — swap, pause when every
 * account is out, resume at the reset by answering the limit menu and sending "continue".
 */
export class Failover {
  readonly ledger: AccountLedger;
  readonly monitor: QuotaMonitor;
  readonly switcher: AccountSwitcher;
  private readonly loop: PeriodicLoop;
  private readonly pending: QuotaDecision[] = [];
  private resuming = false;
  private polls = 0;
  private unsubscribe: (() => void) | undefined;
  private readonly dedicatedCwd = new Map<string, string>();
  private readonly transcripts = new TranscriptWatch();
  /** Transcript reads under way, by agent (claude session id). */
  private readonly reading = new Map<string, Promise<void>>();

  constructor(private readonly d: FailoverDeps) {
    const { config, store, clock, log } = d;
    const s = store.get();
    this.ledger = new AccountLedger({
      accounts: config.accounts, active: s.active_account, clock, snapshot: s.accounts, usageThreshold: config.quota.usage_threshold,
      onChange: (snapshot) => void store.update((x) => void (x.accounts = snapshot)),
    });
    this.monitor = new QuotaMonitor({
      ledger: this.ledger, clock, log: log.child({ component: "quota" }),
      settings: {
        confirmPolls: config.quota.confirm_polls, reactivateCooldownMs: config.quota.reactivate_cooldown, usageThreshold: config.quota.usage_threshold,
        // The ledger holds an account until its reset (end of the shown minute, or exact) plus this grace.
        reset: { graceMs: d.resumeGraceMs ?? 60_000 },
      },
      record: (r) => d.record({ ...r, type: r.type }),
      lastSwapAt: () => {
        const at = store.get().last_swap?.at;
        return at ? Date.parse(at) : null;
      },
    });
    this.switcher = new AccountSwitcher({
      accounts: config.accounts, link: config.claude.link, clock, log: log.child({ component: "switcher" }),
      sessions: {
        capture: async () => ({
          poolTasks: d.work.records().filter((r) => r.phase === "working"),
          dedicated: await Promise.all(config.pool.dedicated.map(async (x) => ({ session: x.name, uuid: await this.dedicatedSessionId(x.name) }))),
        }),
        killPoolSessions: async () => {
          for (const name of poolSessionNames(config.pool.autonomous)) await d.tmux.killSession(name);
        },
        recreatePool: async () => void (await d.pool.reconcile()),
        relaunchDedicated: (session, home, uuid) => this.relaunchDedicated(session, home, uuid),
        resumePoolTask: async (session, record, home) => {
          await d.work.resumeOn(record, this.accountByHome(home));
          this.monitor.noteResumed(session, record.claude_session_id);
        },
      },
      links: {
        flipLink,
        ensureLinks: async (home) => (await ensureSharedLinks(home, config.claude.shared_root)).problems,
      },
      accountsState: {
        active: () => this.ledger.active(),
        nextAccount: () => this.ledger.nextAccount(),
        isBroken: (n) => this.ledger.isBroken(n),
        setActive: (n) => {
          this.ledger.setActive(n);
          store.update((x) => void (x.active_account = n));
        },
        recordSwap: (swap) =>
          void store.update((x) => {
            x.last_swap = { from: swap.from, to: swap.to, at: new Date(swap.at).toISOString(), reason: swap.reason };
            x.swaps = [x.last_swap, ...x.swaps].slice(0, SWAP_HISTORY);
          }),
      },
      persist: async (journal) => {
        store.update((x) => void (x.swap_journal = journal));
        await store.flush();
      },
      notify: (n) => {
        const text = n.kind === "swap-done" ? `swapped ${n.from} → ${n.to}: ${n.reason}` : `${n.kind} ${n.from} → ${n.to}: ${n.error}${n.problems.length ? ` (${n.problems.join("; ")})` : ""}`;
        void d.notifier.notify({ kind: n.kind, key: `${n.from}>${n.to}`, text });
      },
    });
    this.loop = new PeriodicLoop({ name: "quota", intervalMs: config.quota.poll_interval, clock, log: log.child({ component: "quota" }), tick: (signal) => this.tick(signal) });
  }

  /** Finishes or undoes a swap a crash cut short, then starts listening and polling. */
  async start(): Promise<void> {
    const journal = this.d.store.get().swap_journal;
    if (journal && journal.step !== "done" && journal.step !== "failed") {
      this.d.log.warn({ swap: journal.id, step: journal.step }, "a swap was cut short by a restart: recovering it");
      const r = await this.switcher.recover(journal);
      this.d.log.info({ outcome: r.outcome }, "swap recovered");
    }
    this.unsubscribe = this.d.hooks.subscribe((e) => this.onHook(e));
    this.loop.start();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.loop.stop();
    await this.settled();
  }

  /** The account new work starts on; undefined pauses dispatch (every account out, a swap running, partial swap). */
  activeAccount(): string | undefined {
    if (this.switcher.state !== "idle" || this.ledger.allExhausted() || this.monitor.waitingForReset) return undefined;
    return this.ledger.active() ?? undefined;
  }

  health(): { ok: true } | { ok: false; reason: string } {
    const p = this.switcher.partialSwap;
    return p ? { ok: false, reason: `partial-swap since ${new Date(p.since).toISOString()}: ${p.detail}` } : { ok: true };
  }

  view(): AccountView[] {
    return this.ledger.view();
  }

  /** A screen of a working task's session (from the work loop's supervision). */
  observeScreen(record: TaskRecord, verdict: ScreenVerdict): void {
    this.enqueue(this.monitor.observeScreen(verdict, record.session, record.account, record.claude_session_id));
    // U3's second source, the transcript's synthetic error line: read when a turn may have ended (not
    // while the agent is busy), and only when the file changed since it was last read.
    // One read per agent at a time: a poll while the last one is under way adds none.
    const agent = record.claude_session_id;
    if (verdict.state !== "busy" && !this.reading.has(agent)) {
      const read = this.readTranscriptErrors(record)
        .catch((err: unknown) => this.d.log.debug({ task: `${record.project}/${record.id}`, err: describeError(err) }, "transcript not read"))
        .finally(() => this.reading.delete(agent));
      this.reading.set(agent, read);
    }
  }

  /** Resolves once the transcript reads under way are done (stop waits for them; so do tests). */
  async settled(): Promise<void> {
    while (this.reading.size > 0) await Promise.all([...this.reading.values()]);
  }

  private async readTranscriptErrors(record: TaskRecord): Promise<void> {
    const home = this.d.config.accounts.find((a) => a.name === record.account)?.home;
    if (home === undefined) return;
    const lines = await this.transcripts.errorsIfChanged(transcriptPath(home, record.cwd, record.claude_session_id));
    const since = record.submitted_at ?? record.started_at;
    for (const line of lines ?? []) this.enqueue(this.monitor.observeTranscriptError(line, record.session, record.account, since, record.claude_session_id));
  }

  /** `claude-failover swap [ACCOUNT]` / POST /api/swap: the same machine as an automatic swap. */
  async manualSwap(to: string | undefined): Promise<SwapResult> {
    return this.runSwap({ ...(to ? { to } : {}), reason: "manual swap", trigger: "manual" });
  }

  private onHook(e: HookEvent): void {
    const r = this.d.work.records().find((x) => x.claude_session_id === e.sessionId);
    if (!r) return;
    this.enqueue(this.monitor.observeHook(e, r.session, r.account));
  }

  /** Whether the quota monitor holds this task's session at a usage limit (the swap or the reset is then this loop's to bring). */
  holdsLimit(record: TaskRecord): boolean {
    return this.monitor.holds(record.session, record.claude_session_id);
  }

  private enqueue(decisions: QuotaDecision[]): void {
    if (decisions.length === 0) return;
    this.pending.push(...decisions);
    this.loop.poke();
  }

  private async tick(signal: AbortSignal): Promise<void> {
    this.pending.push(...this.monitor.tick());
    if (this.d.config.quota.usage_api && this.polls++ % USAGE_EVERY_POLLS === 0) await this.pollUsage(signal);
    while (this.pending.length > 0) await this.act(this.pending.shift()!);
    if (this.resuming) await this.resumeStep();
  }

  private async act(d: QuotaDecision): Promise<void> {
    this.d.log.warn({ decision: d }, "quota decision");
    if (d.kind === "swap") {
      await this.runSwap({ to: d.to, reason: `${d.reason} (${d.source}: ${d.matchedText})`, trigger: "auto" }).catch(() => undefined);
    } else if (d.kind === "exhausted") {
      const at = d.resetsAt ? new Date(d.resetsAt).toISOString() : "unknown";
      void this.d.notifier.notify({ kind: "all-exhausted", text: `every account is at its usage limit; dispatch paused until the earliest reset (${at})` });
      this.resuming = true;
    } else {
      this.resuming = true;
    }
  }

  private async runSwap(req: { to?: string; reason: string; trigger: "auto" | "manual" }): Promise<SwapResult> {
    await this.d.work.pause("swap");
    try {
      // Tasks resumed on the new account are supervised again (their Stop hooks, their timeouts) while
      // dedicated sessions still come back; dispatch waits for the swap's end (activeAccount).
      const r = await this.switcher.swap({ ...req, onPoolBack: () => this.d.work.resume() });
      this.d.record({ type: "swap", outcome: r.outcome, from: r.journal.from, to: r.journal.to, reason: req.reason, resumed: r.resumed, relaunched: r.relaunched });
      if (req.trigger === "manual" && r.outcome === "done") this.ledger.markAvailable(r.journal.to);
      return r;
    } catch (err) {
      if (err instanceof SwapError && err.code === "SWAP_LINKS_BROKEN" && req.to) this.ledger.markBroken(req.to, "links-broken", err.problems.join("; "));
      this.d.log.error({ err: describeError(err), to: req.to }, "swap not done");
      throw err;
    } finally {
      this.d.work.resume();
    }
  }

  /** After every account was out: act on the resume plan each poll until work goes on. */
  private async resumeStep(): Promise<void> {
    const sessions: ResumeSession[] = [];
    // Interrupted: its agent met the limit and did no new work since, whatever its screen shows now.
    const open = this.monitor.interrupted();
    for (const r of this.d.work.records().filter((x) => x.phase === "working")) {
      const verdict = await this.d.driver.screen(r.session).catch(() => undefined);
      const hit = open.some((x) => x.session === r.session && (x.agent === null || x.agent === r.claude_session_id));
      // Pool agents run with Claude Code's own auto-continue off (the daemon's settings file): the daemon continues them.
      if (verdict) sessions.push({ session: r.session, kind: "pool", verdict, account: r.account, interrupted: hit || verdict.state === "limit", selfContinues: false });
    }
    // The ledger's reset already carries the grace.
    const plan = planResume({ ledger: this.ledger, sessions });
    if (plan.mode === "wait") return;
    if (plan.mode === "swap" && plan.account) {
      this.resuming = false;
      await this.runSwap({ to: plan.account, reason: `${plan.account} is available again`, trigger: "auto" }).catch(() => undefined);
      return;
    }
    for (const a of plan.actions) {
      const record = this.d.work.records().find((r) => r.session === a.session);
      try {
        // Never a bare Enter on the limit menu: the key is the option's number as shown (U5).
        if (a.do === "press") await this.d.tmux.sendKey(a.session, a.key as Key);
        else if (a.do === "continue" && record) {
          await this.d.work.continueTask(record);
          // A limit met by this continuation is a new hit (the wall again), not the old episode.
          this.monitor.noteSubmitted(record.session, record.claude_session_id);
        }
      } catch (err) {
        this.d.log.warn({ session: a.session, action: a.do, err: describeError(err) }, "resume action failed");
      }
    }
    if (plan.actions.every((a) => a.do !== "press")) {
      this.resuming = false;
      this.d.record({ type: "resumed", account: plan.account });
      void this.d.notifier.notify({ kind: "resumed", text: `usage limit reset: work resumed on ${plan.account ?? "?"}` });
      this.d.work.resume();
    }
  }

  private async pollUsage(signal: AbortSignal): Promise<void> {
    for (const a of this.d.config.accounts) {
      try {
        const usage = await fetchAccountUsage({ home: a.home, url: this.d.config.quota.usage_api_url, signal, timeoutMs: 5000, clock: this.d.clock });
        this.enqueue(this.monitor.observeUsage(a.name, usage));
      } catch (err) {
        this.d.log.debug({ account: a.name, err: describeError(err) }, "usage not read");
      }
    }
  }

  /** Brings a dedicated session's agent back on `home` under its id (null: nothing to bring back). */
  private async relaunchDedicated(session: string, home: string, uuid: string | null): Promise<void> {
    if (uuid === null) return;
    const { d } = this;
    const account = this.accountByHome(home);
    const cwd = this.dedicatedCwd.get(session) ?? d.config.pool.dedicated.find((x) => x.name === session)?.cwd ?? d.config.pool.autonomous.cwd;
    await bringBackDedicated({
      session, claudeSessionId: uuid, log: d.log,
      exit: () => d.driver.exit(session),
      launch: (command) => d.driver.launch(session, cwd, command),
      launchLine: (resume) => d.work.launchLine(account, uuid, cwd, resume),
      // Transcripts are shared: the target home sees the conversation the agent had on the other.
      hasTranscript: () => access(transcriptPath(home, cwd, uuid)).then(() => true, () => false),
      capture: () => d.tmux.capturePane(session),
    });
    this.monitor.noteResumed(session, uuid);
  }

  /**
   * The claude session id of the agent in a dedicated session, from Claude Code's own
   * `<config dir>/sessions/<pid>.json`; null when no agent runs there or its id cannot be read: the
   * session is then left as it is, never relaunched blind (0.3.0).
   */
  private async dedicatedSessionId(session: string): Promise<string | null> {
    try {
      const pane = await this.d.tmux.paneInfo(session);
      const found = await runningSession(pane.pid, [this.d.config.claude.link, ...this.d.config.accounts.map((a) => a.home)]);
      // --resume only finds the transcript from the same cwd: remember where the agent ran.
      if (found?.cwd) this.dedicatedCwd.set(session, found.cwd);
      if (!found && !isShell(pane.currentCommand)) {
        this.d.log.warn({ session, command: pane.currentCommand }, "no claude session id found for what runs in this dedicated session: it is left as it is, on its account");
      }
      return found?.sessionId ?? null;
    } catch (err) {
      this.d.log.warn({ session, err: describeError(err) }, "dedicated session not inspected: it is left as it is");
      return null;
    }
  }

  private accountByHome(home: string): AgentAccount {
    const a = accountOrFirst(this.d.config.accounts, { home }, this.d.log, "resume on an account");
    return { name: a.name, home: a.home, env: agentEnv(this.d.config, a, this.d.env) };
  }
}
