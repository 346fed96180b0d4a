import { test } from "node:test";
import assert from "node:assert/strict";
import { symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseFooter } from "./footer.js";
import { layoutOf, makeQueue, putFile, readText } from "./test-support.js";
import { readTaskForView, TASK_VIEW_MAX_BYTES } from "./task-view.js";

const FOOTER = { attempts: 3, session: "ccl-auto-1", account: "main", startedAt: Date.UTC(2026, 3, 17, 2, 0, 0) };

test("retryFailed: the failed file goes back to the inbox with its failure text; a taken inbox name gets a suffix", async () => {
  const q = await makeQueue();
  try {
    await putFile(q.root, "alpha", "inbox", "t1.md", "the task");
    await q.queue.claim("alpha", "t1");
    await q.queue.fail("alpha", "t1", { reason: "agent died", footer: FOOTER });
    assert.equal(await q.queue.retryFailed("alpha", "t1"), "t1");
    assert.deepEqual(await layoutOf(q.root, "alpha"), { inbox: ["t1.md"], active: [], done: [], failed: [] });
    const text = await readText(path.join(q.dir("alpha", "inbox"), "t1.md"));
    assert.match(text, /^the task/);
    assert.match(text, /## Failure\n+agent died/);
    // fail it again while a new t1 waits: the retried one takes another name
    await q.queue.claim("alpha", "t1");
    await q.queue.fail("alpha", "t1", { reason: "again", footer: FOOTER });
    await putFile(q.root, "alpha", "inbox", "t1.md", "a new task under the same name");
    const id = await q.queue.retryFailed("alpha", "t1");
    assert.match(id, /^t1-\d{8}T\d{6}Z$/);
    assert.deepEqual((await layoutOf(q.root, "alpha")).inbox, [`${id}.md`, "t1.md"].sort());
    assert.equal(await readText(path.join(q.dir("alpha", "inbox"), "t1.md")), "a new task under the same name");
  } finally {
    await q.cleanup();
  }
});

test("retryFailed refuses what is not a failed regular file: missing, done, a symlink, a bad id", async () => {
  const q = await makeQueue();
  try {
    await assert.rejects(q.queue.retryFailed("alpha", "nope"), { code: "QUEUE_NOT_FOUND" });
    await putFile(q.root, "alpha", "done", "d.md", "done");
    await assert.rejects(q.queue.retryFailed("alpha", "d"), { code: "QUEUE_NOT_FOUND" });
    await writeFile(path.join(q.base, "outside.md"), "x");
    await symlink(path.join(q.base, "outside.md"), path.join(q.dir("alpha", "failed"), "link.md"));
    await assert.rejects(q.queue.retryFailed("alpha", "link"), { code: "QUEUE_NOT_FOUND" });
    await assert.rejects(q.queue.retryFailed("alpha", "../x"), { code: "QUEUE_INVALID_NAME" });
    await assert.rejects(q.queue.retryFailed("gamma", "x"), { code: "QUEUE_UNKNOWN_PROJECT" });
  } finally {
    await q.cleanup();
  }
});

test("cancelWaiting: a waiting task is filed under failed/ with the reason; an active or missing one is refused", async () => {
  const q = await makeQueue();
  try {
    await putFile(q.root, "alpha", "inbox", "w.md", "---\ntitle: wait\n---\nbody");
    const r = await q.queue.cancelWaiting("alpha", "w", "cancelled by operator");
    assert.deepEqual(r, { outcome: "failed", file: "w.md" });
    assert.deepEqual(await layoutOf(q.root, "alpha"), { inbox: [], active: [], done: [], failed: ["w.md"] });
    const text = await readText(path.join(q.dir("alpha", "failed"), "w.md"));
    assert.match(text, /^---\ntitle: wait\n---\nbody/);
    assert.match(text, /## Failure\n+cancelled by operator/);
    assert.equal(parseFooter(text)?.status, "failed");
    await assert.rejects(q.queue.cancelWaiting("alpha", "w", "x"), { code: "QUEUE_NOT_FOUND" });
    await putFile(q.root, "alpha", "inbox", "a.md", "x");
    await q.queue.claim("alpha", "a");
    await assert.rejects(q.queue.cancelWaiting("alpha", "a", "x"), { code: "QUEUE_NOT_FOUND" });
  } finally {
    await q.cleanup();
  }
});

test("cancel and claim of the same task under the project's lock: exactly one wins", async () => {
  const q = await makeQueue();
  try {
    for (let i = 0; i < 10; i++) {
      await putFile(q.root, "alpha", "inbox", `r${i}.md`, "x");
      const [claim, cancel] = await Promise.allSettled([q.queue.claim("alpha", `r${i}`), q.queue.cancelWaiting("alpha", `r${i}`, "cancelled by operator")]);
      const claimed = claim.status === "fulfilled" && claim.value.status === "claimed";
      const cancelled = cancel.status === "fulfilled";
      assert.equal(Number(claimed) + Number(cancelled), 1, `round ${i}`);
    }
  } finally {
    await q.cleanup();
  }
});

test("readTaskForView finds a task in any folder, cuts a long file, never follows links", async () => {
  const q = await makeQueue();
  try {
    await putFile(q.root, "alpha", "done", "d.md", "done text");
    assert.deepEqual(await readTaskForView(q.root, "alpha", "d"), { folder: "done", text: "done text", truncated: false });
    await putFile(q.root, "alpha", "inbox", "big.md", "x".repeat(TASK_VIEW_MAX_BYTES + 5));
    const big = await readTaskForView(q.root, "alpha", "big");
    assert.equal(big?.text.length, TASK_VIEW_MAX_BYTES);
    assert.equal(big?.truncated, true);
    await putFile(q.root, "alpha", "inbox", "j.md.delegated", "with the job service");
    assert.equal((await readTaskForView(q.root, "alpha", "j"))?.folder, "delegated");
    await writeFile(path.join(q.base, "secret.md"), "outside");
    await symlink(path.join(q.base, "secret.md"), path.join(q.dir("alpha", "failed"), "l.md"));
    assert.equal(await readTaskForView(q.root, "alpha", "l"), undefined);
    assert.equal(await readTaskForView(q.root, "alpha", "none"), undefined);
    await assert.rejects(readTaskForView(q.root, "alpha", "../../x"), { code: "QUEUE_INVALID_NAME" });
  } finally {
    await q.cleanup();
  }
});
