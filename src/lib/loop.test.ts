import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock, flushMicrotasks } from "./test-clock.js";
import { PeriodicLoop } from "./loop.js";
import { silentLogger } from "./logger.js";

function makeLoop(tick: (signal: AbortSignal) => Promise<void>, clock = new FakeClock()) {
  return { clock, loop: new PeriodicLoop({ name: "t", intervalMs: 1000, clock, log: silentLogger(), tick, maxBackoffMs: 8000 }) };
}

describe("PeriodicLoop", () => {
  test("ticks at once, then every interval", async () => {
    let ticks = 0;
    const { clock, loop } = makeLoop(async () => void ticks++);
    loop.start();
    await flushMicrotasks();
    assert.equal(ticks, 1);
    await clock.advance(999);
    assert.equal(ticks, 1);
    await clock.advance(1);
    assert.equal(ticks, 2);
    await clock.advance(3000);
    assert.equal(ticks, 5);
    await loop.stop();
    assert.equal(loop.status, "stopped");
  });

  test("a failing tick never escapes; waits double up to the cap, then reset after a success", async () => {
    const times: number[] = [];
    let fail = 5;
    const { clock, loop } = makeLoop(async () => {
      times.push(clock.now());
      if (fail-- > 0) throw new Error("boom");
    });
    const t0 = clock.now();
    loop.start();
    await flushMicrotasks();
    await clock.advance(60_000);
    await loop.stop();
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assert.equal(times[0], t0);
    assert.deepEqual(gaps.slice(0, 6), [2000, 4000, 8000, 8000, 8000, 1000]);
  });

  test("stop() is idempotent, returns one promise, and aborts a tick in flight", async () => {
    let sawAbort = false;
    const { clock, loop } = makeLoop(async (signal) => {
      await clock.sleep(1_000_000, signal).catch((e: unknown) => {
        sawAbort = true;
        throw e;
      });
    });
    loop.start();
    loop.start();
    await flushMicrotasks();
    const a = loop.stop();
    const b = loop.stop();
    assert.equal(a, b);
    await a;
    assert.equal(sawAbort, true);
    assert.equal(loop.status, "stopped");
  });

  test("stop() while a tick is running ends the loop without waiting for the interval", async () => {
    let release!: () => void;
    const { loop } = makeLoop(() => new Promise<void>((r) => (release = r)));
    loop.start();
    await flushMicrotasks();
    const stopped = loop.stop();
    release();
    await stopped;
    assert.equal(loop.status, "stopped");
  });

  test("poke() runs the next tick without waiting for the interval", async () => {
    let ticks = 0;
    const { loop } = makeLoop(async () => void ticks++);
    loop.start();
    await flushMicrotasks();
    loop.poke();
    await flushMicrotasks();
    assert.equal(ticks, 2);
    await loop.stop();
  });

  test("a poke during a tick is not lost: the next tick follows at once", async () => {
    let ticks = 0;
    let release: (() => void) | undefined;
    const { clock, loop } = makeLoop(async () => {
      ticks++;
      if (ticks === 1) await new Promise<void>((r) => (release = r));
    });
    loop.start();
    await flushMicrotasks();
    loop.poke();
    release!();
    await flushMicrotasks();
    assert.equal(ticks, 2, "ticked again without waiting for the interval");
    assert.equal(clock.now() - Date.UTC(2026, 0, 1), 0);
    await loop.stop();
  });

  test("a stopped loop cannot be restarted", async () => {
    const { loop } = makeLoop(async () => undefined);
    await loop.stop();
    assert.throws(() => loop.start(), /cannot start from state stopped/);
  });
});
