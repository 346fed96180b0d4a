import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { FakeTmuxClient } from "../tmux/fake.js";
import { harness } from "./test-work-loop.js";

/** From now on the session's agent takes no key and no text: neither `/exit` nor Ctrl-C ends it. */
function deafen(tmux: FakeTmuxClient, session: string): void {
  const s = tmux.sessions.get(session)!;
  s.program = { ...s.program, onKey: () => undefined, onText: () => undefined, onPaste: () => undefined };
}

const kills = (tmux: FakeTmuxClient, session: string): number => tmux.calls.filter((c) => c.op === "kill-session" && c.name === session).length;

describe("WorkLoop: a session whose agent will not end", () => {
  test("is killed and handed no task meanwhile: the tasks waiting are not charged for it, and run once the pool recreates it", async () => {
    const h = await harness({ sessions: ["pool-1"] });
    h.queue.add("p", "t1", "first");
    await h.tick(1);
    assert.equal(h.ledger.records()[0]?.phase, "working");
    deafen(h.tmux, "pool-1");
    h.queue.add("p", "t2", "second");
    h.queue.add("p", "t3", "third");
    await h.tick(4);
    assert.equal(h.queue.where("p", "t1"), "done");
    assert.equal(kills(h.tmux, "pool-1"), 1, "the stuck session was killed");
    assert.deepEqual([h.queue.where("p", "t2"), h.queue.where("p", "t3")], ["inbox", "inbox"], "no task was handed to it meanwhile");
    assert.deepEqual([h.ledger.attempts("p/t2"), h.ledger.attempts("p/t3")], [0, 0]);
    // The pool's reconcile (S2) creates it again.
    await h.tmux.newSession({ name: "pool-1", cwd: "/" });
    await h.tick(8);
    assert.deepEqual([h.queue.where("p", "t2"), h.queue.where("p", "t3")], ["done", "done"]);
    assert.deepEqual([h.queue.get("p", "t2")!.footer?.attempts, h.queue.get("p", "t3")!.footer?.attempts], [1, 1]);
    assert.ok(!h.events.some((e) => e.type === "task_failed" || e.type === "task_requeued"));
  });

  test("found at a launch (left behind): the task goes back to the inbox with no attempt counted, and the session is killed", async () => {
    const h = await harness({ sessions: ["pool-1"] });
    // An agent a crash left behind, that ignores every key.
    await h.tmux.sendText("pool-1", "claude --session-id 0b9c3f4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e");
    await h.tmux.sendKey("pool-1", "Enter");
    deafen(h.tmux, "pool-1");
    h.queue.add("p", "t1", "first");
    await h.tick(1);
    assert.equal(h.queue.where("p", "t1"), "inbox");
    assert.equal(h.ledger.attempts("p/t1"), 0, "its prompt was never pasted: no attempt counted");
    assert.equal(h.ledger.tasks.size, 0);
    assert.equal(kills(h.tmux, "pool-1"), 1);
    assert.equal(h.fake.prompts.length, 0);
    await h.tmux.newSession({ name: "pool-1", cwd: "/" });
    await h.tick(4);
    assert.equal(h.queue.where("p", "t1"), "done");
    assert.equal(h.queue.get("p", "t1")!.footer?.attempts, 1);
  });
});
