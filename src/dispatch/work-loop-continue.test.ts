import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../lib/logger.js";
import { InstantClock } from "../lib/test-clock.js";
import type { TaskRecord } from "./records.js";
import { TaskOutcomes, type TaskOutcomeDeps } from "./task-outcomes.js";
import { harness, memoryLedger } from "./test-work-loop.js";

const HOUR = 3_600_000;

/** A gate: `wait()` parks a caller until `open()`. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A hanging task past its timeout (its hold lapsed with no continuation), so the next pass times it out. */
async function pastItsTimeout() {
  const h = await harness({
    sessions: ["pool-1"],
    behaviour: () => ({ kind: "hang" }),
    settings: { taskTimeoutMs: HOUR, stallTimeoutMs: 10 * HOUR, maxAttempts: 3 },
    deps: { limits: { observeScreen: () => undefined, holdsLimit: () => false } },
  });
  h.queue.add("p", "t1", "x");
  await h.tick(2);
  assert.equal(h.ledger.records()[0]?.phase, "working");
  await h.clock.sleep(2 * HOUR);
  return h;
}

describe("WorkLoop: a continuation beside supervision", () => {
  test("sent while a pass is retrying the same task: it waits, finds the task gone and types nothing", async () => {
    const h = await pastItsTimeout();
    const record = h.ledger.records()[0]!;
    // The pass is held at its first Ctrl-C: ending the timed-out task's agent.
    const g = gate();
    const sendKey = h.tmux.sendKey.bind(h.tmux);
    let held = false;
    h.tmux.sendKey = async (...args: Parameters<typeof sendKey>) => {
      if (args[1] === "C-c" && !held) {
        held = true;
        await g.opened;
      }
      return sendKey(...args);
    };
    const pass = h.loop.tick(new AbortController().signal);
    await settle();
    assert.ok(held, "the pass is ending the agent");
    const continued = h.loop.continueTask(record).then(() => "continued", (err: unknown) => err);
    await settle();
    g.open();
    await pass;
    const outcome = await continued;
    assert.ok(outcome instanceof Error && /no longer in flight/.test(outcome.message), `continueTask: ${String(outcome)}`);
    assert.ok(!h.tmux.calls.some((c) => c.op === "paste" && c.text === "continue"), "no \"continue\" typed into an agent being killed");
    assert.deepEqual(h.events.map((e) => e.type), ["task_dispatched", "task_timed_out", "task_requeued"]);
  });

  test("under way when a pass starts: the pass leaves that session alone until the continuation is through", async () => {
    const h = await pastItsTimeout();
    const record = h.ledger.records()[0]!;
    // The continuation is held right after its paste.
    const g = gate();
    const paste = h.tmux.paste.bind(h.tmux);
    h.tmux.paste = async (...args: Parameters<typeof paste>) => {
      const out = await paste(...args);
      if (args[1] === "continue") await g.opened;
      return out;
    };
    const continued = h.loop.continueTask(record);
    await settle();
    await h.loop.tick(new AbortController().signal);
    assert.ok(!h.events.some((e) => e.type === "task_timed_out"), "the pass did not time out the task being continued");
    g.open();
    await continued;
    assert.deepEqual(h.events.map((e) => e.type), ["task_dispatched", "task_continued"]);
  });
});

describe("TaskOutcomes.update", () => {
  test("merges its patch into the record as the ledger holds it now: an older copy never writes back older fields", () => {
    const ledger = memoryLedger();
    const outcomes = new TaskOutcomes({ ledger, clock: new InstantClock(), log: silentLogger() } as unknown as TaskOutcomeDeps);
    const base: TaskRecord = {
      project: "p", id: "t1", session: "pool-1", account: "main", claude_session_id: "0b9c3f4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e", attempt: 1,
      phase: "working", cwd: "/w", started_at: 0, submitted_at: 10, timeout_ms: HOUR, screen_changed_at: 10, screen_hash: "", idle_polls: 0,
    };
    ledger.put(base);
    const stale = ledger.get("p/t1")!;
    // A continuation lands meanwhile.
    outcomes.update(ledger.get("p/t1")!, { submitted_at: 500, screen_changed_at: 500 });
    outcomes.update(stale, { idle_polls: 1 });
    assert.deepEqual(ledger.get("p/t1"), { ...base, submitted_at: 500, screen_changed_at: 500, idle_polls: 1 });
    // A copy of an earlier attempt (or of a task no longer in flight) changes nothing.
    outcomes.update({ ...stale, claude_session_id: "another" }, { idle_polls: 7 });
    ledger.remove("p/t1");
    outcomes.update(stale, { idle_polls: 9 });
    assert.equal(ledger.get("p/t1"), undefined);
  });
});
