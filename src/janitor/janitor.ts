import { lstat, readdir, unlink } from "node:fs/promises";
import path from "node:path";
import { isTempName } from "../lib/atomic-fs.js";
import type { Clock } from "../lib/clock.js";
import { describeError, isNotFound } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { PeriodicLoop } from "../lib/loop.js";
import { FOLDERS, folderPath, type Folder } from "../queue/layout.js";
import { sweepWorktrees, type WorktreeSweep, type WorktreeSweepDeps } from "./worktrees.js";

export interface JanitorSettings {
  intervalMs: number;
  doneRetentionMs: number;
  failedRetentionMs: number;
  /** events.jsonl is rotated past this size. */
  eventsMaxBytes: number;
}

export interface JanitorDeps {
  queueRoot: string;
  projects: readonly string[];
  stateDir: string;
  clock: Clock;
  log: Logger;
  settings: JanitorSettings;
  /** Rotates events.jsonl through its owner (so no append races the rename). */
  rotateEvents: (maxBytes: number) => Promise<boolean>;
  /** Task worktrees: finished, clean ones are removed; see worktrees.ts for the rules. */
  worktrees?: WorktreeSweepDeps;
}

export interface JanitorReport {
  pruned: string[];
  tempFiles: string[];
  spoolRejected: string[];
  rotated: boolean;
  worktrees?: WorktreeSweep;
}

/** A temp file nobody finishes writing after this long was left by a crash. */
const STALE_TEMP_MS = 3_600_000;
/** Spool files that were not valid envelopes are kept this long for a post-mortem. */
const REJECTED_SPOOL_MS = 7 * 86_400_000;

/**
 * Housekeeping (contract §7): prunes done/ and failed/ past their retention, rotates events.jsonl, removes
 * temp files a crash left, and old rejected hook-spool files. It only ever deletes regular files whose
 * names it recognises inside those folders; anything else (links, folders, unknown names) is left.
 */
export class Janitor {
  private readonly loop: PeriodicLoop;

  constructor(private readonly d: JanitorDeps) {
    this.loop = new PeriodicLoop({ name: "janitor", intervalMs: d.settings.intervalMs, clock: d.clock, log: d.log, tick: async () => void (await this.sweep()) });
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  async sweep(): Promise<JanitorReport> {
    const now = this.d.clock.now();
    const report: JanitorReport = { pruned: [], tempFiles: [], spoolRejected: [], rotated: false };
    for (const project of this.d.projects) {
      const dir = (f: Folder): string => folderPath(this.d.queueRoot, project, f);
      report.pruned.push(...(await this.remove(dir("done"), (n) => n.endsWith(".md") && !n.startsWith("."), now - this.d.settings.doneRetentionMs)));
      report.pruned.push(...(await this.remove(dir("failed"), (n) => n.endsWith(".md") && !n.startsWith("."), now - this.d.settings.failedRetentionMs)));
      for (const f of FOLDERS) {
        report.tempFiles.push(...(await this.remove(dir(f), isTempName, now - STALE_TEMP_MS)));
      }
    }
    report.tempFiles.push(...(await this.remove(this.d.stateDir, isTempName, now - STALE_TEMP_MS)));
    report.spoolRejected.push(...(await this.remove(path.join(this.d.stateDir, "hook-spool", "rejected"), () => true, now - REJECTED_SPOOL_MS)));
    report.tempFiles.push(...(await this.remove(path.join(this.d.stateDir, "hook-spool"), isTempName, now - STALE_TEMP_MS)));
    if (this.d.worktrees) report.worktrees = await sweepWorktrees(this.d.worktrees);
    try {
      report.rotated = await this.d.rotateEvents(this.d.settings.eventsMaxBytes);
    } catch (err) {
      this.d.log.warn({ err: describeError(err) }, "events.jsonl not rotated");
    }
    if (report.pruned.length + report.tempFiles.length + report.spoolRejected.length > 0 || report.rotated) {
      this.d.log.info({ pruned: report.pruned.length, temp_files: report.tempFiles.length, spool_rejected: report.spoolRejected.length, rotated: report.rotated }, "janitor swept");
    }
    return report;
  }

  /** Deletes the regular files in `dir` whose name matches and whose mtime is before `before`. */
  private async remove(dir: string, match: (name: string) => boolean, before: number): Promise<string[]> {
    const removed: string[] = [];
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter(match)) {
      const file = path.join(dir, name);
      try {
        const st = await lstat(file);
        if (!st.isFile() || st.mtimeMs >= before) continue;
        await unlink(file);
        removed.push(file);
      } catch (err) {
        if (!isNotFound(err)) this.d.log.warn({ file, err: describeError(err) }, "janitor could not remove a file");
      }
    }
    return removed;
  }
}
