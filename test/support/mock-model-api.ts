/**
 * A loopback mock of the Anthropic model API, enough for the real Claude Code CLI to run against:
 * `HEAD /`, `POST /v1/messages` (SSE stream, or JSON when `stream` is false), `count_tokens`,
 * and the OAuth usage endpoint `GET /api/oauth/usage`. Every request is recorded.
 *
 * Behaviour is scripted per prompt text and/or per credential (bearer token or API key), or by
 * markers in the prompt (`MOCK_LIMIT`, `MOCK_TOOL: touch x` …, see `MARKERS`), which lets a
 * demo drive it through task text alone.
 *
 * Run on its own: `node --import tsx test/support/mock-model-api.ts [--port N]`.
 */
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import {
  apiError, blocksLength, hex, isRecord, jsonSchemaOf, lastUserMessage, parseBody, readBody, sendJson, sideReplyText, streamMessage, userTexts,
  type ContentBlock, type MockUsage,
} from "./mock-model-wire.js";

export { instanceOf, userTexts, type MockUsage } from "./mock-model-wire.js";

/** What the mock answers to one model request. */
export type MockBehaviour =
  | { kind: "reply"; text?: string; delayMs?: number; usage?: Partial<MockUsage>; headers?: Record<string, string> }
  | {
      kind: "tool";
      /** Shell command run through the Bash tool. */
      command: string;
      description?: string;
      /** Text before the tool call, in the same message. */
      preText?: string;
      /** The reply once the tool result comes back. */
      finalText?: string;
      delayMs?: number;
    }
  | {
      /** A subscription usage limit: 429 + `anthropic-ratelimit-unified-*` headers. */
      kind: "usage-limit";
      claim?: "five_hour" | "seven_day" | "seven_day_opus" | "seven_day_sonnet";
      /** Unix seconds; default one hour from now. */
      resetAt?: number;
      message?: string;
      delayMs?: number;
    }
  | { kind: "rate-limit"; message?: string; delayMs?: number; retry?: boolean }
  | { kind: "server-error"; status?: number; message?: string; delayMs?: number; retry?: boolean }
  | { kind: "overloaded"; message?: string; delayMs?: number; retry?: boolean }
  | { kind: "auth-error"; message?: string; delayMs?: number };

export interface ScriptRule {
  /** Substring of (or pattern over) the last user message text. */
  prompt?: string | RegExp;
  /** Exact bearer token or API key: tells accounts apart. */
  token?: string;
  respond: MockBehaviour;
  /** Removed after this many uses; forever when absent. */
  times?: number;
  /** Also apply to side requests (the title); off by default, so a prompt rule is not spent on them. */
  includeSide?: boolean;
}

/** One `/api/oauth/usage` window. */
export interface UsageWindow {
  utilization: number;
  resets_at: string | null;
}

export type UsageAnswer =
  | { five_hour: UsageWindow | null; seven_day: UsageWindow | null; seven_day_opus?: UsageWindow | null; seven_day_sonnet?: UsageWindow | null; extra_usage?: unknown }
  | { status: number; body?: unknown };

export interface RecordedRequest {
  seq: number;
  /** When the body had been read (epoch ms): the benchmark times the daemon against it. */
  receivedAt: number;
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  /** Parsed JSON, or the raw text when it was not JSON; undefined without a body. */
  body: unknown;
  /** Bearer token or `x-api-key`, whichever came. */
  token: string | undefined;
  /**
   * The newest prompt: the last text block of the last user message. After a failed turn the CLI
   * sends the unanswered prompt again in the same user message, one block each, so earlier blocks
   * are older prompts (all of them are in `userTexts`).
   */
  lastUserText: string | undefined;
  /** Every text block of the last user message, system reminders left out. */
  userTexts: string[];
  /** `turn`: a conversation turn; `side`: a request for JSON output (the session title); `other`: not /v1/messages. */
  kind: "turn" | "side" | "other";
  /** What the mock answered. */
  status?: number;
  behaviour?: MockBehaviour["kind"] | "tool-final" | "json";
}

export interface MockModelApi {
  /** Base URL, e.g. `http://127.0.0.1:41234` — the CLI's ANTHROPIC_BASE_URL. */
  readonly url: string;
  /** Every request so far, in arrival order (a live array). */
  readonly requests: RecordedRequest[];
  /** Adds a rule; rules are tried in the order added, before the prompt markers. */
  script(rule: ScriptRule): void;
  /** What `GET /api/oauth/usage` answers for this bearer token. */
  setUsage(token: string, answer: UsageAnswer): void;
  /**
   * Puts the account of `token` at its usage limit until `resetAt` (Unix seconds, to the second as the real API
   * sends it): every turn before that instant is the 429 with that reset, whatever the rules say; after it, turns
   * are answered as usual. A resume before the real reset meets the wall again, as in the field.
   */
  exhaust(token: string, resetAt: number, claim?: "five_hour" | "seven_day"): void;
  /** Drops every rule, usage answer and recorded request. */
  reset(): void;
  /** Resolves with the first request (already recorded or future) that matches, or rejects after `timeoutMs`. */
  waitForRequest(predicate: (r: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest>;
  /** Stops the server, cutting open streams and pending delays. Safe to call twice. */
  close(): Promise<void>;
}

export interface MockOptions {
  port?: number;
  host?: string;
  /** Honour the `MOCK_*` prompt markers (default true). */
  markers?: boolean;
  /** Model name reported in replies. */
  model?: string;
  /** Largest request body accepted. */
  maxBodyBytes?: number;
}

/**
 * Prompt markers, tried after the scripted rules:
 * `MOCK_LIMIT` (session limit), `MOCK_LIMIT_WEEKLY`, `MOCK_429` (429 without quota headers),
 * `MOCK_500` (500 whose text mentions a rate limit), `MOCK_529`, `MOCK_401`,
 * `MOCK_TOOL: <command>` (runs it with Bash; `MOCK_TOOL` alone runs `touch mock-tool.flag`),
 * `MOCK_DELAY=<ms>` (delays whichever answer).
 */
export const MARKERS = ["MOCK_LIMIT", "MOCK_LIMIT_WEEKLY", "MOCK_429", "MOCK_500", "MOCK_529", "MOCK_401", "MOCK_TOOL", "MOCK_DELAY"] as const;

const REPLY_END = "MOCK_REPLY_END";

function behaviourFromMarkers(text: string, now: number): MockBehaviour | undefined {
  const delay = /MOCK_DELAY=(\d{1,6})/.exec(text);
  const delayMs = delay ? Number(delay[1]) : undefined;
  const withDelay = <T extends MockBehaviour>(b: T): T => (delayMs === undefined ? b : { ...b, delayMs });
  if (text.includes("MOCK_LIMIT_WEEKLY")) return withDelay({ kind: "usage-limit", claim: "seven_day", resetAt: Math.floor(now / 1000) + 3 * 86400 });
  if (text.includes("MOCK_LIMIT")) return withDelay({ kind: "usage-limit", claim: "five_hour", resetAt: Math.floor(now / 1000) + 3600 });
  if (text.includes("MOCK_429")) return withDelay({ kind: "rate-limit" });
  if (text.includes("MOCK_500")) return withDelay({ kind: "server-error" });
  if (text.includes("MOCK_529")) return withDelay({ kind: "overloaded" });
  if (text.includes("MOCK_401")) return withDelay({ kind: "auth-error" });
  const tool = /MOCK_TOOL(?::[ \t]*([^\n]+))?/.exec(text);
  if (tool) return withDelay({ kind: "tool", command: tool[1]?.trim() || "touch mock-tool.flag" });
  if (delayMs !== undefined) return { kind: "reply", delayMs };
  return undefined;
}

/** Starts the mock on loopback (port 0 = any free port). */
export async function startMockModelApi(options: MockOptions = {}): Promise<MockModelApi> {
  const host = options.host ?? "127.0.0.1";
  const model = options.model ?? "claude-mock-1";
  const maxBody = options.maxBodyBytes ?? 64 * 1024 * 1024;
  const markers = options.markers ?? true;
  const requests: RecordedRequest[] = [];
  let rules: ScriptRule[] = [];
  let usage = new Map<string, UsageAnswer>();
  let walls = new Map<string, { resetAt: number; claim: "five_hour" | "seven_day" }>();
  /** tool_use id → the final text to send once its result comes back. */
  const pendingTools = new Map<string, string>();
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const stop = new AbortController();
  let seq = 0;
  let replies = 0;

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, apiError("api_error", `mock failure: ${String(err)}`));
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://mock");
    const raw = await readBody(req, maxBody);
    if (raw === undefined) {
      sendJson(res, 413, apiError("request_too_large", "request body too large"));
      return;
    }
    const body = parseBody(raw);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
    const auth = headers.authorization;
    const token = auth?.toLowerCase().startsWith("bearer ") ? auth.slice(7).trim() : headers["x-api-key"];
    const isMessages = req.method === "POST" && url.pathname === "/v1/messages";
    const stream = isMessages && isRecord(body) && body.stream === true;
    // 2.1.197 streams its title request like a turn: what marks a side request is the JSON output it asks for.
    const side = isMessages && jsonSchemaOf(body) !== undefined;
    const texts = isMessages ? userTexts(body) : [];
    const record: RecordedRequest = {
      seq: ++seq, receivedAt: Date.now(), method: req.method ?? "", path: url.pathname, query: url.search, headers, body, token,
      lastUserText: isMessages ? texts.at(-1) : undefined,
      userTexts: texts,
      kind: isMessages ? (side ? "side" : "turn") : "other",
    };
    requests.push(record);
    events.emit("request", record);

    if (isMessages) {
      await answerMessages(record, stream, res);
    } else if (req.method === "POST" && url.pathname === "/v1/messages/count_tokens") {
      finish(record, res, 200, { input_tokens: 1200 });
    } else if (req.method === "GET" && url.pathname === "/api/oauth/usage") {
      answerUsage(record, res);
    } else if ((req.method === "HEAD" || req.method === "GET") && url.pathname === "/") {
      record.status = 200;
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(req.method === "HEAD" ? undefined : "mock model api\n");
    } else {
      finish(record, res, 404, apiError("not_found_error", `mock: no route for ${req.method ?? ""} ${url.pathname}`));
    }
  }

  function finish(record: RecordedRequest, res: ServerResponse, status: number, json: unknown, headers: Record<string, string> = {}): void {
    record.status = status;
    sendJson(res, status, json, headers);
  }

  function answerUsage(record: RecordedRequest, res: ServerResponse): void {
    if (!record.token) {
      finish(record, res, 401, apiError("authentication_error", "missing bearer token"));
      return;
    }
    const answer = usage.get(record.token) ?? {
      five_hour: { utilization: 0, resets_at: null }, seven_day: { utilization: 0, resets_at: null },
      seven_day_opus: null, seven_day_sonnet: null,
    };
    if ("status" in answer) finish(record, res, answer.status, answer.body ?? apiError("api_error", `mock usage error ${answer.status}`));
    else finish(record, res, 200, answer);
  }

  function choose(record: RecordedRequest): MockBehaviour | undefined {
    const text = record.lastUserText ?? "";
    const wall = record.token === undefined ? undefined : walls.get(record.token);
    if (wall !== undefined && record.kind === "turn" && Date.now() < wall.resetAt * 1000) return { kind: "usage-limit", claim: wall.claim, resetAt: wall.resetAt };
    for (const rule of rules) {
      if (record.kind === "side" && !rule.includeSide) continue;
      if (rule.token !== undefined && rule.token !== record.token) continue;
      if (rule.prompt !== undefined && !(typeof rule.prompt === "string" ? text.includes(rule.prompt) : rule.prompt.test(text))) continue;
      if (rule.times !== undefined && --rule.times <= 0) rules = rules.filter((r) => r !== rule);
      return rule.respond;
    }
    return markers && record.kind === "turn" ? behaviourFromMarkers(text, Date.now()) : undefined;
  }

  async function answerMessages(record: RecordedRequest, stream: boolean, res: ServerResponse): Promise<void> {
    const toolFinal = toolResultFollowUp(record.body);
    let behaviour: MockBehaviour | undefined;
    if (toolFinal !== undefined) {
      record.behaviour = "tool-final";
      behaviour = { kind: "reply", text: toolFinal };
    } else {
      behaviour = choose(record);
    }
    if (behaviour === undefined) {
      record.behaviour = record.kind === "side" ? "json" : "reply";
      behaviour = { kind: "reply", text: record.kind === "side" ? sideReplyText(record.body) : undefined };
    } else if (record.behaviour === undefined) {
      record.behaviour = behaviour.kind;
    }
    const delayMs = "delayMs" in behaviour ? behaviour.delayMs ?? 0 : 0;
    if (delayMs > 0 && !(await wait(delayMs, res))) return;
    const requestId = `req_mock${hex(12)}`;
    const noRetry = (retry: boolean | undefined): Record<string, string> => (retry ? {} : { "x-should-retry": "false" });
    switch (behaviour.kind) {
      case "usage-limit": {
        const reset = behaviour.resetAt ?? Math.floor(Date.now() / 1000) + 3600;
        const claim = behaviour.claim ?? "five_hour";
        const window = claim === "five_hour" ? "5h" : "7d";
        finish(record, res, 429, apiError("rate_limit_error", behaviour.message ?? "This request would exceed your account's rate limit. Please try again later.", requestId), {
          "request-id": requestId,
          "anthropic-ratelimit-unified-status": "rejected",
          "anthropic-ratelimit-unified-reset": String(reset),
          "anthropic-ratelimit-unified-representative-claim": claim,
          [`anthropic-ratelimit-unified-${window}-status`]: "rejected",
          [`anthropic-ratelimit-unified-${window}-reset`]: String(reset),
          [`anthropic-ratelimit-unified-${window}-utilization`]: "1.0",
          "x-should-retry": "false",
        });
        return;
      }
      case "rate-limit":
        finish(record, res, 429, apiError("rate_limit_error", behaviour.message ?? "Number of request tokens has exceeded your per-minute rate limit (mock)", requestId), {
          "request-id": requestId, ...noRetry(behaviour.retry),
        });
        return;
      case "server-error":
        // The prototype's worst false positive: a 5xx whose text talks about a rate limit.
        finish(record, res, behaviour.status ?? 500, apiError("api_error", behaviour.message ?? "Internal server error (upstream rate limit exceeded, mock)", requestId), {
          "request-id": requestId, ...noRetry(behaviour.retry),
        });
        return;
      case "overloaded":
        finish(record, res, 529, apiError("overloaded_error", behaviour.message ?? "Overloaded", requestId), { "request-id": requestId, ...noRetry(behaviour.retry) });
        return;
      case "auth-error":
        finish(record, res, 401, apiError("authentication_error", behaviour.message ?? "invalid x-api-key", requestId), { "request-id": requestId, "x-should-retry": "false" });
        return;
      case "reply":
      case "tool": {
        const blocks = contentFor(behaviour, record);
        const usageOut: MockUsage = {
          input_tokens: 1200, output_tokens: Math.max(1, Math.ceil(blocksLength(blocks) / 4)),
          cache_creation_input_tokens: 0, cache_read_input_tokens: 0,
          ...(behaviour.kind === "reply" ? behaviour.usage : {}),
        };
        const extraHeaders = { "request-id": requestId, ...(behaviour.kind === "reply" ? behaviour.headers : {}) };
        const stopReason = behaviour.kind === "tool" ? "tool_use" : "end_turn";
        record.status = 200;
        if (stream) streamMessage(res, { blocks, usage: usageOut, stopReason, headers: extraHeaders, model });
        else sendJson(res, 200, { id: `msg_mock${hex(12)}`, type: "message", role: "assistant", model, content: blocks, stop_reason: stopReason, stop_sequence: null, usage: usageOut }, extraHeaders);
        return;
      }
    }
  }

  function contentFor(b: Extract<MockBehaviour, { kind: "reply" | "tool" }>, record: RecordedRequest): ContentBlock[] {
    if (b.kind === "reply") {
      replies++;
      return [{ type: "text", text: b.text ?? `Mock reply #${replies}: I received ${(record.lastUserText ?? "").length} characters. ${REPLY_END}` }];
    }
    const id = `toolu_mock${hex(12)}`;
    pendingTools.set(id, b.finalText ?? `Done: ran \`${b.command}\`. ${REPLY_END}`);
    const blocks: ContentBlock[] = [];
    if (b.preText !== "") blocks.push({ type: "text", text: b.preText ?? "I'll run the command." });
    blocks.push({ type: "tool_use", id, name: "Bash", input: { command: b.command, description: b.description ?? "Run the requested command" } });
    return blocks;
  }

  /** When the last user message carries the result of a tool this mock asked for: the final text. */
  function toolResultFollowUp(body: unknown): string | undefined {
    const last = lastUserMessage(body);
    if (!last || !Array.isArray(last.content)) return undefined;
    for (const block of last.content) {
      if (isRecord(block) && block.type === "tool_result" && typeof block.tool_use_id === "string") {
        const final = pendingTools.get(block.tool_use_id);
        if (final !== undefined) {
          pendingTools.delete(block.tool_use_id);
          return final;
        }
      }
    }
    return undefined;
  }

  /** Waits `ms` unless the client hangs up or the mock closes first; false when cut short. */
  function wait(ms: number, res: ServerResponse): Promise<boolean> {
    return new Promise((resolve) => {
      if (stop.signal.aborted) {
        resolve(false);
        return;
      }
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        res.off("close", onClose);
        stop.signal.removeEventListener("abort", onClose);
        resolve(ok);
      };
      const onClose = (): void => done(false);
      const timer = setTimeout(() => done(true), ms);
      res.on("close", onClose);
      stop.signal.addEventListener("abort", onClose, { once: true });
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const url = `http://${host}:${address.port}`;
  let closing: Promise<void> | undefined;

  return {
    url,
    requests,
    script(rule) {
      rules.push({ ...rule });
    },
    setUsage(token, answer) {
      usage.set(token, answer);
    },
    exhaust(token, resetAt, claim = "five_hour") {
      walls.set(token, { resetAt, claim });
    },
    reset() {
      rules = [];
      usage = new Map();
      walls = new Map();
      requests.length = 0;
      pendingTools.clear();
    },
    waitForRequest(predicate, timeoutMs = 10_000) {
      const found = requests.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const onRequest = (r: RecordedRequest): void => {
          if (!predicate(r)) return;
          cleanup();
          resolve(r);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`mock model api: no matching request within ${timeoutMs} ms (${requests.length} seen)`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          events.off("request", onRequest);
        };
        events.on("request", onRequest);
      });
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        stop.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const portArg = process.argv.indexOf("--port");
  const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 0;
  const api = await startMockModelApi({ port });
  process.stdout.write(`mock model api listening on ${api.url}\n`);
  const shutdown = (): void => {
    void api.close().then(() => process.exit(0));
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}
