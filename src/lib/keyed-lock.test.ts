import { test } from "node:test";
import assert from "node:assert/strict";
import { KeyedLock } from "./keyed-lock.js";

test("one key runs one section at a time, in call order, even when one throws; other keys run alongside", async () => {
  const lock = new KeyedLock();
  const log: string[] = [];
  let releaseA!: () => void;
  const a = lock.run("repo", async () => {
    log.push("a start");
    await new Promise<void>((r) => (releaseA = r));
    log.push("a end");
    throw new Error("a failed");
  });
  const b = lock.run("repo", async () => void log.push("b"));
  const other = lock.run("elsewhere", async () => void log.push("other"));
  await other;
  assert.deepEqual(log, ["a start", "other"], "b waits for a; another key does not");
  releaseA();
  await assert.rejects(a, /a failed/);
  await b;
  assert.deepEqual(log, ["a start", "other", "a end", "b"]);
});
