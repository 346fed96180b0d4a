/**
 * Claude Code transcripts: `<home>/projects/<sanitised cwd>/<session id>.jsonl`, one JSON object per
 * line, appended while the session runs. Read from the tail with bounded memory; a half-written
 * last line, malformed lines and oversized lines are counted, never fatal.
 */
import { open, realpath, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { AppError, errnoOf } from "../lib/errors.js";
import { dropUndefined } from "../lib/objects.js";
import { isUsageLimitError } from "./hooks.js";
import { assertSessionId } from "./launch.js";

export class TranscriptError extends AppError {
  constructor(code: "TRANSCRIPT_NOT_FOUND" | "TRANSCRIPT_UNREADABLE", message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Longest sanitised name before Claude Code cuts it and appends a hash. */
export const MAX_SANITIZED_LENGTH = 200;

/**
 * The folder name Claude Code gives a working directory under `projects/`: every UTF-16 code unit
 * outside [A-Za-z0-9] becomes `-`; past 200 characters the name is cut to 200 and `-<hash>` is
 * appended, the hash being base-36 of |djb2| over the original path (as the 2.1.197 binary does it).
 */
export function sanitizeProjectPath(name: string): string {
  const sanitized = name.replace(/[^a-zA-Z0-9]/g, "-");
  if (sanitized.length <= MAX_SANITIZED_LENGTH) return sanitized;
  return `${sanitized.slice(0, MAX_SANITIZED_LENGTH)}-${Math.abs(djb2(name)).toString(36)}`;
}

/** Claude Code's path hash: `h = (h << 5) - h + code | 0` over UTF-16 code units, from 0. */
function djb2(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = ((hash << 5) - hash + text.charCodeAt(i)) | 0;
  return hash;
}

export function projectDir(home: string, cwd: string): string {
  return path.join(home, "projects", sanitizeProjectPath(path.resolve(cwd)));
}

export function transcriptPath(home: string, cwd: string, sessionId: string): string {
  assertSessionId(sessionId);
  return path.join(projectDir(home, cwd), `${sessionId}.jsonl`);
}

/**
 * Where Claude Code writes the session's transcript when started in `cwd`: it names the folder after
 * its physical working directory (symlinks resolved, whatever path the shell `cd`-ed through), so
 * `cwd` is resolved first; one that cannot be (gone, unreadable) is named as given.
 */
export async function locateTranscript(home: string, cwd: string, sessionId: string): Promise<string> {
  assertSessionId(sessionId);
  const absolute = path.resolve(cwd);
  return transcriptPath(home, await realpath(absolute).catch(() => absolute), sessionId);
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
  /** Distinct API responses counted (message id + request id). */
  responses: number;
}

export interface AssistantText {
  text: string;
  messageId?: string;
  uuid?: string;
  timestamp?: string;
  /** A synthetic line Claude Code wrote for an API error (the banner text), not a model reply. */
  isApiError: boolean;
  error?: string;
  apiErrorStatus?: number;
  /** An API error that is a subscription usage limit (not throttling: see isUsageLimitError). */
  usageLimit?: boolean;
  /** Written after the last user prompt, i.e. it answers it. */
  afterLastPrompt: boolean;
}

export interface ApiErrorLine {
  /** Claude Code's error class: `rate_limit`, `server_error`, `authentication_failed` … */
  error?: string;
  apiErrorStatus?: number;
  text: string;
  /** A subscription usage limit, as opposed to throttling or a server error. */
  usageLimit: boolean;
  timestamp?: string;
  uuid?: string;
}

export interface TranscriptSummary {
  /** The last text the assistant wrote on the main thread (subagents left out), error banners included. */
  lastAssistant?: AssistantText;
  /** The last prompt the user sent, first 500 characters. */
  lastPrompt?: { text: string; timestamp?: string; uuid?: string };
  /** Synthetic API-error lines, oldest first (the last 20 of the window). */
  apiErrors: ApiErrorLine[];
  /** Token usage of the window, each API response counted once. */
  usage: TokenUsage;
  /** Lines parsed as transcript entries. */
  entries: number;
  malformedLines: number;
  /** Lines over the line-size cap, skipped unread. */
  oversizedLines: number;
  /** The file ended in the middle of a line (a write in progress): that line was left out. */
  partialLastLine: boolean;
  fileSize: number;
  /** Byte offset the window started at; 0 means the whole file was read. */
  windowStart: number;
}

export interface ReadTranscriptOptions {
  /** How much of the file's end to read (default 8 MiB); Infinity reads it all, still in bounded memory. */
  maxBytes?: number;
  /** Lines longer than this are skipped (default 4 MiB). */
  maxLineBytes?: number;
}

const MAX_API_ERRORS = 20;
const count = z.number().finite().nonnegative().optional().catch(undefined);
const optString = z.string().optional().catch(undefined);
const entrySchema = z.looseObject({
  type: optString,
  uuid: optString,
  timestamp: optString,
  isSidechain: z.boolean().optional().catch(undefined),
  isMeta: z.boolean().optional().catch(undefined),
  isApiErrorMessage: z.boolean().optional().catch(undefined),
  error: optString,
  apiErrorStatus: count,
  requestId: optString,
  message: z
    .looseObject({
      id: optString,
      model: optString,
      role: optString,
      content: z.union([z.string(), z.array(z.unknown())]).optional().catch(undefined),
      usage: z
        .looseObject({
          input_tokens: count,
          output_tokens: count,
          cache_creation_input_tokens: count,
          cache_read_input_tokens: count,
        })
        .optional()
        .catch(undefined),
    })
    .optional()
    .catch(undefined),
});
type Entry = z.infer<typeof entrySchema>;

/** Reads the end of a transcript and sums up what the daemon needs from it. */
export async function readTranscript(file: string, options: ReadTranscriptOptions = {}): Promise<TranscriptSummary> {
  const maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
  const maxLineBytes = options.maxLineBytes ?? 4 * 1024 * 1024;
  const handle = await openTranscript(file);
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new TranscriptError("TRANSCRIPT_UNREADABLE", `${file} is not a regular file`);
    // Reads stop at the size seen now: a line appended meanwhile is for the next read.
    const end = info.size;
    const start = Math.max(0, end - maxBytes);
    const fold = new TranscriptFold(end, start);
    let skipFirst = start > 0 && (await startsMidLine(handle, start));
    for await (const line of readLines(handle, start, end, maxLineBytes)) {
      if (skipFirst) {
        skipFirst = false;
        continue;
      }
      fold.line(line);
    }
    return fold.finish();
  } catch (err) {
    if (err instanceof TranscriptError) throw err;
    throw new TranscriptError("TRANSCRIPT_UNREADABLE", `cannot read transcript ${file}: ${(err as Error).message}`, { cause: err });
  } finally {
    await handle.close();
  }
}

async function openTranscript(file: string): Promise<FileHandle> {
  try {
    return await open(file, "r");
  } catch (err) {
    const code = errnoOf(err);
    if (code === "ENOENT") throw new TranscriptError("TRANSCRIPT_NOT_FOUND", `no transcript at ${file}`, { cause: err });
    throw new TranscriptError("TRANSCRIPT_UNREADABLE", `cannot open transcript ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** A window starting at `start` (> 0) begins mid-line unless the byte before it ends a line. */
async function startsMidLine(handle: FileHandle, start: number): Promise<boolean> {
  const one = Buffer.alloc(1);
  await handle.read(one, 0, 1, start - 1);
  return one[0] !== 0x0a;
}

/** The summary built line by line, in file order. */
class TranscriptFold {
  private readonly summary: TranscriptSummary;
  /** Responses already counted (message id + request id): one response spans several lines. */
  private readonly seen = new Set<string>();
  private index = 0;
  private promptIndex = -1;
  private lastAssistantIndex = -1;

  constructor(fileSize: number, windowStart: number) {
    this.summary = {
      apiErrors: [], usage: { inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, responses: 0 },
      entries: 0, malformedLines: 0, oversizedLines: 0, partialLastLine: false, fileSize, windowStart,
    };
  }

  line(line: Line): void {
    const entry = this.parse(line);
    if (entry === undefined) return;
    this.summary.entries++;
    this.index++;
    if (entry.isSidechain === true) return;
    if (entry.type === "user" && !entry.isMeta && isPrompt(entry)) {
      this.promptIndex = this.index;
      this.summary.lastPrompt = dropUndefined({ text: textOf(entry.message?.content).slice(0, 500), timestamp: entry.timestamp, uuid: entry.uuid });
    }
    if (entry.type === "assistant") this.assistant(entry);
  }

  finish(): TranscriptSummary {
    if (this.summary.lastAssistant) this.summary.lastAssistant.afterLastPrompt = this.lastAssistantIndex > this.promptIndex;
    return this.summary;
  }

  // The entry on the line; undefined (counted as oversized, malformed or a partial last line) when there is none.
  private parse(line: Line): Entry | undefined {
    if (line.oversized) {
      this.summary.oversizedLines++;
      return undefined;
    }
    const text = line.bytes.toString("utf8");
    if (text.trim() === "") return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      if (line.complete) this.summary.malformedLines++;
      else this.summary.partialLastLine = true;
      return undefined;
    }
    const parsed = entrySchema.safeParse(json);
    if (!parsed.success) {
      this.summary.malformedLines++;
      return undefined;
    }
    return parsed.data;
  }

  private assistant(entry: Entry): void {
    const summary = this.summary;
    countUsage(entry, summary.usage, this.seen);
    const isApiError = entry.isApiErrorMessage === true;
    const content = textOf(entry.message?.content);
    if (isApiError) {
      summary.apiErrors.push(dropUndefined({
        error: entry.error, apiErrorStatus: entry.apiErrorStatus, text: content, usageLimit: isUsageLimitError(entry.error, content), timestamp: entry.timestamp, uuid: entry.uuid,
      }));
      if (summary.apiErrors.length > MAX_API_ERRORS) summary.apiErrors.shift();
    }
    if (content === "") return;
    const last = summary.lastAssistant;
    // One API response is written as several lines sharing its message id: its texts belong together.
    if (last && !isApiError && !last.isApiError && last.messageId !== undefined && last.messageId === entry.message?.id) {
      last.text = `${last.text}\n${content}`;
    } else {
      summary.lastAssistant = dropUndefined({
        text: content, messageId: entry.message?.id, uuid: entry.uuid, timestamp: entry.timestamp, isApiError,
        error: isApiError ? entry.error : undefined, apiErrorStatus: isApiError ? entry.apiErrorStatus : undefined,
        usageLimit: isApiError ? isUsageLimitError(entry.error, content) : undefined, afterLastPrompt: false,
      });
    }
    this.lastAssistantIndex = this.index;
  }
}

function countUsage(entry: Entry, usage: TokenUsage, seen: Set<string>): void {
  const m = entry.message;
  if (!m?.usage || m.id === undefined || m.model === "<synthetic>") return;
  const key = `${m.id}\u0000${entry.requestId ?? ""}`;
  if (seen.has(key)) return;
  seen.add(key);
  usage.responses++;
  usage.inputTokens += m.usage.input_tokens ?? 0;
  usage.outputTokens += m.usage.output_tokens ?? 0;
  usage.cacheCreationInputTokens += m.usage.cache_creation_input_tokens ?? 0;
  usage.cacheReadInputTokens += m.usage.cache_read_input_tokens ?? 0;
}

/** A user line the human typed, not a tool result travelling back to the model. */
function isPrompt(entry: Entry): boolean {
  const content = entry.message?.content;
  if (typeof content === "string") return content.trim() !== "";
  if (!Array.isArray(content)) return false;
  return content.some((b) => isRecord(b) && b.type === "text") && !content.some((b) => isRecord(b) && b.type === "tool_result");
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .filter((b): b is { type: "text"; text: string } => isRecord(b) && b.type === "text" && typeof b.text === "string")
    .map((b) => b.text)
    .join("\n");
}

interface Line {
  bytes: Buffer;
  oversized: boolean;
  /** Ended by a newline; false for a last line still being written. */
  complete: boolean;
}

/** Splits bytes [start, end) of a file into lines, holding at most one line (≤ maxLineBytes) in memory. */
async function* readLines(handle: FileHandle, start: number, end: number, maxLineBytes: number): AsyncGenerator<Line> {
  const buffer = Buffer.alloc(64 * 1024);
  let parts: Buffer[] = [];
  let length = 0;
  let oversized = false;
  let position = start;
  while (position < end) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, end - position), position);
    if (bytesRead === 0) break;
    position += bytesRead;
    const chunk = buffer.subarray(0, bytesRead);
    let from = 0;
    while (from <= chunk.length) {
      const newline = chunk.indexOf(0x0a, from);
      const stop = newline === -1 ? chunk.length : newline;
      if (!oversized) {
        if (length + (stop - from) > maxLineBytes) {
          oversized = true;
          parts = [];
        } else if (stop > from) {
          parts.push(Buffer.from(chunk.subarray(from, stop)));
          length += stop - from;
        }
      }
      if (newline === -1) break;
      yield { bytes: Buffer.concat(parts), oversized, complete: true };
      parts = [];
      length = 0;
      oversized = false;
      from = newline + 1;
    }
  }
  if (length > 0 || oversized) yield { bytes: Buffer.concat(parts), oversized, complete: false };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
