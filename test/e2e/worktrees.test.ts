/**
 * Issue 12 end to end, with real git, real tmux and the real Claude Code CLI against the mock: two
 * tasks of one project (isolation: worktree) run side by side, each in its own worktree, where the
 * mock makes the CLI run a tool that creates a file. Each ends done with its own branch and commit;
 * the project's checkout stays clean and on its branch, and no worktree is left behind.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir } from "node:fs/promises";
import path from "node:path";
import type { Daemon } from "../../src/daemon/daemon.js";
import { parseFooter } from "../../src/queue/footer.js";
import { startSandboxDaemon, type ClaudeSandbox } from "../support/claude-sandbox.js";
import { operatorGit, useWorktreeProject } from "../support/git-project.js";
import { until } from "../support/until.js";

let sb: ClaudeSandbox;
let daemon: Daemon;
let repo: string;

const git = operatorGit();

before(async () => {
  ({ sb, daemon } = await startSandboxDaemon({ label: "wt", projects: ["web"], pool: { min: 2, max: 2 } }, async (box) => {
    repo = path.join(box.dir, "work", "web");
    // The object form of the project: a worktree per task, no cap.
    await useWorktreeProject({ git, configPath: box.configPath, project: "web", repo, readme: "the project\n" });
  }));
});

after(async () => {
  await daemon?.stop();
  await sb?.close();
});

test("two tasks of one project run side by side in their own worktrees and end done, each with its own branch and commit", { timeout: 180_000 }, async () => {
  const base = (await git(repo, "rev-parse", "HEAD")).trim();
  for (const id of ["w1", "w2"]) {
    // The tool runs first and is delayed, so both agents are at work at the same time.
    await sb.drop("web", `${id}.md`, `---\ntitle: Make ${id}\n---\nTOKEN-${id.toUpperCase()} create a file.\nMOCK_TOOL: touch made-by-${id}.txt\nMOCK_DELAY=5000\n`);
  }
  const explain = (): Promise<string> => sb.evidence(["wt-1", "wt-2"]);
  // Side by side: /status shows both sessions busy, each on its task's branch.
  await until("both tasks running at once, with their branches in /status", async () => {
    const s = (await (await fetch(`${daemon.url}/status`)).json()) as { sessions: { task: string | null; branch?: string }[] };
    const branches = s.sessions.filter((x) => x.task !== null).map((x) => `${String(x.task)}=${x.branch ?? ""}`).sort();
    return branches.join(" ") === "web/w1=cf/web/w1 web/w2=cf/web/w2" ? true : undefined;
  }, 90_000, { explain, everyMs: 100 });

  await until("both tasks filed", async () => ((await sb.files("web", "done")).length === 2 ? true : undefined), 120_000, { explain });
  assert.deepEqual(await sb.files("web", "failed"), []);

  for (const id of ["w1", "w2"]) {
    const footer = parseFooter(await sb.read("web", "done", `${id}.md`))!;
    assert.equal(footer.status, "done");
    assert.equal(footer.branch, `cf/web/${id}`);
    assert.equal(footer.base, base);
    assert.equal(footer.commit, (await git(repo, "rev-parse", `cf/web/${id}`)).trim());
    assert.match(footer.diffstat ?? "", /^1 file changed/);
    assert.equal(footer.worktree, undefined);
    // The branch holds exactly the agent's file, committed as claude-failover with the task's title.
    assert.equal((await git(repo, "diff", "--name-only", base, `cf/web/${id}`)).trim(), `made-by-${id}.txt`);
    assert.match(await git(repo, "log", "-1", "--format=%an%n%s%n%b", `cf/web/${id}`), new RegExp(`^claude-failover\\nMake ${id}\\nClaude-Failover-Task: web/${id}`));
  }
  // The project's own checkout: still on main at the same commit, nothing changed, no file of the agents.
  assert.equal((await git(repo, "branch", "--show-current")).trim(), "main");
  assert.equal((await git(repo, "rev-parse", "HEAD")).trim(), base);
  assert.equal((await git(repo, "status", "--porcelain", "--untracked-files=all")).trim(), "");
  // No worktree left behind: git lists only the checkout, the daemon's folder is empty.
  await until("the worktrees removed", async () => ((await git(repo, "worktree", "list", "--porcelain")).split("\n").filter((l) => l.startsWith("worktree ")).length === 1 ? true : undefined), 20_000);
  await mkdir(path.join(sb.dir, "state", "worktrees", "web"), { recursive: true });
  assert.deepEqual(await readdir(path.join(sb.dir, "state", "worktrees", "web")), []);
});
