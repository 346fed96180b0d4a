import { test } from "node:test";
import assert from "node:assert/strict";
import { access, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { FakeClock } from "../lib/test-clock.js";
import { Writable } from "node:stream";
import { createLogger, silentLogger } from "../lib/logger.js";
import { makeRepo } from "../git/test-repo.js";
import { TaskWorktrees } from "../git/worktrees.js";
import { Janitor } from "./janitor.js";
import { liveCwdsOf, strayWorktrees, sweepWorktrees, type WorktreeSweepDeps } from "./worktrees.js";
import { FakeTmuxClient } from "../tmux/fake.js";
import { TmuxError } from "../tmux/client.js";

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

/** A repository with task worktrees in every state the janitor must tell apart (real git). */
async function world() {
  const r = await makeRepo("cf-janitor-wt-");
  const root = path.join(r.base, "state", "worktrees");
  const wt = new TaskWorktrees({ git: r.git, root, identity: { name: "cf", email: "cf@localhost" }, log: silentLogger() });
  const make = async (id: string): Promise<string> => {
    const rec = await wt.plan("web", id, r.repo);
    await wt.create(rec, r.repo, r.repo);
    return rec.dir;
  };
  const finished = await make("finished");
  const running = await make("running");
  const dirty = await make("dirty");
  await writeFile(path.join(dirty, "uncommitted.txt"), "x\n");
  const watched = await make("watched");
  // The operator's own worktree, outside the daemon's folder.
  const mine = path.join(r.base, "operator-wt");
  await r.sh(r.repo, "worktree", "add", "--quiet", "-b", "operator", mine);
  const inFlight: string[] = [running];
  const live: string[] = [path.join(watched, "sub")];
  const deps: WorktreeSweepDeps = { root, repos: () => [r.repo, r.repo], worktrees: wt, inFlight: () => inFlight, liveCwds: async () => live, log: silentLogger() };
  return { ...r, root, wt, deps, finished, running, dirty, watched, mine };
}

test("the janitor removes only finished, clean task worktrees under its folder; never a branch, never one in use", async () => {
  const w = await world();
  const out = await sweepWorktrees(w.deps);
  assert.deepEqual(out.removed, [w.finished]);
  assert.equal(await exists(w.finished), false);
  for (const kept of [w.running, w.dirty, w.watched, w.mine]) assert.equal(await exists(kept), true, `${kept} is kept`);
  assert.deepEqual(out.kept.map((k) => [path.basename(k.dir), k.reason.split(":")[0]]).sort(), [
    ["dirty", "uncommitted changes"],
    ["watched", "a live session's working directory is inside it"],
  ]);
  // Every branch is still there, the removed worktree's too.
  const branches = (await w.sh(w.repo, "branch", "--format=%(refname:short)")).trim().split("\n").sort();
  assert.deepEqual(branches, ["cf/web/dirty", "cf/web/finished", "cf/web/running", "cf/web/watched", "main", "operator"]);
  assert.equal((await w.sh(w.repo, "status", "--porcelain")).trim(), "");
});

test("git worktree prune runs: a worktree folder deleted by hand leaves no registration behind", async () => {
  const w = await world();
  await w.sh(w.repo, "worktree", "list");
  await import("node:fs/promises").then((fs) => fs.rm(w.finished, { recursive: true }));
  assert.match(await w.sh(w.repo, "worktree", "list", "--porcelain"), /prunable/);
  await sweepWorktrees(w.deps);
  assert.doesNotMatch(await w.sh(w.repo, "worktree", "list", "--porcelain"), /prunable/);
});

test("a repository that fails is logged and skipped; the sweep goes on", async () => {
  const w = await world();
  const out = await sweepWorktrees({ ...w.deps, repos: () => [path.join(w.base, "no-repo"), w.repo] });
  assert.deepEqual(out.removed, [w.finished]);
});

test("the Janitor's sweep includes the worktree rules when given them", async () => {
  const w = await world();
  const janitor = new Janitor({
    queueRoot: path.join(w.base, "queue"), projects: [], stateDir: path.join(w.base, "state"), clock: new FakeClock(0), log: silentLogger(),
    settings: { intervalMs: 3_600_000, doneRetentionMs: 1, failedRetentionMs: 1, eventsMaxBytes: 1 },
    rotateEvents: async () => false, worktrees: w.deps,
  });
  const report = await janitor.sweep();
  assert.deepEqual(report.worktrees?.removed, [w.finished]);
});

test("doctor's stray worktrees: a folder no repository lists, and a worktree no task in flight uses", async () => {
  const w = await world();
  const stray = path.join(w.root, "web", "left-by-a-crash");
  await mkdir(stray, { recursive: true });
  const found = await strayWorktrees(w.deps);
  assert.deepEqual(found.map((f) => [path.basename(f.dir), f.why.split(" (")[0]]), [
    ["dirty", "no task in flight uses it"],
    ["finished", "no task in flight uses it"],
    ["left-by-a-crash", "no project's repository lists it as a worktree"],
    ["watched", "no task in flight uses it"],
  ]);
});

test("live cwds: every pane counts, except an idle pool session's shell left where its last agent ran", async () => {
  const tmux = new FakeTmuxClient(() => 0);
  await tmux.newSession({ name: "pool-1", cwd: "/wt/web/t1" });
  await tmux.newSession({ name: "pool-2", cwd: "/wt/web/t2", command: ["claude"] });
  await tmux.newSession({ name: "pool-3", cwd: "/wt/web/t3" });
  await tmux.newSession({ name: "operator", cwd: "/wt/web/t4" });
  // pool-1 idle at its shell: left out; pool-2 idle by the registry but an agent runs: counts;
  // pool-3 busy: counts; the operator's session, at a shell: counts.
  assert.deepEqual((await liveCwdsOf(tmux, new Set(["pool-1", "pool-2"]))).sort(), ["/wt/web/t2", "/wt/web/t3", "/wt/web/t4"]);
});

test("live cwds: a session gone since the listing is skipped; any other tmux error is thrown, not read as 'no pane'", async () => {
  const tmux = new FakeTmuxClient(() => 0);
  await tmux.newSession({ name: "operator", cwd: "/wt/web/t1" });
  const withGone = { listSessions: async () => [...(await tmux.listSessions()), { name: "gone", created: 0, attached: false }], paneInfo: (n: string) => tmux.paneInfo(n) };
  assert.deepEqual(await liveCwdsOf(withGone, new Set()), ["/wt/web/t1"]);
  tmux.failNext.set("pane-info", 1);
  await assert.rejects(liveCwdsOf(tmux, new Set()), (e: unknown) => e instanceof TmuxError && e.code === "TMUX_FAILED");
});

test("a tmux error while reading the live panes keeps every worktree and is logged: a pane's cwd is never guessed", async () => {
  const w = await world();
  const tmux = new FakeTmuxClient(() => 0);
  await tmux.newSession({ name: "operator", cwd: w.finished });
  tmux.failNext.set("pane-info", 10);
  const lines: string[] = [];
  const log = createLogger({ destination: new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } }) });
  const out = await sweepWorktrees({ ...w.deps, repos: () => [w.repo], liveCwds: () => liveCwdsOf(tmux, new Set()), log });
  assert.deepEqual(out.removed, []);
  assert.equal(await exists(w.finished), true);
  assert.ok(lines.some((l) => l.includes("janitor could not sweep") && l.includes("pane-info failed")), lines.join(""));
});
