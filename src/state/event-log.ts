import { open, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { ensureDir, fsyncDir } from "../lib/atomic-fs.js";
import type { Clock } from "../lib/clock.js";
import { describeError, IllegalStateError, isNotFound } from "../lib/errors.js";
import type { DaemonEvent } from "./events.js";
import { StateError } from "./store.js";

/**
 * A line read back from the file: only `ts` and `type` are checked. It may come from another version
 * or another writer, so its other fields are unknown, not those of the union.
 */
export interface LoggedEvent {
  ts: string;
  type: string;
  [field: string]: unknown;
}

export interface TailResult {
  /** Oldest first. */
  events: LoggedEvent[];
  /** Lines that were not events: malformed, half-written by a crash, or longer than `maxLineBytes`. */
  skipped: number;
  /** Bytes read to answer, across files: bounded by what `n` events need, not by the file size. */
  bytesRead: number;
}

export interface EventLogOptions {
  /** `state_dir`; created 0700 when absent. */
  dir: string;
  clock: Clock;
  /** Default `events.jsonl`. */
  fileName?: string;
  /** Rotated files kept (`events.jsonl.1` … `.K`); default 5. */
  keep?: number;
  /** A line longer than this is skipped by `readTail` instead of held in memory; default 1 MiB. */
  maxLineBytes?: number;
  /**
   * Told about every dropped event: StateError (EVENT_NOT_SERIALISABLE, EVENT_WRITE_FAILED) or IllegalStateError; and
   * about every subscriber that threw (StateError EVENT_LISTENER_FAILED: that event is written all the same).
   */
  onError?: (err: Error) => void;
  /** Read size of `readTail`; default 64 KiB. Small values let tests put chunk boundaries everywhere. */
  readChunkBytes?: number;
}

const REDACTED = "[redacted]";
const MAX_DEPTH = 16;

/**
 * Append-only `<dir>/events.jsonl`, one JSON object per line, of the vocabulary `E` (the daemon's is
 * `DaemonEvent`; the log itself reads no field but `type`). Appends are serialised (lines never
 * interleave) and go to the OS at once, but are fsynced only on `flush`, `close` and rotation: the log
 * is a record, not the source of truth (state.json and the queue folders are), so an fsync per line
 * would cost a disk flush on every event for lines a power cut may lose anyway — and `readTail`
 * tolerates the torn last line that leaves.
 */
export class EventLog<E extends { type: string } = DaemonEvent> {
  readonly file: string;
  private readonly clock: Clock;
  private readonly keep: number;
  private readonly maxLineBytes: number;
  private readonly chunkBytes: number;
  private handle: FileHandle | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private closed: Promise<void> | undefined;
  private readonly onError: ((err: Error) => void) | undefined;
  private droppedCount = 0;
  private readonly listeners = new Set<(event: E & { ts: string }) => void>();

  constructor(options: EventLogOptions) {
    this.file = path.join(options.dir, options.fileName ?? "events.jsonl");
    this.clock = options.clock;
    this.keep = Math.max(1, options.keep ?? 5);
    this.maxLineBytes = options.maxLineBytes ?? 1024 * 1024;
    this.onError = options.onError;
    this.chunkBytes = Math.max(1, options.readChunkBytes ?? 64 * 1024);
  }

  /** Events dropped since start (unserialisable, write failed, or appended after close). */
  get dropped(): number {
    return this.droppedCount;
  }

  /**
   * Adds `ts` and appends one line; keys named like secrets are redacted. Never rejects: an event that
   * cannot be serialised or written is dropped, counted in `dropped` and reported to `onError`
   * (a record that fails must not take the daemon down, and callers fire and forget).
   */
  append(event: E): Promise<void> {
    if (this.closed) {
      this.drop(new IllegalStateError(`event log ${this.file}: append after close (event ${String(event.type)})`));
      return Promise.resolve();
    }
    let line: string;
    try {
      if (typeof event.type !== "string" || event.type === "") throw new Error("`type` must be a non-empty string");
      const { ts: _callerTs, type, ...fields } = event as { type: string; ts?: unknown };
      const ts = new Date(this.clock.now()).toISOString();
      line = `${JSON.stringify({ ts, type, ...(redactSecrets(fields) as Record<string, unknown>) })}\n`;
    } catch (err) {
      this.drop(new StateError("EVENT_NOT_SERIALISABLE", this.file, `event for ${this.file}: expected plain JSON fields: ${describeError(err)}`, { cause: err }));
      return Promise.resolve();
    }
    for (const listener of this.listeners) {
      try {
        listener(JSON.parse(line) as E & { ts: string });
      } catch (err) {
        // The listener's failure is its own: the record is written all the same, and the failure told.
        this.onError?.(new StateError("EVENT_LISTENER_FAILED", this.file, `event log ${this.file}: a subscriber failed on ${event.type}: ${describeError(err)}`, { cause: err }));
      }
    }
    return this.serialise(async () => {
      try {
        const handle = await this.openHandle();
        await handle.appendFile(line, "utf8");
      } catch (err) {
        await this.dropHandle();
        this.drop(new StateError("EVENT_WRITE_FAILED", this.file, `event log ${this.file}: append failed: ${describeError(err)}`, { cause: err }));
      }
    });
  }

  /**
   * Calls `listener` with each event as appended (redacted, with its `ts`); returns the unsubscribe.
   * Typed as `E`: it is this process's own event, not a line read back (no `DaemonEvent` field is
   * named like a secret, so redaction leaves them as they were).
   */
  subscribe(listener: (event: E & { ts: string }) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Waits for pending appends and fsyncs the file. */
  flush(): Promise<void> {
    return this.serialise(async () => {
      await this.handle?.sync();
    });
  }

  /** Flushes and closes; later appends are refused. Safe to call twice: returns the same promise. */
  close(): Promise<void> {
    this.closed ??= this.serialise(async () => {
      await this.handle?.sync();
      await this.dropHandle();
    });
    return this.closed;
  }

  /**
   * When the file is larger than `maxBytes`: `events.jsonl` → `.1`, `.1` → `.2` …, the oldest beyond
   * `keep` removed. Call it on the daemon's own EventLog so no append races the rename.
   */
  rotateIfLarger(maxBytes: number): Promise<boolean> {
    return this.serialise(async () => {
      let size: number;
      try {
        size = (await stat(this.file)).size;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw new StateError("EVENT_ROTATE_FAILED", this.file, `event log ${this.file}: cannot stat it: ${describeError(err)}`, { cause: err });
      }
      if (size <= maxBytes) return false;
      try {
        await this.handle?.sync();
        await this.dropHandle();
        await unlink(`${this.file}.${this.keep}`).catch(ignoreMissing);
        for (let i = this.keep - 1; i >= 1; i--) await rename(`${this.file}.${i}`, `${this.file}.${i + 1}`).catch(ignoreMissing);
        await rename(this.file, `${this.file}.1`);
        await fsyncDir(path.dirname(this.file));
      } catch (err) {
        throw new StateError("EVENT_ROTATE_FAILED", this.file, `event log ${this.file}: rotation failed: ${describeError(err)}`, { cause: err });
      }
      return true;
    });
  }

  /**
   * The last `n` events, oldest first, reading backwards from the end of the file (then the rotated
   * ones) in fixed chunks: memory stays bounded by `n` and `maxLineBytes`, whatever the file size.
   */
  readTail(n: number): Promise<TailResult> {
    return this.serialise(async () => {
      const result: TailResult = { events: [], skipped: 0, bytesRead: 0 };
      const newestFirst: LoggedEvent[] = [];
      const files = [this.file, ...Array.from({ length: this.keep }, (_, i) => `${this.file}.${i + 1}`)];
      for (const file of files) {
        if (newestFirst.length >= n) break;
        try {
          await readTailOf(file, n, { maxLineBytes: this.maxLineBytes, chunkBytes: this.chunkBytes }, newestFirst, result);
        } catch (err) {
          if (isNotFound(err)) continue;
          throw new StateError("EVENT_READ_FAILED", file, `event log ${file}: read failed: ${describeError(err)}`, { cause: err });
        }
      }
      result.events = newestFirst.reverse();
      return result;
    });
  }

  private drop(err: Error): void {
    this.droppedCount++;
    this.onError?.(err);
  }

  private serialise<R>(op: () => Promise<R>): Promise<R> {
    const next = this.chain.then(op);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async openHandle(): Promise<FileHandle> {
    if (!this.handle) {
      await ensureDir(path.dirname(this.file), 0o700);
      this.handle = await open(this.file, "a", 0o600);
    }
    return this.handle;
  }

  private async dropHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close().catch(() => undefined);
  }
}

function ignoreMissing(err: unknown): void {
  if (!isNotFound(err)) throw err;
}

/** Index of the last newline in `buf` before `end`, or -1 (a negative offset would search from the end). */
function lastNewline(buf: Buffer, end: number): number {
  return end <= 0 ? -1 : buf.lastIndexOf(0x0a, end - 1);
}

/** Reads one file backwards, pushing events newest first into `out` until it holds `n`. */
async function readTailOf(
  file: string,
  n: number,
  { maxLineBytes, chunkBytes }: { maxLineBytes: number; chunkBytes: number },
  out: LoggedEvent[],
  result: TailResult,
): Promise<void> {
  const handle = await open(file, "r");
  try {
    let pos = (await handle.stat()).size;
    // Bytes after the last newline seen so far: the end of a line whose start is still unread.
    let carry = Buffer.alloc(0);
    // True while skipping the rest (towards the start) of a line already judged too long.
    let discarding = false;
    while (pos > 0 && out.length < n) {
      const len = Math.min(chunkBytes, pos);
      pos -= len;
      const chunk = Buffer.alloc(len);
      await handle.read(chunk, 0, len, pos);
      result.bytesRead += len;
      const buf = discarding ? chunk : Buffer.concat([chunk, carry]);
      let end = buf.length;
      if (discarding) {
        end = lastNewline(buf, end);
        if (end < 0) continue;
        discarding = false;
      }
      for (let nl = lastNewline(buf, end); nl >= 0 && out.length < n; nl = lastNewline(buf, end)) {
        takeLine(buf.subarray(nl + 1, end), out, result);
        end = nl;
      }
      if (out.length >= n) break;
      if (end > maxLineBytes) {
        result.skipped++;
        carry = Buffer.alloc(0);
        discarding = true;
      } else {
        carry = Buffer.from(buf.subarray(0, end));
      }
    }
    if (pos === 0 && out.length < n && !discarding) takeLine(carry, out, result);
  } finally {
    await handle.close();
  }
}

function takeLine(line: Buffer, out: LoggedEvent[], result: TailResult): void {
  if (line.length === 0) return;
  try {
    const value: unknown = JSON.parse(line.toString("utf8"));
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      const event = value as Record<string, unknown>;
      if (typeof event.ts === "string" && typeof event.type === "string") {
        out.push(event as LoggedEvent);
        return;
      }
    }
  } catch {
    // counted below
  }
  result.skipped++;
}

/**
 * True for keys that name a secret: token, secret, password, authorization, credential, cookie, and
 * anything ending in "key" (apiKey, api_key, private-key, key).
 */
export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_\s]/g, "");
  return /token|secret|passw(or)?d|authori[sz]ation|credential|cookie/.test(k) || k.endsWith("key");
}

/**
 * A copy of `value` with secret-named keys' values replaced by "[redacted]" at any depth. Numbers,
 * booleans and null are kept: they are counts (`input_tokens`), never secrets. Errors become
 * `{name, message, code}`; cycles and excessive depth are cut.
 */
export function redactSecrets(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (seen.has(value)) return "[circular]";
  if (depth >= MAX_DEPTH) return "[too deep]";
  seen.add(value);
  try {
    if (value instanceof Error) {
      const code = (value as { code?: unknown }).code;
      return { name: value.name, message: value.message, ...(typeof code === "string" ? { code } : {}) };
    }
    if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1, seen));
    if (value instanceof Date) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const keep = typeof v === "number" || typeof v === "boolean" || v === null || v === undefined;
      out[k] = isSecretKey(k) && !keep ? REDACTED : redactSecrets(v, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}
