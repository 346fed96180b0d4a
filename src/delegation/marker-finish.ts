/**
 * Filing a delegated task from its marker into done/ or failed/, with the queue's three-step discipline
 * (src/queue/finish.ts), the marker standing where active/<id>.md stands for a local task:
 *   1. stage:   inbox/<id>.md.delegated + appendix → inbox/<id>.md.delegated.to-done|.to-failed (temp, fsync, rename, fsync);
 *   2. drop:    unlink the marker, fsync the inbox;
 *   3. publish: hard-link the staged file into done/ or failed/ under a free name, fsync, unlink the staged file, fsync.
 * The queue's helpers read active/<id>.md by name, hence this twin. Publishing uses link(2), not rename(2): the
 * queue's own finishes publish into the same folders under its lock, which this code does not hold, and a
 * rename would silently replace a file that appeared under the same name meanwhile.
 */
import { link, lstat, rename, unlink } from "node:fs/promises";
import path from "node:path";
import { fsyncDir } from "../lib/atomic-fs.js";
import { errnoOf, isNotFound } from "../lib/errors.js";
import { freeName, stageWithAppendix, unlinkIfPresent, type FinishContent } from "../queue/finish.js";
import type { Outcome } from "../queue/footer.js";
import { listNames, markerFilePath, pathExists, stagedMarkerPath } from "../queue/layout.js";
import { isMarkerTempName, MARKER_STAGED_SUFFIX, parseStagedName } from "../queue/names.js";

/** What filing a marker writes: the same as any finish. */
export type MarkerFinish = FinishContent;

/** `<root>/<project>/{inbox,done,failed}` of one project. */
export interface ProjectDirs {
  inbox: string;
  done: string;
  failed: string;
}

/**
 * Files the marker of `id` under done/ or failed/. Resolves the file name it got, or undefined when there is
 * neither a marker nor a staged finish (someone removed it). A staged finish left by an earlier attempt is
 * completed instead of staging again, so a retry after an I/O error never files the task twice.
 */
export async function finishMarker(dirs: ProjectDirs, id: string, content: MarkerFinish, now: number): Promise<{ outcome: Outcome; file: string } | undefined> {
  let outcome = content.outcome;
  if (!(await stageMarker(dirs.inbox, id, content))) {
    const earlier = await stagedOutcome(dirs.inbox, id);
    if (earlier === undefined) return undefined;
    outcome = earlier;
  }
  await unlinkIfPresent(markerFilePath(dirs.inbox, id));
  await fsyncDir(dirs.inbox);
  const file = await publishStagedMarker(dirs, id, outcome, now);
  return { outcome, file };
}

/** Step 1. Returns false when the marker is gone. */
export async function stageMarker(inbox: string, id: string, content: MarkerFinish): Promise<boolean> {
  return stageWithAppendix({ source: markerFilePath(inbox, id), staged: (o) => stagedMarkerPath(inbox, id, o), what: "marker" }, content);
}

/** Step 3: into done/ or failed/ without ever replacing a file there; resolves the name it got. */
export async function publishStagedMarker(dirs: ProjectDirs, id: string, outcome: Outcome, now: number): Promise<string> {
  const staged = stagedMarkerPath(dirs.inbox, id, outcome);
  const dest = dirs[outcome];
  // A crash between link and unlink leaves the staged file linked into dest already: finish that, do not copy it.
  const already = await linkedCopyIn(staged, dest, id);
  if (already !== undefined) {
    await unlinkIfPresent(staged);
    await fsyncDir(dirs.inbox);
    return already;
  }
  for (let tries = 0; tries < 100; tries++) {
    const name = await freeName(dest, id, now);
    try {
      await link(staged, path.join(dest, name));
    } catch (err) {
      const code = errnoOf(err);
      if (code === "EEXIST") continue;
      if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw err;
      // No hard links on this filesystem: check-then-rename, the queue's own way.
      if (await pathExists(path.join(dest, name))) continue;
      await rename(staged, path.join(dest, name));
      await fsyncDir(dest);
      await fsyncDir(dirs.inbox);
      return name;
    }
    await fsyncDir(dest);
    await unlink(staged);
    await fsyncDir(dirs.inbox);
    return name;
  }
  throw new Error(`no free name for ${id} in ${dest}`);
}

/** Which outcome's staged file exists for `id` (the newer one if both do). */
export async function stagedOutcome(inbox: string, id: string): Promise<Outcome | undefined> {
  let best: { outcome: Outcome; mtime: number } | undefined;
  for (const outcome of ["done", "failed"] as const) {
    try {
      const st = await lstat(stagedMarkerPath(inbox, id, outcome));
      if (!best || st.mtimeMs > best.mtime) best = { outcome, mtime: st.mtimeMs };
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  return best?.outcome;
}

/**
 * Run at start: completes every finish a crash interrupted (a staged file in the inbox) and removes this
 * module's and the marker writes' temp files. Resolves what was filed.
 */
export async function recoverMarkerFinishes(dirs: ProjectDirs, now: number): Promise<{ id: string; outcome: Outcome; file: string }[]> {
  const out: { id: string; outcome: Outcome; file: string }[] = [];
  for (const name of await listNames(dirs.inbox)) {
    // Ours only: a submission being written into the inbox is someone else's temp file.
    if (isMarkerTempName(name)) await unlinkIfPresent(path.join(dirs.inbox, name));
  }
  const ids = new Set<string>();
  for (const name of await listNames(dirs.inbox)) {
    const staged = parseStagedName(name, MARKER_STAGED_SUFFIX);
    if (staged) ids.add(staged.id);
  }
  for (const id of [...ids].sort()) {
    for (const outcome of ["done", "failed"] as const) {
      if (!(await pathExists(stagedMarkerPath(dirs.inbox, id, outcome)))) continue;
      await unlinkIfPresent(markerFilePath(dirs.inbox, id));
      await fsyncDir(dirs.inbox);
      out.push({ id, outcome, file: await publishStagedMarker(dirs, id, outcome, now) });
    }
  }
  return out;
}

// The name in `dest` that is the same inode as `staged` (only names the id can have: <id>.md, <id>-<stamp>….md).
async function linkedCopyIn(staged: string, dest: string, id: string): Promise<string | undefined> {
  let st;
  try {
    st = await lstat(staged);
  } catch (err) {
    if (isNotFound(err)) throw new Error(`no staged finish at ${staged}`, { cause: err });
    throw err;
  }
  if (st.nlink < 2) return undefined;
  for (const name of await listNames(dest)) {
    if (name !== `${id}.md` && !(name.startsWith(`${id}-`) && name.endsWith(".md"))) continue;
    const other = await lstat(path.join(dest, name)).catch(() => undefined);
    if (other && other.ino === st.ino && other.dev === st.dev) return name;
  }
  return undefined;
}
