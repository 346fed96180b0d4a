import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { submitTask } from "./submit.js";
import { makeQueue, putFile } from "./test-support.js";

describe("submitTask", () => {
  test("keeps the source file's name as id when free; the bytes land verbatim, mode 0600, no temp left", async () => {
    const q = await makeQueue();
    try {
      const text = "---\ntitle: d2\n---\nInstall d2.\n";
      const id = await submitTask(q.root, "alpha", text, { sourceName: "/home/op/tasks/install-d2.md", clock: q.clock });
      assert.equal(id, "install-d2");
      const file = path.join(q.dir("alpha", "inbox"), "install-d2.md");
      assert.equal(await readFile(file, "utf8"), text);
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.deepEqual(await readdir(q.dir("alpha", "inbox")), ["install-d2.md"]);
      const scan = await q.queue.scanInbox("alpha");
      assert.deepEqual(scan.tasks.map((t) => t.id), ["install-d2"]);
    } finally {
      await q.cleanup();
    }
  });

  test("a name taken in any folder gets a stamped id; the earlier task is untouched", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "done", "fix.md", "old\n");
      const id = await submitTask(q.root, "alpha", "new\n", { sourceName: "fix.md", clock: q.clock });
      assert.match(id, /^fix-20260417T021719Z-[0-9a-f]{6}$/);
      assert.equal(await readFile(path.join(q.dir("alpha", "done"), "fix.md"), "utf8"), "old\n");
    } finally {
      await q.cleanup();
    }
  });

  test("stdin (no name) gets a timestamp + random id; a bad name is sanitised", async () => {
    const q = await makeQueue();
    try {
      assert.match(await submitTask(q.root, "alpha", "x", { clock: q.clock }), /^20260417T021719Z-[0-9a-f]{6}$/);
      assert.match(await submitTask(q.root, "alpha", "x", { sourceName: "-", clock: q.clock }), /^20260417T021719Z-[0-9a-f]{6}$/);
      assert.equal(await submitTask(q.root, "alpha", "x", { sourceName: "my task.md", clock: q.clock }), "my_task");
    } finally {
      await q.cleanup();
    }
  });

  test("parallel submissions of one name never overwrite each other", async () => {
    const q = await makeQueue();
    try {
      const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => submitTask(q.root, "alpha", `n${i}`, { sourceName: "same.md", clock: q.clock })));
      assert.equal(new Set(ids).size, 8);
      const contents = await Promise.all(ids.map((id) => readFile(path.join(q.dir("alpha", "inbox"), `${id}.md`), "utf8")));
      assert.deepEqual(contents.sort(), Array.from({ length: 8 }, (_, i) => `n${i}`));
    } finally {
      await q.cleanup();
    }
  });

  test("refuses more than 1 MiB, non-UTF-8 and bad project names before writing anything", async () => {
    const q = await makeQueue();
    try {
      await assert.rejects(submitTask(q.root, "alpha", Buffer.alloc(1024 * 1024 + 1), { clock: q.clock }), { code: "QUEUE_TOO_LARGE" });
      await assert.rejects(submitTask(q.root, "alpha", Buffer.from("caf\xe9", "latin1"), { clock: q.clock }), {
        code: "QUEUE_NOT_UTF8",
        message: /not UTF-8: invalid byte 0xE9 at offset 3/,
      });
      await assert.rejects(submitTask(q.root, "../x", "x", { clock: q.clock }), { code: "QUEUE_INVALID_NAME" });
      assert.deepEqual(await readdir(q.dir("alpha", "inbox")), []);
    } finally {
      await q.cleanup();
    }
  });
});
