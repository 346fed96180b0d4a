/**
 * The OAuth usage endpoint, per account: how much of the five-hour and seven-day windows is used
 * and when they reset. The token is read from `<home>/.credentials.json` and never appears in an
 * error message, a cause or a log field.
 */
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { systemClock, type Clock } from "../lib/clock.js";
import { AppError, errnoOf, isNotFound } from "../lib/errors.js";

export type UsageApiErrorCode =
  | "USAGE_CREDENTIALS_MISSING"
  | "USAGE_CREDENTIALS_MALFORMED"
  | "USAGE_TOKEN_EXPIRED"
  | "USAGE_HTTP_ERROR"
  | "USAGE_TIMEOUT"
  | "USAGE_NETWORK"
  | "USAGE_BAD_RESPONSE"
  | "USAGE_ABORTED";

export class UsageApiError extends AppError {
  /** HTTP status for USAGE_HTTP_ERROR. */
  readonly status: number | undefined;
  constructor(code: UsageApiErrorCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(code, message, { cause: options.cause });
    this.status = options.status;
  }
}

export interface OAuthCredentials {
  accessToken: string;
  /** Epoch ms; absent when the file does not say. */
  expiresAt?: number;
  subscriptionType?: string;
  rateLimitTier?: string;
}

const MAX_CREDENTIALS_BYTES = 64 * 1024;

const credentialsSchema = z.object({
  claudeAiOauth: z.looseObject({
    accessToken: z.string().min(1),
    expiresAt: z.number().finite().optional().catch(undefined),
    subscriptionType: z.string().nullish().catch(undefined),
    rateLimitTier: z.string().nullish().catch(undefined),
  }),
});

/** Reads `<home>/.credentials.json` (`claudeAiOauth.accessToken`, `expiresAt` in ms). */
export async function readOAuthCredentials(home: string): Promise<OAuthCredentials> {
  const file = path.join(home, ".credentials.json");
  let text: string;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new UsageApiError("USAGE_CREDENTIALS_MALFORMED", `${file} is not a regular file`);
    if (info.size > MAX_CREDENTIALS_BYTES) throw new UsageApiError("USAGE_CREDENTIALS_MALFORMED", `${file} is ${info.size} bytes, more than a credentials file holds`);
    text = await readFile(file, "utf8");
  } catch (err) {
    if (err instanceof UsageApiError) throw err;
    if (isNotFound(err)) throw new UsageApiError("USAGE_CREDENTIALS_MISSING", `no credentials at ${file}: log this account in (claude /login with CLAUDE_CONFIG_DIR=${home})`);
    throw new UsageApiError("USAGE_CREDENTIALS_MISSING", `cannot read ${file}: ${errnoOf(err) ?? "error"}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // The parser's message may quote the file's content, i.e. the token: it is not passed on.
    throw new UsageApiError("USAGE_CREDENTIALS_MALFORMED", `${file} is not valid JSON`);
  }
  const parsed = credentialsSchema.safeParse(json);
  if (!parsed.success) throw new UsageApiError("USAGE_CREDENTIALS_MALFORMED", `${file} has no claudeAiOauth.accessToken (expected {"claudeAiOauth": {"accessToken": "…", "expiresAt": <ms>}})`);
  const o = parsed.data.claudeAiOauth;
  const out: OAuthCredentials = { accessToken: o.accessToken };
  if (o.expiresAt !== undefined) out.expiresAt = o.expiresAt;
  if (o.subscriptionType) out.subscriptionType = o.subscriptionType;
  if (o.rateLimitTier) out.rateLimitTier = o.rateLimitTier;
  return out;
}

export interface UsageWindow {
  /** Percent used, 0–100. */
  utilization: number;
  /** Epoch ms of the reset, or null when the window has not started. */
  resetsAt: number | null;
}

export interface AccountUsage {
  fiveHour: UsageWindow | null;
  sevenDay: UsageWindow | null;
  sevenDayOpus?: UsageWindow | null;
  sevenDaySonnet?: UsageWindow | null;
}

const windowSchema = z
  .object({
    utilization: z.number().finite().min(0),
    resets_at: z.string().nullish(),
  })
  .nullish();

const usageSchema = z.looseObject({
  five_hour: windowSchema,
  seven_day: windowSchema,
  seven_day_opus: windowSchema,
  seven_day_sonnet: windowSchema,
});

export interface FetchUsageOptions {
  home: string;
  /** `quota.usage_api_url`. */
  url: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  fetch?: typeof fetch;
  clock?: Clock;
}

/** GETs the account's usage. Throws UsageApiError (never with the token in it). */
export async function fetchAccountUsage(options: FetchUsageOptions): Promise<AccountUsage> {
  const clock = options.clock ?? systemClock;
  const credentials = await readOAuthCredentials(options.home);
  if (credentials.expiresAt !== undefined && credentials.expiresAt <= clock.now()) {
    throw new UsageApiError("USAGE_TOKEN_EXPIRED", `the OAuth token in ${path.join(options.home, ".credentials.json")} expired at ${new Date(credentials.expiresAt).toISOString()}; Claude Code refreshes it on its next request`);
  }
  return fetchUsageWithToken({ ...options, token: credentials.accessToken, clock });
}

/** GETs usage with a given bearer token. */
export async function fetchUsageWithToken(options: Omit<FetchUsageOptions, "home"> & { token: string }): Promise<AccountUsage> {
  const clock = options.clock ?? systemClock;
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const token = options.token;
  const controller = new AbortController();
  const timer = new AbortController();
  let timedOut = false;
  const onAbort = (): void => controller.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) controller.abort();
  const deadline = clock.sleep(timeoutMs, timer.signal).then(
    () => {
      timedOut = true;
      controller.abort();
    },
    () => undefined,
  );
  const scrub = (text: string): string => (token.length >= 4 ? text.split(token).join("[redacted]") : text);
  const failure = (err: unknown): UsageApiError => {
    if (err instanceof UsageApiError) return err;
    if (timedOut) return new UsageApiError("USAGE_TIMEOUT", `usage API ${options.url} did not answer within ${timeoutMs} ms`);
    if (options.signal?.aborted) return new UsageApiError("USAGE_ABORTED", `usage API request to ${options.url} was aborted`);
    // No cause attached: a network error's cause can carry the request, headers included.
    return new UsageApiError("USAGE_NETWORK", scrub(`usage API ${options.url} unreachable: ${err instanceof Error ? err.message : String(err)}`));
  };
  const attempt = (async (): Promise<AccountUsage> => {
    const res = await doFetch(options.url, {
      method: "GET",
      headers: { authorization: `Bearer ${token}`, "anthropic-beta": "oauth-2025-04-20", accept: "application/json" },
      signal: controller.signal,
    });
    const text = await res.text();
    if (!res.ok) {
      throw new UsageApiError("USAGE_HTTP_ERROR", scrub(`usage API ${options.url} answered HTTP ${res.status}${errorSummary(text)}`), { status: res.status });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new UsageApiError("USAGE_BAD_RESPONSE", `usage API ${options.url} answered with something that is not JSON`);
    }
    return parseUsage(json, options.url);
  })();
  const cut = new Promise<never>((_resolve, reject) => {
    if (controller.signal.aborted) reject(new Error("aborted"));
    else controller.signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true });
  });
  try {
    return await Promise.race([attempt, cut]);
  } catch (err) {
    throw failure(err);
  } finally {
    attempt.catch(() => undefined);
    timer.abort();
    await deadline;
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/** Validates an `/api/oauth/usage` body into windows with epoch-ms reset times. */
export function parseUsage(json: unknown, source = "usage API"): AccountUsage {
  const parsed = usageSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageApiError("USAGE_BAD_RESPONSE", `${source} answered an unexpected shape${issue ? ` at ${issue.path.join(".") || "(root)"}: ${issue.message}` : ""}`);
  }
  const d = parsed.data;
  const usage: AccountUsage = { fiveHour: toWindow(d.five_hour, "five_hour", source), sevenDay: toWindow(d.seven_day, "seven_day", source) };
  if (d.seven_day_opus !== undefined) usage.sevenDayOpus = toWindow(d.seven_day_opus, "seven_day_opus", source);
  if (d.seven_day_sonnet !== undefined) usage.sevenDaySonnet = toWindow(d.seven_day_sonnet, "seven_day_sonnet", source);
  return usage;
}

function toWindow(w: z.infer<typeof windowSchema>, key: string, source: string): UsageWindow | null {
  if (w === null || w === undefined) return null;
  let resetsAt: number | null = null;
  if (w.resets_at) {
    resetsAt = Date.parse(w.resets_at);
    if (Number.isNaN(resetsAt)) throw new UsageApiError("USAGE_BAD_RESPONSE", `${source}: ${key}.resets_at is not a date: ${JSON.stringify(w.resets_at.slice(0, 64))}`);
  }
  return { utilization: w.utilization, resetsAt };
}

/** ` (error_type: message)` from an API error body, short, or nothing. */
function errorSummary(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: { type?: unknown; message?: unknown } };
    const type = typeof body.error?.type === "string" ? body.error.type : undefined;
    const message = typeof body.error?.message === "string" ? body.error.message : undefined;
    if (type || message) return ` (${[type, message].filter(Boolean).join(": ").slice(0, 200)})`;
  } catch {
    // not JSON: say nothing of it
  }
  return "";
}
