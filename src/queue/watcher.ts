import path from "node:path";
import { watch, type ChokidarOptions } from "chokidar";
import type { Clock } from "../lib/clock.js";
import { describeError, IllegalStateError } from "../lib/errors.js";
import { isDirectory } from "../lib/fs.js";
import type { Logger } from "../lib/logger.js";
import { PeriodicLoop, type LoopState } from "../lib/loop.js";
import { folderPath } from "./layout.js";
import { assertProjectName, isIgnoredInboxName } from "./names.js";

/** The part of a chokidar FSWatcher this module uses, so a test can hand in one that fails. */
export interface FsWatcherLike {
  add(paths: string | string[]): unknown;
  unwatch(paths: string | string[]): unknown;
  on(event: "all", listener: (event: string, path: string) => void): unknown;
  on(event: "raw", listener: (event: string, path: string, details: unknown) => void): unknown;
  on(event: "error", listener: (err: unknown) => void): unknown;
  on(event: "ready", listener: () => void): unknown;
  close(): Promise<void>;
}

export interface InboxWatcherOptions {
  /** `queue.root`, absolute. */
  root: string;
  projects: readonly string[];
  /** `queue.rescan_interval`: every inbox is offered to onWork this often, whatever the watcher saw. */
  rescanIntervalMs: number;
  /** Quiet time between the first event of a burst and onWork; the burst's other events are coalesced. Default 50 ms. */
  debounceMs?: number;
  clock: Clock;
  log: Logger;
  /** Called when a project's inbox may hold new work. Never called twice at once for one project. */
  onWork: (project: string) => void | Promise<void>;
  /** false: periodic rescan only (e.g. on a network filesystem without inotify). Default true. */
  useWatcher?: boolean;
  /** Builds the filesystem watcher; chokidar's `watch` by default. */
  createWatcher?: (paths: string[], options: ChokidarOptions) => FsWatcherLike;
}

interface ProjectRun {
  scheduled: boolean;
  running: boolean;
  again: boolean;
}

/**
 * Tells the dispatcher when an inbox may have work. Filesystem events are hints (Q3): they make dispatch fast,
 * but the periodic rescan is what guarantees nothing is missed — an event dropped by inotify, a watcher that
 * failed to start, an inbox created after start (it is watched from the next rescan on). start() and stop()
 * are safe to call twice; stop() returns the same promise to every caller.
 */
export class InboxWatcher {
  private state: LoopState = "idle";
  private readonly abort = new AbortController();
  private readonly loop: PeriodicLoop;
  private readonly log: Logger;
  private readonly inboxToProject = new Map<string, string>();
  private readonly watched = new Set<string>();
  private readonly runs = new Map<string, ProjectRun>();
  private readonly inflight = new Set<Promise<void>>();
  private fsw: FsWatcherLike | undefined;
  private stopping: Promise<void> | undefined;
  private readyResolve: (() => void) | undefined;
  private readonly readyPromise: Promise<void>;

  constructor(private readonly o: InboxWatcherOptions) {
    for (const p of o.projects) {
      assertProjectName(p);
      this.inboxToProject.set(folderPath(path.resolve(o.root), p, "inbox"), p);
    }
    this.log = o.log.child({ component: "inbox-watcher" });
    this.readyPromise = new Promise((resolve) => (this.readyResolve = resolve));
    this.loop = new PeriodicLoop({
      name: "inbox-rescan",
      intervalMs: o.rescanIntervalMs,
      clock: o.clock,
      log: this.log,
      tick: () => this.rescan(),
    });
  }

  get status(): LoopState {
    return this.state;
  }

  /** Resolves once the first rescan has run and the watcher (if any) watches the inboxes that existed then. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  start(): void {
    if (this.state === "running") return;
    if (this.state !== "idle") throw new IllegalStateError(`inbox watcher cannot start from state ${this.state}`);
    this.state = "running";
    this.loop.start();
  }

  /** A hint from elsewhere (the watcher, an HTTP submit, a session freed up): onWork(project) soon, bursts coalesced. */
  hint(project: string): void {
    if (this.state !== "running") return;
    const run = this.runFor(project);
    if (run === undefined || run.scheduled) return;
    run.scheduled = true;
    this.track(
      this.o.clock.sleep(this.o.debounceMs ?? 50, this.abort.signal).then(
        () => {
          run.scheduled = false;
          return this.runWork(project);
        },
        () => {
          run.scheduled = false;
        },
      ),
    );
  }

  stop(): Promise<void> {
    if (this.state === "idle") {
      this.state = "stopped";
      this.readyResolve?.();
      return Promise.resolve();
    }
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.state = "stopping";
    this.abort.abort(new DOMException("inbox watcher stopped", "AbortError"));
    await this.loop.stop();
    if (this.fsw) await this.fsw.close().catch((err: unknown) => this.log.warn({ err: describeError(err) }, "closing the file watcher failed"));
    this.fsw = undefined;
    await Promise.allSettled([...this.inflight]);
    this.readyResolve?.();
    this.state = "stopped";
  }

  // One pass: watch inboxes that appeared, forget those that vanished, and offer every existing inbox to onWork.
  private async rescan(): Promise<void> {
    const existing: string[] = [];
    for (const inbox of this.inboxToProject.keys()) {
      if (await isDirectory(inbox, { followLinks: true })) existing.push(inbox);
      else if (this.watched.delete(inbox)) this.unwatch(inbox);
    }
    if (this.state !== "running") return;
    const fresh = existing.filter((d) => !this.watched.has(d));
    const watcherReady = this.watch(fresh);
    for (const inbox of existing) this.track(this.runWork(this.inboxToProject.get(inbox)!));
    await watcherReady;
    this.readyResolve?.();
  }

  // Adds inboxes to the watcher, creating it on first use; resolves when chokidar reports ready (bounded by stop()).
  private async watch(dirs: string[]): Promise<void> {
    if (this.o.useWatcher === false || dirs.length === 0) return;
    for (const d of dirs) this.watched.add(d);
    try {
      if (this.fsw) {
        this.fsw.add(dirs);
        return;
      }
      const create = this.o.createWatcher ?? createChokidarWatcher;
      // Only the inbox folders are watched, not their entries (chokidar's per-entry state: 28 MiB and 0.8 s of CPU for
      // 10,000 waiting tasks); their fs.watch `raw` events still name every file, all a hint needs. No awaitWriteFinish:
      // writers rename finished files in (Q1); one writing in place is caught at claim time.
      const fsw = create(dirs, {
        ignoreInitial: true,
        depth: 0,
        followSymlinks: false,
        persistent: true,
        ignored: (p: string) => !this.inboxToProject.has(p),
      });
      this.fsw = fsw;
      fsw.on("all", (event, p) => this.onEvent(event, p));
      fsw.on("raw", (event, p, details) => this.onRaw(p, details));
      fsw.on("error", (err) => this.log.warn({ err: describeError(err) }, "file watcher error; the periodic rescan covers the gap"));
      const ready = new Promise<void>((resolve) => {
        fsw.on("ready", resolve);
        this.abort.signal.addEventListener("abort", () => resolve(), { once: true });
      });
      await ready;
    } catch (err) {
      for (const d of dirs) this.watched.delete(d);
      this.log.warn({ err: describeError(err) }, "cannot watch the inboxes; relying on the periodic rescan");
    }
  }

  private onEvent(event: string, p: string): void {
    if (event === "unlinkDir" && this.watched.delete(p)) {
      // The inbox itself went away: unwatch it so the next rescan adds it again once it is back.
      this.unwatch(p);
    }
  }

  /** An inbox's fs.watch saw `name` come, change or go (`name` may be empty on some platforms). */
  private onRaw(name: string | null | undefined, details: unknown): void {
    const dir = typeof details === "object" && details !== null && "watchedPath" in details ? details.watchedPath : undefined;
    const project = typeof dir === "string" ? this.inboxToProject.get(path.resolve(dir)) : undefined;
    if (project === undefined) return;
    if (name && isIgnoredInboxName(path.basename(name))) return;
    this.hint(project);
  }

  // Runs onWork for a project, never twice at once: a call during a run makes one more run after it.
  private async runWork(project: string): Promise<void> {
    const run = this.runFor(project);
    if (run === undefined || this.state !== "running") return;
    if (run.running) {
      run.again = true;
      return;
    }
    run.running = true;
    try {
      do {
        run.again = false;
        try {
          await this.o.onWork(project);
        } catch (err) {
          this.log.error({ project, err: describeError(err) }, "inbox work handler failed");
        }
      } while (run.again && this.state === "running");
    } finally {
      run.running = false;
    }
  }

  private runFor(project: string): ProjectRun | undefined {
    if (!this.o.projects.includes(project)) return undefined;
    let run = this.runs.get(project);
    if (!run) {
      run = { scheduled: false, running: false, again: false };
      this.runs.set(project, run);
    }
    return run;
  }

  private unwatch(dir: string): void {
    try {
      this.fsw?.unwatch(dir);
    } catch (err) {
      this.log.warn({ dir, err: describeError(err) }, "cannot unwatch a vanished inbox");
    }
  }

  private track(p: Promise<void>): void {
    this.inflight.add(p);
    void p.catch(() => undefined).finally(() => this.inflight.delete(p));
  }
}

function createChokidarWatcher(paths: string[], options: ChokidarOptions): FsWatcherLike {
  return watch(paths, options);
}
