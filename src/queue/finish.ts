import { constants } from "node:fs";
import { copyFile, lstat, open, rename, unlink } from "node:fs/promises";
import path from "node:path";
import { fsyncDir, moveDurably } from "../lib/atomic-fs.js";
import { crashPoint } from "../lib/crash-points.js";
import { isNotFound, orIfMissing } from "../lib/errors.js";
import { formatAppendix, type FooterFields, type Outcome } from "./footer.js";
import { MAX_ID_LENGTH } from "./names.js";
import { doneSignalPath, pathExists, readTaskFile, stagedFilePath, taskFilePath, tempPathBeside, type OpenForRead } from "./layout.js";

/*
 * Finishing a task is three steps, each leaving the task in exactly one place (Q1):
 *   1. stage:   active/<id>.md + appendix → active/<id>.md.to-done|.to-failed (temp, fsync, rename, fsync);
 *   2. drop:    unlink active/<id>.md (and the <id>.done signal), fsync active/;
 *   3. publish: rename the staged file into done/ or failed/ under a name nothing else holds, fsync both.
 * After a crash, a staged file is unambiguous evidence of a finished task, so recovery completes steps 2–3.
 * Writing done/<id>.md first and deleting active/ second would leave an id in two folders, and a stale
 * done/<id>.md from an earlier run of the same id could then not be told apart from the crashed one.
 */

export interface FinishContent {
  outcome: Outcome;
  /** Result text (done) or the full failure reason (failed). */
  body: string;
  /** One-line reason for the footer (failed only). */
  reason?: string;
  fields: FooterFields & { finishedAt: number };
}

/** Step 1. Returns false when active/<id>.md is gone. */
export async function stageFinished(activeDir: string, id: string, content: FinishContent, openFile?: OpenForRead): Promise<boolean> {
  const staged = await stageWithAppendix({ source: taskFilePath(activeDir, id), staged: (o) => stagedFilePath(activeDir, id, o), what: "entry" }, content, openFile);
  if (staged) crashPoint("finish-staged");
  return staged;
}

/** Where a file to finish lies and where its staged copy goes, beside it (the queue's active/, the delegation's markers). */
export interface StageNames {
  /** The file to finish. */
  source: string;
  /** The staged copy's path for each outcome, in the source's folder. */
  staged: (outcome: Outcome) => string;
  /** What the file is called in the note left for a link or a special file. */
  what: string;
}

/**
 * The stage step shared by every finish: the source's bytes (copied, never loaded: an oversized file keeps
 * every byte) plus the result or failure section and the footer, written to a temp file, fsynced, renamed
 * to the staged name, the folder fsynced. Returns false when the source is gone.
 */
export async function stageWithAppendix(names: StageNames, content: FinishContent, openFile?: OpenForRead): Promise<boolean> {
  const source = names.source;
  const dir = path.dirname(source);
  const staged = names.staged(content.outcome);
  const tmp = tempPathBeside(source);
  const read = await readTaskFile(source, openFile);
  if (read.kind === "missing") return false;
  try {
    let endsWithNewline = true;
    // A link's or a special file's "content" is not a task's: record what it was instead of reading through it.
    // An unreadable file's bytes cannot be copied: the note stands in for them.
    const note = read.kind === "symlink"
      ? `(This ${names.what} was a symbolic link to \`${read.target}\`. It was not followed; its target was left alone.)`
      : read.kind === "special" ? `(This ${names.what} was a ${read.type}, not a regular file; it was not read.)`
      : read.kind === "unreadable" ? `(This ${names.what} could not be read (${read.reason}); its text is not kept here.)` : undefined;
    if (note !== undefined) {
      const h = await open(tmp, "wx", 0o600);
      try {
        await h.writeFile(`${note}\n`);
      } finally {
        await h.close();
      }
    } else {
      await copyFile(source, tmp, constants.COPYFILE_EXCL);
      endsWithNewline = await endsWithLineBreak(tmp);
    }
    const appendix = formatAppendix(content.outcome, content.body, content.fields, endsWithNewline, content.reason);
    const h = await open(tmp, "a");
    try {
      await h.writeFile(appendix);
      await h.sync();
    } finally {
      await h.close();
    }
    await rename(tmp, staged);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dir);
  // The other outcome's staged file can only be a leftover of an interrupted finish; this one supersedes it.
  await unlinkIfPresent(names.staged(content.outcome === "done" ? "failed" : "done"));
  return true;
}

/** Step 2: the claimed file and its optional `<id>.done` signal leave active/. */
export async function dropClaimed(activeDir: string, id: string): Promise<void> {
  await unlinkIfPresent(taskFilePath(activeDir, id));
  await unlinkIfPresent(doneSignalPath(activeDir, id));
  await fsyncDir(activeDir);
  crashPoint("finish-unlinked");
}

/** Step 3. Returns the file name the task got in done/ or failed/. */
export async function publishStaged(activeDir: string, destDir: string, id: string, outcome: Outcome, now: number): Promise<string> {
  const name = await freeName(destDir, id, now);
  await moveDurably(stagedFilePath(activeDir, id, outcome), path.join(destDir, name));
  return name;
}

/**
 * `<id>.md`, or `<id>-<UTC stamp>[-n].md` when that name is taken: finished work is never overwritten
 * (rename would replace it silently). Only the daemon writes these folders, under its per-project lock.
 */
export async function freeName(dir: string, id: string, now: number): Promise<string> {
  return `${await freeId(id, now, (candidate) => pathExists(taskFilePath(dir, candidate)))}.md`;
}

/**
 * `base` if not taken, else the first free `base-<UTC stamp>[-n]`, `base` cut short when needed so the
 * suffixed id stays within MAX_ID_LENGTH (a longer one would be refused, or skipped, wherever it goes next).
 */
export async function freeId(base: string, now: number, isTaken: (id: string) => Promise<boolean>): Promise<string> {
  if (!(await isTaken(base))) return base;
  const stamp = new Date(now).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
  for (let n = 1; ; n++) {
    const suffix = n === 1 ? `-${stamp}` : `-${stamp}-${n}`;
    const id = `${base.slice(0, MAX_ID_LENGTH - suffix.length)}${suffix}`;
    if (!(await isTaken(id))) return id;
  }
}

/** Which outcome's staged file exists for `id` (the newer one if, after a crash, both do). */
export async function findStaged(activeDir: string, id: string): Promise<Outcome | undefined> {
  const times: { outcome: Outcome; mtime: number }[] = [];
  for (const outcome of ["done", "failed"] as const) {
    try {
      const st = await lstat(stagedFilePath(activeDir, id, outcome));
      times.push({ outcome, mtime: st.mtimeMs });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  times.sort((a, b) => b.mtime - a.mtime);
  return times[0]?.outcome;
}

/** Removes `file`; false when it was not there. */
export async function unlinkIfPresent(file: string): Promise<boolean> {
  return orIfMissing(unlink(file).then(() => true), false);
}

async function endsWithLineBreak(file: string): Promise<boolean> {
  const h = await open(file, "r");
  try {
    const { size } = await h.stat();
    if (size === 0) return true;
    const buf = Buffer.alloc(1);
    await h.read(buf, 0, 1, size - 1);
    return buf[0] === 0x0a;
  } finally {
    await h.close();
  }
}
