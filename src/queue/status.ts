import { lstat } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../lib/atomic-fs.js";
import { formatIso, parseFooter } from "./footer.js";
import { folderPath, listNames, readHead, readTail, type Folder } from "./layout.js";
import { isDelegatedName, isIgnoredInboxName, MARKER_SUFFIX, parseStagedName } from "./names.js";
import { compareEntries, peekHeader } from "./scan.js";
import type { Priority } from "./task.js";

export interface QueueCounts {
  inbox: number;
  active: number;
  delegated: number;
  done: number;
  failed: number;
}

/** The state names of status.json: the prototype's, which its shell tooling and watchdog read. */
export type StatusState = "queued" | "dispatched" | "delegated_to_secutools" | "done" | "failed";

/** One task's entry in status.json, as the daemon (which owns sessions and attempts) knows it. */
export interface TaskStatusInput {
  state: StatusState;
  session?: string;
  account?: string;
  attempts: number;
  /** Epoch ms at which the task entered this state. */
  since: number;
}

/** Finished tasks stay in status.json this long (contract §4). */
export const FINISHED_LISTED_MS = 24 * 3_600_000;

/** Counts one project's folders with readdir only (no stat, no read). A staged finish still counts as active. */
export async function countProject(root: string, project: string): Promise<QueueCounts> {
  const [inbox, active, done, failed] = await Promise.all(
    (["inbox", "active", "done", "failed"] as const).map((f) => listNames(folderPath(root, project, f))),
  );
  const isTask = (n: string): boolean => !n.startsWith(".") && n.endsWith(".md");
  const isStaged = (n: string): boolean => parseStagedName(n) !== undefined;
  return {
    inbox: inbox!.filter((n) => !isIgnoredInboxName(n)).length,
    active: active!.filter((n) => isTask(n) || isStaged(n)).length,
    delegated: inbox!.filter(isDelegatedName).length,
    done: done!.filter(isTask).length,
    failed: failed!.filter(isTask).length,
  };
}

/** Writes `<root>/<project>/status.json` atomically in the contract §4 shape; finished tasks older than 24 h are left out. */
export async function writeProjectStatus(
  root: string,
  project: string,
  counts: QueueCounts,
  tasks: Readonly<Record<string, TaskStatusInput>>,
  now: number,
): Promise<void> {
  const listed: Record<string, Record<string, string | number>> = {};
  for (const id of Object.keys(tasks).sort()) {
    const t = tasks[id]!;
    if ((t.state === "done" || t.state === "failed") && now - t.since > FINISHED_LISTED_MS) continue;
    const entry: Record<string, string | number> = { state: t.state };
    if (t.session !== undefined) entry.session = t.session;
    if (t.account !== undefined) entry.account = t.account;
    entry.attempts = t.attempts;
    entry.since = formatIso(t.since);
    listed[id] = entry;
  }
  const doc = {
    project,
    updated_at: formatIso(now),
    counts: { inbox: counts.inbox, active: counts.active, delegated: counts.delegated, done: counts.done, failed: counts.failed },
    tasks: listed,
  };
  await writeFileAtomic(path.join(root, project, "status.json"), `${JSON.stringify(doc, null, 2)}\n`);
}

export type ListedState = Folder | "delegated";

/** A task as `claude-failover queue` shows it. */
export interface TaskListing {
  project: string;
  id: string;
  state: ListedState;
  title?: string;
  priority: Priority;
  /** Since the file's mtime: submission for waiting tasks, the finish for done/failed ones. */
  ageMs: number;
  /** The file name in its folder. */
  file: string;
  /** A worktree task's branch: from the footer of a done/failed file (a caller adds it for active ones). */
  branch?: string;
}

const STATE_ORDER: ListedState[] = ["active", "inbox", "delegated", "failed", "done"];

/**
 * Every task of a project with its title, priority and age, read from the first bytes of each file only.
 * Waiting tasks come in dispatch order; `finishedLimit` keeps only the most recent done/failed ones.
 */
export async function listProjectTasks(root: string, project: string, now: number, finishedLimit = Infinity): Promise<TaskListing[]> {
  const out: TaskListing[] = [];
  for (const state of STATE_ORDER) {
    const dir = folderPath(root, project, state === "delegated" ? "inbox" : state);
    const names = (await listNames(dir)).filter((n) => {
      if (state === "delegated") return isDelegatedName(n);
      if (state === "inbox") return !isIgnoredInboxName(n);
      return !n.startsWith(".") && n.endsWith(".md");
    });
    let stats: { name: string; file: string; isFile: boolean; mtimeMs: number }[] = [];
    for (const name of names) {
      const file = path.join(dir, name);
      try {
        const st = await lstat(file);
        stats.push({ name, file, isFile: st.isFile(), mtimeMs: st.mtimeMs });
      } catch {
        continue;
      }
    }
    // Finished tasks beyond the limit are never opened (done/ can hold thousands).
    if (state === "done" || state === "failed") stats = stats.sort((a, b) => b.mtimeMs - a.mtimeMs).slice(0, finishedLimit);
    const rows: (TaskListing & { mtimeMs: number })[] = [];
    for (const { name, file, isFile, mtimeMs } of stats) {
      const head = isFile ? await readHead(file, 4096) : undefined;
      const peek = head ? peekHeader(head.toString("utf8")) : { priority: "normal" as const };
      const id = name.slice(0, name.length - (state === "delegated" ? MARKER_SUFFIX.length : ".md".length));
      const row: TaskListing & { mtimeMs: number } = { project, id, state, priority: peek.priority, ageMs: Math.max(0, now - mtimeMs), file: name, mtimeMs };
      if (peek.title !== undefined) row.title = peek.title;
      if ((state === "done" || state === "failed") && isFile) {
        // The footer ends the file; its keys are short, one line each.
        const branch = parseFooter((await readTail(file, 2048))?.toString("utf8") ?? "")?.branch;
        if (branch) row.branch = branch;
      }
      rows.push(row);
    }
    if (state === "inbox") rows.sort((a, b) => compareEntries({ ...a, name: a.file }, { ...b, name: b.file }));
    else if (state !== "done" && state !== "failed") rows.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const { mtimeMs: _m, ...row } of rows) out.push(row);
  }
  return out;
}
