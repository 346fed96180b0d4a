import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { link, lstat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { startMockJobService, type MockJobService } from "../../test/support/mock-job-service.js";
import { flushMicrotasks } from "../lib/test-clock.js";
import { formatIso, parseFooter } from "../queue/footer.js";
import { JobClient } from "./client.js";
import { markTask, readMarker, type MarkerBlock } from "./marker.js";
import { managerFixture, withManagerFixture, type ManagerFixture, START, TEST_KEY } from "./test-manager.js";
import { manualDeadlines, RecordingClock, TASKS } from "./test-support.js";

let mock: MockJobService;
before(async () => {
  mock = await startMockJobService();
});
after(() => mock.close());
beforeEach(() => mock.reset());

type Fixture = ManagerFixture;
const withFixture = (fn: (f: Fixture) => Promise<void>, settings: Parameters<typeof managerFixture>[1] = {}): Promise<void> => withManagerFixture(mock, fn, settings);

function markerText(raw: string, block: MarkerBlock): string {
  const r = markTask(raw, block);
  assert.ok(r.ok);
  return r.text;
}

describe("DelegationManager: restart", () => {
  test("jobs in flight are re-adopted from their markers and never submitted again", () => withFixture(async (f) => {
    mock.setDefaultPlan({ manual: true });
    const first = f.make();
    await first.start();
    await f.put("alpha", "t1", TASKS.gpu);
    await f.put("beta", "t2", TASKS.gemini);
    await first.offer("alpha", "t1");
    await f.clock.advance(5000);
    await first.offer("beta", "t2");
    await first.stop();

    const second = f.make();
    await second.start();
    assert.deepEqual(second.status().active.map((j) => [j.project, j.id, j.job_id, j.provider, j.submitted_at]), [
      ["alpha", "t1", "job-1", "gpu", formatIso(START)],
      ["beta", "t2", "job-2", "gemini", formatIso(START + 5000)],
    ]);
    assert.equal(f.eventTypes().filter((t) => t === "delegation_readopted").length, 2);
    mock.finish("job-1", { status: "completed", result: "one", cost_usd: 0.1 });
    mock.finish("job-2", { status: "completed", result: "two" });
    await f.clock.advance(2000);
    await second.reapOnce();
    assert.deepEqual([await f.list("alpha", "done"), await f.list("beta", "done")], [["t1.md"], ["t2.md"]]);
    assert.equal(mock.submits().length, 2);
  }));

  test("stop() waits for a submit in flight, so the restart adopts it", () => withFixture(async (f) => {
    mock.fault({ on: "submit", fault: { kind: "hang" } });
    const deadlines = manualDeadlines();
    const first = f.make({ client: new JobClient({ url: mock.url, apiKey: TEST_KEY, clock: new RecordingClock(), timeoutSignal: deadlines.timeoutSignal }) });
    await first.start();
    await f.put("alpha", "t1", TASKS.gpu);
    const offered = first.offer("alpha", "t1");
    await mock.waitForRequest((r) => r.seq === 1);
    let stopped = false;
    const stopping = first.stop().then(() => void (stopped = true));
    await flushMicrotasks();
    assert.equal(stopped, false, "stop() waits for the submission");
    deadlines.fire();
    await stopping;
    assert.equal(await offered, "delegated");
    const second = f.make();
    await second.start();
    assert.deepEqual(second.status().active.map((j) => j.job_id), ["job-1"]);
    assert.equal(mock.jobs.size, 1);
  }));

  test("a crash between the marker write and the .md removal: the marker goes, the task waits, one job later", () => withFixture(async (f) => {
    await f.put("alpha", "t1", TASKS.gpu);
    await writeFile(path.join(f.dir("alpha", "inbox"), "t1.md.delegated"), markerText(TASKS.gpu, { state: "submitting", provider: "gpu", requestedAt: START }));
    const m = f.make();
    await m.start();
    assert.deepEqual(await f.list("alpha", "inbox"), ["t1.md"]);
    assert.equal(await f.read("alpha", "inbox", "t1.md"), TASKS.gpu);
    assert.deepEqual([mock.requests.length, f.eventTypes()], [0, ["delegation_marker_discarded"]]);
    assert.equal(await m.offer("alpha", "t1"), "delegated");
    assert.equal(mock.submits().length, 1);
  }));

  test("a crash during the submit: the task is failed with the reason, never submitted twice", () => withFixture(async (f) => {
    // The request reaches the service, but the daemon "dies" before it reads the answer.
    const blackhole: typeof fetch = (input, init) => {
      void fetch(input, { ...init, signal: null }).catch(() => undefined);
      return new Promise<Response>(() => undefined);
    };
    const crashed = f.make({ client: new JobClient({ url: mock.url, apiKey: TEST_KEY, fetch: blackhole }), untracked: true });
    await crashed.start();
    await f.put("alpha", "t1", TASKS.gpu);
    void crashed.offer("alpha", "t1");
    await mock.waitForRequest((r) => r.method === "POST");
    // What a crash at this instant leaves: the write-ahead marker alone.
    assert.deepEqual(await f.list("alpha", "inbox"), ["t1.md.delegated"]);
    const marker = readMarker(await f.read("alpha", "inbox", "t1.md.delegated"));
    assert.ok(marker.ok && marker.block.state === "submitting");

    const restarted = f.make();
    await restarted.start();
    assert.deepEqual([await f.list("alpha", "inbox"), await f.list("alpha", "failed")], [[], ["t1.md"]]);
    const failed = await f.read("alpha", "failed", "t1.md");
    assert.ok(failed.includes("Summarise the logs."), "the task's text is kept");
    assert.match(parseFooter(failed)!.reason!, /stopped while submitting.*not submitted again/);
    const key = mock.submits()[0]!.idempotencyKey!;
    assert.ok(parseFooter(failed)!.reason!.includes(`(Idempotency-Key ${key})`), "the reason names the key the job, if any, can be found by");
    assert.deepEqual(f.notices.map((n) => n.kind), ["delegation_failed"]);
    assert.deepEqual(restarted.counters(), { active: 0, completed_total: 0, failed_total: 1 });
    await restarted.reapOnce();
    assert.equal(mock.submits().length, 1);
  }));

  test("markers that cannot be followed are failed with the reason; nothing is asked of the service", () => withFixture(async (f) => {
    const inbox = f.dir("alpha", "inbox");
    const block = (jobId: string) => `---\ntitle: t\ndelegation:\n  job_id: "${jobId}"\n  provider: gpu\n  submitted_at: "2026-04-17T02:00:00Z"\n---\nbody\n`;
    await writeFile(path.join(inbox, "broken.md.delegated"), "---\ntitle: [unclosed\ndelegation: {job_id: job-9\n---\nbody\n");
    await writeFile(path.join(inbox, "pathy.md.delegated"), block("../../etc/passwd"));
    await writeFile(path.join(inbox, "latin1.md.delegated"), Buffer.from([0x2d, 0x2d, 0x2d, 0x0a, 0xe9, 0x0a, 0x2d, 0x2d, 0x2d, 0x0a]));
    await writeFile(path.join(f.base, "elsewhere"), block("job-1"));
    await symlink(path.join(f.base, "elsewhere"), path.join(inbox, "linked.md.delegated"));
    const m = f.make();
    await m.start();
    assert.deepEqual(await f.list("alpha", "inbox"), []);
    assert.deepEqual(await f.list("alpha", "failed"), ["broken.md", "latin1.md", "linked.md", "pathy.md"]);
    const reason = async (name: string) => parseFooter(await f.read("alpha", "failed", name))!.reason!;
    assert.match(await reason("broken.md"), /marker cannot be read \(malformed YAML frontmatter at line \d+/);
    assert.match(await reason("pathy.md"), /delegation\.job_id: not a valid job id/);
    assert.match(await reason("latin1.md"), /not UTF-8/);
    assert.match(await reason("linked.md"), /symbolic link/);
    assert.ok((await lstat(path.join(f.base, "elsewhere"))).isFile(), "a link's target is left alone");
    assert.equal(mock.requests.length, 0);
    assert.equal(m.counters().failed_total, 4);
    assert.equal(f.notices.length, 4);
  }));

  test("a filing interrupted by a crash is completed, never doubled; stray temp files go", () => withFixture(async (f) => {
    const inbox = f.dir("alpha", "inbox");
    const marker = markerText(TASKS.gpu, { state: "submitted", jobId: "job-5", provider: "gpu", submittedAt: START });
    // t1: staged, marker not yet dropped. t2: already linked into done/, staged not yet unlinked.
    await writeFile(path.join(inbox, "t1.md.delegated"), marker);
    await writeFile(path.join(inbox, "t1.md.delegated.to-done"), `${marker}\n## Result\n\nfirst\n`);
    await writeFile(path.join(inbox, "t2.md.delegated.to-failed"), `${marker}\n## Failure\n\nsecond\n`);
    await link(path.join(inbox, "t2.md.delegated.to-failed"), path.join(f.dir("alpha", "failed"), "t2.md"));
    await writeFile(path.join(inbox, ".t3.md.delegated.4242.0123abcd.tmp"), "half");
    await writeFile(path.join(inbox, ".submit-0123456789ab.tmp"), "someone else's");
    const m = f.make();
    await m.start();
    assert.deepEqual(await f.list("alpha", "inbox"), [".submit-0123456789ab.tmp"]);
    assert.deepEqual([await f.list("alpha", "done"), await f.list("alpha", "failed")], [["t1.md"], ["t2.md"]]);
    assert.match(await f.read("alpha", "done", "t1.md"), /## Result\n\nfirst/);
    assert.equal(m.counters().active, 0);
    assert.equal(mock.requests.length, 0);
  }));
});

describe("DelegationManager: the daily budget", () => {
  test("once reached, new delegations run locally; one notice a day; the spend survives a restart", () => withFixture(async (f) => {
    mock.setDefaultPlan({ result: "ok", cost_usd: 0.6 });
    const first = f.make();
    await first.start();
    for (const id of ["t1", "t2", "t3", "t4"]) await f.put("alpha", id, TASKS.gpu);
    assert.equal(await first.offer("alpha", "t1"), "delegated");
    await first.reapOnce();
    assert.equal(await first.offer("alpha", "t2"), "delegated");
    await f.clock.advance(2000);
    await first.reapOnce();
    assert.deepEqual(f.notices.map((n) => n.kind), ["budget_reached"]);
    assert.deepEqual(first.status().budget, { day: "2026-04-17", spent_usd: 1.2, daily_budget_usd: 1, reached: true });
    assert.equal(await first.offer("alpha", "t3"), "local");
    assert.equal(await first.offer("alpha", "t4"), "local");
    assert.equal(mock.submits().length, 2);
    assert.equal(f.notices.length, 1);
    await first.stop();

    const second = f.make();
    await second.start();
    assert.equal(second.status().budget.spent_usd, 1.2);
    assert.equal(await second.offer("alpha", "t3"), "local");
    assert.equal(f.notices.length, 1, "not notified again the same day");
    await f.clock.advance(24 * 3_600_000);
    assert.equal(await second.offer("alpha", "t3"), "delegated");
    assert.deepEqual(second.status().budget, { day: "2026-04-18", spent_usd: 0, daily_budget_usd: 1, reached: false });
  }, { dailyBudgetUsd: 1 }));
});

describe("DelegationManager: the budget counts the jobs still running", () => {
  test("budget 1, each job 0.5: ten offers before any reap delegate at most two; the rest wait, then run locally once it is spent", () => withFixture(async (f) => {
    mock.setDefaultPlan({ result: "ok", cost_usd: 0.5 });
    const m = f.make();
    await m.start();
    const ids = Array.from({ length: 10 }, (_, i) => `t${i}`);
    for (const id of ids) await f.put("alpha", id, TASKS.gpu);
    const offerAll = async (): Promise<string[]> => {
      const answers: string[] = [];
      for (const id of ids) if ((await f.list("alpha", "inbox")).includes(`${id}.md`)) answers.push(await m.offer("alpha", id));
      return answers;
    };
    const first = await offerAll();
    assert.ok(first.filter((a) => a === "delegated").length <= 2, `delegated before any reap: ${first.join(",")}`);
    assert.ok(first.every((a) => a !== "local"), "the others wait for the budget to be known");
    for (let pass = 0; pass < 4; pass++) {
      await m.reapOnce();
      await f.clock.advance(2000);
      await offerAll();
    }
    assert.equal(mock.submits().length, 2, "two jobs of 0.5 fill a budget of 1");
    assert.deepEqual(m.status().budget, { day: "2026-04-17", spent_usd: 1, daily_budget_usd: 1, reached: true });
    assert.deepEqual(await offerAll(), ids.slice(2).map(() => "local"), "once spent, the rest run locally");
  }, { dailyBudgetUsd: 1 }));
});
