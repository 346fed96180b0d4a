import { buildLaunchCommand, prepareAccountHome, type LaunchCommand } from "../claude/launch.js";
import { LaunchEnvFiles } from "../claude/launch-env.js";
import { classifyScreen } from "../claude/screen.js";
import type { AccountConfig, Config } from "../config/schema.js";
import { AgentDriver } from "../dispatch/agent-driver.js";
import type { HookHub } from "../dispatch/hook-hub.js";
import type { AccountPort, AgentAccount, LimitPort, SessionPort, WorktreePort } from "../dispatch/ports.js";
import type { TaskLedger } from "../dispatch/records.js";
import { WorkLoop } from "../dispatch/work-loop.js";
import type { TaskFault } from "../dispatch/faults.js";
import type { Clock } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import type { PoolManager } from "../pool/pool.js";
import type { SessionRegistry } from "../pool/registry.js";
import { TaskQueue } from "../queue/queue.js";
import type { TaskEvent } from "../state/events.js";
import type { TmuxClient } from "../tmux/client.js";
import { queuePort } from "./queue-port.js";
import { transcriptEvidence } from "./transcript-evidence.js";

export interface WorkWiring {
  config: Config;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  log: Logger;
  tmux: TmuxClient;
  registry: SessionRegistry;
  pool: PoolManager;
  hooks: HookHub;
  ledger: TaskLedger;
  /** The active account's name (the swap logic owns it); undefined pauses dispatch. */
  activeAccount: () => string | undefined;
  settingsFile: () => string;
  record: (event: TaskEvent) => void;
  limits?: LimitPort;
  offer?: (project: string, id: string) => Promise<"delegated" | "local" | "held">;
  onFault?: (fault: TaskFault) => void;
  worktrees?: WorktreePort;
}

/** The environment an account's agents get: claude.env, then the account's env, then env_from resolved. */
export function agentEnv(config: Config, account: AccountConfig, env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = { ...config.claude.env, ...account.env };
  for (const [name, source] of Object.entries(account.env_from)) {
    const value = env[source];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** An account as its agents are launched: its name, its home and the environment `agentEnv` gives them. */
export function agentAccount(config: Config, account: AccountConfig, env: NodeJS.ProcessEnv): AgentAccount {
  return { name: account.name, home: account.home, env: agentEnv(config, account, env) };
}

/** Builds the queue and the work loop over the daemon's components. */
export function buildWorkLoop(w: WorkWiring): { queue: TaskQueue; loop: WorkLoop; driver: AgentDriver } {
  // One driver per daemon: the work loop and the failover logic drive sessions the same way.
  const { config } = w;
  const queue = new TaskQueue({ root: config.queue.root, projects: config.queue.projects, settleMs: config.queue.settle, clock: w.clock, log: w.log });
  const driver = new AgentDriver({
    tmux: w.tmux, clock: w.clock, log: w.log.child({ component: "agent" }),
    classify: (capture) => classifyScreen(capture, { now: w.clock.now() }), signals: w.hooks,
    envFiles: new LaunchEnvFiles(config.state_dir),
  });
  const accountByName = (name: string): AccountConfig | undefined => config.accounts.find((a) => a.name === name);
  const sessions: SessionPort = {
    freePoolSessions: () => {
      const held = new Set(w.pool.heldSessions());
      return w.registry.list("pool").filter((r) => r.state === "idle" && held.has(r.name)).map((r) => r.name);
    },
    canGrow: () => w.pool.heldSessions().length < config.pool.autonomous.max,
    grow: async () => {
      if (w.pool.grow() === undefined) return false;
      w.pool.poke();
      return true;
    },
    markBusy: (s, task, account) => w.registry.assign(s, task, account),
    markIdle: (s) => w.registry.release(s),
    retire: async (s) => {
      const r = w.registry.get(s);
      // S1: only a pool session is ever killed. Marked missing first, so it is handed nothing until recreated.
      if (r?.kind !== "pool") return;
      w.registry.set(s, "pool", r.cwd, "missing");
      try {
        await w.tmux.killSession(s);
      } finally {
        w.pool.poke();
      }
    },
  };
  const accounts: AccountPort = {
    activeAccount: () => {
      const a = accountByName(w.activeAccount() ?? "");
      return a ? agentAccount(config, a, w.env) : undefined;
    },
  };
  const transcript = transcriptEvidence({ accounts: config.accounts, log: w.log.child({ component: "transcript" }) });
  const launchFor = async (account: AgentAccount, sessionId: string, cwd: string, resume = false): Promise<LaunchCommand> => {
    const apiKey = account.env.ANTHROPIC_API_KEY;
    await prepareAccountHome({ home: account.home, cwd, ...(apiKey ? { apiKey } : {}) });
    return buildLaunchCommand({
      command: config.claude.command, args: config.claude.args, home: account.home, sessionId,
      // The whole agent environment (tokens, keys) goes through a private file, never the typed line.
      settingsFile: w.settingsFile(), privateEnv: account.env, runningAsRoot: process.getuid?.() === 0, resume,
    });
  };
  // One wake-up at a time for files settling in the inbox; more bad files: the next pass at once.
  let recheckAt: number | undefined;
  const recheck = (inMs: number): void => {
    if (inMs <= 0) return loop.poke();
    const at = w.clock.now() + inMs;
    if (recheckAt !== undefined && recheckAt <= at) return;
    recheckAt = at;
    void w.clock.sleep(inMs).then(() => {
      if (recheckAt === at) recheckAt = undefined;
      loop.poke();
    });
  };
  const loop: WorkLoop = new WorkLoop({
    queue: queuePort(queue, Object.keys(config.queue.projects), w.log.child({ component: "queue" }), { recheck }),
    sessions, accounts, driver, hooks: w.hooks, ledger: w.ledger, clock: w.clock, log: w.log.child({ component: "work" }),
    settings: {
      pollIntervalMs: config.watcher.poll_interval, idleConfirm: config.watcher.idle_confirm, stallTimeoutMs: config.watcher.stall_timeout,
      taskTimeoutMs: config.queue.task_timeout, maxAttempts: config.queue.max_attempts,
    },
    launchFor,
    lastMessage: transcript.lastMessage,
    promptDelivered: transcript.promptDelivered,
    record: w.record,
    ...(w.limits ? { limits: w.limits } : {}),
    ...(w.offer ? { offer: w.offer } : {}),
    ...(w.onFault ? { onFault: w.onFault } : {}),
    ...(w.worktrees ? { worktrees: w.worktrees } : {}),
  });
  return { queue, loop, driver };
}
