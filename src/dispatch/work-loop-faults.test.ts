import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { AppError } from "../lib/errors.js";
import type { TaskFault } from "./faults.js";
import { harness, type HarnessOptions } from "./test-work-loop.js";

const diskFull = (): Error => Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });

/** A harness whose faults are counted as the daemon sees them (onFault). */
async function faulty(o: HarnessOptions = {}) {
  const told: TaskFault[] = [];
  const h = await harness({ ...o, deps: { onFault: (f) => void told.push(f) } });
  return { ...h, told };
}

describe("WorkLoop under faults: nothing is left in active/ waiting for a restart", () => {
  test("a state write that fails during a hand-over: the task is put back every pass until it can be, reported once, then runs", async () => {
    const h = await faulty();
    let full = true;
    h.ledger.flush = async () => {
      if (full) throw diskFull();
    };
    h.queue.add("p", "t1", "hello");
    await h.tick(1);
    // The claim went through (a rename), the hand-over failed at the first state write, and so did the re-queue.
    assert.equal(h.queue.where("p", "t1"), "active");
    assert.equal(h.loop.faults().length, 1);
    assert.equal(h.loop.faults()[0]!.task, "p/t1");
    assert.match(h.loop.faults()[0]!.reason, /could not be put back after a failed hand-over: .*ENOSPC/);
    await h.tick(3);
    assert.equal(h.queue.where("p", "t1"), "active", "still stuck while the disk is full");
    assert.equal(h.told.length, 1, "one notification per fault, not one per pass");
    assert.equal(h.fake.prompts.length, 0);

    full = false;
    await h.tick(5);
    assert.deepEqual(h.loop.faults(), []);
    assert.equal(h.queue.where("p", "t1"), "done", "put back at the next pass, then handed over again and finished");
    assert.equal(h.queue.get("p", "t1")!.footer?.attempts, 2, "the failed hand-over counted as an attempt");
    assert.equal(h.told.length, 1);
    assert.equal(h.ledger.tasks.size, 0);
  });

  test("a queue move that fails when a dead agent's task is filed: retried every pass, reported once, filed under failed/ once it works", async () => {
    const h = await faulty({ behaviour: () => ({ kind: "die" }), settings: { maxAttempts: 1 } });
    let broken = true;
    const fail = h.queue.fail.bind(h.queue);
    h.queue.fail = async (...args) => {
      if (broken) throw new AppError("QUEUE_IO", "cannot move active/t1.md to failed/t1.md: EIO: i/o error");
      return fail(...args);
    };
    h.queue.add("p", "t1", "x");
    await h.tick(4);
    assert.equal(h.queue.where("p", "t1"), "active");
    assert.match(h.loop.faults()[0]?.reason ?? "", /could not be filed or put back: .*EIO/);
    await h.tick(3);
    assert.equal(h.told.length, 1);
    broken = false;
    await h.tick(1);
    assert.equal(h.queue.where("p", "t1"), "failed");
    assert.match(h.queue.get("p", "t1")!.reason ?? "", /exited/);
    assert.deepEqual(h.loop.faults(), []);
    assert.equal(h.busy.size, 0, "the session is free again");
  });

  test("a re-queue that moved the file and then threw (an fsync failing): the next pass settles the record, never stuck on it", async () => {
    const h = await faulty({ behaviour: () => ({ kind: "die" }), settings: { maxAttempts: 3 } });
    let throwAfterMove = true;
    const requeue = h.queue.requeue.bind(h.queue);
    h.queue.requeue = async (project, id) => {
      const as = await requeue(project, id);
      if (throwAfterMove) {
        throwAfterMove = false;
        throw new AppError("QUEUE_IO", "fsync of the inbox failed: EIO");
      }
      return as;
    };
    h.queue.add("p", "t1", "x");
    await h.tick(3);
    assert.ok(h.queue.moves.includes("p/t1:active->inbox"));
    await h.tick(12);
    assert.equal(h.queue.where("p", "t1"), "failed");
    assert.deepEqual(h.loop.faults(), []);
    assert.equal(h.ledger.tasks.size, 0);
  });

  test("a claim that threw after the rename: the file goes back to the inbox at the next pass, reported once, then runs", async () => {
    const h = await faulty();
    let broken = true;
    const claim = h.queue.claim.bind(h.queue);
    h.queue.claim = async (project, id) => {
      if (!broken) return claim(project, id);
      const r = await claim(project, id);
      assert.ok(r.ok);
      throw new AppError("QUEUE_IO", "cannot move inbox/t1.md to active/t1.md: fsync: EIO");
    };
    let requeueFails = true;
    const requeue = h.queue.requeue.bind(h.queue);
    h.queue.requeue = async (project, id) => {
      if (requeueFails) throw new AppError("QUEUE_IO", "EIO");
      return requeue(project, id);
    };
    h.queue.add("p", "t1", "hello");
    await h.tick(1);
    broken = false;
    assert.equal(h.queue.where("p", "t1"), "active");
    await h.tick(2);
    assert.equal(h.queue.where("p", "t1"), "active");
    assert.match(h.loop.faults()[0]?.reason ?? "", /claim failed part-way/);
    assert.equal(h.told.length, 1);
    requeueFails = false;
    await h.tick(5);
    assert.equal(h.queue.where("p", "t1"), "done");
    assert.deepEqual(h.loop.faults(), []);
    assert.equal(h.told.length, 1);
  });

  test("at start-up, a task whose re-queue fails does not stop adoption: the others are settled, it is retried every pass", async () => {
    const h = await faulty();
    const now = h.clock.now();
    const record = (id: string, session: string) => ({
      project: "p", id, session, account: "main", claude_session_id: `0b9c3f4e-5d6a-4b7c-8d9e-0f1a2b3c4d5${id.at(-1)!}`, attempt: 1,
      phase: "working" as const, cwd: "/work/p", started_at: now, submitted_at: now, timeout_ms: 3_600_000, screen_changed_at: now, screen_hash: "", idle_polls: 0,
    });
    for (const [id, session] of [["t1", "pool-1"], ["t2", "pool-2"]] as const) {
      h.queue.add("p", id, "x");
      await h.queue.claim("p", id);
      h.ledger.put(record(id, session));
      await h.tmux.killSession(session);
    }
    h.queue.add("p", "t3", "x");
    await h.queue.claim("p", "t3");
    let broken = true;
    const requeue = h.queue.requeue.bind(h.queue);
    h.queue.requeue = async (project, id) => {
      if (broken && id !== "t2") throw new AppError("QUEUE_IO", "EIO");
      return requeue(project, id);
    };
    const report = await h.loop.adopt();
    assert.deepEqual([report.requeued, report.stuck.sort()], [["p/t2"], ["p/t1", "p/t3"]]);
    assert.deepEqual(h.loop.faults().map((f) => f.task).sort(), ["p/t1", "p/t3"]);
    assert.equal(h.told.length, 2);
    broken = false;
    await h.tick(1);
    assert.deepEqual(h.loop.faults(), []);
    // Both sessions are gone, so nothing is dispatched again: each waits in the inbox with its count.
    assert.deepEqual([h.queue.where("p", "t1"), h.queue.where("p", "t3")], ["inbox", "inbox"]);
    assert.deepEqual([h.ledger.attempts("p/t1"), h.ledger.attempts("p/t3")], [1, 0]);
    assert.equal(h.ledger.tasks.size, 0);
    assert.equal(h.told.length, 2);
  });
});
