import { readdir, realpath } from "node:fs/promises";
import path from "node:path";
import { describeError } from "../lib/errors.js";
import { TmuxError } from "../tmux/client.js";
import type { Logger } from "../lib/logger.js";
import { isInside, type TaskWorktrees } from "../git/worktrees.js";
import type { TmuxClient } from "../tmux/client.js";
import { isShell } from "../tmux/shells.js";

export interface WorktreeSweepDeps {
  /** `<state_dir>/worktrees`: nothing outside it is ever removed. */
  root: string;
  /** The top levels of the configured projects' repositories. */
  repos: () => readonly string[];
  worktrees: Pick<TaskWorktrees, "list" | "removeIfClean" | "prune">;
  /** The worktree folders of tasks in flight (state.json). */
  inFlight: () => readonly string[];
  /** The working directories of live tmux panes. */
  liveCwds: () => Promise<readonly string[]>;
  log: Logger;
}

export interface WorktreeSweep {
  removed: string[];
  kept: { dir: string; reason: string }[];
}

/**
 * The janitor's worktree rules: `git worktree prune` in each project's repository, then a
 * worktree is removed only when it lies under `<state_dir>/worktrees`, no task in flight uses it, no
 * live session's cwd points into it, and `git status` shows nothing uncommitted. Branches are never
 * deleted: they are the operator's to review.
 */
export async function sweepWorktrees(d: WorktreeSweepDeps): Promise<WorktreeSweep> {
  const out: WorktreeSweep = { removed: [], kept: [] };
  const root = await real(d.root);
  const busy = await Promise.all(d.inFlight().map(real));
  let live: string[] | undefined;
  for (const repo of new Set(d.repos())) {
    try {
      await d.worktrees.prune(repo);
      for (const w of await d.worktrees.list(repo)) {
        const dir = await real(w.dir);
        if (!isInside(root, dir)) continue;
        if (busy.some((b) => b === dir || isInside(dir, b))) continue;
        live ??= await Promise.all((await d.liveCwds()).map(real));
        if (live.some((c) => c === dir || isInside(dir, c))) {
          out.kept.push({ dir, reason: "a live session's working directory is inside it" });
          continue;
        }
        const kept = await d.worktrees.removeIfClean(repo, w.dir);
        if (kept) out.kept.push({ dir, reason: kept });
        else out.removed.push(dir);
      }
    } catch (err) {
      d.log.warn({ repo, err: describeError(err) }, "janitor could not sweep the repository's worktrees");
    }
  }
  if (out.removed.length > 0) d.log.info({ removed: out.removed }, "janitor removed finished task worktrees");
  for (const k of out.kept) d.log.info({ worktree: k.dir, reason: k.reason }, "janitor kept a task worktree");
  return out;
}

/**
 * What `doctor` calls stray: folders under `<state_dir>/worktrees/<project>/` that no project's
 * repository lists as a worktree (a crash mid-creation, a hand-made copy), and worktrees no task in
 * flight uses (finished, kept because something in them is uncommitted).
 */
export async function strayWorktrees(d: Pick<WorktreeSweepDeps, "root" | "repos" | "worktrees" | "inFlight">): Promise<{ dir: string; why: string }[]> {
  const root = await real(d.root);
  const known = new Set<string>();
  for (const repo of new Set(d.repos())) {
    for (const w of await d.worktrees.list(repo).catch(() => [])) known.add(await real(w.dir));
  }
  const busy = new Set(await Promise.all(d.inFlight().map(real)));
  const out: { dir: string; why: string }[] = [];
  for (const project of (await readdir(root).catch(() => [] as string[])).sort()) {
    for (const name of (await readdir(path.join(root, project)).catch(() => [] as string[])).sort()) {
      const dir = path.join(root, project, name);
      const resolved = await real(dir);
      if (!known.has(resolved)) out.push({ dir, why: "no project's repository lists it as a worktree" });
      else if (!busy.has(resolved)) out.push({ dir, why: "no task in flight uses it (kept: something in it is not committed)" });
    }
  }
  return out;
}

/**
 * The working directories of the live panes. An idle pool session's shell still sits where its
 * last agent ran and uses nothing there: left out. Every other pane counts — an agent at work, an
 * operator's session, anything the daemon does not own. Only a session gone since the listing is
 * skipped; any other tmux error throws, so the sweep keeps every worktree rather than guess.
 */
export async function liveCwdsOf(tmux: Pick<TmuxClient, "listSessions" | "paneInfo">, idlePool: ReadonlySet<string>): Promise<string[]> {
  const cwds: string[] = [];
  for (const s of await tmux.listSessions()) {
    const info = await tmux.paneInfo(s.name).catch((err: unknown) => {
      if (err instanceof TmuxError && err.code === "TMUX_NO_SESSION") return undefined;
      throw err;
    });
    if (!info?.currentPath || (idlePool.has(s.name) && isShell(info.currentCommand))) continue;
    cwds.push(info.currentPath);
  }
  return cwds;
}

async function real(p: string): Promise<string> {
  return realpath(p).catch(() => path.resolve(p));
}
