import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { access, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { createLogger, silentLogger } from "../lib/logger.js";
import { formatFooter, parseFooter } from "../queue/footer.js";
import { tempDir } from "../lib/test-temp.js";
import { execGit, GitError, gitEnvironment, type GitRunner } from "./git.js";
import { makeRepo } from "./test-repo.js";
import { refSafe, TaskWorktrees } from "./worktrees.js";

const gone = (p: string): Promise<boolean> => access(p).then(() => false, () => true);

async function setup() {
  const r = await makeRepo();
  const wt = new TaskWorktrees({ git: r.git, root: path.join(r.base, "state", "worktrees"), identity: { name: "claude-failover", email: "cf@localhost" }, log: silentLogger() });
  return { ...r, wt };
}

describe("git runner", () => {
  test("no GIT_* variable of the daemon reaches git; prompts are off", async () => {
    const env = gitEnvironment({ PATH: "/bin", GIT_DIR: "/elsewhere", GIT_INDEX_FILE: "/x", GIT_AUTHOR_NAME: "intruder", HOME: "/h" });
    assert.deepEqual(Object.keys(env).filter((k) => k.startsWith("GIT_")).sort(), ["GIT_EDITOR", "GIT_TERMINAL_PROMPT"]);
    assert.equal(env.HOME, "/h");
    // For real: a GIT_DIR in the daemon's environment would point git at another repository.
    const { repo, base } = await makeRepo();
    const git = execGit({ env: { ...process.env, HOME: base, GIT_DIR: path.join(base, "nowhere"), GIT_WORK_TREE: "/" } });
    assert.equal((await git.run(repo, ["rev-parse", "--show-toplevel"])).trim(), repo);
  });

  test("a failing command is a GitError with a code, git's stderr and the exit code", async () => {
    const dir = await tempDir("cf-git-none-");
    const err = await execGit().run(dir, ["rev-parse", "HEAD"]).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof GitError);
    assert.equal(err.code, "GIT_FAILED");
    assert.match(err.stderr, /not a git repository/);
    assert.equal(err.exitCode, 128);
    assert.match(err.message, /not a git repository/);
    const missing = await execGit({ binary: "/nonexistent/git" }).run(dir, ["status"]).then(() => undefined, (e: unknown) => e);
    assert.ok(missing instanceof GitError && missing.code === "GIT_NOT_FOUND");
  });

  test("refSafe makes any project name or id one valid ref component", () => {
    assert.equal(refSafe("web"), "web");
    assert.equal(refSafe(".hidden"), "_hidden");
    assert.equal(refSafe("a..b"), "a_b");
    assert.equal(refSafe("x.lock"), "x.lock_");
    assert.equal(refSafe("end."), "end._");
  });
});

describe("task worktrees", () => {
  test("plan + create: a branch cf/<project>/<id> from HEAD, the folder under the root, the cwd inside; the checkout is untouched", async () => {
    const { repo, wt, sh } = await setup();
    const head = (await sh(repo, "rev-parse", "HEAD")).trim();
    const rec = await wt.plan("web", "t1", repo);
    assert.deepEqual(rec, { dir: path.join(wt.root, "web", "t1"), branch: "cf/web/t1", base: head, repo, prefix: "", state: "creating" });
    const cwd = await wt.create(rec, repo, path.join(repo, "sub"));
    assert.equal(cwd, path.join(rec.dir, "sub"));
    await access(path.join(cwd, "keep.txt"));
    assert.equal((await sh(repo, "branch", "--show-current")).trim(), "main");
    assert.equal((await sh(repo, "status", "--porcelain")).trim(), "");
    assert.equal((await sh(rec.dir, "branch", "--show-current")).trim(), "cf/web/t1");
  });

  test("a base names the start commit; a base that is no commit is refused with git's words", async () => {
    const { repo, wt, sh } = await setup();
    const first = (await sh(repo, "rev-parse", "HEAD")).trim();
    await writeFile(path.join(repo, "more.txt"), "x\n");
    await sh(repo, "add", "more.txt");
    await sh(repo, "commit", "--quiet", "-m", "more");
    await sh(repo, "tag", "v1", first);
    assert.equal((await wt.plan("web", "t1", repo, "v1")).base, first);
    await assert.rejects(wt.plan("web", "t1", repo, "no-such-branch"), (e: unknown) => e instanceof Error && "code" in e && e.code === "WORKTREE_BAD_BASE");
  });

  test("a project that is not a repository is refused; one in a subfolder maps the cwd through its prefix", async () => {
    const { repo, wt } = await setup();
    const plain = await tempDir("cf-plain-");
    await assert.rejects(wt.plan("p", "t1", plain), (e: unknown) => e instanceof Error && "code" in e && e.code === "WORKTREE_NOT_A_REPO");
    const rec = await wt.plan("sub", "t1", path.join(repo, "sub"));
    assert.equal(rec.prefix, "sub/");
    assert.equal(await wt.create(rec, path.join(repo, "sub"), path.join(repo, "sub", "new")), path.join(rec.dir, "sub", "new"));
  });

  test("worktree commands on one repository run one at a time (git races on its admin files otherwise); all six tasks get theirs", async () => {
    const r = await makeRepo();
    let inFlight = 0;
    let most = 0;
    const counting = {
      run: async (cwd: string, args: readonly string[]) => {
        const admin = args.includes("worktree");
        if (admin) most = Math.max(most, ++inFlight);
        try {
          return await r.git.run(cwd, args);
        } finally {
          if (admin) inFlight--;
        }
      },
    };
    const wt = new TaskWorktrees({ git: counting, root: path.join(r.base, "state", "worktrees"), identity: { name: "claude-failover", email: "cf@localhost" }, log: silentLogger() });
    const ids = ["t1", "t2", "t3", "t4", "t5", "t6"];
    const plans = await Promise.all(ids.map((id) => wt.plan("web", id, r.repo)));
    await Promise.all(plans.map((p) => wt.create(p, r.repo, r.repo)));
    assert.equal(most, 1);
    assert.deepEqual((await wt.list(r.repo)).map((w) => w.branch).filter((b) => b?.startsWith("cf/")).sort(), ids.map((id) => `cf/web/${id}`));
  });

  test("an id run before gets the next free name: its branch and folder are never reused", async () => {
    const { repo, wt } = await setup();
    const first = await wt.plan("web", "t1", repo);
    await wt.create(first, repo, repo);
    const second = await wt.plan("web", "t1", repo);
    assert.equal(second.branch, "cf/web/t1-2");
    assert.equal(second.dir, path.join(wt.root, "web", "t1-2"));
  });

  test("save commits what the agent left as claude-failover with the title, names the task, reports the diffstat and removes the worktree", async () => {
    const { repo, wt, sh } = await setup();
    const rec = await wt.plan("web", "t1", repo);
    await wt.create(rec, repo, repo);
    await writeFile(path.join(rec.dir, "made.txt"), "one\ntwo\n");
    await writeFile(path.join(rec.dir, "README.md"), "changed\n");
    const out = await wt.save(rec, { project: "web", id: "t1", title: "Add made.txt" });
    assert.equal(out.committed, true);
    assert.equal(out.branch, "cf/web/t1");
    assert.equal(out.base, rec.base);
    assert.equal(out.commit, (await sh(repo, "rev-parse", "cf/web/t1")).trim());
    assert.match(out.diffstat, /^2 files changed, 3 insertions\(\+\), 1 deletion\(-\)$/);
    assert.equal(out.keptAt, undefined);
    assert.equal(await wt.removeIfClean(repo, rec.dir), undefined);
    assert.ok(await gone(rec.dir), "the clean worktree is removed");
    const log = await sh(repo, "log", "-1", "--format=%an <%ae>%n%s%n%b", "cf/web/t1");
    assert.match(log, /^claude-failover <cf@localhost>\nAdd made.txt\nClaude-Failover-Task: web\/t1/);
    // The project's checkout and current branch are as they were.
    assert.equal((await sh(repo, "branch", "--show-current")).trim(), "main");
    assert.equal((await sh(repo, "status", "--porcelain")).trim(), "");
    assert.equal((await sh(repo, "rev-parse", "HEAD")).trim(), rec.base);
    // Twice (a restart between the commit and the filing): nothing new, same answer.
    const again = await wt.save(rec, { project: "web", id: "t1", title: "Add made.txt" });
    assert.deepEqual({ ...again, committed: true }, out);
    assert.equal(again.committed, false);
  });

  test("save with nothing changed: no commit, diffstat 'no changes', the branch stays", async () => {
    const { repo, wt, sh } = await setup();
    const rec = await wt.plan("web", "t2", repo);
    await wt.create(rec, repo, repo);
    const out = await wt.save(rec, { project: "web", id: "t2", title: "" });
    assert.deepEqual({ committed: out.committed, commit: out.commit, diffstat: out.diffstat }, { committed: false, commit: rec.base, diffstat: "no changes" });
    assert.equal((await sh(repo, "rev-parse", "cf/web/t2")).trim(), rec.base);
  });

  test("save when git cannot read the diffstat: it is left out of the footer (never 'no changes') and logged", async () => {
    const r = await makeRepo();
    const lines: string[] = [];
    const log = createLogger({ destination: new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } }) });
    const git: GitRunner = {
      run: (cwd, args) => args.includes("--shortstat")
        ? Promise.reject(new GitError("GIT_FAILED", "git diff: fatal: bad object", [...args], "fatal: bad object", 128))
        : r.git.run(cwd, args),
    };
    const wt = new TaskWorktrees({ git, root: path.join(r.base, "state", "worktrees"), identity: { name: "claude-failover", email: "cf@localhost" }, log });
    const rec = await wt.plan("web", "t7", r.repo);
    await wt.create(rec, r.repo, r.repo);
    await writeFile(path.join(rec.dir, "made.txt"), "x\n");
    const out = await wt.save(rec, { project: "web", id: "t7", title: "Make" });
    assert.equal(out.committed, true);
    assert.equal(out.diffstat, "");
    const footer = parseFooter(formatFooter("done", { attempts: 1, finishedAt: 0, branch: out.branch, commit: out.commit, base: out.base, diffstat: out.diffstat }));
    assert.equal(footer?.diffstat, undefined);
    assert.equal(footer?.commit, out.commit);
    assert.ok(lines.some((l) => l.includes("could not read the task branch's diffstat") && l.includes("bad object")), lines.join(""));
  });

  test("a worktree with something uncommitted is kept, with the reason", async () => {
    const { repo, wt } = await setup();
    const rec = await wt.plan("web", "t3", repo);
    await wt.create(rec, repo, repo);
    await writeFile(path.join(rec.dir, "late.txt"), "x\n");
    assert.match((await wt.removeIfClean(repo, rec.dir)) ?? "", /uncommitted changes: \?\? late.txt/);
    await access(rec.dir);
  });

  test("rollback removes a half-made worktree and its empty branch, but keeps a branch with commits", async () => {
    const { repo, wt, sh } = await setup();
    const rec = await wt.plan("web", "t4", repo);
    await wt.create(rec, repo, repo);
    await wt.rollback(rec);
    assert.ok(await gone(rec.dir));
    assert.equal((await sh(repo, "branch", "--list", "cf/*")).trim(), "");
    assert.equal((await wt.list(repo)).length, 1);
    // A folder the add left without registering it (killed mid-way) goes too.
    const half = await wt.plan("web", "t5", repo);
    await mkdir(half.dir, { recursive: true });
    await wt.rollback(half);
    assert.ok(await gone(half.dir));
    // Work on the branch is never thrown away.
    const worked = await wt.plan("web", "t6", repo);
    await wt.create(worked, repo, repo);
    await writeFile(path.join(worked.dir, "w.txt"), "w\n");
    await sh(worked.dir, "add", "w.txt");
    await sh(worked.dir, "commit", "--quiet", "-m", "work");
    await wt.rollback(worked);
    assert.match(await sh(repo, "branch", "--list", "cf/*"), /cf\/web\/t6/);
  });
});
