import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { inspect } from "node:util";
import { startMockJobService, type MockJobService } from "../../test/support/mock-job-service.js";
import { FakeClock, flushMicrotasks } from "../lib/test-clock.js";
import { createLogger } from "../lib/logger.js";
import { JobClient, parseRetryAfter, type JobClientOptions } from "./client.js";
import { DelegationError } from "./errors.js";
import { manualDeadlines, RecordingClock } from "./test-support.js";
import { until } from "../../test/support/until.js";

const KEY = "sk-SECRET-abc123";
let mock: MockJobService;
before(async () => {
  mock = await startMockJobService({ apiKey: KEY });
});
after(() => mock.close());
beforeEach(() => mock.reset());

function client(over: Partial<JobClientOptions> = {}): { c: JobClient; clock: RecordingClock } {
  const clock = new RecordingClock();
  return { c: new JobClient({ url: mock.url, apiKey: KEY, clock, random: () => 0.5, ...over }), clock };
}

const request = { provider: "gpu" as const, prompt: "Summarise the logs", metadata: { task_id: "t1", project: "alpha", complexity_hint: "low" } };

async function failure(p: Promise<unknown>): Promise<DelegationError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof DelegationError, `expected a DelegationError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the call to fail");
}

/** Every text an error could show, for "the key never appears" checks. */
function everything(err: DelegationError): string {
  return [err.message, err.stack, JSON.stringify(err), inspect(err, { depth: 5 })].join("\n");
}


describe("JobClient: the contract", () => {
  test("submit posts the job with the key as a bearer token", async () => {
    const { c } = client();
    assert.deepEqual(await c.submit(request), { id: "job-1", status: "queued" });
    const r = mock.requests[0]!;
    assert.deepEqual([r.method, r.path, r.authOk], ["POST", "/jobs", true]);
    assert.deepEqual(r.body, request);
  });

  test("get returns the job, extra fields kept, a non-text result as its JSON", async () => {
    mock.fault({ fault: { kind: "body", text: JSON.stringify({ id: "job-7", status: "completed", provider: "gpu", result: { answer: 42 }, cost_usd: 0.5, region: "eu" }) } });
    const { c } = client();
    assert.deepEqual(await c.get("job-7"), { id: "job-7", status: "completed", provider: "gpu", result: '{"answer":42}', cost_usd: 0.5, region: "eu" });
  });

  test("a trailing slash on the URL is harmless", async () => {
    const { c } = client({ url: `${mock.url}/` });
    await c.submit(request);
    assert.equal(mock.requests[0]!.path, "/jobs");
  });
});

describe("JobClient: retries", () => {
  test("a 5xx burst is retried after 500 then 1000 ms", async () => {
    mock.fault({ on: "submit", times: 2, fault: { kind: "status", status: 503 } });
    const { c, clock } = client();
    assert.equal((await c.submit(request)).id, "job-1");
    assert.equal(mock.submits().length, 3);
    assert.deepEqual(clock.sleeps, [500, 1000]);
  });

  test("three retries at most: four requests, then the last error", async () => {
    mock.fault({ times: 10, fault: { kind: "status", status: 500, body: { error: "database down" } } });
    const { c, clock } = client();
    const err = await failure(c.get("job-1"));
    assert.deepEqual([err.code, err.status, err.attempts], ["DELEGATION_HTTP", 500, 4]);
    assert.match(err.message, /HTTP 500 \(database down\)/);
    assert.equal(mock.requests.length, 4);
    assert.deepEqual(clock.sleeps, [500, 1000, 2000]);
  });

  for (const [random, expected] of [[0, [400, 800, 1600]], [0.75, [550, 1100, 2200]]] as const) {
    test(`jitter: random ${random} → ${expected.join(", ")} ms`, async () => {
      mock.fault({ times: 10, fault: { kind: "status", status: 502 } });
      const { c, clock } = client({ random: () => random });
      await failure(c.get("job-1"));
      assert.deepEqual(clock.sleeps, expected);
    });
  }

  test("429 waits what Retry-After says, in seconds", async () => {
    mock.fault({ fault: { kind: "status", status: 429, headers: { "retry-after": "7" } } });
    const { c, clock } = client();
    await c.submit(request);
    assert.deepEqual(clock.sleeps, [7000]);
    assert.equal(mock.submits().length, 2);
  });

  test("429 waits until a Retry-After HTTP date", async () => {
    const { c, clock } = client();
    mock.fault({ fault: { kind: "status", status: 429, headers: { "retry-after": new Date(clock.now() + 12_000).toUTCString() } } });
    await c.submit(request);
    assert.deepEqual(clock.sleeps, [12_000]);
  });

  test("429 without Retry-After backs off like a 5xx", async () => {
    mock.fault({ times: 2, fault: { kind: "status", status: 429 } });
    const { c, clock } = client();
    await c.submit(request);
    assert.deepEqual(clock.sleeps, [500, 1000]);
  });

  test("a Retry-After longer than the longest wait fails at once", async () => {
    mock.fault({ fault: { kind: "status", status: 429, headers: { "retry-after": "3600" } } });
    const { c, clock } = client();
    const err = await failure(c.submit(request));
    assert.deepEqual([err.code, err.status, err.attempts], ["DELEGATION_HTTP", 429, 1]);
    assert.match(err.message, /retry after 3600 s/);
    assert.deepEqual(clock.sleeps, []);
  });

  for (const status of [400, 401, 403, 404, 409, 422]) {
    test(`HTTP ${status} is never retried`, async () => {
      mock.fault({ times: 5, fault: { kind: "status", status } });
      const { c, clock } = client();
      const err = await failure(c.submit(request));
      assert.deepEqual([err.code, err.status, err.attempts], ["DELEGATION_HTTP", status, 1]);
      assert.equal(mock.requests.length, 1);
      assert.deepEqual(clock.sleeps, []);
    });
  }

  test("a redirect is not followed (the key must not travel), nor retried", async () => {
    const elsewhere = await startMockJobService({ apiKey: KEY });
    try {
      mock.fault({ fault: { kind: "status", status: 302, headers: { location: `${elsewhere.url}/jobs` } } });
      const { c } = client();
      const err = await failure(c.submit(request));
      assert.deepEqual([err.code, err.status], ["DELEGATION_HTTP", 302]);
      assert.equal(elsewhere.requests.length, 0);
    } finally {
      await elsewhere.close();
    }
  });

  test("a connection refused is retried, then DELEGATION_NETWORK", async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, "127.0.0.1", r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const { c, clock } = client({ url: `http://127.0.0.1:${port}` });
    const err = await failure(c.get("job-1"));
    assert.deepEqual([err.code, err.attempts], ["DELEGATION_NETWORK", 4]);
    assert.match(err.message, /ECONNREFUSED/);
    assert.deepEqual(clock.sleeps, [500, 1000, 2000]);
  });

  test("a connection dropped mid-body is retried", async () => {
    mock.fault({ on: "submit", fault: { kind: "drop-mid-body" } });
    const { c, clock } = client();
    assert.equal((await c.submit(request)).id, "job-1");
    assert.equal(mock.submits().length, 2);
    assert.deepEqual(clock.sleeps, [500]);
  });

  test("a server that never answers: each request has its own deadline, then a retry", async () => {
    mock.fault({ on: "submit", fault: { kind: "hang" } });
    const deadlines = manualDeadlines();
    const { c, clock } = client({ timeoutSignal: deadlines.timeoutSignal, requestTimeoutMs: 4000 });
    const pending = c.submit(request);
    await mock.waitForRequest((r) => r.seq === 1);
    deadlines.fire();
    assert.equal((await pending).id, "job-1");
    assert.deepEqual(deadlines.issued, [4000, 4000]);
    assert.deepEqual(clock.sleeps, [500]);
  });

  test("a submit that timed out after the service took it is retried with the same Idempotency-Key: one job, not two", async () => {
    mock.fault({ on: "submit", fault: { kind: "take-then-hang" } });
    const deadlines = manualDeadlines();
    const { c } = client({ timeoutSignal: deadlines.timeoutSignal });
    const pending = c.submit(request);
    await mock.waitForRequest((r) => r.seq === 1);
    deadlines.fire();
    assert.equal((await pending).id, "job-1");
    assert.equal(mock.jobs.size, 1);
    const keys = mock.submits().map((r) => r.idempotencyKey);
    assert.equal(keys.length, 2);
    assert.match(keys[0] ?? "", /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(keys[1], keys[0]);
    // Another submission is another key, another job.
    assert.equal((await c.submit(request)).id, "job-2");
    assert.notEqual(mock.submits()[2]?.idempotencyKey, keys[0]);
  });

  test("a server that never answers at all ends in DELEGATION_TIMEOUT after four tries", async () => {
    mock.fault({ times: 10, fault: { kind: "hang" } });
    const deadlines = manualDeadlines();
    const { c } = client({ timeoutSignal: deadlines.timeoutSignal });
    const pending = failure(c.get("job-1"));
    for (let seq = 1; seq <= 4; seq++) {
      await mock.waitForRequest((r) => r.seq === seq);
      deadlines.fire();
    }
    const err = await pending;
    assert.deepEqual([err.code, err.attempts], ["DELEGATION_TIMEOUT", 4]);
    assert.match(err.message, /no complete answer within 15000 ms/);
  });

  test("the caller's signal ends a backoff wait: DELEGATION_ABORTED, no further request", async () => {
    mock.fault({ times: 10, fault: { kind: "status", status: 503 } });
    const clock = new FakeClock();
    const c = new JobClient({ url: mock.url, apiKey: KEY, clock, random: () => 0.5 });
    const abort = new AbortController();
    const pending = failure(c.get("job-1", abort.signal));
    await until("the client to wait on the clock", () => clock.pendingSleeps === 1 || undefined, 10_000, { everyMs: 1 });
    abort.abort();
    assert.equal((await pending).code, "DELEGATION_ABORTED");
    await flushMicrotasks();
    assert.equal(mock.requests.length, 1);
  });
});

describe("JobClient: bad answers", () => {
  test("a 2xx that is not JSON is DELEGATION_BAD_RESPONSE, not retried", async () => {
    mock.fault({ fault: { kind: "body", status: 201, text: "<html>gateway</html>" } });
    const { c } = client();
    const err = await failure(c.submit(request));
    assert.deepEqual([err.code, mock.requests.length], ["DELEGATION_BAD_RESPONSE", 1]);
  });

  for (const [name, body] of [
    ["an unknown status", { id: "job-1", status: "done" }],
    ["no id", { status: "completed" }],
    ["a negative cost", { id: "job-1", status: "completed", cost_usd: -1 }],
    ["a cost as text", { id: "job-1", status: "completed", cost_usd: "0.5" }],
    ["a list", [{ id: "job-1", status: "completed" }]],
  ] as const) {
    test(`a malformed job (${name}) is DELEGATION_BAD_RESPONSE`, async () => {
      mock.fault({ fault: { kind: "body", text: JSON.stringify(body) } });
      const { c } = client();
      assert.equal((await failure(c.get("job-1"))).code, "DELEGATION_BAD_RESPONSE");
    });
  }

  for (const id of ["../../etc/passwd", "a/b", "..", ".hidden", "job 1", "", "x".repeat(129)]) {
    test(`a job id ${JSON.stringify(id.slice(0, 20))} from the service is refused`, async () => {
      mock.fault({ fault: { kind: "body", status: 201, text: JSON.stringify({ id, status: "queued" }) } });
      const { c } = client();
      assert.equal((await failure(c.submit(request))).code, "DELEGATION_BAD_RESPONSE");
    });

    test(`get(${JSON.stringify(id.slice(0, 20))}) is refused before any request`, async () => {
      const { c } = client();
      assert.equal((await failure(c.get(id))).code, "DELEGATION_INVALID_JOB_ID");
      assert.equal(mock.requests.length, 0);
    });
  }

  test("an answer about another job is refused", async () => {
    mock.fault({ fault: { kind: "body", text: JSON.stringify({ id: "job-2", status: "completed" }) } });
    const { c } = client();
    assert.equal((await failure(c.get("job-1"))).code, "DELEGATION_BAD_RESPONSE");
  });

  for (const declareLength of [false, true]) {
    test(`a huge body is cut at the cap (${declareLength ? "declared" : "streamed"}), not retried`, async () => {
      mock.fault({ fault: { kind: "huge", bytes: 5_000_000, declareLength } });
      const { c } = client({ maxResponseBytes: 100_000 });
      const err = await failure(c.get("job-1"));
      assert.equal(err.code, "DELEGATION_BAD_RESPONSE");
      assert.match(err.message, /more than 100000 bytes/);
      assert.equal(mock.requests.length, 1);
    });
  }
});

describe("JobClient: the key stays secret", () => {
  test("not in an error that echoes it, not in a network error, not in the logs", async () => {
    const lines: string[] = [];
    const log = createLogger({ level: "debug", destination: { write: (s: string) => void lines.push(s) } });
    mock.fault({ fault: { kind: "status", status: 500, body: { error: `bad key ${KEY}` } } });
    mock.fault({ fault: { kind: "status", status: 401, body: { error: `Bearer ${KEY} is not valid` } } });
    const { c } = client({ log });
    const httpErr = await failure(c.submit(request));
    assert.match(httpErr.message, /\[redacted\]/);
    const dead = new JobClient({ url: "http://127.0.0.1:1", apiKey: KEY, clock: new RecordingClock(), random: () => 0.5, log });
    const netErr = await failure(dead.get("job-1"));
    for (const err of [httpErr, netErr]) assert.doesNotMatch(everything(err), new RegExp(KEY));
    assert.ok(lines.length > 0, "retries were logged");
    assert.doesNotMatch(lines.join(""), new RegExp(KEY));
  });

  test("a key a header cannot carry is refused without showing it", () => {
    for (const key of ["abc\ndef", "", "has space", "clé"]) {
      assert.throws(() => new JobClient({ url: mock.url, apiKey: key }), (err: unknown) => {
        assert.ok(err instanceof DelegationError);
        assert.equal(err.code, "DELEGATION_CONFIG");
        if (key !== "") assert.ok(!err.message.includes(key));
        return true;
      });
    }
  });

  test("a URL with credentials in it is refused without showing them", () => {
    assert.throws(() => new JobClient({ url: mock.url.replace("http://", "http://alice:hunter2@"), apiKey: KEY }), (err: unknown) => {
      assert.ok(err instanceof DelegationError && err.code === "DELEGATION_CONFIG");
      assert.doesNotMatch(err.message, /alice|hunter2/);
      return true;
    });
  });

  test("a URL that is not http(s) is refused", () => {
    assert.throws(() => new JobClient({ url: "file:///etc/passwd", apiKey: KEY }), { code: "DELEGATION_CONFIG" });
    assert.throws(() => new JobClient({ url: "not a url", apiKey: KEY }), { code: "DELEGATION_CONFIG" });
  });
});

describe("JobClient.waitForResult", () => {
  test("polls at the interval until completed", async () => {
    mock.plan({ queuedPolls: 1, runningPolls: 1, result: "the answer", cost_usd: 0.3 });
    const { c, clock } = client();
    const { id } = await c.submit(request);
    const job = await c.waitForResult(id, { timeoutMs: 60_000, pollIntervalMs: 2000 });
    assert.deepEqual([job.status, job.result, job.cost_usd], ["completed", "the answer", 0.3]);
    assert.deepEqual(clock.sleeps, [2000, 2000]);
  });

  test("a failed job is DELEGATION_JOB_FAILED carrying the job", async () => {
    mock.plan({ outcome: "failed", error: "model refused" });
    const { c } = client();
    const { id } = await c.submit(request);
    const err = await failure(c.waitForResult(id, { timeoutMs: 60_000, pollIntervalMs: 2000 }));
    assert.equal(err.code, "DELEGATION_JOB_FAILED");
    assert.match(err.message, /model refused/);
    assert.equal((err.job as { status: string }).status, "failed");
  });

  test("the wait is bounded: the last sleep is cut to the deadline", async () => {
    mock.plan({ manual: true });
    const { c, clock } = client();
    const { id } = await c.submit(request);
    const err = await failure(c.waitForResult(id, { timeoutMs: 5000, pollIntervalMs: 2000 }));
    assert.equal(err.code, "DELEGATION_WAIT_TIMEOUT");
    assert.match(err.message, /last status was queued/);
    assert.deepEqual(clock.sleeps, [2000, 2000, 1000]);
  });

  test("a service outage during the wait does not end it", async () => {
    const { c } = client();
    const { id } = await c.submit(request);
    mock.fault({ on: "get", times: 4, fault: { kind: "status", status: 503 } });
    const job = await c.waitForResult(id, { timeoutMs: 60_000, pollIntervalMs: 2000 });
    assert.equal(job.status, "completed");
    assert.equal(mock.requests.filter((r) => r.method === "GET").length, 5);
  });

  test("a 4xx during the wait ends it", async () => {
    const { c } = client();
    const err = await failure(c.waitForResult("job-404", { timeoutMs: 60_000, pollIntervalMs: 2000 }));
    assert.deepEqual([err.code, err.status], ["DELEGATION_HTTP", 404]);
  });

  test("the timeout bounds the whole wait: a poll hanging on a silent service ends at the deadline, not after its retries", { timeout: 10_000 }, async () => {
    const { c: first } = client();
    const { id } = await first.submit(request);
    mock.fault({ on: "get", times: 10, fault: { kind: "hang" } });
    // Deadlines by hand: the wait's own (5000 ms) fires; no request's own deadline ever does.
    const deadlines = new Map<number, AbortController[]>();
    const c = client({ timeoutSignal: (ms) => {
      const ctl = new AbortController();
      deadlines.set(ms, [...(deadlines.get(ms) ?? []), ctl]);
      return ctl.signal;
    } }).c;
    const pending = failure(c.waitForResult(id, { timeoutMs: 5000, pollIntervalMs: 2000 }));
    await mock.waitForRequest((r) => r.method === "GET");
    for (const ctl of deadlines.get(5000) ?? []) ctl.abort(new DOMException("timed out", "TimeoutError"));
    const err = await pending;
    assert.equal(err.code, "DELEGATION_WAIT_TIMEOUT");
    assert.match(err.message, /did not finish within 5000 ms \(it was never seen\)/);
    assert.equal(mock.requests.filter((r) => r.method === "GET").length, 1, "no retry after the deadline");
  });

  test("the signal cancels the wait", async () => {
    mock.plan({ manual: true });
    const clock = new FakeClock();
    const c = new JobClient({ url: mock.url, apiKey: KEY, clock });
    const { id } = await c.submit(request);
    const abort = new AbortController();
    const pending = failure(c.waitForResult(id, { timeoutMs: 60_000, pollIntervalMs: 2000, signal: abort.signal }));
    await until("the client to wait on the clock", () => clock.pendingSleeps === 1 || undefined, 10_000, { everyMs: 1 });
    abort.abort();
    assert.equal((await pending).code, "DELEGATION_ABORTED");
  });
});

describe("parseRetryAfter", () => {
  const now = Date.UTC(2026, 3, 17, 2, 0, 0);
  for (const [value, expected] of [
    ["0", 0], ["7", 7000], [" 30 ", 30_000], ["Fri, 17 Apr 2026 02:00:10 GMT", 10_000],
    ["Fri, 17 Apr 2026 01:00:00 GMT", 0], ["soon", undefined], ["-5", undefined], [null, undefined],
  ] as const) {
    test(`${JSON.stringify(value)} → ${expected}`, () => assert.equal(parseRetryAfter(value, now), expected));
  }
});
