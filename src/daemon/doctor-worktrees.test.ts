import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Config } from "../config/schema.js";
import { makeRepo } from "../git/test-repo.js";
import { TaskWorktrees } from "../git/worktrees.js";
import { silentLogger } from "../lib/logger.js";
import { tempDir } from "../lib/test-temp.js";
import { checkWorktrees } from "./doctor-worktrees.js";

const configOf = (stateDir: string, dir: string, isolation: "none" | "worktree"): Config => ({
  state_dir: stateDir,
  queue: { projects: { web: dir }, project_settings: { web: { isolation } }, git_identity: { name: "cf", email: "cf@localhost" } },
}) as unknown as Config;

test("doctor reports stray worktrees and leaves the ones of tasks in flight alone", async () => {
  const { repo, git, base } = await makeRepo();
  const stateDir = path.join(base, "state");
  const config = configOf(stateDir, repo, "worktree");
  assert.deepEqual((await checkWorktrees(config, git)).map((f) => f.ok), [true]);
  const wt = new TaskWorktrees({ git, root: path.join(stateDir, "worktrees"), identity: { name: "cf", email: "cf@localhost" }, log: silentLogger() });
  for (const id of ["busy", "left"]) await wt.create(await wt.plan("web", id, repo), repo, repo);
  await mkdir(path.join(stateDir, "worktrees", "web", "half"), { recursive: true });
  await writeFile(path.join(stateDir, "state.json"), JSON.stringify({ version: 1, data: { tasks: { "web/busy": { worktree: { dir: path.join(stateDir, "worktrees", "web", "busy") } } } } }));
  const findings = await checkWorktrees(config, git);
  assert.deepEqual(findings.map((f) => [f.ok, f.message.replace(stateDir, "S")]), [
    [false, "stray worktree S/worktrees/web/half: no project's repository lists it as a worktree"],
    [false, "stray worktree S/worktrees/web/left: no task in flight uses it (kept: something in it is not committed)"],
  ]);
  assert.ok(findings.every((f) => f.check === "worktrees" && f.fix?.includes("git worktree remove")));
});

test("doctor names a worktree project that is no git repository by its key path", async () => {
  const { git } = await makeRepo();
  const plain = await tempDir("cf-plain-");
  const [f] = await checkWorktrees(configOf(path.join(plain, "state"), plain, "worktree"), git);
  assert.equal(f?.ok, false);
  assert.match(f?.message ?? "", /^queue\.projects\.web\.isolation: worktree needs a git repository/);
});
