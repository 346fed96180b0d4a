import { AccountLedger } from "../accounts/ledger.js";
import type { HookEvent } from "../claude/hooks.js";
import type { ScreenVerdict } from "../claude/screen.js";
import { locateTranscript } from "../claude/transcripts.js";
import type { TaskRecord } from "../dispatch/records.js";
import type { Clock } from "../lib/clock.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { QuotaMonitor, type QuotaDecision } from "../quota/monitor.js";
import { TranscriptWatch } from "../quota/transcript-watch.js";
import type { HookSource, RecordEvent, SwapStatePort, UsageReader } from "./ports.js";

/**
 * A held task whose account has been usable this long without its continuation is held no more: supervision times
 * it again (its timeout, the stall clock), so no path the resume missed leaves it in active/ for good.
 */
export const HELD_AFTER_BACK_MS = 10 * 60_000;

/** Polls of quota.poll_interval between two reads of the OAuth usage endpoint. */
const USAGE_EVERY_POLLS = 6;

export interface LimitWatchSettings {
  /** Config order = failover order. */
  accounts: readonly { name: string; home: string }[];
  confirmPolls: number;
  reactivateCooldownMs: number;
  usageThreshold: number;
  /** Wait this long past a reset before an account counts as back (default 60 s; the e2e tier shortens it). */
  resumeGraceMs?: number;
}

export interface LimitWatchDeps {
  settings: LimitWatchSettings;
  clock: Clock;
  log: Logger;
  state: Pick<SwapStatePort, "activeAccount" | "accounts" | "saveAccounts" | "lastSwapAt">;
  /** The tasks in flight (a hook event is matched to its task by the agent's id). */
  records(): TaskRecord[];
  hooks: HookSource;
  record: RecordEvent;
  /** Set with `quota.usage_api`: each account's usage is read every sixth poll. */
  usage?: UsageReader;
}

/**
 * The watching half of the failover (U1–U3): the account ledger and the quota monitor, fed by supervised screens,
 * hook events, transcripts' error lines and usage readings. Built before the work loop, whose supervision reports
 * each screen here and asks `holds`; the decisions wait here for the `Failover` to act on. It hears hook events
 * from its construction, which the daemon does as soon as state.json is open.
 */
export class LimitWatch {
  readonly ledger: AccountLedger;
  readonly monitor: QuotaMonitor;
  private readonly pending: QuotaDecision[] = [];
  private readonly listeners: (() => void)[] = [];
  private polls = 0;
  private readonly unsubscribe: () => void;
  private readonly transcripts = new TranscriptWatch();
  /** Transcript reads under way, by agent (claude session id). */
  private readonly reading = new Map<string, Promise<void>>();
  /** Accounts a task named that are not configured, each logged once. */
  private readonly unknownAccounts = new Set<string>();
  /** Held tasks whose account is usable again: since when, by agent (claude session id). */
  private readonly usableSince = new Map<string, number>();
  /** Agents whose hold lapsed (logged once each). */
  private readonly lapsed = new Set<string>();

  constructor(private readonly d: LimitWatchDeps) {
    const { settings, state, clock, log } = d;
    this.ledger = new AccountLedger({
      accounts: settings.accounts, active: state.activeAccount(), clock, snapshot: state.accounts(), usageThreshold: settings.usageThreshold,
      onChange: (snapshot) => state.saveAccounts(snapshot),
    });
    this.monitor = new QuotaMonitor({
      ledger: this.ledger, clock, log: log.child({ component: "quota" }),
      settings: {
        confirmPolls: settings.confirmPolls, reactivateCooldownMs: settings.reactivateCooldownMs, usageThreshold: settings.usageThreshold,
        // The ledger holds an account until its reset (end of the shown minute, or exact) plus this grace.
        reset: settings.resumeGraceMs === undefined ? {} : { graceMs: settings.resumeGraceMs },
      },
      record: (r) => d.record(r),
      lastSwapAt: () => state.lastSwapAt(),
    });
    // From construction on: the hook source replays nothing to a late listener, and a StopFailure drained from the
    // spool or posted while the daemon still starts is as much a sighting as a later one.
    this.unsubscribe = d.hooks.subscribe((e) => this.onHook(e));
  }

  /** Stops listening to hook events. */
  stop(): void {
    this.unsubscribe();
  }

  /** Called whenever a decision is queued from a sighting (the failover wakes its loop). */
  onDecision(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** The next decision to act on, oldest first. */
  nextDecision(): QuotaDecision | undefined {
    return this.pending.shift();
  }

  /** One quota poll: what time alone decides (a reset passed, a suspect confirmed), then the usage reading when due. */
  async poll(signal: AbortSignal): Promise<void> {
    const live = new Set(this.d.records().map((r) => r.claude_session_id));
    for (const agent of [...this.usableSince.keys(), ...this.lapsed]) {
      if (!live.has(agent)) {
        this.usableSince.delete(agent);
        this.lapsed.delete(agent);
      }
    }
    this.pending.push(...this.monitor.tick());
    if (this.d.usage && this.polls++ % USAGE_EVERY_POLLS === 0) await this.pollUsage(this.d.usage, signal);
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

  /**
   * Whether the quota monitor holds this task's session at a usage limit (the swap or the reset is then the
   * failover's to bring) — until its account has been usable for HELD_AFTER_BACK_MS (logged once).
   */
  holdsLimit(record: TaskRecord): boolean {
    const agent = record.claude_session_id;
    const held = this.monitor.holds(record.session, agent);
    if (!held || (this.ledger.has(record.account) && this.ledger.status(record.account) === "exhausted")) {
      this.usableSince.delete(agent);
      return held;
    }
    const now = this.d.clock.now();
    const since = this.usableSince.get(agent);
    if (since === undefined) this.usableSince.set(agent, now);
    if (since === undefined || now - since < HELD_AFTER_BACK_MS) return true;
    if (!this.lapsed.has(agent)) {
      this.lapsed.add(agent);
      this.d.log.warn(
        { task: `${record.project}/${record.id}`, session: record.session, account: record.account },
        "held at a usage limit, but its account has been usable for 10 min and no continuation came: timed again like any task",
      );
    }
    return false;
  }


  /** Resolves once the transcript reads under way are done (stop waits for them; so do tests). */
  async settled(): Promise<void> {
    while (this.reading.size > 0) await Promise.all([...this.reading.values()]);
  }

  private async readTranscriptErrors(record: TaskRecord): Promise<void> {
    const home = this.d.settings.accounts.find((a) => a.name === record.account)?.home;
    if (home === undefined) {
      if (!this.unknownAccounts.has(record.account)) {
        this.unknownAccounts.add(record.account);
        this.d.log.warn({ task: `${record.project}/${record.id}`, account: record.account }, "a task's account is not configured: its transcript is not read for usage limits");
      }
      return;
    }
    const lines = await this.transcripts.errorsIfChanged(await locateTranscript(home, record.cwd, record.claude_session_id));
    const since = record.submitted_at ?? record.started_at;
    for (const line of lines ?? []) this.enqueue(this.monitor.observeTranscriptError(line, record.session, record.account, since, record.claude_session_id));
  }

  private onHook(e: HookEvent): void {
    const r = this.d.records().find((x) => x.claude_session_id === e.sessionId);
    if (!r) return;
    this.enqueue(this.monitor.observeHook(e, r.session, r.account));
  }

  private enqueue(decisions: QuotaDecision[]): void {
    if (decisions.length === 0) return;
    this.pending.push(...decisions);
    for (const l of this.listeners) l();
  }

  private async pollUsage(read: UsageReader, signal: AbortSignal): Promise<void> {
    for (const a of this.d.settings.accounts) {
      try {
        this.enqueue(this.monitor.observeUsage(a.name, await read(a.home, signal)));
      } catch (err) {
        this.d.log.debug({ account: a.name, err: describeError(err) }, "usage not read");
      }
    }
  }
}
