import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MAX_TIMER_MS, sleepWithTimers, systemClock, type TimerApi } from "./clock.js";

/** Timers that fire only when the test says so, recording each delay asked for. */
function manualTimers(): TimerApi & { delays: number[]; fire(): void; pending: number } {
  const queue: { fn: () => void; handle: number }[] = [];
  const delays: number[] = [];
  let next = 0;
  return {
    delays,
    get pending() {
      return queue.length;
    },
    setTimeout(fn, ms) {
      delays.push(ms);
      queue.push({ fn, handle: ++next });
      return next;
    },
    clearTimeout(handle) {
      const i = queue.findIndex((t) => t.handle === handle);
      if (i >= 0) queue.splice(i, 1);
    },
    fire() {
      queue.shift()?.fn();
    },
  };
}

describe("sleepWithTimers", () => {
  test("a 30-day wait never asks Node for a timer past 2^31-1 ms, and lasts the whole 30 days", async () => {
    const timers = manualTimers();
    const total = 30 * 86_400_000;
    let done = false;
    const slept = sleepWithTimers(total, undefined, timers).then(() => (done = true));
    while (timers.pending > 0) {
      await Promise.resolve();
      assert.equal(done, false);
      timers.fire();
    }
    await slept;
    assert.ok(timers.delays.every((d) => d <= MAX_TIMER_MS), timers.delays.join(","));
    assert.equal(timers.delays.reduce((a, b) => a + b, 0), total);
    assert.equal(timers.delays.length, 2);
  });

  test("a short wait is one timer", async () => {
    const timers = manualTimers();
    const slept = sleepWithTimers(5_000, undefined, timers);
    timers.fire();
    await slept;
    assert.deepEqual(timers.delays, [5_000]);
  });

  test("an abort during a later step of a chained wait rejects and leaves no timer", async () => {
    const timers = manualTimers();
    const ac = new AbortController();
    const slept = sleepWithTimers(3 * MAX_TIMER_MS, ac.signal, timers);
    timers.fire();
    ac.abort();
    await assert.rejects(slept, { name: "AbortError" });
    assert.equal(timers.pending, 0);
  });

  test("systemClock really sleeps a short wait and honours abort", async () => {
    await systemClock.sleep(1);
    const ac = new AbortController();
    const p = systemClock.sleep(60_000, ac.signal);
    ac.abort();
    await assert.rejects(p, { name: "AbortError" });
  });
});
