import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFile, lstat, mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "../lib/test-temp.js";
import { removeWaitingIfUnchanged, withProjectLock } from "./inbox-lock.js";

async function inboxWith(id: string, text: string) {
  const root = await tempDir("cf-inbox-lock-");
  const inbox = path.join(root, "p", "inbox");
  await mkdir(inbox, { recursive: true });
  const file = path.join(inbox, `${id}.md`);
  await writeFile(file, text);
  const st = await lstat(file);
  return { root, inbox, file, seen: { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs } };
}

test("a waiting file still as it was seen is removed; one written since, or gone, is not", async () => {
  const same = await inboxWith("t", "task\n");
  assert.equal(await removeWaitingIfUnchanged(same.root, "p", "t", same.seen), true);
  assert.deepEqual(await readdir(same.inbox), []);

  const changed = await inboxWith("t", "task\n");
  await appendFile(changed.file, "more\n");
  assert.equal(await removeWaitingIfUnchanged(changed.root, "p", "t", changed.seen), false);
  assert.deepEqual(await readdir(changed.inbox), ["t.md"]);

  assert.equal(await removeWaitingIfUnchanged(same.root, "p", "t", same.seen), false, "gone already");
});

test("the removal waits for the project's lock (a TaskQueue move under way), and other projects do not", async () => {
  const x = await inboxWith("t", "task\n");
  let release!: () => void;
  const held = withProjectLock(x.root, "p", () => new Promise<void>((r) => (release = r)));
  let removed: boolean | undefined;
  const removal = removeWaitingIfUnchanged(x.root, "p", "t", x.seen).then((r) => (removed = r));
  await withProjectLock(x.root, "other", async () => undefined);
  assert.equal(removed, undefined, "still waiting for the lock");
  assert.deepEqual(await readdir(x.inbox), ["t.md"]);
  release();
  await held;
  await removal;
  assert.equal(removed, true);
});
