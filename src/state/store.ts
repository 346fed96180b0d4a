import { readFile, readdir, rename, stat, unlink } from "node:fs/promises";
import path from "node:path";
import type { ZodType } from "zod";
import { ensureDir, fsyncDir, writeFileAtomic } from "../lib/atomic-fs.js";
import type { Clock } from "../lib/clock.js";
import { AppError, describeError, errnoOf, IllegalStateError, isNotFound } from "../lib/errors.js";

/**
 * The daemon's durable state. Codes: STATE_READ_FAILED, STATE_CORRUPT, STATE_VERSION_UNSUPPORTED,
 * STATE_INVALID, STATE_WRITE_FAILED; for the event log EVENT_NOT_SERIALISABLE, EVENT_WRITE_FAILED,
 * EVENT_READ_FAILED, EVENT_ROTATE_FAILED.
 */
export class StateError extends AppError {
  /** The file concerned. */
  readonly file: string;
  constructor(code: string, file: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.file = file;
  }
}

export interface StateStoreOptions<T> {
  /** `state_dir`; created 0700 when absent (an existing folder keeps its mode). */
  dir: string;
  /** The caller owns the shape; the store only checks that what it loads and writes fits it. */
  schema: ZodType<T>;
  /** The current format version, written into the file beside the data. */
  version: number;
  defaults: () => T;
  clock: Clock;
  /**
   * Opt-in: a corrupt file is moved aside (`state.json.corrupt-<timestamp>`) and the store starts
   * from defaults. Without it, load copies the file aside and throws STATE_CORRUPT.
   */
  resetCorrupt?: boolean;
  /** How the operator asks for that reset, named in the STATE_CORRUPT message. */
  resetHint?: string;
  /** Turns data written by an older version into the current shape (then checked by `schema`). */
  migrate?: (data: unknown, fromVersion: number) => unknown;
  /** Default `state.json`. */
  fileName?: string;
  /** The durable write; default writeFileAtomic. A seam for tests (counting writes, failing the disk). */
  writeFile?: (file: string, data: string, mode: number) => Promise<void>;
  /** Called when a background write fails; the next update or flush retries. */
  onWriteError?: (err: StateError) => void;
}

export interface LoadResult<T> {
  state: T;
  /** `file`: loaded; `defaults`: there was no file; `reset-corrupt`: the file was corrupt, moved aside (opt-in). */
  source: "file" | "defaults" | "reset-corrupt";
  /** Where the corrupt file now is, when `source` is `reset-corrupt`. */
  corruptCopy?: string;
  migratedFrom?: number;
  /** Temp files left by a crashed writer, removed. */
  removedTempFiles: string[];
}

const envelopeKeys = ["version", "data"] as const;

/**
 * One JSON file (`<dir>/state.json`: `{version, saved_at, data}`) written atomically (0600).
 * `update` changes the in-memory state at once and schedules a write; a burst of updates coalesces
 * into one or two writes, never two at a time; `flush` waits until the latest state is durable.
 */
export class StateStore<T> {
  readonly file: string;
  private readonly options: StateStoreOptions<T>;
  private phase: "new" | "loaded" | "closing" | "closed" = "new";
  private state: T | undefined;
  /** Bumped by every update; `written` is the generation last made durable. */
  private generation = 0;
  private written = 0;
  private writer: Promise<void> | undefined;
  private lastError: StateError | undefined;
  private closed: Promise<void> | undefined;

  constructor(options: StateStoreOptions<T>) {
    this.options = options;
    this.file = path.join(options.dir, options.fileName ?? "state.json");
  }

  /** Reads the file (or starts from defaults when there is none). Call once, before anything else. */
  async load(): Promise<LoadResult<T>> {
    if (this.phase !== "new") throw new IllegalStateError(`state store ${this.file}: load called twice`);
    await ensureDir(this.options.dir, 0o700);
    const removedTempFiles = await this.removeStaleTempFiles();
    let bytes: Buffer;
    try {
      bytes = await readFile(this.file);
    } catch (err) {
      if (!isNotFound(err)) {
        throw new StateError("STATE_READ_FAILED", this.file, `state file ${this.file}: cannot read it: ${describeError(err)}`, { cause: err });
      }
      return this.start(this.options.defaults(), { source: "defaults", removedTempFiles });
    }
    const parsed = this.parse(bytes);
    if (parsed.ok) {
      return this.start(parsed.state, { source: "file", removedTempFiles, ...(parsed.migratedFrom === undefined ? {} : { migratedFrom: parsed.migratedFrom }) });
    }
    if (this.options.resetCorrupt) {
      const aside = await this.asideName();
      await rename(this.file, aside);
      await fsyncDir(this.options.dir);
      return this.start(this.options.defaults(), { source: "reset-corrupt", corruptCopy: aside, removedTempFiles });
    }
    // Keep a copy even though we refuse: an operator may "fix" the original by deleting it.
    const copy = await this.copyAside(bytes);
    throw new StateError(
      "STATE_CORRUPT",
      this.file,
      `state file ${this.file}: expected JSON {version, data} matching the state schema, found ${parsed.problem}. ` +
        `A copy is kept at ${copy}. Repair or remove the file, or ${this.options.resetHint ?? "open the store with resetCorrupt"} to begin from defaults.`,
      parsed.cause === undefined ? undefined : { cause: parsed.cause },
    );
  }

  /** The current state. Treat it as read-only: change it through `update`. */
  get(): T {
    if (this.state === undefined || this.phase === "new") throw new IllegalStateError(`state store ${this.file}: get before load`);
    return this.state;
  }

  /**
   * Applies `fn` to a copy of the state (mutate it, or return a new value), checks the result against
   * the schema (STATE_INVALID, nothing changed, if it does not fit) and schedules one write.
   */
  update(fn: (draft: T) => T | void): T {
    if (this.phase !== "loaded" || this.state === undefined) {
      throw new IllegalStateError(`state store ${this.file}: update while ${this.phase}`);
    }
    const draft = structuredClone(this.state);
    const result = fn(draft);
    const next = result === undefined ? draft : result;
    const checked = this.options.schema.safeParse(next);
    if (!checked.success) {
      throw new StateError("STATE_INVALID", this.file, `state update for ${this.file} does not fit the schema: ${formatIssues(checked.error.issues)}`);
    }
    this.state = checked.data;
    this.generation++;
    this.scheduleWrite();
    return this.state;
  }

  /**
   * Resolves once the latest state is on disk. A write that failed is retried once by flush itself;
   * if that fails too, throws STATE_WRITE_FAILED (the state stays in memory for a later retry).
   */
  async flush(): Promise<void> {
    let retried = false;
    while (this.written < this.generation) {
      if (!this.writer) {
        if (retried && this.lastError) throw this.lastError;
        retried = true;
        this.scheduleWrite();
      }
      await this.writer;
    }
  }

  /** Flushes and refuses further updates. Safe to call twice: returns the same promise. */
  close(): Promise<void> {
    if (this.closed) return this.closed;
    const wasLoaded = this.phase === "loaded";
    this.phase = "closing";
    this.closed = (async () => {
      try {
        if (wasLoaded) await this.flush();
      } finally {
        this.phase = "closed";
      }
    })();
    return this.closed;
  }

  private start(state: T, result: Omit<LoadResult<T>, "state">): LoadResult<T> {
    this.state = state;
    this.phase = "loaded";
    return { state, ...result };
  }

  private scheduleWrite(): void {
    if (!this.writer) this.writer = this.runWriter();
  }

  /** Never rejects: a failure is kept for `flush` and reported to `onWriteError`. */
  private async runWriter(): Promise<void> {
    // One hop first, so a synchronous burst of updates lands before the first write.
    await Promise.resolve();
    try {
      while (this.written < this.generation) {
        const generation = this.generation;
        const envelope = { version: this.options.version, saved_at: new Date(this.options.clock.now()).toISOString(), data: this.state };
        await (this.options.writeFile ?? writeFileAtomic)(this.file, `${JSON.stringify(envelope, null, 2)}\n`, 0o600);
        this.written = generation;
      }
      this.lastError = undefined;
    } catch (err) {
      this.lastError = new StateError("STATE_WRITE_FAILED", this.file, `state file ${this.file}: write failed: ${describeError(err)}`, {
        cause: err,
      });
      this.options.onWriteError?.(this.lastError);
    } finally {
      // Cleared synchronously after the last check, so an update can never find a writer that is already done.
      this.writer = undefined;
    }
  }

  private parse(
    bytes: Buffer,
  ): { ok: true; state: T; migratedFrom?: number } | { ok: false; problem: string; cause?: unknown } {
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString("utf8"));
    } catch (err) {
      return { ok: false, problem: `text that is not JSON (${bytes.length} bytes: ${describeError(err)})`, cause: err };
    }
    if (typeof json !== "object" || json === null || Array.isArray(json) || !envelopeKeys.every((k) => k in json)) {
      return { ok: false, problem: `JSON without the {version, data} envelope` };
    }
    const { version, data } = json as { version: unknown; data: unknown };
    if (typeof version !== "number" || !Number.isInteger(version)) {
      return { ok: false, problem: `version ${JSON.stringify(version)}, not an integer` };
    }
    let migratedFrom: number | undefined;
    let current = data;
    if (version !== this.options.version) {
      if (version > this.options.version || !this.options.migrate) {
        // Not corrupt: written by another version of the daemon. Never reset over it.
        throw new StateError(
          "STATE_VERSION_UNSUPPORTED",
          this.file,
          `state file ${this.file}: expected version ${this.options.version}${this.options.migrate ? " or older" : ""}, found version ${version}; it is left untouched`,
        );
      }
      current = this.options.migrate(data, version);
      migratedFrom = version;
    }
    const checked = this.options.schema.safeParse(current);
    if (!checked.success) return { ok: false, problem: `data that does not fit the schema: ${formatIssues(checked.error.issues)}` };
    return migratedFrom === undefined ? { ok: true, state: checked.data } : { ok: true, state: checked.data, migratedFrom };
  }

  private async asideName(): Promise<string> {
    const stamp = new Date(this.options.clock.now()).toISOString().replace(/:/g, "-");
    for (let i = 1; ; i++) {
      const candidate = `${this.file}.corrupt-${stamp}${i === 1 ? "" : `-${i}`}`;
      try {
        await stat(candidate);
      } catch {
        return candidate;
      }
    }
  }

  /** Copies the corrupt bytes aside, unless an identical copy is already there (a restart loop must not pile them up). */
  private async copyAside(bytes: Buffer): Promise<string> {
    const prefix = `${path.basename(this.file)}.corrupt-`;
    for (const name of (await readdir(this.options.dir)).filter((n) => n.startsWith(prefix)).sort().reverse()) {
      const existing = path.join(this.options.dir, name);
      const same = await readFile(existing).then((b) => b.equals(bytes), () => false);
      if (same) return existing;
    }
    const aside = await this.asideName();
    await writeFileAtomic(aside, bytes, 0o600);
    return aside;
  }

  /**
   * Removes `.state.json.<pid>.<hex>.tmp` files (writeFileAtomic's temp names) whose writer is dead.
   * A temp file is never read as state: only a completed rename makes new content visible.
   */
  private async removeStaleTempFiles(): Promise<string[]> {
    const base = path.basename(this.file).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const pattern = new RegExp(`^\\.${base}\\.(\\d+)\\.[0-9a-f]+\\.tmp$`);
    const removed: string[] = [];
    for (const name of await readdir(this.options.dir)) {
      const pid = Number(pattern.exec(name)?.[1]);
      if (!Number.isSafeInteger(pid) || isProcessAlive(pid)) continue;
      const tmp = path.join(this.options.dir, name);
      await unlink(tmp).then(
        () => removed.push(tmp),
        () => undefined,
      );
    }
    return removed;
  }
}

/** True when a process with this id exists (EPERM: it exists, owned by someone else). */
function isProcessAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoOf(err) === "EPERM";
  }
}

function formatIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.length === 0 ? "(root)" : i.path.map(String).join(".")}: ${i.message}`)
    .join("; ")
    .concat(issues.length > 5 ? `; and ${issues.length - 5} more` : "");
}
