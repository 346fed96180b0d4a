import { QueueError } from "./errors.js";
import type { Outcome } from "./footer.js";

const NAME = /^[A-Za-z0-9._-]+$/;
/** Leaves room under the usual 255-byte file-name limit for `.md.to-failed`, temp prefixes and collision suffixes. */
export const MAX_ID_LENGTH = 200;
/** A delegated task's marker in its inbox: `<id>.md.delegated` (contract §4). */
export const MARKER_SUFFIX = ".md.delegated";
/** A finish staged in active/ until it is published (finish.ts): `<id>.md.to-done|.to-failed`. */
export const STAGED_SUFFIX: Record<Outcome, string> = { done: ".md.to-done", failed: ".md.to-failed" };
/** A delegated task's finish staged beside its marker in the inbox: `<id>.md.delegated.to-done|.to-failed`. */
export const MARKER_STAGED_SUFFIX: Record<Outcome, string> = { done: `${MARKER_SUFFIX}.to-done`, failed: `${MARKER_SUFFIX}.to-failed` };

/** A project name: [A-Za-z0-9._-]+, not `.` or `..` (contract §9). */
export function isValidProjectName(name: string): boolean {
  return NAME.test(name) && name !== "." && name !== ".." && name.length <= 128;
}

/** A task id: [A-Za-z0-9._-]+, not starting with a dot (dot-files are half-written drops), at most MAX_ID_LENGTH. */
export function isValidTaskId(id: string): boolean {
  return NAME.test(id) && !id.startsWith(".") && id.length <= MAX_ID_LENGTH;
}

/** Throws QUEUE_INVALID_NAME unless `name` is a valid project name; called before any path is built from it. */
export function assertProjectName(name: string): void {
  if (!isValidProjectName(name)) {
    throw new QueueError("QUEUE_INVALID_NAME", `invalid project name ${JSON.stringify(name)}: expected [A-Za-z0-9._-]+, not . or ..`);
  }
}

/** Throws QUEUE_INVALID_NAME unless `id` is a valid task id; called before any path is built from it. */
export function assertTaskId(id: string): void {
  if (!isValidTaskId(id)) {
    throw new QueueError(
      "QUEUE_INVALID_NAME",
      `invalid task id ${JSON.stringify(id)}: expected [A-Za-z0-9._-]+, not starting with a dot, at most ${MAX_ID_LENGTH} characters`,
    );
  }
}

/** Why a file name in an inbox cannot be a task id, or undefined when it can. */
export function describeBadId(fileName: string): string | undefined {
  const id = fileName.endsWith(".md") ? fileName.slice(0, -3) : fileName;
  if (isValidTaskId(id)) return undefined;
  if (id.length > MAX_ID_LENGTH) return `file name ${JSON.stringify(fileName)} is too long for a task id (at most ${MAX_ID_LENGTH} characters before .md)`;
  if (id === "") return `file name ${JSON.stringify(fileName)} has no id before .md`;
  return `file name ${JSON.stringify(fileName)} is not a valid task id: use only A-Z a-z 0-9 . _ - and do not start with a dot`;
}

/**
 * Names the daemon never treats as tasks: dot-files (Maildir drops in progress, `.#x` editor locks),
 * editor swap and backup files, and anything not ending in exactly `.md` (which includes `.md.delegated`).
 */
export function isIgnoredInboxName(name: string): boolean {
  if (name.startsWith(".")) return true;
  if (name.endsWith("~") || name.endsWith(".swp") || name.endsWith(".swx")) return true;
  if (name.startsWith("#") && name.endsWith("#")) return true;
  return !name.endsWith(".md");
}

/** A delegated task's marker in the inbox (`<id>.md.delegated`); such files belong to the delegation manager. */
export function isDelegatedName(name: string): boolean {
  return !name.startsWith(".") && name.endsWith(MARKER_SUFFIX);
}

/** The id and outcome a staged file's name stands for (`suffixes`: STAGED_SUFFIX, or MARKER_STAGED_SUFFIX for markers). */
export function parseStagedName(name: string, suffixes: Record<Outcome, string> = STAGED_SUFFIX): { id: string; outcome: Outcome } | undefined {
  for (const outcome of ["done", "failed"] as const) {
    const suffix = suffixes[outcome];
    if (name.endsWith(suffix) && !name.startsWith(".")) return { id: name.slice(0, -suffix.length), outcome };
  }
  return undefined;
}

export { isTempName } from "../lib/atomic-fs.js";

/** A temp file written beside a marker: `.<id>.md.delegated.<hex>.tmp` (tempPathBeside) or `.<id>.md.delegated.<pid>.<hex>.tmp` (writeFileAtomic). */
export function isMarkerTempName(name: string): boolean {
  return /^\..+\.md\.delegated\.(?:\d+\.)?[0-9a-f]{8}\.tmp$/.test(name);
}

/** A best-effort valid id made from any file name: bad characters become `_`, leading dots go. */
export function sanitizeTaskId(name: string): string {
  const base = name.endsWith(".md") ? name.slice(0, -3) : name;
  const cleaned = base.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "").slice(0, MAX_ID_LENGTH - 40);
  return cleaned === "" ? "task" : cleaned;
}
