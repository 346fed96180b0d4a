/**
 * The `claude-failover hook EVENT` side: Claude Code runs it for every hook with the payload on
 * stdin. It forwards the payload to the daemon, or spools it to disk when the daemon is down, and
 * must never block or break Claude Code: bounded time, bounded memory, no stdout (for
 * UserPromptSubmit and SessionStart, Claude Code adds a hook's stdout to the model's context), and
 * the caller always exits 0.
 */
import { randomBytes } from "node:crypto";
import { lstat, readdir, readFile, unlink } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import path from "node:path";
import { ensureDir, moveDurably, writeFileAtomic } from "../lib/atomic-fs.js";
import { systemClock, type Clock } from "../lib/clock.js";
import { describeError, isNotFound } from "../lib/errors.js";
// Types only: the hook command (run several times per task by every agent) must not load zod, which
// checking an envelope needs; only drainSpool, in the daemon, loads it.
import type { HookEnvelope, HookEvent } from "./hooks.js";

/** The largest envelope sent: the daemon's `/api/hook` refuses bodies over 1 MiB. */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Room kept for the envelope around the payload (event, time, context with a config dir ≤ 4 KiB). */
const ENVELOPE_ROOM = 16 * 1024;
/** A single string field keeps at most this much when a payload is cut down. */
const MAX_FIELD_CHARS = 64 * 1024;
const EVENT_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

export const spoolDir = (stateDir: string): string => path.join(stateDir, "hook-spool");

export interface HookCommandOptions {
  /** The event the hook was registered for (the `EVENT` argument). */
  event: string;
  stdinText: string;
  /** The hook's environment: TMUX_PANE, CLAUDE_CONFIG_DIR and CLAUDE_CODE_SESSION_ID are passed on. */
  env: Readonly<Record<string, string | undefined>>;
  stateDir: string;
  /** Base URL of the daemon's HTTP API, e.g. `http://127.0.0.1:7420`. */
  daemonUrl: string;
  /** Bearer token when the daemon requires one. */
  token?: string;
  /** Bound on the POST, response included. */
  timeoutMs?: number;
  /** Cap on the whole envelope, payload included (default MAX_PAYLOAD_BYTES). */
  maxBodyBytes?: number;
  /** How the envelope is POSTed (default httpPost; tests put a daemon that hangs or lies here). */
  post?: PostFn;
  clock?: Clock;
}

/** POSTs a body and resolves with the answer's status once its body has been read to the end. */
export type PostFn = (url: string, init: { headers: Record<string, string>; body: string; signal: AbortSignal }) => Promise<{ status: number }>;

/**
 * node:http, not fetch: in a fresh process fetch loads undici (~70 ms of CPU, ~40 MB of RSS per run), and the
 * hook runs several times per task, twice on the way to a prompt. The daemon's API is plain HTTP on loopback.
 */
export const httpPost: PostFn = (url, init) =>
  new Promise((resolve, reject) => {
    const target = new URL(url);
    if (target.protocol !== "http:") throw new Error(`${target.protocol} is not served: the daemon's API is plain HTTP`);
    const req = httpRequest(target, { method: "POST", headers: { ...init.headers, "content-length": String(Buffer.byteLength(init.body)) }, signal: init.signal }, (res) => {
      res.on("error", reject);
      res.on("end", () => resolve({ status: res.statusCode ?? 0 }));
      res.on("close", () => (res.complete ? undefined : reject(new Error("the daemon closed the connection in the middle of its answer"))));
      res.resume();
    });
    req.on("error", reject);
    req.end(init.body);
  });

export interface HookCommandResult {
  outcome: "delivered" | "spooled" | "dropped";
  spoolFile?: string;
  /** Why it was not delivered (never contains the token). */
  problem?: string;
}

/** Forwards one hook payload to the daemon, spooling it when that fails. Never throws. */
export async function runHookCommand(options: HookCommandOptions): Promise<HookCommandResult> {
  const clock = options.clock ?? systemClock;
  const maxBody = options.maxBodyBytes ?? MAX_PAYLOAD_BYTES;
  let envelope: HookEnvelope;
  let body: string;
  try {
    envelope = {
      event: EVENT_NAME.test(options.event) ? options.event : "Unknown",
      payload: buildPayload(options.stdinText, Math.max(1024, maxBody - ENVELOPE_ROOM)),
      received_at: new Date(clock.now()).toISOString(),
      context: contextOf(options.env),
    };
    body = JSON.stringify(envelope);
    // A last guard (reachable with a small cap and a large context): the routing fields alone fit.
    if (Buffer.byteLength(body) > maxBody) {
      envelope.payload = { ...salvage(options.stdinText), _truncated: true };
      body = JSON.stringify(envelope);
    }
  } catch (err) {
    return { outcome: "dropped", problem: `could not build the hook envelope: ${describeError(err)}` };
  }
  const problem = await postEnvelope(options, body, clock);
  if (problem === undefined) return { outcome: "delivered" };
  try {
    const spoolFile = await spoolEnvelope(options.stateDir, envelope.event, body, clock);
    return { outcome: "spooled", spoolFile, problem };
  } catch (err) {
    return { outcome: "dropped", problem: `${problem}; spooling failed too: ${describeError(err)}` };
  }
}

/** POSTs the envelope; undefined on a 2xx, else what went wrong. */
async function postEnvelope(options: HookCommandOptions, body: string, clock: Clock): Promise<string | undefined> {
  const post = options.post ?? httpPost;
  const timeoutMs = options.timeoutMs ?? 2000;
  const request = new AbortController();
  const timer = new AbortController();
  const late = `daemon did not answer within ${timeoutMs} ms`;
  // The deadline also covers a post that ignores its abort signal: the race settles regardless.
  const deadline = clock.sleep(timeoutMs, timer.signal).then(
    () => {
      request.abort();
      return late;
    },
    () => late,
  );
  const attempt = (async (): Promise<string | undefined> => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const res = await post(`${options.daemonUrl.replace(/\/+$/, "")}/api/hook`, { headers, body, signal: request.signal });
    return res.status >= 200 && res.status < 300 ? undefined : `daemon answered HTTP ${res.status}`;
  })().catch((err: unknown) => (request.signal.aborted ? late : `daemon unreachable: ${describeError(err)}`));
  try {
    return await Promise.race([attempt, deadline]);
  } finally {
    timer.abort();
  }
}

function contextOf(env: Readonly<Record<string, string | undefined>>): HookEnvelope["context"] {
  const context: NonNullable<HookEnvelope["context"]> = {};
  if (env.TMUX_PANE) context.tmux_pane = env.TMUX_PANE.slice(0, 64);
  if (env.CLAUDE_CONFIG_DIR) context.config_dir = env.CLAUDE_CONFIG_DIR.slice(0, 4096);
  if (env.CLAUDE_CODE_SESSION_ID) context.claude_session_id = env.CLAUDE_CODE_SESSION_ID.slice(0, 128);
  return context;
}

/**
 * The payload to forward: the parsed JSON when it is JSON and within `maxBytes`; otherwise a
 * smaller stand-in that keeps what routing needs (session id, event name, error …), marked
 * `_truncated` or `_invalid_json`.
 */
export function buildPayload(text: string, maxBytes: number): unknown {
  const size = Buffer.byteLength(text, "utf8");
  let parsed: unknown;
  let isJson = true;
  try {
    parsed = JSON.parse(text);
  } catch {
    isJson = false;
  }
  if (isJson && size <= maxBytes) return parsed;
  if (isJson && typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
    const shrunk: Record<string, unknown> = { _truncated: true };
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
      shrunk[k] = typeof v === "string" && v.length > MAX_FIELD_CHARS ? `${v.slice(0, MAX_FIELD_CHARS)}…` : v;
    }
    if (Buffer.byteLength(JSON.stringify(shrunk)) <= maxBytes) return shrunk;
    return { ...salvage(text), _truncated: true };
  }
  const raw = text.slice(0, 4096);
  return { ...salvage(text), _invalid_json: true, ...(size > maxBytes ? { _truncated: true } : {}), _raw: raw };
}

/** The few scalar fields that route an event, fished out of text that is not (whole) JSON. */
function salvage(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of ["session_id", "hook_event_name", "transcript_path", "cwd", "error", "reason", "source", "notification_type"]) {
    const m = new RegExp(`"${key}"\\s*:\\s*"((?:[^"\\\\]|\\\\.){0,4096})"`).exec(text.slice(0, 64 * 1024));
    if (m) {
      try {
        out[key] = JSON.parse(`"${m[1]}"`) as string;
      } catch {
        // a half-escaped value is worth less than none
      }
    }
  }
  return out;
}

/** Writes one envelope into the spool folder (0700) as a 0600 file with a unique, time-ordered name. */
export async function spoolEnvelope(stateDir: string, event: string, body: string, clock: Clock = systemClock): Promise<string> {
  const dir = spoolDir(stateDir);
  await ensureDir(dir, 0o700);
  const name = `${String(clock.now()).padStart(15, "0")}-${process.pid}-${randomBytes(6).toString("hex")}-${EVENT_NAME.test(event) ? event : "Unknown"}.json`;
  const file = path.join(dir, name);
  await writeFileAtomic(file, body, 0o600);
  return file;
}

/**
 * Reads a hook's stdin with a size cap and a deadline: Claude Code closes stdin after writing the
 * payload, but a hook run by hand, or a stuck writer, must not hang it. What came before the cap or
 * the deadline is returned; the rest is left unread.
 */
export async function readStdinBounded(
  stream: NodeJS.ReadableStream & { isTTY?: boolean; destroy?: () => void },
  options: { maxBytes?: number; timeoutMs?: number; clock?: Clock } = {},
): Promise<string> {
  if (stream.isTTY) return "";
  const maxBytes = options.maxBytes ?? 2 * MAX_PAYLOAD_BYTES;
  const clock = options.clock ?? systemClock;
  const chunks: Buffer[] = [];
  let size = 0;
  const stop = new AbortController();
  const reading = (async () => {
    for await (const chunk of stream) {
      const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      chunks.push(buf);
      size += buf.length;
      if (size >= maxBytes) break;
    }
  })().catch(() => undefined);
  await Promise.race([reading, clock.sleep(options.timeoutMs ?? 1000, stop.signal).catch(() => undefined)]);
  stop.abort();
  stream.destroy?.();
  return Buffer.concat(chunks).subarray(0, maxBytes).toString("utf8");
}

export interface DrainedEvent {
  envelope: HookEnvelope;
  event: HookEvent;
  receivedAt: number;
}

export interface DrainResult {
  delivered: number;
  /** Files the handler failed on: left in place for the next drain. */
  kept: { file: string; problem: string }[];
  /** Files that are not valid envelopes: moved to `<dir>/rejected/`. */
  rejected: { file: string; problem: string }[];
}

/**
 * Hands every spooled event to `handler`, oldest first, and deletes each once handled. Malformed
 * files are moved aside to `rejected/` and reported; a handler failure leaves the file for next
 * time. Never throws on file content.
 */
export async function drainSpool(
  dir: string,
  handler: (drained: DrainedEvent, file: string) => Promise<void>,
  options: { maxFileBytes?: number } = {},
): Promise<DrainResult> {
  const { parseHookEnvelope } = await import("./hooks.js");
  const result: DrainResult = { delivered: 0, kept: [], rejected: [] };
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (isNotFound(err)) return result;
    throw err;
  }
  const maxFileBytes = options.maxFileBytes ?? 4 * MAX_PAYLOAD_BYTES;
  // Dot-files are writes still in progress (writeFileAtomic's temp files).
  for (const name of names.filter((n) => n.endsWith(".json") && !n.startsWith(".")).sort()) {
    const file = path.join(dir, name);
    let text: string;
    try {
      const info = await lstat(file);
      if (!info.isFile()) {
        await reject(dir, file, info.isSymbolicLink() ? "a symlink, not a spool file" : "not a regular file", result);
        continue;
      }
      if (info.size > maxFileBytes) {
        await reject(dir, file, `larger than ${maxFileBytes} bytes (${info.size})`, result);
        continue;
      }
      text = await readFile(file, "utf8");
    } catch (err) {
      if (isNotFound(err)) continue;
      result.kept.push({ file, problem: `unreadable: ${describeError(err)}` });
      continue;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      await reject(dir, file, `not JSON: ${describeError(err)}`, result);
      continue;
    }
    const parsed = parseHookEnvelope(body);
    if (!parsed.ok) {
      await reject(dir, file, parsed.reason, result);
      continue;
    }
    try {
      await handler({ envelope: parsed.envelope, event: parsed.event, receivedAt: parsed.receivedAt }, file);
    } catch (err) {
      result.kept.push({ file, problem: `handler failed: ${describeError(err)}` });
      continue;
    }
    await unlink(file).catch((err: unknown) => {
      if (!isNotFound(err)) result.kept.push({ file, problem: `handled but not deleted: ${describeError(err)}` });
    });
    result.delivered++;
  }
  return result;
}

async function reject(dir: string, file: string, problem: string, result: DrainResult): Promise<void> {
  const aside = path.join(dir, "rejected");
  try {
    await ensureDir(aside, 0o700);
    await moveDurably(file, path.join(aside, path.basename(file)));
    result.rejected.push({ file, problem });
  } catch (err) {
    result.rejected.push({ file, problem: `${problem} (and it could not be moved aside: ${describeError(err)})` });
  }
}
