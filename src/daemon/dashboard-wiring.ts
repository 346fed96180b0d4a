import type { Config } from "../config/schema.js";
import { secretEnvNames } from "../config/secrets.js";
import type { DelegationStatus } from "../delegation/manager-types.js";
import type { TaskLedger } from "../dispatch/records.js";
import type { WorkLoop } from "../dispatch/work-loop.js";
import type { Clock } from "../lib/clock.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import type { SessionRegistry } from "../pool/registry.js";
import type { TaskQueue } from "../queue/queue.js";
import type { TaskBoard } from "../queue/status.js";
import type { EventLog } from "../state/event-log.js";
import type { TmuxClient } from "../tmux/client.js";
import { DashboardFeed } from "./dashboard-feed.js";
import type { DaemonStatus } from "./status-view.js";

/** What of the daemon the dashboard reads; getters, since the work loop and failover start after the API. */
export interface DashboardSources {
  config: Config;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  log: Logger;
  events: EventLog;
  token: string | undefined;
  registry: SessionRegistry;
  tmux: TmuxClient;
  statusView(): DaemonStatus;
  work(): { loop: WorkLoop; queue: TaskQueue; status: { poke(): void }; board: TaskBoard } | undefined;
  ledger(): TaskLedger | undefined;
  /** Keeps the operator's hold across restarts (state.json). */
  persistHold(reason: string | undefined): void;
  /** True while failover runs with no account to work on (every one exhausted or broken). */
  noAccount(): boolean;
  delegation(): DelegationStatus | undefined;
}

/** The dashboard's view of the daemon (GET /, /api/events, the operator's actions). */
export function buildDashboardFeed(s: DashboardSources): DashboardFeed {
  const { config, env } = s;
  return new DashboardFeed({
    clock: s.clock, log: s.log.child({ component: "dashboard" }), events: s.events, queueRoot: config.queue.root,
    status: () => s.statusView(),
    queue: () => s.work()?.queue,
    board: () => s.work()?.board,
    ledger: () => s.ledger(),
    paused: () => {
      const loop = s.work()?.loop;
      if (loop?.held !== undefined) return loop.held;
      if (loop?.paused !== undefined) return `${loop.paused} in progress`;
      if (s.noAccount()) return "no account available (all exhausted or broken)";
      return null;
    },
    hold: (reason) => {
      s.work()?.loop.hold(reason);
      s.persistHold(reason);
    },
    changed: () => s.work()?.status.poke(),
    delegation: () => {
      const d = s.delegation();
      if (!d) return null;
      return {
        active: d.active.map((j) => ({ project: j.project, id: j.id, provider: j.provider, submitted_at: j.submitted_at, ...(j.last_status ? { last_status: j.last_status } : {}) })),
        spent_usd: d.budget.spent_usd, daily_budget_usd: d.budget.daily_budget_usd > 0 ? d.budget.daily_budget_usd : null,
      };
    },
    capture: async (session) => {
      // Only the sessions the daemon holds: never another tmux session on the server.
      if (!s.registry.get(session)) return undefined;
      try {
        return await s.tmux.capturePane(session, { ansi: false });
      } catch (err) {
        return `(no capture: ${describeError(err)})`;
      }
    },
    secrets: () => [
      ...config.accounts.flatMap((a) => Object.values(a.env)),
      ...Object.values(config.claude.env ?? {}),
      // Every variable the config reads a secret from: env_from sources, notification and delegation keys, the API token.
      ...secretEnvNames(config).map((name) => env[name] ?? ""),
      ...(s.token ? [s.token] : []),
    ],
  });
}
