import type { AutonomousPoolConfig } from "../config/schema.js";
import { poolIndexOf, poolSessionNames } from "../config/schema.js";
import type { Clock } from "../lib/clock.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { PeriodicLoop } from "../lib/loop.js";
import type { TmuxClient } from "../tmux/client.js";
import type { SessionRegistry } from "./registry.js";

export const RECONCILE_INTERVAL_MS = 15_000;

export interface PoolDeps {
  tmux: TmuxClient;
  clock: Clock;
  log: Logger;
  registry: SessionRegistry;
  pool: AutonomousPoolConfig;
  dedicated: readonly { name: string; cwd: string }[];
  size: { width: number; height: number };
}

export interface ReconcileReport {
  created: string[];
  adopted: string[];
  failed: { name: string; error: string }[];
}

/**
 * Keeps the pool (S1, S2): at least `min` sessions alive inside [start_index, start_index+max), every
 * pool session it holds recreated when it dies, and each dedicated session created at its cwd when
 * absent — never restarted when present. It creates only names from those two lists and never kills,
 * types into or renames any other session.
 */
export class PoolManager {
  private readonly held = new Set<string>();
  private readonly loop: PeriodicLoop;
  private readonly poolNames: readonly string[];

  constructor(private readonly d: PoolDeps) {
    this.poolNames = poolSessionNames(d.pool);
    this.loop = new PeriodicLoop({
      name: "pool-reconcile", intervalMs: RECONCILE_INTERVAL_MS, clock: d.clock, log: d.log,
      tick: async (signal) => void (await this.reconcile(signal)),
    });
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** Runs a reconcile now (e.g. after a task finished and a session was recycled). */
  poke(): void {
    this.loop.poke();
  }

  get loopStatus(): PeriodicLoop["status"] {
    return this.loop.status;
  }

  /** When the last reconcile finished (epoch ms). */
  get lastTickAt(): number | undefined {
    return this.loop.lastTickAt;
  }

  /** The pool names this manager keeps alive. */
  heldSessions(): string[] {
    return this.poolNames.filter((n) => this.held.has(n));
  }

  /** Asks the pool to hold one more session (the lowest free index); undefined when the range is full. */
  grow(): string | undefined {
    const name = this.poolNames.find((n) => !this.held.has(n));
    if (name !== undefined) this.held.add(name);
    return name;
  }

  /** One pass: list once, then create what is missing. Failures are collected, never thrown. */
  async reconcile(signal?: AbortSignal): Promise<ReconcileReport> {
    const report: ReconcileReport = { created: [], adopted: [], failed: [] };
    const alive = new Set((await this.d.tmux.listSessions(signal)).map((s) => s.name));

    for (const d of this.d.dedicated) {
      if (alive.has(d.name)) {
        if (this.d.registry.get(d.name)?.state !== "busy") this.d.registry.set(d.name, "dedicated", d.cwd, "idle");
        continue;
      }
      await this.create(d.name, d.cwd, "dedicated", report, signal);
    }

    // Pool sessions already on the server (left by an earlier run of the daemon) are adopted, not recreated.
    for (const name of this.poolNames) {
      if (alive.has(name) && !this.held.has(name)) {
        this.held.add(name);
        report.adopted.push(name);
        this.d.log.info({ session: name }, "adopted existing pool session");
      }
    }
    for (const name of this.poolNames) {
      if (this.held.size >= this.d.pool.min) break;
      if (!this.held.has(name)) this.held.add(name);
    }
    for (const name of this.poolNames) {
      if (!this.held.has(name)) {
        this.d.registry.set(name, "pool", this.d.pool.cwd, "missing");
        continue;
      }
      if (alive.has(name)) {
        const state = this.d.registry.get(name)?.state;
        if (state !== "busy") this.d.registry.set(name, "pool", this.d.pool.cwd, "idle");
        continue;
      }
      await this.create(name, this.d.pool.cwd, "pool", report, signal);
    }
    if (report.created.length > 0 || report.failed.length > 0) {
      this.d.log.info({ created: report.created, failed: report.failed, held: this.held.size }, "pool reconciled");
    }
    return report;
  }

  private async create(name: string, cwd: string, kind: "pool" | "dedicated", report: ReconcileReport, signal?: AbortSignal): Promise<void> {
    // Defence in depth: only names from the configured range or the dedicated list are ever created.
    if (kind === "pool" && poolIndexOf(name, this.d.pool) === undefined) throw new Error(`refusing to create ${name}: outside the pool range`);
    try {
      await this.d.tmux.newSession({ name, cwd, width: this.d.size.width, height: this.d.size.height }, signal);
      this.d.registry.set(name, kind, cwd, "idle");
      report.created.push(name);
      this.d.log.info({ session: name, kind, cwd }, kind === "pool" ? "created pool session" : "created dedicated session");
    } catch (err) {
      const error = describeError(err);
      this.d.registry.set(name, kind, cwd, "error", { error });
      report.failed.push({ name, error });
      this.d.log.error({ session: name, kind, err: error }, "could not create session");
    }
  }
}
