/** Test clocks: they ship with the tests, not in dist/. */
import { abortReason, type Clock } from "./clock.js";

/**
 * A clock that moves only when told to. Sleepers wake in deadline order as `advance` passes them.
 */
export class FakeClock implements Clock {
  private current: number;
  private sleepers: { until: number; resolve: () => void; reject: (e: unknown) => void; signal?: AbortSignal }[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const entry = { until: this.current + Math.max(0, ms), resolve, reject, signal };
      this.sleepers.push(entry);
      signal?.addEventListener(
        "abort",
        () => {
          this.sleepers = this.sleepers.filter((s) => s !== entry);
          reject(abortReason(signal));
        },
        { once: true },
      );
    });
  }

  /** How many sleeps are pending: lets a test wait until a loop is parked. */
  get pendingSleeps(): number {
    return this.sleepers.length;
  }

  /** Moves time forward, waking due sleepers one by one and letting their continuations run. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      this.sleepers.sort((a, b) => a.until - b.until);
      const next = this.sleepers[0];
      if (!next || next.until > target) break;
      this.sleepers.shift();
      this.current = Math.max(this.current, next.until);
      next.resolve();
      await flushMicrotasks();
    }
    this.current = target;
    await flushMicrotasks();
  }
}

/** Lets pending promise continuations run (several hops, for chains of awaits). */
export async function flushMicrotasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

/**
 * A clock for polling code under test: every sleep moves time forward by its duration at once, so a
 * wait of minutes runs in microseconds and deadlines still expire in the order they would.
 */
export class InstantClock implements Clock {
  constructor(private current = Date.UTC(2026, 0, 1)) {}

  now(): number {
    return this.current;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw abortReason(signal);
    this.current += Math.max(0, ms);
    await new Promise<void>((r) => setImmediate(r));
    if (signal?.aborted) throw abortReason(signal);
  }
}
