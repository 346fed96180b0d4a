import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { harness } from "./test-work-loop.js";

const HOUR = 3_600_000;

/** A task stopped at a usage limit that the (fake) quota monitor holds until told otherwise; "continue" makes it work on. */
async function heldAtLimit() {
  let holding = true;
  const h = await harness({
    sessions: ["pool-1"],
    behaviour: (prompt) => (prompt === "continue" ? { kind: "hang" } : { kind: "limit" }),
    // The stall clock is longer than the timeout here, so that each can be seen on its own.
    settings: { taskTimeoutMs: 2 * HOUR, stallTimeoutMs: 3 * HOUR, maxAttempts: 2 },
    deps: { limits: { observeScreen: () => undefined, holdsLimit: () => holding } },
  });
  h.queue.add("p", "t1", "x");
  await h.tick(3);
  assert.equal(h.queue.where("p", "t1"), "active");
  // Every account is out for 4 h: supervision keeps polling, the task held.
  await h.clock.sleep(4 * HOUR);
  await h.tick(2);
  return { ...h, release: () => void (holding = false) };
}

const timedOut = (events: { type: string }[]): boolean => events.some((e) => e.type === "task_timed_out" || e.type === "session_stalled");

describe("WorkLoop: time held at a usage limit is not the task's time", () => {
  test("continued after a 4 h hold: the task goes on, and times out only after timeout_ms of un-held time", async () => {
    const h = await heldAtLimit();
    await h.loop.continueTask(h.ledger.records()[0]!);
    h.release();
    await h.tick(1);
    assert.equal(h.queue.where("p", "t1"), "active", "not timed out just after being told to continue");
    assert.ok(!timedOut(h.events));
    assert.ok(h.ledger.records()[0]!.held_ms! >= 4 * HOUR);
    await h.clock.sleep(HOUR + 50 * 60_000);
    await h.tick(1);
    assert.equal(h.queue.where("p", "t1"), "active", "1 h 50 min of un-held time: still within the 2 h timeout");
    await h.clock.sleep(15 * 60_000);
    await h.tick(1);
    assert.ok(h.events.some((e) => e.type === "task_timed_out"), "past 2 h of un-held time: timed out");
    assert.ok(h.events.some((e) => e.type === "task_requeued"), "back to the inbox with an attempt counted");
  });

  test("a hold that lapses without a continuation is timed from then on, not from the task's start", async () => {
    const h = await heldAtLimit();
    h.release();
    await h.tick(1);
    assert.equal(h.queue.where("p", "t1"), "active");
    assert.ok(!timedOut(h.events), "neither the timeout nor the stall clock counts the hold");
    await h.clock.sleep(2 * HOUR);
    await h.tick(1);
    assert.ok(h.events.some((e) => e.type === "task_timed_out"));
  });
});
