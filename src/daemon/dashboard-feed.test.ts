import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { TaskLedger } from "../dispatch/records.js";
import type { Origin } from "../http/dashboard/routes.js";
import { silentLogger } from "../lib/logger.js";
import { readHead } from "../queue/layout.js";
import { TaskBoard } from "../queue/status.js";
import { layoutOf, makeQueue, putFile, readText } from "../queue/test-support.js";
import { EventLog } from "../state/event-log.js";
import { DashboardFeed, FINISHED_SHOWN, maskSecrets, WAITING_SHOWN, type DashboardFeedDeps } from "./dashboard-feed.js";
import { StatusPublisher } from "./status-publisher.js";
import { renderSections } from "../http/dashboard/view.js";

const ORIGIN: Origin = { via: "dashboard", remote: "127.0.0.1" };

async function harness(over: Partial<DashboardFeedDeps> = {}) {
  const q = await makeQueue();
  const events = new EventLog({ dir: path.join(q.base, "state"), clock: q.clock });
  const attempts = new Map<string, number>([["alpha/t1", 3]]);
  const ledger = { attempts: (k: string) => attempts.get(k) ?? 0, setAttempts: (k: string, n: number | undefined) => void (n === undefined ? attempts.delete(k) : attempts.set(k, n)), get: () => undefined, records: () => [] } as unknown as TaskLedger;
  // Head reads of the dashboard's list, counted.
  const reads = { n: 0 };
  const board = new TaskBoard({ root: q.root, waitingShown: WAITING_SHOWN, finishedShown: FINISHED_SHOWN, readHead: (f, max) => (reads.n++, readHead(f, max)) });
  // The daemon's status pass keeps the board: the harness runs one pass when a test says so.
  const publisher = new StatusPublisher({ queue: q.queue, projects: q.queue.projectNames, ledger, clock: q.clock, log: silentLogger(), board });
  const holds: (string | undefined)[] = [];
  let changes = 0;
  const feed = new DashboardFeed({
    clock: q.clock, log: silentLogger(), events, queueRoot: q.root,
    status: () => ({ active_account: "main", sessions: [], accounts: [], queue: publisher.countsByProject(), swaps: [] }),
    queue: () => q.queue, board: () => board, ledger: () => ledger, paused: () => null, hold: (r) => void holds.push(r), changed: () => void changes++, delegation: () => null,
    capture: async (s) => (s === "ccl-auto-1" ? "export KEY=sk-very-secret-value and the token s3cret-token" : undefined),
    secrets: () => ["sk-very-secret-value", "s3cret-token", "abc"],
    ...over,
  });
  const logged = async () => {
    await events.flush();
    return (await events.readTail(100)).events.filter((e) => e.type === "operator_action");
  };
  return { q, feed, events, attempts, holds, logged, reads, publish: () => publisher.publish(), changes: () => changes, cleanup: async () => (await feed.stop(), await events.close(), await q.cleanup()) };
}

test("retry: the failed task waits in the inbox again with its failure text and a fresh attempt count; recorded with its origin", async () => {
  const h = await harness();
  try {
    await putFile(h.q.root, "alpha", "inbox", "t1.md", "the task");
    await h.q.queue.claim("alpha", "t1");
    await h.q.queue.fail("alpha", "t1", { reason: "agent died 3 times", footer: { attempts: 3 } });
    const r = await h.feed.retry("alpha", "t1", ORIGIN);
    assert.deepEqual(r, { status: 200, body: { ok: true, id: "t1" } });
    assert.deepEqual((await layoutOf(h.q.root, "alpha")).inbox, ["t1.md"]);
    assert.match(await readText(path.join(h.q.dir("alpha", "inbox"), "t1.md")), /agent died 3 times/);
    assert.equal(h.attempts.has("alpha/t1"), false);
    assert.equal(h.changes(), 1, "the queue counts are refreshed at once");
    const again = await h.feed.retry("alpha", "t1", { via: "api", remote: "::1" });
    assert.equal(again.status, 409, "no longer failed");
    assert.deepEqual((await h.logged()).map((e) => [e.action, e.task, e.ok, (e.origin as Origin).via]), [["retry", "t1", true, "dashboard"], ["retry", "t1", false, "api"]]);
  } finally {
    await h.cleanup();
  }
});

test("cancel: a waiting task is filed in failed/ as cancelled by operator; a task already taken is refused (409)", async () => {
  const h = await harness();
  try {
    await putFile(h.q.root, "alpha", "inbox", "w.md", "wait");
    assert.equal((await h.feed.cancel("alpha", "w", ORIGIN)).status, 200);
    assert.match(await readText(path.join(h.q.dir("alpha", "failed"), "w.md")), /## Failure\n+cancelled by operator/);
    await putFile(h.q.root, "alpha", "inbox", "a.md", "x");
    await h.q.queue.claim("alpha", "a");
    const r = await h.feed.cancel("alpha", "a", ORIGIN);
    assert.equal(r.status, 409);
    assert.equal((await h.feed.cancel("nope", "a", ORIGIN)).status, 400);
    assert.equal((await h.feed.cancel("alpha", "../a", ORIGIN)).status, 400);
    assert.deepEqual((await h.logged()).map((e) => [e.action, e.ok, e.code ?? null]), [
      ["cancel", true, null], ["cancel", false, "QUEUE_NOT_FOUND"], ["cancel", false, "QUEUE_UNKNOWN_PROJECT"], ["cancel", false, "QUEUE_INVALID_NAME"],
    ]);
  } finally {
    await h.cleanup();
  }
});

test("submit follows submit's rules (known project, size, UTF-8); pause and resume hold the work loop; all recorded", async () => {
  const h = await harness();
  try {
    const r = await h.feed.submit("alpha", "---\ntitle: from the page\n---\ndo it", ORIGIN);
    assert.equal(r.status, 200);
    const id = (r.body as { id: string }).id;
    assert.deepEqual((await layoutOf(h.q.root, "alpha")).inbox, [`${id}.md`]);
    assert.equal((await h.feed.submit("gamma", "x", ORIGIN)).status, 400);
    assert.equal((await h.feed.submit("alpha", "x".repeat(1024 * 1024 + 1), ORIGIN)).status, 400);
    await h.feed.setPaused(true, ORIGIN);
    await h.feed.setPaused(false, ORIGIN);
    assert.deepEqual(h.holds, ["paused by operator (dashboard)", undefined]);
    assert.deepEqual((await h.logged()).map((e) => [e.action, e.ok]), [["submit", true], ["submit", false], ["submit", false], ["pause", true], ["resume", true]]);
  } finally {
    await h.cleanup();
  }
});

test("snapshot: waiting tasks in dispatch order with titles, failed ones, recent events; subscribers hear each event", async () => {
  const h = await harness();
  try {
    const heard: unknown[] = [];
    const off = h.feed.subscribe((c) => heard.push(c.event?.type));
    await putFile(h.q.root, "alpha", "inbox", "low.md", "---\npriority: low\n---\nx", 100);
    await putFile(h.q.root, "alpha", "inbox", "high.md", "---\ntitle: <b>urgent</b>\npriority: high\n---\nx", 200);
    await putFile(h.q.root, "alpha", "failed", "f.md", "failed one");
    await putFile(h.q.root, "alpha", "done", "d.md", "done one");
    await h.events.append({ type: "task_done", project: "alpha", task: "d", session: "ccl-auto-1", account: "main", attempts: 1, how: "stop-hook" });
    await h.events.append({ type: "hook", event: "Stop", kind: "Stop", claude_session_id: "a1" });
    await h.publish();
    const s = await h.feed.snapshot();
    assert.deepEqual(s.tasks.map((t) => [t.id, t.state, t.title ?? null]), [["high", "inbox", "<b>urgent</b>"], ["low", "inbox", null], ["f", "failed", null], ["d", "done", null]]);
    assert.deepEqual(s.events.map((e) => e.type), ["task_done"], "hook deliveries are left out of the list");
    assert.deepEqual(heard, ["task_done", "hook"]);
    off();
  } finally {
    await h.cleanup();
  }
});

test("a deep inbox: the snapshot lists the first waiting tasks in dispatch order, opening only those files; the page says how many more wait", async () => {
  const h = await harness();
  try {
    const names = Array.from({ length: 2_000 }, (_, i) => `t-${String(i).padStart(4, "0")}.md`);
    for (let i = 0; i < names.length; i += 200) await Promise.all(names.slice(i, i + 200).map((n) => putFile(h.q.root, "alpha", "inbox", n, "---\ntitle: a task\n---\nx", 1_000)));
    await putFile(h.q.root, "alpha", "inbox", "urgent.md", "---\ntitle: <urgent>\npriority: high\n---\nx", 2_000);
    await h.publish();
    assert.ok(h.reads.n <= WAITING_SHOWN, `${h.reads.n} heads read for the list`);
    const s = await h.feed.snapshot();
    const rows = s.tasks.filter((t) => t.project === "alpha");
    assert.equal(rows.length, WAITING_SHOWN);
    assert.deepEqual(rows.slice(0, 3).map((t) => [t.id, t.title]), [["urgent", "<urgent>"], ["t-0000", "a task"], ["t-0001", "a task"]]);
    assert.match(renderSections(s).queue, /and 1951 more waiting/);
    const before = h.reads.n;
    await h.publish();
    assert.equal(h.reads.n, before, "an unchanged inbox is not opened again");
  } finally {
    await h.cleanup();
  }
});

test("snapshots: concurrent callers share the build in flight, and a finished one is reused for a second", async () => {
  let builds = 0;
  const h = await harness({ status: () => (builds++, { active_account: "main", sessions: [], accounts: [], queue: {}, swaps: [] }) });
  try {
    const first = h.feed.snapshot();
    // A slow build: callers keep coming after the TTL has passed since it started.
    await h.q.clock.advance(5_000);
    assert.equal(h.feed.snapshot(), first);
    await first;
    await h.q.clock.advance(500);
    await h.feed.snapshot();
    assert.equal(builds, 1);
    await h.q.clock.advance(1_000);
    await h.feed.snapshot();
    assert.equal(builds, 2);
  } finally {
    await h.cleanup();
  }
});

test("a session's screen comes with secret values masked; a session the daemon does not hold is not captured", async () => {
  const h = await harness();
  try {
    assert.equal(await h.feed.screen("ccl-auto-1"), "export KEY=[redacted] and the token [redacted]");
    assert.equal(await h.feed.screen("someone-elses"), undefined);
    assert.equal(maskSecrets("abc abcdef", ["abc", "abcdef"]), "abc [redacted]", "values too short to mask safely are left");
  } finally {
    await h.cleanup();
  }
});

test("a task's detail is read only from a configured project: a folder under the queue root that no project names is not found", async () => {
  const h = await harness();
  try {
    await putFile(h.q.root, "alpha", "inbox", "t1.md", "configured");
    assert.equal((await h.feed.task("alpha", "t1"))?.text, "configured");
    await mkdir(path.join(h.q.root, "stray", "inbox"), { recursive: true });
    await putFile(h.q.root, "stray", "inbox", "t1.md", "not a project of the config");
    assert.equal(await h.feed.task("stray", "t1"), undefined);
  } finally {
    await h.cleanup();
  }
});
