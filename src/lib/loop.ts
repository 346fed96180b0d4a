import type { Clock } from "./clock.js";
import { isAbortError } from "./clock.js";
import { describeError, IllegalStateError } from "./errors.js";
import type { Logger } from "./logger.js";

export type LoopState = "idle" | "running" | "stopping" | "stopped";

export interface PeriodicLoopOptions {
  name: string;
  intervalMs: number;
  clock: Clock;
  log: Logger;
  /** One pass of work; receives the loop's signal, which aborts on stop(). */
  tick: (signal: AbortSignal) => Promise<void>;
  /** Longest wait after repeated failures (the wait doubles from intervalMs up to this). */
  maxBackoffMs?: number;
}

/**
 * Runs `tick` now and then every interval until stopped. It never throws out: a failing tick is logged
 * and the next one waits longer (doubling up to maxBackoffMs). start() and stop() are safe to call twice;
 * stop() returns the same promise to every caller.
 */
export class PeriodicLoop {
  private state: LoopState = "idle";
  private readonly abort = new AbortController();
  private done: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private failures = 0;
  private poked = false;
  lastTickAt: number | undefined;
  lastError: string | undefined;

  constructor(private readonly o: PeriodicLoopOptions) {}

  get status(): LoopState {
    return this.state;
  }

  start(): void {
    if (this.state === "running") return;
    if (this.state !== "idle") throw new IllegalStateError(`loop ${this.o.name} cannot start from state ${this.state}`);
    this.state = "running";
    this.o.log.debug({ loop: this.o.name }, "loop started");
    this.done = this.run();
  }

  /** Runs the next tick now instead of at the end of the current wait (or right after the tick in progress). */
  poke(): void {
    // A poke during a tick must not be lost: the pause that follows is skipped.
    this.poked = true;
    this.wake?.();
  }

  stop(): Promise<void> {
    if (this.state === "idle") {
      this.state = "stopped";
      return Promise.resolve();
    }
    if (this.state === "running") {
      this.state = "stopping";
      this.abort.abort(new DOMException(`loop ${this.o.name} stopped`, "AbortError"));
      this.wake?.();
    }
    return this.done ?? Promise.resolve();
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      this.poked = false;
      try {
        await this.o.tick(signal);
        this.failures = 0;
        this.lastError = undefined;
      } catch (err) {
        if (signal.aborted && isAbortError(err)) break;
        this.failures++;
        this.lastError = describeError(err);
        this.o.log.error({ loop: this.o.name, err: this.lastError, failures: this.failures }, "loop tick failed");
      }
      this.lastTickAt = this.o.clock.now();
      const wait = this.failures === 0
        ? this.o.intervalMs
        : Math.min(this.o.maxBackoffMs ?? this.o.intervalMs * 8, this.o.intervalMs * 2 ** Math.min(this.failures, 10));
      await this.pause(wait, signal);
    }
    this.state = "stopped";
    this.o.log.debug({ loop: this.o.name }, "loop stopped");
  }

  /** Sleeps until the interval passes, poke() is called or the loop stops. */
  private async pause(ms: number, signal: AbortSignal): Promise<void> {
    // stop() during a tick aborts before this listener exists: check first, or the loop sleeps on.
    if (signal.aborted) return;
    if (this.poked) {
      this.poked = false;
      return;
    }
    const local = new AbortController();
    const onAbort = (): void => local.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    this.wake = () => {
      this.poked = false;
      local.abort();
    };
    try {
      await this.o.clock.sleep(ms, local.signal);
    } catch {
      // woken early: by poke() or stop()
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.wake = undefined;
    }
  }
}
