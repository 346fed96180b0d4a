import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "../lib/test-temp.js";
import { execGit, type GitRunner } from "./git.js";

/** Test support: a real repository in a temp folder, one commit on `main`, and a git to poke it with. */
export async function makeRepo(prefix = "cf-git-"): Promise<{ base: string; repo: string; git: GitRunner; sh: (cwd: string, ...args: string[]) => Promise<string> }> {
  const base = await tempDir(prefix);
  const repo = path.join(base, "project");
  await mkdir(path.join(repo, "sub"), { recursive: true });
  const git = execGit({ env: { ...process.env, HOME: base } });
  const sh = (cwd: string, ...args: string[]): Promise<string> => git.run(cwd, ["-c", "user.name=Op", "-c", "user.email=op@example.org", ...args]);
  await sh(repo, "init", "--quiet", "-b", "main");
  await writeFile(path.join(repo, "README.md"), "hello\n");
  await writeFile(path.join(repo, "sub", "keep.txt"), "keep\n");
  await sh(repo, "add", "--all");
  await sh(repo, "commit", "--quiet", "-m", "initial");
  return { base, repo, git, sh };
}
