/**
 * The remote AI job service's client (contract §8): `POST {url}/jobs` → 201 `{id, status}`, `GET {url}/jobs/{id}`.
 * Transport errors, timeouts, 5xx and 429 are retried (3 retries, 500 ms doubling ±20 % jitter, Retry-After
 * honoured); other 4xx never are. Every submission carries an `Idempotency-Key` header, the same on each of its
 * retries, so a POST that timed out after the service took it is not a second job. The key travels only in the Authorization header: it is scrubbed from every
 * text an error could carry, and no error keeps a `cause` (a fetch error's cause can hold the request).
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { isAbortError, systemClock, type Clock } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { DelegationError } from "./errors.js";
import type { DelegatedProvider } from "./router.js";
import { clipText } from "../lib/clip.js";

export const JOB_STATUSES = ["queued", "running", "completed", "failed"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** A job id: it becomes part of a URL path and of a YAML value, so no `/`, no `..`, no spaces. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._:-]{0,127}$/;

export function isValidJobId(id: string): boolean {
  return JOB_ID_PATTERN.test(id);
}

/** A job as `GET /jobs/{id}` describes it; `result`/`error` are text (a non-text value is kept as its JSON). */
export interface Job {
  id: string;
  status: JobStatus;
  provider?: string;
  result?: string;
  error?: string;
  cost_usd?: number;
  /** Fields the contract does not name, kept so `ccl-delegate get` prints the job whole. */
  [extra: string]: unknown;
}

export interface SubmitRequest {
  provider: DelegatedProvider;
  prompt: string;
  metadata: { task_id: string; project: string; complexity_hint: string | null };
}

/** The header a submission carries, the same on each of its retries (`IDEMPOTENCY_KEY_PATTERN`). */
const IDEMPOTENCY_HEADER = "Idempotency-Key";
/** What an idempotency key may be: printable ASCII without spaces, 1–255 characters (a UUID by default). */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export interface SubmitAnswer {
  id: string;
  status: JobStatus;
}

/** What the delegation manager needs of the service (the JobClient, or a fake). */
export interface JobService {
  submit(request: SubmitRequest, signal?: AbortSignal, idempotencyKey?: string): Promise<SubmitAnswer>;
  get(id: string, signal?: AbortSignal): Promise<Job>;
}

export interface JobClientOptions {
  /** The service's base URL; `/jobs` is appended. */
  url: string;
  apiKey: string;
  /** Retry delays and waitForResult's polling. */
  clock?: Clock;
  fetch?: typeof fetch;
  /** Jitter source in [0, 1); 0.5 means no jitter. */
  random?: () => number;
  /** A signal that aborts after `ms`: each request's own deadline (default AbortSignal.timeout). */
  timeoutSignal?: (ms: number) => AbortSignal;
  requestTimeoutMs?: number;
  maxRetries?: number;
  baseDelayMs?: number;
  /** A Retry-After longer than this is not waited for: the call fails at once. */
  maxRetryAfterMs?: number;
  /** Longer answers are refused (a result is text for a task file, not a data dump). */
  maxResponseBytes?: number;
  log?: Logger;
}

export interface WaitOptions {
  timeoutMs: number;
  pollIntervalMs: number;
  signal?: AbortSignal;
}

const jobId = z.string().regex(JOB_ID_PATTERN, "expected a job id of [A-Za-z0-9._:-], not starting with a dot, at most 128 characters");
const status = z.enum(JOB_STATUSES);
const submitSchema = z.looseObject({ id: jobId, status });
const jobSchema = z.looseObject({
  id: jobId,
  status,
  provider: z.string().max(100).nullish(),
  result: z.unknown().optional(),
  error: z.unknown().optional(),
  cost_usd: z.number().finite().min(0).nullish(),
});

type Attempt = { ok: true; status: number; json: unknown } | { ok: false; error: DelegationError; retryable: boolean; retryAfterMs?: number };

class TooLarge extends Error {}

/** The HTTP client of the job service contract. Every call can be cut short by an AbortSignal. */
export class JobClient implements JobService {
  private readonly base: string;
  private readonly shown: string;
  private readonly clock: Clock;
  private readonly doFetch: typeof fetch;
  private readonly random: () => number;
  private readonly timeoutSignal: (ms: number) => AbortSignal;
  private readonly requestTimeoutMs: number;
  private readonly maxRetries: number;
  private readonly baseDelayMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly maxResponseBytes: number;

  constructor(private readonly o: JobClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(o.url);
    } catch {
      throw new DelegationError("DELEGATION_CONFIG", `job service URL is not a URL: ${JSON.stringify(o.url.slice(0, 200))}`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new DelegationError("DELEGATION_CONFIG", `job service URL must be http(s), got ${parsed.protocol}`);
    if (parsed.username !== "" || parsed.password !== "") {
      throw new DelegationError("DELEGATION_CONFIG", `job service URL ${parsed.host} must not carry credentials (user:password@); the key goes in CCL_SECUTOOLS_API_KEY or SECUTOOLS_API_KEY`);
    }
    // A key with a newline or a space would be refused by fetch with an error that quotes the header, key included.
    if (!/^[\x21-\x7e]+$/.test(o.apiKey)) throw new DelegationError("DELEGATION_CONFIG", "the job service API key is empty or holds characters an HTTP header cannot carry (spaces, newlines, non-ASCII)");
    this.base = parsed.href.replace(/\/+$/, "");
    // The query (which could hold a token of its own) never reaches a message.
    this.shown = `${parsed.origin}${parsed.pathname.replace(/\/+$/, "")}`;
    this.clock = o.clock ?? systemClock;
    this.doFetch = o.fetch ?? fetch;
    this.random = o.random ?? Math.random;
    this.timeoutSignal = o.timeoutSignal ?? ((ms) => AbortSignal.timeout(ms));
    this.requestTimeoutMs = o.requestTimeoutMs ?? 15_000;
    this.maxRetries = o.maxRetries ?? 3;
    this.baseDelayMs = o.baseDelayMs ?? 500;
    this.maxRetryAfterMs = o.maxRetryAfterMs ?? 60_000;
    this.maxResponseBytes = o.maxResponseBytes ?? 8 * 1024 * 1024;
  }

  /**
   * Submits a job; resolves its id and first status. `idempotencyKey` (default a fresh UUID) is sent on every
   * retry of this submission: a script that runs the same submission again passes the same key.
   */
  async submit(request: SubmitRequest, signal?: AbortSignal, idempotencyKey: string = randomUUID()): Promise<SubmitAnswer> {
    if (!IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey)) {
      throw new DelegationError("DELEGATION_CONFIG", "an idempotency key is 1–255 printable ASCII characters without spaces");
    }
    const json = await this.call("POST", "/jobs", JSON.stringify(request), signal, { [IDEMPOTENCY_HEADER]: idempotencyKey });
    const parsed = submitSchema.safeParse(json);
    if (!parsed.success) throw this.badShape("POST /jobs", parsed.error);
    return { id: parsed.data.id, status: parsed.data.status };
  }

  /** The job as the service describes it now. */
  async get(id: string, signal?: AbortSignal): Promise<Job> {
    assertJobId(id);
    const json = await this.call("GET", `/jobs/${encodeURIComponent(id)}`, undefined, signal);
    const parsed = jobSchema.safeParse(json);
    if (!parsed.success) throw this.badShape(`GET /jobs/${id}`, parsed.error);
    if (parsed.data.id !== id) throw new DelegationError("DELEGATION_BAD_RESPONSE", `${this.shown}/jobs/${id} answered with job ${JSON.stringify(parsed.data.id)}`);
    const { result, error, provider, cost_usd, ...rest } = parsed.data;
    const job: Job = { ...rest, id: parsed.data.id, status: parsed.data.status };
    if (provider != null) job.provider = provider;
    const r = asText(result);
    if (r !== undefined) job.result = r;
    const e = asText(error);
    if (e !== undefined) job.error = e;
    if (cost_usd != null) job.cost_usd = cost_usd;
    return job;
  }

  /**
   * Polls until the job completes (resolves it), fails (DELEGATION_JOB_FAILED) or `timeoutMs` passes
   * (DELEGATION_WAIT_TIMEOUT). Errors worth retrying later (service down, 5xx) do not end the wait; others do.
   */
  async waitForResult(id: string, options: WaitOptions): Promise<Job> {
    assertJobId(id);
    const deadline = this.clock.now() + options.timeoutMs;
    let last: Job | undefined;
    let lastError: DelegationError | undefined;
    const timedOut = (): DelegationError => {
      const seen = last ? `its last status was ${last.status}` : "it was never seen";
      return new DelegationError("DELEGATION_WAIT_TIMEOUT", `job ${id} did not finish within ${options.timeoutMs} ms (${seen}${lastError ? `; last error: ${lastError.message}` : ""})`, { job: last });
    };
    // The whole wait is bounded, not only the sleeps between polls: a poll hanging on a silent service
    // (each try has its own deadline, then retries) would otherwise run minutes past the timeout.
    const overall = this.timeoutSignal(options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, overall]) : overall;
    try {
      for (;;) {
        try {
          last = await this.get(id, signal);
          lastError = undefined;
          if (last.status === "completed") return last;
          if (last.status === "failed") throw new DelegationError("DELEGATION_JOB_FAILED", `job ${id} failed${last.error ? `: ${this.scrub(last.error)}` : ""}`, { job: last });
        } catch (err) {
          if (!(err instanceof DelegationError) || !isTransient(err)) throw err;
          lastError = err;
        }
        const left = deadline - this.clock.now();
        if (left <= 0) throw timedOut();
        await this.sleep(Math.min(options.pollIntervalMs, left), signal);
      }
    } catch (err) {
      if (overall.aborted && !options.signal?.aborted && err instanceof DelegationError && err.code === "DELEGATION_ABORTED") throw timedOut();
      throw err;
    }
  }

  /** The wait before retry number `retry` (0-based): base × 2^retry, ±20 % jitter. */
  backoffMs(retry: number): number {
    const jitter = (Math.min(Math.max(this.random(), 0), 1) - 0.5) * 0.4;
    return Math.round(this.baseDelayMs * 2 ** retry * (1 + jitter));
  }

  private async call(method: "GET" | "POST", path: string, body: string | undefined, signal: AbortSignal | undefined, headers: Record<string, string> = {}): Promise<unknown> {
    for (let retry = 0; ; retry++) {
      const attempt = await this.once(method, path, body, signal, headers);
      if (attempt.ok) return attempt.json;
      const { error } = attempt;
      if (!attempt.retryable || retry >= this.maxRetries) {
        throw new DelegationError(error.code, error.message, { ...(error.status === undefined ? {} : { status: error.status }), attempts: retry + 1 });
      }
      if (attempt.retryAfterMs !== undefined && attempt.retryAfterMs > this.maxRetryAfterMs) {
        throw new DelegationError(error.code, `${error.message}; it asks to retry after ${Math.ceil(attempt.retryAfterMs / 1000)} s, longer than the ${Math.ceil(this.maxRetryAfterMs / 1000)} s waited for`, { ...(error.status === undefined ? {} : { status: error.status }), attempts: retry + 1 });
      }
      const delayMs = attempt.retryAfterMs ?? this.backoffMs(retry);
      this.o.log?.warn({ method, path, attempt: retry + 1, code: error.code, status: error.status, delayMs }, "job service call failed; retrying");
      await this.sleep(delayMs, signal);
    }
  }

  private async once(method: string, path: string, body: string | undefined, signal: AbortSignal | undefined, headers: Record<string, string>): Promise<Attempt> {
    const where = `${method} ${this.shown}${path}`;
    if (signal?.aborted) throw new DelegationError("DELEGATION_ABORTED", `${where} was aborted`);
    const deadline = this.timeoutSignal(this.requestTimeoutMs);
    const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
    const transport = (err: unknown): Attempt => {
      if (signal?.aborted) throw new DelegationError("DELEGATION_ABORTED", `${where} was aborted`);
      if (deadline.aborted) return { ok: false, retryable: true, error: new DelegationError("DELEGATION_TIMEOUT", `${where} got no complete answer within ${this.requestTimeoutMs} ms`) };
      return { ok: false, retryable: true, error: new DelegationError("DELEGATION_NETWORK", this.scrub(`${where} failed: ${describeTransport(err)}`)) };
    };
    let res: Response;
    try {
      res = await this.doFetch(`${this.base}${path}`, {
        method,
        headers: { ...headers, authorization: `Bearer ${this.o.apiKey}`, accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body }),
        // A redirect is answered, not followed: the bearer token must not travel to wherever it points.
        redirect: "manual",
        signal: combined,
      });
    } catch (err) {
      return transport(err);
    }
    let text: string;
    try {
      text = await readCapped(res, this.maxResponseBytes);
    } catch (err) {
      if (err instanceof TooLarge) return { ok: false, retryable: false, error: new DelegationError("DELEGATION_BAD_RESPONSE", `${where} answered more than ${this.maxResponseBytes} bytes`) };
      return transport(err);
    }
    if (res.status >= 200 && res.status < 300) {
      try {
        return { ok: true, status: res.status, json: JSON.parse(text) as unknown };
      } catch {
        return { ok: false, retryable: false, error: new DelegationError("DELEGATION_BAD_RESPONSE", `${where} answered HTTP ${res.status} with a body that is not JSON`) };
      }
    }
    const retryable = res.status === 429 || res.status >= 500;
    const error = new DelegationError("DELEGATION_HTTP", this.scrub(`${where} answered HTTP ${res.status}${res.status >= 300 && res.status < 400 ? " (a redirect; not followed)" : ""}${errorSummary(text)}`), { status: res.status });
    const retryAfterMs = retryable ? parseRetryAfter(res.headers.get("retry-after"), this.clock.now()) : undefined;
    return { ok: false, retryable, error, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  }

  private async sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    try {
      await this.clock.sleep(ms, signal);
    } catch (err) {
      if (isAbortError(err) || signal?.aborted) throw new DelegationError("DELEGATION_ABORTED", `call to ${this.shown} was aborted`);
      throw err;
    }
  }

  private badShape(what: string, error: z.ZodError): DelegationError {
    const issue = error.issues[0];
    const at = issue ? ` at ${issue.path.join(".") || "(root)"}: ${issue.message}` : "";
    return new DelegationError("DELEGATION_BAD_RESPONSE", `${what} at ${this.shown} answered an unexpected shape${at}`);
  }

  private scrub(text: string): string {
    return text.split(this.o.apiKey).join("[redacted]");
  }
}

/** Errors a later poll may not meet again: the service unreachable, slow, overloaded or rate-limiting. */
export function isTransient(err: DelegationError): boolean {
  if (err.code === "DELEGATION_NETWORK" || err.code === "DELEGATION_TIMEOUT") return true;
  return err.code === "DELEGATION_HTTP" && err.status !== undefined && (err.status === 429 || err.status >= 500);
}

export function assertJobId(id: string): void {
  if (!isValidJobId(id)) {
    throw new DelegationError("DELEGATION_INVALID_JOB_ID", `invalid job id ${JSON.stringify(id.slice(0, 140))}: expected [A-Za-z0-9._:-], not starting with a dot, at most 128 characters`);
  }
}

/** Retry-After as milliseconds from `now`: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d{1,9}$/.test(v)) return Number(v) * 1000;
  // Only an IMF date ("Fri, 17 Apr 2026 02:00:10 GMT"): Date.parse would also read "-5" as a year.
  if (!/^[A-Za-z]{3}, /.test(v)) return undefined;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

async function readCapped(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => undefined);
    throw new TooLarge();
  }
  if (!res.body) return "";
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw new TooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function asText(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  return typeof v === "string" ? v : JSON.stringify(v);
}

// undici puts the useful part ("ECONNREFUSED 127.0.0.1:9") in the cause of a bare "fetch failed".
function describeTransport(err: unknown): string {
  if (isAbortError(err)) return "aborted";
  const message = err instanceof Error ? err.message : String(err);
  const cause = err instanceof Error ? (err as { cause?: unknown }).cause : undefined;
  const detail = cause instanceof Error ? ((cause as { code?: string }).code ?? cause.message) : undefined;
  return detail && !message.includes(detail) ? `${message} (${detail})` : message;
}

/** ` (error text)` from an error body, short, or nothing. */
function errorSummary(text: string): string {
  let summary: string | undefined;
  try {
    const body = JSON.parse(text) as unknown;
    const e = (body as { error?: unknown; message?: unknown } | null);
    const candidate = typeof e?.error === "string" ? e.error : typeof (e?.error as { message?: unknown } | undefined)?.message === "string" ? (e!.error as { message: string }).message : typeof e?.message === "string" ? e.message : undefined;
    summary = candidate;
  } catch {
    // not JSON: a proxy's HTML page says nothing useful
  }
  if (!summary) return "";
  const line = summary.replace(/\s+/g, " ").trim();
  return ` (${clipText(line, 200)})`;
}
