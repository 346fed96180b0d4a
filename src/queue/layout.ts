import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { lstat, open, readdir, readlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { describeError, errnoOf, orIfMissing } from "../lib/errors.js";
import type { Outcome } from "./footer.js";
import { MARKER_STAGED_SUFFIX, MARKER_SUFFIX, STAGED_SUFFIX } from "./names.js";
import { MAX_TASK_BYTES } from "./task.js";

export const FOLDERS = ["inbox", "active", "done", "failed"] as const;
export type Folder = (typeof FOLDERS)[number];

/** `<root>/<project>/<folder>`; callers validate the project name first. */
export function folderPath(root: string, project: string, folder: Folder): string {
  return path.join(root, project, folder);
}

/** `<root>/<project>/{inbox,active,done,failed}`: the four folders of one project. */
export function projectFolders(root: string, project: string): Record<Folder, string> {
  const at = (folder: Folder): string => folderPath(root, project, folder);
  return { inbox: at("inbox"), active: at("active"), done: at("done"), failed: at("failed") };
}

/** `<dir>/<id>.md`: task `id` in one of a project's folders. */
export function taskFilePath(dir: string, id: string): string {
  return path.join(dir, `${id}.md`);
}

/** `<inbox>/<id>.md.delegated`: the marker that stands for a delegated task in its inbox. */
export function markerFilePath(inbox: string, id: string): string {
  return path.join(inbox, `${id}${MARKER_SUFFIX}`);
}

/** `<root>/<project>/<folder>/<id>.md`; callers validate the project name and id first. */
export function taskPath(root: string, project: string, folder: Folder, id: string): string {
  return taskFilePath(folderPath(root, project, folder), id);
}

/** `<root>/<project>/inbox/<id>.md.delegated`. */
export function markerPath(root: string, project: string, id: string): string {
  return markerFilePath(folderPath(root, project, "inbox"), id);
}

/** `<active>/<id>.done`: the optional "finished" signal an agent or a script leaves beside a claimed task. */
export function doneSignalPath(activeDir: string, id: string): string {
  return path.join(activeDir, `${id}.done`);
}

/** `<active>/<id>.md.to-done|.to-failed`: a task's finish staged beside it until it is published (finish.ts). */
export function stagedFilePath(activeDir: string, id: string, outcome: Outcome): string {
  return path.join(activeDir, `${id}${STAGED_SUFFIX[outcome]}`);
}

/** `<inbox>/<id>.md.delegated.to-done|.to-failed`: a delegated task's finish staged beside its marker. */
export function stagedMarkerPath(inbox: string, id: string, outcome: Outcome): string {
  return path.join(inbox, `${id}${MARKER_STAGED_SUFFIX[outcome]}`);
}

/**
 * `<dir>/.<name>.<8 hex>.tmp` beside `file`: where its bytes are written before a rename or link puts them in
 * place. A dot-file, so never read as a task; recovery removes what a crash left.
 */
export function tempPathBeside(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString("hex")}.tmp`);
}

/** The names in a folder; a missing folder is empty (a project whose layout is not made yet). */
export async function listNames(dir: string): Promise<string[]> {
  return orIfMissing(readdir(dir), []);
}

/** True when something (a file, a link, even a dangling one) sits at `p`. */
export async function pathExists(p: string): Promise<boolean> {
  return orIfMissing(lstat(p).then(() => true), false);
}

export type TaskFileRead =
  | { kind: "file"; bytes: Uint8Array; mtimeMs: number }
  | { kind: "too-large"; size: number }
  | { kind: "symlink"; target: string }
  | { kind: "special"; type: string }
  /** It is there but cannot be opened or read (EACCES, EIO …): `reason` is the error's code. */
  | { kind: "unreadable"; reason: string }
  | { kind: "missing" };

/** How task files are opened for reading; the queue takes another one in tests (as root every file is readable). */
export type OpenForRead = (file: string) => Promise<FileHandle>;

/** Never follows a symlink (O_NOFOLLOW), never blocks on a FIFO (O_NONBLOCK). */
export const openNoFollow: OpenForRead = (file) => open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);

/**
 * Reads a task file without ever following a symlink (O_NOFOLLOW) or blocking on a FIFO (O_NONBLOCK),
 * and without reading more than MAX_TASK_BYTES: the file's type is what the open descriptor says, so a
 * link swapped in after a stat cannot redirect the read.
 */
export async function readTaskFile(file: string, openFile: OpenForRead = openNoFollow): Promise<TaskFileRead> {
  let handle;
  try {
    handle = await openFile(file);
  } catch (err) {
    const code = errnoOf(err);
    if (code === "ENOENT") return { kind: "missing" };
    if (code === "ELOOP" || code === "EMLINK") return { kind: "symlink", target: await readlink(file).catch(() => "?") };
    if (code === "ENXIO") return { kind: "special", type: "socket" };
    return unreadable(err);
  }
  try {
    return await readOpened(handle);
  } catch (err) {
    // A file that is there but cannot be read is bad input, filed (Q2), not a fault retried forever.
    return unreadable(err);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

// The process's own shortages say nothing about the file: they stay faults, tried again later.
const TRANSIENT = new Set(["EMFILE", "ENFILE", "ENOMEM", "EAGAIN", "EINTR"]);

function unreadable(err: unknown): TaskFileRead {
  const code = errnoOf(err);
  if (code !== undefined && TRANSIENT.has(code)) throw err;
  return { kind: "unreadable", reason: code ?? describeError(err) };
}

async function readOpened(handle: FileHandle): Promise<TaskFileRead> {
  const st = await handle.stat();
  if (!st.isFile()) return { kind: "special", type: describeType(st) };
  if (st.size > MAX_TASK_BYTES) return { kind: "too-large", size: st.size };
  // One byte more than the limit: a file that grew since the stat is still caught.
  const buf = Buffer.alloc(MAX_TASK_BYTES + 1);
  let n = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buf, n, buf.length - n, n);
    if (bytesRead === 0) break;
    n += bytesRead;
    if (n === buf.length) return { kind: "too-large", size: n };
  }
  return { kind: "file", bytes: buf.subarray(0, n), mtimeMs: st.mtimeMs };
}

/** Reads at most `max` bytes from the start of a regular file (never following links); undefined otherwise. */
export function readHead(file: string, max: number): Promise<Buffer | undefined> {
  return readEnd(file, max, "head");
}

/**
 * The first `max` bytes of an inbox file for the scan (never through a link): undefined when it is gone or
 * not a regular file, `unreadable` with the error's code when it is there but cannot be read.
 */
export async function peekTaskFile(file: string, max: number, openFile: OpenForRead = openNoFollow): Promise<Buffer | { unreadable: string } | undefined> {
  let handle;
  try {
    handle = await openFile(file);
  } catch (err) {
    const code = errnoOf(err);
    if (code === "ENOENT" || code === "ELOOP" || code === "EMLINK" || code === "ENXIO") return undefined;
    const read = unreadable(err);
    return read.kind === "unreadable" ? { unreadable: read.reason } : undefined;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) return undefined;
    const buf = Buffer.alloc(Math.min(max, st.size));
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } catch (err) {
    const read = unreadable(err);
    return read.kind === "unreadable" ? { unreadable: read.reason } : undefined;
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** The last `max` bytes of a regular file (never through a link); undefined when it cannot be read. */
export function readTail(file: string, max: number): Promise<Buffer | undefined> {
  return readEnd(file, max, "tail");
}

async function readEnd(file: string, max: number, end: "head" | "tail"): Promise<Buffer | undefined> {
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) return undefined;
    const buf = Buffer.alloc(Math.min(max, st.size));
    const { bytesRead } = await handle.read(buf, 0, buf.length, end === "head" ? 0 : Math.max(0, st.size - buf.length));
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function describeType(st: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (st.isDirectory()) return "directory";
  if (st.isFIFO()) return "named pipe";
  if (st.isSocket()) return "socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "device";
  return "special file";
}
