import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { Writable } from "node:stream";
import path from "node:path";
import type { TaskLedger, TaskRecord } from "../dispatch/records.js";
import { FakeClock } from "../lib/test-clock.js";
import { createLogger, silentLogger } from "../lib/logger.js";
import { TaskQueue } from "../queue/queue.js";
import { STATUS_REFRESH_MS, StatusPublisher } from "./status-publisher.js";
import { tempDir } from "../lib/test-temp.js";

test("status.json in the contract's shape, /status counts, and stale tasks for the watchdog", async () => {
  const root = await tempDir("cf-status-");
  const now = Date.UTC(2026, 3, 17, 12);
  const clock = new FakeClock(now);
  const queue = new TaskQueue({ root, projects: { web: root }, clock, log: silentLogger() });
  await queue.ensureLayout();
  await writeFile(path.join(root, "web", "inbox", "old.md"), "waiting for ages");
  await utimes(path.join(root, "web", "inbox", "old.md"), (now - 2 * 3_600_000) / 1000, (now - 2 * 3_600_000) / 1000);
  await writeFile(path.join(root, "web", "inbox", "fresh.md"), "just arrived");
  await utimes(path.join(root, "web", "inbox", "fresh.md"), now / 1000, now / 1000);
  await writeFile(path.join(root, "web", "active", "run.md"), "running");
  const record: TaskRecord = {
    project: "web", id: "run", session: "ccl-auto-11", account: "main", claude_session_id: "0b9c3f4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e",
    attempt: 1, phase: "working", cwd: root, started_at: now - 3 * 3_600_000, submitted_at: now - 3 * 3_600_000, timeout_ms: 7_200_000,
    screen_changed_at: now, screen_hash: "", idle_polls: 0,
  };
  const ledger: TaskLedger = {
    records: () => [record], get: () => record, put: () => undefined, remove: () => undefined,
    attempts: (k) => (k === "web/old" ? 1 : 0), setAttempts: () => undefined, flush: async () => undefined,
  };
  const pub = new StatusPublisher({ queue, projects: ["web"], ledger, clock, log: silentLogger() });
  pub.countFinished("web", "shipped", "done", { attempts: 1, since: now - 1000, session: "ccl-auto-12", account: "main" });
  await pub.publish();

  const doc = JSON.parse(await readFile(path.join(root, "web", "status.json"), "utf8")) as Record<string, unknown>;
  assert.deepEqual(doc, {
    project: "web",
    updated_at: "2026-04-17T12:00:00Z",
    counts: { inbox: 2, active: 1, delegated: 0, done: 0, failed: 0 },
    tasks: {
      fresh: { state: "queued", attempts: 0, since: "2026-04-17T12:00:00Z" },
      old: { state: "queued", attempts: 1, since: "2026-04-17T10:00:00Z" },
      run: { state: "dispatched", session: "ccl-auto-11", account: "main", attempts: 1, since: "2026-04-17T09:00:00Z" },
      shipped: { state: "done", session: "ccl-auto-12", account: "main", attempts: 1, since: "2026-04-17T11:59:59Z" },
    },
  });
  assert.deepEqual(pub.countsByProject(), { web: { inbox: 2, active: 1, delegated: 0, done: 0, failed: 0 } });
  const w = pub.watchdog();
  assert.deepEqual(w.stale.map((s) => `${s.state}:${s.id}`).sort(), ["active:run", "inbox:old"]);
  assert.deepEqual(w.counters, { done_since_start: 1, failed_since_start: 0 });
});

test("status.json is written when it changes, and unchanged only once a minute (updated_at as a heartbeat)", async () => {
  const root = await tempDir("cf-status-");
  const clock = new FakeClock(Date.UTC(2026, 3, 17, 12));
  const queue = new TaskQueue({ root, projects: { web: root }, clock, log: silentLogger() });
  await queue.ensureLayout();
  const ledger: TaskLedger = {
    records: () => [], get: () => undefined, put: () => undefined, remove: () => undefined,
    attempts: () => 0, setAttempts: () => undefined, flush: async () => undefined,
  };
  const pub = new StatusPublisher({ queue, projects: ["web"], ledger, clock, log: silentLogger() });
  const file = path.join(root, "web", "status.json");
  const read = async () => JSON.parse(await readFile(file, "utf8")) as { updated_at: string; counts: { inbox: number }; tasks: Record<string, unknown> };
  const inode = async () => (await stat(file)).ino;
  await pub.publish();
  const first = await inode();
  assert.equal((await read()).updated_at, "2026-04-17T12:00:00Z");

  await clock.advance(10_000);
  await pub.publish();
  assert.equal(await inode(), first, "nothing changed: not rewritten");
  assert.equal((await read()).updated_at, "2026-04-17T12:00:00Z");

  await writeFile(path.join(root, "web", "inbox", ".t.tmp"), "new task");
  await rename(path.join(root, "web", "inbox", ".t.tmp"), path.join(root, "web", "inbox", "t.md"));
  await clock.advance(10_000);
  await pub.publish();
  const changed = await read();
  assert.deepEqual([changed.updated_at, changed.counts.inbox, Object.keys(changed.tasks)], ["2026-04-17T12:00:20Z", 1, ["t"]], "a new task: written at once");

  await clock.advance(STATUS_REFRESH_MS - 1);
  await pub.publish();
  assert.equal((await read()).updated_at, "2026-04-17T12:00:20Z");
  await clock.advance(1);
  await pub.publish();
  assert.equal((await read()).updated_at, "2026-04-17T12:01:20Z", "unchanged for a minute: written again");
});

test("at start, finished tasks of the last 24 h are read back through the queue; a project whose done/ cannot be read is logged and the others are read", async () => {
  const root = await tempDir("cf-status-");
  const now = Date.UTC(2026, 3, 17, 12);
  const clock = new FakeClock(now);
  const queue = new TaskQueue({ root, projects: { web: root, api: root }, clock, log: silentLogger() });
  await queue.ensureLayout();
  const at = async (file: string, ms: number): Promise<void> => {
    await writeFile(file, "filed");
    await utimes(file, ms / 1000, ms / 1000);
  };
  await at(path.join(root, "web", "done", "shipped.md"), now - 3_600_000);
  await at(path.join(root, "web", "failed", "broke.md"), now - 2 * 3_600_000);
  await at(path.join(root, "web", "done", "ancient.md"), now - 48 * 3_600_000);
  await at(path.join(root, "web", "done", ".hidden.md"), now - 1000);
  await at(path.join(root, "web", "done", "notes.txt"), now - 1000);
  // api's done/ is a file: reading it fails with ENOTDIR, which no project's counts may hide.
  await rm(path.join(root, "api", "done"), { recursive: true });
  await writeFile(path.join(root, "api", "done"), "not a folder");
  const lines: string[] = [];
  const log = createLogger({ destination: new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } }) });
  const ledger: TaskLedger = {
    records: () => [], get: () => undefined, put: () => undefined, remove: () => undefined,
    attempts: () => 0, setAttempts: () => undefined, flush: async () => undefined,
  };
  const pub = new StatusPublisher({ queue, projects: ["web", "api"], ledger, clock, log });
  await pub.start();
  await pub.stop();
  await pub.publish().catch(() => undefined);
  const doc = JSON.parse(await readFile(path.join(root, "web", "status.json"), "utf8")) as { tasks: Record<string, { state: string }> };
  assert.deepEqual(Object.fromEntries(Object.entries(doc.tasks).map(([id, t]) => [id, t.state])), { shipped: "done", broke: "failed" });
  assert.equal(lines.filter((l) => /finished tasks not read at start/.test(l) && /"project":"api"/.test(l)).length, 1);
});

test("the watchdog's stale list leaves out time held at a usage limit, as the task's timeout does (S8)", async () => {
  const root = await tempDir("cf-status-");
  const now = Date.UTC(2026, 3, 17, 12);
  const clock = new FakeClock(now);
  const queue = new TaskQueue({ root, projects: { web: root }, clock, log: silentLogger() });
  await queue.ensureLayout();
  const base: TaskRecord = {
    project: "web", id: "held", session: "ccl-auto-11", account: "main", claude_session_id: "0b9c3f4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e",
    attempt: 1, phase: "working", cwd: root, started_at: now - 3 * 3_600_000, submitted_at: now - 3 * 3_600_000, timeout_ms: 2 * 3_600_000,
    screen_changed_at: now, screen_hash: "", idle_polls: 0,
  };
  // Three hours in: two held (one finished stretch, one under way), so one hour timed of a two-hour timeout.
  const held: TaskRecord = { ...base, held_ms: 3_600_000, held_at: now - 3_600_000 };
  const late: TaskRecord = { ...base, id: "late", session: "ccl-auto-12" };
  const records = [held, late];
  const ledger: TaskLedger = {
    records: () => records, get: (k) => records.find((r) => `${r.project}/${r.id}` === k), put: () => undefined, remove: () => undefined,
    attempts: () => 1, setAttempts: () => undefined, flush: async () => undefined,
  };
  const pub = new StatusPublisher({ queue, projects: ["web"], ledger, clock, log: silentLogger() });
  await pub.publish();
  assert.deepEqual(pub.watchdog().stale.map((s) => s.id), ["late"]);
});
