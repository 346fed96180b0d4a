import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFile, lstat, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "../lib/test-temp.js";
import { removeMarker, removeWaitingIfUnchanged, restoreWaiting, withProjectLock } from "./inbox-lock.js";

async function inboxWith(id: string, text: string) {
  const root = await tempDir("cf-inbox-lock-");
  const inbox = path.join(root, "p", "inbox");
  await mkdir(inbox, { recursive: true });
  const file = path.join(inbox, `${id}.md`);
  await writeFile(file, text);
  const st = await lstat(file);
  return { root, inbox, file, seen: { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs } };
}

/** Holds a project's lock (a TaskQueue move under way) until `release()`; `held` resolves once it is let go. */
function holdLock(root: string, project: string): { release: () => void; held: Promise<void> } {
  let letGo: (() => void) | undefined;
  const held = withProjectLock(root, project, () => new Promise<void>((r) => (letGo = r)));
  return { release: () => letGo?.(), held };
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
  const { release, held } = holdLock(x.root, "p");
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

test("a delegated task put back waits for the project's lock, keeps its mtime, never replaces a newcomer, and its marker goes", async () => {
  const x = await inboxWith("t", "newcomer\n");
  const marker = path.join(x.inbox, "t.md.delegated");
  await writeFile(marker, "marker\n");
  const { release, held } = holdLock(x.root, "p");
  const mtime = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
  let as: string | undefined;
  const restore = restoreWaiting(x.root, "p", "t", new TextEncoder().encode("original\n"), mtime, Date.UTC(2026, 3, 17, 2, 17, 19)).then((r) => (as = r));
  await withProjectLock(x.root, "other", async () => undefined);
  // A few I/O round trips: time for the restore's first writes, were it not waiting.
  for (let i = 0; i < 5; i++) assert.deepEqual((await readdir(x.inbox)).sort(), ["t.md", "t.md.delegated"], "nothing written while the lock is held");
  assert.equal(as, undefined, "still waiting for the lock");
  release();
  await held;
  await restore;
  assert.equal(as, "t-20260417T021719Z");
  assert.deepEqual((await readdir(x.inbox)).sort(), ["t-20260417T021719Z.md", "t.md"], "the marker and the temp file are gone");
  assert.equal(await readFile(path.join(x.inbox, "t-20260417T021719Z.md"), "utf8"), "original\n");
  assert.equal(await readFile(x.file, "utf8"), "newcomer\n");
  assert.equal((await lstat(path.join(x.inbox, "t-20260417T021719Z.md"))).mtimeMs, mtime.getTime());
});

test("a marker is removed under the project's lock; a missing one is not an error", async () => {
  const x = await inboxWith("t", "task\n");
  const marker = path.join(x.inbox, "t.md.delegated");
  await writeFile(marker, "marker\n");
  const { release, held } = holdLock(x.root, "p");
  let removed: boolean | undefined;
  const removal = removeMarker(x.root, "p", "t").then((r) => (removed = r));
  await withProjectLock(x.root, "other", async () => undefined);
  for (let i = 0; i < 5; i++) assert.deepEqual((await readdir(x.inbox)).sort(), ["t.md", "t.md.delegated"], "the marker stays while the lock is held");
  assert.equal(removed, undefined, "still waiting for the lock");
  release();
  await held;
  await removal;
  assert.equal(removed, true);
  assert.deepEqual(await readdir(x.inbox), ["t.md"]);
  assert.equal(await removeMarker(x.root, "p", "t"), false);
});
