import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startMockJobService, type MockJobService } from "./mock-job-service.js";

let mock: MockJobService;
before(async () => {
  mock = await startMockJobService({ apiKey: "k-123" });
});
after(() => mock.close());
beforeEach(() => mock.reset());

const auth = { authorization: "Bearer k-123", "content-type": "application/json" };
const submitBody = (over: Record<string, unknown> = {}) => JSON.stringify({ provider: "gpu", prompt: "do it", metadata: { task_id: "t1", project: "alpha", complexity_hint: null }, ...over });
const submit = async (over: Record<string, unknown> = {}) => fetch(`${mock.url}/jobs`, { method: "POST", headers: auth, body: submitBody(over) });
const get = async (id: string) => fetch(`${mock.url}/jobs/${id}`, { headers: auth });

describe("mock job service: the contract", () => {
  test("submit answers 201 {id, status: queued} and records the body", async () => {
    const res = await submit();
    assert.equal(res.status, 201);
    assert.deepEqual(await res.json(), { id: "job-1", status: "queued" });
    assert.deepEqual(mock.requests.map((r) => [r.method, r.path, r.hasAuth, r.authOk, r.answer]), [["POST", "/jobs", true, true, 201]]);
    assert.deepEqual((mock.requests[0]!.body as { metadata: unknown }).metadata, { task_id: "t1", project: "alpha", complexity_hint: null });
  });

  test("an Idempotency-Key is honoured: the same key answers the same job (200), another body under it is 422", async () => {
    const keyed = (key: string, over: Record<string, unknown> = {}) =>
      fetch(`${mock.url}/jobs`, { method: "POST", headers: { ...auth, "idempotency-key": key }, body: submitBody(over) });
    assert.equal((await keyed("k1")).status, 201);
    const again = await keyed("k1");
    assert.equal(again.status, 200);
    assert.deepEqual(await again.json(), { id: "job-1", status: "queued" });
    assert.equal((await keyed("k1", { prompt: "something else" })).status, 422);
    assert.equal((await keyed("k2")).status, 201);
    assert.deepEqual([...mock.jobs.keys()], ["job-1", "job-2"]);
    assert.deepEqual(mock.requests.map((r) => r.idempotencyKey), ["k1", "k1", "k1", "k2"]);
  });

  test("a job moves queued → running → completed with the polls, with result and cost", async () => {
    mock.plan({ queuedPolls: 1, runningPolls: 2, result: "42", cost_usd: 0.25 });
    await submit();
    const seen: unknown[] = [];
    for (let i = 0; i < 4; i++) seen.push(((await (await get("job-1")).json()) as { status: string }).status);
    assert.deepEqual(seen, ["queued", "running", "running", "completed"]);
    assert.deepEqual(await (await get("job-1")).json(), { id: "job-1", status: "completed", provider: "gpu", result: "42", cost_usd: 0.25 });
  });

  test("a manual job waits for advance() and finish()", async () => {
    mock.plan({ manual: true, outcome: "failed", error: "GPU on fire" });
    await submit();
    assert.equal(((await (await get("job-1")).json()) as { status: string }).status, "queued");
    mock.advance("job-1");
    assert.equal(((await (await get("job-1")).json()) as { status: string }).status, "running");
    mock.advance("job-1");
    assert.deepEqual(await (await get("job-1")).json(), { id: "job-1", status: "failed", provider: "gpu", error: "GPU on fire" });
    await submit();
    mock.finish("job-2", { status: "completed", result: "ok", cost_usd: 1 });
    assert.equal(((await (await get("job-2")).json()) as { result: string }).result, "ok");
  });

  test("a missing or wrong key is 401 and recorded as such, the key never stored", async () => {
    const none = await fetch(`${mock.url}/jobs/job-1`);
    const wrong = await fetch(`${mock.url}/jobs/job-1`, { headers: { authorization: "Bearer nope" } });
    assert.deepEqual([none.status, wrong.status], [401, 401]);
    assert.deepEqual(mock.requests.map((r) => [r.hasAuth, r.authOk]), [[false, false], [true, false]]);
    assert.doesNotMatch(JSON.stringify(mock.requests), /nope|k-123/);
  });

  test("a submit off the contract is 400; an unknown job or route is 404", async () => {
    assert.equal((await submit({ provider: "claude-code" })).status, 400);
    assert.equal((await submit({ metadata: "x" })).status, 400);
    assert.equal((await get("job-99")).status, 404);
    assert.equal((await fetch(`${mock.url}/other`, { headers: auth })).status, 404);
    assert.equal(mock.jobs.size, 0);
  });
});

describe("mock job service: faults", () => {
  test("a 5xx burst is consumed in order, then the contract answers", async () => {
    mock.fault({ on: "submit", times: 2, fault: { kind: "status", status: 503 } });
    const statuses = [(await submit()).status, (await submit()).status, (await submit()).status];
    assert.deepEqual(statuses, [503, 503, 201]);
  });

  test("a fault only hits the requests it names", async () => {
    mock.fault({ on: "get", fault: { kind: "status", status: 500 } });
    assert.equal((await submit()).status, 201);
    assert.equal((await get("job-1")).status, 500);
    assert.equal((await get("job-1")).status, 200);
  });

  test("429 carries its Retry-After", async () => {
    mock.fault({ fault: { kind: "status", status: 429, headers: { "retry-after": "7" } } });
    const res = await submit();
    assert.deepEqual([res.status, res.headers.get("retry-after")], [429, "7"]);
  });

  test("a raw body is sent as given", async () => {
    mock.fault({ fault: { kind: "body", status: 201, text: "{not json" } });
    assert.equal(await (await submit()).text(), "{not json");
  });

  test("a huge body arrives whole when read", async () => {
    mock.fault({ fault: { kind: "huge", bytes: 300_000 } });
    assert.equal((await (await get("job-1")).text()).length, 300_000);
  });

  test("a connection dropped mid-body fails the read", async () => {
    mock.fault({ fault: { kind: "drop-mid-body" } });
    const res = await get("job-1");
    await assert.rejects(res.text());
  });

  test("a hanging request is recorded and cut by close(); close() twice is safe", async () => {
    const own = await startMockJobService();
    own.fault({ fault: { kind: "hang" } });
    const pending = fetch(`${own.url}/jobs/job-1`).then((r) => r.status, (e: unknown) => e);
    await own.waitForRequest((r) => r.path === "/jobs/job-1");
    await Promise.all([own.close(), own.close()]);
    assert.ok((await pending) instanceof Error, "the hanging request ends with a transport error");
    await own.close();
  });
});
