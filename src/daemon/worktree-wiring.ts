import path from "node:path";
import { projectSettingsOf, type Config } from "../config/schema.js";
import type { WorktreePort } from "../dispatch/ports.js";
import type { GitRunner } from "../git/git.js";
import { TaskWorktrees } from "../git/worktrees.js";
import type { Logger } from "../lib/logger.js";

/** Where task worktrees live: `<state_dir>/worktrees/<project>/<id>`. */
export const worktreesRoot = (stateDir: string): string => path.join(stateDir, "worktrees");

export interface WorktreeSetup {
  port: WorktreePort;
  worktrees: TaskWorktrees;
  /** The resolved cap per project (undefined = none), for logs and /status. */
  caps: Record<string, number | undefined>;
  /** Projects that are git repositories (their top level). */
  repos: Record<string, string>;
}

/**
 * Task worktrees at start-up: which projects are git repositories, each project's max_parallel (default:
 * unlimited for worktree, 1 for none in a git repository — two agents in one checkout collide), and
 * the refusal of `isolation: worktree` outside a repository, named by its key path.
 */
export async function setUpWorktrees(config: Config, git: GitRunner, log: Logger): Promise<{ ok: true; setup: WorktreeSetup } | { ok: false; problems: string[] }> {
  const worktrees = new TaskWorktrees({ git, root: worktreesRoot(config.state_dir), identity: config.queue.git_identity, log: log.child({ component: "worktrees" }) });
  const problems: string[] = [];
  const caps: Record<string, number | undefined> = {};
  const repos: Record<string, string> = {};
  for (const [project, dir] of Object.entries(config.queue.projects)) {
    const settings = projectSettingsOf(config, project);
    const repo = await worktrees.repoOf(dir).catch(() => undefined);
    if (repo) repos[project] = repo.top;
    if (settings.isolation === "worktree" && !repo) {
      problems.push(`queue.projects.${project}.isolation: worktree needs a git repository, and ${dir} is not in one (git init it, or use isolation: none)`);
    }
    caps[project] = settings.max_parallel ?? (settings.isolation === "none" && repo ? 1 : undefined);
  }
  if (problems.length > 0) return { ok: false, problems };
  const projectDir = (project: string): string => config.queue.projects[project]!;
  const port: WorktreePort = {
    maxParallel: (project) => caps[project],
    wanted: (task) => {
      const asked = task.worktree ?? projectSettingsOf(config, task.project).isolation === "worktree";
      if (asked && repos[task.project] === undefined) {
        // Only `worktree: true` in a task can get here (the project setting is refused at start): said, not silent.
        log.warn({ project: task.project, task: task.id, dir: projectDir(task.project) }, "the task asks for a worktree, but its project is not a git repository: it runs in the project's folder");
      }
      return asked && repos[task.project] !== undefined;
    },
    plan: (task) => worktrees.plan(task.project, task.id, projectDir(task.project), projectSettingsOf(config, task.project).base),
    create: (rec, task) => worktrees.create(rec, projectDir(task.project), task.cwd),
    rollback: (rec) => worktrees.rollback(rec),
    save: (rec, task) => worktrees.save(rec, task),
    remove: (rec) => worktrees.removeIfClean(rec.repo, rec.dir),
  };
  return { ok: true, setup: { port, worktrees, caps, repos } };
}
