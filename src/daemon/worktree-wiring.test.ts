import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import type { Config, ProjectSettings } from "../config/schema.js";
import { makeRepo } from "../git/test-repo.js";
import { Writable } from "node:stream";
import { createLogger, silentLogger } from "../lib/logger.js";
import { tempDir } from "../lib/test-temp.js";
import { setUpWorktrees } from "./worktree-wiring.js";

function configOf(stateDir: string, projects: Record<string, [string, ProjectSettings]>): Config {
  return {
    state_dir: stateDir,
    queue: {
      projects: Object.fromEntries(Object.entries(projects).map(([k, [p]]) => [k, p])),
      project_settings: Object.fromEntries(Object.entries(projects).map(([k, [, s]]) => [k, s])),
      git_identity: { name: "claude-failover", email: "cf@localhost" },
    },
  } as unknown as Config;
}

test("isolation: worktree outside a git repository refuses the start, named by its key path", async () => {
  const { git, base } = await makeRepo();
  const plain = await tempDir("cf-plain-");
  const r = await setUpWorktrees(configOf(path.join(base, "state"), { web: [plain, { isolation: "worktree" }] }), git, silentLogger());
  assert.equal(r.ok, false);
  assert.match(r.ok ? "" : r.problems.join("\n"), /^queue\.projects\.web\.isolation: worktree needs a git repository, and .* is not in one/);
});

test("max_parallel: as set; else unlimited for worktree and for a folder that is no repository, 1 for none in a repository", async () => {
  const { git, base, repo } = await makeRepo();
  const plain = await tempDir("cf-plain-");
  const r = await setUpWorktrees(configOf(path.join(base, "state"), {
    wt: [repo, { isolation: "worktree" }], none: [repo, { isolation: "none" }], plain: [plain, { isolation: "none" }], capped: [repo, { isolation: "worktree", max_parallel: 3 }],
  }), git, silentLogger());
  assert.ok(r.ok);
  assert.deepEqual(r.setup.caps, { wt: undefined, none: 1, plain: undefined, capped: 3 });
  const task = (project: string, worktree?: boolean) => ({ project, id: "t", prompt: "x", cwd: repo, ...(worktree !== undefined ? { worktree } : {}) });
  assert.equal(r.setup.port.wanted(task("wt")), true);
  assert.equal(r.setup.port.wanted(task("wt", false)), false, "the task's worktree: false wins");
  assert.equal(r.setup.port.wanted(task("none", true)), true, "the task's worktree: true wins");
  assert.equal(r.setup.port.wanted(task("plain", true)), false, "no repository, no worktree");
});

test("a task asking for a worktree in a project that is no repository runs in its folder, and the log says so", async () => {
  const { git, base } = await makeRepo();
  const plain = await tempDir("cf-plain-");
  const lines: string[] = [];
  const log = createLogger({ destination: new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } }) });
  const r = await setUpWorktrees(configOf(path.join(base, "state"), { plain: [plain, { isolation: "none" }] }), git, log);
  assert.ok(r.ok);
  assert.equal(r.setup.port.wanted({ project: "plain", id: "t", prompt: "x", cwd: plain, worktree: true }), false);
  assert.equal(lines.filter((l) => l.includes("asks for a worktree, but its project is not a git repository")).length, 1);
  assert.equal(r.setup.port.wanted({ project: "plain", id: "u", prompt: "x", cwd: plain }), false);
  assert.equal(lines.length, 1, "a task that asks nothing is not warned about");
});
