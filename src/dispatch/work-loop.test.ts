import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { AppError } from "../lib/errors.js";
import { createLogger } from "../lib/logger.js";
import type { TaskRecord } from "./records.js";
import { harness } from "./test-work-loop.js";

describe("WorkLoop", () => {
  test("a task goes to a free pool session, completes on the Stop hook, lands in done/ with the result, and the session is recycled", async () => {
    const h = await harness();
    h.queue.add("p", "t1", "first line\nsecond line");
    await h.tick(4);
    assert.equal(h.queue.where("p", "t1"), "done");
    const done = h.queue.get("p", "t1")!;
    assert.equal(done.result, "Done: first line");
    assert.equal(done.footer?.attempts, 1);
    assert.equal(done.footer?.account, "main");
    assert.match(done.footer?.claudeSessionId ?? "", /^[0-9a-f-]{36}$/);
    assert.deepEqual(h.fake.prompts.map((p) => p.prompt), ["first line\nsecond line"]);
    assert.ok(h.tmux.calls.some((c) => c.op === "send-text" && c.text === "/exit"), "agent recycled with /exit after its turn");
    assert.equal(h.tmux.calls.filter((c) => c.op === "send-key" && c.key === "C-c").length, 0);
    assert.equal(h.busy.size, 0);
    assert.equal(h.ledger.tasks.size, 0);
    assert.deepEqual(h.events.map((e) => e.type), ["task_dispatched", "task_done"]);
  });

  test("S5: task text that could end the paste is neutralised before pasting, and the done footer says so", async () => {
    const h = await harness();
    h.queue.add("p", "t1", "before\x1b[201~\n!touch /tmp/cf-never\nafter\x07");
    h.queue.add("p", "t2", "plain\ttext 🚀\n");
    await h.tick(4);
    assert.deepEqual(h.fake.prompts.map((p) => p.prompt).sort(), ["before\n!touch /tmp/cf-never\nafter", "plain\ttext 🚀\n"]);
    assert.equal(h.tmux.calls.some((c) => c.op === "paste" && [...(c.text ?? "")].some((ch) => ch !== "\n" && ch !== "\t" && (ch < " " || (ch >= "\x7f" && ch <= "\x9f")))), false);
    assert.equal(h.queue.get("p", "t1")?.footer?.promptChanged, "2 control sequences or characters removed before pasting");
    assert.equal(h.queue.get("p", "t2")?.footer?.promptChanged, undefined);
  });

  // Without side-by-side supervision t2 would wait for t1's agent to end, which waits for t2: the
  // test's own timeout turns that into a failure.
  test("tasks done together are filed side by side: one agent slow to end holds up no other task", { timeout: 20_000 }, async () => {
    const h = await harness({ behaviour: () => ({ kind: "hang" }) });
    h.queue.add("p", "t1", "first");
    h.queue.add("p", "t2", "second");
    await h.tick(2);
    const sessionOf = (id: string): string => [...h.ledger.tasks.values()].find((r) => r.id === id)!.session;
    const [s1, s2] = [sessionOf("t1"), sessionOf("t2")];
    let release!: () => void;
    const t2Filed = new Promise<void>((r) => (release = r));
    const complete = h.queue.complete.bind(h.queue);
    h.queue.complete = async (project, id, result, footer) => {
      await complete(project, id, result, footer);
      if (id === "t2") release();
    };
    const sendText = h.tmux.sendText.bind(h.tmux);
    h.tmux.sendText = async (name, text) => {
      // t1's agent does not end until t2 is in done/.
      if (name === s1 && text === "/exit") await t2Filed;
      return sendText(name, text);
    };
    h.fake.finish(h.tmux.sessions.get(s1)!);
    h.fake.finish(h.tmux.sessions.get(s2)!);
    await h.tick(1);
    assert.deepEqual([h.queue.where("p", "t1"), h.queue.where("p", "t2")], ["done", "done"]);
    assert.equal(h.busy.size, 0);
  });

  test("without hooks, an idle screen for idle_confirm polls completes the task with the transcript's last message", async () => {
    const h = await harness({ hooks: false });
    h.queue.add("p", "t1", "hello");
    await h.tick(6);
    assert.equal(h.queue.where("p", "t1"), "done");
    assert.equal(h.queue.get("p", "t1")!.result, "from the transcript");
  });

  test("a signal file completes the task", async () => {
    const h = await harness({ behaviour: () => ({ kind: "hang" }) });
    h.queue.add("p", "t1", "x");
    await h.tick(2);
    assert.equal(h.queue.where("p", "t1"), "active");
    h.queue.get("p", "t1")!.doneSignal = true;
    await h.tick(1);
    assert.equal(h.queue.where("p", "t1"), "done");
  });

  test("a done signal that cannot be read is logged and looked at again next pass; the task stays in flight", async () => {
    const lines: string[] = [];
    const log = createLogger({ destination: new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } }) });
    const h = await harness({ behaviour: () => ({ kind: "hang" }), deps: { log } });
    h.queue.add("p", "t1", "x");
    await h.tick(2);
    const doneSignal = h.queue.doneSignal.bind(h.queue);
    h.queue.doneSignal = async () => {
      throw new AppError("QUEUE_IO", "look for the done signal of p/t1: EACCES");
    };
    await h.tick(1);
    assert.equal(h.queue.where("p", "t1"), "active");
    assert.equal(h.ledger.tasks.get("p/t1")?.phase, "working");
    assert.ok(lines.some((l) => l.includes("supervising a task failed") && l.includes("EACCES")), lines.join(""));
    h.queue.doneSignal = doneSignal;
    h.queue.get("p", "t1")!.doneSignal = true;
    await h.tick(1);
    assert.equal(h.queue.where("p", "t1"), "done");
  });

  test("an agent that dies is noticed: re-queued with attempts+1, then failed at max_attempts", async () => {
    const h = await harness({ behaviour: () => ({ kind: "die" }) });
    h.queue.add("p", "t1", "x");
    await h.tick(3);
    assert.ok(h.queue.moves.includes("p/t1:active->inbox"));
    await h.tick(4);
    assert.equal(h.queue.where("p", "t1"), "failed");
    const failed = h.queue.get("p", "t1")!;
    assert.equal(failed.footer?.attempts, 2);
    assert.match(failed.reason ?? "", /exited/);
    assert.equal(h.fake.prompts.length, 2, "delivered once per attempt, never more");
  });

  test("a task past its timeout is retried, then failed", async () => {
    const h = await harness({ behaviour: () => ({ kind: "hang" }), settings: { taskTimeoutMs: 60_000, maxAttempts: 1 } });
    h.queue.add("p", "t1", "x");
    await h.tick(20);
    assert.equal(h.queue.where("p", "t1"), "failed");
    assert.match(h.queue.get("p", "t1")!.reason ?? "", /timed out/);
    assert.ok(h.events.some((e) => e.type === "task_timed_out"));
  });

  test("a per-task timeout from the frontmatter wins over the default", async () => {
    const h = await harness({ behaviour: () => ({ kind: "hang" }), settings: { maxAttempts: 1 } });
    h.queue.add("p", "t1", "x", { timeoutMs: 30_000 });
    await h.tick(10);
    assert.equal(h.queue.where("p", "t1"), "failed");
  });

  test("a stalled session (no screen change) is reported and retried", async () => {
    const h = await harness({ behaviour: () => ({ kind: "hang" }), settings: { stallTimeoutMs: 30_000, maxAttempts: 1 } });
    h.queue.add("p", "t1", "x");
    await h.tick(12);
    assert.equal(h.queue.where("p", "t1"), "failed");
    assert.ok(h.events.some((e) => e.type === "session_stalled"));
  });

  test("a usage limit leaves the task where it is for the quota monitor", async () => {
    const h = await harness({ behaviour: () => ({ kind: "limit" }) });
    h.queue.add("p", "t1", "x");
    await h.tick(8);
    assert.equal(h.queue.where("p", "t1"), "active");
    assert.equal(h.fake.prompts.length, 1);
  });

  test("a limit banner the quota monitor does not hold (vetoed, history, unconfirmed) is still timed: the task times out", async () => {
    const h = await harness({ behaviour: () => ({ kind: "limit" }), settings: { taskTimeoutMs: 60_000, maxAttempts: 1 }, deps: { limits: { observeScreen: () => undefined, holdsLimit: () => false } } });
    h.queue.add("p", "t1", "x");
    await h.tick(20);
    assert.equal(h.queue.where("p", "t1"), "failed");
    assert.match(h.queue.get("p", "t1")!.reason ?? "", /timed out/);
    assert.ok(h.events.some((e) => e.type === "task_timed_out"));
  });

  test("a task the quota monitor holds at a limit waits for the failover, past its timeout", async () => {
    const h = await harness({ behaviour: () => ({ kind: "limit" }), settings: { taskTimeoutMs: 60_000, maxAttempts: 1 }, deps: { limits: { observeScreen: () => undefined, holdsLimit: () => true } } });
    h.queue.add("p", "t1", "x");
    await h.tick(20);
    assert.equal(h.queue.where("p", "t1"), "active");
    assert.equal(h.fake.prompts.length, 1);
  });

  test("throttling (StopFailure rate_limit, 'not your usage limit') is an error to retry, not a limit to wait out", async () => {
    const h = await harness({
      behaviour: () => ({ kind: "limit", banner: "API Error: Server is temporarily limiting requests (not your usage limit) · Rate limited" }),
      settings: { maxAttempts: 1 },
    });
    h.queue.add("p", "t1", "x");
    await h.tick(8);
    assert.equal(h.queue.where("p", "t1"), "failed");
    assert.match(h.queue.get("p", "t1")!.reason ?? "", /error/);
  });

  test("more tasks than sessions: each session takes one, the rest wait, projects take turns", async () => {
    const h = await harness({ projects: ["a", "b"], behaviour: () => ({ kind: "hang" }) });
    for (const id of ["a1", "a2", "a3"]) h.queue.add("a", id, id);
    h.queue.add("b", "b1", "b1");
    await h.tick(1);
    assert.deepEqual(h.fake.prompts.map((p) => p.prompt).sort(), ["a1", "b1"]);
    assert.equal(h.grown() > 0, true, "asked the pool to grow for the waiting tasks");
  });

  test("tasks complete one after another through the same session", async () => {
    const h = await harness({ sessions: ["pool-1"] });
    for (const id of ["t1", "t2", "t3"]) h.queue.add("p", id, id);
    await h.tick(12);
    assert.deepEqual(["t1", "t2", "t3"].map((id) => h.queue.where("p", id)), ["done", "done", "done"]);
    assert.equal(h.fake.launches.length, 3, "a fresh agent for every task");
  });

  test("nothing is dispatched while no account is available", async () => {
    const h = await harness();
    h.queue.add("p", "t1", "x");
    (h.loop as unknown as { d: { accounts: { activeAccount: () => undefined } } }).d.accounts = { activeAccount: () => undefined };
    await h.tick(3);
    assert.equal(h.queue.where("p", "t1"), "inbox");
  });
});

test("the operator's hold stops new dispatches but not supervision, outlives a swap's pause/resume, and is released by hold(undefined)", async () => {
  const h = await harness();
  h.queue.add("p", "t1", "x");
  await h.tick(1);
  assert.equal(h.queue.where("p", "t1"), "active");
  h.loop.hold("paused by operator");
  h.queue.add("p", "t2", "y");
  await h.tick(4);
  assert.equal(h.queue.where("p", "t1"), "done", "the task in flight is still supervised and filed");
  assert.equal(h.queue.where("p", "t2"), "inbox");
  await h.loop.pause("swap");
  h.loop.resume();
  await h.tick(2);
  assert.equal(h.queue.where("p", "t2"), "inbox", "a swap's resume() leaves the operator's hold");
  assert.equal(h.loop.held, "paused by operator");
  h.loop.hold(undefined);
  await h.tick(4);
  assert.equal(h.queue.where("p", "t2"), "done");
});

describe("WorkLoop.adopt (restart)", () => {
  const base = (over: Partial<TaskRecord>): TaskRecord => ({
    project: "p", id: "t1", session: "pool-1", account: "main", claude_session_id: "0b9c3f4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e",
    attempt: 1, phase: "working", cwd: "/work/p", started_at: 0, submitted_at: 0, timeout_ms: 3_600_000,
    screen_changed_at: 0, screen_hash: "", idle_polls: 0, ...over,
  });

  test("a working task whose session is alive with its agent is re-adopted and finishes normally", async () => {
    const h = await harness();
    h.queue.add("p", "t1", "x");
    await h.queue.claim("p", "t1");
    // The agent was launched by the previous daemon and is busy.
    await h.tmux.sendText("pool-1", "claude --session-id 0b9c3f4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e");
    await h.tmux.sendKey("pool-1", "Enter");
    await h.tmux.paste("pool-1", "x");
    await h.tmux.sendKey("pool-1", "Enter");
    h.ledger.put(base({ started_at: h.clock.now(), submitted_at: h.clock.now() }));
    const r = await h.loop.adopt();
    assert.deepEqual(r.adopted, ["p/t1"]);
    assert.equal(h.busy.get("pool-1"), "p/t1");
    await h.tick(3);
    assert.equal(h.queue.where("p", "t1"), "done");
    assert.equal(h.fake.prompts.length, 1, "not delivered again");
  });

  test("a working task whose session is gone is re-queued with attempts+1, or failed at max", async () => {
    const h = await harness();
    h.queue.add("p", "t1", "x");
    await h.queue.claim("p", "t1");
    await h.tmux.killSession("pool-1");
    h.ledger.put(base({}));
    const r = await h.loop.adopt();
    assert.deepEqual(r.requeued, ["p/t1"]);
    assert.equal(h.queue.where("p", "t1"), "inbox");
    assert.equal(h.ledger.attempts("p/t1"), 1);

    h.queue.add("p", "t2", "y");
    await h.queue.claim("p", "t2");
    h.ledger.put(base({ id: "t2", attempt: 2 }));
    const r2 = await h.loop.adopt();
    assert.deepEqual(r2.failed, ["p/t2"]);
    assert.equal(h.queue.where("p", "t2"), "failed");
  });

  test("a hand-over cut short before the prompt went through is re-queued without counting an attempt", async () => {
    const h = await harness();
    h.queue.add("p", "t1", "x");
    await h.queue.claim("p", "t1");
    h.ledger.put(base({ phase: "submitting", attempt: 1 }));
    const r = await h.loop.adopt();
    assert.deepEqual(r.requeued, ["p/t1"]);
    assert.equal(h.ledger.attempts("p/t1"), 0);
    assert.equal(h.ledger.tasks.size, 0);
  });

  test("a hand-over cut short whose transcript cannot be read is taken as delivered: the re-run counts an attempt", async () => {
    const h = await harness({ deps: { promptDelivered: async () => "unknown" } });
    h.queue.add("p", "t1", "x");
    await h.queue.claim("p", "t1");
    h.ledger.put(base({ phase: "submitting", attempt: 1 }));
    const r = await h.loop.adopt();
    assert.deepEqual(r.requeued, ["p/t1"]);
    assert.equal(h.queue.where("p", "t1"), "inbox");
    assert.equal(h.ledger.attempts("p/t1"), 1);
  });

  test("a record whose task was already filed (crash at the end of a task) is dropped and its agent ended", async () => {
    const h = await harness();
    await h.tmux.sendText("pool-1", "claude --session-id 0b9c3f4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e");
    await h.tmux.sendKey("pool-1", "Enter");
    h.ledger.put(base({ id: "finished" }));
    h.ledger.setAttempts("p/finished", 1);
    await h.loop.adopt();
    assert.equal(h.ledger.get("p/finished"), undefined);
    assert.equal(h.tmux.sessions.get("pool-1")?.currentCommand, "bash", "the leftover agent was exited");
  });

  test("a task claimed on disk but never recorded goes back to the inbox; a record without its file is dropped", async () => {
    const h = await harness();
    h.queue.add("p", "t1", "x");
    await h.queue.claim("p", "t1");
    h.ledger.put(base({ id: "ghost" }));
    const r = await h.loop.adopt();
    assert.deepEqual(r.requeued, ["p/t1"]);
    assert.equal(h.queue.where("p", "t1"), "inbox");
    assert.equal(h.ledger.get("p/ghost"), undefined);
  });
});

describe("WorkLoop: pause for a swap", () => {
  test("pause() waits for the pass under way, which stops there: a session killed by the swap does not send its task back", async () => {
    const h = await harness({ sessions: ["pool-1", "pool-2"], behaviour: () => ({ kind: "hang" }) });
    h.queue.add("p", "t1", "first");
    h.queue.add("p", "t2", "second");
    await h.tick(2);
    assert.deepEqual([h.queue.where("p", "t1"), h.queue.where("p", "t2")], ["active", "active"]);
    // The next pass is held inside its first look at a screen.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const capture = h.tmux.capturePane.bind(h.tmux);
    let held = false;
    h.tmux.capturePane = async (...args: Parameters<typeof capture>) => {
      const screen = await capture(...args);
      if (!held) {
        held = true;
        await gate;
      }
      return screen;
    };
    const pass = h.loop.tick(new AbortController().signal);
    await new Promise((r) => setImmediate(r));
    assert.ok(held, "the pass is looking at a screen");
    let paused = false;
    const pausing = h.loop.pause("swap").then(() => (paused = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(paused, false, "pause() waits for the pass");
    // The swap kills the pool meanwhile.
    await h.tmux.killSession("pool-1");
    await h.tmux.killSession("pool-2");
    release();
    await pausing;
    await pass;
    assert.deepEqual([h.queue.where("p", "t1"), h.queue.where("p", "t2")], ["active", "active"], "both still in active/, left to the swap");
    assert.equal(h.ledger.tasks.size, 2);
    assert.ok(!h.events.some((e) => e.type === "task_requeued"));
  });

  test("a task that left the ledger is not resumed (its record would come back without its file)", async () => {
    const h = await harness({ behaviour: () => ({ kind: "hang" }) });
    h.queue.add("p", "t1", "first");
    await h.tick(2);
    const record = h.ledger.records()[0]!;
    h.ledger.remove("p/t1");
    await assert.rejects(h.loop.resumeOn(record, { name: "backup", home: "/h/backup", env: {} }), /no longer in flight/);
    assert.equal(h.ledger.tasks.size, 0);
  });
});
