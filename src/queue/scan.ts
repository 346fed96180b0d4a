import { lstat, readdir } from "node:fs/promises";
import path from "node:path";
import { isNotFound } from "../lib/errors.js";
import { listNames, peekTaskFile, type OpenForRead } from "./layout.js";
import { describeBadId, isDelegatedName, isIgnoredInboxName, parseStagedName } from "./names.js";
import { MAX_TASK_BYTES, PRIORITIES, type Priority } from "./task.js";

/** A waiting task as the inbox listing sees it: no content parsed yet (that happens at claim). */
export interface InboxEntry {
  id: string;
  name: string;
  priority: Priority;
  mtimeMs: number;
  size: number;
  /**
   * Unchanged (inode, size, mtime) for the settle time: a file still being written in place is not
   * claimed at its first bytes.
   */
  settled: boolean;
}

/** An inbox entry that can never be a task (bad name, link, special file, too large, unreadable): to be failed at once. */
export interface InvalidEntry {
  name: string;
  reason: string;
}

export interface InboxScan {
  /** In dispatch order: priority (high, normal, low), then oldest mtime, then name. */
  tasks: InboxEntry[];
  invalid: InvalidEntry[];
  /** `<id>.md.delegated` markers, left to the delegation manager. */
  delegated: number;
  /** Ids waiting while a task with the same id is still active; they are listed again once it finishes. */
  blocked: string[];
  /** When some tasks are not settled yet: how long until the first of them is (ms). */
  settlesInMs?: number;
}

export interface InboxScannerOptions {
  /** The injected clock's now(). */
  now: () => number;
  /** How long a file must stay unchanged before it may be claimed; default SETTLE_MS. */
  settleMs?: number;
  /** How files are opened for their first bytes (layout.ts openNoFollow by default). */
  openFile?: OpenForRead;
}

/** A file must be unchanged for this long (or one scan older than that) before it is claimed. */
export const SETTLE_MS = 1_000;

// Enough for any frontmatter's priority line; the full parse happens at claim time.
const HEAD_BYTES = 4096;
// Parallel stats per scan: enough to hide latency, few enough not to exhaust file descriptors.
const STAT_CONCURRENCY = 64;

interface Peeked {
  ino: number;
  size: number;
  mtimeMs: number;
  priority: Priority;
  /** When this (inode, size, mtime) was first seen, on the injected clock. */
  since: number;
}

/**
 * Lists inboxes in dispatch order. Ordering needs each file's priority, which lives in its content: the first
 * 4 KiB of a file are read once per (inode, size, mtime) and remembered, so a rescan of 10,000 waiting tasks
 * costs one readdir and one lstat per file, and only new or changed files are opened.
 */
export class InboxScanner {
  private readonly cache = new Map<string, Map<string, Peeked>>();
  private readonly settleMs: number;

  constructor(private readonly o: InboxScannerOptions) {
    this.settleMs = o.settleMs ?? SETTLE_MS;
  }

  async scan(inboxDir: string, activeDir: string): Promise<InboxScan> {
    const result: InboxScan = { tasks: [], invalid: [], delegated: 0, blocked: [] };
    let dirents;
    try {
      dirents = await readdir(inboxDir, { withFileTypes: true });
    } catch (err) {
      if (isNotFound(err)) return result;
      throw err;
    }
    const busy = await activeIds(activeDir);
    const previous = this.cache.get(inboxDir) ?? new Map<string, Peeked>();
    const next = new Map<string, Peeked>();
    const candidates: string[] = [];
    for (const d of dirents) {
      const name = d.name;
      if (isDelegatedName(name)) {
        result.delegated++;
        continue;
      }
      if (isIgnoredInboxName(name) || d.isDirectory()) continue;
      const badId = describeBadId(name);
      if (badId !== undefined) result.invalid.push({ name, reason: badId });
      else if (d.isSymbolicLink()) result.invalid.push({ name, reason: "is a symbolic link; tasks must be regular files (links are never followed)" });
      else if (!d.isFile()) result.invalid.push({ name, reason: "is not a regular file" });
      else if (busy.has(name.slice(0, -3))) result.blocked.push(name.slice(0, -3));
      else candidates.push(name);
    }
    const now = this.o.now();
    for (let i = 0; i < candidates.length; i += STAT_CONCURRENCY) {
      const batch = candidates.slice(i, i + STAT_CONCURRENCY);
      const entries = await Promise.all(batch.map((name) => this.entryFor(inboxDir, name, previous, now)));
      for (const e of entries) {
        if (e === undefined) continue;
        if ("reason" in e) {
          result.invalid.push(e);
          continue;
        }
        next.set(e.name, { ino: e.ino, size: e.size, mtimeMs: e.mtimeMs, priority: e.priority, since: e.since });
        const left = e.since + this.settleMs - now;
        if (left > 0) result.settlesInMs = Math.min(result.settlesInMs ?? left, left);
        result.tasks.push({ id: e.name.slice(0, -3), name: e.name, priority: e.priority, mtimeMs: e.mtimeMs, size: e.size, settled: left <= 0 });
      }
    }
    this.cache.set(inboxDir, next);
    result.tasks.sort(compareEntries);
    result.invalid.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return result;
  }

  private async entryFor(
    dir: string,
    name: string,
    previous: Map<string, Peeked>,
    now: number,
  ): Promise<(Peeked & { name: string }) | InvalidEntry | undefined> {
    const file = path.join(dir, name);
    let st;
    try {
      st = await lstat(file);
    } catch (err) {
      // Claimed or removed since the readdir: not ours to list any more.
      if (isNotFound(err)) return undefined;
      throw err;
    }
    if (st.isSymbolicLink()) return { name, reason: "is a symbolic link; tasks must be regular files (links are never followed)" };
    if (!st.isFile()) return { name, reason: "is not a regular file" };
    if (st.size > MAX_TASK_BYTES) return { name, reason: `larger than 1 MiB (${st.size} bytes)` };
    const cached = previous.get(name);
    if (cached && cached.ino === st.ino && cached.size === st.size && cached.mtimeMs === st.mtimeMs) return { ...cached, name };
    const head = await peekTaskFile(file, HEAD_BYTES, this.o.openFile);
    // Claiming it would only find the same error: it is filed now, with the reason.
    if (head !== undefined && "unreadable" in head) return { name, reason: `cannot be read (${head.unreadable})` };
    const priority = head === undefined ? "normal" : peekHeader(head.toString("utf8")).priority;
    // New, or changed since the last scan: its settle time starts now.
    return { name, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, priority, since: now };
  }
}

/** Dispatch order: priority, then oldest first (mtime), then name. */
export function compareEntries(a: Pick<InboxEntry, "priority" | "mtimeMs" | "name">, b: Pick<InboxEntry, "priority" | "mtimeMs" | "name">): number {
  const p = PRIORITIES.indexOf(a.priority) - PRIORITIES.indexOf(b.priority);
  if (p !== 0) return p;
  if (a.mtimeMs !== b.mtimeMs) return a.mtimeMs - b.mtimeMs;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * A quick look at `priority` and `title` in a file's first bytes, without a YAML parse: good enough to order
 * and list tasks; a malformed file is ordered as normal and refused, with its reason, when claimed.
 */
export function peekHeader(text: string): { priority: Priority; title?: string } {
  const out: { priority: Priority; title?: string } = { priority: "normal" };
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  if (!/^---\r?\n/.test(body)) return out;
  for (const line of body.split(/\r?\n/).slice(1)) {
    if (/^---[ \t]*$/.test(line)) break;
    const m = /^(priority|title):[ \t]*(.*)$/.exec(line);
    if (!m) continue;
    const value = unquote(m[2]!);
    if (m[1] === "priority" && (PRIORITIES as readonly string[]).includes(value)) out.priority = value as Priority;
    if (m[1] === "title" && value !== "") out.title = value;
  }
  return out;
}

function unquote(raw: string): string {
  const v = raw.trim();
  const q = /^(["'])(.*?)\1(?:[ \t]+#.*)?$/.exec(v);
  if (q) return q[2]!;
  // An unquoted YAML value ends at " #" (a comment).
  const hash = v.search(/[ \t]#/);
  return (hash === -1 ? v : v.slice(0, hash)).trim();
}

// Ids in active/: claimed tasks and staged finishes (both still own their id).
async function activeIds(activeDir: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const name of await listNames(activeDir)) {
    if (name.startsWith(".")) continue;
    if (name.endsWith(".md")) ids.add(name.slice(0, -3));
    const staged = parseStagedName(name);
    if (staged) ids.add(staged.id);
  }
  return ids;
}
