import { link, lstat, open, unlink, utimes } from "node:fs/promises";
import path from "node:path";
import { fsyncDir } from "../lib/atomic-fs.js";
import { errnoOf, isNotFound } from "../lib/errors.js";
import { KeyedLock } from "../lib/keyed-lock.js";
import { freeId, unlinkIfPresent } from "./finish.js";
import { folderPath, markerFilePath, pathExists, taskFilePath, tempPathBeside } from "./layout.js";

// One lock per queue folder and project for the whole process: TaskQueue's moves and the delegation
// manager's hand-off of an inbox file never interleave (a cancel and a hand-off would both file it).
const PROJECT_LOCKS = new KeyedLock();

/**
 * Runs `fn` alone among every mutation of `<root>/<project>` in this process. Not re-entrant: `fn` must
 * not call anything here that takes the same project's lock (it would wait for itself).
 */
export function withProjectLock<T>(root: string, project: string, fn: () => Promise<T>): Promise<T> {
  return PROJECT_LOCKS.run(`${path.resolve(root)}\0${project}`, fn);
}

/** A file's identity as a hand-off saw it: the same inode, size and mtime mean nobody wrote it since. */
export interface FileIdentity {
  ino: number;
  size: number;
  mtimeMs: number;
}

/**
 * Removes `inbox/<id>.md` under the project's lock if it is still the file `seen` describes (then fsyncs the
 * inbox). False when it is gone or was changed: the caller's hand-off is off.
 */
export async function removeWaitingIfUnchanged(root: string, project: string, id: string, seen: FileIdentity): Promise<boolean> {
  const inbox = folderPath(root, project, "inbox");
  const file = taskFilePath(inbox, id);
  return withProjectLock(root, project, async () => {
    const now = await lstat(file).catch(() => undefined);
    if (!now || now.ino !== seen.ino || now.size !== seen.size || now.mtimeMs !== seen.mtimeMs) return false;
    try {
      await unlink(file);
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    await fsyncDir(inbox);
    return true;
  });
}

/** Removes `inbox/<id>.md.delegated` under the project's lock, then fsyncs the inbox; false when it was not there. */
export async function removeMarker(root: string, project: string, id: string): Promise<boolean> {
  const inbox = folderPath(root, project, "inbox");
  return withProjectLock(root, project, async () => {
    const removed = await unlinkIfPresent(markerFilePath(inbox, id));
    await fsyncDir(inbox);
    return removed;
  });
}

/**
 * Puts a delegated task's bytes back as `inbox/<id>.md` (with its original mtime), then removes its marker, all
 * under the project's lock. Never over another file: if a new task took the name meanwhile, it goes back as
 * `<id>-<stamp>.md`. Resolves the id it waits under.
 */
export function restoreWaiting(root: string, project: string, id: string, bytes: Uint8Array, mtime: Date, now: number): Promise<string> {
  const inbox = folderPath(root, project, "inbox");
  return withProjectLock(root, project, async () => {
    const tmp = tempPathBeside(markerFilePath(inbox, id));
    const h = await open(tmp, "wx", 0o600);
    try {
      await h.writeFile(bytes);
      await h.sync();
    } finally {
      await h.close();
    }
    let as = id;
    try {
      // The original mtime keeps the task's place in the dispatch order (oldest first).
      await utimes(tmp, mtime, mtime).catch(() => undefined);
      for (let tries = 0; ; tries++) {
        as = await freeId(id, now, async (c) => (await pathExists(taskFilePath(inbox, c))) || (c !== id && (await pathExists(markerFilePath(inbox, c)))));
        try {
          // link(2) refuses to replace an existing name, unlike rename(2).
          await link(tmp, taskFilePath(inbox, as));
          break;
        } catch (err) {
          if (errnoOf(err) !== "EEXIST" || tries >= 20) throw err;
        }
      }
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
    await unlinkIfPresent(markerFilePath(inbox, id));
    await fsyncDir(inbox);
    return as;
  });
}
