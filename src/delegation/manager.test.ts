import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { startMockJobService, type MockJobService } from "../../test/support/mock-job-service.js";
import { formatIso, parseFooter } from "../queue/footer.js";
import { readMarker } from "./marker.js";
import { managerFixture, withManagerFixture, type ManagerFixture, START } from "./test-manager.js";
import { manualDeadlines, RecordingClock, TASKS } from "./test-support.js";
import { JobClient } from "./client.js";
import { MAX_REASON_CHARS } from "../queue/footer.js";

let mock: MockJobService;
before(async () => {
  mock = await startMockJobService();
});
after(() => mock.close());
beforeEach(() => mock.reset());

type Fixture = ManagerFixture;
const withFixture = (fn: (f: Fixture) => Promise<void>, settings: Parameters<typeof managerFixture>[1] = {}): Promise<void> => withManagerFixture(mock, fn, settings);

async function started(f: Fixture) {
  const m = f.make();
  await m.start();
  return m;
}

describe("DelegationManager.offer", () => {
  for (const [name, text] of [["routes local", TASKS.local], ["needs Claude Code", TASKS.needsClaude], ["cannot be parsed", TASKS.broken]] as const) {
    test(`a task that ${name} is left to the local claim: nothing sent, nothing moved`, () => withFixture(async (f) => {
      const m = await started(f);
      await f.put("alpha", "t1", text);
      assert.equal(await m.offer("alpha", "t1"), "local");
      assert.deepEqual(await f.list("alpha", "inbox"), ["t1.md"]);
      assert.equal(mock.requests.length, 0);
    }));
  }

  test("a task read as local is not read again until its file changes", () => withFixture(async (f) => {
    const m = await started(f);
    const local = "---\nallow_delegation: false\npreferred_ai: gpu\n---\nRun.\n";
    const delegating = local.replace("false", "true ");
    const file = await f.put("alpha", "t1", local);
    await utimes(file, 1_776_000_000, 1_776_000_000);
    assert.equal(await m.offer("alpha", "t1"), "local");
    // Same inode, size and mtime: the remembered decision stands, the content is not read.
    await writeFile(file, delegating);
    await utimes(file, 1_776_000_000, 1_776_000_000);
    assert.equal(await m.offer("alpha", "t1"), "local");
    await utimes(file, 1_776_000_001, 1_776_000_001);
    assert.equal(await m.offer("alpha", "t1"), "delegated");
  }));

  test("a delegated task: one submit, and the .md becomes a marker carrying the job id", () => withFixture(async (f) => {
    const m = await started(f);
    await f.put("alpha", "t1", TASKS.gpu);
    assert.equal(await m.offer("alpha", "t1"), "delegated");
    assert.deepEqual(await f.list("alpha", "inbox"), ["t1.md.delegated"]);
    const marker = await f.read("alpha", "inbox", "t1.md.delegated");
    assert.deepEqual(readMarker(marker), { ok: true, block: { state: "submitted", jobId: "job-1", provider: "gpu", submittedAt: START } });
    assert.ok(marker.startsWith("---\ntitle: Summarise\n") && marker.endsWith("---\nSummarise the logs.\n"));
    assert.deepEqual(mock.submits().map((r) => r.body), [{ provider: "gpu", prompt: "Summarise the logs.", metadata: { task_id: "t1", project: "alpha", complexity_hint: "low" } }]);
    assert.ok(mock.submits()[0]!.authOk);
    assert.deepEqual(m.status().active, [{ project: "alpha", id: "t1", job_id: "job-1", provider: "gpu", submitted_at: formatIso(START) }]);
    assert.deepEqual(m.counters(), { active: 1, completed_total: 0, failed_total: 0 });
    assert.equal(m.isDelegated("alpha", "t1"), true);
    assert.deepEqual(f.eventTypes(), ["delegation_submitted"]);
  }));

  for (const [name, fault, posts] of [
    ["a 4xx", { kind: "status", status: 400 }, 1],
    ["a 5xx past the retries", { kind: "status", status: 503 }, 4],
    ["a job id with path characters", { kind: "body", status: 201, text: JSON.stringify({ id: "../../etc", status: "queued" }) }, 1],
    ["a malformed answer", { kind: "body", status: 201, text: "{oops" }, 1],
  ] as const) {
    test(`a failed submit (${name}) puts the task back as it was and runs it locally`, () => withFixture(async (f) => {
      mock.fault({ on: "submit", times: 4, fault });
      const m = await started(f);
      const file = await f.put("alpha", "t1", TASKS.gpu);
      const mtime = new Date(Date.UTC(2026, 3, 1));
      await utimes(file, mtime, mtime);
      assert.equal(await m.offer("alpha", "t1"), "local");
      assert.deepEqual(await f.list("alpha", "inbox"), ["t1.md"]);
      assert.equal(await readFile(file, "utf8"), TASKS.gpu);
      assert.equal((await stat(file)).mtimeMs, mtime.getTime());
      assert.equal(mock.submits().length, posts);
      assert.equal(f.events.at(-1)?.type, "delegation_submit_failed");
      assert.equal(m.counters().active, 0);
      // §8: after an outage (5xx, 429, no connection) nothing is offered for a while; after the service refused
      // this one task (4xx, a bad answer) the next task is offered as usual.
      const outage = fault.kind === "status" && fault.status >= 500;
      await f.put("alpha", "t2", TASKS.gemini);
      const next = await m.offer("alpha", "t2");
      assert.equal(mock.submits().length, outage ? posts : posts + 1, outage ? "paused: no submit" : "offered as usual");
      if (outage) assert.equal(next, "local");
    }));
  }

  test("a new task taking the name during a failed submit: both kept, the first under another id", () => withFixture(async (f) => {
    mock.fault({ on: "submit", times: 4, fault: { kind: "hang" } });
    const deadlines = manualDeadlines();
    const client = new JobClient({ url: mock.url, apiKey: "test-key", clock: new RecordingClock(), timeoutSignal: deadlines.timeoutSignal });
    const m = f.make({ client });
    await m.start();
    await f.put("alpha", "t1", TASKS.gpu);
    const pending = m.offer("alpha", "t1");
    await mock.waitForRequest((r) => r.seq === 1);
    await f.put("alpha", "t1", "a newer task\n");
    for (let seq = 1; seq <= 4; seq++) {
      await mock.waitForRequest((r) => r.seq === seq);
      deadlines.fire();
    }
    assert.equal(await pending, "local");
    const inbox = await f.list("alpha", "inbox");
    assert.equal(inbox.length, 2);
    assert.equal(await f.read("alpha", "inbox", "t1.md"), "a newer task\n");
    assert.equal(await f.read("alpha", "inbox", inbox.find((n) => n !== "t1.md")!), TASKS.gpu);
  }));

  test("a record or notify callback that throws changes no outcome", () => withFixture(async (f) => {
    mock.plan({ outcome: "failed", error: "boom" });
    const m = await started(f);
    const full = (): never => {
      throw new Error("events.jsonl is full");
    };
    f.events.push = full;
    f.notices.push = full;
    await f.put("alpha", "t1", TASKS.gpu);
    assert.equal(await m.offer("alpha", "t1"), "delegated");
    await m.reapOnce();
    assert.deepEqual(await f.list("alpha", "failed"), ["t1.md"]);
    assert.deepEqual(m.counters(), { active: 0, completed_total: 0, failed_total: 1 });
  }));

  test("an id already delegated: the newcomer runs locally", () => withFixture(async (f) => {
    const m = await started(f);
    await f.put("alpha", "t1", TASKS.gpu);
    await m.offer("alpha", "t1");
    await f.put("alpha", "t1", TASKS.gemini);
    assert.equal(await m.offer("alpha", "t1"), "local");
    assert.equal(mock.submits().length, 1);
  }));

  test("before start, after stop, an unknown project or a bad id: local", () => withFixture(async (f) => {
    const m = f.make();
    await f.put("alpha", "t1", TASKS.gpu);
    assert.equal(await m.offer("alpha", "t1"), "local");
    await m.start();
    assert.equal(await m.offer("gamma", "t1"), "local");
    assert.equal(await m.offer("alpha", "../t1"), "local");
    await m.stop();
    assert.equal(await m.offer("alpha", "t1"), "local");
    assert.equal(mock.requests.length, 0);
  }));

  test("start() and stop() are safe twice; start after stop is refused", () => withFixture(async (f) => {
    const m = f.make();
    await Promise.all([m.start(), m.start()]);
    assert.equal(m.state, "running");
    await Promise.all([m.stop(), m.stop()]);
    assert.equal(m.state, "stopped");
    await assert.rejects(m.start(), { code: "ILLEGAL_STATE" });
  }));
});

describe("DelegationManager: the reaper", () => {
  test("completed → done/ with the task, the result and a footer with provider and cost; the marker goes", () => withFixture(async (f) => {
    mock.plan({ result: "The logs say hello.", cost_usd: 0.42 });
    const m = await started(f);
    await f.put("alpha", "t1", TASKS.gpu);
    await m.offer("alpha", "t1");
    const marker = await f.read("alpha", "inbox", "t1.md.delegated");
    await f.clock.advance(65_000);
    await m.reapOnce();
    assert.deepEqual(await f.list("alpha", "inbox"), []);
    assert.deepEqual(await f.list("alpha", "done"), ["t1.md"]);
    const done = await f.read("alpha", "done", "t1.md");
    assert.ok(done.startsWith(marker), "the task text (with its delegation block) comes first");
    assert.match(done, /\n## Result\n\nThe logs say hello\.\n/);
    assert.deepEqual(parseFooter(done), {
      status: "done", attempts: "1", started: formatIso(START), finished: formatIso(START + 65_000), provider: "gpu", cost_usd: "0.42",
    });
    assert.deepEqual(m.counters(), { active: 0, completed_total: 1, failed_total: 0 });
    assert.equal(m.status().budget.spent_usd, 0.42);
    assert.equal(m.isDelegated("alpha", "t1"), false);
    assert.deepEqual(f.eventTypes(), ["delegation_submitted", "delegation_completed"]);
    assert.deepEqual(f.notices, []);
  }));

  test("failed → failed/ with the service's reason; notified once", () => withFixture(async (f) => {
    mock.plan({ outcome: "failed", error: "GPU quota exhausted", cost_usd: 0.05 });
    const m = await started(f);
    await f.put("beta", "t2", TASKS.gemini);
    await m.offer("beta", "t2");
    await m.reapOnce();
    assert.deepEqual([await f.list("beta", "inbox"), await f.list("beta", "failed")], [[], ["t2.md"]]);
    const failed = await f.read("beta", "failed", "t2.md");
    assert.match(failed, /\n## Failure\n\nthe job service reports job job-1 \(gemini\) failed: GPU quota exhausted\n/);
    const footer = parseFooter(failed)!;
    assert.deepEqual([footer.status, footer.provider, footer.cost_usd], ["failed", "gemini", "0.05"]);
    assert.match(footer.reason!, /GPU quota exhausted/);
    assert.deepEqual(m.counters(), { active: 0, completed_total: 0, failed_total: 1 });
    assert.deepEqual(f.notices.map((n) => n.kind), ["delegation_failed"]);
  }));

  test("a huge failure from the service: the reason (footer, event, notice) is cut to MAX_REASON_CHARS; the body keeps it whole", () => withFixture(async (f) => {
    const error = `GPU fault ${"e".repeat(2 * 1024 * 1024)}`;
    mock.plan({ outcome: "failed", error });
    const m = await started(f);
    await f.put("alpha", "t1", TASKS.gpu);
    await m.offer("alpha", "t1");
    await m.reapOnce();
    const failed = await f.read("alpha", "failed", "t1.md");
    const reason = parseFooter(failed)!.reason!;
    assert.ok(reason.length <= MAX_REASON_CHARS && reason.endsWith("…") && reason.includes("failed: GPU fault eee"), reason.slice(0, 80));
    assert.ok(failed.includes(error), "the failed/ file keeps the service's text");
    const notice = f.notices.find((n) => n.kind === "delegation_failed")!;
    assert.ok(notice.kind === "delegation_failed" && notice.reason.length <= MAX_REASON_CHARS && notice.message.length < MAX_REASON_CHARS + 100);
    const event = f.events.find((e) => e.type === "delegation_failed") as { reason?: string } | undefined;
    assert.ok((event?.reason ?? "").length <= MAX_REASON_CHARS);
  }));

  test("a job past job_timeout fails with the reason; before that it is kept with its last status", () => withFixture(async (f) => {
    mock.plan({ manual: true });
    const m = await started(f);
    await f.put("alpha", "t1", TASKS.gpu);
    await m.offer("alpha", "t1");
    await m.reapOnce();
    assert.equal(m.status().active[0]?.last_status, "queued");
    mock.advance("job-1");
    await f.clock.advance(30 * 60_000);
    await m.reapOnce();
    assert.deepEqual(await f.list("alpha", "failed"), ["t1.md"]);
    assert.match(parseFooter(await f.read("alpha", "failed", "t1.md"))!.reason!, /job job-1 \(gpu\) did not finish within 30m \(last status: running\)/);
    assert.equal(f.notices.length, 1);
  }));

  test("a job the service no longer knows (404) fails", () => withFixture(async (f) => {
    const m = await started(f);
    await f.put("alpha", "t1", TASKS.gpu);
    await m.offer("alpha", "t1");
    mock.fault({ on: "get", fault: { kind: "status", status: 404 } });
    await m.reapOnce();
    assert.match(parseFooter(await f.read("alpha", "failed", "t1.md"))!.reason!, /no longer knows job job-1 \(HTTP 404\)/);
  }));

  // `times`: the requests one failed poll makes (the client retries only the 5xx).
  for (const [name, fault, times, error] of [
    ["an outage (5xx past the retries)", { kind: "status", status: 503 }, 4, /HTTP 503/],
    ["a malformed job JSON", { kind: "body", text: '{"id":"job-1","status":"finished"}' }, 1, /unexpected shape at status/],
    ["a huge answer", { kind: "huge", bytes: 9 * 1024 * 1024 }, 1, /more than 8388608 bytes/],
  ] as const) {
    test(`${name} while polling: the job is kept, the error shown, until it answers`, () => withFixture(async (f) => {
      const m = await started(f);
      await f.put("alpha", "t1", TASKS.gpu);
      await m.offer("alpha", "t1");
      mock.fault({ on: "get", times, fault });
      await m.reapOnce();
      assert.match(m.status().active[0]?.last_error ?? "", error);
      assert.deepEqual(await f.list("alpha", "inbox"), ["t1.md.delegated"]);
      await f.clock.advance(10_000);
      await m.reapOnce();
      assert.deepEqual(await f.list("alpha", "done"), ["t1.md"]);
    }));
  }

  test("polls of one job are at least poll_interval apart", () => withFixture(async (f) => {
    mock.plan({ manual: true });
    const m = await started(f);
    await f.put("alpha", "t1", TASKS.gpu);
    await m.offer("alpha", "t1");
    await m.reapOnce();
    await m.reapOnce();
    await f.clock.advance(1999);
    await m.reapOnce();
    assert.equal(mock.requests.filter((r) => r.method === "GET").length, 1);
    await f.clock.advance(1);
    await m.reapOnce();
    assert.equal(mock.requests.filter((r) => r.method === "GET").length, 2);
  }));

  test("the reaper loop runs at reap_interval on its own", () => withFixture(async (f) => {
    mock.plan({ queuedPolls: 1 });
    const m = await started(f);
    await f.put("alpha", "t1", TASKS.gpu);
    await m.offer("alpha", "t1");
    await f.clock.advance(10_000);
    assert.equal(m.status().active[0]?.last_status, "queued");
    await f.clock.advance(10_000);
    await m.reapOnce();
    assert.deepEqual(await f.list("alpha", "done"), ["t1.md"]);
    assert.equal(mock.requests.filter((r) => r.method === "GET").length, 2);
  }));

  test("a finished task never replaces one already in done/", () => withFixture(async (f) => {
    await writeFile(path.join(f.dir("alpha", "done"), "t1.md"), "an earlier run\n");
    const m = await started(f);
    await f.put("alpha", "t1", TASKS.gpu);
    await m.offer("alpha", "t1");
    await m.reapOnce();
    const done = await f.list("alpha", "done");
    assert.deepEqual(done, ["t1-20260417T021719Z.md", "t1.md"]);
    assert.equal(await f.read("alpha", "done", "t1.md"), "an earlier run\n");
  }));
});
