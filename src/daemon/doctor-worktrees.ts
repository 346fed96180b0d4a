import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Config } from "../config/schema.js";
import type { GitRunner } from "../git/git.js";
import { strayWorktrees } from "../janitor/worktrees.js";
import { describeError } from "../lib/errors.js";
import { silentLogger } from "../lib/logger.js";
import type { DoctorFinding } from "./doctor.js";
import { setUpWorktrees } from "./worktree-wiring.js";

/**
 * `doctor`'s worktree checks: a project with isolation: worktree that is not a git
 * repository, and stray worktrees under `<state_dir>/worktrees` — ones no repository lists, and
 * ones no task in flight (state.json) uses. Reading only: doctor never removes anything.
 */
export async function checkWorktrees(config: Config, git: GitRunner): Promise<DoctorFinding[]> {
  const set = await setUpWorktrees(config, git, silentLogger());
  if (!set.ok) return set.problems.map((p) => ({ check: "worktrees", ok: false, message: p, fix: "git init the project's folder, or set its isolation to none" }));
  const { worktrees, repos } = set.setup;
  let stray: { dir: string; why: string }[];
  try {
    stray = await strayWorktrees({ root: worktrees.root, repos: () => Object.values(repos), worktrees, inFlight: () => [] });
    const inFlight = new Set(await inFlightWorktrees(config.state_dir));
    stray = stray.filter((s) => !(s.why.startsWith("no task in flight") && inFlight.has(s.dir)));
  } catch (err) {
    return [{ check: "worktrees", ok: false, message: `cannot look through ${worktrees.root}: ${describeError(err)}` }];
  }
  if (stray.length === 0) return [{ check: "worktrees", ok: true, message: `no stray worktree under ${worktrees.root}` }];
  return stray.map((s) => ({
    check: "worktrees", ok: false, message: `stray worktree ${s.dir}: ${s.why}`,
    fix: `look at it (git -C ${s.dir} status), keep what matters on its branch, then git worktree remove ${s.dir} from its repository (its branch stays)`,
  }));
}

/** The worktree folders of tasks in flight, read leniently from state.json (absent or unreadable: none). */
async function inFlightWorktrees(stateDir: string): Promise<string[]> {
  try {
    const json = JSON.parse(await readFile(path.join(stateDir, "state.json"), "utf8")) as { data?: { tasks?: Record<string, { worktree?: { dir?: unknown } }> } };
    return Object.values(json.data?.tasks ?? {}).flatMap((t) => (typeof t.worktree?.dir === "string" ? [t.worktree.dir] : []));
  } catch {
    return [];
  }
}
