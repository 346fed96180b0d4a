import { test } from "node:test";
import assert from "node:assert/strict";
import { SessionRegistry } from "./registry.js";

test("only a busy session carries a task: killed and recreated, it comes back idle without one", () => {
  let now = 1_000;
  const registry = new SessionRegistry(() => now);
  registry.set("p1", "pool", "/w", "idle");
  registry.assign("p1", "proj/t1", "main");
  assert.deepEqual([registry.get("p1")?.state, registry.get("p1")?.task, registry.get("p1")?.account], ["busy", "proj/t1", "main"]);
  // A swap kills the pool; the reconcile sees it gone, then recreates it.
  now = 2_000;
  registry.set("p1", "pool", "/w", "missing");
  assert.deepEqual([registry.get("p1")?.state, registry.get("p1")?.task], ["missing", undefined]);
  registry.set("p1", "pool", "/w", "idle");
  assert.deepEqual([registry.get("p1")?.state, registry.get("p1")?.task, registry.get("p1")?.since], ["idle", undefined, 2_000]);
  // A task resumed there makes it busy again, with that task.
  registry.assign("p1", "proj/t1", "backup");
  assert.deepEqual([registry.get("p1")?.state, registry.get("p1")?.account], ["busy", "backup"]);
  registry.release("p1");
  assert.deepEqual([registry.get("p1")?.state, registry.get("p1")?.task], ["idle", undefined]);
});
