import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { link, mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { AppError, describeError, errnoOf, isNotFound } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";

/** What a lock file holds: who holds it, and when that process started (so a reused pid is not taken for it). */
export interface LockRecord {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); null where /proc is not there. */
  start: string | null;
  since: string;
}

/** Another live daemon holds the lock. */
export class LockHeldError extends AppError {
  constructor(readonly file: string, readonly holder: LockRecord) {
    super("LOCK_HELD", `another claude-failover (pid ${holder.pid}, running since ${holder.since}) holds ${file}; stop it first, or give this one its own state_dir`);
  }
}

/** How the lock sees processes: the real /proc and kill(0), or fakes in tests. */
export interface ProcessProbe {
  pid: number;
  /** The start time of `pid` as recorded in LockRecord.start, or null when it cannot be read (no /proc). */
  startTime(pid: number): string | null;
  /** Whether a process with this pid exists (EPERM counts: it exists under another user). */
  exists(pid: number): boolean;
}

export const realProcessProbe: ProcessProbe = {
  pid: process.pid,
  startTime: readProcStartTime,
  exists(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return errnoOf(err) === "EPERM";
    }
  },
};

/** Field 22 of /proc/<pid>/stat; the command name in field 2 may hold spaces and parentheses, so count from its last ')'. */
export function readProcStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** The record in a lock file, or undefined when it is empty, half-written or not ours. */
export function parseLockRecord(text: string): LockRecord | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockRecord>;
    if (typeof v !== "object" || v === null) return undefined;
    if (!Number.isInteger(v.pid) || (v.pid ?? 0) <= 0) return undefined;
    if (v.start !== null && typeof v.start !== "string") return undefined;
    return { pid: v.pid!, start: v.start, since: typeof v.since === "string" ? v.since : "an unknown time" };
  } catch {
    return undefined;
  }
}

/** Whether the process named in `record` is still the one that wrote it. */
function holderAlive(record: LockRecord, probe: ProcessProbe): boolean {
  if (!probe.exists(record.pid)) return false;
  if (record.start === null) return true;
  const now = probe.startTime(record.pid);
  // Same pid, other start time: the pid was reused by an unrelated process.
  return now === null || now === record.start;
}

export interface HeldLock {
  file: string;
  /** Removes the lock file if it is still ours. Safe to call twice. */
  release(): Promise<void>;
}

export interface LockOptions {
  file: string;
  log: Logger;
  probe?: ProcessProbe;
  now?: () => number;
}

/**
 * Takes an exclusive lock file for one daemon. The record is written aside then hard-linked into
 * place, so the lock file is never seen half-written; link fails if one exists. A lock whose holder
 * is gone (dead pid, or the pid reused by another process) or that is unreadable is taken over, with
 * a log line. Throws LockHeldError when a live daemon holds it.
 */
export async function acquireLock(o: LockOptions): Promise<HeldLock> {
  const probe = o.probe ?? realProcessProbe;
  const mine: LockRecord = { pid: probe.pid, start: probe.startTime(probe.pid), since: new Date((o.now ?? Date.now)()).toISOString() };
  const text = JSON.stringify(mine) + "\n";
  // A `.…tmp` name: if a kill lands before the unlink below, the janitor removes the leftover.
  const temp = path.join(path.dirname(o.file), `.${path.basename(o.file)}.${randomBytes(6).toString("hex")}.tmp`);
  await writeFile(temp, text, { mode: 0o600, flag: "wx" });
  try {
    // Two rounds: the first may find a stale lock and move it aside; the second must then win.
    for (let round = 0; round < 2; round++) {
      try {
        await link(temp, o.file);
        return held(o.file, text);
      } catch (err) {
        if (errnoOf(err) !== "EEXIST") throw err;
      }
      const found = await readFile(o.file, "utf8").catch(() => undefined);
      if (found === undefined) continue; // removed meanwhile: try again
      const record = parseLockRecord(found);
      if (record && holderAlive(record, probe)) throw new LockHeldError(o.file, record);
      await takeOver(o.file, found, record, o.log);
    }
    const record = parseLockRecord((await readFile(o.file, "utf8").catch(() => "")) ?? "");
    throw new LockHeldError(o.file, record ?? { pid: 0, start: null, since: "a moment ago" });
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/** Moves a stale lock aside, and puts it back if in the meantime it was replaced by a live one. */
async function takeOver(file: string, stale: string, record: LockRecord | undefined, log: Logger): Promise<void> {
  const aside = `${file}.stale-${randomBytes(6).toString("hex")}`;
  try {
    await rename(file, aside);
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  const moved = await readFile(aside, "utf8").catch(() => "");
  if (moved !== stale) {
    // Another starter replaced the stale lock between our read and our rename: that one is live.
    await link(aside, file).catch(() => undefined);
    await unlink(aside).catch(() => undefined);
    return;
  }
  await unlink(aside).catch(() => undefined);
  if (record) log.warn({ lock: file, holder_pid: record.pid, since: record.since }, "took over a stale lock: its daemon is gone");
  else log.warn({ lock: file, content: stale.slice(0, 80) }, "took over an unreadable lock file (half-written or not ours)");
}

function held(file: string, text: string): HeldLock {
  let released: Promise<void> | undefined;
  return {
    file,
    release: () => {
      released ??= (async () => {
        const now = await readFile(file, "utf8").catch(() => undefined);
        if (now === text) await unlink(file).catch((err: unknown) => { throw new AppError("LOCK_RELEASE_FAILED", `cannot remove ${file}: ${describeError(err)}`, { cause: err }); });
      })();
      return released;
    },
  };
}

/**
 * The lock keyed on a tmux server: beside its socket (`$TMUX_TMPDIR/tmux-<uid>/<name>`), so two daemons
 * with different state_dirs still cannot drive the same tmux server's sessions.
 */
export function tmuxLockFile(socket: string, env: NodeJS.ProcessEnv, uid: number = process.getuid?.() ?? 0): string {
  return path.join(env.TMUX_TMPDIR || "/tmp", `tmux-${uid}`, `${socket || "default"}.claude-failover.lock`);
}

/**
 * `<state_dir>/daemon.lock`, then the tmux server's lock when given; all or none. A live holder is a
 * StartupError-worthy LockHeldError naming its pid.
 */
export async function takeDaemonLocks(o: { stateDir: string; tmuxLock?: string | undefined; log: Logger; probe?: ProcessProbe }): Promise<HeldLock[]> {
  const files = [path.join(o.stateDir, "daemon.lock")];
  if (o.tmuxLock) {
    await mkdir(path.dirname(o.tmuxLock), { recursive: true, mode: 0o700 });
    files.push(o.tmuxLock);
  }
  const held: HeldLock[] = [];
  try {
    for (const file of files) held.push(await acquireLock({ file, log: o.log, ...(o.probe ? { probe: o.probe } : {}) }));
    return held;
  } catch (err) {
    for (const h of held.reverse()) await h.release().catch(() => undefined);
    throw err;
  }
}
