/**
 * Test support for the failover: the watch and the failover over fakes of every port, each call logged in order
 * ("pause:swap", "kill-pool", "flip:b", "resume-on:t1@b" …), state.json in memory, a real ledger and monitor.
 */
import type { LedgerSnapshot } from "../accounts/ledger.js";
import type { LinkProblem } from "../accounts/shared-links.js";
import type { SwapJournal } from "../accounts/switcher.js";
import type { HookEvent } from "../claude/hooks.js";
import type { LaunchCommand } from "../claude/launch.js";
import type { ScreenVerdict } from "../claude/screen.js";
import type { TaskRecord } from "../dispatch/records.js";
import { FakeClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import type { Notification } from "../notify/notifier.js";
import type { PaneInfo } from "../tmux/client.js";
import { Failover } from "./failover.js";
import type { FailoverEvent, SwapStatePort } from "./ports.js";
import { LimitWatch, type LimitWatchSettings } from "./watch.js";

/** state.json's failover part, in memory. */
export class FakeSwapState implements SwapStatePort {
  active: string | null;
  snapshot: LedgerSnapshot = { accounts: {} };
  swaps: { from: string; to: string; at: number; reason: string }[] = [];
  saved: SwapJournal | null = null;

  constructor(active: string | null) {
    this.active = active;
  }

  activeAccount = (): string | null => this.active;
  setActiveAccount = (name: string): void => void (this.active = name);
  accounts = (): LedgerSnapshot => this.snapshot;
  saveAccounts = (snapshot: LedgerSnapshot): void => void (this.snapshot = snapshot);
  lastSwapAt = (): number | null => this.swaps[0]?.at ?? null;
  recordSwap = (swap: { from: string; to: string; at: number; reason: string }): void => void this.swaps.unshift(swap);
  journal = (): SwapJournal | null => this.saved;
  persistJournal = async (journal: SwapJournal): Promise<void> => void (this.saved = structuredClone(journal));
}

/** Hook events on demand. */
export class FakeHooks {
  private readonly listeners = new Set<(e: HookEvent) => void>();
  subscribe(listener: (e: HookEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
  emit(e: HookEvent): void {
    for (const l of this.listeners) l(e);
  }
}

export const AGENT_1 = "7c2f4a1e-3b5d-4e6f-8a9b-0c1d2e3f4a5b";
export const AGENT_2 = "1c7a9b63-6a5f-4b54-8b64-8e8e2d2c3f12";

export function working(session: string, id: string, agent: string, extra: Partial<TaskRecord> = {}): TaskRecord {
  return {
    project: "p", id, session, account: "a", claude_session_id: agent, attempt: 1, phase: "working", cwd: "/srv/p",
    started_at: 0, submitted_at: 0, timeout_ms: 3_600_000, screen_changed_at: 0, screen_hash: "", idle_polls: 0, ...extra,
  };
}

export interface WorldOptions {
  now: number;
  /** Accounts in failover order; the first is active. Default a, b. */
  accounts?: string[];
  tasks?: TaskRecord[];
  /** pool.dedicated. */
  dedicated?: { name: string; cwd: string }[];
  /** The target home's shared-link problems (a swap to it rolls back). */
  linkProblems?: (home: string) => LinkProblem[];
  /** Each session's screen, asked at every resume step (undefined: the session cannot be read). */
  screens?: Map<string, ScreenVerdict>;
  /** tmux pane info and the agent running there, by session. */
  panes?: Map<string, { pane: PaneInfo; agent: { sessionId: string; cwd: string | null } | null }>;
  /** Transcripts that exist, as "home|cwd|id". */
  transcripts?: Set<string>;
  settings?: Partial<LimitWatchSettings>;
  /** A swap already recorded at this instant (it starts the reactivate cooldown). */
  lastSwapAt?: number;
  /** Homes the claude link cannot be flipped to (a swap whose rollback fails too ends partial). */
  flipFails?: (home: string) => boolean;
  /** Awaited once the pool is killed (a test holds a swap half-way with it). */
  afterKill?: () => Promise<void>;
}

export function homeOf(account: string): string {
  return `/h/${account}`;
}

/** A watch and a failover over fakes; `calls` logs every command in order. */
export function makeWorld(o: WorldOptions) {
  const names = o.accounts ?? ["a", "b"];
  const accounts = names.map((name) => ({ name, home: homeOf(name) }));
  const clock = new FakeClock(o.now);
  const log = silentLogger();
  const calls: string[] = [];
  const events: FailoverEvent[] = [];
  const notes: Notification[] = [];
  const tasks = [...(o.tasks ?? [])];
  const state = new FakeSwapState(names[0]!);
  if (o.lastSwapAt !== undefined) state.recordSwap({ from: names[1] ?? names[0]!, to: names[0]!, at: o.lastSwapAt, reason: "earlier" });
  const hooks = new FakeHooks();
  const screens = o.screens ?? new Map<string, ScreenVerdict>();
  /** Task ids whose "continue" throws. */
  const failContinue = new Set<string>();
  const watch = new LimitWatch({
    settings: { accounts, confirmPolls: 2, reactivateCooldownMs: 300_000, usageThreshold: 98, resumeGraceMs: 60_000, ...o.settings },
    clock, log, state, records: () => tasks, hooks, record: (e) => void events.push(e),
  });
  const byHome = (home: string) => {
    const a = accounts.find((x) => x.home === home) ?? accounts[0]!;
    return { name: a.name, home: a.home, env: {} };
  };
  const failover = new Failover({
    settings: { link: "/h/.claude", pollIntervalMs: 5000, dedicated: o.dedicated ?? [], poolCwd: "/srv/pool" },
    clock, log, watch, state, record: (e) => void events.push(e),
    notifier: { notify: async (n) => void notes.push(n) },
    accounts: { list: accounts, byHome },
    work: {
      records: () => tasks,
      pause: async (reason) => void calls.push(`pause:${reason}`),
      resume: () => void calls.push("resume"),
      poke: () => void calls.push("poke"),
      resumeOn: async (record, account) => {
        calls.push(`resume-on:${record.id}@${account.name}`);
        const i = tasks.findIndex((t) => t.id === record.id);
        if (i >= 0) tasks[i] = { ...record, account: account.name };
      },
      continueTask: async (record) => {
        if (failContinue.has(record.id)) {
          calls.push(`continue-failed:${record.id}`);
          throw new Error("the prompt did not leave the input box");
        }
        calls.push(`continue:${record.id}`);
      },
    },
    agent: {
      screen: async (session) => {
        const v = screens.get(session);
        if (v === undefined) throw new Error(`no screen for ${session}`);
        return v;
      },
      exit: async (session) => void calls.push(`exit:${session}`),
      launch: async (session, cwd, command) => void calls.push(`launch:${session}:${cwd}:${command.argv.join(" ")}`),
      launchLine: async (account, id, _cwd, resume): Promise<LaunchCommand> => ({ argv: [`CLAUDE_CONFIG_DIR=${account.home}`, "claude", resume ? "--resume" : "--session-id", id], env: {} }),
      runningSession: async (pid) => [...(o.panes?.values() ?? [])].find((p) => p.pane.pid === pid)?.agent ?? null,
      hasTranscript: async (home, cwd, id) => o.transcripts?.has(`${home}|${cwd}|${id}`) ?? false,
    },
    pool: {
      killPoolSessions: async () => {
        calls.push("kill-pool");
        await o.afterKill?.();
      },
      recreatePool: async () => void calls.push("recreate-pool"),
    },
    panes: {
      sendKey: async (session, key) => void calls.push(`key:${session}:${key}`),
      capturePane: async () => "",
      paneInfo: async (session) => {
        const p = o.panes?.get(session);
        if (!p) throw new Error(`no pane ${session}`);
        return p.pane;
      },
    },
    links: {
      flipLink: async (_link, home) => {
        calls.push(`flip:${byHome(home).name}`);
        if (o.flipFails?.(home)) throw new Error(`cannot flip to ${home}`);
        return null;
      },
      ensureLinks: async (home) => o.linkProblems?.(home) ?? [],
    },
  });
  const signal = new AbortController().signal;
  return {
    clock, calls, events, notes, tasks, state, hooks, screens, failContinue, watch, failover,
    /** One quota poll, with the transcript reads it started settled. */
    tick: async () => {
      await failover.tick(signal);
      await watch.settled();
    },
    eventTypes: () => events.filter((e) => e.type !== "quota_decision").map((e) => e.type),
  };
}
