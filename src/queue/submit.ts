import { randomBytes } from "node:crypto";
import { link, rename, unlink } from "node:fs/promises";
import path from "node:path";
import { ensureDir, fsyncDir, writeDurableTemp } from "../lib/atomic-fs.js";
import { systemClock, type Clock } from "../lib/clock.js";
import { errnoOf } from "../lib/errors.js";
import { QueueError } from "./errors.js";
import { folderPath, markerPath, pathExists, taskFilePath, taskPath } from "./layout.js";
import { assertProjectName, isValidTaskId, sanitizeTaskId } from "./names.js";
import { decodeUtf8, MAX_TASK_BYTES } from "./task.js";

export interface SubmitOptions {
  /** The source file's name (`submit PROJECT FILE`): its id is kept when valid and not taken. */
  sourceName?: string;
  clock?: Clock;
}

/**
 * Drops a task into `<root>/<project>/inbox` Maildir-style (Q1): the bytes go to a dot-file in the inbox
 * (ignored by the daemon), are fsynced, then get their final name with link(2), which — unlike rename —
 * refuses to replace an existing task. Refuses more than 1 MiB and non-UTF-8 before writing anything.
 * Returns the task id.
 */
export async function submitTask(root: string, project: string, data: string | Uint8Array, options: SubmitOptions = {}): Promise<string> {
  assertProjectName(project);
  const clock = options.clock ?? systemClock;
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  if (bytes.length > MAX_TASK_BYTES) throw new QueueError("QUEUE_TOO_LARGE", `task refused: larger than 1 MiB (${bytes.length} bytes)`);
  const decoded = decodeUtf8(bytes);
  if (!decoded.ok) throw new QueueError("QUEUE_NOT_UTF8", `task refused: ${decoded.reason}`);

  const inbox = folderPath(root, project, "inbox");
  await ensureDir(inbox);
  const tmp = await writeDurableTemp(inbox, ".submit", bytes, 0o600);
  try {
    const base = baseId(options.sourceName, clock.now());
    for (let attempt = 0; attempt < 20; attempt++) {
      const id = attempt === 0 ? base : `${base}-${stamp(clock.now())}-${randomBytes(3).toString("hex")}`;
      if (await isTaken(root, project, id)) continue;
      if (await placeNoClobber(tmp, taskFilePath(inbox, id))) {
        await fsyncDir(inbox);
        return id;
      }
    }
    throw new QueueError("QUEUE_IO", `could not find a free task id in ${inbox}`);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

function baseId(sourceName: string | undefined, now: number): string {
  if (sourceName !== undefined) {
    const name = path.basename(sourceName);
    const bare = name.endsWith(".md") ? name.slice(0, -3) : name;
    if (bare !== "" && bare !== "-") return isValidTaskId(bare) ? bare : sanitizeTaskId(bare);
  }
  return `${stamp(now)}-${randomBytes(3).toString("hex")}`;
}

// An id is taken while any folder holds it: reusing it would mix two tasks in status.json and the logs.
async function isTaken(root: string, project: string, id: string): Promise<boolean> {
  const checks = [taskPath(root, project, "inbox", id), markerPath(root, project, id), ...(["active", "done", "failed"] as const).map((f) => taskPath(root, project, f, id))];
  for (const p of checks) if (await pathExists(p)) return true;
  return false;
}

// link(2) then the caller unlinks the temp; false when the name exists. Falls back to check-then-rename where links are not supported.
async function placeNoClobber(tmp: string, target: string): Promise<boolean> {
  try {
    await link(tmp, target);
    return true;
  } catch (err) {
    const code = errnoOf(err);
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw err;
  }
  if (await pathExists(target)) return false;
  await rename(tmp, target);
  return true;
}

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
}
