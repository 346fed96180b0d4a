import { access } from "node:fs/promises";
import { ensureSharedLinks, flipLink } from "../accounts/shared-links.js";
import type { SwapLinksPort } from "../accounts/switcher.js";
import { runningSession } from "../claude/running-session.js";
import { locateTranscript } from "../claude/transcripts.js";
import { fetchAccountUsage } from "../claude/usage-api.js";
import type { Config } from "../config/schema.js";
import { poolSessionNames } from "../config/schema.js";
import type { AgentDriver } from "../dispatch/agent-driver.js";
import type { TaskLedger } from "../dispatch/records.js";
import type { WorkLoop } from "../dispatch/work-loop.js";
import { Failover } from "../failover/failover.js";
import type { AccountsPort, AgentPort, HookSource, NotifierPort, PoolPort, RecordEvent, SwapStatePort } from "../failover/ports.js";
import { LimitWatch } from "../failover/watch.js";
import type { Clock } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import type { PoolManager } from "../pool/pool.js";
import type { StateStore } from "../state/store.js";
import type { TmuxClient } from "../tmux/client.js";
import { accountOrFirst } from "./account-lookup.js";
import { SWAP_HISTORY, type DaemonState } from "./state.js";
import { agentAccount } from "./work-wiring.js";

/** The failover's part of state.json. */
export function swapStateOf(store: StateStore<DaemonState>): SwapStatePort {
  return {
    activeAccount: () => store.get().active_account,
    setActiveAccount: (name) => void store.update((x) => void (x.active_account = name)),
    accounts: () => store.get().accounts,
    saveAccounts: (snapshot) => void store.update((x) => void (x.accounts = snapshot)),
    lastSwapAt: () => {
      const at = store.get().last_swap?.at;
      return at ? Date.parse(at) : null;
    },
    recordSwap: (swap) =>
      void store.update((x) => {
        x.last_swap = { from: swap.from, to: swap.to, at: new Date(swap.at).toISOString(), reason: swap.reason };
        x.swaps = [x.last_swap, ...x.swaps].slice(0, SWAP_HISTORY);
      }),
    journal: () => store.get().swap_journal,
    persistJournal: async (journal) => {
      store.update((x) => void (x.swap_journal = journal));
      await store.flush();
    },
  };
}

export interface WatchWiring {
  config: Config;
  clock: Clock;
  log: Logger;
  store: StateStore<DaemonState>;
  /** The tasks in flight, as state.json holds them (the work loop's ledger). */
  tasks: TaskLedger;
  hooks: HookSource;
  record: RecordEvent;
  resumeGraceMs?: number;
}

/** The failover's watching half: built before the work loop, whose supervision reports sightings to it. */
export function buildLimitWatch(w: WatchWiring): LimitWatch {
  const { config } = w;
  return new LimitWatch({
    settings: {
      accounts: config.accounts, confirmPolls: config.quota.confirm_polls, reactivateCooldownMs: config.quota.reactivate_cooldown,
      usageThreshold: config.quota.usage_threshold, ...(w.resumeGraceMs !== undefined ? { resumeGraceMs: w.resumeGraceMs } : {}),
    },
    clock: w.clock, log: w.log, state: swapStateOf(w.store), records: () => w.tasks.records(), hooks: w.hooks, record: w.record,
    ...(config.quota.usage_api
      ? { usage: (home: string, signal: AbortSignal) => fetchAccountUsage({ home, url: config.quota.usage_api_url, signal, timeoutMs: 5000, clock: w.clock }) }
      : {}),
  });
}

export interface FailoverWiring {
  config: Config;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  log: Logger;
  store: StateStore<DaemonState>;
  tmux: TmuxClient;
  pool: PoolManager;
  work: WorkLoop;
  driver: AgentDriver;
  watch: LimitWatch;
  notifier: NotifierPort;
  record: RecordEvent;
}

/** The failover's acting half, over the work loop it commands (built after it). */
export function buildFailover(w: FailoverWiring): Failover {
  const { config, tmux, driver, work, log } = w;
  const accounts: AccountsPort = {
    list: config.accounts,
    byHome: (home) => {
      return agentAccount(config, accountOrFirst(config.accounts, { home }, log, "resume on an account"), w.env);
    },
  };
  const agent: AgentPort = {
    screen: (session) => driver.screen(session),
    exit: (session) => driver.exit(session),
    launch: (session, cwd, command) => driver.launch(session, cwd, command),
    launchLine: (account, id, cwd, resume) => work.launchLine(account, id, cwd, resume),
    runningSession: (pid) => runningSession(pid, [config.claude.link, ...config.accounts.map((a) => a.home)]),
    hasTranscript: async (home, cwd, id) => access(await locateTranscript(home, cwd, id)).then(() => true, () => false),
  };
  const pool: PoolPort = {
    killPoolSessions: async () => {
      for (const name of poolSessionNames(config.pool.autonomous)) await tmux.killSession(name);
    },
    recreatePool: async () => void (await w.pool.reconcile()),
  };
  const links: SwapLinksPort = {
    flipLink,
    ensureLinks: async (home) => (await ensureSharedLinks(home, config.claude.shared_root)).problems,
  };
  return new Failover({
    settings: { link: config.claude.link, pollIntervalMs: config.quota.poll_interval, dedicated: config.pool.dedicated, poolCwd: config.pool.autonomous.cwd },
    clock: w.clock, log, watch: w.watch, agent, pool, links, accounts, notifier: w.notifier, record: w.record, state: swapStateOf(w.store),
    work: {
      records: () => work.records(),
      pause: (reason) => work.pause(reason),
      resume: () => work.resume(),
      poke: () => work.poke(),
      resumeOn: (record, account) => work.resumeOn(record, account),
      continueTask: (record) => work.continueTask(record),
    },
    panes: {
      sendKey: (session, key) => tmux.sendKey(session, key),
      capturePane: (session) => tmux.capturePane(session),
      paneInfo: (session) => tmux.paneInfo(session),
    },
  });
}
