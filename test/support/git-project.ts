import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { parse, stringify } from "yaml";

export type Git = (cwd: string, ...args: string[]) => Promise<string>;

/** git as the operator runs it: a fixed identity, none of the calling process's `GIT_*` (a hook's GIT_DIR would redirect it). */
export function operatorGit(env: NodeJS.ProcessEnv = process.env): Git {
  const clean = Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith("GIT_")));
  return async (cwd, ...args) =>
    (await promisify(execFile)("git", ["-c", "user.name=Op", "-c", "user.email=op@example.org", ...args], { cwd, env: clean, timeout: 10_000 })).stdout;
}

/**
 * Makes the folder of `project` (which the sandbox created) a git repository with one commit on `main`, and rewrites
 * the sandbox's config so the project runs each task in its own worktree.
 */
export async function useWorktreeProject(o: { git: Git; configPath: string; project: string; repo: string; readme: string }): Promise<void> {
  await o.git(o.repo, "init", "--quiet", "-b", "main");
  await writeFile(path.join(o.repo, "README.md"), o.readme);
  await o.git(o.repo, "add", "README.md");
  await o.git(o.repo, "commit", "--quiet", "-m", "initial");
  const config = parse(await readFile(o.configPath, "utf8")) as { queue: { projects: Record<string, unknown> } };
  config.queue.projects[o.project] = { path: o.repo, isolation: "worktree" };
  await writeFile(o.configPath, stringify(config));
}
