import { ensureAllAccounts, formatLinkProblem } from "../accounts/shared-links.js";
import type { Config } from "../config/schema.js";
import { formatUnsetEnvFrom, secretEnvNames, unsetEnvFrom, withoutSecrets } from "../config/secrets.js";
import { ensureDir } from "../lib/atomic-fs.js";
import type { Clock } from "../lib/clock.js";
import { systemClock } from "../lib/clock.js";
import { AppError, describeError, IllegalStateError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { createMetrics } from "../http/metrics.js";
import { createApiHandler, parseListen, startHttpServer, type RunningServer } from "../http/server.js";
import { PoolManager } from "../pool/pool.js";
import { SessionRegistry } from "../pool/registry.js";
import type { TmuxClient } from "../tmux/client.js";
import { PeriodicLoop } from "../lib/loop.js";
import { CliTmuxClient } from "../tmux/cli-client.js";
import { TmuxError } from "../tmux/client.js";
import { EventLog } from "../state/event-log.js";
import type { FailoverEvent, OperatorActionEvent, Origin, TaskEvent } from "../state/events.js";
import type { StateStore } from "../state/store.js";
import { openDaemonStateStore, pruneAttempts, type DaemonState } from "./state.js";
import { drainSpool, spoolDir } from "../claude/hook-client.js";
import { parseHookEnvelope, type HookEvent } from "../claude/hooks.js";
import { LaunchEnvFiles } from "../claude/launch-env.js";
import { HookHub } from "../dispatch/hook-hub.js";
import { writeHookToken } from "../claude/hook-token.js";
import { writeDaemonHookSettings } from "./hook-settings.js";
import type { WorkLoop } from "../dispatch/work-loop.js";
import type { TaskQueue } from "../queue/queue.js";
import { InboxWatcher } from "../queue/watcher.js";
import { TaskBoard } from "../queue/status.js";
import { StatusPublisher } from "./status-publisher.js";
import { Notifier } from "../notify/notifier.js";
import { channelsFromConfig } from "../notify/channels.js";
import { Janitor } from "../janitor/janitor.js";
import { buildWorkLoop } from "./work-wiring.js";
import type { Failover } from "../failover/failover.js";
import { buildFailover, buildLimitWatch } from "./failover-wiring.js";
import type { LimitWatch } from "../failover/watch.js";
import { createDelegationManager } from "../delegation/create.js";
import type { DelegationManager } from "../delegation/manager.js";
import { ledgerOf } from "./state.js";
import { takeDaemonLocks, tmuxLockFile, type HeldLock } from "./lock.js";
import { VERSION } from "../lib/version.js";
import { statusViewOf, type DaemonLifecycle, type DaemonStatus } from "./status-view.js";
import { activeAccountAtStart } from "./account-lookup.js";
import type { DashboardFeed } from "./dashboard-feed.js";
import { buildDashboardFeed } from "./dashboard-wiring.js";
import { FINISHED_SHOWN, WAITING_SHOWN } from "./dashboard-feed.js";
import { execGit } from "../git/git.js";
import { setUpWorktrees, type WorktreeSetup } from "./worktree-wiring.js";
import { SwapError } from "../accounts/swap-journal.js";
import { swapErrorStatus } from "./swap-status.js";
import { liveCwdsOf, type WorktreeSweepDeps } from "../janitor/worktrees.js";

/** How often the hook spool is drained while running. */
const SPOOL_DRAIN_MS = 5_000;
/** events.jsonl is rotated past this size (5 files kept). */
const EVENTS_MAX_BYTES = 64 * 1024 * 1024;

/** The daemon refused to start; `problems` lists every reason. */
export class StartupError extends AppError {
  constructor(readonly problems: readonly string[], options?: { cause?: unknown }) {
    super("STARTUP_REFUSED", `claude-failover cannot start:\n${problems.map((p) => `  - ${p}`).join("\n")}`, options);
  }
}

export type { DaemonLifecycle } from "./status-view.js";

export interface DaemonOptions {
  config: Config;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  tmux?: TmuxClient;
  /** Overrides http.listen (tests use 127.0.0.1:0). */
  listen?: string;
  /** How long past a usage-limit reset before resuming (default 60 s). */
  resumeGraceMs?: number;
  /** A corrupt state.json is moved aside and the daemon starts from defaults (`run --reset-state`). */
  resetCorruptState?: boolean;
  /** The lock keyed on the tmux server; default: beside the tmux socket when the daemon builds its own tmux client, none with an injected one. */
  tmuxLock?: string;
  /** state.json's durable write (default: atomic write); tests fail the disk through it. */
  writeStateFile?: (file: string, data: string, mode: number) => Promise<void>;
}

/** A loop that has finished no pass for this long is wedged (a tick waits on something that never ends). */
const LOOP_WEDGED_MS = 10 * 60_000;

/**
 * The only place where real dependencies are built and components started and stopped in order.
 * Stopping leaves every tmux session running: tmux outlives the daemon.
 */
export class Daemon {
  private lifecycle: DaemonLifecycle = "idle";
  private readonly clock: Clock;
  private readonly tmux: TmuxClient;
  private readonly registry: SessionRegistry;
  private readonly pool: PoolManager;
  private state: StateStore<DaemonState> | undefined;
  private events: EventLog | undefined;
  private server: RunningServer | undefined;
  private stopping: Promise<void> | undefined;
  private startedAt = 0;
  private hookSettingsFile: string | undefined;
  readonly hooks = new HookHub();
  private readonly notifier: Notifier;
  private work: { loop: WorkLoop; queue: TaskQueue; watcher: InboxWatcher; status: StatusPublisher; board: TaskBoard } | undefined;
  private failover: Failover | undefined;
  private watch: LimitWatch | undefined;
  private delegation: DelegationManager | undefined;
  private spoolLoop: PeriodicLoop | undefined;
  private janitor: Janitor | undefined;
  private readonly locks: HeldLock[] = [];
  private dashboard: DashboardFeed | undefined;
  private worktrees: WorktreeSetup | undefined;
  private offHooks: (() => void) | undefined;
  /** The variables the config reads secrets from (contract §9): kept out of tmux's environment. */
  private readonly secretNames: readonly string[];

  constructor(private readonly o: DaemonOptions) {
    this.clock = o.clock ?? systemClock;
    this.secretNames = secretEnvNames(o.config);
    // tmux's environment becomes every pane's: no agent may read the daemon's secrets from it.
    this.tmux = o.tmux ?? new CliTmuxClient({ socket: o.config.tmux.socket, env: withoutSecrets(o.env ?? process.env, this.secretNames) });
    this.registry = new SessionRegistry(() => this.clock.now());
    this.notifier = new Notifier({
      channels: channelsFromConfig(o.config, o.env ?? process.env, o.log.child({ component: "notify" })), clock: this.clock, log: o.log,
      minIntervalMs: o.config.notifications.min_interval,
    });
    this.pool = new PoolManager({
      tmux: this.tmux, clock: this.clock, log: o.log.child({ component: "pool" }), registry: this.registry,
      pool: o.config.pool.autonomous, dedicated: o.config.pool.dedicated,
      size: { width: o.config.tmux.width, height: o.config.tmux.height },
    });
  }

  get status(): DaemonLifecycle {
    return this.lifecycle;
  }

  get url(): string | undefined {
    return this.server?.url;
  }

  /** Starts every component; on any start-up problem, throws StartupError and leaves nothing running. */
  async start(): Promise<void> {
    if (this.lifecycle !== "idle") throw new IllegalStateError(`daemon cannot start from state ${this.lifecycle}`);
    this.lifecycle = "starting";
    try {
      await this.takeLocks();
      await this.preflight();
      await this.unsetSecretsInTmux();
      await this.clearStaleEnvFiles();
      const active = await this.openState();
      // Before the API and the spool drain: a usage-limit hook from either reaches the quota monitor.
      this.watch = this.buildWatch();
      await this.startApi();
      await this.startHookSpool();
      // One reconcile before reporting "running", so the pool is there when start() resolves.
      await this.pool.reconcile();
      await this.startWork();
      this.startLoops();
      this.startedAt = this.clock.now();
      this.lifecycle = "running";
      this.o.log.info({ url: this.server?.url, active_account: active, pool: this.pool.heldSessions() }, "claude-failover running");
    } catch (err) {
      await this.teardown();
      this.lifecycle = "stopped";
      if (err instanceof StartupError) throw err;
      throw new StartupError([describeError(err)], { cause: err });
    }
  }

  /** One daemon per state_dir and per tmux server: a second would drive the same sessions. */
  private async takeLocks(): Promise<void> {
    const { config, log } = this.o;
    await ensureDir(config.state_dir, 0o700);
    this.locks.push(...(await takeDaemonLocks({
      stateDir: config.state_dir, log,
      tmuxLock: this.o.tmuxLock ?? (this.o.tmux ? undefined : tmuxLockFile(config.tmux.socket, this.o.env ?? process.env)),
    })));
  }

  /**
   * A tmux server an earlier daemon started may hold the secrets in its global environment: new panes
   * must not inherit them. Panes already running keep what they were started with.
   */
  private async unsetSecretsInTmux(): Promise<void> {
    const removed = await this.tmux.unsetGlobalEnv(this.secretNames);
    if (removed.length > 0) this.o.log.info({ removed: removed.length, variables: removed }, "removed secret variables from the tmux server's global environment");
  }

  /**
   * Env files (account secrets) a crash left behind are never left lying around. After the lock:
   * a second daemon must not remove the files of the one running.
   */
  private async clearStaleEnvFiles(): Promise<void> {
    const staleEnvFiles = await new LaunchEnvFiles(this.o.config.state_dir).clear();
    if (staleEnvFiles > 0) this.o.log.info({ files: staleEnvFiles }, "removed launch env files left by a crash");
  }

  /** The event log and state.json, with the active account resolved and the start recorded; resolves that account. */
  private async openState(): Promise<string> {
    const { config, log } = this.o;
    this.events = new EventLog({
      dir: config.state_dir, clock: this.clock,
      onError: (err) => log.warn({ err: describeError(err) }, err instanceof AppError && err.code === "EVENT_LISTENER_FAILED" ? "an events.jsonl subscriber failed; the event is recorded" : "event not recorded"),
    });
    this.state = openDaemonStateStore(config.state_dir, this.clock, { resetCorrupt: this.o.resetCorruptState === true, ...(this.o.writeStateFile ? { writeFile: this.o.writeStateFile } : {}) });
    const loaded = await this.state.load();
    if (loaded.source === "reset-corrupt") log.warn({ moved_to: loaded.corruptCopy }, "state.json was corrupt: moved aside, starting from defaults (--reset-state)");
    if (loaded.removedTempFiles.length > 0) log.info({ files: loaded.removedTempFiles }, "removed temp files left by a crash");
    const active = await activeAccountAtStart(config.accounts, this.state.get().active_account, config.claude.link, log);
    this.state.update((s) => ({ ...s, active_account: active, started_at: new Date(this.clock.now()).toISOString() }));
    await this.state.flush();
    void this.events.append({ type: "daemon_started", version: VERSION, active_account: active });
    return active;
  }

  /** The quota watch over state.json's tasks: it hears every hook event from here on. */
  private buildWatch(): LimitWatch {
    const state = this.state!;
    return buildLimitWatch({
      config: this.o.config, clock: this.clock, log: this.o.log, store: state, tasks: ledgerOf(state), hooks: this.hooks,
      record: (e) => void this.events?.append(e),
      ...(this.o.resumeGraceMs !== undefined ? { resumeGraceMs: this.o.resumeGraceMs } : {}),
    });
  }

  /** The HTTP API and the dashboard feed, then the hook settings and token agents post with. */
  private async startApi(): Promise<void> {
    const { config, log } = this.o;
    const env = this.o.env ?? process.env;
    const token = config.http.token_env ? env[config.http.token_env] : undefined;
    if (config.http.token_env && !token) throw new StartupError([`http.token_env names ${config.http.token_env}, which is not set in the environment`]);
    const listen = this.o.listen ?? config.http.listen;
    this.dashboard = buildDashboardFeed({
      config, env, clock: this.clock, log, events: this.events!, token, registry: this.registry, tmux: this.tmux,
      statusView: () => this.statusView(), work: () => this.work, ledger: () => (this.state ? ledgerOf(this.state) : undefined),
      persistHold: (reason) => void this.state?.update((x) => void (x.operator_hold = reason ?? null)),
      noAccount: () => this.failover !== undefined && this.failover.activeAccount() === undefined,
      delegation: () => this.delegation?.status(),
    });
    const metrics = createMetrics({ sessions: this.registry, loops: () => ({ "pool-reconcile": this.pool.lastTickAt, work: this.work?.loop.lastTickAt }) });
    const handler = createApiHandler(
      {
        health: () => this.health(),
        status: () => this.statusView(),
        watchdog: () => ({ ...(this.work?.status.watchdog() ?? { stale: [], counters: {} }), ...(this.delegation ? { delegation: this.delegation.counters() } : {}) }),
        delegated: () => this.delegation?.status(),
        metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
        swap: (to, origin) => this.swapRequest(to, origin),
        dashboard: this.dashboard,
        hook: async (body) => {
          const parsed = parseHookEnvelope(body);
          if (!parsed.ok) return { ok: false, reason: parsed.reason };
          metrics.hookEvents.inc({ event: parsed.event.kind });
          this.ingestHook(parsed.event, this.clock.now(), parsed.envelope.event);
          return { ok: true };
        },
      },
      { log: log.child({ component: "http" }), ...(token ? { token } : {}), listenHost: parseListen(listen).host, allowedHosts: config.http.allowed_hosts },
    );
    this.server = await startHttpServer(listen, handler);
    this.hookSettingsFile = await writeDaemonHookSettings(config.state_dir, this.server.url);
    await writeHookToken(config.state_dir, token);
  }

  /** POST /api/swap: a manual swap, recorded as the operator's action with its origin. */
  private async swapRequest(to: string | undefined, origin: Origin): Promise<{ status: number; body: Record<string, unknown> }> {
    if (!this.failover) return { status: 503, body: { ok: false, error: "the daemon is not running its loops" } };
    const record = (fields: Pick<OperatorActionEvent, "ok" | "code" | "outcome" | "from" | "to">): void => void this.events?.append({ type: "operator_action", action: "swap", ...(to !== undefined ? { to } : {}), origin, ...fields });
    try {
      const r = await this.failover.manualSwap(to);
      record({ ok: r.outcome === "done", outcome: r.outcome, from: r.journal.from, to: r.journal.to });
      return { status: r.outcome === "done" ? 200 : 500, body: { ok: r.outcome === "done", outcome: r.outcome, from: r.journal.from, to: r.journal.to, resumed: r.resumed, warnings: r.warnings } };
    } catch (err) {
      const { status, code } = swapErrorStatus(err);
      const ended = err instanceof SwapError ? err.result : undefined;
      const fields = ended ? { outcome: ended.outcome, from: ended.journal.from, to: ended.journal.to } : {};
      record({ ok: false, code, ...fields });
      return { status, body: { ok: false, code, error: describeError(err), ...fields } };
    }
  }

  /** Hooks that fired while the daemon was down waited in the spool: they count, in order. */
  private async startHookSpool(): Promise<void> {
    await this.drainHookSpool();
    // Agents started by an earlier run may post to an address that is gone (another port): their
    // hooks spool, and are picked up here within seconds rather than at the next start.
    this.spoolLoop = new PeriodicLoop({ name: "hook-spool", intervalMs: SPOOL_DRAIN_MS, clock: this.clock, log: this.o.log, tick: () => this.drainHookSpool() });
  }

  /** The periodic loops, last: the pool's, the spool's, the janitor's, the work loop and the inbox watcher, the dashboard's. */
  private startLoops(): void {
    const { config, log } = this.o;
    this.pool.start();
    this.spoolLoop?.start();
    this.janitor = new Janitor({
      queueRoot: config.queue.root, projects: Object.keys(config.queue.projects), stateDir: config.state_dir, clock: this.clock,
      log: log.child({ component: "janitor" }),
      settings: { intervalMs: config.janitor.interval, doneRetentionMs: config.janitor.done_retention, failedRetentionMs: config.janitor.failed_retention, eventsMaxBytes: EVENTS_MAX_BYTES },
      rotateEvents: (max) => this.events?.rotateIfLarger(max) ?? Promise.resolve(false),
      ...(this.worktrees ? { worktrees: this.worktreeSweep(this.worktrees) } : {}),
    });
    this.janitor.start();
    this.work?.loop.start();
    this.work?.watcher.start();
    this.dashboard?.start();
  }

  /** Stops the loops, flushes state and closes the API; tmux sessions keep running. Idempotent. */
  stop(): Promise<void> {
    if (this.lifecycle === "idle") {
      this.lifecycle = "stopped";
      return Promise.resolve();
    }
    this.stopping ??= (async () => {
      this.lifecycle = "stopping";
      this.o.log.info("stopping: loops, then state, then the API; tmux sessions are left running");
      void this.events?.append({ type: "daemon_stopping" });
      await this.teardown();
      this.lifecycle = "stopped";
    })();
    return this.stopping;
  }

  private async drainHookSpool(): Promise<void> {
    const drained = await drainSpool(spoolDir(this.o.config.state_dir), async (d) => this.ingestHook(d.event, d.receivedAt, d.envelope.event));
    if (drained.delivered + drained.rejected.length + drained.kept.length > 0) {
      this.o.log.info({ delivered: drained.delivered, rejected: drained.rejected, kept: drained.kept }, "hook spool drained");
    }
  }

  /** Task outcomes worth a person's attention (contract §7): failed tasks and stalled sessions. */
  private notifyAbout(event: TaskEvent): void {
    const task = `${event.project}/${event.task}`;
    if (event.type === "task_failed") {
      void this.notifier.notify({ kind: "task-failed", key: task, text: `task ${task} failed after ${event.attempts} attempt(s): ${event.reason}` });
    } else if (event.type === "session_stalled") {
      void this.notifier.notify({ kind: "session-stalled", key: event.session, text: `session ${event.session} stalled on ${task}; the task is retried` });
    }
  }

  /** A hook event, live or from the spool: recorded for the work loop and in events.jsonl. */
  private ingestHook(event: HookEvent, at: number, name: string): void {
    this.hooks.record(event, at);
    void this.events?.append({ type: "hook", event: name, kind: event.kind, claude_session_id: event.sessionId, ...("error" in event ? { error: event.error } : {}) });
  }

  /** The queue, the work loop (re-adopting what a previous run left in active/), the watcher, status.json, the failover. */
  private async startWork(): Promise<void> {
    const { config, log } = this.o;
    const env = this.o.env ?? process.env;
    const state = this.state!;
    const ledger = ledgerOf(state);
    await ensureDir(config.queue.root, 0o700);
    this.delegation = createDelegationManager({
      config, env, clock: this.clock, log,
      notify: (n) => void this.notifier.notify({ kind: n.kind === "budget_reached" ? "budget-reached" : "delegation-failed", text: n.message, ...(n.kind === "delegation_failed" ? { key: `${n.project}/${n.task}` } : {}) }),
      record: (e) => void this.events?.append(e),
    });
    const delegation = this.delegation;
    // A project with isolation: worktree that is no git repository refuses the start.
    const wt = await setUpWorktrees(config, execGit({ env }), log);
    if (!wt.ok) throw new StartupError(wt.problems);
    this.worktrees = wt.setup;
    const record = (e: FailoverEvent): void => void this.events?.append(e);
    // Built before the work loop (at start-up, see buildWatch): supervision reports each screen to it and asks it
    // whether a task is held at a limit.
    const watch = this.watch!;
    const { loop, queue, driver } = buildWorkLoop({
      config, env, clock: this.clock, log, tmux: this.tmux, registry: this.registry, pool: this.pool,
      hooks: this.hooks, ledger,
      // The one late binding: the failover commands the work loop, so it is built after it, yet dispatch asks it for the account.
      activeAccount: () => this.failover?.activeAccount(),
      limits: watch,
      ...(delegation ? { offer: (p: string, id: string) => delegation.offer(p, id) } : {}),
      settingsFile: () => this.hookSettingsFile!,
      onFault: (f) => void this.notifier.notify({ kind: "task-stuck", key: f.task, text: `task ${f.task} is stuck: ${f.reason}; retried every ${Math.round(config.watcher.poll_interval / 1000)} s` }),
      worktrees: wt.setup.port,
      record: (event) => this.recordWorkEvent(event),
    });
    await this.recoverQueue(queue, loop);
    const projects = Object.keys(config.queue.projects);
    const watcher = new InboxWatcher({
      root: config.queue.root, projects, rescanIntervalMs: config.queue.rescan_interval, clock: this.clock, log,
      onWork: () => loop.poke(),
    });
    const board = new TaskBoard({ root: config.queue.root, waitingShown: WAITING_SHOWN, finishedShown: FINISHED_SHOWN });
    const status = new StatusPublisher({
      queue, projects, ledger, clock: this.clock, log: log.child({ component: "status" }), board,
      delegated: () => (this.delegation?.status().active ?? []).map((j) => ({ project: j.project, id: j.id, since: Date.parse(j.submitted_at) })),
    });
    this.work = { loop, queue, watcher, status, board };
    this.failover = buildFailover({
      config, env, clock: this.clock, log, store: state, tmux: this.tmux, pool: this.pool, work: loop, driver, watch, notifier: this.notifier, record,
    });
    await this.failover.start();
    // A turn that ended (or failed) is worth a look now rather than at the next poll.
    this.offHooks = this.hooks.subscribe((e) => {
      if (e.kind === "Stop" || e.kind === "StopFailure" || e.kind === "SessionEnd") loop.poke();
    });
    await status.start();
  }

  /** After a restart, before any loop: the queue's layout and crash recovery, delegation, the operator's hold, adoption (Q4). */
  private async recoverQueue(queue: TaskQueue, loop: WorkLoop): Promise<void> {
    const log = this.o.log;
    await queue.ensureLayout();
    const recovered = await queue.recover();
    if (recovered.finished.length + recovered.tempFilesRemoved + recovered.sharedIds.length > 0) log.info({ recovered }, "queue recovered after a crash");
    await this.delegation?.start();
    const held = this.state!.get().operator_hold;
    if (held !== null) {
      loop.hold(held);
      log.warn({ reason: held }, "dispatch stays paused by the operator, as before the restart (resume it from the dashboard)");
    }
    const adopted = await loop.adopt();
    if (adopted.adopted.length + adopted.requeued.length + adopted.failed.length + adopted.stuck.length > 0) log.info(adopted, "tasks in active/ after restart");
    // After adoption, which re-queues with counts: what is left counts attempts of tasks gone by another route.
    await pruneAttempts(this.state!, (key) => queue.isQueued(key), log);
  }

  /** A work loop event: events.jsonl, the notifier, the finished counts and a status.json refresh. */
  private recordWorkEvent(event: TaskEvent): void {
    void this.events?.append(event);
    this.notifyAbout(event);
    if (event.type === "task_done" || event.type === "task_failed") {
      this.work?.status.countFinished(event.project, event.task, event.type === "task_done" ? "done" : "failed", {
        attempts: event.attempts, since: this.clock.now(), session: event.session, ...(event.type === "task_done" ? { account: event.account } : {}),
      });
    }
    this.work?.status.poke();
  }

  /** The janitor's view for the worktree rules: tasks in flight from state.json, live panes' cwds from tmux. */
  private worktreeSweep(setup: WorktreeSetup): WorktreeSweepDeps {
    return {
      root: setup.worktrees.root, repos: () => Object.values(setup.repos), worktrees: setup.worktrees, log: this.o.log.child({ component: "janitor" }),
      inFlight: () => Object.values(this.state?.get().tasks ?? {}).flatMap((r) => (r.worktree ? [r.worktree.dir] : [])),
      liveCwds: () => liveCwdsOf(this.tmux, new Set(this.registry.list().filter((r) => r.kind === "pool" && r.state === "idle").map((r) => r.name))),
    };
  }

  /** Never throws: a part that fails to stop is logged and the rest still stop. */
  private async teardown(): Promise<void> {
    const failed = (component: string) => (err: unknown): void => this.o.log.warn({ component, err: describeError(err) }, `${component} did not stop cleanly`);
    this.offHooks?.();
    await this.dashboard?.stop().catch(failed("dashboard"));
    await this.work?.watcher.stop().catch(failed("inbox watcher"));
    await this.spoolLoop?.stop().catch(failed("hook spool loop"));
    await this.janitor?.stop().catch(failed("janitor"));
    await this.failover?.stop().catch(failed("failover"));
    await this.work?.loop.stop().catch(failed("work loop"));
    await this.delegation?.stop().catch(failed("delegation"));
    await this.work?.status.stop().catch(failed("status publisher"));
    await this.pool.stop().catch(failed("pool"));
    await this.server?.close().catch(failed("http server"));
    await this.state?.close().catch((err: unknown) => this.o.log.error({ err: describeError(err) }, "state flush failed"));
    await this.events?.close().catch((err: unknown) => this.o.log.error({ err: describeError(err) }, "event log flush failed"));
    // Last: until everything above is flushed, no other daemon may start on this state.
    for (const lock of this.locks.splice(0).reverse()) await lock.release().catch((err: unknown) => this.o.log.error({ err: describeError(err) }, "lock not released"));
  }

  /** Everything that must hold before anything starts: tmux works, shared links are right. */
  private async preflight(): Promise<void> {
    const problems: string[] = [];
    try {
      await this.tmux.listSessions();
    } catch (err) {
      problems.push(err instanceof TmuxError && err.code === "TMUX_NOT_FOUND" ? `${err.message}` : `tmux: ${describeError(err)}`);
    }
    // An agent started without the credentials its account names would fail far from the cause.
    problems.push(...unsetEnvFrom(this.o.config, this.o.env ?? process.env).map(formatUnsetEnvFrom));
    const { created, problems: links } = await ensureAllAccounts(this.o.config.accounts, this.o.config.claude.shared_root);
    for (const c of created) this.o.log.info({ link: c }, "created shared link");
    problems.push(...links.map(formatLinkProblem));
    if (problems.length > 0) throw new StartupError(problems);
  }

  /**
   * Whether the daemon itself works: running, and each loop finished a pass lately. What the systemd watchdog is
   * fed on; a stuck task or a partial swap is left out, since a restart cannot fix either.
   */
  liveness(): { ok: true } | { ok: false; reason: string } {
    if (this.lifecycle !== "running") return { ok: false, reason: `daemon is ${this.lifecycle}` };
    if (this.pool.loopStatus !== "running") return { ok: false, reason: "pool loop is not running" };
    if (this.work && this.work.loop.status !== "running") return { ok: false, reason: "work loop is not running" };
    const now = this.clock.now();
    const loops: [string, number | undefined][] = [["pool", this.pool.lastTickAt], ...(this.work ? [["work", this.work.loop.lastTickAt] as [string, number | undefined]] : [])];
    for (const [name, last] of loops) {
      const idle = now - (last ?? this.startedAt);
      if (idle > LOOP_WEDGED_MS) return { ok: false, reason: `${name} loop has finished no pass for ${Math.round(idle / 1000)} s` };
    }
    return { ok: true };
  }

  /** What /health says: liveness, then a partial swap, then tasks stuck on a fault. */
  health(): { ok: true } | { ok: false; reason: string } {
    const alive = this.liveness();
    if (!alive.ok) return alive;
    const failover = this.failover?.health();
    if (failover && !failover.ok) return failover;
    const stuck = this.work?.loop.faults() ?? [];
    if (stuck.length > 0) {
      const first = stuck[0]!;
      return { ok: false, reason: `${stuck.length} task(s) stuck since ${new Date(first.since).toISOString()}: ${first.task}: ${first.reason}` };
    }
    return { ok: true };
  }

  statusView(): DaemonStatus {
    const { config } = this.o;
    return statusViewOf({
      version: VERSION, lifecycle: this.lifecycle, startedAt: this.startedAt,
      state: this.lifecycle === "running" || this.lifecycle === "stopping" ? this.state?.get() : undefined,
      accounts: this.failover?.view() ?? [], homes: config.accounts,
      dispatchPaused: this.failover?.activeAccount() === undefined || this.work?.loop.held !== undefined,
      sessions: this.registry.list(),
      pool: { held: this.pool.heldSessions(), min: config.pool.autonomous.min, max: config.pool.autonomous.max },
      queue: this.work?.status.countsByProject() ?? {},
      swap: this.failover?.swapStatus() ?? { state: "idle", partial: false },
    });
  }
}
