import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, utimes } from "node:fs/promises";
import path from "node:path";
import fc from "fast-check";
import { silentLogger } from "../lib/logger.js";
import { QueueError } from "./errors.js";
import { dropClaimed, stageFinished, type FinishContent } from "./finish.js";
import { parseFooter } from "./footer.js";
import { TaskQueue } from "./queue.js";
import { layoutOf, makeQueue, putFile, readText } from "./test-support.js";

const FOOTER = { attempts: 1 };
const content = (outcome: "done" | "failed", now: number): FinishContent => ({
  outcome,
  body: outcome === "done" ? "result" : "why",
  reason: outcome === "failed" ? "why" : undefined,
  fields: { attempts: 1, finishedAt: now },
});

describe("TaskQueue.recover", () => {
  test("a finish interrupted after staging: the staged file wins and lands in done/", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "inbox", "t.md", "the task\n");
      await q.queue.claim("alpha", "t");
      await stageFinished(q.dir("alpha", "active"), "t", content("done", q.clock.now()));
      assert.deepEqual((await layoutOf(q.root, "alpha")).active, ["t.md", "t.md.to-done"]);
      const report = await new TaskQueue({ root: q.root, projects: q.projects, clock: q.clock, log: silentLogger() }).recover();
      assert.deepEqual(report.finished, [{ project: "alpha", id: "t", outcome: "done", file: "t.md" }]);
      assert.deepEqual(await layoutOf(q.root, "alpha"), { inbox: [], active: [], done: ["t.md"], failed: [] });
      const text = await readText(path.join(q.dir("alpha", "done"), "t.md"));
      assert.ok(text.startsWith("the task\n\n## Result\n\nresult\n"));
    } finally {
      await q.cleanup();
    }
  });

  test("a finish interrupted after dropping the claimed file: the staged one is published", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "inbox", "t.md", "the task\n");
      await q.queue.claim("alpha", "t");
      await stageFinished(q.dir("alpha", "active"), "t", content("failed", q.clock.now()));
      await dropClaimed(q.dir("alpha", "active"), "t");
      await q.queue.recover();
      assert.deepEqual(await layoutOf(q.root, "alpha"), { inbox: [], active: [], done: [], failed: ["t.md"] });
    } finally {
      await q.cleanup();
    }
  });

  test("two staged outcomes (crash while one replaced the other): the newer is kept, in one place", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "inbox", "t.md", "the task\n");
      await q.queue.claim("alpha", "t");
      const active = q.dir("alpha", "active");
      await stageFinished(active, "t", content("done", q.clock.now()));
      await putFile(q.root, "alpha", "active", "t.md.to-failed", "the task\n\n## Failure\n\nolder\n");
      await utimes(path.join(active, "t.md.to-failed"), 1, 1);
      await q.queue.recover();
      assert.deepEqual(await layoutOf(q.root, "alpha"), { inbox: [], active: [], done: ["t.md"], failed: [] });
    } finally {
      await q.cleanup();
    }
  });

  test("complete after an interrupted finish publishes what was staged", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "inbox", "t.md", "the task\n");
      await q.queue.claim("alpha", "t");
      await stageFinished(q.dir("alpha", "active"), "t", content("failed", q.clock.now()));
      await dropClaimed(q.dir("alpha", "active"), "t");
      assert.deepEqual(await q.queue.complete("alpha", "t", { result: "late", footer: FOOTER }), { outcome: "failed", file: "t.md" });
    } finally {
      await q.cleanup();
    }
  });

  test("temp files of interrupted writes go, except in the inbox where a submission may be in progress", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "active", ".t.md.ab12.tmp", "x");
      await putFile(q.root, "alpha", "done", ".t.md.1.ab.tmp", "x");
      await putFile(q.root, "alpha", "failed", ".u.md.1.ab.tmp", "x");
      await putFile(q.root, "alpha", ".", ".status.json.1.ab.tmp", "x");
      await putFile(q.root, "alpha", "inbox", ".submit-abc.tmp", "x");
      const report = await q.queue.recover();
      assert.equal(report.tempFilesRemoved, 4);
      assert.deepEqual(await layoutOf(q.root, "alpha"), { inbox: [".submit-abc.tmp"], active: [], done: [], failed: [] });
    } finally {
      await q.cleanup();
    }
  });

  test("an old done/<id>.md never erases a new run of the same id in active/ (or a newer one in the inbox)", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "done", "t.md", "first run\n\n<!-- claude-failover -->\nstatus: done\n");
      await putFile(q.root, "alpha", "active", "t.md", "second run\n");
      await putFile(q.root, "alpha", "inbox", "t.md", "third run\n");
      const report = await q.queue.recover();
      assert.deepEqual(report.sharedIds, [{ project: "alpha", id: "t", folders: ["inbox", "active", "done"] }]);
      assert.deepEqual(report.finished, []);
      assert.deepEqual(await layoutOf(q.root, "alpha"), { inbox: ["t.md"], active: ["t.md"], done: ["t.md"], failed: [] });
      await q.queue.complete("alpha", "t", { result: "ok", footer: FOOTER });
      assert.deepEqual((await layoutOf(q.root, "alpha")).done, ["t-20260417T021719Z.md", "t.md"]);
    } finally {
      await q.cleanup();
    }
  });
});

type Op =
  | { kind: "claim" | "complete" | "fail" | "requeue" | "resubmit" | "restart"; id: number }
  | { kind: "crash"; id: number; outcome: "done" | "failed"; afterStep: 1 | 2 };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constantFrom("claim", "complete", "fail", "requeue", "resubmit", "restart"), id: fc.nat({ max: 3 }) }),
  fc.record({ kind: fc.constant("crash"), id: fc.nat({ max: 3 }), outcome: fc.constantFrom("done", "failed"), afterStep: fc.constantFrom(1, 2) }),
);

describe("TaskQueue property: crashes at any step, then recover()", () => {
  test("every task is in exactly one folder, where the model says, with its content intact", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 30 }), fc.array(fc.string({ unit: "grapheme", maxLength: 40 }), { minLength: 4, maxLength: 4 }), async (ops, texts) => {
        const q = await makeQueue({ projects: ["alpha"] });
        try {
          const active = q.dir("alpha", "active");
          // Each written content is one task; a resubmitted id is a new task with new content.
          const tasks: { id: string; text: string; where: "inbox" | "active" | "done" | "failed" }[] = [];
          let queue = q.queue;
          const live = (id: string) => tasks.find((t) => t.id === id && (t.where === "inbox" || t.where === "active"));
          const submit = async (n: number) => {
            const text = `task ${tasks.length} (${n})\n${texts[n]!.replace(/\0/g, "")}\n`;
            tasks.push({ id: `t${n}`, text, where: "inbox" });
            await putFile(q.root, "alpha", "inbox", `t${n}.md`, text);
          };
          for (let n = 0; n < 4; n++) await submit(n);
          const restart = async () => {
            queue = new TaskQueue({ root: q.root, projects: q.projects, clock: q.clock, log: silentLogger() });
            await queue.recover();
          };

          for (const op of ops) {
            const id = `t${op.id}`;
            const t = live(id);
            await q.clock.advance(1000);
            switch (op.kind) {
              case "claim": {
                const r = await queue.claim("alpha", id);
                if (t?.where === "inbox") {
                  assert.equal(r.status, "claimed");
                  t.where = "active";
                } else assert.notEqual(r.status, "claimed");
                break;
              }
              case "complete":
              case "fail":
              case "requeue": {
                try {
                  if (op.kind === "complete") await queue.complete("alpha", id, { result: "r", footer: FOOTER });
                  else if (op.kind === "fail") await queue.fail("alpha", id, { reason: "x", footer: FOOTER });
                  else await queue.requeue("alpha", id);
                  assert.equal(t?.where, "active");
                  t.where = op.kind === "complete" ? "done" : op.kind === "fail" ? "failed" : "inbox";
                } catch (err) {
                  if (!(err instanceof QueueError) || err.code !== "QUEUE_NOT_FOUND") throw err;
                  assert.notEqual(t?.where, "active");
                }
                break;
              }
              case "resubmit":
                if (t === undefined) await submit(op.id);
                break;
              case "restart":
                await restart();
                break;
              case "crash":
                if (t?.where !== "active") break;
                await stageFinished(active, id, content(op.outcome, q.clock.now()));
                if (op.afterStep === 2) await dropClaimed(active, id);
                t.where = op.outcome;
                await restart();
                break;
            }
          }
          await restart();

          const files: { folder: string; text: string }[] = [];
          for (const folder of ["inbox", "active", "done", "failed"]) {
            for (const name of await readdir(q.dir("alpha", folder))) {
              files.push({ folder, text: await readFile(path.join(q.dir("alpha", folder), name), "utf8") });
            }
          }
          assert.equal(files.length, tasks.length, "one file per task, nothing staged or duplicated");
          for (const task of tasks) {
            const holders = files.filter((f) => f.text.startsWith(task.text));
            assert.equal(holders.length, 1, `${task.text.split("\n")[0]} is in exactly one place`);
            assert.equal(holders[0]!.folder, task.where);
            if (task.where === "done" || task.where === "failed") assert.equal(parseFooter(holders[0]!.text)!.status, task.where);
            else assert.equal(holders[0]!.text, task.text);
          }
        } finally {
          await q.cleanup();
        }
      }),
      { numRuns: 60 },
    );
  });
});
