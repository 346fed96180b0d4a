import { access, lstat, stat } from "node:fs/promises";
import path from "node:path";
import { ensureDir, moveDurably } from "../lib/atomic-fs.js";
import type { Clock } from "../lib/clock.js";
import { withProjectLock } from "./inbox-lock.js";
import { describeError, errnoOf, isNotFound, orIfMissing } from "../lib/errors.js";
import { isDirectory } from "../lib/fs.js";
import type { Logger } from "../lib/logger.js";
import { QueueError, RejectionStuckError } from "./errors.js";
import { dropClaimed, findStaged, freeId, publishStaged, stageFinished, unlinkIfPresent, type FinishContent } from "./finish.js";
import type { FooterFields, Outcome } from "./footer.js";
import { doneSignalPath, FOLDERS, folderPath, listNames, markerFilePath, pathExists, readTaskFile, stagedFilePath, taskFilePath, type Folder, type OpenForRead } from "./layout.js";
import { assertProjectName, assertTaskId, isTempName, isValidProjectName, isValidTaskId, parseStagedName, sanitizeTaskId } from "./names.js";
import { InboxScanner, type InboxScan } from "./scan.js";
import { countProject, listProjectTasks, writeProjectStatus, type QueueCounts, type TaskListing, type TaskStatusInput } from "./status.js";
import { parseTask, type ParseResult, type Task } from "./task.js";

export interface TaskQueueDeps {
  /** `queue.root`, absolute. */
  root: string;
  /** `queue.projects`: project name → working directory (absolute). */
  projects: Readonly<Record<string, string>>;
  clock: Clock;
  log: Logger;
  /** How long an inbox file must stay unchanged before it is claimed (scan.ts SETTLE_MS by default). */
  settleMs?: number;
  /** How task files are opened for reading (layout.ts openNoFollow by default); tests make files unreadable with it. */
  openFile?: OpenForRead;
}

export type ClaimResult =
  | { status: "claimed"; task: Task }
  /** The file left the inbox before we could take it (another claimer, the delegation manager, the operator). */
  | { status: "gone" }
  /** A task with this id is still active; the newcomer waits in the inbox. */
  | { status: "busy" }
  /** It could not be a task (Q2): it is now in failed/ under `file` with `reason`. */
  | { status: "rejected"; reason: string; file: string };

export interface FinishResult {
  outcome: Outcome;
  /** The file name in done/ or failed/ (`<id>.md`, or suffixed when that name was taken). */
  file: string;
}

export interface ActiveEntry {
  project: string;
  id: string;
  /** Absolute path of active/<id>.md. */
  path: string;
}

export interface RecoveryReport {
  /** Finishes interrupted by a crash, completed now. */
  finished: { project: string; id: string; outcome: Outcome; file: string }[];
  /** Temp files of interrupted writes removed from the project folder, active/, done/ and failed/. */
  tempFilesRemoved: number;
  /** Ids held by two folders as different tasks (e.g. a re-run of a finished id); all copies are kept. */
  sharedIds: { project: string; id: string; folders: Folder[] }[];
}

/**
 * The on-disk queue of contract §4: `<root>/<project>/{inbox,active,done,failed}`. Every move is one rename followed
 * by an fsync of both folders; finishing a task goes through a staged file (see finish.ts) so that at every
 * instant a task sits in exactly one place (Q1). Operations on one project are serialised in-process; one daemon
 * owns a queue root.
 */
export class TaskQueue {
  private readonly root: string;
  private readonly log: Logger;
  private readonly scanner: InboxScanner;

  constructor(private readonly deps: TaskQueueDeps) {
    for (const name of Object.keys(deps.projects)) assertProjectName(name);
    this.root = path.resolve(deps.root);
    this.log = deps.log.child({ component: "queue" });
    this.scanner = new InboxScanner({
      now: () => deps.clock.now(), ...(deps.settleMs !== undefined ? { settleMs: deps.settleMs } : {}), ...(deps.openFile ? { openFile: deps.openFile } : {}),
    });
  }

  /** The configured project names. */
  get projectNames(): string[] {
    return Object.keys(this.deps.projects).sort();
  }

  /** Creates the root and each project's four folders (0700) where missing; existing folders are left as they are. */
  async ensureLayout(): Promise<void> {
    await ensureDir(this.root);
    for (const project of this.projectNames) {
      for (const folder of FOLDERS) await ensureDir(this.dir(project, folder));
    }
  }

  /** The waiting tasks in dispatch order, plus entries to reject and the delegated count (stat only; see scan.ts). */
  async scanInbox(project: string): Promise<InboxScan> {
    this.checkProject(project);
    return this.scanner.scan(this.dir(project, "inbox"), this.dir(project, "active"));
  }

  /** Moves inbox/<id>.md to active/, then parses it; a file that cannot be a task goes to failed/ with its reason. */
  async claim(project: string, id: string): Promise<ClaimResult> {
    this.checkProject(project);
    assertTaskId(id);
    return this.withLock(project, async () => {
      const active = this.dir(project, "active");
      const target = taskFilePath(active, id);
      if ((await pathExists(target)) || (await findStaged(active, id)) !== undefined) return { status: "busy" };
      // A signal file left by an earlier run of this id would end the new run at once.
      await unlinkIfPresent(doneSignalPath(active, id));
      const source = taskFilePath(this.dir(project, "inbox"), id);
      // A folder named like a task is not one (scanInbox skips it); moving it would leave active/ unfinishable.
      if (await isDirectory(source)) return { status: "gone" };
      if (!(await this.move(source, target))) return { status: "gone" };
      let parsed = await this.parseActive(project, id);
      // A cwd that is not there would only fail at launch, minutes later: say so now, with the path.
      if (parsed.ok) parsed = await checkCwd(parsed);
      if (parsed.ok) {
        this.log.info({ project, task: id }, "task claimed");
        return { status: "claimed", task: parsed.task };
      }
      const done = await this.finishLocked(project, id, failure(parsed.reason, undefined, { attempts: 0 }, this.deps.clock.now()));
      this.log.warn({ project, task: id, reason: parsed.reason, file: done.file }, "task rejected");
      return { status: "rejected", reason: parsed.reason, file: done.file };
    });
  }

  /**
   * Fails an inbox entry that can never be a task (one of `scanInbox(...).invalid`), keeping its bytes: it is
   * moved through active/ (under a sanitised id when its name is not a valid one) into failed/.
   * Returns the name it got in failed/, or undefined when the entry is gone.
   */
  async rejectEntry(project: string, name: string, reason: string): Promise<string | undefined> {
    this.checkProject(project);
    if (name.includes("/") || name.includes("\0") || name === "." || name === ".." || name.startsWith(".")) {
      throw new QueueError("QUEUE_INVALID_NAME", `not an inbox entry name: ${JSON.stringify(name)}`);
    }
    return this.withLock(project, async () => {
      const active = this.dir(project, "active");
      const source = path.join(this.dir(project, "inbox"), name);
      if (await isDirectory(source)) throw new QueueError("QUEUE_INVALID_NAME", `${project}/inbox/${name} is a folder, not a task file`);
      const bare = name.endsWith(".md") ? name.slice(0, -3) : name;
      const id = await this.freeActiveId(active, isValidTaskId(bare) ? bare : sanitizeTaskId(name));
      if (!(await this.move(source, taskFilePath(active, id)))) return undefined;
      const detail = id === bare ? undefined : `Original file name: ${JSON.stringify(name)}.`;
      const body = detail === undefined ? reason : `${reason}\n\n${detail}`;
      let done: FinishResult;
      try {
        done = await this.finishLocked(project, id, failure(body, reason, { attempts: 0 }, this.deps.clock.now()));
      } catch (err) {
        // It is in active/ now, under an id the inbox scan will not list: the caller must file it.
        throw new RejectionStuckError(id, { reason, ...(detail !== undefined ? { detail } : {}) },
          `${project}/inbox/${name} waits in active/ as ${id}, not yet filed: ${describeError(err)}`, { cause: err });
      }
      this.log.warn({ project, entry: name, reason, file: done.file }, "inbox entry rejected");
      return done.file;
    });
  }

  /** Files active/<id>.md under done/: the original text, a `## Result` section with `result`, and the footer. */
  async complete(project: string, id: string, outcome: { result: string; footer: FooterFields }): Promise<FinishResult> {
    this.checkProject(project);
    assertTaskId(id);
    const content: FinishContent = {
      outcome: "done",
      body: outcome.result,
      fields: { ...outcome.footer, finishedAt: outcome.footer.finishedAt ?? this.deps.clock.now() },
    };
    return this.withLock(project, () => this.finishLocked(project, id, content));
  }

  /** Files active/<id>.md under failed/: the original text, a `## Failure` section (reason, then detail) and the footer. */
  async fail(project: string, id: string, outcome: { reason: string; detail?: string; footer: FooterFields }): Promise<FinishResult> {
    this.checkProject(project);
    assertTaskId(id);
    const body = outcome.detail ? `${outcome.reason}\n\n${outcome.detail}` : outcome.reason;
    const content = failure(body, outcome.reason, outcome.footer, this.deps.clock.now());
    return this.withLock(project, () => this.finishLocked(project, id, content));
  }

  /**
   * Moves active/<id>.md back to the inbox for another attempt. Returns the id it waits under: the same one,
   * unless a new task took that name meanwhile (then `<id>-<stamp>`, so neither overwrites the other).
   */
  async requeue(project: string, id: string): Promise<string> {
    this.checkProject(project);
    assertTaskId(id);
    return this.withLock(project, async () => {
      const active = this.dir(project, "active");
      // The task itself holds its id in active/: only the inbox counts here.
      const newId = await this.freeInboxId(project, id, { orActive: false });
      if (!(await this.move(taskFilePath(active, id), taskFilePath(this.dir(project, "inbox"), newId)))) {
        throw new QueueError("QUEUE_NOT_FOUND", `no task ${id} in ${project}/active to requeue`);
      }
      await unlinkIfPresent(doneSignalPath(active, id));
      this.log.info({ project, task: id, as: newId }, "task requeued");
      return newId;
    });
  }

  /**
   * The operator's retry: failed/<id>.md back to the inbox as it is (its failure section and footer kept
   * in the file). Returns the id it waits under (suffixed when the inbox holds that name).
   */
  async retryFailed(project: string, id: string): Promise<string> {
    this.checkProject(project);
    assertTaskId(id);
    return this.withLock(project, async () => {
      const newId = await this.takeRegular(project, id, {
        from: "failed", to: "inbox", as: () => this.freeInboxId(project, id, { orActive: true }), missing: `no failed task ${id} in ${project}`,
      });
      this.log.info({ project, task: id, as: newId }, "failed task retried by the operator");
      return newId;
    });
  }

  /** The operator's cancel: a waiting inbox/<id>.md is filed under failed/ with `reason`. Returns its name there. */
  async cancelWaiting(project: string, id: string, reason: string): Promise<FinishResult> {
    this.checkProject(project);
    assertTaskId(id);
    return this.withLock(project, async () => {
      const activeId = await this.takeRegular(project, id, {
        from: "inbox", to: "active", as: () => this.freeActiveId(this.dir(project, "active"), id), missing: `no waiting task ${id} in ${project}`,
      });
      const done = await this.finishLocked(project, activeId, failure(reason, reason, { attempts: 0 }, this.deps.clock.now()));
      this.log.info({ project, task: id, file: done.file }, "waiting task cancelled by the operator");
      return done;
    });
  }

  /**
   * Run once at start, before anything else touches the queue: completes finishes a crash interrupted,
   * removes temp files of interrupted writes, and reports ids shared by two folders (kept: they are different runs).
   */
  async recover(): Promise<RecoveryReport> {
    const report: RecoveryReport = { finished: [], tempFilesRemoved: 0, sharedIds: [] };
    for (const project of this.projectNames) {
      await this.withLock(project, async () => {
        const active = this.dir(project, "active");
        // Not the inbox: a dot-file there may be a submission being written right now.
        for (const dir of [path.join(this.root, project), active, this.dir(project, "done"), this.dir(project, "failed")]) {
          for (const name of await listNames(dir)) {
            if (isTempName(name) && (await unlinkIfPresent(path.join(dir, name)))) report.tempFilesRemoved++;
          }
        }
        const stagedIds = new Set((await listNames(active)).map((n) => parseStagedName(n)).filter((s) => s !== undefined).map((s) => s.id));
        for (const id of [...stagedIds].sort()) {
          const done = await this.publishStagedLocked(project, id);
          if (done === undefined) continue;
          report.finished.push({ project, id, ...done });
          this.log.warn({ project, task: id, ...done }, "recovered a finish interrupted by a crash");
        }
        const holders = new Map<string, Folder[]>();
        for (const folder of FOLDERS) {
          for (const name of await listNames(this.dir(project, folder))) {
            if (name.startsWith(".") || !name.endsWith(".md")) continue;
            const id = name.slice(0, -3);
            holders.set(id, [...(holders.get(id) ?? []), folder]);
          }
        }
        for (const [id, folders] of holders) {
          if (folders.length < 2) continue;
          report.sharedIds.push({ project, id, folders });
          if (folders.includes("inbox") && folders.includes("active")) {
            this.log.info({ project, task: id }, "a new task shares the id of an active one; it waits until that one finishes");
          }
        }
      });
    }
    return report;
  }

  /**
   * Completes a finish that was staged but not published (a fault after the staging, Q4): the staged file holds
   * the outcome and goes to done/ or failed/. Undefined when nothing is staged for `id`.
   */
  async finishStaged(project: string, id: string): Promise<FinishResult | undefined> {
    this.checkProject(project);
    assertTaskId(id);
    return this.withLock(project, () => this.io(`finish ${project}/${id}`, async () => {
      const done = await this.publishStagedLocked(project, id);
      if (done) this.log.info({ project, task: id, ...done }, "task finished");
      return done;
    }));
  }

  /**
   * True when an agent or a script left active/<id>.done beside the claimed task (S6). Only a missing
   * signal is "not done": any other failure to look throws QUEUE_IO, so the caller looks again later.
   */
  async doneSignal(project: string, id: string): Promise<boolean> {
    this.checkProject(project);
    assertTaskId(id);
    return this.io(`look for the done signal of ${project}/${id}`, () => orIfMissing(access(doneSignalPath(this.dir(project, "active"), id)).then(() => true), false));
  }

  /**
   * True while `<project>/<id>` waits in its inbox (as a task or a delegation marker) or sits in active/ (claimed,
   * or its finish staged); false for a project or an id that is not (or no longer) a valid one.
   */
  async isQueued(key: string): Promise<boolean> {
    const slash = key.indexOf("/");
    const project = key.slice(0, slash);
    const id = key.slice(slash + 1);
    if (slash < 0 || !isValidProjectName(project) || !Object.hasOwn(this.deps.projects, project) || !isValidTaskId(id)) return false;
    return (await this.idTaken(project, id, { orActive: true })) || (await findStaged(this.dir(project, "active"), id)) !== undefined;
  }

  /** Counts of one project's folders (readdir only). */
  async counts(project: string): Promise<QueueCounts> {
    this.checkProject(project);
    return countProject(this.root, project);
  }

  /** Every task in active/ across projects, for re-adoption after a restart (Q4). */
  async listActive(): Promise<ActiveEntry[]> {
    const out: ActiveEntry[] = [];
    for (const project of this.projectNames) {
      const active = this.dir(project, "active");
      for (const name of (await listNames(active)).sort()) {
        if (name.startsWith(".") || !name.endsWith(".md") || !isValidTaskId(name.slice(0, -3))) continue;
        out.push({ project, id: name.slice(0, -3), path: path.join(active, name) });
      }
    }
    return out;
  }

  /** Tasks filed under done/ or failed/ since `sinceMs` (by mtime), for the counts a restart starts from. */
  async finishedSince(project: string, sinceMs: number): Promise<{ id: string; folder: "done" | "failed"; mtimeMs: number }[]> {
    this.checkProject(project);
    const out: { id: string; folder: "done" | "failed"; mtimeMs: number }[] = [];
    for (const folder of ["done", "failed"] as const) {
      const dir = this.dir(project, folder);
      for (const name of await listNames(dir)) {
        if (name.startsWith(".") || !name.endsWith(".md")) continue;
        const st = await orIfMissing(stat(path.join(dir, name)), undefined);
        if (st && st.mtimeMs >= sinceMs) out.push({ id: name.slice(0, -3), folder, mtimeMs: st.mtimeMs });
      }
    }
    return out;
  }

  /**
   * Rewrites `<root>/<project>/status.json` atomically from the daemon's view of each task (contract §4 shape);
   * `counts` when the caller has just read them, else they are read here.
   */
  async writeStatusJson(project: string, tasks: Readonly<Record<string, TaskStatusInput>>, counts?: QueueCounts): Promise<void> {
    this.checkProject(project);
    await writeProjectStatus(this.root, project, counts ?? (await countProject(this.root, project)), tasks, this.deps.clock.now());
  }

  /** Tasks by state with title, priority and age, for `claude-failover queue [PROJECT]`. */
  async listTasks(project?: string, options: { finishedLimit?: number } = {}): Promise<TaskListing[]> {
    const projects = project === undefined ? this.projectNames : [project];
    const out: TaskListing[] = [];
    for (const p of projects) {
      this.checkProject(p);
      out.push(...(await listProjectTasks(this.root, p, this.deps.clock.now(), options.finishedLimit)));
    }
    return out;
  }

  private async finishLocked(project: string, id: string, content: FinishContent): Promise<FinishResult> {
    const active = this.dir(project, "active");
    let outcome = content.outcome;
    const staged = await this.io(`finish ${project}/${id}`, () => stageFinished(active, id, content, this.deps.openFile));
    if (!staged) {
      // An earlier finish of this id was interrupted after staging: that one already holds the outcome.
      const earlier = await findStaged(active, id);
      if (earlier === undefined) throw new QueueError("QUEUE_NOT_FOUND", `no task ${id} in ${project}/active`);
      outcome = earlier;
    }
    await dropClaimed(active, id);
    const file = await this.io(`finish ${project}/${id}`, () => publishStaged(active, this.dir(project, outcome), id, outcome, this.deps.clock.now()));
    this.log.info({ project, task: id, outcome, file }, "task finished");
    return { outcome, file };
  }

  // Steps 2 and 3 of a finish whose staged file is there (finish.ts): the staged file is the task now.
  private async publishStagedLocked(project: string, id: string): Promise<FinishResult | undefined> {
    const active = this.dir(project, "active");
    const outcome = await findStaged(active, id);
    if (outcome === undefined) return undefined;
    await dropClaimed(active, id);
    await unlinkIfPresent(stagedFilePath(active, id, outcome === "done" ? "failed" : "done"));
    const file = await publishStaged(active, this.dir(project, outcome), id, outcome, this.deps.clock.now());
    return { outcome, file };
  }

  private async parseActive(project: string, id: string): Promise<ParseResult> {
    const read = await readTaskFile(taskFilePath(this.dir(project, "active"), id), this.deps.openFile);
    switch (read.kind) {
      case "missing":
        return { ok: false, reason: `no task ${id} in ${project}/active` };
      case "symlink":
        return { ok: false, reason: `is a symbolic link to ${read.target}; tasks must be regular files (links are never followed)` };
      case "special":
        return { ok: false, reason: `is a ${read.type}, not a regular file` };
      case "too-large":
        return { ok: false, reason: `larger than 1 MiB (${read.size} bytes)` };
      case "unreadable":
        return { ok: false, reason: `cannot be read (${read.reason})` };
      case "file":
        return parseTask({ bytes: read.bytes, project, projectDir: this.deps.projects[project]!, fileName: `${id}.md` });
    }
  }

  // One rename + fsync of both folders; false when the source is gone.
  private async move(from: string, to: string): Promise<boolean> {
    try {
      await moveDurably(from, to);
      return true;
    } catch (err) {
      if (isNotFound(err) && !(await pathExists(from))) return false;
      throw new QueueError("QUEUE_IO", `cannot move ${from} to ${to}: ${describeError(err)}`, { cause: err });
    }
  }

  /**
   * Moves `<from>/<id>.md`, which must be a regular file, to `<to>/<as()>.md` and resolves that id; throws
   * QUEUE_NOT_FOUND with `missing` when the file is not there (or left before the move).
   */
  private async takeRegular(project: string, id: string, o: { from: Folder; to: Folder; as: () => Promise<string>; missing: string }): Promise<string> {
    const source = taskFilePath(this.dir(project, o.from), id);
    if (!(await isRegularFile(source))) throw new QueueError("QUEUE_NOT_FOUND", o.missing);
    const as = await o.as();
    if (!(await this.move(source, taskFilePath(this.dir(project, o.to), as)))) throw new QueueError("QUEUE_NOT_FOUND", o.missing);
    return as;
  }

  // An id free in active/ (no claimed file, no staged finish): `base`, or `base-<stamp>[-n]`.
  private async freeActiveId(active: string, base: string): Promise<string> {
    return freeId(base, this.deps.clock.now(), async (id) =>
      (await pathExists(taskFilePath(active, id))) || (await findStaged(active, id)) !== undefined);
  }

  // An id free in the inbox (no waiting task, no delegation marker) and, with `orActive`, in active/ too.
  private async freeInboxId(project: string, base: string, o: { orActive: boolean }): Promise<string> {
    return freeId(base, this.deps.clock.now(), (id) => this.idTaken(project, id, o));
  }

  /** Whether `id` waits in the inbox (as a task or a delegation marker) or, with `orActive`, sits in active/. */
  private async idTaken(project: string, id: string, o: { orActive: boolean }): Promise<boolean> {
    const inbox = this.dir(project, "inbox");
    return (await pathExists(taskFilePath(inbox, id))) || (await pathExists(markerFilePath(inbox, id))) ||
      (o.orActive && (await pathExists(taskFilePath(this.dir(project, "active"), id))));
  }

  private async io<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof QueueError) throw err;
      throw new QueueError("QUEUE_IO", `${what}: ${describeError(err)}`, { cause: err });
    }
  }

  private checkProject(project: string): void {
    assertProjectName(project);
    if (!Object.hasOwn(this.deps.projects, project)) {
      throw new QueueError("QUEUE_UNKNOWN_PROJECT", `unknown project ${JSON.stringify(project)} (configured: ${this.projectNames.join(", ") || "none"})`);
    }
  }

  private dir(project: string, folder: Folder): string {
    return folderPath(this.root, project, folder);
  }

  // Serialises operations on one project: existence checks and renames must not interleave.
  private withLock<T>(project: string, fn: () => Promise<T>): Promise<T> {
    return withProjectLock(this.root, project, fn);
  }

}

/** The task as parsed when its working directory is a folder that exists; else why it cannot run. */
async function checkCwd(parsed: ParseResult & { ok: true }): Promise<ParseResult> {
  const cwd = parsed.task.meta.cwd;
  try {
    if ((await stat(cwd)).isDirectory()) return parsed;
    return { ok: false, reason: `cwd: ${cwd} is not a folder` };
  } catch (err) {
    const code = errnoOf(err);
    return { ok: false, reason: code === "ENOENT" ? `cwd: ${cwd} does not exist` : `cwd: ${cwd} cannot be used (${code ?? describeError(err)})` };
  }
}

async function isRegularFile(p: string): Promise<boolean> {
  try {
    return (await lstat(p)).isFile();
  } catch {
    return false;
  }
}

function failure(body: string, reason: string | undefined, footer: FooterFields, now: number): FinishContent {
  return { outcome: "failed", body, reason: reason ?? body, fields: { ...footer, finishedAt: footer.finishedAt ?? now } };
}
