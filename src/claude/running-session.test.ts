import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { descendantPids, runningSession } from "./running-session.js";
import { tempDir } from "../lib/test-temp.js";

async function fakeProc(tree: Record<number, number>): Promise<string> {
  const root = await tempDir("cf-proc-");
  for (const [pid, ppid] of Object.entries(tree)) {
    await mkdir(path.join(root, pid));
    await writeFile(path.join(root, pid, "stat"), `${pid} (odd (name) x) S ${ppid} 1 1 0`);
  }
  await mkdir(path.join(root, "self"));
  return root;
}

test("descendants are found through the whole tree, with odd process names", async () => {
  const proc = await fakeProc({ 10: 1, 11: 10, 12: 11, 13: 1, 14: 12 });
  assert.deepEqual((await descendantPids(10, proc)).sort(), [11, 12, 14]);
  assert.deepEqual(await descendantPids(13, proc), []);
});

test("the agent's session id comes from <home>/sessions/<pid>.json of the pane's process or a descendant", async () => {
  const proc = await fakeProc({ 100: 1, 101: 100, 200: 1 });
  const homes = await tempDir("cf-homes-");
  const a = path.join(homes, "a");
  const b = path.join(homes, "b");
  await mkdir(path.join(a, "sessions"), { recursive: true });
  await mkdir(path.join(b, "sessions"), { recursive: true });
  const id = "12345678-1234-4234-8234-123456789abc";
  await writeFile(path.join(b, "sessions", "101.json"), JSON.stringify({ pid: 101, sessionId: id, cwd: "/w" }));
  assert.deepEqual(await runningSession(100, [a, b], proc), { sessionId: id, cwd: "/w" });
  assert.equal(await runningSession(200, [a, b], proc), null);
  // Hostile or stale files: a pid that does not match, a bad id, broken JSON.
  await writeFile(path.join(a, "sessions", "200.json"), JSON.stringify({ pid: 999, sessionId: id }));
  assert.equal(await runningSession(200, [a], proc), null);
  await writeFile(path.join(a, "sessions", "200.json"), JSON.stringify({ pid: 200, sessionId: "../../etc/passwd" }));
  assert.equal(await runningSession(200, [a], proc), null);
  await writeFile(path.join(a, "sessions", "200.json"), "{half");
  assert.equal(await runningSession(200, [a], proc), null);
});
