import { clipText } from "../lib/clip.js";
import { mkdir, realpath, rm, stat } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { AppError, describeError } from "../lib/errors.js";
import { KeyedLock } from "../lib/keyed-lock.js";
import type { Logger } from "../lib/logger.js";
import { GitError, type GitRunner } from "./git.js";

/**
 * A task's worktree as state.json journals it. `creating` is written before `git worktree add`
 * runs, `ready` once it exists: a restart that finds `creating` removes whatever the add left.
 */
export const worktreeRecordSchema = z.object({
  /** `<state_dir>/worktrees/<project>/<id>` (suffixed when a run of the same id left one). */
  dir: z.string(),
  branch: z.string(),
  /** The commit the branch starts from, resolved at claim. */
  base: z.string(),
  /** The repository's top level (where `git worktree` is run). */
  repo: z.string(),
  /** The project folder's path inside the repository ("" at the top level, else ending in /). */
  prefix: z.string(),
  state: z.enum(["creating", "ready"]),
});
export type WorktreeRecord = z.infer<typeof worktreeRecordSchema>;

/** What the end of a task left: the footer's branch/commit/base/diffstat, and where a kept worktree is. */
export interface WorktreeFinish {
  branch: string;
  commit: string;
  base: string;
  /** `git diff --shortstat` base..commit; "" when git could not say (the footer then leaves the key out). */
  diffstat: string;
  /** True when a commit saved what the agent left uncommitted. */
  committed: boolean;
  /** Set when something in the worktree could not be committed: it is kept there. */
  keptAt?: string;
}

export interface TaskWorktreesDeps {
  git: GitRunner;
  /** `<state_dir>/worktrees`. */
  root: string;
  identity: { name: string; email: string };
  log: Logger;
}

// Hooks of the project never run for the daemon's git calls: a post-checkout hook could take minutes
// or touch the project's checkout; the operator's review is the gate, not a pre-commit hook.
const NO_HOOKS = ["-c", "core.hooksPath=/dev/null"];

/**
 * Worktrees for tasks: one per task under `<state_dir>/worktrees/<project>/<id>` on a new branch
 * `cf/<project>/<id>`. Never merges, rebases or pushes, never checks anything out in the project's
 * own checkout, and deletes a branch only when rolling back a creation that holds no commit.
 */
export class TaskWorktrees {
  // Two `git worktree` commands at once on one repository race on its admin files ("failed to read
  // .git/worktrees/<other>/commondir"): they run one at a time per repository.
  private readonly admin = new KeyedLock();

  constructor(private readonly d: TaskWorktreesDeps) {}

  get root(): string {
    return this.d.root;
  }

  /** The repository holding `dir`: its top level and the prefix of `dir` in it; undefined when not in one. */
  async repoOf(dir: string): Promise<{ top: string; prefix: string } | undefined> {
    try {
      const out = await this.git(dir, ["rev-parse", "--show-toplevel", "--show-prefix"]);
      const [top = "", prefix = ""] = out.split("\n");
      return top === "" ? undefined : { top, prefix };
    } catch (err) {
      if (err instanceof GitError && err.code === "GIT_FAILED") return undefined;
      throw err;
    }
  }

  /** Resolves base (default HEAD) and picks a branch and folder no earlier run holds. Nothing is created. */
  async plan(project: string, id: string, projectDir: string, base?: string): Promise<WorktreeRecord> {
    const repo = await this.repoOf(projectDir);
    if (!repo) throw new AppError("WORKTREE_NOT_A_REPO", `${projectDir} is not inside a git repository: no worktree can be made for ${project}/${id}`);
    const commit = (await this.git(repo.top, ["rev-parse", "--verify", "--quiet", "--end-of-options", `${base ?? "HEAD"}^{commit}`]).catch((err: unknown) => {
      throw new AppError("WORKTREE_BAD_BASE", `base ${JSON.stringify(base ?? "HEAD")} of ${project} is not a commit in ${repo.top}${err instanceof GitError && err.stderr ? `: ${err.stderr}` : ""}`, { cause: err });
    })).trim();
    const stem = `cf/${refSafe(project)}/${refSafe(id)}`;
    for (let n = 1; n < 1000; n++) {
      const branch = n === 1 ? stem : `${stem}-${n}`;
      const dir = path.join(this.d.root, project, n === 1 ? id : `${id}-${n}`);
      if ((await this.branchTip(repo.top, branch)) === undefined && !(await exists(dir))) {
        return { dir, branch, base: commit, repo: repo.top, prefix: repo.prefix, state: "creating" };
      }
    }
    throw new AppError("WORKTREE_NO_NAME", `no free branch name for ${stem} after 999 tries`);
  }

  /** `git worktree add -b <branch> <dir> <base>`, then the task's cwd inside it (created when missing). */
  async create(rec: WorktreeRecord, projectDir: string, taskCwd: string): Promise<string> {
    await mkdir(path.dirname(rec.dir), { recursive: true, mode: 0o700 });
    await this.git(rec.repo, ["worktree", "add", "--quiet", "-b", rec.branch, "--", rec.dir, rec.base]);
    return this.cwdIn(rec, projectDir, taskCwd);
  }

  /** Where a task's cwd (inside the project folder) lies inside its worktree; created when missing. */
  async cwdIn(rec: WorktreeRecord, projectDir: string, taskCwd: string): Promise<string> {
    const rel = path.relative(path.resolve(projectDir), path.resolve(taskCwd));
    const cwd = path.join(rec.dir, rec.prefix, rel.startsWith("..") ? "" : rel);
    await mkdir(cwd, { recursive: true });
    return cwd;
  }

  /**
   * Undoes a creation that never got a prompt through (a crash, a failed hand-over): the worktree goes,
   * and so does its branch while it holds no commit of its own.
   */
  async rollback(rec: WorktreeRecord): Promise<void> {
    if (await this.registered(rec)) await this.git(rec.repo, ["worktree", "remove", "--force", "--force", "--", rec.dir]);
    else if (isInside(this.d.root, rec.dir)) await rm(rec.dir, { recursive: true, force: true });
    await this.git(rec.repo, ["worktree", "prune"]);
    const tip = await this.branchTip(rec.repo, rec.branch);
    if (tip === rec.base) await this.git(rec.repo, ["branch", "-D", "--", rec.branch]);
    else if (tip !== undefined) this.d.log.warn({ branch: rec.branch, tip }, "rolled back a worktree; its branch holds commits and is kept");
  }

  /**
   * The end of a task (done, failed or retried): whatever the agent left uncommitted is committed to
   * its branch ("<title>", with the task named in the commit's footer). The worktree stays (the agent
   * may still sit in it): `removeIfClean` follows once it has exited. Safe to run twice (a restart
   * after a crash between the commit and the filing).
   */
  async save(rec: WorktreeRecord, task: { project: string; id: string; title: string }): Promise<WorktreeFinish> {
    let committed = false;
    let keptAt: string | undefined;
    if (await exists(rec.dir)) {
      await this.git(rec.dir, ["add", "--all"]);
      const staged = await this.git(rec.dir, ["diff", "--cached", "--quiet"]).then(() => false, (err: unknown) => {
        if (err instanceof GitError && err.exitCode === 1) return true;
        throw err;
      });
      if (staged) {
        const { name, email } = this.d.identity;
        await this.git(rec.dir, [
          "-c", `user.name=${name}`, "-c", `user.email=${email}`, "-c", "commit.gpgsign=false",
          "commit", "--quiet", "--no-verify", "-m", oneLine(task.title) || `task ${task.id}`, "-m", `Claude-Failover-Task: ${task.project}/${task.id}`,
        ]);
        committed = true;
      }
      if ((await this.git(rec.dir, ["status", "--porcelain", "--untracked-files=all"])).trim() !== "") keptAt = rec.dir;
    }
    const commit = (await this.branchTip(rec.repo, rec.branch)) ?? rec.base;
    const diffstat = await this.git(rec.repo, ["diff", "--shortstat", rec.base, commit]).then(
      (out) => out.trim() || "no changes",
      (err: unknown) => {
        this.d.log.warn({ branch: rec.branch, base: rec.base, commit, err: describeError(err) }, "could not read the task branch's diffstat: the footer leaves it out");
        return "";
      },
    );
    return { branch: rec.branch, commit, base: rec.base, diffstat, committed, ...(keptAt ? { keptAt } : {}) };
  }

  /** Removes a worktree only when `git status` shows nothing; the reason it is kept, else undefined. */
  async removeIfClean(repo: string, dir: string): Promise<string | undefined> {
    if (!(await exists(dir))) return undefined;
    try {
      const status = await this.git(dir, ["status", "--porcelain", "--untracked-files=all"]);
      if (status.trim() !== "") return `uncommitted changes: ${status.trim().split("\n").slice(0, 3).join("; ")}`;
      await this.git(repo, ["worktree", "remove", "--", dir]);
      return undefined;
    } catch (err) {
      this.d.log.warn({ worktree: dir, err: describeError(err) }, "worktree kept: it could not be removed");
      return describeError(err);
    }
  }

  async prune(repo: string): Promise<void> {
    await this.git(repo, ["worktree", "prune"]);
  }

  /** The worktrees git knows of in `repo` (absolute paths, resolved). */
  async list(repo: string): Promise<{ dir: string; branch?: string }[]> {
    const out = await this.git(repo, ["worktree", "list", "--porcelain", "-z"]);
    const list: { dir: string; branch?: string }[] = [];
    for (const field of out.split("\0")) {
      if (field.startsWith("worktree ")) list.push({ dir: field.slice(9) });
      else if (field.startsWith("branch ") && list.length > 0) list[list.length - 1]!.branch = field.slice(7).replace(/^refs\/heads\//, "");
    }
    return list;
  }

  private async registered(rec: WorktreeRecord): Promise<boolean> {
    const want = await realpath(rec.dir).catch(() => path.resolve(rec.dir));
    return (await this.list(rec.repo)).some((w) => path.resolve(w.dir) === want || path.resolve(w.dir) === path.resolve(rec.dir));
  }

  private async branchTip(repo: string, branch: string): Promise<string | undefined> {
    try {
      return (await this.git(repo, ["rev-parse", "--verify", "--quiet", `refs/heads/${branch}^{commit}`])).trim() || undefined;
    } catch (err) {
      if (err instanceof GitError && err.exitCode === 1) return undefined;
      throw err;
    }
  }

  private git(cwd: string, args: readonly string[]): Promise<string> {
    const run = () => this.d.git.run(cwd, [...NO_HOOKS, ...args]);
    return args[0] === "worktree" ? this.admin.run(path.resolve(cwd), run) : run();
  }
}

/** A project name or task id as one valid ref component: no leading dot, no "..", no ".lock" or "." at the end. */
export function refSafe(name: string): string {
  let s = name.replace(/\.{2,}/g, "_").replace(/^\./, "_");
  if (s.endsWith(".lock") || s.endsWith(".")) s += "_";
  return s;
}

export function isInside(base: string, target: string): boolean {
  const rel = path.relative(path.resolve(base), path.resolve(target));
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

function oneLine(s: string): string {
  return clipText(s.replace(/\s+/g, " ").trim(), 200);
}
