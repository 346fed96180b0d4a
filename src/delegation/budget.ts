/**
 * The daily delegation budget (contract §8): the cost_usd the service reports for each finished job, summed per UTC
 * day, kept in `<state_dir>/delegation-budget.json` so a restart does not forget the day's spend. Costs are
 * keyed by job id: a job counted, then re-adopted after a crash and reaped again, is not counted twice.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../lib/atomic-fs.js";
import type { Clock } from "../lib/clock.js";
import { describeError, isNotFound } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";

export const BUDGET_FILE = "delegation-budget.json";

export interface BudgetSnapshot {
  /** The UTC day, YYYY-MM-DD. */
  day: string;
  spent_usd: number;
  /** 0 = no budget. */
  daily_budget_usd: number;
  reached: boolean;
}

const stateSchema = z.object({
  day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  jobs: z.record(z.string(), z.number().finite().min(0)),
  notified: z.boolean(),
});
type BudgetState = z.infer<typeof stateSchema>;

export class DailyBudget {
  private state: BudgetState;
  private readonly file: string;

  constructor(private readonly o: { stateDir: string; limitUsd: number; clock: Clock; log: Logger }) {
    this.file = path.join(o.stateDir, BUDGET_FILE);
    this.state = { day: utcDay(o.clock.now()), jobs: {}, notified: false };
  }

  /** Reads the saved state; a missing file is a fresh day, an unreadable one is logged and replaced. */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (err) {
      if (!isNotFound(err)) this.o.log.warn({ file: this.file, err: describeError(err) }, "cannot read the delegation budget state; counting from zero");
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = stateSchema.safeParse(json);
    if (!parsed.success) {
      this.o.log.warn({ file: this.file }, "the delegation budget state is malformed; counting today's spend from zero");
      return;
    }
    this.state = parsed.data;
  }

  get limitUsd(): number {
    return this.o.limitUsd;
  }

  spentToday(): number {
    this.roll();
    return round(Object.values(this.state.jobs).reduce((a, b) => a + b, 0));
  }

  /** True when a budget is set and today's spend has reached it. */
  reached(): boolean {
    return this.o.limitUsd > 0 && this.spentToday() >= this.o.limitUsd;
  }

  /**
   * True when a budget is set and the spend so far plus `running` unfinished jobs, each at the mean cost of the day's
   * finished jobs, would reach it. Before any job has finished today the cost is unknown: one running job is enough.
   */
  wouldReach(running: number): boolean {
    if (this.reached()) return true;
    if (this.o.limitUsd <= 0 || running <= 0) return false;
    const costs = Object.values(this.state.jobs);
    if (costs.length === 0) return true;
    const spent = costs.reduce((a, b) => a + b, 0);
    return spent + (running * spent) / costs.length >= this.o.limitUsd;
  }

  /** Counts a job's cost once (keyed by job id) and saves. A failed save is logged: the spend still counts in memory. */
  async add(jobId: string, costUsd: number): Promise<void> {
    this.roll();
    if (!Number.isFinite(costUsd) || costUsd < 0 || Object.hasOwn(this.state.jobs, jobId)) return;
    this.state.jobs[jobId] = costUsd;
    await this.save();
  }

  /** True the first time it is asked on a day whose budget is reached: the caller notifies then, once. */
  async claimNotice(): Promise<boolean> {
    if (!this.reached() || this.state.notified) return false;
    this.state.notified = true;
    await this.save();
    return true;
  }

  snapshot(): BudgetSnapshot {
    this.roll();
    return { day: this.state.day, spent_usd: this.spentToday(), daily_budget_usd: this.o.limitUsd, reached: this.reached() };
  }

  private roll(): void {
    const today = utcDay(this.o.clock.now());
    if (this.state.day !== today) this.state = { day: today, jobs: {}, notified: false };
  }

  private async save(): Promise<void> {
    const doc = { day: this.state.day, spent_usd: round(Object.values(this.state.jobs).reduce((a, b) => a + b, 0)), jobs: this.state.jobs, notified: this.state.notified };
    try {
      await writeFileAtomic(this.file, `${JSON.stringify(doc, null, 2)}\n`);
    } catch (err) {
      this.o.log.error({ file: this.file, err: describeError(err) }, "cannot save the delegation budget state");
    }
  }
}

/** YYYY-MM-DD of an instant, in UTC. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function round(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}
