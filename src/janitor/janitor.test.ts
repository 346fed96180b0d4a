import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, symlink, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { FakeClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import { Janitor } from "./janitor.js";
import { tempDir } from "../lib/test-temp.js";

const DAY = 86_400_000;

test("prunes past retention, removes stale temp files and old rejected spool files, leaves everything else", async () => {
  const root = await tempDir("cf-janitor-");
  const now = Date.UTC(2026, 5, 1);
  const q = (p: string, ...rest: string[]) => path.join(root, "queue", "web", p, ...rest);
  for (const f of ["inbox", "active", "done", "failed"]) await mkdir(q(f), { recursive: true });
  await mkdir(path.join(root, "state", "hook-spool", "rejected"), { recursive: true });
  const file = async (p: string, ageMs: number) => {
    await writeFile(p, "x");
    await utimes(p, (now - ageMs) / 1000, (now - ageMs) / 1000);
  };
  await file(q("done", "old.md"), 31 * DAY);
  await file(q("done", "recent.md"), 29 * DAY);
  await file(q("failed", "old-fail.md"), 91 * DAY);
  await file(q("failed", "kept-fail.md"), 31 * DAY);
  await file(q("done", "notes.txt"), 400 * DAY);
  await file(q("active", ".t1.md.ab12.tmp"), 2 * 3_600_000);
  await file(q("active", ".t2.md.cd34.tmp"), 60_000);
  await file(q("inbox", "waiting.md"), 400 * DAY);
  await file(path.join(root, "state", ".state.json.1.ef56.tmp"), 2 * 3_600_000);
  await file(path.join(root, "state", "hook-spool", "rejected", "bad.json"), 8 * DAY);
  await file(path.join(root, "state", "hook-spool", "rejected", "new-bad.json"), DAY);
  await symlink("/etc/passwd", q("done", "link.md"));
  let rotatedWith = 0;
  const janitor = new Janitor({
    queueRoot: path.join(root, "queue"), projects: ["web"], stateDir: path.join(root, "state"), clock: new FakeClock(now), log: silentLogger(),
    settings: { intervalMs: 3_600_000, doneRetentionMs: 30 * DAY, failedRetentionMs: 90 * DAY, eventsMaxBytes: 64 << 20 },
    rotateEvents: async (max) => {
      rotatedWith = max;
      return true;
    },
  });
  const r = await janitor.sweep();
  assert.deepEqual(r.pruned.map((f) => path.basename(f)).sort(), ["old-fail.md", "old.md"]);
  assert.deepEqual(r.tempFiles.map((f) => path.basename(f)).sort(), [".state.json.1.ef56.tmp", ".t1.md.ab12.tmp"]);
  assert.deepEqual(r.spoolRejected.map((f) => path.basename(f)), ["bad.json"]);
  assert.equal(r.rotated, true);
  assert.equal(rotatedWith, 64 << 20);
  assert.deepEqual((await readdir(q("done"))).sort(), ["link.md", "notes.txt", "recent.md"]);
  assert.deepEqual(await readdir(q("inbox")), ["waiting.md"], "waiting tasks are never touched, however old");
  assert.deepEqual(await readdir(q("active")), [".t2.md.cd34.tmp"], "a temp file still being written is left");
});
