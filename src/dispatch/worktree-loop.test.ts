import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { access, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { classifyScreen } from "../claude/screen.js";
import type { Config, ProjectSettings } from "../config/schema.js";
import { setUpWorktrees } from "../daemon/worktree-wiring.js";
import { makeRepo } from "../git/test-repo.js";
import { InstantClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import { FakeTmuxClient } from "../tmux/fake.js";
import { AgentDriver } from "./agent-driver.js";
import { HookHub } from "./hook-hub.js";
import type { SessionPort } from "./ports.js";
import type { TaskLedger, TaskRecord } from "./records.js";
import { FakeClaude, type FakeBehaviour } from "./test-fake-claude.js";
import { FakeQueue } from "./test-fake-queue.js";
import { passesOf } from "./test-work-loop.js";
import { WorkLoop } from "./work-loop.js";

/**
 * Task worktrees in the work loop, with real git in a temp folder (fake tmux, fake agents, fake clock):
 * a worktree per task, the journal that lets a restart adopt or remove one, the commit at the end,
 * and max_parallel.
 */

function memoryLedger(): TaskLedger & { tasks: Map<string, TaskRecord> } {
  const tasks = new Map<string, TaskRecord>();
  const tries = new Map<string, number>();
  return {
    tasks,
    records: () => [...tasks.values()].map((r) => structuredClone(r)),
    get: (k) => (tasks.has(k) ? structuredClone(tasks.get(k)!) : undefined),
    put: (r) => void tasks.set(`${r.project}/${r.id}`, structuredClone(r)),
    remove: (k) => void tasks.delete(k),
    attempts: (k) => tries.get(k) ?? 0,
    setAttempts: (k, n) => void (n === undefined ? tries.delete(k) : tries.set(k, n)),
    flush: async () => undefined,
  };
}

const gone = (p: string): Promise<boolean> => access(p).then(() => false, () => true);

async function harness(o: { settings?: ProjectSettings; behaviour?: (prompt: string) => FakeBehaviour; sessions?: string[]; maxAttempts?: number } = {}) {
  const r = await makeRepo("cf-wtloop-");
  const stateDir = path.join(r.base, "state");
  const config = {
    state_dir: stateDir,
    queue: { projects: { web: r.repo }, project_settings: { web: o.settings ?? { isolation: "worktree" } }, git_identity: { name: "claude-failover", email: "cf@localhost" } },
  } as unknown as Config;
  const wt = await setUpWorktrees(config, r.git, silentLogger());
  if (!wt.ok) throw new Error(wt.problems.join("; "));
  const clock = new InstantClock();
  const hub = new HookHub();
  const fake = new FakeClaude({ emit: (e) => hub.record(e, clock.now()), ...(o.behaviour ? { behaviour: o.behaviour } : {}) });
  const tmux = new FakeTmuxClient(() => clock.now());
  tmux.programFor = () => fake.program;
  const names = o.sessions ?? ["pool-1", "pool-2"];
  for (const n of names) await tmux.newSession({ name: n, cwd: "/" });
  const busy = new Map<string, string>();
  const sessions: SessionPort = {
    freePoolSessions: () => names.filter((n) => !busy.has(n)),
    canGrow: () => false,
    grow: async () => false,
    markBusy: (s, task) => void busy.set(s, task),
    markIdle: (s) => void busy.delete(s),
    retire: async (s) => void busy.delete(s),
  };
  const queue = new FakeQueue(["web"]);
  const ledger = memoryLedger();
  const driver = new AgentDriver({ tmux, clock, log: silentLogger(), classify: (c) => classifyScreen(c, { now: clock.now() }), signals: hub });
  const launches: string[] = [];
  const loop = new WorkLoop({
    queue, sessions, driver, hooks: hub, ledger, clock, log: silentLogger(),
    accounts: { activeAccount: () => ({ name: "main", home: "/h/main", env: {} }) },
    settings: { pollIntervalMs: 5000, idleConfirm: 2, stallTimeoutMs: 20 * 60_000, taskTimeoutMs: 2 * 3_600_000, maxAttempts: o.maxAttempts ?? 2 },
    launchFor: async (_a, id, cwd) => {
      launches.push(cwd);
      return { argv: ["claude", "--session-id", id], env: {} };
    },
    lastMessage: async () => "done",
    promptDelivered: async () => false,
    record: () => undefined,
    worktrees: wt.setup.port,
  });
  const tick = passesOf(loop, clock);
  const add = (id: string, title = `title of ${id}`): void => queue.add("web", id, id, { cwd: r.repo, title });
  return { ...r, stateDir, root: wt.setup.worktrees.root, setup: wt.setup, fake, tmux, queue, ledger, loop, tick, launches, add };
}

describe("worktree tasks in the work loop (real git)", () => {
  test("two tasks run side by side, each in its own worktree; each ends with its own branch and commit; the checkout stays clean; no worktree is left", async () => {
    const h = await harness({ behaviour: () => ({ kind: "hang" }) });
    h.add("t1");
    h.add("t2");
    await h.tick(2);
    const recs = [...h.ledger.tasks.values()].sort((a, b) => a.id.localeCompare(b.id));
    assert.equal(recs.length, 2, "both run at once: no cap for worktree projects");
    for (const r of recs) {
      assert.equal(r.worktree?.state, "ready");
      assert.equal(r.cwd, path.join(h.root, "web", r.id));
      assert.ok(h.launches.includes(r.cwd), "the agent is launched inside its worktree");
      // The agent's work: one file each.
      await writeFile(path.join(r.cwd, `${r.id}.txt`), `${r.id}\n`);
    }
    for (const r of recs) h.fake.finish(h.tmux.sessions.get(r.session)!);
    await h.tick(2);
    for (const r of recs) {
      assert.equal(h.queue.where("web", r.id), "done");
      const f = h.queue.get("web", r.id)!.footer!;
      assert.equal(f.branch, `cf/web/${r.id}`);
      assert.equal(f.commit, (await h.sh(h.repo, "rev-parse", `cf/web/${r.id}`)).trim());
      assert.equal(f.base, r.worktree!.base);
      assert.equal(f.diffstat, "1 file changed, 1 insertion(+)");
      assert.equal(f.worktree, undefined);
      assert.equal((await h.sh(h.repo, "show", "--format=%s", "--name-only", `cf/web/${r.id}`)).trim(), `title of ${r.id}\n\n${r.id}.txt`);
    }
    assert.equal((await h.sh(h.repo, "status", "--porcelain")).trim(), "", "the project's checkout is untouched");
    assert.equal((await h.sh(h.repo, "branch", "--show-current")).trim(), "main");
    assert.deepEqual(await readdir(path.join(h.root, "web")), [], "no worktree left");
  });

  test("a resume after a swap launches in the same worktree (Claude Code finds a conversation by its cwd)", async () => {
    const h = await harness({ behaviour: () => ({ kind: "hang" }) });
    h.add("t1");
    await h.tick(2);
    const r = h.ledger.get("web/t1")!;
    await h.loop.resumeOn(r, { name: "backup", home: "/h/backup", env: {} });
    assert.deepEqual(h.launches, [r.cwd, r.cwd]);
    assert.equal(r.cwd, path.join(h.root, "web", "t1"));
  });

  test("max_parallel holds the project's other tasks in the inbox until one ends", async () => {
    const h = await harness({ settings: { isolation: "worktree", max_parallel: 1 }, behaviour: () => ({ kind: "hang" }) });
    h.add("t1");
    h.add("t2");
    await h.tick(2);
    assert.deepEqual([h.queue.where("web", "t1"), h.queue.where("web", "t2")], ["active", "inbox"]);
    h.fake.finish(h.tmux.sessions.get(h.ledger.get("web/t1")!.session)!);
    await h.tick(3);
    assert.deepEqual([h.queue.where("web", "t1"), h.queue.where("web", "t2")], ["done", "active"]);
  });

  test("isolation none in a git repository: one task at a time by default, in the checkout itself", async () => {
    const h = await harness({ settings: { isolation: "none" }, behaviour: () => ({ kind: "hang" }) });
    assert.equal(h.setup.caps.web, 1);
    h.add("t1");
    h.add("t2");
    await h.tick(2);
    assert.deepEqual([h.queue.where("web", "t1"), h.queue.where("web", "t2")], ["active", "inbox"]);
    const r = h.ledger.get("web/t1")!;
    assert.equal(r.cwd, h.repo);
    assert.equal(r.worktree, undefined);
  });

  test("a failed task keeps its branch with the partial work committed; the failure and the branch are in the footer", async () => {
    const h = await harness({ behaviour: () => ({ kind: "die" }), maxAttempts: 1 });
    h.add("t1");
    await h.tick(1);
    const r = h.ledger.get("web/t1")!;
    await writeFile(path.join(r.cwd, "partial.txt"), "half\n");
    await h.tick(3);
    assert.equal(h.queue.where("web", "t1"), "failed");
    const f = h.queue.get("web", "t1")!.footer!;
    assert.equal(f.branch, "cf/web/t1");
    assert.match(f.diffstat ?? "", /1 file changed/);
    assert.match(await h.sh(h.repo, "show", "--name-only", "--format=", "cf/web/t1"), /partial.txt/);
    assert.ok(await gone(r.cwd));
  });

  test("a base that is no commit fails the hand-over; nothing is left behind", async () => {
    const h = await harness({ settings: { isolation: "worktree", base: "no-such-branch" }, maxAttempts: 1 });
    h.add("t1");
    await h.tick(2);
    assert.equal(h.queue.where("web", "t1"), "failed");
    assert.match(h.queue.get("web", "t1")!.reason ?? "", /no-such-branch/);
    assert.equal((await h.sh(h.repo, "branch", "--list", "cf/*")).trim(), "");
  });
});

describe("the worktree journal at restart (real git)", () => {
  test("a worktree journaled as creating (killed during creation) is removed with its empty branch; the task waits again, no attempt counted", async () => {
    const h = await harness();
    const rec = await h.setup.worktrees.plan("web", "t1", h.repo);
    await h.setup.worktrees.create(rec, h.repo, h.repo);
    h.add("t1");
    await h.queue.claim("web", "t1");
    h.ledger.put({
      project: "web", id: "t1", session: "pool-1", account: "main", claude_session_id: "c1", attempt: 1, phase: "claimed", cwd: h.repo,
      started_at: 0, submitted_at: null, timeout_ms: 1000, screen_changed_at: 0, screen_hash: "", idle_polls: 0, worktree: rec,
    });
    const report = await h.loop.adopt();
    assert.deepEqual(report.requeued, ["web/t1"]);
    assert.equal(h.queue.where("web", "t1"), "inbox");
    assert.ok(await gone(rec.dir));
    assert.equal((await h.sh(h.repo, "branch", "--list", "cf/*")).trim(), "");
    assert.equal(h.ledger.attempts("web/t1"), 0);
  });

  test("a task filed just before the crash: its worktree is removed, its branch and commit stay", async () => {
    const h = await harness();
    const rec = { ...(await h.setup.worktrees.plan("web", "t1", h.repo)), state: "ready" as const };
    await h.setup.worktrees.create(rec, h.repo, h.repo);
    await writeFile(path.join(rec.dir, "work.txt"), "w\n");
    const saved = await h.setup.worktrees.save(rec, { project: "web", id: "t1", title: "work" });
    h.ledger.put({
      project: "web", id: "t1", session: "pool-1", account: "main", claude_session_id: "c1", attempt: 1, phase: "working", cwd: rec.dir,
      started_at: 0, submitted_at: 0, timeout_ms: 1000, screen_changed_at: 0, screen_hash: "", idle_polls: 0, worktree: rec,
    });
    await h.loop.adopt();
    assert.ok(await gone(rec.dir));
    assert.equal((await h.sh(h.repo, "rev-parse", "cf/web/t1")).trim(), saved.commit);
    assert.equal(h.ledger.tasks.size, 0);
  });
});
