import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmod, lstat, readFile, stat, symlink, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseFooter } from "./footer.js";
import { openNoFollow, type OpenForRead } from "./layout.js";
import type { ClaimResult, TaskQueue } from "./queue.js";
import { layoutOf, makeQueue, putFile } from "./test-support.js";

// What the dispatcher does with an inbox: fail what can never be a task, claim the rest.
async function drainInbox(queue: TaskQueue, project: string): Promise<Map<string, ClaimResult>> {
  const scan = await queue.scanInbox(project);
  for (const bad of scan.invalid) await queue.rejectEntry(project, bad.name, bad.reason);
  const claims = new Map<string, ClaimResult>();
  for (const t of scan.tasks) claims.set(t.id, await queue.claim(project, t.id));
  return claims;
}

const cases: { name: string; file: string; content: string | Buffer; reason: RegExp; failedAs?: string }[] = [
  { name: "malformed YAML", file: "yaml.md", content: "---\ntitle: a: b\n---\nx\n", reason: /^malformed YAML frontmatter at line 2/ },
  { name: "an unknown field", file: "field.md", content: "---\ncolour: red\n---\nx\n", reason: /^unknown field "colour"/ },
  { name: "an unknown value", file: "value.md", content: "---\npreferred_ai: gpt5\n---\nx\n", reason: /^preferred_ai: unknown value "gpt5"/ },
  { name: "latin-1 bytes", file: "latin.md", content: Buffer.from("r\xe9sum\xe9\n", "latin1"), reason: /^not UTF-8: invalid byte 0xE9 at offset 1/ },
  { name: "more than 1 MiB", file: "big.md", content: Buffer.alloc(1024 * 1024 + 10, 0x41), reason: /^larger than 1 MiB \(1048586 bytes\)$/ },
  { name: "cwd ../..", file: "up.md", content: "---\ncwd: ../..\n---\nx\n", reason: /^cwd: "\.\.\/\.\." resolves to .* outside the project directory/ },
  { name: "a cwd that does not exist (failed at claim, path named)", file: "gone.md", content: "---\ncwd: not-there/yet\n---\nx\n", reason: /^cwd: \/\S+\/work\/alpha\/not-there\/yet does not exist$/ },
  { name: "cwd /etc", file: "etc.md", content: "---\ncwd: /etc\n---\nx\n", reason: /^cwd: "\/etc" resolves to \/etc, outside/ },
  { name: "an id with spaces", file: "my task.md", content: "x\n", reason: /^file name "my task\.md" is not a valid task id/, failedAs: "my_task.md" },
  { name: "an id with unicode", file: "tâche.md", content: "x\n", reason: /^file name "tâche\.md" is not a valid task id/, failedAs: "t_che.md" },
  { name: "an empty file", file: "empty.md", content: "", reason: /^the file is empty$/ },
  { name: "a frontmatter-only file", file: "fm.md", content: "---\ntitle: t\n---\n", reason: /^the prompt is empty/ },
  { name: "a frontmatter with a JS tag", file: "tag.md", content: "---\ntitle: !!js/eval 'process.exit(1)'\n---\nx\n", reason: /^unsupported YAML tag at line 2/ },
];

describe("bad input ends in failed/ with a clear reason and every original byte", () => {
  for (const c of cases) {
    test(c.name, async () => {
      const q = await makeQueue();
      try {
        await putFile(q.root, "alpha", "inbox", c.file, c.content);
        await drainInbox(q.queue, "alpha");
        const layout = await layoutOf(q.root, "alpha");
        const failedName = c.failedAs ?? c.file;
        assert.deepEqual(layout, { inbox: [], active: [], done: [], failed: [failedName] });
        const bytes = await readFile(path.join(q.dir("alpha", "failed"), failedName));
        const original = Buffer.isBuffer(c.content) ? c.content : Buffer.from(c.content);
        assert.ok(bytes.subarray(0, original.length).equals(original), "failed/ starts with the original bytes");
        const footer = parseFooter(bytes.subarray(original.length).toString("utf8"))!;
        assert.equal(footer.status, "failed");
        assert.match(footer.reason!, c.reason);
        assert.equal(footer.attempts, "0");
        if (c.failedAs) assert.match(bytes.toString("utf8"), new RegExp(`Original file name: ${JSON.stringify(c.file)}`));
      } finally {
        await q.cleanup();
      }
    });
  }

  test("a symlink to /etc/passwd: never followed, never read, target untouched", async () => {
    const q = await makeQueue();
    try {
      const before = await stat("/etc/passwd");
      await symlink("/etc/passwd", path.join(q.dir("alpha", "inbox"), "passwd.md"));
      await drainInbox(q.queue, "alpha");
      assert.deepEqual(await layoutOf(q.root, "alpha"), { inbox: [], active: [], done: [], failed: ["passwd.md"] });
      const failed = path.join(q.dir("alpha", "failed"), "passwd.md");
      assert.ok((await lstat(failed)).isFile());
      const text = await readFile(failed, "utf8");
      assert.doesNotMatch(text, /root:/);
      assert.match(text, /symbolic link to `\/etc\/passwd`/);
      assert.match(parseFooter(text)!.reason!, /symbolic link/);
      assert.equal((await stat("/etc/passwd")).mtimeMs, before.mtimeMs);
    } finally {
      await q.cleanup();
    }
  });

  test("a symlink to a task file elsewhere: the link is failed, the file it points to stays as it was", async () => {
    const q = await makeQueue();
    try {
      const target = path.join(q.base, "elsewhere.md");
      await writeFile(target, "a real task\n");
      await symlink(target, path.join(q.dir("alpha", "inbox"), "linked.md"));
      await drainInbox(q.queue, "alpha");
      assert.deepEqual((await layoutOf(q.root, "alpha")).failed, ["linked.md"]);
      assert.equal(await readFile(target, "utf8"), "a real task\n");
    } finally {
      await q.cleanup();
    }
  });

  test("a symlink that appears between scan and claim is still caught at claim (O_NOFOLLOW)", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "inbox", "swap.md", "x");
      const scan = await q.queue.scanInbox("alpha");
      await unlink(path.join(q.dir("alpha", "inbox"), "swap.md"));
      await symlink("/etc/passwd", path.join(q.dir("alpha", "inbox"), "swap.md"));
      const r = await q.queue.claim("alpha", scan.tasks[0]!.id);
      assert.equal(r.status, "rejected");
      assert.match(r.status === "rejected" ? r.reason : "", /^is a symbolic link to \/etc\/passwd/);
    } finally {
      await q.cleanup();
    }
  });

  test("a named pipe is failed without being opened for a blocking read", async () => {
    const q = await makeQueue();
    try {
      execFileSync("mkfifo", [path.join(q.dir("alpha", "inbox"), "pipe.md")]);
      await drainInbox(q.queue, "alpha");
      const text = await readFile(path.join(q.dir("alpha", "failed"), "pipe.md"), "utf8");
      assert.match(parseFooter(text)!.reason!, /not a regular file/);
    } finally {
      await q.cleanup();
    }
  });

  test("a half-written dot-file is left alone", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "inbox", ".incoming.md", "---\ntitle: half");
      await putFile(q.root, "alpha", "inbox", ".incoming.md.tmp", "half");
      await drainInbox(q.queue, "alpha");
      assert.deepEqual(await layoutOf(q.root, "alpha"), { inbox: [".incoming.md", ".incoming.md.tmp"], active: [], done: [], failed: [] });
    } finally {
      await q.cleanup();
    }
  });

  test("CRLF, a BOM and a ---js opener are tasks, not failures", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "inbox", "crlf.md", "---\r\npriority: high\r\n---\r\nGo.\r\n");
      await putFile(q.root, "alpha", "inbox", "bom.md", "\uFEFF---\npriority: low\n---\nGo.\n");
      await putFile(q.root, "alpha", "inbox", "js.md", "---js\nmodule.exports = { priority: 'high' }\n---\nGo.\n");
      const claims = await drainInbox(q.queue, "alpha");
      assert.deepEqual(await layoutOf(q.root, "alpha"), { inbox: [], active: ["bom.md", "crlf.md", "js.md"], done: [], failed: [] });
      const js = claims.get("js");
      assert.ok(js?.status === "claimed" && js.task.prompt.startsWith("---js\nmodule.exports"));
    } finally {
      await q.cleanup();
    }
  });

  test("two bad names that sanitise alike both survive", async () => {
    const q = await makeQueue();
    try {
      await putFile(q.root, "alpha", "inbox", "a b.md", "one\n");
      await putFile(q.root, "alpha", "inbox", "a?b.md", "two\n");
      await drainInbox(q.queue, "alpha");
      const failed = (await layoutOf(q.root, "alpha")).failed;
      assert.equal(failed.length, 2);
      const firstLines = await Promise.all(failed.map(async (f) => (await readFile(path.join(q.dir("alpha", "failed"), f), "utf8")).split("\n")[0]));
      assert.deepEqual(firstLines.sort(), ["one", "two"]);
    } finally {
      await q.cleanup();
    }
  });

  // Root reads a file of mode 000 all the same: there the open of a locked file is made to fail as it would for anyone else.
  const asRoot = process.getuid?.() === 0;
  const locked = new Set<string>();
  const denyLocked: OpenForRead = async (file) => {
    if (locked.has(path.basename(file))) throw Object.assign(new Error(`EACCES: permission denied, open '${file}'`), { code: "EACCES" });
    return openNoFollow(file);
  };
  const lock = async (file: string): Promise<void> => {
    await chmod(file, 0o000);
    locked.add(path.basename(file));
  };

  test("an unreadable file (EACCES) is seen by the scan and filed under failed/ with the reason, never claimed", async () => {
    const q = await makeQueue(asRoot ? { openFile: denyLocked } : {});
    try {
      await lock(await putFile(q.root, "alpha", "inbox", "locked.md", "secret prompt\n"));
      await putFile(q.root, "alpha", "inbox", "fine.md", "x\n");
      const scan = await q.queue.scanInbox("alpha");
      assert.deepEqual(scan.invalid, [{ name: "locked.md", reason: "cannot be read (EACCES)" }]);
      assert.deepEqual(scan.tasks.map((t) => t.id), ["fine"]);
      await drainInbox(q.queue, "alpha");
      assert.deepEqual(await layoutOf(q.root, "alpha"), { inbox: [], active: ["fine.md"], done: [], failed: ["locked.md"] });
      const text = await readFile(path.join(q.dir("alpha", "failed"), "locked.md"), "utf8");
      assert.match(text, /^\(This entry could not be read \(EACCES\); its text is not kept here\.\)\n/);
      assert.equal(parseFooter(text)!.reason, "cannot be read (EACCES)");
      assert.equal(parseFooter(text)!.status, "failed");
    } finally {
      await q.cleanup();
    }
  });

  test("a file that becomes unreadable between scan and claim is rejected by the claim, not put back forever", async () => {
    const q = await makeQueue(asRoot ? { openFile: denyLocked } : {});
    try {
      await putFile(q.root, "alpha", "inbox", "late.md", "x\n");
      const ids = (await q.queue.scanInbox("alpha")).tasks.map((t) => t.id);
      assert.deepEqual(ids, ["late"], "readable at the scan");
      await lock(path.join(q.dir("alpha", "inbox"), "late.md"));
      const r = await q.queue.claim("alpha", "late");
      assert.deepEqual(r, { status: "rejected", reason: "cannot be read (EACCES)", file: "late.md" });
      assert.deepEqual(await layoutOf(q.root, "alpha"), { inbox: [], active: [], done: [], failed: ["late.md"] });
    } finally {
      await q.cleanup();
    }
  });

  test("a read that fails with EIO: the claim files the task under failed/ with the error", async () => {
    const eio: OpenForRead = async (file) => {
      const handle = await openNoFollow(file);
      if (path.basename(file) !== "bad-disk.md") return handle;
      return Object.assign(Object.create(handle) as typeof handle, {
        read: async () => { throw Object.assign(new Error("EIO: i/o error, read"), { code: "EIO" }); },
        close: () => handle.close(),
        stat: () => handle.stat(),
      });
    };
    const q = await makeQueue({ openFile: eio });
    try {
      await putFile(q.root, "alpha", "inbox", "bad-disk.md", "x\n");
      const r = await q.queue.claim("alpha", "bad-disk");
      assert.deepEqual(r, { status: "rejected", reason: "cannot be read (EIO)", file: "bad-disk.md" });
      const text = await readFile(path.join(q.dir("alpha", "failed"), "bad-disk.md"), "utf8");
      assert.match(text, /could not be read \(EIO\)/);
    } finally {
      await q.cleanup();
    }
  });
});
