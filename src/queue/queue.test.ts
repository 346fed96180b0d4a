import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { silentLogger } from "../lib/logger.js";
import { QueueError } from "./errors.js";
import { FOOTER_MARKER, parseFooter } from "./footer.js";
import { TaskQueue } from "./queue.js";
import { layoutOf, makeQueue, putFile, readText } from "./test-support.js";

const FOOTER = { attempts: 1, session: "ccl-auto-12", account: "main", startedAt: Date.UTC(2026, 3, 17, 2, 0, 0) };

describe("TaskQueue layout and names", () => {
  test("ensureLayout creates every folder with mode 0700", async () => {
    const q = await makeQueue();
    try {
      for (const folder of ["inbox", "active", "done", "failed"]) {
        assert.equal((await stat(q.dir("beta", folder))).mode & 0o777, 0o700);
      }
    } finally {
      await q.cleanup();
    }
  });

  test("project names and ids are checked before any path is built", async () => {
    const q = await makeQueue();
    try {
      await assert.rejects(q.queue.claim("../alpha", "x"), (e: unknown) => e instanceof QueueError && e.code === "QUEUE_INVALID_NAME");
      await assert.rejects(q.queue.claim("alpha", "../../etc/passwd"), (e: unknown) => e instanceof QueueError && e.code === "QUEUE_INVALID_NAME");
      await assert.rejects(q.queue.claim("alpha", ".hidden"), { code: "QUEUE_INVALID_NAME" });
      await assert.rejects(q.queue.claim("gamma", "x"), { code: "QUEUE_UNKNOWN_PROJECT" });
      assert.throws(() => new TaskQueue({ root: q.root, projects: { "..": "/tmp" }, clock: q.clock, log: silentLogger() }), { code: "QUEUE_INVALID_NAME" });
    } finally {
      await q.cleanup();
    }
  });
});

describe("TaskQueue.scanInbox", () => {
  test("orders by priority, then mtime, then name; a file is read again only when it changed", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "inbox", "old-normal.md", "x", 1000);
      await putFile(q.root, "alpha", "inbox", "new-high.md", "---\npriority: high\n---\nx", 3000);
      await putFile(q.root, "alpha", "inbox", "old-low.md", "---\npriority: 'low' # later\n---\nx", 500);
      await putFile(q.root, "alpha", "inbox", "b-same.md", "x", 2000);
      await putFile(q.root, "alpha", "inbox", "a-same.md", "x", 2000);
      const first = await q.queue.scanInbox("alpha");
      assert.deepEqual(first.tasks.map((t) => t.id), ["new-high", "old-normal", "a-same", "b-same", "old-low"]);
      // Same inode, size and mtime: the cached priority stands even though the content now says otherwise.
      const file = path.join(q.dir("alpha", "inbox"), "old-low.md");
      await writeFile(file, "---\npriority: 'high' #later\n---\nx");
      await utimes(file, 500, 500);
      const second = await q.queue.scanInbox("alpha");
      assert.equal(second.tasks.find((t) => t.id === "old-low")!.priority, "low");
      // A new mtime is a new version: read again.
      await utimes(file, 501, 501);
      const third = await q.queue.scanInbox("alpha");
      assert.equal(third.tasks[0]!.id, "old-low");
    } finally {
      await q.cleanup();
    }
  });

  test("ignores dot-files, editor files and non-.md names; counts delegated markers; lists links and bad names as invalid", async () => {
    const q = await makeQueue();
    try {
      for (const name of [".half-written.md", ".#lock.md", "#autosave.md#", "task.md~", "task.md.swp", "notes.txt", "UPPER.MD", "a.md.bak"]) {
        await putFile(q.root, "alpha", "inbox", name, "x");
      }
      await putFile(q.root, "alpha", "inbox", "sent.md.delegated", "x");
      await putFile(q.root, "alpha", "inbox", "real.md", "x");
      await putFile(q.root, "alpha", "inbox", "has space.md", "x");
      await mkdir(path.join(q.dir("alpha", "inbox"), "folder.md"));
      await symlink("/etc/passwd", path.join(q.dir("alpha", "inbox"), "passwd.md"));
      const scan = await q.queue.scanInbox("alpha");
      assert.deepEqual(scan.tasks.map((t) => t.id), ["real"]);
      assert.equal(scan.delegated, 1);
      assert.deepEqual(scan.invalid.map((i) => i.name), ["has space.md", "passwd.md"]);
      assert.match(scan.invalid[1]!.reason, /symbolic link/);
    } finally {
      await q.cleanup();
    }
  });

  test("a task over 1 MiB is invalid from its size alone", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "inbox", "big.md", Buffer.alloc(1024 * 1024 + 1, 0x61));
      const scan = await q.queue.scanInbox("alpha");
      assert.deepEqual(scan.invalid, [{ name: "big.md", reason: "larger than 1 MiB (1048577 bytes)" }]);
    } finally {
      await q.cleanup();
    }
  });

  test("an inbox task whose id is still active waits (blocked), and is offered once the active one finishes", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "inbox", "t.md", "first");
      assert.equal((await q.queue.claim("alpha", "t")).status, "claimed");
      await putFile(q.root, "alpha", "inbox", "t.md", "second");
      const scan = await q.queue.scanInbox("alpha");
      assert.deepEqual([scan.tasks.length, scan.blocked], [0, ["t"]]);
      assert.deepEqual(await q.queue.claim("alpha", "t"), { status: "busy" });
      await q.queue.complete("alpha", "t", { result: "ok", footer: FOOTER });
      assert.deepEqual((await q.queue.scanInbox("alpha")).tasks.map((t) => t.id), ["t"]);
    } finally {
      await q.cleanup();
    }
  });
});

describe("TaskQueue claim / complete / fail / requeue", () => {
  test("claim moves the task to active and returns it parsed", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "inbox", "t1.md", "---\ntitle: T\n---\nDo it.\n");
      const r = await q.queue.claim("alpha", "t1");
      assert.equal(r.status, "claimed");
      assert.equal(r.status === "claimed" && r.task.meta.title, "T");
      assert.deepEqual(await layoutOf(q.root, "alpha"), { inbox: [], active: ["t1.md"], done: [], failed: [] });
    } finally {
      await q.cleanup();
    }
  });

  test("claim of a file someone else took says gone (a folder named like a task is not one)", async () => {
    const q = await makeQueue();
    try {
      assert.deepEqual(await q.queue.claim("alpha", "nope"), { status: "gone" });
      await mkdir(path.join(q.dir("alpha", "inbox"), "dir.md"));
      assert.deepEqual(await q.queue.claim("alpha", "dir"), { status: "gone" });
      assert.deepEqual((await layoutOf(q.root, "alpha")).inbox, ["dir.md"]);
    } finally {
      await q.cleanup();
    }
  });

  test("complete writes original text + Result + footer to done/ and empties active/ (signal file included)", async () => {
    const q = await makeQueue();
    try {
      const original = "---\ntitle: T\n---\nDo it.";
      await putFile(q.root, "alpha", "inbox", "t1.md", original);
      await q.queue.claim("alpha", "t1");
      await putFile(q.root, "alpha", "active", "t1.done", "");
      await q.clock.advance(60_000);
      const r = await q.queue.complete("alpha", "t1", { result: "Installed d2.", footer: { ...FOOTER, provider: "claude-code", claudeSessionId: "u-1" } });
      assert.deepEqual(r, { outcome: "done", file: "t1.md" });
      const text = await readText(path.join(q.dir("alpha", "done"), "t1.md"));
      assert.ok(text.startsWith(original));
      assert.equal(
        text.slice(original.length),
        `\n\n## Result\n\nInstalled d2.\n\n${FOOTER_MARKER}\nstatus: done\nsession: ccl-auto-12\naccount: main\nattempts: 1\n` +
          "started: 2026-04-17T02:00:00Z\nfinished: 2026-04-17T02:18:19Z\nprovider: claude-code\nclaude_session_id: u-1\n",
      );
      assert.deepEqual(await layoutOf(q.root, "alpha"), { inbox: [], active: [], done: ["t1.md"], failed: [] });
    } finally {
      await q.cleanup();
    }
  });

  test("fail writes a Failure section with reason and detail, and the footer reason", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "inbox", "t1.md", "Do it.\n");
      await q.queue.claim("alpha", "t1");
      const r = await q.queue.fail("alpha", "t1", { reason: "timed out after 2h", detail: "last screen: …", footer: { ...FOOTER, attempts: 2 } });
      assert.deepEqual(r, { outcome: "failed", file: "t1.md" });
      const text = await readText(path.join(q.dir("alpha", "failed"), "t1.md"));
      assert.match(text, /^Do it\.\n\n## Failure\n\ntimed out after 2h\n\nlast screen: …\n\n<!-- claude-failover -->\n/);
      assert.equal(parseFooter(text)!.reason, "timed out after 2h");
      assert.equal(parseFooter(text)!.attempts, "2");
    } finally {
      await q.cleanup();
    }
  });

  test("complete or fail of a task not in active/ is QUEUE_NOT_FOUND", async () => {
    const q = await makeQueue();
    try {
      await assert.rejects(q.queue.complete("alpha", "ghost", { result: "", footer: FOOTER }), { code: "QUEUE_NOT_FOUND" });
      await assert.rejects(q.queue.requeue("alpha", "ghost"), { code: "QUEUE_NOT_FOUND" });
    } finally {
      await q.cleanup();
    }
  });

  test("finished work is never overwritten: a second run of an id gets a stamped name", async () => {
    const q = await makeQueue();
    try {
      for (const run of ["one", "two", "three"]) {
        await putFile(q.root, "alpha", "inbox", "t.md", `run ${run}\n`);
        await q.queue.claim("alpha", "t");
        await q.queue.complete("alpha", "t", { result: run, footer: FOOTER });
      }
      const done = (await layoutOf(q.root, "alpha")).done;
      assert.deepEqual(done, ["t-20260417T021719Z-2.md", "t-20260417T021719Z.md", "t.md"]);
      const contents = await Promise.all(done.map((f) => readText(path.join(q.dir("alpha", "done"), f))));
      assert.deepEqual(contents.map((c) => c.split("\n")[0]).sort(), ["run one", "run three", "run two"]);
    } finally {
      await q.cleanup();
    }
  });

  test("requeue moves active back to the inbox; a name taken meanwhile gets a new id", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "inbox", "t.md", "first");
      await q.queue.claim("alpha", "t");
      await putFile(q.root, "alpha", "active", "t.done", "");
      assert.equal(await q.queue.requeue("alpha", "t"), "t");
      assert.deepEqual(await layoutOf(q.root, "alpha"), { inbox: ["t.md"], active: [], done: [], failed: [] });
      await q.queue.claim("alpha", "t");
      await putFile(q.root, "alpha", "inbox", "t.md", "second");
      const id = await q.queue.requeue("alpha", "t");
      assert.equal(id, "t-20260417T021719Z");
      assert.equal(await readText(path.join(q.dir("alpha", "inbox"), `${id}.md`)), "first");
      assert.equal(await readText(path.join(q.dir("alpha", "inbox"), "t.md")), "second");
    } finally {
      await q.cleanup();
    }
  });

  test("doneSignal: the signal file says done, its absence says not done, and a failure to look is QUEUE_IO", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "inbox", "t.md", "x");
      await q.queue.claim("alpha", "t");
      assert.equal(await q.queue.doneSignal("alpha", "t"), false);
      await putFile(q.root, "alpha", "active", "t.done", "");
      assert.equal(await q.queue.doneSignal("alpha", "t"), true);
      // active/ that is not a folder: ENOTDIR, which is no answer, not "not done".
      await rm(q.dir("beta", "active"), { recursive: true });
      await writeFile(q.dir("beta", "active"), "");
      await assert.rejects(q.queue.doneSignal("beta", "t"), (e: unknown) => e instanceof QueueError && e.code === "QUEUE_IO" && /ENOTDIR/.test(e.message));
      await assert.rejects(q.queue.doneSignal("gamma", "t"), (e: unknown) => e instanceof QueueError && e.code === "QUEUE_UNKNOWN_PROJECT");
    } finally {
      await q.cleanup();
    }
  });

  test("concurrent claims of one task: exactly one wins", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "inbox", "t.md", "x");
      const results = await Promise.all(Array.from({ length: 5 }, () => q.queue.claim("alpha", "t")));
      assert.deepEqual(results.map((r) => r.status).sort(), ["busy", "busy", "busy", "busy", "claimed"]);
    } finally {
      await q.cleanup();
    }
  });
});

describe("TaskQueue reporting", () => {
  test("counts: a staged finish in active/ still counts as active (contract §4); a temp dot-file does not", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "active", "x.md.to-done", "finished, not yet published");
      await putFile(q.root, "alpha", "active", ".x.md.to-done", "a temp file");
      await putFile(q.root, "alpha", "active", "y.md", "running");
      assert.deepEqual(await q.queue.counts("alpha"), { inbox: 0, active: 2, delegated: 0, done: 0, failed: 0 });
    } finally {
      await q.cleanup();
    }
  });

  test("counts, listActive and listTasks", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "inbox", "w1.md", "---\ntitle: Waiting one\npriority: low\n---\nx", Date.UTC(2026, 3, 17, 1, 17, 19) / 1000);
      await putFile(q.root, "alpha", "inbox", "w2.md", "x");
      await putFile(q.root, "alpha", "inbox", "d.md.delegated", "---\ntitle: Remote\n---\nx");
      await putFile(q.root, "alpha", "inbox", ".tmp-drop", "x");
      await putFile(q.root, "beta", "inbox", "b1.md", "x");
      await q.queue.claim("beta", "b1");
      await putFile(q.root, "alpha", "inbox", "f1.md", "");
      await q.queue.claim("alpha", "f1");
      assert.deepEqual(await q.queue.counts("alpha"), { inbox: 2, active: 0, delegated: 1, done: 0, failed: 1 });
      assert.deepEqual(await q.queue.counts("beta"), { inbox: 0, active: 1, delegated: 0, done: 0, failed: 0 });
      assert.deepEqual(await q.queue.listActive(), [{ project: "beta", id: "b1", path: path.join(q.dir("beta", "active"), "b1.md") }]);
      const rows = await q.queue.listTasks("alpha");
      assert.deepEqual(rows.map((r) => [r.state, r.id, r.title, r.priority]), [
        ["inbox", "w2", undefined, "normal"],
        ["inbox", "w1", "Waiting one", "low"],
        ["delegated", "d", "Remote", "normal"],
        ["failed", "f1", undefined, "normal"],
      ]);
      assert.equal(rows[1]!.ageMs, 3_600_000);
    } finally {
      await q.cleanup();
    }
  });

  test("status.json has the contract's shape; finished tasks older than 24 h are left out", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "inbox", "w.md", "x");
      const now = q.clock.now();
      await q.queue.writeStatusJson("alpha", {
        w: { state: "queued", attempts: 0, since: now - 1000 },
        r: { state: "dispatched", session: "ccl-auto-11", account: "main", attempts: 1, since: now - 60_000 },
        g: { state: "delegated_to_secutools", attempts: 0, since: now },
        old: { state: "done", attempts: 1, since: now - 25 * 3_600_000 },
        recent: { state: "failed", attempts: 2, since: now - 23 * 3_600_000 },
      });
      const file = path.join(q.root, "alpha", "status.json");
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.deepEqual(JSON.parse(await readFile(file, "utf8")), {
        project: "alpha",
        updated_at: "2026-04-17T02:17:19Z",
        counts: { inbox: 1, active: 0, delegated: 0, done: 0, failed: 0 },
        tasks: {
          g: { state: "delegated_to_secutools", attempts: 0, since: "2026-04-17T02:17:19Z" },
          r: { state: "dispatched", session: "ccl-auto-11", account: "main", attempts: 1, since: "2026-04-17T02:16:19Z" },
          recent: { state: "failed", attempts: 2, since: "2026-04-16T03:17:19Z" },
          w: { state: "queued", attempts: 0, since: "2026-04-17T02:17:18Z" },
        },
      });
    } finally {
      await q.cleanup();
    }
  });
});
