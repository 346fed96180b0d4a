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

/** A task as the dashboard lists it: what `claude-failover queue` shows, less the branch. */
export interface BoardRow {
  id: string;
  state: ListedState;
  title?: string;
  priority: Priority;
  /** Submission for waiting and active tasks, the finish for done/failed ones. */
  mtimeMs: number;
}

export interface TaskBoardOptions {
  /** The queue root. */
  root: string;
  /** Waiting tasks listed per project, the first in dispatch order; the rest are counted, not listed. */
  waitingShown: number;
  /** The most recent done and failed tasks listed per project (each). */
  finishedShown: number;
  /** Reads a file's first bytes (tests count the reads). */
  readHead?: (file: string, max: number) => Promise<Buffer | undefined>;
}

interface Peek {
  mtimeMs: number;
  size: number;
  priority: Priority;
  title?: string;
}

/**
 * The dashboard's bounded view of each project's tasks, refreshed by the status pass from its inbox scan.
 * Kept between passes so a pass with 10,000 waiting tasks opens only the rows it lists and stats only the
 * finished files that are new since the last one: done/ can hold thousands.
 */
export class TaskBoard {
  private readonly rows = new Map<string, BoardRow[]>();
  /** Per project: every finished file already stat-ed, by folder and name. */
  private readonly finished = new Map<string, Record<"done" | "failed", Map<string, { mtimeMs: number; size: number }>>>();
  /** Per project: the first bytes of the files listed last time, by path. */
  private readonly heads = new Map<string, Map<string, Peek>>();
  private readonly readHead: (file: string, max: number) => Promise<Buffer | undefined>;

  constructor(private readonly o: TaskBoardOptions) {
    this.readHead = o.readHead ?? readHead;
  }

  /** The rows of a project's last refresh: active, waiting (dispatch order), delegated, failed, done. */
  list(project: string): readonly BoardRow[] {
    return this.rows.get(project) ?? [];
  }

  /** `waiting`: the project's inbox tasks in dispatch order, from the scan the caller has just made. */
  async refresh(project: string, waiting: readonly { name: string; priority: Priority; mtimeMs: number; size: number }[]): Promise<void> {
    const previous = this.heads.get(project) ?? new Map<string, Peek>();
    const next = new Map<string, Peek>();
    const peek = async (file: string, mtimeMs: number, size: number): Promise<Peek> => {
      const known = previous.get(file) ?? next.get(file);
      if (known && known.mtimeMs === mtimeMs && known.size === size) return (next.set(file, known), known);
      const head = await this.readHead(file, 4096);
      const got: Peek = { mtimeMs, size, ...(head ? peekHeader(head.toString("utf8")) : { priority: "normal" as const }) };
      next.set(file, got);
      return got;
    };
    const row = (id: string, state: ListedState, p: Peek, priority = p.priority): BoardRow =>
      ({ id, state, priority, mtimeMs: p.mtimeMs, ...(p.title !== undefined ? { title: p.title } : {}) });
    const out: BoardRow[] = [];
    const root = this.o.root;
    const inbox = folderPath(root, project, "inbox");
    const inboxNames = await listNames(inbox);
    const active = await statNames(folderPath(root, project, "active"), (await listNames(folderPath(root, project, "active"))).filter(isTaskName));
    for (const f of active.sort((a, b) => a.mtimeMs - b.mtimeMs)) out.push(row(f.name.slice(0, -3), "active", await peek(f.file, f.mtimeMs, f.size)));
    for (const w of waiting.slice(0, this.o.waitingShown)) {
      out.push(row(w.name.slice(0, -3), "inbox", await peek(path.join(inbox, w.name), w.mtimeMs, w.size), w.priority));
    }
    const markers = await statNames(inbox, inboxNames.filter(isDelegatedName));
    for (const f of markers.sort((a, b) => a.mtimeMs - b.mtimeMs)) out.push(row(f.name.slice(0, -MARKER_SUFFIX.length), "delegated", await peek(f.file, f.mtimeMs, f.size)));

    let seen = this.finished.get(project);
    if (!seen) this.finished.set(project, (seen = { done: new Map(), failed: new Map() }));
    for (const state of ["failed", "done"] as const) {
      const dir = folderPath(root, project, state);
      const names = new Set((await listNames(dir)).filter(isTaskName));
      const known = seen[state];
      for (const name of known.keys()) if (!names.has(name)) known.delete(name);
      // Only what arrived since the last pass is stat-ed.
      for (const f of await statNames(dir, [...names].filter((n) => !known.has(n)))) known.set(f.name, { mtimeMs: f.mtimeMs, size: f.size });
      const newest = [...known].sort((a, b) => b[1].mtimeMs - a[1].mtimeMs).slice(0, this.o.finishedShown);
      for (const [name, f] of newest) out.push(row(name.slice(0, -3), state, await peek(path.join(dir, name), f.mtimeMs, f.size)));
    }
    this.heads.set(project, next);
    this.rows.set(project, out);
  }
}

function isTaskName(n: string): boolean {
  return !n.startsWith(".") && n.endsWith(".md");
}

/** lstat of each name (regular files only; a name gone since the readdir is skipped). */
async function statNames(dir: string, names: readonly string[]): Promise<{ name: string; file: string; mtimeMs: number; size: number }[]> {
  const out: { name: string; file: string; mtimeMs: number; size: number }[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const st = await lstat(file).catch(() => undefined);
    if (st?.isFile()) out.push({ name, file, mtimeMs: st.mtimeMs, size: st.size });
  }
  return out;
}
