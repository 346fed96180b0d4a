/**
 * A loopback mock of the remote AI job service (contract §8): `POST /jobs` → 201 `{id, status}`,
 * `GET /jobs/{id}` → the job. Scriptable per test, with no timers of its own:
 * - a job's lifecycle (queued → running → completed | failed) is driven by the number of GETs it has
 *   received (`queuedPolls`, `runningPolls`), or held until the test calls `advance(id)` / `finish(id, …)`;
 * - faults are consumed in the order added: an HTTP status (5xx bursts, 4xx, 429 with Retry-After), a raw
 *   body (malformed JSON, a path-like id), a huge body, a connection dropped mid-body, or no answer at all.
 * Every request is recorded (method, path, whether an Authorization header came and matched, body); the key
 * itself is never kept. A submit's `Idempotency-Key` is honoured: the same key again answers the job it made
 * (200), never a second one; the same key with another body is 422.
 */
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type MockJobStatus = "queued" | "running" | "completed" | "failed";

export interface JobPlan {
  /** How the job ends (default completed). */
  outcome?: "completed" | "failed";
  result?: string;
  error?: string;
  cost_usd?: number;
  /** GETs answered `queued` before anything else (default 0). */
  queuedPolls?: number;
  /** Then GETs answered `running` (default 0): with both 0, the first GET already shows the outcome. */
  runningPolls?: number;
  /** Polls do not move the job; only advance() and finish() do. */
  manual?: boolean;
}

export interface MockJob {
  id: string;
  status: MockJobStatus;
  provider: string;
  prompt: string;
  metadata: Record<string, unknown>;
  plan: JobPlan;
  polls: number;
  result?: string;
  error?: string;
  cost_usd?: number;
}

export type MockFault =
  | { kind: "status"; status: number; body?: unknown; headers?: Record<string, string> }
  /** Any text as the body, e.g. JSON that is not the contract's, or no JSON at all. */
  | { kind: "body"; status?: number; text: string; contentType?: string }
  /** A 200 whose body is `bytes` long, sent in chunks without a Content-Length unless `declareLength`. */
  | { kind: "huge"; bytes: number; declareLength?: boolean }
  /** Headers and half a body, then the connection is destroyed. */
  | { kind: "drop-mid-body" }
  /** No answer, ever: the request hangs until the client gives up or the mock closes. */
  | { kind: "hang" }
  /** A submit the service takes (the job exists) but whose answer never comes: a POST that times out. */
  | { kind: "take-then-hang" };

export interface FaultRule {
  /** Which requests it applies to (default any). */
  on?: "submit" | "get" | "any";
  /** How many requests it answers before it is used up (default 1). */
  times?: number;
  fault: MockFault;
}

export interface RecordedJobRequest {
  seq: number;
  method: string;
  path: string;
  /** An Authorization header came. */
  hasAuth: boolean;
  /** It was `Bearer <the expected key>`. */
  authOk: boolean;
  /** Parsed JSON, or the raw text when it was not JSON; undefined without a body. */
  body: unknown;
  /** The Idempotency-Key header, when one came. */
  idempotencyKey?: string;
  /** What the mock did: the status it answered, or the fault kind. */
  answer?: number | MockFault["kind"];
}

export interface MockJobService {
  /** Base URL, e.g. `http://127.0.0.1:41234` (what CCL_SECUTOOLS_URL / delegation.url would hold). */
  readonly url: string;
  /** Every request so far, in arrival order (a live array). */
  readonly requests: RecordedJobRequest[];
  readonly jobs: ReadonlyMap<string, MockJob>;
  /** The plan of the next submitted job (plans queue up); jobs without one get the default plan. */
  plan(plan: JobPlan): void;
  setDefaultPlan(plan: JobPlan): void;
  fault(rule: FaultRule): void;
  /** Moves a job one step: queued → running → its planned outcome. */
  advance(id: string): MockJob;
  /** Ends a job now. */
  finish(id: string, end: { status: "completed"; result?: string; cost_usd?: number } | { status: "failed"; error?: string; cost_usd?: number }): MockJob;
  /** Resolves with the first request (recorded or future) that matches; rejects after `timeoutMs`. */
  waitForRequest(predicate: (r: RecordedJobRequest) => boolean, timeoutMs?: number): Promise<RecordedJobRequest>;
  /** Submits (POST /jobs) recorded so far. */
  submits(): RecordedJobRequest[];
  /** Drops jobs, plans, faults and recorded requests; job ids and `seq` start again at 1. */
  reset(): void;
  /** Stops the server, cutting hanging requests. Safe to call twice. */
  close(): Promise<void>;
}

export interface MockJobServiceOptions {
  /** The bearer token required on every request (default `test-key`). */
  apiKey?: string;
  host?: string;
}

const PROVIDERS = ["gpu", "gemini", "claude-api", "auto"];
const MAX_BODY = 16 * 1024 * 1024;

export async function startMockJobService(options: MockJobServiceOptions = {}): Promise<MockJobService> {
  const apiKey = options.apiKey ?? "test-key";
  const requests: RecordedJobRequest[] = [];
  const jobs = new Map<string, MockJob>();
  let plans: JobPlan[] = [];
  let defaultPlan: JobPlan = { result: "mock result", cost_usd: 0.01 };
  let faults: (FaultRule & { left: number })[] = [];
  /** Idempotency key → the job it made and the body it came with. */
  const byKey = new Map<string, { id: string; body: string }>();
  const events = new EventEmitter();
  events.setMaxListeners(0);
  let seq = 0;
  let nextId = 1;

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { error: `mock failure: ${String(err)}` });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const auth = req.headers.authorization;
    const record: RecordedJobRequest = {
      seq: ++seq,
      method: req.method ?? "GET",
      path: new URL(req.url ?? "/", "http://mock").pathname,
      hasAuth: auth !== undefined,
      authOk: auth === `Bearer ${apiKey}`,
      body: raw === undefined ? "(too large)" : raw === "" ? undefined : parseJson(raw),
      ...(typeof req.headers["idempotency-key"] === "string" ? { idempotencyKey: req.headers["idempotency-key"] } : {}),
    };
    requests.push(record);
    events.emit("request", record);
    const kind = record.method === "POST" && record.path === "/jobs" ? "submit" : record.method === "GET" && record.path.startsWith("/jobs/") ? "get" : "other";
    const rule = faults.find((f) => f.on === undefined || f.on === "any" || f.on === kind);
    if (rule) {
      if (--rule.left <= 0) faults = faults.filter((f) => f !== rule);
      record.answer = rule.fault.kind === "status" ? rule.fault.status : rule.fault.kind;
      if (rule.fault.kind === "take-then-hang" && kind === "submit" && record.authOk && !checkSubmit(record.body)) takeSubmit(record, raw ?? "");
      return answerFault(res, rule.fault);
    }
    const reply = (status: number, body: unknown): void => {
      record.answer = status;
      send(res, status, body);
    };
    if (!record.authOk) return reply(401, { error: record.hasAuth ? "invalid API key" : "missing Authorization: Bearer" });
    if (kind === "submit") {
      const problem = checkSubmit(record.body);
      if (problem) return reply(400, { error: problem });
      const taken = record.idempotencyKey === undefined ? undefined : byKey.get(record.idempotencyKey);
      if (taken && taken.body !== raw) return reply(422, { error: "Idempotency-Key reused with another request body" });
      if (taken) return reply(200, { id: taken.id, status: mustGet(taken.id).status });
      const job = takeSubmit(record, raw ?? "");
      return reply(201, { id: job.id, status: job.status });
    }
    if (kind === "get") {
      const id = decodeURIComponent(record.path.slice("/jobs/".length));
      const job = jobs.get(id);
      if (!job) return reply(404, { error: `no job ${id}` });
      job.polls++;
      if (!job.plan.manual) pollTo(job);
      return reply(200, view(job));
    }
    return reply(404, { error: `no route ${record.method} ${record.path}` });
  }

  function takeSubmit(record: RecordedJobRequest, raw: string): MockJob {
    const body = record.body as { provider: string; prompt: string; metadata: Record<string, unknown> };
    const job: MockJob = {
      id: `job-${nextId++}`, status: "queued", provider: body.provider, prompt: body.prompt, metadata: body.metadata,
      plan: plans.shift() ?? defaultPlan, polls: 0,
    };
    jobs.set(job.id, job);
    if (record.idempotencyKey !== undefined) byKey.set(record.idempotencyKey, { id: job.id, body: raw });
    return job;
  }

  function pollTo(job: MockJob): void {
    if (job.status === "completed" || job.status === "failed") return;
    const queued = job.plan.queuedPolls ?? 0;
    const running = job.plan.runningPolls ?? 0;
    if (job.polls <= queued) job.status = "queued";
    else if (job.polls <= queued + running) job.status = "running";
    else end(job);
  }

  function end(job: MockJob): void {
    const p = job.plan;
    job.status = p.outcome ?? "completed";
    if (job.status === "completed") job.result = p.result ?? "mock result";
    else job.error = p.error ?? "mock failure";
    if (p.cost_usd !== undefined) job.cost_usd = p.cost_usd;
  }

  function mustGet(id: string): MockJob {
    const job = jobs.get(id);
    if (!job) throw new Error(`mock job service: no job ${id} (jobs: ${[...jobs.keys()].join(", ") || "none"})`);
    return job;
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, options.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;

  return {
    url: `http://${options.host ?? "127.0.0.1"}:${port}`,
    requests,
    jobs,
    plan: (p) => void plans.push(p),
    setDefaultPlan: (p) => void (defaultPlan = p),
    fault: (rule) => void faults.push({ ...rule, left: rule.times ?? 1 }),
    advance(id) {
      const job = mustGet(id);
      if (job.status === "queued") job.status = "running";
      else if (job.status === "running") end(job);
      return job;
    },
    finish(id, e) {
      const job = mustGet(id);
      job.status = e.status;
      if (e.status === "completed") job.result = e.result ?? "mock result";
      else job.error = e.error ?? "mock failure";
      if (e.cost_usd !== undefined) job.cost_usd = e.cost_usd;
      return job;
    },
    waitForRequest(predicate, timeoutMs = 5000) {
      const found = requests.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          events.off("request", onRequest);
          reject(new Error(`mock job service: no matching request within ${timeoutMs} ms (saw ${requests.map((r) => `${r.method} ${r.path}`).join(", ") || "none"})`));
        }, timeoutMs);
        const onRequest = (r: RecordedJobRequest): void => {
          if (!predicate(r)) return;
          clearTimeout(timer);
          events.off("request", onRequest);
          resolve(r);
        };
        events.on("request", onRequest);
      });
    },
    submits: () => requests.filter((r) => r.method === "POST" && r.path === "/jobs"),
    reset() {
      requests.length = 0;
      jobs.clear();
      byKey.clear();
      plans = [];
      faults = [];
      nextId = 1;
      seq = 0;
      defaultPlan = { result: "mock result", cost_usd: 0.01 };
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Hanging requests hold their sockets open: cut them, or close() would wait for them forever.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function view(job: MockJob): Record<string, unknown> {
  const out: Record<string, unknown> = { id: job.id, status: job.status, provider: job.provider };
  if (job.result !== undefined) out.result = job.result;
  if (job.error !== undefined) out.error = job.error;
  if (job.cost_usd !== undefined) out.cost_usd = job.cost_usd;
  return out;
}

function checkSubmit(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return "expected a JSON object {provider, prompt, metadata}";
  const b = body as Record<string, unknown>;
  if (typeof b.provider !== "string" || !PROVIDERS.includes(b.provider)) return `provider: expected one of ${PROVIDERS.join(", ")}`;
  if (typeof b.prompt !== "string" || b.prompt === "") return "prompt: expected text";
  const m = b.metadata as Record<string, unknown> | null | undefined;
  if (typeof m !== "object" || m === null) return "metadata: expected {task_id, project, complexity_hint}";
  if (typeof m.task_id !== "string" || typeof m.project !== "string") return "metadata: task_id and project must be text";
  return undefined;
}

function answerFault(res: ServerResponse, fault: MockFault): void {
  switch (fault.kind) {
    case "status":
      send(res, fault.status, fault.body ?? { error: `mock fault ${fault.status}` }, fault.headers);
      return;
    case "body":
      res.writeHead(fault.status ?? 200, { "content-type": fault.contentType ?? "application/json" });
      res.end(fault.text);
      return;
    case "huge": {
      const head = `{"id":"job-1","status":"completed","result":"`;
      const size = Math.max(fault.bytes, head.length + 2);
      res.writeHead(200, { "content-type": "application/json", ...(fault.declareLength ? { "content-length": String(size) } : {}) });
      // The client may hang up once it has seen enough; that ends the writing.
      res.on("error", () => undefined);
      res.write(head);
      const chunk = "x".repeat(64 * 1024);
      let left = size - head.length - 2;
      const pump = (): void => {
        while (left > 0 && !res.destroyed) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!res.write(chunk.slice(0, n))) {
            res.once("drain", pump);
            return;
          }
        }
        if (!res.destroyed) res.end(`"}`);
      };
      pump();
      return;
    }
    case "drop-mid-body":
      res.writeHead(200, { "content-type": "application/json", "content-length": "200" });
      res.write(`{"id":"job-1","sta`);
      // Let the headers and half a body reach the client before the connection goes.
      setImmediate(() => res.socket?.destroy());
      return;
    case "hang":
    case "take-then-hang":
      return;
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
