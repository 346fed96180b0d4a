/** The manager's file steps around a marker that are not filing it: putting a task back, and reading a marker at start-up. */
import { link, open, unlink, utimes } from "node:fs/promises";
import { fsyncDir } from "../lib/atomic-fs.js";
import { errnoOf } from "../lib/errors.js";
import { freeId, unlinkIfPresent } from "../queue/finish.js";
import { markerFilePath, pathExists, readTaskFile, taskFilePath, tempPathBeside } from "../queue/layout.js";
import { decodeUtf8 } from "../queue/task.js";
import { readMarker, type MarkerBlock } from "./marker.js";

/**
 * Puts a task's bytes back as inbox/<id>.md, then removes its marker. Never over another file: if a new task
 * took the name meanwhile, it goes back as `<id>-<stamp>.md`. Resolves the id it waits under.
 */
export async function restoreTask(inbox: string, id: string, bytes: Uint8Array, mtime: Date, now: number): Promise<string> {
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
}

export type MarkerFound =
  /** Submitted: follow the job. */
  | { kind: "adopt"; block: Extract<MarkerBlock, { state: "submitted" }> }
  /** Written just before a crash, the task file still beside it: nothing was submitted. */
  | { kind: "discard" }
  /** To be filed under failed/ with the reason. */
  | { kind: "fail"; reason: string }
  | { kind: "gone" };

/** What start-up does with inbox/<id>.md.delegated (see manager.ts for the crash-safety argument). */
export async function inspectMarker(inbox: string, id: string): Promise<MarkerFound> {
  const read = await readTaskFile(markerFilePath(inbox, id));
  switch (read.kind) {
    case "missing":
      return { kind: "gone" };
    case "too-large":
      return { kind: "fail", reason: `its delegation marker is larger than 1 MiB (${read.size} bytes); no job is followed for it` };
    case "symlink":
      return { kind: "fail", reason: `its delegation marker is a symbolic link to ${read.target}; no job is followed for it` };
    case "special":
      return { kind: "fail", reason: `its delegation marker is a ${read.type}, not a regular file; no job is followed for it` };
    case "file":
      break;
  }
  const text = decodeUtf8(read.bytes);
  const marker = text.ok ? readMarker(text.text) : text;
  if (!marker.ok) return { kind: "fail", reason: `its delegation marker cannot be read (${marker.reason}); no job is followed for it` };
  if (marker.block.state === "submitted") return { kind: "adopt", block: marker.block };
  if (await pathExists(taskFilePath(inbox, id))) return { kind: "discard" };
  return {
    kind: "fail",
    reason: "the daemon stopped while submitting this task to the job service: a job may or may not exist there, so it was not submitted again (a task never runs twice); put the task back in the inbox to run it",
  };
}
