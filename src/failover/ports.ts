/**
 * What the failover needs from the rest of the daemon, as narrow ports: `daemon/failover-wiring.ts` adapts the
 * work loop, the agent driver, the pool, tmux and state.json to them, and tests fake them.
 */
import type { LedgerSnapshot } from "../accounts/ledger.js";
import type { SwapJournal } from "../accounts/switcher.js";
import type { HookEvent } from "../claude/hooks.js";
import type { LaunchCommand } from "../claude/launch.js";
import type { ScreenVerdict } from "../claude/screen.js";
import type { AccountUsage } from "../claude/usage-api.js";
import type { AgentAccount } from "../dispatch/ports.js";
import type { TaskRecord } from "../dispatch/records.js";
import type { Notification } from "../notify/notifier.js";
import type { Key, PaneInfo } from "../tmux/client.js";

export type { FailoverEvent } from "../state/events.js";
import type { FailoverEvent } from "../state/events.js";
export type RecordEvent = (event: FailoverEvent) => void;

/** The work loop as the failover commands it: the one way the failover reaches dispatch and supervision. */
export interface WorkControlPort {
  /** The tasks in flight. */
  records(): TaskRecord[];
  /** Stops the loop's passes; resolves once the pass under way has ended. */
  pause(reason: string): Promise<void>;
  /** Ends pause() (only the swap that paused the loop calls it). */
  resume(): void;
  /** Runs a pass now (an account is back: dispatch may go on). */
  poke(): void;
  /** Relaunches a task's agent with `--resume` on `account` and sends "continue" (same attempt). */
  resumeOn(record: TaskRecord, account: AgentAccount): Promise<void>;
  /** Sends "continue" to a task's agent, at its prompt again after a usage-limit reset. */
  continueTask(record: TaskRecord): Promise<void>;
}

/** Claude Code agents in their sessions, as the failover drives and inspects them. */
export interface AgentPort {
  screen(session: string): Promise<ScreenVerdict>;
  exit(session: string): Promise<void>;
  /** Starts the agent and resolves once it is at its prompt. */
  launch(session: string, cwd: string, command: LaunchCommand): Promise<void>;
  /** The launch line the work loop would use: `--resume <id>` when `resume`, else `--session-id <id>`. */
  launchLine(account: AgentAccount, claudeSessionId: string, cwd: string, resume: boolean): Promise<LaunchCommand>;
  /** The agent under the pane's process `pid` (Claude Code's `sessions/<pid>.json`); null when none is found. */
  runningSession(pid: number): Promise<{ sessionId: string; cwd: string | null } | null>;
  /** Whether `home` holds a transcript of that conversation (transcripts are shared between homes). */
  hasTranscript(home: string, cwd: string, claudeSessionId: string): Promise<boolean>;
}

/** The pool's range of sessions (S1): what a swap kills and brings back. */
export interface PoolPort {
  killPoolSessions(): Promise<void>;
  recreatePool(): Promise<void>;
}

/** The few tmux calls the failover makes itself. */
export interface PanePort {
  sendKey(session: string, key: Key): Promise<void>;
  capturePane(session: string): Promise<string>;
  paneInfo(session: string): Promise<PaneInfo>;
}

/** What of state.json the failover reads and writes. */
export interface SwapStatePort {
  activeAccount(): string | null;
  setActiveAccount(name: string): void;
  /** The account ledger as last saved. */
  accounts(): LedgerSnapshot;
  saveAccounts(snapshot: LedgerSnapshot): void;
  lastSwapAt(): number | null;
  recordSwap(swap: { from: string; to: string; at: number; reason: string }): void;
  /** The last (or running) swap's journal. */
  journal(): SwapJournal | null;
  /** Resolves once the journal is durable. */
  persistJournal(journal: SwapJournal): Promise<void>;
}

export interface NotifierPort {
  notify(n: Notification): Promise<unknown>;
}

/** Where hook events come from (the HookHub). */
export interface HookSource {
  subscribe(listener: (e: HookEvent) => void): () => void;
}

/** An account's OAuth usage (`quota.usage_api`). */
export type UsageReader = (home: string, signal: AbortSignal) => Promise<AccountUsage>;

/** The failover's view of the configured accounts. */
export interface AccountsPort {
  /** Config order = failover order. */
  list: readonly { name: string; home: string }[];
  /** The account whose home is `home`, as its agents are launched (an unknown home: the first account). */
  byHome(home: string): AgentAccount;
}
