import { lstat, unlink } from "node:fs/promises";
import path from "node:path";
import { fsyncDir } from "../lib/atomic-fs.js";
import { isNotFound } from "../lib/errors.js";
import { KeyedLock } from "../lib/keyed-lock.js";
import { folderPath, taskFilePath } from "./layout.js";

// One lock per queue folder and project for the whole process: TaskQueue's moves and the delegation
// manager's hand-off of an inbox file never interleave (a cancel and a hand-off would both file it).
const PROJECT_LOCKS = new KeyedLock();

/** Runs `fn` alone among every mutation of `<root>/<project>` in this process. */
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
