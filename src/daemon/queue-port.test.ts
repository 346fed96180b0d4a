import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { appendFile, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { classifyScreen } from "../claude/screen.js";
import { AgentDriver } from "../dispatch/agent-driver.js";
import { HookHub } from "../dispatch/hook-hub.js";
import { FakeClaude } from "../dispatch/test-fake-claude.js";
import type { TaskFault } from "../dispatch/faults.js";
import { WorkLoop } from "../dispatch/work-loop.js";
import { FakeClock, InstantClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import { QueueError } from "../queue/errors.js";
import { parseFooter } from "../queue/footer.js";
import { openNoFollow, type OpenForRead } from "../queue/layout.js";
import { TaskQueue } from "../queue/queue.js";
import { SETTLE_MS } from "../queue/scan.js";
import { makeQueue } from "../queue/test-support.js";
import { FakeTmuxClient } from "../tmux/fake.js";
import { queuePort, REJECT_BATCH } from "./queue-port.js";
import { memoryLedger } from "../dispatch/test-work-loop.js";

const names = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => !n.startsWith(".")).sort();

describe("queuePort", () => {
  test("a file written in place is not claimed until it has stayed unchanged for the settle time", async () => {
    const clock = new FakeClock();
    const q = await makeQueue({ clock });
    const rechecks: number[] = [];
    const port = queuePort(q.queue, ["alpha"], silentLogger(), { recheck: (ms) => void rechecks.push(ms) });
    const file = path.join(q.dir("alpha", "inbox"), "slow.md");
    await writeFile(file, "the first half of the pro");
    assert.deepEqual(await port.waiting("alpha"), [], "just seen: not settled");
    assert.deepEqual(rechecks, [SETTLE_MS], "another look is asked for when it would settle");
    await clock.advance(SETTLE_MS + 500);
    await appendFile(file, "mpt, and the second half.\n");
    assert.deepEqual(await port.waiting("alpha"), [], "changed since the last scan: its settle time starts again");
    await clock.advance(SETTLE_MS - 1);
    assert.deepEqual(await port.waiting("alpha"), []);
    await clock.advance(1);
    assert.deepEqual(await port.waiting("alpha"), ["slow"], "unchanged for the settle time");
    const claim = await port.claim("alpha", "slow");
    assert.ok(claim.ok);
    assert.equal(claim.task.prompt, "the first half of the prompt, and the second half.");
    await q.cleanup();
  });

  test("queue.settle 0s: a file is waiting the moment it is seen", async () => {
    const q = await makeQueue({ settleMs: 0 });
    const port = queuePort(q.queue, ["alpha"], silentLogger());
    await writeFile(path.join(q.dir("alpha", "inbox"), "quick.md"), "renamed in whole\n");
    assert.deepEqual(await port.waiting("alpha"), ["quick"]);
    await q.cleanup();
  });

  test("a flood of bad inbox files is rejected a batch per pass, the rest left for the next passes", async () => {
    const q = await makeQueue();
    const rechecks: number[] = [];
    const port = queuePort(q.queue, ["alpha"], silentLogger(), { recheck: (ms) => void rechecks.push(ms) });
    const inbox = q.dir("alpha", "inbox");
    for (let i = 0; i < 2000; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => writeFile(path.join(inbox, `bad name ${i + j}.md`), "x")));
    }
    await port.waiting("alpha");
    assert.equal((await names(q.dir("alpha", "failed"))).length, REJECT_BATCH);
    assert.equal((await names(inbox)).length, 2000 - REJECT_BATCH);
    assert.deepEqual(rechecks, [0], "the next pass is asked for at once");
    await port.waiting("alpha");
    assert.equal((await names(q.dir("alpha", "failed"))).length, 2 * REJECT_BATCH);
    await q.cleanup();
  });

  test("doneSignal asks the queue: a folder it cannot look in is an error for the work loop, never 'not done'", async () => {
    const q = await makeQueue();
    const port = queuePort(q.queue, ["alpha", "beta"], silentLogger());
    await writeFile(path.join(q.dir("alpha", "active"), "t.done"), "");
    assert.equal(await port.doneSignal("alpha", "t"), true);
    assert.equal(await port.doneSignal("alpha", "other"), false);
    await rm(q.dir("beta", "active"), { recursive: true });
    await writeFile(q.dir("beta", "active"), "");
    await assert.rejects(port.doneSignal("beta", "t"), (e: unknown) => e instanceof QueueError && e.code === "QUEUE_IO");
    await q.cleanup();
  });
});

test("with 2,000 bad files in an inbox, each pass still supervises what runs and rejects one batch", async () => {
  const clock = new InstantClock();
  const q = await makeQueue({ projects: ["alpha"] });
  const { pass, types: outcomes } = await loopOver(new TaskQueue({ root: q.root, projects: q.projects, clock, log: silentLogger() }), ["alpha"], { clock, taskTimeoutMs: 20_000 });
  await writeFile(path.join(q.dir("alpha", "inbox"), "good.md"), "a task that hangs\n");
  await pass();
  assert.deepEqual(outcomes, [], "not settled yet");
  await clock.sleep(SETTLE_MS);
  await pass();
  assert.deepEqual(outcomes, ["task_dispatched"]);
  const inbox = q.dir("alpha", "inbox");
  for (let i = 0; i < 2000; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, j) => writeFile(path.join(inbox, `bad name ${i + j}.md`), "x")));
  }
  // The task's timeout passes: the next pass must notice it, whatever waits in the inbox.
  await clock.sleep(30_000);
  await pass();
  assert.deepEqual(outcomes, ["task_dispatched", "task_timed_out", "task_failed"], "supervised in the same pass");
  const failed = await names(q.dir("alpha", "failed"));
  assert.equal(failed.length, 1 + REJECT_BATCH, "the timed-out task and one batch");
  await pass();
  assert.equal((await names(q.dir("alpha", "failed"))).length, 1 + 2 * REJECT_BATCH);
  await q.cleanup();
});

/** A work loop over a real queue with one pool session whose agent hangs; faults as the daemon hears them. */
async function loopOver(queue: TaskQueue, projects: string[], o: { clock?: InstantClock; taskTimeoutMs?: number } = {}) {
  const clock = o.clock ?? new InstantClock();
  const hub = new HookHub();
  const fake = new FakeClaude({ emit: (e) => hub.record(e, clock.now()), behaviour: () => ({ kind: "hang" }) });
  const tmux = new FakeTmuxClient(() => clock.now());
  tmux.programFor = () => fake.program;
  await tmux.newSession({ name: "pool-1", cwd: "/" });
  const busy = new Set<string>();
  const outcomes: string[] = [];
  const types: string[] = [];
  const told: TaskFault[] = [];
  const loop = new WorkLoop({
    queue: queuePort(queue, projects, silentLogger()),
    sessions: {
      freePoolSessions: () => (busy.has("pool-1") ? [] : ["pool-1"]), canGrow: () => false, grow: async () => false,
      markBusy: (s) => void busy.add(s), markIdle: (s) => void busy.delete(s), retire: async (s) => void busy.delete(s),
    },
    accounts: { activeAccount: () => ({ name: "main", home: "/h/main", env: {} }) },
    driver: new AgentDriver({ tmux, clock, log: silentLogger(), classify: (c) => classifyScreen(c, { now: clock.now() }), signals: hub }),
    hooks: hub, ledger: memoryLedger(), clock, log: silentLogger(),
    settings: { pollIntervalMs: 5000, idleConfirm: 2, stallTimeoutMs: 3_600_000, taskTimeoutMs: o.taskTimeoutMs ?? 3_600_000, maxAttempts: 1 },
    launchFor: async (_a, id) => ({ argv: ["claude", "--session-id", id, "--settings", "/s.json"], env: { CLAUDE_CONFIG_DIR: "/h/main" } }),
    lastMessage: async () => undefined, promptDelivered: async () => true,
    record: (e) => {
      outcomes.push(`${e.project}/${e.task}:${e.type}`);
      types.push(e.type);
    },
    onFault: (f) => void told.push(f),
  });
  const signal = new AbortController().signal;
  const pass = async (): Promise<void> => {
    await loop.tick(signal);
    await loop.settled();
  };
  return { loop, pass, outcomes, types, told };
}

describe("a filing that fails half-way is finished by a later pass, not at the next restart (Q4)", () => {
  test("a bad inbox entry whose staging fails: a fault, the other project still dispatched, filed once the fault clears", async () => {
    let broken = true;
    let alphaActive = "";
    // Staging reads the entry in alpha's active/: the process is out of file descriptors there (a fault, not the file's).
    const openFile: OpenForRead = async (file) => {
      if (broken && path.dirname(file) === alphaActive) throw Object.assign(new Error("EMFILE: too many open files, open"), { code: "EMFILE" });
      return openNoFollow(file);
    };
    const q = await makeQueue({ settleMs: 0 });
    alphaActive = q.dir("alpha", "active");
    const queue = new TaskQueue({ root: q.root, projects: q.projects, clock: q.clock, log: silentLogger(), settleMs: 0, openFile });
    const h = await loopOver(queue, ["alpha", "beta"]);
    await writeFile(path.join(q.dir("alpha", "inbox"), "my task.md"), "a bad name\n");
    await writeFile(path.join(q.dir("beta", "inbox"), "good.md"), "a good task\n");
    await h.pass();
    assert.deepEqual(h.outcomes, ["beta/good:task_dispatched"], "the other project is dispatched in the same pass");
    assert.deepEqual(await names(q.dir("alpha", "active")), ["my_task.md"]);
    assert.deepEqual(h.loop.faults().map((f) => f.task), ["alpha/my_task"]);
    assert.match(h.loop.faults()[0]!.reason, /could not be filed under failed\/ \(file name "my task\.md" is not a valid task id.*\): .*EMFILE/);
    await h.pass();
    await h.pass();
    assert.deepEqual(await names(q.dir("alpha", "active")), ["my_task.md"], "still there while the fault lasts");
    assert.equal(h.told.length, 1, "one report per fault");

    broken = false;
    await h.pass();
    assert.deepEqual(h.loop.faults(), []);
    assert.deepEqual(await names(q.dir("alpha", "active")), []);
    assert.deepEqual(await names(q.dir("alpha", "inbox")), [], "filed, not put back under its cleaned name (where it would run)");
    assert.deepEqual(await names(q.dir("alpha", "failed")), ["my_task.md"]);
    const text = await readFile(path.join(q.dir("alpha", "failed"), "my_task.md"), "utf8");
    assert.match(text, /^a bad name\n/);
    assert.match(text, /Original file name: "my task\.md"\./);
    assert.match(parseFooter(text)!.reason!, /^file name "my task\.md" is not a valid task id/);
    assert.equal(parseFooter(text)!.attempts, "0");
    await q.cleanup();
  });

  test("a rejection at claim whose publish fails leaves a staged .md.to-failed: the next pass publishes it", async () => {
    const q = await makeQueue({ settleMs: 0, projects: ["alpha"] });
    const queue = new TaskQueue({ root: q.root, projects: q.projects, clock: q.clock, log: silentLogger(), settleMs: 0 });
    const h = await loopOver(queue, ["alpha"]);
    // A file where failed/ should be: the publish's rename fails (ENOTDIR), after the stage and the drop.
    const failed = q.dir("alpha", "failed");
    await rm(failed, { recursive: true });
    await writeFile(failed, "");
    await writeFile(path.join(q.dir("alpha", "inbox"), "empty.md"), "");
    await h.pass();
    assert.deepEqual(await names(q.dir("alpha", "active")), ["empty.md.to-failed"]);
    assert.deepEqual(h.loop.faults().map((f) => f.task), ["alpha/empty"]);
    await h.pass();
    assert.deepEqual(await names(q.dir("alpha", "active")), ["empty.md.to-failed"], "kept, and the fault with it, while failed/ is broken");
    assert.deepEqual(h.loop.faults().map((f) => f.task), ["alpha/empty"]);

    await rm(failed);
    await mkdir(failed);
    await h.pass();
    assert.deepEqual(await names(q.dir("alpha", "active")), []);
    assert.deepEqual(await names(failed), ["empty.md"]);
    assert.equal(parseFooter(await readFile(path.join(failed, "empty.md"), "utf8"))!.reason, "the file is empty");
    assert.deepEqual(h.loop.faults(), []);
    assert.equal(h.told.length, 1);
    await q.cleanup();
  });
});
